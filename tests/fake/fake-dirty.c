// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's dirty tracking (kernel-contract.md 8, 9, 10, 13):
 *
 *   VFIO_DEVICE_FEATURE 6/7/8   DMA logging with the core's checks in the
 *                               core's order; page size in/out; per-device
 *                               dirty pages set by fake_dev_dma_write()
 *   VFIO_IOMMU_DIRTY_PAGES      START/STOP/GET_BITMAP, 9.3 order; pinned-page
 *                               scope (9.5); UNMAP_DMA with the bitmap (9.4)
 *   IOMMU_GET_HW_INFO, IOMMU_HWPT_ALLOC (10.2 order),
 *   IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP (10.4; a
 *                               walk's error returned, as 6.12.118 does)
 *   IOMMU_TEST_CMD              ADD_RESERVED, MOCK_DOMAIN(_FLAGS) and DIRTY
 *                               of the selftest mock, 2048-byte mock pages
 *                               (13); the mock domain's aperture reserved
 *
 * Dirty state is kept as sets of byte intervals: per device (DMA log), per
 * Type1 mapping (the fake_map bitmap the core allocates) and per HWPT
 * (priv of the iommufd object).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake-internal.h"
#include "iommufd_test.h"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define FAKE_PAGE 4096ULL
/* LOG_MAX_RANGES = PAGE_SIZE / sizeof(range) */
#define LOG_MAX_RANGES (FAKE_PAGE / 16)
#define BITMAP_SIZE_MAX_DEFAULT 268435456ULL /* ALIGN(INT_MAX, 64) / 8 */

/* Machine-wide knobs and counters (reset with the first device added). */
static struct {
	uint64_t bitmap_max;       /* 0 = the kernel's 256 MiB */
	struct fake_dirty_stats stats;
} G;

/* ------------------------------------------------------ interval sets */

struct iv {
	uint64_t a, b; /* [a, b) */
};

struct ivset {
	struct iv *v;
	size_t n, cap;
};

static void iv_free(struct ivset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int iv_reserve(struct ivset *s, size_t n)
{
	struct iv *v;
	size_t cap;

	if (n <= s->cap)
		return 0;
	cap = s->cap ? s->cap * 2 : 16;
	while (cap < n)
		cap *= 2;
	v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

static int iv_add(struct ivset *s, uint64_t a, uint64_t b)
{
	size_t i = 0, j;

	if (a >= b)
		return 0;
	while (i < s->n && s->v[i].b < a)
		i++;
	j = i;
	while (j < s->n && s->v[j].a <= b) {
		if (s->v[j].a < a)
			a = s->v[j].a;
		if (s->v[j].b > b)
			b = s->v[j].b;
		j++;
	}
	if (j == i) {
		if (iv_reserve(s, s->n + 1))
			return -ENOMEM;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->n++;
	} else {
		memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(*s->v));
		s->n -= j - i - 1;
	}
	s->v[i].a = a;
	s->v[i].b = b;
	return 0;
}

/* Remove [a, b) from s: one pass (an interval strictly containing it is
 * split in two). */
static int iv_del(struct ivset *s, uint64_t a, uint64_t b)
{
	size_t j = 0;

	if (a >= b)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		struct iv *v = &s->v[i];

		if (v->a < a && v->b > b) {
			uint64_t end = v->b;

			if (iv_reserve(s, s->n + 1))
				return -ENOMEM;
			v = &s->v[i];
			memmove(&s->v[i + 2], &s->v[i + 1],
				(s->n - i - 1) * sizeof(*v));
			s->n++;
			v->b = a;
			s->v[i + 1].a = b;
			s->v[i + 1].b = end;
			return 0;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		struct iv v = s->v[i];

		if (v.b <= a || v.a >= b) {
			s->v[j++] = v;
		} else if (v.a < a) {
			v.b = a;
			s->v[j++] = v;
		} else if (v.b > b) {
			v.a = b;
			s->v[j++] = v;
		} /* else inside [a, b): dropped */
	}
	s->n = j;
	return 0;
}

static bool iv_any(const struct ivset *s, uint64_t a, uint64_t b)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].a < b && s->v[i].b > a)
			return true;
	return false;
}

/* Clear bits [first, first + n) of bm. */
static void clear_bits(uint64_t *bm, uint64_t first, uint64_t n)
{
	for (; n && first % 64; first++, n--)
		bm[first / 64] &= ~(1ULL << (first % 64));
	for (; n >= 64; first += 64, n -= 64)
		bm[first / 64] = 0;
	for (; n; first++, n--)
		bm[first / 64] &= ~(1ULL << (first % 64));
}

/* Set bits [first, first + n) of bm, a word at a time. */
static void set_bits(uint64_t *bm, uint64_t first, uint64_t n)
{
	uint64_t w = first / 64, last = first + n - 1, lw = last / 64;
	uint64_t head = ~0ULL << (first % 64);
	uint64_t tail = ~0ULL >> (63 - last % 64);

	if (!n)
		return;
	if (w == lw) {
		bm[w] |= head & tail;
		return;
	}
	bm[w++] |= head;
	while (w < lw)
		bm[w++] = ~0ULL;
	bm[lw] |= tail;
}

