/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The uAPI layout facts libvfiomig relies on (kernel-contract.md 1),
 * as an X-macro: SZ(struct, size) and OFF(struct, field, offset).
 * Shared by lib/uapi-check.c (private copies) and
 * tests/test-uapi-system.c (system headers).
 */
#ifndef VFIOMIG_UAPI_LAYOUT_H
#define VFIOMIG_UAPI_LAYOUT_H

#define VFM_UAPI_LAYOUT_VFIO_OLD(SZ, OFF)                                      \
	SZ(vfio_group_status, 8);                                              \
	SZ(vfio_device_info, 24);                                              \
	SZ(vfio_region_info, 32);                                              \
	OFF(vfio_region_info, cap_offset, 12);                                 \
	SZ(vfio_region_sparse_mmap_area, 16);                                  \
	SZ(vfio_region_info_cap_sparse_mmap, 16);                              \
	SZ(vfio_region_info_cap_type, 16);                                     \
	SZ(vfio_iommu_type1_info, 24);                                         \
	OFF(vfio_iommu_type1_info, cap_offset, 16);                            \
	SZ(vfio_iommu_type1_info_cap_migration, 32);                           \
	OFF(vfio_iommu_type1_info_cap_migration, pgsize_bitmap, 16);           \
	OFF(vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size, 24);   \
	SZ(vfio_iommu_type1_dma_map, 32);                                      \
	SZ(vfio_iommu_type1_dma_unmap, 24);                                    \
	SZ(vfio_bitmap, 24);                                                   \
	SZ(vfio_iommu_type1_dirty_bitmap, 8);                                  \
	SZ(vfio_iommu_type1_dirty_bitmap_get, 40);                             \
	SZ(vfio_device_feature, 8);                                            \
	SZ(vfio_device_feature_migration, 8);                                  \
	SZ(vfio_device_feature_mig_state, 8);                                  \
	OFF(vfio_device_feature_mig_state, data_fd, 4);

#define VFM_UAPI_LAYOUT_VFIO_NEW(SZ, OFF)                                      \
	SZ(vfio_device_feature_mig_data_size, 8);                              \
	SZ(vfio_device_feature_dma_logging_control, 24);                       \
	OFF(vfio_device_feature_dma_logging_control, ranges, 16);              \
	SZ(vfio_device_feature_dma_logging_range, 16);                         \
	SZ(vfio_device_feature_dma_logging_report, 32);                        \
	OFF(vfio_device_feature_dma_logging_report, bitmap, 24);               \
	SZ(vfio_precopy_info, 24);                                             \
	OFF(vfio_precopy_info, dirty_bytes, 16);                               \
	SZ(vfio_device_bind_iommufd, 16);                                      \
	SZ(vfio_device_attach_iommufd_pt, 12);                                 \
	SZ(vfio_device_detach_iommufd_pt, 8);

#define VFM_UAPI_LAYOUT_IOMMUFD(SZ, OFF)                                       \
	SZ(iommu_destroy, 8);                                                  \
	SZ(iommu_ioas_alloc, 12);                                              \
	SZ(iommu_ioas_map, 40);                                                \
	SZ(iommu_ioas_unmap, 24);                                              \
	SZ(iommu_hwpt_alloc, 48);                                              \
	OFF(iommu_hwpt_alloc, out_hwpt_id, 16);                                \
	OFF(iommu_hwpt_alloc, __reserved, 20);                                 \
	SZ(iommu_hw_info, 40);                                                 \
	OFF(iommu_hw_info, out_capabilities, 32);                              \
	SZ(iommu_hwpt_set_dirty_tracking, 16);                                 \
	SZ(iommu_hwpt_get_dirty_bitmap, 48);                                   \
	OFF(iommu_hwpt_get_dirty_bitmap, data, 40);

#define VFM_UAPI_LAYOUT(SZ, OFF)                                               \
	VFM_UAPI_LAYOUT_VFIO_OLD(SZ, OFF)                                      \
	VFM_UAPI_LAYOUT_VFIO_NEW(SZ, OFF)                                      \
	VFM_UAPI_LAYOUT_IOMMUFD(SZ, OFF)

#endif
