// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bitmap helpers (lib/bitmap.c, compiled in): count, next_range, convert
 * and the private vfm_bitmap_merge / vfm_bitmap_copy_conv / set / clear,
 * each against a naive per-bit model, over every page-size ratio from
 * 1/1024 to 1024, odd lengths and offsets, sparse and dense inputs, bitmaps
 * large enough for the whole-word fast loops (and their AVX2 count), with
 * guard words to catch writes out of bounds.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

/* Both copies of vfiomig_bitmap_next_range run every next_range case: the
 * header's inline one, as callers get it, and the exported one
 * (lib/inline.c, compiled in), as binaries built against 0.1 and FFI
 * callers get it. */
#define vfiomig_bitmap_next_range inline_next_range
#include "bitmap.h"
#undef vfiomig_bitmap_next_range
int vfiomig_bitmap_next_range(const uint64_t *bitmap, uint64_t nbits,
			      uint64_t *pos, uint64_t *len);

typedef int next_range_fn(const uint64_t *, uint64_t, uint64_t *, uint64_t *);
static next_range_fn *const next_range_copies[] = {
	inline_next_range,
	vfiomig_bitmap_next_range,
};

#define GUARD UINT64_C(0xa5a5a5a5a5a5a5a5)
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic across runs. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static bool tbit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static void sbit(uint64_t *bm, uint64_t i)
{
	bm[i / 64] |= UINT64_C(1) << (i % 64);
}

/* density: 0 empty, 1 sparse, 2 half, 3 dense, 4 full, 5 long runs */
static void fill(uint64_t *bm, uint64_t words, int density)
{
	for (uint64_t i = 0; i < words; i++) {
		uint64_t v;

		switch (density) {
		case 0: v = 0; break;
		case 1: v = rnd() & rnd() & rnd() & rnd() & rnd(); break;
		case 2: v = rnd(); break;
		case 3: v = rnd() | rnd() | rnd(); break;
		case 4: v = ~UINT64_C(0); break;
		default: v = (rnd() & 1) ? ~UINT64_C(0) : 0;
			if (rnd() & 1)
				v ^= ~UINT64_C(0) << (rnd() % 64);
			break;
		}
		bm[i] = v;
	}
}

/* Allocate words plus a guard word on each side; returns the inner part. */
static uint64_t *galloc(uint64_t words)
{
	uint64_t *p = malloc((words + 2) * sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p[0] = GUARD;
	p[words + 1] = GUARD;
	return p + 1;
}

static void gcheck_free(uint64_t *bm, uint64_t words)
{
	ck_assert_uint_eq(bm[-1], GUARD);
	ck_assert_uint_eq(bm[words], GUARD);
	free(bm - 1);
}

/* The model: dst page j is set iff it overlaps a set src page. */
static void naive_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
			uint64_t dnbits, const uint64_t *src, uint64_t sbase,
			uint64_t sps, uint64_t snbits)
{
	for (uint64_t i = 0; i < snbits; i++) {
		uint64_t a, b;

		if (!tbit(src, i))
			continue;
		a = sbase + i * sps;
		b = a + sps;
		for (uint64_t j = 0; j < dnbits; j++) {
			uint64_t c = dbase + j * dps, e = c + dps;

			if (c < b && a < e)
				sbit(dst, j);
		}
	}
}

typedef unsigned __int128 u128;
#define TOP ((u128)1 << 64) /* 2^64: no address reaches it */

/* The model in 128 bits: dst page j is set iff it overlaps a set src page
 * below 2^64 (a partial last page may be rounded up past it). */
static void model_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
			uint64_t dnbits, const uint64_t *src, uint64_t sbase,
			uint64_t sps, uint64_t snbits)
{
	u128 dend = (u128)dbase + (u128)dnbits * dps;

	for (uint64_t i = 0; i < snbits; i++) {
		u128 a = (u128)sbase + (u128)i * sps, b = a + sps;

		if (!tbit(src, i))
			continue;
		if (b > TOP)
			b = TOP;
		if (dend < b)
			b = dend;
		if (a < dbase)
			a = dbase;
		if (a >= b)
			continue;
		for (u128 j = (a - dbase) / dps; j <= (b - 1 - dbase) / dps; j++)
			sbit(dst, (uint64_t)j);
	}
}

