#!/bin/bash
# Run one command as root inside a throw-away QEMU (TCG) guest booted on the
# test kernel, with the host's / as a read-only 9p root and each --share DIR
# (default: the current directory) mounted read-write at the same path.
# With --pci (or VFIOMIG_VM_PCI=1) the guest also has a vfio-pci function
# behind an IOMMU (tests/kenv.h, PCI), and no iommufd selftest mock domain.
# The command's output (stdout+stderr) appears on our stdout; we exit with its
# status, 77 if qemu or the kernel is missing, 124 on timeout, 125 if the VM
# died without reporting a status (e.g. kernel panic).
set -eu

usage() {
	echo "usage: $0 [--kernel BZIMAGE] [--timeout SECONDS] [--pci] [--share DIR]... -- COMMAND [ARGS...]" >&2
	exit 2
}
skip() {
	echo "*** SKIP: run-vm.sh: $* ***" >&2
	exit 77
}
die() {
	echo "run-vm.sh: $*" >&2
	exit 2
}
# Single-quote a word for the guest's /bin/sh (dash cannot read bash's %q).
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

here=$(cd "$(dirname "$0")" && pwd -P)
kernel=${VFIOMIG_KERNEL:-}
timeout=${VFIOMIG_VM_TIMEOUT:-2400}
pci=${VFIOMIG_VM_PCI:-}
shares=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--pci) pci=1; shift ;;
	--share)
		[ $# -ge 2 ] || usage
		dir=$(cd "$2" && pwd -P) || die "cannot share $2"
		case $dir in *$'\n'*) die "cannot share a path with a newline" ;; esac
		shares+=("$dir")
		shift 2
		;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
case $timeout in '' | *[!0-9]*) die "bad --timeout: $timeout" ;; esac
cwd=$(pwd -P)
[ ${#shares[@]} -gt 0 ] || shares=("$cwd")

qemu=${QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 || skip "$qemu not found (apt-get install qemu-system-x86)"
if [ -z "$kernel" ]; then
	rc=0
	kernel=$("$here/build-kernel.sh") || rc=$?
	[ "$rc" -eq 0 ] || { [ "$rc" -eq 77 ] && exit 77; die "build-kernel.sh failed ($rc)"; }
	kernel=${kernel##*$'\n'}
fi
[ -r "$kernel" ] || skip "kernel image '$kernel' not found"
init=$here/guest-init.sh
case $init in *[[:space:]]*) die "kernel command line cannot hold $init (whitespace)" ;; esac

# Per-run control directory, exported as its own 9p tag: the generated config,
# environment and command scripts go in; output, status and console come out.
ctl=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-vm.XXXXXX")
qpid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	rm -rf "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Shares sorted so that a parent is mounted before anything inside it.
fsdevs=()
i=0
while IFS= read -r dir; do
	[ "$dir" != / ] || die "cannot share / read-write"
	i=$((i + 1))
	fsdevs+=(-fsdev "local,id=s$i,path=${dir//,/,,},security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=s$i,mount_tag=s$i")
	echo "share s$i $(q "$dir")" >>"$ctl/config.sh"
done < <(printf '%s\n' "${shares[@]}" | LC_ALL=C sort -u)
echo "cwd=$(q "$cwd")" >>"$ctl/config.sh"
# The test driver, built by build-kernel.sh beside the image (guest-init.sh).
ko=$(dirname "$kernel")/mtest.ko
[ -r "$ko" ] && echo "mtest_ko=$(q "$ko")" >>"$ctl/config.sh"

# --pci: QEMU's edu device (1234:11e8) behind an emulated VT-d, which must
# come before every PCI device; guest-init.sh binds edu to vfio-pci.  The
# guest has no interrupt remapping (no CONFIG_IRQ_REMAP, QEMU's intremap
# off): Type1 and iommufd refuse such a device (EPERM) unless told to
# allow it.  The 9p devices do not use the IOMMU (no iommu_platform).
# Not by default: on 6.12 the first IOMMU registered (VT-d) takes every
# device without a firmware node, the iommufd selftest's mock devices too
# (__iommu_probe_device), so IOMMU_TEST_OP_MOCK_DOMAIN fails (EINVAL).
pci_dev=()
pci_append=
case $pci in
'' | 0) ;;
*)
	pci_dev=(-device intel-iommu -device edu)
	pci_append=" intel_iommu=on vfio_iommu_type1.allow_unsafe_interrupts=1 iommufd.allow_unsafe_interrupts=1"
	echo "want_pci=1" >>"$ctl/config.sh"
	;;
esac

# Environment: VFIOMIG_* and CK_* from the caller, plus LD_LIBRARY_PATH.
for name in $(compgen -e); do
	case $name in
	VFIOMIG_* | CK_* | LD_LIBRARY_PATH) echo "export $name=$(q "${!name}")" ;;
	esac
done >"$ctl/env.sh"
{
	printf 'exec'
	for arg; do printf ' %s' "$(q "$arg")"; done
	echo
} >"$ctl/cmd.sh"
: >"$ctl/out"

nine=trans=virtio,version=9p2000.L,msize=262144
# -nic none: no default NIC, so no iPXE option ROM to load at boot.
"$qemu" -machine q35 -accel tcg -m 1024 -smp 1 -nographic -no-reboot -nic none \
	-serial "file:$ctl/console.log" -monitor none \
	"${pci_dev[@]}" \
	-kernel "$kernel" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1$pci_append root=rootfs rootfstype=9p rootflags=$nine ro init=$init" \
	-fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=r,mount_tag=rootfs \
	-fsdev "local,id=c,path=${ctl//,/,,},security_model=none" \
	-device virtio-9p-pci,fsdev=c,mount_tag=vfiomigctl \
	"${fsdevs[@]}" </dev/null >"$ctl/qemu.log" 2>&1 &
qpid=$!

# Copy the guest's output to our stdout as it grows; stop at exit or deadline.
off=0
relay() {
	local n
	n=$(stat -c %s "$ctl/out")
	if [ "$n" -gt "$off" ]; then
		tail -c +$((off + 1)) "$ctl/out" | head -c $((n - off))
		off=$n
	fi
}
deadline=$((SECONDS + timeout))
timed_out=
while kill -0 "$qpid" 2>/dev/null; do
	relay
	if [ "$SECONDS" -ge "$deadline" ]; then
		timed_out=1
		break
	fi
	sleep 0.3
done
relay

show_console() {
	echo "run-vm.sh: --- qemu and guest console (last 60 lines) ---" >&2
	# Drop the firmware's terminal escape sequences.
	cat "$ctl/qemu.log" "$ctl/console.log" 2>/dev/null | tail -n 60 |
		sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' >&2 || true
	echo "run-vm.sh: --- end of console ---" >&2
}
if [ -n "$timed_out" ]; then
	echo "run-vm.sh: TIMEOUT: guest still running after ${timeout}s; killed qemu" >&2
	show_console
	exit 124
fi
wait "$qpid" 2>/dev/null || true
qpid=
status=$(cat "$ctl/status" 2>/dev/null || true)
case $status in
'' | *[!0-9]*)
	echo "run-vm.sh: ERROR: the VM stopped without reporting an exit status" >&2
	show_console
	exit 125
	;;
esac
exit "$status"
