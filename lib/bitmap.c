// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty bitmaps: count, iterate runs, and move bits between page sizes.
 *
 * These sit on the hot path of every pre-copy round (a 1 TiB guest is 2^28
 * bits at 4 KiB), so they work a 64-bit word at a time: popcount (AVX-512
 * VPOPCNTQ or AVX2 where the CPU has it) for counting, and for page-size
 * conversion one computed value per destination word, stored once (the
 * walk over runs is inline in vfiomig.h, its exported copy in inline.c):
 *
 *   same size      the source words, shifted when the bit offsets differ;
 *   finer dst      r = 2^lg < 64: k = 64/r source bits spread to r bits
 *                  each (a fixed sequence of shifts, masks, one multiply);
 *                  r >= 64: each source bit is 0 or ~0 for r/64 words;
 *   coarser dst    r < 64: r source words folded (OR of each r-bit group)
 *                  and compacted to k bits each; r >= 64: one bit per
 *                  r/64 source words, "OR of them != 0".
 *
 * The loops over whole words have no data-dependent branch.  One driver
 * (conv_run) takes care of the partial first and last destination words
 * and of bit offsets that are not multiples of 64; the page-size pairs
 * that occur (4K, 64K, 2M, 1G) with word-aligned bitmaps take the fast
 * loops.  Nothing here allocates.
 */
#include <errno.h>
#include <string.h>

#include "bitmap.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))
/* Loops of a constant count: unrolled whole (gcc and clang). */
#define UNROLL _Pragma("GCC unroll 64")

/* How a converted value reaches the destination. */
enum { MODE_OR, MODE_COPY };

/* The n low bits, 1 <= n <= 64. */
static ALWAYS_INLINE uint64_t low_mask(uint64_t n)
{
	return ~UINT64_C(0) >> (64 - n);
}

static ALWAYS_INLINE void put(uint64_t *p, uint64_t v, int mode)
{
	if (mode == MODE_COPY)
		*p = v;
	else
		*p |= v;
}

/* Only the bits of m (m != 0). */
static ALWAYS_INLINE void put_masked(uint64_t *p, uint64_t v, uint64_t m,
				     int mode)
{
	if (mode == MODE_COPY)
		*p = (*p & ~m) | (v & m);
	else
		*p |= v & m;
}

/* 64 bits of bm starting at bit pos; bits at or past limit read as 0, and
 * no word wholly past limit is read. */
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
		v &= low_mask(limit - pos);
	return v;
}

