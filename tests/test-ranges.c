// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Range planning (lib/ranges.c, compiled in).  vfiomig_dirty_plan_ranges()
 * must cover every input page with at most `max` aligned, sorted, disjoint
 * ranges of least total length.  Optimality is checked against two
 * independent exact methods on small inputs: a dynamic program over pages
 * (cover the needed pages with at most k intervals, minimise covered
 * pages), which knows nothing about gaps, and a literal brute force over
 * every subset of gaps to bridge.  The fast plan (radix sort, selection)
 * is also compared, output for output, with the 0.1 code (qsort of the
 * ranges and of (gap, index) pairs), kept here as a reference.
 *
 * The range set (vfm_rangeset_*) is run through random operations beside
 * a plain sorted array, with every allocation failing in turn: a failed
 * call must leave the set as it was.  The allocator is wrapped at link
 * time (-Wl,--wrap=malloc,--wrap=realloc) so failures can be injected.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "ranges.h"

/* ------------------------------------------------ allocation failures */

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_realloc(void *p, size_t size);

/* 0: never fail; k > 0: the k-th allocation from now fails. */
static unsigned long fail_countdown;
static unsigned long alloc_calls;

static bool alloc_fails(void)
{
	alloc_calls++;
	return fail_countdown && !--fail_countdown;
}

void *__wrap_malloc(size_t size)
{
	return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return alloc_fails() ? NULL : __real_realloc(p, size);
}

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/*
 * Least number of pages covering all `need` pages (0..npages) with at most
 * max intervals. dp[k][in]: best cost so far using k intervals, currently
 * inside an interval or not.
 */
static uint64_t dp_optimum(const bool *need, size_t npages, size_t max)
{
	const uint64_t INF = UINT64_MAX / 2;
	uint64_t *cur = malloc((max + 1) * 2 * sizeof(*cur));
	uint64_t *nxt = malloc((max + 1) * 2 * sizeof(*nxt));
	uint64_t best = INF;

	ck_assert_ptr_nonnull(cur);
	ck_assert_ptr_nonnull(nxt);
	for (size_t k = 0; k <= max; k++)
		cur[k * 2] = cur[k * 2 + 1] = INF;
	cur[0] = 0;
	for (size_t i = 0; i < npages; i++) {
		for (size_t k = 0; k <= max; k++)
			nxt[k * 2] = nxt[k * 2 + 1] = INF;
		for (size_t k = 0; k <= max; k++) {
			uint64_t out = cur[k * 2], in = cur[k * 2 + 1];
			uint64_t o = out < in ? out : in; /* may close here */

			/* page i outside any interval */
			if (!need[i] && o < nxt[k * 2])
				nxt[k * 2] = o;
			/* page i inside: continue the open one... */
			if (in + 1 < nxt[k * 2 + 1])
				nxt[k * 2 + 1] = in + 1;
			/* ...or open a new one */
			if (k < max && o + 1 < nxt[(k + 1) * 2 + 1])
				nxt[(k + 1) * 2 + 1] = o + 1;
		}
		uint64_t *t = cur;
		cur = nxt;
		nxt = t;
	}
	for (size_t k = 0; k <= max * 2 + 1; k++)
		if (cur[k] < best)
			best = cur[k];
	free(cur);
	free(nxt);
	return best;
}

/*
 * A second, literal brute force: the maximal runs of needed pages, and
 * every subset of the gaps between them to bridge; a subset leaving at
 * most max intervals is a plan, its cost the pages it covers.
 */
static uint64_t subset_optimum(const bool *need, size_t npages, size_t max)
{
	uint64_t run_a[64], run_b[64], best = UINT64_MAX;
	size_t m = 0;

	for (size_t i = 0; i < npages; i++) {
		if (!need[i])
			continue;
		if (m && run_b[m - 1] == i) {
			run_b[m - 1] = i + 1;
		} else {
			ck_assert_uint_lt(m, 64);
			run_a[m] = i;
			run_b[m++] = i + 1;
		}
	}
	if (!m)
		return 0;
	ck_assert_uint_le(m, 20);
	for (uint64_t set = 0; set < (1ULL << (m - 1)); set++) {
		uint64_t cost = 0, start = run_a[0];
		size_t intervals = 1;

		for (size_t g = 0; g + 1 < m; g++) {
			if (set >> g & 1)
				continue; /* bridged */
			cost += run_b[g] - start;
			start = run_a[g + 1];
			intervals++;
		}
		cost += run_b[m - 1] - start;
		if (intervals <= max && cost < best)
			best = cost;
	}
	return best;
}

/* Plan, check the shape, return the covered length. */
static uint64_t plan_and_check(const struct vfiomig_range *in, size_t n,
			       uint64_t ps, size_t max,
			       struct vfiomig_range *out)
{
	int m = vfiomig_dirty_plan_ranges(in, n, ps, out, max);
	uint64_t total = 0;

