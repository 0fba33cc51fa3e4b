// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT int vfiomig_dirty_new(struct vfiomig_device *const *devs, size_t ndevs, const struct vfiomig_dirty_opts *opts, struct vfiomig_dirty **trp)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT void vfiomig_dirty_free(struct vfiomig_dirty *tr)
{
	
}

VFIOMIG_EXPORT int vfiomig_dirty_backend(const struct vfiomig_dirty *tr)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT const char *vfiomig_dirty_reason(const struct vfiomig_dirty *tr)
{
	return NULL;
}

VFIOMIG_EXPORT const char *vfiomig_dirty_backend_name(int backend)
{
	return NULL;
}

VFIOMIG_EXPORT int vfiomig_dirty_start(struct vfiomig_dirty *tr, const struct vfiomig_range *ranges, size_t nranges, uint64_t page_size)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_dirty_stop(struct vfiomig_dirty *tr)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_dirty_query(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length, uint64_t page_size, uint64_t *bitmap, unsigned int flags)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_dirty_unmap(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length, uint64_t page_size, uint64_t *bitmap, unsigned int flags)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_type1_dirty_caps(struct vfiomig_device *dev, uint64_t *pgsize, uint64_t *max_bitmap_bytes)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_iommufd_hw_caps(struct vfiomig_device *dev, uint64_t *caps)
{
	return -ENOSYS;
}

