#!/usr/bin/env bash
# Boot the hindsight image under QEMU: KVM with nested VT-x where /dev/kvm
# offers it (then the hypervisor runs guests), else TCG (no VT-x).
#   ./qemu.sh [-smp N] [-m SIZE] [-cmdline "..."] [-- extra qemu args]
set -eu
smp=2 mem=1G cmdline="guestmem=128M"
while [ $# -gt 0 ]; do
	case "$1" in
	-smp) smp=$2; shift ;;
	-m) mem=$2; shift ;;
	-cmdline) cmdline=$2; shift ;;
	--) shift; break ;;
	*) echo "qemu.sh: unknown option $1 (try -smp, -m, -cmdline, --)" >&2; exit 2 ;;
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
	-append "$cmdline" -nographic -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 "$@"
