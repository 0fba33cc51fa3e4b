// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the dirty-bitmap helpers (lib/bitmap.c, compiled
 * in): vfiomig_bitmap_count, vfiomig_bitmap_next_range,
 * vfiomig_bitmap_convert and the private vfm_bitmap_merge and
 * vfm_bitmap_copy_conv, each against a bit-at-a-time model.  The word-at-a-time code has many paths (ratios 2
 * to 32 by spread/fold, larger by whole words, unaligned starts); the
 * model has one.  Page sizes go up to 2^63 and lengths to 2^64 - 1, so
 * the arithmetic at the top of the address space is exercised too: a
 * result is exact, or the call is refused when an end does not fit in 64
 * bits; never a success that loses a bit (issue 9, "Arithmetic at the
 * edges").
 *
 * Input: an op byte, the op's parameters, then the source bitmap's bytes
 * (repeated to fill it).  Bitmaps are allocated to their exact size so
 * that ASan sees a word read or written past the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bits per bitmap, at most: keeps the model quick. */
#define MAX_BITS (1u << 12)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

typedef unsigned __int128 u128;

struct in {
	const uint8_t *p;
	size_t len;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes && in->len; i++, in->p++, in->len--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

static bool tbit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static void sbit(uint64_t *bm, uint64_t i)
{
	bm[i / 64] |= UINT64_C(1) << (i % 64);
}

/* words of bitmap from the rest of the input, repeated; all ones when
 * the input is empty. */
static uint64_t *bitmap_from(struct in *in, uint64_t words)
{
	uint64_t *bm = malloc(words ? words * sizeof(*bm) : 1);
	unsigned char *b = (unsigned char *)bm;

	if (!bm)
		abort();
	for (size_t i = 0; i < words * sizeof(*bm); i++)
		b[i] = in->len ? in->p[i % in->len] : 0xff;
	return bm;
}

/* Bits past nbits in the last word of a and b are equal. */
static bool same_tail(const uint64_t *a, const uint64_t *b, uint64_t nbits)
{
	uint64_t mask;

	if (!(nbits % 64))
		return true;
	mask = ~UINT64_C(0) << (nbits % 64);
	return (a[nbits / 64] & mask) == (b[nbits / 64] & mask);
}

/* ------------------------------------------------- count, next_range */

static void fuzz_iterate(struct in *in)
{
	uint64_t nbits = take(in, 2) % (MAX_BITS + 1);
	uint64_t pos = take(in, 2) % (MAX_BITS + 64), start = pos, len;
	uint64_t words = BITS_TO_WORDS(nbits);
	uint64_t *bm = bitmap_from(in, words);
	uint64_t *seen = calloc(words + 1, sizeof(*seen));
	uint64_t want = 0, runs = 0, prev_end = 0;

	for (uint64_t i = 0; i < nbits; i++)
		want += tbit(bm, i);
	CHECK(vfiomig_bitmap_count(bm, nbits) == want);

	/* The runs from start are exactly the set bits at or after it, each
	 * maximal, in order. */
	while (vfiomig_bitmap_next_range(bm, nbits, &pos, &len) == 1) {
		CHECK(pos >= start && len > 0 && pos + len <= nbits);
		CHECK(!runs || pos > prev_end);
		CHECK(pos == start || !tbit(bm, pos - 1));
		CHECK(pos + len == nbits || !tbit(bm, pos + len));
		for (uint64_t i = pos; i < pos + len; i++)
			sbit(seen, i);
		prev_end = pos + len;
		pos += len;
		CHECK(++runs <= nbits);
	}
	CHECK(len == 0);
	for (uint64_t i = start; i < nbits; i++)
		CHECK(tbit(seen, i) == tbit(bm, i));
	free(seen);
	free(bm);
}

/* ------------------------------------------------------------ convert */

/* ceil(length / 2^lg), or 0 when more than MAX_BITS. */
static uint64_t nbits_of(uint64_t length, unsigned int lg)
{
	u128 n = ((u128)length + ((u128)1 << lg) - 1) >> lg;

	return n > MAX_BITS ? 0 : (uint64_t)n;
}

/* The model: dst page j is set iff a set src page overlaps it; both
 * bitmaps start at 0 and page sizes are powers of two. */
static bool model_bit(const uint64_t *src, uint64_t snbits, unsigned int slg,
		      unsigned int dlg, uint64_t j)
{
	u128 first, last;

	if (dlg <= slg)
		return tbit(src, j >> (slg - dlg));
	first = (u128)j << (dlg - slg);
	last = ((u128)(j + 1) << (dlg - slg)) - 1;
	for (u128 i = first; i <= last && i < snbits; i++)
		if (tbit(src, (uint64_t)i))
			return true;
	return false;
}

static void fuzz_convert(struct in *in)
{
	unsigned int slg = take(in, 1) % 64, dlg = take(in, 1) % 64;
	unsigned int how = (unsigned int)take(in, 1);
	unsigned int flags = how & 1 ? VFIOMIG_DIRTY_ACCUMULATE : 0;
	unsigned int minlg = slg < dlg ? slg : dlg;
	uint64_t length, snbits, dnbits, swords, dwords, *src, *dst, *old;
	bool valid, fits;
	int ret;

	if (how & 2) {
		/* Any length, mostly refused. */
		length = take(in, 8);
	} else {
		/* A multiple of the smaller page, from the top of the
		 * address space when asked. */
		uint64_t k = take(in, 2) + 1;

		if (k > (UINT64_MAX >> minlg))
			return;
		length = k << minlg;
		if (how & 4)
			length = -length; /* 2^64 - k pages */
	}
	snbits = nbits_of(length, slg);
	dnbits = nbits_of(length, dlg);
	if (!snbits || !dnbits)
		return; /* too big to model */
	swords = BITS_TO_WORDS(snbits);
	dwords = BITS_TO_WORDS(dnbits);
	src = bitmap_from(in, swords);
	dst = malloc(dwords * sizeof(*dst));
	old = malloc(dwords * sizeof(*old));
	if (!dst || !old)
		abort();
	for (uint64_t i = 0; i < dwords; i++)
		dst[i] = old[i] = src[i % swords] * 0x9e3779b97f4a7c15ULL;

	ret = vfiomig_bitmap_convert(src, UINT64_C(1) << slg, dst,
				     UINT64_C(1) << dlg, length, flags);
	valid = length && !(length & ((UINT64_C(1) << minlg) - 1));
	/* Both bitmaps end at a representable address. */
	fits = ((u128)snbits << slg) <= UINT64_MAX &&
	       ((u128)dnbits << dlg) <= UINT64_MAX;
	if (!valid) {
		CHECK(ret == -EINVAL);
		CHECK(!memcmp(dst, old, dwords * sizeof(*dst)));
	} else if (ret) {
		/* Refusing is fair only where an end does not fit. */
		CHECK(!fits && (ret == -EOVERFLOW || ret == -EINVAL));
	} else {
		for (uint64_t j = 0; j < dnbits; j++) {
			bool want = model_bit(src, snbits, slg, dlg, j) ||
				    (flags && tbit(old, j));

			CHECK(tbit(dst, j) == want);
		}
		/* The rest of the last word: kept when accumulating, else
		 * cleared (the whole words are overwritten). */
		if (flags) {
			CHECK(same_tail(dst, old, dnbits));
		} else if (dnbits % 64) {
			CHECK(!(dst[dwords - 1] >> (dnbits % 64)));
		}
	}
	free(old);
	free(dst);
	free(src);
}

/* -------------------------------------------------------------- merge */

/*
 * vfm_bitmap_merge (OR) and vfm_bitmap_copy_conv (overwrite whole dst
 * pages, OR partial ones) at arbitrary bases (multiples of their page
 * sizes), the paths vfiomig_dirty_query takes for a range that a backend
 * reports at another page size or offset.  Either bitmap may end at 2^64.
 */
static void fuzz_merge(struct in *in)
{
	bool copy = take(in, 1) & 1;
	unsigned int slg = take(in, 1) % 48, dlg = take(in, 1) % 48;
	uint64_t snbits = take(in, 2) % MAX_BITS + 1;
	uint64_t dnbits = take(in, 2) % MAX_BITS + 1;
	uint64_t sbase = take(in, 8) >> slg << slg;
	uint64_t dbase = take(in, 8) >> dlg << dlg;
	uint64_t dwords = BITS_TO_WORDS(dnbits), *src, *dst, *want, *hit;
	u128 send;

	/* Bring the two close enough to overlap, mostly. */
	if (take(in, 1) & 1)
		dbase = (sbase + (dbase & ((UINT64_C(1) << 40) - 1))) >> dlg << dlg;
	if ((u128)sbase + ((u128)snbits << slg) > (u128)1 << 64 ||
	    (u128)dbase + ((u128)dnbits << dlg) > (u128)1 << 64)
		return;
	src = bitmap_from(in, BITS_TO_WORDS(snbits));
	dst = malloc(dwords * sizeof(*dst));
	want = malloc(dwords * sizeof(*want));
	hit = calloc(dwords, sizeof(*hit));
	if (!dst || !want || !hit)
		abort();
	for (uint64_t i = 0; i < dwords; i++)
		dst[i] = want[i] = src[0] * (i + 1);

	for (uint64_t i = 0; i < snbits; i++) {
		u128 a, b, first, last;

		if (!tbit(src, i))
			continue;
		a = (u128)sbase + ((u128)i << slg);
		b = a + ((u128)1 << slg);
		if (b <= dbase || a >= (u128)dbase + ((u128)dnbits << dlg))
			continue;
		first = a > dbase ? (a - dbase) >> dlg : 0;
		last = (b - 1 - dbase) >> dlg;
		if (last >= dnbits)
			last = dnbits - 1;
		for (u128 j = first; j <= last; j++)
			sbit(hit, (uint64_t)j);
	}
	/* dst page j: [dbase + j * dps, + dps) clipped at 2^64; copy
	 * overwrites it when wholly inside src's span, else ORs. */
	send = (u128)sbase + ((u128)snbits << slg);
	send = send > (u128)1 << 64 ? (u128)1 << 64 : send;
	for (uint64_t j = 0; j < dnbits; j++) {
		u128 c = (u128)dbase + ((u128)j << dlg);
		u128 e = c + ((u128)1 << dlg);

		e = e > (u128)1 << 64 ? (u128)1 << 64 : e;
		if (copy && c >= sbase && e <= send)
			want[j / 64] &= ~(UINT64_C(1) << (j % 64));
		if (tbit(hit, j))
			sbit(want, j);
	}
	if (copy)
		vfm_bitmap_copy_conv(dst, dbase, UINT64_C(1) << dlg, dnbits,
				     src, sbase, UINT64_C(1) << slg, snbits);
	else
		vfm_bitmap_merge(dst, dbase, UINT64_C(1) << dlg, dnbits, src,
				 sbase, UINT64_C(1) << slg, snbits);
	for (uint64_t j = 0; j < dnbits; j++)
		CHECK(tbit(dst, j) == tbit(want, j));
	CHECK(same_tail(dst, want, dnbits));
	free(hit);
	free(want);
	free(dst);
	free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	switch (take(&in, 1) % 3) {
	case 0: fuzz_iterate(&in); break;
	case 1: fuzz_convert(&in); break;
	case 2: fuzz_merge(&in); break;
	}
	return 0;
}
