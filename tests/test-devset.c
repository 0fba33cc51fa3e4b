// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device sets on the fake kernel only (issue 10): PRECOPY_INFOv2 REINIT in
 * the middle of precopy, which 6.12 has not (no feature 12) and mtty never
 * does: the set's aggregates and switchover condition across a REINIT
 * (vfiomig_precopy_step), the library's policy (vfiomig_precopy_iterate,
 * vfiomig_precopy_info) on a device with PRECOPY_INFOv2 and one without,
 * and VFIOMIG_OPEN_NO_PRECOPY_V2 on a device that has it.  Everything
 * else about device sets runs on both kernels in tests/kcase-devset.c:
 * on mtty (every member with every capability) and on programmable
 * devices (kenv_gen_add: the capability mixes, a device without
 * migration, a member in ERROR, a driver refusing an arc on demand,
 * load_finish and the aggregates on those mixes).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"
#include "fake-internal.h" /* fake_mig_warnings() */

#define ST(x) VFIOMIG_STATE_##x
#define SC VFIOMIG_MIG_STOP_COPY
#define P2P VFIOMIG_MIG_P2P
#define PC VFIOMIG_MIG_PRE_COPY
#define ALLF (SC | P2P | PC)
#define MAXM 4

/* GENERIC devices of 10 chunks (the last one short), 3 chunks initial. */
#define DEV_SIZE 40000u
#define DEV_CHUNKS 10u
#define DEV_INITIAL 10000u
#define REC (24u + 4096u)
#define INITIAL_BYTES (3u * REC)
#define STREAM_BYTES (DEV_CHUNKS * 24u + DEV_SIZE + 24u)

/* A machine: n members. */
static struct {
	struct vfiomig_ctx *ctx;
	size_t n;
	unsigned int warnings;  /* the fake's WARN_ON count at up() */
	int id[MAXM];
	struct vfiomig_device *dev[MAXM];
	struct vfiomig_devset *set;
} M;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	(void)data; (void)file; (void)line; (void)fn;
	if (getenv("VFIOMIG_TEST_LOG")) {
		fprintf(stderr, "vfiomig[%d]: ", priority);
		vfprintf(stderr, format, args);
		fputc('\n', stderr);
	}
}

static const char *bdf(size_t i)
{
	static char names[MAXM][16];

	snprintf(names[i], sizeof(names[i]), "0000:%02x:00.1", 0x40 + (int)i);
	return names[i];
}

/* Sources re-initialise once per saving session after this many bytes
 * (fake cfg.reinit_after; 0 = never), for the tests that set it. */
static size_t reinit_after;

static int add_dev(size_t i, uint64_t flags)
{
	struct fake_dev_cfg cfg;
	int id;

	fake_cfg_pci(&cfg, bdf(i), 20 + (int)i, 10 + (int)i, flags);
	cfg.state_size = DEV_SIZE;
	cfg.precopy_initial = DEV_INITIAL;
	cfg.precopy_dirty = 0;
	cfg.precopy_end = i % 2 ? FAKE_END_ZERO : FAKE_END_ENOMSG;
	cfg.precopy_v2 = i % 2 == 0; /* a kernel newer than 6.12 for some */
	cfg.reinit_after = reinit_after;
	cfg.reinit_bytes = 4096;
	id = fake_add_device(&cfg);
	ck_assert_int_ge(id, 0);
	fake_dev_fill(id, 0x100 + (uint32_t)i);
	return id;
}

static struct vfiomig_device *open_dev(size_t i, unsigned int flags)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .flags = flags,
		     .iommu = i % 2 ? VFIOMIG_IOMMU_TYPE1
				    : VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *d = NULL;

	ck_assert_int_eq(vfiomig_device_open(M.ctx, bdf(i), &o, &d), 0);
	return d;
}

/* n members with these capabilities; a set of them made with
 * devset_flags, unless no_set. */
static void up(size_t n, const uint64_t *flags, unsigned int devset_flags,
	       bool no_set)
{
	VFIOMIG_OPTS(vfiomig_ctx_opts, co);
	VFIOMIG_OPTS(vfiomig_devset_opts, so, .flags = devset_flags);

	memset(&M, 0, sizeof(M));
	M.n = n;
	M.warnings = fake_mig_warnings();
	ck_assert_int_eq(fake_init(true), 0);
	for (size_t i = 0; i < n; i++)
		M.id[i] = add_dev(i, flags[i]);
	co.sysfs_root = fake_sysfs_root();
	co.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&co, &M.ctx), 0);
	vfiomig_ctx_set_log_fn(M.ctx, logfn, NULL);
	vfiomig_ctx_set_log_priority(M.ctx, LOG_DEBUG);
	for (size_t i = 0; i < n; i++)
		M.dev[i] = open_dev(i, 0);
	if (no_set)
		return;
	ck_assert_int_eq(vfiomig_devset_new(M.dev, n, &so, &M.set), 0);
}

