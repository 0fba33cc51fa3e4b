// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for vfiomig_dirty_plan_ranges (lib/ranges.c, compiled
 * in), checked against what an optimal plan must be, in 128-bit
 * arithmetic so that nothing here wraps where the library might:
 *
 *   - an input with a zero length is refused with -EINVAL, one whose end,
 *     aligned up to the page size, is not below 2^64 with -EOVERFLOW;
 *   - otherwise the plan has min(m, max) ranges, m being the number of
 *     pieces of the union of the inputs aligned outward (touching pieces
 *     join); they are aligned, sorted, apart, start and end where pieces
 *     do, cover every input, and cover no more than the union plus the
 *     m - max smallest gaps between pieces (the optimum; ranges.c says
 *     why).
 *
 * Input: a style byte, the page size's log2, max, then ranges.  The
 * `compact` style packs each range as a small gap after the previous one
 * and a small length, so that merging and reduction get exercised; the
 * other takes raw 64-bit values, for the edges of the address space.
 *
 * Style bit 1 fuzzes the tracker's range set (vfm_rangeset_*) instead:
 * the input is a starting set and a list of adds and removes (small
 * page-granular values, or raw 64-bit ones with `compact` off), run
 * beside a plain sorted array; after each operation the set's count,
 * copy and iteration from a few addresses must be the array's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfiomig.h"
#include "ranges.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RANGES 128

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

typedef unsigned __int128 u128;

#define TOP ((u128)1 << 64)

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

