#!/usr/bin/env bash
# Boot the hindsight image in Bochs 2.7 (VT-x with EPT, 2 CPUs,
# deterministic clock) from a GRUB ISO carrying the command line, with a
# hard timeout; judge the run by markers in the serial log.
#   run-bochs.sh -img IMG [-cpus N] [-timeout S] [-cmdline "..."] [-expect MARKER]... [-status N]
#                [-log FILE] [-show] [-interactive] [-input FILE [-after MARKER]] [-module "FILE [ARGS]"]... [-gdbport N]
#                [-capture FILE]
# -expect may be repeated; every marker must appear. The image reports its
# exit status on the console ("boot: exit status N"; Bochs' own status says
# nothing): with -expect or -status the run passes only if it is N (default
# 0), and the script exits 0 or 1; without either (make run) the script
# exits with the image's status, so the caller gets the pair's verdict.
# -show prints the serial log as it grows (for make run); -interactive
# passes what is typed on this script's standard input to COM1. -input
# types FILE into COM1 (what a user at the console types), once MARKER has
# appeared.
# Each -module copies FILE into the ISO's /boot and adds a GRUB line
# "module /boot/NAME NAME ARGS" (NAME: FILE's base name): GRUB 2 gives a
# module only the words after its path as its string, so NAME is repeated
# for the image to find the module by name ("NAME ARGS", as QEMU gives
# "FILE ARGS"). -gdbport N puts COM2 on loopback TCP port N for gdb
# ("target remote localhost:N"; the image serves the backup's gdb stub
# there with gdb=com2): Bochs connects out to tools/gdbrelay, which lets
# debuggers connect and leave at any time (Bochs' own socket-server mode
# would hold the whole emulator until one connects).
# -capture FILE puts COM3 on a loopback TCP connection to tools/capsave
# (the image writes its failure captures there with capture=com3), which
# saves the first capture to FILE, later ones to FILE.2, FILE.3, ..., a
# corrupt or truncated one to FILE.partial (FILE.N.partial), and prints a
# line for each; the script waits for capsave after Bochs ends, so FILE is
# complete (or absent) when it returns. capsave's verdict does not change
# the script's exit status.
set -u
img=build/hindsight.img cpus=2 timeout=300 cmdline="" log="" show=0 interactive=0 input="" after="" megs=512 want_status= gdbport= capfile=
expects=()
modules=()
while [ $# -gt 0 ]; do
	case "$1" in
	-img) img=$2; shift ;;
	-cpus) cpus=$2; shift ;;
	-timeout) timeout=$2; shift ;;
	-cmdline) cmdline=$2; shift ;;
	-expect) expects+=("$2"); shift ;;
	-status) want_status=$2; shift ;;
	-log) log=$2; shift ;;
	-megs) megs=$2; shift ;;
	-input) input=$2; shift ;;
	-after) after=$2; shift ;;
	-show) show=1 ;;
	-interactive) interactive=1 ;;
	-module) modules+=("$2"); shift ;;
	-gdbport) gdbport=$2; shift ;;
	-capture) capfile=$2; shift ;;
	*) echo "run-bochs.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
work=$(mktemp -d build/bochs.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
[ -n "$log" ] || log=build/bochs.log
mkdir -p "$work/iso/boot/grub"
cp "$img" "$work/iso/boot/hindsight.img"
modlines=""
for m in "${modules[@]}"; do
	f=${m%% *} args=""
	[ "$f" = "$m" ] || args=" ${m#* }"
	name=$(basename "$f")
	if [ ! -r "$f" ] || [ "$name" = hindsight.img ] || [ -e "$work/iso/boot/$name" ]; then
		echo "run-bochs.sh: -module $m: cannot read $f, or its name is taken in /boot" >&2
		exit 2
	fi
	cp "$f" "$work/iso/boot/$name"
	modlines="$modlines	module /boot/$name $name$args
"
done
cat >"$work/iso/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "hindsight" {
	multiboot /boot/hindsight.img $cmdline
$modlines	boot
}
CFG
if ! grub-mkrescue -o "$work/boot.iso" "$work/iso" >"$work/grub.log" 2>&1; then
	cat "$work/grub.log" >&2
	echo "run-bochs.sh: grub-mkrescue failed" >&2
	exit 1
fi
: >"$log"
com1="com1: enabled=1, mode=file, dev=$log"
if [ -n "$input" ] || [ "$interactive" = 1 ]; then
	# COM1 is a TCP connection to serialfeed, which logs and types (a file,
	# or the terminal: a background job's standard input is /dev/null
	# unless given explicitly).
	go build -o "$work/serialfeed" ./tools/serialfeed || exit 1
	stdin=""
	[ "$interactive" = 1 ] && stdin=-stdin
	"$work/serialfeed" -log "$log" -input "$input" -after "$after" $stdin -portfile "$work/port" -timeout "${timeout}s" <&0 &
	feed=$!
	for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
	com1="com1: enabled=1, mode=socket-client, dev=localhost:$(cat "$work/port")"
