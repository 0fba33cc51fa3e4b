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
 */
#include <errno.h>
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
#define MAX_SET 3
#define MAX_SNAP 256
#define TOTAL VFIOMIG_DEVSET_TOTAL

static const char *const src_uuid[MAX_SET] = {
	KENV_MTTY2_UUID, KENV_MTTY2B_UUID, KENV_MTTY2C_UUID };
static const char *const dst_uuid[MAX_SET] = {
	KENV_MTTY2D_UUID, KENV_MTTY2E_UUID, KENV_MTTY2F_UUID };

/* ------------------------------------------------------------------ */
/* Devices, registers                                                   */

struct side {
	size_t n;
	struct vfiomig_device *dev[MAX_SET];
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

static void side_open(struct side *s, const char *const *uuids, size_t n,
		      bool dst)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);

	s->n = n;
	for (size_t i = 0; i < n; i++)
		s->dev[i] = open_one(uuids[i], path_of(i, dst));
	ck_assert_int_eq(vfiomig_devset_new(s->dev, n, &o, &s->set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(s->set), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(vfiomig_devset_member(s->set, i), s->dev[i]);
	ck_assert_ptr_null(vfiomig_devset_member(s->set, n));
}

static void side_free(struct side *s)
{
	vfiomig_devset_free(s->set);
	for (size_t i = 0; i < s->n; i++)
		vfiomig_device_free(s->dev[i]);
}

static uint8_t reg_read(struct vfiomig_device *dev, int bar)
{
	uint8_t b = 0;

	ck_assert_int_eq(pread(vfiomig_device_fd(dev), &b, 1,
			       ((off_t)bar << 40) + UART_SCR), 1);
	return b;
}

static void reg_write(struct vfiomig_device *dev, int bar, uint8_t v)
{
	ck_assert_int_eq(pwrite(vfiomig_device_fd(dev), &v, 1,
				((off_t)bar << 40) + UART_SCR), 1);
}

/* Values that differ from run to run (the real mtty keeps registers). */
static uint8_t fresh(void)
{
	static unsigned int n;

	if (!n)
		n = (unsigned int)time(NULL) ^ (unsigned int)getpid() << 8;
	n = n * 1103515245u + 12345u;
	return (uint8_t)(n >> 16 | 1);
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
			m->scr[i][bar] = fresh();
			reg_write(m->src.dev[i], bar, m->scr[i][bar]);
			if (i < m->dst.n && dsts == dst_uuid)
				reg_write(m->dst.dev[i], bar,
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
			ck_assert_msg(reg_read(s->dev[i], bar) == m->scr[i][bar],
				      "member %zu BAR%d SCR 0x%02x, not 0x%02x", i,
				      bar, reg_read(s->dev[i], bar),
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
	return s;
}
