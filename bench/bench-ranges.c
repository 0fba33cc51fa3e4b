// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-ranges: IOVA range planning and the tracker's range set.
 *
 * 1. vfiomig_dirty_plan_ranges (the library's, from libvfiomig.so) against
 *    the strongest plain version written here: copy aligned, a typed
 *    introsort by iova (no qsort callback), merge, keep the max - 1
 *    largest gaps by heap-select, sort the kept gaps' indices, emit.  Goal:
 *    the library within 1.2x of its time (ratio >= 0.83).  n = 300, 4096,
 *    65536, 10^6 ranges, shuffled, into max = 256; and 65536 already
 *    sorted (the tracker's own ranges are).  Outputs compared first.
 *
 * 2. The range set (lib/ranges.c compiled in: vfm_rangeset_* is private):
 *    65535 unmaps of one range each from a 65535-range set, random order
 *    and top-down, against the 0.1 tracker's sorted array (binary search,
 *    memmove per unmap: this is the old code, the speedup is the point).
 *    Then the asymptotics, the fair check of "O(log n)": time per remove,
 *    per first() lookup and per remove+add at n = 10^3 .. 10^6 (the old
 *    array's remove beside it up to 10^5), which should stay nearly flat.
 *
 * Timing: thread CPU time; runs alternate baseline/library (the order
 * flips every pair); a sample is a batch of calls of at least ~0.5 ms.
 * ratio = baseline time / library time (> 1: library faster); min = best
 * baseline / best library, median = median of the per-pair ratios.  Not a
 * test: nothing asserts a time.  One machine-readable line per path:
 *   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
 *
 * usage: bench-ranges [--quick] [-r pairs (default 15)]
 *   --quick  small sizes, 5 pairs: a few seconds (the smoke test)
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vfiomig.h"

/* The private range set, compiled in; the plan measured is the shared
 * library's own (this copy of it is renamed out of the way). */
int bench_ranges_c_plan_unused(const struct vfiomig_range *in, size_t n,
			       uint64_t page_size, struct vfiomig_range *out,
			       size_t max);
#define vfiomig_dirty_plan_ranges bench_ranges_c_plan_unused
#include "ranges.c"
#include "bench.h"
#undef vfiomig_dirty_plan_ranges

static uint64_t rng = BENCH_RND_SEED;
#define rnd() bench_rnd(&rng)

/* ------------------------------------------------ baseline: the plan */

static void b_isort(struct vfiomig_range *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct vfiomig_range x = r[i];
		size_t j = i;

		for (; j && r[j - 1].iova > x.iova; j--)
			r[j] = r[j - 1];
		r[j] = x;
	}
}

static void b_sift(struct vfiomig_range *r, size_t i, size_t n)
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		struct vfiomig_range t;

		if (c + 1 < n && r[c + 1].iova > r[c].iova)
			c++;
		if (r[i].iova >= r[c].iova)
			return;
		t = r[i];
		r[i] = r[c];
		r[c] = t;
	}
}

/* Introsort by iova: median-of-3 quicksort, insertion sort below 16,
 * heapsort past 2 log2 n levels. */
static void b_sort(struct vfiomig_range *r, size_t n, int depth)
{
	while (n > 16) {
		struct vfiomig_range t;
		size_t i = 0, j = n - 1, mid = n / 2;
		uint64_t p;

		if (!depth--) {
			for (size_t k = n / 2; k--;)
				b_sift(r, k, n);
			for (size_t k = n; k-- > 1;) {
				t = r[0];
				r[0] = r[k];
				r[k] = t;
				b_sift(r, 0, k);
			}
			return;
		}
#define SWAP(a, b) (t = r[a], r[a] = r[b], r[b] = t)
		if (r[mid].iova < r[0].iova)
			SWAP(mid, 0);
		if (r[n - 1].iova < r[mid].iova) {
			SWAP(n - 1, mid);
			if (r[mid].iova < r[0].iova)
				SWAP(mid, 0);
		}
		p = r[mid].iova;
		for (;;) {
			while (r[i].iova < p)
				i++;
			while (r[j].iova > p)
				j--;
			if (i >= j)
				break;
			SWAP(i, j);
			i++;
			j--;
		}
#undef SWAP
		/* recurse into the smaller side */
		if (j + 1 < n - j - 1) {
			b_sort(r, j + 1, depth);
			r += j + 1;
			n -= j + 1;
		} else {
			b_sort(r + j + 1, n - j - 1, depth);
			n = j + 1;
		}
	}
	b_isort(r, n);
}