fi
com2=""
if [ -n "$gdbport" ]; then
	go build -o "$work/gdbrelay" ./tools/gdbrelay || exit 1
	"$work/gdbrelay" -port "$gdbport" -portfile "$work/gdbport" -timeout "${timeout}s" &
	relay=$!
	for _ in $(seq 50); do [ -s "$work/gdbport" ] && break; sleep 0.1; done
	[ -s "$work/gdbport" ] || { echo "run-bochs.sh: gdbrelay did not start (port $gdbport taken?)" >&2; exit 1; }
	com2="com2: enabled=1, mode=socket-client, dev=localhost:$(cat "$work/gdbport")"
fi
com3=""
if [ -n "$capfile" ]; then
	go build -o "$work/capsave" ./tools/capsave || exit 1
	"$work/capsave" -portfile "$work/capport" -timeout "${timeout}s" "$capfile" &
	capsave=$!
	for _ in $(seq 50); do [ -s "$work/capport" ] && break; sleep 0.1; done
	[ -s "$work/capport" ] || { echo "run-bochs.sh: capsave did not start" >&2; exit 1; }
	com3="com3: enabled=1, mode=socket-client, dev=localhost:$(cat "$work/capport")"
fi
cat >"$work/bochsrc" <<RC
megs: $megs
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=corei7_icelake_u, count=$cpus, ips=50000000, reset_on_triple_fault=0
ata0-master: type=cdrom, path=$work/boot.iso, status=inserted
boot: cdrom
$com1
$com2
$com3
display_library: rfb, options="timeout=0"
clock: sync=none, time0=946684800
log: $work/bochs.out
port_e9_hack: enabled=1
sound: driver=dummy
speaker: enabled=1, mode=dummy
RC
echo c >"$work/rc"
start=$(date +%s.%N)
timeout --foreground -k 5 "$timeout" bochs -q -f "$work/bochsrc" -rc "$work/rc" </dev/null >"$work/stdout" 2>&1 &
bochs=$!
if [ "$show" = 1 ]; then
	# Stream the console until Bochs ends (tail checks its PID each second).
	tail -n +1 -f --pid=$bochs "$log" 2>/dev/null | tr -d '\r'
fi
wait $bochs
status=$?
[ -z "$input" ] && [ "$interactive" = 0 ] || wait "$feed"
[ -z "$gdbport" ] || { kill "$relay" 2>/dev/null; wait "$relay" 2>/dev/null; }
# capsave ends when Bochs closes COM3: wait, so the capture is on disk.
[ -z "$capfile" ] || wait "$capsave"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
[ "$show" = 1 ] || tr -d '\r' <"$log" | sed 's/^/  | /'
echo
if [ "$status" -eq 124 ]; then
	echo "run-bochs.sh: TIMEOUT after ${timeout}s" >&2
	grep -i "panic\|error" "$work/bochs.out" | tail -5 >&2
	exit 1
fi
image_status=$(tr -d '\r' <"$log" | sed -n 's/^boot: exit status \([0-9]*\)$/\1/p' | tail -1)
if [ ${#expects[@]} -eq 0 ] && [ -z "$want_status" ]; then
	[ -n "$image_status" ] || { echo "run-bochs.sh: the image reported no exit status" >&2; exit 1; }
	echo "run-bochs.sh: the image ended with status $image_status in ${elapsed%.*}s"
	exit "$image_status"
fi
fail=0
if [ "${image_status:-none}" != "${want_status:-0}" ]; then
	echo "run-bochs.sh: FAIL: the image's exit status is ${image_status:-not reported}, want ${want_status:-0}" >&2
	fail=1
fi
if [ "$status" -gt 128 ]; then
	echo "run-bochs.sh: bochs died with status $status:" >&2
	grep -v ALSA "$work/stdout" | tail -3 >&2
	fail=1
fi
for e in "${expects[@]}"; do
	grep -q -- "$e" "$log" || { echo "run-bochs.sh: FAIL: \"$e\" not in $log" >&2; fail=1; }
done
if grep -q "KERNEL FAULT\|selftest: FAIL" "$log"; then
	echo "run-bochs.sh: FAIL: failure marker in $log" >&2
	fail=1
fi
if [ "$fail" = 1 ]; then
	grep -i "panic\|triple" "$work/bochs.out" | tail -5 >&2
	exit 1
fi
echo "run-bochs.sh: PASS in ${elapsed%.*}s (bochs status $status, $cpus CPUs)"
