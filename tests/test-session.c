// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration on the fake kernel only: programmable (GENERIC) devices with
 * multi-megabyte state and precopy dirtying, ENOMSG and read-0 drivers,
 * every capability set, injected failures of arcs and of each syscall.
 * Kernel-facing behaviour that the real mtty shows too lives in
 * tests/kcase-mig.c.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <check.h>

#include <linux/vfio.h>

#include "vfiomig.h"
#include "fake.h"
#include "fake-internal.h"
#include "mig-oracle.h"
/* white box: splice_path puts a real file in place of the data fd */
#include "../lib/internal.h"

#define SRC_BDF "0000:3b:00.1"
#define DST_BDF "0000:3b:00.2"
#define NOMIG_BDF "0000:3b:00.3"

#define ST(x) VFIOMIG_STATE_##x
#define ALLF (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)

struct spec {
	uint64_t flags;
	size_t size, initial, dirty;
	int end;
};

static struct vfiomig_ctx *ctx;
static struct vfiomig_device *src, *dst;
static int src_id, dst_id, nomig_id;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	(void)data; (void)file; (void)line;
	fprintf(stderr, "vfiomig[%d] %s: ", priority, fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static void up(const struct spec *sp)
{
	struct fake_dev_cfg cfg;
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };

	ck_assert_int_eq(fake_init(true), 0);
	fake_cfg_pci(&cfg, SRC_BDF, 12, 3, sp->flags);
	cfg.state_size = sp->size;
	cfg.precopy_initial = sp->initial;
	cfg.precopy_dirty = sp->dirty;
	cfg.precopy_end = sp->end;
	src_id = fake_add_device(&cfg);
	ck_assert_int_ge(src_id, 0);
	cfg.name = DST_BDF;
	cfg.group = 13;
	cfg.cdev = 4;
	dst_id = fake_add_device(&cfg);
	ck_assert_int_ge(dst_id, 0);
	fake_cfg_pci(&cfg, NOMIG_BDF, 14, 5, 0);
	nomig_id = fake_add_device(&cfg);
	ck_assert_int_ge(nomig_id, 0);
	/* different content on the two sides */
	fake_dev_fill(src_id, 0x1234);
	fake_dev_fill(dst_id, 0x9876);

	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	if (getenv("VFIOMIG_TEST_LOG")) {
		vfiomig_ctx_set_log_fn(ctx, logfn, NULL);
		vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	}
	ck_assert_int_eq(vfiomig_device_open(ctx, SRC_BDF, NULL, &src), 0);
	ck_assert_int_eq(vfiomig_device_open(ctx, DST_BDF, NULL, &dst), 0);
}

static void down(void)
{
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	src = dst = NULL;
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
}

static const struct spec big = {
	.flags = ALLF,
	.size = (3u << 20) + 1000,
	.initial = 1u << 20,
	.dirty = 128u << 10,
	.end = FAKE_END_ZERO,
};

/* ------------------------------------------------------------------ */
/* Sinks and sources of every kind                                      */

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

/* Take at most 7000 bytes per call: partial consumption. */
static ssize_t cb_write(void *arg, const void *buf, size_t len)
{
	size_t n = len < 7000 ? len : 7000;

	vec_add(arg, buf, n);
	return (ssize_t)n;
}

struct feed {
	const struct vec *v;
	size_t pos;
};

/* Odd-sized chunks. */
static ssize_t cb_read(void *arg, void *buf, size_t len)
{
	struct feed *f = arg;
	size_t n = f->v->n - f->pos;

	if (n > 5003)
		n = 5003;
	if (n > len)
		n = len;
	memcpy(buf, f->v->p + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

enum kind { K_BUF, K_FILE, K_CB, K_PIPE, K_NR };

struct sink {
	int kind;
	struct vec v;           /* K_CB, K_PIPE (thread), K_BUF */
	size_t cap;             /* K_BUF */
	int fd;                 /* K_FILE, K_PIPE write end */
	int rfd;                /* K_PIPE read end */
	pthread_t th;
};

static void *drain(void *arg)
{
	struct sink *s = arg;
	char buf[65536];
	ssize_t r;

	while ((r = read(s->rfd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		vec_add(&s->v, buf, (size_t)r);
	}
	return NULL;
}

static int tmpfd(void)
{
	char path[] = "/tmp/test-session.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

static void sink_open(struct sink *s, int kind)
{
	int p[2];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = s->rfd = -1;
	switch (kind) {
	case K_BUF:
		s->cap = 16u << 20;
		s->v.p = malloc(s->cap);
		s->v.cap = s->cap;
		ck_assert_ptr_nonnull(s->v.p);
		break;
	case K_FILE:
		s->fd = tmpfd();
		break;
	case K_PIPE:
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		s->rfd = p[0];
		s->fd = p[1];
		ck_assert_int_eq(pthread_create(&s->th, NULL, drain, s), 0);
		break;
	}
}

/* The io for the next save call. */
static struct vfiomig_io sink_io(struct sink *s)
{
	struct vfiomig_io io = { .sz = sizeof(io) };

	switch (s->kind) {
	case K_BUF:
		io.kind = VFIOMIG_IO_BUF;
		io.buf = s->v.p + s->v.n;
		io.len = s->cap - s->v.n;
		break;
	case K_FILE:
	case K_PIPE:
		io.kind = VFIOMIG_IO_FD;
		io.fd = s->fd;
		break;
	case K_CB:
		io.kind = VFIOMIG_IO_CB;
		io.write_fn = cb_write;
		io.arg = &s->v;
		break;
	}
	return io;
}

static void sink_moved(struct sink *s, int64_t n)
{
	if (s->kind == K_BUF && n > 0)
		s->v.n += (size_t)n;
}

/* Finish: collect everything into s->v. */
static void sink_close(struct sink *s)
{
	char buf[65536];
	ssize_t r;

	if (s->fd < 0)
		return;
	if (s->kind == K_FILE) {
		ck_assert_int_eq(lseek(s->fd, 0, SEEK_SET), 0);
		while ((r = read(s->fd, buf, sizeof(buf))) > 0)
			vec_add(&s->v, buf, (size_t)r);
		close(s->fd);
	} else if (s->kind == K_PIPE) {
		close(s->fd);
		pthread_join(s->th, NULL);
		close(s->rfd);
	}
	s->fd = s->rfd = -1;
}

struct source {
	int kind;
	struct feed feed;
	int fd, wfd;
	pthread_t th;
};

static void *pump(void *arg)
{
	struct source *s = arg;
	size_t done = 0;

	while (done < s->feed.v->n) {
		ssize_t r = write(s->wfd, s->feed.v->p + done,
				  s->feed.v->n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	close(s->wfd);
	return NULL;
}

static struct vfiomig_io source_open(struct source *s, int kind,
				     const struct vec *v)
{
	struct vfiomig_io io = { .sz = sizeof(io) };
	int p[2];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->feed.v = v;
	s->fd = s->wfd = -1;
	switch (kind) {
	case K_BUF:
		io.kind = VFIOMIG_IO_BUF;
		io.buf = v->p;
		io.len = v->n;
		break;
	case K_FILE:
		s->fd = tmpfd();
		ck_assert_int_eq(write(s->fd, v->p, v->n), (ssize_t)v->n);
		ck_assert_int_eq(lseek(s->fd, 0, SEEK_SET), 0);
		io.kind = VFIOMIG_IO_FD;
		io.fd = s->fd;
		break;
	case K_PIPE:
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		s->fd = p[0];
		s->wfd = p[1];
		ck_assert_int_eq(pthread_create(&s->th, NULL, pump, s), 0);
		io.kind = VFIOMIG_IO_FD;
		io.fd = s->fd;
		break;
	case K_CB:
		io.kind = VFIOMIG_IO_CB;
		io.read_fn = cb_read;
		io.arg = &s->feed;
		break;
	}
	return io;
}

static void source_close(struct source *s)
{
	if (s->kind == K_PIPE) {
		close(s->fd); /* unblocks the pump if the load stopped early */
		pthread_join(s->th, NULL);
	} else if (s->fd >= 0) {
		close(s->fd);
	}
}

static bool blobs_equal(int a, int b)
{
	size_t na = fake_dev_blob(a, NULL, 0), nb = fake_dev_blob(b, NULL, 0);
	unsigned char *pa = malloc(na + 1), *pb = malloc(nb + 1);
	bool eq;

	ck_assert_ptr_nonnull(pa);
	ck_assert_ptr_nonnull(pb);
	fake_dev_blob(a, pa, na);
	fake_dev_blob(b, pb, nb);
	eq = na == nb && !memcmp(pa, pb, na);
	free(pa);
	free(pb);
	return eq;
}

/* ------------------------------------------------------------------ */
/* A full migration                                                     */

/* RUNNING -> PRE_COPY rounds -> STOP_COPY -> STOP into the sink. */
static void save_all(struct sink *sk, unsigned int xflags, unsigned int *rounds)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_io io;
	int fd, r = 0;
	int64_t n;

	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(src);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	for (unsigned int i = 0; i < 50 && r == 0; i++) {
		io = sink_io(sk);
		r = vfiomig_precopy_iterate(src, &io, NULL, &prog);
		ck_assert_int_ge(r, 0);
		sink_moved(sk, (int64_t)prog.round_bytes);
		if (i == 0)
			fake_dev_dirty_precopy(src_id, 300u << 10);
	}
	ck_assert_int_eq(r, 1);
	*rounds = prog.round;
	ck_assert_uint_eq(prog.initial_bytes, 0);
	/* PRE_COPY -> PRE_COPY_P2P -> STOP_COPY keeps the session. */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), fd);
	io = sink_io(sk);
	n = vfiomig_save(src, &io, xflags);
	ck_assert_int_gt(n, 0);
	sink_moved(sk, n);
	io = sink_io(sk);
	ck_assert_int_eq(vfiomig_save(src, &io, xflags), 0); /* end */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	sink_close(sk);
}

static void load_all(const struct vec *v, int kind, unsigned int xflags)
{
	struct source so;
	struct vfiomig_io io;
	VFIOMIG_OPTS(vfiomig_set_opts, so_);

	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(dst), 0);
	io = source_open(&so, kind, v);
	ck_assert_int_eq(vfiomig_load(dst, &io, xflags), (int64_t)v->n);
	source_close(&so);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), &so_), 0);
	ck_assert_int_eq(so_.state, ST(RUNNING));
	ck_assert_int_eq(so_.failed_from, -1);
	ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);
	ck_assert_int_eq(fake_dev_state(dst_id), ST(RUNNING));
}

START_TEST(roundtrip)
{
	struct spec sp = big;
	int save_kind = _i % K_NR, load_kind = (_i / K_NR) % K_NR;
	unsigned int xflags = (_i / (K_NR * K_NR)) % 2 ? VFIOMIG_XFER_NO_SPLICE : 0;
	unsigned int rounds, w0 = fake_mig_warnings();
	struct sink sk;

	sp.end = (_i / (2 * K_NR * K_NR)) % 2 ? FAKE_END_ENOMSG : FAKE_END_ZERO;
	up(&sp);
	ck_assert(!blobs_equal(src_id, dst_id));
	sink_open(&sk, save_kind);
	save_all(&sk, xflags, &rounds);
	/* constant dirtying: dirty_bytes stops shrinking -> stall */
	ck_assert_uint_ge(rounds, 4);
	ck_assert_uint_gt(sk.v.n, big.size);
	load_all(&sk.v, load_kind, xflags);
	ck_assert(blobs_equal(src_id, dst_id));
	ck_assert_int_eq(fake_mig_warnings(), w0);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* splice: the fake's data fds cannot splice (EINVAL, like mtty's), so */
/* put a splice-capable file where the data fd is and check the loop.  */

static int splice_fallbacks;

__attribute__((format(printf, 6, 0)))
static void count_fallback(void *data, int priority, const char *file,
			   int line, const char *fn, const char *format,
			   va_list args)
{
	char msg[256];

	(void)data; (void)priority; (void)file; (void)line; (void)fn;
	vsnprintf(msg, sizeof(msg), format, args);
	if (strstr(msg, "splice:"))
		splice_fallbacks++;
}

START_TEST(splice_path)
{
	struct spec sp = big;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	const size_t total = (700u << 10) + 3;
	struct vec data = { 0 };
	struct source so;
	struct sink sk;
	unsigned char *back;
	int f;

	sp.size = 4096;
	up(&sp);
	vfiomig_ctx_set_log_fn(ctx, count_fallback, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	for (size_t i = 0; i < total; i++) {
		unsigned char c = (unsigned char)(i * 7 + (i >> 11));

		vec_add(&data, &c, 1);
	}

	/* save: "data fd" -> caller's pipe */
	f = tmpfd();
	ck_assert_int_eq(write(f, data.p, total), (ssize_t)total);
	ck_assert_int_eq(lseek(f, 0, SEEK_SET), 0);
	src->session.fd = f;
	src->session.saving = true;
	sink_open(&sk, K_PIPE);
	io.fd = sk.fd;
	io.limit = 100000;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 100000);
	io.limit = 0;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), (int64_t)(total - 100000));
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	sink_close(&sk);
	ck_assert_uint_eq(sk.v.n, total);
	ck_assert_int_eq(memcmp(sk.v.p, data.p, total), 0);
	ck_assert_int_eq(splice_fallbacks, 0);
	vfiomig_data_close(src); /* closes f */
	free(sk.v.p);

	/* load: caller's pipe -> "data fd" */
	f = tmpfd();
	dst->session.fd = f;
	dst->session.saving = false;
	io = source_open(&so, K_PIPE, &data);
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)total);
	source_close(&so);
	ck_assert_int_eq(splice_fallbacks, 0);
	back = malloc(total);
	ck_assert_int_eq(pread(f, back, total, 0), (ssize_t)total);
	ck_assert_int_eq(memcmp(back, data.p, total), 0);
	free(back);

	/* NO_SPLICE: the copy loop, same bytes */
	ck_assert_int_eq(ftruncate(f, 0), 0);
	ck_assert_int_eq(lseek(f, 0, SEEK_SET), 0);
	io = source_open(&so, K_PIPE, &data);
	ck_assert_int_eq(vfiomig_load(dst, &io, VFIOMIG_XFER_NO_SPLICE),
			 (int64_t)total);
	source_close(&so);
	back = malloc(total);
	ck_assert_int_eq(pread(f, back, total, 0), (ssize_t)total);
	ck_assert_int_eq(memcmp(back, data.p, total), 0);
	free(back);
	vfiomig_data_close(dst);

	/* and the fake's data fd: no splice is even tried (contract 17) */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	sink_open(&sk, K_PIPE);
	io = (struct vfiomig_io){ .sz = sizeof(io), .kind = VFIOMIG_IO_FD,
				  .fd = sk.fd };
	ck_assert_int_gt(vfiomig_save(src, &io, 0), 0);
	sink_close(&sk);
	ck_assert_int_eq(splice_fallbacks, 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	free(sk.v.p);
	free(data.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The data path's economy: a save or a load is its reads and writes.   */

#define PIECE 100000u

/* Save the STOP_COPY stream in pieces of PIECE bytes into a sink of one
 * kind: every call is one read() of the data fd and nothing else of the
 * kernel's; IO_BUF no ioctl at all, fd and callback transfers one
 * MIG_DATA_SIZE for the whole session (the buffer, set up once and kept). */
static void save_pieces(struct sink *sk, int kind)
{
	struct fake_dev_ioctls a, b;
	struct vfiomig_io io;
	void *buf0 = NULL;
	unsigned int calls;
	int64_t n;

	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	sink_open(sk, kind);
	fake_dev_ioctls(src_id, &a);
	for (unsigned int i = 0; i < 8; i++) {
		io = sink_io(sk);
		if (kind == K_BUF)
			io.len = PIECE;
		else
			io.limit = PIECE;
		calls = fake_calls();
		n = vfiomig_save(src, &io, i % 2 ? VFIOMIG_XFER_NO_SPLICE : 0);
		ck_assert_int_eq(n, PIECE);
		sink_moved(sk, n);
		/* + MIG_DATA_SIZE for the first fd/callback transfer */
		ck_assert_uint_eq(fake_calls(),
				  calls + 1 + (i == 0 && kind != K_BUF));
		if (kind == K_BUF)
			ck_assert_ptr_null(src->session.buf);
		else if (i == 0)
			buf0 = src->session.buf;
		else
			ck_assert_ptr_eq(src->session.buf, buf0);
	}
	fake_dev_ioctls(src_id, &b);
	ck_assert_uint_eq(b.total - a.total, kind == K_BUF ? 0 : 1);
	ck_assert_uint_eq(b.data_sizes - a.data_sizes, kind == K_BUF ? 0 : 1);
	/* the rest, then the end */
	io = sink_io(sk);
	ck_assert_int_gt(n = vfiomig_save(src, &io, 0), 0);
	sink_moved(sk, n);
	io = sink_io(sk);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	fake_dev_ioctls(src_id, &a);
	ck_assert_uint_eq(a.total, b.total);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	sink_close(sk);
}

/* Load it back in pieces from a source of the same kind: no ioctl at all,
 * one write() per piece from a buffer or a file (read straight from the
 * caller's buffer, or through the session's one buffer), one per callback
 * read otherwise. */
static void load_pieces(const struct vec *v, int kind)
{
	unsigned int ioctls, calls;
	struct fake_dev_ioctls a, b;
	struct vfiomig_io io;
	struct source so;
	void *buf0 = NULL;
	size_t off = 0;

	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	fake_dev_ioctls(dst_id, &a);
	ioctls = fake_ioctls();
	io = source_open(&so, kind, v);
	for (unsigned int i = 0; i < 8; i++, off += PIECE) {
		if (kind == K_BUF) {
			io.buf = v->p + off;
			io.len = PIECE;
		} else {
			io.limit = PIECE;
		}
		calls = fake_calls();
		ck_assert_int_eq(vfiomig_load(dst, &io, i % 2 ? VFIOMIG_XFER_NO_SPLICE : 0),
				 PIECE);
		if (kind == K_BUF || kind == K_FILE)
			ck_assert_uint_eq(fake_calls(), calls + 1);
		else if (kind == K_CB) /* cb_read gives 5003 bytes a call */
			ck_assert_uint_eq(fake_calls(),
					  calls + (PIECE + 5002) / 5003);
		if (kind == K_BUF)
			ck_assert_ptr_null(dst->session.buf);
		else if (i == 0)
			buf0 = dst->session.buf;
		else
			ck_assert_ptr_eq(dst->session.buf, buf0);
	}
	if (kind == K_BUF) {
		io.buf = v->p + off;
		io.len = v->n - off;
	} else {
		io.limit = 0;
	}
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)(v->n - off));
	source_close(&so);
	ck_assert_uint_eq(fake_ioctls(), ioctls);
	fake_dev_ioctls(dst_id, &b);
	ck_assert_uint_eq(b.total, a.total);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), 0);
}

START_TEST(data_path_economy)
{
	struct spec sp = big;
	struct sink sk;

	sp.size = 2u << 20;
	up(&sp);
	save_pieces(&sk, _i);
	ck_assert_uint_gt(sk.v.n, sp.size);
	load_pieces(&sk.v, _i);
	ck_assert(blobs_equal(src_id, dst_id));
	free(sk.v.p);
	down();
}
END_TEST

/* A paced step is its reads and one PRECOPY_INFO, every step alike (the
 * buffer's MIG_DATA_SIZE once per session, the state known). */