/*
 * The model of vfm_bitmap_copy_conv: a dst page wholly inside src's span
 * (clipped at 2^64) is set to "any set src page overlaps it"; one only
 * partly inside has that OR-ed in; the others are untouched.
 */
static void model_copy(uint64_t *dst, uint64_t dbase, uint64_t dps,
		       uint64_t dnbits, const uint64_t *src, uint64_t sbase,
		       uint64_t sps, uint64_t snbits)
{
	u128 send = (u128)sbase + (u128)snbits * sps;

	if (send > TOP)
		send = TOP;
	for (uint64_t j = 0; j < dnbits; j++) {
		u128 c = (u128)dbase + (u128)j * dps, e = c + dps, i, ilast;
		bool any = false;

		if (e > TOP)
			e = TOP;
		if (c >= TOP || e <= sbase || c >= send)
			continue;
		i = c > sbase ? (c - sbase) / sps : 0;
		ilast = (e - 1 - sbase) / sps;
		if (ilast >= snbits)
			ilast = snbits - 1;
		for (; i <= ilast && !any; i++)
			any = tbit(src, (uint64_t)i);
		if (c >= sbase && e <= send)
			dst[j / 64] &= ~(UINT64_C(1) << (j % 64));
		if (any)
			sbit(dst, j);
	}
}

/* The private merge (or copy_conv) against the model; src has a word of
 * garbage past sn (it must be ignored), dst garbage to OR into or to
 * overwrite; guard words intact. */
static void conv_case(bool copy, unsigned int s, uint64_t sbase, uint64_t sn,
		      unsigned int d, uint64_t dbase, uint64_t dn)
{
	uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
	uint64_t sw = BITS_TO_WORDS(sn) + 1, dw = BITS_TO_WORDS(dn) + 1;
	uint64_t *src = galloc(sw), *dst = galloc(dw), *want = calloc(dw, 8);

	ck_assert_ptr_nonnull(want);
	fill(src, sw, (int)(rnd() % 6));
	fill(dst, dw, 2);
	memcpy(want, dst, dw * 8);
	if (copy) {
		model_copy(want, dbase, dps, dn, src, sbase, sps, sn);
		vfm_bitmap_copy_conv(dst, dbase, dps, dn, src, sbase, sps, sn);
	} else {
		model_merge(want, dbase, dps, dn, src, sbase, sps, sn);
		vfm_bitmap_merge(dst, dbase, dps, dn, src, sbase, sps, sn);
	}
	for (uint64_t i = 0; i < dw; i++)
		if (dst[i] != want[i])
			ck_abort_msg("%s sps 2^%u sbase %#" PRIx64 " sn %" PRIu64
			      " dps 2^%u dbase %#" PRIx64 " dn %" PRIu64
			      " word %" PRIu64 ": %016" PRIx64 " != %016" PRIx64,
			      copy ? "copy" : "merge", s, sbase, sn, d, dbase,
			      dn, i, dst[i], want[i]);
	free(want);
	gcheck_free(src, sw);
	gcheck_free(dst, dw);
}

static void merge_case(unsigned int s, uint64_t sbase, uint64_t sn,
		       unsigned int d, uint64_t dbase, uint64_t dn)
{
	conv_case(rnd() & 1, s, sbase, sn, d, dbase, dn);
}

START_TEST(count)
{
	for (int iter = 0; iter < 2000; iter++) {
		uint64_t nbits = rnd() % 1500, words = BITS_TO_WORDS(nbits) + 1;
		uint64_t *bm = galloc(words), n = 0;

		fill(bm, words, (int)(rnd() % 6));
		for (uint64_t i = 0; i < nbits; i++)
			n += tbit(bm, i);
		ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), n);
		gcheck_free(bm, words);
	}
	/* long enough for the vector loop, its rounds and its tail */
	for (int iter = 0; iter < 300; iter++) {
		uint64_t nbits = rnd() % 40000, words = BITS_TO_WORDS(nbits) + 1;
		uint64_t *bm = galloc(words), n = 0;

		fill(bm, words, (int)(rnd() % 6));
		for (uint64_t i = 0; i < nbits; i++)
			n += tbit(bm, i);
		ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), n);
		gcheck_free(bm, words);
	}
	ck_assert_uint_eq(vfiomig_bitmap_count(NULL, 100), 0);
}
END_TEST

