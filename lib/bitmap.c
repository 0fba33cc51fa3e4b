// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty bitmaps: count, iterate runs, and move bits between page sizes.
 *
 * These sit on the hot path of every pre-copy round (a 1 TiB guest is 2^28
 * bits at 4 KiB), so they work a 64-bit word at a time: popcount and ctz
 * builtins for counting and iteration, and for page-size conversion a
 * branch-free bit spread (finer destination) or fold-and-compact (coarser
 * destination) per word.  Nothing here allocates.
 */
#include <errno.h>
#include <string.h>

#include "bitmap.h"

/* 64 bits of bm starting at bit pos; bits at or past limit read as 0. */
static inline uint64_t get64(const uint64_t *bm, uint64_t limit, uint64_t pos)
{
	uint64_t w = pos / 64;
	unsigned int off = pos % 64;
	uint64_t v;

	if (pos >= limit)
		return 0;
	v = bm[w] >> off;
	/* "word w + 1 holds a bit below limit", without (w + 1) * 64. */
	if (off && w < (limit - 1) / 64)
		v |= bm[w + 1] << (64 - off);
	if (limit - pos < 64)
		v &= (UINT64_C(1) << (limit - pos)) - 1;
	return v;
}

/* OR v into bm at bit pos. Every set bit of v must be a valid bit of bm
 * (so the second word is only touched when it exists). */
static inline void or64(uint64_t *bm, uint64_t pos, uint64_t v)
{
	uint64_t w = pos / 64;
	unsigned int off = pos % 64;

	if (!v)
		return;
	bm[w] |= v << off;
	if (off && (v >> (64 - off)))
		bm[w + 1] |= v >> (64 - off);
}

void vfm_bitmap_set(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t w = start / 64, end = start + n, lw;
	unsigned int off = start % 64;

	if (!n)
		return;
	lw = (end - 1) / 64;
	if (w == lw) {
		uint64_t m = ~UINT64_C(0) >> (64 - n) << off;

		bm[w] |= m;
		return;
	}
	bm[w++] |= ~UINT64_C(0) << off;
	if (lw > w)
		memset(&bm[w], 0xff, (lw - w) * sizeof(*bm));
	bm[lw] |= ~UINT64_C(0) >> (63 - (end - 1) % 64);
}

/* Any bit set in [pos, pos + n)? */
static bool any_bits(const uint64_t *bm, uint64_t pos, uint64_t n)
{
	uint64_t limit = pos + n;

	for (; pos < limit; pos += 64)
		if (get64(bm, limit, pos))
			return true;
	return false;
}

/*
 * Spreading k = 64/r bits to stride r (r = 2^lg, 2 <= r <= 32) and back.
 * After step b of the spread, bit j sits at ((j >> b) << b) * r + (j mod 2^b):
 * groups of 2^b bits, spaced 2^b * r apart.  spread_mask[lg - 1][b] is that
 * set of positions: [0] is "every r-th bit", [6 - lg] the k low bits.
 */
static const uint64_t spread_mask[5][6] = {
	{ 0x5555555555555555ULL, 0x3333333333333333ULL, 0x0f0f0f0f0f0f0f0fULL,
	  0x00ff00ff00ff00ffULL, 0x0000ffff0000ffffULL, 0x00000000ffffffffULL },
	{ 0x1111111111111111ULL, 0x0303030303030303ULL, 0x000f000f000f000fULL,
	  0x000000ff000000ffULL, 0x000000000000ffffULL, 0 },
	{ 0x0101010101010101ULL, 0x0003000300030003ULL, 0x0000000f0000000fULL,
	  0x00000000000000ffULL, 0, 0 },
	{ 0x0001000100010001ULL, 0x0000000300000003ULL, 0x000000000000000fULL,
	  0, 0, 0 },
	{ 0x0000000100000001ULL, 0x0000000000000003ULL, 0, 0, 0, 0 },
};

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* k low bits of x -> bit j at j*r, then each widened to r bits.  lg is a
 * constant at every call site, so the loops unroll. */
static ALWAYS_INLINE uint64_t spread_fill(uint64_t x, unsigned int lg)
{
	const unsigned int r = 1u << lg;

	for (int b = 5 - (int)lg; b >= 0; b--)
		x = (x | (x << ((1u << b) * (r - 1)))) & spread_mask[lg - 1][b];
	/* Bits are r apart: the multiply copies each into its r-bit slot
	 * without carries. */
	return x * ((UINT64_C(1) << r) - 1);
}

