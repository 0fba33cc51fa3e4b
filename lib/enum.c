// SPDX-License-Identifier: LGPL-2.1-or-later
/* vfiomig_device_enum: the VFIO devices under <sysfs>/bus/{pci,mdev}. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static bool has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* A device bound to a driver registered with VFIO: it has a cdev entry, or
 * its driver is vfio-pci or a vfio-pci variant (mlx5_vfio_pci, ...). An
 * mdev is a VFIO device as soon as it is bound or has a group. */
static bool is_vfio(const struct vfm_devinfo *di, bool mdev)
{
	if (di->cdev >= 0)
		return true;
	if (mdev)
		return di->driver[0] || di->iommu_group >= 0;
	return !strcmp(di->driver, "vfio-pci") ||
	       has_suffix(di->driver, "_vfio_pci");
}

static int walk(struct vfiomig_ctx *ctx, const char *bus, bool mdev,
		struct vfm_devinfo *di, vfiomig_enum_fn fn, void *arg)
{
	char dir[PATH_MAX], entry[PATH_MAX], resolved[PATH_MAX];
	struct dirent **names;
	int n, ret = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/bus/%s/devices",
			     ctx->sysfs_root, bus) >= sizeof(dir))
		return -ENAMETOOLONG;
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		dbg(ctx, "enum: %s: %s", dir, strerror(errno));
		return 0; /* no such bus on this machine */
	}
	for (int i = 0; i < n; i++) {
		struct vfiomig_device_info info = { .sz = sizeof(info) };
		const char *d = names[i]->d_name;
		char cdev[32];

		if (ret || d[0] == '.')
			continue;
		if ((size_t)snprintf(entry, sizeof(entry), "%s/%s", dir, d) >=
			    sizeof(entry) ||
		    !realpath(entry, resolved) ||
		    vfm_devinfo_read(resolved, di) < 0) {
			dbg(ctx, "enum: skipping %s/%s", dir, d);
			continue;
		}
		if (!is_vfio(di, mdev))
			continue;
		info.name = di->name;
		info.sysfs_path = di->path;
		info.driver = di->driver[0] ? di->driver : NULL;
		info.mdev_type = di->mdev_type[0] ? di->mdev_type : NULL;
		info.iommu_group = di->iommu_group;
		if (di->cdev >= 0) {
			snprintf(cdev, sizeof(cdev), "vfio%d", di->cdev);
			info.cdev = cdev;
		}
		ret = fn(arg, &info);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_device_enum(struct vfiomig_ctx *ctx,
				       unsigned int flags, vfiomig_enum_fn fn,
				       void *arg)
{
	struct vfm_devinfo *di;
	int ret;

	if (!ctx || !fn)
		return -EINVAL;
	if (flags) {
		err(ctx, "enum: unknown flags 0x%x", flags);
		return -EINVAL;
	}
	di = malloc(sizeof(*di));
	if (!di)
		return -ENOMEM;
	ret = walk(ctx, "pci", false, di, fn, arg);
	if (!ret)
		ret = walk(ctx, "mdev", true, di, fn, arg);
	free(di);
	return ret;
}