START_TEST(next_range_walk)
{
	next_range_fn *next_range = next_range_copies[_i];
	uint64_t pos = 0, len = 7;
	uint64_t one = 1;

	for (int iter = 0; iter < 2000; iter++) {
		/* Bits past nbits are garbage: they must be ignored. */
		uint64_t nbits = rnd() % 1500, words = BITS_TO_WORDS(nbits) + 1;
		uint64_t *bm = galloc(words);
		uint64_t p = 0, l, i = 0;

		fill(bm, words, (int)(rnd() % 6));
		for (;;) {
			int r = next_range(bm, nbits, &p, &l);

			while (i < nbits && !tbit(bm, i))
				i++;
			if (i == nbits) {
				ck_assert_int_eq(r, 0);
				ck_assert_uint_eq(l, 0);
				break;
			}
			if (r != 1 || p != i)
				ck_abort_msg("nbits %" PRIu64 ": %d at %" PRIu64
					     ", want a run at %" PRIu64, nbits, r,
					     p, i);
			while (i < nbits && tbit(bm, i))
				i++;
			if (l != i - p)
				ck_abort_msg("run at %" PRIu64 ": %" PRIu64
					     " bits, want %" PRIu64, p, l, i - p);
			p += l;
		}
		gcheck_free(bm, words);
	}
	ck_assert_int_eq(next_range(NULL, 1, &pos, &len), -EINVAL);
	ck_assert_int_eq(next_range(&one, 1, NULL, &len), -EINVAL);
	ck_assert_int_eq(next_range(&one, 1, &pos, NULL), -EINVAL);
	/* pos past the end, zero bits */
	pos = 5;
	ck_assert_int_eq(next_range(&one, 1, &pos, &len), 0);
	pos = 0;
	ck_assert_int_eq(next_range(&one, 0, &pos, &len), 0);
	ck_assert_int_eq(next_range(&one, 1, &pos, &len), 1);
	ck_assert_uint_eq(pos, 0);
	ck_assert_uint_eq(len, 1);
}
END_TEST

/* Every pair of page sizes 2^12..2^22, random lengths and densities. */
START_TEST(convert_all_ratios)
{
	for (unsigned int s = 12; s <= 22; s++) {
		for (unsigned int d = 12; d <= 22; d++) {
			uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
			uint64_t minps = sps < dps ? sps : dps;

			for (int iter = 0; iter < 12; iter++) {
				uint64_t length = minps * (1 + rnd() % 3000);
				uint64_t sn = (length + sps - 1) / sps;
				uint64_t dn = (length + dps - 1) / dps;
				uint64_t sw = BITS_TO_WORDS(sn), dw = BITS_TO_WORDS(dn);
				uint64_t *src = galloc(sw), *dst = galloc(dw);
				uint64_t *want = calloc(dw, 8);
				bool acc = rnd() & 1;

				fill(src, sw, (int)(rnd() % 6));
				fill(dst, dw, 2);
				if (acc)
					memcpy(want, dst, dw * 8);
				naive_merge(want, 0, dps, dn, src, 0, sps, sn);
				ck_assert_int_eq(vfiomig_bitmap_convert(src, sps, dst,
					dps, length, acc ? VFIOMIG_DIRTY_ACCUMULATE : 0), 0);
				for (uint64_t i = 0; i < dw; i++)
					if (dst[i] != want[i])
						ck_abort_msg("sps %" PRIu64 " dps %" PRIu64 " len %" PRIu64
						" acc %d word %" PRIu64 ": %016" PRIx64
						" != %016" PRIx64, sps, dps, length, acc, i,
						dst[i], want[i]);
				free(want);
				gcheck_free(src, sw);
				gcheck_free(dst, dw);
			}
		}
	}
}
END_TEST

START_TEST(convert_errors)
{
	uint64_t a = 0, b = 0;

	ck_assert_int_eq(vfiomig_bitmap_convert(NULL, 4096, &b, 4096, 4096, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, NULL, 4096, 4096, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, &b, 4096, 4096, 4), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, &b, 4096, 4096,
			 VFIOMIG_DIRTY_NO_CLEAR), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 0, &b, 4096, 4096, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, &b, 12288, 12288, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, &b, 4096, 0, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 8192, &b, 4096, 6144, 0), -EINVAL);
	/* A partial last page of the coarser size is fine. */
	a = 0x2;
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 8192, &b, 4096, 12288, 0), 0);
	ck_assert_uint_eq(b, 0x4);
	a = 0x4;
	ck_assert_int_eq(vfiomig_bitmap_convert(&a, 4096, &b, 8192, 12288, 0), 0);
	ck_assert_uint_eq(b, 0x2);
}
END_TEST