struct b_gap {
	uint64_t size;
	size_t idx;
};

static bool b_less(struct b_gap a, struct b_gap b)
{
	return a.size < b.size || (a.size == b.size && a.idx < b.idx);
}

/* Min-heap of the largest gaps seen, by (size, index). */
static void b_heap_down(struct b_gap *h, size_t i, size_t n)
{
	for (size_t c; (c = 2 * i + 1) < n; i = c) {
		struct b_gap t;

		if (c + 1 < n && b_less(h[c + 1], h[c]))
			c++;
		if (!b_less(h[c], h[i]))
			return;
		t = h[i];
		h[i] = h[c];
		h[c] = t;
	}
}

static int base_plan(const struct vfiomig_range *in, size_t n, uint64_t ps,
		     struct vfiomig_range *out, size_t max)
{
	struct vfiomig_range *r = malloc(n * sizeof(*r));
	struct b_gap heap[1024];
	size_t m = 0, kept = 0, k = max - 1, o = 0;
	int depth = 2 * (64 - __builtin_clzll(n | 1));

	if (!r || max > 1024)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint64_t last = in[i].iova + in[i].length - 1;

		r[i].iova = in[i].iova & ~(ps - 1);
		r[i].length = (last & ~(ps - 1)) + ps - r[i].iova;
	}
	b_sort(r, n, depth);
	for (size_t i = 1; i < n; i++) {
		uint64_t end = r[m].iova + r[m].length;

		if (r[i].iova <= end) {
			if (r[i].iova + r[i].length > end)
				r[m].length = r[i].iova + r[i].length - r[m].iova;
		} else {
			r[++m] = r[i];
		}
	}
	m++;
	if (m <= max) {
		memcpy(out, r, m * sizeof(*r));
		free(r);
		return (int)m;
	}
	/* the max - 1 largest gaps stay open */
	for (size_t i = 0; i + 1 < m; i++) {
		struct b_gap g = { r[i + 1].iova - (r[i].iova + r[i].length), i };

		if (kept < k) {
			size_t c = kept++;

			heap[c] = g;
			while (c && b_less(heap[c], heap[(c - 1) / 2])) {
				struct b_gap t = heap[c];

				heap[c] = heap[(c - 1) / 2];
				heap[(c - 1) / 2] = t;
				c = (c - 1) / 2;
			}
		} else if (k && b_less(heap[0], g)) {
			heap[0] = g;
			b_heap_down(heap, 0, k);
		}
	}
	/* their indices in order (insertion sort on 8-byte keys) */
	for (size_t i = 1; i < kept; i++) {
		size_t x = heap[i].idx, j = i;

		for (; j && heap[j - 1].idx > x; j--)
			heap[j].idx = heap[j - 1].idx;
		heap[j].idx = x;
	}
	out[0].iova = r[0].iova;
	for (size_t i = 0; i < kept; i++) {
		size_t g = heap[i].idx;

		out[o].length = r[g].iova + r[g].length - out[o].iova;
		out[++o].iova = r[g + 1].iova;
	}
	out[o].length = r[m - 1].iova + r[m - 1].length - out[o].iova;
	free(r);
	return (int)o + 1;
}

/* Guest-like ranges: page-aligned, gaps and lengths of 1..50 and 1..20
 * pages, a few overlapping; shuffled unless `sorted`. */
static struct vfiomig_range *make_ranges(size_t n, bool sorted)
{
	struct vfiomig_range *in = malloc(n * sizeof(*in));
	uint64_t at = UINT64_C(1) << 32;

	if (!in)
		abort();
	for (size_t i = 0; i < n; i++) {
		at += 4096 * (rnd() % 50);
		in[i].iova = at;
		in[i].length = 4096 * (1 + rnd() % 20);
		at += in[i].length;
	}
	for (size_t i = n - 1; !sorted && i > 0; i--) {
		size_t j = rnd() % (i + 1);
		struct vfiomig_range t = in[i];

		in[i] = in[j];
		in[j] = t;
	}
	return in;
}

