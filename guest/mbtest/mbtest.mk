# Multiboot test guests (guest/mbtest): built from source with the system
# toolchain (gcc -m32, ld -m elf_i386, objcopy; no 32-bit libraries).
#   make mbtest         builds them into build/mbtest/
#   make mbtest-qemu    boots each under plain QEMU TCG (QEMU's multiboot
#                       loader) and judges by serial markers
#   make bootmods-qemu  boots the hindsight image under QEMU with modules;
#   make bootmods-bochs under Bochs/GRUB: each module's boot line and its
#                       SHA-256 after the self-test took frames must match
MBT_DIR  := guest/mbtest
MBT_OUT  := $(BUILD)/mbtest
MBT_CC   := gcc -m32 -ffreestanding -nostdlib -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables -O2 -Wall -Werror
MBT_LD   := ld -m elf_i386 -n --no-warn-rwx-segments -T $(MBT_DIR)/mbtest.ld
MBT_SRC  := $(MBT_DIR)/entry.S $(MBT_DIR)/mbtest.c $(MBT_DIR)/mbtest.ld $(MBT_DIR)/mbtest.mk
MBT_ALL  := $(MBT_OUT)/mb32.elf $(MBT_OUT)/mb64.elf $(MBT_OUT)/mbaout.bin $(MBT_OUT)/mbexit.elf

.PHONY: mbtest mbtest-qemu bootmods-qemu bootmods-bochs
mbtest: $(MBT_ALL)

# $(call mbt_objs,VARIANT,EXTRA-CFLAGS): entry and C objects of a variant.
define mbt_objs
	@mkdir -p $(MBT_OUT)/$(1)
	$(MBT_CC) $(2) -c $(MBT_DIR)/entry.S -o $(MBT_OUT)/$(1)/entry.o
	$(MBT_CC) $(2) -DVARIANT='"$(1)"' -c $(MBT_DIR)/mbtest.c -o $(MBT_OUT)/$(1)/mbtest.o
endef

# ELF32, ends with CLI; HLT.
$(MBT_OUT)/mb32.elf: $(MBT_SRC)
	$(call mbt_objs,mb32,)
	$(MBT_LD) -o $@ $(MBT_OUT)/mb32/entry.o $(MBT_OUT)/mb32/mbtest.o

# ELF64 file around the same 32-bit code (entered in 32-bit mode).
$(MBT_OUT)/mb64.elf: $(MBT_SRC)
	$(call mbt_objs,mb64,)
	$(MBT_LD) -o $(MBT_OUT)/mb64/mb64.elf32 $(MBT_OUT)/mb64/entry.o $(MBT_OUT)/mb64/mbtest.o
	objcopy -O elf64-x86-64 $(MBT_OUT)/mb64/mb64.elf32 $@

# Flat binary with the a.out kludge (header flags bit 16).
$(MBT_OUT)/mbaout.bin: $(MBT_SRC)
	$(call mbt_objs,mbaout,-DAOUT)
	$(MBT_LD) --oformat binary -o $@ $(MBT_OUT)/mbaout/entry.o $(MBT_OUT)/mbaout/mbtest.o

# ELF32 that ends by writing its problem count to the exit port 0x501.
$(MBT_OUT)/mbexit.elf: $(MBT_SRC)
	$(call mbt_objs,mbexit,-DEXIT_PORT=0x501)
	$(MBT_LD) -o $@ $(MBT_OUT)/mbexit/entry.o $(MBT_OUT)/mbexit/mbtest.o