START_TEST(precopy_step_economy)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct fake_dev_ioctls a, b;
	struct vfiomig_io io;
	struct sink sk;

	up(&sp);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	sink_open(&sk, _i);
	for (unsigned int i = 0; i < 6; i++) {
		unsigned int calls = fake_calls();
		int64_t n;

		fake_dev_ioctls(src_id, &a);
		io = sink_io(&sk);
		n = vfiomig_precopy_step(src, &io, 50000, &prog);
		ck_assert_int_eq(n, 50000);
		sink_moved(&sk, n);
		fake_dev_ioctls(src_id, &b);
		ck_assert_uint_eq(b.precopy_infos - a.precopy_infos, 1);
		ck_assert_uint_eq(b.state_gets, a.state_gets);
		ck_assert_uint_eq(b.data_sizes - a.data_sizes,
				  i == 0 && _i != K_BUF ? 1 : 0);
		ck_assert_uint_eq(b.total - a.total,
				  1 + (b.data_sizes - a.data_sizes));
		/* one read (the budget is within what is queued) + the ioctls */
		ck_assert_uint_eq(fake_calls(), calls + 1 + (b.total - a.total));
	}
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	sink_close(&sk);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Precopy policy                                                       */

static unsigned int rounds_until(const struct vfiomig_precopy_policy *pol)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct sink sk;
	struct vfiomig_io io;
	int r = 0;

	sink_open(&sk, K_CB);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	while (r == 0 && prog.round < 40) {
		io = sink_io(&sk);
		r = vfiomig_precopy_iterate(src, &io, pol, &prog);
		ck_assert_int_ge(r, 0);
	}
	ck_assert_uint_eq(prog.total_bytes, sk.v.n);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	free(sk.v.p);
	return r == 1 ? prog.round : 0;
}

START_TEST(precopy_policy)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol);
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char small[100];

	sp.size = 256u << 10;
	sp.initial = 64u << 10;
	sp.dirty = 16u << 10;
	up(&sp);
	ck_assert_uint_eq(rounds_until(NULL), 4);       /* stall x3 */
	pol.stall_rounds = 1;
	ck_assert_uint_eq(rounds_until(&pol), 2);
	pol.stall_rounds = 0;                           /* 0 = default 3 */
	ck_assert_uint_eq(rounds_until(&pol), 4);
	pol.max_rounds = 2;
	ck_assert_uint_eq(rounds_until(&pol), 2);
	pol.max_rounds = 0;
	pol.dirty_threshold = 1u << 20;
	ck_assert_uint_eq(rounds_until(&pol), 1);
	pol.dirty_threshold = 0;
	pol.stall_rounds = 1000;
	pol.max_rounds = 7;
	ck_assert_uint_eq(rounds_until(&pol), 7);

	/* A round that cannot drain the initial data never switches early. */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	io.buf = small;
	io.len = sizeof(small);
	for (int i = 1; i <= 5; i++) {
		ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), 0);
		ck_assert_uint_eq(prog.round, (unsigned int)i);
		ck_assert_uint_eq(prog.round_bytes, sizeof(small));
		ck_assert_uint_gt(prog.initial_bytes, 0);
		ck_assert_uint_eq(prog.stalled, 0);
	}
	/* Bad calls. */
	ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_precopy_iterate(src, NULL, NULL, &prog), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	/* Not in PRE_COPY: refused before moving anything. */
	ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), -EINVAL);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* A paced step moves at most its budget, and the buffer, MIG_DATA_SIZE
 * included, is set up once per session. */
START_TEST(precopy_paced)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vec v = { 0 };
	struct sink sk;
	struct vfiomig_io io;
	unsigned int calls;
	int64_t n;

	up(&sp);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	sink_open(&sk, K_FILE);
	io = sink_io(&sk);
	n = vfiomig_precopy_step(src, &io, 4096, &prog);
	ck_assert_int_eq(n, 4096);
	sink_moved(&sk, n);
	ck_assert_uint_eq(prog.round, 1);
	ck_assert_uint_eq(prog.round_bytes, 4096);
	/* initial_bytes counts the stream's record headers too */
	ck_assert_uint_gt(prog.initial_bytes, sp.initial - 4096);
	ck_assert(!prog.initial_drained);
	ck_assert_uint_eq(prog.reinits, 0);
	/* The second step: a read, PRECOPY_INFO, nothing else. */
	calls = fake_calls();
	io = sink_io(&sk);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 100, &prog), 100);
	sink_moved(&sk, 100);
	ck_assert_uint_eq(fake_calls(), calls + 2);
	/* The caller's own io limit is the tighter one: it wins. */
	io = sink_io(&sk);
	io.limit = 10;
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 100, &prog), 10);
	sink_moved(&sk, 10);
	/* No budget: all there is now; then the initial data is drained. */
	io = sink_io(&sk);
	n = vfiomig_precopy_step(src, &io, 0, &prog);
	ck_assert_int_gt(n, 0);
	sink_moved(&sk, n);
	ck_assert_uint_eq(prog.initial_bytes, 0);
	ck_assert(prog.initial_drained);
	ck_assert_uint_eq(prog.total_bytes, 4096 + 100 + 10 + (uint64_t)n);
	/* Bad calls change nothing. */
	ck_assert_int_eq(vfiomig_precopy_step(NULL, &io, 0, &prog), -EINVAL);
	ck_assert_int_eq(vfiomig_precopy_step(src, NULL, 0, &prog), -EINVAL);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 0, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 0, &prog), -EINVAL);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	sink_close(&sk);
	free(sk.v.p);
	free(v.p);
	down();
}
END_TEST

/* A program built against 0.1 binds to vfiomig_precopy_info@VFIOMIG_0.1,
 * which writes the two 0.1 fields and nothing after them. */
START_TEST(precopy_info_compat)
{
	typedef int (*info01_fn)(struct vfiomig_device *, void *);
	info01_fn info01 = (info01_fn)dlvsym(RTLD_DEFAULT, "vfiomig_precopy_info",
					     "VFIOMIG_0.1");
	uint64_t buf[3] = { 0, 0, 0xdeadbeef };
	struct vfiomig_precopy_info pi = { .flags = 77 };

	ck_assert_ptr_nonnull(info01);
	up(&big);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_ge(pi.initial_bytes, big.initial);
	ck_assert_uint_eq(pi.flags, 0); /* no v2 on this device */
	ck_assert_int_eq(info01(src, buf), 0);
	ck_assert_uint_eq(buf[0], pi.initial_bytes);
	ck_assert_uint_eq(buf[2], 0xdeadbeef);
	ck_assert_int_eq(info01(src, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* An adopted fd's state is read once, unless the caller vouches for it. */
START_TEST(adopt_vouched)
{
	struct vfiomig_device *a = NULL;
	VFIOMIG_OPTS(vfiomig_adopt_opts, o, .flags = VFIOMIG_ADOPT_STATE_KNOWN,
		     .state = ST(RUNNING));
	unsigned int calls;

	up(&big);
	/* A state that is none, or ERROR, is refused. */
	o.state = ST(ERROR);
	ck_assert_int_eq(vfiomig_device_adopt(ctx, vfiomig_device_fd(src), &o, &a),
			 -EINVAL);
	o.state = VFIOMIG_STATE_NR;
	ck_assert_int_eq(vfiomig_device_adopt(ctx, vfiomig_device_fd(src), &o, &a),
			 -EINVAL);
	o.state = ST(RUNNING);
	ck_assert_int_eq(vfiomig_device_adopt(ctx, vfiomig_device_fd(src), &o, &a), 0);
	ck_assert_int_eq(vfiomig_state_set(a, ST(STOP), NULL), 0); /* MIGRATION */
	calls = fake_calls();
	/* Remembered: one SET per change, no GET before it. */
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING_P2P), NULL), 0);
	ck_assert_uint_eq(fake_calls(), calls + 1);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING_P2P));
	/* vfiomig_state_get() always asks the kernel. */
	ck_assert_int_eq(vfiomig_state_get(a), ST(RUNNING_P2P));
	ck_assert_uint_eq(fake_calls(), calls + 2);
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING), NULL), 0);
	vfiomig_device_free(a);
	/* Not vouched for: the first change reads the state first. */
	o.flags = 0;
	ck_assert_int_eq(vfiomig_device_adopt(ctx, vfiomig_device_fd(src), &o, &a), 0);
	ck_assert_int_eq(vfiomig_state_set(a, ST(STOP), NULL), 0);
	calls = fake_calls();
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(fake_calls(), calls + 1);
	vfiomig_device_free(a);
	down();
}
END_TEST

