// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's iommufd contexts and objects (test-only):
 * drivers/iommu/iommufd/main.c: the object table (ids, users, DESTROY),
 * the size convention of iommufd_fops_ioctl and its dispatch, the VFIO
 * compat numbers (contract 10).  IOAS map/unmap are in fake-ioas.c, HWPTs
 * and the selftest mock in fake-dirty.c.
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

#ifndef IOMMU_TEST_CMD
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)
#endif
#define FAKE_IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, 0x84)

/* ------------------------------------------------------------------ */
/* iommufd contexts and objects (drivers/iommu/iommufd/main.c).        */

struct fake_iommufd *fake_ictx_new(void)
{
	struct fake_iommufd *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	if (fake_vec_add((void ***)&F.ictxs, &F.nictxs, &F.ictxs_cap, x)) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	x->refs = 1;
	return x;
}

struct fake_iommufd_obj *fake_ictx_obj(struct fake_iommufd *x, uint32_t id)
{
	for (struct fake_iommufd_obj *o = x ? x->objs : NULL; o; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

/* Unlink and free, dropping what it holds on others; no users check. */
void fake_obj_free(struct fake_iommufd_obj *o)
{
	struct fake_iommufd_obj **pp;

	for (pp = &o->ictx->objs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	if (o->destroy)
		o->destroy(o);
	if ((o->type == FIO_HWPT_PAGING || o->type == FIO_HWPT_NESTED) &&
	    o->ioas && !o->ictx->closing) {
		o->ioas->users--;
		/* iopt_table_remove_domain: its aperture spans go */
		fake_ioas_unreserve(o->ioas, o);
	}
	free(o->maps);
	free(o->resv);
	free(o);
}

void fake_ictx_put(struct fake_iommufd *x)
{
	if (--x->refs > 0)
		return;
	/* iommufd_fops_release: destroy everything.  Every destroy() hook
	 * runs (newest object first) before any object is freed, so a hook
	 * may still look at the objects it references. */
	for (;;) {
		struct fake_iommufd_obj *o, *pick = NULL;
		void (*fn)(struct fake_iommufd_obj *);

		for (o = x->objs; o; o = o->next)
			if (o->destroy)
				pick = o; /* the last one with a hook */
		if (!pick)
			break;
		fn = pick->destroy;
		pick->destroy = NULL;
		fn(pick);
	}
	x->closing = true;
	while (x->objs)
		fake_obj_free(x->objs);
	fake_vec_del((void **)F.ictxs, &F.nictxs, x);
	free(x);
}

struct fake_iommufd_obj *fake_ictx_obj_new(struct fake_iommufd *x, int type)
{
	struct fake_iommufd_obj *o, **pp;
	uint32_t id = 1;

	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	/* Lowest free id from 1 (xa_alloc with XA_FLAGS_ALLOC1). */
	for (pp = &x->objs; *pp && (*pp)->id == id; pp = &(*pp)->next)
		id++;
	o->id = id;
	o->type = type;
	o->users = 1;
	o->ictx = x;
	o->next = *pp;
	*pp = o;
	return o;
}

struct fake_iommufd_obj *fake_iommufd_obj(struct fake_fd *iommufd, uint32_t id)
{
	return iommufd ? fake_ictx_obj(iommufd->ictx, id) : NULL;
}

struct fake_iommufd_obj *fake_iommufd_obj_type(struct fake_fd *iommufd,
					       uint32_t id, int type)
{
	struct fake_iommufd_obj *o = fake_iommufd_obj(iommufd, id);

	return o && o->type == type ? o : NULL;
}

struct fake_iommufd_obj *fake_iommufd_obj_new(struct fake_fd *iommufd,
					      int type)
{
	if (!iommufd || !iommufd->ictx) {
		errno = EINVAL;
		return NULL;
	}
	return fake_ictx_obj_new(iommufd->ictx, type);
}

/* main.c:iommufd_object_remove for IOMMU_DESTROY. */
static int ictx_obj_destroy(struct fake_iommufd *x, uint32_t id)
{
	struct fake_iommufd_obj *o = fake_ictx_obj(x, id);

	if (!o)
		return -ENOENT;
	if (o->users != 1)
		return -EBUSY;
	fake_obj_free(o);
	return 0;
}

int fake_iommufd_obj_destroy(struct fake_fd *iommufd, uint32_t id)
{
	return iommufd ? ictx_obj_destroy(iommufd->ictx, id) : -ENOENT;
}

struct fake_iommufd_obj *fake_iommufd_obj_next(struct fake_iommufd_obj *prev)
{
	int i = 0;

	if (prev) {
		if (prev->next)
			return prev->next;
		for (i = 0; i < F.nictxs; i++)
			if (F.ictxs[i] == prev->ictx)
				break;
		i++;
	}
	for (; i < F.nictxs; i++)
		if (F.ictxs[i]->objs)
			return F.ictxs[i]->objs;
	return NULL;
}

uint64_t fake_ioas_alignment(struct fake_iommufd_obj *ioas)
{
	uint64_t a = 1;

	for (struct fake_iommufd_obj *o = ioas->ictx->objs; o; o = o->next) {
		if (o->type == FIO_ACCESS && o->dev && o->dev->attached == ioas &&
		    a < FAKE_PAGE_SIZE)
			a = FAKE_PAGE_SIZE; /* needs_pin_pages */
		if ((o->type == FIO_HWPT_PAGING) && o->ioas == ioas) {
			uint64_t p = o->pgsize ? o->pgsize : FAKE_PAGE_SIZE;

			if (a < p)
				a = p;
		}
	}
	return a;
}

/* HWPT reference from a device dropped (iommufd_hw_pagetable_put): an
 * auto domain goes away with its last device. */
void fake_hwpt_put(struct fake_iommufd_obj *h)
{
	h->users--;
	if (h->auto_domain && h->users == 1)
		fake_obj_free(h);
}

/* Per-command sizes for iommufd_fops_ioctl: struct size and min_size
 * (offsetofend of the IOCTL_OP's last member), main.c. */
static const struct {
	uint8_t size, min;
} iommufd_ops[0x21] = {
	[0x00] = { 8, 8 },   /* DESTROY */
	[0x01] = { 12, 12 }, /* IOAS_ALLOC */
	[0x02] = { 24, 24 }, /* IOAS_ALLOW_IOVAS */
	[0x03] = { 40, 40 }, /* IOAS_COPY */
	[0x04] = { 32, 32 }, /* IOAS_IOVA_RANGES */
	[0x05] = { 40, 40 }, /* IOAS_MAP */
	[0x06] = { 24, 24 }, /* IOAS_UNMAP */
	[0x07] = { 24, 24 }, /* OPTION */
	[0x08] = { 12, 12 }, /* VFIO_IOAS */
	[0x09] = { 48, 24 }, /* HWPT_ALLOC */
	[0x0a] = { 40, 32 }, /* GET_HW_INFO */
	[0x0b] = { 16, 16 }, /* HWPT_SET_DIRTY_TRACKING */
	[0x0c] = { 48, 48 }, /* HWPT_GET_DIRTY_BITMAP */
	[0x0d] = { 32, 32 }, /* HWPT_INVALIDATE */
	[0x0e] = { 16, 16 }, /* FAULT_QUEUE_ALLOC */
	[0x20] = { 72, 68 }, /* TEST_CMD (CONFIG_IOMMUFD_TEST, as in the VM) */
};

/* vfio_compat.c:iommufd_vfio_ioctl (numbers outside the iommufd table).
 * No compat IOAS is modeled (IOMMU_VFIO_IOAS is not), hence ENODEV. */
static int iommufd_vfio_compat(unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return arg == VFIO_TYPE1_IOMMU || arg == VFIO_TYPE1v2_IOMMU ||
		       arg == FAKE_VFIO_UNMAP_ALL;
	case VFIO_SET_IOMMU:
	case VFIO_IOMMU_GET_INFO:
	case VFIO_IOMMU_MAP_DMA:
	case VFIO_IOMMU_UNMAP_DMA:
		return -ENODEV;
	default:
		return -ENOTTY;
	}
}

/* main.c:iommufd_fops_ioctl. */
int fake_iommufd_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	unsigned int nr = _IOC_NR(cmd);
	unsigned char buf[FAKE_IOMMUFD_CMD_MAX];
	uint32_t usize;
	size_t ksize;
	bool respond = false;
	int ret;

	if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= 0x21)
		return iommufd_vfio_compat(cmd, (unsigned long)arg);
	nr -= IOMMUFD_CMD_BASE;
	if (!iommufd_ops[nr].size || cmd != _IO(IOMMUFD_TYPE, nr + 0x80))
		return -ENOTTY;
	if (!arg)
		return -EFAULT;
	memcpy(&usize, arg, sizeof(usize));
	if (usize < iommufd_ops[nr].min)
		return -EINVAL;
	/* copy_struct_from_user */
	ksize = iommufd_ops[nr].size;
	memset(buf, 0, sizeof(buf));
	if (usize > ksize) {
		for (size_t i = ksize; i < usize; i++)
			if (((unsigned char *)arg)[i])
				return -E2BIG;
	}
	memcpy(buf, arg, usize < ksize ? usize : ksize);