/* Bit b of bm, 0 at or past limit. */
static inline uint64_t get1(const uint64_t *bm, uint64_t limit, uint64_t b)
{
	return b < limit ? bm[b / 64] >> (b % 64) & 1 : 0;
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

void vfm_bitmap_set(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t w = start / 64, end = start + n, lw;
	unsigned int off = start % 64;

	if (!n)
		return;
	lw = (end - 1) / 64;
	if (w == lw) {
		bm[w] |= low_mask(n) << off;
		return;
	}
	bm[w++] |= ~UINT64_C(0) << off;
	if (lw > w)
		memset(&bm[w], 0xff, (lw - w) * sizeof(*bm));
	bm[lw] |= ~UINT64_C(0) >> (63 - (end - 1) % 64);
}

void vfm_bitmap_clear(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t w = start / 64, end = start + n, lw;
	unsigned int off = start % 64;

	if (!n)
		return;
	lw = (end - 1) / 64;
	if (w == lw) {
		bm[w] &= ~(low_mask(n) << off);
		return;
	}
	bm[w++] &= ~(~UINT64_C(0) << off);
	if (lw > w)
		memset(&bm[w], 0, (lw - w) * sizeof(*bm));
	bm[lw] &= ~(~UINT64_C(0) >> (63 - (end - 1) % 64));
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

/* spread_fill for k = 4 and 2 bits: a table (one load a word). */
#define F16 UINT64_C(0xffff)
#define F32 UINT64_C(0xffffffff)
static const uint64_t spread16[16] = {
	0, F16, F16 << 16, F16 * 0x10001, F16 << 32, F16 * 0x100000001,
	F16 * 0x100010000, F16 * 0x100010001, F16 << 48, F16 * 0x1000000000001,
	F16 * 0x1000000010000, F16 * 0x1000000010001, F16 * 0x1000100000000,
	F16 * 0x1000100000001, F16 * 0x1000100010000, F16 * 0x1000100010001,
};
static const uint64_t spread32[4] = { 0, F32, F32 << 32, ~UINT64_C(0) };
#undef F16
#undef F32

/* k low bits of x (the rest 0) -> bit j at j*r, then each widened to r
 * bits.  lg is a constant at every call site, so the loops unroll. */
static ALWAYS_INLINE uint64_t spread_fill(uint64_t x, unsigned int lg)
{
	const unsigned int r = 1u << lg;

	if (lg == 4)
		return spread16[x];
	if (lg == 5)
		return spread32[x];
	UNROLL
	for (int b = 5 - (int)lg; b >= 0; b--)
		x = (x | (x << ((1u << b) * (r - 1)))) & spread_mask[lg - 1][b];
	/* Bits are r apart: the multiply copies each into its r-bit slot
	 * without carries. */
	return x * ((UINT64_C(1) << r) - 1);
}

/* 64 bits -> k bits, bit i = OR of bits [i*r, i*r + r). */
static ALWAYS_INLINE uint64_t fold_compact(uint64_t x, unsigned int lg)
{
	const unsigned int r = 1u << lg, k = 64u >> lg;

	UNROLL
	for (unsigned int sh = 1; sh < r; sh <<= 1)
		x |= x >> sh;
	x &= spread_mask[lg - 1][0];
	if (r >= k) {
		/* r >= 8: one multiply gathers bit i*r to 64 - k + i (every
		 * partial product lands on its own bit: no carries):
		 * gather_mul[lg] = sum of 2^(64 - k + i - i*r), i < k. */
		static const uint64_t gather_mul[6] = {
			0, 0, 0, 0x0102040810204080ULL, 0x1000200040008000ULL,
			0x4000000080000000ULL,
		};

		return (x * gather_mul[lg]) >> (64 - k);
	}
	UNROLL
	for (unsigned int b = 0; b < 6 - lg; b++)
		x = (x | (x >> ((1u << b) * (r - 1)))) &
		    spread_mask[lg - 1][b + 1];
	return x;
}

/*
 * One conversion: destination bits [d, d + n) from the source, where
 * destination bit d + t comes from
 *   EQUAL   source bit s + t;
 *   GROW    source bit (s + t) >> lg (s counts destination pages here);
 *   SHRINK  source bits [s + t * 2^lg, + 2^lg).
 * Source bits at or past limit read as 0 and are never read beyond their
 * word.  For GROW and SHRINK every destination page is a whole one.  GROW
 * and SHRINK take a constant lg of 1 to 5; GROW_BIG and SHRINK_BIG any lg
 * of 6 or more (c->lg).
 */
enum { EQUAL, GROW, SHRINK, GROW_BIG, SHRINK_BIG };

struct conv {
	const uint64_t *src;
	uint64_t s, limit;
	unsigned int lg;
};

/* 64 destination bits from destination bit d + t, any alignment. */
static ALWAYS_INLINE uint64_t gen(const struct conv *c, uint64_t t, int kind,
				  unsigned int lg)
{
	const uint64_t *src = c->src;
	uint64_t limit = c->limit;

	if (kind == EQUAL)
		return get64(src, limit, c->s + t);
	if (kind == GROW) {
		const unsigned int k = 64u >> lg;
		uint64_t q = c->s + t, x = get64(src, limit, q >> lg), v;
		unsigned int ph = q & ((1u << lg) - 1);

		v = spread_fill(x & low_mask(k), lg) >> ph;
		/* the top ph bits: from the next source bit */
		if (ph)
			v |= -(x >> k & 1) << (64 - ph);
		return v;
	}
	if (kind == GROW_BIG) {
		uint64_t q = c->s + t, a = q >> lg;
		uint64_t left = (UINT64_C(1) << lg) - (q & ((UINT64_C(1) << lg) - 1));
		uint64_t v = -get1(src, limit, a);

		if (left < 64)
			v = (v & low_mask(left)) | (-get1(src, limit, a + 1) << left);
		return v;
	}
	if (kind == SHRINK) {
		const unsigned int r = 1u << lg, k = 64u >> lg;
		uint64_t p = c->s + t * r, v = 0;

		for (unsigned int m = 0; m < r; m++)
			v |= fold_compact(get64(src, limit, p + 64 * m), lg)
			     << (m * k);
		return v;
	}
	{
		uint64_t r = UINT64_C(1) << lg, p = c->s + t * r, v = 0;

		for (unsigned int j = 0; j < 64 && p < limit; j++) {
			uint64_t n = limit - p < r ? limit - p : r;

			v |= (uint64_t)any_bits(src, p, n) << j;
			if (limit - p <= r)
				break;
			p += r;
		}
		return v;
	}
}

/* Two words as one 128-bit vector (SSE2 on x86-64, NEON on arm64; GCC
 * and clang lower it for any target), loaded and stored unaligned. */
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(8), may_alias));

