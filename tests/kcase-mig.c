// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of the migration state machine and data sessions, on
 * the mtty instances of the VM (contract 3-7, 12): every transition of
 * every pair in both set modes with the data fds checked, a save of one
 * mtty-2 and a load into the other through both IOMMU paths with UART
 * registers carried over, truncated and malformed streams, reset killing a
 * session, bad input.  Written once; run on the fake (kt-fake) and on the
 * real kernel in the VM (kt-real).
 *
 * Registers: only 1-byte accesses to BAR0/BAR1 (region index << 40), and
 * only UART_SCR, whose value is stored as is; regions 2-5 are never
 * touched (contract 12.5: kernel out-of-bounds access).  mtty keeps its
 * state and registers across close and reset: every case starts with a
 * reset and writes fresh values.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "kenv.h"
#include "mig-oracle.h"

#define ST(x) VFIOMIG_STATE_##x
#define MTTY_FLAGS (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)
#define MTTY2_SIZE 96
#define MTTY1_SIZE 60
#define UART_SCR 7

static const int paths[] = { VFIOMIG_IOMMU_TYPE1, VFIOMIG_IOMMU_IOMMUFD };

/* A case on the cdev/iommufd path where the kernel has none is skipped,
 * never counted as passed (a skip fails the VM run). */
static void need_path(int path)
{
	if (path == VFIOMIG_IOMMU_IOMMUFD && !kenv_has_iommufd())
		kenv_skip("no cdev/iommufd path on this kernel");
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Save a whole STOP_COPY stream from STOP (or RUNNING) into buf. */
static int64_t save_stream(struct vfiomig_device *dev, uint8_t *buf, size_t cap)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = buf, .len = cap };
	int64_t n;

	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	n = vfiomig_save(dev, &io, 0);
	ck_assert_int_gt(n, 0);
	io.buf = buf + n;
	io.len = cap - (size_t)n;
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), 0); /* end of stream */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP), NULL), 0);
	return n;
}

static void load_buf(struct vfiomig_device *dev, const uint8_t *p, size_t n)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF,
				 .buf = (void *)p, .len = n };

	ck_assert_int_eq(vfiomig_load(dev, &io, 0), (int64_t)n);
}

/* ------------------------------------------------------------------ */
/* Every pair                                                           */

static uint8_t valid[MTTY2_SIZE];

static bool saving(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) || s == ST(STOP_COPY);
}

static void go(struct vfiomig_device *dev, int to, unsigned int mode)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so, .flags = mode);
	int cur = vfiomig_state_get(dev), before = vfiomig_data_fd(dev), after;
	int path[8], n = vfiomig_state_plan(cur, to, MTTY_FLAGS, path, 8);
	bool open_, opened;

	ck_assert_int_ge(cur, 0);
	ck_assert_int_ge(n, 0);
	open_ = oracle_session_after(cur, path, n, before >= 0, &opened);
	/* RESUMING -> STOP loads: it needs a whole stream */
	if (cur == ST(RESUMING) && to != cur)
		load_buf(dev, valid, sizeof(valid));
	ck_assert_msg(vfiomig_state_set(dev, to, &so) == 0, "%s->%s (%s)",
		      vfiomig_state_name(cur), vfiomig_state_name(to),
		      mode ? "combined" : "per arc");
	ck_assert_int_eq(so.state, to);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(vfiomig_state_get(dev), to);
	after = vfiomig_data_fd(dev);
	ck_assert_msg((after >= 0) == open_, "%s->%s: data fd %d",
		      vfiomig_state_name(cur), vfiomig_state_name(to), after);
	ck_assert_int_eq(open_, saving(to) || to == ST(RESUMING));
	if (open_ && !opened)
		ck_assert_int_eq(after, before); /* the same session */
	if (opened) {
		int fl = fcntl(after, F_GETFD);

		ck_assert(fl >= 0 && (fl & FD_CLOEXEC));
	}
}

