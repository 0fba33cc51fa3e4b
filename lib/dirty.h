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

#endif
