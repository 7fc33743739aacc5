#!/usr/bin/env bash
# Judge two runs of the test guest's mode 5 (exact asynchronous events)
# with different timer rates: in each, the backup printed exactly what the
# primary did (outputs and every digest matched, the verdict IDENTICAL)
# and the backup stopped at asynchronous points; and the two runs' async
# digests differ, since the interrupts landed elsewhere.
# check-async.sh LOG1 LOG2
set -u
fail() { echo "check-async.sh: FAIL: $*" >&2; exit 1; }
digests=()
for log in "$1" "$2"; do
	grep -aq "^hv: verdict: IDENTICAL" "$log" || fail "$log: $(grep -a '^hv: verdict' "$log")"
	grep -aq "^hv: outputs match" "$log" || fail "$log: outputs differ"
	d=$(grep -a "^primary| testguest: async digest " "$log" | sed 's/.*digest //' | tr -d '\r') || fail "$log: no async digest"
	[ -n "$d" ] || fail "$log: no async digest"
	stops=$(grep -a "^hv: backup: " "$log" | grep -o "[0-9]* asynchronous stops" | cut -d' ' -f1)
	[ "${stops:-0}" -ge 100 ] || fail "$log: only ${stops:-0} asynchronous stops"
	for phase in spin rep shadow nested ud clock; do
		n=$(grep -a "^primary| testguest: async $phase ticks" "$log" | sed 's/.*ticks \([0-9]*\).*/\1/')
		[ "${n:-0}" -ge 4 ] || fail "$log: phase $phase took ${n:-0} ticks"
	done
	digests+=("$d")
	echo "check-async.sh: $log: digest $d, $stops asynchronous stops, verdict IDENTICAL"
done
[ "${digests[0]}" != "${digests[1]}" ] || fail "both runs printed digest ${digests[0]}: it does not depend on where the interrupts landed"
echo "check-async.sh: PASS: the digests differ between timer rates (${digests[0]} vs ${digests[1]}), and each replayed exactly"
