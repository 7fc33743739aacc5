#!/usr/bin/env bash
# Boot the hindsight image under QEMU: KVM with nested VT-x where /dev/kvm
# offers it (then the hypervisor runs guests), else TCG (no VT-x).
#   ./qemu.sh [-smp N] [-m SIZE] [-cmdline "..."] [-module "FILE [ARGS]"]... [-- extra qemu args]
# Each -module hands FILE to hindsight as a multiboot module with the string
# "FILE ARGS" (guest=, initrd= and guestmods= pick modules by FILE's base
# name), e.g. -module "bzImage console=ttyS0" -module initramfs.cpio.gz
# -cmdline "guestmem=128M guest=bzImage initrd=initramfs.cpio.gz".
set -eu
smp=2 mem=1G cmdline="guestmem=128M" initrd=""
while [ $# -gt 0 ]; do
	case "$1" in
	-smp) smp=$2; shift ;;
	-m) mem=$2; shift ;;
	-cmdline) cmdline=$2; shift ;;
	-module)
		f=${2%% *}
		[ -r "$f" ] || { echo "qemu.sh: -module $2: cannot read $f" >&2; exit 2; }
		m="$(realpath "$f")${2#"$f"}" # the script changes directory below
		initrd="${initrd:+$initrd,}${m//,/,,}" # QEMU splits -initrd at single commas
		shift ;;
	--) shift; break ;;
	*) echo "qemu.sh: unknown option $1 (try -smp, -m, -cmdline, -module, --)" >&2; exit 2 ;;
	esac
	shift
done
cd "$(dirname "$0")"
make -s image
accel="-accel tcg -cpu max"
if [ -w /dev/kvm ] && grep -qs '^[Y1]' /sys/module/kvm_intel/parameters/nested; then
	accel="-accel kvm -cpu host"
fi
echo "qemu.sh: $accel, $smp CPUs, $mem; Ctrl-A X quits" >&2
exec qemu-system-x86_64 $accel -smp "$smp" -m "$mem" -kernel build/hindsight.img \
	-append "$cmdline" ${initrd:+-initrd "$initrd"} -nographic -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 "$@"
