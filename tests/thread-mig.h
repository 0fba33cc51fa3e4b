/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the thread tests of kcase-threads.c share (mtty and programmable
 * devices, on both kernels): failures recorded by worker threads and
 * asserted by the main one, and one live migration as a VMM's migration
 * thread runs it, through a pipe drained by its own thread; and whether
 * two programmable devices hold the same state (kcase-session.c too).
 */
#ifndef THREAD_MIG_H
#define THREAD_MIG_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "vfiomig.h"

/* ------------------------------------------------------------------ */
/* Failures seen by worker threads                                     */

static struct {
	pthread_mutex_t m;
	int n;
	char first[512];
} bad = { .m = PTHREAD_MUTEX_INITIALIZER };

__attribute__((format(printf, 1, 2)))
static inline void worker_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&bad.m);
	if (!bad.n++) {
		va_start(ap, fmt);
		vsnprintf(bad.first, sizeof(bad.first), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&bad.m);
}

/* In a worker: record a failure and go on (false) or go on (true). */
#define CHECK(cond, ...) ((cond) ? true : (worker_fail(__VA_ARGS__), false))

static inline void assert_no_failure(void)
{
	pthread_mutex_lock(&bad.m);
	ck_assert_msg(bad.n == 0, "%d failure(s) in worker threads; first: %s",
		      bad.n, bad.first);
	pthread_mutex_unlock(&bad.m);
}

/* ------------------------------------------------------------------ */
/* A stream into a pipe, drained by its own thread                     */

struct mig_pipe {
	int rfd, wfd;
	pthread_t th;
	unsigned char *p;
	size_t n, cap;
	bool nomem;
};

static inline void *mig_pipe_drain(void *arg)
{
	struct mig_pipe *s = arg;
	unsigned char buf[65536];
	ssize_t r;

	while ((r = read(s->rfd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (s->n + (size_t)r > s->cap) {
			unsigned char *np = realloc(s->p, 2 * (s->n + (size_t)r));

			if (!np) {
				s->nomem = true;
				continue;
			}
			s->p = np;
			s->cap = 2 * (s->n + (size_t)r);
		}
		memcpy(s->p + s->n, buf, (size_t)r);
		s->n += (size_t)r;
	}
	return NULL;
}

static inline bool mig_pipe_open(struct mig_pipe *s)
{
	int p[2];

	memset(s, 0, sizeof(*s));
	if (!CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno)))
		return false;
	s->rfd = p[0];
	s->wfd = p[1];
	if (pthread_create(&s->th, NULL, mig_pipe_drain, s)) {
		worker_fail("pthread_create");
		close(s->rfd);
		close(s->wfd);
		return false;
	}
	return true;
}

/* The end of the stream: everything written is in s->p. */
static inline void mig_pipe_close(struct mig_pipe *s)
{
	close(s->wfd);
	pthread_join(s->th, NULL);
	close(s->rfd);
	CHECK(!s->nomem, "mig_pipe_drain: out of memory");
}

/* ------------------------------------------------------------------ */
/* One live migration, as a VMM's migration thread runs it             */

/*
 * src: RUNNING -> PRE_COPY, precopy rounds into a pipe (mtty: one, its
 * header; a programmable device: six), STOP_COPY, the rest, STOP;
 * dst: RESUMING, the whole stream, RUNNING.  Failures are recorded.
 */
static inline void migrate(struct vfiomig_device *src, struct vfiomig_device *dst)
{
	struct vfiomig_precopy_progress prog = { .sz = sizeof(prog) };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	struct vfiomig_io in = { .sz = sizeof(in), .kind = VFIOMIG_IO_BUF };
	const char *name = vfiomig_device_name(src);
	struct mig_pipe s;
	int64_t n;
	int r;

	if (!mig_pipe_open(&s))
		return;
	io.fd = s.wfd;
	r = vfiomig_state_set(src, VFIOMIG_STATE_PRE_COPY, NULL);
	CHECK(r == 0, "%s: -> PRE_COPY: %s", name, strerror(-r));
	do
		r = vfiomig_precopy_iterate(src, &io, NULL, &prog);
	while (r == 0 && prog.round < 6);
	CHECK(r >= 0, "%s: precopy round %u: %s", name, prog.round + 1,
	      strerror(-r));
	r = vfiomig_state_set(src, VFIOMIG_STATE_STOP_COPY, NULL);
	CHECK(r == 0, "%s: -> STOP_COPY: %s", name, strerror(-r));
	while ((n = vfiomig_save(src, &io, 0)) > 0)
		;
	CHECK(n == 0, "%s: save: %s", name, strerror((int)-n));
	r = vfiomig_state_set(src, VFIOMIG_STATE_STOP, NULL);
	CHECK(r == 0, "%s: -> STOP: %s", name, strerror(-r));
	mig_pipe_close(&s);

	r = vfiomig_state_set(dst, VFIOMIG_STATE_RESUMING, NULL);
	CHECK(r == 0, "%s: -> RESUMING: %s", vfiomig_device_name(dst),
	      strerror(-r));
	in.buf = s.p;
	in.len = s.n;
	n = vfiomig_load(dst, &in, 0);
	CHECK(n == (int64_t)s.n, "%s: load %zu bytes: %lld",
	      vfiomig_device_name(dst), s.n, (long long)n);
	r = vfiomig_load_finish(dst, VFIOMIG_STATE_RUNNING, NULL);
	CHECK(r == 0, "%s: load_finish: %s", vfiomig_device_name(dst),
	      strerror(-r));
	free(s.p);
}

/* ------------------------------------------------------------------ */
/* The state two programmable devices hold (tests/kenv.h first)        */

#ifdef KENV_H
/* The two devices (kenv_gen_add) hold the same state: what a migration
 * from one to the other must leave. */
static inline bool gen_blobs_equal(const char *a, const char *b)
{
	size_t na = kenv_gen_blob(a, NULL, 0), nb = kenv_gen_blob(b, NULL, 0);
	unsigned char *pa = malloc(na + 1), *pb = malloc(nb + 1);
	bool eq;

	ck_assert_ptr_nonnull(pa);
	ck_assert_ptr_nonnull(pb);
	kenv_gen_blob(a, pa, na);
	kenv_gen_blob(b, pb, nb);
	eq = na == nb && !memcmp(pa, pb, na);
	free(pa);
	free(pb);
	return eq;
}
#endif

#endif
