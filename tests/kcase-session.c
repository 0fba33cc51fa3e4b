// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of data sessions, moved here from tests/test-session.c:
 * a save and a load through every kind of sink and source, the data path's
 * and a precopy step's syscall economy, precopy pacing and policy on a
 * device that never dirties, adopted fds, failures pinned to an arc and
 * recovered, truncated loads under every policy, transfers in flight, and a
 * fault (or EINTR/EAGAIN) at every kernel call of a save and a load.
 * Written once against kenv.h; run on the fake (kt-fake) and on mtty in
 * the VM (kt-real), both IOMMU paths.
 *
 * mtty (contract 12): a 96-byte stream for mtty-2 (60 for mtty-1), a 24-byte
 * header in PRE_COPY, dirty_bytes always 0, read() 0 (not ENOMSG) at the
 * end of precopy data, its state kept across close.  Device content is
 * told apart by UART_SCR of each port (1-byte accesses to BAR0/BAR1 only,
 * contract 12.5), fresh values every run.
 *
 * What mtty cannot show runs on programmable devices (kenv_gen_add: the
 * test driver mtest in the VM, the fake's GENERIC personality): megabytes
 * of state through every sink and source with precopy dirtying, the
 * stall/max-rounds/threshold counts, an ENOMSG end of precopy data, a
 * stream body its driver checks, the capability sets mtty lacks, a device
 * without migration, a driver failing an arc inside one combined SET or
 * entering ERROR on its own.  A splice-capable file in place of the data
 * fd (white box) stays in test-session.c.
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
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "kenv.h"
#include "mig-oracle.h"
/* white box: data_path_economy checks the session's one transfer buffer */
#include "../lib/internal.h"

#define ST(x) VFIOMIG_STATE_##x
#define MTTY2_SIZE 96
#define MTTY1_SIZE 60
#define MTTY_HDR 24

static const int paths[] = { VFIOMIG_IOMMU_TYPE1, VFIOMIG_IOMMU_IOMMUFD };

/* Sinks and sources of every kind.  Callbacks take and give a few bytes a
 * call: partial consumption on a 96-byte stream (the programmable
 * devices' cases set bigger sizes, gen_setup). */
#define XIO_CB_WRITE_MAX 7
#define XIO_CB_READ_MAX 5
#define XIO_BUF_CAP 4096
#include "xfer-io.h"
#include "thread-mig.h"

static struct vfiomig_device *src, *dst;
static uint8_t scr[2];

/* A load that stops early leaves a pump writing into a closed pipe. */
static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	xio_sizes_default();
	kenv_setup();
}

static void need_path(int path)
{
	if (path == VFIOMIG_IOMMU_IOMMUFD && !kenv_has_iommufd())
		kenv_skip("no cdev/iommufd path on this kernel");
}

/* The state the kernel holds, asked behind the library's back. */
static int raw_state(struct vfiomig_device *dev)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) +
		      sizeof(struct vfio_device_feature_mig_state) + 7) / 8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	struct vfio_device_feature_mig_state *ms =
		(struct vfio_device_feature_mig_state *)f->data;

	f->argsz = sizeof(buf);
	f->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	ck_assert_int_eq(ioctl(vfiomig_device_fd(dev), VFIO_DEVICE_FEATURE, f), 0);
	return (int)ms->device_state;
}

/* A SET behind the library's back: no session state, so no data fd. */
static void raw_set(struct vfiomig_device *dev, int state)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) +
		      sizeof(struct vfio_device_feature_mig_state) + 7) / 8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	struct vfio_device_feature_mig_state *ms =
		(struct vfio_device_feature_mig_state *)f->data;

	f->argsz = sizeof(buf);
	f->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	ms->device_state = (uint32_t)state;
	ck_assert_int_eq(ioctl(vfiomig_device_fd(dev), VFIO_DEVICE_FEATURE, f), 0);
	ck_assert_int_eq(ms->data_fd, -1);
}

/* src: mtty-2 on spath, dst: another mtty-2 on dpath, their ports apart. */
static void up(int spath, int dpath)
{
	need_path(spath);
	need_path(dpath);
	src = kenv_open_running(KENV_MTTY2_UUID, spath);
	dst = kenv_open_running(KENV_MTTY2B_UUID, dpath);
	for (int b = 0; b < 2; b++) {
		scr[b] = kenv_fresh(b);
		kenv_mtty_set_scr(src, b, scr[b]);
		kenv_mtty_set_scr(dst, b, (uint8_t)~scr[b]);
	}
}

static void down(void)
{
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	src = dst = NULL;
}

/* dst holds src's ports (the fake's blobs_equal). */
static bool ports_loaded(void)
{
	return kenv_mtty_scr(dst, 0) == scr[0] && kenv_mtty_scr(dst, 1) == scr[1];
}

/* dst still holds its own ports: nothing of src's reached it. */
static bool ports_own(void)
{
	uint8_t own0 = (uint8_t)~scr[0], own1 = (uint8_t)~scr[1];

	return kenv_mtty_scr(dst, 0) == own0 && kenv_mtty_scr(dst, 1) == own1;
}

static bool saving(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) || s == ST(STOP_COPY);
}

/* ------------------------------------------------------------------ */
/* A full migration                                                     */

/* RUNNING -> PRE_COPY rounds -> STOP_COPY -> STOP into the sink; a
 * programmable device to dirty (NULL: none) runs on after the first round. */
static void save_all(struct sink *sk, unsigned int xflags, unsigned int *rounds,
		     const char *dirty)
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
		if (i == 0 && dirty)
			kenv_gen_dirty_precopy(dirty, 300u << 10);
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

