// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The conversion baselines of bench-bitmap: the loops a VMM would write
 * itself for one fixed pair of page sizes, knowing the ratio at compile
 * time, a 64-bit word at a time (never a bit at a time).  Built with the
 * library's own flags (a distribution builds both for the same ISA; the
 * popcount baseline, bench-bitmap-native.c, is the one built for this
 * CPU).  Bitmap sizes are whole words here (the bench only uses such
 * sizes).
 */
#include <stdint.h>
#include <string.h>

#include "bench-bitmap.h"

/* Same page size: a copy, or an OR. */
void base_same(const uint64_t *src, uint64_t *dst, uint64_t nbits, int acc)
{
	uint64_t words = nbits / 64;

	if (acc) {
		for (uint64_t i = 0; i < words; i++)
			dst[i] |= src[i];
	} else {
		for (uint64_t i = 0; i < words; i++)
			dst[i] = src[i];
	}
}

/* The flag is tested outside the loops, as a caller would write them:
 * STORE(d, v) is "d = v" or "d |= v". */
#define ASSIGN(d, v) ((d) = (v))
#define OR_IN(d, v) ((d) |= (v))

/* 4K -> 2M: dst bit = any of 512 src bits = OR of 8 words != 0. */
#define LOOP_4K_2M(STORE)                                                      \
	for (uint64_t j = 0; j < dnbits / 64; j++) {                           \
		const uint64_t *s = src + j * 64 * 8;                          \
		uint64_t v = 0;                                                \
		for (unsigned int b = 0; b < 64; b++) {                        \
			uint64_t o = s[b * 8] | s[b * 8 + 1] | s[b * 8 + 2] |  \
				     s[b * 8 + 3] | s[b * 8 + 4] |             \
				     s[b * 8 + 5] | s[b * 8 + 6] |             \
				     s[b * 8 + 7];                             \
			v |= (uint64_t)(o != 0) << b;                          \
		}                                                              \
		STORE(dst[j], v);                                              \
	}

void base_4k_2m(const uint64_t *src, uint64_t *dst, uint64_t dnbits, int acc)
{
	if (acc) {
		LOOP_4K_2M(OR_IN)
	} else {
		LOOP_4K_2M(ASSIGN)
	}
}

/* 2M -> 4K: each src bit is 8 words of 0 or ~0. */
#define LOOP_2M_4K(STORE)                                                      \
	for (uint64_t i = 0; i < snbits / 64; i++) {                           \
		uint64_t x = src[i], *d = dst + i * 64 * 8;                    \
		for (unsigned int b = 0; b < 64; b++) {                        \
			uint64_t v = -(x >> b & 1);                            \
			for (unsigned int m = 0; m < 8; m++)                   \
				STORE(d[b * 8 + m], v);                        \
		}                                                              \
	}

void base_2m_4k(const uint64_t *src, uint64_t *dst, uint64_t snbits, int acc)
{
	if (acc) {
		LOOP_2M_4K(OR_IN)
	} else {
		LOOP_2M_4K(ASSIGN)
	}
}

/* 4K -> 64K: dst bit = any of a 16-bit group; 16 src words per dst word. */
#define LOOP_4K_64K(STORE)                                                     \
	for (uint64_t j = 0; j < dnbits / 64; j++) {                           \
		const uint64_t *s = src + j * 16;                              \
		uint64_t v = 0;                                                \
		for (unsigned int m = 0; m < 16; m++)                          \
			for (unsigned int g = 0; g < 4; g++)                   \
				v |= (uint64_t)((s[m] >> (16 * g) & 0xffff) != 0) \
				     << (m * 4 + g);                           \
		STORE(dst[j], v);                                              \
	}

void base_4k_64k(const uint64_t *src, uint64_t *dst, uint64_t dnbits, int acc)
{
	if (acc) {
		LOOP_4K_64K(OR_IN)
	} else {
		LOOP_4K_64K(ASSIGN)
	}
}

/* 64K -> 4K: 4 src bits per dst word, each 16 bits of 0 or ~0. */
#define LOOP_64K_4K(STORE)                                                     \
	for (uint64_t i = 0; i < snbits / 64; i++) {                           \
		uint64_t x = src[i], *d = dst + i * 16;                        \
		for (unsigned int j = 0; j < 16; j++) {                        \
			uint64_t v = 0;                                        \
			for (unsigned int g = 0; g < 4; g++)                   \
				v |= -(x >> (4 * j + g) & 1) &                 \
				     (UINT64_C(0xffff) << (16 * g));           \
			STORE(d[j], v);                                        \
		}                                                              \
	}

void base_64k_4k(const uint64_t *src, uint64_t *dst, uint64_t snbits, int acc)
{
	if (acc) {
		LOOP_64K_4K(OR_IN)
	} else {
		LOOP_64K_4K(ASSIGN)
	}
}
