// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Pin the layout of the private uAPI copies (lib/uapi/) to the kernel's
 * (Linux 6.12, x86-64; kernel-contract.md section 1).  A mistake here would
 * make the kernel read the wrong bytes, so it fails the build instead.
 * tests/test-uapi-system.c checks the same numbers against the system
 * headers where they have the definitions.
 */
#include <stddef.h>

#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "uapi-layout.h"

#define SZ(T, N) _Static_assert(sizeof(struct T) == (N), #T " size")
#define OFF(T, F, N) _Static_assert(offsetof(struct T, F) == (N), #T "." #F)

VFM_UAPI_LAYOUT(SZ, OFF)

_Static_assert(VFIO_DEVICE_FEATURE == 0x3b75, "VFIO_DEVICE_FEATURE");
_Static_assert(VFIO_IOMMU_DIRTY_PAGES == 0x3b75, "VFIO_IOMMU_DIRTY_PAGES");
_Static_assert(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET");
_Static_assert(VFIO_IOMMU_GET_INFO == 0x3b70, "VFIO_IOMMU_GET_INFO");
_Static_assert(VFIO_IOMMU_MAP_DMA == 0x3b71, "VFIO_IOMMU_MAP_DMA");
_Static_assert(VFIO_IOMMU_UNMAP_DMA == 0x3b72, "VFIO_IOMMU_UNMAP_DMA");
_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76, "BIND_IOMMUFD");
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77, "ATTACH_IOMMUFD_PT");
_Static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78, "DETACH_IOMMUFD_PT");
_Static_assert(VFIO_MIG_GET_PRECOPY_INFO == 0x3b79, "PRECOPY_INFO");
_Static_assert(IOMMU_HWPT_ALLOC == 0x3b89, "IOMMU_HWPT_ALLOC");
_Static_assert(IOMMU_GET_HW_INFO == 0x3b8a, "IOMMU_GET_HW_INFO");
_Static_assert(IOMMU_HWPT_SET_DIRTY_TRACKING == 0x3b8b, "SET_DIRTY_TRACKING");
_Static_assert(IOMMU_HWPT_GET_DIRTY_BITMAP == 0x3b8c, "GET_DIRTY_BITMAP");
