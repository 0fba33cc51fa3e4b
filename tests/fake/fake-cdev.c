// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's VFIO device cdev and its iommufd binding (test-only):
 * drivers/vfio/device_cdev.c and iommufd.c: BIND_IOMMUFD, ATTACH/DETACH_
 * IOMMUFD_PT for physical devices (a HWPT, the MSI window reserved) and
 * emulated ones (an access on an IOAS), unbind at close (contract 11.2).
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

/* ------------------------------------------------------------------ */
/* Device fds (vfio_main.c, device_cdev.c, iommufd.c, the drivers).     */

void fake_dev_last_close(struct fake_dev *d)
{
	/* vfio_df_device_last_close -> ops->close_device (mtty_close). */
	fake_mig_close_device(d);
}

/* Physical: iommufd_device_detach; emulated: iommufd_access_detach. */
static void dev_detach(struct fake_dev *d)
{
	struct fake_iommufd_obj *a = d->attached;

	if (!a)
		return;
	d->attached = NULL;
	if (d->cfg.mdev) {
		a->users--;
	} else {
		if (a->ioas)
			fake_ioas_unreserve(a->ioas, d->idev);
		fake_hwpt_put(a);
		d->idev->users--;
	}
}

/* iommufd_device_attach_reserved_iova: a physical device behind VT-d
 * reserves its MSI window in the IOAS it attaches to (an area there ->
 * EADDRINUSE), and drops it from the IOAS it leaves. */
static int dev_resv_check(struct fake_dev *d, struct fake_iommufd_obj *ioas)
{
	if (!ioas || (d->attached && d->attached->ioas == ioas))
		return 0;
	for (int i = 0; i < ioas->nmaps; i++) {
		const struct fake_ioas_map *m = &ioas->maps[i];

		if (m->iova <= FAKE_MSI_END &&
		    m->iova + m->length - 1 >= FAKE_MSI_START)
			return -EADDRINUSE;
	}
	return 0;
}

static int dev_reserve(struct fake_dev *d, struct fake_iommufd_obj *ioas)
{
	struct fake_iommufd_obj *old = d->attached ? d->attached->ioas : NULL;
	int ret;

	if (!ioas || old == ioas)
		return 0;
	ret = fake_ioas_reserve(ioas, FAKE_MSI_START, FAKE_MSI_END, d->idev);
	if (!ret && old)
		fake_ioas_unreserve(old, d->idev);
	return ret;
}

/* vfio_df_unbind_iommufd (close of a bound cdev fd). */
void fake_dev_unbind(struct fake_fd *f)
{
	struct fake_dev *d = f->dev;
	struct fake_group *g = fake_group_get(d->cfg.group);

	dev_detach(d);
	if (d->idev)
		fake_obj_free(d->idev);
	d->idev = NULL;
	f->bound = false;
	d->cdev_bound = false;
	if (--d->open_count == 0)
		fake_dev_last_close(d);
	if (g)
		g->cdev_open_cnt--;
	fake_ictx_put(f->ictx);
	f->ictx = NULL;
}

/* device_cdev.c:vfio_df_ioctl_bind_iommufd (contract 11.2). */
int fake_dev_bind(struct fake_fd *f, void *arg)
{
	struct vfio_device_bind_iommufd b;
	struct fake_dev *d = f->dev;
	struct fake_group *g = fake_group_get(d->cfg.group);
	struct fake_fd *xf;
	struct fake_iommufd_obj *o;

	if (!arg)
		return -EFAULT;
	memcpy(&b, arg, sizeof(b));
	if (b.argsz < sizeof(b) || b.flags || b.iommufd < 0)
		return -EINVAL;
	if (!f->cdev)
		return -EINVAL;
	/* vfio_device_block_group */
	if (g && g->refs)
		return -EBUSY;
	if (f->bound)
		return -EINVAL;
	/* iommufd_ctx_from_fd */
	if (!fake_fd_is_open(b.iommufd))
		return -EBADF;
	xf = fake_fd_lookup(b.iommufd);
	if (!xf || xf->type != FFD_IOMMUFD)
		return -EBADFD;
	/* vfio_df_open: the cdev path allows a single open */
	if (d->open_count)
		return -EINVAL;
	/* ops->bind_iommufd: physical -> device object, emulated -> access */
	o = fake_ictx_obj_new(xf->ictx, d->cfg.mdev ? FIO_ACCESS : FIO_DEVICE);
	if (!o)
		return -ENOMEM;
	o->dev = d;
	o->users = 2; /* the table + vfio's reference: DESTROY -> EBUSY */
	o->hw_dirty = !d->cfg.mdev && d->cfg.hw_dirty;
	d->idev = o;
	d->open_count++;
	d->cdev_bound = true;
	if (g)
		g->cdev_open_cnt++;
	f->ictx = xf->ictx;
	f->ictx->refs++;
	f->iommufd_fd = b.iommufd;
	f->bound = true;
	b.out_devid = o->id;
	memcpy(arg, &b, sizeof(b));
	return 0;
}

