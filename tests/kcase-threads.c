// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What a VMM does from several threads at once, as libvfiomig(7) "Threads"
 * promises it, on the mtty instances of both kernels (kt-fake, run under
 * ThreadSanitizer by the tsan phase of tests/run-all.sh, and kt-real in the
 * VM):
 *  - contexts: one per thread, or one shared by every thread (its log
 *    function then runs in all of them); three mtty-2 pairs migrated at
 *    once, the UART scratch registers carried over;
 *  - one device: the migration thread saves and iterates precopy while the
 *    main loop asks for state, pending bytes and PRECOPY_INFO (QEMU); what
 *    a transfer in flight refuses (EBUSY) to another thread;
 *  - trackers: two trackers in two threads, and a tracker queried while
 *    another thread drives its device's state.  Each tracker thread queries
 *    DMA logging on its mtty (mtty logs nothing: every query is empty) and a
 *    tracker on the iommufd selftest's mock domain, where the thread dirties
 *    one page (IOMMU_TEST_OP_DIRTY) and exactly that page is reported.
 * TSan is happens-before based, so mtty's short streams find the same
 * races; the fake holds its own lock (tests/fake/fake.h, Threads), so a
 * report means a library bug.  Worker threads never assert: they record
 * the first failure and the main thread checks it.
 * Precopy over many rounds, with data that grows between PRECOPY_INFO
 * calls, runs on two programmable devices (kenv_gen_add: mtest in the VM,
 * the fake's GENERIC): mtty's precopy is one 24-byte round.
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "iommufd_test.h"
#include "kenv.h"

#define ST(x) VFIOMIG_STATE_##x
#define MTTY_FLAGS (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)
#define NPAIRS 3
#define NDEVS 7 /* the machine's mtty instances */
#define UART_SCR 7
#define MiB (1024ULL * 1024)

/* Pair i: mtty-2 instance 2i the source, 2i+1 the destination. */
static const char *const names[2 * NPAIRS] = {
	KENV_MTTY2_UUID, KENV_MTTY2B_UUID, KENV_MTTY2C_UUID,
	KENV_MTTY2D_UUID, KENV_MTTY2E_UUID, KENV_MTTY2F_UUID,
};

#include "thread-mig.h"

/* ------------------------------------------------------------------ */
/* Log function of a shared context: any thread, concurrently.         */

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
	struct vfiomig_ctx_opts o = {
		.sz = sizeof(o),
		.sysfs_root = kenv_sysfs_root(),
		.dev_root = kenv_dev_root(),
	};
	struct vfiomig_ctx *c = NULL;

	if (vfiomig_ctx_new(&o, &c))
		return NULL;
	vfiomig_ctx_set_log_fn(c, logfn, NULL);
	vfiomig_ctx_set_log_priority(c, LOG_DEBUG);
	return c;
}

/* The shared context: kenv's, logging through logfn at LOG_DEBUG. */
static struct vfiomig_ctx *shared(void)
{
	struct vfiomig_ctx *c = kenv_ctx();

	vfiomig_ctx_set_log_fn(c, logfn, NULL);
	vfiomig_ctx_set_log_priority(c, LOG_DEBUG);
	return c;
}

/* After kenv_setup: nothing failed, nothing logged yet. */
static void threads_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_lines = log_threads = 0;
	logged_here = false;
	bad.n = 0;
	bad.first[0] = 0;
}

static struct vfiomig_device *dev_open(struct vfiomig_ctx *c,
				       const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(c, name, &o, &dev);

	CHECK(ret == 0, "open %s: %s", name, strerror(-ret));
	return dev;
}

/* UART_SCR of a port (BAR0 or BAR1), 1-byte accesses only (kcase-mig.c). */
static bool scr_write(struct vfiomig_device *dev, int bar, uint8_t v)
{
	return CHECK(pwrite(vfiomig_device_fd(dev), &v, 1,
			    ((off_t)bar << 40) + UART_SCR) == 1,
		     "%s: write BAR%d: %s", vfiomig_device_name(dev), bar,
		     strerror(errno));
}

static int scr_read(struct vfiomig_device *dev, int bar)
{
	uint8_t b;

	if (!CHECK(pread(vfiomig_device_fd(dev), &b, 1,
			 ((off_t)bar << 40) + UART_SCR) == 1,
		   "%s: read BAR%d: %s", vfiomig_device_name(dev), bar,
		   strerror(errno)))
		return -1;
	return b;
}

