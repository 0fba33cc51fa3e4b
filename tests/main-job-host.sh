#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The main job, from the host: build libvfiomig, vfiomig-ctl and
# examples/vmm-migrate (out of tree, in <srcdir>/build), build or reuse the
# test kernel (tests/vm/build-kernel.sh), boot it under qemu
# (tests/vm/run-vm.sh) and run tests/vm/main-job.sh in the guest, which
# live-migrates a set of two mtty-2 devices into two other instances the
# way a VMM drives the library (examples/vmm-migrate.c).
#
# usage: tests/main-job-host.sh [--install] [--clean]
#   --install  first apt-get install what is needed (as root, or through sudo)
#   --clean    rebuild from scratch (removes <srcdir>/build)
# Environment: VFIOMIG_MAIN_BUILDDIR (default <srcdir>/build), VFIOMIG_KERNEL
# (a bzImage to use instead of building one), VFIOMIG_VM_TIMEOUT (seconds).
# Exit status: main-job.sh's in the guest; 77 if the VM cannot run here.
set -eu -o pipefail

install='' clean=''
for arg; do
	case $arg in
	--install) install=1 ;;
	--clean) clean=1 ;;
	-h | --help) sed -n '3,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "usage: $0 [--install] [--clean]" >&2; exit 2 ;;
	esac
done

srcdir=$(cd "$(dirname "$0")/.." && pwd -P)
build=${VFIOMIG_MAIN_BUILDDIR:-$srcdir/build}
say() { printf '\n==== main job: %s ====\n' "$*"; }

if [ -n "$install" ]; then
	say "install dependencies"
	"$srcdir/tests/install-deps.sh" build vm
fi

say "build libvfiomig, vfiomig-ctl and examples/vmm-migrate in $build"
[ -z "$clean" ] || rm -rf "$build"
if [ ! -x "$srcdir/configure" ]; then
	(cd "$srcdir" && autoreconf -fi)
fi
mkdir -p "$build"
build=$(cd "$build" && pwd -P)
if [ ! -f "$build/Makefile" ]; then
	(cd "$build" && "$srcdir/configure" -q --with-libnl)
fi
make -C "$build" -s -j"$(nproc)"
make -C "$build" -s examples/vmm-migrate
# Let libtool's wrappers make their relinked binaries here, on the host.
"$build/tools/vfiomig-ctl" --version >/dev/null 2>&1 || true
"$build/examples/vmm-migrate" --help >/dev/null 2>&1 || true

say "test kernel (tests/vm/build-kernel.sh; cached after the first build)"
kernel=${VFIOMIG_KERNEL:-}
if [ -z "$kernel" ]; then
	rc=0
	kernel=$("$srcdir/tests/vm/build-kernel.sh") || rc=$?
	[ "$rc" -eq 0 ] || exit "$rc"
	kernel=${kernel##*$'\n'}
fi
echo "kernel: $kernel"

job=$srcdir/tests/vm/main-job.sh
[ -f "$job" ] || {
	echo "main-job-host.sh: $job not found" >&2
	exit 1
}
say "boot the VM and run tests/vm/main-job.sh in it"
# run-vm.sh passes VFIOMIG_*, CK_* and LD_LIBRARY_PATH into the guest; PATH
# is the guest's own, so it is set on the command.
export VFIOMIG_SRCDIR=$srcdir VFIOMIG_BUILDDIR=$build VFIOMIG_CTL=$build/tools/vfiomig-ctl
export VFIOMIG_EXAMPLE=$build/examples/vmm-migrate
export LD_LIBRARY_PATH=$build/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
shares=(--share "$srcdir")
case $build/ in "$srcdir"/*) ;; *) shares+=(--share "$build") ;; esac
run=("$job")
[ -x "$job" ] || run=(sh "$job")
cd "$srcdir"
rc=0
"$srcdir/tests/vm/run-vm.sh" --kernel "$kernel" "${shares[@]}" -- \
	env "PATH=$build/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	"${run[@]}" || rc=$?
case $rc in
0) say "PASSED" ;;
77) say "SKIPPED: the VM cannot run here (exit 77)" ;;
*) say "FAILED (exit $rc)" ;;
esac
exit "$rc"
