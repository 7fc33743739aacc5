#!/usr/bin/env bash
# Judge the Linux guest's primary/backup run (make linux-bochs): both
# replicas ended the same way (the triple fault of "shutdown reboot" with
# reboot=t), the verdict is IDENTICAL, outputs match, every digest
# matched, the backup replayed every record, and interrupts reached the
# guest between its synchronous exits (hsdemo's CPU-bound loop took timer
# ticks: asynchronous stops). check-linux.sh LOG
set -u
log=$1
fail() { echo "check-linux.sh: FAIL: $*" >&2; exit 1; }
grep -aq "^hv: verdict: IDENTICAL" "$log" || fail "$(grep -a '^hv: verdict' "$log")"
for side in primary backup; do
	grep -aq "^hv: $side: stopped at landmark .*: triple fault" "$log" || fail "the $side did not end with the reboot's triple fault"
done
p=$(grep -a "^hv: primary: [0-9]* landmarks" "$log" | tail -1)
b=$(grep -a "^hv: backup: [0-9]* landmarks" "$log" | tail -1)
num() { echo "$1" | grep -o "[0-9]* $2" | head -1 | cut -d' ' -f1; }
logged=$(num "$p" "digests logged") matched=$(num "$b" "digests matched")
written=$(num "$p" "records logged") replayed=$(num "$b" "records replayed")
stops=$(num "$b" "asynchronous stops") serial=$(num "$p" "serial bytes")
[ "$matched" -eq "$logged" ] && [ "$logged" -ge 2 ] || fail "$matched of $logged digests matched"
[ "$replayed" -eq "$written" ] || fail "$replayed of $written records replayed"
[ "$stops" -ge 1000 ] || fail "only $stops asynchronous stops"
ticks=$(grep -a "^primary| hsdemo: compute took" "$log" | sed 's/.* \([0-9]*\) ticks.*/\1/' | tr -d '\r')
[ "${ticks:-0}" -ge 10 ] || fail "hsdemo's CPU-bound loop saw ${ticks:-0} timer ticks"
grep -aq "^hv: outputs match" "$log" || fail "$(grep -a '^hv: outputs' "$log")"
echo "check-linux.sh: PASS: $written records, $stops asynchronous stops, $matched/$logged digests, $serial bytes typed, $ticks ticks during hsdemo's compute loop, both ended by the reboot's triple fault"
