// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IOVA ranges: planning for DMA logging, and the tracker's range set.
 *
 * Planning.  Device DMA logging accepts at most LOG_MAX_RANGES =
 * PAGE_SIZE/16 ranges (256 with 4 KiB pages; more -> E2BIG) that must not
 * overlap and must be aligned to the logging page size (kernel-contract.md
 * 8.1).  A guest may have more mapped ranges than that.  The plan covers
 * all of them with at most `max` ranges and the least extra area:
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
 *
 * Ties are broken the one deterministic way: gaps ordered by (size, index),
 * the first m-max of that order are closed, so among equal gaps the ones
 * nearer the bottom of the address space close first.
 *
 * Cost: O(n) but for the sort.  One pass aligns, checks and notes whether
 * the input is already sorted (the tracker's ranges are); an unsorted
 * input is sorted by an LSD radix sort over the key bits that differ
 * (8-bit digits, a ping-pong buffer; insertion sort below RADIX_MIN), then
 * merged in one pass.  Reduction computes the gaps once, finds the
 * (m-max)-th smallest by introselect (O(m) expected, heapsort fallback),
 * and closes gaps in one more pass.  vfiomig_dirty_plan_ranges() makes one
 * allocation (2n ranges: the copy and the sort's and the gaps' scratch).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ranges.h"

/* ------------------------------------------------------------ sorting */

/* Below this many ranges insertion sort beats the radix passes. */
#define RADIX_MIN 64

static void insertion_sort(struct vfiomig_range *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct vfiomig_range x = r[i];
		size_t j = i;

		while (j && r[j - 1].iova > x.iova) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

/*
 * LSD radix sort of r[0..n) by iova, 8 bits a pass over the bits where the
 * keys differ (diff: non-zero; bits outside it are equal in every key),
 * skipping digits in which no two keys differ.  tmp holds n ranges.
 * Returns the array that holds the sorted result: r or tmp.
 */
static struct vfiomig_range *radix_sort(struct vfiomig_range *r,
					struct vfiomig_range *tmp, size_t n,
					uint64_t diff)
{
	unsigned int lo = (unsigned int)__builtin_ctzll(diff);
	unsigned int hi = 64 - (unsigned int)__builtin_clzll(diff);
	unsigned int passes = (hi - lo + 7) / 8;
	size_t cnt[8][256];
	struct vfiomig_range *src = r, *dst = tmp;

	memset(cnt, 0, passes * sizeof(cnt[0]));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = r[i].iova >> lo;

		for (unsigned int p = 0; p < passes; p++)
			cnt[p][(k >> (8 * p)) & 0xff]++;
	}
	for (unsigned int p = 0; p < passes; p++) {
		unsigned int sh = lo + 8 * p;
		size_t sum = 0;

		/* a digit no key differs in (bits that vary on both sides) */
		if (cnt[p][(r[0].iova >> sh) & 0xff] == n)
			continue;
		for (unsigned int b = 0; b < 256; b++) {
			size_t c = cnt[p][b];

			cnt[p][b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[p][(src[i].iova >> sh) & 0xff]++] = src[i];
		struct vfiomig_range *t = src;
		src = dst;
		dst = t;
	}
	return src;
}

/* ---------------------------------------------------------- selection */

static inline void swap64(uint64_t *a, uint64_t *b)
{
	uint64_t t = *a;

	*a = *b;
	*b = t;
}

static void sift_down(uint64_t *a, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[i] >= a[c])
			return;
		swap64(&a[i], &a[c]);
		i = c;
	}
}

static void heap_sort64(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i--;)
		sift_down(a, i, n);
	for (size_t i = n; i-- > 1;) {
		swap64(&a[0], &a[i]);
		sift_down(a, 0, i);
	}
}

/*
 * The k-th smallest of a[0..n) (k < n, from 0), a[] permuted so that
 * a[0..k) <= a[k] <= a[k+1..n) (nth_element).  Quickselect on the median
 * of three with Hoare's partition (even runs of equal values split in
 * the middle); after `budget` rounds the rest is heapsorted.  With the
 * plan's budget, 2 log2(n) + 8, the worst case is O(n log n) and the
 * expected O(n).
 */
