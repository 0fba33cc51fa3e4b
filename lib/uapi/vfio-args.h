/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Argument layouts the VFIO uAPI describes in prose: a header struct whose
 * flexible `data[]` is followed by a payload struct.  Nesting the uAPI
 * structs themselves would put a flexible array mid-struct (a GNU
 * extension clang rejects), so these spell the same bytes out; the
 * asserts tie them to the uAPI structs.
 */
#ifndef VFIOMIG_UAPI_VFIO_ARGS_H
#define VFIOMIG_UAPI_VFIO_ARGS_H

#include <stddef.h>
#include <linux/vfio.h>

/* VFIO_IOMMU_DIRTY_PAGES with VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP. */
struct vfm_dirty_get_bitmap {
	__u32 argsz;
	__u32 flags;
	struct vfio_iommu_type1_dirty_bitmap_get get;
};

/* VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP. */
struct vfm_unmap_dirty {
	__u32 argsz;
	__u32 flags;
	__u64 iova;
	__u64 size;
	struct vfio_bitmap bitmap;
};

_Static_assert(sizeof(struct vfm_dirty_get_bitmap) == 48, "GET_BITMAP argsz");
_Static_assert(offsetof(struct vfm_dirty_get_bitmap, get) ==
		       offsetof(struct vfio_iommu_type1_dirty_bitmap, data),
	       "GET_BITMAP payload follows the header");
_Static_assert(sizeof(struct vfm_unmap_dirty) == 48, "UNMAP bitmap argsz");
_Static_assert(offsetof(struct vfm_unmap_dirty, iova) ==
		       offsetof(struct vfio_iommu_type1_dma_unmap, iova) &&
	       offsetof(struct vfm_unmap_dirty, size) ==
		       offsetof(struct vfio_iommu_type1_dma_unmap, size),
	       "UNMAP fields");
_Static_assert(offsetof(struct vfm_unmap_dirty, bitmap) ==
		       offsetof(struct vfio_iommu_type1_dma_unmap, data),
	       "UNMAP bitmap follows the unmap struct");

#endif