/* dw[0..n) |= sw[0..n), eight words a step. */
static void or_words(uint64_t *restrict dw, const uint64_t *restrict sw,
		     uint64_t n)
{
	uint64_t i = 0;

	for (; n - i >= 8; i += 8) {
		v2u64 *d = (v2u64 *)&dw[i];
		const v2u64 *s = (const v2u64 *)&sw[i];

		d[0] |= s[0];
		d[1] |= s[1];
		d[2] |= s[2];
		d[3] |= s[3];
	}
	for (; i < n; i++)
		dw[i] |= sw[i];
}

/* dw[0..n) = v (or |= v), n a small constant: two words a vector. */
static ALWAYS_INLINE void fill_words(uint64_t *dw, uint64_t v, unsigned int n,
				     int mode)
{
	v2u64 vv = { v, v };
	unsigned int i = 0;

	UNROLL
	for (; i + 2 <= n; i += 2) {
		if (mode == MODE_COPY)
			*(v2u64 *)&dw[i] = vv;
		else
			*(v2u64 *)&dw[i] |= vv;
	}
	if (i < n)
		put(&dw[i], v, mode);
}

/*
 * Whole destination words dw[0..full), word w holding destination bits
 * from d + t + 64 * w, when the source lines up with them: returns how many
 * it did (the caller does the rest with gen()).
 */