# QEMU refuses ELF64 multiboot kernels: mb64.elf is checked by
# guest/image's tests (and in hindsight) instead.
MBT_CKSUM = $$(cksum < $(1) | cut -d' ' -f1)
mbtest-qemu: $(MBT_ALL)
	$(MBT_DIR)/qemu-check.sh -kernel $(MBT_OUT)/mb32.elf -append "hello world" \
		-module "$(MBT_OUT)/mbaout.bin arg1,arg2" -module "$(MBT_OUT)/mbexit.elf" \
		-expect "mbtest: mb32: magic 0x2badb002 ok" -expect 'mbtest: mb32: cmdline "$(MBT_OUT)/mb32.elf hello world"' \
		-expect "mbtest: mb32: mods 2" \
		-expect "mbtest: mb32: mod 0: .* $$(stat -c %s $(MBT_OUT)/mbaout.bin) bytes, cksum $(call MBT_CKSUM,$(MBT_OUT)/mbaout.bin), string \"$(MBT_OUT)/mbaout.bin arg1,arg2\"" \
		-expect "mbtest: mb32: mod 1: .* $$(stat -c %s $(MBT_OUT)/mbexit.elf) bytes, cksum $(call MBT_CKSUM,$(MBT_OUT)/mbexit.elf), string" \
		-expect "mbtest: mb32: mmap 0x00000000_00000000 +0x00000000_0009fc00 type 1"
	$(MBT_DIR)/qemu-check.sh -kernel $(MBT_OUT)/mbaout.bin -expect "mbtest: mbaout: magic 0x2badb002 ok" -expect "mbtest: mbaout: mods 0"
	$(MBT_DIR)/qemu-check.sh -kernel $(MBT_OUT)/mbexit.elf -status 1 -expect "mbtest: mbexit: magic 0x2badb002 ok"

# The hindsight image keeps its modules intact (boot/multiboot.go,
# selftest "modules"): each boot line, and each SHA-256 the self-test
# computes after taking 16 MiB of frames, must match the file.
# A file's CRC-32 (IEEE): the last 8 bytes of its gzip stream begin with it.
MBT_CRC = $$(gzip -c $(1) | tail -c8 | head -c4 | od -An -tx4 | tr -d ' ')
bootmods-qemu: $(IMG) $(MBT_ALL)
	tools/emu/run-qemu.sh -img $(IMG) -smp 2 -timeout $(TIMEOUT) -cmdline "selftest guestmem=32M" -log $(BUILD)/bootmods-qemu.log \
		-module "$(MBT_OUT)/mb32.elf hello a,b" -module "$(MBT_OUT)/mbaout.bin" \
		-expect "boot: module 0: $(MBT_OUT)/mb32.elf hello a,b at 0x[0-9a-f]*, $$(stat -c %s $(MBT_OUT)/mb32.elf) bytes" \
		-expect "boot: module 1: $(MBT_OUT)/mbaout.bin at 0x[0-9a-f]*, $$(stat -c %s $(MBT_OUT)/mbaout.bin) bytes" \
		-expect "selftest: module 0: $(MBT_OUT)/mb32.elf hello a,b: .* crc32 $(call MBT_CRC,$(MBT_OUT)/mb32.elf)" \
		-expect "selftest: module 1: $(MBT_OUT)/mbaout.bin: .* crc32 $(call MBT_CRC,$(MBT_OUT)/mbaout.bin)" \
		-expect "selftest: PASS modules: 2 module(s)" -expect "selftest: ALL PASS"

bootmods-bochs: $(IMG) $(MBT_ALL)
	tools/emu/run-bochs.sh -img $(IMG) -timeout 300 -cmdline "selftest" -log $(BUILD)/bootmods-bochs.log \
		-module "$(MBT_OUT)/mb32.elf hello a,b" -module "$(MBT_OUT)/mbaout.bin" \
		-expect "boot: module 0: mb32.elf hello a,b at 0x[0-9a-f]*, $$(stat -c %s $(MBT_OUT)/mb32.elf) bytes" \
		-expect "boot: module 1: mbaout.bin at 0x[0-9a-f]*, $$(stat -c %s $(MBT_OUT)/mbaout.bin) bytes" \
		-expect "selftest: module 0: mb32.elf hello a,b: .* crc32 $(call MBT_CRC,$(MBT_OUT)/mb32.elf)" \
		-expect "selftest: module 1: mbaout.bin: .* crc32 $(call MBT_CRC,$(MBT_OUT)/mbaout.bin)" \
		-expect "selftest: PASS modules: 2 module(s)" -expect "selftest: ALL PASS"
