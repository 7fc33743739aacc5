#!/usr/bin/env bash
# debug-bochs.sh IMG ELF: hindsight's debugger tested with Debian's gdb in
# batch mode against the backup replica in Bochs (make debug-bochs). Each
# scenario boots the image with the dbgtest guest (ELF, with DWARF) as
# primary and backup, COM2 on a loopback port for gdb (run-bochs.sh
# -gdbport), waits for a console marker, runs a gdb script, and judges by
# markers in gdb's output and the console log; each has a hard timeout.
#
#   crash   the primary triple-faults after a path with timer ticks; the
#           backup stops where it stands (onfail=debug). A first gdb starts
#           stepping and is killed mid-step; a second attaches (replacing
#           it), reads registers, breaks on compute_step, watches ticks,
#           steps, runs to just before the failure ("monitor failure": the
#           registers must equal the primary's final ones), walks into the
#           crash, detaches. Replay stays exact: verdict IDENTICAL.
#   reverse the same crash; gdb breaks in the tick handler, goes back over
#           the interrupt's delivery, records 12 forward steps and
#           reverse-steps them: every register must equal the recorded
#           ones; reverse-continue returns to the previous breakpoint hit,
#           reverse-finish to the call in kmain, reverse-next a line back
#           there, and reverse-continue without breakpoints to the oldest
#           snapshot.
#   capture no gdb: the crash run with capture=com3; the backup writes a
#           capture file (its oldest snapshot, the log to the failure) to
#           COM3, tools/capsave saves it. hlog -stats and -timeline read
#           it. A fresh boot replays it offline (replay=NAME): verdict
#           IDENTICAL, the registers before the failure equal the
#           primary's, the output's bytes and hash equal the capture
#           run's, and its dbgtest console lines are the primary's from
#           the snapshot on. Spoilt captures (capmangle.py: truncated,
#           a bit flipped in a deflated LOG chunk: a chunk CRC
#           mismatch, another CPUID feature bit with the header CRC
#           recomputed) and too little guest memory must be refused
#           with a message naming the problem (exit status 1);
#           hlog refuses the truncated and flipped ones too.
#   flags   debug=start; gdb steps over PUSHF, INT 0x80, INT3, UD2, SYSCALL
#           and the guest's own single steps: the guest must count no bad
#           flag (and the backup's output equal the primary's).
#   null    a NULL call faults and the guest exits with status 14; the
#           backup replays to the OUT just before (onfail=replay) and waits
#           for gdb there.
#   linux   (with LINUX=DIR holding vmlinux, bzImage, initramfs.cpio.gz
#           from make linux) the Linux guest boots as primary and backup;
#           "exit" typed into its console shell ends u-root's init and the
#           kernel panics ("Attempted to kill init!"); the backup stops
#           before the panic line; gdb with vmlinux's symbols breaks on
#           panic, continues into it and prints the backtrace.
#   console no gdb: the console monitor (Ctrl-A keys typed into COM1)
#           shows the status, pauses the backup, shows its registers, where
#           it is, code, the next records, steps it, and lets it go on.
# Measurements (lines "MEASURE ...", "steps: ...") are printed at the end.
set -u
img=$1 elf=$2
out=build/debug
mkdir -p "$out"
fail=0

. "$(dirname "$0")/check.sh"

# start NAME MARKER MODULE-ARGS CMDLINE: boot in the background, wait for
# MARKER in the console log.
start() {
	name=$1 marker=$2
	for try in 1 2 3; do
		port=$((20000 + RANDOM % 20000))
		rm -f "$out/$name.log" # the marker must come from this run
		tools/emu/run-bochs.sh -img "$img" -timeout 420 -gdbport "$port" -module "$elf $3" \
			-cmdline "guestmem=64M guest=$(basename "$elf") gdb=com2 $4" -log "$out/$name.log" \
			-expect "hv: verdict: IDENTICAL" >"$out/$name.run" 2>&1 &
		bochs=$!
		for _ in $(seq 240); do
			grep -q -- "$marker" "$out/$name.log" 2>/dev/null && return 0
			kill -0 $bochs 2>/dev/null || break
			sleep 1
		done
		grep -q "port .* taken" "$out/$name.run" || break
	done
	bad "$name: \"$marker\" never appeared (see $out/$name.log, $out/$name.run)"
	kill $bochs 2>/dev/null
	return 1
}

