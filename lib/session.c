// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT int vfiomig_data_fd(const struct vfiomig_device *dev)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT void vfiomig_data_close(struct vfiomig_device *dev)
{
	
}

VFIOMIG_EXPORT int vfiomig_data_size(struct vfiomig_device *dev, uint64_t *stop_copy_length)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_precopy_info(struct vfiomig_device *dev, struct vfiomig_precopy_info *info)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int64_t vfiomig_save(struct vfiomig_device *dev, const struct vfiomig_io *to, unsigned int flags)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int64_t vfiomig_load(struct vfiomig_device *dev, const struct vfiomig_io *from, unsigned int flags)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_load_finish(struct vfiomig_device *dev, int target, struct vfiomig_set_opts *opts)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_precopy_iterate(struct vfiomig_device *dev, const struct vfiomig_io *to, const struct vfiomig_precopy_policy *policy, struct vfiomig_precopy_progress *progress)
{
	return -ENOSYS;
}
