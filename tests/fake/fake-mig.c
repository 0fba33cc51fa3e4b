// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's migration model (test-only): VFIO_DEVICE_FEATURE
 * MIGRATION (1), MIG_DEVICE_STATE (2), MIG_DATA_SIZE (9),
 * MIG_PRECOPY_INFOv2 (12, a kernel newer than 6.12), the v2 FSM, data fds
 * and VFIO_MIG_GET_PRECOPY_INFO, after kernel-contract.md 3-7, 12 and 16.
 *
 * The FSM is the kernel's: vfio_mig_get_next_state() over the raw one-step
 * table of contract 4.2, driven by a loop like mtty_set_state().  It is
 * written here on its own, sharing nothing with lib/state.c (which plans
 * by searching the arcs), so each checks the other.
 *
 * Two personalities:
 *  - FAKE_MTTY: samples/vfio-mdev/mtty.c exactly.  Stream = 24-byte header
 *    + 36 bytes per port (uart_reg[8] from dev->regs, the rest of the
 *    serial_port record kept here; a fresh port has byte 33 = 16).
 *    PRE_COPY gives the header only, STOP_COPY appends the ports; read
 *    returns 0 at the end; PRECOPY_INFO initial = 24 - read, dirty 0.
 *  - FAKE_GENERIC: a programmable device.  Its state is a blob of
 *    cfg.state_size bytes (bytes 0..15 mirror dev->regs, the rest derived
 *    from a seed), streamed as records
 *        { u32 magic "FKMG", u32 type, u64 off, u64 len } + payload
 *    CHUNK records carry blob[off, off+len) (4 KiB chunks), an END record
 *    carries off = state_size and len = FNV-1a 64 of the blob.  PRE_COPY
 *    offers the chunks covering cfg.precopy_initial bytes; every
 *    PRECOPY_INFO in a PRE_COPY state first dirties cfg.precopy_dirty bytes
 *    (the device runs), and fake_dev_dirty_precopy() dirties more; like
 *    mlx5, dirty data is queued for reading by PRECOPY_INFO once what was
 *    queued has been read.  STOP_COPY appends every chunk not sent in its
 *    current version, then END.  The temporary end of data in PRE_COPY is
 *    read() == 0 or ENOMSG (cfg.precopy_end).  RESUMING->STOP replays the
 *    records and checks coverage, length and checksum, else EINVAL (the
 *    device stays RESUMING).  MIG_DATA_SIZE = the length of a whole
 *    STOP->STOP_COPY stream.  With cfg.precopy_v2 the device also has
 *    PRECOPY_INFOv2 and can re-initialise mid-precopy: its first chunks
 *    go into the stream again as new initial data, and PRECOPY_INFO says
 *    REINIT (fake_dev_precopy_reinit() in fake.h).
 *
 * Every arc taken or refused goes to the arc log (fake_arc_log()), so that
 * tests can check the order a device set walks its members in.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "fake-internal.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

enum {
	ST_ERROR = VFIO_DEVICE_STATE_ERROR,
	ST_STOP = VFIO_DEVICE_STATE_STOP,
	ST_RUNNING = VFIO_DEVICE_STATE_RUNNING,
	ST_STOP_COPY = VFIO_DEVICE_STATE_STOP_COPY,
	ST_RESUMING = VFIO_DEVICE_STATE_RESUMING,
	ST_RUNNING_P2P = VFIO_DEVICE_STATE_RUNNING_P2P,
	ST_PRE_COPY = VFIO_DEVICE_STATE_PRE_COPY,
	ST_PRE_COPY_P2P = VFIO_DEVICE_STATE_PRE_COPY_P2P,
	ST_NUM = 8,
};

/* ------------------------------------------------------------------ */
/* vfio_mig_get_next_state() (drivers/vfio/vfio_main.c), contract 4.2   */

static const uint8_t fsm_table[ST_NUM][ST_NUM] = {
	[ST_STOP] = {
		[ST_STOP] = ST_STOP, [ST_RUNNING] = ST_RUNNING_P2P,
		[ST_PRE_COPY] = ST_RUNNING_P2P, [ST_PRE_COPY_P2P] = ST_RUNNING_P2P,
		[ST_STOP_COPY] = ST_STOP_COPY, [ST_RESUMING] = ST_RESUMING,
		[ST_RUNNING_P2P] = ST_RUNNING_P2P, [ST_ERROR] = ST_ERROR,
	},
	[ST_RUNNING] = {
		[ST_STOP] = ST_RUNNING_P2P, [ST_RUNNING] = ST_RUNNING,
		[ST_PRE_COPY] = ST_PRE_COPY, [ST_PRE_COPY_P2P] = ST_RUNNING_P2P,
		[ST_STOP_COPY] = ST_RUNNING_P2P, [ST_RESUMING] = ST_RUNNING_P2P,
		[ST_RUNNING_P2P] = ST_RUNNING_P2P, [ST_ERROR] = ST_ERROR,
	},
	[ST_PRE_COPY] = {
		[ST_STOP] = ST_RUNNING, [ST_RUNNING] = ST_RUNNING,
		[ST_PRE_COPY] = ST_PRE_COPY, [ST_PRE_COPY_P2P] = ST_PRE_COPY_P2P,
		[ST_STOP_COPY] = ST_PRE_COPY_P2P, [ST_RESUMING] = ST_RUNNING,
		[ST_RUNNING_P2P] = ST_RUNNING, [ST_ERROR] = ST_ERROR,
	},
	[ST_PRE_COPY_P2P] = {
		[ST_STOP] = ST_RUNNING_P2P, [ST_RUNNING] = ST_RUNNING_P2P,
		[ST_PRE_COPY] = ST_PRE_COPY, [ST_PRE_COPY_P2P] = ST_PRE_COPY_P2P,
		[ST_STOP_COPY] = ST_STOP_COPY, [ST_RESUMING] = ST_RUNNING_P2P,
		[ST_RUNNING_P2P] = ST_RUNNING_P2P, [ST_ERROR] = ST_ERROR,
	},
	[ST_STOP_COPY] = {
		[ST_STOP] = ST_STOP, [ST_RUNNING] = ST_STOP,
		[ST_PRE_COPY] = ST_ERROR, [ST_PRE_COPY_P2P] = ST_ERROR,
		[ST_STOP_COPY] = ST_STOP_COPY, [ST_RESUMING] = ST_STOP,
		[ST_RUNNING_P2P] = ST_STOP, [ST_ERROR] = ST_ERROR,
	},
	[ST_RESUMING] = {
		[ST_STOP] = ST_STOP, [ST_RUNNING] = ST_STOP,
		[ST_PRE_COPY] = ST_STOP, [ST_PRE_COPY_P2P] = ST_STOP,
		[ST_STOP_COPY] = ST_STOP, [ST_RESUMING] = ST_RESUMING,
		[ST_RUNNING_P2P] = ST_STOP, [ST_ERROR] = ST_ERROR,
	},
	[ST_RUNNING_P2P] = {
		[ST_STOP] = ST_STOP, [ST_RUNNING] = ST_RUNNING,
		[ST_PRE_COPY] = ST_RUNNING, [ST_PRE_COPY_P2P] = ST_PRE_COPY_P2P,
		[ST_STOP_COPY] = ST_STOP, [ST_RESUMING] = ST_STOP,
		[ST_RUNNING_P2P] = ST_RUNNING_P2P, [ST_ERROR] = ST_ERROR,
	},
	/* [ST_ERROR] all ERROR (zero) */
};

static const uint32_t state_flags_table[ST_NUM] = {
	[ST_STOP] = VFIO_MIGRATION_STOP_COPY,
	[ST_RUNNING] = VFIO_MIGRATION_STOP_COPY,
	[ST_PRE_COPY] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY,
	[ST_PRE_COPY_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			    VFIO_MIGRATION_PRE_COPY,
	[ST_STOP_COPY] = VFIO_MIGRATION_STOP_COPY,
	[ST_RESUMING] = VFIO_MIGRATION_STOP_COPY,
	[ST_RUNNING_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
	[ST_ERROR] = ~0U,
};

static unsigned int warns; /* WARN_ON splats the kernel would print */

/* The arc log (fake.h): arcs as they happen, the SET serial number. */
static struct fake_arc arc_log[FAKE_ARC_LOG_MAX];
static size_t arc_n, arc_dropped;
static unsigned int set_serial;

static struct fake_set set_log[FAKE_ARC_LOG_MAX];
static size_t set_n;

static void log_set(struct fake_dev *d, uint32_t state, int err)
{
	if (set_n == FAKE_ARC_LOG_MAX) {
		arc_dropped++;
		return;
	}
	set_log[set_n++] = (struct fake_set){
		.id = d->id, .state = (int)state, .err = err,
	};
}

static void log_arc(struct fake_dev *d, uint32_t from, uint32_t to, int err,
		    bool reset)
{
	if (arc_n == FAKE_ARC_LOG_MAX) {
		arc_dropped++;
		return;
	}
	arc_log[arc_n++] = (struct fake_arc){
		.id = d->id, .from = (int)from, .to = (int)to, .err = err,
		.reset = reset, .set = reset ? 0 : set_serial,
	};
}

static bool is_precopy(uint32_t s)
{
	return s == ST_PRE_COPY || s == ST_PRE_COPY_P2P;
}

static bool flags_ok(uint32_t s, uint64_t mflags)
{
	return (state_flags_table[s] & mflags) == state_flags_table[s];
}

static int get_next_state(uint64_t mflags, uint32_t cur, uint32_t new,
			  uint32_t *next)
{
	if (cur >= ST_NUM || !flags_ok(cur, mflags)) {
		warns++; /* WARN_ON() */
		return -EINVAL;
	}
	if (new >= ST_NUM || !flags_ok(new, mflags))
		return -EINVAL;
	*next = fsm_table[cur][new];
	while (*next != ST_ERROR && !flags_ok(*next, mflags))
		*next = fsm_table[*next][new];
	return *next != ST_ERROR ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Model                                                               */

#define MTTY_MAGIC 0x7e9d09898c3e2c4eULL
#define MTTY_HDR 24u
#define MTTY_PORT 36u

#define GEN_MAGIC 0x474d4b46u /* "FKMG" little-endian */
#define GEN_CHUNK 4096u
#define GEN_HDR 24u
#define GEN_CHUNK_REC 1u
#define GEN_END_REC 2u
#define GEN_MAX_STREAM (512u << 20)

struct sess {
	int refs;               /* the driver's + one per fake fd */
	bool disabled;
	bool saving;
	struct fake_dev *dev;
	uint8_t *data;          /* stream bytes (saving) / received (resuming) */
	size_t filled, cap;
	size_t pos;             /* file position */
	size_t initial_end;     /* GENERIC saving: end of the initial data */
	bool auto_reinit_done;  /* cfg.reinit_after fired in this session */
};

struct mig {
	struct sess *saving, *resuming;
	bool fail_armed;
	uint32_t fail_from, fail_to;
	int fail_err;
	uint8_t ports[2][MTTY_PORT];  /* MTTY: serial_port records */
	/* GENERIC */
	uint8_t *blob;
	size_t size, nchunks;
	uint32_t seed;
	uint32_t *ver;          /* per chunk: current version */
	uint32_t *sent;         /* per chunk: version last streamed (0 none) */
	bool *pending;          /* per chunk: dirtied during precopy */
	size_t dirty_cursor;
	bool v2_on;             /* PRECOPY_INFOv2 SET on this open */
	bool reinit_report;     /* the next PRECOPY_INFO says REINIT */
};

static struct mig *M(struct fake_dev *d)
{
	return d->mig;
}

static bool is_mtty(struct fake_dev *d)
{
	return d->cfg.personality == FAKE_MTTY;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static struct sess *sess_new(struct fake_dev *d, bool saving)
{
	struct sess *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->refs = 1;
	s->saving = saving;
	s->dev = d;
	return s;
}

static void sess_put(struct sess *s)
{
	if (s && --s->refs == 0) {
		free(s->data);
		free(s);
	}
}

static int sess_append(struct sess *s, const void *p, size_t n)
{
	if (s->filled + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		uint8_t *nd;

		while (cap < s->filled + n)
			cap *= 2;
		nd = realloc(s->data, cap);
		if (!nd)
			return -ENOMEM;
		s->data = nd;
		s->cap = cap;
	}
	if (p)
		memcpy(s->data + s->filled, p, n);
	else
		memset(s->data + s->filled, 0, n);
	s->filled += n;
	return 0;
}

/* mtty_disable_file() + the driver dropping its reference. */
static void sess_disable(struct sess **sp)
{
	struct sess *s = *sp;

	if (!s)
		return;
	s->disabled = true;
	s->filled = 0;
	s->pos = 0;
	*sp = NULL;
	sess_put(s);
}

static void disable_files(struct fake_dev *d)
{
	sess_disable(&M(d)->saving);
	sess_disable(&M(d)->resuming);
	M(d)->reinit_report = false;
}

/* ---------------- MTTY ---------------- */

static size_t mtty_size(struct fake_dev *d)
{
	return MTTY_HDR + (size_t)d->cfg.mtty_ports * MTTY_PORT;
}

static void mtty_port(struct fake_dev *d, int i, uint8_t out[MTTY_PORT])
{
	memcpy(out, M(d)->ports[i], MTTY_PORT);
	memcpy(out, d->regs[i], 8);
}

static int mtty_header(struct fake_dev *d, struct sess *s)
{
	uint8_t h[MTTY_HDR] = { 0 };

	put_le(h, MTTY_MAGIC, 8);
	put_le(h + 8, 1, 4);
	put_le(h + 12, 0, 4);
	put_le(h + 16, (uint64_t)d->cfg.mtty_ports, 4);
	put_le(h + 20, 0, 4);
	return sess_append(s, h, sizeof(h));
}

/* mtty_save_state(): append the port records as they are now. */
static int mtty_fill(struct fake_dev *d, struct sess *s)
{
	for (int i = 0; i < d->cfg.mtty_ports; i++) {
		uint8_t p[MTTY_PORT];
		int ret;

		mtty_port(d, i, p);
		ret = sess_append(s, p, sizeof(p));
		if (ret)
			return ret;
	}
	return 0;
}

/* mtty_load_state() */
static int mtty_load(struct fake_dev *d, struct sess *s)
{
	if (s->filled < mtty_size(d))
		return -EINVAL;
	for (int i = 0; i < d->cfg.mtty_ports; i++) {
		const uint8_t *p = s->data + MTTY_HDR + (size_t)i * MTTY_PORT;

		memcpy(M(d)->ports[i], p, MTTY_PORT);
		memcpy(d->regs[i], p, 8);
	}
	return 0;
}

/* ---------------- GENERIC ---------------- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void gen_chunk_content(struct mig *m, size_t c)
{
	size_t off = c * GEN_CHUNK;
	size_t end = off + GEN_CHUNK < m->size ? off + GEN_CHUNK : m->size;
	uint64_t k = mix(((uint64_t)m->seed << 32) ^ c ^
			 ((uint64_t)m->ver[c] << 48));

	for (size_t i = off; i < end; i++) {
		if (((i - off) & 7) == 0)
			k = mix(k);
		m->blob[i] = (uint8_t)(k >> (8 * ((i - off) & 7)));
	}
}

/* Bytes 0..15 of the blob are the device registers: pick up changes. */
static void gen_sync_regs(struct fake_dev *d)
{
	struct mig *m = M(d);
	size_t n = m->size < sizeof(d->regs) ? m->size : sizeof(d->regs);

	if (n && memcmp(m->blob, d->regs, n)) {
		memcpy(m->blob, d->regs, n);
		m->ver[0]++;
	}
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static size_t chunk_len(struct mig *m, size_t c)
{
	size_t off = c * GEN_CHUNK;

	return off + GEN_CHUNK < m->size ? GEN_CHUNK : m->size - off;
}

static int gen_record(struct sess *s, uint32_t type, uint64_t off,
		      uint64_t len, const void *payload, size_t plen)
{
	uint8_t h[GEN_HDR];
	int ret;

	put_le(h, GEN_MAGIC, 4);
	put_le(h + 4, type, 4);
	put_le(h + 8, off, 8);
	put_le(h + 16, len, 8);
	ret = sess_append(s, h, sizeof(h));
	if (!ret && plen)
		ret = sess_append(s, payload, plen);
	return ret;
}

static int gen_send_chunk(struct mig *m, struct sess *s, size_t c)
{
	size_t len = chunk_len(m, c);
	int ret = gen_record(s, GEN_CHUNK_REC, c * GEN_CHUNK, len,
			     m->blob + c * GEN_CHUNK, len);

	if (!ret) {
		m->sent[c] = m->ver[c];
		m->pending[c] = false;
	}
	return ret;
}

/* Entering PRE_COPY: the initial data. */
static int gen_precopy_start(struct fake_dev *d, struct sess *s)
{
	struct mig *m = M(d);
	size_t init = d->cfg.precopy_initial < m->size ? d->cfg.precopy_initial
							: m->size;
	size_t n = (init + GEN_CHUNK - 1) / GEN_CHUNK;

	gen_sync_regs(d);
	for (size_t c = 0; c < m->nchunks; c++) {
		m->sent[c] = 0;
		m->pending[c] = false;
	}
	for (size_t c = 0; c < n; c++) {
		int ret = gen_send_chunk(m, s, c);

		if (ret)
			return ret;
	}
	s->initial_end = s->filled;
	return 0;
}

/* Entering STOP_COPY: everything not streamed in its current version. */
static int gen_stop_copy(struct fake_dev *d, struct sess *s, bool fresh)
{
	struct mig *m = M(d);
	int ret;

	gen_sync_regs(d);
	for (size_t c = 0; c < m->nchunks; c++) {
		if (fresh)
			m->sent[c] = 0;
		if (m->sent[c] && m->sent[c] == m->ver[c])
			continue;
		ret = gen_send_chunk(m, s, c);
		if (ret)
			return ret;
	}
	return gen_record(s, GEN_END_REC, m->size, fnv1a(m->blob, m->size),
			  NULL, 0);
}

static void gen_dirty(struct fake_dev *d, size_t n)
{
	struct mig *m = M(d);
	size_t k = (n + GEN_CHUNK - 1) / GEN_CHUNK;

	if (!m->nchunks)
		return;
	if (k > m->nchunks)
		k = m->nchunks;
	while (k--) {
		size_t c = m->dirty_cursor++ % m->nchunks;

		m->ver[c]++;
		gen_chunk_content(m, c);
		if (c == 0) /* keep the register mirror */
			memcpy(m->blob, d->regs,
			       m->size < 16 ? m->size : 16);
		m->pending[c] = true;
	}
}

/* Dirty bytes the device holds and has not queued (mlx5 inc_length). */
static uint64_t gen_inc(struct mig *m)
{
	uint64_t n = 0;

	for (size_t c = 0; c < m->nchunks; c++)
		if (m->pending[c])
			n += GEN_HDR + chunk_len(m, c);
	return n;
}

static int gen_queue_dirty(struct mig *m, struct sess *s)
{
	for (size_t c = 0; c < m->nchunks; c++) {
		if (!m->pending[c])
			continue;
		int ret = gen_send_chunk(m, s, c);

		if (ret)
			return ret;
	}
	return 0;
}

/* The device re-initialised (fake_dev_precopy_reinit()): the chunks
 * covering its first n bytes (at least one) are new initial data. */
static int gen_reinit(struct fake_dev *d, size_t n)
{
	struct mig *m = M(d);
	struct sess *s = m->saving;
	size_t k = n ? (n + GEN_CHUNK - 1) / GEN_CHUNK : 1;

	if (!s || !is_precopy((uint32_t)d->state))
		return -EINVAL;
	if (k > m->nchunks)
		k = m->nchunks;
	gen_sync_regs(d);
	for (size_t c = 0; c < k; c++) {
		int ret = gen_send_chunk(m, s, c);

		if (ret)
			return ret;
	}
	s->initial_end = s->filled;
	m->reinit_report = true;
	return 0;
}

static uint64_t gen_stream_size(struct mig *m)
{
	return (uint64_t)m->nchunks * GEN_HDR + m->size + GEN_HDR;
}

/* RESUMING -> STOP: replay the records; EINVAL unless complete. */
static int gen_load(struct fake_dev *d, struct sess *s)
{
	struct mig *m = M(d);
	uint8_t *blob = calloc(1, m->size ? m->size : 1);
	bool *seen = calloc(m->nchunks ? m->nchunks : 1, sizeof(bool));
	size_t p = 0;
	int ret = -EINVAL;

	if (!blob || !seen) {
		ret = -ENOMEM;
		goto out;
	}
	while (p + GEN_HDR <= s->filled) {
		const uint8_t *h = s->data + p;
		uint32_t type = (uint32_t)get_le(h + 4, 4);
		uint64_t off = get_le(h + 8, 8), len = get_le(h + 16, 8);

		if (get_le(h, 4) != GEN_MAGIC)
			goto out;
		p += GEN_HDR;
		if (type == GEN_END_REC) {
			if (p != s->filled || off != m->size ||
			    len != fnv1a(blob, m->size))
				goto out;
			for (size_t c = 0; c < m->nchunks; c++)
				if (!seen[c])
					goto out;
			memcpy(m->blob, blob, m->size);
			memcpy(d->regs, blob, m->size < 16 ? m->size : 16);
			for (size_t c = 0; c < m->nchunks; c++) {
				m->ver[c]++;
				m->sent[c] = 0;
				m->pending[c] = false;
			}
			ret = 0;
			goto out;
		}
		if (type != GEN_CHUNK_REC || off % GEN_CHUNK ||
		    off >= m->size || len != chunk_len(m, off / GEN_CHUNK) ||
		    s->filled - p < len)
			goto out;
		memcpy(blob + off, s->data + p, len);
		seen[off / GEN_CHUNK] = true;
		p += len;
	}
out:
	free(blob);
	free(seen);
	return ret;
}

static void gen_fill(struct fake_dev *d, uint32_t seed)
{
	struct mig *m = M(d);

	m->seed = seed;
	for (size_t c = 0; c < m->nchunks; c++) {
		m->ver[c]++;
		gen_chunk_content(m, c);
	}
	if (m->size)
		memcpy(m->blob, d->regs, m->size < 16 ? m->size : 16);
}

/* ------------------------------------------------------------------ */
/* The FSM                                                             */

/* One arc (mtty_step_state() and the same shape for GENERIC).  Returns a
 * session to hand out as a new fd, NULL, or an error in *err. */
static struct sess *step_state(struct fake_dev *d, uint32_t new, int *err)
{
	struct mig *m = M(d);
	uint32_t cur = (uint32_t)d->state;
	struct sess *s;
	int ret;

	*err = 0;
	if (m->fail_armed && m->fail_from == cur && m->fail_to == new) {
		m->fail_armed = false;
		*err = m->fail_err;
		return NULL;
	}
	/* No-op arcs: P2P quiescing and PRE_COPY <-> PRE_COPY_P2P. */
	if ((cur == ST_RUNNING && new == ST_RUNNING_P2P) ||
	    (cur == ST_RUNNING_P2P && (new == ST_RUNNING || new == ST_STOP)) ||
	    (cur == ST_PRE_COPY && new == ST_PRE_COPY_P2P) ||
	    (cur == ST_PRE_COPY_P2P && new == ST_PRE_COPY) ||
	    (cur == ST_STOP && new == ST_RUNNING_P2P) ||
	    /* without P2P (GENERIC capability sets) */
	    (cur == ST_RUNNING && new == ST_STOP) ||
	    (cur == ST_STOP && new == ST_RUNNING))
		return NULL;

	if (cur == ST_RESUMING && new == ST_STOP) {
		/* mtty_load_state() locks resuming_migf->lock: after the last
		 * close left RESUMING without its file, a NULL dereference
		 * kills the caller (contract 12.7).  So does the fake. */
		if (!m->resuming) {
			fprintf(stderr,
				"fake kernel: BUG: NULL pointer dereference in mtty_load_state (RESUMING->STOP without a resuming file)\n");
			abort();
		}
		ret = is_mtty(d) ? mtty_load(d, m->resuming)
				 : gen_load(d, m->resuming);
		if (ret) {
			*err = ret;
			return NULL;
		}
		disable_files(d);
		return NULL;
	}
	if ((cur == ST_PRE_COPY && new == ST_RUNNING) ||
	    (cur == ST_PRE_COPY_P2P && new == ST_RUNNING_P2P) ||
	    (cur == ST_STOP_COPY && new == ST_STOP)) {
		disable_files(d);
		return NULL;
	}
	if ((cur == ST_RUNNING && new == ST_PRE_COPY) ||
	    (cur == ST_RUNNING_P2P && new == ST_PRE_COPY_P2P) ||
	    (cur == ST_STOP && new == ST_STOP_COPY) ||
	    (cur == ST_PRE_COPY_P2P && new == ST_STOP_COPY) ||
	    (cur == ST_PRE_COPY && new == ST_STOP_COPY)) {
		bool fresh = !m->saving;

		if (fresh) {
			s = sess_new(d, true);
			if (!s) {
				*err = -ENOMEM;
				return NULL;
			}
			ret = is_mtty(d) ? mtty_header(d, s)
					 : new == ST_STOP_COPY
						   ? 0
						   : gen_precopy_start(d, s);
		} else {
			if (new != ST_STOP_COPY)
				return NULL;
			s = m->saving;
			ret = 0;
		}
		if (!ret && new == ST_STOP_COPY)
			ret = is_mtty(d) ? mtty_fill(d, s)
					 : gen_stop_copy(d, s, fresh);
		if (ret) {
			if (fresh)
				sess_put(s);
			*err = ret;
			return NULL;
		}
		if (!fresh)
			return NULL;
		m->saving = s;
		s->refs++; /* get_file() for the fd */
		return s;
	}
	if (cur == ST_STOP && new == ST_RESUMING) {
		s = sess_new(d, false);
		if (!s) {
			*err = -ENOMEM;
			return NULL;
		}
		m->resuming = s;
		s->refs++;
		return s;
	}
	warns++; /* "vfio_mig_get_next_state() does not use arcs other than
		  * the above" */
	*err = -EINVAL;
	return NULL;
}

/* mtty_set_state() */
static struct sess *set_state(struct fake_dev *d, uint32_t new, int *err)
{
	struct sess *ret = NULL;

	*err = 0;
	/* Only pds enters ERROR (asynchronously, pds_vfio_reset(..., ERROR),
	 * fake_dev_force_error()), and its set_device_state refuses every SET
	 * there with EIO before the generic loop, which would WARN (contract
	 * 4.5). */
	if (d->state == ST_ERROR) {
		*err = -EIO;
		return NULL;
	}
	while ((uint32_t)d->state != new) {
		uint32_t next;
		int rc = get_next_state(d->cfg.mig_flags, (uint32_t)d->state,
					new, &next);

		if (rc) {
			*err = rc;
			return NULL;
		}
		ret = step_state(d, next, err);
		log_arc(d, (uint32_t)d->state, next, *err, false);
		if (*err)
			return NULL;
		d->state = (int)next;
		if (ret && new != next) {
			warns++;
			sess_put(ret);
			*err = -EINVAL;
			return NULL;
		}
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Hooks called by fake-core.c                                         */

/* fake_dev_ioctls(): what the call asked for, whatever the answer. */
static void count_feature(struct fake_dev *d, uint32_t index, uint32_t flags)
{
	bool get = flags & VFIO_DEVICE_FEATURE_GET;
	bool set = flags & VFIO_DEVICE_FEATURE_SET;

	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return;
	switch (index) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		d->ioc.mig_gets += get;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		d->ioc.state_gets += get;
		d->ioc.state_sets += set;
		break;
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		d->ioc.data_sizes += get;
		break;
	case VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2:
		d->ioc.v2_sets += set;
		break;
	}
}

int fake_mig_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload)
{
	struct fake_dev *d = f->dev;
	uint32_t index = flags & VFIO_DEVICE_FEATURE_MASK;
	int ret;

	/* 6.12 (and mtty anywhere): feature 12 goes to the driver's
	 * ->device_feature, which mtty lacks and vfio-pci answers ENOTTY. */
	if (index == VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 &&
	    (!d || is_mtty(d) || !d->cfg.precopy_v2))
		return -ENOTTY;
	if (!d || !d->cfg.mig_flags) /* no mig_ops */
		return -ENOTTY;
	count_feature(d, index, flags);

	switch (index) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		struct vfio_device_feature_migration mig = {
			.flags = d->cfg.mig_flags,
		};

		ret = fake_check_feature(flags, payload,
					 VFIO_DEVICE_FEATURE_GET, sizeof(mig));
		if (ret)
			return ret > 0 ? 0 : ret;
		memcpy(data, &mig, sizeof(mig));
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct vfio_device_feature_mig_state mig;
		struct sess *s;
		struct fake_fd *nf;
		int err;

		ret = fake_check_feature(flags, payload,
					 VFIO_DEVICE_FEATURE_GET |
						 VFIO_DEVICE_FEATURE_SET,
					 sizeof(mig));
		if (ret)
			return ret > 0 ? 0 : ret;
		memcpy(&mig, data, sizeof(mig));
		if (flags & VFIO_DEVICE_FEATURE_GET) {
			mig.device_state = (uint32_t)d->state;
			mig.data_fd = -1;
			memcpy(data, &mig, sizeof(mig));
			return 0;
		}
		set_serial++;
		s = set_state(d, mig.device_state, &err);
		log_set(d, mig.device_state, err);
		if (err || !s) {
			/* Written back even on failure (contract 4.1). */
			mig.data_fd = -1;
			memcpy(data, &mig, sizeof(mig));
			return err;
		}
		/* vfio_ioct_mig_return_fd(): an O_CLOEXEC fd; on failure the
		 * file is put, nothing copied back, the state has moved. */
		nf = fake_fd_new(FFD_DATA, d, true);
		if (!nf) {
			ret = errno ? -errno : -EMFILE;
			sess_put(s);
			return ret;
		}
		nf->priv = s;
		nf->writable = !s->saving;
		mig.data_fd = nf->fd;
		memcpy(data, &mig, sizeof(mig));
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		struct vfio_device_feature_mig_data_size ds = { 0 };

		ret = fake_check_feature(flags, payload,
					 VFIO_DEVICE_FEATURE_GET, sizeof(ds));
		if (ret)
			return ret > 0 ? 0 : ret;
		ds.stop_copy_length = is_mtty(d) ? mtty_size(d)
						 : gen_stream_size(M(d));
		memcpy(data, &ds, sizeof(ds));
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2:
		/* Contract 16: SET only, no payload; the device needs
		 * PRE_COPY.  The flag lives until the last close. */
		ret = fake_check_feature(flags, payload,
					 VFIO_DEVICE_FEATURE_SET, 0);
		if (ret)
			return ret > 0 ? 0 : ret;
		if (!(d->cfg.mig_flags & VFIO_MIGRATION_PRE_COPY))
			return -EINVAL;
		M(d)->v2_on = true;
		return 0;
	default:
		return -ENOTTY;
	}
}

void fake_mig_reset(struct fake_dev *d)
{
	/* mtty_reset() / reset_done: RUNNING, every migration file dead. */
	if (!d->mig || !d->cfg.mig_flags)
		return;
	log_arc(d, (uint32_t)d->state, ST_RUNNING, 0, true);
	d->state = ST_RUNNING;
	disable_files(d);
}

void fake_mig_close_device(struct fake_dev *d)
{
	if (!d->mig)
		return;
	/* mtty_close(): files disabled, the state kept (contract 7).
	 * vfio-pci variants reset on the next open: state RUNNING. */
	disable_files(d);
	M(d)->v2_on = false;
	if (!is_mtty(d) && d->cfg.mig_flags) {
		if (d->state != ST_RUNNING)
			log_arc(d, (uint32_t)d->state, ST_RUNNING, 0, true);
		d->state = ST_RUNNING;
	}
}

ssize_t fake_data_read(struct fake_fd *f, void *buf, size_t len)
{
	struct sess *s = f->priv;
	struct fake_dev *d;
	size_t n;

	if (f->writable) /* FMODE_READ missing */
		return -EBADF;
	if (!s || s->disabled || !s->dev)
		return -ENODEV;
	d = s->dev;
	if (s->pos > s->filled)
		return -EINVAL;
	n = s->filled - s->pos;
	if (n > len)
		n = len;
	if (n) {
		memcpy(buf, s->data + s->pos, n);
		s->pos += n;
		if (d->cfg.reinit_after && s->pos >= d->cfg.reinit_after &&
		    !s->auto_reinit_done && M(d)->saving == s &&
		    !is_mtty(d) && is_precopy((uint32_t)d->state)) {
			s->auto_reinit_done = true;
			gen_reinit(d, d->cfg.reinit_bytes);
		}
		return (ssize_t)n;
	}
	/* The temporary end of precopy data (contract 5.1). */
	if (!is_mtty(d) && d->cfg.precopy_end == FAKE_END_ENOMSG &&
	    is_precopy((uint32_t)d->state))
		return -ENOMSG;
	return 0;
}

ssize_t fake_data_write(struct fake_fd *f, const void *buf, size_t len)
{
	struct sess *s = f->priv;
	struct fake_dev *d;
	size_t max;
	int ret = 0;

	if (!f->writable) /* FMODE_WRITE missing */
		return -EBADF;
	if (!s || !s->dev)
		return -ENODEV;
	d = s->dev;
	/* mtty_resume_write(): size first, then disabled. */
	if (len > SIZE_MAX - s->pos)
		return -EINVAL;
	max = is_mtty(d) ? mtty_size(d) : GEN_MAX_STREAM;
	if (s->pos + len > max)
		return -ENOMEM;
	if (s->disabled)
		return -ENODEV;
	if (is_mtty(d) && s->cap < mtty_size(d)) {
		/* migf->data: the whole struct mtty_data, zeroed */
		uint8_t *nd = realloc(s->data, mtty_size(d));

		if (!nd)
			return -ENOMEM;
		memset(nd + s->cap, 0, mtty_size(d) - s->cap);
		s->data = nd;
		s->cap = mtty_size(d);
	}
	if (is_mtty(d)) {
		memcpy(s->data + s->pos, buf, len);
		s->pos += len;
		if (s->filled < MTTY_HDR && s->filled + len >= MTTY_HDR) {
			const uint8_t *h = s->data;

			if (get_le(h, 8) != MTTY_MAGIC || get_le(h + 20, 4) ||
			    get_le(h + 8, 4) != 1 || get_le(h + 12, 4) != 0 ||
			    get_le(h + 16, 4) != (uint64_t)d->cfg.mtty_ports)
				ret = -EFAULT; /* the bytes stay accepted */
		}
		s->filled += len;
		return ret ? ret : (ssize_t)len;
	}
	ret = sess_append(s, buf, len);
	if (ret)
		return ret;
	s->pos += len;
	return (ssize_t)len;
}

int fake_data_ioctl(struct fake_fd *f, unsigned long req, void *arg)
{
	struct sess *s = f->priv;
	struct vfio_precopy_info info;
	struct fake_dev *d;
	struct mig *m;

	if (f->writable) /* mtty_resume_fops has no ioctl */
		return -ENOTTY;
	if (req != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (f->dev)
		f->dev->ioc.precopy_infos++;
	if (!arg)
		return -EFAULT;
	memcpy(&info, arg, sizeof(info));
	if (info.argsz < sizeof(info))
		return -EINVAL;
	if (!s || !s->dev)
		return -ENODEV;
	d = s->dev;
	m = M(d);
	if (!is_precopy((uint32_t)d->state))
		return -EINVAL;
	if (s->disabled)
		return -ENODEV;
	if (s->pos > s->filled)
		return -EINVAL;
	if (is_mtty(d)) {
		info.initial_bytes = s->filled - s->pos;
		info.dirty_bytes = 0;
	} else {
		/* The device ran since the last look. */
		gen_dirty(d, d->cfg.precopy_dirty);
		info.initial_bytes = 0;
		info.dirty_bytes = 0;
		if (s->initial_end > s->pos) {
			info.initial_bytes = s->initial_end - s->pos;
		} else {
			uint64_t queued = s->filled - s->pos, inc = gen_inc(m);

			info.dirty_bytes = queued + inc;
			if (!queued && inc && gen_queue_dirty(m, s))
				return -ENOMEM;
		}
	}
	/* flags: output with PRECOPY_INFOv2 on, else echoed (contract 16);
	 * a REINIT is reported once either way. */
	if (m->v2_on)
		info.flags = m->reinit_report ? VFIO_PRECOPY_INFO_REINIT : 0;
	m->reinit_report = false;
	memcpy(arg, &info, sizeof(info));
	return 0;
}

void fake_data_close(struct fake_fd *f)
{
	sess_put(f->priv);
	f->priv = NULL;
}

void fake_mig_init_dev(struct fake_dev *d)
{
	struct mig *m = calloc(1, sizeof(*m));

	d->mig = m;
	d->state = ST_RUNNING;
	if (!m)
		return;
	for (int i = 0; i < 2; i++)
		m->ports[i][33] = 16; /* max_fifo_size = MAX_FIFO_SIZE */
	if (is_mtty(d))
		return;
	m->size = d->cfg.state_size;
	m->nchunks = (m->size + GEN_CHUNK - 1) / GEN_CHUNK;
	m->blob = calloc(1, m->size ? m->size : 1);
	m->ver = calloc(m->nchunks + 1, sizeof(*m->ver));
	m->sent = calloc(m->nchunks + 1, sizeof(*m->sent));
	m->pending = calloc(m->nchunks + 1, sizeof(*m->pending));
	if (!m->blob || !m->ver || !m->sent || !m->pending) {
		m->size = m->nchunks = 0;
		return;
	}
	gen_fill(d, (uint32_t)d->id + 1);
}

void fake_mig_fini_dev(struct fake_dev *d)
{
	struct mig *m = M(d);

	if (!m)
		return;
	/* Files still open keep their session, now without a device. */
	if (m->saving)
		m->saving->dev = NULL;
	if (m->resuming)
		m->resuming->dev = NULL;
	disable_files(d);
	free(m->blob);
	free(m->ver);
	free(m->sent);
	free(m->pending);
	free(m);
	d->mig = NULL;
}

/* ------------------------------------------------------------------ */
/* Test accessors (fake.h)                                             */

static struct fake_dev *dev_mig(int id)
{
	struct fake_dev *d = fake_dev_get(id);

	return d && d->mig ? d : NULL;
}

FAKE_EXPORT int fake_dev_state(int id)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	return d ? d->state : -1;
}

FAKE_EXPORT void fake_dev_set_state(int id, int state)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	if (d)
		d->state = state;
}

FAKE_EXPORT void fake_dev_force_error(int id)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	/* pds_vfio_reset(..., ERROR): the files die with it. */
	if (d) {
		d->state = ST_ERROR;
		disable_files(d);
	}
}

FAKE_EXPORT void fake_dev_fail_arc(int id, int from, int to, int err)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	if (!d)
		return;
	M(d)->fail_armed = err != 0;
	M(d)->fail_from = (uint32_t)from;
	M(d)->fail_to = (uint32_t)to;
	M(d)->fail_err = err > 0 ? -err : err;
}

FAKE_EXPORT void fake_dev_fill(int id, uint32_t seed)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	if (d && !is_mtty(d))
		gen_fill(d, seed);
}

