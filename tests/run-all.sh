#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every test tier of libvfiomig, one after the other; what CI runs (.ci/run).
#
# usage: tests/run-all.sh [--install]
#   --install   first install what the selected phases need (apt-get; root or sudo)
#
# Phases (VFIOMIG_PHASES, in this order, all by default):
#   build      autoreconf, configure (gcc, -Werror, --no-undefined-version), make
#   check      make check (fake kernel)
#   asan       a second build with ASan+UBSan, make check
#   valgrind   make check with every test program under valgrind (CK_FORK=no)
#   clang      a clang build (-Werror), make check
#   tsan       a clang ThreadSanitizer build, make check of the test programs
#              (not the scripts); any data race or deadlock report fails
#   fuzz       every libFuzzer target of fuzz/ for FUZZ_SECONDS (default 30) s
#              each, from its seeds (tests/run-fuzz.sh; crash inputs in logs/fuzz)
#   distcheck  make distcheck
#   vm         the real-kernel tier under qemu: make check-vm, make check-vm-cli,
#              the main job (tests/main-job-host.sh); a SKIP is a failure
#   deb        make dist -> dpkg-buildpackage -us -uc, lintian, symbols, autopkgtest
#   abi        make check-abi (abidiff against abi/libvfiomig.abi; a missing
#              abidiff is a failure here: VFIOMIG_REQUIRE_ABI=1)
# Environment: VFIOMIG_BUILD_ROOT (default <srcdir>/build-ci), VFIOMIG_JOBS
# (default nproc), VFIOMIG_AUTORECONF=0 to keep an existing configure.
#
# Counting: every Check case is one result: the programs print TAP, a line
# per case (`ok N - ...`, `not ok N - ...`, `ok N - ... # SKIP why`; Check
# writes it, CK_TAP_LOG_FILE_NAME=- from Makefile.am; tests/kt-main.c writes
# its own with skips); so is every `PASS: name` / `FAIL: name` /
# `SKIP: name` line of a test script (tests/test-cli.sh, the VM scripts,
# tests/run-fuzz.sh).  A test program without such lines is one result by
# its Automake .trs (PASS, XFAIL: passed; FAIL, ERROR, XPASS: failed; SKIP:
# skipped); a program that failed although all its cases passed (sanitizer,
# valgrind, crash at exit) adds one failure; every other step (a build,
# distcheck, lintian, ...) is one result. A SKIP of the VM tier (a program
# or a kernel-facing case) is a failure; the fake tiers report skips as
# skipped.
# The last line is `N passed, N failed[, N skipped]`; exit 1 if N failed > 0.
set -u -o pipefail

usage() {
	sed -n '3,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"
	exit "${1:-0}"
}
install=
for arg; do
	case $arg in
	--install) install=1 ;;
	-h | --help) usage 0 ;;
	*) usage 2 >&2 ;;
	esac
done

srcdir=$(cd "$(dirname "$0")/.." && pwd -P)
all_phases="build check asan valgrind clang tsan fuzz distcheck vm deb abi"
phases=${VFIOMIG_PHASES:-build check asan valgrind clang tsan fuzz distcheck vm deb abi}
for p in $phases; do
	case " $all_phases " in *" $p "*) ;; *)
		echo "run-all.sh: unknown phase '$p' (phases: $all_phases)" >&2
		exit 2 ;;
	esac
done
jobs=${VFIOMIG_JOBS:-$(nproc)}
root=${VFIOMIG_BUILD_ROOT:-$srcdir/build-ci}
mkdir -p "$root" && root=$(cd "$root" && pwd -P) || exit 2
results=$root/results.txt
logs=$root/logs
rm -rf "$logs"
mkdir -p "$logs"
: >"$results"

# Check's TAP lines (Makefile.am asks for them) and its own summary; the
# default fork mode (timeouts work).
unset CK_VERBOSITY CK_FORK CK_RUN_SUITE CK_RUN_CASE CK_INCLUDE_TAGS CK_EXCLUDE_TAGS
# check-abi: without abidiff it must fail here, not skip.
export VFIOMIG_REQUIRE_ABI=1
# Our flags only.
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS CC CXX MAKEFLAGS
export LC_ALL=C.UTF-8