START_TEST(all_pairs)
{
	int path = paths[_i / 2];
	unsigned int mode = _i % 2 ? VFIOMIG_SET_COMBINED : VFIOMIG_SET_STEPWISE;
	VFIOMIG_OPTS(vfiomig_caps, caps);
	unsigned int complaints = kenv_kernel_complaints();
	struct vfiomig_device *dev;

	need_path(path);
	dev = kenv_open_running(KENV_MTTY2_UUID, path);
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(caps.migration_flags, MTTY_FLAGS);
	ck_assert_int_eq(save_stream(dev, valid, sizeof(valid)), MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);

	for (int a = 1; a < VFIOMIG_STATE_NR; a++) {
		for (int b = 1; b < VFIOMIG_STATE_NR; b++) {
			if (vfiomig_state_plan(a, b, MTTY_FLAGS, NULL, 0) < 0)
				continue; /* STOP_COPY -> PRE_COPY(_P2P) */
			go(dev, a, mode);
			go(dev, b, mode);
			go(dev, b, mode); /* no-op: no new fd */
			if (vfiomig_state_get(dev) == ST(STOP_COPY))
				go(dev, ST(STOP), mode);
			go(dev, ST(RUNNING), mode);
		}
	}
	/* every target is a state mtty has: ERROR alone is refused
	 * (bad_input); and the kernel never complained on the way */
	for (int t = 1; t < VFIOMIG_STATE_NR; t++)
		ck_assert_int_ge(vfiomig_state_plan(ST(RUNNING), t, MTTY_FLAGS,
						    NULL, 0), 0);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	vfiomig_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Save one mtty-2, load another                                        */

START_TEST(save_load)
{
	int spath = paths[_i / 2], dpath = paths[_i % 2];
	VFIOMIG_OPTS(vfiomig_precopy_progress, prog);
	struct vfiomig_precopy_info pi;
	struct vfiomig_device *src, *dst;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	uint8_t stream[256], scr0 = kenv_fresh(_i), scr1 = kenv_fresh(_i + 7);
	uint64_t len;
	int64_t n;
	size_t got;

	need_path(spath);
	need_path(dpath);
	src = kenv_open_running(KENV_MTTY2_UUID, spath);
	dst = kenv_open_running(KENV_MTTY2B_UUID, dpath);
	kenv_mtty_set_scr(src, 0, scr0);
	kenv_mtty_set_scr(src, 1, scr1);
	kenv_mtty_set_scr(dst, 0, (uint8_t)~scr0);
	kenv_mtty_set_scr(dst, 1, (uint8_t)~scr1);
	ck_assert_uint_eq(kenv_mtty_scr(src, 0), scr0);
	ck_assert_uint_eq(kenv_mtty_scr(src, 1), scr1);

	ck_assert_int_eq(vfiomig_data_size(src, &len), 0);
	ck_assert_uint_eq(len, MTTY2_SIZE);

	/* PRE_COPY: the header only; mtty ends it with read() == 0 */
	ck_assert_int_eq(vfiomig_state_set(src, ST(PRE_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_precopy_info(src, &pi), 0);
	ck_assert_uint_eq(pi.initial_bytes, 24);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	io.buf = stream;
	io.len = sizeof(stream);
	ck_assert_int_eq(vfiomig_precopy_iterate(src, &io, NULL, &prog), 1);
	ck_assert_uint_eq(prog.round_bytes, 24);
	ck_assert_uint_eq(prog.initial_bytes, 0);
	ck_assert_uint_eq(prog.dirty_bytes, 0); /* mtty: dirty_bytes always 0 */
	got = 24;
	/* mtty: read() returns 0, not ENOMSG, at the end of precopy data */
	io.buf = stream + got;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	/* STOP_COPY through PRE_COPY_P2P: same fd, the ports appended */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	io.buf = stream + got;
	io.len = sizeof(stream) - got;
	n = vfiomig_save(src, &io, 0);
	ck_assert_int_eq(n, MTTY2_SIZE - 24);
	got += (size_t)n;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(src), -ENOENT);

	/* the stream as contract 12.3 lays it out */
	ck_assert_uint_eq(le(stream, 8), 0x7e9d09898c3e2c4eULL);
	ck_assert_uint_eq(le(stream + 8, 4), 1);
	ck_assert_uint_eq(le(stream + 12, 4), 0);
	ck_assert_uint_eq(le(stream + 16, 4), 2);
	ck_assert_uint_eq(le(stream + 20, 4), 0);
	ck_assert_uint_eq(stream[24 + UART_SCR], scr0);
	ck_assert_uint_eq(stream[24 + 36 + UART_SCR], scr1);

	/* destination */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	load_buf(dst, stream, got);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), scr0);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 1), scr1);

	/* and saved again, the destination gives the same port bytes */
	{
		uint8_t again[MTTY2_SIZE];

		ck_assert_int_eq(save_stream(dst, again, sizeof(again)),
				 MTTY2_SIZE);
		ck_assert_int_eq(memcmp(again, stream, MTTY2_SIZE), 0);
	}
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), NULL), 0);
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
}
END_TEST