/* The private merge: bases apart, dst and src clipping each other. */
START_TEST(merge_offsets)
{
	for (int iter = 0; iter < 6000; iter++) {
		unsigned int s = 12 + (unsigned int)(rnd() % 10);
		unsigned int d = 12 + (unsigned int)(rnd() % 10);
		uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
		uint64_t sn = rnd() % 700, dn = rnd() % 700;
		uint64_t sbase = (UINT64_C(1) << 40) + sps * (rnd() % 3000);
		uint64_t dbase = (UINT64_C(1) << 40) + dps * (rnd() % 3000);

		if (rnd() & 1)
			sbase = dbase - dbase % sps; /* often overlapping */
		merge_case(s, sbase, sn, d, dbase, dn);
	}
}
END_TEST

START_TEST(set_range)
{
	for (int iter = 0; iter < 3000; iter++) {
		uint64_t nbits = 1 + rnd() % 900, words = BITS_TO_WORDS(nbits);
		uint64_t start = rnd() % nbits, n = rnd() % (nbits - start + 1);
		uint64_t *bm = galloc(words);

		memset(bm, 0, words * 8);
		vfm_bitmap_set(bm, start, n);
		/* (one check per bit would be one write() per bit for Check) */
		for (uint64_t i = 0; i < words * 64; i++)
			if (tbit(bm, i) != (i >= start && i < start + n))
				ck_abort_msg("set %" PRIu64 "+%" PRIu64 ": bit %"
					     PRIu64, start, n, i);
		memset(bm, 0xff, words * 8);
		vfm_bitmap_clear(bm, start, n);
		for (uint64_t i = 0; i < words * 64; i++)
			if (tbit(bm, i) != (i < start || i >= start + n))
				ck_abort_msg("clear %" PRIu64 "+%" PRIu64
					     ": bit %" PRIu64, start, n, i);
		gcheck_free(bm, words);
	}
}
END_TEST

/*
 * Bitmaps of thousands of bits with bases on and off word boundaries, so
 * that every whole-word loop runs (same size copy and OR, shifted words;
 * spread and fold at ratios 2..32; fills and OR-tests at 64..1024, from a
 * source page's start or its middle), for merge and copy_conv alike.
 */
START_TEST(conv_fast_paths)
{
	for (int iter = 0; iter < 1500; iter++) {
		unsigned int s = 12 + (unsigned int)(rnd() % 11);
		unsigned int d = 12 + (unsigned int)(rnd() % 11);
		uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
		uint64_t big = sps > dps ? sps : dps;
		/* a common origin aligned to 64 of the larger page */
		uint64_t org = (UINT64_C(1) << 40) + 64 * big * (rnd() % 4);
		uint64_t sbase = org, dbase = org, sn, dn;

		switch (rnd() % 4) {
		case 0: break;
		case 1: sbase += sps * (rnd() % 200); break;
		case 2: dbase += dps * (rnd() % 200); break;
		default:
			/* whole words apart */
			sbase += 64 * sps * (rnd() % 3);
			dbase += 64 * dps * (rnd() % 3);
			break;
		}
		/* a few thousand bits of the finer side, odd counts too */
		if (sps <= dps) {
			sn = 1 + rnd() % 6000;
			dn = 1 + (sn * sps + (dbase > sbase ? 0 : sbase - dbase)) / dps
			     + rnd() % 3;
		} else {
			dn = 1 + rnd() % 6000;
			sn = 1 + (dn * dps + (sbase > dbase ? 0 : dbase - sbase)) / sps
			     + rnd() % 3;
		}
		if (rnd() % 4 == 0)
			dn = 1 + rnd() % dn;
		if (rnd() % 4 == 0)
			sn = 1 + rnd() % sn;
		conv_case(rnd() & 1, s, sbase, sn, d, dbase, dn);
	}
}
END_TEST

/* Ratios of 2048 and 4096 (32 and 64 words per source bit when growing,
 * per destination bit when shrinking), over whole destination words. */
