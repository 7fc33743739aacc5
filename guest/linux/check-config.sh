#!/bin/sh
# Check that every option of a config fragment survived into a kernel
# .config: Kconfig silently drops an option whose dependencies are not met
# (or that a choice overrides), and the kernel would then build without it.
#   check-config.sh FRAGMENT DOTCONFIG
# "CONFIG_X=v" must appear as such; "# CONFIG_X is not set" means the option
# must not be set to anything (absent counts as off). Exits 1 naming every
# option that is wrong.
set -eu
[ $# -eq 2 ] || { echo "usage: check-config.sh FRAGMENT DOTCONFIG" >&2; exit 2; }
fragment=$1 config=$2
for f in "$fragment" "$config"; do
	[ -r "$f" ] || { echo "check-config.sh: cannot read $f" >&2; exit 2; }
done
awk -v frag="$fragment" -v conf="$config" '
	FILENAME == conf {
		if (match($0, /^CONFIG_[A-Za-z0-9_]+=/))
			have[substr($0, 1, RLENGTH - 1)] = substr($0, RLENGTH + 1)
		next
	}
	/^CONFIG_[A-Za-z0-9_]+=/ {
		eq = index($0, "=")
		name = substr($0, 1, eq - 1); want = substr($0, eq + 1)
		if (!(name in have)) {
			printf "%s:%d: %s=%s wanted, but %s is not in %s (unmet dependency?)\n", frag, FNR, name, want, name, conf
			bad++
		} else if (have[name] != want) {
			printf "%s:%d: %s=%s wanted, but %s has %s=%s\n", frag, FNR, name, want, conf, name, have[name]
			bad++
		}
		checked++
		next
	}
	/^# CONFIG_[A-Za-z0-9_]+ is not set$/ {
		name = $2
		if ((name in have) && have[name] != "n") {
			printf "%s:%d: %s wanted off, but %s has %s=%s (selected by another option?)\n", frag, FNR, name, conf, name, have[name]
			bad++
		}
		checked++
		next
	}
	/^#/ || /^[ \t]*$/ { next }
	{ printf "%s:%d: not a config line: %s\n", frag, FNR, $0; bad++ }
	END {
		if (bad) { printf "check-config.sh: %d of the options in %s did not reach %s\n", bad, frag, conf; exit 1 }
		printf "check-config.sh: all %d options of %s are in %s\n", checked, frag, conf
	}
' "$config" "$fragment" >&2