/* 64 bits -> k bits, bit i = OR of bits [i*r, i*r + r). */
static ALWAYS_INLINE uint64_t fold_compact(uint64_t x, unsigned int lg)
{
	const unsigned int r = 1u << lg;

	for (unsigned int sh = 1; sh < r; sh <<= 1)
		x |= x >> sh;
	x &= spread_mask[lg - 1][0];
	for (unsigned int b = 0; b < 6 - lg; b++)
		x = (x | (x >> ((1u << b) * (r - 1)))) &
		    spread_mask[lg - 1][b + 1];
	return x;
}

/* Finer dst by r = 2^lg < 64: nd dst bits from d, src bits from s. */
static ALWAYS_INLINE void grow_small(uint64_t *dst, uint64_t d, uint64_t nd,
				     const uint64_t *src, uint64_t s,
				     unsigned int lg)
{
	const unsigned int k = 64u >> lg, r = 1u << lg;
	const uint64_t kmask = (UINT64_C(1) << k) - 1;
	uint64_t limit = s + vfm_div_round_up(nd, r), w = 0;

	if (!(s % 64) && !(d % 64)) {
		const uint64_t *sw = src + s / 64;
		uint64_t *dw = dst + d / 64;

		for (; (w + 1) * 64 <= nd; w++) {
			uint64_t in = sw[w >> lg] >> ((w & (r - 1)) * k) & kmask;

			if (in)
				dw[w] |= spread_fill(in, lg);
		}
	}
	for (; w * 64 < nd; w++) {
		uint64_t in = get64(src, limit, s + w * k) & kmask, out;

		if (!in)
			continue;
		out = spread_fill(in, lg);
		if (nd - w * 64 < 64)
			out &= (UINT64_C(1) << (nd - w * 64)) - 1;
		or64(dst, d + w * 64, out);
	}
}

/* Coarser dst by r = 2^lg < 64: ns src bits from s, dst bits from d. */
static ALWAYS_INLINE void shrink_small(uint64_t *dst, uint64_t d,
				       const uint64_t *src, uint64_t s,
				       uint64_t ns, unsigned int lg)
{
	const unsigned int k = 64u >> lg;
	uint64_t limit = s + ns, w = 0;

	if (!(s % 64) && !(d % 64)) {
		const uint64_t *sw = src + s / 64;
		uint64_t *dw = dst + d / 64;

		/* k divides 64: an output never straddles two words. */
		for (; (w + 1) * 64 <= ns; w++)
			if (sw[w])
				dw[(w * k) / 64] |= fold_compact(sw[w], lg)
						    << ((w * k) % 64);
	}
	for (; w * 64 < ns; w++) {
		uint64_t in = get64(src, limit, s + w * 64);

		if (in)
			or64(dst, d + w * k, fold_compact(in, lg));
	}
}

/* dst bits [d, d + n) |= src bits [s, s + n). */
static void merge_equal(uint64_t *dst, uint64_t d, const uint64_t *src,
			uint64_t s, uint64_t n)
{
	uint64_t limit = s + n;

	if (!(s % 64) && !(d % 64)) {
		uint64_t *dw = dst + d / 64;
		const uint64_t *sw = src + s / 64;
		uint64_t full = n / 64, i;

		for (i = 0; i < full; i++)
			dw[i] |= sw[i];
		if (n % 64)
			dw[i] |= sw[i] & ((UINT64_C(1) << (n % 64)) - 1);
		return;
	}
	for (uint64_t i = 0; i < n; i += 64)
		or64(dst, d + i, get64(src, limit, s + i));
}

/* Finer dst: nd dst bits from [d), each src bit of [s, s + ns) -> r bits. */
static void merge_grow(uint64_t *dst, uint64_t d, uint64_t nd,
		       const uint64_t *src, uint64_t s, uint64_t r)
{
	uint64_t ns = vfm_div_round_up(nd, r), limit = s + ns;

	switch (r) {
	case 2: grow_small(dst, d, nd, src, s, 1); return;
	case 4: grow_small(dst, d, nd, src, s, 2); return;
	case 8: grow_small(dst, d, nd, src, s, 3); return;
	case 16: grow_small(dst, d, nd, src, s, 4); return;
	case 32: grow_small(dst, d, nd, src, s, 5); return;
	}
	/* r >= 64: every set src bit fills r/64 words. */
	for (uint64_t i = 0; i < ns; i += 64) {
		uint64_t v = get64(src, limit, s + i);

		while (v) {
			uint64_t b = i + (uint64_t)__builtin_ctzll(v);
			uint64_t first = b * r;

			vfm_bitmap_set(dst, d + first,
				       nd - first < r ? nd - first : r);
			v &= v - 1;
		}
	}
}

