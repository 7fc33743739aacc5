#!/usr/bin/env bash
# Judge a run with the corrupt=[KIND:]N test hook. A wrong IRQ or SERIALIN
# record must be reported at its own landmark: the backup's PIC then asks
# for or delivers another interrupt than the one the record says the
# primary's did. Any other wrong value (an RDTSC result, a port read) can
# only show in the guest's path or state: the divergence must be reported
# at or after its landmark and no later than the first digest after it.
# check-divergence.sh LOG
set -u
log=$1
fail() { echo "check-divergence.sh: FAIL: $*" >&2; exit 1; }
hook=$(grep -a "^hv: test hook:" "$log") || fail "no test hook line in $log"
div=$(grep -a "^hv: backup: stopped: DIVERGENCE" "$log") || fail "the backup did not report a divergence"
kind=$(echo "$hook" | sed 's/.*logged a wrong \([A-Z]*\) value.*/\1/')
bad=$(echo "$hook" | sed 's/.*landmark #\([0-9]*\).*/\1/')
every=$(echo "$hook" | sed 's/.*digests every \([0-9]*\) landmarks.*/\1/')
at=$(echo "$div" | grep -o "landmark #[0-9]*" | head -1 | tr -dc 0-9)
case $kind in
IRQ | SERIALIN)
	[ "$at" -eq "$bad" ] && echo "$div" | grep -q "interrupt delivery differs" ||
		fail "wrong $kind record at landmark #$bad, but: $div"
	where="at its landmark" ;;
*)
	limit=$(( (bad / every + 1) * every ))
	[ "$at" -ge "$bad" ] && [ "$at" -le "$limit" ] ||
		fail "divergence reported at landmark #$at; the wrong $kind record is at #$bad, the next digest at #$limit"
	where="by the next digest (#$limit)" ;;
esac
grep -aq "^hv: primary: stopped: guest wrote exit status 0" "$log" || fail "the primary did not finish"
echo "check-divergence.sh: PASS: wrong $kind record at landmark #$bad, divergence reported at #$at, $where; the primary finished"