	ck_assert_int_ge(m, 1);
	ck_assert_uint_le((size_t)m, max);
	for (int i = 0; i < m; i++) {
		ck_assert_uint_gt(out[i].length, 0);
		ck_assert_uint_eq(out[i].iova % ps, 0);
		ck_assert_uint_eq(out[i].length % ps, 0);
		if (i)
			ck_assert_uint_gt(out[i].iova,
					  out[i - 1].iova + out[i - 1].length);
		total += out[i].length;
	}
	/* Every input byte is covered. */
	for (size_t i = 0; i < n; i++) {
		uint64_t a = in[i].iova, b = a + in[i].length;
		size_t j = vfm_ranges_find(out, (size_t)m, a);

		ck_assert_uint_lt(j, (size_t)m);
		ck_assert_uint_le(out[j].iova, a);
		ck_assert_uint_ge(out[j].iova + out[j].length, b);
	}
	return total;
}

START_TEST(optimal_vs_dp_small)
{
	struct vfiomig_range in[8], out[8];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 1 + rnd() % 8, max = 1 + rnd() % 8;
		uint64_t ps = UINT64_C(1) << (rnd() % 4); /* 1..8 */
		bool need[300] = { false };
		size_t npages = 256 / ps + 2;
		uint64_t opt, got;

		for (size_t i = 0; i < n; i++) {
			in[i].iova = rnd() % 224;
			in[i].length = 1 + rnd() % 30;
			for (uint64_t b = in[i].iova; b < in[i].iova + in[i].length; b++)
				need[b / ps] = true;
		}
		opt = dp_optimum(need, npages, max) * ps;
		got = plan_and_check(in, n, ps, max, out);
		ck_assert_msg(got == opt, "iter %d: plan %" PRIu64 " != optimum %"
			      PRIu64, iter, got, opt);
		ck_assert_uint_eq(subset_optimum(need, npages, max) * ps, opt);
	}
}
END_TEST

/* The brief's case: 1000 guest ranges into the kernel's 256. */
START_TEST(thousand_into_256)
{
	size_t n = 1000, max = 256, npages = 0;
	struct vfiomig_range *in = calloc(n, sizeof(*in));
	struct vfiomig_range out[256];
	uint64_t at = 0, got, opt;
	bool *need;

	ck_assert_ptr_nonnull(in);
	/* Shuffled, page-aligned, gaps of varied size. */
	for (size_t i = 0; i < n; i++) {
		at += 4096 * (1 + rnd() % 50);
		in[i].iova = at;
		in[i].length = 4096 * (1 + rnd() % 20);
		at += in[i].length;
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1);
		struct vfiomig_range t = in[i];

		in[i] = in[j];
		in[j] = t;
	}
	npages = at / 4096 + 1;
	need = calloc(npages, 1);
	ck_assert_ptr_nonnull(need);
	for (size_t i = 0; i < n; i++)
		for (uint64_t p = in[i].iova / 4096;
		     p < (in[i].iova + in[i].length) / 4096; p++)
			need[p] = true;
	got = plan_and_check(in, n, 4096, max, out);
	opt = dp_optimum(need, npages, max) * 4096;
	ck_assert_uint_eq(got, opt);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, n, 4096, out, max), 256);
	free(need);
	free(in);
}
END_TEST

START_TEST(normalize)
{
	/* unsorted, overlapping, touching, unaligned */
	struct vfiomig_range in[] = {
		{ 0x5000, 0x1000 }, { 0x1000, 0x2000 }, { 0x2800, 0x1000 },
		{ 0x3800, 0x10 },   { 0x9001, 0x1 },    { 0x6000, 0x1000 },
	};
	struct vfiomig_range out[8];
	int m = vfiomig_dirty_plan_ranges(in, 6, 4096, out, 8);

	ck_assert_int_eq(m, 3);
	ck_assert_uint_eq(out[0].iova, 0x1000);
	ck_assert_uint_eq(out[0].length, 0x3000);
	ck_assert_uint_eq(out[1].iova, 0x5000);
	ck_assert_uint_eq(out[1].length, 0x2000);
	ck_assert_uint_eq(out[2].iova, 0x9000);
	ck_assert_uint_eq(out[2].length, 0x1000);
	/* max 1: one hull */
	m = vfiomig_dirty_plan_ranges(in, 6, 4096, out, 1);
	ck_assert_int_eq(m, 1);
	ck_assert_uint_eq(out[0].iova, 0x1000);
	ck_assert_uint_eq(out[0].length, 0x9000);
	/* max 2: the smallest gap (0x4000-0x5000) closes */
	m = vfiomig_dirty_plan_ranges(in, 6, 4096, out, 2);
	ck_assert_int_eq(m, 2);
	ck_assert_uint_eq(out[0].length, 0x6000);
	ck_assert_uint_eq(out[1].iova, 0x9000);
}
END_TEST

START_TEST(errors)
{
	struct vfiomig_range in[2] = { { 0x1000, 0x1000 }, { 0x3000, 0x1000 } };
	struct vfiomig_range out[2];

	ck_assert_int_eq(vfiomig_dirty_plan_ranges(NULL, 1, 4096, out, 2), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, NULL, 2), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, out, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 0, out, 2), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 3000, out, 2), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(NULL, 0, 4096, out, 2), 0);
	in[1].length = 0;
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, out, 2), -EINVAL);
	/* end past 2^64 */
	in[1].iova = UINT64_MAX - 0xfff;
	in[1].length = 0x1000;
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, out, 2), -EOVERFLOW);
	in[1].length = 0xfff; /* ends at 2^64 - 1, but aligned up: 2^64 */
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, out, 2), -EOVERFLOW);
	in[1].iova = UINT64_MAX - 0x1fff;
	in[1].length = 0x1000;
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 4096, out, 2), 2);
	/* ...but not once aligned up to 16 KiB */
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, 16384, out, 2), -EOVERFLOW);
}
END_TEST

