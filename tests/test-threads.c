// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a VMM does from several threads at once, on the fake kernel, as
 * libvfiomig(7) "Threads" promises it:
 *  - contexts: one per thread, or one shared by every thread (its log
 *    function then runs in all of them);
 *  - one device: the migration thread saves and iterates precopy while the
 *    main loop asks for state, pending bytes and PRECOPY_INFO (QEMU);
 *    what a transfer in flight refuses (EBUSY) to another thread;
 *  - trackers: two trackers in two threads, and a tracker queried while
 *    another thread drives its device's state.
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
#define NPAIRS 4
#define NDEVS (2 * NPAIRS)
#define MiB (1024ULL * 1024)

/* The fake machine: NDEVS migratable functions with DMA logging, device
 * 2i the source and 2i+1 the destination of pair i. */
static int ids[NDEVS];
static char names[NDEVS][16];
static struct vfiomig_ctx *ctx; /* the shared context */

/* ------------------------------------------------------------------ */
/* Failures seen by worker threads                                     */

static struct {
	pthread_mutex_t m;
	int n;
	char first[512];
} bad = { .m = PTHREAD_MUTEX_INITIALIZER };

__attribute__((format(printf, 1, 2)))
static void worker_fail(const char *fmt, ...)
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

static void assert_no_failure(void)
{
	pthread_mutex_lock(&bad.m);
	ck_assert_msg(bad.n == 0, "%d failure(s) in worker threads; first: %s",
		      bad.n, bad.first);
	pthread_mutex_unlock(&bad.m);
}

/* ------------------------------------------------------------------ */
/* Log function of the shared context: any thread, concurrently.       */

static unsigned int log_lines, log_threads;
static _Thread_local bool logged_here;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	char msg[512];

	(void)data; (void)file; (void)line;
	vsnprintf(msg, sizeof(msg), format, args);
	if (!logged_here) {
		logged_here = true;
		__atomic_add_fetch(&log_threads, 1, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&log_lines, 1, __ATOMIC_RELAXED);
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
		/* Odd sizes (the same in a pair), both ends of precopy
		 * data, a running guest. */
		cfg.state_size = (192u << 10) + 4099u * (unsigned int)(i / 2);
		cfg.precopy_initial = 64u << 10;
		cfg.precopy_dirty = 16u << 10;
		cfg.precopy_end = i % 4 < 2 ? FAKE_END_ENOMSG : FAKE_END_ZERO;
		cfg.hw_dirty = false; /* DMA logging is the tracker's backend */
		ids[i] = fake_add_device(&cfg);
		ck_assert_int_ge(ids[i], 0);
		fake_dev_fill(ids[i], 0x1000u + (unsigned int)i);
	}
	ctx = ctx_new();
	ck_assert_ptr_nonnull(ctx);
	log_lines = log_threads = 0;
	logged_here = false;
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
/* A stream into a pipe, drained by its own thread                     */

struct sink {
	int rfd, wfd;
	pthread_t th;
	unsigned char *p;
	size_t n, cap;
	bool nomem;
};

static void *drain(void *arg)
{
	struct sink *s = arg;
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

static bool sink_open(struct sink *s)
{
	int p[2];

	memset(s, 0, sizeof(*s));
	if (!CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno)))
		return false;
	s->rfd = p[0];
	s->wfd = p[1];
	if (pthread_create(&s->th, NULL, drain, s)) {
		worker_fail("pthread_create");
		close(s->rfd);
		close(s->wfd);
		return false;
	}
	return true;
}

/* The end of the stream: everything written is in s->p. */
static void sink_close(struct sink *s)
{
	close(s->wfd);
	pthread_join(s->th, NULL);
	close(s->rfd);
	CHECK(!s->nomem, "drain: out of memory");
}

/* ------------------------------------------------------------------ */
/* One live migration, as a VMM's migration thread runs it             */

/*
 * src: RUNNING -> PRE_COPY, precopy rounds into a pipe, STOP_COPY, the
 * rest, STOP; dst: RESUMING, the whole stream, RUNNING.  Failures are
 * recorded.
 */
static void migrate(struct vfiomig_device *src, struct vfiomig_device *dst)
{
	struct vfiomig_precopy_progress prog = { .sz = sizeof(prog) };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	struct vfiomig_io in = { .sz = sizeof(in), .kind = VFIOMIG_IO_BUF };
	const char *name = vfiomig_device_name(src);
	struct sink s;
	int64_t n;
	int r;

	if (!sink_open(&s))
		return;
	io.fd = s.wfd;
	r = vfiomig_state_set(src, ST(PRE_COPY), NULL);
	CHECK(r == 0, "%s: -> PRE_COPY: %s", name, strerror(-r));
	do
		r = vfiomig_precopy_iterate(src, &io, NULL, &prog);
	while (r == 0 && prog.round < 6);
	CHECK(r >= 0, "%s: precopy round %u: %s", name, prog.round + 1,
	      strerror(-r));
	r = vfiomig_state_set(src, ST(STOP_COPY), NULL);
	CHECK(r == 0, "%s: -> STOP_COPY: %s", name, strerror(-r));
	while ((n = vfiomig_save(src, &io, 0)) > 0)
		;
	CHECK(n == 0, "%s: save: %s", name, strerror((int)-n));
	r = vfiomig_state_set(src, ST(STOP), NULL);
	CHECK(r == 0, "%s: -> STOP: %s", name, strerror(-r));
	sink_close(&s);

	r = vfiomig_state_set(dst, ST(RESUMING), NULL);
	CHECK(r == 0, "%s: -> RESUMING: %s", vfiomig_device_name(dst),
	      strerror(-r));
	in.buf = s.p;
	in.len = s.n;
	n = vfiomig_load(dst, &in, 0);
	CHECK(n == (int64_t)s.n, "%s: load %zu bytes: %lld",
	      vfiomig_device_name(dst), s.n, (long long)n);
	r = vfiomig_load_finish(dst, ST(RUNNING), NULL);
	CHECK(r == 0, "%s: load_finish: %s", vfiomig_device_name(dst),
	      strerror(-r));
	free(s.p);
}

static int count_dev(void *arg, const struct vfiomig_device_info *info)
{
	(void)info;
	++*(int *)arg;
	return 0;
}

/* ------------------------------------------------------------------ */
/* (a) a context per thread, (b) one context for all threads            */

struct pair_job {
	int pair;
	bool own_ctx;
	pthread_t th;
};

static void *pair_thread(void *arg)
{
	struct pair_job *j = arg;
	struct vfiomig_ctx *c = j->own_ctx ? ctx_new() : ctx;
	struct vfiomig_device *src, *dst;
	int n = 0, r;

	if (!CHECK(c, "pair %d: vfiomig_ctx_new", j->pair))
		return NULL;
	r = vfiomig_device_enum(c, 0, count_dev, &n);
	CHECK(r == 0 && n == NDEVS, "pair %d: enum: %d, %d devices", j->pair,
	      r, n);
	src = dev_open(c, 2 * j->pair);
	dst = dev_open(c, 2 * j->pair + 1);
	if (src && dst)
		migrate(src, dst);
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	if (j->own_ctx)
		vfiomig_ctx_free(c);
	return NULL;
}

static void run_pairs(bool own_ctx)
{
	struct pair_job jobs[NPAIRS];

	for (int i = 0; i < NPAIRS; i++) {
		jobs[i] = (struct pair_job){ .pair = i, .own_ctx = own_ctx };
		ck_assert_int_eq(pthread_create(&jobs[i].th, NULL, pair_thread,
						&jobs[i]), 0);
	}
	for (int i = 0; i < NPAIRS; i++)
		pthread_join(jobs[i].th, NULL);
	assert_no_failure();
	for (int i = 0; i < NPAIRS; i++) {
		ck_assert_msg(blobs_equal(ids[2 * i], ids[2 * i + 1]),
			      "pair %d: the destination differs", i);
		/* (the source was reset to RUNNING when the worker closed
		 * it, like a vfio-pci variant) */
		ck_assert_int_eq(fake_dev_state(ids[2 * i + 1]), ST(RUNNING));
	}
}

START_TEST(context_per_thread)
{
	run_pairs(true);
}
END_TEST

START_TEST(shared_context)
{
	run_pairs(false);
	/* Every worker logged through the one context (LOG_DEBUG). */
	ck_assert_uint_ge(__atomic_load_n(&log_threads, __ATOMIC_RELAXED),
			  NPAIRS);
	ck_assert_uint_gt(__atomic_load_n(&log_lines, __ATOMIC_RELAXED), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (c) one device: migration thread and main loop (QEMU)                */

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

START_TEST(one_device_two_threads)
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

/* A save parked in its write callback until the main thread has tried
 * everything a transfer in flight refuses or lets through. */
struct parked {
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool inside, release;
	size_t bytes;
	struct vfiomig_device *dev;
	int64_t ret;
	pthread_t th;
};

static ssize_t parked_write(void *arg, const void *buf, size_t len)
{
	struct parked *p = arg;

	(void)buf;
	pthread_mutex_lock(&p->m);
	p->inside = true;
	pthread_cond_broadcast(&p->cv);
	while (!p->release)
		pthread_cond_wait(&p->cv, &p->m);
	p->bytes += len;
	pthread_mutex_unlock(&p->m);
	return (ssize_t)len;
}

static void *parked_save(void *arg)
{
	struct parked *p = arg;
	struct vfiomig_io io = {
		.sz = sizeof(io), .kind = VFIOMIG_IO_CB,
		.write_fn = parked_write, .arg = p,
	};

	p->ret = vfiomig_save(p->dev, &io, 0);
	return NULL;
}

START_TEST(transfer_in_flight)
{
	struct parked p = { .m = PTHREAD_MUTEX_INITIALIZER,
			    .cv = PTHREAD_COND_INITIALIZER };
	struct vfiomig_precopy_progress prog = { .sz = sizeof(prog) };
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_BUF };
	struct vfiomig_precopy_info pi;
	unsigned char buf[64];
	uint64_t len;
	int fd;

	p.dev = dev_open(ctx, 0);
	ck_assert_ptr_nonnull(p.dev);
	ck_assert_int_eq(vfiomig_state_set(p.dev, ST(PRE_COPY), NULL), 0);
	fd = vfiomig_data_fd(p.dev);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pthread_create(&p.th, NULL, parked_save, &p), 0);
	pthread_mutex_lock(&p.m);
	while (!p.inside)
		pthread_cond_wait(&p.cv, &p.m);
	pthread_mutex_unlock(&p.m);

	/* Refused: a second transfer, a state change, a reset. */
	io.buf = buf;
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_save(p.dev, &io, 0), -EBUSY);
	ck_assert_int_eq(vfiomig_precopy_iterate(p.dev, &io, NULL, &prog),
			 -EBUSY);
	ck_assert_int_eq(vfiomig_state_set(p.dev, ST(STOP_COPY), NULL), -EBUSY);
	ck_assert_int_eq(vfiomig_device_reset(p.dev), -EBUSY);
	vfiomig_data_close(p.dev); /* ignored, logged */
	/* Let through: the queries. */
	ck_assert_int_eq(vfiomig_data_fd(p.dev), fd);
	ck_assert_int_eq(vfiomig_state_get(p.dev), ST(PRE_COPY));
	ck_assert_int_eq(vfiomig_data_size(p.dev, &len), 0);
	ck_assert_int_eq(vfiomig_precopy_info(p.dev, &pi), 0);

	pthread_mutex_lock(&p.m);
	p.release = true;
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.m);
	pthread_join(p.th, NULL);
	ck_assert_int_gt(p.ret, 0);
	ck_assert_int_eq((size_t)p.ret, p.bytes);
	/* Free again: the state change goes through. */
	ck_assert_int_eq(vfiomig_state_set(p.dev, ST(STOP_COPY), NULL), 0);
	ck_assert_int_eq(vfiomig_state_get(p.dev), ST(STOP_COPY));
	vfiomig_device_free(p.dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) trackers                                                        */

#define TRACKED (64 * MiB)
#define QUERIES 200

struct track_job {
	int id;                 /* fake device id */
	struct vfiomig_dirty *tr;
	pthread_t th;
};

/* One page dirtied by the device, then exactly that page reported. */
static void *track_thread(void *arg)
{
	struct track_job *j = arg;
	uint64_t *bm = calloc(TRACKED / 4096 / 64, sizeof(*bm));

	if (!CHECK(bm, "calloc"))
		return NULL;
	for (unsigned int k = 0; k < QUERIES; k++) {
		uint64_t page = (k * 7919u) % (TRACKED / 4096), ndirty = 0;
		int r;

		fake_dev_dma_write(j->id, page * 4096 + 17, 1);
		r = vfiomig_dirty_query(j->tr, 0, TRACKED, 4096, bm, 0);
		if (!CHECK(r == 0, "dirty_query: %s", strerror(-r)))
			break;
		ndirty = vfiomig_bitmap_count(bm, TRACKED / 4096);
		if (!CHECK(ndirty == 1 && (bm[page / 64] >> (page % 64) & 1),
			   "query %u: %llu dirty pages, page %llu %s", k,
			   (unsigned long long)ndirty,
			   (unsigned long long)page,
			   bm[page / 64] >> (page % 64) & 1 ? "set" : "clear"))
			break;
	}
	free(bm);
	return NULL;
}

static struct vfiomig_dirty *track(struct vfiomig_device *dev)
{
	struct vfiomig_range r = { 0, TRACKED };
	struct vfiomig_dirty *tr = NULL;
	uint64_t ps = 4096;

	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, NULL, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_DMA_LOGGING);
	ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
	ck_assert_uint_eq(ps, 4096);
	return tr;
}

START_TEST(two_trackers)
{
	struct vfiomig_device *dev[2];
	struct track_job j[2];

	for (int i = 0; i < 2; i++) {
		dev[i] = dev_open(ctx, i);
		ck_assert_ptr_nonnull(dev[i]);
		j[i] = (struct track_job){ .id = ids[i], .tr = track(dev[i]) };
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&j[i].th, NULL, track_thread,
						&j[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(j[i].th, NULL);
	assert_no_failure();
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(vfiomig_dirty_stop(j[i].tr), 0);
		vfiomig_dirty_free(j[i].tr);
		vfiomig_device_free(dev[i]);
	}
}
END_TEST

/* The tracker in one thread, the device's state in another. */
START_TEST(tracker_and_device_state)
{
	static const int walk[] = { ST(STOP), ST(RUNNING_P2P), ST(RUNNING) };
	struct vfiomig_device *dev = dev_open(ctx, 0);
	struct track_job j = { .id = ids[0] };
	bool done = false;
	unsigned int n = 0;
	uint64_t len;

	ck_assert_ptr_nonnull(dev);
	j.tr = track(dev);
	ck_assert_int_eq(pthread_create(&j.th, NULL, track_thread, &j), 0);
	/* Until the tracker thread is done (pthread_tryjoin_np: no flag). */
	while (!done) {
		int s = vfiomig_state_get(dev), r;

		CHECK(s >= 0, "state_get: %s", strerror(-s));
		r = vfiomig_data_size(dev, &len);
		CHECK(r == 0, "data_size: %s", strerror(-r));
		r = vfiomig_state_set(dev, walk[n++ % 3], NULL);
		CHECK(r == 0, "state_set: %s", strerror(-r));
		done = pthread_tryjoin_np(j.th, NULL) == 0;
	}
	assert_no_failure();
	ck_assert_int_eq(vfiomig_dirty_stop(j.tr), 0);
	vfiomig_dirty_free(j.tr);
	vfiomig_device_free(dev);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("threads");
	TCase *tc;
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tc = tcase_create("contexts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, context_per_thread);
	tcase_add_test(tc, shared_context);
	suite_add_tcase(s, tc);

	tc = tcase_create("device");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, one_device_two_threads);
	tcase_add_test(tc, transfer_in_flight);
	suite_add_tcase(s, tc);

	tc = tcase_create("trackers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, two_trackers);
	tcase_add_test(tc, tracker_and_device_state);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