static void load_all(struct vfiomig_device *to, const struct vec *v, int kind,
		     unsigned int xflags)
{
	struct source so;
	struct vfiomig_io io;
	VFIOMIG_OPTS(vfiomig_set_opts, so_);

	ck_assert_int_eq(vfiomig_state_set(to, ST(RESUMING), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(to), 0);
	io = source_open(&so, kind, v);
	ck_assert_int_eq(vfiomig_load(to, &io, xflags), (int64_t)v->n);
	source_close(&so);
	ck_assert_int_eq(vfiomig_load_finish(to, ST(RUNNING), &so_), 0);
	ck_assert_int_eq(so_.state, ST(RUNNING));
	ck_assert_int_eq(so_.failed_from, -1);
	ck_assert_int_eq(vfiomig_data_fd(to), -ENOENT);
	ck_assert_int_eq(raw_state(to), ST(RUNNING));
}

/* Every sink kind x every source kind x NO_SPLICE, the two devices on
 * both IOMMU paths. */
START_TEST(roundtrip)
{
	int save_kind = _i % K_NR, load_kind = (_i / K_NR) % K_NR;
	unsigned int xflags = (_i / (K_NR * K_NR)) % 2 ? VFIOMIG_XFER_NO_SPLICE : 0;
	unsigned int rounds, complaints = kenv_kernel_complaints();
	struct sink sk;

	up(paths[_i % 2], paths[(_i / 2) % 2]);
	ck_assert(ports_own());
	sink_open(&sk, save_kind);
	save_all(&sk, xflags, &rounds, NULL);
	/* mtty never dirties: the round that drains the header ends it */
	ck_assert_uint_eq(rounds, 1);
	ck_assert_uint_eq(sk.v.n, MTTY2_SIZE);
	load_all(dst, &sk.v, load_kind, xflags);
	ck_assert(ports_loaded());
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Buffers and sizes                                                    */

/* A buffer smaller than the stream: each save fills what it can; the
 * stream is MIG_DATA_SIZE long.  mtty-1 (loaded back into itself) and
 * mtty-2, both paths. */
START_TEST(buf_partial_and_size)
{
	bool two = _i % 2;
	int path = paths[_i / 2];
	size_t size = two ? MTTY2_SIZE : MTTY1_SIZE;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct vfiomig_device *from, *to;
	uint8_t v0 = kenv_fresh(_i), buf[17];
	struct vec all = { 0 };
	uint64_t len = 0;
	int64_t n;

	need_path(path);
	from = kenv_open_running(two ? KENV_MTTY2_UUID : KENV_MTTY1_UUID, path);
	to = two ? kenv_open_running(KENV_MTTY2B_UUID, path) : from;
	kenv_mtty_set_scr(from, 0, v0);
	ck_assert_int_eq(vfiomig_data_size(from, &len), 0);
	ck_assert_uint_eq(len, size);
	ck_assert_int_eq(vfiomig_data_size(from, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_data_size(NULL, &len), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(from, ST(STOP_COPY), NULL), 0);
	io.buf = buf;
	io.len = sizeof(buf);
	while ((n = vfiomig_save(from, &io, 0)) > 0) {
		ck_assert_int_le(n, sizeof(buf));
		vec_add(&all, buf, (size_t)n);
	}
	ck_assert_int_eq(n, 0);
	/* MIG_DATA_SIZE is the exact stream length from STOP */
	ck_assert_uint_eq(all.n, len);
	ck_assert_int_eq(vfiomig_state_set(from, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(from, ST(RUNNING), NULL), 0);
	kenv_mtty_set_scr(to, 0, (uint8_t)~v0);
	load_all(to, &all, K_BUF, 0);
	ck_assert_uint_eq(kenv_mtty_scr(to, 0), v0);
	free(all.p);
	if (to != from)
		vfiomig_device_free(to);
	vfiomig_device_free(from);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The data path's economy: a save or a load is its reads and writes.   */

#define PIECE 10u

/* Save the STOP_COPY stream in pieces of PIECE bytes into a sink of one
 * kind: every call is one read() of the data fd and nothing else of the
 * kernel's; IO_BUF no ioctl at all, fd and callback transfers one
 * MIG_DATA_SIZE for the whole session (the buffer, set up once and kept). */
static void save_pieces(struct sink *sk, int kind)
{
	struct kenv_mig_ioctls a, b;
	struct vfiomig_io io;
	unsigned int calls, ioctls0, ioctls1;
	void *buf0 = NULL;
	int64_t n;

	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	sink_open(sk, kind);
	kenv_mig_ioctls(&a);
	ioctls0 = kenv_ioctls();
	for (unsigned int i = 0; i < 8; i++) {
		io = sink_io(sk);
		if (kind == K_BUF)
			io.len = PIECE;
		else
			io.limit = PIECE;
		calls = kenv_calls();
		n = vfiomig_save(src, &io, i % 2 ? VFIOMIG_XFER_NO_SPLICE : 0);
		ck_assert_int_eq(n, PIECE);
		sink_moved(sk, n);
		/* + MIG_DATA_SIZE for the first fd/callback transfer */
		ck_assert_uint_eq(kenv_calls(),
				  calls + 1 + (i == 0 && kind != K_BUF));
		if (kind == K_BUF)
			ck_assert_ptr_null(src->session.buf);
		else if (i == 0)
			buf0 = src->session.buf;
		else
			ck_assert_ptr_eq(src->session.buf, buf0);
	}
	kenv_mig_ioctls(&b);
	ioctls1 = kenv_ioctls();
	ck_assert_uint_eq(ioctls1 - ioctls0, kind == K_BUF ? 0 : 1);
	ck_assert_uint_eq(b.data_sizes - a.data_sizes, kind == K_BUF ? 0 : 1);
	/* the rest, then the end */
	io = sink_io(sk);
	ck_assert_int_gt(n = vfiomig_save(src, &io, 0), 0);
	sink_moved(sk, n);
	io = sink_io(sk);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	ck_assert_uint_eq(kenv_ioctls(), ioctls1);
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
	struct vfiomig_io io;
	struct source so;
	void *buf0 = NULL;
	size_t off = 0;

	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	ioctls = kenv_ioctls();
	io = source_open(&so, kind, v);
	for (unsigned int i = 0; i < 8; i++, off += PIECE) {
		if (kind == K_BUF) {
			io.buf = v->p + off;
			io.len = PIECE;
		} else {
			io.limit = PIECE;
		}
		calls = kenv_calls();
		ck_assert_int_eq(vfiomig_load(dst, &io, i % 2 ? VFIOMIG_XFER_NO_SPLICE : 0),
				 PIECE);
		if (kind == K_BUF || kind == K_FILE)
			ck_assert_uint_eq(kenv_calls(), calls + 1);
		else if (kind == K_CB)
			ck_assert_uint_eq(kenv_calls(),
					  calls + (PIECE + XIO_CB_READ_MAX - 1) / XIO_CB_READ_MAX);
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
	ck_assert_uint_eq(kenv_ioctls(), ioctls);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), 0);
}

START_TEST(data_path_economy)
{
	struct sink sk;

	up(paths[_i / K_NR], paths[_i / K_NR]);
	save_pieces(&sk, _i % K_NR);
	ck_assert_uint_eq(sk.v.n, MTTY2_SIZE);
	load_pieces(&sk.v, _i % K_NR);
	ck_assert(ports_loaded());
	free(sk.v.p);
	down();
}
END_TEST

/* A paced step is its reads and one PRECOPY_INFO, every step alike (the
 * buffer's MIG_DATA_SIZE once per session, the state known).  Six steps of
 * 4 bytes are mtty's 24-byte precopy header. */
START_TEST(precopy_step_economy)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct kenv_mig_ioctls a, b;
	struct vfiomig_io io;
	struct sink sk;
	int kind = _i % K_NR;

	up(paths[_i / K_NR], paths[_i / K_NR]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	sink_open(&sk, kind);
	for (unsigned int i = 0; i < MTTY_HDR / 4; i++) {
		unsigned int calls = kenv_calls(), ioctls = kenv_ioctls();
		int64_t n;

		kenv_mig_ioctls(&a);
		io = sink_io(&sk);
		n = vfiomig_precopy_step(src, &io, 4, &prog);
		ck_assert_int_eq(n, 4);
		sink_moved(&sk, n);
		kenv_mig_ioctls(&b);
		ck_assert_uint_eq(b.precopy_infos - a.precopy_infos, 1);
		ck_assert_uint_eq(b.state_gets, a.state_gets);
		ck_assert_uint_eq(b.data_sizes - a.data_sizes,
				  i == 0 && kind != K_BUF ? 1 : 0);
		ck_assert_uint_eq(kenv_ioctls() - ioctls,
				  1 + (b.data_sizes - a.data_sizes));
		/* one read (the budget is within what is queued) + the ioctls */
		ck_assert_uint_eq(kenv_calls(), calls + 1 + (kenv_ioctls() - ioctls));
	}
	ck_assert_uint_eq(prog.initial_bytes, 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	sink_close(&sk);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Precopy on a device that never dirties                               */

/* Precopy rounds until the policy ends them (0: not within 40), back to
 * RUNNING; a device that never dirties reports nothing dirty. */
static unsigned int rounds_until(const struct vfiomig_precopy_policy *pol,
				 bool never_dirty)
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
	if (never_dirty)
		ck_assert_uint_eq(prog.dirty_bytes, 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	free(sk.v.p);
	return r == 1 ? prog.round : 0;
}

/* The rounds precopy takes (rounds_until) under no policy, then
 * stall_rounds 1, stall_rounds 0 (the default 3), max_rounds 2,
 * dirty_threshold 1 MiB, stall_rounds 1000 with max_rounds 7: want[0..5]. */
static void policy_rounds(bool never_dirty, const unsigned int want[6])
{
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol);

	ck_assert_uint_eq(rounds_until(NULL, never_dirty), want[0]);
	pol.stall_rounds = 1;
	ck_assert_uint_eq(rounds_until(&pol, never_dirty), want[1]);
	pol.stall_rounds = 0;                           /* 0 = default 3 */
	ck_assert_uint_eq(rounds_until(&pol, never_dirty), want[2]);
	pol.max_rounds = 2;
	ck_assert_uint_eq(rounds_until(&pol, never_dirty), want[3]);
	pol.max_rounds = 0;
	pol.dirty_threshold = 1u << 20;
	ck_assert_uint_eq(rounds_until(&pol, never_dirty), want[4]);
	pol.dirty_threshold = 0;
	pol.stall_rounds = 1000;
	pol.max_rounds = 7;
	ck_assert_uint_eq(rounds_until(&pol, never_dirty), want[5]);
}

/* Whatever the policy, precopy ends with the round that drained the
 * initial data when nothing is dirty (mtty: dirty_bytes always 0); the
 * stall, max-rounds and threshold counts need a dirtying device
 * (gen_precopy_policy). */
START_TEST(precopy_policy)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char small[4];

	up(paths[_i], paths[_i]);
	policy_rounds(true, (const unsigned int[6]){ 1, 1, 1, 1, 1, 1 });

	/* A round that cannot drain the initial data never switches early. */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	io.buf = small;
	io.len = sizeof(small);
	for (int i = 1; i <= 5; i++) {
		ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), 0);
		ck_assert_uint_eq(prog.round, (unsigned int)i);
		ck_assert_uint_eq(prog.round_bytes, sizeof(small));
		ck_assert_uint_eq(prog.initial_bytes, MTTY_HDR - i * sizeof(small));
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

/* Nothing dirty: one round; the end of precopy data (mtty: read() 0; the
 * ENOMSG of a programmable device is gen_precopy_enomsg) is "nothing
 * now", not an error, and the session lives on. */
/* src, just up, through one precopy round with nothing dirty: no
 * PRECOPY_INFO before PRE_COPY; in it, initial bytes only (want: exactly,
 * or more than, at_least), moved in one round, and the end of the data
 * ("nothing now") leaves the session on; back to RUNNING, down. */
static void one_clean_round(uint64_t want, bool at_least)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_precopy_info pi;
	struct sink sk;
	struct vfiomig_io io;

	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), -ENODEV);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	if (at_least)
		ck_assert_uint_gt(pi.initial_bytes, want);
	else
		ck_assert_uint_eq(pi.initial_bytes, want);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	sink_open(&sk, K_CB);
	io = sink_io(&sk);
	ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), 1);
	ck_assert_uint_eq(prog.round_bytes, pi.initial_bytes);
	ck_assert_uint_eq(prog.dirty_bytes, 0);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	free(sk.v.p);
	down();
}