START_TEST(precopy_no_dirt)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_precopy_info pi;
	struct sink sk;
	struct vfiomig_io io;

	sp.dirty = 0;
	sp.end = FAKE_END_ENOMSG;
	up(&sp);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), -ENODEV);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_gt(pi.initial_bytes, sp.initial);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	sink_open(&sk, K_CB);
	io = sink_io(&sk);
	ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), 1);
	ck_assert_uint_eq(prog.round_bytes, pi.initial_bytes);
	ck_assert_uint_eq(prog.dirty_bytes, 0);
	/* drained: ENOMSG is "nothing now", not an error */
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Buffers, sizes, bad input                                            */

START_TEST(buf_partial_and_size)
{
	struct spec sp = big;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	uint64_t len = 0;
	struct vec all = { 0 };
	char buf[4096 * 3 + 17];
	int64_t n;

	sp.size = (1u << 20) + 5;
	up(&sp);
	ck_assert_int_eq(vfiomig_data_size(src, &len), 0);
	ck_assert_int_eq(vfiomig_data_size(src, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_data_size(NULL, &len), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	io.buf = buf;
	io.len = sizeof(buf);
	while ((n = vfiomig_save(src, &io, 0)) > 0) {
		ck_assert_int_le(n, sizeof(buf));
		vec_add(&all, buf, (size_t)n);
	}
	ck_assert_int_eq(n, 0);
	/* MIG_DATA_SIZE is the exact stream length from STOP */
	ck_assert_uint_eq(all.n, len);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	load_all(&all, K_BUF, 0);
	ck_assert(blobs_equal(src_id, dst_id));
	free(all.p);
	down();
}
END_TEST

static ssize_t cb_fail(void *arg, const void *buf, size_t len)
{
	(void)arg; (void)buf; (void)len;
	return -ENOSPC;
}

static ssize_t cb_zero(void *arg, const void *buf, size_t len)
{
	(void)arg; (void)buf; (void)len;
	return 0;
}

START_TEST(bad_input)
{
	struct spec sp = big;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = 7);
	struct vfiomig_device *nomig;
	char buf[64];
	unsigned int calls, w0;
	uint64_t len;

	up(&sp);
	w0 = fake_mig_warnings();
	ck_assert_int_eq(vfiomig_state_set(NULL, ST(STOP), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_data_fd(NULL), -EINVAL);
	vfiomig_data_close(NULL);
	/* warm the capability cache, then: no kernel call at all */
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	calls = fake_calls();
	ck_assert_int_eq(vfiomig_state_set(src, VFIOMIG_STATE_NR, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, -1, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(ERROR), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	so.recovery = -1;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	so.recovery = VFIOMIG_RECOVER_STATE;
	so.recovery_state = VFIOMIG_STATE_NR;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	so.recovery_state = -1;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	/* a recovery state alone means "recover there": checked up front */
	so.recovery = VFIOMIG_RECOVER_DEFAULT;
	so.recovery_state = 42;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	so.recovery_state = 0;
	so.flags = 1u << 7;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_save(src, &io, 1u << 5), -EINVAL);
	ck_assert_int_eq(vfiomig_save(src, NULL, 0), -EINVAL);
	io.kind = 0;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EINVAL);
	io.kind = VFIOMIG_IO_BUF;
	io.buf = NULL;
	io.len = 5;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EINVAL);
	io.kind = VFIOMIG_IO_FD;
	io.fd = -1;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EINVAL);
	io.kind = VFIOMIG_IO_CB;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_load(src, &io, 0), -EINVAL);
	/* no session */
	io.kind = VFIOMIG_IO_BUF;
	io.buf = buf;
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_load(src, &io, 0), -ENODEV);
	/* an options struct from the future */
	{
		struct { struct vfiomig_set_opts o; int extra; } fut = {
			.o.sz = sizeof(fut), .extra = 1,
		};
		ck_assert_int_eq(vfiomig_state_set(src, ST(STOP),
						   &fut.o), -E2BIG);
	}
	ck_assert_uint_eq(fake_calls(), calls);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));

	/* load_finish only leaves RESUMING, only for STOP or RUNNING */
	ck_assert_int_eq(vfiomig_load_finish(src, ST(STOP_COPY), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_load_finish(src, ST(STOP), NULL), -EINVAL);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));

	/* STOP_COPY -> PRE_COPY: no ioctl at all (the state is remembered) */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	calls = fake_calls();
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY_P2P), &so), -EINVAL);
	ck_assert_uint_eq(fake_calls(), calls);
	ck_assert_int_eq(so.state, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(fake_dev_state(src_id), ST(STOP_COPY));
	ck_assert_int_ge(vfiomig_data_fd(src), 0);

	/* direction */
	ck_assert_int_eq(vfiomig_load(src, &io, 0), -EBADF);
	io.kind = VFIOMIG_IO_CB;
	io.write_fn = cb_fail;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENOSPC); /* ends it */
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	io.write_fn = cb_zero;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), NULL), 0);
	io.kind = VFIOMIG_IO_BUF;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -EBADF);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	vfiomig_data_close(src);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RESUMING));
	ck_assert_int_eq(vfiomig_device_reset(src), 0);

	/* a device without migration */
	ck_assert_int_eq(vfiomig_device_open(ctx, NOMIG_BDF, NULL, &nomig), 0);
	ck_assert_int_eq(vfiomig_state_get(nomig), -ENOTTY);
	ck_assert_int_eq(vfiomig_state_set(nomig, ST(STOP), NULL), -ENOTTY);
	ck_assert_int_eq(vfiomig_data_size(nomig, &len), -ENOTTY);
	vfiomig_device_free(nomig);
	ck_assert_int_eq(fake_mig_warnings(), w0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every pair, every capability set, both set modes                     */

static const uint64_t capsets[] = {
	VFIOMIG_MIG_STOP_COPY,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY,
	ALLF,
};

static bool saving(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) || s == ST(STOP_COPY);
}