/*
 * OR into bm (bit n = [iova + n*ps, +ps), nbits bits) every page that
 * overlaps a dirty interval of s clipped to [iova, iova + nbits*ps).
 * Word-wise, so that the fake costs what the kernel's iova_bitmap costs
 * (it sets runs), not a loop per bit.
 */
static void iv_report(const struct ivset *s, uint64_t iova, uint64_t ps,
		      uint64_t nbits, uint64_t *bm)
{
	uint64_t end = iova + nbits * ps;

	if (!bm)
		return;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t a = s->v[i].a > iova ? s->v[i].a : iova;
		uint64_t b = s->v[i].b < end ? s->v[i].b : end;
		uint64_t first, last;

		if (a >= b)
			continue;
		first = (a - iova) / ps;
		last = (b - 1 - iova) / ps;
		set_bits(bm, first, last - first + 1);
	}
}

/* ------------------------------------------------------ knobs, stats */

FAKE_EXPORT void fake_set_dirty_bitmap_max(uint64_t bytes)
{
	FAKE_LOCKED();
	G.bitmap_max = bytes;
}

uint64_t fake_dirty_bitmap_max(void)
{
	return G.bitmap_max ? G.bitmap_max : BITMAP_SIZE_MAX_DEFAULT;
}

FAKE_EXPORT void fake_dirty_get_stats(struct fake_dirty_stats *s)
{
	FAKE_LOCKED();
	*s = G.stats;
}

FAKE_EXPORT void fake_dirty_reset_stats(void)
{
	FAKE_LOCKED();
	memset(&G.stats, 0, sizeof(G.stats));
}

/* ------------------------------------------------ device DMA logging */

struct dev_log {
	bool logging;
	uint64_t page_size;      /* answered at START */
	uint64_t answer;         /* fake_dev_set_log_pgsize(); 0 = echo */
	struct ivset ranges;     /* logged ranges */
	struct ivset dirty;      /* written since the last REPORT */
};

static struct dev_log *dlog(struct fake_dev *d)
{
	return d ? d->dirty : NULL;
}

void fake_dirty_init_dev(struct fake_dev *d)
{
	if (d->id == 0)
		memset(&G, 0, sizeof(G));
	d->dirty = calloc(1, sizeof(struct dev_log));
}

void fake_dirty_fini_dev(struct fake_dev *d)
{
	struct dev_log *l = dlog(d);

	if (!l)
		return;
	iv_free(&l->ranges);
	iv_free(&l->dirty);
	free(l);
	d->dirty = NULL;
}

FAKE_EXPORT bool fake_dev_logging(int id)
{
	FAKE_LOCKED();
	struct dev_log *l = dlog(fake_dev_get(id));

	return l && l->logging;
}

FAKE_EXPORT void fake_dev_set_log_pgsize(int id, uint64_t page_size)
{
	FAKE_LOCKED();
	struct dev_log *l = dlog(fake_dev_get(id));

	if (l)
		l->answer = page_size;
}

/* The device wrote [iova, iova+length): logged (at the logging page size)
 * where it falls inside the logged ranges, if logging. */
FAKE_EXPORT void fake_dev_dma_write(int id, uint64_t iova, uint64_t length)
{
	FAKE_LOCKED();
	struct dev_log *l = dlog(fake_dev_get(id));
	uint64_t ps;

	if (!l || !l->logging || !length)
		return;
	ps = l->page_size && !(l->page_size & (l->page_size - 1)) ?
		     l->page_size : FAKE_PAGE;
	for (size_t i = 0; i < l->ranges.n; i++) {
		uint64_t a = l->ranges.v[i].a > iova ? l->ranges.v[i].a : iova;
		uint64_t b = l->ranges.v[i].b < iova + length ?
				     l->ranges.v[i].b : iova + length;

		if (a < b)
			iv_add(&l->dirty, a & ~(ps - 1),
			       ((b - 1) & ~(ps - 1)) + ps);
	}
}

/* vfio_main.c:vfio_ioctl_device_feature_logging_start (contract 8.1). */
static int log_start(struct fake_dev *d, uint32_t flags, void *data,
		     uint32_t payload)
{
	struct vfio_device_feature_dma_logging_control ctl;
	const struct vfio_device_feature_dma_logging_range *r;
	struct dev_log *l = dlog(d);
	struct ivset tree = { 0 };
	int ret;

	ret = fake_check_feature(flags, payload, VFIO_DEVICE_FEATURE_SET,
				 sizeof(ctl));
	if (ret)
		return ret < 0 ? ret : 0;
	memcpy(&ctl, data, sizeof(ctl));
	if (!ctl.num_ranges)
		return -EINVAL;
	if (ctl.num_ranges > LOG_MAX_RANGES)
		return -E2BIG;
	r = (const void *)(uintptr_t)ctl.ranges;
	if (!r)
		return -EFAULT;
	for (uint32_t i = 0; i < ctl.num_ranges; i++) {
		struct vfio_device_feature_dma_logging_range rg;
		uint64_t end;

		memcpy(&rg, &r[i], sizeof(rg));
		/* IS_ALIGNED(x, a): page_size is not validated, so with 0 or
		 * a non-power of two this test is what the kernel computes. */
		if ((rg.iova & (ctl.page_size - 1)) ||
		    (rg.length & (ctl.page_size - 1))) {
			ret = -EINVAL;
			break;
		}
		if (__builtin_add_overflow(rg.iova, rg.length, &end)) {
			ret = -EOVERFLOW;
			break;
		}
		/* interval_tree_iter_first(start, last) */
		if (iv_any(&tree, rg.iova, end)) {
			ret = -EINVAL;
			break;
		}
		if (iv_add(&tree, rg.iova, end) < 0) {
			ret = -ENOMEM;
			break;
		}
	}
	if (ret) {
		iv_free(&tree);
		return ret;
	}
	/* log_ops->log_start: mlx5 refuses a second one, mtty does not. */
	if (l->logging && d->cfg.log_reject_double) {
		iv_free(&tree);
		return -EINVAL;
	}
	if (l->answer && d->cfg.personality != FAKE_MTTY)
		ctl.page_size = l->answer;
	iv_free(&l->ranges);
	l->ranges = tree;
	iv_free(&l->dirty);
	l->logging = true;
	l->page_size = ctl.page_size;
	memcpy(data, &ctl, sizeof(ctl)); /* page_size is in/out */
	G.stats.log_starts++;
	return 0;
}