/* Through pipes and a callback: mtty's data fds cannot splice (EINVAL),
 * the library falls back to its copy loop. */
struct mem {
	uint8_t p[512];
	size_t n;
};

static ssize_t to_mem(void *arg, const void *buf, size_t len)
{
	struct mem *m = arg;

	if (m->n + len > sizeof(m->p))
		return -ENOSPC;
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return (ssize_t)len;
}

START_TEST(save_load_pipes)
{
	unsigned int xflags = _i ? VFIOMIG_XFER_NO_SPLICE : 0;
	struct vfiomig_device *src, *dst;
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	uint8_t scr0 = kenv_fresh(11), scr1 = kenv_fresh(13), buf[512];
	struct mem m = { .n = 0 };
	int p[2];

	src = kenv_open_running(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	dst = kenv_open_running(KENV_MTTY2B_UUID, VFIOMIG_IOMMU_AUTO);
	kenv_mtty_set_scr(src, 0, scr0);
	kenv_mtty_set_scr(src, 1, scr1);

	/* save into a pipe (96 bytes fit its buffer) */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	io.fd = p[1];
	ck_assert_int_eq(vfiomig_save(src, &io, xflags), MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_save(src, &io, xflags), 0);
	close(p[1]);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), MTTY2_SIZE);
	close(p[0]);

	/* and into a callback, from a fresh session */
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(STOP_COPY), NULL), 0);
	io.kind = VFIOMIG_IO_CB;
	io.write_fn = to_mem;
	io.arg = &m;
	ck_assert_int_eq(vfiomig_save(src, &io, xflags), MTTY2_SIZE);
	ck_assert_uint_eq(m.n, MTTY2_SIZE);
	ck_assert_int_eq(memcmp(m.p, buf, MTTY2_SIZE), 0);
	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);

	/* load from a pipe */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(write(p[1], buf, MTTY2_SIZE), MTTY2_SIZE);
	close(p[1]);
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	io = (struct vfiomig_io){ .sz = sizeof(io), .kind = VFIOMIG_IO_FD,
				  .fd = p[0] };
	ck_assert_int_eq(vfiomig_load(dst, &io, xflags), MTTY2_SIZE);
	close(p[0]);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), NULL), 0);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), scr0);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 1), scr1);
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), NULL), 0);
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Broken streams                                                       */