/* vfio_df_ioctl_attach_pt + vfio_iommufd_{physical,emulated}_attach_ioas. */
int fake_dev_attach(struct fake_fd *f, void *arg)
{
	struct vfio_device_attach_iommufd_pt at;
	struct fake_dev *d = f->dev;
	struct fake_iommufd_obj *pt, *hwpt = NULL;
	int ret;

	if (!arg)
		return -EFAULT;
	memcpy(&at, arg, sizeof(at));
	if (at.argsz < sizeof(at) || at.flags)
		return -EINVAL;
	pt = fake_ictx_obj(f->ictx, at.pt_id);
	if (d->cfg.mdev) {
		/* iommufd_access_change_ioas_id -> iommufd_get_ioas: only an
		 * IOAS; a HWPT id is ENOENT (contract 10.5). */
		if (!pt || pt->type != FIO_IOAS)
			return -ENOENT;
		if (d->attached != pt) {
			pt->users++;
			if (d->attached)
				d->attached->users--;
			d->attached = pt;
		}
		return 0;
	}
	/* device.c:iommufd_device_change_pt */
	if (!pt)
		return -ENOENT;
	switch (pt->type) {
	case FIO_HWPT_PAGING:
	case FIO_HWPT_NESTED:
		/* The reserved regions first, then the driver attach: a
		 * dirty-tracking domain on an IOMMU without it -> EINVAL
		 * (contract 10.2). */
		ret = dev_resv_check(d, pt->ioas);
		if (ret)
			return ret;
		if ((pt->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
		    !d->cfg.hw_dirty)
			return -EINVAL;
		hwpt = pt;
		break;
	case FIO_IOAS:
		ret = dev_resv_check(d, pt);
		if (ret)
			return ret;
		/* iommufd_device_auto_get_domain: reuse an auto domain of
		 * this IOAS, else make one (flags 0, no dirty ops). */
		for (struct fake_iommufd_obj *o = f->ictx->objs; o; o = o->next)
			if (o->type == FIO_HWPT_PAGING && o->auto_domain &&
			    o->ioas == pt)
				hwpt = o;
		if (!hwpt) {
			hwpt = fake_ictx_obj_new(f->ictx, FIO_HWPT_PAGING);
			if (!hwpt)
				return -ENOMEM;
			hwpt->auto_domain = true;
			hwpt->ioas = pt;
			pt->users++;
			/* VT-d: a 48-bit aperture */
			ret = fake_domain_aperture(hwpt, 0, FAKE_APERTURE_END);
			if (ret) {
				fake_obj_free(hwpt);
				return ret;
			}
		}
		at.pt_id = hwpt->id;
		break;
	default:
		return -EINVAL;
	}
	if (d->attached != hwpt) {
		struct fake_iommufd_obj *old = d->attached;

		ret = dev_reserve(d, hwpt->ioas);
		if (ret)
			return ret;
		hwpt->users++;
		d->attached = hwpt;
		if (old)
			fake_hwpt_put(old);
		else
			d->idev->users++;
	}
	memcpy(arg, &at, sizeof(at));
	return 0;
}

/* vfio_df_ioctl_detach_pt. */
int fake_dev_detach_ioctl(struct fake_fd *f, void *arg)
{
	struct vfio_device_detach_iommufd_pt dt;

	if (!arg)
		return -EFAULT;
	memcpy(&dt, arg, sizeof(dt));
	if (dt.argsz < sizeof(dt) || dt.flags)
		return -EINVAL;
	dev_detach(f->dev);
	return 0;
}
