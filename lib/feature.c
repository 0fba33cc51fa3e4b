// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT int vfiomig_feature_probe(struct vfiomig_device *dev, uint32_t feature, unsigned int flags)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_feature_get(struct vfiomig_device *dev, uint32_t feature, void *data, size_t len)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_feature_set(struct vfiomig_device *dev, uint32_t feature, void *data, size_t len)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_caps(struct vfiomig_device *dev, struct vfiomig_caps *caps)
{
	return -ENOSYS;
}
