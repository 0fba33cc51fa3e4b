/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * IOVA ranges, private and pure: lib/ranges.c includes only this header
 * and libc (no context, no kernel), so its tests compile it alone.  The
 * rules for arithmetic at the edges (every range ends below 2^64) and
 * their helpers are in bitmap.h.
 */
#ifndef VFIOMIG_RANGES_H
#define VFIOMIG_RANGES_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "vfiomig.h"
#include "bitmap.h" /* the edge helpers */

/*
 * Copy in[0..n) aligned outward to `align` (a power of two), sorted by iova,
 * with overlapping and adjacent ranges merged, into a new array (*outp,
 * freed by the caller). Returns the number of ranges or -EINVAL (zero
 * length, NULL, an array too large to exist) / -EOVERFLOW (a range, once
 * aligned, does not end below 2^64; more than INT_MAX ranges) / -ENOMEM.
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