# gdbrun NAME SCRIPT [TIMEOUT]: run a gdb script against the port.
gdbrun() {
	sed "s/PORT/$port/" "$2" >"$out/$1.gdb"
	timeout -k 5 "${3:-300}" gdb -batch -nx -ex "set pagination off" -ex "set confirm off" -ex "set remotetimeout 120" \
		-ex "file $elf" -x "$out/$1.gdb" >"$out/$1.out" 2>&1
}

# finish NAME: the run must end by itself, with the verdict.
finish() {
	wait $bochs || bad "$1: run-bochs.sh failed (see $out/$1.run)"
	tail -3 "$out/$1.run"
}

crash() {
	start crash "waiting for a debugger" "rounds=200000 crash=triple" "lag=500ms verify=50" || return
	# A debugger that leaves in the middle of a step (killed): the next one
	# takes over.
	printf 'target remote localhost:PORT\nstepi 100000\n' >"$out/leave.script"
	gdbrun leave "$out/leave.script" 8
	gdbrun crash guest/dbgtest/crash.gdb
	finish crash
	expect "$out/crash.out" "MEASURE attach" "rip .*0x[0-9a-f]*" "the primary failed at landmark" \
		"Breakpoint 1, compute_step" "#1 .* in kmain" "Hardware watchpoint 2: ticks" "New value = " \
		"all 23 registers equal the primary's final ones" "<crash_now+" "MEASURE stepi" \
		"the backup ended at landmark" "SIGABRT"
	expect "$out/crash.log" "hv: backup: the primary failed at landmark .* (triple fault)" \
		"hv: backup: stopped where it stands; waiting for a debugger" "hv: verdict: IDENTICAL"
}

reverse() {
	start reverse "waiting for a debugger" "rounds=200000 crash=triple" "lag=500ms verify=50" || return
	gdbrun reverse guest/dbgtest/reverse.gdb 600
	finish reverse
	expect "$out/reverse.out" "REVERSE at the tick stub" "REVERSE forward steps cross the interrupt delivery at step \[[0-9]" \
		"REVERSE 12 reverse steps, 0 mismatches" "REVERSE-CONTINUE back at the first hit" "REVERSE-FINISH in kmain" "REVERSE-NEXT in kmain" \
		"No more reverse-execution history" \
		"MEASURE reverse-stepi" "reverse commands: "
	if grep -q "REVERSE FAIL\|REVERSE MISMATCH\|REVERSE-CONTINUE MISMATCH" "$out/reverse.out"; then bad "reverse: see $out/reverse.out"; fi
	expect "$out/reverse.log" "hv: snapshots of the backup: every" "hv: verdict: IDENTICAL"
}

