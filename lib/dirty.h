/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty page tracking, private: the tracker and the backend interface
 * shared by lib/dirty*.c.  The pure bitmap and range helpers, and the
 * rules for arithmetic at the edges, are in bitmap.h.
 */
#ifndef VFIOMIG_DIRTY_H
#define VFIOMIG_DIRTY_H

#include <inttypes.h>
#include <stdio.h>

#include "internal.h"
#include "bitmap.h"

/* ------------------------------------------------------------- tracker */

/* Kernel bitmaps go through one scratch buffer per tracker, allocated at
 * start(): this many bytes (4 GiB of IOVA per kernel call at 4 KiB), or
 * for Type1 the bitmap of the largest mapping if that is bigger. */
#define VFM_DIRTY_SCRATCH_BYTES (128u * 1024)

struct vfiomig_dirty;

struct vfm_dirty_ops {
	int backend;
	/* Begin tracking tr->ranges; *page_size in: the caller's wish, out:
	 * the granularity the backend tracks at. */
	int (*start)(struct vfiomig_dirty *tr, uint64_t *page_size);
	int (*stop)(struct vfiomig_dirty *tr);
	/* Optional: refuse a query or unmap range before anything is
	 * touched (Type1: it must not bisect a mapping). */
	int (*check_range)(struct vfiomig_dirty *tr, uint64_t iova,
			   uint64_t length);
	/* OR the dirty pages of [iova, iova + length) into bm (based at iova,
	 * ps-byte pages). 0 or the first kernel error. */
	int (*query)(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length,
		     uint64_t ps, uint64_t *bm, unsigned int flags);
	/* Optional: unmap and OR the dirty bits, in one kernel operation
	 * (Type1); without it, dirty.c queries then unmaps. */
	int (*unmap)(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length,
		     uint64_t ps, uint64_t *bm);
	/* Undo what backend setup did (re-attach devices, free HWPT). */
	void (*release)(struct vfiomig_dirty *tr);
};

struct vfm_dirty_dev {
	uint64_t log_pgsize;  /* DMA logging: page size the kernel answered */
	bool logging;         /* DMA logging started on this device */
	bool attached;        /* iommufd: re-attached to our HWPT */
	uint32_t prev_pt;     /* iommufd: attachment to restore */
};

struct vfiomig_dirty {
	struct vfiomig_ctx *ctx;
	struct vfiomig_device **devs;
	struct vfm_dirty_dev *dd;     /* per device */
	size_t ndevs;
	int backend;
	const struct vfm_dirty_ops *ops;
	char reason[512];
	bool started;
	uint64_t page_size;           /* tracking granularity once started */

	/* The caller's ranges from start(), sorted, non-overlapping (not
	 * merged: for Type1 each one is a mapping). */
	struct vfiomig_range *ranges;
	size_t nranges;

	uint64_t *scratch;
	size_t scratch_bytes;

	/* IOMMU context: a Type1 container, or an iommufd + IOAS. */
	int container_fd;             /* -1 if none */
	int iommufd;                  /* -1 if none */
	uint32_t ioas_id;

	/* DMA logging: the ranges given to the kernel. */
	struct vfiomig_range *plan;
	size_t nplan;

	/* iommufd */
	uint32_t hwpt_id;
	bool own_hwpt;
	uint32_t *dev_ids;            /* iommufd device ids: the VFIO devices'
				       * first, then opts->dev_ids */
	size_t n_dev_ids;
	size_t n_vfio_dev_ids;

	/* Type1 migration capability */
	uint64_t t1_pgsize;
	uint64_t t1_max_bitmap;
};

extern const struct vfm_dirty_ops vfm_dirty_dmalog_ops;
extern const struct vfm_dirty_ops vfm_dirty_iommufd_ops;
extern const struct vfm_dirty_ops vfm_dirty_type1_ops;

/* Availability probes: 0 = usable, else -errno with why[] filled. */
int vfm_dmalog_probe(struct vfiomig_dirty *tr, char *why, size_t len);
int vfm_iommufd_probe(struct vfiomig_dirty *tr, char *why, size_t len);
int vfm_type1_probe(struct vfiomig_dirty *tr, char *why, size_t len);
/* iommufd backend setup: find or allocate the dirty HWPT, attach the
 * VFIO devices to it. */
int vfm_iommufd_setup(struct vfiomig_dirty *tr, uint32_t hwpt_id);

/* Plain unmap through the tracker's IOMMU context (no bitmap). */
int vfm_dirty_unmap_plain(struct vfiomig_dirty *tr, uint64_t iova,
			  uint64_t length);
/* Drop [iova, iova + length) from the tracked ranges (after an unmap). */
int vfm_dirty_forget(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length);
/* Make the scratch buffer at least bytes long (start() only). */
int vfm_dirty_scratch_reserve(struct vfiomig_dirty *tr, size_t bytes);
/* The scratch buffer for a kernel call covering nbits bits, zeroed. */
uint64_t *vfm_dirty_scratch(struct vfiomig_dirty *tr, uint64_t nbits);
/* Largest number of bits one kernel call may put in the scratch buffer. */
static inline uint64_t vfm_dirty_scratch_bits(const struct vfiomig_dirty *tr)
{
	return (uint64_t)tr->scratch_bytes * 8;
}

/* Fill buf with the dirty bits of [iova, iova + length) at page size kps
 * (one kernel call); 0 or -errno. */
typedef int (*vfm_dirty_read_fn)(struct vfiomig_dirty *tr, void *arg,
				 uint64_t iova, uint64_t length, uint64_t kps,
				 uint64_t *buf);
/*
 * OR into bm (based at iova, ps-byte pages) the dirty pages of every range
 * of sorted r[0..nr) inside [iova, iova + length), read by fn at page size
 * kps through the scratch buffer: in chunks aligned to the chunk size in
 * absolute IOVA, so a chunk never splits a large IOMMU page.  0 or fn's
 * first error.
 */
int vfm_dirty_read_chunked(struct vfiomig_dirty *tr,
			   const struct vfiomig_range *r, size_t nr,
			   uint64_t iova, uint64_t length, uint64_t ps,
			   uint64_t *bm, uint64_t kps, vfm_dirty_read_fn fn,
			   void *arg);

/* iommufd helpers (dirty-iommufd.c), also used by the device-level
 * vfiomig_iommufd_hw_caps(). */
int vfm_iommufd_hw_caps(int iommufd, uint32_t dev_id, uint64_t *caps);
/* Type1 helpers (dirty-type1.c). The capability chain parser is pure
 * (dirty-type1-caps.c): buf/buflen is what GET_INFO filled; 0, -ENOENT
 * (no migration capability) or -EPROTO (malformed). */
int vfm_type1_parse_mig_cap(const void *buf, size_t buflen, uint64_t *pgsize,
			    uint64_t *max_bitmap);
int vfm_type1_mig_cap(struct vfiomig_ctx *ctx, int container_fd,
		      uint64_t *pgsize, uint64_t *max_bitmap);

#endif