START_TEST(precopy_no_dirt)
{
	up(paths[_i], paths[_i]);
	one_clean_round(MTTY_HDR, false);
}
END_TEST

/* A paced step moves at most its budget, and the buffer, MIG_DATA_SIZE
 * included, is set up once per session. */
START_TEST(precopy_paced)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct sink sk;
	struct vfiomig_io io;
	unsigned int calls;
	int64_t n;

	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	sink_open(&sk, K_FILE);
	io = sink_io(&sk);
	n = vfiomig_precopy_step(src, &io, 4, &prog);
	ck_assert_int_eq(n, 4);
	sink_moved(&sk, n);
	ck_assert_uint_eq(prog.round, 1);
	ck_assert_uint_eq(prog.round_bytes, 4);
	ck_assert_uint_eq(prog.initial_bytes, MTTY_HDR - 4);
	ck_assert(!prog.initial_drained);
	ck_assert_uint_eq(prog.reinits, 0);
	/* The second step: a read, PRECOPY_INFO, nothing else. */
	calls = kenv_calls();
	io = sink_io(&sk);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 1, &prog), 1);
	sink_moved(&sk, 1);
	ck_assert_uint_eq(kenv_calls(), calls + 2);
	/* The caller's own io limit is the tighter one: it wins. */
	io = sink_io(&sk);
	io.limit = 2;
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 5, &prog), 2);
	sink_moved(&sk, 2);
	/* No budget: all there is now; then the initial data is drained. */
	io = sink_io(&sk);
	n = vfiomig_precopy_step(src, &io, 0, &prog);
	ck_assert_int_eq(n, MTTY_HDR - 4 - 1 - 2);
	sink_moved(&sk, n);
	ck_assert_uint_eq(prog.initial_bytes, 0);
	ck_assert(prog.initial_drained);
	ck_assert_uint_eq(prog.total_bytes, 4 + 1 + 2 + (uint64_t)n);
	/* Bad calls change nothing. */
	ck_assert_int_eq(vfiomig_precopy_step(NULL, &io, 0, &prog), -EINVAL);
	ck_assert_int_eq(vfiomig_precopy_step(src, NULL, 0, &prog), -EINVAL);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 0, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_step(src, &io, 0, &prog), -EINVAL);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	sink_close(&sk);
	ck_assert_uint_eq(sk.v.n, MTTY_HDR);
	free(sk.v.p);
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
	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_eq(pi.initial_bytes, MTTY_HDR);
	ck_assert_uint_eq(pi.flags, 0); /* no PRECOPY_INFOv2 on mtty */
	ck_assert_int_eq(info01(src, buf), 0);
	ck_assert_uint_eq(buf[0], pi.initial_bytes);
	ck_assert_uint_eq(buf[2], 0xdeadbeef);
	ck_assert_int_eq(info01(src, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Adopted fds                                                          */

/* An adopted fd's state is read once, unless the caller vouches for it. */
START_TEST(adopt_vouched)
{
	struct vfiomig_device *a = NULL;
	VFIOMIG_OPTS(vfiomig_adopt_opts, o, .flags = VFIOMIG_ADOPT_STATE_KNOWN,
		     .state = ST(RUNNING));
	unsigned int calls;

	up(paths[_i], paths[_i]);
	/* A state that is none, or ERROR, is refused. */
	o.state = ST(ERROR);
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), vfiomig_device_fd(src),
					      &o, &a), -EINVAL);
	o.state = VFIOMIG_STATE_NR;
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), vfiomig_device_fd(src),
					      &o, &a), -EINVAL);
	o.state = ST(RUNNING);
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), vfiomig_device_fd(src),
					      &o, &a), 0);
	ck_assert_int_eq(vfiomig_state_set(a, ST(STOP), NULL), 0); /* MIGRATION */
	calls = kenv_calls();
	/* Remembered: one SET per change, no GET before it. */
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING_P2P), NULL), 0);
	ck_assert_uint_eq(kenv_calls(), calls + 1);
	/* vfiomig_state_get() always asks the kernel. */
	ck_assert_int_eq(vfiomig_state_get(a), ST(RUNNING_P2P));
	ck_assert_uint_eq(kenv_calls(), calls + 2);
	ck_assert_int_eq(raw_state(src), ST(RUNNING_P2P));
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING), NULL), 0);
	vfiomig_device_free(a);
	/* Not vouched for: the first change reads the state first. */
	o.flags = 0;
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), vfiomig_device_fd(src),
					      &o, &a), 0);
	ck_assert_int_eq(vfiomig_state_set(a, ST(STOP), NULL), 0);
	calls = kenv_calls();
	ck_assert_int_eq(vfiomig_state_set(a, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_calls(), calls + 1);
	vfiomig_device_free(a);
	/* the adopted handles did not own the fd: src's still works */
	ck_assert_int_eq(vfiomig_state_get(src), ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failures: pinned to the arc, read back, recovered                    */

/*
 * On mtty an arc fails by the SET of it failing before the kernel sees it
 * (kenv_fail_nth_call): mtty stores its state after each arc, so the
 * device is where the last SET left it, as with a driver refusing the arc.
 * Stepwise, from a remembered state, a change's ioctls are its SETs, one
 * per arc: failing the nth ioctl fails the nth arc; kenv_sets shows that
 * only the arcs before it reached the kernel.  A driver failing an arc in
 * the middle of one combined SET is gen_arc_failure.
 */
static void fail_arc(unsigned int nth, int err)
{
	kenv_sets_clear();
	kenv_fail_nth_call("ioctl", nth, err);
}

/* The first SETs that reached the kernel since fail_arc were path[0..n),
 * and the refused one, for state refused, never did: recovery's SETs (if
 * any) come next. */
static void sets_were(const int *path, int n, int refused)
{
	struct kenv_set s[16];
	size_t got = kenv_sets(s, 16);

	kenv_fail_nth(0, 0);
	ck_assert_uint_ge(got, (size_t)n);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(s[i].state, path[i]);
		ck_assert_int_eq(s[i].err, 0);
	}
	if (got > (size_t)n)
		ck_assert_int_ne(s[n].state, refused);
}

/* src's SET to STOP_COPY failed on its STOP -> STOP_COPY arc under
 * recovery policy pol (recovery_state RUNNING_P2P): the failed arc named,
 * no data fd, so->state the one pol leaves it in. */
static void failed_to_stop_copy(const struct vfiomig_set_opts *so, int pol)
{
	ck_assert_int_eq(so->failed_from, ST(STOP));
	ck_assert_int_eq(so->failed_to, ST(STOP_COPY));
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	switch (pol) {
	case VFIOMIG_RECOVER_STAY:
		ck_assert_int_eq(so->state, ST(STOP));
		break;
	case VFIOMIG_RECOVER_DEFAULT: /* recovery_state is set */
	case VFIOMIG_RECOVER_STATE:
		ck_assert_int_eq(so->state, ST(RUNNING_P2P));
		break;
	case VFIOMIG_RECOVER_RESET:
		ck_assert_int_eq(so->state, ST(RUNNING));
		break;
	}
}

START_TEST(arc_failure)
{
	static const int to_sc[] = { ST(RUNNING_P2P), ST(STOP), ST(STOP_COPY) };
	static const int pc_res[] = { ST(RUNNING), ST(RUNNING_P2P), ST(STOP),
				      ST(RESUMING) };
	static const int pc_sc[] = { ST(PRE_COPY_P2P), ST(STOP_COPY) };
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int complaints = kenv_kernel_complaints();
	struct kenv_mig_ioctls a, b;
	int fd;

	up(paths[_i], paths[_i]);
	/* the capabilities known and the state remembered */
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);

	/* RUNNING -> R_P2P -> STOP -> STOP_COPY stepwise, the last arc fails */
	for (int pol = 0; pol <= VFIOMIG_RECOVER_STAY; pol++) {
		so = (struct vfiomig_set_opts){
			.sz = sizeof(so), .flags = VFIOMIG_SET_STEPWISE,
			.recovery = pol, .recovery_state = ST(RUNNING_P2P),
		};
		fail_arc(3, EIO);
		ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
		sets_were(to_sc, 2, ST(STOP_COPY));
		failed_to_stop_copy(&so, pol);
		ck_assert_int_eq(raw_state(src), so.state);
		ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	}

	/* zero-filled options: back to the state the call started in */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_STEPWISE };
	fail_arc(3, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	sets_were(to_sc, 2, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_from, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(raw_state(src), ST(RUNNING));
	/* one combined SET failing before mtty saw it: the device never
	 * left RUNNING, the first arc is the failed one */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	fail_arc(1, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	sets_were(to_sc, 0, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_from, ST(RUNNING));
	ck_assert_int_eq(so.failed_to, ST(RUNNING_P2P));
	ck_assert_int_eq(so.state, ST(RUNNING));
	/* NULL options are the same */
	fail_arc(1, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), -EIO);
	sets_were(to_sc, 0, ST(STOP_COPY));
	ck_assert_int_eq(raw_state(src), ST(RUNNING));

	/* ... and from PRE_COPY the session survives the way back */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(src);
	ck_assert_int_ge(fd, 0);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_STEPWISE };
	fail_arc(2, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	sets_were(pc_sc, 1, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_from, ST(PRE_COPY_P2P));
	ck_assert_int_eq(so.state, ST(PRE_COPY));
	ck_assert_int_eq(raw_state(src), ST(PRE_COPY));
	ck_assert_int_eq(vfiomig_data_fd(src), fd);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);

	/* no way back (STOP_COPY -> PRE_COPY is not an arc): a reset */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery_state = ST(PRE_COPY) };
	kenv_mig_ioctls(&a);
	fail_arc(1, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), &so), -EIO);
	sets_were(to_sc, 0, ST(RESUMING));
	kenv_mig_ioctls(&b);
	ck_assert_uint_eq(b.resets - a.resets, 1);
	ck_assert_int_eq(so.failed_from, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(raw_state(src), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	/* RECOVER_STATE to ERROR means a reset (QEMU's habit) */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_STATE };
	kenv_mig_ioctls(&a);
	fail_arc(1, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	sets_were(to_sc, 0, ST(STOP_COPY));
	kenv_mig_ioctls(&b);
	ck_assert_uint_eq(b.resets - a.resets, 1);
	ck_assert_int_eq(so.failed_from, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(raw_state(src), ST(RUNNING));

	/* the first arc of a path */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	fail_arc(1, EBUSY);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EBUSY);
	sets_were(to_sc, 0, ST(STOP));
	ck_assert_int_eq(so.failed_from, ST(RUNNING));
	ck_assert_int_eq(so.failed_to, ST(RUNNING_P2P));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(raw_state(src), ST(RUNNING));

	/* leaving PRE_COPY fails in the middle: the session is gone with
	 * PRE_COPY -> RUNNING, the device stops at RUNNING_P2P */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_STEPWISE,
					.recovery = VFIOMIG_RECOVER_STAY };
	fail_arc(3, EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), &so), -EIO);
	sets_were(pc_res, 2, ST(STOP));
	ck_assert_int_eq(so.failed_from, ST(RUNNING_P2P));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING_P2P));
	ck_assert_int_eq(raw_state(src), ST(RUNNING_P2P));
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);

	/* success reports no failed arc */
	so.flags = 0;
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), &so), 0);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	down();
}
END_TEST