# capture: the capture run, hlog, the offline replay, spoilt captures.
capture() {
	c=$out/capture
	rm -f "$c".cap "$c".cap.* "$c".log "$c"-*.log "$c".out "$c"-*.cap
	tools/emu/run-bochs.sh -img "$img" -timeout 400 -module "$elf rounds=200000 crash=triple" \
		-cmdline "guestmem=64M guest=$(basename "$elf") capture=com3 lag=500ms verify=50" -capture "$c.cap" \
		-log "$c.log" -expect "hv: verdict: IDENTICAL" >"$c.run" 2>&1 || bad "capture: run-bochs.sh failed (see $c.run)"
	tail -3 "$c.run"
	expect "$c.run" "^capsave: $c.cap: [0-9]* bytes, [0-9]* pages, [0-9]* records, failure: triple fault"
	expect "$c.log" "hv: backup: capture: [0-9]* bytes written (snapshot at #0 .* log records) in [0-9]* TSC ticks" \
		"hv: outputs match: [0-9]* bytes, hash 0x" "hv: verdict: IDENTICAL"
	[ -s "$c.cap" ] || { bad "capture: no capture file $c.cap"; return; }
	read -r size pages records < <(sed -n "s/^capsave: .*: \([0-9]*\) bytes, \([0-9]*\) pages, \([0-9]*\) records, .*/\1 \2 \3/p" "$c.run")
	[ "${size:-}" = "$(stat -c %s "$c.cap")" ] || bad "capture: capsave says ${size:-no} bytes, $c.cap has $(stat -c %s "$c.cap")"
	ticks=$(tr -d '\r' <"$c.log" | sed -n 's/^hv: backup: capture: .* in \([0-9]*\) TSC ticks$/\1/p')
	want_out=$(tr -d '\r' <"$c.log" | sed -n 's/^hv: outputs match: \([0-9]* bytes, hash 0x[0-9a-f]*\)$/\1/p')
	python3 guest/dbgtest/capmangle.py check "$c.cap" || bad "capture: capmangle.py check failed"

	# hlog reads it.
	go run ./tools/hlog -stats "$c.cap" >"$c-stats.txt" 2>&1 || bad "capture: hlog -stats failed (see $c-stats.txt)"
	go run ./tools/hlog -timeline "$c.cap" >"$c-timeline.txt" 2>&1 || bad "capture: hlog -timeline failed (see $c-timeline.txt)"
	expect "$c-stats.txt" ": ${records:-?} records" "by kind:" "interrupts delivered: vector 0x20"
	expect "$c-timeline.txt" "END .*the guest ended: triple fault"
	[ "$(grep -c '^ *[0-9]*  #' "$c-timeline.txt")" = "${records:-?}" ] || bad "capture: the timeline does not have ${records:-?} records (see $c-timeline.txt)"

	# The offline replay, in a fresh boot, with the capture as its only module.
	tools/emu/run-bochs.sh -img "$img" -timeout 300 -megs 1024 -module "$c.cap" -cmdline "guestmem=160M replay=capture.cap" \
		-log "$c-replay.log" -expect "hv: verdict: IDENTICAL" >"$c-replay.run" 2>&1 || bad "capture: the replay failed (see $c-replay.run)"
	tail -1 "$c-replay.run"
	expect "$c-replay.log" "hv: offline replay of capture.cap" \
		"hv: replay: at the instruction before the primary's failure .*: all 23 registers equal the primary's final ones" \
		"hv: replay output: [0-9]* bytes since the start, hash 0x" "hv: verdict: IDENTICAL"
	got_out=$(tr -d '\r' <"$c-replay.log" | sed -n 's/^hv: replay output: \([0-9]* bytes\) since the start, \(hash 0x[0-9a-f]*\)$/\1, \2/p')
	[ -n "$want_out" ] && [ "$got_out" = "$want_out" ] ||
		bad "capture: the replay's output is \"$got_out\", the capture run's \"$want_out\""
	# Its console lines: the primary's from the snapshot on (a suffix of them).
	tr -d '\r' <"$c.log" | sed -n 's/^primary| \(dbgtest: .*\)/\1/p' >"$c-primary.txt"
	tr -d '\r' <"$c-replay.log" | sed -n 's/^replay| \(dbgtest: .*\)/\1/p' >"$c-replay.txt"
	n=$(wc -l <"$c-replay.txt")
	if [ "$n" = 0 ] || ! tail -n "$n" "$c-primary.txt" | cmp -s - "$c-replay.txt"; then
		bad "capture: the replay's $n dbgtest lines are not the primary's last ones (see $c-replay.txt, $c-primary.txt)"
	fi

	# Spoilt captures and too little memory: refused by name, status 1.
	m=guest/dbgtest/capmangle.py
	python3 $m truncate "$c.cap" "$c-trunc.cap" && python3 $m flip "$c.cap" "$c-flip.cap" log &&
		python3 $m cpuid "$c.cap" "$c-cpuid.cap" 1 0 ecx 0 && cp "$c.cap" "$c-small.cap" || bad "capture: capmangle.py failed"
	refuse() { # NAME GUESTMEM MESSAGE
		tools/emu/run-bochs.sh -img "$img" -timeout 120 -megs 1024 -module "$c-$1.cap" -cmdline "guestmem=$2 replay=capture-$1.cap" \
			-log "$c-$1.log" -status 1 -expect "$3" >"$c-$1.run" 2>&1 || bad "capture: $1: not refused as expected (see $c-$1.run)"
		if grep -q "hv: verdict:" "$c-$1.log"; then bad "capture: $1: replayed (see $c-$1.log)"; fi
		tr -d '\r' <"$c-$1.log" | grep "^hv: replay=capture-$1.cap: "
	}
	refuse trunc 160M "hv: replay=capture-trunc.cap: .*capture: truncated in the .* section at offset [0-9]*: .*expected [0-9]* bytes, got [0-9]*"
	refuse flip 160M "hv: replay=capture-flip.cap: .*capture: LOG section at offset [0-9]*: chunk [0-9]* CRC mismatch (stored 0x[0-9a-f]\{8\}, computed 0x[0-9a-f]\{8\})"
	refuse small 16M "hv: replay=capture-small.cap: .*the capture's guest has 32 MiB of RAM and this boot has 16 MiB of guest memory"
	refuse cpuid 160M "hv: replay=capture-cpuid.cap: .*another CPU feature set: CPUID leaf 0x1 subleaf 0 ECX .*(bits 0x00000001 differ: bit 0)"
	for b in trunc flip; do
		if go run ./tools/hlog "$c-$b.cap" >"$c-hlog-$b.txt" 2>&1; then bad "capture: hlog read $c-$b.cap"; fi
	done
	expect "$c-hlog-trunc.txt" "^hlog: $c-trunc.cap: capture: truncated in the"
	expect "$c-hlog-flip.txt" "^hlog: $c-flip.cap: capture: LOG section at offset [0-9]*: chunk [0-9]* CRC mismatch (stored 0x[0-9a-f]\{8\}, computed 0x[0-9a-f]\{8\})"

	wall=$(sed -n 's/^run-bochs.sh: PASS in \([0-9]*\)s.*/\1/p' "$c.run")
	rwall=$(sed -n 's/^run-bochs.sh: PASS in \([0-9]*\)s.*/\1/p' "$c-replay.run")
	{
		echo "MEASURE capture: ${size:-?} bytes, ${pages:-?} pages, ${records:-?} records, written in ${ticks:-?} TSC ticks"
		echo "MEASURE capture replay: offline ${rwall:-?}s wall vs the capture run's ${wall:-?}s; output ${got_out:-?}"
	} >"$c.out"
}

