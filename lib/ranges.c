// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IOVA range planning.
 *
 * Device DMA logging accepts at most LOG_MAX_RANGES = PAGE_SIZE/16 ranges
 * (256 with 4 KiB pages; more -> E2BIG) that must not overlap and must be
 * aligned to the logging page size (kernel-contract.md 8.1).  A guest may
 * have more mapped ranges than that.  The plan covers all of them with at
 * most `max` ranges and the least extra area:
 *
 *   1. align every range outward to the page size, sort, merge overlapping
 *      and touching ranges: m disjoint ranges with m-1 gaps between them;
 *   2. if m > max, close the m-max smallest gaps.
 *
 * Step 2 is optimal: whatever ranges a plan uses, each is a union of
 * consecutive merged ranges plus the gaps between them (a plan range that
 * ends inside a gap can be shrunk), so a plan is a choice of which gaps to
 * close, its area is the fixed total plus the closed gaps, and at least
 * m-max gaps must be closed.  The cheapest such choice is the m-max
 * smallest.  tests/test-ranges.c checks this against brute force.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

static int cmp_iova(const void *a, const void *b)
{
	const struct vfiomig_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

int vfm_ranges_normalize(const struct vfiomig_range *in, size_t n,
			 uint64_t align, struct vfiomig_range **outp)
{
	struct vfiomig_range *r;
	size_t m = 0, bytes;

	*outp = NULL;
	if (!n)
		return 0;
	if (!in || !vfm_is_pow2(align) || !vfm_array_bytes(n, sizeof(*r), &bytes))
		return -EINVAL;
	if (n > INT_MAX)
		return -EOVERFLOW; /* the count is returned as an int */
	for (size_t i = 0; i < n; i++) {
		uint64_t end;

		if (!in[i].length)
			return -EINVAL;
		/* The exclusive end must stay below 2^64, even once aligned. */
		if (!vfm_range_end(in[i].iova, in[i].length, &end) ||
		    !vfm_range_end(vfm_align_down(end - 1, align), align, &end))
			return -EOVERFLOW;
	}
	r = malloc(bytes);
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t last = in[i].iova + in[i].length - 1;

		r[i].iova = vfm_align_down(in[i].iova, align);
		r[i].length = vfm_align_down(last, align) + align - r[i].iova;
	}
	qsort(r, n, sizeof(*r), cmp_iova);

	for (size_t i = 1; i < n; i++) {
		uint64_t end = r[m].iova + r[m].length;

		if (r[i].iova <= end) {
			uint64_t e2 = r[i].iova + r[i].length;

			if (e2 > end)
				r[m].length = e2 - r[m].iova;
		} else {
			r[++m] = r[i];
		}
	}
	*outp = r;
	return (int)(m + 1);
}

struct gap {
	uint64_t size;
	size_t idx; /* gap after range idx */
};

static int cmp_gap(const void *a, const void *b)
{
	const struct gap *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int vfm_ranges_reduce(struct vfiomig_range *r, size_t n, size_t max)
{
	struct gap *g;
	unsigned char *close;
	size_t k, m = 0;

	if (n <= max)
		return (int)n;
	if (!max)
		return -EINVAL;
	/* n - 1 gaps: fewer elements than r[], and no larger. */
	g = malloc((n - 1) * sizeof(*g));
	close = calloc(n, 1);
	if (!g || !close) {
		free(g);
		free(close);
		return -ENOMEM;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		g[i].size = r[i + 1].iova - (r[i].iova + r[i].length);
		g[i].idx = i;
	}
	qsort(g, n - 1, sizeof(*g), cmp_gap);
	for (k = 0; k < n - max; k++)
		close[g[k].idx] = 1;

	/* Ranges joined by closed gaps become one. */
	for (size_t i = 1; i < n; i++) {
		if (close[i - 1])
			r[m].length = r[i].iova + r[i].length - r[m].iova;
		else
			r[++m] = r[i];
	}
	free(g);
	free(close);
	return (int)(m + 1);
}

size_t vfm_ranges_find(const struct vfiomig_range *r, size_t n, uint64_t iova)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].iova + r[mid].length <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

VFIOMIG_EXPORT int vfiomig_dirty_plan_ranges(const struct vfiomig_range *in,
					     size_t n, uint64_t page_size,
					     struct vfiomig_range *out,
					     size_t max)
{
	struct vfiomig_range *r;
	int m;

	if ((n && !in) || !out || !max || !vfm_is_pow2(page_size))
		return -EINVAL;
	m = vfm_ranges_normalize(in, n, page_size, &r);
	if (m <= 0)
		return m;
	m = vfm_ranges_reduce(r, (size_t)m, max);
	if (m > 0)
		memcpy(out, r, (size_t)m * sizeof(*r));
	free(r);
	return m;
}
