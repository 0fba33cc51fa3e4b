// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of device sets (issue 10), on the VM's mtty-2
 * instances: sets of two and three devices migrated with their UART
 * registers carried, the P2P barrier seen from the kernel on both sides,
 * a failing destination member (a wrong-type mtty-1, a truncated stream)
 * with every member brought back, bad input changing nothing, and 6.12's
 * PRECOPY_INFO flags echo.  Written once; run on the fake (kt-fake) and on
 * the real kernel in the VM (kt-real).
 *
 * The barrier is observed, not assumed: the library logs every arc it
 * walks (LOG_DEBUG, right after the kernel answered), and at each message
 * the log function reads every watched member's state from the kernel
 * with a raw VFIO_DEVICE_FEATURE GET.  The snapshots must never show a
 * member stopped while a peer still initiates DMA (RUNNING, PRE_COPY), nor
 * a member running while a peer cannot answer yet (RESUMING, STOP).
 *
 * Registers: 1-byte accesses to UART_SCR of BAR0/BAR1 only (see
 * kcase-mig.c); mtty keeps them across close and reset, so values are
 * fresh for every run.
 *
 * Then test-devset.c's cases that hold on mtty (every member with every
 * capability): making a set, the barrier SET by SET from the kernel's SET
 * log (kenv_sets), sets of one to four, bad requests, a fault at every
 * ioctl of a set change and of load_finish (kenv_fail_nth_call) with every
 * member read back raw, the recovery choices, a way back that fails too,
 * the aggregates, PRECOPY_INFOv2 asked for or not, and the ioctl economy
 * (kenv_mig_ioctls, kenv_ioctls).
 *
 * Last, on programmable devices (kenv_gen_add), what mtty cannot show: the
 * capability mixes (a member without P2P or PRE_COPY), a device without
 * migration, a member in ERROR, a driver refusing each arc in turn, the
 * recovery choices and load_finish on those mixes, the aggregates of a
 * mix (the "devset-mix-*" tcases; the arc log derived from the SET log,
 * see there).  Only PRECOPY_INFOv2 REINIT stays in test-devset.c (6.12
 * has no feature 12).
 */
#include <errno.h>
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

#define ST(x) VFIOMIG_STATE_##x
#define MTTY2_SIZE 96
#define MTTY_HDR 24
#define UART_SCR 7
#define MAX_SET 4
#define MAX_SNAP 256
#define TOTAL VFIOMIG_DEVSET_TOTAL

static const char *const src_uuid[MAX_SET] = {
	KENV_MTTY2_UUID, KENV_MTTY2B_UUID, KENV_MTTY2C_UUID, KENV_MTTY1_UUID };
static const char *const dst_uuid[MAX_SET] = {
	KENV_MTTY2D_UUID, KENV_MTTY2E_UUID, KENV_MTTY2F_UUID };

/* ------------------------------------------------------------------ */
/* Devices, registers                                                   */

struct side {
	size_t n;
	const char *uuid[MAX_SET];
	struct vfiomig_device *dev[MAX_SET];
	bool borrowed[MAX_SET]; /* another side's device: not freed here */
	struct vfiomig_devset *set;
};

/* Members alternate between the IOMMU paths: a set mixes them. */
static int path_of(size_t i, bool dst)
{
	if (!kenv_has_iommufd())
		return VFIOMIG_IOMMU_TYPE1;
	return (i + dst) % 2 ? VFIOMIG_IOMMU_IOMMUFD : VFIOMIG_IOMMU_TYPE1;
}

static struct vfiomig_device *open_one(const char *uuid, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;

	ck_assert_msg(vfiomig_device_open(kenv_ctx(), uuid, &o, &dev) == 0,
		      "open %s", uuid);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));
	return dev;
}

/* The set of s->dev[0..n), without the opt-in: every mtty has P2P. */
static void side_set(struct side *s)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	size_t n = s->n;

	ck_assert_int_eq(vfiomig_devset_new(s->dev, n, &o, &s->set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(s->set), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(vfiomig_devset_member(s->set, i), s->dev[i]);
	ck_assert_ptr_null(vfiomig_devset_member(s->set, n));
}

static void side_open(struct side *s, const char *const *uuids, size_t n,
		      bool dst)
{
	*s = (struct side){ .n = n };
	for (size_t i = 0; i < n; i++) {
		s->uuid[i] = uuids[i];
		s->dev[i] = open_one(uuids[i], path_of(i, dst));
	}
	side_set(s);
}

static void side_free(struct side *s)
{
	vfiomig_devset_free(s->set);
	for (size_t i = 0; i < s->n; i++)
		if (!s->borrowed[i])
			vfiomig_device_free(s->dev[i]);
}

/* Every member in state s; a data fd exactly where a session lives. */
static void all_in(const struct side *s, int state)
{
	bool session = state == ST(PRE_COPY) || state == ST(PRE_COPY_P2P) ||
		       state == ST(STOP_COPY) || state == ST(RESUMING);

	for (size_t i = 0; i < s->n; i++) {
		ck_assert_msg(vfiomig_state_get(s->dev[i]) == state,
			      "member %zu in %s, not %s", i,
			      vfiomig_state_name(vfiomig_state_get(s->dev[i])),
			      vfiomig_state_name(state));
		ck_assert_int_eq(vfiomig_data_fd(s->dev[i]) >= 0, session);
	}
}

/* ------------------------------------------------------------------ */
/* The barrier, seen from the kernel                                    */

struct watch {
	bool on;
	size_t n;
	int fd[MAX_SET];
	size_t nsnap;
	int snap[MAX_SNAP][MAX_SET];
};

static struct watch watch;

/* The state as the kernel has it, bypassing the library (and its cache). */
static int raw_state(int fd)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) +
		      sizeof(struct vfio_device_feature_mig_state) + 7) / 8] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	struct vfio_device_feature_mig_state *ms =
		(struct vfio_device_feature_mig_state *)f->data;

	f->argsz = sizeof(buf);
	f->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f))
		return -errno;
	return (int)ms->device_state;
}

__attribute__((format(printf, 6, 0)))
static void watch_log(void *data, int priority, const char *file, int line,
		      const char *fn, const char *format, va_list args)
{
	struct watch *w = data;

	if (getenv("VFIOMIG_TEST_LOG")) {
		fprintf(stderr, "vfiomig[%d] %s:%d %s: ", priority, file, line, fn);
		vfprintf(stderr, format, args);
		fputc('\n', stderr);
	}
	if (!w->on || w->nsnap == MAX_SNAP)
		return;
	for (size_t i = 0; i < w->n; i++)
		w->snap[w->nsnap][i] = raw_state(w->fd[i]);
	w->nsnap++;
}

static void watch_start(const struct side *s)
{
	struct vfiomig_ctx *ctx = kenv_ctx();

	watch = (struct watch){ .on = true, .n = s->n };
	for (size_t i = 0; i < s->n; i++)
		watch.fd[i] = vfiomig_device_fd(s->dev[i]);
	vfiomig_ctx_set_log_fn(ctx, watch_log, &watch);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
}

static void watch_stop(void)
{
	watch.on = false;
	ck_assert_uint_lt(watch.nsnap, MAX_SNAP);
	for (size_t k = 0; k < watch.nsnap; k++)
		for (size_t i = 0; i < watch.n; i++)
			ck_assert_int_ge(watch.snap[k][i], 0);
}

static bool is_active(int s)
{
	return s == ST(RUNNING) || s == ST(PRE_COPY);
}

static bool is_stopped(int s)
{
	return s == ST(STOP) || s == ST(STOP_COPY);
}

static bool snap_all(size_t k, int state)
{
	for (size_t i = 0; i < watch.n; i++)
		if (watch.snap[k][i] != state)
			return false;
	return true;
}

static bool snap_any(size_t k, bool (*pred)(int))
{
	for (size_t i = 0; i < watch.n; i++)
		if (pred(watch.snap[k][i]))
			return true;
	return false;
}

/* Down: nobody stopped while a peer still initiates DMA; and the moment
 * every member was quiesced in `p2p` was seen. */
static void check_down(int p2p)
{
	bool seen = false;

	for (size_t k = 0; k < watch.nsnap; k++) {
		ck_assert_msg(!(snap_any(k, is_stopped) && snap_any(k, is_active)),
			      "snapshot %zu: a member stopped while a peer "
			      "still runs", k);
		seen |= snap_all(k, p2p);
	}
	ck_assert_msg(seen, "never saw every member in %s",
		      vfiomig_state_name(p2p));
}

static bool is_resuming(int s)
{
	return s == ST(RESUMING);
}

static bool answers(int s)
{
	return s == ST(RUNNING_P2P) || s == ST(RUNNING);
}

static bool is_running(int s)
{
	return s == ST(RUNNING);
}

static bool not_answering(int s)
{
	return s == ST(RESUMING) || s == ST(STOP) || s == ST(STOP_COPY);
}

/* Up: nobody answers while a peer's data is not committed, nobody runs
 * while a peer cannot answer; every member seen in RUNNING_P2P at once. */
static void check_up(void)
{
	bool seen = false;

	for (size_t k = 0; k < watch.nsnap; k++) {
		ck_assert_msg(!(snap_any(k, is_resuming) && snap_any(k, answers)),
			      "snapshot %zu: a member answers while a peer is "
			      "still resuming", k);
		ck_assert_msg(!(snap_any(k, is_running) && snap_any(k, not_answering)),
			      "snapshot %zu: a member runs while a peer cannot "
			      "answer", k);
		seen |= snap_all(k, ST(RUNNING_P2P));
	}
	ck_assert_msg(seen, "never saw every member in running-p2p");
}

/* ------------------------------------------------------------------ */
/* The migration, step by step                                          */

struct mig {
	struct side src, dst;
	uint8_t scr[MAX_SET][2];
	uint8_t buf[MAX_SET][MTTY2_SIZE + 8];
	size_t len[MAX_SET];
};

static void mig_open(struct mig *m, size_t n, const char *const *dsts)
{
	memset(m, 0, sizeof(*m));
	side_open(&m->src, src_uuid, n, false);
	side_open(&m->dst, dsts, n, true);
	for (size_t i = 0; i < n; i++) {
		for (int bar = 0; bar < 2; bar++) {
			m->scr[i][bar] = kenv_fresh(0);
			kenv_mtty_set_scr(m->src.dev[i], bar, m->scr[i][bar]);
			if (i < m->dst.n && dsts == dst_uuid)
				kenv_mtty_set_scr(m->dst.dev[i], bar,
					  (uint8_t)~m->scr[i][bar]);
		}
	}
}

static void mig_free(struct mig *m)
{
	side_free(&m->src);
	side_free(&m->dst);
}

static void regs_are(const struct side *s, const struct mig *m)
{
	for (size_t i = 0; i < s->n; i++)
		for (int bar = 0; bar < 2; bar++)
			ck_assert_msg(kenv_mtty_scr(s->dev[i], bar) == m->scr[i][bar],
				      "member %zu BAR%d SCR 0x%02x, not 0x%02x", i,
				      bar, kenv_mtty_scr(s->dev[i], bar),
				      m->scr[i][bar]);
}

static void set_ok(struct side *s, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

	ck_assert_msg(vfiomig_devset_state_set(s->set, target, &so) == 0,
		      "set -> %s: member %d failed %s->%s",
		      vfiomig_state_name(target), so.failed_member,
		      vfiomig_state_name(so.failed_from),
		      vfiomig_state_name(so.failed_to));
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	all_in(s, target);
}

static struct vfiomig_devset_stats stats(struct side *s, size_t i)
{
	VFIOMIG_OPTS(vfiomig_devset_stats, st);

	ck_assert_int_eq(vfiomig_devset_stats(s->set, i, &st), 0);
	return st;
}

/* A member's initial data in steps of at most 10 bytes (a VMM's budget). */
static void drain_paced(struct mig *m, size_t i)
{
	VFIOMIG_OPTS(vfiomig_precopy_progress, p);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	static const int64_t steps[] = { 10, 10, 4 };

	for (size_t k = 0; k < 3; k++) {
		io.buf = m->buf[i] + m->len[i];
		io.len = sizeof(m->buf[i]) - m->len[i];
		ck_assert_int_eq(vfiomig_precopy_step(m->src.dev[i], &io, 10, &p),
				 steps[k]);
		m->len[i] += (size_t)steps[k];
		ck_assert_uint_eq(p.initial_bytes, MTTY_HDR - m->len[i]);
		ck_assert_int_eq(p.initial_drained, m->len[i] == MTTY_HDR);
	}
	ck_assert_uint_eq(p.round, 3);
	ck_assert_uint_eq(p.total_bytes, MTTY_HDR);
	ck_assert_uint_eq(p.reinits, 0);
	/* mtty: read() returns 0, not ENOMSG, at the end of precopy data */
	ck_assert_int_eq(vfiomig_precopy_step(m->src.dev[i], &io, 10, &p), 0);
}

/* Source: RUNNING -> PRE_COPY, paced rounds, the set's totals. */
static void src_precopy(struct mig *m)
{
	size_t n = m->src.n;
	struct vfiomig_devset_stats st = stats(&m->src, TOTAL);

	ck_assert(st.initial_drained); /* outside PRE_COPY */
	ck_assert_uint_eq(st.precopy, 0);
	ck_assert_uint_eq(st.stop_copy_bytes, n * MTTY2_SIZE);
	set_ok(&m->src, ST(PRE_COPY));
	st = stats(&m->src, TOTAL);
	ck_assert_uint_eq(st.precopy, n);
	ck_assert_uint_eq(st.initial_bytes, n * MTTY_HDR);
	ck_assert_uint_eq(st.dirty_bytes, 0);
	ck_assert(!st.initial_drained);
	for (size_t i = 0; i < n; i++) {
		drain_paced(m, i);
		ck_assert(stats(&m->src, i).initial_drained);
		ck_assert_int_eq(stats(&m->src, TOTAL).initial_drained, i == n - 1);
	}
	st = stats(&m->src, TOTAL);
	ck_assert_uint_eq(st.initial_bytes, 0);
	ck_assert_uint_eq(st.reinits, 0);
}

/* Switchover through the barrier, then the rest of every stream. */
static void src_stop_copy(struct mig *m)
{
	watch_start(&m->src);
	set_ok(&m->src, ST(STOP_COPY));
	watch_stop();
	check_down(ST(PRE_COPY_P2P));
	for (size_t i = 0; i < m->src.n; i++) {
		struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
					 .buf = m->buf[i] + m->len[i],
					 .len = sizeof(m->buf[i]) - m->len[i] };

		ck_assert_int_eq(vfiomig_save(m->src.dev[i], &io, 0),
				 MTTY2_SIZE - MTTY_HDR);
		m->len[i] = MTTY2_SIZE;
		ck_assert_int_eq(vfiomig_save(m->src.dev[i], &io, 0), 0);
		ck_assert_uint_eq(m->buf[i][MTTY_HDR + UART_SCR], m->scr[i][0]);
		ck_assert_uint_eq(m->buf[i][MTTY_HDR + 36 + UART_SCR], m->scr[i][1]);
	}
}

static int64_t load(struct vfiomig_device *dev, const uint8_t *p, size_t n)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = (void *)p, .len = n };

	return vfiomig_load(dev, &io, 0);
}

/* Destination: RESUMING, every stream loaded. */
static void dst_load(struct mig *m)
{
	set_ok(&m->dst, ST(RESUMING));
	for (size_t i = 0; i < m->dst.n; i++)
		ck_assert_int_eq(load(m->dst.dev[i], m->buf[i], m->len[i]),
				 (int64_t)m->len[i]);
}

/* Commit to target (RUNNING_P2P: held there, then RUNNING). */
static void dst_start(struct mig *m, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

	watch_start(&m->dst);
	ck_assert_int_eq(vfiomig_devset_load_finish(m->dst.set, target, &so), 0);
	ck_assert_int_eq(so.failed_member, -1);
	if (target == ST(RUNNING_P2P)) {
		all_in(&m->dst, ST(RUNNING_P2P));
		regs_are(&m->dst, m); /* loaded, not running yet */
		set_ok(&m->dst, ST(RUNNING));
	}
	watch_stop();
	check_up();
	all_in(&m->dst, ST(RUNNING));
	regs_are(&m->dst, m);
}

