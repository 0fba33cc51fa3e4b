#!/bin/sh
# `make check-vm`: run test programs against the real kernel in one VM boot.
# usage: check-vm.sh BUILDDIR TESTPROG...
# TESTPROG paths are taken relative to BUILDDIR (libtool wrappers are fine:
# builddir and srcdir are mounted at the same paths in the guest).
# Exit: 0 all passed or skipped, 1 some failed, 77 VM not available or every
# test skipped; other run-vm.sh codes (124 timeout, 125 VM died) pass through.
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

# Runs in the guest: banner, each program with verbose Check output, summary.
# shellcheck disable=SC2016 # expanded by the guest's sh
runner='
pass=0 fail=0 skip=0 failed=
for t; do
	case $t in */*) ;; *) t=./$t ;; esac
	echo "== real kernel: $t =="
	rc=0
	CK_VERBOSITY=verbose CK_FORK=yes "$t" || rc=$?
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

# run-vm.sh drops the duplicate share when srcdir = builddir.
cd "$builddir"
exec "$here/run-vm.sh" --kernel "$kernel" --share "$builddir" --share "$srcdir" \
	-- sh -c "$runner" sh "$@"
