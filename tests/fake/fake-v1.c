// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's room for migration v1 (Linux 5.8-5.17): a device
 * whose VFIO_DEVICE_FEATURE answers ENOTTY (added with mig_flags 0) and
 * which has a region of type VFIO_REGION_TYPE_MIGRATION_DEPRECATED (3),
 * subtype 1, starting with struct vfio_device_migration_info.  No mainline
 * driver ever implemented it; this models what the uAPI of those kernels
 * asked of a vendor driver, strictly (fake.h, fake_dev_set_v1()).
 *
 * The region is a programmed region (fake-region.c) with this file's model
 * as its hook: the header is registers, the data area the region's memory
 * (a memfd's shared mapping when it is mappable, so a chunk staged here is
 * what the caller's mapping sees).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>

#include "fake-internal.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

#define V1_RUNNING (1u << 0)
#define V1_SAVING (1u << 1)
#define V1_RESUMING (1u << 2)
#define V1_MASK (V1_RUNNING | V1_SAVING | V1_RESUMING)

/* Header offsets (packed struct vfio_device_migration_info). */
#define OFF_STATE 0
#define OFF_RESERVED 4
#define OFF_PENDING 8
#define OFF_DATA_OFFSET 16
#define OFF_DATA_SIZE 24
#define OFF_START_PFN 32
#define OFF_PAGE_SIZE 40
#define OFF_TOTAL_PFNS 48
#define OFF_COPIED_PFNS 56
#define HDR_MERGED 32
#define HDR_PROPOSAL 64

struct v1 {
	int id;
	struct fake_v1_cfg cfg;
	uint32_t state;         /* device_state, reserved bits included */
	int fail_err;           /* next state write fails with this */
	unsigned char *blob;    /* cfg.state_size bytes */
	/* saving */
	size_t pos;             /* state bytes sent in order (committed) */
	size_t staged;          /* chunk bytes staged in the data area, 0: none */
	size_t staged_n;        /* ... of which state bytes */
	bool staged_redo;       /* ... taken from the re-sent span */
	size_t redo_pos, redo_left; /* state bytes dirtied again, to re-send */
	bool dirty_armed;       /* precopy drained: the next pending read
				 * dirties precopy_dirty bytes */
	/* resuming */
	size_t lpos;
	/* dirty pfns (the proposal's fields) */
	uint64_t start_pfn, page_size, total_pfns;
	uint64_t *dirty;        /* DIRTY_PFNS bits */
	bool bitmap_staged;     /* data_offset names the bitmap next */
	struct fake_v1_stats st;
};

static ssize_t v1_rw(void *priv, unsigned char *mem, size_t msize,
		     uint64_t off, void *buf, size_t len, bool write);

static size_t hdr_size(const struct v1 *v)
{
	return v->cfg.pfns ? HDR_PROPOSAL : HDR_MERGED;
}

/* What the saving side offers now: precopy_initial while running. */
static size_t avail(const struct v1 *v)
{
	size_t n = v->cfg.state_size;

	if ((v->state & V1_RUNNING) && v->cfg.precopy_initial < n)
		n = v->cfg.precopy_initial;
	return n;
}

static int state_write(struct v1 *v, uint32_t nv)
{
	uint32_t old = v->state, bits = nv & V1_MASK;

	v->st.state_writes++;
	if (v->fail_err) {
		int e = v->fail_err;

		v->fail_err = 0;
		return -e;
	}
	if ((nv & ~V1_MASK) != (old & ~V1_MASK))
		return -EINVAL; /* the driver's bits, not preserved */
	if ((bits & V1_RESUMING) && bits != V1_RESUMING)
		return -EINVAL; /* VFIO_DEVICE_STATE_VALID() */
	if ((bits & V1_SAVING) && !(old & V1_SAVING)) {
		v->pos = 0;
		v->staged = 0;
		v->redo_left = 0;
		v->dirty_armed = false;
	}
	if (!(bits & V1_SAVING))
		v->staged = 0;
	if (bits == V1_RESUMING && !(old & V1_RESUMING))
		v->lpos = 0;
	v->state = nv;
	return 0;
}

/* The driver's own chunk format: an 8-byte offset into the state, then
 * the bytes there (so re-sent spans land where they belong). */
#define CHUNK_HDR 8

static size_t left(const struct v1 *v)
{
	return (avail(v) > v->pos ? avail(v) - v->pos : 0) + v->redo_left;
}

/* Reading data_offset while saving: stage the next chunk, once. */
static void stage(struct v1 *v, unsigned char *mem)
{
	size_t n, off, max = v->cfg.chunk_max - CHUNK_HDR;
	uint64_t off64;

	if (v->staged)
		return;
	v->staged_redo = v->redo_left > 0;
	off = v->staged_redo ? v->redo_pos : v->pos;
	n = v->staged_redo ? v->redo_left :
	    avail(v) > v->pos ? avail(v) - v->pos : 0;
	if (n > max)
		n = max;
	if (!n)
		return;
	off64 = off;
	memcpy(mem + v->cfg.data_offset, &off64, CHUNK_HDR);
	memcpy(mem + v->cfg.data_offset + CHUNK_HDR, v->blob + off, n);
	v->staged = n + CHUNK_HDR;
	v->staged_n = n;
}

/* Reading pending_bytes: the chunk staged before was read.  A precopy
 * drained once dirties precopy_dirty bytes at the next read (a running
 * device dirtying its state between rounds). */
static uint64_t pending(struct v1 *v)
{
	if (v->staged) {
		if (v->staged_redo) {
			v->redo_pos += v->staged_n;
			v->redo_left -= v->staged_n;
		} else {
			v->pos += v->staged_n;
		}
		v->st.chunks_saved++;
		v->st.bytes_saved += v->staged;
		v->st.last_chunk = v->staged;
		v->staged = 0;
	}
	if ((v->state & V1_RUNNING) && v->cfg.precopy_dirty && !left(v)) {
		if (v->dirty_armed) {
			v->redo_pos = 0;
			v->redo_left = v->cfg.precopy_dirty;
		}
		v->dirty_armed = !v->dirty_armed;
	}
	return left(v);
}

static int consume(struct v1 *v, unsigned char *mem, uint64_t n)
{
	uint64_t off;

	if (n > v->cfg.data_size || n <= CHUNK_HDR)
		return -EINVAL;
	memcpy(&off, mem + v->cfg.data_offset, CHUNK_HDR);
	n -= CHUNK_HDR;
	if (off > v->cfg.state_size || n > v->cfg.state_size - off)
		return -ENOSPC; /* not this device's chunk */
	memcpy(v->blob + off, mem + v->cfg.data_offset + CHUNK_HDR, n);
	v->lpos += n;
	v->st.chunks_loaded++;
	v->st.bytes_loaded += n + CHUNK_HDR;
	v->st.last_chunk = n + CHUNK_HDR;
	return 0;
}

#define DIRTY_PFNS (1u << 20)

static bool dirty_bit(const struct v1 *v, uint64_t pfn)
{
	return pfn < DIRTY_PFNS && (v->dirty[pfn / 64] >> (pfn % 64) & 1);
}

static void dirty_clear(struct v1 *v, uint64_t pfn, uint64_t n)
{
	for (uint64_t p = pfn; p < pfn + n && p < DIRTY_PFNS; p++)
		v->dirty[p / 64] &= ~(1ull << (p % 64));
}

/* Reading copied_pfns: the answer for [start_pfn, +total_pfns). */
static int copied_pfns(struct v1 *v, unsigned char *mem, uint64_t *val)
{
	uint64_t s = v->start_pfn, n = v->total_pfns, max;
	unsigned char *area = mem + v->cfg.data_offset;
	bool any = false;

	if (v->page_size != 4096 || !n || s >= UINT64_MAX - n)
		return -EINVAL;
	max = v->cfg.pfns_max ? v->cfg.pfns_max : v->cfg.data_size * 8;
	for (uint64_t p = s; p < s + n && p < DIRTY_PFNS && !any; p++)
		any = dirty_bit(v, p);
	if (v->cfg.pfns_answer || !any) {
		dirty_clear(v, s, n);
		*val = v->cfg.pfns_answer == 2 ? ~0ull : 0;
		return 0;
	}
	if (n > max)
		n = max;
	memset(area, 0, (size_t)((n + 63) / 64 * 8));
	for (uint64_t i = 0; i < n; i++)
		if (dirty_bit(v, s + i))
			area[i / 8] |= (unsigned char)(1u << (i % 8));
	dirty_clear(v, s, n);
	v->bitmap_staged = true;
	*val = n;
	return 0;
}

static int read_u64(struct v1 *v, unsigned char *mem, uint64_t off,
		    uint64_t *val)
{
	bool saving = v->state & V1_SAVING, resuming = v->state & V1_RESUMING;

	switch (off) {
	case OFF_PENDING:
		if (!saving)
			return -EINVAL;
		*val = pending(v);
		return 0;
	case OFF_DATA_OFFSET:
		if (v->bitmap_staged) {
			v->bitmap_staged = false;
			*val = v->cfg.data_offset;
			return 0;
		}
		if (!saving && !resuming)
			return -EINVAL;
		if (saving)
			stage(v, mem);
		*val = v->cfg.data_offset;
		return 0;
	case OFF_DATA_SIZE:
		if (!saving && !resuming)
			return -EINVAL;
		*val = saving ? v->staged : 0;
		return 0;
	case OFF_START_PFN:
		*val = v->start_pfn;
		return 0;
	case OFF_PAGE_SIZE:
		*val = v->page_size;
		return 0;
	case OFF_TOTAL_PFNS:
		*val = v->total_pfns;
		return 0;
	case OFF_COPIED_PFNS:
		return copied_pfns(v, mem, val);
	}
	return -EINVAL;
}

static int write_u64(struct v1 *v, unsigned char *mem, uint64_t off,
		     uint64_t val)
{
	switch (off) {
	case OFF_DATA_SIZE:
		if (!(v->state & V1_RESUMING))
			return -EINVAL;
		return consume(v, mem, val);
	case OFF_START_PFN:
		v->start_pfn = val;
		return 0;
	case OFF_PAGE_SIZE:
		v->page_size = val;
		return 0;
	case OFF_TOTAL_PFNS:
		v->total_pfns = val;
		return 0;
	}
	return -EINVAL; /* read-only: pending_bytes, data_offset, copied_pfns */
}

/* One header access: exactly one field at its native width. */
static int header_rw(struct v1 *v, unsigned char *mem, uint64_t off,
		     void *buf, size_t len, bool write)
{
	uint64_t val = 0;
	uint32_t s;
	int ret;

	if (off == OFF_STATE && len == 4) {
		if (!write) {
			memcpy(buf, &v->state, 4);
			return 0;
		}
		memcpy(&s, buf, 4);
		return state_write(v, s);
	}
	if (off == OFF_RESERVED || off % 8 || len != 8 ||
	    off >= hdr_size(v))
		return -EINVAL;
	if (write) {
		memcpy(&val, buf, 8);
		return write_u64(v, mem, off, val);
	}
	ret = read_u64(v, mem, off, &val);
	if (!ret)
		memcpy(buf, &val, 8);
	return ret;
}

static ssize_t v1_rw(void *priv, unsigned char *mem, size_t msize,
		     uint64_t off, void *buf, size_t len, bool write)
{
	struct v1 *v = priv;
	const struct fake_v1_cfg *c = &v->cfg;
	int ret;

	(void)msize;
	if (off < hdr_size(v)) {
		ret = header_rw(v, mem, off, buf, len, write);
		if (ret < 0) {
			v->st.refused++;
			return ret;
		}
		return (ssize_t)len;
	}
	if (off < c->data_offset || off - c->data_offset >= c->data_size ||
	    len > c->data_size - (off - c->data_offset)) {
		v->st.refused++;
		return -EINVAL;
	}
	if (write)
		memcpy(mem + off, buf, len);
	else
		memcpy(buf, mem + off, len);
	return (ssize_t)len;
}

static bool v1_mmap_ok(void *priv, uint64_t off, size_t len)
{
	struct v1 *v = priv;

	return v->cfg.mmap && off >= v->cfg.data_offset &&
	       off - v->cfg.data_offset <= v->cfg.data_size &&
	       len <= v->cfg.data_size - (off - v->cfg.data_offset);
}

/* VFIO_DEVICE_RESET: _RUNNING, any session gone. */
static void v1_reset(void *priv)
{
	struct v1 *v = priv;

	v->state = V1_RUNNING | v->cfg.reserved;
	v->staged = 0;
	v->pos = 0;
	v->lpos = 0;
	v->redo_left = 0;
	v->dirty_armed = false;
	v->bitmap_staged = false;
}

static void v1_fini(void *priv)
{
	struct v1 *v = priv;

	free(v->blob);
	free(v->dirty);
	free(v);
}

/* The capability chain: the type capability, then (mappable) a sparse
 * mmap capability with the data area as its one area. */
static size_t build_caps(const struct fake_v1_cfg *c, unsigned char *buf)
{
	struct vfio_region_info_cap_type t = {
		.header = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1 },
		.type = 3,
		.subtype = 1,
	};
	struct vfio_region_info_cap_sparse_mmap s = {
		.header = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
		.nr_areas = 1,
	};
	struct vfio_region_sparse_mmap_area a = {
		.offset = c->data_offset,
		.size = c->data_size,
	};
	size_t n = 0;

	if (c->mmap)
		t.header.next = (uint32_t)(sizeof(struct vfio_region_info) +
					   sizeof(t));
	memcpy(buf, &t, sizeof(t));
	n += sizeof(t);
	if (c->mmap) {
		memcpy(buf + n, &s, sizeof(s));
		n += sizeof(s);
		memcpy(buf + n, &a, sizeof(a));
		n += sizeof(a);
	}
	return n;
}

