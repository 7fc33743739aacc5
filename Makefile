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

.PHONY: all image iso run replay run-linux test test-host test-machine selftest-qemu selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs vmtest-bochs vmtest-qemu replay-bochs async-bochs mbtest-bochs linux-bochs soak-replay bench-ring bench-boot bench-exit bench-replay bench-linux clean

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

# Main job: boot the image in Bochs with two CPUs (VT-x available): the
# test guest, or a kernel of your own as primary and lagging backup:
#   make run [GUEST=FILE [GUESTARGS="..."] [INITRD=FILE] [GUESTMEM=256M]] [INPUT=FILE] [GDBPORT=N] [CAPTURE=FILE] [EXTRA="options"]
# What you type goes to the guest's console (the primary's; the backup
# replays it); INPUT types a file instead, once the guest is up. The
# image's exit status is the pair's verdict (0 identical, 10 diverged, 11
# failed, 12 replica lost). GDBPORT serves the backup's gdb stub (gdb=com2)
# on localhost:N: "target remote localhost:N" (README, "Debugging the backup").
# CAPTURE saves the capture of a primary failure (capture=com3, received
# by tools/capsave) into FILE on the host; "go run ./tools/hlog FILE"
# reads it.
GUESTMEM   ?= 256M
RUNTIMEOUT ?= 3600
ifdef GUEST
RUNMODS := -module "$(GUEST) $(GUESTARGS)" $(if $(INITRD),-module "$(INITRD)")
RUNCMD  := guestmem=$(GUESTMEM) guest=$(notdir $(GUEST)) $(if $(INITRD),initrd=$(notdir $(INITRD))) status=5s
else
RUNCMD  := guestmem=64M iterations=4000000 lag=500ms status=500ms
endif
CMDLINE ?= $(RUNCMD)
run: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout $(RUNTIMEOUT) -cmdline "$(CMDLINE) $(if $(GDBPORT),gdb=com2) $(if $(CAPTURE),capture=com3) $(EXTRA)" $(RUNMODS) -show -interactive \
		$(if $(INPUT),-input $(INPUT)) $(if $(GDBPORT),-gdbport $(GDBPORT)) $(if $(CAPTURE),-capture $(CAPTURE))

# Offline replay of a capture file (make run CAPTURE=FILE saved it): the
# capture is the image's only module; the replay restores its snapshot,
# replays its log to just before the captured failure, waits there for gdb
# with GDBPORT (forward and reverse execution), and goes on into the
# failure. The exit status is the verdict (0: the same failure, every
# digest matching). REPLAYMEM must hold the capture's guest RAM.
#   make replay CAPTURE=FILE [GDBPORT=N] [REPLAYMEM=160M] [EXTRA="options"]
REPLAYMEM ?= 160M
replay: $(IMG)
	@test -n "$(CAPTURE)" && test -r "$(CAPTURE)" || { echo "make replay: CAPTURE=FILE names the capture file to replay (make run CAPTURE=FILE saves one)" >&2; exit 2; }
	tools/emu/run-bochs.sh -img $(IMG) -timeout $(RUNTIMEOUT) -megs 1024 -module "$(CAPTURE)" -show -interactive \
		-cmdline "guestmem=$(REPLAYMEM) replay=$(notdir $(CAPTURE)) $(if $(GDBPORT),gdb=com2) $(EXTRA)" $(if $(GDBPORT),-gdbport $(GDBPORT))

# The Linux guest (guest/linux, built by make linux) to its shell.
run-linux: $(IMG) linux
	$(MAKE) run GUEST=$(LINUX_OUT)/bzImage GUESTARGS="$(LINUX_CMDLINE)" INITRD=$(LINUX_OUT)/initramfs.cpio.gz

# The README's test command: host tests (the ring, the log and the replay
# engine again under the race detector), then the machine tests.
test: test-host test-machine