uint64_t vfm_u64_select(uint64_t *a, size_t n, size_t k, unsigned int budget)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 16) {
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi - 1;
		uint64_t p;

		if (!budget--) {
			heap_sort64(a + lo, hi - lo);
			return a[k];
		}
		/* a[lo] <= a[mid] <= a[hi - 1]: sentinels for both scans. */
		if (a[mid] < a[lo])
			swap64(&a[mid], &a[lo]);
		if (a[hi - 1] < a[mid]) {
			swap64(&a[hi - 1], &a[mid]);
			if (a[mid] < a[lo])
				swap64(&a[mid], &a[lo]);
		}
		p = a[mid];
		for (;;) {
			while (a[i] < p)
				i++;
			while (a[j] > p)
				j--;
			if (i >= j)
				break;
			swap64(&a[i], &a[j]);
			i++;
			j--;
		}
		/* a[lo..j] <= p <= a[j+1..hi), lo <= j < hi - 1 */
		if (k <= j)
			hi = j + 1;
		else
			lo = j + 1;
	}
	for (size_t i = lo + 1; i < hi; i++) {
		uint64_t x = a[i];
		size_t j = i;

		while (j > lo && a[j - 1] > x) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
	return a[k];
}

/* ----------------------------------------------------------- planning */

/*
 * Align in[0..n) (n >= 1) outward into r, sort and merge in place; tmp is
 * scratch of n ranges (NULL: insertion sort only, any n).  Returns the
 * number of merged ranges or -EINVAL/-EOVERFLOW (r then holds garbage).
 */
static int normalize_into(const struct vfiomig_range *in, size_t n,
			  uint64_t align, struct vfiomig_range *r,
			  struct vfiomig_range *tmp)
{
	const uint64_t mask = ~(align - 1);
	uint64_t any = 0, all = UINT64_MAX, prev = 0, start, end;
	bool unsorted = false;
	const struct vfiomig_range *s = r;
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t iova = in[i].iova, e;

		if (!in[i].length)
			return -EINVAL;
		/* The exclusive end must stay below 2^64, even once aligned:
		 * aligned up it is at most 2^64, which wraps to 0. */
		if (__builtin_add_overflow(iova, in[i].length, &e) ||
		    !(e = ((e - 1) & mask) + align))
			return -EOVERFLOW;
		iova &= mask;
		r[i].iova = iova;
		r[i].length = e - iova;
		unsorted |= iova < prev;
		prev = iova;
		any |= iova;
		all &= iova;
	}
	if (unsorted) {
		if (!tmp || n < RADIX_MIN) {
			insertion_sort(r, n);
		} else {
			/* the bits where keys differ: some, as it is unsorted */
			s = radix_sort(r, tmp, n, any ^ all);
		}
	}
	/* Merge overlapping and touching ranges (s may be r: m <= i - 1). */
	start = s[0].iova;
	end = start + s[0].length;
	for (size_t i = 1; i < n; i++) {
		uint64_t a = s[i].iova, e = a + s[i].length;

		if (a <= end) {
			if (e > end)
				end = e;
		} else {
			r[m].iova = start;
			r[m].length = end - start;
			m++;
			start = a;
			end = e;
		}
	}
	r[m].iova = start;
	r[m].length = end - start;
	return (int)(m + 1);
}

/*
 * Close the n - max smallest gaps of sorted, disjoint r[0..n) (n > max >=
 * 1), by (size, index), writing the result to out (which may be r).  gap
 * is scratch for n - 1 values.  Returns the count, max.
 */
static size_t reduce_into(const struct vfiomig_range *r, size_t n, size_t max,
			  uint64_t *gap, struct vfiomig_range *out)
{
	size_t k = n - max, eq = 0, m = 0; /* k gaps close, 1 <= k <= n-1 */
	uint64_t t, start, end;

	for (size_t i = 0; i + 1 < n; i++)
		gap[i] = r[i + 1].iova - (r[i].iova + r[i].length);
	t = vfm_u64_select(gap, n - 1, k - 1,
			   2 * (64 - (unsigned int)__builtin_clzll(n)) + 8);
	/* The k smallest are gap[0..k): those < t all close, and of those
	 * equal to t as many as are among them, lowest index first. */
	for (size_t i = 0; i < k; i++)
		eq += gap[i] == t;

	start = r[0].iova;
	end = start + r[0].length;
	for (size_t i = 1; i < n; i++) {
		uint64_t a = r[i].iova, g = a - end;

		if (g < t || (g == t && eq)) {
			eq -= g == t;
		} else {
			out[m].iova = start;
			out[m].length = end - start;
			m++;
			start = a;
		}
		end = a + r[i].length;
	}
	out[m].iova = start;
	out[m].length = end - start;
	return m + 1;
}

