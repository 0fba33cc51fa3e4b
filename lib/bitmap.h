/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty bitmaps, private and pure: lib/bitmap.c includes only this header
 * and libc (no context, no kernel), so its tests compile it alone.  IOVA
 * ranges are in ranges.h, which uses the edge helpers below.
 *
 * Bitmaps are LSB-first in 64-bit words: bit n of a bitmap based at `base`
 * with page size `ps` stands for [base + n*ps, +ps).
 *
 * Arithmetic at the edges.  Every range the library is given, [iova,
 * iova + length), must end below 2^64 (its exclusive end is a uint64_t):
 * DMA logging and Type1 cannot express a range ending at 2^64 either
 * (kernel-contract.md 8.1, 9.3).  Page counts round up without wrapping,
 * and a bitmap's byte size must fit a size_t.  The helpers below are the
 * one place each rule is computed; callers check at their entry, never per
 * word.
 */
#ifndef VFIOMIG_BITMAP_H
#define VFIOMIG_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "vfiomig.h"

/* ceil(n / d), d > 0, without the wrap of (n + d - 1) / d near 2^64. */
static inline uint64_t vfm_div_round_up(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

#define BITS_TO_WORDS(n) vfm_div_round_up((n), 64)

static inline bool vfm_is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static inline unsigned int vfm_log2(uint64_t pow2)
{
	return (unsigned int)__builtin_ctzll(pow2);
}

static inline uint64_t vfm_align_down(uint64_t x, uint64_t pow2)
{
	return x & ~(pow2 - 1);
}

/* *end = start + len; false when that is 2^64 or more. */
static inline bool vfm_range_end(uint64_t start, uint64_t len, uint64_t *end)
{
	return !__builtin_add_overflow(start, len, end);
}

/* *bytes = the size of a bitmap of nbits bits in whole 64-bit words; false
 * when no size_t holds it (then no such buffer can exist). */
static inline bool vfm_bitmap_bytes(uint64_t nbits, size_t *bytes)
{
	return !__builtin_mul_overflow(BITS_TO_WORDS(nbits), sizeof(uint64_t),
				       bytes);
}

/* *bytes = n * size for an array; false when no size_t holds it. */
static inline bool vfm_array_bytes(size_t n, size_t size, size_t *bytes)
{
	return !__builtin_mul_overflow(n, size, bytes);
}

/* ------------------------------------------------------------ bitmap.c */

/* Set / clear bits [start, start + n). */
void vfm_bitmap_set(uint64_t *bm, uint64_t start, uint64_t n);
void vfm_bitmap_clear(uint64_t *bm, uint64_t start, uint64_t n);

/*
 * OR into dst (based at dbase, dps-byte pages, dnbits bits) every page that
 * overlaps a set page of src (sbase, sps, snbits). Page sizes are powers of
 * two, bases multiples of their page size. Either bitmap may reach 2^64 (a
 * partial last page rounded up): what lies past 2^64 has no address and is
 * ignored. Only dst bits of pages that overlap src's span are touched
 * (bits past dnbits never). Each dst word is computed from whole source
 * words and stored once, at any bases, offsets and ratio; src is read only
 * up to its last bit in the overlap.
 */
void vfm_bitmap_merge(uint64_t *dst, uint64_t dbase, uint64_t dps,
		      uint64_t dnbits, const uint64_t *src, uint64_t sbase,
		      uint64_t sps, uint64_t snbits);

/*
 * The same, but overwriting: every dst page wholly inside src's span (the
 * overlap of the two, in bytes) is set to "any src page it overlaps is
 * set", dirty or clean, each word stored once (no need to clear dst
 * first). A dst page only partly inside src's span (only possible when
 * dps > sps, at either end of src) is OR-ed as by vfm_bitmap_merge: clear
 * such edge bits beforehand (vfm_bitmap_clear) unless they hold another
 * src's contribution to keep. Same size, grow and shrink at any ratio;
 * a dst page clipped at 2^64 counts as whole when src reaches 2^64 too.
 */
void vfm_bitmap_copy_conv(uint64_t *dst, uint64_t dbase, uint64_t dps,
			  uint64_t dnbits, const uint64_t *src, uint64_t sbase,
			  uint64_t sps, uint64_t snbits);

#endif
