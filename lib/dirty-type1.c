// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty tracking backend: the Type1 container (kernel-contract.md 9).
 *
 * VFIO_IOMMU_GET_INFO's migration capability gives the dirty page size
 * (the smallest IOMMU page, exactly what every call must use) and the
 * largest bitmap one call may fill (256 MiB in 6.12).  VFIO_IOMMU_DIRTY_PAGES
 * START/STOP/GET_BITMAP, and UNMAP_DMA with GET_DIRTY_BITMAP.
 *
 * GET_BITMAP must not bisect a mapping (EINVAL) and the kernel cannot list
 * the mappings, so the ranges given to start() are taken to be exactly the
 * container's mappings.  The query loop (dirty.c) groups consecutive
 * mappings into one call while the bitmap of the span fits the kernel's
 * limit, straight into the caller's bitmap when it can (same page size,
 * no ACCUMULATE, the group starting a word), else through the tracker's
 * scratch buffer; no call bisects a mapping.  GET_BITMAP always
 * clears; NO_CLEAR cannot be honoured.  What it reports (9.5): with a
 * physical (IOMMU-backed) device in the container every mapped page, every
 * time; with mdevs only, only pages pinned or written through vfio_dma_rw().
 */
#include <stdlib.h>
#include <linux/vfio.h>
#include "vfio-args.h"

#include "dirty.h"
#include "ranges.h"

int vfm_type1_mig_cap(struct vfiomig_ctx *ctx, int container_fd,
		      uint64_t *pgsize, uint64_t *max_bitmap)
{
	size_t sz = sizeof(struct vfio_iommu_type1_info);
	void *buf = NULL;
	int ret;

	/* The kernel writes back the argsz it needs when the caps do not
	 * fit; ask again with that (bounded, a few times at most). Starting
	 * with the bare struct costs one call and means this path runs, and
	 * is tested, every time. */
	for (int tries = 0; tries < 4; tries++) {
		struct vfio_iommu_type1_info *info;

		free(buf);
		buf = calloc(1, sz);
		if (!buf)
			return -ENOMEM;
		info = buf;
		info->argsz = (uint32_t)sz;
		ret = sys_ioctl(container_fd, VFIO_IOMMU_GET_INFO, info);
		if (ret < 0) {
			err(ctx, "VFIO_IOMMU_GET_INFO: %s", strerror(-ret));
			free(buf);
			return ret;
		}
		if (info->argsz <= sz)
			break;
		if (info->argsz > 65536) {
			err(ctx, "VFIO_IOMMU_GET_INFO wants argsz %u: too large",
			    info->argsz);
			free(buf);
			return -EPROTO;
		}
		sz = info->argsz;
		ret = -EPROTO; /* if the kernel keeps asking for more */
	}
	if (!ret)
		ret = vfm_type1_parse_mig_cap(buf, sz, pgsize, max_bitmap);
	if (ret == -EPROTO)
		err(ctx, "VFIO_IOMMU_GET_INFO: malformed capability chain");
	free(buf);
	return ret == -ENOENT ? -EOPNOTSUPP : ret;
}

VFIOMIG_EXPORT int vfiomig_type1_dirty_caps(struct vfiomig_device *dev,
					    uint64_t *pgsize,
					    uint64_t *max_bitmap_bytes)
{
	uint64_t ps, max;
	int ret;

	if (!dev)
		return -EINVAL;
	if (dev->iommu_path != VFIOMIG_IOMMU_TYPE1 || dev->container_fd < 0)
		return -ENOENT;
	ret = vfm_type1_mig_cap(dev->ctx, dev->container_fd, &ps, &max);
	if (ret)
		return ret;
	if (pgsize)
		*pgsize = ps;
	if (max_bitmap_bytes)
		*max_bitmap_bytes = max;
	return 0;
}

