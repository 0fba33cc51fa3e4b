#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds every libFuzzer target of fuzz/ with clang and runs each for a
# bounded time from its seeds: the `fuzz` phase of tests/run-all.sh.
#
# usage: tests/run-fuzz.sh [OUTDIR]      (default: ./fuzz-out)
#   OUTDIR/bin       the fuzzers and the seed generator
#   OUTDIR/corpus/T  each target's corpus, kept between runs in one OUTDIR
#   OUTDIR/logs      (or $FUZZ_LOGDIR) a log per target and, after a
#                    failure, the input that made it (crash-*, timeout-*,
#                    leak-*, oom-*): rerun it with OUTDIR/bin/fuzz-T FILE
# Environment: FUZZ_SECONDS (default 30) per target; FUZZ_TARGETS, a subset
# of: stream stream-crc bitmap ranges regioncaps; CC (default clang).
# Prints `PASS: fuzz-T` or `FAIL: fuzz-T (...)` per target; exit 1 if any
# failed.  Needs clang's libFuzzer runtime (Debian 12: libclang-rt-14-dev,
# tests/install-deps.sh test).
set -u -o pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd -P)
out=${1:-fuzz-out}
mkdir -p "$out" && out=$(cd "$out" && pwd -P) || exit 2
logs=${FUZZ_LOGDIR:-$out/logs}
bin=$out/bin
mkdir -p "$logs" "$bin" || exit 2
seconds=${FUZZ_SECONDS:-30}
cc=${CC:-clang}
targets=${FUZZ_TARGETS:-stream stream-crc bitmap ranges regioncaps}

cflags=(-g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE)
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
stream_src=("-I$srcdir/tools" "$srcdir/fuzz/fuzz-stream.c" "$srcdir/tools/stream.c"
	"$srcdir/tools/crc32c.c")
lib_inc=("-I$srcdir/include" "-I$srcdir/lib" "-I$srcdir/lib/uapi")

# target_args T: compiler arguments (sources, defines) of target T.
target_args() {
	case $1 in
	stream) printf '%s\n' "${stream_src[@]}" ;;
	stream-crc) printf '%s\n' -DFUZZ_STREAM_FIX_CRC "${stream_src[@]}" ;;
	bitmap) printf '%s\n' "${lib_inc[@]}" "$srcdir/fuzz/fuzz-bitmap.c" "$srcdir/lib/bitmap.c" ;;
	ranges) printf '%s\n' "${lib_inc[@]}" "$srcdir/fuzz/fuzz-ranges.c" "$srcdir/lib/ranges.c" ;;
	regioncaps) printf '%s\n' "${lib_inc[@]}" "$srcdir/fuzz/fuzz-regioncaps.c" \
		"$srcdir/lib/region-caps.c" ;;
	*) return 1 ;;
	esac
}

# target_opts T: libFuzzer options of target T (-max_len covers the
# interesting inputs: a header and a few chunks; 64 ranges; 4 Kbit maps).
target_opts() {
	case $1 in
	stream | stream-crc) echo "-max_len=4096 -dict=$srcdir/fuzz/stream.dict" ;;
	bitmap) echo "-max_len=600" ;;
	ranges) echo "-max_len=2100" ;;
	regioncaps) echo "-max_len=1024" ;;
	esac
}

# The stream targets start from valid files, written by the tool's own
# writer so that they follow the format of this tree.
seeds=$out/seeds/stream
make_stream_seeds() {
	[ -z "${seeds_made:-}" ] || return "$seeds_made"
	seeds_made=1
	rm -rf "$seeds" && mkdir -p "$seeds" &&
		"$cc" "${cflags[@]}" "-I$srcdir/tools" "$srcdir/fuzz/stream-seeds.c" \
			"$srcdir/tools/stream.c" "$srcdir/tools/crc32c.c" -o "$bin/stream-seeds" &&
		"$bin/stream-seeds" "$seeds" && seeds_made=0
	return "$seeds_made"
}

# LeakSanitizer needs ptrace, which some sandboxes forbid: then fuzz
# without it, and say so.
leaks=1
probe=$out/lsan-probe
printf '#include <stdlib.h>\nvoid *volatile p;\nint main(void) { p = malloc(7); p = 0; return 0; }\n' >"$probe.c"
if "$cc" -fsanitize=address "$probe.c" -o "$probe" >/dev/null 2>&1; then
	ASAN_OPTIONS=detect_leaks=1 "$probe" >"$probe.out" 2>&1
	grep -q 'LeakSanitizer: detected memory leaks' "$probe.out" || {
		leaks=0
		echo "run-fuzz.sh: WARNING: LeakSanitizer does not work here; fuzzing with -detect_leaks=0"
	}
fi
export ASAN_OPTIONS="detect_leaks=$leaks:strict_string_checks=1"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

nfail=0
fail() {
	echo "FAIL: fuzz-$1 ($2)"
	nfail=$((nfail + 1))
}

run_target() {
	local t=$1 log=$logs/fuzz-$t.log args corpus rc=0 found
	mapfile -t args < <(target_args "$t") || true
	if [ "${#args[@]}" -eq 0 ]; then
		fail "$t" "unknown target (FUZZ_TARGETS: stream stream-crc bitmap ranges regioncaps)"
		return
	fi
	if ! "$cc" "${cflags[@]}" "${san[@]}" "${args[@]}" -o "$bin/fuzz-$t" >"$log" 2>&1; then
		cat "$log"
		grep -q 'libclang_rt.fuzzer' "$log" &&
			echo "run-fuzz.sh: no libFuzzer runtime: install libclang-rt-14-dev (tests/install-deps.sh test)"
		fail "$t" "build"
		return
	fi
	corpus=$out/corpus/$t
	mkdir -p "$corpus"
	local extra=()
	case $t in stream*)
		make_stream_seeds || { fail "$t" "seed generator"; return; }
		extra=("$seeds") ;;
	esac
	rm -f "$logs/fuzz-$t-"*
	echo "fuzz-$t: ${seconds} s (log: $log)"
	# shellcheck disable=SC2046 # target_opts is a list of options
	timeout -k 10 $((seconds * 2 + 120)) "$bin/fuzz-$t" -max_total_time="$seconds" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$logs/fuzz-$t-" $(target_opts "$t") \
		"$corpus" "${extra[@]}" >>"$log" 2>&1 || rc=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+[[:space:]]+DONE' "$log" |
		sed "s/^/  /"
	found=$(ls "$logs/fuzz-$t-"* 2>/dev/null | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		echo "PASS: fuzz-$t"
		return
	fi
	grep -E -A 25 '^==[0-9]+==ERROR|runtime error:|^SUMMARY:' "$log" | head -n 60
	fail "$t" "exit $rc${found:+; input: $found; rerun: $bin/fuzz-$t $found}"
}

for t in $targets; do
	run_target "$t"
done
[ "$nfail" -eq 0 ]
