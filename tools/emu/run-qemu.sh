#!/usr/bin/env bash
# Boot the hindsight image under QEMU (TCG) with a hard timeout and judge the
# run by markers in the serial log, never by QEMU's exit status alone.
#   run-qemu.sh -img IMG [-smp N] [-timeout S] [-cmdline "..."] [-expect MARKER] [-log FILE]
set -u
img=build/hindsight.img smp=2 timeout=120 cmdline="" expect="" log=""
while [ $# -gt 0 ]; do
	case "$1" in
	-img) img=$2; shift ;;
	-smp) smp=$2; shift ;;
	-timeout) timeout=$2; shift ;;
	-cmdline) cmdline=$2; shift ;;
	-expect) expect=$2; shift ;;
	-log) log=$2; shift ;;
	*) echo "run-qemu.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$log" ] || log=build/qemu-smp$smp.log
mkdir -p "$(dirname "$log")"
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m 512M \
	-kernel "$img" -append "$cmdline" -display none -monitor none -no-reboot \
	-serial "file:$log" -device isa-debug-exit,iobase=0xf4,iosize=0x04
status=$?
tr -d '\r' <"$log" | sed 's/^/  | /'
echo
if [ "$status" -eq 124 ]; then
	echo "run-qemu.sh: TIMEOUT after ${timeout}s (smp=$smp)" >&2
	exit 1
fi
if [ -n "$expect" ]; then
	if grep -q "$expect" "$log" && ! grep -q "KERNEL FAULT\|selftest: FAIL" "$log"; then
		echo "run-qemu.sh: PASS (smp=$smp): found \"$expect\""
		exit 0
	fi
	echo "run-qemu.sh: FAIL (smp=$smp): \"$expect\" not in $log (qemu status $status)" >&2
	exit 1
fi