static int cfg_fill(struct fake_v1_cfg *c)
{
	if (!c->region_size)
		c->region_size = 64u << 10;
	if (!c->data_offset)
		c->data_offset = 4096;
	if (c->region_size > (1u << 20) || c->index < 9 ||
	    c->data_offset < (c->pfns ? HDR_PROPOSAL : HDR_MERGED) ||
	    c->data_offset >= c->region_size)
		return -EINVAL;
	if (!c->data_size)
		c->data_size = c->region_size - c->data_offset;
	if (c->data_size > c->region_size - c->data_offset)
		return -EINVAL;
	if (!c->chunk_max || c->chunk_max > c->data_size)
		c->chunk_max = c->data_size;
	if (c->chunk_max <= CHUNK_HDR)
		return -EINVAL;
	if (c->precopy_initial > c->state_size)
		c->precopy_initial = c->state_size;
	if (c->precopy_dirty > c->state_size)
		c->precopy_dirty = c->state_size;
	if ((c->reserved & V1_MASK) || c->pfns_answer < 0 || c->pfns_answer > 2 ||
	    c->pfns_max > c->data_size * 8)
		return -EINVAL;
	return 0;
}

FAKE_EXPORT int fake_dev_set_v1(int id, const struct fake_v1_cfg *cfg)
{
	FAKE_LOCKED();
	struct fake_dev *d = fake_dev_get(id);
	struct fake_region r = { 0 };
	struct fake_region_hook h = { 0 };
	unsigned char caps[64];
	struct v1 *v;
	int ret;

	if (!d || !cfg || d->cfg.mig_flags)
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->id = id;
	v->cfg = *cfg;
	ret = cfg_fill(&v->cfg);
	if (!ret) {
		v->blob = calloc(1, v->cfg.state_size ? v->cfg.state_size : 1);
		if (v->cfg.pfns)
			v->dirty = calloc(DIRTY_PFNS / 64, 8);
		if (!v->blob || (v->cfg.pfns && !v->dirty))
			ret = -ENOMEM;
	}
	if (ret) {
		v1_fini(v);
		return ret;
	}
	v->state = V1_RUNNING | v->cfg.reserved;
	r.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		  (v->cfg.mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0);
	r.size = v->cfg.region_size;
	r.caps = caps;
	r.caps_len = build_caps(&v->cfg, caps);
	r.cap_offset = -1;
	ret = fake_dev_set_region(id, v->cfg.index, &r);
	if (ret) {
		v1_fini(v);
		return ret;
	}
	h.rw = v1_rw;
	h.mmap_ok = v->cfg.mmap ? v1_mmap_ok : NULL;
	h.fini = v1_fini;
	h.reset = v1_reset;
	h.priv = v;
	ret = fake_region_set_hook(d, v->cfg.index, &h);
	if (ret)
		v1_fini(v);
	return ret;
}