/* Sets of two and three: the whole migration, as a VMM does it.  _i = 0:
 * two devices, the destination held in RUNNING_P2P; _i = 1: three, the
 * destination committed straight to RUNNING. */
START_TEST(set_migrate)
{
	size_t n = _i ? 3 : 2;
	unsigned int complaints = kenv_kernel_complaints();
	struct mig m;

	mig_open(&m, n, dst_uuid);
	src_precopy(&m);
	src_stop_copy(&m);
	dst_load(&m);
	dst_start(&m, _i ? ST(RUNNING) : ST(RUNNING_P2P));
	set_ok(&m.src, ST(STOP));
	regs_are(&m.src, &m); /* a stopped source keeps its registers */
	mig_free(&m);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failing members                                                      */

/* Back where a VMM wants them after a failed migration. */
static void sources_back(struct mig *m)
{
	watch_start(&m->src);
	set_ok(&m->src, ST(RUNNING));
	watch_stop();
	check_up();
	regs_are(&m->src, m);
}

/* A wrong-type destination (mtty-1 for an mtty-2 stream) refuses its
 * load: nothing of the set is committed, every destination member is
 * discarded, the sources run again with their registers. */
START_TEST(wrong_type_member)
{
	static const char *const dsts[] = { KENV_MTTY2D_UUID, KENV_MTTY1_UUID };
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	struct mig m;

	mig_open(&m, 2, dsts);
	src_precopy(&m);
	src_stop_copy(&m);
	set_ok(&m.dst, ST(RESUMING));
	ck_assert_int_eq(load(m.dst.dev[0], m.buf[0], m.len[0]), MTTY2_SIZE);
	ck_assert_int_lt(load(m.dst.dev[1], m.buf[1], m.len[1]), 0);

	/* the spoiled member stops the whole commit before anybody moves */
	ck_assert_int_eq(vfiomig_devset_load_finish(m.dst.set, ST(RUNNING), &so),
			 -EBADMSG);
	ck_assert_int_eq(vfiomig_state_get(m.dst.dev[0]), ST(RESUMING));
	ck_assert_int_eq(vfiomig_state_get(m.dst.dev[1]), ST(RESUMING));

	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(vfiomig_load_abort(m.dst.dev[i], ST(RUNNING),
						    NULL), 0);
	all_in(&m.dst, ST(RUNNING));
	all_in(&m.src, ST(STOP_COPY));
	sources_back(&m);
	mig_free(&m);
}
END_TEST

/* A stream the driver refuses at commit (one byte short): the set names
 * the member and the arc, and resets every destination member (nothing
 * refused is kept, none is left in RESUMING or STOP). */
START_TEST(refused_commit)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	size_t n = _i ? 3 : 2, bad = n - 1;
	struct mig m;

	mig_open(&m, n, dst_uuid);
	src_precopy(&m);
	src_stop_copy(&m);
	m.len[bad]--;
	dst_load(&m);
	ck_assert_int_eq(vfiomig_devset_load_finish(m.dst.set, ST(RUNNING), &so),
			 -EINVAL);
	ck_assert_int_eq(so.failed_member, (int)bad);
	ck_assert_int_eq(so.failed_from, ST(RESUMING));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	all_in(&m.dst, ST(RUNNING));
	sources_back(&m);
	mig_free(&m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input: a clear error, nothing changed                            */

START_TEST(bad_input)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	struct vfiomig_devset *set = NULL;
	struct vfiomig_device *twice[2];
	struct vfiomig_devset_stats st = { .sz = sizeof(st) };
	struct side s;

	side_open(&s, src_uuid, 2, false);
	twice[0] = twice[1] = s.dev[0];
	ck_assert_int_eq(vfiomig_devset_new(twice, 2, &o, &set), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 0, &o, &set), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_new(NULL, 1, &o, &set), -EINVAL);
	o.flags = 1u << 7;
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, &o, &set), -EINVAL);
	ck_assert_ptr_null(set);

	so.flags = 1u << 3;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &so), -EINVAL);
	so.flags = 0;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, VFIOMIG_STATE_NR, &so),
			 -EINVAL);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(ERROR), &so), -EINVAL);
	all_in(&s, ST(RUNNING));

	/* member 0 in STOP_COPY cannot go to PRE_COPY: member 1 stays put */
	ck_assert_int_eq(vfiomig_state_set(s.dev[0], ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(PRE_COPY), &so),
			 -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(s.dev[0]), ST(STOP_COPY));
	ck_assert_int_eq(vfiomig_state_get(s.dev[1]), ST(RUNNING));

	/* load_finish: not resuming, or a target it does not end in */
	ck_assert_int_eq(vfiomig_devset_load_finish(s.set, ST(RUNNING), &so),
			 -EINVAL);
	ck_assert_int_eq(vfiomig_devset_load_finish(s.set, ST(PRE_COPY), &so),
			 -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(s.dev[0]), ST(STOP_COPY));
	ck_assert_int_eq(vfiomig_state_get(s.dev[1]), ST(RUNNING));

	ck_assert_int_eq(vfiomig_devset_stats(s.set, 2, &st), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_stats(NULL, TOTAL, &st), -EINVAL);
	set_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PRECOPY_INFO flags on 6.12                                           */

/* Raw VFIO_MIG_GET_PRECOPY_INFO with the caller's flags. */
static int raw_precopy_info(int fd, uint32_t flags, struct vfio_precopy_info *pi)
{
	*pi = (struct vfio_precopy_info){ .argsz = sizeof(*pi), .flags = flags };
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, pi) ? -errno : 0;
}

/* Raw SET of feature 12 (PRECOPY_INFOv2), payload 0. */
static int raw_feature12(int fd)
{
	uint64_t buf[2] = { 0 };
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	f->argsz = sizeof(buf);
	f->flags = VFIO_DEVICE_FEATURE_SET | VFIOMIG_FEATURE_MIG_PRECOPY_INFO_V2;
	return ioctl(fd, VFIO_DEVICE_FEATURE, f) ? -errno : 0;
}

/* mtty copies the caller's flags back (6.12 has no feature 12 and no
 * REINIT): the raw answer echoes 1, the library reports 0 and never a
 * REINIT, and PRECOPY_INFOv2 is off. */
START_TEST(flags_echo)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	VFIOMIG_OPTS(vfiomig_precopy_progress, p);
	struct vfio_precopy_info raw;
	struct vfiomig_precopy_info pi = { .flags = 0xff };
	struct vfiomig_device *dev = open_one(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	uint8_t buf[MTTY2_SIZE];
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = buf, .len = sizeof(buf) };
	int fd;

	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(caps.features & VFIOMIG_CAP_PRECOPY_V2, 0);
	ck_assert_int_eq(raw_feature12(vfiomig_device_fd(dev)), -ENOTTY);
	ck_assert_int_eq(vfiomig_feature_probe(dev,
		VFIOMIG_FEATURE_MIG_PRECOPY_INFO_V2, VFIOMIG_FEATURE_SET), 0);

	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(dev);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(raw_precopy_info(fd, 1, &raw), 0);
	ck_assert_uint_eq(raw.flags, 1); /* VFIO_PRECOPY_INFO_REINIT, echoed */
	ck_assert_uint_eq(raw.initial_bytes, MTTY_HDR);
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, MTTY_HDR);

	ck_assert_int_eq(vfiomig_precopy_step(dev, &io, 0, &p), MTTY_HDR);
	ck_assert_uint_eq(p.reinits, 0);
	ck_assert(p.initial_drained);
	ck_assert_int_eq(raw_precopy_info(fd, 1, &raw), 0);
	ck_assert_uint_eq(raw.flags, 1);
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, 0);
	/* mtty: read() returns 0, not ENOMSG, at the end of precopy data */
	ck_assert_int_eq(vfiomig_precopy_step(dev, &io, 0, &p), 0);
	ck_assert_uint_eq(p.reinits, 0);
	ck_assert(p.initial_drained);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	vfiomig_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sets on mtty, checked from the kernel's SET log                      */
/*
 * The cases below came from test-devset.c, where the fake's arc log was
 * the evidence.  Here it is kenv_sets(): every MIG_DEVICE_STATE SET that
 * reached the kernel, by device, in order (a pass-through shim in the VM).
 * A SET's arcs are the kernel's own walk (vfiomig_state_plan models
 * vfio_mig_get_next_state), so the barrier is checked at every arc.  A
 * reset is no SET: the library logs it naming the device, and the log
 * function places it in the SET log (kenv_mig_ioctls counts it).
 */

#define ALLF (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)
#define NREC 64

static struct kenv_set slog[KENV_SETS_MAX], clean[KENV_SETS_MAX];

static struct {
	bool on;
	const struct side *s;
	unsigned int resets;  /* kenv_mig_ioctls().resets seen */
	size_t nev;
	struct rec_ev {
		size_t pos;   /* SETs logged before it */
		size_t m;
	} ev[NREC];
	char bad[256];        /* a reset the log did not name */
	void (*hook)(void);   /* called at each message (fault arming) */
} rec;

static size_t nsets_now(void)
{
	struct kenv_set none[1];

	return kenv_sets(none, 0);
}

static unsigned int resets_now(void)
{
	struct kenv_mig_ioctls c;

	kenv_mig_ioctls(&c);
	return c.resets;
}

__attribute__((format(printf, 6, 0)))
static void rec_log(void *data, int priority, const char *file, int line,
		    const char *fn, const char *format, va_list args)
{
	char msg[512];
	unsigned int r;

	(void)data;
	vsnprintf(msg, sizeof(msg), format, args);
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "vfiomig[%d] %s:%d %s: %s\n", priority, file,
			line, fn, msg);
	if (!rec.on)
		return;
	r = resets_now();
	if (r != rec.resets) {
		size_t named = 0, who = 0;

		for (size_t i = 0; i < rec.s->n; i++) {
			if (strstr(msg, rec.s->uuid[i])) {
				named++;
				who = i;
			}
		}
		if (r != rec.resets + 1 || named != 1 || !strstr(msg, "reset") ||
		    rec.nev == NREC)
			snprintf(rec.bad, sizeof(rec.bad),
				 "%u reset(s) at \"%.200s\"", r - rec.resets, msg);
		else
			rec.ev[rec.nev++] = (struct rec_ev){ nsets_now(), who };
		rec.resets = r;
	}
	if (rec.hook)
		rec.hook();
}

/* Record s's SETs (and resets) from now. */
static void rec_start(const struct side *s)
{
	struct vfiomig_ctx *ctx = kenv_ctx();

	vfiomig_ctx_set_log_fn(ctx, rec_log, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	rec.on = true;
	rec.s = s;
	rec.nev = 0;
	rec.bad[0] = '\0';
	rec.hook = NULL;
	kenv_sets_clear();
	rec.resets = resets_now();
}

/* The SETs since rec_start, into out. */
static size_t rec_sets(struct kenv_set *out)
{
	size_t n = kenv_sets(out, KENV_SETS_MAX);

	ck_assert_uint_le(n, KENV_SETS_MAX);
	ck_assert_msg(!rec.bad[0], "%s", rec.bad);
	return n;
}

static bool rec_was_reset(size_t m)
{
	for (size_t e = 0; e < rec.nev; e++)
		if (rec.ev[e].m == m)
			return true;
	return false;
}

static int member_of(const struct side *s, const char *uuid)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->uuid[i], uuid))
			return (int)i;
	return -1;
}

/* Neither starts nor answers DMA. */
static bool halted(int s)
{
	return s == ST(STOP) || s == ST(STOP_COPY) || s == ST(RESUMING) ||
	       s == ST(ERROR);
}

static const char *sname(int s)
{
	const char *n = vfiomig_state_name(s);

	return n ? n : "?";
}

static void raw_states(const struct side *s, int *st)
{
	for (size_t i = 0; i < s->n; i++) {
		st[i] = raw_state(vfiomig_device_fd(s->dev[i]));
		ck_assert_int_ge(st[i], 0);
	}
}

/*
 * Replay log[0..nl) over s's members from start, with the resets the log
 * named before each SET (and after the last when tail), checking the
 * barrier at every arc the kernel walks: no member enters a halted state
 * while a peer is active, none becomes active while a peer is halted
 * (every mtty has P2P).  Resets are the recovery's last resort and are not
 * held to it.  A SET the kernel refused moved nothing (mtty refuses only
 * RESUMING->STOP, the first arc of every way out of RESUMING).
 */
static void replay(const struct side *s, const int *start,
		   const struct kenv_set *log, size_t nl, bool tail, int *st)
{
	size_t e = 0;

	memcpy(st, start, s->n * sizeof(*st));
	for (size_t k = 0; k <= nl; k++) {
		int path[VFIOMIG_STATE_NR], np, m;

		for (; e < rec.nev && rec.ev[e].pos == k && (k < nl || tail); e++)
			st[rec.ev[e].m] = ST(RUNNING);
		if (k == nl)
			break;
		m = member_of(s, log[k].uuid);
		if (m < 0 || log[k].err)
			continue;
		np = vfiomig_state_plan(st[m], log[k].state, ALLF, path,
					VFIOMIG_STATE_NR);
		ck_assert_msg(np >= 0, "SET %zu: member %d %s->%s: no walk", k,
			      m, sname(st[m]), sname(log[k].state));
		for (int a = 0; a < np; a++) {
			int from = st[m], to = path[a];

			for (size_t o = 0; o < s->n; o++) {
				if ((int)o == m)
					continue;
				ck_assert_msg(!(halted(to) && is_active(st[o])) &&
						      !(is_active(to) && halted(st[o])),
					      "barrier: SET %zu: member %d %s->%s while member %zu is %s",
					      k, m, sname(from), sname(to), o,
					      sname(st[o]));
			}
			st[m] = to;
		}
	}
}

/* The SET log is exactly exp[0..n): member, state asked, answered 0. */
static void expect_sets(const struct side *s, const int (*exp)[2], size_t n)
{
	size_t nl = rec_sets(slog);

	for (size_t k = 0; k < nl && k < n; k++)
		ck_assert_msg(!strcmp(slog[k].uuid, s->uuid[exp[k][0]]) &&
				      slog[k].state == exp[k][1] && !slog[k].err,
			      "SET %zu: %s -> %s (%d), want member %d -> %s", k,
			      slog[k].uuid, sname(slog[k].state), slog[k].err,
			      exp[k][0], sname(exp[k][1]));
	ck_assert_uint_eq(nl, n);
}

/* A set change that must succeed: every member there, the library
 * agreeing with the kernel, the barrier held, no reset, nothing failed. */
static void walk_ok(struct side *s, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int start[MAX_SET], st[MAX_SET];
	size_t nl;

	raw_states(s, start);
	rec_start(s);
	ck_assert_msg(vfiomig_devset_state_set(s->set, target, &so) == 0,
		      "set -> %s: member %d failed %s->%s", sname(target),
		      so.failed_member, sname(so.failed_from),
		      sname(so.failed_to));
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	nl = rec_sets(slog);
	replay(s, start, slog, nl, true, st);
	ck_assert_uint_eq(rec.nev, 0);
	for (size_t i = 0; i < s->n; i++)
		ck_assert_msg(st[i] == target, "member %zu replayed in %s", i,
			      sname(st[i]));
	all_in(s, target);
	raw_states(s, st);
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(st[i], target);
}

static size_t ports_of(const char *uuid)
{
	return strcmp(uuid, KENV_MTTY1_UUID) ? 2 : 1;
}

static size_t stream_size(const char *uuid)
{
	return MTTY_HDR + 36 * ports_of(uuid);
}