static ALWAYS_INLINE uint64_t fast(uint64_t *dw, uint64_t full,
				   const struct conv *c, uint64_t t, int kind,
				   unsigned int lg, int mode)
{
	const uint64_t *src = c->src;

	if (kind == EQUAL) {
		uint64_t p = c->s + t;
		const uint64_t *sw = src + p / 64;
		unsigned int o = p % 64;
		uint64_t w;

		if (!o) {
			if (mode == MODE_COPY)
				memcpy(dw, sw, full * sizeof(*dw));
			else
				or_words(dw, sw, full);
			return full;
		}
		/* word w reads sw[w] and sw[w + 1]: the latter must hold a
		 * bit below limit */
		if ((c->limit - 1) / 64 <= p / 64)
			return 0;
		if (full > (c->limit - 1) / 64 - p / 64)
			full = (c->limit - 1) / 64 - p / 64;
		for (w = 0; w < full; w++)
			put(&dw[w], sw[w] >> o | sw[w + 1] << (64 - o), mode);
		return full;
	}
	if (kind == GROW) {
		const unsigned int r = 1u << lg, k = 64u >> lg;
		uint64_t q = c->s + t, n = full >> lg;
		const uint64_t *sw = src + (q >> lg) / 64;

		if (q % (64u * r))
			return 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t x = sw[i];

			UNROLL
			for (unsigned int j = 0; j < r; j++)
				put(&dw[i * r + j],
				    spread_fill(x >> (j * k) & low_mask(k), lg),
				    mode);
		}
		return n << lg;
	}
	if (kind == GROW_BIG) {
		uint64_t q = c->s + t, a = q >> lg;
		uint64_t rw = UINT64_C(1) << (lg - 6), w = 0, j;

		if (q % 64)
			return 0;
		/* the rest of source bit a, then whole ones */
		j = (q & ((UINT64_C(1) << lg) - 1)) / 64;
		if (j && full) {
			uint64_t v = -(src[a / 64] >> (a % 64) & 1);

			for (; j < rw && w < full; j++, w++)
				put(&dw[w], v, mode);
			a++;
		}
		switch (rw) {
#define GROW_WHOLE(RW)                                                         \
	/* a source word at a time while it lasts, then bit by bit */        \
	for (; a % 64 == 0 && full - w >= 64 * (RW); w += 64 * (RW), a += 64) { \
		uint64_t x = src[a / 64];                                      \
		for (unsigned int b = 0; b < 64; b++)                          \
			fill_words(&dw[w + b * (RW)], -(x >> b & 1), (RW),     \
				   mode);                                      \
	}                                                                      \
	for (; full - w >= (RW); w += (RW), a++)                               \
		fill_words(&dw[w], -(src[a / 64] >> (a % 64) & 1), (RW), mode); \
	break;
		case 1: GROW_WHOLE(1)
		case 2: GROW_WHOLE(2)
		case 4: GROW_WHOLE(4)
		case 8: GROW_WHOLE(8)
		case 16: GROW_WHOLE(16)
#undef GROW_WHOLE
		default:
			for (; full - w >= rw; w += rw, a++) {
				uint64_t v = -(src[a / 64] >> (a % 64) & 1);

				if (mode == MODE_COPY) {
					memset(&dw[w], (int)(v & 0xff),
					       rw * sizeof(*dw));
				} else {
					for (uint64_t i = 0; i < rw; i++)
						dw[w + i] |= v;
				}
			}
			break;
		}
		return w;
	}
	if (kind == SHRINK) {
		const unsigned int r = 1u << lg, k = 64u >> lg;
		uint64_t p = c->s + t * r;
		const uint64_t *sw = src + p / 64;

		if (p % 64)
			return 0;
		for (uint64_t w = 0; w < full; w++) {
			uint64_t v = 0;

			UNROLL
			for (unsigned int m = 0; m < r; m++)
				v |= fold_compact(sw[w * r + m], lg) << (m * k);
			put(&dw[w], v, mode);
		}
		return full;
	}
	{
		uint64_t p = c->s + (t << lg), rw = UINT64_C(1) << (lg - 6);
		const uint64_t *sw = src + p / 64;

		if (p % 64)
			return 0;
		switch (rw) {
#define SHRINK_WHOLE(RW)                                                       \
	for (uint64_t w = 0; w < full; w++) {                                  \
		uint64_t v = 0;                                                \
		for (unsigned int j = 0; j < 64; j++) {                        \
			uint64_t o = 0;                                        \
			UNROLL                                                 \
			for (uint64_t i = 0; i < (RW); i++)                    \
				o |= sw[j * (RW) + i];                         \
			v |= (uint64_t)(o != 0) << j;                          \
		}                                                              \
		sw += 64 * (RW);                                               \
		put(&dw[w], v, mode);                                          \
	}                                                                      \
	break;
		case 1: SHRINK_WHOLE(1)
		case 2: SHRINK_WHOLE(2)
		case 4: SHRINK_WHOLE(4)
		case 8: SHRINK_WHOLE(8)
		case 16: SHRINK_WHOLE(16)
#undef SHRINK_WHOLE
		default:
			for (uint64_t w = 0; w < full; w++) {
				uint64_t v = 0;

				for (unsigned int j = 0; j < 64; j++) {
					uint64_t o = 0;

					for (uint64_t i = 0; i < rw; i++)
						o |= sw[i];
					sw += rw;
					v |= (uint64_t)(o != 0) << j;
				}
				put(&dw[w], v, mode);
			}
			break;
		}
		return full;
	}
}