START_TEST(conv_large_ratios)
{
	for (int iter = 0; iter < 16; iter++) {
		unsigned int lr = 11 + (unsigned int)(iter % 2);
		unsigned int s = 12, d = 12 + lr;
		uint64_t fine = 64 * 64 * (UINT64_C(1) << lr) + rnd() % 5000;
		uint64_t org = UINT64_C(1) << 40, off;

		if (iter & 4) {
			unsigned int t = s;

			s = d;
			d = t;
		}
		/* the coarse side from a page start or a page's middle */
		off = (iter & 8) ? (UINT64_C(1) << 12) * 64 * (rnd() % 8) : 0;
		if (s < d)
			conv_case(iter & 1, s, org + off, fine, d, org,
				  fine >> lr);
		else
			conv_case(iter & 1, s, org, (fine >> lr) + 1, d,
				  org + off, fine);
	}
}
END_TEST

/* copy_conv overwrites clean pages, at every ratio: a dst all ones, a src
 * all zeros and the same span leave zeros (but the partial edge pages). */
START_TEST(copy_conv_clears)
{
	for (unsigned int s = 12; s <= 22; s++) {
		for (unsigned int d = 12; d <= 22; d++) {
			uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
			uint64_t len = (sps > dps ? sps : dps) * 100;
			uint64_t sn = len / sps, dn = len / dps;
			uint64_t sw = BITS_TO_WORDS(sn), dw = BITS_TO_WORDS(dn);
			uint64_t *src = galloc(sw), *dst = galloc(dw);

			memset(src, 0, sw * 8);
			memset(dst, 0xff, dw * 8);
			vfm_bitmap_copy_conv(dst, 0, dps, dn, src, 0, sps, sn);
			for (uint64_t j = 0; j < dw * 64; j++)
				if (tbit(dst, j) != (j >= dn))
					ck_abort_msg("2^%u -> 2^%u: bit %" PRIu64,
						     s, d, j);
			gcheck_free(src, sw);
			gcheck_free(dst, dw);
		}
	}
}
END_TEST

/* ------------------------------------------------ arithmetic at the edges */

/* One conversion against the model: dst pre-filled with garbage (it must
 * be overwritten, or OR-ed into with ACCUMULATE), guard words intact. */
static void convert_case(unsigned int s, unsigned int d, uint64_t length,
			 int pattern)
{
	uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
	uint64_t sn = vfm_div_round_up(length, sps);
	uint64_t dn = vfm_div_round_up(length, dps);
	uint64_t sw = BITS_TO_WORDS(sn), dw = BITS_TO_WORDS(dn);
	uint64_t *src = galloc(sw), *dst = galloc(dw), *want = calloc(dw, 8);
	bool acc = rnd() & 1;

	ck_assert_ptr_nonnull(want);
	memset(src, 0, sw * 8);
	switch (pattern) {
	case 0: sbit(src, sn - 1); break; /* the last page: at the top */
	case 1: sbit(src, 0); break;
	case 2: memset(src, 0xff, sw * 8); break;
	default: fill(src, sw, 2); break;
	}
	fill(dst, dw, 2);
	if (acc)
		memcpy(want, dst, dw * 8);
	model_merge(want, 0, dps, dn, src, 0, sps, sn);
	ck_assert_int_eq(vfiomig_bitmap_convert(src, sps, dst, dps, length,
			 acc ? VFIOMIG_DIRTY_ACCUMULATE : 0), 0);
	for (uint64_t i = 0; i < dw; i++)
		if (dst[i] != want[i])
			ck_abort_msg("2^%u -> 2^%u, length %#" PRIx64
			      ", pattern %d, acc %d, word %" PRIu64 ": %016"
			      PRIx64 " != %016" PRIx64, s, d, length, pattern,
			      acc, i, dst[i], want[i]);
	free(want);
	gcheck_free(src, sw);
	gcheck_free(dst, dw);
}

/*
 * Every pair of page sizes 2^12..2^63, lengths at the small end, around
 * the coarser page, and at the top of the address space (2^64 - k * the
 * smaller page: the coarser size's last page is rounded up to 2^64),
 * wherever the bitmaps stay small.
 */