struct span {
	u128 start, end; /* [start, end) */
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_u128(const void *a, const void *b)
{
	const u128 *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* The union of the spans, sorted, touching ones joined: its piece count. */
static size_t union_of(struct span *s, size_t n)
{
	size_t m = 0;

	if (!n)
		return 0;
	qsort(s, n, sizeof(*s), cmp_span);
	for (size_t i = 1; i < n; i++) {
		if (s[i].start <= s[m].end) {
			if (s[i].end > s[m].end)
				s[m].end = s[i].end;
		} else {
			s[++m] = s[i];
		}
	}
	return m + 1;
}

static bool is_piece_start(const struct span *u, size_t m, u128 x)
{
	for (size_t i = 0; i < m; i++)
		if (u[i].start == x)
			return true;
	return false;
}

static bool is_piece_end(const struct span *u, size_t m, u128 x)
{
	for (size_t i = 0; i < m; i++)
		if (u[i].end == x)
			return true;
	return false;
}

static void check_plan(const struct vfiomig_range *in, size_t n, u128 ps,
		       const struct vfiomig_range *out, size_t k, size_t max)
{
	struct span u[MAX_RANGES];
	u128 gaps[MAX_RANGES], want_area = 0, area = 0;
	size_t m;

	for (size_t i = 0; i < n; i++) {
		u[i].start = in[i].iova / ps * ps;
		u[i].end = ((u128)in[i].iova + in[i].length + ps - 1) / ps * ps;
	}
	m = union_of(u, n);
	CHECK(k == (m < max ? m : max));
	for (size_t i = 0; i < m; i++)
		want_area += u[i].end - u[i].start;
	for (size_t i = 0; i + 1 < m; i++)
		gaps[i] = u[i + 1].start - u[i].end;
	if (m > 1)
		qsort(gaps, m - 1, sizeof(gaps[0]), cmp_u128);
	for (size_t i = 0; i < m - k; i++)
		want_area += gaps[i];

	for (size_t j = 0; j < k; j++) {
		u128 start = out[j].iova, end = start + out[j].length;

		CHECK(out[j].length > 0 && end < TOP);
		CHECK(start % ps == 0 && end % ps == 0);
		CHECK(!j || start > (u128)out[j - 1].iova + out[j - 1].length);
		CHECK(is_piece_start(u, m, start) && is_piece_end(u, m, end));
		area += out[j].length;
	}
	CHECK(area == want_area);
	for (size_t i = 0; i < n; i++) {
		u128 s = in[i].iova, e = s + in[i].length;
		bool covered = false;

		for (size_t j = 0; j < k && !covered; j++)
			covered = out[j].iova <= s &&
				  e <= (u128)out[j].iova + out[j].length;
		CHECK(covered);
	}
}

/* ------------------------------------------------------------ range set */

#define MAX_SET 512

struct arr {
	struct vfiomig_range r[MAX_SET];
	size_t n;
};

static void arr_put(struct arr *a, size_t at, uint64_t iova, uint64_t len)
{
	memmove(&a->r[at + 1], &a->r[at], (a->n - at) * sizeof(a->r[0]));
	a->r[at].iova = iova;
	a->r[at].length = len;
	a->n++;
}

static void arr_remove(struct arr *a, uint64_t iova, uint64_t len)
{
	u128 end = (u128)iova + len;
	struct arr *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	for (size_t i = 0; i < a->n; i++) {
		uint64_t s = a->r[i].iova;
		u128 e = (u128)s + a->r[i].length;

		if (e <= iova || s >= end) {
			arr_put(t, t->n, s, a->r[i].length);
			continue;
		}
		if (s < iova)
			arr_put(t, t->n, s, iova - s);
		if (e > end)
			arr_put(t, t->n, (uint64_t)end, (uint64_t)(e - end));
	}
	memcpy(a, t, sizeof(*a));
	free(t);
}

/* 0 (added), -EEXIST, -EINVAL (empty, or ends at 2^64 or past) */
static int arr_add(struct arr *a, uint64_t iova, uint64_t len)
{
	size_t i = 0;

	if (!len || (u128)iova + len >= TOP)
		return -EINVAL;
	while (i < a->n && (u128)a->r[i].iova + a->r[i].length <= iova)
		i++;
	if (i < a->n && a->r[i].iova < (u128)iova + len)
		return -EEXIST;
	arr_put(a, i, iova, len);
	return 0;
}

static void check_set(const struct vfm_rangeset *rs, const struct arr *a,
		      uint64_t probe)
{
	const struct vfiomig_range *r;
	struct vfiomig_range *c;
	size_t cur, i;
	ssize_t n;

	CHECK(vfm_rangeset_count(rs) == a->n);
	n = vfm_rangeset_copy(rs, &c);
	CHECK(n == (ssize_t)a->n);
	CHECK(!n || !memcmp(c, a->r, a->n * sizeof(*c)));
	free(c);
	for (i = 0; i < a->n && (u128)a->r[i].iova + a->r[i].length <= probe; i++)
		;
	for (r = vfm_rangeset_first(rs, probe, &cur); r;
	     r = vfm_rangeset_next(rs, &cur), i++) {
		CHECK(i < a->n);
		CHECK(r->iova == a->r[i].iova && r->length == a->r[i].length);
	}
	CHECK(i == a->n);
}

static void fuzz_set(struct in *src, bool compact)
{
	struct arr *a = calloc(1, sizeof(*a));
	unsigned int n0 = (unsigned int)take(src, 1) % 64;
	struct vfm_rangeset rs;
	uint64_t at = take(src, 2) << 12;

	if (!a)
		abort();
	/* the starting set: sorted, disjoint, some touching */
	for (unsigned int i = 0; i < n0 && src->len; i++) {
		uint64_t gap = take(src, 1) % 4 << 12, len = (1 + take(src, 1) % 16) << 12;

		arr_put(a, a->n, at + gap, len);
		at += gap + len;
	}
	CHECK(vfm_rangeset_init(&rs, a->r, a->n) == 0);
	check_set(&rs, a, 0);
	while (src->len) {
		unsigned int op = (unsigned int)take(src, 1);
		uint64_t iova, len;
		int ret;

		if (compact) {
			iova = take(src, 2) << 10;
			len = take(src, 2) << 10;
			if (op & 4)
				len |= take(src, 1); /* unaligned */
		} else {
			iova = take(src, 8);
			len = take(src, 8);
		}
		if (op & 1) {
			if (a->n >= MAX_SET - 2)
				continue;
			ret = vfm_rangeset_add(&rs, iova, len);
			CHECK(ret == arr_add(a, iova, len));
		} else {
			if (a->n >= MAX_SET - 2 && len)
				continue; /* a split would overflow the array */
			CHECK(vfm_rangeset_remove(&rs, iova, len) == 0);
			if (len)
				arr_remove(a, iova, len);
		}
		check_set(&rs, a, op & 2 ? iova : (uint64_t)(iova + len));
	}
	vfm_rangeset_fini(&rs);
	free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in src = { data, size };
	unsigned int style = (unsigned int)take(&src, 1);

	if (style & 2) {
		fuzz_set(&src, style & 1);
		return 0;
	}
	unsigned int lg = take(&src, 1) % 64;
	size_t max = take(&src, 1) % 80, n = 0;
	bool compact = style & 1, zero = false, overflow = false;
	struct vfiomig_range *in, *out;
	u128 ps = (u128)1 << lg, prev_end = 0;
	int ret;

	in = malloc(MAX_RANGES * sizeof(*in));
	if (!in)
		abort();
	while (src.len && n < MAX_RANGES) {
		struct vfiomig_range *r = &in[n++];

		if (compact) {
			r->iova = (uint64_t)prev_end + (take(&src, 1) << 12);
			r->length = take(&src, 1) << 12;
			prev_end = (u128)r->iova + r->length;
		} else {
			r->iova = take(&src, 8);
			r->length = take(&src, 8);
		}
		/* Refused: no length; an end, aligned up, not below 2^64. */
		if (!r->length)
			zero = true;
		else if (((u128)r->iova + r->length + ps - 1) / ps * ps >= TOP)
			overflow = true;
	}
	/* Exactly max entries, so that ASan sees a write past them. */
	out = malloc(max ? max * sizeof(*out) : 1);
	if (!out)
		abort();
	ret = vfiomig_dirty_plan_ranges(in, n, (uint64_t)ps, out, max);
	if (!max) {
		CHECK(ret == -EINVAL);
	} else if (zero || overflow) {
		/* Which one is named first is the library's choice. */
		CHECK(ret == -EINVAL || ret == -EOVERFLOW);
		CHECK(overflow || ret == -EINVAL);
		CHECK(zero || ret == -EOVERFLOW);
	} else {
		CHECK(ret >= 0);
		check_plan(in, n, ps, out, (size_t)ret, max);
	}
	free(out);
	free(in);
	return 0;
}