static int log_stop(struct fake_dev *d, uint32_t flags, uint32_t payload)
{
	struct dev_log *l = dlog(d);
	int ret = fake_check_feature(flags, payload, VFIO_DEVICE_FEATURE_SET, 0);

	if (ret)
		return ret < 0 ? ret : 0;
	l->logging = false;
	iv_free(&l->ranges);
	iv_free(&l->dirty);
	return 0;
}

/* vfio_ioctl_device_feature_logging_report (contract 8.3). */
static int log_report(struct fake_dev *d, uint32_t flags, void *data,
		      uint32_t payload)
{
	struct vfio_device_feature_dma_logging_report rep;
	struct dev_log *l = dlog(d);
	uint64_t end;
	int ret;

	ret = fake_check_feature(flags, payload, VFIO_DEVICE_FEATURE_GET,
				 sizeof(rep));
	if (ret)
		return ret < 0 ? ret : 0;
	memcpy(&rep, data, sizeof(rep));
	if (rep.page_size < 4096 || (rep.page_size & (rep.page_size - 1)))
		return -EINVAL;
	if (__builtin_add_overflow(rep.iova, rep.length, &end))
		return -EOVERFLOW;
	G.stats.log_reports++;
	/* log_read_and_clear: mlx5 wants a started tracker, mtty never
	 * reports anything. */
	if (!l->logging)
		return d->cfg.log_reject_double ? -EINVAL : 0;
	if (d->cfg.personality == FAKE_MTTY || !rep.length)
		return 0;
	/* Only sets bits; the bitmap pointer is pinned lazily (a bad one
	 * goes unnoticed). */
	iv_report(&l->dirty, rep.iova, rep.page_size,
		  rep.length / rep.page_size + !!(rep.length % rep.page_size),
		  (uint64_t *)(uintptr_t)rep.bitmap);
	iv_del(&l->dirty, rep.iova, end);
	return 0;
}

int fake_log_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload)
{
	struct fake_dev *d = f->dev;

	if (!d->cfg.log_ops || !dlog(d))
		return -ENOTTY;
	switch (flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		return log_start(d, flags, data, payload);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		return log_stop(d, flags, payload);
	default:
		return log_report(d, flags, data, payload);
	}
}

/* ------------------------------------------------------------- Type1 */

static bool type1_v2(const struct fake_container *c)
{
	return c->iommu_type == VFIO_TYPE1v2_IOMMU;
}

/* Index of the mapping containing iova, or -1. */
static int map_at(const struct fake_container *c, uint64_t iova)
{
	for (int i = 0; i < c->nmaps; i++)
		if (iova >= c->maps[i].iova &&
		    iova - c->maps[i].iova < c->maps[i].size)
			return i;
	return -1;
}

static int bitmap_alloc_all(struct fake_container *c, uint64_t pgsize)
{
	for (int i = 0; i < c->nmaps; i++) {
		uint64_t npages = c->maps[i].size / pgsize;

		if (c->maps[i].dirty)
			continue;
		if (npages > INT_MAX)
			goto fail;
		/* vfio_dma_bitmap_alloc: one word more, for the shift of
		 * update_user_bitmap */
		c->maps[i].dirty = calloc((npages + 63) / 64 + 1, 8);
		if (!c->maps[i].dirty)
			goto fail;
	}
	return 0;
fail:
	for (int i = 0; i < c->nmaps; i++) {
		free(c->maps[i].dirty);
		c->maps[i].dirty = NULL;
	}
	return -EINVAL;
}

static void bitmap_free_all(struct fake_container *c)
{
	for (int i = 0; i < c->nmaps; i++) {
		free(c->maps[i].dirty);
		c->maps[i].dirty = NULL;
	}
}

/* vfio_iommu_type1.c:update_user_bitmap, then (GET_BITMAP) the clear of
 * vfio_iova_dirty_bitmap, as 6.12 does them, flaw included.  A mapping at
 * a bit offset from base that is not a multiple of 64 is shifted in place
 * (the bitmap has a word more for it), its first word ORed with the whole
 * user word it lands in, and whole words copied out; the clear then covers
 * the mapping's own bits only, so the bits of its last `shift` pages stay
 * past its end.  A later read copies them out as pages after the mapping
 * (a neighbour's first pages, or a hole) and a later shift ORs them into
 * a neighbour: dirty pages nobody wrote.  The library reads so that no
 * mapping is ever shifted (lib/dirty.c read_whole).  Nothing stays pinned
 * in the fake, so nothing is set again after the clear. */