START_TEST(find)
{
	struct vfiomig_range r[] = { { 10, 5 }, { 20, 5 }, { 40, 1 } };

	ck_assert_uint_eq(vfm_ranges_find(r, 3, 0), 0);
	ck_assert_uint_eq(vfm_ranges_find(r, 3, 14), 0);
	ck_assert_uint_eq(vfm_ranges_find(r, 3, 15), 1);
	ck_assert_uint_eq(vfm_ranges_find(r, 3, 24), 1);
	ck_assert_uint_eq(vfm_ranges_find(r, 3, 25), 2);
	ck_assert_uint_eq(vfm_ranges_find(r, 3, 41), 3);
	ck_assert_uint_eq(vfm_ranges_find(r, 0, 41), 0);
}
END_TEST

/*
 * Page sizes 2^12..2^63 at the top of the address space: a range must end
 * below 2^64 once aligned outward, and a plan is exact up to there.  On a
 * refusal out[] is untouched.
 */
START_TEST(edges)
{
	for (unsigned int lg = 12; lg <= 63; lg++) {
		const uint64_t ps = UINT64_C(1) << lg, top = 0 - ps;
		const struct {
			uint64_t iova, length;
			int want; /* 1: planned, else the errno */
		} t[] = {
			{ top - ps, ps, 1 },            /* ends at 2^64 - ps */
			{ top - ps, 1, 1 },
			{ top, ps - 1, -EOVERFLOW },    /* 2^64 - 1, aligned up: 2^64 */
			{ top, ps, -EOVERFLOW },        /* ends exactly at 2^64 */
			{ top, ps + 4096, -EOVERFLOW }, /* wraps */
			{ UINT64_MAX, 1, -EOVERFLOW },
			{ 0, UINT64_MAX, -EOVERFLOW },  /* 2^64 - 1, aligned up */
			{ 0, top, 1 },                  /* everything below the top page */
			{ 1, top - 1, 1 },
			{ top - ps, 0, -EINVAL },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			struct vfiomig_range in[2] = { { 0, 4096 }, { t[i].iova,
								      t[i].length } };
			struct vfiomig_range out[2] = { { 7, 7 }, { 7, 7 } };
			int m = vfiomig_dirty_plan_ranges(in, 2, ps, out, 2);

			if (t[i].want < 0) {
				ck_assert_msg(m == t[i].want, "2^%u case %zu: %d",
					      lg, i, m);
				ck_assert_uint_eq(out[0].iova, 7);
				ck_assert_uint_eq(out[1].length, 7);
				continue;
			}
			/* exact: the last range ends on the aligned end of
			 * the input, below 2^64; in[0] joins when it overlaps */
			ck_assert_msg(m >= 1, "2^%u case %zu: %d", lg, i, m);
			ck_assert_uint_eq(out[m - 1].iova + out[m - 1].length,
					  vfm_align_down(t[i].iova + t[i].length - 1,
							 ps) + ps);
			ck_assert_uint_eq(out[0].iova, 0);
			/* one range: the hull, ending below 2^64 */
			ck_assert_int_eq(vfiomig_dirty_plan_ranges(in, 2, ps, out,
								   1), 1);
			ck_assert_uint_eq(out[0].iova, 0);
			ck_assert_uint_eq(out[0].length,
					  vfm_align_down(t[i].iova + t[i].length - 1,
							 ps) + ps);
		}
	}
}
END_TEST

/* Counts: more ranges than an int can count is EOVERFLOW, an array larger
 * than memory EINVAL, both before in[] is read or out[] written. */
START_TEST(counts)
{
	const struct vfiomig_range *bogus = (const void *)(uintptr_t)16;
	struct vfiomig_range out[1] = { { 7, 7 } };

#if SIZE_MAX > INT_MAX
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(bogus, (size_t)INT_MAX + 1,
						   4096, out, 1), -EOVERFLOW);
#endif
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(bogus, SIZE_MAX / 8, 4096,
						   out, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_dirty_plan_ranges(bogus, SIZE_MAX, 4096, out,
						   1), -EINVAL);
	ck_assert_uint_eq(out[0].iova, 7);
	ck_assert_uint_eq(out[0].length, 7);
}
END_TEST

/*
 * Quiet checks for hot loops: Check's ck_assert_* record every passing
 * check (a write to the runner), far too slow a million times over.
 */
#define expect(c)                                                              \
	do {                                                                   \
		if (!(c))                                                      \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);     \
	} while (0)
#define EXPECT_OP(a, op, b)                                                    \
	do {                                                                   \
		uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);            \
		if (!(a_ op b_))                                               \
			ck_abort_msg("%s:%d: %s %s %s: %#jx, %#jx", __FILE__,  \
				     __LINE__, #a, #op, #b, a_, b_);           \
	} while (0)