START_TEST(convert_edges)
{
	const uint64_t maxbits = 1024;

	for (unsigned int s = 12; s <= 63; s++) {
		for (unsigned int d = 12; d <= 63; d++) {
			unsigned int lo = s < d ? s : d, hi = s < d ? d : s;
			u128 minps = (u128)1 << lo, maxps = (u128)1 << hi;
			const u128 len[] = {
				minps, 3 * minps, 64 * minps, 65 * minps,
				maxps - minps, maxps, maxps + minps,
				3 * maxps - minps, TOP - 3 * minps,
				TOP - 2 * minps, TOP - minps,
			};

			for (size_t i = 0; i < ARRAY_LEN(len); i++) {
				if (!len[i] || len[i] >= TOP ||
				    len[i] / minps > maxbits)
					continue;
				for (int pat = 0; pat < 4; pat++)
					convert_case(s, d, (uint64_t)len[i], pat);
			}
		}
	}
}
END_TEST

/* Issue 9: 2^62-byte pages converted to 2^63 over 3 * 2^62 bytes.  The
 * coarse bitmap ends at 2^64; it used to wrap to 0 and drop every bit. */
START_TEST(convert_issue9)
{
	const uint64_t p62 = UINT64_C(1) << 62, p63 = UINT64_C(1) << 63;
	uint64_t src = 0x4, dst = 0;

	ck_assert_int_eq(vfiomig_bitmap_convert(&src, p62, &dst, p63, 3 * p62,
						0), 0);
	ck_assert_uint_eq(dst, 0x2);
	/* and back: the last 2^63 page stands for one 2^62 page */
	src = 0x2;
	ck_assert_int_eq(vfiomig_bitmap_convert(&src, p63, &dst, p62, 3 * p62,
						0), 0);
	ck_assert_uint_eq(dst, 0x4);
	/* 2^61 -> 2^63 up to 2^64 - 2^61: 7 bits into 2, the last one set */
	src = 0x40;
	ck_assert_int_eq(vfiomig_bitmap_convert(&src, p62 / 2, &dst, p63,
						7 * (p62 / 2), 0), 0);
	ck_assert_uint_eq(dst, 0x2);
}
END_TEST

/* Refusals: the errno, and dst untouched. */
START_TEST(convert_refusals)
{
	static const struct {
		uint64_t sps, dps, length;
		int err;
	} t[] = {
		{ 0, 4096, 4096, -EINVAL },
		{ 4096, 0, 4096, -EINVAL },
		{ 4096, 3 << 12, 3 << 12, -EINVAL },
		{ UINT64_MAX, 4096, 4096, -EINVAL },
		{ UINT64_C(1) << 63, 4096, 0, -EINVAL },
		{ UINT64_C(1) << 63, UINT64_C(1) << 62, UINT64_C(1) << 61,
		  -EINVAL },
		{ UINT64_C(1) << 63, UINT64_C(1) << 62, UINT64_MAX, -EINVAL },
		{ 4096, 8192, UINT64_MAX, -EINVAL },
	};
	uint64_t src[2] = { ~UINT64_C(0), ~UINT64_C(0) }, dst[2];

	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		dst[0] = GUARD;
		dst[1] = GUARD;
		ck_assert_int_eq(vfiomig_bitmap_convert(src, t[i].sps, dst,
				 t[i].dps, t[i].length, 0), t[i].err);
		ck_assert_uint_eq(dst[0], GUARD);
		ck_assert_uint_eq(dst[1], GUARD);
	}
}
END_TEST

/* Word counts and byte sizes never wrap. */
START_TEST(sizes_at_the_top)
{
	size_t bytes = 0;

	ck_assert_uint_eq(BITS_TO_WORDS(UINT64_MAX), UINT64_C(1) << 58);
	ck_assert_uint_eq(BITS_TO_WORDS(UINT64_MAX - 62), UINT64_C(1) << 58);
	ck_assert_uint_eq(BITS_TO_WORDS(UINT64_MAX - 63), (UINT64_C(1) << 58) - 1);
	ck_assert_uint_eq(BITS_TO_WORDS(0), 0);
	ck_assert_uint_eq(BITS_TO_WORDS(1), 1);
	ck_assert_uint_eq(vfm_div_round_up(UINT64_MAX, UINT64_C(1) << 63), 2);
#if SIZE_MAX >= UINT64_MAX / 8
	ck_assert(vfm_bitmap_bytes(UINT64_MAX, &bytes));
	ck_assert_uint_eq(bytes, UINT64_C(1) << 61);
#else
	ck_assert(!vfm_bitmap_bytes(UINT64_MAX, &bytes));
	ck_assert(!vfm_bitmap_bytes((uint64_t)SIZE_MAX * 8 + 1, &bytes));
#endif
	ck_assert(vfm_bitmap_bytes(65, &bytes));
	ck_assert_uint_eq(bytes, 16);
	ck_assert(!vfm_array_bytes(SIZE_MAX / 16 + 1, 16, &bytes));
	ck_assert(vfm_array_bytes(SIZE_MAX / 16, 16, &bytes));
}
END_TEST

