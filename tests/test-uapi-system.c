// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The layout facts of lib/uapi/uapi-layout.h, checked against the SYSTEM
 * <linux/vfio.h> (this program is built without -I lib/uapi): what the
 * private copies pin (lib/uapi-check.c) is what the kernel headers of the
 * build machine say.  Structs older than every supported kernel are
 * checked unconditionally; newer ones only where the system header has
 * them (Debian 12's 6.1 headers lack MIG_DATA_SIZE, PRECOPY_INFO, the cdev
 * ioctls and all of iommufd).  Everything here is checked at build time.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/vfio.h>
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif

#include "../lib/uapi/uapi-layout.h"

/*
 * An "old" struct may have grown a tail since the system's headers were
 * made, and the kernel still accepts the shorter argsz: struct
 * vfio_device_info gained `__u32 pad` after Linux 6.1 (20 -> 24 bytes; the
 * kernel's minsz is offsetofend(cap_offset) = 20 either way, Debian 12 ships
 * the 20-byte one).  Here is every such older size, 0 for none; a struct
 * added to VFM_UAPI_LAYOUT_VFIO_OLD needs a line (the build says so).
 */
enum {
	vfm_older_vfio_group_status = 0,
	vfm_older_vfio_device_info = 20,
	vfm_older_vfio_region_info = 0,
	vfm_older_vfio_region_sparse_mmap_area = 0,
	vfm_older_vfio_region_info_cap_sparse_mmap = 0,
	vfm_older_vfio_region_info_cap_type = 0,
	vfm_older_vfio_iommu_type1_info = 0,
	vfm_older_vfio_iommu_type1_info_cap_migration = 0,
	vfm_older_vfio_iommu_type1_dma_map = 0,
	vfm_older_vfio_iommu_type1_dma_unmap = 0,
	vfm_older_vfio_bitmap = 0,
	vfm_older_vfio_iommu_type1_dirty_bitmap = 0,
	vfm_older_vfio_iommu_type1_dirty_bitmap_get = 0,
	vfm_older_vfio_device_feature = 0,
	vfm_older_vfio_device_feature_migration = 0,
	vfm_older_vfio_device_feature_mig_state = 0,
};

#define SZ_OLD(T, N)                                                           \
	_Static_assert(sizeof(struct T) == (N) ||                              \
			       sizeof(struct T) == vfm_older_##T,              \
		       #T " size")
#define SZ(T, N) _Static_assert(sizeof(struct T) == (N), #T " size")
#define OFF(T, F, N) _Static_assert(offsetof(struct T, F) == (N), #T "." #F)

VFM_UAPI_LAYOUT_VFIO_OLD(SZ_OLD, OFF)
/* the fields that were there from the start are where the copy says */
OFF(vfio_device_info, cap_offset, 16);

/* ioctl numbers and values (kernel-contract.md 1) */
_Static_assert(VFIO_TYPE == 0x3b, "VFIO_TYPE");
_Static_assert(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET");
_Static_assert(VFIO_IOMMU_GET_INFO == 0x3b70, "VFIO_IOMMU_GET_INFO");
_Static_assert(VFIO_IOMMU_MAP_DMA == 0x3b71, "VFIO_IOMMU_MAP_DMA");
_Static_assert(VFIO_IOMMU_UNMAP_DMA == 0x3b72, "VFIO_IOMMU_UNMAP_DMA");
_Static_assert(VFIO_DEVICE_FEATURE == 0x3b75, "VFIO_DEVICE_FEATURE");
_Static_assert(VFIO_IOMMU_DIRTY_PAGES == 0x3b75, "VFIO_IOMMU_DIRTY_PAGES");
_Static_assert(VFIO_DEVICE_FEATURE_MASK == 0xffff, "FEATURE_MASK");
_Static_assert(VFIO_DEVICE_FEATURE_GET == 1 << 16, "FEATURE_GET");
_Static_assert(VFIO_DEVICE_FEATURE_SET == 1 << 17, "FEATURE_SET");
_Static_assert(VFIO_DEVICE_FEATURE_PROBE == 1 << 18, "FEATURE_PROBE");
_Static_assert(VFIO_DEVICE_FEATURE_MIGRATION == 1, "FEATURE_MIGRATION");
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE == 2, "MIG_DEVICE_STATE");
_Static_assert(VFIO_MIGRATION_STOP_COPY == 1, "STOP_COPY");
_Static_assert(VFIO_MIGRATION_P2P == 2, "P2P");
_Static_assert(VFIO_DEVICE_STATE_ERROR == 0, "STATE_ERROR");
_Static_assert(VFIO_DEVICE_STATE_STOP == 1, "STATE_STOP");
_Static_assert(VFIO_DEVICE_STATE_RUNNING == 2, "STATE_RUNNING");
_Static_assert(VFIO_DEVICE_STATE_STOP_COPY == 3, "STATE_STOP_COPY");
_Static_assert(VFIO_DEVICE_STATE_RESUMING == 4, "STATE_RESUMING");
_Static_assert(VFIO_DEVICE_STATE_RUNNING_P2P == 5, "STATE_RUNNING_P2P");
_Static_assert(VFIO_TYPE1v2_IOMMU == 3, "TYPE1v2");
_Static_assert(VFIO_GROUP_FLAGS_VIABLE == 1, "GROUP_FLAGS_VIABLE");

#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
SZ(vfio_device_feature_mig_data_size, 8);
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE == 9, "MIG_DATA_SIZE");
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
SZ(vfio_device_feature_dma_logging_control, 24);
OFF(vfio_device_feature_dma_logging_control, ranges, 16);
SZ(vfio_device_feature_dma_logging_range, 16);
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_START == 6, "LOGGING_START");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP == 7, "LOGGING_STOP");
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT
SZ(vfio_device_feature_dma_logging_report, 32);
OFF(vfio_device_feature_dma_logging_report, bitmap, 24);
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT == 8, "LOGGING_REPORT");
#endif
#ifdef VFIO_MIG_GET_PRECOPY_INFO
SZ(vfio_precopy_info, 24);
OFF(vfio_precopy_info, dirty_bytes, 16);
_Static_assert(VFIO_MIG_GET_PRECOPY_INFO == 0x3b79, "PRECOPY_INFO");
_Static_assert(VFIO_MIGRATION_PRE_COPY == 4, "PRE_COPY");
_Static_assert(VFIO_DEVICE_STATE_PRE_COPY == 6, "STATE_PRE_COPY");
_Static_assert(VFIO_DEVICE_STATE_PRE_COPY_P2P == 7, "STATE_PRE_COPY_P2P");
#endif
#ifdef VFIO_DEVICE_BIND_IOMMUFD
SZ(vfio_device_bind_iommufd, 16);
_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76, "BIND_IOMMUFD");
#endif
#ifdef VFIO_DEVICE_ATTACH_IOMMUFD_PT
SZ(vfio_device_attach_iommufd_pt, 12);
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77, "ATTACH_IOMMUFD_PT");
#endif
#ifdef VFIO_DEVICE_DETACH_IOMMUFD_PT
SZ(vfio_device_detach_iommufd_pt, 8);
_Static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78, "DETACH_IOMMUFD_PT");
#endif