# -count=1: some tests build and inspect the whole image, which the test
# cache cannot see change.
test-host: linux-test
	$(GO) test -count=1 ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./ringbuf/ ./hv/replay/ ./hv/

test-machine: selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs vmtest-bochs vmtest-qemu replay-bochs async-bochs \
	mbtest-qemu bootmods-qemu bootmods-bochs mbtest-bochs linux-bochs debug-bochs

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
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=bringup" \
		-expect "vm0| testguest: checksum $(GUESTSUM)" -expect "vm1| testguest: checksum $(GUESTSUM)" \
		-expect "hv: vm0: stopped at landmark .*: guest wrote exit status 0" -expect "hv: vm1: stopped at landmark .*: guest wrote exit status 0" \
		-expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=triplefault" \
		-expect "hv: vm1: stopped at landmark .*: triple fault" -expect "vm0| testguest: checksum $(GUESTSUM)" \
		-expect "hv: vm0: stopped at landmark .*: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=halt" \
		-expect "vm1| testguest: halting" -expect "hv: vm1: stopped at landmark .*: halted: HLT with interrupts disabled" \
		-expect "hv: vm0: stopped at landmark .*: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=badguest" \
		-expect "hv: vm1: FAILED at landmark .*: VM entry failed: VM-entry failure due to invalid guest state" \
		-expect "failed check: guest CS.AR: L=1 and D/B=1" -expect "CS   0008" \
		-expect "hv: vm0: stopped at landmark .*: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=policy" \
		-expect "hv: vm1: read from unmodelled port 0x2f8 (size 1" \
		-expect "vm1| testguest: unclaimed port reads all ones" -expect "hv: vm1: RDMSR 0xc0011020 at rip 0x[0-9a-f]*: not modelled, #GP(0) injected" \
		-expect "vm1| testguest: exception 0x0d" -expect "hv: vm1: stopped at landmark .*: guest wrote exit status 77" \
		-expect "hv: vm0: stopped at landmark .*: guest wrote exit status 0" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=nmi rdrand=off" \
		-expect "vm1| testguest: checksum $(NMISUM)" -expect "hv: vm1: stopped at landmark .*: guest wrote exit status 0" \
		-expect "hv: vm1: guest wrote exit status 0 .* after .* NMI [1-9][0-9][0-9]*)" -expect "hv: all VMs ended"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=hostexit" -status 3 \
		-expect "vm1| testguest: spinning" -expect "hv: vmtest: the host exits on CPU0 while CPU1 runs a guest" \
		-expect "boot: stopped 1 of 1 other CPUs"

# Under QEMU TCG there is no VT-x: the image must say so and exit cleanly.
vmtest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "guestmem=64M" -status 1 \
		-expect "hv: this CPU has no VT-x" -expect "boot: exit status 0"