#define EXPECT_EQ(a, b) EXPECT_OP(a, ==, b)
#define EXPECT_LE(a, b) EXPECT_OP(a, <=, b)
#define EXPECT_LT(a, b) EXPECT_OP(a, <, b)
#define EXPECT_NULL(p) expect((p) == NULL)
#define EXPECT_NONNULL(p) expect((p) != NULL)

/* ------------------------------------------- the 0.1 plan, a reference */

static int ref_cmp_iova(const void *a, const void *b)
{
	const struct vfiomig_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

struct ref_gap {
	uint64_t size;
	size_t idx;
};

static int ref_cmp_gap(const void *a, const void *b)
{
	const struct ref_gap *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Valid input only. */
static size_t ref_plan(const struct vfiomig_range *in, size_t n, uint64_t ps,
		       struct vfiomig_range *out, size_t max)
{
	struct vfiomig_range *r = calloc(n, sizeof(*r));
	struct ref_gap *g = calloc(n, sizeof(*g));
	bool *close = calloc(n, sizeof(*close));
	size_t m = 0;

	expect(r && g && close);
	for (size_t i = 0; i < n; i++) {
		uint64_t last = in[i].iova + in[i].length - 1;

		r[i].iova = vfm_align_down(in[i].iova, ps);
		r[i].length = vfm_align_down(last, ps) + ps - r[i].iova;
	}
	qsort(r, n, sizeof(*r), ref_cmp_iova);
	for (size_t i = 1; i < n; i++) {
		uint64_t end = r[m].iova + r[m].length;

		if (r[i].iova <= end) {
			if (r[i].iova + r[i].length > end)
				r[m].length = r[i].iova + r[i].length - r[m].iova;
		} else {
			r[++m] = r[i];
		}
	}
	n = m + 1;
	if (n > max) {
		for (size_t i = 0; i + 1 < n; i++) {
			g[i].size = r[i + 1].iova - (r[i].iova + r[i].length);
			g[i].idx = i;
		}
		qsort(g, n - 1, sizeof(*g), ref_cmp_gap);
		for (size_t k = 0; k < n - max; k++)
			close[g[k].idx] = true;
		m = 0;
		for (size_t i = 1; i < n; i++) {
			if (close[i - 1])
				r[m].length = r[i].iova + r[i].length - r[m].iova;
			else
				r[++m] = r[i];
		}
		n = m + 1;
	}
	memcpy(out, r, n * sizeof(*r));
	free(r);
	free(g);
	free(close);
	return n;
}

/* Random input of a few shapes: gaps and lengths from a small set (ties),
 * or wide; sorted, shuffled or nearly sorted; high bits that vary or not. */
static void random_input(struct vfiomig_range *in, size_t n, int shape)
{
	uint64_t at = (shape & 4) ? rnd() << 20 : 0, top = UINT64_MAX >> 1;

	for (size_t i = 0; i < n; i++) {
		uint64_t gap, len;

		if (shape & 1) {
			gap = 4096 * (rnd() % 4);
			len = 4096 * (1 + rnd() % 3);
		} else {
			gap = rnd() % (UINT64_C(1) << (rnd() % 40));
			len = 1 + rnd() % (UINT64_C(1) << (rnd() % 36));
		}
		if (at > top - gap - len)
			at = 0;
		in[i].iova = at + gap;
		in[i].length = len;
		at = in[i].iova + (rnd() % 8 ? len : len / 2 + 1); /* overlaps */
	}
	if (shape & 2) {
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = rnd() % (i + 1);
			struct vfiomig_range t = in[i];

			in[i] = in[j];
			in[j] = t;
		}
	} else if (n > 1 && (shape & 8)) {
		for (int s = 0; s < 3; s++) {
			size_t a = rnd() % n, b = rnd() % n;
			struct vfiomig_range t = in[a];

			in[a] = in[b];
			in[b] = t;
		}
	}
}

START_TEST(plan_vs_reference)
{
	static const size_t sizes[] = { 1, 2, 3, 17, 63, 64, 65, 200, 1000, 5000 };

	for (int iter = 0; iter < 1500; iter++) {
		size_t n = sizes[rnd() % 10], max = 1 + rnd() % (n + 3);
		uint64_t ps = UINT64_C(1) << (rnd() % 22);
		struct vfiomig_range *in = calloc(n, sizeof(*in));
		struct vfiomig_range *want = calloc(n, sizeof(*want));
		struct vfiomig_range *got = calloc(n + 3, sizeof(*got));
		struct vfiomig_range *plan, *norm;
		int m, m2, m3;
		size_t w;

		expect(in && want && got);
		if (rnd() % 4 == 0)
			max = 1 + rnd() % 3;
		random_input(in, n, (int)(rnd() % 16));
		w = ref_plan(in, n, ps, want, max);
		m = vfiomig_dirty_plan_ranges(in, n, ps, got, max);
		ck_assert_msg(m >= 0 && (size_t)m == w, "iter %d: %d != %zu",
			      iter, m, w);
		expect(!memcmp(got, want, w * sizeof(*got)));
		/* the internal entry points agree */
		m2 = vfm_ranges_plan(in, n, ps, max, &plan);
		EXPECT_EQ(m2, m);
		expect(!memcmp(plan, want, w * sizeof(*got)));
		m3 = vfm_ranges_normalize(in, n, ps, &norm);
		ck_assert_int_ge(m3, m);
		m3 = vfm_ranges_reduce(norm, (size_t)m3, max);
		EXPECT_EQ(m3, m);
		expect(!memcmp(norm, want, w * sizeof(*got)));
		free(plan);
		free(norm);
		free(in);
		free(want);
		free(got);
	}
}
END_TEST

/* Keys that differ in far-apart bits only: the radix passes over digits
 * in which no key differs are skipped, the others still sort. */
START_TEST(plan_radix_digits)
{
	struct vfiomig_range in[500], want[500], got[500];

	for (int iter = 0; iter < 200; iter++) {
		unsigned int hi = 20 + (unsigned int)(rnd() % 43); /* 20..62 */
		size_t max = 1 + rnd() % 600, w;
		int m;

		for (size_t i = 0; i < 500; i++) {
			in[i].iova = (rnd() % 2) << hi | (rnd() % 256) << 12;
			if (iter % 3 == 0)
				in[i].iova |= (rnd() % 2) << (hi / 2 + 6);
			in[i].length = 1 + rnd() % 8192;
		}
		w = ref_plan(in, 500, 4096, want, max);
		m = vfiomig_dirty_plan_ranges(in, 500, 4096, got, max);
		EXPECT_EQ(m, w);
		expect(!memcmp(got, want, w * sizeof(*got)));
	}
}
END_TEST

/* Ties: equal gaps close from the bottom of the address space up. */
START_TEST(plan_ties)
{
	struct vfiomig_range in[6], out[6];

	for (int i = 0; i < 6; i++) {
		in[i].iova = (uint64_t)i * 0x2000;
		in[i].length = 0x1000;
	}
	in[5].iova += 0x1000; /* the last gap is larger */
	EXPECT_EQ(vfiomig_dirty_plan_ranges(in, 6, 4096, out, 4), 4);
	EXPECT_EQ(out[0].iova, 0);
	EXPECT_EQ(out[0].length, 0x5000);
	EXPECT_EQ(out[1].iova, 0x6000);
	EXPECT_EQ(out[2].iova, 0x8000);
	EXPECT_EQ(out[3].iova, 0xb000);
	EXPECT_EQ(vfiomig_dirty_plan_ranges(in, 6, 4096, out, 2), 2);
	EXPECT_EQ(out[0].length, 0x9000);
	EXPECT_EQ(out[1].iova, 0xb000);
}
END_TEST

/* Every allocation failing in turn: -ENOMEM, out untouched, nothing leaked
 * (valgrind). */
START_TEST(plan_enomem)
{
	struct vfiomig_range in[300], out[8], *plan;

	random_input(in, 300, 2);
	for (unsigned long k = 1;; k++) {
		int m;

		memset(out, 0x5a, sizeof(out));
		fail_countdown = k;
		alloc_calls = 0;
		m = vfiomig_dirty_plan_ranges(in, 300, 4096, out, 8);
		if (m >= 0) {
			fail_countdown = 0;
			break;
		}
		EXPECT_EQ(m, -ENOMEM);
		EXPECT_EQ(out[0].iova, 0x5a5a5a5a5a5a5a5aULL);
	}
	fail_countdown = 1;
	EXPECT_EQ(vfm_ranges_plan(in, 300, 4096, 8, &plan), -ENOMEM);
	EXPECT_NULL(plan);
	fail_countdown = 0;
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Selection against a sort, with every budget from 0 (heapsort at once) up
 * to the plan's, on values with many ties and without. */
START_TEST(select_vs_sort)
{
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 1 + rnd() % (iter < 2500 ? 100 : 3000), k = rnd() % n;
		unsigned int budget = iter % 2 ? 100 : (unsigned int)(rnd() % 6);
		uint64_t *a = malloc(n * sizeof(*a)), *s = malloc(n * sizeof(*s));
		uint64_t mod = rnd() % 3 ? 1 + rnd() % 8 : UINT64_MAX, v;

		expect(a && s);
		for (size_t i = 0; i < n; i++) {
			a[i] = rnd() % mod;
			if (iter % 7 == 0) /* sorted, and reversed */
				a[i] = iter % 14 ? i : n - i;
		}
		memcpy(s, a, n * sizeof(*a));
		qsort(s, n, sizeof(*s), cmp_u64);
		v = vfm_u64_select(a, n, k, budget);
		EXPECT_EQ(v, s[k]);
		for (size_t i = 0; i < n; i++)
			expect(i < k ? a[i] <= v : a[i] >= v);
		qsort(a, n, sizeof(*a), cmp_u64); /* a permutation */
		expect(!memcmp(a, s, n * sizeof(*a)));
		free(a);
		free(s);
	}
}
END_TEST

/* The internal entry points' own checks. */
START_TEST(plan_internal_errors)
{
	struct vfiomig_range in[2] = { { 0x1000, 0x1000 }, { 0x3000, 0 } };
	struct vfiomig_range *p = (void *)in;

	EXPECT_EQ(vfm_ranges_plan(in, 0, 4096, 1, &p), 0);
	EXPECT_NULL(p);
	EXPECT_EQ(vfm_ranges_plan(in, 1, 4096, 0, &p), -EINVAL);
	EXPECT_EQ(vfm_ranges_plan(NULL, 1, 4096, 1, &p), -EINVAL);
	EXPECT_EQ(vfm_ranges_plan(in, 1, 4095, 1, &p), -EINVAL);
	EXPECT_EQ(vfm_ranges_plan(in, 2, 4096, 1, &p), -EINVAL); /* empty */
	EXPECT_NULL(p);
	in[1].length = 0x1000;
	EXPECT_EQ(vfm_ranges_plan(in, 2, 4096, 1, &p), 1);
	EXPECT_EQ(p[0].length, 0x3000);
	EXPECT_EQ(vfm_ranges_reduce(p, 1, 1), 1);
	free(p);
	EXPECT_EQ(vfm_ranges_normalize(in, 2, 4096, &p), 2);
	EXPECT_EQ(vfm_ranges_reduce(p, 2, 0), -EINVAL);
	fail_countdown = 1;
	EXPECT_EQ(vfm_ranges_reduce(p, 2, 1), -ENOMEM);
	EXPECT_EQ(p[1].iova, 0x3000); /* untouched */
	EXPECT_EQ(vfm_ranges_reduce(p, 2, 1), 1);
	free(p);
}
END_TEST

/* ------------------------------------------------------------ range set */

/* The oracle: a sorted array, the 0.1 tracker's way. */
struct oracle {
	struct vfiomig_range *r;
	size_t n, cap;
};

static void or_insert(struct oracle *o, size_t at, uint64_t iova, uint64_t len)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 16;
		o->r = __real_realloc(o->r, o->cap * sizeof(*o->r));
		EXPECT_NONNULL(o->r);
	}
	memmove(&o->r[at + 1], &o->r[at], (o->n - at) * sizeof(*o->r));
	o->r[at].iova = iova;
	o->r[at].length = len;
	o->n++;
}

