# The Linux guest: a tiny Linux 6.1 kernel and a u-root initramfs, built
# offline into build/linux/ and cached by make (nothing built is committed).
#
#   make linux        build/linux/vmlinux, bzImage, initramfs.cpio.gz
#   make linux-qemu   boot them under QEMU TCG, type into the shell, judge
#                     the run by markers in build/linux/qemu.log
#   make linux-test   go vet and go test of the initramfs module
#   make linux-clean  remove build/linux (keeps nothing, not even the .deb)
#
# Why this kernel. hindsight records and replays every exit of its guest, so
# the guest should boot in few instructions and touch only the devices of
# the minimal machine (8259A PIC pair, 8254 PIT, one 16550 UART, CMOS RTC;
# see shared/design/linux-guest.md). Debian's stock kernel takes about 7 G
# instructions to boot, 4.5 G of them in XZ decompression; `make tinyconfig`
# plus config-fragment boots to a shell in about 55 M. The fragment keeps a
# 64-bit kernel that prints on COM1 from the start, the syscalls Go's runtime
# and u-root need (futex, epoll, eventfd, timerfd, signalfd, POSIX timers,
# file locks, ptys), a gzip-only initramfs, a 100 Hz tick that stops when
# idle and no port-0x80 delays (fewer exits to record), and drops what the
# machine does not have: SMP, PCI, ACPI, paravirtual guest code, microcode,
# a relocatable or randomized kernel (the VMM enters vmlinux at e_entry,
# 0x1000000), modules, MTRR/PAT, the RTC class, virtual terminals and VGA,
# input devices, and CPU vendors other than Intel and AMD. check-config.sh
# fails the build naming any fragment option Kconfig dropped.
#
# The source is Debian's linux-source-6.1 package (`apt-get download`, no
# root needed); a copy already in build/ or /var/cache/apt/archives is used
# as it is. Delete build/linux/linux-source-6.1.deb to take a newer one.
#
# The initramfs is u-root's busybox (init, gosh and a few core commands)
# plus hsdemo, built from the separate Go module in guest/linux/initramfs,
# whose go.sum pins every module: after one `go mod download` everything
# builds with GOPROXY=off and the archive is the same bit for bit each run.
# u-root's init runs initramfs/test.sh (at /etc/test.sh): it prints
# "linux-guest: script start", runs hsdemo (goroutines, timers and a
# CPU-bound loop; "hsdemo: result 0x..." depends only on its -n, set by
# hsdemo.n= on the kernel command line), prints "linux-guest: script done"
# and starts the shell on the console ("$ " prompt). The hypervisor boots
# vmlinux at its 64-bit entry with LINUX_CMDLINE and this initramfs.
#
# Build dependencies (Debian): gcc make bc flex bison libelf-dev libssl-dev
# cpio xz-utils; the Go toolchain; qemu-system-x86 for linux-qemu.

# This file is included before the Makefile's own rules: keep its first
# target from becoming the default goal (restored at the end).
LINUX_SAVED_GOAL := $(.DEFAULT_GOAL)

LINUX_OUT     := $(BUILD)/linux
LINUX_SRC     := $(LINUX_OUT)/src
LINUX_OBJ     := $(LINUX_OUT)/obj
LINUX_PKG     := linux-source-6.1
LINUX_DEB     := $(LINUX_OUT)/$(LINUX_PKG).deb
LINUX_FRAG    := guest/linux/config-fragment
LINUX_JOBS    ?= 2
# A fixed builder and date in the version banner (dmesg, /proc/version):
# the guest prints the same text whoever builds it, and when.
LINUX_KMAKE   := nice $(MAKE) -C $(LINUX_SRC) O=$(abspath $(LINUX_OBJ)) ARCH=x86_64 \
	KBUILD_BUILD_USER=hindsight KBUILD_BUILD_HOST=hindsight KBUILD_BUILD_VERSION=1 KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
