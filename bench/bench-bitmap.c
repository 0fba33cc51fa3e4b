// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-bitmap: the bitmap helpers against a naive per-bit baseline, in the
 * same process, on the same data.  Prints time per call of both and the
 * ratio (baseline / library); absolute times mean nothing across machines,
 * ratios do.  Also checks that both give the same answer.
 *
 * usage: bench-bitmap [log2-bits]   (default 24: 16 Mi pages = 64 GiB at 4 KiB)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vfiomig.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int tbit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* ---------------------------------------------------------- baselines */

static uint64_t naive_count(const uint64_t *bm, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nbits; i++)
		n += (uint64_t)tbit(bm, i);
	return n;
}

/* Sum of run lengths and number of runs, bit by bit. */
static uint64_t naive_runs(const uint64_t *bm, uint64_t nbits, uint64_t *pages)
{
	uint64_t runs = 0, sum = 0;

	for (uint64_t i = 0; i < nbits;) {
		uint64_t j;

		if (!tbit(bm, i)) {
			i++;
			continue;
		}
		for (j = i; j < nbits && tbit(bm, j); j++)
			;
		runs++;
		sum += j - i;
		i = j;
	}
	*pages = sum;
	return runs;
}

static uint64_t lib_runs(const uint64_t *bm, uint64_t nbits, uint64_t *pages)
{
	uint64_t runs = 0, sum = 0, pos = 0, len;

	while (vfiomig_bitmap_next_range(bm, nbits, &pos, &len) == 1) {
		runs++;
		sum += len;
		pos += len;
	}
	*pages = sum;
	return runs;
}

static void naive_convert(const uint64_t *src, uint64_t sps, uint64_t *dst,
			  uint64_t dps, uint64_t length)
{
	uint64_t sn = length / sps, dn = length / dps;

	memset(dst, 0, (dn + 63) / 64 * 8);
	if (sps <= dps) {
		uint64_t r = dps / sps;

		for (uint64_t i = 0; i < sn; i++)
			if (tbit(src, i))
				dst[i / r / 64] |= UINT64_C(1) << (i / r % 64);
	} else {
		uint64_t r = sps / dps;

		for (uint64_t j = 0; j < dn; j++)
			if (tbit(src, j / r))
				dst[j / 64] |= UINT64_C(1) << (j % 64);
	}
}

/* ------------------------------------------------------------ harness */

/* Run fn until at least 0.3 s have passed; seconds per call. */
#define TIME(expr)                                                             \
	({                                                                     \
		double t0_ = now(), t_;                                        \
		unsigned long n_ = 0;                                          \
		do {                                                           \
			expr;                                                  \
			n_++;                                                  \
		} while ((t_ = now() - t0_) < 0.3);                            \
		t_ / (double)n_;                                               \
	})

static volatile uint64_t sink;

static void report(const char *what, double naive, double lib)
{
	printf("%-34s naive %10.3f ms  lib %9.3f ms  ratio %8.1fx\n", what,
	       naive * 1e3, lib * 1e3, naive / lib);
}

static void fill(uint64_t *bm, uint64_t words, int density)
{
	for (uint64_t i = 0; i < words; i++) {
		switch (density) {
		case 0: /* sparse: ~1/1024 of the pages, in small clusters */
			bm[i] = (rnd() % 16) ? 0 : (rnd() & rnd() & rnd() & rnd());
			break;
		case 1: /* half, random */
			bm[i] = rnd();
			break;
		default: /* runs: long dirty and clean stretches */
			bm[i] = (rnd() % 4) ? 0 : ~UINT64_C(0);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	unsigned int lg = argc > 1 ? (unsigned int)atoi(argv[1]) : 24;
	uint64_t nbits = UINT64_C(1) << lg, words = nbits / 64;
	uint64_t *src = malloc(words * 8), *a = malloc(words * 8 * 2);
	uint64_t *b = malloc(words * 8 * 2);
	static const char *dname[] = { "sparse", "random", "runs" };
	static const struct { uint64_t sps, dps; } conv[] = {
		{ 4096, 4096 }, { 4096, 16384 }, { 4096, 2 << 20 },
		{ 16384, 4096 }, { 2 << 20, 4096 }, { 8192, 4096 },
	};
	int bad = 0;

	if (!src || !a || !b || lg < 12 || lg > 30) {
		fprintf(stderr, "usage: %s [log2-bits 12..30]\n", argv[0]);
		return 2;
	}
	printf("bench-bitmap: %" PRIu64 " bits (%" PRIu64 " KiB bitmap)\n",
	       nbits, words * 8 / 1024);

	for (int d = 0; d < 3; d++) {
		char what[64];
		uint64_t p1, p2, r1, r2;
		double tn, tl;

		fill(src, words, d);
		snprintf(what, sizeof(what), "count (%s)", dname[d]);
		tn = TIME(sink = naive_count(src, nbits));
		tl = TIME(sink = vfiomig_bitmap_count(src, nbits));
		bad |= naive_count(src, nbits) != vfiomig_bitmap_count(src, nbits);
		report(what, tn, tl);

		snprintf(what, sizeof(what), "next_range walk (%s)", dname[d]);
		tn = TIME(sink = naive_runs(src, nbits, &p1));
		tl = TIME(sink = lib_runs(src, nbits, &p2));
		r1 = naive_runs(src, nbits, &p1);
		r2 = lib_runs(src, nbits, &p2);
		bad |= r1 != r2 || p1 != p2;
		report(what, tn, tl);
	}

	fill(src, words, 1);
	for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++) {
		uint64_t sps = conv[i].sps, dps = conv[i].dps;
		/* src covers nbits pages of sps bytes when it is the finer
		 * side, else its bitmap is smaller (same bytes). */
		uint64_t length = (sps <= dps ? nbits : nbits / (sps / dps)) * sps;
		uint64_t dw = (length / dps + 63) / 64;
		char what[64];
		double tn, tl;

		snprintf(what, sizeof(what), "convert %" PRIu64 "K -> %" PRIu64 "K",
			 sps >> 10, dps >> 10);
		tn = TIME(naive_convert(src, sps, a, dps, length));
		tl = TIME(vfiomig_bitmap_convert(src, sps, b, dps, length, 0));
		bad |= memcmp(a, b, dw * 8) != 0;
		report(what, tn, tl);
	}
	free(src);
	free(a);
	free(b);
	if (bad)
		fprintf(stderr, "bench-bitmap: library and baseline DISAGREE\n");
	return bad;
}