phase=setup
t0=$SECONDS
banner() {
	printf '\n==== [%s] %s ====\n' "$phase" "$*"
}
note() {
	printf '[%s] %s\n' "$phase" "$*"
}
# record RESULT NAME: RESULT is PASS, FAIL or SKIP.
record() {
	printf '%s\t%s\t%s\n' "$1" "$phase" "$2" >>"$results"
	[ "$1" = PASS ] || note "$1: $2"
}
# step NAME LOG CMD...: run CMD with output to LOG, record one result.
step() {
	local name=$1 log=$2 rc=0
	shift 2
	note "$name (log: ${log#"$root"/})"
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		record PASS "$name"
	else
		record FAIL "$name (exit $rc)"
		echo "---- last 60 lines of $log"
		tail -n 60 "$log"
		echo "----"
	fi
	return "$rc"
}
# The value of a make variable in a configured build dir.
mkvar() {
	printf 'vfm-print-var:\n\t@echo $(%s)\n' "$2" |
		make -s --no-print-directory -C "$1" -f Makefile -f - vfm-print-var
}

# ck_results PROG LOG: one result line per case in LOG (PROG names it;
# `== real kernel: X ==` banners of the VM tier rename it): TAP lines of
# Check programs, and the `PASS: name` / `FAIL: name` / `SKIP: name`
# lines of the shell test scripts.  In the vm phase a skipped TAP case
# (a kernel-facing case kt-real did not run) is a failure.
ck_results() {
	local prog=$1 line r what
	while IFS= read -r line; do
		case $line in
		"== real kernel: "*" ==")
			what=${line#== real kernel: }
			what=${what% ==}
			case $what in *": SKIP" | *": FAIL"*) ;; *) prog=$what ;; esac
			continue
			;;
		"ok "[0-9]*" # SKIP"*)
			r=SKIP what=${line#* - }
			# a kernel-facing case the VM did not run
			[ "$phase" != vm ] || r=FAIL what="$what (a skip in the VM is a failure)"
			;;
		"ok "[0-9]*) r=PASS what=${line#* - } ;;
		"not ok "[0-9]*) r=FAIL what=${line#* - } ;;
		"PASS: "* | "XFAIL: "*) r=PASS what=${line#*: } ;;
		"FAIL: "*) r=FAIL what=${line#FAIL: } ;;
		"SKIP: "*) r=SKIP what=${line#SKIP: } ;;
		*) continue ;;
		esac
		# TAP: "DIR/FILE.c:TCASE:TEST: MESSAGE" -> "FILE.c:TCASE:TEST: ..."
		case $line in *ok\ [0-9]*\ -\ */*:*)
			local f=${what%%:*}
			what=${f##*/}:${what#*:} ;;
		esac
		printf '%s\t%s\t%s: %s\n' "$r" "$phase" "$prog" "$what"
	done <"$2"
}

# trs_results BUILDDIR: results of the last `make check` there; keeps a copy
# of the logs under $logs/$phase/.
trs_results() {
	local bd=$1 trs log prog res lines nfail
	mkdir -p "$logs/$phase"
	while IFS= read -r trs; do
		log=${trs%.trs}.log
		prog=${trs#"$bd"/}
		prog=${prog%.trs}
		mkdir -p "$logs/$phase/$(dirname "$prog")"
		cp "$log" "$logs/$phase/$prog.log" 2>/dev/null
		res=$(sed -n 's/^:test-result: *//p' "$trs" | head -n 1)
		lines=$(ck_results "$prog" "$log")
		if [ -n "$lines" ]; then
			printf '%s\n' "$lines" >>"$results"
			nfail=$(printf '%s\n' "$lines" | grep -c '^FAIL')
			printf '%s\n' "$lines" | grep '^FAIL' | cut -f3- | sed "s/^/[$phase] FAIL: /"
			case $res in
			FAIL | ERROR | XPASS)
				[ "$nfail" -gt 0 ] ||
					record FAIL "$prog: $res although its Check cases passed (sanitizer/valgrind/exit)"
				;;
			esac
		else
			case $res in
			PASS | XFAIL) record PASS "$prog" ;;
			SKIP) record SKIP "$prog" ;;
			*) record FAIL "$prog: ${res:-no result}" ;;
			esac
		fi
		case $res in
		FAIL | ERROR | XPASS)
			echo "---- $prog.log (last 80 lines)"
			tail -n 80 "$log"
			echo "----"
			;;
		esac
	done < <(find "$bd" -name '*.trs' ! -path '*/_build/*' ! -path '*/libvfiomig-*/*' | sort)
}

