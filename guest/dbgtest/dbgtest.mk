# The debugger's test guest (guest/dbgtest) and its tests in Bochs.
#   make dbgtest        build/dbgtest/dbgtest.elf: a 64-bit multiboot guest
#                       with symbols and DWARF (gcc, ld; no libraries)
#   make debug-bochs    gdb (batch) against the backup in Bochs: a crash
#                       after timer interrupts, single steps the guest must
#                       not see, a debugger that leaves mid-step, the
#                       console monitor (about 2 minutes; part of make
#                       test); LINUX=DIR adds a Linux panic (vmlinux,
#                       bzImage, initramfs.cpio.gz from make linux in DIR)
#   make capture-linux  the Linux guest's panic captured over COM3 and
#                       replayed offline to the same panic (LINUX=DIR,
#                       default the bundled build; about 25 minutes, not
#                       part of make test)
DBT_DIR := guest/dbgtest
DBT_OUT := $(BUILD)/dbgtest
DBT_ELF := $(DBT_OUT)/dbgtest.elf
DBT_CC  := gcc -m64 -ffreestanding -nostdlib -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only \
	-fno-stack-protector -fno-asynchronous-unwind-tables -O1 -g -Wall -Werror

.PHONY: dbgtest debug-bochs capture-linux
dbgtest: $(DBT_ELF)

$(DBT_ELF): $(DBT_DIR)/entry.S $(DBT_DIR)/dbgtest.c $(DBT_DIR)/dbgtest.ld $(DBT_DIR)/dbgtest.mk
	@mkdir -p $(DBT_OUT)
	$(DBT_CC) -c $(DBT_DIR)/entry.S -o $(DBT_OUT)/entry.o
	$(DBT_CC) -c $(DBT_DIR)/dbgtest.c -o $(DBT_OUT)/dbgtest.o
	ld -m elf_x86_64 -n --no-warn-rwx-segments -T $(DBT_DIR)/dbgtest.ld -o $@ $(DBT_OUT)/entry.o $(DBT_OUT)/dbgtest.o

debug-bochs: $(IMG) $(DBT_ELF)
	$(DBT_DIR)/debug-bochs.sh $(IMG) $(DBT_ELF)

capture-linux: $(IMG)
	$(DBT_DIR)/linux-capture.sh $(IMG) $(or $(LINUX),$(LINUX_OUT))