/* Checks shared by the entry points: 0, or the errno. */
static int check_input(const struct vfiomig_range *in, size_t n,
		       uint64_t align, size_t *bytes)
{
	if (!in || !vfm_is_pow2(align) ||
	    !vfm_array_bytes(n, sizeof(*in), bytes))
		return -EINVAL;
	if (n > INT_MAX)
		return -EOVERFLOW; /* the count is returned as an int */
	/* 2n ranges: the copy and its scratch */
	if (!vfm_array_bytes(n, 2 * sizeof(*in), bytes))
		return -EINVAL;
	return 0;
}

int vfm_ranges_normalize(const struct vfiomig_range *in, size_t n,
			 uint64_t align, struct vfiomig_range **outp)
{
	return vfm_ranges_plan(in, n, align, SIZE_MAX, outp);
}

int vfm_ranges_plan(const struct vfiomig_range *in, size_t n, uint64_t align,
		    size_t max, struct vfiomig_range **outp)
{
	struct vfiomig_range *r, *shrunk;
	size_t bytes;
	int m;

	*outp = NULL;
	if (!n)
		return 0;
	if (!max)
		return -EINVAL;
	m = check_input(in, n, align, &bytes);
	if (m)
		return m;
	r = malloc(bytes);
	if (!r)
		return -ENOMEM;
	m = normalize_into(in, n, align, r, r + n);
	if (m > 0 && (size_t)m > max)
		m = (int)reduce_into(r, (size_t)m, max, (uint64_t *)(r + n), r);
	if (m < 0) {
		free(r);
		return m;
	}
	/* Give back the scratch and what merging freed. */
	shrunk = realloc(r, (size_t)m * sizeof(*r));
	*outp = shrunk ? shrunk : r;
	return m;
}

int vfm_ranges_reduce(struct vfiomig_range *r, size_t n, size_t max)
{
	uint64_t *gap;

	if (n <= max)
		return (int)n;
	if (!max)
		return -EINVAL;
	gap = malloc((n - 1) * sizeof(*gap)); /* no larger than r[] */
	if (!gap)
		return -ENOMEM;
	n = reduce_into(r, n, max, gap, r);
	free(gap);
	return (int)n;
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
	size_t bytes;
	int m;

	if ((n && !in) || !out || !max || !vfm_is_pow2(page_size))
		return -EINVAL;
	if (!n)
		return 0;
	m = check_input(in, n, page_size, &bytes);
	if (m)
		return m;
	r = malloc(bytes);
	if (!r)
		return -ENOMEM;
	m = normalize_into(in, n, page_size, r, r + n);
	if (m > 0 && (size_t)m > max)
		m = (int)reduce_into(r, (size_t)m, max, (uint64_t *)(r + n), out);
	else if (m > 0)
		memcpy(out, r, (size_t)m * sizeof(*r));
	free(r);
	return m;
}

/* ---------------------------------------------------------- range set */

/*
 * A treap (a binary search tree on iova, a max-heap on random priorities)
 * whose nodes also form a doubly linked list in iova order.  Nodes live in
 * one pool and refer to each other by index, so the pool can grow by
 * realloc; node 0 is the list's sentinel (its next is the first range, its
 * prev the last) and, as a tree link, "none".  Freed nodes are chained
 * through `next` for reuse.
 *
 * Ranges are disjoint, so ordering by iova orders by end as well; cutting
 * a range's head or tail keeps that order, so trimming edits a node in
 * place.  Removing a run of whole ranges splits the run out of the tree
 * by key (two splits and a merge).
 *
 * Priorities: the ranges given to init form a perfectly balanced tree (the
 * top bits of a priority are 1 + the trailing zeros of the node's position
 * 1..n, so depth <= log2(n) + 1, with fewer cache misses than a random
 * treap's ~1.39 log2 n); nodes made later (adds, the halves of splits)
 * take priorities below all of those, random in the low bits, so they
 * form random treaps hanging under the balanced part: expected depth
 * O(log n) whatever the ranges.  The random bits come from a xorshift
 * generator in the set itself, seeded the same for every set: runs are
 * reproducible.  Deleting keeps heap order, so the shape stays sound.
 */