/* Coarser dst: src bits [s, s + ns), each r of them -> one dst bit from d. */
static void merge_shrink(uint64_t *dst, uint64_t d, const uint64_t *src,
			 uint64_t s, uint64_t ns, uint64_t r)
{
	switch (r) {
	case 2: shrink_small(dst, d, src, s, ns, 1); return;
	case 4: shrink_small(dst, d, src, s, ns, 2); return;
	case 8: shrink_small(dst, d, src, s, ns, 3); return;
	case 16: shrink_small(dst, d, src, s, ns, 4); return;
	case 32: shrink_small(dst, d, src, s, ns, 5); return;
	}
	/* r >= 64: one dst bit per r/64 words; stop at the first set word. */
	for (uint64_t j = 0, nd = vfm_div_round_up(ns, r); j < nd; j++) {
		uint64_t from = s + j * r;
		uint64_t n = ns - j * r < r ? ns - j * r : r;

		if (!(from % 64)) {
			const uint64_t *w = src + from / 64;
			uint64_t full = n / 64, i;
			bool hit = false;

			for (i = 0; i < full && !hit; i++)
				hit = w[i] != 0;
			if (!hit && n % 64)
				hit = (w[i] & ((UINT64_C(1) << (n % 64)) - 1)) != 0;
			if (hit)
				dst[(d + j) / 64] |= UINT64_C(1) << ((d + j) % 64);
		} else if (any_bits(src, from, n)) {
			dst[(d + j) / 64] |= UINT64_C(1) << ((d + j) % 64);
		}
	}
}

/* The last byte of n pages of ps from base (n > 0), or UINT64_MAX when they
 * reach 2^64: a partial last page rounded up may, and nothing past 2^64
 * has an address.  Ends are inclusive below so that 2^64 never wraps. */
static uint64_t span_last(uint64_t base, uint64_t ps, uint64_t n)
{
	uint64_t off, last;

	if (__builtin_mul_overflow(n - 1, ps, &off) ||
	    __builtin_add_overflow(base, off, &last) ||
	    __builtin_add_overflow(last, ps - 1, &last))
		return UINT64_MAX;
	return last;
}

void vfm_bitmap_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
		      uint64_t dnbits, const uint64_t *src, uint64_t sbase,
		      uint64_t sps, uint64_t snbits)
{
	uint64_t i0, last, dlast, slast;

	if (!dnbits || !snbits)
		return;
	/* The overlap [i0, last]; every offset below is from a base, and
	 * last - i0 + 1 is a whole number of the smaller page (2^64 included:
	 * hence "(last - x) / ps + 1" for page counts). */
	dlast = span_last(dbase, dps, dnbits);
	slast = span_last(sbase, sps, snbits);
	i0 = dbase > sbase ? dbase : sbase;
	last = dlast < slast ? dlast : slast;
	if (i0 > last)
		return;

	if (sps == dps) {
		merge_equal(dst, (i0 - dbase) / dps, src, (i0 - sbase) / sps,
			    (last - i0) / dps + 1);
	} else if (sps > dps) {
		/* i0 is on a dst page boundary; it may be inside a src page
		 * (dst starts there): do that page's tail first. */
		if (i0 % sps) {
			uint64_t stop = (i0 | (sps - 1)) < last ?
						(i0 | (sps - 1)) : last;
			uint64_t sb = (i0 - sbase) / sps;

			if (src[sb / 64] >> (sb % 64) & 1)
				vfm_bitmap_set(dst, (i0 - dbase) / dps,
					       (stop - i0) / dps + 1);
			if (stop == last)
				return;
			i0 = stop + 1;
		}
		merge_grow(dst, (i0 - dbase) / dps, (last - i0) / dps + 1, src,
			   (i0 - sbase) / sps, sps / dps);
	} else {
		/* i0 is on a src page boundary; it may be inside a dst page
		 * (src starts there): OR that page's part first. */
		if (i0 % dps) {
			uint64_t stop = (i0 | (dps - 1)) < last ?
						(i0 | (dps - 1)) : last;
			uint64_t db = (i0 - dbase) / dps;

			if (any_bits(src, (i0 - sbase) / sps,
				     (stop - i0) / sps + 1))
				dst[db / 64] |= UINT64_C(1) << (db % 64);
			if (stop == last)
				return;
			i0 = stop + 1;
		}
		merge_shrink(dst, (i0 - dbase) / dps, src, (i0 - sbase) / sps,
			     (last - i0) / sps + 1, dps / sps);
	}
}