/* Values that differ from run to run (the real mtty keeps registers). */
static uint8_t fresh(unsigned int salt)
{
	static unsigned int seed;
	unsigned int n;

	if (!__atomic_load_n(&seed, __ATOMIC_RELAXED))
		__atomic_store_n(&seed, (unsigned int)time(NULL) ^
			       (unsigned int)getpid(), __ATOMIC_RELAXED);
	n = __atomic_load_n(&seed, __ATOMIC_RELAXED) * 1103515245u +
	    12345u * (salt + 1);
	return (uint8_t)(n >> 16 | 1);
}

/* Fresh scratch values into src's ports, their complement into dst's:
 * the destination carries src's after a migration. */
static void seed_ports(struct vfiomig_device *src, struct vfiomig_device *dst,
		       unsigned int salt, uint8_t want[2])
{
	for (int bar = 0; bar < 2; bar++) {
		want[bar] = fresh(salt * 2 + (unsigned int)bar);
		scr_write(src, bar, want[bar]);
		scr_write(dst, bar, (uint8_t)~want[bar]);
	}
}

/* The mtty instances among the VFIO devices: the machine has others too
 * (the vfio-pci function, the test driver's mdevs). */
static int count_dev(void *arg, const struct vfiomig_device_info *info)
{
	if (info->mdev_type && !strncmp(info->mdev_type, "mtty-", 5))
		++*(int *)arg;
	return 0;
}

/* ------------------------------------------------------------------ */
/* (a) a context per thread, (b) one context for all threads            */

struct pair_job {
	int pair;
	struct vfiomig_ctx *ctx; /* NULL: its own */
	pthread_t th;
	uint8_t want[2];
	int got[2], dst_state;
};

static void *pair_thread(void *arg)
{
	struct pair_job *j = arg;
	struct vfiomig_ctx *c = j->ctx ? j->ctx : ctx_new();
	struct vfiomig_device *src, *dst;
	int n = 0, r;

	if (!CHECK(c, "pair %d: vfiomig_ctx_new", j->pair))
		return NULL;
	r = vfiomig_device_enum(c, 0, count_dev, &n);
	CHECK(r == 0 && n == NDEVS, "pair %d: enum: %d, %d mtty", j->pair,
	      r, n);
	src = dev_open(c, names[2 * j->pair], VFIOMIG_IOMMU_AUTO);
	dst = dev_open(c, names[2 * j->pair + 1], VFIOMIG_IOMMU_AUTO);
	if (src && dst) {
		seed_ports(src, dst, (unsigned int)j->pair, j->want);
		migrate(src, dst);
		j->got[0] = scr_read(dst, 0);
		j->got[1] = scr_read(dst, 1);
		j->dst_state = vfiomig_state_get(dst);
	}
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	if (!j->ctx)
		vfiomig_ctx_free(c);
	return NULL;
}

static void run_pairs(struct vfiomig_ctx *c)
{
	struct pair_job jobs[NPAIRS];

	for (int i = 0; i < NPAIRS; i++) {
		jobs[i] = (struct pair_job){ .pair = i, .ctx = c,
					     .got = { -1, -1 },
					     .dst_state = -1 };
		ck_assert_int_eq(pthread_create(&jobs[i].th, NULL, pair_thread,
						&jobs[i]), 0);
	}
	for (int i = 0; i < NPAIRS; i++)
		pthread_join(jobs[i].th, NULL);
	assert_no_failure();
	for (int i = 0; i < NPAIRS; i++) {
		for (int bar = 0; bar < 2; bar++)
			ck_assert_msg(jobs[i].got[bar] == jobs[i].want[bar],
				      "pair %d port %d: the destination has "
				      "%#x, the source had %#x", i, bar,
				      jobs[i].got[bar], jobs[i].want[bar]);
		ck_assert_int_eq(jobs[i].dst_state, ST(RUNNING));
	}
}

START_TEST(context_per_thread)
{
	run_pairs(NULL);
	/* Every worker logged through its own context (LOG_DEBUG). */
	ck_assert_uint_ge(__atomic_load_n(&log_threads, __ATOMIC_RELAXED),
			  NPAIRS);
}
END_TEST

START_TEST(shared_context)
{
	run_pairs(shared());
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
	uint8_t want[2];        /* the last round's */
	bool done;              /* atomic */
	pthread_t th;
};

static void *mig_thread(void *arg)
{
	struct mig_job *j = arg;

	for (int i = 0; i < j->rounds; i++) {
		/* the source runs again between rounds, with new values */
		if (i)
			CHECK(vfiomig_state_set(j->src, ST(RUNNING), NULL) == 0,
			      "round %d: source -> RUNNING", i);
		seed_ports(j->src, j->dst, 10u + (unsigned int)i, j->want);
		migrate(j->src, j->dst);
	}
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
	CHECK(r == 0 && caps.migration_flags == MTTY_FLAGS, "caps: %d", r);
	r = vfiomig_feature_probe(dev, VFIOMIG_FEATURE_MIG_DATA_SIZE,
				  VFIOMIG_FEATURE_GET);
	CHECK(r == 1, "feature_probe: %d", r);
	return 1;
}

/* j's migration thread (fn) while this one, a main loop, polls both
 * devices until it is done (and polled at least once); no failure seen.
 * A main loop's pace: a tight loop would only spin on mtty's short
 * stream, and grow a programmable device's precopy stream without bound
 * (it runs, dirtying 16 KiB, between PRECOPY_INFO calls, like mlx5). */
static void beside_main_loop(struct mig_job *j, void *(*fn)(void *))
{
	unsigned long polls = 0;

	ck_assert_int_eq(pthread_create(&j->th, NULL, fn, j), 0);
	do {
		polls += poll_device(j->src);
		polls += poll_device(j->dst);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	} while (!__atomic_load_n(&j->done, __ATOMIC_ACQUIRE));
	pthread_join(j->th, NULL);
	assert_no_failure();
	ck_assert_uint_gt(polls, 0);
}

START_TEST(one_device_two_threads)
{
	struct mig_job j = { .rounds = 3 };
	struct vfiomig_ctx *c = shared();

	j.src = dev_open(c, KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	j.dst = dev_open(c, KENV_MTTY2B_UUID, VFIOMIG_IOMMU_AUTO);
	assert_no_failure();
	beside_main_loop(&j, mig_thread);
	for (int bar = 0; bar < 2; bar++)
		ck_assert_int_eq(scr_read(j.dst, bar), j.want[bar]);
	ck_assert_int_eq(vfiomig_state_get(j.dst), ST(RUNNING));
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

	p.dev = dev_open(shared(), KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	assert_no_failure();
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
	ck_assert_int_eq(vfiomig_state_set(p.dev, ST(RUNNING), NULL), 0);
	vfiomig_device_free(p.dev);
}
END_TEST

/* ------------------------------------------------------------------ */
/* One device over many precopy rounds (a programmable device)          */

/*
 * one_device_two_threads where precopy lasts: two programmable devices
 * (kenv_gen_add: mtest in the VM, the fake's GENERIC) of an odd size,
 * precopy data that ends in ENOMSG, a running guest (16 KiB dirty at each
 * PRECOPY_INFO).  mtty's precopy is one 24-byte round with nothing dirty.
 */
static const struct kenv_gen_cfg gen_cfg = {
	.mig_flags = MTTY_FLAGS, /* poll_device checks them */
	.state_size = (192u << 10) + 4099u,
	.precopy_initial = 64u << 10,
	.precopy_dirty = 16u << 10,
	.precopy_enomsg = true,
};

static void *gen_mig_thread(void *arg)
{
	struct mig_job *j = arg;

	for (int i = 0; i < j->rounds; i++)
		migrate(j->src, j->dst);
	__atomic_store_n(&j->done, true, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(precopy_rounds_two_threads)
{
	struct mig_job j = { .rounds = 3 };
	struct vfiomig_ctx *c = shared();
	const char *gen[2];

	for (int i = 0; i < 2; i++) {
		gen[i] = kenv_gen_add(&gen_cfg);
		kenv_gen_fill(gen[i], 0x1000u + (unsigned int)i);
	}
	j.src = dev_open(c, gen[0], VFIOMIG_IOMMU_AUTO);
	j.dst = dev_open(c, gen[1], VFIOMIG_IOMMU_AUTO);
	assert_no_failure();
	ck_assert(j.src && j.dst);
	beside_main_loop(&j, gen_mig_thread);
	ck_assert(gen_blobs_equal(gen[0], gen[1]));
	vfiomig_device_free(j.src);
	vfiomig_device_free(j.dst);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) trackers                                                        */

#define TRACKED (64 * MiB) /* DMA logging on mtty */
#define MOCK_LEN (2 * MiB)  /* the mock domain's tracked memory */
#define MOCK_PAGES (MOCK_LEN / 4096)
#define QUERIES 200

/* A tracker on the selftest's mock domain: the mock device on IOAS A, the
 * tracker's dirty HWPT on IOAS B with MOCK_LEN mapped (kcase-dirty.c). */
struct mock {
	int fd;
	uint32_t hwpt;
	void *mem;
	struct vfiomig_dirty *tr;
};

static uint32_t ioas_alloc(int fd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	ck_assert_msg(ioctl(fd, IOMMU_IOAS_ALLOC, &a) == 0,
		      "IOAS_ALLOC: %s", strerror(errno));
	return a.out_ioas_id;
}

static void mock_open(struct mock *m)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.length = MOCK_LEN, .iova = MOCK_APERTURE_START,
	};
	struct vfiomig_range r = { MOCK_APERTURE_START, MOCK_LEN };
	char path[256];
	uint64_t ps = 4096;
	uint32_t idev;
	int hwpt;

	if (!kenv_has_iommufd())
		kenv_skip("no /dev/iommu");
	snprintf(path, sizeof(path), "%s/iommu",
		 kenv_dev_root() ? kenv_dev_root() : "/dev");
	m->fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(m->fd >= 0, "%s: %s", path, strerror(errno));
	c.id = ioas_alloc(m->fd);
	if (ioctl(m->fd, IOMMU_TEST_CMD, &c) && errno == ENOTTY) {
		close(m->fd);
		kenv_skip("IOMMU_TEST_CMD: ENOTTY (no CONFIG_IOMMUFD_TEST)");
	}
	idev = c.mock_domain.out_idev_id;
	ck_assert_uint_ne(idev, 0);
	map.ioas_id = ioas_alloc(m->fd);
	m->mem = mmap(NULL, MOCK_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->mem, MAP_FAILED);
	memset(m->mem, 0, MOCK_LEN);
	map.user_va = (uintptr_t)m->mem;
	ck_assert_msg(ioctl(m->fd, IOMMU_IOAS_MAP, &map) == 0,
		      "IOAS_MAP: %s", strerror(errno));
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = m->fd,
			     .ioas_id = map.ioas_id, .dev_ids = &idev,
			     .n_dev_ids = 1, .ctx = kenv_ctx());

		ck_assert_int_eq(vfiomig_dirty_new(NULL, 0, &o, &m->tr), 0);
	}
	ck_assert_int_eq(vfiomig_dirty_backend(m->tr), VFIOMIG_DIRTY_IOMMUFD);
	hwpt = vfiomig_dirty_hwpt_id(m->tr);
	ck_assert_int_gt(hwpt, 0);
	m->hwpt = (uint32_t)hwpt;
	ck_assert_int_eq(vfiomig_dirty_start(m->tr, &r, 1, &ps), 0);
	ck_assert_uint_eq(ps, 4096);
}

static void mock_close(struct mock *m)
{
	ck_assert_int_eq(vfiomig_dirty_stop(m->tr), 0);
	vfiomig_dirty_free(m->tr);
	ck_assert_int_eq(close(m->fd), 0);
	munmap(m->mem, MOCK_LEN);
}

/* The mock "device" writes one 4 KiB page (its first 2 KiB mock page). */
static bool mock_dirty_page(struct mock *m, uint64_t page)
{
	uint8_t bits = 1;
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DIRTY,
		.id = m->hwpt,
		.dirty = {
			.iova = MOCK_APERTURE_START + page * 4096,
			.length = MOCK_IO_PAGE_SIZE,
			.page_size = MOCK_IO_PAGE_SIZE,
			.uptr = (uintptr_t)&bits,
		},
	};

	return CHECK(ioctl(m->fd, IOMMU_TEST_CMD, &c) == 0 &&
		     c.dirty.out_nr_dirty == 1,
		     "TEST_OP_DIRTY page %llu: %s, %llu dirty",
		     (unsigned long long)page, strerror(errno),
		     (unsigned long long)c.dirty.out_nr_dirty);
}

struct track_job {
	struct vfiomig_dirty *dmalog; /* on an mtty */
	struct mock mock;
	pthread_t th;
};

/* One page dirtied, then exactly that page reported; the mtty's DMA
 * logging queried alongside, empty (mtty logs nothing). */
static void *track_thread(void *arg)
{
	struct track_job *j = arg;
	uint64_t *bm = calloc(TRACKED / 4096 / 64, sizeof(*bm));

	if (!CHECK(bm, "calloc"))
		return NULL;
	for (unsigned int k = 0; k < QUERIES; k++) {
		uint64_t page = (k * 7919u) % MOCK_PAGES, ndirty;
		int r;

		if (!mock_dirty_page(&j->mock, page))
			break;
		r = vfiomig_dirty_query(j->mock.tr, MOCK_APERTURE_START,
					MOCK_LEN, 4096, bm, 0);
		if (!CHECK(r == 0, "mock dirty_query: %s", strerror(-r)))
			break;
		ndirty = vfiomig_bitmap_count(bm, MOCK_PAGES);
		if (!CHECK(ndirty == 1 && (bm[page / 64] >> (page % 64) & 1),
			   "query %u: %llu dirty pages, page %llu %s", k,
			   (unsigned long long)ndirty,
			   (unsigned long long)page,
			   bm[page / 64] >> (page % 64) & 1 ? "set" : "clear"))
			break;
		memset(bm, 0xff, TRACKED / 4096 / 8);
		r = vfiomig_dirty_query(j->dmalog, 0, TRACKED, 4096, bm, 0);
		if (!CHECK(r == 0, "DMA logging dirty_query: %s", strerror(-r)))
			break;
		ndirty = vfiomig_bitmap_count(bm, TRACKED / 4096);
		if (!CHECK(ndirty == 0, "query %u: mtty logged %llu pages", k,
			   (unsigned long long)ndirty))
			break;
	}
	free(bm);
	return NULL;
}

/* DMA logging on an mtty (Type1: the iommufd path would offer the
 * iommufd backend first). */
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

static void untrack(struct track_job *j)
{
	ck_assert_int_eq(vfiomig_dirty_stop(j->dmalog), 0);
	vfiomig_dirty_free(j->dmalog);
	mock_close(&j->mock);
}

START_TEST(two_trackers)
{
	struct vfiomig_device *dev[2];
	struct track_job j[2];

	for (int i = 0; i < 2; i++) {
		dev[i] = dev_open(shared(), names[i], VFIOMIG_IOMMU_TYPE1);
		assert_no_failure();
		j[i] = (struct track_job){ .dmalog = track(dev[i]) };
		mock_open(&j[i].mock);
	}
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&j[i].th, NULL, track_thread,
						&j[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(j[i].th, NULL);
	assert_no_failure();
	for (int i = 0; i < 2; i++) {
		untrack(&j[i]);
		vfiomig_device_free(dev[i]);
	}
}
END_TEST

/* The tracker in one thread, the device's state in another. */
START_TEST(tracker_and_device_state)
{
	static const int walk[] = { ST(STOP), ST(RUNNING_P2P), ST(RUNNING) };
	struct vfiomig_device *dev;
	struct track_job j;
	bool done = false;
	unsigned int n = 0;
	uint64_t len;

	dev = dev_open(shared(), KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	assert_no_failure();
	j = (struct track_job){ .dmalog = track(dev) };
	mock_open(&j.mock);
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
	ck_assert_uint_gt(n, 0);
	untrack(&j);
	ck_assert_int_eq(vfiomig_state_set(dev, ST(RUNNING), NULL), 0);
	vfiomig_device_free(dev);
}
END_TEST

Suite *kcase_threads_suite(void)
{
	Suite *s = suite_create("kcase-threads");
	TCase *tc;

	tc = tcase_create("contexts");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_checked_fixture(tc, threads_setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, context_per_thread);
	tcase_add_test(tc, shared_context);
	suite_add_tcase(s, tc);

	tc = tcase_create("device");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_checked_fixture(tc, threads_setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, one_device_two_threads);
	tcase_add_test(tc, transfer_in_flight);
	suite_add_tcase(s, tc);

	/* programmable devices (mtest in the VM, the fake's GENERIC) */
	tc = tcase_create("precopy");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_checked_fixture(tc, threads_setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, precopy_rounds_two_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("trackers");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_checked_fixture(tc, threads_setup, NULL);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, two_trackers);
	tcase_add_test(tc, tracker_and_device_state);
	suite_add_tcase(s, tc);
	return s;
}