/* Leave RESUMING with a valid stream (an empty one is refused). */
static struct vec valid_stream;

static void feed_valid(struct vfiomig_device *dev)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = valid_stream.p,
				 .len = valid_stream.n };

	ck_assert_int_eq(vfiomig_load(dev, &io, 0), (int64_t)valid_stream.n);
}

static void go(struct vfiomig_device *dev, int id, int to, unsigned int mode,
	       uint64_t flags)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so, .flags = mode);
	int cur = fake_dev_state(id), before = vfiomig_data_fd(dev), after;
	int path[8], n = vfiomig_state_plan(cur, to, flags, path, 8);
	bool open_, opened;

	ck_assert_int_ge(n, 0);
	open_ = oracle_session_after(cur, path, n, before >= 0, &opened);
	if (cur == ST(RESUMING) && to != cur)
		feed_valid(dev);
	ck_assert_msg(vfiomig_state_set(dev, to, &so) == 0, "%s->%s flags %#llx",
		      vfiomig_state_name(cur), vfiomig_state_name(to),
		      (unsigned long long)flags);
	ck_assert_int_eq(so.state, to);
	ck_assert_int_eq(fake_dev_state(id), to);
	after = vfiomig_data_fd(dev);
	ck_assert_msg((after >= 0) == open_, "%s->%s: data fd %d",
		      vfiomig_state_name(cur), vfiomig_state_name(to), after);
	ck_assert_int_eq(open_, saving(to) || to == ST(RESUMING));
	if (open_ && !opened)
		ck_assert_int_eq(after, before); /* same session */
}

START_TEST(all_pairs)
{
	struct spec sp = big;
	unsigned int w0;
	struct sink sk;
	struct vfiomig_io io;

	sp.flags = capsets[_i];
	sp.size = 10000;
	sp.initial = 4096;
	up(&sp);
	w0 = fake_mig_warnings();
	/* a valid stream for leaving RESUMING */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	sink_open(&sk, K_CB);
	io = sink_io(&sk);
	ck_assert_int_gt(vfiomig_save(src, &io, 0), 0);
	valid_stream = sk.v;
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);

	for (unsigned int mode = VFIOMIG_SET_COMBINED; mode <= VFIOMIG_SET_STEPWISE; mode++) {
		for (int a = 1; a < VFIOMIG_STATE_NR; a++) {
			for (int b = 1; b < VFIOMIG_STATE_NR; b++) {
				if (vfiomig_state_plan(ST(RUNNING), a, sp.flags, NULL, 0) < 0 ||
				    vfiomig_state_plan(a, b, sp.flags, NULL, 0) < 0)
					continue;
				go(src, src_id, a, mode, sp.flags);
				go(src, src_id, b, mode, sp.flags);
				go(src, src_id, b, mode, sp.flags); /* no-op */
				if (fake_dev_state(src_id) == ST(STOP_COPY))
					go(src, src_id, ST(STOP), mode, sp.flags);
				go(src, src_id, ST(RUNNING), mode, sp.flags);
			}
		}
	}
	/* unsupported targets are refused */
	for (int s = 1; s < VFIOMIG_STATE_NR; s++)
		if (vfiomig_state_plan(ST(RUNNING), s, sp.flags, NULL, 0) < 0)
			ck_assert_int_eq(vfiomig_state_set(src, s, NULL), -EINVAL);
	ck_assert_int_eq(fake_mig_warnings(), w0);
	free(valid_stream.p);
	valid_stream.p = NULL;
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failures: pinned to the arc, read back, recovered                    */

START_TEST(arc_failure)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int w0;

	sp.size = 8192;
	up(&sp);
	w0 = fake_mig_warnings();

	/* RUNNING -> R_P2P -> STOP -> STOP_COPY, fail the last arc */
	for (unsigned int mode = VFIOMIG_SET_COMBINED; mode <= VFIOMIG_SET_STEPWISE; mode++) {
		for (int pol = 0; pol <= VFIOMIG_RECOVER_STAY; pol++) {
			so = (struct vfiomig_set_opts){
				.sz = sizeof(so), .flags = mode,
				.recovery = pol,
				.recovery_state = ST(RUNNING_P2P),
			};
			fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
			ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so),
					 -EIO);
			ck_assert_int_eq(so.failed_from, ST(STOP));
			ck_assert_int_eq(so.failed_to, ST(STOP_COPY));
			ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
			switch (pol) {
			case VFIOMIG_RECOVER_STAY:
				ck_assert_int_eq(so.state, ST(STOP));
				break;
			case VFIOMIG_RECOVER_DEFAULT: /* recovery_state is set */
			case VFIOMIG_RECOVER_STATE:
				ck_assert_int_eq(so.state, ST(RUNNING_P2P));
				break;
			case VFIOMIG_RECOVER_RESET:
				ck_assert_int_eq(so.state, ST(RUNNING));
				break;
			}
			ck_assert_int_eq(fake_dev_state(src_id), so.state);
			ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
		}
	}

	/* zero-filled options: back to the state the call started in */
	for (unsigned int mode = VFIOMIG_SET_COMBINED; mode <= VFIOMIG_SET_STEPWISE; mode++) {
		so = (struct vfiomig_set_opts){ .sz = sizeof(so), .flags = mode };
		fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
		ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
		ck_assert_int_eq(so.failed_from, ST(STOP));
		ck_assert_int_eq(so.state, ST(RUNNING));
		ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));
		/* NULL options are the same */
		fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
		ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), -EIO);
		ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));
	}
	/* ... and from PRE_COPY the session survives the way back */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fake_dev_fail_arc(src_id, ST(PRE_COPY_P2P), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(PRE_COPY_P2P));
	ck_assert_int_eq(so.state, ST(PRE_COPY));
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	/* no way back (STOP_COPY -> PRE_COPY is not an arc): a reset */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	fake_dev_fail_arc(src_id, ST(STOP_COPY), ST(STOP), EIO);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery_state = ST(PRE_COPY) };
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(STOP_COPY));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	/* RECOVER_STATE to ERROR means a reset (QEMU's habit) */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_STATE };
	fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.state, ST(RUNNING));

	/* the first arc of a path; a middle arc */
	fake_dev_fail_arc(src_id, ST(RUNNING), ST(RUNNING_P2P), EBUSY);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EBUSY);
	ck_assert_int_eq(so.failed_from, ST(RUNNING));
	ck_assert_int_eq(so.failed_to, ST(RUNNING_P2P));
	ck_assert_int_eq(so.state, ST(RUNNING));

	/* leaving PRE_COPY fails in the middle: the session is gone with
	 * PRE_COPY -> RUNNING, the device stops at RUNNING_P2P */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	fake_dev_fail_arc(src_id, ST(RUNNING_P2P), ST(STOP), EIO);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_COMBINED,
					.recovery = VFIOMIG_RECOVER_STAY };
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(RUNNING_P2P));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING_P2P));
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);

	/* success reports no failed arc */
	so.flags = 0;
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), &so), 0);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(fake_mig_warnings(), w0);
	down();
}
END_TEST