/* Save the whole STOP_COPY stream of src from RUNNING, back in STOP. */
static void save_stream(struct vec *v)
{
	struct sink sk;
	struct vfiomig_io io;

	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	sink_open(&sk, K_CB);
	io = sink_io(&sk);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	*v = sk.v;
}

/* A short stream, refused at RESUMING -> STOP (mtty: EINVAL, still
 * RESUMING, contract 5.4), under every recovery policy. */
START_TEST(truncated_load)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	unsigned int complaints = kenv_kernel_complaints();
	struct vec v;

	up(paths[_i], paths[_i]);
	save_stream(&v);

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
			ck_assert_int_eq(raw_state(dst), ST(RESUMING));
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
		ck_assert_int_eq(raw_state(dst), so.state);
		ck_assert(ports_own());
		ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), NULL), 0);
	}
	/* the whole stream still loads */
	load_all(dst, &v, K_BUF, 0);
	ck_assert(ports_loaded());
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
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
	struct inflight f = { 0 };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_CB,
				 .write_fn = cb_inflight, .arg = &f };

	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), MTTY_HDR);
	ck_assert_int_eq(f.calls, 1);
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
	ck_assert_int_eq(raw_state(dst), ST(STOP));
	/* nothing of it stuck: the session and the device go on */
	ck_assert_int_eq(raw_state(src), ST(PRE_COPY));
	ck_assert_int_eq(vfiomig_data_fd(src), f.fd_before);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* A reset ends the session, through the library or behind its back
 * (mtty disables the file: ENODEV, contract 7); the PRE_COPY side of
 * kcase-mig.c reset_ends_session. */
