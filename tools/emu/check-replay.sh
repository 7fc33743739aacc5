#!/usr/bin/env bash
# Judge a primary/backup run by its serial log (the summary lines runPair
# prints): check-replay.sh LOG MIN_LANDMARKS MIN_TIMER MIN_SERIAL [stalls]
# With "stalls", the log must also have been full at least once.
set -u
log=$1 min_lm=$2 min_timer=$3 min_serial=$4 want_stalls=${5:-}
fail() { echo "check-replay.sh: FAIL: $*" >&2; exit 1; }
p=$(grep -a "^hv: primary: [0-9]* landmarks" "$log" | tail -1) || fail "no primary summary in $log"
b=$(grep -a "^hv: backup: [0-9]* landmarks" "$log" | tail -1) || fail "no backup summary in $log"
num() { echo "$1" | grep -o "[0-9]* $2" | head -1 | cut -d' ' -f1; }
lm=$(num "$p" landmarks) blm=$(num "$b" landmarks)
timer=$(num "$p" "timer interrupts") serial=$(num "$p" "serial bytes")
logged=$(num "$p" "digests logged") matched=$(num "$b" "digests matched")
written=$(num "$p" "records logged") replayed=$(num "$b" "records replayed")
stalls=$(num "$p" "stalls")
! grep -aq "DIVERGENCE\|FAILED\|malformed" "$log" || fail "$(grep -a "DIVERGENCE\|FAILED\|malformed" "$log" | head -1)"
[ "$lm" -ge "$min_lm" ] || fail "$lm landmarks, want at least $min_lm"
[ "$blm" -eq "$lm" ] || fail "backup reached $blm landmarks, primary $lm"
[ "$timer" -ge "$min_timer" ] || fail "$timer timer interrupts, want at least $min_timer"
[ "$serial" -ge "$min_serial" ] || fail "$serial serial bytes in, want at least $min_serial"
[ "$logged" -gt 0 ] && [ "$matched" -eq "$logged" ] || fail "$matched of $logged digests matched"
[ "$replayed" -ge $((written - 1)) ] || fail "$replayed of $written records replayed"
grep -aq "^hv: outputs match" "$log" || fail "the backup's output differs: $(grep -a '^hv: outputs' "$log")"
grep -aq "^hv: lag: .*within bound" "$log" || fail "$(grep -a '^hv: lag' "$log")"
irq=$(grep -a "^hv: console input interrupts:" "$log") || fail "no console interrupt counts"
cpu1=$(echo "$irq" | sed 's/.*CPU1 \([0-9]*\).*/\1/') cpu0=$(echo "$irq" | sed 's/.*CPU0 \([0-9]*\),.*/\1/')
[ "$cpu1" -eq 0 ] || fail "the backup's CPU1 took $cpu1 console interrupts: outside events must reach the primary's core only"
[ "$min_serial" -eq 0 ] || [ "$cpu0" -gt 0 ] || fail "serial input arrived without a console interrupt on CPU0"
if [ -n "$want_stalls" ]; then
	[ "$stalls" -gt 0 ] || fail "the log never filled up: no stall"
fi
# The guest prints the CMOS clock at its start and end: a fixed clock says
# 00:00:00 both times; a real one (rtc=real) must have moved on, and the
# backup, whose output matched, saw the same values from the log.
rtc=$(grep -a "^primary| testguest: rtc " "$log" | sed 's/.*rtc //' | tr -d '\r' | tr '\n' ' ')
set -- $rtc
[ $# -eq 2 ] || fail "want two rtc lines from the primary, got '$rtc'"
if grep -aq "^hv: primary on CPU0 .*RTC real" "$log"; then
	[ "$1" != "$2" ] || fail "a real-time clock read $1 at the start and at the end"
else
	[ "$1" = 00:00:00 ] && [ "$2" = 00:00:00 ] || fail "the fixed clock read $1 and $2, want 00:00:00"
fi
echo "check-replay.sh: PASS: $lm landmarks on both sides, $timer timer interrupts, $serial serial bytes ($cpu0 console interrupts on CPU0, none on CPU1), $matched/$logged digests matched, $replayed/$written records replayed, $stalls stalls, clock $1 to $2, outputs match"
