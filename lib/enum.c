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

/* More entries than this in one bus directory is not a machine's sysfs:
 * enumeration stops there rather than grow without bound. */
#define BUS_ENTRIES_MAX 65536

struct names {
	char **v;
	size_t n, cap;
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int names_add(struct names *ns, const char *name)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 64;
		char **v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = strdup(name);
	return ns->v[ns->n] ? (int)++ns->n : -ENOMEM;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir, sorted, at most BUS_ENTRIES_MAX of them.  A missing
 * dir is an empty list: no such bus on this machine. */
static int read_bus(struct vfiomig_ctx *ctx, const char *dir,
		    struct names *ns)
{
	struct dirent *de;
	int ret = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		dbg(ctx, "enum: %s: %s", dir, strerror(errno));
		return 0;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (ns->n == BUS_ENTRIES_MAX) {
			warn(ctx, "enum: %s: more than %d entries, ignoring the rest",
			     dir, BUS_ENTRIES_MAX);
			break;
		}
		ret = names_add(ns, de->d_name);
		if (ret < 0)
			break;
	}
	closedir(d);
	if (ret < 0)
		return ret;
	if (ns->n)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_name);
	return 0;
}

/* di for the bus entry dir/name; an entry that sysfs would not hold (a
 * symlink loop, a FIFO for an attribute, ...) is skipped with a warning. */
static bool entry_info(struct vfiomig_ctx *ctx, const char *dir,
		       const char *name, struct vfm_devinfo *di)
{
	char entry[PATH_MAX], resolved[PATH_MAX];
	int ret;

	if ((size_t)snprintf(entry, sizeof(entry), "%s/%s", dir, name) >=
	    sizeof(entry))
		ret = -ENAMETOOLONG;
	else if (!realpath(entry, resolved))
		ret = -errno;
	else
		ret = vfm_devinfo_read(ctx, resolved, di);
	if (ret < 0)
		warn(ctx, "enum: skipping %s: %s", entry, strerror(-ret));
	return ret == 0;
}

static int walk(struct vfiomig_ctx *ctx, const char *bus, bool mdev,
		struct vfm_devinfo *di, vfiomig_enum_fn fn, void *arg)
{
	char dir[PATH_MAX];
	struct names ns = { 0 };
	int ret;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/bus/%s/devices",
			     ctx->sysfs_root, bus) >= sizeof(dir))
		return -ENAMETOOLONG;
	ret = read_bus(ctx, dir, &ns);
	for (size_t i = 0; !ret && i < ns.n; i++) {
		struct vfiomig_device_info info = { .sz = sizeof(info) };
		char cdev[32];

		if (!entry_info(ctx, dir, ns.v[i], di) || !is_vfio(di, mdev))
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
	names_free(&ns);
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