/* Everything the member's session has now, appended at buf + *len. */
static void save_now(struct vfiomig_device *dev, uint8_t *buf, size_t cap,
		     size_t *len)
{
	for (;;) {
		struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
					 .buf = buf + *len, .len = cap - *len };
		int64_t r = vfiomig_save(dev, &io, 0);

		ck_assert_int_ge(r, 0);
		if (!r)
			return;
		*len += (size_t)r;
	}
}

/* Fresh UART_SCR values on every port of s's members (scr), and their
 * complement on the destination's, so that a load is seen. */
static void regs_fresh(const struct side *s, uint8_t (*scr)[2])
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t bar = 0; bar < ports_of(s->uuid[i]); bar++) {
			scr[i][bar] = kenv_fresh(0);
			kenv_mtty_set_scr(s->dev[i], (int)bar, scr[i][bar]);
		}
}

static void regs_spoil(const struct side *s, uint8_t (*scr)[2])
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t bar = 0; bar < ports_of(s->uuid[i]); bar++)
			kenv_mtty_set_scr(s->dev[i], (int)bar, (uint8_t)~scr[i][bar]);
}

static void regs_carried(const struct side *s, uint8_t (*scr)[2])
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t bar = 0; bar < ports_of(s->uuid[i]); bar++)
			ck_assert_msg(kenv_mtty_scr(s->dev[i], (int)bar) == scr[i][bar],
				      "member %zu BAR%zu SCR 0x%02x, not 0x%02x",
				      i, bar, kenv_mtty_scr(s->dev[i], (int)bar),
				      scr[i][bar]);
}

static void fill(int (*e)[2], size_t *k, size_t n, int state)
{
	for (size_t i = 0; i < n; i++) {
		e[*k][0] = (int)i;
		e[*k][1] = state;
		(*k)++;
	}
}

/* ------------------------------------------------------------------ */
/* Making a set                                                         */

/* Every mtty has STOP_COPY, P2P and PRE_COPY: any of them makes a set,
 * alone or together, with or without the opt-in; bad input makes none;
 * nothing moves. */
START_TEST(set_new)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	struct vfiomig_devset *set = NULL;
	struct vfiomig_device *devs[2];
	struct {
		struct vfiomig_devset_opts o;
		char tail[8];
	} big = { .o = { .sz = sizeof(big) } };
	struct kenv_mig_ioctls a, b;
	struct side s = { .n = 4 };
	int st[MAX_SET];

	for (size_t i = 0; i < 4; i++) {
		s.uuid[i] = src_uuid[i];
		s.dev[i] = open_one(src_uuid[i], path_of(i, false));
	}
	rec_start(&s);
	kenv_mig_ioctls(&a);
	/* a set of one: no peer to wait for */
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vfiomig_devset_new(&s.dev[i], 1, NULL, &set), 0);
		ck_assert_uint_eq(vfiomig_devset_size(set), 1);
		ck_assert_ptr_eq(vfiomig_devset_member(set, 0), s.dev[i]);
		ck_assert_ptr_null(vfiomig_devset_member(set, 1));
		vfiomig_devset_free(set);
		set = NULL;
	}
	/* P2P members only: accepted without the opt-in, in order */
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, NULL, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 2);
	vfiomig_devset_free(set);
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 4, &o, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 4);
	vfiomig_devset_free(set);
	/* ALLOW_NO_P2P changes nothing for P2P members */
	o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 4, &o, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_ptr_eq(vfiomig_devset_member(set, i), s.dev[i]);
	vfiomig_devset_free(set);
	set = NULL;
	/* bad input: nothing made */
	o.flags = 1u << 7;
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, &o, &set), -EINVAL);
	o.flags = 0;
	devs[0] = devs[1] = s.dev[0];
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -EINVAL);
	devs[1] = NULL;
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_new(NULL, 2, &o, &set), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 0, &o, &set), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, &o, NULL), -EINVAL);
	ck_assert_ptr_null(set);
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, &big.o, &set), 0);
	vfiomig_devset_free(set);
	set = NULL;
	big.tail[3] = 1;
	ck_assert_int_eq(vfiomig_devset_new(s.dev, 2, &big.o, &set), -E2BIG);
	ck_assert_ptr_null(set);
	/* NULL is fine where the header says so */
	ck_assert_uint_eq(vfiomig_devset_size(NULL), 0);
	ck_assert_ptr_null(vfiomig_devset_member(NULL, 0));
	vfiomig_devset_free(NULL);
	/* nothing moved by any of it */
	kenv_mig_ioctls(&b);
	ck_assert_uint_eq(b.state_sets, a.state_sets);
	ck_assert_uint_eq(b.resets, a.resets);
	ck_assert_uint_eq(rec_sets(slog), 0);
	raw_states(&s, st);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(st[i], ST(RUNNING));
		vfiomig_device_free(s.dev[i]);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* The barrier, SET by SET                                              */

/* QEMU's order on sets of 2, 3 and 4 (_i + 2).  Seven mttys make three
 * pairs and one: the set of four's fourth destination is its own source
 * (mtty-1), reset after it saved, loading its own stream back. */
START_TEST(barrier_p2p)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	size_t n = (size_t)_i + 2, k, len[MAX_SET] = { 0 }, nl;
	uint8_t buf[MAX_SET][MTTY2_SIZE + 8], scr[MAX_SET][2];
	int e[3 * MAX_SET][2], start[MAX_SET], st[MAX_SET];
	struct side src, dst = { .n = n };

	side_open(&src, src_uuid, n, false);
	regs_fresh(&src, scr);
	/* source: RUNNING -> PRE_COPY, straight (the way up, from active) */
	k = 0;
	fill(e, &k, n, ST(PRE_COPY));
	walk_ok(&src, ST(PRE_COPY));
	expect_sets(&src, (const int (*)[2])e, k);
	for (size_t i = 0; i < n; i++) {
		save_now(src.dev[i], buf[i], sizeof(buf[i]), &len[i]);
		ck_assert_uint_eq(len[i], MTTY_HDR);
	}
	/* PRE_COPY -> STOP_COPY: every member PRE_COPY_P2P, then stop-copy */
	k = 0;
	fill(e, &k, n, ST(PRE_COPY_P2P));
	fill(e, &k, n, ST(STOP_COPY));
	walk_ok(&src, ST(STOP_COPY));
	expect_sets(&src, (const int (*)[2])e, k);
	for (size_t i = 0; i < n; i++) {
		save_now(src.dev[i], buf[i], sizeof(buf[i]), &len[i]);
		ck_assert_uint_eq(len[i], stream_size(src.uuid[i]));
	}
	/* the source, done: STOP_COPY -> STOP, each on its own */
	k = 0;
	fill(e, &k, n, ST(STOP));
	walk_ok(&src, ST(STOP));
	expect_sets(&src, (const int (*)[2])e, k);

	/* destination: RUNNING -> RESUMING, quiesced all, then each stops
	 * and resumes in one SET (RUNNING_P2P -> STOP -> RESUMING) */
	for (size_t i = 0; i < n; i++) {
		if (i < 3) {
			dst.uuid[i] = dst_uuid[i];
			dst.dev[i] = open_one(dst_uuid[i], path_of(i, true));
		} else {
			dst.uuid[i] = src.uuid[i];
			dst.dev[i] = src.dev[i];
			dst.borrowed[i] = true;
			ck_assert_int_eq(vfiomig_device_reset(dst.dev[i]), 0);
		}
	}
	side_set(&dst);
	regs_spoil(&dst, scr);
	k = 0;
	fill(e, &k, n, ST(RUNNING_P2P));
	fill(e, &k, n, ST(RESUMING));
	walk_ok(&dst, ST(RESUMING));
	expect_sets(&dst, (const int (*)[2])e, k);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(load(dst.dev[i], buf[i], len[i]),
				 (int64_t)len[i]);
	/* load_finish: every member commits, RUNNING_P2P all, RUNNING all */
	raw_states(&dst, start);
	rec_start(&dst);
	ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING), &so), 0);
	ck_assert_int_eq(so.failed_member, -1);
	k = 0;
	fill(e, &k, n, ST(STOP));
	fill(e, &k, n, ST(RUNNING_P2P));
	fill(e, &k, n, ST(RUNNING));
	expect_sets(&dst, (const int (*)[2])e, k);
	nl = rec_sets(slog);
	replay(&dst, start, slog, nl, true, st);
	ck_assert_uint_eq(rec.nev, 0);
	all_in(&dst, ST(RUNNING));
	regs_carried(&dst, scr);

	/* the source again: RUNNING -> STOP_COPY without precopy: quiesce
	 * all, then stop-copy each in one SET (RUNNING_P2P -> STOP ->
	 * STOP_COPY) */
	walk_ok(&src, ST(RUNNING));
	k = 0;
	fill(e, &k, n, ST(RUNNING_P2P));
	fill(e, &k, n, ST(STOP_COPY));
	walk_ok(&src, ST(STOP_COPY));
	expect_sets(&src, (const int (*)[2])e, k);
	walk_ok(&src, ST(RUNNING));
	side_free(&dst);
	side_free(&src);
}
END_TEST

/* A set of one goes straight there: one SET per change. */
START_TEST(set_of_one)
{
	static const char *const one[] = { KENV_MTTY1_UUID };
	static const int seq[] = { ST(PRE_COPY), ST(STOP_COPY), ST(STOP),
				   ST(RUNNING), ST(STOP_COPY), ST(RESUMING) };
	struct side s;

	side_open(&s, one, 1, false);
	for (size_t j = 0; j < sizeof(seq) / sizeof(seq[0]); j++) {
		walk_ok(&s, seq[j]);
		ck_assert_uint_eq(rec_sets(slog), 1);
		ck_assert_int_eq(slog[0].state, seq[j]);
	}
	ck_assert_int_eq(vfiomig_device_reset(s.dev[0]), 0);
	ck_assert_int_eq(raw_state(vfiomig_device_fd(s.dev[0])), ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every size                                                           */

static const int chain[] = {
	ST(PRE_COPY), ST(PRE_COPY_P2P), ST(PRE_COPY), ST(STOP_COPY),
	ST(STOP), ST(RUNNING_P2P), ST(RUNNING), ST(RUNNING_P2P),
	ST(PRE_COPY_P2P), ST(RUNNING), ST(STOP_COPY), ST(STOP),
	ST(RESUMING),
};

/* Sets of 1..4 (_i + 1) through a chain of every state. */
START_TEST(every_size)
{
	size_t n = (size_t)_i + 1;
	struct side s;

	side_open(&s, src_uuid, n, false);
	for (size_t j = 0; j < sizeof(chain) / sizeof(chain[0]); j++)
		walk_ok(&s, chain[j]);
	/* RESUMING is left by a reset (nothing to commit) */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(vfiomig_device_reset(s.dev[i]), 0);
	walk_ok(&s, ST(STOP_COPY));
	walk_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* Bad requests: a clear error, nothing moved, out fields -1. */
START_TEST(bad_requests)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	struct {
		struct vfiomig_devset_set_opts o;
		char tail[8];
	} big = { .o = { .sz = sizeof(big) } };
	struct side s;
	int st[MAX_SET];

	side_open(&s, src_uuid, 2, false);
	rec_start(&s);
	ck_assert_int_eq(vfiomig_devset_state_set(NULL, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(ERROR), &so),
			 -EINVAL);
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(NR), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, -1, &so), -EINVAL);
	so.flags = 1;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &so), -EINVAL);
	so.flags = 0;
	so.recovery = VFIOMIG_RECOVER_STAY + 1;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &so), -EINVAL);
	so.recovery = VFIOMIG_RECOVER_STATE;
	so.recovery_state = ST(RESUMING);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &so), -EINVAL);
	so.recovery_state = ST(NR);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &so), -EINVAL);
	so.recovery = 0;
	so.recovery_state = 0;
	big.tail[0] = 1;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP), &big.o),
			 -E2BIG);
	ck_assert_uint_eq(rec_sets(slog), 0);
	/* no way for either member (STOP_COPY -> PRE_COPY): refused before
	 * anybody moves */
	walk_ok(&s, ST(STOP_COPY));
	rec_start(&s);
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(PRE_COPY), &so),
			 -EINVAL);
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_uint_eq(rec_sets(slog), 0);
	raw_states(&s, st);
	ck_assert_int_eq(st[0], ST(STOP_COPY));
	ck_assert_int_eq(st[1], ST(STOP_COPY));
	walk_ok(&s, ST(RUNNING));
	walk_ok(&s, ST(STOP));
	walk_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A fault at every ioctl of a set change                               */

struct flow {
	int origin; /* reached from RUNNING by a set change (RUNNING: none) */
	int target;
};

static const struct flow flows[] = {
	{ ST(RUNNING), ST(PRE_COPY) },      { ST(PRE_COPY), ST(STOP_COPY) },
	{ ST(RUNNING), ST(STOP_COPY) },     { ST(STOP_COPY), ST(STOP) },
	{ ST(STOP), ST(RUNNING) },          { ST(PRE_COPY), ST(RUNNING) },
	{ ST(STOP), ST(RESUMING) },         { ST(RUNNING_P2P), ST(RUNNING) },
	{ ST(PRE_COPY_P2P), ST(STOP_COPY) },
};
#define N_FLOWS (sizeof(flows) / sizeof(flows[0]))

static bool session_state(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) ||
	       s == ST(STOP_COPY) || s == ST(RESUMING);
}

/* Nothing leaked: a data fd exactly for members in a session state, and
 * no other kernel fd than base (every member out of its session). */
static void fds_match(const struct side *s, int base)
{
	int st[MAX_SET], sessions = 0;

	raw_states(s, st);
	for (size_t i = 0; i < s->n; i++) {
		if (session_state(st[i])) {
			sessions++;
			ck_assert_int_ge(vfiomig_data_fd(s->dev[i]), 0);
		} else {
			ck_assert_int_eq(vfiomig_data_fd(s->dev[i]), -ENOENT);
		}
	}
	ck_assert_int_eq(kenv_kernel_fds(), base + sessions);
}

/* Every member reset to RUNNING, then the set to origin. */
static void to_origin(const struct side *s, int origin)
{
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(vfiomig_device_reset(s->dev[i]), 0);
	if (origin != ST(RUNNING))
		ck_assert_int_eq(vfiomig_devset_state_set(s->set, origin, NULL),
				 0);
}

/* Did member m ask for state st (and get it) in log[0..nl)?  RESUMING and
 * STOP_COPY are never on the way to another state: only a SET for them
 * reaches them. */
static bool reached(const struct side *s, size_t m, const struct kenv_set *log,
		    size_t nl, int st)
{
	for (size_t k = 0; k < nl; k++)
		if (!strcmp(log[k].uuid, s->uuid[m]) && !log[k].err &&
		    log[k].state == st)
			return true;
	return false;
}

static int twin_running(int s)
{
	return s == ST(PRE_COPY) ? ST(RUNNING) :
	       s == ST(PRE_COPY_P2P) ? ST(RUNNING_P2P) : s;
}

/* Where everybody is: the kernel (raw), the library and the replayed log
 * agree. */
static void agree(const struct side *s, const int *replayed, int *now)
{
	raw_states(s, now);
	for (size_t i = 0; i < s->n; i++) {
		ck_assert_msg(replayed[i] == now[i],
			      "member %zu in %s, the SET log says %s", i,
			      sname(now[i]), sname(replayed[i]));
		ck_assert_int_eq(vfiomig_state_get(s->dev[i]), now[i]);
	}
}

/* After a failed set change with the default recovery: every member back
 * where it started, or where the rules say when that cannot be. */
static void check_default_back(const struct side *s, const int *start,
			       const int *now, size_t nl)
{
	for (size_t i = 0; i < s->n; i++) {
		int want = start[i];

		if (reached(s, i, slog, nl, ST(RESUMING)))
			want = ST(RUNNING); /* reset: nothing committed */
		else if ((start[i] == ST(PRE_COPY) ||
			  start[i] == ST(PRE_COPY_P2P)) &&
			 reached(s, i, slog, nl, ST(STOP_COPY)))
			want = twin_running(start[i]); /* its session ended */
		ck_assert_msg(now[i] == want,
			      "member %zu started in %s: in %s, want %s", i,
			      sname(start[i]), sname(now[i]), sname(want));
		if (want == ST(RUNNING) && start[i] != ST(RUNNING) &&
		    reached(s, i, slog, nl, ST(RESUMING)))
			ck_assert(rec_was_reset(i));
	}
}