# Record and replay in Bochs. replay-bochs: the primary and a lagging backup
# run the test guest's replay mode for more than 100,000 landmarks and 1,000
# timer interrupts with text typed into COM1 and the guest's clock in real
# time; every digest must match, the outputs must be identical, the lag
# within its bound and the verdict IDENTICAL (exit status 0). Then the
# log's failures, each with its verdict as the image's exit status: a
# wrong value (a device time, an RDTSC result, a typed byte) is a
# divergence (10) found no later than the first digest after it, and the
# primary goes on alone; a malformed record (bad CRC, unknown kind) and a
# log that ends without the primary's end lose the replica (12); a log far
# too small for the lag stalls the primary without losing a record; and a
# recording stopped by the user (stopafter=) ends the backup at the same
# point, identical.
REPLAY := guestmem=64M iterations=9000000 lag=500ms verify=20000 rtc=real
CORRUPT := guestmem=64M iterations=1000000 verify=1000
replay-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 900 -cmdline "$(REPLAY)" -log build/replay.log \
		-input tools/emu/serial-input.txt -after "primary| testguest: interrupts on" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-replay.sh build/replay.log 100000 1000 $$(wc -c < tools/emu/serial-input.txt)
	for c in clock:150 rdtsc:300; do \
		tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "$(CORRUPT) corrupt=$$c" -status 10 \
			-log build/replay-corrupt-$${c%:*}.log -expect "hv: verdict: DIVERGED" && \
		tools/emu/check-divergence.sh build/replay-corrupt-$${c%:*}.log || exit 1; \
	done
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "$(CORRUPT) corrupt=serialin:3" -status 10 \
		-input tools/emu/serial-input.txt -after "primary| testguest: interrupts on" \
		-log build/replay-corrupt-serialin.log -expect "hv: verdict: DIVERGED"
	tools/emu/check-divergence.sh build/replay-corrupt-serialin.log
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "$(CORRUPT) corrupt=crc:200" -status 12 -log build/replay-crc.log \
		-expect "hv: backup: stopped at landmark .*: malformed log record after landmark .*: replay: record: bad CRC" \
		-expect "hv: primary: the backup stopped at landmark [0-9]*: running on UNPROTECTED" \
		-expect "hv: primary: stopped at landmark .*: guest wrote exit status 0" -expect "hv: verdict: REPLICA LOST"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "$(CORRUPT) corrupt=kind:200" -status 12 -log build/replay-kind.log \
		-expect "hv: backup: stopped at landmark .*: malformed log record after landmark .*: replay: record: unknown kind 127" \
		-expect "hv: verdict: REPLICA LOST"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "$(CORRUPT) corrupt=truncate:200" -status 12 -log build/replay-truncate.log \
		-expect "hv: backup: stopped at landmark .*: the primary's log ended at landmark .* without an end record" \
		-expect "hv: primary: stopped at landmark .*: guest wrote exit status 0" -expect "hv: verdict: REPLICA LOST"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M iterations=1000000 verify=5000 ring=16 lag=1000" \
		-log build/replay-stall.log -expect "hv: verdict: IDENTICAL"
	tools/emu/check-replay.sh build/replay-stall.log 10000 500 0 stalls
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M iterations=1000000 verify=5000 clock=exit" \
		-log build/replay-exitclock.log -expect "hv: clock: exit (chosen with clock=exit)" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-replay.sh build/replay-exitclock.log 8000 400 0
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M iterations=900000000 verify=5000 stopafter=4s" \
		-log build/replay-stopafter.log -expect "hv: primary: stopped at landmark .*: stopped by the host" \
		-expect "hv: backup: stopped at landmark .*: reached landmark .*, where the primary's guest ended (stopped" \
		-expect "hv: verdict: IDENTICAL"

# Exact asynchronous events (the slice clock): the test guest's mode 5
# takes timer ticks inside spin loops without exits, inside REP MOVS/STOS
# forward and backward, right after STI and POPF, nested in a trap-gate
# handler that executes INT3, around recovered #UD faults, and in loops
# timed by RDTSC and PIT reads; it prints a digest of where every tick
# landed. The backup must print the same digest (verdict IDENTICAL), and a
# run with another timer rate must print another one: a digest that never
# varies proves nothing.
ASYNC := guestmem=64M mode=async verify=2000 lag=200ms
async-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -cmdline "$(ASYNC)" -log build/async-1193.log \
		-expect "hv: clock: slice" -expect "hv: verdict: IDENTICAL"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -cmdline "$(ASYNC) divisor=1190" -log build/async-1190.log \
		-expect "hv: clock: slice" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-async.sh build/async-1193.log build/async-1190.log

