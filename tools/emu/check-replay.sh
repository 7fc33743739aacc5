#!/usr/bin/env bash
# Judge a primary/backup run by its serial log (the summary lines runPair
# prints): check-replay.sh LOG MIN_LANDMARKS MIN_INTERRUPTS MIN_SERIAL [stalls|async]
# With "stalls", the log must also have been full at least once; "async"
# is the test guest's mode=async, which does not print the CMOS clock.
set -u
log=$1 min_lm=$2 min_irq=$3 min_serial=$4 flag=${5:-}
fail() { echo "check-replay.sh: FAIL: $*" >&2; exit 1; }
p=$(grep -a "^hv: primary: [0-9]* landmarks" "$log" | tail -1) || fail "no primary summary in $log"
b=$(grep -a "^hv: backup: [0-9]* landmarks" "$log" | tail -1) || fail "no backup summary in $log"
num() { echo "$1" | grep -o "[0-9]* $2" | head -1 | cut -d' ' -f1; }
lm=$(num "$p" landmarks) blm=$(num "$b" landmarks)
irq=$(num "$p" "interrupts injected") serial=$(num "$p" "serial bytes")
logged=$(num "$p" "digests logged") matched=$(num "$b" "digests matched")
written=$(num "$p" "records logged") replayed=$(num "$b" "records replayed")
stalls=$(num "$p" "stalls") stops=$(num "$b" "asynchronous stops")
! grep -aq "DIVERGENCE\|FAILED\|malformed\|UNPROTECTED" "$log" || fail "$(grep -a "DIVERGENCE\|FAILED\|malformed\|UNPROTECTED" "$log" | head -1)"
grep -aq "^hv: verdict: IDENTICAL" "$log" || fail "$(grep -a '^hv: verdict' "$log")"
[ "$lm" -ge "$min_lm" ] || fail "$lm landmarks, want at least $min_lm"
[ "$blm" -eq "$lm" ] || fail "backup reached $blm landmarks, primary $lm"
[ "$irq" -ge "$min_irq" ] || fail "$irq interrupts injected, want at least $min_irq"
[ "$serial" -ge "$min_serial" ] || fail "$serial serial bytes in, want at least $min_serial"
[ "$logged" -gt 0 ] && [ "$matched" -eq "$logged" ] || fail "$matched of $logged digests matched"
[ "$replayed" -eq "$written" ] || fail "$replayed of $written records replayed"
grep -aq "^hv: outputs match" "$log" || fail "the backup's output differs: $(grep -a '^hv: outputs' "$log")"
grep -aq "^hv: lag: .*within bound" "$log" || fail "$(grep -a '^hv: lag' "$log")"
irqs=$(grep -a "^hv: console input interrupts:" "$log" | tr -d "\r") && [ -n "$irqs" ] || fail "no console interrupt counts"
pcpu=$(echo "$irqs" | sed 's/.*: CPU[0-9]* \([0-9]*\),.*/\1/') bcpu=$(echo "$irqs" | sed 's/.*, CPU[0-9]* \([0-9]*\)$/\1/')
[ "$bcpu" -eq 0 ] || fail "the backup's CPU took $bcpu console interrupts: outside events must reach the primary's core only"
[ "$min_serial" -eq 0 ] || [ "$pcpu" -gt 0 ] || fail "serial input arrived without a console interrupt on the primary's CPU"
if [ "$flag" = stalls ]; then
	[ "$stalls" -gt 0 ] || fail "the log never filled up: no stall"
fi
if [ "$flag" = async ]; then
	echo "check-replay.sh: PASS: $lm landmarks on both sides, $irq interrupts, $stops asynchronous stops, $matched/$logged digests matched, $replayed/$written records replayed, outputs match"
	exit 0
fi
# The guest prints the CMOS clock at its start and end. The clock runs with
# the guests' device time from 2000-01-01 00:00:00 (rtc=fixed) or from the
# host's time (rtc=real), so the end reads no earlier than the start; the
# backup, whose output matched, read the same values.
rtc=$(grep -a "^primary| testguest: rtc " "$log" | sed 's/.*rtc //' | tr -d '\r' | tr '\n' ' ')
set -- $rtc
[ $# -eq 2 ] || fail "want two rtc lines from the primary, got '$rtc'"
[[ ! "$2" < "$1" ]] || fail "the guest's clock went back from $1 to $2"
echo "check-replay.sh: PASS: $lm landmarks on both sides, $irq interrupts, $stops asynchronous stops, $serial serial bytes ($pcpu console interrupts on the primary's CPU, none on the backup's), $matched/$logged digests matched, $replayed/$written records replayed, $stalls stalls, clock $1 to $2, outputs match"