int vfm_type1_probe(struct vfiomig_dirty *tr, char *why, size_t len)
{
	int ret;

	if (tr->container_fd < 0) {
		snprintf(why, len, tr->ndevs > 1 ? "the devices share no Type1 "
			 "container" : "no Type1 container");
		return -ENODEV;
	}
	if (tr->n_dev_ids) {
		snprintf(why, len, "iommufd device ids given");
		return -EOPNOTSUPP;
	}
	ret = vfm_type1_mig_cap(tr->ctx, tr->container_fd, &tr->t1_pgsize,
				&tr->t1_max_bitmap);
	if (ret) {
		snprintf(why, len, ret == -EOPNOTSUPP ?
			 "the container has no migration capability" :
			 "VFIO_IOMMU_GET_INFO: %s", strerror(-ret));
		return -EOPNOTSUPP;
	}
	snprintf(why, len, "container migration capability: page size %#"
		 PRIx64 ", bitmap up to %#" PRIx64 " bytes per call",
		 tr->t1_pgsize, tr->t1_max_bitmap);
	return 0;
}

/* Bytes of the kernel's bitmap for span bytes: ALIGN(npages, 64) / 8. */
static uint64_t bitmap_bytes(const struct vfiomig_dirty *tr, uint64_t span)
{
	return BITS_TO_WORDS(span / tr->t1_pgsize) * 8;
}

static int dirty_pages(struct vfiomig_dirty *tr, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap db = {
		.argsz = sizeof(db),
		.flags = flag,
	};
	int ret = sys_ioctl(tr->container_fd, VFIO_IOMMU_DIRTY_PAGES, &db);

	if (ret < 0)
		err(tr->ctx, "VFIO_IOMMU_DIRTY_PAGES %s: %s",
		    flag == VFIO_IOMMU_DIRTY_PAGES_FLAG_START ? "START" : "STOP",
		    strerror(-ret));
	return ret < 0 ? ret : 0;
}

/* Can one mapping be tracked: on the IOMMU page, its bitmap within what
 * one call may fill? */
static int check_mapping(struct vfiomig_dirty *tr, const char *what,
			 uint64_t iova, uint64_t length)
{
	uint64_t b;

	if (iova % tr->t1_pgsize || length % tr->t1_pgsize) {
		err(tr->ctx, "Type1 dirty %s: mapping [%#" PRIx64 ", +%#" PRIx64
		    ") not aligned to the IOMMU page size %#" PRIx64, what,
		    iova, length, tr->t1_pgsize);
		return -EINVAL;
	}
	b = bitmap_bytes(tr, length);
	if (b > tr->t1_max_bitmap) {
		err(tr->ctx, "Type1 dirty %s: mapping [%#" PRIx64 ", +%#" PRIx64
		    ") needs a %#" PRIx64 "-byte bitmap, more than the "
		    "kernel's %#" PRIx64, what, iova, length, b,
		    tr->t1_max_bitmap);
		return -E2BIG;
	}
	return 0;
}

