// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Range planning (lib/ranges.c, compiled in).  vfiomig_dirty_plan_ranges()
 * must cover every input page with at most `max` aligned, sorted, disjoint
 * ranges of least total length.  Optimality is checked against two
 * independent exact methods on small inputs: a dynamic program over pages
 * (cover the needed pages with at most k intervals, minimise covered
 * pages), which knows nothing about gaps, and a literal brute force over
 * every subset of gaps to bridge.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "ranges.h"

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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