/* gen() for the partial first and last words: one shared copy. */
static __attribute__((noinline)) uint64_t gen_any(const struct conv *c,
						  uint64_t t, int kind)
{
	switch (kind == EQUAL ? 0 : kind >= GROW_BIG ? 6 : c->lg) {
	case 0: return gen(c, t, EQUAL, 0);
	case 1: return kind == GROW ? gen(c, t, GROW, 1) : gen(c, t, SHRINK, 1);
	case 2: return kind == GROW ? gen(c, t, GROW, 2) : gen(c, t, SHRINK, 2);
	case 3: return kind == GROW ? gen(c, t, GROW, 3) : gen(c, t, SHRINK, 3);
	case 4: return kind == GROW ? gen(c, t, GROW, 4) : gen(c, t, SHRINK, 4);
	case 5: return kind == GROW ? gen(c, t, GROW, 5) : gen(c, t, SHRINK, 5);
	default:
		return kind == GROW_BIG ? gen(c, t, GROW_BIG, c->lg) :
					  gen(c, t, SHRINK_BIG, c->lg);
	}
}

static ALWAYS_INLINE void conv_run(uint64_t *dst, uint64_t d, uint64_t n,
				   const struct conv *c, int kind,
				   unsigned int lg, int mode)
{
	uint64_t *dw = dst + d / 64, t = 0, full, w;
	unsigned int off = d % 64;

	if (!n)
		return;
	if (off) {
		uint64_t m = n < 64 - off ? low_mask(n) << off : ~UINT64_C(0) << off;

		put_masked(dw, gen_any(c, 0, kind) << off, m, mode);
		t = 64 - off;
		dw++;
		if (t >= n)
			return;
	}
	full = (n - t) / 64;
	w = fast(dw, full, c, t, kind, lg, mode);
	for (; w < full; w++)
		put(&dw[w], gen(c, t + 64 * w, kind, lg), mode);
	if ((n - t) % 64)
		put_masked(&dw[full], gen_any(c, t + 64 * full, kind),
			   low_mask((n - t) % 64), mode);
}

