# check.sh: the verdict helpers of the scenario scripts (sourced; the
# script sets fail=0 first and exits with it at its end).

# bad MESSAGE: a check failed; the script goes on.
bad() { echo "${0##*/}: FAIL: $*" >&2; fail=1; }

# expect FILE PATTERN...: every pattern must occur in FILE.
expect() {
	f=$1
	shift
	for p in "$@"; do
		grep -q -- "$p" "$f" || bad "\"$p\" not in $f"
	done
}
