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

.PHONY: all image iso run test test-host selftest-qemu selftest-bochs bench-ring bench-boot clean

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
run: $(ISO)
	tools/emu/run-bochs.sh -iso $(ISO) -timeout $(TIMEOUT) -cmdline "$(CMDLINE)" -show

test: test-host selftest-qemu-1 selftest-qemu-2 selftest-bochs

test-host:
	$(GO) test ./...

selftest-qemu: $(IMG)
	tools/emu/run-qemu.sh -img $(IMG) -smp $(SMP) -timeout $(TIMEOUT) -cmdline "selftest" -expect "selftest: ALL PASS"

selftest-qemu-1:
	$(MAKE) selftest-qemu SMP=1

selftest-qemu-2:
	$(MAKE) selftest-qemu SMP=2

selftest-bochs: $(ISO)
	tools/emu/run-bochs.sh -iso $(ISO) -timeout 600 -cmdline "selftest" -expect "selftest: ALL PASS"

bench-ring:
	$(GO) run ./tools/ringbench

clean:
	rm -rf $(BUILD)

FORCE:
