// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's device nodes (test-only): opening /dev/vfio/vfio
 * (container.c:vfio_fops_open), /dev/vfio/N (group.c:vfio_group_fops_open),
 * /dev/vfio/devices/vfioN (device_cdev.c:vfio_device_fops_cdev_open) and
 * /dev/iommu (iommufd main.c:iommufd_fops_open) under the fake's dev root.
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake-internal.h"

/* The machine (fake-internal.h). */
#define F fake_machine

/* ------------------------------------------------------------------ */
/* Opening the fake nodes.                                              */

enum fake_node {
	N_NONE = 0,
	N_CONTAINER,    /* vfio/vfio */
	N_GROUP,        /* vfio/<group> */
	N_CDEV,         /* vfio/devices/vfio<N> */
	N_IOMMU,        /* iommu */
};

static bool parse_num(const char *s, int *num)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v > INT_MAX)
		return false;
	*num = (int)v;
	return true;
}

static struct fake_dev *dev_by_cdev(int n)
{
	for (int i = 0; i < F.ndevs; i++)
		if (F.devs[i]->cfg.cdev == n)
			return F.devs[i];
	return NULL;
}

/* Which existing fake node path names, if any. */
static int node_of(const char *path, int *num)
{
	char rel[64];
	size_t j = 0;
	const char *p;

	if (!F.up || !path || strncmp(path, F.dev, F.devlen) ||
	    path[F.devlen] != '/')
		return N_NONE;
	/* Collapse repeated slashes of the part under the dev root. */
	for (p = path + F.devlen; *p; p++) {
		if (*p == '/' && (j == 0 || rel[j - 1] == '/'))
			continue;
		if (j + 1 >= sizeof(rel))
			return N_NONE;
		rel[j++] = *p;
	}
	rel[j] = '\0';
	if (!strcmp(rel, "vfio/vfio"))
		return N_CONTAINER;
	if (!strcmp(rel, "iommu"))
		return F.with_iommufd ? N_IOMMU : N_NONE;
	if (!strncmp(rel, "vfio/devices/vfio", 17) &&
	    parse_num(rel + 17, num))
		return F.with_iommufd && dev_by_cdev(*num) ? N_CDEV : N_NONE;
	if (!strncmp(rel, "vfio/", 5) && parse_num(rel + 5, num))
		return fake_group_get(*num) ? N_GROUP : N_NONE;
	return N_NONE;
}

/* Open a fake node: returns the fd or -errno. */
static int node_open(int node, int num, int flags)
{
	struct fake_fd *f;
	struct fake_group *g;
	int err = fake_intercept_locked("open");

	if (err)
		return -err;
	switch (node) {
	case N_CONTAINER: {
		/* container.c:vfio_fops_open */
		struct fake_container *c = fake_container_new();

		if (!c)
			return -ENOMEM;
		f = fake_fd_create(FFD_CONTAINER, NULL, flags);
		if (!f) {
			err = -errno;
			fake_container_put(c);
			return err;
		}
		f->container = c;
		return f->fd;
	}
	case N_GROUP:
		/* group.c:vfio_group_fops_open */
		g = fake_group_get(num);
		if (g->cdev_open_cnt || g->refs)
			return -EBUSY;
		f = fake_fd_create(FFD_GROUP, NULL, flags);
		if (!f)
			return -errno;
		f->group = num;
		g->refs = 1;
		return f->fd;
	case N_CDEV:
		/* device_cdev.c:vfio_device_fops_cdev_open: no access until
		 * BIND_IOMMUFD. */
		f = fake_fd_create(FFD_DEVICE, dev_by_cdev(num), flags);
		if (!f)
			return -errno;
		f->cdev = true;
		return f->fd;
	case N_IOMMU: {
		/* main.c:iommufd_fops_open */
		struct fake_iommufd *x = fake_ictx_new();

		if (!x)
			return -ENOMEM;
		f = fake_fd_create(FFD_IOMMUFD, NULL, flags);
		if (!f) {
			err = -errno;
			fake_ictx_put(x);
			return err;
		}
		f->ictx = x;
		return f->fd;
	}
	}
	return -ENOENT;
}

bool fake_open_needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* If path is a fake node, open it (*handled = true). */
int fake_try_node_open(const char *path, int flags, bool *handled)
{
	FAKE_LOCKED();
	int num = -1, node = node_of(path, &num), r;

	*handled = node != N_NONE;
	if (!*handled)
		return 0;
	r = node_open(node, num, flags);
	return r < 0 ? fake_ret_errno(r) : r;
}

/* A fake node that a fortified open without a mode must not create. */
bool fake_node_needs_mode(const char *path, int flags)
{
	FAKE_LOCKED();
	int num;

	return node_of(path, &num) != N_NONE && fake_open_needs_mode(flags);
}

bool fake_at_is_plain(int dirfd, const char *path)
{
	return path && (path[0] == '/' || dirfd == AT_FDCWD);
}