static void bench_plan(size_t n, bool sorted, int pairs, int *bad)
{
	const size_t max = 256;
	struct vfiomig_range *in = make_ranges(n, sorted);
	struct vfiomig_range out_b[256], out_l[256];
	double bmin = 1e30, lmin = 1e30, *ratio = calloc((size_t)pairs, sizeof(double));
	unsigned long batch = 1;
	int mb, ml;
	double t;
	char name[64];

	if (!ratio)
		abort();
	mb = base_plan(in, n, 4096, out_b, max);
	ml = vfiomig_dirty_plan_ranges(in, n, 4096, out_l, max);
	if (mb != ml || memcmp(out_b, out_l, (size_t)ml * sizeof(out_l[0]))) {
		fprintf(stderr, "plan n=%zu: library %d and baseline %d differ\n",
			n, ml, mb);
		(*bad)++;
	}
	t = bench_cpu_now();
	(void)vfiomig_dirty_plan_ranges(in, n, 4096, out_l, max);
	t = bench_cpu_now() - t;
	if (t < 5e-4)
		batch = (unsigned long)(5e-4 / (t > 1e-8 ? t : 1e-8)) + 1;
	for (int i = 0; i < pairs; i++) {
		double tb = 0, tl = 0;

		for (int k = 0; k < 2; k++) {
			bool lib = (k == 0) == (i % 2 == 1);

			t = bench_cpu_now();
			for (unsigned long b = 0; b < batch; b++) {
				if (lib)
					ml = vfiomig_dirty_plan_ranges(in, n, 4096,
								       out_l, max);
				else
					mb = base_plan(in, n, 4096, out_b, max);
			}
			t = (bench_cpu_now() - t) / (double)batch;
			if (lib)
				tl = t;
			else
				tb = t;
		}
		bmin = tb < bmin ? tb : bmin;
		lmin = tl < lmin ? tl : lmin;
		ratio[i] = tb / tl;
	}
	snprintf(name, sizeof(name), "dirty_plan_ranges n=%zu%s", n,
		 sorted ? " sorted" : "");
	printf("%-34s baseline %10.1f us  library %10.1f us  min %.2f  "
	       "median %.2f\n", name, bmin * 1e6, lmin * 1e6, bmin / lmin,
	       bench_median(ratio, pairs));
	printf("RATIO\t%s\tsort+merge+heap-select (typed introsort)\t%.2f\t"
	       "%.2f\t>=0.83\n", name, bmin / lmin, bench_median(ratio, pairs));
	free(ratio);
	free(in);
}

/* -------------------------------------- baseline: the 0.1 tracker array */

struct arr {
	struct vfiomig_range *r;
	size_t n;
};

