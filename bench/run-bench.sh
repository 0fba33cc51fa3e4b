#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The `make bench` driver: runs every benchmark program built in
# BUILDDIR/bench (bench-bitmap, bench-stream, bench-dirty, bench-ranges,
# whichever exist), shows their own output, and collects the RATIO lines
# they print,
#   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
# into one table: path | baseline | min | median | goal | met?
# (met: the median meets the goal; "min below" when the best-case ratio
# does not).  ratio = baseline time / library time, > 1: library faster.
#
# usage: bench/run-bench.sh [BUILDDIR (default .)] [ARGS for every program,
#        e.g. --quick]
# Environment: BENCH_PROGS, a subset of program names to run; BENCH_LOG,
# where the programs' output goes (default BUILDDIR/bench/bench.log).
# Exit status: 1 when a program failed (or printed no RATIO line), else 0:
# a missed goal is reported, not an error (benchmarks are not tests).
set -u -o pipefail

builddir=${1:-.}
[ $# -gt 0 ] && shift
cd "$builddir" || exit 2
log=${BENCH_LOG:-bench/bench.log}
: >"$log" || exit 2
ratios=$(mktemp) && out=$(mktemp) || exit 2
trap 'rm -f "$ratios" "$out"' EXIT

progs=()
if [ -n "${BENCH_PROGS:-}" ]; then
	for p in $BENCH_PROGS; do progs+=("bench/$p"); done
else
	for p in bench/bench-*; do
		# programs only: no objects, scripts of ours or logs
		case $p in *.o | *.obj | *.c | *.h | *.sh | *.log | *.trs | *.in) continue ;; esac
		[ -f "$p" ] && [ -x "$p" ] && progs+=("$p")
	done
fi
if [ ${#progs[@]} -eq 0 ]; then
	echo "run-bench: no bench/bench-* program in $(pwd) (run make first)" >&2
	exit 1
fi

rc=0
for p in "${progs[@]}"; do
	name=${p##*/}
	echo "=== $name $*" | tee -a "$log"
	if [ ! -x "$p" ]; then
		echo "run-bench: $name: not built" | tee -a "$log"
		rc=1
		continue
	fi
	start=$SECONDS
	"$p" "$@" 2>&1 | tee "$out"
	prc=${PIPESTATUS[0]}
	cat "$out" >>"$log"
	n=$(grep -c $'^RATIO\t' "$out")
	grep $'^RATIO\t' "$out" >>"$ratios"
	echo "=== $name: exit $prc, $n RATIO lines, $((SECONDS - start)) s" | tee -a "$log"
	if [ "$prc" -ne 0 ] || [ "$n" -eq 0 ]; then
		echo "run-bench: $name FAILED (exit $prc, $n RATIO lines)" >&2
		rc=1
	fi
done

echo
echo "Benchmarks: ratio = baseline time / library time (> 1: library faster);"
echo "min = best baseline / best library run, median of the paired runs."
awk -F'\t' '
function goalok(v, g,    op, x) {
	op = g; sub(/[0-9.].*$/, "", op); x = g; sub(/^[^0-9.]*/, "", x)
	if (x == "") return 1
	if (op == ">=") return v + 0 >= x + 0
	if (op == ">") return v + 0 > x + 0
	if (op == "<=") return v + 0 <= x + 0
	if (op == "<") return v + 0 < x + 0
	return 1
}
NF >= 6 {
	n++; p[n] = $2; b[n] = $3; mn[n] = $4; md[n] = $5; g[n] = $6
	if (length($2) > wp) wp = length($2)
	if (length($3) > wb) wb = length($3)
}
END {
	if (wp < 4) wp = 4; if (wb < 8) wb = 8
	fmt = "| %-" wp "s | %-" wb "s | %6s | %6s | %-6s | %-15s |\n"
	printf fmt, "path", "baseline", "min", "median", "goal", "met?"
	dash = "--------------------------------------------------------------------------------------------"
	printf "|-%s-|-%s-|--------|--------|--------|-----------------|\n", substr(dash "" dash, 1, wp), substr(dash "" dash, 1, wb)
	for (i = 1; i <= n; i++) {
		if (g[i] !~ /[0-9]/) {
			met = "- (no goal)"
		} else {
			met = goalok(md[i], g[i]) ? "yes" : "NO"
			if (met == "yes" && !goalok(mn[i], g[i])) met = "yes (min below)"
			if (met != "yes") misses++
		}
		printf fmt, p[i], b[i], mn[i], md[i], g[i], met
	}
	printf "%d paths, %d with a goal not met (or only by the median)\n", n, misses
}' "$ratios"
exit $rc
