#!/usr/bin/env bash
# Boot the hindsight image under QEMU (TCG) with a hard timeout and judge the
# run by markers in the serial log, never by QEMU's exit status alone.
#   run-qemu.sh -img IMG [-smp N] [-timeout S] [-cmdline "..."] [-expect MARKER]... [-status N] [-log FILE]
#               [-module "FILE [ARGS]"]...
# Every -expect marker must appear; -status N also requires QEMU's exit
# status N (isa-debug-exit: 2*code+1). Each -module hands FILE to the image
# as a multiboot module whose string is "FILE ARGS" (QEMU's -initrd list;
# a comma in ARGS is escaped as QEMU wants, by doubling it).
set -u
img=build/hindsight.img smp=2 timeout=120 cmdline="" log="" want_status=""
expects=()
initrd=""
while [ $# -gt 0 ]; do
	case "$1" in
	-img) img=$2; shift ;;
	-smp) smp=$2; shift ;;
	-timeout) timeout=$2; shift ;;
	-cmdline) cmdline=$2; shift ;;
	-expect) expects+=("$2"); shift ;;
	-status) want_status=$2; shift ;;
	-log) log=$2; shift ;;
	-module)
		f=${2%% *}
		[ -r "$f" ] || { echo "run-qemu.sh: -module $2: cannot read $f" >&2; exit 2; }
		initrd="${initrd:+$initrd,}${2//,/,,}"
		shift ;;
	*) echo "run-qemu.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$log" ] || log=build/qemu-smp$smp.log
mkdir -p "$(dirname "$log")"
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m 512M \
	-kernel "$img" -append "$cmdline" ${initrd:+-initrd "$initrd"} -display none -monitor none -no-reboot \
	-serial "file:$log" -device isa-debug-exit,iobase=0xf4,iosize=0x04
status=$?
tr -d '\r' <"$log" | sed 's/^/  | /'
echo
if [ "$status" -eq 124 ]; then
	echo "run-qemu.sh: TIMEOUT after ${timeout}s (smp=$smp)" >&2
	exit 1
fi
fail=0
for e in "${expects[@]}"; do
	grep -q -- "$e" "$log" || { echo "run-qemu.sh: FAIL (smp=$smp): \"$e\" not in $log" >&2; fail=1; }
done
if [ -n "$want_status" ] && [ "$status" != "$want_status" ]; then
	echo "run-qemu.sh: FAIL (smp=$smp): qemu exit status $status, want $want_status" >&2
	fail=1
fi
if [ -z "$want_status" ] && grep -q "KERNEL FAULT\|selftest: FAIL" "$log"; then
	echo "run-qemu.sh: FAIL (smp=$smp): failure marker in $log" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "run-qemu.sh: PASS (smp=$smp, qemu status $status)"
exit $fail
