# hindsight: the commands a user types. See README.md.
GO      ?= go
BUILD   := build
ELF     := $(BUILD)/hindsight.elf
IMG     := $(BUILD)/hindsight.img
ISO     := $(BUILD)/hindsight.iso
SMP     ?= 2
TIMEOUT ?= 120

export CGO_ENABLED := 0
GOENV := GOOS=linux GOARCH=amd64

# Guest images build with their own rules, kept beside their sources.
include $(wildcard guest/*/*.mk)

.PHONY: all image iso run test test-host test-machine selftest-qemu selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs vmtest-bochs vmtest-qemu replay-bochs soak-replay bench-ring bench-boot bench-exit bench-replay clean

all: image

# The hypervisor is a stock Go program; mkimage turns it into a flat
# multiboot image (QEMU will not multiboot a 64-bit ELF).
$(ELF): FORCE
	@mkdir -p $(BUILD)
	$(GOENV) $(GO) build -o $@ .

$(IMG): $(ELF)
	$(GO) run ./tools/mkimage -o $@ $<

image: $(IMG)

$(ISO): $(IMG) tools/grub.cfg
	@rm -rf $(BUILD)/iso && mkdir -p $(BUILD)/iso/boot/grub
	cp $(IMG) $(BUILD)/iso/boot/hindsight.img
	cp tools/grub.cfg $(BUILD)/iso/boot/grub/grub.cfg
	grub-mkrescue -o $@ $(BUILD)/iso 2>/dev/null

iso: $(ISO)

# Main job: boot the image in Bochs with two CPUs (VT-x available).
CMDLINE ?= guestmem=32M iterations=4000000 lag=500ms status=500ms
run: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout $(TIMEOUT) -cmdline "$(CMDLINE)" -show

# The README's test command: host tests, then the machine tests.
test: test-host test-machine

# -count=1: some tests build and inspect the whole image, which the test
# cache cannot see change.
test-host:
	$(GO) test -count=1 ./...

test-machine: selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs vmtest-bochs vmtest-qemu replay-bochs

selftest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp $(SMP) -timeout $(TIMEOUT) -cmdline "selftest" -expect "selftest: ALL PASS"

selftest-qemu-1:
	$(MAKE) selftest-qemu SMP=1

selftest-qemu-2:
	$(MAKE) selftest-qemu SMP=2

# An unrecovered panic and an illegal instruction must each print a
# goroutine trace (and, for the trap, CPU, vector, RIP and registers), stop
# every other CPU and exit with status 2 (QEMU: 2*2+1).
failtest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "selftest=panic" -status 5 \
		-expect "panic: selftest: deliberate panic" -expect "goroutine " \
		-expect "boot: stopped 1 of 1 other CPUs" -expect "boot: exit status 2"
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "selftest=trap" -status 5 \
		-expect "boot: cpu[0-9]*: exception #UD at rip" -expect "SIGILL" -expect "goroutine " \
		-expect "rip " -expect "boot: stopped 1 of 1 other CPUs" -expect "boot: exit status 2"

# Bochs' CPU has x2APIC: the self-test runs in both local APIC modes.
selftest-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "selftest" \
		-expect "local APIC in x2APIC mode" -expect "selftest: ALL PASS"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "selftest x2apic=off" \
		-expect "local APIC in xAPIC mode" -expect "selftest: ALL PASS"

# Boot-layer costs in TSC cycles; in Bochs one cycle is one emulated
# instruction, so those figures are deterministic.
bench-boot: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "bench=bochs rdrand=off" -expect "bench: thread switch"
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "bench=qemu-tcg" -expect "bench: thread switch"

# VT-x in Bochs: the test guest on both cores at once, a triple fault on
# CPU1 while CPU0 finishes, an invalid guest state named by its check, the
# port and MSR policy; NMIs sent to CPU1 while its guest runs (each exits
# to the host and the guest still prints its reference checksum); and the
# host ending on CPU0 while CPU1 runs a guest: the NMI that stops CPU1
# exits the guest and must still park the CPU.
GUESTSUM = $(shell $(GO) run ./tools/guestsum)
NMISUM = $(shell $(GO) run ./tools/guestsum 3000000)
vmtest-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=bringup" \
		-expect "vm0| testguest: checksum $(GUESTSUM)" -expect "vm1| testguest: checksum $(GUESTSUM)" \
		-expect "hv: vm0: stopped: guest wrote exit status 0" -expect "hv: vm1: stopped: guest wrote exit status 0" \
		-expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=triplefault" \
		-expect "hv: vm1: stopped: triple fault" -expect "vm0| testguest: checksum $(GUESTSUM)" \
		-expect "hv: vm0: stopped: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=badguest" \
		-expect "hv: vm1: FAILED: VM entry failed: VM-entry failure due to invalid guest state" \
		-expect "failed check: guest CS.AR: L=1 and D/B=1" -expect "CS   0008" \
		-expect "hv: vm0: stopped: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=policy" \
		-expect "hv: vm1: read from unmodelled port 0x2f8 (size 1" \
		-expect "vm1| testguest: unclaimed port reads all ones" -expect "hv: vm1: RDMSR 0xc0011020 at rip 0x[0-9a-f]*: not modelled, #GP(0) injected" \
		-expect "vm1| testguest: exception 0x0d" -expect "hv: vm1: stopped: guest wrote exit status 77" \
		-expect "hv: vm0: stopped: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=nmi rdrand=off" \
		-expect "vm1| testguest: checksum $(NMISUM)" -expect "hv: vm1: stopped: guest wrote exit status 0" \
		-expect "hv: vm1: stopped after .* NMI [1-9][0-9][0-9]*)" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=hostexit" \
		-expect "vm1| testguest: spinning" -expect "hv: vmtest: the host exits on CPU0 while CPU1 runs a guest" \
		-expect "boot: stopped 1 of 1 other CPUs" -expect "boot: exit status 3"

# Under QEMU TCG there is no VT-x: the image must say so and exit cleanly.
vmtest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "guestmem=32M" -status 1 \
		-expect "hv: this CPU has no VT-x" -expect "boot: exit status 0"

# Record and replay in Bochs. replay-bochs: the primary and a lagging backup
# run the test guest's replay mode for more than 100,000 landmarks and 1,000
# timer interrupts with text typed into COM1 and the guest's clock in real
# time; every digest must match, the outputs must be identical and the lag
# within its bound. Then a wrong tick in the log must be caught as a
# divergence at its own landmark, a wrong RDTSC value by the first digest
# after it, and a log far too small for the lag must stall the primary
# without losing a record.
REPLAY := guestmem=32M iterations=9000000 lag=500ms verify=20000 rtc=real
replay-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 900 -cmdline "$(REPLAY)" -log build/replay.log \
		-input tools/emu/serial-input.txt -after "primary| testguest: interrupts on" -expect "hv: lag:"
	tools/emu/check-replay.sh build/replay.log 100000 1000 $$(wc -c < tools/emu/serial-input.txt)
	for c in irq:150 rdtsc:300; do \
		tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M iterations=1000000 verify=1000 corrupt=$$c" \
			-log build/replay-corrupt-$${c%:*}.log -expect "hv: lag:" && \
		tools/emu/check-divergence.sh build/replay-corrupt-$${c%:*}.log || exit 1; \
	done
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M iterations=1000000 verify=5000 ring=16 lag=1000" \
		-log build/replay-stall.log -expect "hv: lag:"
	tools/emu/check-replay.sh build/replay-stall.log 10000 500 0 stalls

# A long replay run, not part of `make test` (about 6 minutes): ten times
# the landmarks of replay-bochs with a 2 s lag, typed input and a real-time
# clock; every digest must match.
soak-replay: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 3600 -cmdline "guestmem=32M iterations=90000000 lag=2s verify=100000 rtc=real status=10s" \
		-log build/soak-replay.log -input tools/emu/serial-input.txt -after "primary| testguest: interrupts on" -expect "hv: lag:"
	tools/emu/check-replay.sh build/soak-replay.log 1000000 10000 $$(wc -c < tools/emu/serial-input.txt)

# Recording and replay overhead, log rate and exit density (Bochs counts
# instructions; repeatable with rdrand=off).
bench-replay: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -cmdline "guestmem=32M vmtest=replaybench iterations=2000000 lag=0 verify=0 rdrand=off platform=bochs" -expect "bench: done"

# Hypervisor instructions per VM-exit round trip (Bochs counts instructions).
bench-exit: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=32M vmtest=exitbench rdrand=off" -expect "hv: exit cost"

bench-ring:
	$(GO) run ./tools/ringbench

# The same measurement inside the image, CPU0 -> CPU1, ring in AllocPhys
# memory (emulated figures; in Bochs cycles are instruction counts).
.PHONY: bench-ring-image
bench-ring-image: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -cmdline "bench=ring platform=bochs rdrand=off" -log $(BUILD)/bench-ring-bochs.log -expect "ringbench-image: done"
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "bench=ring platform=qemu-tcg" -log $(BUILD)/bench-ring-qemu.log -expect "ringbench-image: done"

clean:
	rm -rf $(BUILD)

FORCE:
