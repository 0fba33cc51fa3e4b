// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration v1 (the migration region of Linux 5.8-5.17) on the fake
 * kernel (tests/fake/fake-v1.c): the same public calls migrate a v1
 * device and a v2 device, round trips through every kind of sink and
 * source, the data area mapped or read, what a v1 driver refuses, a
 * failed state write, a device set of a v1 and a v2 device.  Fake-only:
 * no kernel we run has the protocol.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/mman.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"

#define ST(x) VFIOMIG_STATE_##x

#define V2_SRC "0000:3b:00.1"
#define V2_DST "0000:3b:00.2"
#define V1_SRC "0000:3e:00.1"
#define V1_DST "0000:3e:00.2"
#define NOMIG "0000:3c:00.0"
#define V1_INDEX 9
#define V1_RESERVED 0x100u /* a driver bit in device_state */

#define STATE_SIZE ((200u << 10) + 123)
#define PRECOPY (64u << 10)

/* The devices a test migrates: v2, or v1 with its data area read by
 * pread or through a mapping. */
enum kind { K_V2, K_V1_PREAD, K_V1_MMAP, K_NR };
/* How the stream is moved: a buffer, a file, callbacks. */
enum io { IO_B, IO_F, IO_C, IO_NR };

static struct vfiomig_ctx *ctx;
static int ids[5];
static struct vfiomig_device *src, *dst;
static int src_id, dst_id;
static bool src_v1;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	(void)data; (void)file; (void)line;
	fprintf(stderr, "vfiomig[%d] %s: ", priority, fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static int add_pci(const char *bdf, int group, uint64_t flags)
{
	struct fake_dev_cfg cfg;
	int id;

	fake_cfg_pci(&cfg, bdf, group, group, flags);
	cfg.state_size = STATE_SIZE;
	cfg.precopy_initial = PRECOPY;
	id = fake_add_device(&cfg);
	ck_assert_int_ge(id, 0);
	return id;
}

static int add_v1_cfg(const char *bdf, int group, struct fake_v1_cfg *v)
{
	int id = add_pci(bdf, group, 0);

	ck_assert_int_eq(fake_dev_set_v1(id, v), 0);
	return id;
}

static int add_v1(const char *bdf, int group, bool map, size_t chunk)
{
	struct fake_v1_cfg v = {
		.index = V1_INDEX,
		.region_size = 64u << 10,
		.data_offset = 8192,
		.chunk_max = chunk,
		.mmap = map,
		.state_size = STATE_SIZE,
		.precopy_initial = PRECOPY,
		.reserved = V1_RESERVED,
	};
	int id = add_pci(bdf, group, 0);

	ck_assert_int_eq(fake_dev_set_v1(id, &v), 0);
	return id;
}

/* Two v2 devices, two v1 devices (mapped data area or not), a device
 * without migration; a context on them. */
static void up(bool map)
{
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };

	ck_assert_int_eq(fake_init(true), 0);
	ids[0] = add_pci(V2_SRC, 12, VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY);
	ids[1] = add_pci(V2_DST, 13, VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY);
	ids[2] = add_v1(V1_SRC, 14, map, 12u << 10);
	ids[3] = add_v1(V1_DST, 15, map, 12u << 10);
	ids[4] = add_pci(NOMIG, 16, 0);
	fake_dev_fill(ids[0], 0x1234);
	fake_dev_fill(ids[1], 0x9876);
	fake_v1_fill(ids[2], 0x4321);
	fake_v1_fill(ids[3], 0x6789);
	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	if (getenv("VFIOMIG_TEST_LOG")) {
		vfiomig_ctx_set_log_fn(ctx, logfn, NULL);
		vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	}
}

static struct vfiomig_device *open_dev(const char *name, unsigned int flags)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .flags = flags);
	struct vfiomig_device *d = NULL;

	ck_assert_int_eq(vfiomig_device_open(ctx, name, &o, &d), 0);
	return d;
}

/* The pair a test migrates. */
static void open_pair(int kind)
{
	src_v1 = kind != K_V2;
	src = open_dev(src_v1 ? V1_SRC : V2_SRC, 0);
	dst = open_dev(src_v1 ? V1_DST : V2_DST, 0);
	src_id = ids[src_v1 ? 2 : 0];
	dst_id = ids[src_v1 ? 3 : 1];
}

static void down(void)
{
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	src = dst = NULL;
	ck_assert_int_eq(fake_region_mmaps(), 0);
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
}

static size_t blob(int id, bool v1, void *buf, size_t len)
{
	return v1 ? fake_v1_blob(id, buf, len) : fake_dev_blob(id, buf, len);
}

static bool blobs_equal(int a, int b, bool v1)
{
	static unsigned char pa[STATE_SIZE], pb[STATE_SIZE];
	size_t na = blob(a, v1, pa, sizeof(pa)), nb = blob(b, v1, pb, sizeof(pb));

	return na == nb && na == STATE_SIZE && !memcmp(pa, pb, na);
}

/* ------------------------------------------------------------------ */
/* Sinks and sources                                                   */

struct vec {
	unsigned char *p;
	size_t n, cap;
};

static void vec_add(struct vec *v, const void *p, size_t n)
{
	if (v->n + n > v->cap) {
		v->cap = (v->n + n) * 2;
		v->p = realloc(v->p, v->cap);
		ck_assert_ptr_nonnull(v->p);
	}
	memcpy(v->p + v->n, p, n);
	v->n += n;
}

static ssize_t cb_write(void *arg, const void *buf, size_t len)
{
	/* take at most 1000 bytes a call: partial writes */
	size_t n = len > 1000 ? 1000 : len;

	vec_add(arg, buf, n);
	return (ssize_t)n;
}

struct src_cb {
	const struct vec *v;
	size_t pos;
};

static ssize_t cb_read(void *arg, void *buf, size_t len)
{
	struct src_cb *s = arg;
	size_t n = s->v->n - s->pos;

	if (n > len)
		n = len;
	if (n > 777) /* odd pieces: records cut anywhere */
		n = 777;
	memcpy(buf, s->v->p + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

/* Save what the session has now into v, through io kind k. */
static int64_t save_into(struct vfiomig_device *d, struct vec *v, int k)
{
	VFIOMIG_OPTS(vfiomig_io, io);
	unsigned char *buf;
	int64_t n, total = 0;
	int fd;

	switch (k) {
	case IO_B:
		buf = malloc(STATE_SIZE * 2);
		io.kind = VFIOMIG_IO_BUF;
		io.buf = buf;
		io.len = STATE_SIZE * 2;
		n = vfiomig_save(d, &io, 0);
		if (n > 0)
			vec_add(v, buf, (size_t)n);
		free(buf);
		return n;
	case IO_F:
		fd = memfd_create("sink", MFD_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		io.kind = VFIOMIG_IO_FD;
		io.fd = fd;
		n = vfiomig_save(d, &io, 0);
		if (n > 0) {
			buf = malloc((size_t)n);
			ck_assert_int_eq(pread(fd, buf, (size_t)n, 0), n);
			vec_add(v, buf, (size_t)n);
			free(buf);
		}
		close(fd);
		return n;
	default:
		io.kind = VFIOMIG_IO_CB;
		io.write_fn = cb_write;
		io.arg = v;
		n = vfiomig_save(d, &io, 0);
		(void)total;
		return n;
	}
}

static int64_t load_from(struct vfiomig_device *d, const struct vec *v, int k)
{
	VFIOMIG_OPTS(vfiomig_io, io);
	struct src_cb s = { .v = v };
	int64_t n;
	int fd;

	switch (k) {
	case IO_B:
		io.kind = VFIOMIG_IO_BUF;
		io.buf = v->p;
		io.len = v->n;
		return vfiomig_load(d, &io, 0);
	case IO_F:
		fd = memfd_create("source", MFD_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, v->p, v->n), (ssize_t)v->n);
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
		io.kind = VFIOMIG_IO_FD;
		io.fd = fd;
		n = vfiomig_load(d, &io, 0);
		close(fd);
		return n;
	default:
		io.kind = VFIOMIG_IO_CB;
		io.read_fn = cb_read;
		io.arg = &s;
		return vfiomig_load(d, &io, 0);
	}
}

/* RUNNING -> PRE_COPY rounds -> STOP_COPY -> STOP into v. */
static void save_all(struct vfiomig_device *d, struct vec *v, int k)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	VFIOMIG_OPTS(vfiomig_io, io);
	struct vec pre = { 0 };
	int r = 0;

	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), NULL), 0);
	for (unsigned int i = 0; i < 20 && r == 0; i++) {
		size_t before = pre.n;

		io.kind = VFIOMIG_IO_CB;
		io.write_fn = cb_write;
		io.arg = &pre;
		r = vfiomig_precopy_iterate(d, &io, NULL, &prog);
		ck_assert_int_ge(r, 0);
		ck_assert_uint_eq(pre.n - before, prog.round_bytes);
	}
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(prog.initial_bytes, 0);
	ck_assert(prog.initial_drained);
	ck_assert_uint_gt(pre.n, PRECOPY);
	vec_add(v, pre.p, pre.n);
	free(pre.p);
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP_COPY), NULL), 0);
	ck_assert_int_gt(save_into(d, v, k), 0);
	ck_assert_int_eq(save_into(d, v, k), 0); /* the end */
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(d), -ENOENT);
}

static void load_all(struct vfiomig_device *d, const struct vec *v, int k)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);

	ck_assert_int_eq(vfiomig_state_set(d, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(load_from(d, v, k), (int64_t)v->n);
	ck_assert_int_eq(vfiomig_load_finish(d, ST(RUNNING), &so), 0);
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(vfiomig_state_get(d), ST(RUNNING));
}

/* The same migration on v2 and on v1 (pread or mapped), every pair of
 * sink and source kinds. */
START_TEST(roundtrip)
{
	int kind = _i % K_NR, sk = (_i / K_NR) % IO_NR, lk = _i / (K_NR * IO_NR);
	struct fake_v1_stats s1, s2;
	struct vec v = { 0 };

	up(kind == K_V1_MMAP);
	open_pair(kind);
	ck_assert_int_eq(vfiomig_device_protocol(src),
			 src_v1 ? VFIOMIG_PROTO_V1 : VFIOMIG_PROTO_V2);
	ck_assert(!blobs_equal(src_id, dst_id, src_v1));
	save_all(src, &v, sk);
	ck_assert_uint_gt(v.n, STATE_SIZE);
	if (kind == K_V1_MMAP)
		ck_assert_int_gt(fake_region_mmaps(), 0);
	load_all(dst, &v, lk);
	ck_assert(blobs_equal(src_id, dst_id, src_v1));
	if (src_v1) {
		fake_v1_stats(src_id, &s1);
		fake_v1_stats(dst_id, &s2);
		/* every chunk went back as the driver gave it */
		ck_assert_uint_ge(s1.chunks_saved, STATE_SIZE / (12u << 10));
		ck_assert_uint_eq(s2.chunks_loaded, s1.chunks_saved);
		ck_assert_uint_eq(s2.bytes_loaded, s1.bytes_saved);
		ck_assert_uint_eq(s1.refused, 0);
		ck_assert_uint_eq(s2.refused, 0);
		ck_assert_uint_eq(fake_v1_state(src_id), V1_RESERVED);
		ck_assert_uint_eq(fake_v1_state(dst_id), V1_RESERVED | 1);
	}
	free(v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Protocol detection, forcing, caps                                   */

START_TEST(protocol)
{
	struct vfiomig_device *d;
	struct vfiomig_caps caps = { .sz = sizeof(caps) };
	int fd;

	up(false);
	d = open_dev(V1_SRC, 0);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_V1);
	ck_assert_int_eq(vfiomig_device_caps(d, &caps), 0);
	ck_assert_uint_eq(caps.migration_flags,
			  VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY);
	ck_assert(caps.features & VFIOMIG_CAP_MIGRATION);
	ck_assert(!(caps.features & VFIOMIG_CAP_MIG_DATA_SIZE));
	ck_assert_int_eq(vfiomig_state_get(d), ST(RUNNING));
	/* P2P states do not exist in v1 */
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING_P2P), NULL), -EINVAL);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1);
	/* a v1 session has no data fd to give */
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP_COPY), NULL), 0);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 2);
	ck_assert_int_eq(vfiomig_data_fd(d), -EOPNOTSUPP);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(d), -ENOENT);
	vfiomig_device_free(d);

	d = open_dev(V2_SRC, 0);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_V2);
	vfiomig_device_free(d);
	d = open_dev(NOMIG, 0);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_NONE);
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), -ENOTTY);
	vfiomig_device_free(d);
	/* forced: only that protocol is looked for */
	d = open_dev(V1_SRC, VFIOMIG_OPEN_PROTO_V2);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_NONE);
	vfiomig_device_free(d);
	d = open_dev(V2_SRC, VFIOMIG_OPEN_PROTO_V1);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_NONE);
	vfiomig_device_free(d);
	d = open_dev(V1_SRC, VFIOMIG_OPEN_PROTO_V1);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_V1);
	vfiomig_device_free(d);
	{
		VFIOMIG_OPTS(vfiomig_open_opts, o,
			     .flags = VFIOMIG_OPEN_PROTO_V1 | VFIOMIG_OPEN_PROTO_V2);

		d = NULL;
		ck_assert_int_eq(vfiomig_device_open(ctx, V1_SRC, &o, &d), -EINVAL);
		ck_assert_ptr_null(d);
	}
	ck_assert_int_eq(vfiomig_device_protocol(NULL), -EINVAL);
	/* adopted: forced the same way */
	{
		VFIOMIG_OPTS(vfiomig_adopt_opts, ao,
			     .flags = VFIOMIG_ADOPT_PROTO_V1 | VFIOMIG_ADOPT_PROTO_V2);
		struct vfiomig_device *o = open_dev(V1_SRC, 0);

		fd = vfiomig_device_fd(o);
		ck_assert_int_eq(vfiomig_device_adopt(ctx, fd, &ao, &d), -EINVAL);
		ao.flags = VFIOMIG_ADOPT_PROTO_V2;
		ck_assert_int_eq(vfiomig_device_adopt(ctx, fd, &ao, &d), 0);
		ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_NONE);
		vfiomig_device_free(d);
		ao.flags = 0;
		ck_assert_int_eq(vfiomig_device_adopt(ctx, fd, &ao, &d), 0);
		ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_V1);
		vfiomig_device_free(d);
		vfiomig_device_free(o);
	}
	down();
}
END_TEST

/* A handle's first call a state call: v2's answers ENOTTY, then v1. */
START_TEST(fresh_handle)
{
	struct vfiomig_device *d;

	up(false);
	d = open_dev(V1_SRC, 0);
	ck_assert_int_eq(vfiomig_state_get(d), ST(RUNNING));
	vfiomig_device_free(d);
	d = open_dev(V1_SRC, 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), 0);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED);
	ck_assert_int_eq(vfiomig_device_protocol(d), VFIOMIG_PROTO_V1);
	vfiomig_device_free(d);
	d = open_dev(NOMIG, 0);
	ck_assert_int_eq(vfiomig_state_get(d), -ENOTTY);
	vfiomig_device_free(d);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* What a v1 driver refuses                                            */

START_TEST(refusals)
{
	struct vfiomig_device *d;
	struct fake_v1_stats st;
	uint32_t s32;
	uint64_t s64 = 0;
	uint16_t s16;

	up(false);
	d = open_dev(V1_SRC, 0);
	/* device_state at any width but 4: EINVAL */
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 0, &s32, 4), 0);
	ck_assert_uint_eq(s32, V1_RESERVED | 1);
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 0, &s64, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 0, &s16, 2), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 4, &s32, 4), -EINVAL);
	/* the u64 fields only as 8 bytes at their offset */
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 8, &s32, 4), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 12, &s32, 4), -EINVAL);
	/* pending_bytes outside _SAVING; read-only fields */
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 8, &s64, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_region_write(d, V1_INDEX, 8, &s64, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_region_write(d, V1_INDEX, 16, &s64, 8), -EINVAL);
	/* between the header and the data area */
	ck_assert_int_eq(vfiomig_region_read(d, V1_INDEX, 64, &s64, 8), -EINVAL);
	/* SAVING|RESUMING: refused, state unchanged */
	s32 = V1_RESERVED | 6;
	ck_assert_int_eq(vfiomig_region_write(d, V1_INDEX, 0, &s32, 4), -EINVAL);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1);
	s32 = V1_RESERVED | 5; /* RESUMING|RUNNING */
	ck_assert_int_eq(vfiomig_region_write(d, V1_INDEX, 0, &s32, 4), -EINVAL);
	/* the driver's bits not preserved */
	s32 = 2;
	ck_assert_int_eq(vfiomig_region_write(d, V1_INDEX, 0, &s32, 4), -EINVAL);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1);
	fake_v1_stats(ids[2], &st);
	ck_assert_uint_eq(st.refused, 12);
	/* the library's writes keep them: no refusal on its way */
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(vfiomig_load_abort(d, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1);
	fake_v1_stats(ids[2], &st);
	ck_assert_uint_eq(st.refused, 12);
	/* the driver reports an error: ERROR, left by a reset only */
	fake_v1_set_state(ids[2], V1_RESERVED | 6);
	ck_assert_int_eq(vfiomig_state_get(d), ST(ERROR));
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), -EIO);
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1); /* reset */
	ck_assert_int_eq(vfiomig_state_get(d), ST(RUNNING));
	vfiomig_device_free(d);
	down();
}
END_TEST

/* A refused state write leaves the device where it was, and the library
 * knows it (read back). */
START_TEST(failed_write)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	struct vfiomig_device *d;

	up(false);
	d = open_dev(V1_SRC, 0);
	fake_v1_fail_state(ids[2], EIO);
	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(RUNNING));
	ck_assert_int_eq(so.failed_to, ST(PRE_COPY));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED | 1);
	ck_assert_int_eq(vfiomig_data_fd(d), -ENOENT);
	/* stepwise, failing on the second arc: back where it started */
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP), NULL), 0);
	fake_v1_fail_state(ids[2], ENOSPC);
	so.flags = VFIOMIG_SET_STEPWISE;
	so.recovery = VFIOMIG_RECOVER_STAY;
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP_COPY), &so), -ENOSPC);
	ck_assert_int_eq(so.state, ST(STOP));
	ck_assert_uint_eq(fake_v1_state(ids[2]), V1_RESERVED);
	ck_assert_int_eq(vfiomig_state_set(d, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_state_get(d), ST(STOP_COPY));
	vfiomig_device_free(d);
	down();
}
END_TEST

/* A v1 stream cut inside a record is never committed; a stream that is
 * not v1's is refused at its first record. */
START_TEST(bad_streams)
{
	struct vec v = { 0 }, cut;
	struct vfiomig_device *d;
	struct fake_v1_stats st;
	unsigned char junk[64];

	up(false);
	open_pair(K_V1_PREAD);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_gt(save_into(src, &v, IO_B), 0);
	cut = v;
	cut.n = v.n - 100;
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(load_from(dst, &cut, IO_C), (int64_t)cut.n);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), -EBADMSG);
	ck_assert_uint_eq(fake_v1_state(dst_id), V1_RESERVED | 1); /* reset */
	/* junk: a length larger than the data area */
	memset(junk, 0xa5, sizeof(junk));
	d = dst;
	ck_assert_int_eq(vfiomig_state_set(d, ST(RESUMING), NULL), 0);
	cut.p = junk;
	cut.n = sizeof(junk);
	ck_assert_int_eq(load_from(d, &cut, IO_B), -EPROTO);
	ck_assert_int_eq(vfiomig_load_finish(d, ST(RUNNING), NULL), -EBADMSG);
	ck_assert_int_eq(vfiomig_load_abort(d, ST(RUNNING), NULL), 0);
	fake_v1_stats(dst_id, &st);
	ck_assert_uint_eq(st.refused, 0);
	free(v.p);
	down();
}
END_TEST

/* PRE_COPY's pending_bytes through the precopy info call. */
START_TEST(precopy_info)
{
	struct vfiomig_precopy_info pi;
	struct vec v = { 0 };

	up(true);
	open_pair(K_V1_MMAP);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), -ENODEV);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_eq(pi.initial_bytes, 0);
	ck_assert_uint_eq(pi.dirty_bytes, PRECOPY);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_int_gt(save_into(src, &v, IO_C), PRECOPY);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	ck_assert_int_eq(save_into(src, &v, IO_C), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), -EINVAL);
	ck_assert_int_gt(save_into(src, &v, IO_C), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	load_all(dst, &v, IO_B);
	ck_assert(blobs_equal(src_id, dst_id, true));
	free(v.p);
	down();
}
END_TEST

/* A device that never drains (it dirties 8 KiB between rounds): the
 * policy switches when dirty_bytes stops shrinking, and the re-sent data
 * lands where it belongs. */
START_TEST(precopy_stall)
{
	struct fake_v1_cfg c = {
		.index = V1_INDEX,
		.data_offset = 8192,
		.chunk_max = 12u << 10,
		.state_size = STATE_SIZE,
		.precopy_initial = PRECOPY,
		.precopy_dirty = 8u << 10,
	};
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB, .write_fn = cb_write);
	struct vfiomig_device *s, *t;
	struct vec v = { 0 };
	int sid, tid, r = 0;

	up(false);
	sid = add_v1_cfg("0000:3e:00.5", 20, &c);
	tid = add_v1_cfg("0000:3e:00.6", 21, &c);
	fake_v1_fill(sid, 99);
	s = open_dev("0000:3e:00.5", 0);
	t = open_dev("0000:3e:00.6", 0);
	io.arg = &v;
	ck_assert_int_eq(vfiomig_state_set(s, ST(PRE_COPY), NULL), 0);
	for (unsigned int i = 0; i < 20 && r == 0; i++) {
		r = vfiomig_precopy_iterate(s, &io, NULL, &prog);
		ck_assert_int_ge(r, 0);
	}
	ck_assert_int_eq(r, 1);
	ck_assert_uint_ge(prog.round, 4);
	ck_assert_uint_eq(prog.dirty_bytes, 8u << 10);
	ck_assert_uint_ge(prog.stalled, 3);
	ck_assert_int_eq(vfiomig_state_set(s, ST(STOP_COPY), NULL), 0);
	ck_assert_int_gt(vfiomig_save(s, &io, 0), 0);
	ck_assert_int_eq(vfiomig_save(s, &io, 0), 0);
	ck_assert_int_eq(vfiomig_state_set(s, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(t, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(load_from(t, &v, IO_B), (int64_t)v.n);
	ck_assert_int_eq(vfiomig_load_finish(t, ST(RUNNING), NULL), 0);
	ck_assert(blobs_equal(sid, tid, true));
	vfiomig_device_free(s);
	vfiomig_device_free(t);
	free(v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Dirty pfns                                                          */

#define V1_PFNS "0000:3e:00.5"

/* A tracker over a v1 device with the pfn fields: its dma-logging is the
 * device's dirty pfns, whole, partial, NONE and ALL answers. */
START_TEST(dirty_pfns)
{
	struct fake_v1_cfg c = {
		.index = V1_INDEX,
		.data_offset = 8192,
		.pfns = true,
		.state_size = STATE_SIZE,
		.precopy_initial = PRECOPY,
		.pfns_max = _i == 1 ? 100 : 0,
		.pfns_answer = _i >= 2 ? _i - 1 : 0,
	};
	struct vfiomig_range r = { .iova = 1u << 20, .length = 4u << 20 };
	uint64_t bm[1024 / 64], ps = 4096, want[1024 / 64] = { 0 };
	struct vfiomig_dirty *tr;
	struct vfiomig_device *d;
	int id;

	up(false);
	id = add_v1_cfg(V1_PFNS, 20, &c);
	d = open_dev(V1_PFNS, 0);
	ck_assert_int_eq(vfiomig_dirty_new(&d, 1, NULL, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_MIG_V1);
	ck_assert_ptr_nonnull(strstr(vfiomig_dirty_reason(tr), "migration v1"));
	ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
	ck_assert_uint_eq(ps, 4096);
	/* pfn 256 is iova 1 MiB: bit 0 */
	fake_v1_dirty(id, 256 + 3, 1);
	fake_v1_dirty(id, 256 + 100, 64);
	fake_v1_dirty(id, 256 + 1000, 1);
	fake_v1_dirty(id, 100, 10); /* outside the range */
	for (int i = 0; i < 1024; i++)
		if (_i == 3 || (_i != 2 && (i == 3 || (i >= 100 && i < 164) || i == 1000)))
			want[i / 64] |= 1ull << (i % 64);
	memset(bm, 0xee, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, r.iova, r.length, 4096, bm, 0), 0);
	ck_assert_int_eq(memcmp(bm, want, sizeof(bm)), 0);
	/* reported and cleared */
	ck_assert_int_eq(vfiomig_dirty_query(tr, r.iova, r.length, 4096, bm, 0), 0);
	for (size_t i = 0; i < 1024 / 64; i++)
		ck_assert_uint_eq(bm[i], _i == 3 ? ~0ull : 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(d);
	down();
}
END_TEST

/* A query in the middle of a saved chunk: the rest of the chunk is kept
 * and the stream still loads. */
START_TEST(dirty_mid_chunk)
{
	struct fake_v1_cfg c = {
		.index = V1_INDEX,
		.data_offset = 8192,
		.chunk_max = 12u << 10,
		.pfns = true,
		.state_size = STATE_SIZE,
		.precopy_initial = PRECOPY,
	};
	struct vfiomig_range r = { .iova = 0, .length = 1u << 20 };
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB, .write_fn = cb_write);
	uint64_t bm[256 / 64], ps = 4096;
	struct vfiomig_device *s, *t;
	struct vfiomig_dirty *tr;
	struct vec v = { 0 };
	int sid, tid;

	up(false);
	sid = add_v1_cfg("0000:3e:00.5", 20, &c);
	tid = add_v1_cfg("0000:3e:00.6", 21, &c);
	fake_v1_fill(sid, 77);
	s = open_dev("0000:3e:00.5", 0);
	t = open_dev("0000:3e:00.6", 0);
	ck_assert_int_eq(vfiomig_dirty_new(&s, 1, NULL, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
	ck_assert_int_eq(vfiomig_state_set(s, ST(PRE_COPY), NULL), 0);
	io.arg = &v;
	io.limit = 5000; /* stops inside the first chunk */
	ck_assert_int_eq(vfiomig_save(s, &io, 0), 5000);
	fake_v1_dirty(sid, 7, 1);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, r.length, 4096, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 1u << 7);
	io.limit = 0;
	ck_assert_int_gt(vfiomig_save(s, &io, 0), 0);
	ck_assert_int_eq(vfiomig_state_set(s, ST(STOP_COPY), NULL), 0);
	ck_assert_int_gt(vfiomig_save(s, &io, 0), 0);
	ck_assert_int_eq(vfiomig_state_set(s, ST(STOP), NULL), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_state_set(t, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(load_from(t, &v, IO_C), (int64_t)v.n);
	ck_assert_int_eq(vfiomig_load_finish(t, ST(RUNNING), NULL), 0);
	ck_assert(blobs_equal(sid, tid, true));
	vfiomig_device_free(s);
	vfiomig_device_free(t);
	free(v.p);
	down();
}
END_TEST

/* The merged 5.8 layout (no pfn fields): not this backend. */
START_TEST(dirty_merged_layout)
{
	struct vfiomig_dirty *tr;
	struct vfiomig_device *d;

	up(false);
	d = open_dev(V1_SRC, 0);
	ck_assert_int_eq(vfiomig_dirty_new(&d, 1, NULL, &tr), 0);
	ck_assert_int_ne(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_MIG_V1);
	ck_assert_ptr_null(strstr(vfiomig_dirty_reason(tr), "migration v1"));
	vfiomig_dirty_free(tr);
	vfiomig_device_free(d);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* A device set with a v1 and a v2 member                              */

START_TEST(devset_mixed)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o, .flags = VFIOMIG_DEVSET_ALLOW_NO_P2P);
	struct vfiomig_device *s[2], *t[2];
	struct vfiomig_devset *ss, *ts;
	struct vec v[2] = { { 0 }, { 0 } };

	up(true);
	s[0] = open_dev(V2_SRC, 0);
	s[1] = open_dev(V1_SRC, 0);
	t[0] = open_dev(V2_DST, 0);
	t[1] = open_dev(V1_DST, 0);
	ck_assert_int_eq(vfiomig_devset_new(s, 2, &o, &ss), 0);
	ck_assert_int_eq(vfiomig_devset_new(t, 2, &o, &ts), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(ss, ST(PRE_COPY), NULL), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_gt(save_into(s[i], &v[i], IO_F), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(ss, ST(STOP_COPY), NULL), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_gt(save_into(s[i], &v[i], IO_C), 0);
		ck_assert_int_eq(save_into(s[i], &v[i], IO_C), 0);
	}
	ck_assert_int_eq(vfiomig_devset_state_set(ss, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(ts, ST(RESUMING), NULL), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(load_from(t[i], &v[i], IO_C), (int64_t)v[i].n);
	ck_assert_int_eq(vfiomig_devset_load_finish(ts, ST(RUNNING), NULL), 0);
	ck_assert(blobs_equal(ids[0], ids[1], false));
	ck_assert(blobs_equal(ids[2], ids[3], true));
	ck_assert_uint_eq(fake_v1_state(ids[3]), V1_RESERVED | 1);
	ck_assert_int_eq(vfiomig_state_get(t[0]), ST(RUNNING));
	/* a failing v1 member brings the set back */
	fake_v1_fail_state(ids[2], EIO);
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		ck_assert_int_eq(vfiomig_devset_state_set(ss, ST(RUNNING), &so), -EIO);
		ck_assert_int_eq(so.failed_member, 1);
		ck_assert_int_eq(vfiomig_state_get(s[0]), ST(STOP));
		ck_assert_int_eq(vfiomig_state_get(s[1]), ST(STOP));
	}
	vfiomig_devset_free(ss);
	vfiomig_devset_free(ts);
	for (int i = 0; i < 2; i++) {
		vfiomig_device_free(s[i]);
		vfiomig_device_free(t[i]);
		free(v[i].p);
	}
	down();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("v1");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, roundtrip, 0, K_NR * IO_NR * IO_NR);
	tcase_add_test(tc, precopy_info);
	tcase_add_test(tc, precopy_stall);
	tcase_add_test(tc, devset_mixed);
	suite_add_tcase(s, tc);

	tc = tcase_create("dirty");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, dirty_pfns, 0, 4);
	tcase_add_test(tc, dirty_mid_chunk);
	tcase_add_test(tc, dirty_merged_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("protocol");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, protocol);
	tcase_add_test(tc, fresh_handle);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, failed_write);
	tcase_add_test(tc, bad_streams);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