/* nbits near 2^64: the word count used to wrap to 0, hiding every run
 * after the first word.  Only the words up to the run are read. */
START_TEST(next_range_huge_nbits)
{
	next_range_fn *next_range = next_range_copies[_i];
	uint64_t bm[3] = { 0, UINT64_C(1) << 5, 0 }, pos = 0, len = 0;

	ck_assert_int_eq(next_range(bm, UINT64_MAX, &pos, &len), 1);
	ck_assert_uint_eq(pos, 69);
	ck_assert_uint_eq(len, 1);
	bm[1] = ~UINT64_C(0);
	bm[2] = 0x1;
	pos = 3;
	ck_assert_int_eq(next_range(bm, UINT64_MAX - 1, &pos,
						   &len), 1);
	ck_assert_uint_eq(pos, 64);
	ck_assert_uint_eq(len, 65);
	/* a run ending exactly at nbits */
	pos = 0;
	ck_assert_int_eq(next_range(bm, 100, &pos, &len), 1);
	ck_assert_uint_eq(pos, 64);
	ck_assert_uint_eq(len, 36);
	/* pos at or past nbits, up to the largest */
	pos = UINT64_MAX;
	ck_assert_int_eq(next_range(bm, UINT64_MAX, &pos, &len), 0);
	ck_assert_uint_eq(pos, UINT64_MAX);
	ck_assert_uint_eq(len, 0);
}
END_TEST

/* The private merge with bitmaps at the top of the address space, one or
 * both rounded up past 2^64, against the 128-bit model. */
START_TEST(merge_at_the_top)
{
	for (int iter = 0; iter < 20000; iter++) {
		unsigned int s = 12 + (unsigned int)(rnd() % 52);
		unsigned int d = 12 + (unsigned int)(rnd() % 52);
		uint64_t sps = UINT64_C(1) << s, dps = UINT64_C(1) << d;
		uint64_t sn = 1 + rnd() % 200, dn = 1 + rnd() % 200;
		/* the span's end: 2^64 minus up to 3 pages, or past it by one */
		u128 send = TOP - (u128)sps * (rnd() % 4) + (rnd() % 8 ? 0 : sps);
		u128 dend = TOP - (u128)dps * (rnd() % 4) + (rnd() % 8 ? 0 : dps);

		if ((u128)sn * sps > send)
			sn = (uint64_t)(send / sps);
		if ((u128)dn * dps > dend)
			dn = (uint64_t)(dend / dps);
		if (!sn || !dn || send - (u128)sn * sps >= TOP ||
		    dend - (u128)dn * dps >= TOP)
			continue;
		merge_case(s, (uint64_t)(send - (u128)sn * sps), sn,
			   d, (uint64_t)(dend - (u128)dn * dps), dn);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bitmap");
	TCase *tc = tcase_create("bitmap");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, count);
	tcase_add_loop_test(tc, next_range_walk, 0, 2);
	tcase_add_test(tc, convert_all_ratios);
	tcase_add_test(tc, convert_errors);
	tcase_add_test(tc, merge_offsets);
	tcase_add_test(tc, set_range);
	tcase_add_test(tc, convert_edges);
	tcase_add_test(tc, convert_issue9);
	tcase_add_test(tc, convert_refusals);
	tcase_add_test(tc, sizes_at_the_top);
	tcase_add_loop_test(tc, next_range_huge_nbits, 0, 2);
	tcase_add_test(tc, merge_at_the_top);
	tcase_add_test(tc, conv_fast_paths);
	tcase_add_test(tc, copy_conv_clears);
	tcase_add_test(tc, conv_large_ratios);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