/* One instance per (kind, small ratio, mode): the constants unroll. */
static void conv_dispatch(uint64_t *dst, uint64_t d, uint64_t n,
			  const struct conv *c, int kind, int mode)
{
#define RUN(K, LG)                                                             \
	do {                                                                   \
		if (mode == MODE_COPY)                                         \
			conv_run(dst, d, n, c, K, LG, MODE_COPY);              \
		else                                                           \
			conv_run(dst, d, n, c, K, LG, MODE_OR);                \
	} while (0)

	if (kind == EQUAL) {
		RUN(EQUAL, 0);
		return;
	}
	switch (c->lg) {
	case 1: if (kind == GROW) RUN(GROW, 1); else RUN(SHRINK, 1); break;
	case 2: if (kind == GROW) RUN(GROW, 2); else RUN(SHRINK, 2); break;
	case 3: if (kind == GROW) RUN(GROW, 3); else RUN(SHRINK, 3); break;
	case 4: if (kind == GROW) RUN(GROW, 4); else RUN(SHRINK, 4); break;
	case 5: if (kind == GROW) RUN(GROW, 5); else RUN(SHRINK, 5); break;
	default: if (kind == GROW) RUN(GROW_BIG, c->lg); else RUN(SHRINK_BIG, c->lg); break;
	}
#undef RUN
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

/* Set dst bit db when any src bit of [sb, sb + n) is set. */
static void or_any(uint64_t *dst, uint64_t db, const uint64_t *src,
		   uint64_t sb, uint64_t n)
{
	if (any_bits(src, sb, n))
		dst[db / 64] |= UINT64_C(1) << (db % 64);
}

static void bitmap_conv(uint64_t *dst, uint64_t dbase, uint64_t dps,
			uint64_t dnbits, const uint64_t *src, uint64_t sbase,
			uint64_t sps, uint64_t snbits, int mode)
{
	uint64_t i0, last, dlast, slast;
	struct conv c = { .src = src };

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
		c.s = (i0 - sbase) / sps;
		c.limit = (last - sbase) / sps + 1;
		conv_dispatch(dst, (i0 - dbase) / dps, (last - i0) / dps + 1,
			      &c, EQUAL, mode);
	} else if (sps > dps) {
		/* i0 is on a dst page boundary, maybe inside a src page:
		 * s counts dst pages from sbase, so the phase is in it. */
		c.lg = vfm_log2(sps / dps);
		c.s = (i0 - sbase) / dps;
		c.limit = (last - sbase) / sps + 1;
		conv_dispatch(dst, (i0 - dbase) / dps, (last - i0) / dps + 1,
			      &c, GROW, mode);
	} else {
		/* i0 is on a src page boundary.  A dst page only partly in
		 * the overlap (at either end) is OR-ed, whatever the mode. */
		if (i0 % dps) {
			uint64_t stop = (i0 | (dps - 1)) < last ?
						(i0 | (dps - 1)) : last;

			or_any(dst, (i0 - dbase) / dps, src, (i0 - sbase) / sps,
			       (stop - i0) / sps + 1);
			if (stop == last)
				return;
			i0 = stop + 1;
		}
		if ((last | (dps - 1)) != last) {
			uint64_t lo = vfm_align_down(last, dps);

			or_any(dst, (lo - dbase) / dps, src, (lo - sbase) / sps,
			       (last - lo) / sps + 1);
			if (lo == i0)
				return;
			last = lo - 1;
		}
		c.lg = vfm_log2(dps / sps);
		c.s = (i0 - sbase) / sps;
		c.limit = (last - sbase) / sps + 1;
		conv_dispatch(dst, (i0 - dbase) / dps, (last - i0) / dps + 1,
			      &c, SHRINK, mode);
	}
}

void vfm_bitmap_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
		      uint64_t dnbits, const uint64_t *src, uint64_t sbase,
		      uint64_t sps, uint64_t snbits)
{
	bitmap_conv(dst, dbase, dps, dnbits, src, sbase, sps, snbits, MODE_OR);
}

void vfm_bitmap_copy_conv(uint64_t *dst, uint64_t dbase, uint64_t dps,
			  uint64_t dnbits, const uint64_t *src, uint64_t sbase,
			  uint64_t sps, uint64_t snbits)
{
	bitmap_conv(dst, dbase, dps, dnbits, src, sbase, sps, snbits,
		    MODE_COPY);
}

/* ------------------------------------------------------------- count */

