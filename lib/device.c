// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT int vfiomig_device_open(struct vfiomig_ctx *ctx, const char *name, const struct vfiomig_open_opts *opts, struct vfiomig_device **devp)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_adopt(struct vfiomig_ctx *ctx, int device_fd, const struct vfiomig_adopt_opts *opts, struct vfiomig_device **devp)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT void vfiomig_device_free(struct vfiomig_device *dev)
{
	
}

VFIOMIG_EXPORT struct vfiomig_ctx *vfiomig_device_ctx(const struct vfiomig_device *dev)
{
	return NULL;
}

VFIOMIG_EXPORT int vfiomig_device_fd(const struct vfiomig_device *dev)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_iommu_fd(const struct vfiomig_device *dev)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_iommu_path(const struct vfiomig_device *dev)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT const char *vfiomig_device_name(const struct vfiomig_device *dev)
{
	return NULL;
}

VFIOMIG_EXPORT const char *vfiomig_device_sysfs_path(const struct vfiomig_device *dev)
{
	return NULL;
}

VFIOMIG_EXPORT const char *vfiomig_device_driver(const struct vfiomig_device *dev)
{
	return NULL;
}

VFIOMIG_EXPORT const char *vfiomig_device_mdev_type(const struct vfiomig_device *dev)
{
	return NULL;
}

VFIOMIG_EXPORT int vfiomig_device_pci_ids(const struct vfiomig_device *dev, struct vfiomig_pci_ids *ids)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_iommufd_ids(const struct vfiomig_device *dev, uint32_t *devid, uint32_t *ioas_id, uint32_t *hwpt_id)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_device_reset(struct vfiomig_device *dev)
{
	return -ENOSYS;
}