# Guests of your own, as primary and backup (issue: real guests). Each
# multiboot test guest of guest/mbtest: the loader's information structure
# as the guest sees it, ended by CLI; HLT or the exit port, on both
# replicas alike; then what a user gets wrong: a file in no known format,
# a missing module, conflicting options, a kernel too big for guest RAM
# (each a clear error and exit status 1, nothing run; linux-bochs tries
# a kernel too big for guest RAM).
MBRUN := guestmem=64M verify=2000
mbtest-bochs: $(IMG) $(MBT_ALL)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -log build/mb32-bochs.log \
		-module "$(MBT_OUT)/mb32.elf one two" -module "$(MBT_OUT)/mbaout.bin mod-arg" -cmdline "$(MBRUN) guest=mb32.elf guestmods=mbaout.bin" \
		-expect "primary| mbtest: mb32: magic 0x2badb002 ok" -expect "primary| mbtest: mb32: cmdline \"mb32.elf one two\"" \
		-expect "primary| mbtest: mb32: mod 0: .* string \"mbaout.bin mod-arg\"" -expect "primary| mbtest: mb32: done, 0 problems" \
		-expect "hv: backup: stopped at landmark .*: halted: HLT with interrupts disabled" -expect "hv: verdict: IDENTICAL"
	for g in mb64.elf mbaout.bin mbexit.elf; do \
		tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -log build/$${g%.*}-bochs.log -module "$(MBT_OUT)/$$g x" -cmdline "$(MBRUN) guest=$$g" \
			-expect "primary| mbtest: .*: done, 0 problems" -expect "hv: verdict: IDENTICAL" || exit 1; \
	done
	head -c 4096 /dev/urandom >build/notakernel.bin
	tools/emu/run-bochs.sh -img $(IMG) -timeout 120 -status 1 -module "build/notakernel.bin" -cmdline "guestmem=64M guest=notakernel.bin" \
		-log build/badguest-format.log -expect "hv: image: notakernel.bin: unknown kernel format"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 120 -status 1 -module "$(MBT_OUT)/mb32.elf" -cmdline "guestmem=64M guest=missing.elf" \
		-log build/badguest-missing.log -expect "hv: image: options: guest=missing.elf: no module is named missing.elf; the modules are: mb32.elf"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 120 -status 1 -module "$(MBT_OUT)/mb32.elf" -module "$(MBT_OUT)/mbaout.bin" \
		-cmdline "guestmem=64M guest=mb32.elf initrd=mbaout.bin" -log build/badguest-conflict.log \
		-expect "hv: image: options: initrd= is for Linux kernels; mb32.elf is a multiboot ELF32"

# Linux and its u-root userland as primary and backup: boot to the shell,
# the script (hsdemo: goroutines, timers and a CPU-bound loop that must
# get its timer ticks without exits), commands typed into the console
# once the script is done, then "shutdown reboot", which reboot=t turns
# into a triple fault on both. Outputs identical, every digest matched.
LINUXRUN := guestmem=256M guest=bzImage initrd=initramfs.cpio.gz verify=20000 lag=300ms status=10s
linux-bochs: $(IMG) linux
	tools/emu/run-bochs.sh -img $(IMG) -timeout 1200 -log build/linux-bochs.log \
		-module "$(LINUX_OUT)/bzImage $(LINUX_CMDLINE)" -module "$(LINUX_OUT)/initramfs.cpio.gz" -cmdline "$(LINUXRUN)" \
		-input tools/emu/linux-input.txt -after "linux-guest: script done" \
		-expect "primary| hsdemo: result 0x3f7a94e804d315a1" -expect "primary| linux-guest: script done" \
		-expect "primary| .*typed 42" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-linux.sh build/linux-bochs.log
	tools/emu/run-bochs.sh -img $(IMG) -timeout 120 -status 1 -module "$(LINUX_OUT)/bzImage $(LINUX_CMDLINE)" \
		-cmdline "guestmem=8M guest=bzImage" -log build/badguest-small.log -expect "hv: .*bzImage.*does not fit\|hv: .*bzImage.*guest RAM"