static void or_remove(struct oracle *o, uint64_t iova, uint64_t length)
{
	uint64_t end = iova + length < iova ? UINT64_MAX : iova + length;
	struct oracle t = { 0 };

	for (size_t i = 0; i < o->n; i++) {
		uint64_t a = o->r[i].iova, b = a + o->r[i].length;

		if (b <= iova || a >= end) {
			or_insert(&t, t.n, a, b - a);
			continue;
		}
		if (a < iova)
			or_insert(&t, t.n, a, iova - a);
		if (b > end)
			or_insert(&t, t.n, end, b - end);
	}
	free(o->r);
	*o = t;
}

/* 0 or -EEXIST */
static int or_add(struct oracle *o, uint64_t iova, uint64_t length)
{
	size_t i = 0;

	while (i < o->n && o->r[i].iova + o->r[i].length <= iova)
		i++;
	if (i < o->n && o->r[i].iova < iova + length)
		return -EEXIST;
	or_insert(o, i, iova, length);
	return 0;
}

/* The set holds exactly the oracle's ranges: count, copy, iteration from
 * the bottom and from a few random points. */
static void same(const struct vfm_rangeset *rs, const struct oracle *o)
{
	const struct vfiomig_range *r;
	struct vfiomig_range *c;
	ssize_t n;
	size_t cur, i;

	EXPECT_EQ(vfm_rangeset_count(rs), o->n);
	n = vfm_rangeset_copy(rs, &c);
	EXPECT_EQ(n, (ssize_t)o->n);
	expect(!o->n || !memcmp(c, o->r, o->n * sizeof(*c)));
	expect(o->n || !c);
	free(c);
	for (i = 0, r = vfm_rangeset_first(rs, 0, &cur); r;
	     r = vfm_rangeset_next(rs, &cur), i++) {
		EXPECT_LT(i, o->n);
		EXPECT_EQ(r->iova, o->r[i].iova);
		EXPECT_EQ(r->length, o->r[i].length);
	}
	EXPECT_EQ(i, o->n);
	for (int k = 0; k < 4; k++) {
		uint64_t at = o->n && k < 3 ? o->r[rnd() % o->n].iova +
						      rnd() % 0x3000 - 0x1000
					    : rnd();

		i = vfm_ranges_find(o->r, o->n, at);
		r = vfm_rangeset_first(rs, at, &cur);
		if (i == o->n) {
			EXPECT_NULL(r);
			EXPECT_NULL(vfm_rangeset_next(rs, &cur));
			continue;
		}
		EXPECT_NONNULL(r);
		EXPECT_EQ(r->iova, o->r[i].iova);
		r = vfm_rangeset_next(rs, &cur);
		if (i + 1 == o->n)
			EXPECT_NULL(r);
		else
			EXPECT_EQ(r->iova, o->r[i + 1].iova);
	}
}