/* GENERIC: the blob (bytes 0..15 = registers).  MTTY: the stream a
 * STOP->STOP_COPY save would give now (header + port records).  Returns
 * the full size; copies at most len bytes. */
FAKE_EXPORT size_t fake_dev_blob(int id, void *buf, size_t len)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);
	size_t n;

	if (!d)
		return 0;
	if (is_mtty(d)) {
		uint8_t tmp[MTTY_HDR + 2 * MTTY_PORT] = { 0 };

		put_le(tmp, MTTY_MAGIC, 8);
		put_le(tmp + 8, 1, 4);
		put_le(tmp + 16, (uint64_t)d->cfg.mtty_ports, 4);
		for (int i = 0; i < d->cfg.mtty_ports; i++)
			mtty_port(d, i, tmp + MTTY_HDR + (size_t)i * MTTY_PORT);
		n = mtty_size(d);
		if (buf)
			memcpy(buf, tmp, n < len ? n : len);
		return n;
	}
	gen_sync_regs(d);
	n = M(d)->size;
	if (buf)
		memcpy(buf, M(d)->blob, n < len ? n : len);
	return n;
}

FAKE_EXPORT void fake_dev_dirty_precopy(int id, size_t n)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	if (d && !is_mtty(d))
		gen_dirty(d, n);
}