LINUX_CMDLINE ?= console=ttyS0 nolapic noapic reboot=t panic=-1 lpj=2150400 quiet oops=panic

INITRAMFS_MOD  := guest/linux/initramfs
INITRAMFS_OFFLINE := GOPROXY=off GOFLAGS="-mod=readonly -buildvcs=false"
UROOT          := $(LINUX_OUT)/bin/u-root
INITRAMFS_CPIO := $(LINUX_OUT)/initramfs.cpio
INITRAMFS_SRCS := $(shell find $(INITRAMFS_MOD) -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum -o -name '*.sh')
# The busybox: u-root's init and shell, the commands a person at the console
# wants first, and the demo program.
INITRAMFS_CMDS := $(addprefix github.com/u-root/u-root/cmds/core/,init gosh echo cat ls dmesg shutdown sleep uname mount) \
	./cmd/hsdemo

.PHONY: linux linux-kernel linux-initramfs linux-qemu linux-test linux-clean

linux: linux-kernel linux-initramfs

linux-kernel: $(LINUX_OUT)/vmlinux $(LINUX_OUT)/bzImage

linux-initramfs: $(INITRAMFS_CPIO).gz

$(LINUX_DEB):
	@mkdir -p $(LINUX_OUT)
	@set -e; found=$$(ls -t $(LINUX_OUT)/$(LINUX_PKG)_*.deb $(BUILD)/$(LINUX_PKG)_*.deb \
		/var/cache/apt/archives/$(LINUX_PKG)_*.deb 2>/dev/null | head -n 1); \
	if [ -z "$$found" ]; then \
		echo "linux: apt-get download $(LINUX_PKG)"; \
		(cd $(LINUX_OUT) && apt-get download $(LINUX_PKG)) || \
		{ [ "$$(id -u)" = 0 ] && echo "linux: apt-get update, then again" && apt-get update -qq && \
			(cd $(LINUX_OUT) && apt-get download $(LINUX_PKG)); } || { \
			echo "linux: apt-get download $(LINUX_PKG) failed: run apt-get update (as root), or put the .deb in $(BUILD)/" >&2; exit 1; }; \
		found=$$(ls -t $(LINUX_OUT)/$(LINUX_PKG)_*.deb | head -n 1); \
	fi; \
	echo "linux: using $$found"; \
	ln -f "$$found" $@ 2>/dev/null || cp "$$found" $@

# The tarball inside the package untarred into src (1.5 GB); tar keeps the
# files' own dates, so the stamp is what says the tree is complete.
$(LINUX_SRC)/.unpacked: $(LINUX_DEB)
	rm -rf $(LINUX_SRC) $(LINUX_OUT)/pkg
	dpkg -x $< $(LINUX_OUT)/pkg
	mkdir -p $(LINUX_SRC)
	tar -xJf $(LINUX_OUT)/pkg/usr/src/$(LINUX_PKG).tar.xz -C $(LINUX_SRC) --strip-components=1
	rm -rf $(LINUX_OUT)/pkg
	@echo "linux: $(LINUX_PKG) $$(dpkg-deb -f $< Version) in $(LINUX_SRC)"
	touch $@

$(LINUX_OBJ)/.config: $(LINUX_SRC)/.unpacked $(LINUX_FRAG) guest/linux/check-config.sh
	@mkdir -p $(LINUX_OBJ)
	rm -f $@
	$(LINUX_KMAKE) -s tinyconfig
	$(LINUX_SRC)/scripts/kconfig/merge_config.sh -m -O $(LINUX_OBJ) $@ $(LINUX_FRAG) >$(LINUX_OBJ)/merge.log
	$(LINUX_KMAKE) -s olddefconfig
	guest/linux/check-config.sh $(LINUX_FRAG) $@ || { rm -f $@; exit 1; }

