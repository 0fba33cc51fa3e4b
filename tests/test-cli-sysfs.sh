#!/bin/bash
# vfiomig-ctl list and probe under a hostile --sysfs-root (issue 9, item 5):
# a FIFO, a socket, a 1 MiB file, a symlink loop or a directory where a
# device's `vendor` attribute should be is an error for that device only.
# Every command finishes (under `timeout`: a FIFO used to hang `list`
# forever), the other device is still listed and probed, and the message
# names the file.
#
# The sysfs tree is built here, by hand, as the kernel lays it out
# (HACKING.md "Fake sysfs and /dev"): two vfio-pci variant functions whose
# groups and cdevs are those of the preload's "generic" machine, so the good
# one really opens through the fake kernel's /dev (VFIOMIG_DEV_ROOT, which
# the preload exports).
#
# Run from the build directory (make check does).  VFIOMIG_TEST_VALGRIND=1
# runs every command under valgrind.
set -u

builddir=$(pwd)
ctl=$builddir/tools/vfiomig-ctl
pre=$builddir/tests/fake/.libs/libfakepreload.so
if [ ! -x "$ctl" ] || [ ! -e "$pre" ]; then
	echo "SKIP: $ctl or $pre not built"
	exit 77
fi
for t in python3 timeout mkfifo; do
	command -v $t >/dev/null || {
		echo "SKIP: $t needed"
		exit 77
	}
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-cli-sysfs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

GOOD=0000:3b:00.1 # group 0, vfio0 in the preload's "generic" machine
BAD=0000:3b:00.2  # group 1, vfio1
# Long enough for valgrind; a hang is what it catches, not slowness.
limit=60

vg=()
if [ "${VFIOMIG_TEST_VALGRIND:-0}" = 1 ]; then
	vg=("$builddir/libtool" --mode=execute valgrind -q --error-exitcode=97
		--leak-check=full --errors-for-leak-kinds=definite,indirect)
fi

# run ARGS...: the CLI on the fake under $tmp/sys; sets rc, output in
# $tmp/out, $tmp/err.  124 is timeout's: the command hung.
run() {
	VFIOMIG_FAKE=generic VFIOMIG_FAKE_STRICT=1 LD_PRELOAD=$pre \
		timeout -s KILL $limit "${vg[@]}" "$ctl" --sysfs-root "$tmp/sys" "$@" \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

ok() {
	pass=$((pass + 1))
	echo "PASS: $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
	sed 's/^/  stdout: /' "$tmp/out" | head -n 20
	sed 's/^/  stderr: /' "$tmp/err" | head -n 20
}
expect() {
	if [ "$rc" = "$1" ]; then
		ok "$2"
	elif [ "$rc" = 137 ] || [ "$rc" = 124 ]; then
		bad "$2 (hung: killed after ${limit}s)"
	else
		bad "$2 (exit $rc, expected $1)"
	fi
}
grep_out() { if grep -q -e "$1" "$tmp/out"; then ok "$2"; else bad "$2 (no '$1' on stdout)"; fi; }
grep_err() { if grep -q -F -e "$1" "$tmp/err"; then ok "$2"; else bad "$2 (no '$1' on stderr)"; fi; }
no_out() { if grep -q -e "$1" "$tmp/out"; then bad "$2 ('$1' on stdout)"; else ok "$2"; fi; }

# pci_fn BDF GROUP CDEV: a vfio-pci variant function in $tmp/sys.
pci_fn() {
	local s=$tmp/sys d=$tmp/sys/devices/pci0000:3a/$1
	mkdir -p "$d/vfio-dev/vfio$3" "$s/bus/pci/devices" \
		"$s/bus/pci/drivers/mlx5_vfio_pci" "$s/kernel/iommu_groups/$2/devices" \
		"$s/class/vfio-dev"
	printf '0x15b3\n' >"$d/vendor"
	printf '0x101e\n' >"$d/device"
	printf '0x15b3\n' >"$d/subsystem_vendor"
	printf '0x0047\n' >"$d/subsystem_device"
	printf '0x020000\n' >"$d/class"
	ln -s ../../../bus/pci/drivers/mlx5_vfio_pci "$d/driver"
	ln -s ../../../kernel/iommu_groups/$2 "$d/iommu_group"
	ln -s ../../../devices/pci0000:3a/$1 "$s/bus/pci/devices/$1"
	ln -s ../../../../devices/pci0000:3a/$1 "$s/kernel/iommu_groups/$2/devices/$1"
	ln -s ../../devices/pci0000:3a/$1/vfio-dev/vfio$3 "$s/class/vfio-dev/vfio$3"
	ln -s ../../../$1 "$d/vfio-dev/vfio$3/device"
}

rm -rf "$tmp/sys"
pci_fn $GOOD 0 0
pci_fn $BAD 1 1
vendor=$tmp/sys/devices/pci0000:3a/$BAD/vendor

echo "== the tree as built"
run list
expect 0 "list"
grep_out "^$GOOD .*mlx5_vfio_pci" "list shows $GOOD"
grep_out "^$BAD .*mlx5_vfio_pci" "list shows $BAD"
run probe $BAD
expect 0 "probe $BAD"

# hostile KIND: make $BAD's vendor a KIND; prints what the message says.
hostile() {
	rm -rf "$vendor"
	case $1 in
	fifo)
		mkfifo "$vendor"
		echo "a FIFO"
		;;
	socket)
		python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$vendor"
		echo "a socket"
		;;
	huge)
		{ printf '0x15b3\n'; head -c $((1 << 20)) /dev/zero; } >"$vendor"
		echo "longer than"
		;;
	loop)
		ln -s vendor "$vendor"
		echo "a symbolic link"
		;;
	dir)
		mkdir "$vendor"
		echo "a directory"
		;;
	esac
}

for kind in fifo socket huge loop dir; do
	echo "== vendor is a $kind"
	says=$(hostile $kind)
	run list
	expect 0 "$kind: list finishes"
	grep_out "^$GOOD .*mlx5_vfio_pci" "$kind: list still shows $GOOD"
	no_out "^$BAD" "$kind: list skips $BAD"
	run -v list
	expect 0 "$kind: list -v finishes"
	grep_err "$vendor: $says" "$kind: list -v names the file and what it is"
	grep_err "skipping $tmp/sys/bus/pci/devices/$BAD" "$kind: list -v says it skipped $BAD"
	run list --json
	expect 0 "$kind: list --json finishes"
	if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [e['name'] for e in d] == ['$GOOD'] else 1)" "$tmp/out" 2>/dev/null; then
		ok "$kind: list --json has $GOOD only"
	else
		bad "$kind: list --json has $GOOD only"
	fi
	run probe $BAD
	expect 1 "$kind: probe $BAD fails"
	grep_err "$vendor: $says" "$kind: probe names the file and what it is"
	run probe $GOOD
	expect 0 "$kind: probe $GOOD"
done

echo "== the device entry is a symlink loop"
rm -rf "$vendor"
printf '0x15b3\n' >"$vendor"
rm "$tmp/sys/bus/pci/devices/$BAD"
ln -s "$BAD" "$tmp/sys/bus/pci/devices/$BAD"
run list
expect 0 "loop: list finishes"
grep_out "^$GOOD " "loop: list still shows $GOOD"
no_out "^$BAD" "loop: list skips $BAD"
run probe $BAD
expect 1 "loop: probe $BAD fails"
grep_err "Too many levels of symbolic links" "loop: probe says why"

echo "== $pass passed, $fail failed"
[ "$fail" = 0 ]