START_TEST(error_state)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int w0;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char buf[64];

	sp.size = 8192;
	up(&sp);
	w0 = fake_mig_warnings();
	io.buf = buf;
	io.len = sizeof(buf);

	/* ERROR (pds-like, asynchronously): never SET from ERROR */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	fake_dev_force_error(src_id);
	ck_assert_int_eq(vfiomig_state_get(src), ST(ERROR));
	so.recovery = VFIOMIG_RECOVER_STAY;
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(ERROR));
	ck_assert_int_eq(so.failed_to, ST(RUNNING));
	ck_assert_int_eq(so.state, ST(ERROR));
	ck_assert_int_eq(fake_mig_warnings(), w0);
	/* the session died with it: ENODEV ends it cleanly */
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);

	so.recovery = VFIOMIG_RECOVER_RESET;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EIO);
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));

	fake_dev_force_error(src_id);
	so.recovery = VFIOMIG_RECOVER_STATE;
	so.recovery_state = ST(STOP);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.state, ST(STOP));

	/* the default: ERROR is nobody's choice, a reset leaves it */
	fake_dev_force_error(src_id);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), -EIO);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));

	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(fake_mig_warnings(), w0);
	down();
}
END_TEST

START_TEST(truncated_load)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct sink sk;
	struct vec v;
	unsigned int rounds;

	sp.size = 100000;
	sp.initial = 30000;
	sp.dirty = 5000;
	up(&sp);
	sink_open(&sk, K_CB);
	save_all(&sk, 0, &rounds);
	v = sk.v;

	for (int pol = 0; pol <= VFIOMIG_RECOVER_STAY; pol++) {
		so = (struct vfiomig_set_opts){ .sz = sizeof(so), .recovery = pol,
						.recovery_state = ST(STOP) };
		ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
		io.buf = v.p;
		io.len = v.n - 10;
		ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)v.n - 10);
		ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), &so), -EINVAL);
		ck_assert_int_eq(so.failed_from, ST(RESUMING));
		ck_assert_int_eq(so.failed_to, ST(STOP));
		/* refused: the session is spoiled, whatever the policy */
		ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);
		io.buf = v.p + v.n - 10;
		io.len = 10;
		ck_assert_int_eq(vfiomig_load(dst, &io, 0),
				 pol == VFIOMIG_RECOVER_STAY ? -EBADMSG : -ENODEV);
		ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), NULL),
				 pol == VFIOMIG_RECOVER_STAY ? -EBADMSG : -EINVAL);
		switch (pol) {
		case VFIOMIG_RECOVER_STAY:
			ck_assert_int_eq(so.state, ST(RESUMING));
			ck_assert_int_eq(fake_dev_state(dst_id), ST(RESUMING));
			/* the way out: nothing of it is loaded */
			so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
			ck_assert_int_eq(vfiomig_load_abort(dst, ST(STOP), &so), 0);
			ck_assert_int_eq(so.state, ST(STOP));
			break;
		case VFIOMIG_RECOVER_RESET:
			ck_assert_int_eq(so.state, ST(RUNNING));
			break;
		default:
			/* out of RESUMING by a reset, then to the state */
			ck_assert_int_eq(so.state, ST(STOP));
			break;
		}
		ck_assert_int_eq(fake_dev_state(dst_id), so.state);
		ck_assert(!blobs_equal(src_id, dst_id));
		ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), NULL), 0);
	}
	/* a corrupted stream (the checksum of the END record) is refused */
	v.p[v.n - 1] ^= 0x5a;
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	io.buf = v.p;
	io.len = v.n;
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)v.n);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_RESET };
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(so.state, ST(RUNNING));
	free(v.p);
	down();
}
END_TEST

/* What another thread may do while a transfer is in flight, asked from
 * inside the transfer's own callback (deterministic: the library moves
 * data without holding the device lock). */
struct inflight {
	int calls;
	int set, set_dst, save, reset, abort_, finish;
	int state, fd_before, fd_after;
	int64_t size_ret, info_ret;
};

static ssize_t cb_inflight(void *arg, const void *buf, size_t len)
{
	struct inflight *f = arg;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct vfiomig_precopy_info pi;
	uint64_t n;
	char b[8];

	(void)buf;
	if (f->calls++)
		return (ssize_t)len;
	io.buf = b;
	io.len = sizeof(b);
	f->set = vfiomig_state_set(src, ST(STOP_COPY), NULL);
	f->save = (int)vfiomig_save(src, &io, 0);
	f->reset = vfiomig_device_reset(src);
	f->abort_ = vfiomig_load_abort(src, ST(RUNNING), NULL);
	f->finish = vfiomig_load_finish(src, ST(RUNNING), NULL);
	f->fd_before = vfiomig_data_fd(src);
	vfiomig_data_close(src);
	f->fd_after = vfiomig_data_fd(src);
	/* queries go on */
	f->state = vfiomig_state_get(src);
	f->size_ret = vfiomig_data_size(src, &n);
	f->info_ret = vfiomig_precopy_info(src, &pi);
	/* another device is independent */
	f->set_dst = vfiomig_state_set(dst, ST(STOP), NULL);
	return (ssize_t)len;
}

START_TEST(busy_transfer)
{
	struct spec sp = big;
	struct inflight f = { 0 };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_CB,
				 .write_fn = cb_inflight, .arg = &f };

	up(&sp);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_gt(vfiomig_save(src, &io, 0), 0);
	ck_assert_int_eq(f.set, -EBUSY);
	ck_assert_int_eq(f.save, -EBUSY);
	ck_assert_int_eq(f.reset, -EBUSY);
	ck_assert_int_eq(f.abort_, -EBUSY);
	ck_assert_int_eq(f.finish, -EBUSY);
	ck_assert_int_ge(f.fd_before, 0);
	ck_assert_int_eq(f.fd_after, f.fd_before); /* data_close: ignored */
	ck_assert_int_eq(f.state, ST(PRE_COPY));
	ck_assert_int_eq(f.size_ret, 0);
	ck_assert_int_eq(f.info_ret, 0);
	ck_assert_int_eq(f.set_dst, 0);
	/* nothing of it stuck: the session and the device go on */
	ck_assert_int_eq(fake_dev_state(src_id), ST(PRE_COPY));
	ck_assert_int_eq(vfiomig_data_fd(src), f.fd_before);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