FAKE_EXPORT unsigned int fake_mig_warnings(void)
{
	FAKE_LOCKED();
	return warns;
}

FAKE_EXPORT int fake_dev_precopy_reinit(int id, size_t n)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	if (!d)
		return -ENODEV;
	if (is_mtty(d))
		return -ENOTTY;
	return gen_reinit(d, n);
}

FAKE_EXPORT bool fake_dev_precopy_v2(int id)
{
	FAKE_LOCKED();
	struct fake_dev *d = dev_mig(id);

	return d && M(d)->v2_on;
}

FAKE_EXPORT size_t fake_arc_log(struct fake_arc *out, size_t max)
{
	FAKE_LOCKED();

	if (out)
		memcpy(out, arc_log,
		       (max < arc_n ? max : arc_n) * sizeof(*out));
	return arc_n;
}

FAKE_EXPORT size_t fake_set_log(struct fake_set *out, size_t max)
{
	FAKE_LOCKED();

	if (out)
		memcpy(out, set_log,
		       (max < set_n ? max : set_n) * sizeof(*out));
	return set_n;
}

FAKE_EXPORT size_t fake_arc_log_dropped(void)
{
	FAKE_LOCKED();
	return arc_dropped;
}

FAKE_EXPORT void fake_arc_log_clear(void)
{
	FAKE_LOCKED();
	arc_n = 0;
	set_n = 0;
	arc_dropped = 0;
	set_serial = 0;
}
