#!/usr/bin/env bash
# linux-capture.sh IMG LINUXDIR: a Linux panic saved and replayed
# elsewhere (make capture-linux LINUX=DIR; about 25 minutes, not part of
# make test). The Linux guest (bzImage and initramfs.cpio.gz from make
# linux) boots as primary and backup with capture=com3; "exit" typed into
# u-root's shells ends init and the kernel panics; the backup writes its
# capture to COM3, where tools/capsave saves it. A fresh boot replays the
# capture offline: it must meet the same panic with the same registers
# and print the same output (its hash over the whole run is the primary's).
set -u
img=$1 L=$2
out=build/linuxcap
mkdir -p "$out"
fail=0
. "$(dirname "$0")/check.sh"
for f in bzImage initramfs.cpio.gz; do
	[ -r "$L/$f" ] || { echo "linux-capture.sh: $L/$f is missing (make linux)" >&2; exit 2; }
done
# As in debug-bochs.sh's linux scenario: spaces a shell may swallow, then
# an "exit" for each of the two shells, and one more.
sp() { head -c "$1" /dev/zero | tr '\0' ' '; }
{ sp 400; printf 'exit\r'; sp 1500; printf 'exit\r'; sp 1500; printf 'exit\r'; } >"$out/input.txt"
rm -f "$out/linux.cap"
start=$(date +%s)
tools/emu/run-bochs.sh -img "$img" -timeout 2400 -megs 1024 \
	-module "$L/bzImage console=ttyS0 nolapic noapic reboot=t panic=-1 lpj=2150400 oops=panic" -module "$L/initramfs.cpio.gz" \
	-cmdline "guestmem=256M guest=bzImage initrd=initramfs.cpio.gz capture=com3 lag=1s" -log "$out/pair.log" \
	-capture "$out/linux.cap" -input "$out/input.txt" -after "linux-guest: script done" \
	-expect "Kernel panic - not syncing" -expect "hv: verdict: IDENTICAL" >"$out/pair.run" 2>&1 || bad "the pair's run (see $out/pair.run)"
pair=$(($(date +%s) - start))
expect "$out/pair.run" "capsave: $out/linux.cap: [0-9]* bytes, [0-9]* pages, [0-9]* records, failure: kernel panic"
[ -s "$out/linux.cap" ] || { bad "no capture saved"; exit 1; }
start=$(date +%s)
tools/emu/run-bochs.sh -img "$img" -timeout 1200 -megs 1024 -module "$out/linux.cap" \
	-cmdline "guestmem=160M replay=linux.cap" -log "$out/replay.log" -expect "hv: verdict: IDENTICAL" >"$out/replay.run" 2>&1 ||
	bad "the offline replay (see $out/replay.run)"
replay=$(($(date +%s) - start))
expect "$out/replay.log" "hv: replay: at the instruction before the primary's failure (kernel panic: .*all 23 registers equal the primary's final ones"
want=$(tr -d '\r' <"$out/pair.log" | sed -n 's/^hv: outputs match: \(.*\)$/\1/p')
got=$(tr -d '\r' <"$out/replay.log" | sed -n 's/^hv: replay output: \([0-9]*\) bytes since the start, \(hash .*\)$/\1 bytes, \2/p')
[ -n "$want" ] && [ "$want" = "$got" ] || bad "the replay's output ($got) is not the primary's ($want)"
tr -d '\r' <"$out/pair.log" | grep "hv: backup: capture:" | sed 's/^hv: backup: /MEASURE /'
echo "MEASURE linux capture: $(stat -c %s "$out/linux.cap") bytes; pair run with capture ${pair}s, offline replay ${replay}s (wall clock)"
[ "$fail" = 0 ] && echo "linux-capture.sh: PASS"
exit "$fail"
