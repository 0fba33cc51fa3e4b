// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The popcount baseline of bench-bitmap, built for this CPU: the Makefile
 * compiles this file with -O3 -march=native after the user's CFLAGS
 * (BENCH_NATIVE_CFLAGS), so the compiler uses the best popcount the host
 * has (POPCNT, or vector code where it vectorizes it).
 */
#include <stdint.h>

#include "bench-bitmap.h"

uint64_t base_count(const uint64_t *bm, uint64_t nbits)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nbits / 64; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}
