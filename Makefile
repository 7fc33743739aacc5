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

.PHONY: all image iso run test test-host test-machine selftest-qemu selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs bench-ring bench-boot clean

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
run: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout $(TIMEOUT) -cmdline "$(CMDLINE)" -show

# The README's test command: host tests, then the machine tests.
test: test-host test-machine

test-host:
	$(GO) test ./...

test-machine: selftest-qemu-1 selftest-qemu-2 failtest-qemu selftest-bochs

selftest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp $(SMP) -timeout $(TIMEOUT) -cmdline "selftest" -expect "selftest: ALL PASS"

selftest-qemu-1:
	$(MAKE) selftest-qemu SMP=1

selftest-qemu-2:
	$(MAKE) selftest-qemu SMP=2

# An unrecovered panic and an illegal instruction must each print a
# goroutine trace (and, for the trap, CPU, vector, RIP and registers), stop
# the machine and exit with status 2 (QEMU: 2*2+1).
failtest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "selftest=panic" -status 5 \
		-expect "panic: selftest: deliberate panic" -expect "goroutine " -expect "boot: exit status 2"
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "selftest=trap" -status 5 \
		-expect "boot: cpu[0-9]*: exception #UD at rip" -expect "SIGILL" -expect "goroutine " \
		-expect "rip " -expect "boot: exit status 2"

selftest-bochs: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "selftest" -expect "selftest: ALL PASS"

# Boot-layer costs in TSC cycles; in Bochs one cycle is one emulated
# instruction, so those figures are deterministic.
bench-boot: $(IMG)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "bench=bochs rdrand=off" -expect "bench: thread switch"
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "bench=qemu-tcg" -expect "bench: thread switch"

bench-ring:
	$(GO) run ./tools/ringbench

clean:
	rm -rf $(BUILD)

FORCE:
