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
#include <sys/types.h>

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

/*
 * vfm_ranges_normalize() then, when more than max remain, the reduction:
 * at most max ranges covering in[0..n) with the least area (the plan of
 * vfiomig_dirty_plan_ranges()), in a new array of exactly the returned
 * count (*outp, freed by the caller; NULL when 0).  One allocation.
 * Errors as vfm_ranges_normalize(), and -EINVAL for max 0 with n > 0.
 */
int vfm_ranges_plan(const struct vfiomig_range *in, size_t n, uint64_t align,
		    size_t max, struct vfiomig_range **outp);

/* The k-th smallest of a[0..n) (k < n, counting from 0), a[] permuted so
 * that a[0..k) <= a[k] <= a[k+1..n): quickselect for `budget` rounds, then
 * heapsort (the plan's budget is 2 log2(n) + 8: O(n) expected, O(n log n)
 * at worst).  Used by the plan; declared for its test. */
uint64_t vfm_u64_select(uint64_t *a, size_t n, size_t k, unsigned int budget);

/* ----------------------------------------------------------- range set */

/*
 * A set of disjoint IOVA ranges (touching ones stay apart) for a dirty
 * tracker's bookkeeping: unmaps cut ranges out of it, queries walk the
 * ranges of a window.  The fields are ranges.c's own: use the functions.
 *
 * Cost, n the live ranges (a treap: "expected" is over its own random
 * priorities, not over the caller's ranges, and holds for any input;
 * nothing is amortized but the pool's growth):
 *   init       O(n); its ranges form a balanced tree (depth <= log2 n + 1)
 *   first      O(log n) expected
 *   next       O(1) worst case
 *   remove     O(log n) expected, plus O(1) per range it deletes whole
 *              (trimming a head or tail, deleting one range, and
 *              splitting one in two are each O(log n) expected)
 *   add        O(log n) expected
 *   copy       O(n)
 * A split or add may grow the node pool by doubling (one realloc, O(n)
 * copying, O(1) amortized); nothing else allocates, and the pool is not
 * shrunk before fini.  Memory: 40 bytes a range (a plain array: 16).
 *
 * A returned range pointer and a cursor are valid until the next remove,
 * add or fini.  Not thread-safe: the owner serialises (a tracker's lock).
 */
struct vfm_rs_node {
	struct vfiomig_range r;
	uint32_t left, right;  /* the tree, by iova */
	uint32_t prev, next;   /* the list in iova order; next: free list */
	uint32_t prio;         /* heap order of the tree */
};

struct vfm_rangeset {
	struct vfm_rs_node *node; /* pool; node[0] is the list's sentinel */
	size_t cap, used;         /* nodes allocated, nodes ever handed out */
	size_t count;             /* live ranges */
	uint32_t root;            /* tree root, 0: empty */
	uint32_t free;            /* first free node, 0: none */
	uint64_t seed;            /* priority generator */
};

/* Copy sorted, disjoint (touching allowed, not merged) non-empty ranges
 * ending below 2^64.  0, or -EINVAL (rs NULL, sorted NULL with n > 0, a
 * range empty, overlapping or out of order, or reaching 2^64) / -ENOMEM;
 * on failure *rs is zeroed (an empty set fini accepts).  A zeroed struct
 * is an empty set too. */
int vfm_rangeset_init(struct vfm_rangeset *rs,
		      const struct vfiomig_range *sorted, size_t n);

/* Free everything; *rs zeroed.  NULL and repeated calls are fine. */
void vfm_rangeset_fini(struct vfm_rangeset *rs);

/* Live ranges. */
size_t vfm_rangeset_count(const struct vfm_rangeset *rs);

/* Iteration in iova order: the first live range whose end is above iova,
 * NULL if none; then the next one after *cursor, NULL past the last. */
const struct vfiomig_range *vfm_rangeset_first(const struct vfm_rangeset *rs,
					       uint64_t iova, size_t *cursor);
const struct vfiomig_range *vfm_rangeset_next(const struct vfm_rangeset *rs,
					      size_t *cursor);

/* Remove [iova, iova + length) (an end past 2^64 means "to the top"),
 * trimming or splitting the ranges it cuts.  0, or -ENOMEM (a split found
 * no memory for its second half; nothing changed). */
int vfm_rangeset_remove(struct vfm_rangeset *rs, uint64_t iova,
			uint64_t length);

/* Add [iova, iova + length), which must overlap no live range (touching is
 * fine; it is not merged).  0, -EEXIST (an overlap; nothing changed),
 * -ENOMEM (nothing changed), -EINVAL (rs NULL, length 0, an end at or past
 * 2^64). */
int vfm_rangeset_add(struct vfm_rangeset *rs, uint64_t iova, uint64_t length);

/* The live ranges in order, in a new array (*out, freed by the caller;
 * NULL when empty).  Returns the count or -ENOMEM. */
ssize_t vfm_rangeset_copy(const struct vfm_rangeset *rs,
			  struct vfiomig_range **out);

#endif