START_TEST(truncated_stream)
{
	struct vfiomig_device *src, *dst;
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	uint8_t stream[MTTY2_SIZE + 1], scr0 = kenv_fresh(21);

	src = kenv_open_running(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	dst = kenv_open_running(KENV_MTTY2B_UUID, VFIOMIG_IOMMU_AUTO);
	kenv_mtty_set_scr(src, 0, scr0);
	ck_assert_int_eq(save_stream(src, stream, MTTY2_SIZE), MTTY2_SIZE);

	/* dst keeps its own value: nothing refused may ever reach it */
	kenv_mtty_set_scr(dst, 0, (uint8_t)~scr0);

	/* short by one byte: refused at RESUMING -> STOP; by default the
	 * refused data is discarded by a reset */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	load_buf(dst, stream, MTTY2_SIZE - 1);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), &so), -EINVAL);
	ck_assert_int_eq(so.failed_from, ST(RESUMING));
	ck_assert_int_eq(so.failed_to, ST(STOP));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), (uint8_t)~scr0);

	/* the same, told to stay: still RESUMING, but spoiled; the last
	 * byte is not taken and nothing is committed, until the abort */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	load_buf(dst, stream, MTTY2_SIZE - 1);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_STAY };
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), &so), -EINVAL);
	ck_assert_int_eq(so.state, ST(RESUMING));
	{
		struct vfiomig_io io = { .sz = sizeof(io),
					 .kind = VFIOMIG_IO_BUF,
					 .buf = stream + MTTY2_SIZE - 1, .len = 1 };

		ck_assert_int_eq(vfiomig_load(dst, &io, 0), -EBADMSG);
	}
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), -EBADMSG);
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RESUMING));
	so = (struct vfiomig_set_opts){ .sz = sizeof(so) };
	ck_assert_int_eq(vfiomig_load_abort(dst, ST(STOP), &so), 0);
	ck_assert_int_eq(so.state, ST(STOP));
	ck_assert_int_eq(vfiomig_state_get(dst), ST(STOP));
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), (uint8_t)~scr0);

	/* short, with the reset policy: back to RUNNING, session gone */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	load_buf(dst, stream, 40);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_RESET };
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(so.failed_from, ST(RESUMING));
	ck_assert_int_eq(so.state, ST(RUNNING));
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RUNNING));
	ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);

	/* ... or a named state: out of RESUMING by a reset, then there */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	so = (struct vfiomig_set_opts){ .sz = sizeof(so),
					.recovery = VFIOMIG_RECOVER_STATE,
					.recovery_state = ST(STOP) };
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(STOP), &so), -EINVAL);
	ck_assert_int_eq(so.state, ST(STOP));
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), (uint8_t)~scr0);

	/* a bad header: mtty takes the bytes and says EFAULT, and would
	 * load the ports at RESUMING -> STOP with all 96 bytes in (contract
	 * 5.4).  The library refuses to commit a refused load. */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	stream[0] ^= 0xff;
	{
		struct vfiomig_io io = { .sz = sizeof(io),
					 .kind = VFIOMIG_IO_BUF,
					 .buf = stream, .len = MTTY2_SIZE };

		ck_assert_int_eq(vfiomig_load(dst, &io, 0), -EFAULT);
		ck_assert_int_eq(vfiomig_load(dst, &io, 0), -EBADMSG);
	}
	stream[0] ^= 0xff;
	ck_assert_int_eq(vfiomig_data_fd(dst), -ENOENT);
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RESUMING));
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), &so), -EBADMSG);
	ck_assert_int_eq(so.state, ST(RESUMING));
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RESUMING));
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), (uint8_t)~scr0);
	/* asked for RUNNING anyway: it gets there by a reset, not a load */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RUNNING), &so), 0);
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RUNNING));
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), (uint8_t)~scr0);

	/* the good stream still loads afterwards */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	load_buf(dst, stream, MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_load_finish(dst, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_mtty_scr(dst, 0), scr0);

	/* too long: the write is refused with ENOMEM */
	ck_assert_int_eq(vfiomig_state_set(dst, ST(RESUMING), NULL), 0);
	stream[MTTY2_SIZE] = 0;
	{
		struct vfiomig_io io = { .sz = sizeof(io),
					 .kind = VFIOMIG_IO_BUF,
					 .buf = stream, .len = MTTY2_SIZE + 1 };

		ck_assert_int_eq(vfiomig_load(dst, &io, 0), -ENOMEM);
	}
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RESUMING));
	ck_assert_int_eq(vfiomig_device_reset(dst), 0);
	ck_assert_int_eq(vfiomig_state_get(dst), ST(RUNNING));

	ck_assert_int_eq(vfiomig_state_set(src, ST(RUNNING), NULL), 0);
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
}
END_TEST

