/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sinks and sources of the transfer tests (kcase-session.c on both
 * kernels, test-session.c's white-box splice): a buffer, a file,
 * callbacks taking and giving a few bytes a call (partial consumption), a
 * pipe with a thread at its other end.  The includer sets
 * the default sizes first: XIO_CB_WRITE_MAX and XIO_CB_READ_MAX (bytes per
 * callback call), XIO_BUF_CAP (a buffer sink's room); a case moving
 * megabytes sets others with xio_sizes(), and the fixture puts the
 * defaults back with xio_sizes_default() (CK_FORK=no keeps them).
 */
#ifndef XFER_IO_H
#define XFER_IO_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "vfiomig.h"

#if !defined(XIO_CB_WRITE_MAX) || !defined(XIO_CB_READ_MAX) || !defined(XIO_BUF_CAP)
#error "define XIO_CB_WRITE_MAX, XIO_CB_READ_MAX and XIO_BUF_CAP first"
#endif

static size_t xio_cb_write_max = XIO_CB_WRITE_MAX;
static size_t xio_cb_read_max = XIO_CB_READ_MAX;
static size_t xio_buf_cap = XIO_BUF_CAP;

static inline void xio_sizes(size_t write_max, size_t read_max, size_t buf_cap)
{
	xio_cb_write_max = write_max;
	xio_cb_read_max = read_max;
	xio_buf_cap = buf_cap;
}

static inline void xio_sizes_default(void)
{
	xio_sizes(XIO_CB_WRITE_MAX, XIO_CB_READ_MAX, XIO_BUF_CAP);
}

struct vec {
	unsigned char *p;
	size_t n, cap;
};

static inline void vec_add(struct vec *v, const void *p, size_t n)
{
	if (v->n + n > v->cap) {
		v->cap = (v->n + n) * 2;
		v->p = realloc(v->p, v->cap);
		ck_assert_ptr_nonnull(v->p);
	}
	memcpy(v->p + v->n, p, n);
	v->n += n;
}

static inline ssize_t cb_write(void *arg, const void *buf, size_t len)
{
	size_t n = len < xio_cb_write_max ? len : xio_cb_write_max;

	vec_add(arg, buf, n);
	return (ssize_t)n;
}

struct feed {
	const struct vec *v;
	size_t pos;
};

static inline ssize_t cb_read(void *arg, void *buf, size_t len)
{
	struct feed *f = arg;
	size_t n = f->v->n - f->pos;

	if (n > xio_cb_read_max)
		n = xio_cb_read_max;
	if (n > len)
		n = len;
	memcpy(buf, f->v->p + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

enum kind { K_BUF, K_FILE, K_CB, K_PIPE, K_NR };

struct sink {
	int kind;
	struct vec v;
	size_t cap;
	int fd, rfd;
	pthread_t th;
};

static inline void *xio_drain(void *arg)
{
	struct sink *s = arg;
	char buf[4096];
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

static inline int xio_tmpfd(void)
{
	char path[] = "/tmp/xfer-io.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

static inline void sink_open(struct sink *s, int kind)
{
	int p[2];

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->fd = s->rfd = -1;
	switch (kind) {
	case K_BUF:
		s->cap = xio_buf_cap;
		s->v.p = malloc(s->cap);
		s->v.cap = s->cap;
		ck_assert_ptr_nonnull(s->v.p);
		break;
	case K_FILE:
		s->fd = xio_tmpfd();
		break;
	case K_PIPE:
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		s->rfd = p[0];
		s->fd = p[1];
		ck_assert_int_eq(pthread_create(&s->th, NULL, xio_drain, s), 0);
		break;
	}
}

static inline struct vfiomig_io sink_io(struct sink *s)
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

static inline void sink_moved(struct sink *s, int64_t n)
{
	if (s->kind == K_BUF && n > 0)
		s->v.n += (size_t)n;
}

static inline void sink_close(struct sink *s)
{
	char buf[4096];
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

static inline void *xio_pump(void *arg)
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

static inline struct vfiomig_io source_open(struct source *s, int kind,
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
		s->fd = xio_tmpfd();
		ck_assert_int_eq(write(s->fd, v->p, v->n), (ssize_t)v->n);
		ck_assert_int_eq(lseek(s->fd, 0, SEEK_SET), 0);
		io.kind = VFIOMIG_IO_FD;
		io.fd = s->fd;
		break;
	case K_PIPE:
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		s->fd = p[0];
		s->wfd = p[1];
		ck_assert_int_eq(pthread_create(&s->th, NULL, xio_pump, s), 0);
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

static inline void source_close(struct source *s)
{
	if (s->kind == K_PIPE) {
		close(s->fd); /* unblocks the pump if the load stopped early */
		pthread_join(s->th, NULL);
	} else if (s->fd >= 0) {
		close(s->fd);
	}
}

#endif
