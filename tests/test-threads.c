// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a VMM does from several threads at once, as libvfiomig(7)
 * "Threads" promises it, where only the fake can show it: the migration
 * thread iterates precopy over many rounds while the main loop asks for
 * state, pending bytes and PRECOPY_INFO (QEMU), on the fake's GENERIC
 * devices (192 KiB of state, precopy data that grows between PRECOPY_INFO
 * calls, ending in ENOMSG).  mtty's precopy is one 24-byte round
 * with nothing dirty, so the rest of the thread cases run on mtty on both
 * kernels: kcase-threads.c.
 * Built to run under ThreadSanitizer (the tsan phase of tests/run-all.sh),
 * where a data race in the library fails the case; the fake kernel holds
 * its own lock (tests/fake/fake.h, Threads), so a report means a library
 * bug.  Worker threads never assert: they record the first failure and the
 * main thread checks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"

#define ST(x) VFIOMIG_STATE_##x
#define ALLF (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)
#define NDEVS 2

/* The fake machine: two GENERIC functions, 0 the source and 1 the
 * destination. */
static int ids[NDEVS];
static char names[NDEVS][16];
static struct vfiomig_ctx *ctx; /* the shared context */

#include "thread-mig.h"

/* ------------------------------------------------------------------ */
/* Log function of the shared context: both threads, concurrently.     */

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	char msg[512];

	(void)data; (void)file; (void)line;
	vsnprintf(msg, sizeof(msg), format, args);
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "vfiomig[%d] %s: %s\n", priority, fn, msg);
}

static struct vfiomig_ctx *ctx_new(void)
{
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };
	struct vfiomig_ctx *c = NULL;

	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	if (vfiomig_ctx_new(&o, &c))
		return NULL;
	vfiomig_ctx_set_log_fn(c, logfn, NULL);
	vfiomig_ctx_set_log_priority(c, LOG_DEBUG);
	return c;
}

static void setup(void)
{
	struct fake_dev_cfg cfg;

	ck_assert_int_eq(fake_init(true), 0);
	for (int i = 0; i < NDEVS; i++) {
		snprintf(names[i], sizeof(names[i]), "0000:%02x:00.0", 0x40 + i);
		fake_cfg_pci(&cfg, names[i], 20 + i, i, ALLF);
		/* An odd size, precopy data that ends in ENOMSG, a running
		 * guest (16 KiB dirty at each PRECOPY_INFO). */
		cfg.state_size = (192u << 10) + 4099u;
		cfg.precopy_initial = 64u << 10;
		cfg.precopy_dirty = 16u << 10;
		cfg.precopy_end = FAKE_END_ENOMSG;
		ids[i] = fake_add_device(&cfg);
		ck_assert_int_ge(ids[i], 0);
		fake_dev_fill(ids[i], 0x1000u + (unsigned int)i);
	}
	ctx = ctx_new();
	ck_assert_ptr_nonnull(ctx);
	bad.n = 0;
}

static void teardown(void)
{
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
}

static struct vfiomig_device *dev_open(struct vfiomig_ctx *c, int i)
{
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(c, names[i], NULL, &dev);

	CHECK(ret == 0, "open %s: %s", names[i], strerror(-ret));
	return dev;
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
/* One device: migration thread and main loop (QEMU)                   */

struct mig_job {
	struct vfiomig_device *src, *dst;
	int rounds;
	bool done;              /* atomic */
	pthread_t th;
};

static void *mig_thread(void *arg)
{
	struct mig_job *j = arg;

	for (int i = 0; i < j->rounds; i++)
		migrate(j->src, j->dst);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* What the main loop may see of a device another thread migrates. */
static unsigned long poll_device(struct vfiomig_device *dev)
{
	struct vfiomig_precopy_info pi;
	struct vfiomig_caps caps = { .sz = sizeof(caps) };
	uint64_t len;
	int r;

	r = vfiomig_state_get(dev);
	CHECK(r >= 0 && r < VFIOMIG_STATE_NR && r != ST(ERROR),
	      "state_get: %d", r);
	r = vfiomig_data_size(dev, &len);
	CHECK(r == 0, "data_size: %s", strerror(-r));
	r = vfiomig_precopy_info(dev, &pi);
	/* EINVAL outside PRE_COPY, ENOTTY on a resuming fd, ENODEV without
	 * a session. */
	CHECK(r == 0 || r == -EINVAL || r == -ENOTTY || r == -ENODEV,
	      "precopy_info: %s", strerror(-r));
	r = vfiomig_data_fd(dev);
	CHECK(r >= 0 || r == -ENOENT, "data_fd: %d", r);
	r = vfiomig_device_caps(dev, &caps);
	CHECK(r == 0 && caps.migration_flags == ALLF, "caps: %d", r);
	r = vfiomig_feature_probe(dev, VFIOMIG_FEATURE_MIG_DATA_SIZE,
				  VFIOMIG_FEATURE_GET);
	CHECK(r == 1, "feature_probe: %d", r);
	return 1;
}

/* (one_device_two_threads of kcase-threads.c, over many precopy rounds) */
START_TEST(precopy_rounds_two_threads)
{
	struct mig_job j = { .rounds = 3 };
	unsigned long polls = 0;

	j.src = dev_open(ctx, 0);
	j.dst = dev_open(ctx, 1);
	ck_assert(j.src && j.dst);
	ck_assert_int_eq(pthread_create(&j.th, NULL, mig_thread, &j), 0);
	/* A main loop's pace: the fake's GENERIC device runs (dirties 16 KiB)
	 * between PRECOPY_INFO calls, like mlx5, so a tight loop here would
	 * grow the precopy stream without bound. */
	do {
		polls += poll_device(j.src);
		polls += poll_device(j.dst);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	} while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE));
	pthread_join(j.th, NULL);
	assert_no_failure();
	ck_assert_uint_gt(polls, 0);
	ck_assert(blobs_equal(ids[0], ids[1]));
	vfiomig_device_free(j.src);
	vfiomig_device_free(j.dst);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threads");
	TCase *tc;
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tc = tcase_create("precopy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, precopy_rounds_two_threads);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