/* The clean change's SETs into clean[]; its ioctl count. */
static unsigned int clean_run(const struct side *s, const struct flow *fw,
			      size_t *nclean)
{
	int start[MAX_SET], st[MAX_SET];
	unsigned int k0;

	to_origin(s, fw->origin);
	raw_states(s, start);
	rec_start(s);
	k0 = kenv_ioctls();
	ck_assert_int_eq(vfiomig_devset_state_set(s->set, fw->target, NULL), 0);
	k0 = kenv_ioctls() - k0;
	*nclean = kenv_sets(clean, KENV_SETS_MAX);
	replay(s, start, clean, *nclean, true, st);
	return k0;
}

static void fault_flow(const struct side *s, const struct flow *fw, int base)
{
	size_t nclean, nl;
	unsigned int nioctl = clean_run(s, fw, &nclean);

	for (unsigned int k = 1; k <= nioctl; k++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		int start[MAX_SET], st[MAX_SET], now[MAX_SET], ret;

		to_origin(s, fw->origin);
		raw_states(s, start);
		rec_start(s);
		kenv_fail_nth_call("ioctl", k, EIO);
		ret = vfiomig_devset_state_set(s->set, fw->target, &so);
		kenv_fail_nth(0, 0);
		nl = rec_sets(slog);
		replay(s, start, slog, nl, true, st);
		agree(s, st, now);
		if (ret == 0) {
			/* the fault was not reached: the clean run's first
			 * PRE_COPY asked for PRECOPY_INFOv2, once a handle */
			ck_assert_int_eq(so.failed_member, -1);
			for (size_t i = 0; i < s->n; i++)
				ck_assert_int_eq(now[i], fw->target);
			fds_match(s, base);
			continue;
		}
		ck_assert_msg(ret == -EIO, "%s->%s, ioctl %u: %d",
			      sname(fw->origin), sname(fw->target), k, ret);
		ck_assert_int_ge(so.failed_member, 0);
		ck_assert_int_lt(so.failed_member, (int)s->n);
		/* a SET refused before it walked: its first arc is named */
		ck_assert_int_eq(vfiomig_state_plan(so.failed_from, so.failed_to,
						    ALLF, NULL, 0), 1);
		check_default_back(s, start, now, nl);
		fds_match(s, base);
	}
}

/* Sets of 1..4 (_i + 1): every flow, each ioctl of it failing in turn
 * (the kernel never sees it); then the set works. */
START_TEST(fault_every_ioctl)
{
	size_t n = (size_t)_i + 1;
	struct side s;
	int base;

	side_open(&s, src_uuid, n, false);
	base = kenv_kernel_fds();
	for (size_t f = 0; f < N_FLOWS; f++)
		fault_flow(&s, &flows[f], base);
	to_origin(&s, ST(RUNNING));
	walk_ok(&s, ST(STOP_COPY));
	walk_ok(&s, ST(RUNNING));
	fds_match(&s, base);
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Recovery choices                                                     */

typedef void check_fn(const struct side *s, const int *start,
		      const int *at_fail, const int *now, size_t nl, size_t p);

/* A failure at each SET of flow fw with these options (the clean change
 * issues SETs only: ioctl k is its SET k); check() looks at the result. */
static void each_failure(const struct side *s, const struct flow *fw,
			 const struct vfiomig_devset_set_opts *opts,
			 check_fn *check, int base)
{
	size_t nclean, nl;
	unsigned int nioctl = clean_run(s, fw, &nclean);

	ck_assert_uint_eq(nioctl, nclean);
	for (size_t p = 0; p < nclean; p++) {
		struct vfiomig_devset_set_opts so = *opts;
		int start[MAX_SET], at_fail[MAX_SET], st[MAX_SET], now[MAX_SET];
		int m, path[VFIOMIG_STATE_NR];

		to_origin(s, fw->origin);
		raw_states(s, start);
		rec_start(s);
		kenv_fail_nth_call("ioctl", (unsigned int)p + 1, EIO);
		ck_assert_int_eq(vfiomig_devset_state_set(s->set, fw->target, &so),
				 -EIO);
		kenv_fail_nth(0, 0);
		nl = rec_sets(slog);
		/* the walk up to the failure was the clean one */
		ck_assert_uint_ge(nl, p);
		for (size_t q = 0; q < p; q++)
			ck_assert(!strcmp(slog[q].uuid, clean[q].uuid) &&
				  slog[q].state == clean[q].state &&
				  !slog[q].err);
		replay(s, start, slog, p, false, at_fail);
		m = member_of(s, clean[p].uuid);
		ck_assert_int_eq(so.failed_member, m);
		ck_assert_int_eq(so.failed_from, at_fail[m]);
		ck_assert_int_ge(vfiomig_state_plan(at_fail[m], clean[p].state,
						    ALLF, path, VFIOMIG_STATE_NR), 1);
		ck_assert_int_eq(so.failed_to, path[0]);
		replay(s, start, slog, nl, true, st);
		agree(s, st, now);
		check(s, start, at_fail, now, nl, p);
		fds_match(s, base);
	}
}

/* STAY: nobody moves after the failure. */
static void check_stay(const struct side *s, const int *start,
		       const int *at_fail, const int *now, size_t nl, size_t p)
{
	(void)start;
	ck_assert_uint_eq(nl, p);
	ck_assert_uint_eq(rec.nev, 0);
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(now[i], at_fail[i]);
}

/* RESET (or STATE with ERROR): every member that moved is reset, the
 * others stay; no SET after the failure. */
static void check_reset(const struct side *s, const int *start,
			const int *at_fail, const int *now, size_t nl, size_t p)
{
	ck_assert_uint_eq(nl, p);
	for (size_t i = 0; i < s->n; i++) {
		bool moved = at_fail[i] != start[i];

		ck_assert_int_eq(rec_was_reset(i), moved);
		ck_assert_int_eq(now[i], moved ? ST(RUNNING) : start[i]);
	}
}

static int recovery_state_want;

/* recovery_state set: everybody there. */
static void check_state(const struct side *s, const int *start,
			const int *at_fail, const int *now, size_t nl, size_t p)
{
	(void)start;
	(void)at_fail;
	(void)nl;
	(void)p;
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(now[i], recovery_state_want);
}

START_TEST(recovery_choices)
{
	static const struct flow fws[] = {
		{ ST(RUNNING), ST(STOP_COPY) },
		{ ST(PRE_COPY), ST(STOP_COPY) },
		{ ST(STOP), ST(RUNNING) },
	};
	struct side s;
	int base;

	side_open(&s, src_uuid, 3, false);
	base = kenv_kernel_fds();
	for (size_t f = 0; f < sizeof(fws) / sizeof(fws[0]); f++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		so.recovery = VFIOMIG_RECOVER_STAY;
		each_failure(&s, &fws[f], &so, check_stay, base);
		so.recovery = VFIOMIG_RECOVER_RESET;
		each_failure(&s, &fws[f], &so, check_reset, base);
		so.recovery = VFIOMIG_RECOVER_STATE;
		so.recovery_state = ST(ERROR);
		each_failure(&s, &fws[f], &so, check_reset, base);
		so.recovery_state = recovery_state_want = ST(STOP);
		each_failure(&s, &fws[f], &so, check_state, base);
		so.recovery = VFIOMIG_RECOVER_DEFAULT;
		so.recovery_state = recovery_state_want = ST(RUNNING);
		each_failure(&s, &fws[f], &so, check_state, base);
		so.recovery_state = recovery_state_want = ST(RUNNING_P2P);
		each_failure(&s, &fws[f], &so, check_state, base);
	}
	to_origin(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* way_back_fails: member 1's SET to STOP_COPY fails once member 0 is in
 * STOP_COPY (four SETs logged); the next ioctl after that failure is
 * member 0's way back, and fails too. */
static int way_phase;
static unsigned int way_ioctls;

static void way_hook(void)
{
	if (way_phase == 0 && nsets_now() == 4) {
		kenv_fail_nth_call("ioctl", 1, EIO);
		way_ioctls = kenv_ioctls();
		way_phase = 1;
	} else if (way_phase == 1 && kenv_ioctls() > way_ioctls) {
		kenv_fail_nth_call("ioctl", 1, EPERM);
		way_phase = 2;
	}
}

/* A member whose own way back fails is reset; the others go on. */
START_TEST(way_back_fails)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int start[MAX_SET], st[MAX_SET], now[MAX_SET], base;
	struct side s;
	size_t nl;

	side_open(&s, src_uuid, 3, false);
	base = kenv_kernel_fds();
	raw_states(&s, start);
	rec_start(&s);
	way_phase = 0;
	rec.hook = way_hook;
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP_COPY), &so),
			 -EIO);
	rec.hook = NULL;
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(way_phase, 2);
	ck_assert_int_eq(so.failed_member, 1);
	ck_assert_int_eq(so.failed_from, ST(RUNNING_P2P));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	nl = rec_sets(slog);
	replay(&s, start, slog, nl, true, st);
	agree(&s, st, now);
	ck_assert(rec_was_reset(0));
	ck_assert(!rec_was_reset(1));
	ck_assert(!rec_was_reset(2));
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(now[i], ST(RUNNING));
	fds_match(&s, base);
	/* and the set works again */
	walk_ok(&s, ST(STOP_COPY));
	walk_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The destination: load_finish                                         */

struct streams {
	uint8_t buf[MAX_SET][MTTY2_SIZE + 8];
	size_t len[MAX_SET];
	uint8_t scr[MAX_SET][2];
};

/* Destination members back to RUNNING with spoiled registers, then
 * RESUMING with the streams. */
static void dst_loaded(struct side *d, struct streams *v)
{
	for (size_t i = 0; i < d->n; i++)
		ck_assert_int_eq(vfiomig_device_reset(d->dev[i]), 0);
	regs_spoil(d, v->scr);
	ck_assert_int_eq(vfiomig_devset_state_set(d->set, ST(RESUMING), NULL), 0);
	for (size_t i = 0; i < d->n; i++)
		ck_assert_int_eq(load(d->dev[i], v->buf[i], v->len[i]),
				 (int64_t)v->len[i]);
	rec_start(d);
}

static void dst_in(const struct side *d, const int *want)
{
	int now[MAX_SET];

	raw_states(d, now);
	for (size_t i = 0; i < d->n; i++) {
		ck_assert_msg(now[i] == want[i], "destination %zu in %s, want %s",
			      i, sname(now[i]), sname(want[i]));
		ck_assert_int_eq(vfiomig_state_get(d->dev[i]), now[i]);
		/* out of RESUMING no session is left (a spoiled one in
		 * RESUMING may be closed already) */
		if (want[i] != ST(RESUMING))
			ck_assert_int_eq(vfiomig_data_fd(d->dev[i]), -ENOENT);
	}
}

/* A source that gives half its stream, then fails. */
static size_t half_given;

static ssize_t half_then_eio(void *arg, void *buf, size_t len)
{
	const uint8_t *p = arg;
	size_t half = MTTY2_SIZE / 2;

	if (half_given >= half) {
		half_given = 0;
		return -EIO;
	}
	len = len < half - half_given ? len : half - half_given;
	memcpy(buf, p + half_given, len);
	half_given += len;
	return (ssize_t)len;
}

/* Sets of 1..3 (_i + 1). */
START_TEST(load_finish)
{
	static const int targets[] = { ST(RUNNING), ST(RUNNING_P2P), ST(STOP) };
	size_t n = (size_t)_i + 1, nl, nclean;
	int start[MAX_SET], st[MAX_SET], want[MAX_SET];
	static struct streams v;
	struct side src, dst;
	unsigned int nioctl;

	memset(&v, 0, sizeof(v));
	side_open(&src, src_uuid, n, false);
	side_open(&dst, dst_uuid, n, true);
	regs_fresh(&src, v.scr);
	walk_ok(&src, ST(PRE_COPY));
	for (size_t i = 0; i < n; i++)
		save_now(src.dev[i], v.buf[i], sizeof(v.buf[i]), &v.len[i]);
	walk_ok(&src, ST(STOP_COPY));
	for (size_t i = 0; i < n; i++) {
		save_now(src.dev[i], v.buf[i], sizeof(v.buf[i]), &v.len[i]);
		ck_assert_uint_eq(v.len[i], MTTY2_SIZE);
	}

	/* each target: committed, then through the barrier */
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(&dst, &v);
		raw_states(&dst, start);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, targets[t],
							    &so), 0);
		ck_assert_int_eq(so.failed_member, -1);
		nl = rec_sets(slog);
		replay(&dst, start, slog, nl, true, st);
		/* phase 0: every member commits before any goes further */
		for (size_t k = 0; n > 1 && k < n; k++)
			ck_assert(!strcmp(slog[k].uuid, dst.uuid[k]) &&
				  slog[k].state == ST(STOP));
		for (size_t i = 0; i < n; i++)
			want[i] = targets[t];
		regs_carried(&dst, v.scr);
		dst_in(&dst, want);
		/* held in RUNNING_P2P until the VM is ready */
		if (targets[t] != ST(RUNNING))
			walk_ok(&dst, ST(RUNNING));
	}

	/* a stream the driver refuses (one byte short): named, and every
	 * destination member reset; none ran what it had */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		size_t bad = n - 1;

		v.len[bad]--;
		dst_loaded(&dst, &v);
		v.len[bad]++;
		raw_states(&dst, start);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_int_eq(so.failed_member, (int)bad);
		ck_assert_int_eq(so.failed_from, ST(RESUMING));
		ck_assert_int_eq(so.failed_to, ST(STOP));
		nl = rec_sets(slog);
		replay(&dst, start, slog, nl, true, st);
		/* nobody ran: no SET the kernel took asked for an active
		 * state (the set of one's refused SET asked for RUNNING) */
		for (size_t k = 0; k < nl; k++)
			ck_assert(slog[k].err || !is_active(slog[k].state));
		ck_assert_int_eq(slog[nl - 1].err, -EINVAL); /* the kernel's */
		for (size_t i = 0; i < n; i++) {
			want[i] = ST(RUNNING);
			ck_assert(rec_was_reset(i));
		}
		dst_in(&dst, want);
	}

	/* not every member resuming: refused, nothing committed */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(&dst, &v);
		ck_assert_int_eq(vfiomig_load_abort(dst.dev[0], ST(STOP), NULL), 0);
		rec_start(&dst);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_int_eq(so.failed_member, -1);
		ck_assert_uint_eq(rec_sets(slog), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = i ? ST(RESUMING) : ST(STOP);
		dst_in(&dst, want);
	}

	/* a member whose load failed: EBADMSG, nothing committed */
	if (n > 1) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_CB,
					 .read_fn = half_then_eio,
					 .arg = v.buf[1] };

		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(vfiomig_device_reset(dst.dev[i]), 0);
		ck_assert_int_eq(vfiomig_devset_state_set(dst.set, ST(RESUMING),
							  NULL), 0);
		ck_assert_int_eq(load(dst.dev[0], v.buf[0], v.len[0]),
				 (int64_t)v.len[0]);
		half_given = 0;
		ck_assert_int_lt(vfiomig_load(dst.dev[1], &io, 0), 0);
		rec_start(&dst);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING),
							    &so), -EBADMSG);
		ck_assert_uint_eq(rec_sets(slog), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = ST(RESUMING);
		dst_in(&dst, want);
	}

	/* bad targets */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(&dst, &v);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(PRE_COPY),
							    &so), -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RESUMING),
							    &so), -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(NULL, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_uint_eq(rec_sets(slog), 0);
	}

	/* a fault at every ioctl of load_finish (each a SET): in the commit
	 * (or in a set of one, anywhere: its one SET starts in RESUMING)
	 * every member is reset; after the commit every member is back in
	 * STOP */
	dst_loaded(&dst, &v);
	nioctl = kenv_ioctls();
	ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING), NULL), 0);
	nioctl = kenv_ioctls() - nioctl;
	nclean = kenv_sets(clean, KENV_SETS_MAX);
	ck_assert_uint_eq(nioctl, nclean);
	for (size_t p = 0; p < nclean; p++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		int m = member_of(&dst, clean[p].uuid), at_fail[MAX_SET];
		int path[VFIOMIG_STATE_NR];
		bool commit;

		dst_loaded(&dst, &v);
		raw_states(&dst, start);
		replay(&dst, start, clean, p, false, at_fail);
		commit = at_fail[m] == ST(RESUMING) || n == 1;
		kenv_fail_nth_call("ioctl", (unsigned int)p + 1, EIO);
		ck_assert_int_eq(vfiomig_devset_load_finish(dst.set, ST(RUNNING),
							    &so), -EIO);
		kenv_fail_nth(0, 0);
		ck_assert_int_eq(so.failed_member, m);
		ck_assert_int_eq(so.failed_from, at_fail[m]);
		ck_assert_int_ge(vfiomig_state_plan(at_fail[m], clean[p].state,
						    ALLF, path, VFIOMIG_STATE_NR), 1);
		ck_assert_int_eq(so.failed_to, path[0]);
		nl = rec_sets(slog);
		replay(&dst, start, slog, nl, true, st);
		for (size_t i = 0; i < n; i++)
			want[i] = commit ? ST(RUNNING) : ST(STOP);
		dst_in(&dst, want);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(st[i], want[i]);
	}
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(vfiomig_device_reset(dst.dev[i]), 0);
		ck_assert_int_eq(vfiomig_device_reset(src.dev[i]), 0);
	}
	side_free(&dst);
	side_free(&src);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Aggregates for the switchover                                        */