	switch (cmd) {
	case IOMMU_DESTROY:
		ret = ictx_obj_destroy(f->ictx, ((struct iommu_destroy *)buf)->id);
		break;
	case IOMMU_IOAS_ALLOC: {
		struct iommu_ioas_alloc *c = (void *)buf;
		struct fake_iommufd_obj *o;

		if (c->flags) {
			ret = -EOPNOTSUPP;
			break;
		}
		o = fake_ictx_obj_new(f->ictx, FIO_IOAS);
		if (!o) {
			ret = -ENOMEM;
			break;
		}
		c->out_ioas_id = o->id;
		ret = 0;
		break;
	}
	case IOMMU_IOAS_MAP:
		ret = fake_ioas_map_ioctl(f->ictx, (void *)buf);
		break;
	case IOMMU_IOAS_UNMAP:
		ret = fake_ioas_unmap_ioctl(f->ictx, (void *)buf);
		break;
	case FAKE_IOMMU_IOAS_IOVA_RANGES:
		ret = fake_ioas_iova_ranges(f->ictx, (void *)buf, &respond);
		break;
	case IOMMU_HWPT_ALLOC:
	case IOMMU_GET_HW_INFO:
	case IOMMU_HWPT_SET_DIRTY_TRACKING:
	case IOMMU_HWPT_GET_DIRTY_BITMAP:
	case IOMMU_TEST_CMD:
		ret = fake_iommufd_dirty_ioctl(f, cmd, buf);
		break;
	default:
		/* ALLOW_IOVAS, COPY, OPTION, VFIO_IOAS, HWPT_INVALIDATE,
		 * FAULT_QUEUE_ALLOC: not modeled by the fake. */
		ret = -EOPNOTSUPP;
		break;
	}
	if (!ret || respond) /* iommufd_ucmd_respond */
		memcpy(arg, buf, usize < ksize ? usize : ksize);
	return ret;
}