START_TEST(rangeset_basic)
{
	struct vfiomig_range r[] = { { 0x1000, 0x1000 }, { 0x2000, 0x1000 },
				     { 0x5000, 0x3000 } };
	struct vfm_rangeset rs;
	const struct vfiomig_range *p;
	struct vfiomig_range *c;
	size_t cur;

	EXPECT_EQ(vfm_rangeset_init(&rs, r, 3), 0);
	EXPECT_EQ(vfm_rangeset_count(&rs), 3);
	p = vfm_rangeset_first(&rs, 0x1fff, &cur);
	EXPECT_EQ(p->iova, 0x1000);
	p = vfm_rangeset_first(&rs, 0x2000, &cur);
	EXPECT_EQ(p->iova, 0x2000); /* touching, not merged */
	p = vfm_rangeset_next(&rs, &cur);
	EXPECT_EQ(p->iova, 0x5000);
	EXPECT_NULL(vfm_rangeset_next(&rs, &cur));
	EXPECT_NULL(vfm_rangeset_next(&rs, &cur));
	EXPECT_NULL(vfm_rangeset_first(&rs, 0x8000, &cur));
	EXPECT_NULL(vfm_rangeset_next(&rs, &cur));
	/* a hole in the middle of the last one: split */
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x6000, 0x1000), 0);
	EXPECT_EQ(vfm_rangeset_copy(&rs, &c), 4);
	EXPECT_EQ(c[2].length, 0x1000);
	EXPECT_EQ(c[3].iova, 0x7000);
	free(c);
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x6000, 0x1000), 0);
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x6fff, 0x2), -EEXIST);
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x0, 0x1001), -EEXIST);
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x0, 0x1000), 0);
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x0, 0), -EINVAL);
	EXPECT_EQ(vfm_rangeset_add(&rs, UINT64_MAX, 1), -EINVAL);
	EXPECT_EQ(vfm_rangeset_count(&rs), 6);
	/* everything, with an end past 2^64 */
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x800, UINT64_MAX), 0);
	EXPECT_EQ(vfm_rangeset_copy(&rs, &c), 1);
	EXPECT_EQ(c[0].iova, 0);
	EXPECT_EQ(c[0].length, 0x800);
	free(c);
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0, 0), 0);
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0, 0x800), 0);
	EXPECT_EQ(vfm_rangeset_count(&rs), 0);
	EXPECT_NULL(vfm_rangeset_first(&rs, 0, &cur));
	EXPECT_EQ(vfm_rangeset_copy(&rs, &c), 0);
	EXPECT_NULL(c);
	EXPECT_EQ(vfm_rangeset_add(&rs, UINT64_MAX - 1, 1), 0);
	vfm_rangeset_fini(&rs);
	vfm_rangeset_fini(&rs);
	vfm_rangeset_fini(NULL);
	/* a zeroed set is empty and usable */
	EXPECT_EQ(vfm_rangeset_count(&rs), 0);
	EXPECT_NULL(vfm_rangeset_first(&rs, 0, &cur));
	EXPECT_NULL(vfm_rangeset_next(&rs, &cur));
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0, 10), 0);
	EXPECT_EQ(vfm_rangeset_add(&rs, 10, 10), 0);
	EXPECT_EQ(vfm_rangeset_first(&rs, 0, &cur)->iova, 10);
	vfm_rangeset_fini(&rs);
	EXPECT_EQ(vfm_rangeset_init(&rs, NULL, 0), 0);
	vfm_rangeset_fini(&rs);
}
END_TEST