START_TEST(reset_kills_session)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char buf[16];
	int fd;

	up(paths[_i], paths[_i]);
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
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ioctl(vfiomig_device_fd(src), VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), fd);
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);
	ck_assert_int_eq(vfiomig_state_get(src), ST(RUNNING));
	down();
}
END_TEST

/* Someone moved the device behind the library's back (a raw SET from
 * PRE_COPY to STOP, which ends mtty's saving file): the next change
 * closes the old fd and keeps the new one, no fd lost or leaked. */
START_TEST(protocol_error)
{
	int fd, fds;

	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(src);
	ck_assert_int_ge(fd, 0);
	fds = kenv_kernel_fds();
	raw_set(src, ST(STOP));
	ck_assert_int_eq(vfiomig_state_set(src, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(raw_state(src), ST(RESUMING));
	/* the old fd was closed, the new one kept */
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	ck_assert_int_eq(kenv_kernel_fds(), fds);
	ck_assert_int_eq(vfiomig_device_reset(src), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input                                                            */

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

/* Refused before any kernel call; a session's direction; a callback that
 * fails or takes nothing ends the session.  (A device without migration:
 * gen_no_migration; the VM's mtty all migrate.) */
START_TEST(session_bad_input)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = 7);
	unsigned int calls, complaints = kenv_kernel_complaints();
	char buf[64];

	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(NULL, ST(STOP), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_data_fd(NULL), -EINVAL);
	vfiomig_data_close(NULL);
	/* warm the capability cache, then: no kernel call at all */
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	calls = kenv_calls();
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
	ck_assert_uint_eq(kenv_calls(), calls);
	ck_assert_int_eq(raw_state(src), ST(RUNNING));

	/* load_finish only leaves RESUMING, only for STOP or RUNNING */
	ck_assert_int_eq(vfiomig_load_finish(src, ST(STOP_COPY), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_load_finish(src, ST(STOP), NULL), -EINVAL);
	ck_assert_int_eq(raw_state(src), ST(RUNNING));

	/* STOP_COPY -> PRE_COPY: no ioctl at all (the state is remembered) */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	calls = kenv_calls();
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY_P2P), &so), -EINVAL);
	ck_assert_uint_eq(kenv_calls(), calls);
	ck_assert_int_eq(so.state, ST(STOP_COPY));
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(raw_state(src), ST(STOP_COPY));
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
	ck_assert_int_eq(raw_state(src), ST(RESUMING));
	ck_assert_int_eq(vfiomig_device_reset(src), 0);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	down();
}
END_TEST

/* No splice() on a data fd (no 6.12 driver's has splice ops, contract
 * 17): a save into a pipe is MIG_DATA_SIZE and its reads, a load from a
 * pipe its writes; a splice armed to fail proves none is tried (the
 * library no longer logs a fallback to count). */
START_TEST(no_splice)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	struct source so;
	struct sink sk;
	unsigned int calls;

	up(paths[_i], paths[_i]);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	kenv_fail_nth_call("splice", 1, EIO);
	sink_open(&sk, K_PIPE);
	io.fd = sk.fd;
	calls = kenv_calls();
	ck_assert_int_eq(vfiomig_save(src, &io, 0), MTTY2_SIZE);
	/* MIG_DATA_SIZE, the read of 96 bytes, the read of the end */
	ck_assert_uint_eq(kenv_calls(), calls + 3);
	sink_close(&sk);
	ck_assert_uint_eq(sk.v.n, MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);

	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	io = source_open(&so, K_PIPE, &sk.v);
	calls = kenv_calls();
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), MTTY2_SIZE);
	source_close(&so);
	/* the pipe's reads are not the kernel's: one write of the data fd
	 * per piece the pipe gave */
	ck_assert_uint_ge(kenv_calls(), calls + 1);
	ck_assert_uint_le(kenv_calls(), calls + MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), 0);
	ck_assert(ports_loaded());
	kenv_fail_nth(0, 0);
	free(sk.v.p);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Fault injection on every kernel call of a save and a load            */

