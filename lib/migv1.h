/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration v1 (lib/migv1.c): the migration region's layout, and its
 * header fields read and written at their native width (for dirty-v1.c). */
#ifndef VFIOMIG_MIGV1_H
#define VFIOMIG_MIGV1_H

#include <stdint.h>

struct vfiomig_device;

/* VFIO_REGION_TYPE_MIGRATION_DEPRECATED, VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED */
#define VFM_V1_REGION_TYPE 3u
#define VFM_V1_REGION_SUBTYPE 1u

/* struct vfio_device_migration_info (packed): the merged 5.8 header ends
 * after data_size (32 bytes); the proposal's dirty-pfn fields follow. */
#define VFM_V1_OFF_STATE 0        /* u32 device_state */
#define VFM_V1_OFF_PENDING 8      /* u64 pending_bytes (read-only) */
#define VFM_V1_OFF_DATA_OFFSET 16 /* u64 data_offset (read-only) */
#define VFM_V1_OFF_DATA_SIZE 24   /* u64 data_size */
#define VFM_V1_HDR 32
#define VFM_V1_OFF_START_PFN 32   /* u64 start_pfn */
#define VFM_V1_OFF_PAGE_SIZE 40   /* u64 page_size */
#define VFM_V1_OFF_TOTAL_PFNS 48  /* u64 total_pfns */
#define VFM_V1_OFF_COPIED_PFNS 56 /* u64 copied_pfns (read-only) */
#define VFM_V1_HDR_PFNS 64
/* copied_pfns answers: none of the pages dirty, or all of them */
#define VFM_V1_DIRTY_PFNS_NONE 0ull
#define VFM_V1_DIRTY_PFNS_ALL (~0ull)

/* Only on a handle whose protocol is v1 (vfm_mig_proto()). */
int vfm_v1_rd32(struct vfiomig_device *dev, uint64_t off, uint32_t *val);
int vfm_v1_rd64(struct vfiomig_device *dev, uint64_t off, uint64_t *val);
int vfm_v1_wr64(struct vfiomig_device *dev, uint64_t off, uint64_t val);
/* Under the device lock, before the data area is used for anything but
 * the stream (dirty pfns): the rest of a chunk being saved is copied out
 * so the stream goes on from the copy; -EBUSY while a transfer is in
 * flight or a record is half loaded. */
int vfm_v1_quiesce(struct vfiomig_device *dev);
/* n bytes of the data area at region offset off (mapped or pread);
 * -EPROTO when [off, +n) is not inside the region past the header. */
int vfm_v1_data_read(struct vfiomig_device *dev, uint64_t off, void *buf,
		     size_t n);
/* The migration region's size (0 without v1). */
uint64_t vfm_v1_region_size(struct vfiomig_device *dev);

#endif