# Long replay runs, not part of `make test`: ten times the landmarks of
# replay-bochs with a 2 s lag, typed input and a real-time clock (over 10^6
# landmarks); then the exact-asynchronous-events guest for over 10^4 timer
# ticks landed between its exits. Every digest must match.
soak-replay: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 3600 -cmdline "guestmem=64M iterations=90000000 lag=2s verify=100000 rtc=real status=10s" \
		-log build/soak-replay.log -input tools/emu/serial-input.txt -after "primary| testguest: interrupts on" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-replay.sh build/soak-replay.log 1000000 10000 $$(wc -c < tools/emu/serial-input.txt)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 3600 -cmdline "guestmem=64M mode=async rounds=80 verify=20000 lag=1s status=10s" \
		-log build/soak-async.log -expect "hv: clock: slice" -expect "hv: verdict: IDENTICAL"
	tools/emu/check-replay.sh build/soak-async.log 50000 10000 0 async

# Recording and replay overhead, log rate and exit density (Bochs counts
# instructions; repeatable with rdrand=off).
bench-replay: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -log build/bench-replay-slice.log -cmdline "guestmem=64M vmtest=replaybench iterations=2000000 lag=0 verify=0 rdrand=off platform=bochs" -expect "bench: done"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -log build/bench-replay-exit.log -cmdline "guestmem=64M vmtest=replaybench iterations=2000000 lag=0 verify=0 rdrand=off platform=bochs clock=exit" -expect "bench: done"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 600 -log build/bench-async.log -cmdline "guestmem=64M mode=async rounds=4 account verify=2000 rdrand=off" -expect "bench: log:"
	grep -a "^bench:" build/bench-replay-slice.log build/bench-replay-exit.log build/bench-async.log

# Hypervisor instructions per VM-exit round trip (Bochs counts instructions):
# a VM alone, then a primary and its backup (an RDTSC is one record).
bench-exit: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=exitbench rdrand=off" -expect "hv: exit cost"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=exitbench clock=slice rdrand=off" -expect "hv: exit cost"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=exitbench record rdrand=off" -expect "hv: exit cost (backup" -expect "hv: verdict: IDENTICAL"
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "guestmem=64M vmtest=exitbench record clock=slice rdrand=off" -expect "hv: exit cost (backup" -expect "hv: verdict: IDENTICAL"

# The Linux guest as primary and backup with its costs counted: guest
# instructions to its shell (the script's last line), exits per million
# guest instructions by reason, the log's rate in guest time.
bench-linux: $(IMG) linux
	tools/emu/run-bochs.sh -img $(IMG) -timeout 1200 -log build/bench-linux.log \
		-module "$(LINUX_OUT)/bzImage $(LINUX_CMDLINE)" -module "$(LINUX_OUT)/initramfs.cpio.gz" \
		-cmdline "$(LINUXRUN) account mark=linux-guest:+script+done rdrand=off" \
		-input tools/emu/linux-input.txt -after "linux-guest: script done" -expect "bench: log:"
	grep -a "^bench:\|^hv: verdict" build/bench-linux.log

bench-ring:
	$(GO) run ./tools/ringbench

# The same measurement inside the image, CPU0 -> CPU1, ring in AllocPhys
# memory (emulated figures; in Bochs cycles are instruction counts). The
# benchmark is linked only into this image (build tag ringbench).
RINGIMG := $(BUILD)/hindsight-ringbench.img
.PHONY: bench-ring-image
bench-ring-image:
	@mkdir -p $(BUILD)
	$(GOENV) $(GO) build -tags ringbench -o $(BUILD)/hindsight-ringbench.elf .
	$(GO) run ./tools/mkimage -o $(RINGIMG) $(BUILD)/hindsight-ringbench.elf
	tools/emu/run-bochs.sh -img $(RINGIMG) -timeout 600 -cmdline "bench=ring platform=bochs rdrand=off" -log $(BUILD)/bench-ring-bochs.log -expect "ringbench-image: done"
	tools/emu/run-qemu.sh -img $(RINGIMG) -smp 2 -timeout $(TIMEOUT) -cmdline "bench=ring platform=qemu-tcg" -log $(BUILD)/bench-ring-qemu.log -expect "ringbench-image: done"

clean:
	rm -rf $(BUILD)

FORCE:
