// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration v1: the migration region of Linux 5.8-5.17 (and of vendor
 * kernels built on them), behind the same calls as v2.  Which protocol a
 * handle speaks is decided here, once (vfm_mig_proto), and state.c and
 * session.c then go through that protocol's struct vfm_mig_ops.
 *
 * The region has type 3 (VFIO_REGION_TYPE_MIGRATION_DEPRECATED), subtype
 * 1, and starts with struct vfio_device_migration_info: device_state (u32
 * at 0), reserved (u32 at 4), pending_bytes (u64 at 8), data_offset (16),
 * data_size (24); the proposal before the merge added start_pfn,
 * page_size, total_pfns, copied_pfns (32-63; dirty-v1.c).  Every field is
 * accessed by one access of its own width, as the protocol requires.
 *
 * States: RUNNING = _RUNNING, STOP = 0, PRE_COPY = _SAVING|_RUNNING,
 * STOP_COPY = _SAVING, RESUMING = _RESUMING; bits 3-31 are the driver's
 * and kept (read-modify-write); _RESUMING with another bit is the
 * driver's error report (ERROR).  There is no P2P: the flags are
 * STOP_COPY|PRE_COPY, so the planner walks only arcs v1 can take.
 *
 * The stream: the driver hands out its data in chunks (read pending_bytes;
 * read data_offset, which stages a chunk; read data_size; read the chunk
 * at data_offset) and takes it back the same way (read data_offset, write
 * the chunk there, write data_size).  A driver may depend on getting back
 * the chunks it gave, so the stream the library makes of them keeps them:
 * each chunk is a record of an 8-byte little-endian length and the bytes.
 * The bytes move through the mmapped data area where a sparse mmap area
 * covers the chunk, else by pread/pwrite.  vfiomig_data_fd() has no fd to
 * give for such a session (-EOPNOTSUPP).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"
#include "migv1.h"

#define V1_RUNNING (1u << 0)
#define V1_SAVING (1u << 1)
#define V1_RESUMING (1u << 2)
#define V1_MASK (V1_RUNNING | V1_SAVING | V1_RESUMING)

#define V1_MAX_MAPS 8

struct vfm_v1 {
	uint32_t index;         /* the migration region */
	uint64_t size;
	/* The sparse areas, mapped on first data access (NULL: not mapped,
	 * pread/pwrite it is). */
	bool map_tried;
	unsigned int nmaps;
	struct {
		uint64_t off, size;
		void *p;
	} maps[V1_MAX_MAPS];
	/* Saving: the record being read out (header bytes left, then the
	 * chunk's bytes at chunk_off), and the last pending_bytes. */
	unsigned char hdr[8];
	unsigned int hdr_left;
	uint64_t chunk_off, chunk_left, pending;
	/* The rest of the staged chunk, copied out of the data area before
	 * something else used it (dirty pfns, vfm_v1_quiesce()). */
	unsigned char *spill;
	uint64_t spill_off;
	/* pending_bytes said "nothing more now" after some bytes were
	 * returned: the next read says so (0) without asking again, one end
	 * per round as a v2 data fd gives it. */
	bool at_end;
	/* Resuming: the record being written in. */
	unsigned char in_hdr[8];
	unsigned int in_got;
	bool in_rec;
	uint64_t rec_off, rec_left, rec_size;
};

static struct vfm_v1 *v1_of(struct vfiomig_device *dev)
{
	return dev->v1;
}

/* ------------------------------------------------------------------ */
/* Detection                                                           */

/* The v1 region, if the device has one: its state made. */
static int v1_find(struct vfiomig_device *dev)
{
	struct vfiomig_region_info ri = { .sz = sizeof(ri) };
	struct vfm_v1 *v;
	uint32_t index;
	int ret;

	ret = vfiomig_region_find(dev, VFM_V1_REGION_TYPE, VFM_V1_REGION_SUBTYPE,
				  &index);
	if (ret < 0)
		return ret;
	ret = vfiomig_region_info(dev, index, &ri);
	if (ret < 0)
		return ret;
	if (ri.size < VFM_V1_HDR ||
	    (ri.flags & (VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE)) !=
		    (VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE)) {
		err(dev->ctx, "%s: migration region %u: %llu bytes, flags 0x%x: not a v1 migration region",
		    vfm_dev_name(dev), index, (unsigned long long)ri.size,
		    ri.flags);
		return -EPROTO;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->index = index;
	v->size = ri.size;
	dev->v1 = v;
	return 0;
}

static int detect(struct vfiomig_device *dev)
{
	uint64_t flags;
	int forced = dev->proto_forced, ret;

	if (forced != VFIOMIG_PROTO_V1) {
		ret = vfm_v2_mig_flags(dev, &flags);
		if (!ret)
			return VFIOMIG_PROTO_V2;
		if (ret != -ENOTTY)
			return ret;
		if (forced == VFIOMIG_PROTO_V2)
			return VFIOMIG_PROTO_NONE;
	}
	ret = v1_find(dev);
	if (ret == -ENOENT)
		return VFIOMIG_PROTO_NONE;
	if (ret < 0)
		return ret;
	info(dev->ctx, "%s: migration v1 (region %u, %llu bytes)",
	     vfm_dev_name(dev), v1_of(dev)->index,
	     (unsigned long long)v1_of(dev)->size);
	return VFIOMIG_PROTO_V1;
}

int vfm_mig_proto(struct vfiomig_device *dev)
{
	int p = __atomic_load_n(&dev->proto, __ATOMIC_ACQUIRE);

	if (p >= 0)
		return p;
	vfm_dev_lock(dev);
	p = dev->proto;
	if (p < 0) {
		p = detect(dev);
		if (p >= 0)
			__atomic_store_n(&dev->proto, p, __ATOMIC_RELEASE);
	}
	vfm_dev_unlock(dev);
	return p;
}

const struct vfm_mig_ops *vfm_mig_ops(struct vfiomig_device *dev)
{
	return vfm_mig_proto(dev) == VFIOMIG_PROTO_V1 ? &vfm_mig_v1_ops :
							&vfm_mig_v2_ops;
}

VFIOMIG_EXPORT int vfiomig_device_protocol(struct vfiomig_device *dev)
{
	int p;

	if (!dev)
		return -EINVAL;
	p = vfm_mig_proto(dev);
	if (p < 0)
		err(dev->ctx, "%s: migration protocol: %s", vfm_dev_name(dev),
		    strerror(-p));
	return p;
}

void vfm_v1_free(struct vfiomig_device *dev)
{
	struct vfm_v1 *v = dev->v1;

	if (!v)
		return;
	for (unsigned int i = 0; i < v->nmaps; i++)
		if (v->maps[i].p)
			vfiomig_region_munmap(v->maps[i].p, v->maps[i].size);
	free(v->spill);
	free(v);
	dev->v1 = NULL;
}

/* ------------------------------------------------------------------ */
/* The header, at native width                                         */

int vfm_v1_rd32(struct vfiomig_device *dev, uint64_t off, uint32_t *val)
{
	return vfiomig_region_read(dev, v1_of(dev)->index, off, val, 4);
}

int vfm_v1_rd64(struct vfiomig_device *dev, uint64_t off, uint64_t *val)
{
	return vfiomig_region_read(dev, v1_of(dev)->index, off, val, 8);
}

int vfm_v1_wr64(struct vfiomig_device *dev, uint64_t off, uint64_t val)
{
	return vfiomig_region_write(dev, v1_of(dev)->index, off, &val, 8);
}

uint64_t vfm_v1_region_size(struct vfiomig_device *dev)
{
	return v1_of(dev) ? v1_of(dev)->size : 0;
}

static int v1_flags(struct vfiomig_device *dev, uint64_t *flags)
{
	(void)dev;
	*flags = VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY;
	return 0;
}

/* v1 bits -> the v2 state; anything with _RESUMING and another bit is
 * the driver's error report. */
static uint32_t to_v2(uint32_t bits)
{
	switch (bits & V1_MASK) {
	case 0:
		return VFIOMIG_STATE_STOP;
	case V1_RUNNING:
		return VFIOMIG_STATE_RUNNING;
	case V1_SAVING:
		return VFIOMIG_STATE_STOP_COPY;
	case V1_SAVING | V1_RUNNING:
		return VFIOMIG_STATE_PRE_COPY;
	case V1_RESUMING:
		return VFIOMIG_STATE_RESUMING;
	default:
		return VFIOMIG_STATE_ERROR;
	}
}

static int to_v1(int state, uint32_t *bits)
{
	switch (state) {
	case VFIOMIG_STATE_STOP:
		*bits = 0;
		return 0;
	case VFIOMIG_STATE_RUNNING:
		*bits = V1_RUNNING;
		return 0;
	case VFIOMIG_STATE_STOP_COPY:
		*bits = V1_SAVING;
		return 0;
	case VFIOMIG_STATE_PRE_COPY:
		*bits = V1_SAVING | V1_RUNNING;
		return 0;
	case VFIOMIG_STATE_RESUMING:
		*bits = V1_RESUMING;
		return 0;
	default: /* P2P states, ERROR */
		return -EINVAL;
	}
}

static int v1_state_read(struct vfiomig_device *dev, uint32_t *state)
{
	uint32_t raw;
	int ret = vfm_v1_rd32(dev, VFM_V1_OFF_STATE, &raw);

	if (ret < 0)
		return ret;
	*state = to_v2(raw);
	return 0;
}

static void stream_reset(struct vfm_v1 *v)
{
	v->at_end = false;
	free(v->spill);
	v->spill = NULL;
	v->hdr_left = 0;
	v->chunk_left = 0;
	v->pending = 0;
	v->in_got = 0;
	v->in_rec = false;
	v->rec_left = 0;
}

/* Leaving _RESUMING commits what the device received: never a record
 * cut short (the stream ended inside it). */
static int check_commit(struct vfiomig_device *dev, uint32_t old, uint32_t nv)
{
	struct vfm_v1 *v = v1_of(dev);

	if ((old & V1_MASK) != V1_RESUMING || (nv & V1_MASK) == V1_RESUMING)
		return 0;
	if (!v->in_rec && !v->in_got)
		return 0;
	err(dev->ctx, "%s: v1: the stream ended inside a record (%llu of %llu bytes): not committing it",
	    vfm_dev_name(dev),
	    (unsigned long long)(v->in_rec ? v->rec_size - v->rec_left : v->in_got),
	    (unsigned long long)(v->in_rec ? v->rec_size : 8));
	return -EBADMSG;
}

static int v1_state_write(struct vfiomig_device *dev, int to, int *fd)
{
	uint32_t bits, old, nv;
	int ret;

	*fd = -1;
	ret = to_v1(to, &bits);
	if (ret < 0) {
		err(dev->ctx, "%s: v1 has no state %s", vfm_dev_name(dev),
		    vfm_state_name(to));
		return ret;
	}
	/* Read-modify-write: bits 3-31 are the driver's. */
	ret = vfm_v1_rd32(dev, VFM_V1_OFF_STATE, &old);
	if (!ret) {
		nv = (old & ~V1_MASK) | bits;
		ret = check_commit(dev, old, nv);
	}
	if (!ret)
		ret = vfiomig_region_write(dev, v1_of(dev)->index,
					   VFM_V1_OFF_STATE, &nv, 4);
	/* Forgotten on failure: the caller reads the state back. */
	vfm_dev_state_note(dev, ret < 0 ? -1 : to);
	if (ret < 0)
		return ret;
	/* A new session where _SAVING or _RESUMING starts; through the
	 * device fd, which the session does not own. */
	if (((bits & V1_SAVING) && !(old & V1_SAVING)) ||
	    (bits == V1_RESUMING && (old & V1_MASK) != V1_RESUMING)) {
		stream_reset(v1_of(dev));
		*fd = dev->fd;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The data area                                                       */

/* Map every sparse area once; a failure leaves pread/pwrite. */
static void map_areas(struct vfiomig_device *dev, struct vfm_v1 *v)
{
	struct vfiomig_region_info ri = { .sz = sizeof(ri) };
	struct vfiomig_region_area a[V1_MAX_MAPS];
	int n, ret;

	v->map_tried = true;
	if (vfiomig_region_info(dev, v->index, &ri) < 0 ||
	    !(ri.flags & VFIOMIG_REGION_MMAP) ||
	    !(ri.flags & VFIOMIG_REGION_SPARSE))
		return; /* the header is in the region: only areas map */
	n = vfiomig_region_areas(dev, v->index, a, V1_MAX_MAPS);
	if (n <= 0)
		return;
	if (n > V1_MAX_MAPS)
		n = V1_MAX_MAPS;
	for (int i = 0; i < n; i++) {
		void *p = NULL;

		if (!a[i].size || a[i].size > SIZE_MAX)
			continue;
		ret = vfiomig_region_mmap(dev, v->index, a[i].offset,
					  (size_t)a[i].size,
					  PROT_READ | PROT_WRITE, &p);
		if (ret < 0) {
			dbg(dev->ctx, "%s: v1: data area [0x%llx, +0x%llx) not mapped: %s; pread/pwrite",
			    vfm_dev_name(dev), (unsigned long long)a[i].offset,
			    (unsigned long long)a[i].size, strerror(-ret));
			continue;
		}
		v->maps[v->nmaps].off = a[i].offset;
		v->maps[v->nmaps].size = a[i].size;
		v->maps[v->nmaps++].p = p;
	}
}

/* n bytes at region offset off, through a mapping covering all of them
 * or by pread/pwrite. */
static int data_io(struct vfiomig_device *dev, uint64_t off, void *buf,
		   size_t n, bool write)
{
	struct vfm_v1 *v = v1_of(dev);

	if (!v->map_tried)
		map_areas(dev, v);
	for (unsigned int i = 0; i < v->nmaps; i++) {
		unsigned char *p = v->maps[i].p;

		if (off < v->maps[i].off || off - v->maps[i].off > v->maps[i].size ||
		    n > v->maps[i].size - (off - v->maps[i].off))
			continue;
		p += off - v->maps[i].off;
		if (write)
			memcpy(p, buf, n);
		else
			memcpy(buf, p, n);
		return 0;
	}
	if (write)
		return vfiomig_region_write(dev, v->index, off, buf, n);
	return vfiomig_region_read(dev, v->index, off, buf, n);
}

/* [off, +len) is a data area the driver may name: past the header,
 * inside the region. */
static bool data_ok(const struct vfm_v1 *v, uint64_t off, uint64_t len)
{
	return off >= VFM_V1_HDR && off <= v->size && len <= v->size - off;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */

static void put_le64(unsigned char *b, uint64_t x)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le64(const unsigned char *b)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | b[i];
	return x;
}

/* The next chunk: 1 staged, 0 none now (or the end), -errno. */
static int next_chunk(struct vfiomig_device *dev, struct vfm_v1 *v,
		      const char **what)
{
	uint64_t off, size;
	int ret;

	ret = vfm_v1_rd64(dev, VFM_V1_OFF_PENDING, &v->pending);
	if (ret < 0) {
		*what = "v1: read pending_bytes";
		return ret;
	}
	if (!v->pending)
		return 0;
	ret = vfm_v1_rd64(dev, VFM_V1_OFF_DATA_OFFSET, &off);
	if (ret < 0) {
		*what = "v1: read data_offset";
		return ret;
	}
	ret = vfm_v1_rd64(dev, VFM_V1_OFF_DATA_SIZE, &size);
	if (ret < 0) {
		*what = "v1: read data_size";
		return ret;
	}
	if (!size)
		return 0;
	if (!data_ok(v, off, size)) {
		err(dev->ctx, "%s: v1: chunk [0x%llx, +0x%llx) is not in the data area of the %llu-byte region",
		    vfm_dev_name(dev), (unsigned long long)off,
		    (unsigned long long)size, (unsigned long long)v->size);
		*what = "v1: data_offset/data_size";
		return -EPROTO;
	}
	v->chunk_off = off;
	v->chunk_left = size;
	put_le64(v->hdr, size);
	v->hdr_left = 8;
	return 1;
}

static ssize_t v1_data_read(struct vfiomig_device *dev, int fd, void *buf,
			    size_t n, const char **what)
{
	struct vfm_v1 *v = v1_of(dev);
	unsigned char *b = buf;
	size_t done = 0, m;
	int ret;

	(void)fd;
	if (v->at_end) {
		v->at_end = false;
		return 0;
	}
	while (done < n) {
		if (!v->hdr_left && !v->chunk_left) {
			ret = next_chunk(dev, v, what);
			if (ret < 0)
				return ret;
			if (!ret) {
				v->at_end = done > 0;
				break;
			}
		}
		if (v->hdr_left) {
			m = n - done < v->hdr_left ? n - done : v->hdr_left;
			memcpy(b + done, v->hdr + 8 - v->hdr_left, m);
			v->hdr_left -= (unsigned int)m;
			done += m;
			continue;
		}
		m = n - done < v->chunk_left ? n - done : (size_t)v->chunk_left;
		if (v->spill) {
			memcpy(b + done, v->spill + v->spill_off, m);
			v->spill_off += m;
		} else {
			ret = data_io(dev, v->chunk_off, b + done, m, false);
			if (ret < 0) {
				*what = "v1: read the data area";
				return ret;
			}
		}
		v->chunk_off += m;
		v->chunk_left -= m;
		done += m;
		if (!v->chunk_left && v->spill) {
			free(v->spill);
			v->spill = NULL;
		}
	}
	return (ssize_t)done;
}

int vfm_v1_data_read(struct vfiomig_device *dev, uint64_t off, void *buf,
		     size_t n)
{
	if (!data_ok(v1_of(dev), off, n))
		return -EPROTO;
	return data_io(dev, off, buf, n, false);
}

int vfm_v1_quiesce(struct vfiomig_device *dev)
{
	struct vfm_v1 *v = v1_of(dev);
	int ret;

	if (dev->session.busy)
		return -EBUSY; /* a transfer is using the data area */
	if (v->in_rec)
		return -EBUSY; /* a record half written into it */
	if (!v->chunk_left || v->spill)
		return 0;
	if (v->chunk_left > SIZE_MAX)
		return -ENOMEM;
	v->spill = malloc((size_t)v->chunk_left);
	if (!v->spill)
		return -ENOMEM;
	ret = data_io(dev, v->chunk_off, v->spill, (size_t)v->chunk_left, false);
	if (ret < 0) {
		free(v->spill);
		v->spill = NULL;
		return ret;
	}
	v->spill_off = 0;
	return 0;
}

/* PRE_COPY's pending_bytes as dirty_bytes: v1 has no initial data that
 * must reach the destination before the switchover (no switchover-ack),
 * only bytes still to move, so the precopy policy's threshold and stall
 * rules apply to them (initial_bytes 0: drained from the start).  Inside a
 * record, pending_bytes is not read: reading it tells the driver the
 * chunk was read. */
static int v1_precopy_info(struct vfiomig_device *dev, int fd,
			   struct vfiomig_precopy_info *pi)
{
	struct vfm_v1 *v = v1_of(dev);
	int ret;

	(void)fd;
	if (vfm_dev_state_cached(dev) != VFIOMIG_STATE_PRE_COPY)
		return -EINVAL; /* v2 answers EINVAL outside PRE_COPY */
	/* The transfer in flight owns the stream position (and the
	 * registers' sequence): no pending_bytes read in the middle of it. */
	if (dev->session.busy)
		return -EBUSY;
	if (!v->hdr_left && !v->chunk_left) {
		ret = vfm_v1_rd64(dev, VFM_V1_OFF_PENDING, &v->pending);
		if (ret < 0)
			return ret;
	}
	pi->initial_bytes = 0;
	pi->dirty_bytes = v->pending;
	pi->flags = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Resuming                                                            */

static int record_start(struct vfiomig_device *dev, struct vfm_v1 *v,
			const char **what)
{
	uint64_t size = get_le64(v->in_hdr), off;
	int ret;

	v->in_got = 0;
	ret = vfm_v1_rd64(dev, VFM_V1_OFF_DATA_OFFSET, &off);
	if (ret < 0) {
		*what = "v1: read data_offset";
		return ret;
	}
	if (!size || !data_ok(v, off, size)) {
		err(dev->ctx, "%s: v1: a record of %llu bytes does not fit the data area at 0x%llx of the %llu-byte region: not a v1 stream of this device",
		    vfm_dev_name(dev), (unsigned long long)size,
		    (unsigned long long)off, (unsigned long long)v->size);
		*what = "v1: record length";
		return -EPROTO;
	}
	v->in_rec = true;
	v->rec_off = off;
	v->rec_left = size;
	v->rec_size = size;
	return 0;
}

static int v1_data_write(struct vfiomig_device *dev, int fd, const void *buf,
			 size_t n, const char **what)
{
	struct vfm_v1 *v = v1_of(dev);
	const unsigned char *b = buf;
	size_t m;
	int ret;

	(void)fd;
	while (n) {
		if (!v->in_rec) {
			m = n < 8u - v->in_got ? n : 8u - v->in_got;
			memcpy(v->in_hdr + v->in_got, b, m);
			v->in_got += (unsigned int)m;
			b += m;
			n -= m;
			if (v->in_got < 8)
				break;
			ret = record_start(dev, v, what);
			if (ret < 0)
				return ret;
			continue;
		}
		m = n < v->rec_left ? n : (size_t)v->rec_left;
		ret = data_io(dev, v->rec_off, (void *)(uintptr_t)b, m, true);
		if (ret < 0) {
			*what = "v1: write the data area";
			return ret;
		}
		v->rec_off += m;
		v->rec_left -= m;
		b += m;
		n -= m;
		if (v->rec_left)
			continue;
		ret = vfm_v1_wr64(dev, VFM_V1_OFF_DATA_SIZE, v->rec_size);
		if (ret < 0) {
			*what = "v1: write data_size";
			return ret;
		}
		v->in_rec = false;
	}
	return 0;
}

static void v1_session_end(struct vfiomig_device *dev)
{
	if (v1_of(dev))
		stream_reset(v1_of(dev));
}

const struct vfm_mig_ops vfm_mig_v1_ops = {
	.name = "v1",
	.shares_device_fd = true,
	.flags = v1_flags,
	.state_read = v1_state_read,
	.state_write = v1_state_write,
	.data_read = v1_data_read,
	.data_write = v1_data_write,
	.precopy_info = v1_precopy_info,
	.session_end = v1_session_end,
};
