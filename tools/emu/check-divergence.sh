#!/usr/bin/env bash
# Judge a run with the corrupt=N test hook: the backup must report a
# divergence at or after the landmark of the wrong record and no later than
# the first digest after it. check-divergence.sh LOG
set -u
log=$1
fail() { echo "check-divergence.sh: FAIL: $*" >&2; exit 1; }
hook=$(grep -a "^hv: test hook:" "$log") || fail "no test hook line in $log"
div=$(grep -a "^hv: backup: stopped: DIVERGENCE" "$log") || fail "the backup did not report a divergence"
bad=$(echo "$hook" | sed 's/.*landmark #\([0-9]*\).*/\1/')
every=$(echo "$hook" | sed 's/.*digests every \([0-9]*\) landmarks.*/\1/')
at=$(echo "$div" | grep -o "landmark #[0-9]*" | head -1 | tr -dc 0-9)
limit=$(( (bad / every + 1) * every ))
[ "$at" -ge "$bad" ] && [ "$at" -le "$limit" ] || fail "divergence reported at landmark #$at; the wrong record is at #$bad, the next digest at #$limit"
grep -aq "^hv: primary: stopped: guest wrote exit status 0" "$log" || fail "the primary did not finish"
echo "check-divergence.sh: PASS: wrong record at landmark #$bad, divergence reported at #$at (next digest #$limit); the primary finished"