# make_check NAME BUILDDIR [MAKE-ARGS...]: make check, results per test.
make_check() {
	local name=$1 bd=$2 rc=0 log
	shift 2
	log=$logs/$phase-check.log
	note "$name (log: ${log#"$root"/})"
	make -C "$bd" -j"$jobs" check "$@" >"$log" 2>&1 || rc=$?
	local before
	before=$(wc -l <"$results")
	trs_results "$bd"
	# grep reads it all (not -q): under pipefail, tail killed by SIGPIPE
	# would make a FAIL found look like none.
	if [ "$rc" -ne 0 ] && ! tail -n +$((before + 1)) "$results" | grep '^FAIL' >/dev/null; then
		record FAIL "$name (exit $rc, no failing test: build error?)"
		tail -n 40 "$log"
	fi
	sed -n '/^# TOTAL:/,/^# ERROR:/p' "$log" | sed "s/^/[$phase] /"
}

# configure_build DIR NAME CONFIGURE-ARGS...: fresh DIR, configure, make.
configure_build() {
	local bd=$1 name=$2
	shift 2
	rm -rf "$bd" && mkdir -p "$bd" || return 1
	step "$name: configure" "$logs/$phase-configure.log" \
		sh -c 'cd "$1" && shift && exec "$@"' sh "$bd" "$srcdir/configure" "$@" || return 1
	sed -n '/^  libvfiomig /,$p' "$logs/$phase-configure.log"
	# -k: one run shows every file that does not compile.
	step "$name: make" "$logs/$phase-make.log" make -k -C "$bd" -j"$jobs" || {
		echo "---- every error of $name:"
		grep -E ': (fatal )?error:' "$logs/$phase-make.log" | sort -u | head -n 40
		return 1
	}
}

build=$root/build
build_status=
# The main build (gcc, -Werror) that check, valgrind, distcheck, vm and deb use.
main_build() {
	if [ -z "$build_status" ]; then
		build_status=1
		local saved=$phase
		phase=build
		banner "configure + make: gcc, -Werror, --no-undefined-version"
		if configure_build "$build" "gcc -Werror" \
			CFLAGS="-O2 -g -Wall -Wextra -Werror" \
			CXXFLAGS="-O2 -g -Wall -Wextra -Werror" \
			LDFLAGS="-Wl,--no-undefined-version" \
			--with-libnl; then
			build_status=0
		elif [ -f "$build/config.status" ]; then
			# Counted as a failure above; build without -Werror so that
			# the other phases still tell what they can.
			note "retrying without -Werror so that the other phases can run"
			# (not counted: the failure is).
			(cd "$build" && "$srcdir/configure" CFLAGS="-O2 -g -Wall -Wextra" \
				CXXFLAGS="-O2 -g -Wall -Wextra" LDFLAGS="-Wl,--no-undefined-version" \
				--with-libnl && make -j"$jobs") >"$logs/build-fallback.log" 2>&1 &&
				build_status=0
			note "fallback build: $([ "$build_status" = 0 ] && echo ok || echo failed too)"
		fi
		phase=$saved
	fi
	return "$build_status"
}
need_build() {
	main_build && return 0
	record FAIL "not run: the main build failed"
	return 1
}

phase_build() {
	main_build || return
	# The README's example compiles as it is.
	local ex=$root/readme-example.c
	sed -n '/^```c$/,/^```$/p' "$srcdir/README.md" | sed '1d;$d' >"$ex"
	step "README.md example compiles (-Wall -Wextra -Werror)" "$logs/build-readme.log" \
		gcc -std=c99 -Wall -Wextra -Werror -I"$srcdir/include" -c "$ex" -o "$ex.o"
	step "man pages cover the API (tests/check-man.sh)" "$logs/build-man.log" \
		"$srcdir/tests/check-man.sh" "$build"
}

phase_check() {
	need_build || return
	make_check "make check (fake kernel)" "$build"
}

