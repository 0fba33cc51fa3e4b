#!/bin/sh
# `make check-vm`: run test programs against the real kernel in the VM (two
# boots, see below), then say how many kernel-facing cases ran there and
# how many only on the fake, and why (tests/vm/fake-only.txt).
# usage: check-vm.sh BUILDDIR TESTPROG...
# TESTPROG paths are taken relative to BUILDDIR (libtool wrappers are fine:
# builddir and srcdir are mounted at the same paths in the guest).  The
# fake tier's counts come from BUILDDIR's make-check logs (TAP lines of
# tests/kt-fake.log and tests/test-*.log: run make check first).
# Exit: 0 all passed, 1 some failed (a skipped case of tests/kt-real is a
# failure: kt-real exits 1), 77 VM not available or every test skipped;
# other run-vm.sh codes (124 timeout, 125 VM died) pass through.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
[ $# -ge 2 ] || {
	echo "usage: $0 BUILDDIR TESTPROG..." >&2
	exit 2
}
builddir=$(cd "$1" && pwd -P)
srcdir=$(cd "$here/../.." && pwd -P)
shift

rc=0
kernel=$("$here/build-kernel.sh") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
kernel=$(printf '%s\n' "$kernel" | tail -n 1)

# Runs in the guest: banner, each program (Check programs print TAP; kt-real
# its own, with skips), summary.
# shellcheck disable=SC2016 # expanded by the guest's sh
runner='
pass=0 fail=0 skip=0 failed=
for t; do
	case $t in */*) ;; *) t=./$t ;; esac
	echo "== real kernel: $t =="
	rc=0
	CK_TAP_LOG_FILE_NAME=- CK_FORK=yes "$t" || rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); echo "== real kernel: $t: SKIP ==" ;;
	*) fail=$((fail + 1)); failed="$failed $t"
	   echo "== real kernel: $t: FAIL (exit $rc) ==" ;;
	esac
done
echo "== real kernel summary: $pass passed, $fail failed, $skip skipped${failed:+ (failed:$failed)} =="
[ "$fail" -eq 0 ] || exit 1
[ "$pass" -gt 0 ] || [ "$skip" -eq 0 ] || exit 77
'

# tap_cases: "TCASE<tab>TEST" of each TAP case line of a Check program's
# output on stdin (Check's TAP: "ok N - FILE:TCASE:TEST: MESSAGE"; a loop
# test prints a line per iteration, counted here once).
tap_cases() {
	sed -n 's/^\(not \)\{0,1\}ok [0-9]* - [^:]*:\([^:]*\):\([A-Za-z0-9_]*\).*/\2	\3/p'
}

# reason PROG TCASE: why its cases are fake-only (tests/vm/fake-only.txt).
reason() {
	{
		grep -F "$(printf '%s:%s\t' "$1" "$2")" "$here/fake-only.txt" ||
			grep -F "$(printf '%s:*\t' "$1")" "$here/fake-only.txt" ||
			printf 'x\t(no reason recorded: add one to tests/vm/fake-only.txt)\n'
	} | head -n 1 | cut -f2-
}

# coverage VMLOG: the kernel-facing cases (Check test functions, a loop
# test once) in the VM and on the fake only, and why (fake-only.txt).
coverage() {
	tab=$(printf '\t')
	vm=$(sed -n '/^== real kernel: .*kt-real ==$/,/^== real kernel/p' "$1" |
		grep -v ' # SKIP ' | tap_cases | sort -u | wc -l)
	kfake=0
	if [ -f "$builddir/tests/kt-fake.log" ]; then
		kfake=$(tap_cases <"$builddir/tests/kt-fake.log" | sort -u | wc -l)
	else
		echo "== no make-check logs in $builddir: run make check first for the fake's counts =="
	fi
	table=$(mktemp)
	for log in "$builddir"/tests/test-*.log; do
		case $log in *.sh.log | *'*'*) continue ;; esac
		prog=$(basename "$log" .log)
		# a kcase-*.c suite a test program runs too is not fake-only
		grep -v '^\(not \)\{0,1\}ok [0-9]* - [^:]*kcase-[^:/]*\.c:' "$log" | tap_cases |
			sort -u | cut -f1 | uniq -c |
			while read -r n tc; do
				printf '%s\t%s:%s\t%s\n' "$n" "$prog" "$tc" \
					"$(reason "$prog" "$tc")"
			done
	done >"$table"
	fo=0 pure=0 self=0
	while IFS="$tab" read -r n what why; do
		case $why in
		pure:*) pure=$((pure + n)) ;;
		fake:*) self=$((self + n)) ;;
		*) fo=$((fo + n)) ;;
		esac
	done <"$table"
	notrun=$((kfake > vm ? kfake - vm : 0))
	only=$((fo + notrun))
	echo "== kernel-facing cases: $vm ran in the VM (tests/kcase-*.c: $kfake on the fake);" \
		"$only ran only on the fake ($notrun kcase not run in the VM, $fo in" \
		"tests/test-*.c); $((vm + only > 0 ? 100 * vm / (vm + only) : 0))% on both =="
	echo "== fake-only cases by test case group, and why not in the VM (tests/vm/fake-only.txt);" \
		"not kernel-facing: $pure pure (no kernel call), $self testing the fake itself =="
	grep -v -e "${tab}pure:" -e "${tab}fake:" "$table" | sort -t "$tab" -k2 |
		while IFS="$tab" read -r n what why; do
			printf '  %4d  %-22s %s\n' "$n" "$what" "$why"
		done
	rm -f "$table"
}

# Two boots.  The usual VM runs every program, kt-real without its "pci"
# cases; the VM of run-vm.sh --pci (an emulated VT-d and QEMU's edu under
# vfio-pci) runs kt-real's "pci" cases only: on 6.12 VT-d takes the
# iommufd selftest mock's devices and refuses them, so the mock cases
# cannot share that boot (run-vm.sh).  run-vm.sh drops the duplicate
# share when srcdir = builddir.
cd "$builddir"
out=$(mktemp)
trap 'rm -f "$out" "$out.rc"' EXIT
ktreal=
for t; do
	case $t in */kt-real | kt-real) ktreal=$t ;; esac
done
{
	rc=0
	CK_EXCLUDE_TAGS=pci "$here/run-vm.sh" --kernel "$kernel" \
		--share "$builddir" --share "$srcdir" \
		-- sh -c "$runner" sh "$@" || rc=$?
	if [ -n "$ktreal" ]; then
		rc2=0
		CK_INCLUDE_TAGS=pci "$here/run-vm.sh" --pci --kernel "$kernel" \
			--share "$builddir" --share "$srcdir" \
			-- sh -c "$runner" sh "$ktreal" || rc2=$?
		[ "$rc" -ne 0 ] || rc=$rc2
	fi
	echo "$rc" >"$out.rc"
} 2>&1 | tee "$out"
rc=$(cat "$out.rc" 2>/dev/null || echo 125)
coverage "$out" || echo "check-vm.sh: could not count the cases (ignored)"
exit "$rc"
