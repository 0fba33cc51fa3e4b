// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-bitmap: the library's bitmap helpers against the strongest fair
 * baseline, in one process, on the same data:
 *
 *   vfiomig_bitmap_count       a popcount loop built for this CPU
 *                              (bench-bitmap-native.c, -O3 -march=native)
 *   vfiomig_bitmap_next_range  an inline ctz run loop (below, in this file),
 *                              on sparse, long-run and random bitmaps; the
 *                              library's copy inlined from vfiomig.h, as a
 *                              caller gets it, and (no goal, for the
 *                              record) the exported copy a binary built
 *                              against 0.1 or an FFI caller calls
 *   vfiomig_bitmap_convert     the word loop a caller writes for one fixed
 *                              pair of page sizes (bench-bitmap-base.c,
 *                              built with the library's flags):
 *                              4K->2M, 2M->4K, 4K->64K, 64K->4K, 4K->4K,
 *                              with and without VFIOMIG_DIRTY_ACCUMULATE
 *
 * at 32 MiB of 4 KiB-page bitmap (2^28 bits: a 1 TiB guest) and at 256 KiB
 * (an 8 GiB guest, in cache).  Library and baseline results are compared
 * before any timing.  Runs alternate baseline/library (the order flips
 * every pair); a sample is one call, or a batch of calls of at least
 * ~0.2 ms for the small sizes.  ratio = baseline time / library time (> 1:
 * library faster); min = best baseline / best library, median = median of
 * the per-pair ratios.  Not a test: nothing asserts a time.
 *
 * Besides the human-readable table, one machine-readable line per path:
 *   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
 *
 * usage: bench-bitmap [--quick] [-r pairs (default 15)]
 *   --quick  the small size only, 5 pairs: a few seconds (the smoke test)
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Both copies of vfiomig_bitmap_next_range: the header's inline one and
 * the exported one, called through the PLT. */
#define vfiomig_bitmap_next_range inline_next_range
#include "vfiomig.h"
#undef vfiomig_bitmap_next_range
int vfiomig_bitmap_next_range(const uint64_t *bitmap, uint64_t nbits,
			      uint64_t *pos, uint64_t *len);
#include "bench-bitmap.h"
#include "bench.h"

static uint64_t rng = BENCH_RND_SEED;
#define rnd() bench_rnd(&rng)

/* ---------------------------------------------------- next_range walks */

/* What a caller writes with the bitmap in hand: find each run with ctz on
 * the word and on its complement, inline. */
static inline uint64_t base_runs(const uint64_t *bm, uint64_t nbits,
				 uint64_t *pages)
{
	uint64_t words = (nbits + 63) / 64, runs = 0, sum = 0, pos = 0;

	for (;;) {
		uint64_t w = pos / 64, x, y, start, end;

		if (w >= words)
			break;
		x = bm[w] & (~UINT64_C(0) << (pos % 64));
		while (!x && ++w < words)
			x = bm[w];
		if (!x)
			break;
		start = w * 64 + (uint64_t)__builtin_ctzll(x);
		if (start >= nbits)
			break;
		y = ~bm[w] & (~UINT64_C(0) << (start % 64));
		while (!y && ++w < words)
			y = ~bm[w];
		end = y ? w * 64 + (uint64_t)__builtin_ctzll(y) : words * 64;
		if (end > nbits)
			end = nbits;
		runs++;
		sum += end - start;
		pos = end;
	}
	*pages = sum;
	return runs;
}

static uint64_t lib_runs(const uint64_t *bm, uint64_t nbits, uint64_t *pages,
			 bool exported)
{
	int (*next)(const uint64_t *, uint64_t, uint64_t *, uint64_t *) =
		vfiomig_bitmap_next_range;
	uint64_t runs = 0, sum = 0, pos = 0, len;

	if (!exported) {
		while (inline_next_range(bm, nbits, &pos, &len) == 1) {
			runs++;
			sum += len;
			pos += len;
		}
		*pages = sum;
		return runs;
	}
	while (next(bm, nbits, &pos, &len) == 1) {
		runs++;
		sum += len;
		pos += len;
	}
	*pages = sum;
	return runs;
}

/* ------------------------------------------------------------- harness */

enum op { COUNT, RUNS, CONVERT };

struct path {
	enum op op;
	const char *name;
	/* convert */
	uint64_t sps, dps;
	int acc;
	void (*base)(const uint64_t *src, uint64_t *dst, uint64_t n, int acc);
	bool by_src; /* base's n is the source's bit count */
	/* runs: fill pattern; the exported copy instead of the inline one */
	int density;
	bool exported;
};

struct bufs {
	uint64_t *src, *a, *b; /* a: baseline's dst, b: library's */
	uint64_t words;        /* of each */
};

static volatile uint64_t sink;

/* density: 0 sparse (~1% of the pages, in small clusters), 1 long runs
 * (dirty and clean stretches of words), 2 random (half the bits), 3 mixed
 * (a quarter of the words clean, the rest random: for conversions) */
static void fill(uint64_t *bm, uint64_t words, int density)
{
	for (uint64_t i = 0; i < words; i++) {
		switch (density) {
		case 0: {
			uint64_t r = rnd();

			bm[i] = (r % 8) ? 0 : (UINT64_C(0xf) << (r >> 58));
			break;
		}
		case 1: {
			static uint64_t left, v;

			if (!left) {
				left = 1 + rnd() % 64;
				v = v ? 0 : ~UINT64_C(0);
			}
			left--;
			bm[i] = v;
			break;
		}
		case 2: bm[i] = rnd(); break;
		default: bm[i] = (rnd() % 4) ? rnd() : 0; break;
		}
	}
}

static uint64_t lg2(uint64_t x)
{
	return (uint64_t)__builtin_ctzll(x);
}

/* One call of the path; lib selects the library. */
static void run(const struct path *p, struct bufs *bf, uint64_t nbits4k,
		bool lib)
{
	uint64_t pages;

	switch (p->op) {
	case COUNT:
		sink = lib ? vfiomig_bitmap_count(bf->src, nbits4k) :
			     base_count(bf->src, nbits4k);
		break;
	case RUNS:
		sink = lib ? lib_runs(bf->src, nbits4k, &pages, p->exported) :
			     base_runs(bf->src, nbits4k, &pages);
		sink += pages;
		break;
	case CONVERT: {
		/* the finer side has nbits4k bits */
		uint64_t fine = p->sps < p->dps ? p->sps : p->dps;
		uint64_t length = nbits4k << lg2(fine);

		if (lib) {
			if (vfiomig_bitmap_convert(bf->src, p->sps, bf->b, p->dps,
						   length, p->acc ?
						   VFIOMIG_DIRTY_ACCUMULATE : 0))
				abort();
		} else {
			p->base(bf->src, bf->a,
				length >> lg2(p->by_src ? p->sps : p->dps),
				p->acc);
		}
		break;
	}
	}
}

/* Same answer?  Counts and walks by value; conversions into dst buffers
 * pre-filled alike (garbage to overwrite or to OR into). */
static bool verify(const struct path *p, struct bufs *bf, uint64_t nbits)
{
	uint64_t p1, p2;

	switch (p->op) {
	case COUNT:
		return base_count(bf->src, nbits) ==
		       vfiomig_bitmap_count(bf->src, nbits);
	case RUNS:
		return base_runs(bf->src, nbits, &p1) ==
			       lib_runs(bf->src, nbits, &p2, p->exported) &&
		       p1 == p2;
	case CONVERT:
		for (uint64_t i = 0; i < bf->words; i++)
			bf->a[i] = bf->b[i] = rnd() & rnd();
		run(p, bf, nbits, false);
		run(p, bf, nbits, true);
		return !memcmp(bf->a, bf->b, bf->words * sizeof(uint64_t));
	}
	return false;
}

/* Paired, interleaved: returns min and median ratio. */
static void measure(const struct path *p, struct bufs *bf, uint64_t nbits,
		    int pairs, double *rmin, double *rmed, double *tbase,
		    double *tlib)
{
	double bmin = 1e30, lmin = 1e30, *ratio = calloc((size_t)pairs, sizeof(double));
	unsigned long batch = 1;
	double t0;

	if (!ratio)
		abort();
	/* warm up, and size a batch to >= 0.2 ms */
	run(p, bf, nbits, false);
	run(p, bf, nbits, true);
	t0 = bench_cpu_now();
	run(p, bf, nbits, true);
	t0 = bench_cpu_now() - t0;
	if (t0 < 2e-4)
		batch = (unsigned long)(2e-4 / (t0 > 1e-8 ? t0 : 1e-8)) + 1;

	for (int i = 0; i < pairs; i++) {
		double tb = 0, tl = 0;

		for (int k = 0; k < 2; k++) {
			bool lib = (k == 0) == (i % 2 == 1);
			double t = bench_cpu_now();

			for (unsigned long n = 0; n < batch; n++)
				run(p, bf, nbits, lib);
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
	qsort(ratio, (size_t)pairs, sizeof(double), bench_cmp_double);
	*rmed = pairs % 2 ? ratio[pairs / 2] :
			    (ratio[pairs / 2 - 1] + ratio[pairs / 2]) / 2;
	*rmin = bmin / lmin;
	*tbase = bmin;
	*tlib = lmin;
	free(ratio);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const uint64_t K4 = 4096, K64 = 65536, M2 = 2 << 20;
	const char *conv_base = "word loop for the pair";
	const struct path paths[] = {
		{ .op = COUNT, .name = "bitmap_count" },
		{ .op = RUNS, .name = "bitmap_next_range sparse", .density = 0 },
		{ .op = RUNS, .name = "bitmap_next_range runs", .density = 1 },
		{ .op = RUNS, .name = "bitmap_next_range random", .density = 2 },
		{ .op = RUNS, .name = "bitmap_next_range random exported",
		  .density = 2, .exported = true },
		{ CONVERT, "bitmap_convert 4K->2M", K4, M2, 0, base_4k_2m, false, 3, false },
		{ CONVERT, "bitmap_convert 4K->2M acc", K4, M2, 1, base_4k_2m, false, 3, false },
		{ CONVERT, "bitmap_convert 2M->4K", M2, K4, 0, base_2m_4k, true, 3, false },
		{ CONVERT, "bitmap_convert 2M->4K acc", M2, K4, 1, base_2m_4k, true, 3, false },
		{ CONVERT, "bitmap_convert 4K->64K", K4, K64, 0, base_4k_64k, false, 3, false },
		{ CONVERT, "bitmap_convert 4K->64K acc", K4, K64, 1, base_4k_64k, false, 3, false },
		{ CONVERT, "bitmap_convert 64K->4K", K64, K4, 0, base_64k_4k, true, 3, false },
		{ CONVERT, "bitmap_convert 64K->4K acc", K64, K4, 1, base_64k_4k, true, 3, false },
		{ CONVERT, "bitmap_convert 4K->4K", K4, K4, 0, base_same, true, 3, false },
		{ CONVERT, "bitmap_convert 4K->4K acc", K4, K4, 1, base_same, true, 3, false },
	};
	/* log2 of the 4K-side bit count: 2^28 = 32 MiB, 2^21 = 256 KiB */
	static const unsigned int sizes[] = { 28, 21 };
	bool quick = false;
	int pairs = 15, opt, bad = 0;
	struct bufs bf;

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

	bf.words = (UINT64_C(1) << sizes[0]) / 64;
	bf.src = malloc(bf.words * 8);
	bf.a = malloc(bf.words * 8);
	bf.b = malloc(bf.words * 8);
	if (!bf.src || !bf.a || !bf.b)
		return 2;
	memset(bf.a, 0, bf.words * 8);
	memset(bf.b, 0, bf.words * 8);

	printf("bench-bitmap: ratio = baseline time / library time (>1: library faster), %d pairs\n",
	       pairs);
	printf("%-30s %-9s %12s %12s %7s %7s\n", "path", "size", "base best",
	       "lib best", "min", "median");
	for (size_t si = quick ? 1 : 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t nbits = UINT64_C(1) << sizes[si];
		char size[32];

		snprintf(size, sizeof(size), "%" PRIu64 "%s",
			 nbits / 8 >= (1 << 20) ? nbits / 8 >> 20 : nbits / 8 >> 10,
			 nbits / 8 >= (1 << 20) ? "MiB" : "KiB");
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			const struct path *p = &paths[i];
			double rmin, rmed, tb, tl;
			const char *base, *goal;
			char name[80];

			/* the source: the 4K side holds nbits bits */
			if (p->op == CONVERT) {
				uint64_t sbits = p->sps == K4 ? nbits :
						 nbits >> lg2(p->sps / K4);

				fill(bf.src, sbits / 64, p->density);
			} else if (p->op == RUNS) {
				fill(bf.src, nbits / 64, p->density);
			} else {
				fill(bf.src, nbits / 64, 2);
			}
			snprintf(name, sizeof(name), "%s %s", p->name, size);
			if (!verify(p, &bf, nbits)) {
				fprintf(stderr, "bench-bitmap: %s: library and baseline DISAGREE\n",
					name);
				bad = 1;
				continue;
			}
			measure(p, &bf, nbits, pairs, &rmin, &rmed, &tb, &tl);
			switch (p->op) {
			case COUNT:
				base = "popcount loop (-O3 -march=native)";
				goal = ">=0.8";
				break;
			case RUNS:
				base = "inline ctz run loop";
				goal = p->exported ? "-" : ">=0.9";
				break;
			default:
				base = conv_base;
				goal = ">=0.8";
				break;
			}
			printf("%-30s %-9s %9.3f ms %9.3f ms %7.2f %7.2f\n", p->name,
			       size, tb * 1e3, tl * 1e3, rmin, rmed);
			printf("RATIO\t%s\t%s\t%.2f\t%.2f\t%s\n", name, base, rmin,
			       rmed, goal);
			fflush(stdout);
		}
	}
	free(bf.src);
	free(bf.a);
	free(bf.b);
	return bad;
}