START_TEST(reset_kills_session)
{
	struct spec sp = big;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char buf[64];
	int fd;

	sp.size = 8192;
	up(&sp);
	io.buf = buf;
	io.len = sizeof(buf);
	/* through the library */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), sizeof(buf));
	ck_assert_int_eq(vfiomig_device_reset(src), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_state_get(src), ST(RUNNING));
	/* behind the library's back: the kernel says ENODEV */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(src);
	ck_assert_int_eq(ioctl(vfiomig_device_fd(src), VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), fd);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(vfiomig_state_get(src), ST(RUNNING));
	down();
}
END_TEST

START_TEST(protocol_error)
{
	struct spec sp = big;
	int fd, fds;

	sp.size = 8192;
	up(&sp);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(src);
	ck_assert_int_ge(fd, 0);
	fds = fake_open_fds();
	/* someone moved the device behind the library's back */
	fake_dev_set_state(src_id, ST(STOP));
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), NULL), 0);
	/* the old fd was closed, the new one kept */
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(fake_open_fds(), fds);
	ck_assert_int_eq(vfiomig_device_reset(src), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fault injection on every syscall of a save and a load                */

static const struct spec faulty = {
	.flags = ALLF,
	.size = (200u << 10) + 7,
	.initial = 64u << 10,
	.dirty = 16u << 10,
	.end = FAKE_END_ENOMSG,
};

/* The whole flow; returns 0 when every step succeeded. */
static int flow(int kind, struct vec *out)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_io io;
	struct sink sk;
	struct source so;
	int r = 0, ret = -1;
	int64_t n;

	sink_open(&sk, kind);
	if (vfiomig_state_set(src, ST(PRE_COPY), NULL))
		goto out;
	while (r == 0 && prog.round < 10) {
		io = sink_io(&sk);
		r = vfiomig_precopy_iterate(src, &io, NULL, &prog);
		if (r < 0)
			goto out;
		sink_moved(&sk, (int64_t)prog.round_bytes);
	}
	if (vfiomig_state_set(src, ST(STOP_COPY), NULL))
		goto out;
	do {
		io = sink_io(&sk);
		n = vfiomig_save(src, &io, 0);
		if (n < 0)
			goto out;
		sink_moved(&sk, n);
	} while (n > 0);
	if (vfiomig_state_set(src, ST(STOP), NULL))
		goto out;
	sink_close(&sk);
	if (vfiomig_state_set(dst, ST(RESUMING), NULL))
		goto out;
	io = source_open(&so, kind, &sk.v);
	n = vfiomig_load(dst, &io, 0);
	source_close(&so);
	if (n != (int64_t)sk.v.n)
		goto out;
	if (vfiomig_load_finish(dst, ST(RUNNING), NULL))
		goto out;
	ret = 0;
out:
	sink_close(&sk);
	if (out)
		*out = sk.v;
	else
		free(sk.v.p);
	return ret;
}

START_TEST(fault_each_call)
{
	int kind = _i;
	unsigned int c0, calls, failed = 0;

	up(&faulty);
	c0 = fake_calls();
	ck_assert_int_eq(flow(kind, NULL), 0);
	calls = fake_calls() - c0;
	ck_assert(blobs_equal(src_id, dst_id));
	down();
	ck_assert_uint_gt(calls, 10);

	for (unsigned int nth = 1; nth <= calls + 1; nth++) {
		int s1, s2;

		up(&faulty);
		fake_fail_nth(nth, EIO);
		if (flow(kind, NULL))
			failed++;
		fake_fail_nth(0, 0);
		/* every handle still usable: the state reads back */
		s1 = vfiomig_state_get(src);
		s2 = vfiomig_state_get(dst);
		ck_assert_int_ge(s1, 0);
		ck_assert_int_ge(s2, 0);
		ck_assert_int_eq(s1, fake_dev_state(src_id));
		ck_assert_int_eq(s2, fake_dev_state(dst_id));
		/* a session is open only where the state has one */
		if (vfiomig_data_fd(src) >= 0)
			ck_assert(saving(s1));
		if (vfiomig_data_fd(dst) >= 0)
			ck_assert_int_eq(s2, ST(RESUMING));
		down(); /* no fake fd left behind */
	}
	/* most calls are fault points (a failed MIG_DATA_SIZE only costs
	 * the buffer its size hint) */
	ck_assert_uint_ge(failed, calls / 2);
}
END_TEST

/* EINTR and EAGAIN on any read/write are retried: the flow succeeds. */
START_TEST(retry_each_call)
{
	static const char *const calls_[] = { "read", "write" };
	static const int errs[] = { EINTR, EAGAIN };
	const char *call = calls_[_i % 2];
	int e = errs[_i / 2];

	for (unsigned int nth = 1; nth <= 40; nth++) {
		struct vec v = { 0 };

		up(&faulty);
		fake_fail_nth_call(call, nth, e);
		ck_assert_msg(flow(K_CB, &v) == 0, "%s #%u: %s", call, nth,
			      strerror(e));
		fake_fail_nth(0, 0);
		ck_assert(blobs_equal(src_id, dst_id));
		free(v.p);
		down();
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc;
	SRunner *sr;
	int failed;

	/* a load that stops early leaves a pump writing into a closed pipe */
	signal(SIGPIPE, SIG_IGN);
	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, roundtrip, 0, 4 * K_NR * K_NR);
	tcase_add_test(tc, buf_partial_and_size);
	tcase_add_test(tc, splice_path);
	suite_add_tcase(s, tc);

	/* what a save, a load and a step ask of the kernel */
	tc = tcase_create("economy");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, data_path_economy, 0, K_NR);
	tcase_add_loop_test(tc, precopy_step_economy, 0, K_NR);
	suite_add_tcase(s, tc);

	tc = tcase_create("precopy");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, precopy_policy);
	tcase_add_test(tc, precopy_no_dirt);
	suite_add_tcase(s, tc);

	tc = tcase_create("fsm");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, all_pairs, 0, 4);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, precopy_paced);
	tcase_add_test(tc, precopy_info_compat);
	tcase_add_test(tc, adopt_vouched);
	tcase_add_test(tc, arc_failure);
	tcase_add_test(tc, error_state);
	tcase_add_test(tc, truncated_load);
	tcase_add_test(tc, reset_kills_session);
	tcase_add_test(tc, busy_transfer);
	tcase_add_test(tc, protocol_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_set_timeout(tc, 1200);
	tcase_add_loop_test(tc, fault_each_call, 0, K_NR);
	tcase_add_loop_test(tc, retry_each_call, 0, 4);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