# LeakSanitizer needs ptrace; some sandboxes forbid it. Then say so loudly
# and leave leaks to the valgrind phase.
lsan_works() {
	local d rc=0
	d=$(mktemp -d)
	printf '#include <stdlib.h>\nvoid *volatile p;\nint main(void) { p = malloc(7); p = 0; return 0; }\n' >"$d/leak.c"
	gcc -fsanitize=address -g "$d/leak.c" -o "$d/leak" >"$d/out" 2>&1 &&
		ASAN_OPTIONS=detect_leaks=1 "$d/leak" >"$d/out" 2>&1 || rc=$?
	grep -q 'LeakSanitizer: detected memory leaks' "$d/out" || rc=0
	cat "$d/out" >"$logs/asan-lsan-probe.log"
	rm -rf "$d"
	[ "$rc" -ne 0 ] && grep -q 'detected memory leaks' "$logs/asan-lsan-probe.log"
}

phase_asan() {
	local bd=$root/asan leaks=1
	if ! lsan_works; then
		leaks=0
		echo "*****************************************************************"
		echo "* WARNING: LeakSanitizer cannot run here (ptrace restricted?):  *"
		echo "* ASan runs with detect_leaks=0; the valgrind phase checks leaks *"
		echo "*****************************************************************"
		sed 's/^/  lsan probe: /' "$logs/asan-lsan-probe.log" | head -n 5
	fi
	local san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
	configure_build "$bd" "gcc ASan+UBSan" \
		CFLAGS="-O1 -g $san" CXXFLAGS="-O1 -g $san" LDFLAGS="$san" \
		--with-libnl || return
	# verify_asan_link_order=0: tests/test-cli.sh runs the tool with the fake
	# kernel in LD_PRELOAD, ahead of the ASan runtime (which still interposes
	# malloc: it comes before libc).
	ASAN_OPTIONS="detect_leaks=$leaks:verify_asan_link_order=0:strict_string_checks=1:detect_stack_use_after_return=1" \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} \
		make_check "make check (ASan+UBSan, detect_leaks=$leaks)" "$bd"
}

phase_valgrind() {
	need_build || return
	command -v valgrind >/dev/null || {
		record FAIL "valgrind not installed (tests/install-deps.sh test)"
		return
	}
	# Scripts that run programs honour VFIOMIG_TEST_VALGRIND (tests/test-cli.sh).
	VFIOMIG_TEST_VALGRIND=1 make_check "make check under valgrind (CK_FORK=no)" "$build" \
		LOG_COMPILER="$srcdir/tests/valgrind-wrap.sh"
}

phase_clang() {
	command -v clang >/dev/null || {
		record FAIL "clang not installed (tests/install-deps.sh test)"
		return
	}
	configure_build "$root/clang" "clang -Werror" CC=clang CXX=clang++ \
		CFLAGS="-O2 -g -Wall -Wextra -Werror" \
		CXXFLAGS="-O2 -g -Wall -Wextra -Werror" \
		LDFLAGS="-Wl,--no-undefined-version" \
		--with-libnl || return
	make_check "make check (clang)" "$root/clang"
}

# The programs share a device, a context or a tracker between threads the
# way libvfiomig(7) allows (tests/kcase-threads.c); the fake kernel locks
# itself, so a report is the library's.  Check's fork mode: a report ends
# its case (exit 66), the others run.  The scripts are left out:
# tests/test-cli.sh preloads the fake into programs without the TSan runtime.
phase_tsan() {
	local bd=$root/tsan san="-fsanitize=thread" tests
	command -v clang >/dev/null || {
		record FAIL "clang not installed (tests/install-deps.sh test)"
		return
	}
	# clang links the TSan runtime into executables only: -z undefs lets
	# the library (-Wl,--no-undefined) leave its __tsan_* calls to them.
	configure_build "$bd" "clang ThreadSanitizer" CC=clang CXX=clang++ \
		CFLAGS="-O1 -g $san" CXXFLAGS="-O1 -g $san" \
		LDFLAGS="$san -Wl,-z,undefs" --with-libnl || return
	tests=$(mkvar "$bd" TESTS | tr ' ' '\n' | grep -v '\.sh$' | tr '\n' ' ')
	TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:history_size=4" \
		CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} \
		make_check "make check (ThreadSanitizer)" "$bd" TESTS="$tests"
}