/* The set to target, every member at its own version of it. */
static void set_to(int target)
{
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, target, NULL), 0);
	for (size_t i = 0; i < M.n; i++)
		ck_assert_int_eq(vfiomig_state_get(M.dev[i]),
				 fake_dev_state(M.id[i]));
}

static void down(void)
{
	vfiomig_devset_free(M.set);
	for (size_t i = 0; i < M.n; i++)
		vfiomig_device_free(M.dev[i]);
	vfiomig_ctx_free(M.ctx);
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
	ck_assert_uint_eq(fake_mig_warnings(), M.warnings);
	memset(&M, 0, sizeof(M));
}

/* ------------------------------------------------------------------ */
/* Aggregates for the switchover                                        */

static struct vfiomig_devset_stats stats(size_t i)
{
	struct vfiomig_devset_stats s = { .sz = sizeof(s) };

	ck_assert_int_eq(vfiomig_devset_stats(M.set, i, &s), 0);
	return s;
}

/* The total is the sum of the members (drained: all of them). */
static struct vfiomig_devset_stats total_checked(void)
{
	struct vfiomig_devset_stats t = stats(VFIOMIG_DEVSET_TOTAL), sum = {
		.initial_drained = true,
	};

	for (size_t i = 0; i < M.n; i++) {
		struct vfiomig_devset_stats s = stats(i);

		sum.stop_copy_bytes += s.stop_copy_bytes;
		sum.initial_bytes += s.initial_bytes;
		sum.dirty_bytes += s.dirty_bytes;
		sum.precopy += s.precopy;
		sum.reinits += s.reinits;
		sum.initial_drained = sum.initial_drained && s.initial_drained;
	}
	ck_assert_uint_eq(t.stop_copy_bytes, sum.stop_copy_bytes);
	ck_assert_uint_eq(t.initial_bytes, sum.initial_bytes);
	ck_assert_uint_eq(t.dirty_bytes, sum.dirty_bytes);
	ck_assert_uint_eq(t.precopy, sum.precopy);
	ck_assert_uint_eq(t.reinits, sum.reinits);
	ck_assert_int_eq(t.initial_drained, sum.initial_drained);
	return t;
}

/* Move what member i has now, through the paced call. */
static int64_t step(size_t i, uint64_t max,
		    struct vfiomig_precopy_progress *p)
{
	static unsigned char buf[1 << 16];
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
		     .len = sizeof(buf));

	return vfiomig_precopy_step(M.dev[i], &io, max, p);
}

/* REINIT in the middle of precopy on a mix of members drained one by one
 * (the aggregates without REINIT on such a mix are kcase-devset.c's
 * set_stats_mix, on both kernels). */
