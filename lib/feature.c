// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VFIO_DEVICE_FEATURE plumbing (kernel-contract.md 2), migration
 * capabilities (3, 6, 8) and VFIO_DEVICE_RESET (7).
 */
#include <stdint.h>
#include <stdlib.h>
#include <linux/vfio.h>

#include "internal.h"

_Static_assert(VFIOMIG_FEATURE_MIGRATION == VFIO_DEVICE_FEATURE_MIGRATION &&
	       VFIOMIG_FEATURE_MIG_DEVICE_STATE ==
		       VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
	       VFIOMIG_FEATURE_DMA_LOGGING_START ==
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_START &&
	       VFIOMIG_FEATURE_DMA_LOGGING_STOP ==
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP &&
	       VFIOMIG_FEATURE_DMA_LOGGING_REPORT ==
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT &&
	       VFIOMIG_FEATURE_MIG_DATA_SIZE == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
	       "public feature indices are the kernel's");

int vfm_feature(struct vfiomig_device *dev, uint32_t flags, void *data,
		size_t len)
{
	/* Small payloads (every core feature) need no allocation. */
	union {
		struct vfio_device_feature hdr;
		uint64_t align;
		unsigned char bytes[128];
	} stack;
	struct vfio_device_feature *f = &stack.hdr;
	size_t sz = sizeof(*f) + len;
	int ret;

	if (len > UINT32_MAX - sizeof(*f) || (len && !data))
		return -EINVAL;
	if (sz > sizeof(stack)) {
		f = calloc(1, sz);
		if (!f)
			return -ENOMEM;
	}
	f->argsz = (uint32_t)sz;
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	ret = sys_ioctl(dev->fd, VFIO_DEVICE_FEATURE, f);
	/* GET fills the payload; SET may write it back (DMA_LOGGING_START's
	 * page_size; MIG_DEVICE_STATE even on failure), PROBE never does. */
	if (len && !(flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		memcpy(data, f->data, len);
	if (f != &stack.hdr)
		free(f);
	return ret;
}

/* 1 supported, 0 not, <0 error; ops in VFIO_DEVICE_FEATURE_GET/SET bits. */
static int probe(struct vfiomig_device *dev, uint32_t feature, uint32_t ops)
{
	int ret = vfm_feature(dev, VFIO_DEVICE_FEATURE_PROBE | ops | feature,
			      NULL, 0);

	switch (ret) {
	case 0:
		return 1;
	case -ENOTTY: /* no such feature (or no mig_ops/log_ops) */
		dbg(dev->ctx, "%s: feature %u: not supported (ENOTTY)",
		    vfm_dev_name(dev), feature);
		return 0;
	case -EINVAL: /* the feature exists, the operation does not */
		dbg(dev->ctx, "%s: feature %u: operation%s%s not supported (EINVAL)",
		    vfm_dev_name(dev), feature,
		    ops & VFIO_DEVICE_FEATURE_GET ? " GET" : "",
		    ops & VFIO_DEVICE_FEATURE_SET ? " SET" : "");
		return 0;
	default:
		err(dev->ctx, "%s: VFIO_DEVICE_FEATURE PROBE of feature %u: %s",
		    vfm_dev_name(dev), feature, strerror(-ret));
		return ret;
	}
}

static uint32_t kernel_ops(unsigned int flags)
{
	return (flags & VFIOMIG_FEATURE_GET ? VFIO_DEVICE_FEATURE_GET : 0) |
	       (flags & VFIOMIG_FEATURE_SET ? VFIO_DEVICE_FEATURE_SET : 0);
}

VFIOMIG_EXPORT int vfiomig_feature_probe(struct vfiomig_device *dev,
					 uint32_t feature, unsigned int flags)
{
	if (!dev)
		return -EINVAL;
	if (flags & ~(VFIOMIG_FEATURE_GET | VFIOMIG_FEATURE_SET) ||
	    feature > VFIO_DEVICE_FEATURE_MASK) {
		err(dev->ctx, "%s: bad feature probe (feature %u, flags 0x%x)",
		    vfm_dev_name(dev), feature, flags);
		return -EINVAL;
	}
	return probe(dev, feature, kernel_ops(flags));
}

static int feature_rw(struct vfiomig_device *dev, uint32_t feature,
		      void *data, size_t len, uint32_t op)
{
	int ret;

	if (!dev)
		return -EINVAL;
	if (feature > VFIO_DEVICE_FEATURE_MASK || (!data && len) ||
	    len > UINT32_MAX - sizeof(struct vfio_device_feature)) {
		err(dev->ctx, "%s: bad feature %s (feature %u, %zu bytes)",
		    vfm_dev_name(dev), op == VFIO_DEVICE_FEATURE_GET ? "GET" : "SET",
		    feature, len);
		return -EINVAL;
	}
	ret = vfm_feature(dev, op | feature, data, len);
	if (ret < 0)
		dbg(dev->ctx, "%s: feature %u %s: %s", vfm_dev_name(dev), feature,
		    op == VFIO_DEVICE_FEATURE_GET ? "GET" : "SET",
		    strerror(-ret));
	return ret;
}

VFIOMIG_EXPORT int vfiomig_feature_get(struct vfiomig_device *dev,
				       uint32_t feature, void *data, size_t len)
{
	return feature_rw(dev, feature, data, len, VFIO_DEVICE_FEATURE_GET);
}

VFIOMIG_EXPORT int vfiomig_feature_set(struct vfiomig_device *dev,
				       uint32_t feature, void *data, size_t len)
{
	return feature_rw(dev, feature, data, len, VFIO_DEVICE_FEATURE_SET);
}

/* FEATURE_GET|MIGRATION, cached; -ENOTTY (unlogged) without mig_ops. */
static int mig_flags(struct vfiomig_device *dev, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = { 0 };
	int ret;

	/* Any thread may fill the cache first: the flags are published
	 * before "known", and read after it. */
	if (!__atomic_load_n(&dev->mig_flags_known, __ATOMIC_ACQUIRE)) {
		ret = vfm_feature(dev,
				  VFIO_DEVICE_FEATURE_GET |
					  VFIO_DEVICE_FEATURE_MIGRATION,
				  &mig, sizeof(mig));
		if (ret < 0)
			return ret;
		__atomic_store_n(&dev->mig_flags, mig.flags, __ATOMIC_RELAXED);
		__atomic_store_n(&dev->mig_flags_known, true, __ATOMIC_RELEASE);
	}
	*flags = __atomic_load_n(&dev->mig_flags, __ATOMIC_RELAXED);
	return 0;
}

int vfm_device_mig_flags(struct vfiomig_device *dev, uint64_t *flags)
{
	int ret = mig_flags(dev, flags);

	if (ret == -ENOTTY)
		err(dev->ctx, "%s: device has no migration support (VFIO_DEVICE_FEATURE_MIGRATION: ENOTTY)",
		    vfm_dev_name(dev));
	else if (ret < 0)
		err(dev->ctx, "%s: VFIO_DEVICE_FEATURE_MIGRATION: %s",
		    vfm_dev_name(dev), strerror(-ret));
	return ret;
}

VFIOMIG_EXPORT int vfiomig_device_caps(struct vfiomig_device *dev,
				       struct vfiomig_caps *caps)
{
	uint64_t flags = 0;
	uint32_t features = 0;
	int ret;

	if (!dev || !caps ||
	    caps->sz < offsetofend(struct vfiomig_caps, migration_flags))
		return -EINVAL;

	ret = mig_flags(dev, &flags);
	if (ret == 0) {
		features |= VFIOMIG_CAP_MIGRATION;
	} else if (ret == -ENOTTY) {
		dbg(dev->ctx, "%s: no migration support", vfm_dev_name(dev));
		flags = 0;
	} else {
		err(dev->ctx, "%s: VFIO_DEVICE_FEATURE_MIGRATION: %s",
		    vfm_dev_name(dev), strerror(-ret));
		return ret;
	}
	ret = probe(dev, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
		    VFIO_DEVICE_FEATURE_GET);
	if (ret < 0)
		return ret;
	if (ret)
		features |= VFIOMIG_CAP_MIG_DATA_SIZE;
	ret = probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
		    VFIO_DEVICE_FEATURE_SET);
	if (ret < 0)
		return ret;
	if (ret)
		features |= VFIOMIG_CAP_DMA_LOGGING;

	caps->migration_flags = flags;
	OPTS_SET(caps, features, features);
	OPTS_SET(caps, iommu_path, dev->iommu_path);
	return 0;
}

VFIOMIG_EXPORT int vfiomig_device_reset(struct vfiomig_device *dev)
{
	int ret;

	if (!dev)
		return -EINVAL;
	vfm_dev_lock(dev);
	if (dev->session.busy) {
		err(dev->ctx, "%s: reset while a transfer is in flight",
		    vfm_dev_name(dev));
		ret = -EBUSY;
		goto out;
	}
	ret = sys_ioctl(dev->fd, VFIO_DEVICE_RESET, NULL);
	if (ret < 0) {
		err(dev->ctx, "%s: VFIO_DEVICE_RESET: %s", vfm_dev_name(dev),
		    strerror(-ret));
		goto out;
	}
	/* The kernel disables every migration data fd on reset, and the
	 * device forgets what a refused load left in it. */
	vfm_session_reset(dev);
out:
	vfm_dev_unlock(dev);
	return ret;
}