# Each target is one result (tests/run-fuzz.sh prints PASS:/FAIL: lines).
phase_fuzz() {
	local log=$logs/fuzz.log rc=0 lines
	command -v clang >/dev/null || {
		record FAIL "clang not installed (tests/install-deps.sh test)"
		return
	}
	note "tests/run-fuzz.sh, ${FUZZ_SECONDS:-30} s per target (log: ${log#"$root"/})"
	FUZZ_LOGDIR=$logs/fuzz "$srcdir/tests/run-fuzz.sh" "$root/fuzz" >"$log" 2>&1 || rc=$?
	lines=$(ck_results run-fuzz "$log")
	[ -z "$lines" ] || printf '%s\n' "$lines" >>"$results"
	printf '%s\n' "$lines" | grep '^FAIL' | cut -f3- | sed "s/^/[fuzz] FAIL: /"
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$lines" | grep '^FAIL' >/dev/null ||
			record FAIL "tests/run-fuzz.sh (exit $rc)"
		tail -n 60 "$log"
	fi
}

phase_distcheck() {
	need_build || return
	step "make distcheck" "$logs/distcheck.log" make -C "$build" -j"$jobs" distcheck &&
		grep -A3 'archives ready for distribution' "$logs/distcheck.log"
}

# vm_run NAME PROG LOG CMD...: one real-kernel run; its cases are results;
# exit 77 (skip) is a failure.
vm_run() {
	local name=$1 prog=$2 log=$3 rc=0 lines
	shift 3
	note "$name (log: ${log#"$root"/})"
	"$@" >"$log" 2>&1 || rc=$?
	grep -E '^(== |build-kernel.sh:|run-vm.sh:|\*\*\*|cli-vm: )' "$log" | sed "s/^/[vm] /"
	lines=$(ck_results "$prog" "$log")
	[ -z "$lines" ] || printf '%s\n' "$lines" >>"$results"
	printf '%s\n' "$lines" | grep '^FAIL' | cut -f3- | sed "s/^/[vm] FAIL: /"
	case $rc in
	0) [ -n "$lines" ] || record PASS "$name" ;;
	77)
		record FAIL "$name: SKIP (exit 77): the real-kernel tier did not run"
		tail -n 30 "$log"
		;;
	*)
		record FAIL "$name (exit $rc)"
		tail -n 60 "$log"
		;;
	esac
	return "$rc"
}

phase_vm() {
	need_build || return
	vm_run "make check-vm (kernel-facing cases on Linux 6.12 under qemu)" kt-real \
		"$logs/vm-check.log" make -C "$build" check-vm
	if make -C "$build" -n check-vm-cli >/dev/null 2>&1; then
		vm_run "make check-vm-cli (vfiomig-ctl on the real kernel)" cli-vm \
			"$logs/vm-cli.log" make -C "$build" check-vm-cli
	fi
	local rc=0
	vm_run "main job: live-migrate an mtty-2 device in the VM (tests/main-job-host.sh)" \
		main-job "$logs/vm-main-job.log" \
		env VFIOMIG_MAIN_BUILDDIR="$build" "$srcdir/tests/main-job-host.sh" || rc=$?
	[ "$rc" -ne 0 ] || tail -n 15 "$logs/vm-main-job.log" | sed 's/^/[vm] main job: /'
}

