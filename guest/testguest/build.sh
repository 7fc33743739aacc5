#!/bin/sh
# Assemble testguest.S into the flat binary testguest.bin (loaded and entered
# at guest-physical 0x100000). Usage: build.sh [OUTPUT]  (default: testguest.bin
# beside this script). Also run by `go generate ./guest/testguest`.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-$dir/testguest.bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --64 -o "$tmp/testguest.o" "$dir/testguest.S"
ld -Ttext=0x100000 --oformat binary -e _start -o "$tmp/testguest.bin" "$tmp/testguest.o"
mv "$tmp/testguest.bin" "$out"