/* The total is the sum of the members (drained: all of them). */
static struct vfiomig_devset_stats total_checked(struct side *s)
{
	struct vfiomig_devset_stats t = stats(s, TOTAL), sum = {
		.initial_drained = true,
	};

	for (size_t i = 0; i < s->n; i++) {
		struct vfiomig_devset_stats m = stats(s, i);

		sum.stop_copy_bytes += m.stop_copy_bytes;
		sum.initial_bytes += m.initial_bytes;
		sum.dirty_bytes += m.dirty_bytes;
		sum.precopy += m.precopy;
		sum.reinits += m.reinits;
		sum.initial_drained = sum.initial_drained && m.initial_drained;
	}
	ck_assert_uint_eq(t.stop_copy_bytes, sum.stop_copy_bytes);
	ck_assert_uint_eq(t.initial_bytes, sum.initial_bytes);
	ck_assert_uint_eq(t.dirty_bytes, sum.dirty_bytes);
	ck_assert_uint_eq(t.precopy, sum.precopy);
	ck_assert_uint_eq(t.reinits, sum.reinits);
	ck_assert_int_eq(t.initial_drained, sum.initial_drained);
	return t;
}

/* A set of four (mtty-1 and three mtty-2): MIG_DATA_SIZE always,
 * PRECOPY_INFO in pre-copy, drained one member at a time. */
START_TEST(set_stats)
{
	struct vfiomig_precopy_progress p[MAX_SET];
	struct vfiomig_devset_stats m, t;
	struct {
		struct vfiomig_devset_stats s;
		char tail[8];
	} big = { .s = { .sz = sizeof(big) } };
	uint8_t buf[MTTY2_SIZE];
	uint64_t all = 0;
	struct side s;

	side_open(&s, src_uuid, 4, false);
	for (size_t i = 0; i < 4; i++) {
		p[i] = (struct vfiomig_precopy_progress){ .sz = sizeof(p[i]) };
		all += stream_size(s.uuid[i]);
	}
	/* running: MIG_DATA_SIZE, nothing else */
	for (size_t i = 0; i < 4; i++) {
		m = stats(&s, i);
		ck_assert_uint_eq(m.stop_copy_bytes, stream_size(s.uuid[i]));
		ck_assert_uint_eq(m.initial_bytes, 0);
		ck_assert_uint_eq(m.precopy, 0);
		ck_assert(m.initial_drained);
	}
	t = total_checked(&s);
	ck_assert_uint_eq(t.stop_copy_bytes, all);
	ck_assert(t.initial_drained);

	/* pre-copy: every member, its header initial */
	walk_ok(&s, ST(PRE_COPY));
	for (size_t i = 0; i < 4; i++) {
		m = stats(&s, i);
		ck_assert_uint_eq(m.precopy, 1);
		ck_assert_uint_eq(m.initial_bytes, MTTY_HDR);
		ck_assert_uint_eq(m.dirty_bytes, 0); /* mtty never dirties */
		ck_assert(!m.initial_drained);
		ck_assert_uint_eq(m.reinits, 0);
	}
	t = total_checked(&s);
	ck_assert_uint_eq(t.precopy, 4);
	ck_assert_uint_eq(t.initial_bytes, 4 * MTTY_HDR);
	ck_assert(!t.initial_drained);
	/* drained one by one: the set only when all are */
	for (size_t i = 0; i < 4; i++) {
		struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
					 .buf = buf, .len = sizeof(buf) };

		ck_assert_int_eq(vfiomig_precopy_step(s.dev[i], &io, 0, &p[i]),
				 MTTY_HDR);
		ck_assert(p[i].initial_drained);
		ck_assert(stats(&s, i).initial_drained);
		ck_assert_int_eq(total_checked(&s).initial_drained, i == 3);
	}

	/* stop-copy: out of precopy, drained by definition */
	walk_ok(&s, ST(STOP_COPY));
	t = total_checked(&s);
	ck_assert_uint_eq(t.precopy, 0);
	ck_assert_uint_eq(t.initial_bytes, 0);
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.stop_copy_bytes, all);

	/* bad input */
	m = (struct vfiomig_devset_stats){ .sz = sizeof(m) };
	ck_assert_int_eq(vfiomig_devset_stats(s.set, 4, &m), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_stats(NULL, 0, &m), -EINVAL);
	ck_assert_int_eq(vfiomig_devset_stats(s.set, 0, NULL), -EINVAL);
	m.sz = 0;
	ck_assert_int_eq(vfiomig_devset_stats(s.set, 0, &m), -EINVAL);
	big.s.sz = sizeof(big);
	big.tail[2] = 1;
	ck_assert_int_eq(vfiomig_devset_stats(s.set, 0, &big.s), -E2BIG);
	walk_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PRECOPY_INFOv2 asked for or not, and the ioctl economy               */

struct count {
	struct kenv_mig_ioctls m;
	unsigned int ioctls;
};

static struct count count_now(void)
{
	struct count c;

	kenv_mig_ioctls(&c.m);
	c.ioctls = kenv_ioctls();
	return c;
}

/* Ioctls between a and b that are no state GET or SET. */
static unsigned int others(const struct count *a, const struct count *b)
{
	return (b->ioctls - a->ioctls) - (b->m.state_gets - a->m.state_gets) -
	       (b->m.state_sets - a->m.state_sets);
}

/* ... and none of the migration ioctls kenv_mig_ioctls knows: PROBEs and
 * other features (PRECOPY_INFOv2 among them). */
static unsigned int unknown(const struct count *a, const struct count *b)
{
	return others(a, b) - (b->m.mig_gets - a->m.mig_gets) -
	       (b->m.data_sizes - a->m.data_sizes) -
	       (b->m.precopy_infos - a->m.precopy_infos) -
	       (b->m.resets - a->m.resets);
}

/* A handle's caps and its first session: the other ioctls they make. */
static unsigned int first_session(struct vfiomig_device *d)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_precopy_info pi;
	struct count a, b;

	a = count_now();
	ck_assert_int_eq(vfiomig_device_caps(d, &caps), 0);
	ck_assert(!(caps.features & VFIOMIG_CAP_PRECOPY_V2)); /* 6.12 */
	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 1);
	ck_assert_int_eq(vfiomig_precopy_info(d, &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, MTTY_HDR);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING), NULL), 0);
	return unknown(&a, &b);
}

/* VFIOMIG_OPEN_NO_PRECOPY_V2: the feature is never asked for; by default
 * it is asked once a handle, before its first session (6.12: ENOTTY), one
 * ioctl more than with the opt-out, and never again. */
START_TEST(reinit_opt_out)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .flags = VFIOMIG_OPEN_NO_PRECOPY_V2);
	struct vfiomig_device *d = NULL;
	unsigned int opt_out, dflt;
	struct count a, b;

	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2_UUID, &o,
					     &d), 0);
	opt_out = first_session(d);
	vfiomig_device_free(d);
	o.flags = 0;
	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2_UUID, &o,
					     &d), 0);
	dflt = first_session(d);
	ck_assert_uint_eq(dflt, opt_out + 1);
	a = count_now();
	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 1);
	ck_assert_uint_eq(others(&a, &b), 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING), NULL), 0);
	vfiomig_device_free(d);
}
END_TEST

START_TEST(ioctl_economy)
{
	static const int seq[] = { ST(PRE_COPY), ST(STOP_COPY), ST(STOP) };
	static const int stepwise[] = { ST(PRE_COPY), ST(PRE_COPY_P2P),
					ST(STOP_COPY), ST(STOP) };
	struct vfiomig_device *dev;
	struct count a, b;
	size_t len = 0, saves = 0;
	uint8_t buf[MTTY2_SIZE + 8];
	struct side s;

	/* member 0 a fresh handle: nothing asked of it yet */
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path_of(0, false));

	s = (struct side){ .n = 2, .uuid = { src_uuid[0], src_uuid[1] } };
	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), src_uuid[0], &o,
					     &s.dev[0]), 0);
	s.dev[1] = open_one(src_uuid[1], path_of(1, false));
	side_set(&s);
	dev = s.dev[0];
	/* the first change of a fresh handle reads the state once */
	a = count_now();
	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY), NULL), 0);
	b = count_now();
	ck_assert_uint_le(b.m.state_gets - a.m.state_gets, 1);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 1);
	/* PRECOPY_INFOv2 asked for before the session */
	ck_assert_uint_eq(others(&a, &b), 1);
	/* then: one SET per change, no GET, MIG_DATA_SIZE at most once for
	 * a session however many saves */
	a = b;
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	for (;;) {
		struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
					 .buf = buf + len, .len = 10 };
		int64_t r = vfiomig_save(dev, &io, 0);

		ck_assert_int_ge(r, 0);
		if (!r)
			break;
		len += (size_t)r;
		saves++;
	}
	ck_assert_uint_eq(len, MTTY2_SIZE);
	ck_assert_uint_ge(saves, MTTY2_SIZE / 10);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP), NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 0);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 2);
	ck_assert_uint_le(b.m.data_sizes - a.m.data_sizes, 1);
	ck_assert_uint_eq(b.m.mig_gets - a.m.mig_gets, 0);
	/* nothing else: no PRECOPY_INFOv2 again, no MIGRATION GET */
	ck_assert_uint_eq(others(&a, &b), b.m.data_sizes - a.m.data_sizes);

	/* STEPWISE: one SET per arc, still no GET */
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	rec_start(&s);
	a = count_now();
	for (size_t j = 0; j < 3; j++) {
		VFIOMIG_OPTS(vfiomig_set_opts, so, .flags = VFIOMIG_SET_STEPWISE);

		ck_assert_int_eq(vfiomig_state_set(dev, seq[j], &so), 0);
	}
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 0);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 4);
	ck_assert_uint_eq(rec_sets(slog), 4);
	for (size_t k = 0; k < 4; k++)
		ck_assert_int_eq(slog[k].state, stepwise[k]);

	/* the default: one SET per change, the kernel walks the arcs
	 * (PRE_COPY -> PRE_COPY_P2P -> STOP_COPY in the second) */
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	rec_start(&s);
	a = count_now();
	for (size_t j = 0; j < 3; j++)
		ck_assert_int_eq(vfiomig_state_set(dev, seq[j], NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 0);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 3);
	ck_assert_uint_eq(rec_sets(slog), 3);
	for (size_t k = 0; k < 3; k++)
		ck_assert_int_eq(slog[k].state, seq[k]);

	/* asking for the state remembered: confirmed by one GET, no SET */
	a = count_now();
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP), NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 1);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 0);
	/* vfiomig_state_get asks the kernel, each time (header: "from the
	 * kernel"); the library's own calls after it ask nothing */
	a = count_now();
	ck_assert_int_eq(vfiomig_state_get(dev), ST(STOP));
	ck_assert_int_eq(vfiomig_state_get(dev), ST(STOP));
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 2);
	ck_assert_uint_eq(b.ioctls - a.ioctls, 2);

	/* a set: one SET per member step, no GET once the states are known */
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(vfiomig_state_get(s.dev[1]), ST(RUNNING));
	a = count_now();
	ck_assert_int_eq(vfiomig_devset_state_set(s.set, ST(STOP_COPY), NULL), 0);
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 0);
	ck_assert_uint_eq(b.m.state_sets - a.m.state_sets, 4);
	ck_assert_uint_eq(b.ioctls - a.ioctls, 4);
	all_in(&s, ST(STOP_COPY)); /* one GET each */
	b = count_now();
	ck_assert_uint_eq(b.m.state_gets - a.m.state_gets, 2);
	ck_assert_uint_eq(b.ioctls - a.ioctls, 6);
	walk_ok(&s, ST(RUNNING));
	side_free(&s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Programmable members: the capability mixes mtty has not              */

/*
 * test-devset.c's cases on programmable devices (kenv_gen_add): sets of
 * one to four over every mix of STOP_COPY, P2P and PRE_COPY, a device
 * without migration, a member in ERROR, a driver refusing an arc on
 * demand (kenv_gen_fail_arc, in the middle of a SET the kernel walks too)
 * with every member back where the recovery says and nothing leaked,
 * load_finish and the aggregates on those mixes.
 *
 * The kernel shows SETs, not the arcs inside one.  The arc log the fake
 * kept is derived here from the SET log (kenv_sets): each SET walked with
 * vfiomig_state_plan() under the member's own capabilities (the kernel's
 * vfio_mig_get_next_state() walk), a SET the driver refused stopping at
 * the arc armed with kenv_gen_fail_arc (else at its first arc: the
 * driver's own refusal is RESUMING -> STOP, the first arc of every way
 * out of RESUMING), a SET walking the armed arc and succeeding failing
 * the case, and the resets the library logged put in their place.  The
 * states it ends in are checked against the driver's own
 * (kenv_gen_state), so a wrong derivation fails too.
 */

#define SC VFIOMIG_MIG_STOP_COPY
#define P2P VFIOMIG_MIG_P2P
#define PC VFIOMIG_MIG_PRE_COPY
#define MAXM MAX_SET

/* Every capability mix a migratable device can have. */
static const uint64_t caps4[4] = { SC, SC | P2P, SC | PC, SC | P2P | PC };

/* Programmable devices of 10 chunks (the last one short), 3 initial. */
#define DEV_SIZE 40000u
#define DEV_CHUNKS 10u
#define DEV_INITIAL 10000u
#define REC (24u + 4096u)
#define INITIAL_BYTES (3u * REC)
#define STREAM_BYTES (DEV_CHUNKS * 24u + DEV_SIZE + 24u)

/* A machine: n source members and, when asked, n destinations. */
static struct {
	size_t n;
	bool dst;
	unsigned int complaints; /* kenv_kernel_complaints() at g_up() */
	uint64_t fl[MAXM];
	struct side src, dsts;
} GM;

static const char *g_add(bool dst, size_t i, uint64_t flags)
{
	const struct kenv_gen_cfg cfg = {
		.mig_flags = flags,
		.state_size = DEV_SIZE,
		.precopy_initial = DEV_INITIAL,
		.precopy_enomsg = i % 2 == 0,
	};
	const char *uuid = kenv_gen_add(&cfg);

	kenv_gen_fill(uuid, (dst ? 0x900 : 0x100) + (uint32_t)i);
	return uuid;
}

/* Members alternate between the IOMMU paths. */
static int g_path(size_t i)
{
	return i % 2 || !kenv_has_iommufd() ? VFIOMIG_IOMMU_TYPE1
					    : VFIOMIG_IOMMU_IOMMUFD;
}

static void g_mark(const struct side *s);

/* n members with these capabilities (and as many destinations); a set of
 * each side made with devset_flags, unless no_set. */
static void g_up(size_t n, const uint64_t *flags, bool dst,
		 unsigned int devset_flags, bool no_set)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, so, .flags = devset_flags);

	memset(&GM, 0, sizeof(GM));
	GM.n = n;
	GM.dst = dst;
	GM.complaints = kenv_kernel_complaints();
	GM.src.n = n;
	GM.dsts.n = dst ? n : 0;
	for (size_t i = 0; i < n; i++) {
		GM.fl[i] = flags[i];
		GM.src.uuid[i] = g_add(false, i, flags[i]);
		if (dst)
			GM.dsts.uuid[i] = g_add(true, i, flags[i]);
	}
	for (size_t i = 0; i < n; i++) {
		GM.src.dev[i] = kenv_open(GM.src.uuid[i], g_path(i));
		if (dst)
			GM.dsts.dev[i] = kenv_open(GM.dsts.uuid[i], g_path(i));
	}
	g_mark(&GM.src);
	if (no_set)
		return;
	ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, n, &so, &GM.src.set), 0);
	if (dst)
		ck_assert_int_eq(vfiomig_devset_new(GM.dsts.dev, n, &so,
						    &GM.dsts.set), 0);
}