/* mtty-1: 60 bytes; a mtty-2 stream does not fit it (ENOMEM). */
START_TEST(mtty1)
{
	struct vfiomig_device *one, *two;
	uint8_t s1[MTTY1_SIZE], s2[MTTY2_SIZE], scr = kenv_fresh(31);
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	uint64_t len;

	one = kenv_open_running(KENV_MTTY1_UUID, VFIOMIG_IOMMU_AUTO);
	two = kenv_open_running(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	ck_assert_int_eq(vfiomig_data_size(one, &len), 0);
	ck_assert_uint_eq(len, MTTY1_SIZE);
	kenv_mtty_set_scr(one, 0, scr);
	ck_assert_int_eq(save_stream(one, s1, sizeof(s1)), MTTY1_SIZE);
	ck_assert_uint_eq(le(s1 + 16, 4), 1);
	ck_assert_uint_eq(s1[24 + UART_SCR], scr);
	ck_assert_int_eq(save_stream(two, s2, sizeof(s2)), MTTY2_SIZE);

	kenv_mtty_set_scr(one, 0, (uint8_t)~scr);
	ck_assert_int_eq(vfiomig_state_set(one, ST(RESUMING), NULL), 0);
	io.buf = s2;
	io.len = sizeof(s2);
	ck_assert_int_eq(vfiomig_load(one, &io, 0), -ENOMEM);
	ck_assert_int_eq(vfiomig_device_reset(one), 0);
	/* its own stream loads back */
	ck_assert_int_eq(vfiomig_state_set(one, ST(RESUMING), NULL), 0);
	load_buf(one, s1, sizeof(s1));
	ck_assert_int_eq(vfiomig_load_finish(one, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_mtty_scr(one, 0), scr);
	ck_assert_int_eq(vfiomig_state_set(two, ST(RUNNING), NULL), 0);
	vfiomig_device_free(one);
	vfiomig_device_free(two);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reset, close                                                         */

START_TEST(reset_ends_session)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct vfiomig_device *dev;
	uint8_t buf[16];
	int fd;

	need_path(paths[_i]);
	dev = kenv_open_running(KENV_MTTY2_UUID, paths[_i]);

	io.buf = buf;
	io.len = sizeof(buf);
	/* through the library */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), sizeof(buf));
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));

	/* behind its back: the kernel disables the file (read: ENODEV) and
	 * the library ends the session cleanly */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	fd = vfiomig_data_fd(dev);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ioctl(vfiomig_device_fd(dev), VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));
	errno = 0;
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, ENODEV);
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));

	/* the same for a resuming session */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RESUMING), NULL), 0);
	ck_assert_int_eq(ioctl(vfiomig_device_fd(dev), VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(vfiomig_load(dev, &io, 0), -ENODEV);
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));
	vfiomig_device_free(dev);
}
END_TEST

START_TEST(state_survives_close)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = paths[_i]);
	struct vfiomig_device *dev;

	need_path(paths[_i]);
	dev = kenv_open_running(KENV_MTTY2_UUID, paths[_i]);

	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	vfiomig_device_free(dev); /* ends the session; mtty keeps STOP_COPY */
	dev = NULL;
	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2_UUID, &o,
					     &dev), 0);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(STOP_COPY));
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
	/* no session to read from, but the state machine goes on */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	vfiomig_device_free(dev);
}
END_TEST

/*
 * "state X" in one process, "state Y" in the next: closing the device
 * between them is what a process exit does (mtty keeps the state and
 * drops its migration files, contract 12.7).  Every pair ends where it was
 * asked to go, with a session for a session state, and the kernel says
 * nothing: mtty oopses on RESUMING->STOP without its resuming file.
 */