#define RS_NONE 0
/* Random priority bits; the bits above are init's levels. */
#define RS_LEVEL_SHIFT 26
#define RS_LOW_PRIO ((UINT32_C(1) << RS_LEVEL_SHIFT) - 1)

static inline struct vfm_rs_node *nd(const struct vfm_rangeset *rs,
				     uint32_t i)
{
	return &rs->node[i];
}

static uint32_t rs_prio(struct vfm_rangeset *rs)
{
	uint64_t x = rs->seed;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rs->seed = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32) & RS_LOW_PRIO;
}

#define RS_SEED 0x9e3779b97f4a7c15ULL
/* Up to this many whole ranges are deleted one by one; more are split
 * out of the tree at once (two splits and a merge). */
#define RS_FEW 4
/* Indices are uint32_t and 0 is the sentinel. */
#define RS_MAX_NODES ((size_t)UINT32_MAX)

/* Room for `want` more nodes than are in use (free list or pool), growing
 * the pool by doubling.  0 or -ENOMEM (the set unchanged). */
static int rs_reserve(struct vfm_rangeset *rs, size_t want)
{
	size_t nfree = 0, used = rs->node ? rs->used : 1, need, cap, bytes;
	struct vfm_rs_node *p;

	for (uint32_t f = rs->free; f && nfree < want; f = nd(rs, f)->next)
		nfree++;
	need = used + (want - nfree);
	if (need <= rs->cap)
		return 0;
	if (need > RS_MAX_NODES)
		return -ENOMEM;
	for (cap = rs->cap ? rs->cap : 8; cap < need; cap *= 2)
		;
	if (cap > RS_MAX_NODES)
		cap = RS_MAX_NODES;
	if (!vfm_array_bytes(cap, sizeof(*p), &bytes))
		return -ENOMEM;
	p = realloc(rs->node, bytes);
	if (!p)
		return -ENOMEM;
	if (!rs->node) {
		memset(&p[0], 0, sizeof(p[0])); /* the empty list */
		rs->used = 1;
	}
	rs->node = p;
	rs->cap = cap;
	return 0;
}

/* A node from the free list or the pool (rs_reserve made room). */
static uint32_t rs_new(struct vfm_rangeset *rs, uint64_t iova, uint64_t len)
{
	uint32_t i = rs->free;
	struct vfm_rs_node *x;

	if (i)
		rs->free = nd(rs, i)->next;
	else
		i = (uint32_t)rs->used++;
	x = nd(rs, i);
	x->r.iova = iova;
	x->r.length = len;
	x->left = x->right = RS_NONE;
	x->prio = rs_prio(rs);
	return i;
}

/* Split tree t into *l (iova < key) and *r (iova >= key). */
static void rs_split(struct vfm_rangeset *rs, uint32_t t, uint64_t key,
		     uint32_t *l, uint32_t *r)
{
	uint32_t *lp = l, *rp = r;

	while (t) {
		struct vfm_rs_node *x = nd(rs, t);

		if (x->r.iova < key) {
			*lp = t;
			lp = &x->right;
			t = x->right;
		} else {
			*rp = t;
			rp = &x->left;
			t = x->left;
		}
	}
	*lp = *rp = RS_NONE;
}

/* Join trees a and b, every key of a below every key of b. */
static uint32_t rs_merge(struct vfm_rangeset *rs, uint32_t a, uint32_t b)
{
	uint32_t root, *slot = &root;

	while (a && b) {
		if (nd(rs, a)->prio > nd(rs, b)->prio) {
			*slot = a;
			slot = &nd(rs, a)->right;
			a = *slot;
		} else {
			*slot = b;
			slot = &nd(rs, b)->left;
			b = *slot;
		}
	}
	*slot = a ? a : b;
	return root;
}

/* Put node x in the tree and in the list before node `succ` (0: last):
 * down to where x's priority belongs, then split what hangs there. */
