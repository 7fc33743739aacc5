#!/usr/bin/env bash
# Boot one mbtest guest under plain QEMU (TCG, QEMU's own multiboot loader)
# with a hard timeout and judge it by serial markers.
#   qemu-check.sh -kernel FILE [-append ARGS] [-module "FILE [ARGS]"]... [-expect MARKER]...
#                 [-status N] [-timeout S] [-log FILE]
# The guest's last line is "mbtest: VARIANT: done, N problems"; QEMU is
# stopped once it appears (a guest that halts never exits QEMU). Every
# -expect marker must appear, and "done, 0 problems"; -status N also
# requires QEMU's exit status N (isa-debug-exit at 0x501: 2*status+1).
set -u
kernel="" append="" initrd="" timeout=30 log="" want_status=""
expects=()
while [ $# -gt 0 ]; do
	case "$1" in
	-kernel) kernel=$2; shift ;;
	-append) append=$2; shift ;;
	-module) initrd="${initrd:+$initrd,}${2//,/,,}"; shift ;;
	-expect) expects+=("$2"); shift ;;
	-status) want_status=$2; shift ;;
	-timeout) timeout=$2; shift ;;
	-log) log=$2; shift ;;
	*) echo "qemu-check.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$log" ] || log=$kernel.log
: >"$log"
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg -m 64M -display none -monitor none -no-reboot \
	-kernel "$kernel" ${append:+-append "$append"} ${initrd:+-initrd "$initrd"} \
	-serial "file:$log" -device isa-debug-exit,iobase=0x501,iosize=4 &
qemu=$!
for _ in $(seq $((timeout * 10))); do
	grep -q "^mbtest: .*: done, " "$log" && break
	kill -0 $qemu 2>/dev/null || break
	sleep 0.1
done
sleep 0.2
if kill -0 $qemu 2>/dev/null; then
	kill $qemu
	wait $qemu
	status=halted
else
	wait $qemu
	status=$?
fi
sed 's/^/  | /' "$log"
fail=0
for e in "${expects[@]}" "done, 0 problems"; do
	grep -q -- "$e" "$log" || { echo "qemu-check.sh: FAIL ($kernel): \"$e\" not in $log" >&2; fail=1; }
done
if [ -n "$want_status" ] && [ "$status" != "$want_status" ]; then
	echo "qemu-check.sh: FAIL ($kernel): qemu exit status $status, want $want_status" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "qemu-check.sh: PASS ($kernel, qemu status $status)"
exit $fail
