// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VFIO_DEVICE_FEATURE plumbing (kernel-contract.md 2), migration
 * capabilities (3, 6, 8), MIG_DEVICE_STATE with the state remembered (4)
 * and PRECOPY_INFOv2 (16).
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
	       VFIOMIG_FEATURE_MIG_DATA_SIZE == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE &&
	       VFIOMIG_FEATURE_MIG_PRECOPY_INFO_V2 ==
		       VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2,
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
int vfm_v2_mig_flags(struct vfiomig_device *dev, uint64_t *flags)
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

/* The handle's protocol answers (v1: migv1.c); -ENOTTY without one. */
static int mig_flags(struct vfiomig_device *dev, uint64_t *flags)
{
	int p = vfm_mig_proto(dev);

	if (p < 0)
		return p;
	if (p == VFIOMIG_PROTO_NONE)
		return -ENOTTY;
	return vfm_mig_ops(dev)->flags(dev, flags);
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
	if ((flags & VFIOMIG_MIG_PRE_COPY) && vfm_precopy_v2(dev))
		features |= VFIOMIG_CAP_PRECOPY_V2;

	caps->migration_flags = flags;
	OPTS_SET(caps, features, features);
	OPTS_SET(caps, iommu_path, dev->iommu_path);
	return 0;
}

/* ------------------------------------------------------------------ */
/* MIG_DEVICE_STATE, remembered                                        */

static int v2_state_read(struct vfiomig_device *dev, uint32_t *state)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };
	int ret;

	ret = vfm_feature(dev,
			  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &mig, sizeof(mig));
	*state = mig.device_state;
	return ret;
}

/*
 * The ops of a state call.  While the protocol is not known yet, v2's: a
 * v2 device then sees exactly the calls it saw before v1 existed (no
 * FEATURE_MIGRATION first), and their ENOTTY is what sends the caller to
 * the detection (retry_v1()).
 */
static const struct vfm_mig_ops *state_ops(struct vfiomig_device *dev)
{
	int p = __atomic_load_n(&dev->proto, __ATOMIC_ACQUIRE);

	if (p < 0 && dev->proto_forced != VFIOMIG_PROTO_V1)
		return &vfm_mig_v2_ops;
	return vfm_mig_ops(dev);
}

/* A v2 state call answered ENOTTY on a device not known yet: v1's? */
static bool retry_v1(struct vfiomig_device *dev,
		     const struct vfm_mig_ops *ops, int ret)
{
	return ret == -ENOTTY && ops == &vfm_mig_v2_ops &&
	       vfm_mig_proto(dev) == VFIOMIG_PROTO_V1;
}

int vfm_mig_state_read(struct vfiomig_device *dev)
{
	const struct vfm_mig_ops *ops = state_ops(dev);
	unsigned int gen = vfm_dev_state_gen(dev);
	uint32_t state = 0;
	int ret;

	ret = ops->state_read(dev, &state);
	if (retry_v1(dev, ops, ret))
		ret = vfm_mig_v1_ops.state_read(dev, &state);
	if (!ret && state >= VFIO_DEVICE_STATE_NR)
		ret = -EPROTO;
	/* A SET noted meanwhile (another thread) is newer than this read. */
	vfm_dev_state_note_read(dev, ret < 0 ? -1 : (int)state, gen);
	return ret < 0 ? ret : (int)state;
}

int vfm_mig_state(struct vfiomig_device *dev)
{
	int s = vfm_dev_state_cached(dev);

	return s >= 0 ? s : vfm_mig_state_read(dev);
}

static int v2_state_write(struct vfiomig_device *dev, int to, int *fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = (uint32_t)to,
		.data_fd = -1,
	};
	int ret;

	*fd = -1;
	ret = vfm_feature(dev,
			  VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &mig, sizeof(mig));
	/* On failure the kernel rewrites the struct with the requested state
	 * and data_fd -1 (contract 4.1): it says nothing about the real
	 * state, which the caller reads back. */
	vfm_dev_state_note(dev, ret < 0 ? -1 : to);
	if (ret < 0 || mig.data_fd < 0)
		return ret;
	/* With stdin/stdout closed the kernel installs the data fd on 0 or
	 * 1, where a printf would write into the stream.  When it cannot be
	 * moved the device has moved all the same, with no fd: the kernel's
	 * own EMFILE case (contract 4.1). */
	ret = sys_fd_above_stdio(mig.data_fd);
	if (ret < 0)
		return ret;
	*fd = ret;
	return 0;
}

int vfm_mig_state_write(struct vfiomig_device *dev, int to, int *fd)
{
	const struct vfm_mig_ops *ops = state_ops(dev);
	int ret = ops->state_write(dev, to, fd);

	if (retry_v1(dev, ops, ret))
		ret = vfm_mig_v1_ops.state_write(dev, to, fd);
	return ret;
}

const struct vfm_mig_ops vfm_mig_v2_ops = {
	.name = "v2",
	.flags = vfm_v2_mig_flags,
	.state_read = v2_state_read,
	.state_write = v2_state_write,
	.data_read = vfm_v2_data_read,
	.data_write = vfm_v2_data_write,
	.precopy_info = vfm_v2_precopy_info,
};

/* ------------------------------------------------------------------ */
/* PRECOPY_INFOv2 (contract 16)                                        */

/*
 * Tried once per handle, before its first PRE_COPY session, so that a
 * session knows at its start whether PRECOPY_INFO's flags are the
 * kernel's: without v2 every 6.12 driver echoes what the caller sent.
 * ENOTTY (no such feature: 6.12, mtty) and EINVAL (no PRE_COPY) mean off.
 */
bool vfm_precopy_v2(struct vfiomig_device *dev)
{
	bool on;
	int ret;

	vfm_dev_lock(dev);
	if (!dev->precopy_v2_tried && !dev->no_precopy_v2) {
		ret = vfm_feature(dev,
				  VFIO_DEVICE_FEATURE_SET |
					  VFIOMIG_FEATURE_MIG_PRECOPY_INFO_V2,
				  NULL, 0);
		/* Another error (EIO, EINTR) is no answer: off for now,
		 * asked again before the next session. */
		dev->precopy_v2_tried = ret == 0 || ret == -ENOTTY ||
					ret == -EINVAL;
		dev->precopy_v2 = ret == 0;
		dbg(dev->ctx, "%s: PRECOPY_INFOv2: %s", vfm_dev_name(dev),
		    ret ? strerror(-ret) : "on");
	}
	on = dev->precopy_v2;
	vfm_dev_unlock(dev);
	return on;
}
