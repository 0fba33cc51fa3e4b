/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-bitmap's baselines: bench-bitmap-native.c (-O3 -march=native) and
 * bench-bitmap-base.c (the library's flags). */
#ifndef BENCH_BITMAP_H
#define BENCH_BITMAP_H

#include <stdint.h>

uint64_t base_count(const uint64_t *bm, uint64_t nbits);
void base_same(const uint64_t *src, uint64_t *dst, uint64_t nbits, int acc);
void base_4k_2m(const uint64_t *src, uint64_t *dst, uint64_t dnbits, int acc);
void base_2m_4k(const uint64_t *src, uint64_t *dst, uint64_t snbits, int acc);
void base_4k_64k(const uint64_t *src, uint64_t *dst, uint64_t dnbits, int acc);
void base_64k_4k(const uint64_t *src, uint64_t *dst, uint64_t snbits, int acc);

#endif