flags() {
	start flags "stopped before its first instruction" "flags" "debug=start verify=20" || return
	gdbrun flags guest/dbgtest/flags.gdb
	finish flags
	expect "$out/flags.out" "Breakpoint 1, flags_test" "STEPPED over 6 kinds: int int3 popf pushf syscall ud2"
	expect "$out/flags.log" "primary| dbgtest: flags: [0-9]* checks, 0 bad" "hv: verdict: IDENTICAL"
	if grep -q "TF visible" "$out/flags.log"; then bad "flags: the guest saw TF"; fi
}

null() {
	start null "waiting for a debugger" "rounds=50000 crash=null" "onfail=replay" || return
	gdbrun null guest/dbgtest/null.gdb
	finish null
	expect "$out/null.out" "out *%eax,(%dx)" "rax *0xe " "exit_status" "trap"
	expect "$out/null.log" "primary| dbgtest: page fault at 0x0000000000000000" \
		"hv: backup: at the instruction before the primary's failure .* all 23 registers equal" "hv: verdict: IDENTICAL"
}

linux() {
	L=${LINUX:-}
	if [ -z "$L" ] || [ ! -r "$L/vmlinux" ]; then
		echo "debug-bochs.sh: linux: skipped (LINUX=DIR with vmlinux, bzImage and initramfs.cpio.gz from make linux)"
		return
	fi
	# Two shells: the uinit's (test.sh ends in one), then init's own; when
	# the second exits, init exits and the kernel panics. A shell may start
	# seconds after the marker, and what was typed before it read is lost
	# (the console's hang-up between the two flushes it): spaces, harmless
	# at a prompt, before each "exit" (serialfeed types one byte per 20 ms;
	# a line stays under the tty's 4095 bytes), and a third "exit" in case
	# a shell took longer.
	sp() { head -c "$1" /dev/zero | tr '\0' ' '; }
	{ sp 400; printf 'exit\r'; sp 1500; printf 'exit\r'; sp 1500; printf 'exit\r'; } >"$out/linux-input.txt"
	name=linux port=$((20000 + RANDOM % 20000))
	rm -f "$out/linux.log"
	tools/emu/run-bochs.sh -img "$img" -timeout 900 -gdbport "$port" \
		-module "$L/bzImage console=ttyS0 nolapic noapic reboot=t panic=-1 lpj=2150400 oops=panic" -module "$L/initramfs.cpio.gz" \
		-cmdline "guestmem=256M guest=bzImage initrd=initramfs.cpio.gz gdb=com2 lag=1s" -log "$out/linux.log" \
		-input "$out/linux-input.txt" -after "linux-guest: script done" -expect "hv: verdict: IDENTICAL" >"$out/linux.run" 2>&1 &
	bochs=$!
	for _ in $(seq 800); do
		grep -q "waiting for a debugger" "$out/linux.log" 2>/dev/null && break
		kill -0 $bochs 2>/dev/null || break
		sleep 1
	done
	sed "s/PORT/$port/" guest/dbgtest/linux.gdb >"$out/linux.gdb"
	timeout -k 5 600 gdb -batch -nx -ex "set pagination off" -ex "set confirm off" -ex "set remotetimeout 120" \
		-ex "file $L/vmlinux" -x "$out/linux.gdb" >"$out/linux.out" 2>&1
	finish linux
	expect "$out/linux.out" "Breakpoint 1, .*panic" "#0 .*panic" "#1 " "Attempted to kill init" \
		"all 23 registers equal the primary's final ones"
	expect "$out/linux.log" "primary| .*Kernel panic - not syncing: Attempted to kill init" \
		"hv: backup: the primary failed at landmark .* (kernel panic: " "hv: verdict: IDENTICAL"
}