static void g_down(void)
{
	side_free(&GM.src);
	side_free(&GM.dsts);
	ck_assert_uint_eq(kenv_kernel_complaints(), GM.complaints);
	memset(&GM, 0, sizeof(GM));
}

/* A member's own target for the set's target. */
static int g_mtarget(uint64_t fl, int cur, int target)
{
	if (!(fl & PC)) {
		if (target == ST(PRE_COPY))
			target = ST(RUNNING);
		else if (target == ST(PRE_COPY_P2P))
			target = ST(RUNNING_P2P);
	}
	if (fl & P2P)
		return target;
	if (target == ST(PRE_COPY_P2P))
		return ST(PRE_COPY);
	if (target == ST(RUNNING_P2P))
		return is_active(cur) ? ST(RUNNING) : ST(STOP);
	return target;
}

/* The driver and the library agree on where member i is. */
static void g_agree(const struct side *s, size_t i)
{
	ck_assert_int_eq(vfiomig_state_get(s->dev[i]), kenv_gen_state(s->uuid[i]));
}

/* ------------------------------------------------------------------ */
/* The arc log, derived                                                 */

struct garc {
	int m;          /* member of the marked side */
	int from, to;
	int err;        /* the SET's answer at a refused arc, else 0 */
	bool reset;
	unsigned int set; /* 1 + the SET's index in the log, 0 for a reset */
};

static struct garc alog[2 * KENV_SETS_MAX];

/* What g_arcs() starts from: the side, its members' states, the arc
 * armed to fail. */
static struct {
	const struct side *s;
	int start[MAXM];
	bool armed;
	int m, from, to;
} mark;

/* Record s's SETs and resets from here, from the states the driver
 * holds. */
static void g_mark(const struct side *s)
{
	mark.s = s;
	mark.armed = false;
	for (size_t i = 0; i < s->n; i++)
		mark.start[i] = kenv_gen_state(s->uuid[i]);
	rec_start(s);
}

/* Member m's driver refuses its next arc from -> to with EIO. */
static void g_fail_arc(int m, int from, int to)
{
	kenv_gen_fail_arc(mark.s->uuid[m], from, to, EIO);
	mark.armed = true;
	mark.m = m;
	mark.from = from;
	mark.to = to;
}

static void g_disarm(void)
{
	kenv_gen_fail_arc(mark.s->uuid[mark.m], 0, 0, 0);
}

/* The arcs since g_mark() into alog (members' capabilities fl); returns
 * how many. */
static size_t g_arcs(const uint64_t *fl)
{
	const struct side *s = mark.s;
	size_t nl = rec_sets(slog), na = 0, e = 0;
	bool armed = mark.armed;
	int st[MAXM];

	memcpy(st, mark.start, s->n * sizeof(*st));
	for (size_t k = 0; k <= nl; k++) {
		int path[VFIOMIG_STATE_NR], np, m, fa = -1, cur;

		for (; e < rec.nev && rec.ev[e].pos == k; e++) {
			m = (int)rec.ev[e].m;
			ck_assert_uint_lt(na, sizeof(alog) / sizeof(alog[0]));
			alog[na++] = (struct garc){ .m = m, .from = st[m],
						    .to = ST(RUNNING),
						    .reset = true };
			st[m] = ST(RUNNING);
		}
		if (k == nl)
			break;
		m = member_of(s, slog[k].uuid);
		if (m < 0)
			continue;
		if (st[m] == ST(ERROR)) {
			/* refused before any arc (pds) */
			ck_assert_msg(slog[k].err == -EIO,
				      "SET %zu: member %d in error: %d", k, m,
				      slog[k].err);
			continue;
		}
		np = vfiomig_state_plan(st[m], slog[k].state, fl[m], path,
					VFIOMIG_STATE_NR);
		ck_assert_msg(np >= 0 && (np > 0 || !slog[k].err),
			      "SET %zu: member %d (0x%llx) %s -> %s: no walk (%d), answer %d",
			      k, m, (unsigned long long)fl[m], sname(st[m]),
			      sname(slog[k].state), np, slog[k].err);
		if (slog[k].err) {
			fa = 0;
			cur = st[m];
			for (int a = 0; armed && mark.m == m && a < np;
			     cur = path[a++]) {
				if (mark.from == cur && mark.to == path[a]) {
					fa = a;
					break;
				}
			}
		}
		for (int a = 0; a < np; a++) {
			int from = st[m], to = path[a];
			bool hit = armed && mark.m == m && mark.from == from &&
				   mark.to == to;

			ck_assert_uint_lt(na, sizeof(alog) / sizeof(alog[0]));
			if (a == fa) {
				alog[na++] = (struct garc){
					.m = m, .from = from, .to = to,
					.err = slog[k].err,
					.set = (unsigned int)k + 1,
				};
				armed = armed && !hit;
				break;
			}
			ck_assert_msg(!hit, "SET %zu: member %d walked %s->%s, armed to fail, and got through",
				      k, m, sname(from), sname(to));
			alog[na++] = (struct garc){ .m = m, .from = from,
						    .to = to,
						    .set = (unsigned int)k + 1 };
			st[m] = to;
		}
	}
	return na;
}

/*
 * Replay alog[0..na) over the members (capabilities fl, states at the
 * start) and check the barrier at every arc a SET walked: no member
 * enters a stopped state while a peer is active, none becomes active
 * while a peer is stopped, unless neither has P2P (nothing can order
 * those; the set let them in with ALLOW_NO_P2P).  Resets are the
 * recovery's last resort and are not held to it.  Leaves the replayed
 * states in st.
 */
static void check_barrier(const uint64_t *fl, size_t n, const int *start,
			  size_t na, int *st)
{
	memcpy(st, start, n * sizeof(*st));
	for (size_t k = 0; k < na; k++) {
		const struct garc *a = &alog[k];
		int m = a->m;

		if (a->err)
			continue;
		ck_assert_msg(st[m] == a->from,
			      "arc %zu: member %d %s->%s, but it was in %s", k, m,
			      sname(a->from), sname(a->to), sname(st[m]));
		for (size_t o = 0; !a->reset && o < n; o++) {
			if ((int)o == m || !((fl[m] | fl[o]) & P2P))
				continue;
			ck_assert_msg(!(halted(a->to) && is_active(st[o])),
				      "barrier: arc %zu: member %d %s->%s while member %zu is %s",
				      k, m, sname(a->from), sname(a->to), o,
				      sname(st[o]));
			ck_assert_msg(!(is_active(a->to) && halted(st[o])),
				      "barrier: arc %zu: member %d %s->%s while member %zu is %s",
				      k, m, sname(a->from), sname(a->to), o,
				      sname(st[o]));
		}
		st[m] = a->to;
	}
}

/* Did member m walk into state s in alog[0..na)? */
static bool g_reached(int m, size_t na, int s)
{
	for (size_t k = 0; k < na; k++)
		if (alog[k].m == m && !alog[k].err && !alog[k].reset &&
		    alog[k].to == s)
			return true;
	return false;
}

static bool g_was_reset(int m, size_t na)
{
	for (size_t k = 0; k < na; k++)
		if (alog[k].m == m && alog[k].reset)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Moving data                                                          */

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

/* Everything the member's session has now. */
static void g_save_now(struct vfiomig_device *d, struct vec *v)
{
	static unsigned char buf[16384];

	for (;;) {
		VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
			     .len = sizeof(buf));
		int64_t r = vfiomig_save(d, &io, 0);

		ck_assert_int_ge(r, 0);
		if (!r)
			return;
		vec_add(v, buf, (size_t)r);
	}
}

static void g_load_all(struct vfiomig_device *d, const struct vec *v)
{
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = v->p,
		     .len = v->n);

	ck_assert_int_eq(vfiomig_load(d, &io, 0), (int64_t)v->n);
}

/* The source set's whole stream per member: precopy, then stop-copy. */
static void source_streams(struct vec *v)
{
	ck_assert_int_eq(vfiomig_devset_state_set(GM.src.set, ST(PRE_COPY),
						  NULL), 0);
	for (size_t i = 0; i < GM.n; i++)
		if (GM.fl[i] & PC)
			g_save_now(GM.src.dev[i], &v[i]);
	ck_assert_int_eq(vfiomig_devset_state_set(GM.src.set, ST(STOP_COPY),
						  NULL), 0);
	for (size_t i = 0; i < GM.n; i++) {
		g_save_now(GM.src.dev[i], &v[i]);
		ck_assert_uint_ge(v[i].n, STREAM_BYTES);
	}
}

static void same_blob(const char *a, const char *b)
{
	static unsigned char x[DEV_SIZE], y[DEV_SIZE];

	ck_assert_uint_eq(kenv_gen_blob(a, x, sizeof(x)), DEV_SIZE);
	ck_assert_uint_eq(kenv_gen_blob(b, y, sizeof(y)), DEV_SIZE);
	ck_assert(!memcmp(x, y, DEV_SIZE));
}

/* Member i's capabilities in mix k of a set of n (two bits a member). */
static void mix(size_t n, unsigned int k, uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		fl[i] = caps4[(k >> (2 * i)) & 3];
}

static bool all_p2p(size_t n, const uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		if (!(fl[i] & P2P))
			return false;
	return true;
}

/* Loop index -> (size, mix): sizes 1..4, every mix of each. */
static void decode(int li, size_t *n, unsigned int *k)
{
	unsigned int total = 0;

	for (size_t s = 1; s <= MAXM; s++) {
		unsigned int count = 1u << (2 * s);

		if ((unsigned int)li < total + count) {
			*n = s;
			*k = (unsigned int)li - total;
			return;
		}
		total += count;
	}
	ck_abort_msg("loop index %d out of range", li);
}

#define N_ALL_MIXES (4 + 16 + 64 + 256)

/* Every member with every capability: what mtty has (the cases above). */
static bool all_allf(size_t n, const uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		if (fl[i] != ALLF)
			return false;
	return true;
}

/* As decode(), over the mixes where some member lacks a capability: the
 * mix of ALLF members alone (the last of each size) runs on mtty
 * (every_size). */
static void decode_lacking(int li, size_t *n, unsigned int *k)
{
	unsigned int total = 0;

	for (size_t s = 1; s <= MAXM; s++) {
		unsigned int count = (1u << (2 * s)) - 1;

		if ((unsigned int)li < total + count) {
			*n = s;
			*k = (unsigned int)li - total;
			return;
		}
		total += count;
	}
	ck_abort_msg("loop index %d out of range", li);
}

#define N_LACKING_MIXES (N_ALL_MIXES - MAXM)

/* ------------------------------------------------------------------ */
/* Making a set                                                         */

/* Capabilities mtty has not (a member without P2P, a device without
 * migration); the rest of making a set is set_new, on mtty. */
START_TEST(set_new_caps)
{
	static const uint64_t fl[4] = { ALLF, SC | P2P, SC, SC | PC };
	const struct kenv_gen_cfg none = { .mig_flags = 0,
					   .state_size = DEV_SIZE };
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	struct vfiomig_devset *set = NULL;
	struct vfiomig_device *devs[4], *nomig = NULL;
	struct kenv_mig_ioctls a, b;
	const char *nomig_uuid;

	g_up(4, fl, false, 0, true);
	kenv_mig_ioctls(&a);
	/* a set of one takes any migratable device: no peer to wait for */
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vfiomig_devset_new(&GM.src.dev[i], 1, NULL, &set),
				 0);
		ck_assert_uint_eq(vfiomig_devset_size(set), 1);
		ck_assert_ptr_eq(vfiomig_devset_member(set, 0), GM.src.dev[i]);
		ck_assert_ptr_null(vfiomig_devset_member(set, 1));
		vfiomig_devset_free(set);
		set = NULL;
	}
	/* more than one with a member lacking P2P: refused, the member named */
	kenv_ctx_logged(LOG_DEBUG);
	ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, 3, NULL, &set),
			 -EOPNOTSUPP);
	ck_assert_ptr_null(set);
	ck_assert_msg(strstr(kenv_log_text(), GM.src.uuid[2]), "log names %s: %s",
		      GM.src.uuid[2], kenv_log_text());
	ck_assert_ptr_null(strstr(kenv_log_text(), GM.src.uuid[1]));
	devs[0] = GM.src.dev[3];
	devs[1] = GM.src.dev[0];
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -EOPNOTSUPP);
	/* P2P members only: accepted */
	ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, 2, NULL, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 2);
	vfiomig_devset_free(set);
	/* ALLOW_NO_P2P lets them in, in the caller's order */
	o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
	ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, 4, &o, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_ptr_eq(vfiomig_devset_member(set, i), GM.src.dev[i]);
	vfiomig_devset_free(set);
	set = NULL;
	/* a device without migration: its error */
	nomig_uuid = kenv_gen_add(&none);
	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), nomig_uuid, NULL,
					     &nomig), 0);
	devs[0] = nomig;
	ck_assert_int_eq(vfiomig_devset_new(devs, 1, NULL, &set), -ENOTTY);
	devs[0] = GM.src.dev[0];
	devs[1] = nomig;
	o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -ENOTTY);
	ck_assert_ptr_null(set);
	vfiomig_device_free(nomig);
	/* nothing moved by any of it: no SET, no reset */
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(kenv_gen_state(GM.src.uuid[i]), ST(RUNNING));
	ck_assert_uint_eq(nsets_now(), 0);
	kenv_mig_ioctls(&b);
	ck_assert_uint_eq(b.state_sets, a.state_sets);
	ck_assert_uint_eq(b.resets, a.resets);
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The barrier, arc by arc                                              */

/* member, from, to */
typedef int arc3[3];

/* The (derived) arc log is exactly exp[0..n), each member step one SET. */
static void expect_arcs(const arc3 *exp, size_t n)
{
	size_t na = g_arcs(GM.fl);

	for (size_t k = 0; k < na && k < n; k++)
		ck_assert_msg(alog[k].m == exp[k][0] &&
				      alog[k].from == exp[k][1] &&
				      alog[k].to == exp[k][2] && !alog[k].err &&
				      !alog[k].reset,
			      "arc %zu: member %d %s->%s%s, want member %d %s->%s",
			      k, alog[k].m, sname(alog[k].from),
			      sname(alog[k].to), alog[k].reset ? " (reset)" : "",
			      exp[k][0], sname(exp[k][1]), sname(exp[k][2]));
	ck_assert_uint_eq(na, n);
}

/* A set change that must succeed; then every member at its own target,
 * the library agreeing, the barrier held, no failure reported. */