/* A full pool: the split, the add and the copy that need memory fail
 * and change nothing. */
START_TEST(rangeset_enomem)
{
	struct vfiomig_range r[15], *c;
	struct oracle o = { 0 };
	struct vfm_rangeset rs;

	for (size_t i = 0; i < 15; i++)
		or_insert(&o, i, 0x10000 * i, 0x8000);
	memcpy(r, o.r, sizeof(r));
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 15), 0); /* 16 nodes: full */
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x31000, 0x1000), -ENOMEM);
	same(&rs, &o);
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_add(&rs, 0x8000, 0x8000), -ENOMEM);
	same(&rs, &o);
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_copy(&rs, &c), -ENOMEM);
	EXPECT_NULL(c);
	/* removing whole ranges and trimming never allocate */
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x31000, 0x10000), 0);
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x0, 0x20000), 0);
	fail_countdown = 0;
	or_remove(&o, 0x31000, 0x10000);
	or_remove(&o, 0x0, 0x20000);
	same(&rs, &o);
	/* a freed node is reused: no allocation */
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_remove(&rs, 0x51000, 0x1000), 0);
	fail_countdown = 0;
	or_remove(&o, 0x51000, 0x1000);
	same(&rs, &o);
	vfm_rangeset_fini(&rs);
	free(o.r);
}
END_TEST

START_TEST(rangeset_init_errors)
{
	struct vfiomig_range r[] = { { 0x1000, 0x1000 }, { 0x3000, 0x1000 } };
	struct vfm_rangeset rs;

	EXPECT_EQ(vfm_rangeset_init(NULL, r, 2), -EINVAL);
	EXPECT_EQ(vfm_rangeset_init(&rs, NULL, 2), -EINVAL);
	EXPECT_NULL(rs.node);
	r[1].iova = 0x1fff; /* overlaps */
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), -EINVAL);
	r[1].iova = 0; /* out of order */
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), -EINVAL);
	r[1].iova = 0x3000;
	r[1].length = 0;
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), -EINVAL);
	r[1].iova = UINT64_MAX - 0xfff; /* ends at 2^64 */
	r[1].length = 0x1000;
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), -EINVAL);
	r[1].length = 0xfff;
	fail_countdown = 1;
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), -ENOMEM);
	EXPECT_NULL(rs.node);
	vfm_rangeset_fini(&rs);
	EXPECT_EQ(vfm_rangeset_init(&rs, r, 2), 0);
	EXPECT_EQ(vfm_rangeset_count(&rs), 2);
	vfm_rangeset_fini(&rs);
}
END_TEST