static void update_user_bitmap(const struct fake_container *c,
			       struct fake_map *m, uint64_t *user,
			       uint64_t base, uint64_t pgsize, bool clear)
{
	uint64_t nbits = m->size / pgsize;
	uint64_t bit_offset = (m->iova - base) / pgsize;
	uint64_t copy_offset = bit_offset / 64, shift = bit_offset % 64;
	uint64_t *b = m->dirty;

	if (!b)
		return;
	/* every page dirty when a group is not in pinned-page scope */
	if (c->n_iommu_groups)
		set_bits(b, 0, nbits);
	if (shift) {
		/* __bitmap_shift_left over BITS_TO_LONGS(nbits + shift)
		 * words, then __bitmap_or of one word */
		for (uint64_t k = (nbits + shift + 63) / 64; k-- > 0;)
			b[k] = b[k] << shift |
			       (k ? b[k - 1] >> (64 - shift) : 0);
		b[0] |= user[copy_offset];
	}
	memcpy(&user[copy_offset], b, (nbits + shift + 63) / 64 * 8);
	if (clear) /* bitmap_clear(dma->bitmap, 0, nbits) */
		clear_bits(b, 0, nbits);
}

/* vfio_iommu_type1_dirty_pages (contract 9.3). */
int fake_type1_dirty_ioctl(struct fake_fd *f, void *arg)
{
	struct fake_container *c = fake_fd_container(f);
	struct vfio_iommu_type1_dirty_bitmap db;
	struct vfio_iommu_type1_dirty_bitmap_get range;
	uint32_t mask = VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
			VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
			VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	uint64_t pgsize, npages;
	int i;

	if (!c || !type1_v2(c))
		return -EACCES;
	if (!arg)
		return -EFAULT;
	memcpy(&db, arg, sizeof(db));
	if (db.argsz < sizeof(db) || (db.flags & ~mask))
		return -EINVAL;
	if (!db.flags || (db.flags & (db.flags - 1)))
		return -EINVAL;
	pgsize = fake_container_pgsize(c);
	if (db.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
		if (!c->dirty_tracking) {
			int ret = bitmap_alloc_all(c, pgsize);

			if (ret)
				return ret;
			c->dirty_tracking = true;
		}
		return 0;
	}
	if (db.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
		if (c->dirty_tracking) {
			c->dirty_tracking = false;
			bitmap_free_all(c);
		}
		return 0;
	}
	/* GET_BITMAP */
	if (db.argsz - sizeof(db) < sizeof(range))
		return -EINVAL;
	memcpy(&range, (char *)arg + sizeof(db), sizeof(range));
	if (range.iova + range.size < range.iova)
		return -EINVAL;
	/* access_ok: only the address range is checked */
	if ((uintptr_t)range.bitmap.data + range.bitmap.size <
	    (uintptr_t)range.bitmap.data)
		return -EINVAL;
	/* verify_bitmap_size(size >> __ffs(pgsize), bitmap.size) */
	npages = range.bitmap.pgsize ?
		range.size >> __builtin_ctzll(range.bitmap.pgsize) : 0;
	if (!npages || !range.bitmap.size ||
	    range.bitmap.size > fake_dirty_bitmap_max() ||
	    range.bitmap.size < (npages + 63) / 64 * 8)
		return -EINVAL;
	if (range.bitmap.pgsize != pgsize || (range.iova & (pgsize - 1)) ||
	    !range.size || (range.size & (pgsize - 1)))
		return -EINVAL;
	if (!c->dirty_tracking)
		return -EINVAL;
	/* vfio_iova_dirty_bitmap: no mapping bisected by either end */
	i = map_at(c, range.iova);
	if (i >= 0 && c->maps[i].iova != range.iova)
		return -EINVAL;
	i = map_at(c, range.iova + range.size - 1);
	if (i >= 0 && c->maps[i].iova + c->maps[i].size !=
			      range.iova + range.size)
		return -EINVAL;
	if (!range.bitmap.data)
		return -EFAULT;
	G.stats.type1_get_bitmaps++;
	if (range.bitmap.size > G.stats.type1_max_bitmap_bytes)
		G.stats.type1_max_bitmap_bytes = range.bitmap.size;
	for (i = 0; i < c->nmaps; i++) {
		struct fake_map *m = &c->maps[i];

		if (m->iova < range.iova)
			continue;
		if (m->iova > range.iova + range.size - 1)
			break;
		update_user_bitmap(c, m, (uint64_t *)range.bitmap.data,
				   range.iova, pgsize, true);
	}
	return 0;
}

/* vfio_dma_do_unmap with GET_DIRTY_BITMAP (contract 9.4); the core did
 * every check before the bitmap is written. */