static int type1_start(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	int ret;

	for (size_t i = 0; i < tr->n_start_ranges; i++) {
		const struct vfiomig_range *r = &tr->start_ranges[i];

		ret = check_mapping(tr, "start", r->iova, r->length);
		if (ret)
			return ret;
	}
	/* Reads fill at most the kernel's bitmap limit; the query loop
	 * groups mappings under it (and under its scratch buffer when the
	 * kernel cannot write straight into the caller's bitmap). */
	tr->read_max = tr->t1_max_bitmap;
	ret = dirty_pages(tr, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
	if (!ret)
		*page_size = tr->t1_pgsize;
	return ret;
}

/* A mapping made while tracking: the kernel gives it a bitmap of its own
 * (vfio_dma_do_map, contract 9.5); the tracker needs it to be one it can
 * read. */
static int type1_add_range(struct vfiomig_dirty *tr, uint64_t iova,
			   uint64_t length, bool *lost)
{
	(void)lost;
	return check_mapping(tr, "tracking", iova, length);
}

static int type1_stop(struct vfiomig_dirty *tr)
{
	return dirty_pages(tr, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
}

/* The kernel reads and clears whole mappings: a query or unmap must not
 * split one. */
static int type1_check_range(struct vfiomig_dirty *tr, uint64_t iova,
			     uint64_t length)
{
	uint64_t end = iova + length;
	size_t cur;
	const struct vfiomig_range *r;

	r = vfm_rangeset_first(&tr->ranges, iova, &cur);
	if (r && r->iova < iova)
		goto bisect;
	/* the range holding end - 1, if any: this one when it reaches end */
	if (r && r->iova + r->length < end)
		r = vfm_rangeset_first(&tr->ranges, end - 1, &cur);
	if (r && r->iova < end && r->iova + r->length > end)
		goto bisect;
	return 0;
bisect:
	err(tr->ctx, "Type1: [%#" PRIx64 ", +%#" PRIx64 ") splits the mapping "
	    "[%#" PRIx64 ", +%#" PRIx64 "); the kernel reads and clears whole "
	    "mappings only", iova, length, r->iova, r->length);
	return -EINVAL;
}

/* The primitive: one GET_BITMAP of [iova, +length), whole mappings, into
 * buf; the kernel writes whole words (zeros too) except over holes. */
static int type1_read(struct vfiomig_dirty *tr, size_t unit, uint64_t iova,
		      uint64_t length, uint64_t kps, uint64_t *buf,
		      unsigned int flags)
{
	struct vfm_dirty_get_bitmap a = {
		.argsz = sizeof(a),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		.get = {
			.iova = iova,
			.size = length,
			.bitmap = {
				.pgsize = kps,
				.size = bitmap_bytes(tr, length),
				.data = (__u64 *)buf,
			},
		},
	};
	int ret;

	(void)unit;
	(void)flags; /* GET_BITMAP always clears */
	ret = sys_ioctl(tr->container_fd, VFIO_IOMMU_DIRTY_PAGES, &a);
	if (ret < 0) {
		err(tr->ctx, "VFIO_IOMMU_DIRTY_PAGES GET_BITMAP [%#" PRIx64
		    ", +%#" PRIx64 "): %s", iova, length, strerror(-ret));
		return ret;
	}
	return 0;
}

/* UNMAP_DMA with GET_DIRTY_BITMAP: the same bitmap, and the mappings
 * gone, in one kernel operation. */
static int type1_unmap_read(struct vfiomig_dirty *tr, uint64_t iova,
			    uint64_t length, uint64_t kps, uint64_t *buf)
{
	struct vfm_unmap_dirty a = {
		.argsz = sizeof(a),
		.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
		.iova = iova,
		.size = length,
		.bitmap = {
			.pgsize = kps,
			.size = bitmap_bytes(tr, length),
			.data = (__u64 *)buf,
		},
	};
	int ret;

	ret = sys_ioctl(tr->container_fd, VFIO_IOMMU_UNMAP_DMA, &a);
	if (ret < 0) {
		err(tr->ctx, "VFIO_IOMMU_UNMAP_DMA GET_DIRTY_BITMAP [%#" PRIx64
		    ", +%#" PRIx64 "): %s", iova, length, strerror(-ret));
		return ret;
	}
	return 0;
}

const struct vfm_dirty_ops vfm_dirty_type1_ops = {
	.backend = VFIOMIG_DIRTY_TYPE1,
	.start = type1_start,
	.stop = type1_stop,
	.check_range = type1_check_range,
	.read = type1_read,
	.unmap_read = type1_unmap_read,
	.add_range = type1_add_range,
	/* Chunk rule: whole mappings (several, holes between them allowed)
	 * up to the kernel's bitmap limit per call; the kernel writes whole
	 * words. */
	.whole_ranges = true,
	.overwrites = true,
};