static struct vfiomig_device *reopen(const char *uuid, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;

	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), uuid, &o, &dev), 0);
	return dev;
}

static bool has_session(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) ||
	       s == ST(STOP_COPY) || s == ST(RESUMING);
}

START_TEST(next_process)
{
	int path = paths[_i % 2];
	bool combined = _i >= 2;
	unsigned int complaints = kenv_kernel_complaints();
	uint8_t scr = kenv_fresh(41);
	struct vfiomig_device *dev;

	need_path(path);
	dev = kenv_open_running(KENV_MTTY2_UUID, path);
	kenv_mtty_set_scr(dev, 0, scr);
	vfiomig_device_free(dev);
	for (int x = ST(STOP); x < VFIOMIG_STATE_NR; x++) {
		for (int y = ST(STOP); y < VFIOMIG_STATE_NR; y++) {
			VFIOMIG_OPTS(vfiomig_set_opts, so,
				     .flags = combined ? VFIOMIG_SET_COMBINED :
							 VFIOMIG_SET_STEPWISE);

			dev = reopen(KENV_MTTY2_UUID, path);
			ck_assert_int_eq(vfiomig_state_set(dev, x, &so), 0);
			vfiomig_device_free(dev);

			dev = reopen(KENV_MTTY2_UUID, path);
			ck_assert_int_eq(vfiomig_state_get(dev), x);
			ck_assert_msg(vfiomig_state_set(dev, y, &so) == 0,
				      "%s then %s", vfiomig_state_name(x),
				      vfiomig_state_name(y));
			ck_assert_int_eq(so.state, y);
			ck_assert_int_eq(vfiomig_state_get(dev), y);
			ck_assert_int_eq(vfiomig_data_fd(dev) >= 0, has_session(y));
			ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
			vfiomig_device_free(dev);
		}
	}
	/* nothing was loaded on the way: the register is the one written */
	dev = reopen(KENV_MTTY2_UUID, path);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_mtty_scr(dev, 0), scr);
	vfiomig_device_free(dev);
}
END_TEST

/* The same within one process: the caller closed the session. */
START_TEST(closed_session)
{
	struct vfiomig_device *dev = kenv_open_running(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	unsigned int complaints = kenv_kernel_complaints();
	uint8_t stream[MTTY2_SIZE], scr = kenv_fresh(43);

	kenv_mtty_set_scr(dev, 0, scr);
	ck_assert_int_eq(save_stream(dev, stream, sizeof(stream)), MTTY2_SIZE);
	kenv_mtty_set_scr(dev, 0, (uint8_t)~scr);

	/* a complete stream in, the session closed: not committed */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RESUMING), NULL), 0);
	load_buf(dev, stream, sizeof(stream));
	vfiomig_data_close(dev);
	ck_assert_int_eq(vfiomig_load_finish(dev, ST(RUNNING), NULL), -ENODEV);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RESUMING));
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	ck_assert_uint_eq(kenv_mtty_scr(dev, 0), (uint8_t)~scr);

	/* precopy session closed, then STOP_COPY: a fresh, whole stream */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY), NULL), 0);
	vfiomig_data_close(dev);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(save_stream(dev, stream, sizeof(stream)), MTTY2_SIZE);
	ck_assert_uint_eq(stream[24 + UART_SCR], (uint8_t)~scr);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);

	/* load_abort on a healthy session: discarded too */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RESUMING), NULL), 0);
	stream[24 + UART_SCR] = scr;
	load_buf(dev, stream, sizeof(stream));
	ck_assert_int_eq(vfiomig_load_abort(dev, ST(RESUMING), NULL), 0);
	ck_assert_int_ge(vfiomig_data_fd(dev), 0);
	ck_assert_int_eq(vfiomig_load_abort(dev, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(dev), -ENOENT);
	ck_assert_uint_eq(kenv_mtty_scr(dev, 0), (uint8_t)~scr);
	/* not in RESUMING: it is a state change */
	ck_assert_int_eq(vfiomig_load_abort(dev, ST(STOP), NULL), 0);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(STOP));
	ck_assert_int_eq(vfiomig_load_abort(NULL, ST(STOP), NULL), -EINVAL);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
	vfiomig_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Bad input and the data fd's own errno values                         */