/* vfm_dirty_forget of 0.1, verbatim but for the struct. */
static int arr_forget(struct arr *a, uint64_t iova, uint64_t length)
{
	uint64_t end = iova + length;
	size_t i = vfm_ranges_find(a->r, a->n, iova);

	while (i < a->n && a->r[i].iova < end) {
		struct vfiomig_range *r = &a->r[i];
		uint64_t rend = r->iova + r->length;

		if (r->iova < iova && rend > end) {
			struct vfiomig_range *n = realloc(a->r,
				(a->n + 1) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			a->r = n;
			r = &n[i];
			memmove(&n[i + 1], &n[i], (a->n - i) * sizeof(*n));
			a->n++;
			r->length = iova - r->iova;
			n[i + 1].iova = end;
			n[i + 1].length = rend - end;
			return 0;
		}
		if (r->iova < iova) {
			r->length = iova - r->iova;
			i++;
		} else if (rend > end) {
			r->length = rend - end;
			r->iova = end;
			i++;
		} else {
			memmove(r, r + 1, (a->n - i - 1) * sizeof(*r));
			a->n--;
		}
	}
	return 0;
}

/* n ranges, sorted, disjoint, some touching. */
static struct vfiomig_range *set_ranges(size_t n)
{
	struct vfiomig_range *r = malloc(n * sizeof(*r));
	uint64_t at = UINT64_C(1) << 32;

	if (!r)
		abort();
	for (size_t i = 0; i < n; i++) {
		at += 4096 * (rnd() % 4);
		r[i].iova = at;
		r[i].length = 4096 * (1 + rnd() % 64);
		at += r[i].length;
	}
	return r;
}

static size_t *order(size_t n, size_t k, int how)
{
	size_t *o = malloc(n * sizeof(*o));

	if (!o)
		abort();
	for (size_t i = 0; i < n; i++)
		o[i] = how == 1 ? n - 1 - i : i;
	if (how == 2)
		for (size_t i = 0; i < k && i + 1 < n; i++) {
			size_t j = i + rnd() % (n - i), t = o[i];

			o[i] = o[j];
			o[j] = t;
		}
	return o;
}

/* Remove r[ord[0..k)] one range each: seconds for all k. */
static double time_arr(const struct vfiomig_range *r, size_t n,
		       const size_t *ord, size_t k)
{
	struct arr a = { malloc(n * sizeof(*r)), n };
	double t;

	if (!a.r)
		abort();
	memcpy(a.r, r, n * sizeof(*r));
	t = bench_cpu_now();
	for (size_t i = 0; i < k; i++)
		if (arr_forget(&a, r[ord[i]].iova, r[ord[i]].length))
			abort();
	t = bench_cpu_now() - t;
	if (a.n != n - k)
		abort();
	free(a.r);
	return t;
}

static double time_set(const struct vfiomig_range *r, size_t n,
		       const size_t *ord, size_t k)
{
	struct vfm_rangeset rs;
	double t;

	if (vfm_rangeset_init(&rs, r, n))
		abort();
	t = bench_cpu_now();
	for (size_t i = 0; i < k; i++)
		if (vfm_rangeset_remove(&rs, r[ord[i]].iova, r[ord[i]].length))
			abort();
	t = bench_cpu_now() - t;
	if (vfm_rangeset_count(&rs) != n - k)
		abort();
	vfm_rangeset_fini(&rs);
	return t;
}

static void bench_unmap(size_t n, int how, int pairs)
{
	static const char *const hows[] = { "bottom-up", "top-down", "random order" };
	struct vfiomig_range *r = set_ranges(n);
	size_t *ord = order(n, n, how);
	double bmin = 1e30, lmin = 1e30, *ratio = calloc((size_t)pairs, sizeof(double));
	char name[80];

	if (!ratio)
		abort();
	for (int i = 0; i < pairs; i++) {
		double tb = 0, tl = 0;

		for (int k = 0; k < 2; k++) {
			if ((k == 0) == (i % 2 == 1))
				tl = time_set(r, n, ord, n);
			else
				tb = time_arr(r, n, ord, n);
		}
		bmin = tb < bmin ? tb : bmin;
		lmin = tl < lmin ? tl : lmin;
		ratio[i] = tb / tl;
	}
	snprintf(name, sizeof(name), "rangeset unmap %zux1 %s", n, hows[how]);
	printf("%-40s old array %8.2f ms  range set %8.2f ms  min %.1f  "
	       "median %.1f\n", name, bmin * 1e3, lmin * 1e3, bmin / lmin,
	       bench_median(ratio, pairs));
	printf("RATIO\t%s\t0.1 memmove array\t%.2f\t%.2f\t%s\n", name,
	       bmin / lmin, bench_median(ratio, pairs), how == 2 ? ">1" : "-");
	free(ratio);
	free(ord);
	free(r);
}

/*
 * Per-op times at n, in ns, min/median over reps: remove of k whole ranges
 * in random order and in address order, first() at random addresses and,
 * as the yardstick of a lookup at that n, a binary search of the same
 * ranges in a plain sorted array (vfm_ranges_find, the 0.1 tracker's
 * lookup: O(log n) with no pointers), remove+add of one range (n stays),
 * and the old array's remove up to 10^5.  Beyond the caches every
 * structure pays memory latency per level; the yardstick shows how much
 * of the growth that is.  out: remove's (random) median and min; first's
 * and the binary search's medians, then their mins.
 */
static void bench_asym(size_t n, int reps, double out[6])
{
	size_t k = n / 2 < 65536 ? n / 2 : 65536;
	struct vfiomig_range *r = set_ranges(n);
	double *t = calloc((size_t)reps * 6, sizeof(double));
	double *trm = t, *tin = t + reps, *tfi = t + 2 * reps,
	       *tbs = t + 3 * reps, *tra = t + 4 * reps, *tar = t + 5 * reps;
	uint64_t lo = r[0].iova, span = r[n - 1].iova + r[n - 1].length - lo;
	uint64_t *probe = malloc(k * sizeof(*probe));
	size_t *seq = order(n, 0, 0);
	bool arr = n <= 100000;
	volatile uint64_t sink = 0;

	if (!t || !probe)
		abort();
	for (int i = 0; i < reps; i++) {
		size_t *ord = order(n, k, 2);
		struct vfm_rangeset rs;
		size_t cur;
		double t0;

		for (size_t j = 0; j < k; j++)
			probe[j] = lo + rnd() % span;
		trm[i] = time_set(r, n, ord, k) / (double)k * 1e9;
		tin[i] = time_set(r, n, seq, k) / (double)k * 1e9;
		if (arr)
			tar[i] = time_arr(r, n, ord, k) / (double)k * 1e9;
		if (vfm_rangeset_init(&rs, r, n))
			abort();
		t0 = bench_cpu_now();
		for (size_t j = 0; j < k; j++) {
			const struct vfiomig_range *p =
				vfm_rangeset_first(&rs, probe[j], &cur);

			sink += p ? p->iova : 0;
		}
		tfi[i] = (bench_cpu_now() - t0) / (double)k * 1e9;
		t0 = bench_cpu_now();
		for (size_t j = 0; j < k; j++)
			sink += vfm_ranges_find(r, n, probe[j]);
		tbs[i] = (bench_cpu_now() - t0) / (double)k * 1e9;
		t0 = bench_cpu_now();
		for (size_t j = 0; j < k; j++) {
			const struct vfiomig_range *p = &r[ord[j]];

			if (vfm_rangeset_remove(&rs, p->iova, p->length) ||
			    vfm_rangeset_add(&rs, p->iova, p->length))
				abort();
		}
		tra[i] = (bench_cpu_now() - t0) / (double)k * 1e9;
		vfm_rangeset_fini(&rs);
		free(ord);
	}
	(void)sink;
	/* bench_median() sorts: [0] is then the min */
	double min_ = bench_median(tin, reps), mfi = bench_median(tfi, reps);
	double mbs = bench_median(tbs, reps), mra = bench_median(tra, reps);
	double mar = arr ? bench_median(tar, reps) : 0;

	out[0] = bench_median(trm, reps);
	out[1] = trm[0];
	out[2] = mfi;
	out[3] = mbs;
	out[4] = tfi[0];
	out[5] = tbs[0];
	printf("n=%-8zu remove %5.0f/%5.0f  in order %4.0f/%4.0f  first "
	       "%5.0f/%5.0f  (binary search %4.0f/%4.0f)  remove+add %5.0f/%5.0f",
	       n, trm[0], out[0], tin[0], min_, tfi[0], mfi, tbs[0], mbs,
	       tra[0], mra);
	if (arr)
		printf("  | 0.1 array remove %6.0f/%6.0f", tar[0], mar);
	printf("\n");
	free(t);
	free(probe);
	free(seq);
	free(r);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const size_t plan_n[] = { 300, 4096, 65536, 1000000 };
	static const size_t asym_n[] = { 1000, 10000, 100000, 1000000 };
	bool quick = false;
	int pairs = 15, opt, bad = 0;
	double ns[4][6];

	while ((opt = getopt_long(argc, argv, "r:", lo, NULL)) != -1) {
		switch (opt) {
		case 'q': quick = true; break;
		case 'r': pairs = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [--quick] [-r pairs]\n", argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (quick)
		pairs = 5;
	if (pairs < 1)
		pairs = 1;

	printf("== vfiomig_dirty_plan_ranges into 256 ranges (ratio = "
	       "baseline / library)\n");
	for (size_t i = 0; i < (quick ? 2 : 4); i++)
		bench_plan(plan_n[i], false, plan_n[i] >= 1000000 ? (pairs + 1) / 2 : pairs,
			   &bad);
	bench_plan(quick ? 4096 : 65536, true, pairs, &bad);

	printf("\n== unmaps of one range each, range set vs the 0.1 array\n");
	bench_unmap(quick ? 4095 : 65535, 2, quick ? 3 : (pairs + 2) / 3);
	bench_unmap(quick ? 4095 : 65535, 1, quick ? 3 : (pairs + 2) / 3);

	printf("\n== range set, ns per operation (min/median) as n grows "
	       "(O(log n): nearly flat)\n");
	for (size_t i = 0; i < (quick ? 2 : 4); i++) {
		bench_asym(asym_n[i], quick ? 3 : 5, ns[i]);
		printf("RATIO\trangeset remove per op n=%zu\tthe same at n=1000"
		       "\t%.2f\t%.2f\t-\n", asym_n[i], ns[0][1] / ns[i][1],
		       ns[0][0] / ns[i][0]);
		printf("RATIO\trangeset first n=%zu\tbinary search of a sorted "
		       "array\t%.2f\t%.2f\t-\n", asym_n[i], ns[i][5] / ns[i][4],
		       ns[i][3] / ns[i][2]);
	}
	return bad ? 1 : 0;
}