static void rs_insert(struct vfm_rangeset *rs, uint32_t x, uint32_t succ)
{
	struct vfm_rs_node *nx = nd(rs, x);
	uint32_t pred = nd(rs, succ)->prev, *slot = &rs->root;

	while (*slot && nd(rs, *slot)->prio > nx->prio) {
		struct vfm_rs_node *t = nd(rs, *slot);

		slot = nx->r.iova < t->r.iova ? &t->left : &t->right;
	}
	rs_split(rs, *slot, nx->r.iova, &nx->left, &nx->right);
	*slot = x;
	nx->prev = pred;
	nx->next = succ;
	nd(rs, pred)->next = x;
	nd(rs, succ)->prev = x;
	rs->count++;
}

/* Take node x out of the tree (its children merged in its place) and out
 * of the list, onto the free list. */
static void rs_delete(struct vfm_rangeset *rs, uint32_t x)
{
	struct vfm_rs_node *nx = nd(rs, x);
	uint32_t *slot = &rs->root;

	while (*slot != x) {
		struct vfm_rs_node *t = nd(rs, *slot);

		slot = nx->r.iova < t->r.iova ? &t->left : &t->right;
	}
	*slot = rs_merge(rs, nx->left, nx->right);
	nd(rs, nx->prev)->next = nx->next;
	nd(rs, nx->next)->prev = nx->prev;
	nx->next = rs->free;
	rs->free = x;
	rs->count--;
}

/* The first node whose range ends after iova, or 0. */
static uint32_t rs_find(const struct vfm_rangeset *rs, uint64_t iova)
{
	uint32_t t = rs->root, best = RS_NONE;

	while (t) {
		const struct vfm_rs_node *x = nd(rs, t);

		/* both ways down, before the comparison decides */
		__builtin_prefetch(nd(rs, x->left));
		__builtin_prefetch(nd(rs, x->right));
		if (x->r.iova + x->r.length > iova) {
			best = t;
			t = x->left;
		} else {
			t = x->right;
		}
	}
	return best;
}

int vfm_rangeset_init(struct vfm_rangeset *rs,
		      const struct vfiomig_range *sorted, size_t n)
{
	uint32_t top = RS_NONE;
	uint64_t prev_end = 0;
	int ret;

	if (!rs)
		return -EINVAL;
	memset(rs, 0, sizeof(*rs));
	rs->seed = RS_SEED;
	if (!n)
		return 0;
	if (!sorted)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t end;

		if (!sorted[i].length || sorted[i].iova < prev_end ||
		    !vfm_range_end(sorted[i].iova, sorted[i].length, &end))
			return -EINVAL;
		prev_end = end;
	}
	if (n >= RS_MAX_NODES)
		return -ENOMEM;
	ret = rs_reserve(rs, n);
	if (ret)
		return ret;
	/*
	 * Nodes 1..n in order; the tree is the Cartesian tree of the
	 * priorities, built left to right in O(n) with its right spine as a
	 * stack (linked through `next`, set for the list afterwards).  The
	 * level of position i is 1 + ctz(i) (at most 32: 6 bits above the
	 * random 26): a balanced tree.
	 */
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t last = RS_NONE;
		struct vfm_rs_node *x;

		(void)rs_new(rs, sorted[i - 1].iova, sorted[i - 1].length);
		x = nd(rs, i);
		x->prio |= (uint32_t)(1 + __builtin_ctz(i)) << RS_LEVEL_SHIFT;
		while (top && nd(rs, top)->prio < x->prio) {
			last = top;
			top = nd(rs, top)->next;
		}
		x->left = last;
		if (top)
			nd(rs, top)->right = i;
		else
			rs->root = i;
		x->next = top;
		top = i;
	}
	for (uint32_t i = 0; i <= n; i++) {
		nd(rs, i)->next = i == n ? 0 : i + 1;
		nd(rs, i)->prev = i == 0 ? (uint32_t)n : i - 1;
	}
	rs->count = n;
	return 0;
}

void vfm_rangeset_fini(struct vfm_rangeset *rs)
{
	if (!rs)
		return;
	free(rs->node);
	memset(rs, 0, sizeof(*rs));
}

size_t vfm_rangeset_count(const struct vfm_rangeset *rs)
{
	return rs ? rs->count : 0;
}

const struct vfiomig_range *vfm_rangeset_first(const struct vfm_rangeset *rs,
					       uint64_t iova, size_t *cursor)
{
	uint32_t i = rs && rs->root ? rs_find(rs, iova) : RS_NONE;

	*cursor = i;
	return i ? &nd(rs, i)->r : NULL;
}

