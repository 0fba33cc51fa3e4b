#!/bin/sh
# Guest-side smoke test: `tests/vm/run-vm.sh -- tests/vm/smoke.sh` shows that
# the VM has what the real-kernel tests need. Informational; always exits 0.
set -u
echo "kernel: $(uname -r)"
echo "env: VFIOMIG_VM=${VFIOMIG_VM-} VFIOMIG_MTTY1=${VFIOMIG_MTTY1-}" \
	"VFIOMIG_MTTY2=${VFIOMIG_MTTY2-} VFIOMIG_MTTY2B=${VFIOMIG_MTTY2B-}"
echo "--- /sys/bus/mdev/devices/"
ls -l /sys/bus/mdev/devices/
echo "--- device nodes"
ls -l /dev/vfio /dev/vfio/devices /dev/iommu
for d in /sys/bus/mdev/devices/*; do
	[ -e "$d" ] || continue
	echo "--- $d"
	echo "mdev_type -> $(readlink "$d/mdev_type")"
	echo "iommu_group -> $(readlink "$d/iommu_group")"
	echo "vfio-dev/: $(ls "$d/vfio-dev" 2>&1)"
done
echo "--- /sys/kernel/debug/vfio/"
ls /sys/kernel/debug/vfio 2>&1
for f in /sys/kernel/debug/vfio/*/migration/state; do
	[ -e "$f" ] && echo "$f: $(cat "$f" 2>&1)"
done
echo "--- iommufd selftest mock (CONFIG_IOMMUFD_TEST): /sys/bus/iommufd_mock"
ls /sys/bus/iommufd_mock/devices 2>&1
echo "--- netdevsim: /sys/bus/netdevsim"
ls /sys/bus/netdevsim 2>&1
exit 0
