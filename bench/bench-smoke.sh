#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Smoke test of the benchmarks (make check): each bench program that is
# built runs with --quick, must exit 0 and print well-formed RATIO lines
#   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
# No time is asserted.  Programs of other areas that are not built (yet)
# are skipped by name.  Run from the build dir (as make check does).
set -u -o pipefail

known="bench-bitmap bench-stream bench-dirty bench-ranges"
found=0
fail=0
seen=
others=$(for p in bench/bench-*; do
	case $p in *.o | *.obj | *.c | *.h | *.sh | *.log | *.trs | *.in) continue ;; esac
	[ -f "$p" ] && [ -x "$p" ] && echo "${p##*/}"
done)
for name in $known $others; do
	case " $seen " in *" $name "*) continue ;; esac
	seen="$seen $name"
	p=bench/$name
	if [ ! -x "$p" ]; then
		echo "SKIP: $name (not built)"
		continue
	fi
	found=$((found + 1))
	out=$("$p" --quick 2>&1)
	prc=$?
	if [ "$prc" -ne 0 ]; then
		echo "FAIL: $name --quick exited $prc"
		echo "$out" | tail -20
		fail=1
		continue
	fi
	lines=$(echo "$out" | grep -c $'^RATIO\t')
	bad=$(echo "$out" | grep $'^RATIO\t' | awk -F'\t' '
		NF != 6 || $2 == "" || $3 == "" || $6 == "" ||
		$4 !~ /^[0-9]+(\.[0-9]+)?$/ || $5 !~ /^[0-9]+(\.[0-9]+)?$/' | head -3)
	if [ "$lines" -eq 0 ] || [ -n "$bad" ]; then
		echo "FAIL: $name --quick: $lines RATIO lines${bad:+, malformed: $bad}"
		fail=1
		continue
	fi
	echo "PASS: $name --quick ($lines RATIO lines)"
done
[ "$fail" -ne 0 ] && exit 1
[ "$found" -eq 0 ] && exit 77
exit 0