static void g_set_ok(struct side *s, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int st[MAXM];

	g_mark(s);
	ck_assert_msg(vfiomig_devset_state_set(s->set, target, &so) == 0,
		      "set -> %s failed: member %d %s->%s", sname(target),
		      so.failed_member, sname(so.failed_from),
		      sname(so.failed_to));
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	check_barrier(GM.fl, s->n, mark.start, g_arcs(GM.fl), st);
	for (size_t i = 0; i < s->n; i++) {
		int now = kenv_gen_state(s->uuid[i]),
		    want = g_mtarget(GM.fl[i], mark.start[i], target);

		ck_assert_msg(now == want,
			      "member %zu (0x%llx) %s -> %s: in %s, want %s", i,
			      (unsigned long long)GM.fl[i], sname(mark.start[i]),
			      sname(target), sname(now), sname(want));
		ck_assert_int_eq(st[i], now);
		g_agree(s, i);
	}
}

/* ALLOW_NO_P2P: members without P2P stop after every P2P member is
 * quiesced and before any P2P member stops, and start after every P2P
 * member is in RUNNING_P2P and before any P2P member runs. */
START_TEST(barrier_no_p2p)
{
	/* 0, 2: P2P; 1, 3: not; 0 and 3 have PRE_COPY */
	static const uint64_t fl[4] = { ALLF, SC, SC | P2P, SC | PC };
	static const arc3 down_sc[] = {
		{ 0, ST(RUNNING), ST(RUNNING_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
		{ 1, ST(RUNNING), ST(STOP) },
		{ 1, ST(STOP), ST(STOP_COPY) },
		{ 3, ST(RUNNING), ST(STOP) },
		{ 3, ST(STOP), ST(STOP_COPY) },
		{ 0, ST(RUNNING_P2P), ST(STOP) },
		{ 0, ST(STOP), ST(STOP_COPY) },
		{ 2, ST(RUNNING_P2P), ST(STOP) },
		{ 2, ST(STOP), ST(STOP_COPY) },
	};
	static const arc3 to_stop[] = {
		{ 1, ST(STOP_COPY), ST(STOP) },
		{ 3, ST(STOP_COPY), ST(STOP) },
		{ 0, ST(STOP_COPY), ST(STOP) },
		{ 2, ST(STOP_COPY), ST(STOP) },
	};
	static const arc3 up_run[] = {
		{ 0, ST(STOP), ST(RUNNING_P2P) },
		{ 2, ST(STOP), ST(RUNNING_P2P) },
		{ 1, ST(STOP), ST(RUNNING) },
		{ 3, ST(STOP), ST(RUNNING) },
		{ 0, ST(RUNNING_P2P), ST(RUNNING) },
		{ 2, ST(RUNNING_P2P), ST(RUNNING) },
	};
	/* members without PRE_COPY keep running */
	static const arc3 to_pre[] = {
		{ 3, ST(RUNNING), ST(PRE_COPY) },
		{ 0, ST(RUNNING), ST(PRE_COPY) },
	};
	static const arc3 pre_sc[] = {
		{ 0, ST(PRE_COPY), ST(PRE_COPY_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
		{ 1, ST(RUNNING), ST(STOP) },
		{ 1, ST(STOP), ST(STOP_COPY) },
		{ 3, ST(PRE_COPY), ST(STOP_COPY) },
		{ 0, ST(PRE_COPY_P2P), ST(STOP_COPY) },
		{ 2, ST(RUNNING_P2P), ST(STOP) },
		{ 2, ST(STOP), ST(STOP_COPY) },
	};
	/* RUNNING_P2P: members without P2P stay on their side (running) */
	static const arc3 to_r2p[] = {
		{ 0, ST(RUNNING), ST(RUNNING_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
	};

	g_up(4, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	g_set_ok(&GM.src, ST(STOP_COPY));
	expect_arcs(down_sc, 10);
	g_set_ok(&GM.src, ST(STOP));
	expect_arcs(to_stop, 4);
	g_set_ok(&GM.src, ST(RUNNING));
	expect_arcs(up_run, 6);
	g_set_ok(&GM.src, ST(PRE_COPY));
	expect_arcs(to_pre, 2);
	g_set_ok(&GM.src, ST(STOP_COPY));
	expect_arcs(pre_sc, 8);
	g_set_ok(&GM.src, ST(RUNNING));
	g_set_ok(&GM.src, ST(RUNNING_P2P));
	expect_arcs(to_r2p, 2);
	/* from STOP, RUNNING_P2P leaves members without P2P stopped */
	g_set_ok(&GM.src, ST(STOP));
	g_set_ok(&GM.src, ST(RUNNING_P2P));
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(kenv_gen_state(GM.src.uuid[i]),
				 i % 2 ? ST(STOP) : ST(RUNNING_P2P));
	g_down();
}
END_TEST

/* A set of one goes straight there: one SET per change, for the
 * member's own target.  _i: a mix mtty has not (the fourth, every
 * capability, is set_of_one's). */
START_TEST(set_of_one_caps)
{
	const uint64_t fl[1] = { caps4[_i] };
	static const int seq[] = { ST(PRE_COPY), ST(STOP_COPY), ST(STOP),
				   ST(RUNNING), ST(STOP_COPY), ST(RESUMING) };

	g_up(1, fl, false, 0, false);
	for (size_t j = 0; j < sizeof(seq) / sizeof(seq[0]); j++) {
		size_t na, nl;

		g_set_ok(&GM.src, seq[j]);
		na = g_arcs(GM.fl);
		nl = rec_sets(slog);
		for (size_t k = 0; k < na; k++)
			ck_assert_uint_eq(alog[k].set, na ? 1 : 0);
		ck_assert_uint_le(nl, 1);
		ck_assert_uint_eq(nl, na ? 1 : 0);
		if (nl)
			ck_assert_int_eq(slog[0].state,
					 g_mtarget(fl[0], mark.start[0], seq[j]));
	}
	ck_assert_int_eq(vfiomig_device_reset(GM.src.dev[0]), 0);
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every size, every mix of capabilities                                */

static const int mix_chain[] = {
	ST(PRE_COPY), ST(PRE_COPY_P2P), ST(PRE_COPY), ST(STOP_COPY),
	ST(STOP), ST(RUNNING_P2P), ST(RUNNING), ST(RUNNING_P2P),
	ST(PRE_COPY_P2P), ST(RUNNING), ST(STOP_COPY), ST(STOP),
	ST(RESUMING),
};

START_TEST(every_mix)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	struct vfiomig_devset *set = NULL;
	uint64_t fl[MAXM];
	unsigned int k;
	size_t n;
	bool p2p;

	decode_lacking(_i, &n, &k);
	mix(n, k, fl);
	ck_assert(!all_allf(n, fl));
	p2p = all_p2p(n, fl);
	g_up(n, fl, false, 0, true);
	/* refused without the opt-in exactly when a member lacks P2P */
	ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, n, &o, &set),
			 n == 1 || p2p ? 0 : -EOPNOTSUPP);
	if (!set) {
		o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
		ck_assert_int_eq(vfiomig_devset_new(GM.src.dev, n, &o, &set), 0);
	}
	GM.src.set = set;
	for (size_t j = 0; j < sizeof(mix_chain) / sizeof(mix_chain[0]); j++)
		g_set_ok(&GM.src, mix_chain[j]);
	/* RESUMING is left by a reset (nothing to commit) */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(vfiomig_device_reset(GM.src.dev[i]), 0);
	g_set_ok(&GM.src, ST(STOP_COPY));
	g_set_ok(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

/* A member in ERROR (mtty never enters it): EIO, nobody moves; the other
 * bad requests are bad_requests'. */
START_TEST(member_in_error)
{
	static const uint64_t fl[2] = { ALLF, SC | P2P };
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

	g_up(2, fl, false, 0, false);
	kenv_gen_force_error(GM.src.uuid[1]);
	ck_assert_int_eq(vfiomig_state_get(GM.src.dev[1]), ST(ERROR));
	g_mark(&GM.src);
	ck_assert_int_eq(vfiomig_devset_state_set(GM.src.set, ST(STOP), &so),
			 -EIO);
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_uint_eq(g_arcs(GM.fl), 0);
	ck_assert_uint_eq(rec_sets(slog), 0);
	ck_assert_int_eq(kenv_gen_state(GM.src.uuid[0]), ST(RUNNING));
	ck_assert_int_eq(vfiomig_device_reset(GM.src.dev[1]), 0);
	g_set_ok(&GM.src, ST(STOP));
	g_set_ok(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* A fault at every arc of every member, and at every ioctl              */

/* Kernel fds with every member out of its sessions (the baseline). */
static int base_fds;

/* Nothing leaked: a data fd exactly for members in a session state. */
static void g_fds_match(const struct side *s)
{
	int sessions = 0;

	for (size_t i = 0; i < s->n; i++) {
		int st = kenv_gen_state(s->uuid[i]);

		if (session_state(st)) {
			sessions++;
			ck_assert_int_ge(vfiomig_data_fd(s->dev[i]), 0);
		} else {
			ck_assert_int_eq(vfiomig_data_fd(s->dev[i]), -ENOENT);
		}
	}
	ck_assert_int_eq(kenv_kernel_fds(), base_fds + sessions);
}

/* Every member reset to RUNNING, then the set to origin; marked. */
static void g_to_origin(const struct side *s, int origin)
{
	to_origin(s, origin);
	g_mark(s);
}

/* After a failed set change with the default recovery: every member back
 * where it started, or where the rules say when that cannot be. */
static void g_check_default_back(const struct side *s, const int *start,
				 size_t na)
{
	for (size_t i = 0; i < s->n; i++) {
		int f = kenv_gen_state(s->uuid[i]), want = start[i];

		if (g_reached((int)i, na, ST(RESUMING)))
			want = ST(RUNNING); /* reset: nothing committed */
		else if ((start[i] == ST(PRE_COPY) ||
			  start[i] == ST(PRE_COPY_P2P)) &&
			 g_reached((int)i, na, ST(STOP_COPY)))
			want = twin_running(start[i]); /* its session ended */
		ck_assert_msg(f == want,
			      "member %zu (0x%llx) started in %s: in %s, want %s",
			      i, (unsigned long long)GM.fl[i], sname(start[i]),
			      sname(f), sname(want));
		if (want == ST(RUNNING) && start[i] != ST(RUNNING) &&
		    g_reached((int)i, na, ST(RESUMING)))
			ck_assert(g_was_reset((int)i, na));
		g_agree(s, i);
	}
	g_fds_match(s);
}

static void fault_flow_mix(const struct side *s, const struct flow *fw)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	struct garc ca[64];
	int st[MAXM], ret;
	size_t nclean = 0, na;
	unsigned int k0, nioctl;

	/* The clean run: its arcs and its ioctls are the fault points. */
	g_to_origin(s, fw->origin);
	k0 = kenv_ioctls();
	ck_assert_int_eq(vfiomig_devset_state_set(s->set, fw->target, &so), 0);
	nioctl = kenv_ioctls() - k0;
	na = g_arcs(GM.fl);
	check_barrier(GM.fl, s->n, mark.start, na, st);
	for (size_t k = 0; k < na; k++)
		if (!alog[k].reset && nclean < 64)
			ca[nclean++] = alog[k];

	/* A driver refusing each arc in turn. */
	for (size_t j = 0; j < nclean; j++) {
		int m = ca[j].m;

		g_to_origin(s, fw->origin);
		g_fail_arc(m, ca[j].from, ca[j].to);
		so = (struct vfiomig_devset_set_opts){ .sz = sizeof(so) };
		ret = vfiomig_devset_state_set(s->set, fw->target, &so);
		g_disarm();
		ck_assert_msg(ret == -EIO,
			      "%s->%s, member %d failing %s->%s: %d",
			      sname(fw->origin), sname(fw->target), m,
			      sname(ca[j].from), sname(ca[j].to), ret);
		ck_assert_int_eq(so.failed_member, m);
		ck_assert_int_eq(so.failed_from, ca[j].from);
		ck_assert_int_eq(so.failed_to, ca[j].to);
		na = g_arcs(GM.fl);
		check_barrier(GM.fl, s->n, mark.start, na, st);
		g_check_default_back(s, mark.start, na);
	}

	/* Each ioctl of the change failing in turn (no side effect); with
	 * every capability in every member that is fault_every_ioctl, on
	 * mtty. */
	for (unsigned int k = 1; !all_allf(s->n, GM.fl) && k <= nioctl; k++) {
		g_to_origin(s, fw->origin);
		kenv_fail_nth_call("ioctl", k, EIO);
		so = (struct vfiomig_devset_set_opts){ .sz = sizeof(so) };
		ret = vfiomig_devset_state_set(s->set, fw->target, &so);
		kenv_fail_nth(0, 0);
		na = g_arcs(GM.fl);
		check_barrier(GM.fl, s->n, mark.start, na, st);
		if (ret == 0) {
			ck_assert_int_eq(so.failed_member, -1);
			for (size_t i = 0; i < s->n; i++)
				ck_assert_int_eq(kenv_gen_state(s->uuid[i]),
						 g_mtarget(GM.fl[i], mark.start[i],
							   fw->target));
			g_fds_match(s);
			continue;
		}
		ck_assert_int_eq(ret, -EIO);
		ck_assert_int_ge(so.failed_member, 0);
		ck_assert_int_lt(so.failed_member, (int)s->n);
		/* a SET refused before it walked: its first arc is named */
		ck_assert_int_eq(vfiomig_state_plan(so.failed_from, so.failed_to,
						    GM.fl[so.failed_member], NULL,
						    0), 1);
		g_check_default_back(s, mark.start, na);
	}
}

/* Sizes 1..3, every mix, every flow (_i as decode()). */
START_TEST(fault_every_arc)
{
	uint64_t fl[MAXM];
	unsigned int k;
	size_t n;

	decode(_i, &n, &k);
	mix(n, k, fl);
	g_up(n, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = kenv_kernel_fds();
	for (size_t f = 0; f < N_FLOWS; f++)
		fault_flow_mix(&GM.src, &flows[f]);
	g_to_origin(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

/* Sets of four: all P2P, and mixes with every capability in them. */
static const uint64_t four[][4] = {
	{ ALLF, ALLF, ALLF, ALLF },
	{ SC | P2P, SC | P2P, ALLF, SC | P2P },
	{ ALLF, SC, SC | P2P, SC | PC },
	{ SC, SC | PC, ALLF, SC | P2P },
	{ SC | PC, SC, SC | PC, SC },
};

START_TEST(fault_every_arc_four)
{
	g_up(4, four[_i], false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = kenv_kernel_fds();
	for (size_t f = 0; f < N_FLOWS; f++)
		fault_flow_mix(&GM.src, &flows[f]);
	g_to_origin(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Recovery choices, a driver refusing an arc                           */

typedef void g_check_fn(const int *start, const int *at_fail, size_t na,
			size_t nfail);

/* A failure at each arc of flow fw with these options: the call names
 * it; check() looks at the result. */
static void g_each_failure(const struct flow *fw,
			   const struct vfiomig_devset_set_opts *opts,
			   g_check_fn *check)
{
	const struct side *s = &GM.src;
	struct garc ca[64];
	int st[MAXM];
	size_t nclean = 0, na;

	g_to_origin(s, fw->origin);
	ck_assert_int_eq(vfiomig_devset_state_set(s->set, fw->target, NULL), 0);
	na = g_arcs(GM.fl);
	for (size_t k = 0; k < na && nclean < 64; k++)
		ca[nclean++] = alog[k];
	for (size_t j = 0; j < nclean; j++) {
		struct vfiomig_devset_set_opts so = *opts;
		size_t nfail = SIZE_MAX;
		int at_fail[MAXM];

		g_to_origin(s, fw->origin);
		g_fail_arc(ca[j].m, ca[j].from, ca[j].to);
		ck_assert_int_eq(vfiomig_devset_state_set(s->set, fw->target,
							  &so), -EIO);
		g_disarm();
		ck_assert_int_eq(so.failed_member, ca[j].m);
		ck_assert_int_eq(so.failed_from, ca[j].from);
		ck_assert_int_eq(so.failed_to, ca[j].to);
		na = g_arcs(GM.fl);
		for (size_t k = 0; k < na; k++)
			if (alog[k].err)
				nfail = k;
		ck_assert_uint_lt(nfail, na);
		/* the states when the walk stopped */
		check_barrier(GM.fl, s->n, mark.start, nfail, at_fail);
		check_barrier(GM.fl, s->n, mark.start, na, st);
		check(mark.start, at_fail, na, nfail);
		for (size_t i = 0; i < s->n; i++)
			g_agree(s, i);
		g_fds_match(s);
	}
}

/* STAY: nobody moves after the failure. */
static void g_check_stay(const int *start, const int *at_fail, size_t na,
			 size_t nfail)
{
	(void)start;
	ck_assert_uint_eq(na, nfail + 1);
	for (size_t i = 0; i < GM.n; i++)
		ck_assert_int_eq(kenv_gen_state(GM.src.uuid[i]), at_fail[i]);
}

/* RESET (or STATE with ERROR): every member that moved is reset, the
 * others stay; no SET after the failure. */
static void g_check_reset(const int *start, const int *at_fail, size_t na,
			  size_t nfail)
{
	for (size_t k = nfail + 1; k < na; k++)
		ck_assert(alog[k].reset);
	for (size_t i = 0; i < GM.n; i++) {
		bool moved = at_fail[i] != start[i];

		ck_assert_int_eq(g_was_reset((int)i, na), moved);
		ck_assert_int_eq(kenv_gen_state(GM.src.uuid[i]),
				 moved ? ST(RUNNING) : start[i]);
	}
}

static int g_recovery_state_want;

/* recovery_state set: everybody there (its own version of it). */
static void g_check_state(const int *start, const int *at_fail, size_t na,
			  size_t nfail)
{
	(void)start;
	(void)na;
	(void)nfail;
	for (size_t i = 0; i < GM.n; i++)
		ck_assert_int_eq(kenv_gen_state(GM.src.uuid[i]),
				 g_mtarget(GM.fl[i], at_fail[i],
					   g_recovery_state_want));
}

/* _i: 0 all P2P, 1 a mix with ALLOW_NO_P2P. */
START_TEST(recovery_choices_mix)
{
	static const uint64_t fls[2][3] = { { ALLF, SC | P2P, ALLF },
					    { ALLF, SC | PC, SC | P2P } };
	static const struct flow fws[] = {
		{ ST(RUNNING), ST(STOP_COPY) },
		{ ST(PRE_COPY), ST(STOP_COPY) },
		{ ST(STOP), ST(RUNNING) },
	};

	g_up(3, fls[_i], false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = kenv_kernel_fds();
	for (size_t f = 0; f < sizeof(fws) / sizeof(fws[0]); f++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		so.recovery = VFIOMIG_RECOVER_STAY;
		g_each_failure(&fws[f], &so, g_check_stay);
		so.recovery = VFIOMIG_RECOVER_RESET;
		g_each_failure(&fws[f], &so, g_check_reset);
		so.recovery = VFIOMIG_RECOVER_STATE;
		so.recovery_state = ST(ERROR);
		g_each_failure(&fws[f], &so, g_check_reset);
		so.recovery_state = g_recovery_state_want = ST(STOP);
		g_each_failure(&fws[f], &so, g_check_state);
		so.recovery = VFIOMIG_RECOVER_DEFAULT;
		so.recovery_state = g_recovery_state_want = ST(RUNNING);
		g_each_failure(&fws[f], &so, g_check_state);
		so.recovery_state = g_recovery_state_want = ST(RUNNING_P2P);
		g_each_failure(&fws[f], &so, g_check_state);
	}
	g_to_origin(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The destination: load_finish on mixes                                */

/* Destination members back to RUNNING, then RESUMING with the streams;
 * marked. */
static void g_dst_loaded(const struct vec *v)
{
	for (size_t i = 0; i < GM.n; i++)
		ck_assert_int_eq(vfiomig_device_reset(GM.dsts.dev[i]), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(GM.dsts.set, ST(RESUMING),
						  NULL), 0);
	for (size_t i = 0; i < GM.n; i++)
		g_load_all(GM.dsts.dev[i], &v[i]);
	g_mark(&GM.dsts);
}

static void g_dst_in(const int *want)
{
	for (size_t i = 0; i < GM.n; i++) {
		int now = kenv_gen_state(GM.dsts.uuid[i]);

		ck_assert_msg(now == want[i], "destination %zu in %s, want %s",
			      i, sname(now), sname(want[i]));
		g_agree(&GM.dsts, i);
		/* out of RESUMING no session is left (a spoiled one in
		 * RESUMING may be closed already) */
		if (want[i] != ST(RESUMING))
			ck_assert_int_eq(vfiomig_data_fd(GM.dsts.dev[i]), -ENOENT);
	}
}

/* A source that gives half its stream, then fails. */
static size_t g_half_given;

static ssize_t g_half_then_eio(void *arg, void *buf, size_t len)
{
	const struct vec *v = arg;

	if (g_half_given >= v->n / 2) {
		g_half_given = 0;
		return -EIO;
	}
	len = len < v->n / 2 - g_half_given ? len : v->n / 2 - g_half_given;
	memcpy(buf, v->p + g_half_given, len);
	g_half_given += len;
	return (ssize_t)len;
}

/* _i: sets of 1..3 P2P members (0..2), a mix with ALLOW_NO_P2P (3). */
START_TEST(load_finish_mix)
{
	static const uint64_t mixed[3] = { SC | PC, ALLF, SC };
	const uint64_t p2p[3] = { ALLF, SC | P2P, ALLF };
	static const int targets[] = { ST(RUNNING), ST(RUNNING_P2P), ST(STOP) };
	size_t n = _i < 3 ? (size_t)_i + 1 : 3;
	struct vec v[MAXM] = { { 0 } };
	int st[MAXM], want[MAXM];
	size_t na;

	g_up(n, _i < 3 ? p2p : mixed, true, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	source_streams(v);

	/* each target: committed, then through the barrier */
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		g_dst_loaded(v);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    targets[t], &so), 0);
		ck_assert_int_eq(so.failed_member, -1);
		na = g_arcs(GM.fl);
		check_barrier(GM.fl, n, mark.start, na, st);
		/* phase 0: every member commits before any goes further */
		for (size_t k = 0; n > 1 && k < n; k++)
			ck_assert(alog[k].from == ST(RESUMING) &&
				  alog[k].to == ST(STOP));
		for (size_t i = 0; i < n; i++) {
			want[i] = g_mtarget(GM.fl[i], ST(STOP), targets[t]);
			same_blob(GM.src.uuid[i], GM.dsts.uuid[i]);
		}
		g_dst_in(want);
		/* held in RUNNING_P2P until the VM is ready */
		if (targets[t] != ST(RUNNING))
			g_set_ok(&GM.dsts, ST(RUNNING));
	}

	/* a stream the driver refuses (one byte short): named, and every
	 * destination member reset; none ran what it had */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		size_t bad = n - 1;

		v[bad].n--;
		g_dst_loaded(v);
		v[bad].n++;
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(RUNNING), &so),
				 -EINVAL);
		ck_assert_int_eq(so.failed_member, (int)bad);
		ck_assert_int_eq(so.failed_from, ST(RESUMING));
		ck_assert_int_eq(so.failed_to, ST(STOP));
		na = g_arcs(GM.fl);
		check_barrier(GM.fl, n, mark.start, na, st);
		for (size_t k = 0; k < na; k++)
			ck_assert(alog[k].reset || !is_active(alog[k].to));
		for (size_t i = 0; i < n; i++) {
			want[i] = ST(RUNNING);
			ck_assert(g_was_reset((int)i, na));
		}
		g_dst_in(want);
	}

	/* not every member resuming: refused, nothing committed */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		g_dst_loaded(v);
		ck_assert_int_eq(vfiomig_load_abort(GM.dsts.dev[0], ST(STOP),
						    NULL), 0);
		g_mark(&GM.dsts);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(RUNNING), &so),
				 -EINVAL);
		ck_assert_int_eq(so.failed_member, -1);
		ck_assert_uint_eq(g_arcs(GM.fl), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = i ? ST(RESUMING) : ST(STOP);
		g_dst_in(want);
	}

	/* a member whose load failed: EBADMSG, nothing committed */
	if (n > 1) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB,
			     .read_fn = g_half_then_eio, .arg = &v[1]);

		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(vfiomig_device_reset(GM.dsts.dev[i]), 0);
		ck_assert_int_eq(vfiomig_devset_state_set(GM.dsts.set,
							  ST(RESUMING), NULL), 0);
		g_load_all(GM.dsts.dev[0], &v[0]);
		g_half_given = 0;
		ck_assert_int_lt(vfiomig_load(GM.dsts.dev[1], &io, 0), 0);
		g_mark(&GM.dsts);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(RUNNING), &so),
				 -EBADMSG);
		ck_assert_uint_eq(g_arcs(GM.fl), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = ST(RESUMING);
		g_dst_in(want);
	}

	/* bad targets */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		g_dst_loaded(v);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(PRE_COPY), &so),
				 -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(RESUMING), &so),
				 -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(NULL, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_uint_eq(g_arcs(GM.fl), 0);
	}

	/* a driver refusing each arc of load_finish in turn: in the commit
	 * (or in a set of one, anywhere: its one step starts in RESUMING)
	 * every member is reset; after the commit every member is back in
	 * STOP */
	{
		struct garc ca[64];
		size_t nclean = 0;

		g_dst_loaded(v);
		ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
							    ST(RUNNING), NULL), 0);
		na = g_arcs(GM.fl);
		for (size_t k = 0; k < na && nclean < 64; k++)
			ca[nclean++] = alog[k];
		for (size_t j = 0; j < nclean; j++) {
			VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
			bool commit = ca[j].from == ST(RESUMING) || n == 1;

			g_dst_loaded(v);
			g_fail_arc(ca[j].m, ca[j].from, ca[j].to);
			ck_assert_int_eq(vfiomig_devset_load_finish(GM.dsts.set,
								    ST(RUNNING),
								    &so),
					 -EIO);
			g_disarm();
			ck_assert_int_eq(so.failed_member, ca[j].m);
			ck_assert_int_eq(so.failed_from, ca[j].from);
			ck_assert_int_eq(so.failed_to, ca[j].to);
			na = g_arcs(GM.fl);
			check_barrier(GM.fl, n, mark.start, na, st);
			for (size_t i = 0; i < n; i++)
				want[i] = commit ? ST(RUNNING) : ST(STOP);
			g_dst_in(want);
		}
	}
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(vfiomig_device_reset(GM.dsts.dev[i]), 0);
		ck_assert_int_eq(vfiomig_device_reset(GM.src.dev[i]), 0);
		free(v[i].p);
	}
	g_down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Aggregates on a mix                                                  */

/* Move what member i has now, through the paced call. */
static int64_t g_step(size_t i, uint64_t max,
		      struct vfiomig_precopy_progress *p)
{
	static unsigned char buf[1 << 16];
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
		     .len = sizeof(buf));

	return vfiomig_precopy_step(GM.src.dev[i], &io, max, p);
}

/* MIG_DATA_SIZE always, PRECOPY_INFO for the members in pre-copy, drained
 * one member at a time, over capabilities mtty has not; REINIT in the
 * middle of it is test-devset.c's (PRECOPY_INFOv2, not in 6.12), bad
 * input set_stats'. */
START_TEST(set_stats_mix)
{
	/* 0, 1: P2P+PRE_COPY; 2: PRE_COPY without P2P; 3: stop-copy only */
	static const uint64_t fl[4] = { ALLF, ALLF, SC | PC, SC };
	struct vfiomig_precopy_progress p[4];
	struct vfiomig_devset_stats s, t;

	g_up(4, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	for (size_t i = 0; i < 4; i++)
		p[i] = (struct vfiomig_precopy_progress){ .sz = sizeof(p[i]) };
	/* running: MIG_DATA_SIZE, nothing else */
	for (size_t i = 0; i < 4; i++) {
		s = stats(&GM.src, i);
		ck_assert_uint_eq(s.stop_copy_bytes, STREAM_BYTES);
		ck_assert_uint_eq(s.initial_bytes, 0);
		ck_assert_uint_eq(s.precopy, 0);
		ck_assert(s.initial_drained);
	}
	t = total_checked(&GM.src);
	ck_assert_uint_eq(t.stop_copy_bytes, 4 * STREAM_BYTES);
	ck_assert(t.initial_drained);

	/* pre-copy: members 0..2 precopy, 3 keeps running */
	g_set_ok(&GM.src, ST(PRE_COPY));
	for (size_t i = 0; i < 4; i++) {
		s = stats(&GM.src, i);
		ck_assert_uint_eq(s.precopy, i < 3);
		ck_assert_uint_eq(s.initial_bytes, i < 3 ? INITIAL_BYTES : 0);
		ck_assert_int_eq(s.initial_drained, i == 3);
		ck_assert_uint_eq(s.reinits, 0);
	}
	t = total_checked(&GM.src);
	ck_assert_uint_eq(t.precopy, 3);
	ck_assert_uint_eq(t.initial_bytes, 3 * INITIAL_BYTES);
	ck_assert(!t.initial_drained);
	/* drained one by one: the set only when all are */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(g_step(i, 0, &p[i]), INITIAL_BYTES);
		ck_assert(p[i].initial_drained);
		ck_assert(stats(&GM.src, i).initial_drained);
		ck_assert_int_eq(total_checked(&GM.src).initial_drained, i == 2);
	}

	/* stop-copy: out of precopy, drained by definition */
	g_set_ok(&GM.src, ST(STOP_COPY));
	t = total_checked(&GM.src);
	ck_assert_uint_eq(t.precopy, 0);
	ck_assert_uint_eq(t.initial_bytes, 0);
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.stop_copy_bytes, 4 * STREAM_BYTES);
	g_set_ok(&GM.src, ST(RUNNING));
	g_down();
}
END_TEST

Suite *kcase_devset_suite(void)
{
	Suite *s = suite_create("devset");
	TCase *tc;

	tc = tcase_create("devset-mig");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, set_migrate, 0, 2);
	tcase_add_test(tc, wrong_type_member);
	tcase_add_loop_test(tc, refused_commit, 0, 2);
	tcase_add_test(tc, bad_input);
	tcase_add_test(tc, flags_echo);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-set");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, set_new);
	tcase_add_loop_test(tc, barrier_p2p, 0, 3);
	tcase_add_test(tc, set_of_one);
	tcase_add_loop_test(tc, every_size, 0, MAX_SET);
	tcase_add_test(tc, bad_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-faults");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, fault_every_ioctl, 0, MAX_SET);
	tcase_add_test(tc, recovery_choices);
	tcase_add_test(tc, way_back_fails);
	tcase_add_loop_test(tc, load_finish, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-precopy");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, set_stats);
	tcase_add_test(tc, reinit_opt_out);
	tcase_add_test(tc, ioctl_economy);
	suite_add_tcase(s, tc);

	/* Programmable members: the capability mixes mtty has not. */
	tc = tcase_create("devset-mix-set");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, set_new_caps);
	tcase_add_test(tc, barrier_no_p2p);
	tcase_add_loop_test(tc, set_of_one_caps, 0, 3);
	tcase_add_loop_test(tc, every_mix, 0, N_LACKING_MIXES);
	tcase_add_test(tc, member_in_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-mix-faults");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, fault_every_arc, 0, 4 + 16 + 64);
	tcase_add_loop_test(tc, fault_every_arc_four, 0,
			    (int)(sizeof(four) / sizeof(four[0])));
	tcase_add_loop_test(tc, recovery_choices_mix, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-mix-load");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, load_finish_mix, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("devset-mix-precopy");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, set_stats_mix);
	suite_add_tcase(s, tc);
	return s;
}