START_TEST(rangeset_random)
{
	for (int round = 0; round < 40; round++) {
		size_t n = round < 20 ? rnd() % 40 : rnd() % 1500;
		uint64_t scale = UINT64_C(0x1000) << (rnd() % 8);
		uint64_t base = (1 + rnd() % 0x100000) * 0x100000, at = base;
		struct oracle o = { 0 }, before = { 0 };
		struct vfm_rangeset rs;

		for (size_t i = 0; i < n; i++) {
			uint64_t len = scale * (1 + rnd() % 4);

			or_insert(&o, i, at, len);
			at += len + scale * (rnd() % 3); /* some touch */
		}
		EXPECT_EQ(vfm_rangeset_init(&rs, o.r, o.n), 0);
		same(&rs, &o);
		for (int step = 0; step < 400; step++) {
			bool add = rnd() % 3 == 0, faults = rnd() % 4 == 0;
			uint64_t iova, len;

			if (o.n && rnd() % 2) {
				/* at or around an existing range */
				const struct vfiomig_range *r = &o.r[rnd() % o.n];
				uint64_t q = r->length / 4;

				iova = r->iova - q + (rnd() % 5) * q;
				len = 1 + rnd() % (3 * r->length);
				if (rnd() % 4 == 0) {
					iova = r->iova;
					len = r->length * (1 + rnd() % 3);
				}
			} else {
				iova = base - 4 * scale +
				       rnd() % (at - base + 8 * scale);
				len = 1 + rnd() % (4 * scale);
			}
			if (!add && rnd() % 100 == 0)
				len = UINT64_MAX - rnd() % 4; /* to the top */

			/* a copy, to check that a failed op changed nothing */
			free(before.r);
			before.n = before.cap = o.n;
			before.r = __real_malloc((o.n + 1) * sizeof(*o.r));
			EXPECT_NONNULL(before.r);
			if (o.n)
				memcpy(before.r, o.r, o.n * sizeof(*o.r));
			for (unsigned long k = faults ? 1 : 0;; k++) {
				int ret;

				fail_countdown = k;
				ret = add ? vfm_rangeset_add(&rs, iova, len)
					  : vfm_rangeset_remove(&rs, iova, len);
				fail_countdown = 0;
				if (ret == -ENOMEM && k) {
					EXPECT_LE(k, 2);
					same(&rs, &before);
					continue;
				}
				if (add) {
					EXPECT_EQ(ret, or_add(&o, iova, len));
				} else {
					EXPECT_EQ(ret, 0);
					or_remove(&o, iova, len);
				}
				break;
			}
			same(&rs, &o);
		}
		vfm_rangeset_fini(&rs);
		free(o.r);
		free(before.r);
	}
}
END_TEST

/* Removing every range one by one, in order, backwards and shuffled,
 * from large sets; the set stays the oracle's. */
START_TEST(rangeset_unmap_all)
{
	size_t n = 20000;
	struct vfiomig_range *r = calloc(n, sizeof(*r));
	size_t *perm = calloc(n, sizeof(*perm));

	expect(r && perm);
	for (size_t i = 0; i < n; i++) {
		r[i].iova = i * 0x3000;
		r[i].length = 0x2000;
		perm[i] = i;
	}
	for (int order = 0; order < 3; order++) {
		struct vfm_rangeset rs;

		for (size_t i = 0; i < n; i++)
			perm[i] = order == 1 ? n - 1 - i : i;
		if (order == 2)
			for (size_t i = n - 1; i > 0; i--) {
				size_t j = rnd() % (i + 1), t = perm[i];

				perm[i] = perm[j];
				perm[j] = t;
			}
		EXPECT_EQ(vfm_rangeset_init(&rs, r, n), 0);
		for (size_t i = 0; i < n; i++) {
			const struct vfiomig_range *p = &r[perm[i]];

			EXPECT_EQ(vfm_rangeset_remove(&rs, p->iova,
							     p->length), 0);
			EXPECT_EQ(vfm_rangeset_count(&rs), n - 1 - i);
		}
		vfm_rangeset_fini(&rs);
	}
	free(r);
	free(perm);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ranges");
	TCase *tc = tcase_create("plan");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, optimal_vs_dp_small);
	tcase_add_test(tc, thousand_into_256);
	tcase_add_test(tc, normalize);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, find);
	tcase_add_test(tc, edges);
	tcase_add_test(tc, counts);
	tcase_add_test(tc, plan_vs_reference);
	tcase_add_test(tc, plan_ties);
	tcase_add_test(tc, plan_radix_digits);
	tcase_add_test(tc, plan_enomem);
	tcase_add_test(tc, select_vs_sort);
	tcase_add_test(tc, plan_internal_errors);
	tcase_add_test(tc, rangeset_basic);
	tcase_add_test(tc, rangeset_init_errors);
	tcase_add_test(tc, rangeset_enomem);
	tcase_add_test(tc, rangeset_random);
	tcase_add_test(tc, rangeset_unmap_all);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