static ALWAYS_INLINE uint64_t count_words(const uint64_t *bm, uint64_t nbits)
{
	uint64_t full = nbits / 64, n = 0, i;

	for (i = 0; i < full; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	if (nbits % 64)
		n += (uint64_t)__builtin_popcountll(
			bm[i] & ((UINT64_C(1) << (nbits % 64)) - 1));
	return n;
}

#if defined(__x86_64__) && !defined(__POPCNT__)
/* Baseline x86-64 has no POPCNT instruction and the builtin becomes a
 * libgcc call per word; use the instruction where the CPU has it. */
__attribute__((target("popcnt"))) static uint64_t
count_popcnt(const uint64_t *bm, uint64_t nbits)
{
	return count_words(bm, nbits);
}
#endif

VFIOMIG_EXPORT uint64_t vfiomig_bitmap_count(const uint64_t *bitmap,
					     uint64_t nbits)
{
	if (!bitmap)
		return 0;
#if defined(__x86_64__) && !defined(__POPCNT__)
	if (__builtin_cpu_supports("popcnt"))
		return count_popcnt(bitmap, nbits);
#endif
	return count_words(bitmap, nbits);
}

VFIOMIG_EXPORT int vfiomig_bitmap_next_range(const uint64_t *bitmap,
					     uint64_t nbits, uint64_t *pos,
					     uint64_t *len)
{
	uint64_t p, w, word, first, end;

	if (!bitmap || !pos || !len)
		return -EINVAL;
	*len = 0;
	p = *pos;
	if (p >= nbits)
		return 0;

	/* First set bit at or after p. */
	w = p / 64;
	word = bitmap[w] & (~UINT64_C(0) << (p % 64));
	while (!word) {
		if (++w >= BITS_TO_WORDS(nbits))
			return 0;
		word = bitmap[w];
	}
	first = w * 64 + (uint64_t)__builtin_ctzll(word);
	if (first >= nbits)
		return 0;

	/* First clear bit after it. */
	word = ~bitmap[w] & (~UINT64_C(0) << (first % 64));
	while (!word) {
		if (++w >= BITS_TO_WORDS(nbits))
			break;
		word = ~bitmap[w];
	}
	end = word ? w * 64 + (uint64_t)__builtin_ctzll(word) : nbits;
	if (end > nbits)
		end = nbits;
	*pos = first;
	*len = end - first;
	return 1;
}

VFIOMIG_EXPORT int vfiomig_bitmap_convert(const uint64_t *src,
					  uint64_t src_pgsize, uint64_t *dst,
					  uint64_t dst_pgsize, uint64_t length,
					  unsigned int flags)
{
	uint64_t minps, snbits, dnbits;
	size_t sbytes, dbytes;

	if (!src || !dst || flags & ~VFIOMIG_DIRTY_ACCUMULATE)
		return -EINVAL;
	if (!vfm_is_pow2(src_pgsize) || !vfm_is_pow2(dst_pgsize))
		return -EINVAL;
	minps = src_pgsize < dst_pgsize ? src_pgsize : dst_pgsize;
	if (!length || length % minps)
		return -EINVAL;

	/* A partial last page of the coarser size counts: its bitmap may
	 * reach 2^64 (merge handles it), but must fit the address space. */
	snbits = vfm_div_round_up(length, src_pgsize);
	dnbits = vfm_div_round_up(length, dst_pgsize);
	if (!vfm_bitmap_bytes(snbits, &sbytes) ||
	    !vfm_bitmap_bytes(dnbits, &dbytes))
		return -EOVERFLOW;
	if (!(flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(dst, 0, dbytes);
	vfm_bitmap_merge(dst, 0, dst_pgsize, dnbits, src, 0, src_pgsize,
			 snbits);
	return 0;
}