/* The state a failed change reported (so.state), -1 if none failed. */
static int reported_src, reported_dst;

static int set(struct vfiomig_device *dev, int to)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	int ret = vfiomig_state_set(dev, to, &so);

	if (ret)
		*(dev == src ? &reported_src : &reported_dst) = so.state;
	return ret;
}

/* The whole flow; returns 0 when every step succeeded. */
static int flow(int kind, struct vec *out)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	struct vfiomig_io io;
	struct sink sk;
	struct source so_;
	int r = 0, ret = -1;
	int64_t n;

	reported_src = reported_dst = -1;
	sink_open(&sk, kind);
	if (set(src, ST(PRE_COPY)))
		goto out;
	while (r == 0 && prog.round < 10) {
		io = sink_io(&sk);
		r = vfiomig_precopy_iterate(src, &io, NULL, &prog);
		if (r < 0)
			goto out;
		sink_moved(&sk, (int64_t)prog.round_bytes);
	}
	if (set(src, ST(STOP_COPY)))
		goto out;
	do {
		io = sink_io(&sk);
		n = vfiomig_save(src, &io, 0);
		if (n < 0)
			goto out;
		sink_moved(&sk, n);
	} while (n > 0);
	if (set(src, ST(STOP)))
		goto out;
	sink_close(&sk);
	if (set(dst, ST(RESUMING)))
		goto out;
	io = source_open(&so_, kind, &sk.v);
	n = vfiomig_load(dst, &io, 0);
	source_close(&so_);
	if (n != (int64_t)sk.v.n)
		goto out;
	if (vfiomig_load_finish(dst, ST(RUNNING), &so)) {
		reported_dst = so.state;
		goto out;
	}
	ret = 0;
out:
	sink_close(&sk);
	if (out)
		*out = sk.v;
	else
		free(sk.v.p);
	return ret;
}

/* After a failed flow: what the library reports is what the kernel holds,
 * a session only where the state has one, both handles still usable. */