const struct vfiomig_range *vfm_rangeset_next(const struct vfm_rangeset *rs,
					      size_t *cursor)
{
	uint32_t i;

	if (!rs || !rs->node || !*cursor || *cursor >= rs->used)
		return NULL;
	i = nd(rs, (uint32_t)*cursor)->next;
	*cursor = i;
	return i ? &nd(rs, i)->r : NULL;
}

int vfm_rangeset_remove(struct vfm_rangeset *rs, uint64_t iova,
			uint64_t length)
{
	uint64_t end, fend;
	uint32_t f, g, pred, l, mid, r;
	struct vfm_rs_node *x;
	size_t k = 0;
	int ret;

	if (!rs || !rs->root || !length)
		return 0;
	if (!vfm_range_end(iova, length, &end))
		end = UINT64_MAX; /* no range reaches 2^64 */
	f = rs_find(rs, iova);
	if (!f || nd(rs, f)->r.iova >= end)
		return 0;
	x = nd(rs, f);
	fend = x->r.iova + x->r.length;
	if (x->r.iova < iova) {
		if (fend > end) {
			/* [iova, end) inside one range: split it */
			uint32_t y;

			ret = rs_reserve(rs, 1);
			if (ret)
				return ret;
			y = rs_new(rs, end, fend - end);
			nd(rs, f)->r.length = iova - nd(rs, f)->r.iova;
			rs_insert(rs, y, nd(rs, f)->next);
			return 0;
		}
		x->r.length = iova - x->r.iova; /* cut its tail */
		f = x->next;
	}
	/* Ranges starting at or after iova: whole ones go, a last one
	 * reaching past end loses its head. */
	pred = nd(rs, f)->prev;
	for (g = f; g && nd(rs, g)->r.iova + nd(rs, g)->r.length <= end;
	     g = nd(rs, g)->next)
		k++;
	if (k && k <= RS_FEW) {
		/* one descent each */
		for (uint32_t i = f, nx; i != g; i = nx) {
			nx = nd(rs, i)->next;
			rs_delete(rs, i);
		}
	} else if (k) {
		/* Out of the tree: the keys [iova of f, iova of g). */
		rs_split(rs, rs->root, nd(rs, f)->r.iova, &l, &r);
		if (g)
			rs_split(rs, r, nd(rs, g)->r.iova, &mid, &r);
		rs->root = rs_merge(rs, l, g ? r : RS_NONE);
		/* ...and out of the list, onto the free list. */
		nd(rs, pred)->next = g;
		nd(rs, g)->prev = pred;
		for (uint32_t i = f, nx; i != g; i = nx) {
			nx = nd(rs, i)->next;
			nd(rs, i)->next = rs->free;
			rs->free = i;
		}
		rs->count -= k;
	}
	if (g && nd(rs, g)->r.iova < end) {
		x = nd(rs, g);
		x->r.length -= end - x->r.iova;
		x->r.iova = end; /* same place in the order */
	}
	return 0;
}

int vfm_rangeset_add(struct vfm_rangeset *rs, uint64_t iova, uint64_t length)
{
	uint64_t end;
	uint32_t f, x;
	int ret;

	if (!rs || !length || !vfm_range_end(iova, length, &end))
		return -EINVAL;
	f = rs->root ? rs_find(rs, iova) : RS_NONE;
	if (f && nd(rs, f)->r.iova < end)
		return -EEXIST;
	if (rs->count >= RS_MAX_NODES - 1)
		return -ENOMEM;
	ret = rs_reserve(rs, 1);
	if (ret)
		return ret;
	if (!rs->seed)
		rs->seed = RS_SEED; /* a zeroed set */
	x = rs_new(rs, iova, length);
	rs_insert(rs, x, f);
	return 0;
}

ssize_t vfm_rangeset_copy(const struct vfm_rangeset *rs,
			  struct vfiomig_range **out)
{
	struct vfiomig_range *a;
	size_t n = 0;

	*out = NULL;
	if (!rs || !rs->count)
		return 0;
	a = malloc(rs->count * sizeof(*a));
	if (!a)
		return -ENOMEM;
	for (uint32_t i = nd(rs, 0)->next; i; i = nd(rs, i)->next)
		a[n++] = nd(rs, i)->r;
	*out = a;
	return (ssize_t)n;
}