console() {
	rm -f "$out/console.log"
	tools/emu/run-bochs.sh -img "$img" -timeout 420 -module "$elf rounds=1000000" \
		-cmdline "guestmem=64M guest=$(basename "$elf")" -log "$out/console.log" \
		-input guest/dbgtest/console-input.txt -after "primary| dbgtest: round 0" \
		-expect "hv: verdict: IDENTICAL" >"$out/console.run" 2>&1 || bad "console: run-bochs.sh failed (see $out/console.run)"
	tail -3 "$out/console.run"
	expect "$out/console.log" "hv: monitor: primary #[0-9]* running, backup #[0-9]* running" \
		"hv: monitor: the backup is paused (interrupt) at #" "hv: monitor: rax 0x" "hv: monitor: rip 0x" \
		"hv: monitor: backup at landmark #" "hv: monitor: 0x[0-9a-f]*: [a-z]" "hv: monitor: the backup is at #.* records in the log" \
		"hv: monitor:   next: " "hv: monitor: Ctrl-A 'z' is no command" "hv: monitor: hindsight's monitor commands" \
		"hv: monitor: the backup replays on" "hv: verdict: IDENTICAL"
}

for s in ${DEBUG_SCENARIOS:-crash reverse capture flags null console linux}; do
	echo "debug-bochs.sh: scenario $s"
	$s
done
grep -h "MEASURE\|^steps: \|^runs: \|with breakpoints or watchpoints" "$out"/*.out
[ "$fail" = 0 ] && echo "debug-bochs.sh: PASS" || exit 1
