/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty page tracking, private: the tracker, the backend interface, and
 * the bitmap and range helpers shared by lib/dirty*.c, lib/bitmap.c and
 * lib/ranges.c.
 *
 * Bitmaps everywhere are LSB-first in 64-bit words: bit n of a bitmap
 * based at `base` with page size `ps` stands for [base + n*ps, +ps).
 */
#ifndef VFIOMIG_DIRTY_H
#define VFIOMIG_DIRTY_H

#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

#define BITS_TO_WORDS(n) (((n) + 63) / 64)

static inline bool vfm_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static inline unsigned int vfm_log2(uint64_t pow2)
{
	return (unsigned int)__builtin_ctzll(pow2);
}

static inline uint64_t vfm_align_down(uint64_t x, uint64_t pow2)
{
	return x & ~(pow2 - 1);
}

/* ------------------------------------------------------------ bitmap.c */

/* Set bits [start, start + n). */
void vfm_bitmap_set(uint64_t *bm, uint64_t start, uint64_t n);

/*
 * OR into dst (based at dbase, dps-byte pages, dnbits bits) every page that
 * overlaps a set page of src (sbase, sps, snbits). Page sizes are powers of
 * two, bases multiples of their page size. Word-at-a-time whenever page
 * boundaries line up (always, except a coarser dst page straddled by the
 * start of src), else run by run.
 */
void vfm_bitmap_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
		      uint64_t dnbits, const uint64_t *src, uint64_t sbase,
		      uint64_t sps, uint64_t snbits);

/* ------------------------------------------------------------ ranges.c */

/*
 * Copy in[0..n) aligned outward to `align` (a power of two), sorted by iova,
 * with overlapping and adjacent ranges merged, into a new array (*outp,
 * freed by the caller). Returns the number of ranges or -EINVAL (zero
 * length, NULL) / -EOVERFLOW (end past 2^64) / -ENOMEM.
 */
int vfm_ranges_normalize(const struct vfiomig_range *in, size_t n,
			 uint64_t align, struct vfiomig_range **outp);

/* Merge the smallest gaps of sorted, disjoint r[0..n) until at most max
 * remain (in place). Returns the new count, or -ENOMEM. */
int vfm_ranges_reduce(struct vfiomig_range *r, size_t n, size_t max);

/* Index of the first range of sorted r[0..n) that ends after iova. */
size_t vfm_ranges_find(const struct vfiomig_range *r, size_t n,
		       uint64_t iova);

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
