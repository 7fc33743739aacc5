#!/usr/bin/env bash
# Judge a run with the corrupt=KIND:N test hook (a wrong value in the
# log): the backup must report a divergence at or after the record's
# landmark and no later than the first digest after it (a wrong device
# time, RDTSC result or typed byte shows in the guest's path or state, at
# the latest in the next digest), the primary must finish alone, and the
# verdict must be DIVERGED. check-divergence.sh LOG
set -u
log=$1
fail() { echo "check-divergence.sh: FAIL: $*" >&2; exit 1; }
hook=$(grep -a "^hv: test hook:" "$log") || fail "no test hook line in $log"
div=$(grep -a "^hv: backup: stopped at landmark .*DIVERGENCE" "$log") || fail "the backup did not report a divergence"
kind=$(echo "$hook" | sed 's/.*logged a wrong \([A-Z]*\) record.*/\1/')
bad=$(echo "$hook" | sed 's/.*landmark #\([0-9]*\).*/\1/')
every=$(echo "$hook" | sed 's/.*digests every \([0-9]*\) landmarks.*/\1/')
at=$(echo "$div" | grep -o "DIVERGENCE.*" | grep -o "landmark #[0-9]*" | head -1 | tr -dc 0-9)
limit=$(( (bad / every + 1) * every ))
[ "$at" -ge "$bad" ] && [ "$at" -le "$limit" ] ||
	fail "divergence reported at landmark #$at; the wrong $kind record is at #$bad, the next digest at #$limit"
grep -aq "^hv: primary: the backup stopped at landmark [0-9]*: running on UNPROTECTED" "$log" || fail "the primary did not say it runs alone"
grep -aq "^hv: primary: stopped at landmark .*: guest wrote exit status 0" "$log" || fail "the primary did not finish"
grep -aq "^hv: verdict: DIVERGED" "$log" || fail "$(grep -a '^hv: verdict' "$log")"
echo "check-divergence.sh: PASS: wrong $kind record at landmark #$bad, divergence reported at #$at (next digest #$limit); the primary finished alone"