START_TEST(set_stats)
{
	/* 0: P2P+PRE_COPY, v2; 1: the same, 6.12 (no v2); 2: PRE_COPY
	 * without P2P, v2; 3: stop-copy only */
	static const uint64_t fl[4] = { ALLF, ALLF, SC | PC, SC };
	struct vfiomig_precopy_progress p[4];
	struct vfiomig_devset_stats s, t;

	up(4, fl, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	for (size_t i = 0; i < 4; i++)
		p[i] = (struct vfiomig_precopy_progress){ .sz = sizeof(p[i]) };
	/* pre-copy: members 0..2 precopy, their initial data drained */
	set_to(ST(PRE_COPY));
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(step(i, 0, &p[i]), INITIAL_BYTES);
	ck_assert(total_checked().initial_drained);

	/* REINIT on a v2 member: counted, not drained until read again */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 4096), 0);
	s = stats(0);
	ck_assert_uint_eq(s.reinits, 1);
	ck_assert_uint_eq(s.initial_bytes, REC);
	ck_assert(!s.initial_drained);
	t = total_checked(); /* a second PRECOPY_INFO: no REINIT any more */
	ck_assert_uint_eq(t.reinits, 1);
	ck_assert_uint_eq(t.initial_bytes, REC);
	ck_assert(!t.initial_drained);
	ck_assert_int_eq(step(0, 100, &p[0]), 100);
	ck_assert(!p[0].initial_drained);
	ck_assert_uint_eq(p[0].reinits, 1);
	ck_assert_int_eq(step(0, 0, &p[0]), REC - 100);
	ck_assert(p[0].initial_drained);
	t = total_checked();
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.reinits, 1);

	/* the 6.12 member: no REINIT is ever reported, but its initial
	 * bytes still hold the switchover back until read */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[1], 4096), 0);
	s = stats(1);
	ck_assert_uint_eq(s.reinits, 0);
	ck_assert_uint_eq(s.initial_bytes, REC);
	ck_assert(!total_checked().initial_drained);
	ck_assert_int_eq(step(1, 0, &p[1]), REC);
	ck_assert_uint_eq(p[1].reinits, 0);
	ck_assert(total_checked().initial_drained);

	/* REINIT drained within the very step that reports it: drained only
	 * after a PRECOPY_INFO without REINIT */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[2], 1), 0);
	ck_assert_int_eq(step(2, 0, &p[2]), REC);
	ck_assert_uint_eq(p[2].initial_bytes, 0);
	ck_assert_uint_eq(p[2].reinits, 1);
	ck_assert(!p[2].initial_drained);
	s = stats(2);
	ck_assert_uint_eq(s.initial_bytes, 0);
	ck_assert(s.initial_drained);

	/* stop-copy after REINITs: out of precopy, drained by definition */
	set_to(ST(STOP_COPY));
	t = total_checked();
	ck_assert_uint_eq(t.precopy, 0);
	ck_assert_uint_eq(t.initial_bytes, 0);
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.stop_copy_bytes, 4 * STREAM_BYTES);

	set_to(ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* REINIT and the library's policy                                      */

START_TEST(reinit_policy)
{
	/* 0: v2, re-initialises after 5000 bytes; 1: 6.12 */
	static const uint64_t fl[2] = { ALLF, ALLF };
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol, .dirty_threshold = UINT64_MAX);
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_precopy_progress p;
	struct vfiomig_precopy_info pi;
	struct fake_dev_ioctls ioc;
	static unsigned char buf[1 << 16];
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
		     .len = sizeof(buf));
	int r;

	reinit_after = 5000;
	up(2, fl, 0, true);
	reinit_after = 0;
	ck_assert_int_eq(vfiomig_device_caps(M.dev[0], &caps), 0);
	ck_assert(caps.features & VFIOMIG_CAP_PRECOPY_V2);
	ck_assert_int_eq(vfiomig_device_caps(M.dev[1], &caps), 0);
	ck_assert(!(caps.features & VFIOMIG_CAP_PRECOPY_V2));

	/* the v2 device re-initialises while the first round reads: that
	 * round drains everything, but reports REINIT: no switchover yet */
	ck_assert_int_eq(vfiomig_state_set(M.dev[0], ST(PRE_COPY), NULL), 0);
	ck_assert(fake_dev_precopy_v2(M.id[0]));
	fake_dev_ioctls(M.id[0], &ioc);
	ck_assert_uint_eq(ioc.v2_sets, 1); /* once, before the session */
	p = (struct vfiomig_precopy_progress){ .sz = sizeof(p) };
	r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p.round_bytes, INITIAL_BYTES + REC);
	ck_assert_uint_eq(p.initial_bytes, 0);
	ck_assert_uint_eq(p.reinits, 1);
	ck_assert(!p.initial_drained);
	r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
	ck_assert_int_eq(r, 1);
	ck_assert(p.initial_drained);
	/* a REINIT later: iterate holds back until it is read again */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 8192), 0);
	io.len = 1000;
	for (int round = 0; round < 100; round++) {
		r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
		ck_assert_int_ge(r, 0);
		if (r)
			break;
		ck_assert(!p.initial_drained);
	}
	ck_assert_int_eq(r, 1);
	ck_assert(p.initial_drained);
	ck_assert_uint_eq(p.initial_bytes, 0);
	ck_assert_uint_eq(p.reinits, 2);
	/* vfiomig_precopy_info: REINIT passed on once, with v2 */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[0], &pi), 0);
	ck_assert_uint_eq(pi.flags, VFIOMIG_PRECOPY_REINIT);
	ck_assert_uint_eq(pi.initial_bytes, REC);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[0], &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);

	/* 6.12: flags never reported, the initial bytes still counted */
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_state_set(M.dev[1], ST(PRE_COPY), NULL), 0);
	ck_assert(!fake_dev_precopy_v2(M.id[1]));
	p = (struct vfiomig_precopy_progress){ .sz = sizeof(p) };
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 1);
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[1], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[1], &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, REC);
	io.len = 100;
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 0);
	ck_assert_uint_eq(p.reinits, 0);
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 1);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(vfiomig_state_set(M.dev[i], ST(RUNNING), NULL),
				 0);
	down();
}
END_TEST

/* VFIOMIG_OPEN_NO_PRECOPY_V2: the feature is never asked for. */
START_TEST(reinit_opt_out)
{
	static const uint64_t fl[1] = { ALLF };
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_precopy_info pi;
	struct fake_dev_ioctls ioc;
	struct vfiomig_device *d;

	up(1, fl, 0, true);
	vfiomig_device_free(M.dev[0]);
	M.dev[0] = d = open_dev(0, VFIOMIG_OPEN_NO_PRECOPY_V2);
	ck_assert_int_eq(vfiomig_device_caps(d, &caps), 0);
	ck_assert(!(caps.features & VFIOMIG_CAP_PRECOPY_V2));
	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), NULL), 0);
	ck_assert(!fake_dev_precopy_v2(M.id[0]));
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(d, &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, INITIAL_BYTES + REC);
	fake_dev_ioctls(M.id[0], &ioc);
	ck_assert_uint_eq(ioc.v2_sets, 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *devset_suite(void)
{
	Suite *s = suite_create("devset");
	TCase *tc = tcase_create("precopy");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, set_stats);
	tcase_add_test(tc, reinit_policy);
	tcase_add_test(tc, reinit_opt_out);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(devset_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
