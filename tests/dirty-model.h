/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dirty-page oracle's model, shared by kcase-dirty.c (both kernels)
 * and test-dirty.c (pages the fake writes): dirty byte spans, the bitmap a
 * query must return for them, a deterministic generator, random page
 * sizes and query windows around a set of tracked ranges.  The includer
 * defines KiB and MiB.  With tests/kenv.h included first (kcase-dirty.c,
 * kcase-dma.c): the programmable device that logs what it writes.
 */
#ifndef DIRTY_MODEL_H
#define DIRTY_MODEL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <check.h>

#include "vfiomig.h"

struct span {
	uint64_t a, b; /* dirty bytes [a, b) */
};

/* bm (based at iova, ps pages, nbits) == pages touching any span. */
static inline void expect(const uint64_t *bm, uint64_t iova, uint64_t ps,
		   uint64_t nbits, const struct span *sp, size_t n)
{
	for (uint64_t i = 0; i < nbits; i++) {
		uint64_t a = iova + i * ps, b = a + ps;
		bool want = false, got = bm[i / 64] >> (i % 64) & 1;

		for (size_t k = 0; k < n; k++)
			if (sp[k].a < b && sp[k].b > a)
				want = true;
		ck_assert_msg(got == want, "page %" PRIu64 " (iova %#" PRIx64
			      ", page size %#" PRIx64 "): got %d want %d", i,
			      a, ps, got, want);
	}
}

static inline uint64_t *bm_alloc(uint64_t nbits)
{
	uint64_t *bm = calloc((nbits + 63) / 64 + 1, 8);

	ck_assert_ptr_nonnull(bm);
	return bm;
}

static uint64_t trng = 0x243f6a8885a308d3ULL;

static inline uint64_t trnd(void)
{
	trng ^= trng >> 12;
	trng ^= trng << 25;
	trng ^= trng >> 27;
	return trng * 0x2545f4914f6cdd1dULL;
}

#define MAXSPANS 4096

struct model {
	struct span sp[MAXSPANS];
	size_t n;
};

static inline void model_add(struct model *m, uint64_t a, uint64_t b)
{
	ck_assert_uint_lt(m->n, MAXSPANS);
	m->sp[m->n].a = a;
	m->sp[m->n++].b = b;
}

/* Forget [a, b): spans are clipped, a span across the window splits. */
static inline void model_clear(struct model *m, uint64_t a, uint64_t b)
{
	size_t n = m->n;

	for (size_t i = 0; i < n; i++) {
		struct span *s = &m->sp[i];

		if (s->b <= a || s->a >= b)
			continue;
		if (s->a < a && s->b > b) {
			model_add(m, b, s->b);
			s = &m->sp[i];
			s->b = a;
		} else if (s->a < a) {
			s->b = a;
		} else if (s->b > b) {
			s->a = b;
		} else {
			s->a = s->b = 0; /* empty */
		}
	}
}

/* OR into want the pages of [iova, iova + nbits * ps) touching a span. */
static inline void model_bits(const struct model *m, uint64_t *want, uint64_t iova,
		       uint64_t ps, uint64_t nbits)
{
	uint64_t end = iova + nbits * ps;

	for (size_t i = 0; i < m->n; i++) {
		uint64_t a = m->sp[i].a > iova ? m->sp[i].a : iova;
		uint64_t b = m->sp[i].b < end ? m->sp[i].b : end;

		if (a >= b)
			continue;
		for (uint64_t p = (a - iova) / ps; p <= (b - 1 - iova) / ps; p++)
			want[p / 64] |= 1ULL << (p % 64);
	}
}

static inline uint64_t pick_ps(void)
{
	static const uint64_t pss[] = { 4096, 4096, 64 * KiB, 2 * MiB };

	return pss[trnd() % 4];
}

/* A window around the ranges, aligned to ps. */
static inline void pick_window(const struct vfiomig_range *r, size_t nr,
			uint64_t ps, uint64_t *iova, uint64_t *len)
{
	uint64_t lo = r[0].iova, hi = r[nr - 1].iova + r[nr - 1].length;
	uint64_t a = lo + trnd() % (hi - lo), b = a + trnd() % (hi - lo);

	if (trnd() % 4 == 0) {
		a = lo;
		b = hi;
	}
	a = a > 64 * MiB ? a - trnd() % (64 * MiB) : 0;
	*iova = a & ~(ps - 1);
	*len = ((b + ps) & ~(ps - 1)) - *iova;
}

#ifdef KENV_H
#include <errno.h>
#include <linux/vfio.h>

/* A programmable device (kenv_gen_add) logging DMA as the fake's vfio-pci
 * functions do, mlx5's model: a second START and a REPORT while not
 * logging are EINVAL; its START answers pgsize (0: echoes the caller's).
 * Pages it writes: kenv_gen_dma_write. */
static inline const char *gen_logger(uint64_t pgsize)
{
	const struct kenv_gen_cfg c = {
		.mig_flags = VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P,
		.state_size = 4096,
		.log_ops = true,
		.log_reject_double = true,
		.log_pgsize = pgsize,
	};

	return kenv_gen_add(&c);
}

/* Is gen_logger's device d logging?  Asked of its driver by a REPORT of a
 * page no case logs (the last but one below 2^64): 0 while logging,
 * EINVAL otherwise (mlx5's model); it reads and clears nothing a case
 * wrote. */
static inline bool gen_logging(struct vfiomig_device *d)
{
	uint64_t bm = 0;
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = UINT64_MAX - 8191,
		.length = 4096,
		.page_size = 4096,
		.bitmap = (uintptr_t)&bm,
	};
	int ret = vfiomig_feature_get(d, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				      &rep, sizeof(rep));

	ck_assert_msg(ret == 0 || ret == -EINVAL, "REPORT: %d", ret);
	ck_assert_uint_eq(bm, 0);
	return ret == 0;
}
#endif

#endif