static ALWAYS_INLINE uint64_t count_words(const uint64_t *bm, uint64_t nbits)
{
	uint64_t full = nbits / 64, n = 0, i;

	for (i = 0; i < full; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	if (nbits % 64)
		n += (uint64_t)__builtin_popcountll(bm[i] & low_mask(nbits % 64));
	return n;
}

#if defined(__x86_64__)
/* Baseline x86-64 has no POPCNT instruction and the builtin becomes a
 * libgcc call per word; use the instruction where the CPU has it. */
__attribute__((target("popcnt"))) static uint64_t
count_popcnt(const uint64_t *bm, uint64_t nbits)
{
	return count_words(bm, nbits);
}

/* 4-bit table lookups (vpshufb) on 32 bytes at a time, byte counts summed
 * with vpsadbw before they can overflow (Mula, Kurz, Lemire 2018). */
__attribute__((target("avx2,popcnt"))) static uint64_t
count_avx2(const uint64_t *bm, uint64_t nbits)
{
	const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
					     2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3,
					     1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i low = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
	uint64_t words = nbits / 64, i = 0, n;
	__m256i total = zero;

	while (words - i >= 8) {
		/* at most 8 per byte per vector and round: 15 rounds of two
		 * vectors stay below 256 */
		__m256i a = zero, b = zero;

		for (unsigned int j = 0; j < 15 && words - i >= 8; j++, i += 8) {
			__m256i x = _mm256_loadu_si256((const __m256i *)&bm[i]);
			__m256i y = _mm256_loadu_si256((const __m256i *)&bm[i + 4]);

			a = _mm256_add_epi8(a, _mm256_shuffle_epi8(lut,
				_mm256_and_si256(x, low)));
			a = _mm256_add_epi8(a, _mm256_shuffle_epi8(lut,
				_mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
			b = _mm256_add_epi8(b, _mm256_shuffle_epi8(lut,
				_mm256_and_si256(y, low)));
			b = _mm256_add_epi8(b, _mm256_shuffle_epi8(lut,
				_mm256_and_si256(_mm256_srli_epi16(y, 4), low)));
		}
		total = _mm256_add_epi64(total, _mm256_sad_epu8(a, zero));
		total = _mm256_add_epi64(total, _mm256_sad_epu8(b, zero));
	}
	n = (uint64_t)_mm256_extract_epi64(total, 0) +
	    (uint64_t)_mm256_extract_epi64(total, 1) +
	    (uint64_t)_mm256_extract_epi64(total, 2) +
	    (uint64_t)_mm256_extract_epi64(total, 3);
	return n + count_words(bm + i, nbits - i * 64);
}

/* One VPOPCNTQ per 8 words, four independent sums so the adds do not wait
 * on each other. */
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) static uint64_t
count_avx512(const uint64_t *bm, uint64_t nbits)
{
	uint64_t words = nbits / 64, i = 0;
	__m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;

	for (; words - i >= 32; i += 32) {
		s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(
			_mm512_loadu_si512((const void *)&bm[i])));
		s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(
			_mm512_loadu_si512((const void *)&bm[i + 8])));
		s2 = _mm512_add_epi64(s2, _mm512_popcnt_epi64(
			_mm512_loadu_si512((const void *)&bm[i + 16])));
		s3 = _mm512_add_epi64(s3, _mm512_popcnt_epi64(
			_mm512_loadu_si512((const void *)&bm[i + 24])));
	}
	for (; words - i >= 8; i += 8)
		s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(
			_mm512_loadu_si512((const void *)&bm[i])));
	s0 = _mm512_add_epi64(_mm512_add_epi64(s0, s1),
			      _mm512_add_epi64(s2, s3));
	return (uint64_t)_mm512_reduce_add_epi64(s0) +
	       count_words(bm + i, nbits - i * 64);
}
#endif

VFIOMIG_EXPORT uint64_t vfiomig_bitmap_count(const uint64_t *bitmap,
					     uint64_t nbits)
{
	if (!bitmap)
		return 0;
#if defined(__x86_64__)
	/* libgcc's CPU model, filled once at load: reading it per call is a
	 * load and a test. */
	if (__builtin_cpu_supports("avx512vpopcntdq"))
		return count_avx512(bitmap, nbits);
	if (__builtin_cpu_supports("avx2"))
		return count_avx2(bitmap, nbits);
	if (__builtin_cpu_supports("popcnt"))
		return count_popcnt(bitmap, nbits);
#endif
	return count_words(bitmap, nbits);
}

/* ----------------------------------------------------------- convert */

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
	if (flags & VFIOMIG_DIRTY_ACCUMULATE) {
		vfm_bitmap_merge(dst, 0, dst_pgsize, dnbits, src, 0, src_pgsize,
				 snbits);
		return 0;
	}
	/* Every word is written once, except the last when it has bits past
	 * dnbits (cleared) or a partial last dst page (OR-ed): cleared first. */
	if (dnbits % 64 || (dst_pgsize > src_pgsize && length % dst_pgsize))
		dst[dbytes / sizeof(*dst) - 1] = 0;
	vfm_bitmap_copy_conv(dst, 0, dst_pgsize, dnbits, src, 0, src_pgsize,
			     snbits);
	return 0;
}