# bzImage is built from vmlinux in the same kernel make; both are copied out
# together.
$(LINUX_OUT)/vmlinux $(LINUX_OUT)/bzImage &: $(LINUX_OBJ)/.config
	$(LINUX_KMAKE) -j$(LINUX_JOBS) vmlinux bzImage
	cp $(LINUX_OBJ)/vmlinux $(LINUX_OUT)/vmlinux
	cp $(LINUX_OBJ)/arch/x86/boot/bzImage $(LINUX_OUT)/bzImage

# The only step that may use the network: fill the module cache with the
# modules go.sum pins. Everything after it runs with GOPROXY=off.
$(LINUX_OUT)/initramfs-modules.stamp: $(INITRAMFS_MOD)/go.mod $(INITRAMFS_MOD)/go.sum
	@mkdir -p $(LINUX_OUT)
	cd $(INITRAMFS_MOD) && $(GO) mod download
	touch $@

# The u-root tool at the version go.mod pins.
$(UROOT): $(LINUX_OUT)/initramfs-modules.stamp
	cd $(INITRAMFS_MOD) && $(INITRAMFS_OFFLINE) GOBIN=$(abspath $(dir $@)) $(GO) install github.com/u-root/u-root

# u-root builds the busybox like `go build` in the initramfs module;
# -mod=readonly: a go.mod or go.sum that does not match the imports fails
# the build instead of being rewritten. goshsmall: the shell reads plain
# lines and prints "$ " instead of driving a full-screen line editor that
# queries the terminal (every byte of that would be recorded and replayed).
$(INITRAMFS_CPIO): $(UROOT) $(INITRAMFS_SRCS)
	cd $(INITRAMFS_MOD) && $(INITRAMFS_OFFLINE) GOOS=linux GOARCH=amd64 $(abspath $(UROOT)) \
		-o $(abspath $@).tmp -defaultsh gosh -uinitcmd="gosh /etc/test.sh" -go-build-tags goshsmall \
		-files test.sh:etc/test.sh $(INITRAMFS_CMDS)
	mv $@.tmp $@

# -n: no name or date in the header, so the same archive gives the same file.
$(INITRAMFS_CPIO).gz: $(INITRAMFS_CPIO)
	gzip -9 -n -c $< >$@.tmp
	mv $@.tmp $@

# The guest on its own, without the hypervisor: once the script is done,
# type into the shell; the arithmetic proves the shell ran the line (the
# console echo shows only "$((6 * 7))"). reboot=t ends in a triple fault
# and -no-reboot turns that into QEMU's exit.
LINUX_QEMU_TIMEOUT ?= 300
linux-qemu: $(LINUX_OUT)/bzImage $(INITRAMFS_CPIO).gz
	guest/linux/run-qemu.sh -kernel $(LINUX_OUT)/bzImage -initrd $(INITRAMFS_CPIO).gz \
		-append "$(LINUX_CMDLINE)" -timeout $(LINUX_QEMU_TIMEOUT) -log $(LINUX_OUT)/qemu.log \
		-after "linux-guest: script done" -type 'echo linux-guest: typed $$((6 * 7))' -type 'shutdown reboot' \
		-expect "linux-guest: script start" -expect "hsdemo: result 0x[0-9a-f]\{16\} " -expect "hsdemo: done" \
		-expect "linux-guest: hsdemo exit status 0" -expect "linux-guest: script done" \
		-expect "linux-guest: typed 42" -expect "reboot: Restarting system"

# The initramfs module's own checks (it is outside the main module's ./...).
linux-test: $(LINUX_OUT)/initramfs-modules.stamp
	cd $(INITRAMFS_MOD) && $(INITRAMFS_OFFLINE) $(GO) vet ./... && $(INITRAMFS_OFFLINE) $(GO) test -count=1 ./...

linux-clean:
	rm -rf $(LINUX_OUT)

.DEFAULT_GOAL := $(LINUX_SAVED_GOAL)