/* The v1 model of device id: its hooked region is found by walking the
 * indexes a v1 device may use (fake_region_hook_priv()). */
static struct v1 *v1_of(int id)
{
	struct fake_dev *d = fake_dev_get(id);

	return d ? fake_region_hook_priv(d, v1_rw) : NULL;
}

FAKE_EXPORT bool fake_dev_is_v1(int id)
{
	FAKE_LOCKED();
	return v1_of(id) != NULL;
}

FAKE_EXPORT uint32_t fake_v1_state(int id)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	return v ? v->state : 0;
}

FAKE_EXPORT void fake_v1_set_state(int id, uint32_t state)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	if (v)
		v->state = state;
}

FAKE_EXPORT void fake_v1_fail_state(int id, int err)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	if (v)
		v->fail_err = err;
}

FAKE_EXPORT void fake_v1_fill(int id, uint32_t seed)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);
	uint32_t x = seed ? seed : 1;

	if (!v)
		return;
	for (size_t i = 0; i < v->cfg.state_size; i++) {
		x ^= x << 13; /* xorshift32 */
		x ^= x >> 17;
		x ^= x << 5;
		v->blob[i] = (unsigned char)x;
	}
}

FAKE_EXPORT size_t fake_v1_blob(int id, void *buf, size_t len)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	if (!v)
		return 0;
	memcpy(buf, v->blob, len < v->cfg.state_size ? len : v->cfg.state_size);
	return v->cfg.state_size;
}

FAKE_EXPORT void fake_v1_dirty(int id, uint64_t pfn, uint64_t n)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	for (uint64_t p = pfn; v && v->dirty && p < pfn + n && p < DIRTY_PFNS; p++)
		v->dirty[p / 64] |= 1ull << (p % 64);
}

FAKE_EXPORT void fake_v1_stats(int id, struct fake_v1_stats *out)
{
	FAKE_LOCKED();
	struct v1 *v = v1_of(id);

	if (v)
		*out = v->st;
	else
		memset(out, 0, sizeof(*out));
}