phase_deb() {
	need_build || return
	local d=$root/deb ver upver tarball src
	ver=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -S Version) || {
		record FAIL "dpkg-parsechangelog (dpkg-dev installed?)"
		return
	}
	upver=${ver%-*}
	step "debian/libvfiomig0.symbols matches lib/libvfiomig.sym" "$logs/deb-symbols.log" \
		"$srcdir/debian/gen-symbols.sh" --check
	step "make dist" "$logs/deb-dist.log" make -C "$build" dist || return
	tarball=$build/libvfiomig-$upver.tar.xz
	[ -f "$tarball" ] || {
		record FAIL "no $tarball: debian/changelog version $ver does not match configure.ac"
		return
	}
	rm -rf "$d" && mkdir -p "$d" && tar -xJf "$tarball" -C "$d" || {
		record FAIL "unpack $tarball"
		return
	}
	src=$d/libvfiomig-$upver
	cp -a "$srcdir/debian" "$src/"
	ln -s "$tarball" "$d/libvfiomig_$upver.orig.tar.xz"
	step "dpkg-checkbuilddeps" "$logs/deb-builddeps.log" \
		sh -c 'cd "$1" && dpkg-checkbuilddeps' sh "$src" || return
	step "dpkg-buildpackage -us -uc (source + binary, from the dist tarball)" \
		"$logs/deb-build.log" \
		sh -c 'cd "$1" && dpkg-buildpackage -us -uc' sh "$src" || return
	ls -l "$d"/*.deb | sed 's/^/[deb] /'
	local changes
	changes=$(ls "$d"/libvfiomig_*.changes | head -n 1)
	step "lintian (fail on error, warning)" "$logs/deb-lintian.log" \
		lintian --fail-on error,warning --info --display-info "$changes"
	grep -v '^N:' "$logs/deb-lintian.log" | sed 's/^/[deb] lintian: /' | head -n 40
	# debian/tests/pkgconfig against the unpacked .debs (no install needed).
	local sysroot=$d/sysroot ma
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	rm -rf "$sysroot" && mkdir -p "$sysroot"
	for deb in "$d"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
	step "autopkgtest pkgconfig (on the unpacked .debs)" "$logs/deb-autopkgtest.log" \
		env PKG_CONFIG_SYSROOT_DIR="$sysroot" \
		PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$ma/pkgconfig:$sysroot/usr/share/pkgconfig" \
		LD_LIBRARY_PATH="$sysroot/usr/lib/$ma" AUTOPKGTEST_TMP="$d/autopkgtest-tmp" \
		sh -c 'mkdir -p "$AUTOPKGTEST_TMP" && cd "$AUTOPKGTEST_TMP" && exec sh "$1"' sh \
		"$srcdir/debian/tests/pkgconfig"
}

phase_abi() {
	need_build || return
	command -v abidiff >/dev/null || {
		record FAIL "abidiff not installed (tests/install-deps.sh abi)"
		return
	}
	step "make check-abi" "$logs/abi.log" make -C "$build" check-abi
	tail -n 20 "$logs/abi.log" | sed 's/^/[abi] /'
}

if [ -n "$install" ]; then
	phase=install
	groups=build
	for p in $phases; do
		case $p in
		valgrind | clang | tsan | fuzz | distcheck) groups="$groups test" ;;
		vm) groups="$groups vm" ;;
		deb) groups="$groups test deb" ;;
		abi) groups="$groups abi" ;;
		esac
	done
	groups=$(printf '%s\n' $groups | awk '!seen[$0]++' | tr '\n' ' ')
	banner "install dependencies: $groups"
	# shellcheck disable=SC2086
	"$srcdir/tests/install-deps.sh" $groups || {
		record FAIL "tests/install-deps.sh $groups"
	}
fi

phase=autoreconf
if [ "${VFIOMIG_AUTORECONF:-1}" != 0 ] || [ ! -x "$srcdir/configure" ]; then
	banner "autoreconf -fi in $srcdir"
	step "autoreconf -fi" "$logs/autoreconf.log" \
		sh -c 'cd "$1" && autoreconf -fi' sh "$srcdir" || build_status=1
fi

for phase in $phases; do
	case $phase in build) ;; *) banner "$phase" ;; esac
	pt=$SECONDS
	"phase_$phase"
	note "done in $((SECONDS - pt)) s"
done

phase=summary
banner "summary ($((SECONDS - t0)) s; results: ${results#"$srcdir"/})"
awk -F'\t' '!($2 in seen) { seen[$2] = 1; order[++np] = $2 } { n[$2 "\t" $1]++ } END {
	for (i = 1; i <= np; i++) { p = order[i]
		printf "  %-10s %5d passed %5d failed %5d skipped\n", p, n[p "\tPASS"], n[p "\tFAIL"], n[p "\tSKIP"] } }' \
	"$results"
if grep -q '^FAIL' "$results"; then
	echo "failed:"
	grep '^FAIL' "$results" | cut -f2- | sed 's/\t/: /; s/^/  /' | head -n 60
fi
npass=$(grep -c '^PASS' "$results")
nfail=$(grep -c '^FAIL' "$results")
nskip=$(grep -c '^SKIP' "$results")
if [ "$npass" -eq 0 ] && [ "$nfail" -eq 0 ]; then
	record FAIL "no test ran"
	nfail=1
fi
[ "$nskip" -eq 0 ] && skipped= || skipped=", $nskip skipped"
echo "$npass passed, $nfail failed$skipped"
[ "$nfail" -eq 0 ]