/* iommufd: each struct where the system header has its command. */
#ifdef IOMMU_DESTROY
SZ(iommu_destroy, 8);
#endif
#ifdef IOMMU_IOAS_ALLOC
SZ(iommu_ioas_alloc, 12);
#endif
#ifdef IOMMU_IOAS_MAP
SZ(iommu_ioas_map, 40);
#endif
#ifdef IOMMU_IOAS_UNMAP
SZ(iommu_ioas_unmap, 24);
#endif
#ifdef IOMMU_HWPT_SET_DIRTY_TRACKING
/* 6.7+ (dirty tracking): iommu_hwpt_alloc (48 bytes) and iommu_hw_info
 * (out_capabilities) have their final layout from here on; 6.6 had
 * shorter ones. */
SZ(iommu_hw_info, 40);
OFF(iommu_hw_info, out_capabilities, 32);
_Static_assert(IOMMU_GET_HW_INFO == 0x3b8a, "IOMMU_GET_HW_INFO");
SZ(iommu_hwpt_alloc, 48);
OFF(iommu_hwpt_alloc, out_hwpt_id, 16);
OFF(iommu_hwpt_alloc, __reserved, 20);
SZ(iommu_hwpt_set_dirty_tracking, 16);
SZ(iommu_hwpt_get_dirty_bitmap, 48);
OFF(iommu_hwpt_get_dirty_bitmap, data, 40);
_Static_assert(IOMMU_HWPT_ALLOC == 0x3b89, "IOMMU_HWPT_ALLOC");
_Static_assert(IOMMU_HWPT_SET_DIRTY_TRACKING == 0x3b8b, "SET_DIRTY_TRACKING");
_Static_assert(IOMMU_HWPT_GET_DIRTY_BITMAP == 0x3b8c, "GET_DIRTY_BITMAP");
#endif

int main(void)
{
	/* Say which optional parts this system's headers let us check. */
	printf("system <linux/vfio.h>: MIG_DATA_SIZE %s, DMA logging %s, PRECOPY_INFO %s, cdev ioctls %s; <linux/iommufd.h>: %s\n",
#ifdef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
	       "checked",
#else
	       "absent",
#endif
#ifdef VFIO_DEVICE_FEATURE_DMA_LOGGING_START
	       "checked",
#else
	       "absent",
#endif
#ifdef VFIO_MIG_GET_PRECOPY_INFO
	       "checked",
#else
	       "absent",
#endif
#ifdef VFIO_DEVICE_BIND_IOMMUFD
	       "checked",
#else
	       "absent",
#endif
#ifdef IOMMU_IOAS_ALLOC
	       "checked"
#else
	       "absent"
#endif
	);
	return 0;
}