int fake_type1_unmap_dirty(struct fake_container *c, void *unmap_arg)
{
	struct vfio_iommu_type1_dma_unmap u;
	struct vfio_bitmap bm;
	uint64_t pgsize = fake_container_pgsize(c);

	memcpy(&u, unmap_arg, sizeof(u));
	memcpy(&bm, (char *)unmap_arg + sizeof(u), sizeof(bm));
	if (!bm.data)
		return -EFAULT;
	G.stats.type1_unmap_bitmaps++;
	if (bm.size > G.stats.type1_max_bitmap_bytes)
		G.stats.type1_max_bitmap_bytes = bm.size;
	for (int i = 0; i < c->nmaps; i++) {
		struct fake_map *m = &c->maps[i];

		if (m->iova + m->size <= u.iova || m->iova > u.iova + u.size - 1)
			continue;
		update_user_bitmap(c, m, (uint64_t *)bm.data, u.iova, pgsize,
				   false);
	}
	return 0;
}

/* -------------------------------------------------------------- iommufd */

/* priv of the iommufd objects this file creates. */
enum { PRIV_HWPT = 1, PRIV_MOCK_IDEV, PRIV_STDEV };

struct hwpt_state {
	int kind;                /* PRIV_HWPT */
	bool dirty_ops;          /* allocated with DIRTY_TRACKING */
	bool tracking;           /* SET_DIRTY_TRACKING enabled */
	bool mock;               /* a mock domain (2048-byte pages) */
	struct ivset dirty;
};

struct mock_idev {
	int kind;                /* PRIV_MOCK_IDEV */
	uint32_t dev_flags;      /* MOCK_FLAGS_DEVICE_* */
};

struct stdev {
	int kind;                /* PRIV_STDEV */
	uint32_t idev_id, hwpt_id;
};

static void priv_destroy(struct fake_iommufd_obj *o)
{
	struct hwpt_state *h = o->priv;

	if (h && h->kind == PRIV_HWPT)
		iv_free(&h->dirty);
	free(o->priv);
	o->priv = NULL;
}

static struct hwpt_state *hwpt_state(struct fake_iommufd_obj *o)
{
	struct hwpt_state *h = o ? o->priv : NULL;

	return h && h->kind == PRIV_HWPT ? h : NULL;
}

static struct mock_idev *mock_idev(struct fake_iommufd_obj *o)
{
	struct mock_idev *m = o ? o->priv : NULL;

	return m && m->kind == PRIV_MOCK_IDEV ? m : NULL;
}

/* Find an object of the same context by id (it may be gone). */
static struct fake_iommufd_obj *sibling(struct fake_iommufd_obj *o,
					uint32_t id)
{
	for (struct fake_iommufd_obj *x = fake_iommufd_obj_next(NULL); x;
	     x = fake_iommufd_obj_next(x))
		if (x->ictx == o->ictx && x->id == id && x != o)
			return x;
	return NULL;
}

/* A mock device goes with its selftest object: drop what it holds. */
static void stdev_destroy(struct fake_iommufd_obj *o)
{
	struct stdev *s = o->priv;
	struct fake_iommufd_obj *x;

	if (s && s->kind == PRIV_STDEV) {
		if ((x = sibling(o, s->hwpt_id)) && x->users > 1)
			x->users--;
		if ((x = sibling(o, s->idev_id)) && x->users > 1)
			x->users--;
	}
	priv_destroy(o);
}

/* The IOAS has [iova, iova + length) mapped, entirely. */
static bool ioas_mapped(const struct fake_iommufd_obj *ioas, uint64_t iova,
			uint64_t length)
{
	for (int i = 0; i < ioas->nmaps && length; i++) {
		const struct fake_ioas_map *m = &ioas->maps[i];

		if (m->iova <= iova && iova - m->iova < m->length) {
			uint64_t n = m->length - (iova - m->iova);

			if (n >= length)
				return true;
			iova += n;
			length -= n;
		}
	}
	return false;
}

void fake_hook_ioas_unmapped(struct fake_iommufd_obj *ioas, uint64_t iova,
			     uint64_t length)
{
	for (struct fake_iommufd_obj *o = fake_iommufd_obj_next(NULL); o;
	     o = fake_iommufd_obj_next(o)) {
		struct hwpt_state *h = hwpt_state(o);

		if (h && o->ioas == ioas)
			iv_del(&h->dirty, iova, iova + length);
	}
}

/* Pages written by DMA: every Type1 container tracking them, every HWPT
 * tracking with them mapped. */
FAKE_EXPORT void fake_dma_write(uint64_t iova, uint64_t length)
{
	FAKE_LOCKED();
	if (!length)
		return;
	for (struct fake_container *c = fake_container_next(NULL); c;
	     c = fake_container_next(c)) {
		uint64_t ps = fake_container_pgsize(c);

		if (!c->dirty_tracking)
			continue;
		for (int i = 0; i < c->nmaps; i++) {
			struct fake_map *m = &c->maps[i];
			uint64_t a = m->iova > iova ? m->iova : iova;
			uint64_t b = m->iova + m->size < iova + length ?
					     m->iova + m->size : iova + length;

			if (a >= b || !m->dirty)
				continue;
			set_bits(m->dirty, (a - m->iova) / ps,
				 (b - 1 - m->iova) / ps - (a - m->iova) / ps + 1);
		}
	}
	for (struct fake_iommufd_obj *o = fake_iommufd_obj_next(NULL); o;
	     o = fake_iommufd_obj_next(o)) {
		struct hwpt_state *h = hwpt_state(o);
		uint64_t ps;

		if (!h || !h->tracking || !o->ioas)
			continue;
		ps = h->mock ? MOCK_IO_PAGE_SIZE : FAKE_PAGE;
		for (uint64_t p = iova & ~(ps - 1); p < iova + length; p += ps)
			if (ioas_mapped(o->ioas, p, ps))
				iv_add(&h->dirty, p, p + ps);
	}
}