static void check_after(struct vfiomig_device *dev, int reported)
{
	int s = raw_state(dev);

	if (reported >= 0)
		ck_assert_int_eq(reported, s);
	ck_assert_int_eq(vfiomig_state_get(dev), s);
	/* src only saves, dst only resumes */
	if (vfiomig_data_fd(dev) >= 0)
		ck_assert(dev == src ? saving(s) : s == ST(RESUMING));
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(raw_state(dev), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
}

START_TEST(fault_each_call)
{
	int kind = _i % K_NR, path = paths[_i / K_NR];
	unsigned int c0, calls, failed = 0;
	unsigned int complaints = kenv_kernel_complaints();
	int fds;

	up(path, path);
	c0 = kenv_calls();
	ck_assert_int_eq(flow(kind, NULL), 0);
	calls = kenv_calls() - c0;
	ck_assert(ports_loaded());
	down();
	fds = kenv_kernel_fds();
	ck_assert_uint_gt(calls, 10);

	for (unsigned int nth = 1; nth <= calls + 1; nth++) {
		up(path, path);
		kenv_fail_nth(nth, EIO);
		if (flow(kind, NULL))
			failed++;
		kenv_fail_nth(0, 0);
		check_after(src, reported_src);
		check_after(dst, reported_dst);
		down();
		/* every kernel fd the flow had is closed with the handles */
		ck_assert_int_eq(kenv_kernel_fds(), fds);
		ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	}
	/* most calls are fault points (a failed MIG_DATA_SIZE only costs
	 * the buffer its size hint) */
	ck_assert_uint_ge(failed, calls / 2);
}
END_TEST

/* EINTR and EAGAIN on any read/write of a data fd are retried (EAGAIN
 * after a poll): the flow succeeds and carries the ports.  The sweep ends
 * at the first nth past the flow's reads or writes. */
START_TEST(retry_each_call)
{
	static const char *const calls_[] = { "read", "write" };
	static const int errs[] = { EINTR, EAGAIN };
	const char *call = calls_[_i % 2];
	int e = errs[(_i / 2) % 2], path = paths[_i / 4];
	unsigned int base, extra, hit = 0;

	up(path, path);
	base = kenv_calls();
	ck_assert_int_eq(flow(K_CB, NULL), 0);
	base = kenv_calls() - base;
	down();
	for (unsigned int nth = 1; nth <= 40; nth++) {
		struct vec v = { 0 };
		unsigned int c0;

		up(path, path);
		c0 = kenv_calls();
		kenv_fail_nth_call(call, nth, e);
		ck_assert_msg(flow(K_CB, &v) == 0, "%s #%u: %s", call, nth,
			      strerror(e));
		extra = kenv_calls() - c0 - base;
		kenv_fail_nth(0, 0);
		ck_assert(ports_loaded());
		free(v.p);
		down();
		if (!extra)
			break; /* past the last one: nothing was failed */
		/* the failed call again; EAGAIN: a poll before it */
		ck_assert_uint_eq(extra, e == EAGAIN ? 2 : 1);
		hit++;
	}
	/* a save reads twice at least (the header, the end) and a load
	 * writes once */
	ck_assert_uint_ge(hit, strcmp(call, "read") ? 1 : 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Programmable devices: what mtty cannot show                          */

#define ALLF (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)

/* The mdev UUIDs of src and dst when they are programmable devices. */
static const char *gsrc, *gdst;

/* Megabytes of state, 1 MiB of initial precopy data, 128 KiB dirtied
 * before each PRECOPY_INFO (a running guest). */
static const struct kenv_gen_cfg big = {
	.mig_flags = ALLF,
	.state_size = (3u << 20) + 1000,
	.precopy_initial = 1u << 20,
	.precopy_dirty = 128u << 10,
};

/* Callbacks take and give thousands of bytes a call (7000 and 5003: odd
 * pieces, partial consumption); a buffer sink holds the largest stream. */
static void gen_setup(void)
{
	setup();
	xio_sizes(7000, 5003, 16u << 20);
}

/* src and dst: two programmable devices configured so, on spath and dpath,
 * their states apart. */
static void gen_up(const struct kenv_gen_cfg *cfg, int spath, int dpath)
{
	need_path(spath);
	need_path(dpath);
	gsrc = kenv_gen_add(cfg);
	gdst = kenv_gen_add(cfg);
	kenv_gen_fill(gsrc, 0x1234);
	kenv_gen_fill(gdst, 0x9876);
	src = kenv_open(gsrc, spath);
	dst = kenv_open(gdst, dpath);
}

/* Every sink kind x every source kind x NO_SPLICE x the two ends of
 * precopy data (read() 0, ENOMSG), megabytes of state that the running
 * device dirties: the stream ends when dirty_bytes stops shrinking. */
START_TEST(gen_roundtrip)
{
	struct kenv_gen_cfg cfg = big;
	int save_kind = _i % K_NR, load_kind = (_i / K_NR) % K_NR;
	unsigned int xflags = (_i / (K_NR * K_NR)) % 2 ? VFIOMIG_XFER_NO_SPLICE : 0;
	unsigned int rounds, w0 = kenv_kernel_complaints();
	struct sink sk;

	cfg.precopy_enomsg = (_i / (2 * K_NR * K_NR)) % 2;
	gen_up(&cfg, paths[_i % 2], paths[(_i / K_NR) % 2]);
	ck_assert(!gen_blobs_equal(gsrc, gdst));
	sink_open(&sk, save_kind);
	save_all(&sk, xflags, &rounds, gsrc);
	/* constant dirtying: dirty_bytes stops shrinking -> stall */
	ck_assert_uint_ge(rounds, 4);
	ck_assert_uint_gt(sk.v.n, big.state_size);
	load_all(dst, &sk.v, load_kind, xflags);
	ck_assert_int_eq(kenv_gen_state(gdst), ST(RUNNING));
	ck_assert(gen_blobs_equal(gsrc, gdst));
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
	free(sk.v.p);
	down();
}
END_TEST

/* The stall, max-rounds and threshold counts on a device that dirties
 * (mtty's side, nothing dirty: precopy_policy). */
START_TEST(gen_precopy_policy)
{
	struct kenv_gen_cfg cfg = big;

	cfg.state_size = 256u << 10;
	cfg.precopy_initial = 64u << 10;
	cfg.precopy_dirty = 16u << 10;
	gen_up(&cfg, paths[_i], paths[_i]);
	/* no policy: stall x3 */
	policy_rounds(false, (const unsigned int[6]){ 4, 2, 4, 2, 1, 7 });
	down();
}
END_TEST

/* The ENOMSG end of precopy data (mlx5) on a device that never dirties;
 * mtty's read() 0 is precopy_no_dirt. */
START_TEST(gen_precopy_enomsg)
{
	struct kenv_gen_cfg cfg = big;

	cfg.precopy_dirty = 0;
	cfg.precopy_enomsg = true;
	gen_up(&cfg, paths[_i], paths[_i]);
	/* drained: ENOMSG is "nothing now", not an error */
	one_clean_round(cfg.precopy_initial, true);
}
END_TEST

/* A stream whose body is corrupted (the checksum of the END record) is
 * refused at RESUMING -> STOP; mtty checks its header only.  A short
 * stream under every recovery policy: truncated_load. */
START_TEST(gen_corrupt_load)
{
	struct kenv_gen_cfg cfg = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = VFIOMIG_RECOVER_RESET);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct sink sk;
	struct vec v;
	unsigned int rounds;

	cfg.state_size = 100000;
	cfg.precopy_initial = 30000;
	cfg.precopy_dirty = 5000;
	gen_up(&cfg, paths[_i], paths[_i]);
	sink_open(&sk, K_CB);
	save_all(&sk, 0, &rounds, gsrc);
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
	ck_assert_int_eq(kenv_gen_state(gdst), ST(RUNNING));
	ck_assert(!gen_blobs_equal(gsrc, gdst));
	free(v.p);
	down();
}
END_TEST

/* A device without migration: the migration features answer ENOTTY (on
 * the real kernel the vfio core does, the driver has no mig_ops); the
 * argument checks and directions on mtty are session_bad_input. */
START_TEST(gen_no_migration)
{
	const struct kenv_gen_cfg cfg = { .mig_flags = 0, .state_size = 4096 };
	struct vfiomig_device *nomig;
	unsigned int w0;
	uint64_t len;
	const char *uuid;

	need_path(paths[_i]);
	uuid = kenv_gen_add(&cfg);
	w0 = kenv_kernel_complaints();
	nomig = kenv_open(uuid, paths[_i]);
	ck_assert_int_eq(vfiomig_state_get(nomig), -ENOTTY);
	ck_assert_int_eq(vfiomig_state_set(nomig, ST(STOP), NULL), -ENOTTY);
	ck_assert_int_eq(vfiomig_data_size(nomig, &len), -ENOTTY);
	vfiomig_device_free(nomig);
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
}
END_TEST

/* Every pair of states, both set modes, on the capability sets mtty lacks
 * (mtty's STOP_COPY|P2P|PRE_COPY is kcase-mig.c all_pairs). */
static const uint64_t capsets[] = {
	VFIOMIG_MIG_STOP_COPY,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P,
	VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_PRE_COPY,
};
#define NCAPSETS ((int)(sizeof(capsets) / sizeof(capsets[0])))

/* Leave RESUMING with a valid stream (an empty one is refused). */
static struct vec valid_stream;

static void feed_valid(struct vfiomig_device *dev)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = valid_stream.p,
				 .len = valid_stream.n };

	ck_assert_int_eq(vfiomig_load(dev, &io, 0), (int64_t)valid_stream.n);
}

static void go(struct vfiomig_device *dev, const char *uuid, int to,
	       unsigned int mode, uint64_t flags)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so, .flags = mode);
	int cur = kenv_gen_state(uuid), before = vfiomig_data_fd(dev), after;
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
	ck_assert_int_eq(kenv_gen_state(uuid), to);
	after = vfiomig_data_fd(dev);
	ck_assert_msg((after >= 0) == open_, "%s->%s: data fd %d",
		      vfiomig_state_name(cur), vfiomig_state_name(to), after);
	ck_assert_int_eq(open_, saving(to) || to == ST(RESUMING));
	if (open_ && !opened)
		ck_assert_int_eq(after, before); /* same session */
}

START_TEST(gen_all_pairs)
{
	struct kenv_gen_cfg cfg = big;
	unsigned int w0;
	struct sink sk;
	struct vfiomig_io io;
	uint64_t flags = capsets[_i % NCAPSETS];

	cfg.mig_flags = flags;
	cfg.state_size = 10000;
	cfg.precopy_initial = 4096;
	gen_up(&cfg, paths[_i / NCAPSETS], paths[_i / NCAPSETS]);
	w0 = kenv_kernel_complaints();
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
				if (vfiomig_state_plan(ST(RUNNING), a, flags, NULL, 0) < 0 ||
				    vfiomig_state_plan(a, b, flags, NULL, 0) < 0)
					continue;
				go(src, gsrc, a, mode, flags);
				go(src, gsrc, b, mode, flags);
				go(src, gsrc, b, mode, flags); /* no-op */
				if (kenv_gen_state(gsrc) == ST(STOP_COPY))
					go(src, gsrc, ST(STOP), mode, flags);
				go(src, gsrc, ST(RUNNING), mode, flags);
			}
		}
	}
	/* unsupported targets are refused */
	for (int s = 1; s < VFIOMIG_STATE_NR; s++)
		if (vfiomig_state_plan(ST(RUNNING), s, flags, NULL, 0) < 0)
			ck_assert_int_eq(vfiomig_state_set(src, s, NULL), -EINVAL);
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
	free(valid_stream.p);
	valid_stream.p = NULL;
	down();
}
END_TEST

