// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration on the fake kernel only: programmable (GENERIC) devices with
 * multi-megabyte state and precopy dirtying, ENOMSG drivers, the
 * capability sets mtty lacks, a device without migration, drivers that
 * fail an arc inside a combined SET or enter ERROR on demand, a stream
 * body checked by its driver.  What holds on mtty (every sink and source,
 * the syscall economy, pacing, adopted fds, injected arc failures,
 * truncated loads, transfers in flight, a fault or EINTR/EAGAIN at every
 * kernel call) is in tests/kcase-session.c and tests/kcase-mig.c, run on
 * both kernels.
 */
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

/* 7000 and 5003 bytes per callback call: partial consumption, odd
 * pieces; a buffer sink holds the largest stream. */
#define XIO_CB_WRITE_MAX 7000
#define XIO_CB_READ_MAX 5003
#define XIO_BUF_CAP (16u << 20)
#include "xfer-io.h"

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
	f = xio_tmpfd();
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
	f = xio_tmpfd();
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
	/* a data fd (no splice tried): kcase-session.c no_splice */
	free(data.p);
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

/* The stall, max-rounds and threshold counts on a device that dirties;
 * a round that cannot drain the initial data, bad calls and a device that
 * never dirties: kcase-session.c precopy_policy on mtty. */
START_TEST(precopy_policy)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol);

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
	down();
}
END_TEST

/* The ENOMSG end of precopy data (mlx5); mtty's read() 0 is
 * kcase-session.c precopy_no_dirt. */
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
/* A device without migration                                          */

/* Argument checks, directions and callbacks on mtty: kcase-session.c
 * session_bad_input.  The VM's mtty all migrate. */
START_TEST(bad_input)
{
	struct spec sp = big;
	struct vfiomig_device *nomig;
	unsigned int w0;
	uint64_t len;

	up(&sp);
	w0 = fake_mig_warnings();
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

/* mtty's STOP_COPY|P2|PRE_COPY is kcase-mig.c all_pairs (both paths). */
static const uint64_t capsets[] = {
	VFIOMIG_MIG_STOP_COPY,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY,
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

/* A driver failing an arc in the middle of one combined SET leaves the
 * device part-way (contract 4.5); the library reads the state back, pins
 * the failure to that arc and recovers from there.  Failures of the SET of
 * one arc (stepwise, or the first arc), every policy, a session surviving
 * the way back and a reset where there is none: kcase-session.c
 * arc_failure, injected on mtty. */
START_TEST(arc_failure)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int w0;

	sp.size = 8192;
	up(&sp);
	w0 = fake_mig_warnings();

	/* RUNNING -> R_P2P -> STOP -> STOP_COPY in one SET, the last arc
	 * fails inside the driver */
	for (int pol = 0; pol <= VFIOMIG_RECOVER_STAY; pol++) {
		so = (struct vfiomig_set_opts){
			.sz = sizeof(so), .flags = VFIOMIG_SET_COMBINED,
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

	/* zero-filled options: back to the state the call started in */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_COMBINED };
	fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));
	/* NULL options are the same (combined is the default) */
	fake_dev_fail_arc(src_id, ST(STOP), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), -EIO);
	ck_assert_int_eq(fake_dev_state(src_id), ST(RUNNING));

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

/* A stream whose body is corrupted (the checksum of the END record) is
 * refused at RESUMING -> STOP; mtty checks its header only.  A short
 * stream under every recovery policy: kcase-session.c truncated_load. */
START_TEST(truncated_load)
{
	struct spec sp = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = VFIOMIG_RECOVER_RESET);
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
	v.p[v.n - 1] ^= 0x5a;
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	io.buf = v.p;
	io.len = v.n;
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)v.n);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(so.failed_from, ST(RESUMING));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(fake_dev_state(dst_id), ST(RUNNING));
	ck_assert(!blobs_equal(src_id, dst_id));
	free(v.p);
	down();
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
	/* One test case per reason it stays fake-only (tests/vm/fake-only.txt
	 * counts by test case).  A programmable (GENERIC) device: megabytes
	 * of state, precopy dirtying, an ENOMSG end, a stream body its driver
	 * checks. */
	tc = tcase_create("generic");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, roundtrip, 0, 4 * K_NR * K_NR);
	tcase_add_test(tc, precopy_policy);
	tcase_add_test(tc, precopy_no_dirt);
	tcase_add_test(tc, truncated_load);
	suite_add_tcase(s, tc);

	/* Capability sets mtty lacks, a device without migration. */
	tc = tcase_create("caps");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, all_pairs, 0,
			    sizeof(capsets) / sizeof(capsets[0]));
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);

	/* Drivers failing an arc inside one SET, entering ERROR. */
	tc = tcase_create("driver");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, arc_failure);
	tcase_add_test(tc, error_state);
	suite_add_tcase(s, tc);

	/* A splice-capable file in place of the data fd (white box). */
	tc = tcase_create("splice");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, splice_path);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
