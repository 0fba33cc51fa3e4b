// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's VFIO groups (test-only): drivers/vfio/group.c:
 * SET_CONTAINER, UNSET_CONTAINER, GET_STATUS, GET_DEVICE_FD (contract
 * 11.1).
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
/* Groups (drivers/vfio/group.c).                                      */

/* Is fd open at all (fdget would succeed)? */
bool fake_fd_is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* group.c:vfio_group_ioctl_set_container. */
static int group_set_container(struct fake_fd *f, struct fake_group *g,
			       const int *arg)
{
	struct fake_fd *cf;
	struct fake_container *c;

	if (!arg)
		return -EFAULT;
	if (!fake_fd_is_open(*arg))
		return -EBADF;
	if (g->container)
		return -EINVAL;
	cf = fake_fd_lookup(*arg);
	if (!cf || cf->type != FFD_CONTAINER) {
		/* An iommufd here would be the iommufd VFIO-compat path
		 * (iommufd_vfio_compat_ioas_create): not modeled. */
		return -EBADFD;
	}
	c = cf->container;
	g->container = c;
	c->refs++;
	c->ngroups++;
	if (g->emulated)
		c->n_emulated_groups++;
	else
		c->n_iommu_groups++;
	if (c->iommu_type)
		fake_type1_update_pgsize(c);
	f->container = c;
	return 0;
}

static struct fake_dev *dev_by_name(int group, const char *name)
{
	for (int i = 0; i < F.ndevs; i++) {
		struct fake_dev *d = F.devs[i];

		if (d->cfg.group == group && !strcmp(d->name, name))
			return d;
	}
	return NULL;
}

/* group.c:vfio_group_ioctl_get_device_fd: the name first (ENODEV from
 * vfio_device_get_from_name), then vfio_df_group_open (no container ->
 * EINVAL) and vfio_group_use_container (no SET_IOMMU -> EINVAL); the fd is
 * always O_CLOEXEC (get_unused_fd_flags(O_CLOEXEC)). */
static int group_get_device_fd(struct fake_group *g, const char *arg)
{
	struct fake_dev *d;
	struct fake_fd *df;

	if (!arg)
		return -EFAULT;
	d = dev_by_name(g->num, arg);
	if (!d)
		return -ENODEV;
	if (!g->container || !g->container->iommu_type)
		return -EINVAL;
	df = fake_fd_create(FFD_DEVICE, d, O_RDWR | O_CLOEXEC);
	if (!df)
		return -errno;
	df->group = g->num;
	df->container = g->container;
	d->open_count++;
	g->refs++;
	return df->fd;
}

int fake_group_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	struct fake_group *g = fake_group_get(f->group);

	switch (cmd) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status st;

		if (!arg)
			return -EFAULT;
		memcpy(&st, arg, sizeof(st));
		if (st.argsz < sizeof(st))
			return -EINVAL;
		st.flags = VFIO_GROUP_FLAGS_VIABLE;
		if (g->container)
			st.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
		memcpy(arg, &st, sizeof(st));
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		return group_set_container(f, g, arg);
	case VFIO_GROUP_UNSET_CONTAINER:
		/* vfio_group_ioctl_unset_container: container_users != 1
		 * (device fds open) -> EBUSY. */
		if (!g->container)
			return -EINVAL;
		if (g->refs != 1)
			return -EBUSY;
		fake_group_detach_container(g);
		f->container = NULL;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		return group_get_device_fd(g, arg);
	default:
		return -ENOTTY;
	}
}
