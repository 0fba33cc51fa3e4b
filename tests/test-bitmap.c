// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bitmap helpers (lib/bitmap.c, compiled in): count, next_range, convert
 * and the private vfm_bitmap_merge, each against a naive per-bit model,
 * over every page-size ratio from 1/1024 to 1024, odd lengths and offsets,
 * sparse and dense inputs, with guard words to catch writes out of bounds.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <check.h>

#include "dirty.h"

#define GUARD UINT64_C(0xa5a5a5a5a5a5a5a5)

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
	ck_assert_uint_eq(vfiomig_bitmap_count(NULL, 100), 0);
}
END_TEST

START_TEST(next_range)
{
	uint64_t pos = 0, len = 7;
	uint64_t one = 1;

	for (int iter = 0; iter < 2000; iter++) {
		/* Bits past nbits are garbage: they must be ignored. */
		uint64_t nbits = rnd() % 1500, words = BITS_TO_WORDS(nbits) + 1;
		uint64_t *bm = galloc(words);
		uint64_t p = 0, l, i = 0;

		fill(bm, words, (int)(rnd() % 6));
		for (;;) {
			int r = vfiomig_bitmap_next_range(bm, nbits, &p, &l);

			while (i < nbits && !tbit(bm, i))
				i++;
			if (i == nbits) {
				ck_assert_int_eq(r, 0);
				ck_assert_uint_eq(l, 0);
				break;
			}
			ck_assert_int_eq(r, 1);
			ck_assert_uint_eq(p, i);
			while (i < nbits && tbit(bm, i))
				i++;
			ck_assert_uint_eq(l, i - p);
			p += l;
		}
		gcheck_free(bm, words);
	}
	ck_assert_int_eq(vfiomig_bitmap_next_range(NULL, 1, &pos, &len), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_next_range(&one, 1, NULL, &len), -EINVAL);
	ck_assert_int_eq(vfiomig_bitmap_next_range(&one, 1, &pos, NULL), -EINVAL);
	/* pos past the end, zero bits */
	pos = 5;
	ck_assert_int_eq(vfiomig_bitmap_next_range(&one, 1, &pos, &len), 0);
	pos = 0;
	ck_assert_int_eq(vfiomig_bitmap_next_range(&one, 0, &pos, &len), 0);
	ck_assert_int_eq(vfiomig_bitmap_next_range(&one, 1, &pos, &len), 1);
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
					ck_assert_msg(dst[i] == want[i],
						"sps %" PRIu64 " dps %" PRIu64 " len %" PRIu64
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
		uint64_t sw = BITS_TO_WORDS(sn) + 1, dw = BITS_TO_WORDS(dn) + 1;
		uint64_t *src = galloc(sw), *dst = galloc(dw);
		uint64_t *want = calloc(dw, 8);

		if (rnd() & 1)
			sbase = dbase - dbase % sps; /* often overlapping */
		fill(src, sw, (int)(rnd() % 6));
		/* bits past sn are garbage and must not leak into dst */
		fill(dst, dw, 2);
		memcpy(want, dst, dw * 8);
		naive_merge(want, dbase, dps, dn, src, sbase, sps, sn);
		vfm_bitmap_merge(dst, dbase, dps, dn, src, sbase, sps, sn);
		for (uint64_t i = 0; i < dw; i++)
			ck_assert_msg(dst[i] == want[i],
				"sps %" PRIu64 " sbase %#" PRIx64 " sn %" PRIu64
				" dps %" PRIu64 " dbase %#" PRIx64 " dn %" PRIu64
				" word %" PRIu64, sps, sbase, sn, dps, dbase, dn, i);
		free(want);
		gcheck_free(src, sw);
		gcheck_free(dst, dw);
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
		for (uint64_t i = 0; i < words * 64; i++)
			ck_assert_int_eq(tbit(bm, i), i >= start && i < start + n);
		gcheck_free(bm, words);
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
	tcase_add_test(tc, next_range);
	tcase_add_test(tc, convert_all_ratios);
	tcase_add_test(tc, convert_errors);
	tcase_add_test(tc, merge_offsets);
	tcase_add_test(tc, set_range);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
