#!/usr/bin/env bash
# Boot the Linux guest under QEMU TCG with a hard timeout, type lines into
# its console once a marker has appeared, and judge the run by markers in
# the serial log (QEMU's exit status alone says little).
#   run-qemu.sh -kernel BZIMAGE -initrd INITRD -append CMDLINE [-timeout S]
#               [-log FILE] [-after MARKER] [-type LINE]... [-expect MARKER]...
# Each -type LINE is typed with a carriage return (the Enter key), a second
# apart, after MARKER. Every -expect marker (a grep pattern) must appear; a
# kernel panic, an oops or "hsdemo: FAIL" fails the run. QEMU runs with
# -no-reboot: a guest reboot (reboot=t: a triple fault) ends it.
set -u
kernel="" initrd="" append="" timeout=120 log=build/linux/qemu.log after=""
typed=() expects=()
while [ $# -gt 0 ]; do
	case "$1" in
	-kernel) kernel=$2; shift ;;
	-initrd) initrd=$2; shift ;;
	-append) append=$2; shift ;;
	-timeout) timeout=$2; shift ;;
	-log) log=$2; shift ;;
	-after) after=$2; shift ;;
	-type) typed+=("$2"); shift ;;
	-expect) expects+=("$2"); shift ;;
	*) echo "run-qemu.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
command -v qemu-system-x86_64 >/dev/null || { echo "run-qemu.sh: qemu-system-x86_64 not found (Debian: qemu-system-x86)" >&2; exit 2; }
for f in "$kernel" "$initrd"; do
	[ -r "$f" ] || { echo "run-qemu.sh: cannot read kernel or initrd \"$f\" (make linux builds them)" >&2; exit 2; }
done
mkdir -p "$(dirname "$log")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkfifo "$work/console"
: >"$log"
start=$(date +%s%N)
timeout -k 5 "$timeout" qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
	-kernel "$kernel" -initrd "$initrd" -append "$append" <"$work/console" >"$log" 2>&1 &
qemu=$!
# The console's input stays open until QEMU ends: QEMU reads it as typing.
exec 3>"$work/console"

ms_since_start() { echo $((($(date +%s%N) - start) / 1000000)); }

ready=""
if [ -n "$after" ]; then
	while kill -0 $qemu 2>/dev/null; do
		if grep -q -- "$after" "$log"; then
			ready=$(ms_since_start)
			break
		fi
		sleep 0.1
	done
fi
if [ -n "$ready" ]; then
	for line in "${typed[@]}"; do
		sleep 1
		printf '%s\r' "$line" >&3
	done
fi
wait $qemu
status=$?
total=$(ms_since_start)
exec 3>&-

tr -d '\r' <"$log" | sed 's/^/  | /'
echo
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
	echo "run-qemu.sh: TIMEOUT after ${timeout}s" >&2
	exit 1
fi
fail=0
if [ -n "$after" ] && [ -z "$ready" ]; then
	echo "run-qemu.sh: FAIL: QEMU ended before \"$after\" appeared in $log" >&2
	fail=1
fi
for e in "${expects[@]}"; do
	grep -q -- "$e" "$log" || { echo "run-qemu.sh: FAIL: \"$e\" not in $log" >&2; fail=1; }
done
if grep -q "Kernel panic\|Oops\|hsdemo: FAIL" "$log"; then
	echo "run-qemu.sh: FAIL: failure marker in $log" >&2
	fail=1
fi
if [ "$status" -ne 0 ]; then
	echo "run-qemu.sh: FAIL: QEMU exit status $status" >&2
	fail=1
fi
[ -n "$ready" ] && echo "run-qemu.sh: \"$after\" after ${ready} ms"
echo "run-qemu.sh: QEMU ran ${total} ms"
[ "$fail" = 0 ] && echo "run-qemu.sh: PASS"
exit $fail