/* device.c:iommufd_get_hw_info (contract 10.1). */
static int get_hw_info(struct fake_fd *f, struct iommu_hw_info *cmd)
{
	struct fake_iommufd_obj *idev;
	struct iommu_test_hw_info mock = {
		.test_reg = IOMMU_HW_INFO_SELFTEST_REGVAL,
	};
	uint64_t vtd[3] = { 0, 0, 0 }; /* struct iommu_hw_info_vtd */
	const void *data;
	uint32_t len, type;

	if (cmd->flags || cmd->__reserved[0] || cmd->__reserved[1] ||
	    cmd->__reserved[2])
		return -EOPNOTSUPP;
	idev = fake_iommufd_obj_type(f, cmd->dev_id, FIO_DEVICE);
	if (!idev)
		return -ENOENT;
	if (mock_idev(idev)) {
		data = &mock;
		len = sizeof(mock);
		type = IOMMU_HW_INFO_TYPE_SELFTEST;
	} else {
		data = vtd;
		len = sizeof(vtd);
		type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
	}
	if (cmd->data_len) {
		unsigned char *u = (void *)(uintptr_t)cmd->data_uptr;

		if (!u)
			return -EFAULT;
		memcpy(u, data, cmd->data_len < len ? cmd->data_len : len);
		if (cmd->data_len > len)
			memset(u + len, 0, cmd->data_len - len);
	}
	cmd->data_len = len;
	cmd->out_data_type = type;
	cmd->out_max_pasid_log2 = 0;
	cmd->out_capabilities = idev->hw_dirty ? IOMMU_HW_CAP_DIRTY_TRACKING : 0;
	return 0;
}