/* A driver failing an arc in the middle of one combined SET leaves the
 * device part-way (contract 4.5); the library reads the state back, pins
 * the failure to that arc and recovers from there.  Failures of the SET of
 * one arc (stepwise, or the first arc), a session surviving the way back
 * and a reset where there is none, injected on mtty: arc_failure. */
START_TEST(gen_arc_failure)
{
	struct kenv_gen_cfg cfg = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int w0;

	cfg.state_size = 8192;
	gen_up(&cfg, paths[_i], paths[_i]);
	w0 = kenv_kernel_complaints();

	/* RUNNING -> R_P2P -> STOP -> STOP_COPY in one SET, the last arc
	 * fails inside the driver */
	for (int pol = 0; pol <= VFIOMIG_RECOVER_STAY; pol++) {
		so = (struct vfiomig_set_opts){
			.sz = sizeof(so), .flags = VFIOMIG_SET_COMBINED,
			.recovery = pol,
			.recovery_state = ST(RUNNING_P2P),
		};
		kenv_gen_fail_arc(gsrc, ST(STOP), ST(STOP_COPY), EIO);
		ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so),
				 -EIO);
		failed_to_stop_copy(&so, pol);
		ck_assert_int_eq(kenv_gen_state(gsrc), so.state);
		ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	}

	/* zero-filled options: back to the state the call started in */
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.flags = VFIOMIG_SET_COMBINED };
	kenv_gen_fail_arc(gsrc, ST(STOP), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(kenv_gen_state(gsrc), ST(RUNNING));
	/* NULL options are the same (combined is the default) */
	kenv_gen_fail_arc(gsrc, ST(STOP), ST(STOP_COPY), EIO);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), -EIO);
	ck_assert_int_eq(kenv_gen_state(gsrc), ST(RUNNING));

	/* leaving PRE_COPY fails in the middle: the session is gone with
	 * PRE_COPY -> RUNNING, the device stops at RUNNING_P2P */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(src), 0);
	kenv_gen_fail_arc(gsrc, ST(RUNNING_P2P), ST(STOP), EIO);
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
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
	down();
}
END_TEST

/* A device entering ERROR on its own (pds does): never SET from ERROR,
 * its session dies with it, every policy's way out. */
START_TEST(gen_error_state)
{
	struct kenv_gen_cfg cfg = big;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	unsigned int w0;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	char buf[64];

	cfg.state_size = 8192;
	gen_up(&cfg, paths[_i], paths[_i]);
	w0 = kenv_kernel_complaints();
	io.buf = buf;
	io.len = sizeof(buf);

	/* ERROR (pds-like, asynchronously): never SET from ERROR */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	kenv_gen_force_error(gsrc);
	ck_assert_int_eq(vfiomig_state_get(src), ST(ERROR));
	so.recovery = VFIOMIG_RECOVER_STAY;
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), &so), -EIO);
	ck_assert_int_eq(so.failed_from, ST(ERROR));
	ck_assert_int_eq(so.failed_to, ST(RUNNING));
	ck_assert_int_eq(so.state, ST(ERROR));
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
	/* the session died with it: ENODEV ends it cleanly */
	ck_assert_int_eq(vfiomig_save(src, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);

	so.recovery = VFIOMIG_RECOVER_RESET;
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), &so), -EIO);
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(kenv_gen_state(gsrc), ST(RUNNING));

	kenv_gen_force_error(gsrc);
	so.recovery = VFIOMIG_RECOVER_STATE;
	so.recovery_state = ST(STOP);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), &so), -EIO);
	ck_assert_int_eq(so.state, ST(STOP));

	/* the default: ERROR is nobody's choice, a reset leaves it */
	kenv_gen_force_error(gsrc);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), -EIO);
	ck_assert_int_eq(kenv_gen_state(gsrc), ST(RUNNING));

	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_kernel_complaints(), w0);
	down();
}
END_TEST

Suite *kcase_session_suite(void)
{
	Suite *s = suite_create("kcase-session");
	TCase *tc;

	tc = tcase_create("session");
	tcase_add_checked_fixture(tc, setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, roundtrip, 0, 2 * K_NR * K_NR);
	tcase_add_loop_test(tc, buf_partial_and_size, 0, 4);
	tcase_add_loop_test(tc, no_splice, 0, 2);
	tcase_add_loop_test(tc, truncated_load, 0, 2);
	tcase_add_loop_test(tc, reset_kills_session, 0, 2);
	tcase_add_loop_test(tc, protocol_error, 0, 2);
	tcase_add_loop_test(tc, busy_transfer, 0, 2);
	tcase_add_loop_test(tc, session_bad_input, 0, 2);
	tcase_add_loop_test(tc, adopt_vouched, 0, 2);
	tcase_add_loop_test(tc, arc_failure, 0, 2);
	suite_add_tcase(s, tc);

	/* what a save, a load and a step ask of the kernel */
	tc = tcase_create("session-economy");
	tcase_add_checked_fixture(tc, setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, data_path_economy, 0, 2 * K_NR);
	tcase_add_loop_test(tc, precopy_step_economy, 0, 2 * K_NR);
	suite_add_tcase(s, tc);

	tc = tcase_create("session-precopy");
	tcase_add_checked_fixture(tc, setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, precopy_policy, 0, 2);
	tcase_add_loop_test(tc, precopy_no_dirt, 0, 2);
	tcase_add_loop_test(tc, precopy_paced, 0, 2);
	tcase_add_loop_test(tc, precopy_info_compat, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("session-faults");
	tcase_add_checked_fixture(tc, setup, kenv_teardown);
	tcase_set_timeout(tc, 1800);
	tcase_add_loop_test(tc, fault_each_call, 0, 2 * K_NR);
	tcase_add_loop_test(tc, retry_each_call, 0, 8);
	suite_add_tcase(s, tc);

	/* programmable devices (mtest in the VM, the fake's GENERIC) */
	tc = tcase_create("session-generic");
	tcase_add_checked_fixture(tc, gen_setup, kenv_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, gen_roundtrip, 0, 4 * K_NR * K_NR);
	tcase_add_loop_test(tc, gen_precopy_policy, 0, 2);
	tcase_add_loop_test(tc, gen_precopy_enomsg, 0, 2);
	tcase_add_loop_test(tc, gen_corrupt_load, 0, 2);
	tcase_add_loop_test(tc, gen_no_migration, 0, 2);
	tcase_add_loop_test(tc, gen_all_pairs, 0, 2 * NCAPSETS);
	tcase_add_loop_test(tc, gen_arc_failure, 0, 2);
	tcase_add_loop_test(tc, gen_error_state, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