START_TEST(bad_input)
{
	struct vfiomig_device *dev = kenv_open_running(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	struct vfiomig_precopy_info pi;
	struct vfio_precopy_info raw = { .argsz = 16 };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	uint8_t buf[128];
	uint64_t len;
	int fd;

	io.buf = buf;
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_state_set(dev, VFIOMIG_STATE_NR, &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(dev, 42, &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(dev, -3, &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(ERROR), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RUNNING));
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), -ENODEV);

	/* STOP_COPY -> PRE_COPY(_P2P): refused, the session untouched */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	fd = vfiomig_data_fd(dev);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY_P2P), &so), -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(STOP_COPY));
	ck_assert_int_eq(vfiomig_data_fd(dev), fd);
	/* STOP_COPY -> STOP_COPY: success, no new fd */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_data_fd(dev), fd);

	/* the saving fd: a stream, read-only, PRECOPY_INFO only in PRE_COPY */
	ck_assert_int_eq(pread(fd, buf, 4, 0), -1);
	ck_assert_int_eq(errno, ESPIPE);
	ck_assert_int_eq(write(fd, buf, 4), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), -EINVAL);
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_RESET), -1);
	ck_assert_int_eq(errno, ENOTTY);
	ck_assert_int_eq(vfiomig_load(dev, &io, 0), -EBADF);
	ck_assert_int_eq(vfiomig_data_size(dev, &len), 0);
	ck_assert_uint_eq(len, MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), MTTY2_SIZE);

	/* in PRE_COPY: argsz < 24 is EINVAL; initial = 24 - read */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(dev);
	ck_assert_int_eq(ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &raw), -1);
	ck_assert_int_eq(errno, EINVAL);
	io.len = 10;
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), 10);
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), 0);
	ck_assert_uint_eq(pi.initial_bytes, 14);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	ck_assert_int_eq(vfiomig_data_size(dev, &len), 0);
	ck_assert_uint_eq(len, MTTY2_SIZE);

	/* the resuming fd: write-only, no ioctl at all */
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RESUMING), NULL), 0);
	fd = vfiomig_data_fd(dev);
	ck_assert_int_eq(read(fd, buf, 4), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(pwrite(fd, buf, 4, 0), -1);
	ck_assert_int_eq(errno, ESPIPE);
	ck_assert_int_eq(vfiomig_precopy_info(dev, &pi), -ENOTTY);
	ck_assert_int_eq(vfiomig_save(dev, &io, 0), -EBADF);
	ck_assert_int_eq(vfiomig_data_size(dev, &len), 0);
	ck_assert_uint_eq(len, MTTY2_SIZE);
	ck_assert_int_eq(vfiomig_load_finish(dev, ST(PRE_COPY), NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_state_get(dev), ST(RESUMING));
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(vfiomig_load_finish(dev, ST(RUNNING), NULL), -EINVAL);
	vfiomig_device_free(dev);
}
END_TEST

Suite *kcase_mig_suite(void)
{
	Suite *s = suite_create("mig");
	TCase *tc;

	tc = tcase_create("mig-fsm");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, all_pairs, 0, 4);
	tcase_add_test(tc, bad_input);
	tcase_add_loop_test(tc, reset_ends_session, 0, 2);
	tcase_add_loop_test(tc, state_survives_close, 0, 2);
	tcase_add_loop_test(tc, next_process, 0, 4);
	tcase_add_test(tc, closed_session);
	suite_add_tcase(s, tc);

	tc = tcase_create("mig-data");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, save_load, 0, 4);
	tcase_add_loop_test(tc, save_load_pipes, 0, 2);
	tcase_add_test(tc, truncated_stream);
	tcase_add_test(tc, mtty1);
	suite_add_tcase(s, tc);
	return s;
}