/* hw_pagetable.c:iommufd_hwpt_alloc + iommufd_hwpt_paging_alloc (10.2). */
static int hwpt_alloc(struct fake_fd *f, struct iommu_hwpt_alloc *cmd)
{
	struct fake_iommufd_obj *idev, *pt, *h;
	struct hwpt_state *st;
	uint64_t pgsize;
	bool mock;
	int ret;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
	    (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
		return -EINVAL;
	idev = fake_iommufd_obj_type(f, cmd->dev_id, FIO_DEVICE);
	if (!idev)
		return -ENOENT;
	pt = fake_iommufd_obj(f, cmd->pt_id);
	if (!pt)
		return -EINVAL;
	if (pt->type == FIO_HWPT_PAGING)
		return -EOPNOTSUPP; /* nested: not modeled (needs driver data) */
	if (pt->type != FIO_IOAS)
		return -EINVAL;
	if (cmd->flags & ~(IOMMU_HWPT_ALLOC_NEST_PARENT |
			   IOMMU_HWPT_ALLOC_DIRTY_TRACKING))
		return -EOPNOTSUPP;
	if ((cmd->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) && !idev->hw_dirty)
		return -EOPNOTSUPP;
	if (cmd->data_len)
		return -EOPNOTSUPP; /* paging domains take no driver data */
	mock = mock_idev(idev) != NULL;
	pgsize = mock ? MOCK_IO_PAGE_SIZE : FAKE_PAGE;
	/* iopt_table_add_domain: existing areas must fit the new domain */
	for (int i = 0; i < pt->nmaps; i++)
		if ((pt->maps[i].iova | pt->maps[i].length) & (pgsize - 1))
			return -EADDRINUSE;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	h = fake_iommufd_obj_new(f, FIO_HWPT_PAGING);
	if (!h) {
		free(st);
		return -ENOMEM;
	}
	st->kind = PRIV_HWPT;
	st->dirty_ops = cmd->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	st->mock = mock;
	h->priv = st;
	h->destroy = priv_destroy;
	h->flags = cmd->flags;
	h->pgsize = pgsize;
	h->ioas = pt;
	pt->users++;
	/* iopt_table_add_domain: the mock's aperture, VT-d's (fake_set_iommu) */
	ret = fake_domain_aperture(h, mock ? MOCK_APERTURE_START : 0,
				   mock ? MOCK_APERTURE_LAST : FAKE_APERTURE_END);
	if (ret) {
		fake_iommufd_obj_destroy(f, h->id);
		return ret;
	}
	cmd->out_hwpt_id = h->id;
	G.stats.hwpt_allocs++;
	return 0;
}

/* iommufd_hwpt_set_dirty_tracking + iopt_set_dirty_tracking (10.3). */
static int set_dirty_tracking(struct fake_fd *f,
			      struct iommu_hwpt_set_dirty_tracking *cmd)
{
	struct fake_iommufd_obj *h;
	struct hwpt_state *st;

	if (cmd->flags & ~IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		return -EOPNOTSUPP;
	h = fake_iommufd_obj_type(f, cmd->hwpt_id, FIO_HWPT_PAGING);
	if (!h)
		return -ENOENT;
	st = hwpt_state(h);
	if (!st || !st->dirty_ops)
		return -EOPNOTSUPP;
	if (cmd->flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE)
		iv_free(&st->dirty); /* a clean snapshot */
	st->tracking = cmd->flags & IOMMU_HWPT_DIRTY_TRACKING_ENABLE;
	return 0;
}

/* iommufd_hwpt_get_dirty_bitmap + iommufd_check_iova_range +
 * iommu_read_and_clear_dirty (10.4).  An error of the walk (a hole, the
 * driver's EINVAL with tracking off) comes back, after what the walk read
 * before it was reported and cleared: iova_bitmap_for_each returns fn's
 * error in 6.12.118 (kernel-contract.md 11 describes an older 6.12 that
 * swallowed it and returned 0; the kernel in the VM wins). */
static int get_dirty_bitmap(struct fake_fd *f,
			    struct iommu_hwpt_get_dirty_bitmap *cmd)
{
	struct fake_iommufd_obj *h, *ioas;
	struct hwpt_state *st;
	uint64_t a, last, cur, nbits, *bm;

	if ((cmd->flags & ~IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) ||
	    cmd->__reserved)
		return -EOPNOTSUPP;
	h = fake_iommufd_obj_type(f, cmd->hwpt_id, FIO_HWPT_PAGING);
	if (!h)
		return -ENOENT;
	ioas = h->ioas;
	a = ioas ? fake_ioas_alignment(ioas) : 1;
	if (!cmd->length)
		return -EINVAL;
	if (__builtin_add_overflow(cmd->iova, cmd->length - 1, &last))
		return -EOVERFLOW;
	if ((cmd->iova & (a - 1)) || ((last + 1) & (a - 1)))
		return -EINVAL;
	if (!cmd->page_size)
		return -EINVAL;
	if ((cmd->iova & (cmd->page_size - 1)) ||
	    ((last + 1) & (cmd->page_size - 1)))
		return -EINVAL;
	st = hwpt_state(h);
	if (!st || !st->dirty_ops)
		return -EOPNOTSUPP;
	G.stats.hwpt_get_bitmaps++;
	if (!st->tracking || !ioas)
		return -EINVAL; /* the driver's (the mock's) */
	nbits = cmd->length / cmd->page_size;
	bm = (uint64_t *)(uintptr_t)cmd->data;
	/* iopt_for_each_contig_area from iova: stops at the first hole. */
	cur = cmd->iova;
	while (cur <= last) {
		const struct fake_ioas_map *m = NULL;
		uint64_t end;

		for (int i = 0; i < ioas->nmaps; i++)
			if (ioas->maps[i].iova <= cur &&
			    cur - ioas->maps[i].iova < ioas->maps[i].length)
				m = &ioas->maps[i];
		if (!m)
			return -EINVAL; /* a hole: !iopt_area_contig_done */
		end = m->iova + m->length - 1 < last ? m->iova + m->length - 1
						      : last;
		/* the dirty pages inside [cur, end]: the set is sorted and
		 * disjoint, so are its pieces clipped to the area */
		for (size_t i = 0; i < st->dirty.n; i++) {
			uint64_t x = st->dirty.v[i].a > cur ? st->dirty.v[i].a
							    : cur;
			uint64_t y = st->dirty.v[i].b < end + 1 ?
					     st->dirty.v[i].b : end + 1;
			struct iv piece = { x, y };
			struct ivset one = { &piece, 1, 1 };

			if (x < y)
				iv_report(&one, cmd->iova, cmd->page_size,
					  nbits, bm);
		}
		if (!(cmd->flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR))
			iv_del(&st->dirty, cur, end + 1);
		if (end == last)
			break;
		cur = end + 1;
	}
	return 0;
}

/* selftest.c:iommufd_test_mock_domain (13). */
static int test_mock_domain(struct fake_fd *f, struct iommu_test_cmd *cmd)
{
	uint32_t dev_flags = cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ?
		cmd->mock_domain_flags.dev_flags : 0;
	struct fake_iommufd_obj *so, *idev, *pt, *hwpt;
	struct stdev *s;
	struct mock_idev *mi;

	if (dev_flags & ~(MOCK_FLAGS_DEVICE_NO_DIRTY |
			  MOCK_FLAGS_DEVICE_HUGE_IOVA))
		return -EINVAL;
	pt = fake_iommufd_obj(f, cmd->id);
	if (!pt)
		return -ENOENT;
	if (pt->type != FIO_IOAS && pt->type != FIO_HWPT_PAGING)
		return -EINVAL;
	if (pt->type == FIO_HWPT_PAGING &&
	    (pt->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
	    (dev_flags & MOCK_FLAGS_DEVICE_NO_DIRTY))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	mi = calloc(1, sizeof(*mi));
	so = s && mi ? fake_iommufd_obj_new(f, FIO_SELFTEST) : NULL;
	idev = so ? fake_iommufd_obj_new(f, FIO_DEVICE) : NULL;
	if (!idev) {
		if (so)
			fake_iommufd_obj_destroy(f, so->id);
		free(s);
		free(mi);
		return -ENOMEM;
	}
	mi->kind = PRIV_MOCK_IDEV;
	mi->dev_flags = dev_flags;
	idev->priv = mi;
	idev->destroy = priv_destroy;
	idev->hw_dirty = !(dev_flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
	idev->users = 2; /* owned by the selftest object */
	if (pt->type == FIO_IOAS) {
		/* an auto domain: flags 0, no dirty ops */
		struct hwpt_state *st = calloc(1, sizeof(*st));

		hwpt = st ? fake_iommufd_obj_new(f, FIO_HWPT_PAGING) : NULL;
		if (!hwpt) {
			free(st);
			idev->users = 1;
			fake_iommufd_obj_destroy(f, idev->id);
			fake_iommufd_obj_destroy(f, so->id);
			free(s);
			return -ENOMEM;
		}
		st->kind = PRIV_HWPT;
		st->mock = true;
		hwpt->priv = st;
		hwpt->destroy = priv_destroy;
		hwpt->auto_domain = true;
		hwpt->pgsize = MOCK_IO_PAGE_SIZE;
		hwpt->ioas = pt;
		pt->users++;
		if (fake_domain_aperture(hwpt, MOCK_APERTURE_START,
					 MOCK_APERTURE_LAST)) {
			fake_iommufd_obj_destroy(f, hwpt->id);
			idev->users = 1;
			fake_iommufd_obj_destroy(f, idev->id);
			fake_iommufd_obj_destroy(f, so->id);
			free(s);
			return -EADDRINUSE;
		}
	} else {
		hwpt = pt;
	}
	hwpt->users++;
	s->kind = PRIV_STDEV;
	s->idev_id = idev->id;
	s->hwpt_id = hwpt->id;
	so->priv = s;
	so->destroy = stdev_destroy;
	cmd->mock_domain.out_stdev_id = so->id;
	cmd->mock_domain.out_hwpt_id = hwpt->id;
	cmd->mock_domain.out_idev_id = idev->id;
	return 0;
}

/* selftest.c:iommufd_test_add_reserved: a reserved span in an IOAS. */
static int test_add_reserved(struct fake_fd *f, struct iommu_test_cmd *cmd)
{
	uint64_t start = cmd->add_reserved.start, last;
	struct fake_iommufd_obj *ioas;

	if (!cmd->add_reserved.length)
		return -EINVAL;
	if (__builtin_add_overflow(start, cmd->add_reserved.length - 1, &last))
		return -EOVERFLOW;
	ioas = fake_iommufd_obj_type(f, cmd->id, FIO_IOAS);
	if (!ioas)
		return -ENOENT;
	return fake_ioas_reserve(ioas, start, last, NULL);
}

/* selftest.c:iommufd_test_dirty (13): mark mock PTEs dirty. */
static int test_dirty(struct fake_fd *f, struct iommu_test_cmd *cmd)
{
	uint64_t iova = cmd->dirty.iova, length = cmd->dirty.length;
	uint64_t ps = cmd->dirty.page_size, max, count = 0;
	const unsigned char *u = (const void *)(uintptr_t)cmd->dirty.uptr;
	struct fake_iommufd_obj *h;
	struct hwpt_state *st;

	if (!ps || !length || iova % ps || length % ps || !u)
		return -EINVAL;
	max = length / ps;
	if (max > (16ULL << 20) * 8)
		return -EOVERFLOW;
	h = fake_iommufd_obj_type(f, cmd->id, FIO_HWPT_PAGING);
	if (!h)
		return -ENOENT;
	st = hwpt_state(h);
	if (!st || !st->mock)
		return -EINVAL; /* not a mock domain */
	if (!st->tracking)
		return -EINVAL;
	for (uint64_t i = 0; i < max; i++) {
		/* The kernel looks the PTE up at index (iova + i*ps) / ps of
		 * an xarray indexed in MOCK_IO_PAGE_SIZE units: only
		 * ps == 2048 means what it says. */
		uint64_t pte = (iova + i * ps) / ps * MOCK_IO_PAGE_SIZE;

		if (!(u[i / 8] >> (i % 8) & 1))
			continue;
		if (h->ioas && ioas_mapped(h->ioas, pte, MOCK_IO_PAGE_SIZE)) {
			iv_add(&st->dirty, pte, pte + MOCK_IO_PAGE_SIZE);
			count++;
		}
	}
	cmd->dirty.out_nr_dirty = count;
	return 0;
}

int fake_iommufd_dirty_ioctl(struct fake_fd *f, unsigned long req, void *arg)
{
	switch (req) {
	case IOMMU_GET_HW_INFO:
		return get_hw_info(f, arg);
	case IOMMU_HWPT_ALLOC:
		return hwpt_alloc(f, arg);
	case IOMMU_HWPT_SET_DIRTY_TRACKING:
		return set_dirty_tracking(f, arg);
	case IOMMU_HWPT_GET_DIRTY_BITMAP:
		return get_dirty_bitmap(f, arg);
	case IOMMU_TEST_CMD: {
		struct iommu_test_cmd *cmd = arg;

		switch (cmd->op) {
		case IOMMU_TEST_OP_ADD_RESERVED:
			return test_add_reserved(f, cmd);
		case IOMMU_TEST_OP_MOCK_DOMAIN:
		case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
			return test_mock_domain(f, cmd);
		case IOMMU_TEST_OP_DIRTY:
			return test_dirty(f, cmd);
		default:
			/* other known ops are not modeled; unknown ops are
			 * EOPNOTSUPP in the kernel too */
			return -EOPNOTSUPP;
		}
	}
	default:
		return -ENOTTY;
	}
}
