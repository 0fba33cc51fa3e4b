// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fake-only tests of IOMMU contexts and DMA mappings (vfiomig_iommu_new(3)):
 * options, adopting a caller's container or iommufd, a PCI function's
 * Type1 IOVA ranges (the MSI window) and a map outside them, the log line
 * naming each rule, random maps and unmaps against a model of the
 * kernel's mappings, every failing call of open+map failing in turn
 * without leaks.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/mman.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"

#define UUID1 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define UUID2 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define BDF "0000:3b:00.1"
#define PG 4096ULL
#define RW (VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE)

static char logbuf[16384];
static struct vfiomig_ctx *ctx;
static int pci_id;
static char *buf;
#define BUFSZ (256 * PG)

__attribute__((format(printf, 6, 0)))
static void log_capture(void *data, int prio, const char *file, int line,
			const char *fn, const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)data, (void)prio, (void)file, (void)line, (void)fn;
	if (n + 1 < sizeof(logbuf)) {
		vsnprintf(logbuf + n, sizeof(logbuf) - n - 1, fmt, ap);
		strcat(logbuf, "\n");
	}
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "%s", logbuf + n);
}

static void setup(void)
{
	VFIOMIG_OPTS(vfiomig_ctx_opts, o);
	struct fake_dev_cfg c;

	ck_assert_int_eq(fake_init(true), 0);
	fake_cfg_mtty(&c, UUID1, 1, 20, 0);
	ck_assert_int_ge(fake_add_device(&c), 0);
	fake_cfg_mtty(&c, UUID2, 2, 21, 1);
	ck_assert_int_ge(fake_add_device(&c), 0);
	fake_cfg_pci(&c, BDF, 12, 3, 0x7);
	pci_id = fake_add_device(&c);
	ck_assert_int_ge(pci_id, 0);
	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	vfiomig_ctx_set_log_fn(ctx, log_capture, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	logbuf[0] = '\0';
	buf = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(buf, MAP_FAILED);
}

static void teardown(void)
{
	fake_fail_nth(0, 0);
	munmap(buf, BUFSZ);
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_fini(), 0);
}

static struct vfiomig_iommu *iommu_new(int path)
{
	VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommu = path);
	struct vfiomig_iommu *io = NULL;

	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), 0);
	return io;
}

static struct vfiomig_device *open_into(const char *name,
					struct vfiomig_iommu *io)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu_ctx = io);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(ctx, name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s: %s\n%s", name, strerror(-ret), logbuf);
	return dev;
}

static bool logged(const char *s)
{
	bool yes = strstr(logbuf, s) != NULL;

	logbuf[0] = '\0';
	return yes;
}

START_TEST(options)
{
	struct vfiomig_iommu *io = NULL;
	VFIOMIG_OPTS(vfiomig_iommu_opts, o);

	ck_assert_int_eq(vfiomig_iommu_new(NULL, NULL, &io), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_new(ctx, NULL, NULL), -EINVAL);
	o.flags = 1;
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	o.flags = 0;
	o.iommu = 7;
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	o.iommu = VFIOMIG_IOMMU_NONE;
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	o.iommu = 0;
	o.ioas_id = 3; /* without an iommufd */
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	o.ioas_id = 0;
	o.container_fd = 5;
	o.iommufd = 6;
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	o.iommufd = 0;
	o.iommu = VFIOMIG_IOMMU_IOMMUFD; /* a container on the iommufd path */
	ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), -EINVAL);
	ck_assert_ptr_null(io);
	/* A larger struct with non-zero bytes past what the library knows. */
	{
		struct {
			struct vfiomig_iommu_opts o;
			uint64_t more;
		} big = { .o.sz = sizeof(big), .more = 1 };

		ck_assert_int_eq(vfiomig_iommu_new(ctx, &big.o, &io), -E2BIG);
	}
	/* AUTO: iommufd here. */
	ck_assert_int_eq(vfiomig_iommu_new(ctx, NULL, &io), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, PG, RW), 0);
	vfiomig_iommu_free(io);
	vfiomig_iommu_free(NULL);
	ck_assert_ptr_null(vfiomig_device_iommu(NULL));
	ck_assert_int_eq(vfiomig_iommu_mappings(NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_unmap(NULL, 0, PG), -EINVAL);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* A PCI function's Type1 container: the domain's aperture minus the MSI
 * window; a map across the window is EINVAL, logged as outside the valid
 * ranges, after the overlap and limit checks (the kernel's order). */
START_TEST(type1_ranges)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(BDF, io);
	struct vfiomig_range r[4];

	ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 1), 2);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 4), 2);
	ck_assert_uint_eq(r[0].iova, 0);
	ck_assert_uint_eq(r[0].length, 0xfee00000ULL);
	ck_assert_uint_eq(r[1].iova, 0xfef00000ULL);
	ck_assert_uint_eq(r[1].iova + r[1].length, 1ULL << 48);
	logbuf[0] = '\0';
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0xfee00000ULL - PG, 2 * PG, RW), -EINVAL);
	ck_assert(logged("outside the valid IOVA ranges"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 1ULL << 48, PG, RW), -EINVAL);
	ck_assert(logged("outside the valid IOVA ranges"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0xfee00000ULL - PG, PG, RW), 0);
	/* Overlap comes before the range check. */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0xfee00000ULL - PG, 2 * PG, RW), -EEXIST);
	ck_assert(logged("overlaps the mapping"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, 0, RW), -EINVAL);
	ck_assert(logged("size 0"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 512, PG, RW), -EINVAL);
	ck_assert(logged("page-aligned"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0ULL - PG, 2 * PG, RW), -EINVAL);
	ck_assert(logged("wraps"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0xfee00000ULL - PG, PG / 2), -EINVAL);
	ck_assert(logged("page-aligned"));
	ck_assert_int_eq(vfiomig_iommu_mappings(io, r, 4), 1);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Log lines of the iommufd rules. */
START_TEST(iommufd_rules)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *dev = open_into(UUID1, io);
	struct vfiomig_range r[2];

	ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 2), 1);
	ck_assert_uint_eq(r[0].iova, 0);
	ck_assert_uint_eq(r[0].length, UINT64_MAX);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, UINT64_MAX, PG, RW), -EOVERFLOW);
	ck_assert(logged("below 2^64 - 1"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, UINT64_MAX - PG + 1, RW), -EINVAL);
	ck_assert(logged("iopt_alloc_pages"));
	ck_assert_int_eq(vfiomig_iommu_map(io, (void *)(uintptr_t)(0ULL - PG), 0, 2 * PG, RW), -EOVERFLOW);
	ck_assert(logged("user address wraps"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG + 8, PG, RW), -EINVAL);
	ck_assert(logged("IOVA alignment 0x1000"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0ULL - PG, 2 * PG, RW), -EOVERFLOW);
	ck_assert(logged("wraps past 2^64"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, 2 * PG, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 2 * PG, 2 * PG, RW), -EEXIST);
	ck_assert(logged("overlaps the mapping [0x1000, +0x2000)"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 2 * PG, PG), -ENOENT);
	ck_assert(logged("cuts the mapping"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 8 * PG, PG), -ENOENT);
	ck_assert(logged("nothing is mapped there"));
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
}
END_TEST

/* Adopting the caller's container (IOMMU already set by a device the
 * library opened on it) and the caller's iommufd + IOAS: the fds stay
 * open after the context goes. */
START_TEST(adopt)
{
	struct vfiomig_device *dev = NULL;
	struct vfiomig_iommu *io = NULL;
	uint32_t ioas = 0;
	int fd;

	{
		VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_TYPE1);

		ck_assert_int_eq(vfiomig_device_open(ctx, UUID1, &o, &dev), 0);
	}
	fd = vfiomig_device_iommu_fd(dev);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .container_fd = fd);

		ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	/* The device's own context sees the kernel's mapping, not the
	 * other context's record. */
	ck_assert_int_eq(vfiomig_iommu_map(vfiomig_device_iommu(dev), buf, PG, PG, RW), -EEXIST);
	ck_assert(logged("did not make"));
	vfiomig_iommu_free(io);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	vfiomig_device_free(dev);

	{
		VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_IOMMUFD);

		ck_assert_int_eq(vfiomig_device_open(ctx, UUID1, &o, &dev), 0);
	}
	fd = vfiomig_device_iommu_fd(dev);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, NULL, &ioas, NULL), 0);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd, .ioas_id = ioas);

		ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	vfiomig_iommu_free(io);
	/* Its own IOAS on the same iommufd, destroyed with it. */
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd);

		ck_assert_int_eq(vfiomig_iommu_new(ctx, &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	vfiomig_iommu_free(io);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	vfiomig_device_free(dev);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Random maps and unmaps against a model of the kernel's mappings (one
 * entry per page: the id of the mapping, 0 when free); the record must
 * equal the model after every call, a failure must change nothing. */
#define NPG 64
START_TEST(random_model)
{
	int path = _i ? VFIOMIG_IOMMU_IOMMUFD : VFIOMIG_IOMMU_TYPE1;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(UUID1, io);
	unsigned int model[NPG] = { 0 }, next_id = 1;
	unsigned int seed = 12345 + _i;

	vfiomig_ctx_set_log_priority(ctx, LOG_ERR);
	for (int step = 0; step < 2000; step++) {
		uint64_t a = rand_r(&seed) % NPG, n = 1 + rand_r(&seed) % 8;
		bool map = rand_r(&seed) % 2;
		int ret, want = 0;
		struct vfiomig_range r[NPG];
		ssize_t cnt;
		size_t k = 0;

		if (a + n > NPG)
			n = NPG - a;
		if (map) {
			for (uint64_t p = a; p < a + n; p++)
				if (model[p])
					want = -EEXIST;
			ret = vfiomig_iommu_map(io, buf + a * PG, a * PG, n * PG, RW);
			ck_assert_int_eq(ret, want);
			if (!ret) {
				for (uint64_t p = a; p < a + n; p++)
					model[p] = next_id;
				next_id++;
			}
		} else {
			bool any = false;

			for (uint64_t p = a; p < a + n; p++)
				any |= model[p] != 0;
			if ((a > 0 && model[a] && model[a - 1] == model[a]) ||
			    (a + n < NPG && model[a + n - 1] &&
			     model[a + n] == model[a + n - 1]))
				want = path == VFIOMIG_IOMMU_TYPE1 ? -EINVAL : -ENOENT;
			else if (!any && path == VFIOMIG_IOMMU_IOMMUFD)
				want = -ENOENT;
			ret = vfiomig_iommu_unmap(io, a * PG, n * PG);
			ck_assert_int_eq(ret, want);
			if (!ret)
				for (uint64_t p = a; p < a + n; p++)
					model[p] = 0;
		}
		cnt = vfiomig_iommu_mappings(io, r, NPG);
		for (uint64_t p = 0; p < NPG;) {
			uint64_t q = p;

			if (!model[p]) {
				p++;
				continue;
			}
			while (q < NPG && model[q] == model[p])
				q++;
			ck_assert_uint_lt(k, (size_t)cnt);
			ck_assert_uint_eq(r[k].iova, p * PG);
			ck_assert_uint_eq(r[k].length, (q - p) * PG);
			k++;
			p = q;
		}
		ck_assert_int_eq(cnt, (ssize_t)k);
	}
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
}
END_TEST

/* Every call of context + open + map + unmap failing in turn: an error
 * or success, never a leak, the record never ahead of the kernel. */
START_TEST(fail_nth)
{
	int path = _i ? VFIOMIG_IOMMU_IOMMUFD : VFIOMIG_IOMMU_TYPE1;

	vfiomig_ctx_set_log_priority(ctx, LOG_ERR);
	for (unsigned int nth = 1; nth < 200; nth++) {
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommu = path);
		VFIOMIG_OPTS(vfiomig_open_opts, oo);
		struct vfiomig_iommu *io = NULL;
		struct vfiomig_device *dev = NULL;
		unsigned int before;
		int ret;

		fake_fail_nth(nth, EIO);
		before = fake_calls();
		(void)before;
		ret = vfiomig_iommu_new(ctx, &o, &io);
		if (ret) {
			ck_assert_ptr_null(io);
			fake_fail_nth(0, 0);
			ck_assert_int_eq(fake_open_fds(), 0);
			continue;
		}
		oo.iommu_ctx = io;
		ret = vfiomig_device_open(ctx, UUID1, &oo, &dev);
		if (!ret) {
			if (vfiomig_iommu_map(io, buf, PG, PG, RW) == 0) {
				ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
				if (vfiomig_iommu_unmap(io, PG, PG) == 0)
					ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
				else
					ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
			} else {
				ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
			}
			vfiomig_device_free(dev);
		} else {
			ck_assert_ptr_null(dev);
		}
		vfiomig_iommu_free(io);
		fake_fail_nth(0, 0);
		ck_assert_int_eq(fake_open_fds(), 0);
	}
}
END_TEST


/* A tracker started without ranges takes the mappings the library made
 * (one range per mapping), on each back-end of a PCI function: DMA logging
 * (iommufd context), iommufd HWPT, Type1 (the whole mapping reported on
 * the first query); without any mapping: EINVAL. */
START_TEST(dirty_from_mappings)
{
	static const int backend[] = { VFIOMIG_DIRTY_DMA_LOGGING,
				       VFIOMIG_DIRTY_IOMMUFD, VFIOMIG_DIRTY_TYPE1 };
	int path = _i == 2 ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend[_i]);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG };
	uint64_t bm[4], ps = PG;

	vfiomig_iommu_free(io);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), -EINVAL);
	ck_assert(logged("no mappings"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	if (_i == 0)
		fake_dev_dma_write(pci_id, a.iova + 3 * PG, 2 * PG);
	else if (_i == 1)
		fake_dma_write(a.iova + 3 * PG, 2 * PG);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i == 2 ? 0xffffULL : 0x18ULL);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i == 2 ? 0x3ULL : 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* vfiomig_dirty_unmap on a range the library mapped: its dirty bits come
 * back (iommufd: what the device wrote; Type1: the whole mapping) and the
 * context's record drops it (the other mapping stays). */
START_TEST(dirty_unmap_forgets)
{
	int path = _i ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = _i ? VFIOMIG_DIRTY_TYPE1 :
							     VFIOMIG_DIRTY_IOMMUFD);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG }, r[2];
	uint64_t bm[4] = { 0 }, ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	fake_dma_write(a.iova + 5 * PG, PG);
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i ? 0xffffULL : 0x20ULL);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, r, 2), 1);
	ck_assert_uint_eq(r[0].iova, b.iova);
	/* The kernel's mapping is gone too: the IOVA maps again. */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* A tracker started without ranges follows the context: a mapping made
 * while it runs is tracked from then on, on every back-end of a PCI
 * function (DMA logging on an iommufd context, iommufd HWPT, Type1).  DMA
 * logging restarts on a new plan: the pages tracked before (a) are
 * reported dirty once by the next query, none lost. */
START_TEST(follow_map)
{
	static const int backend[] = { VFIOMIG_DIRTY_DMA_LOGGING,
				       VFIOMIG_DIRTY_IOMMUFD, VFIOMIG_DIRTY_TYPE1 };
	int path = _i == 2 ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend[_i]);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 4 * PG };
	struct fake_dirty_stats st;
	uint64_t bm[4], ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	fake_dirty_reset_stats();
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	fake_dirty_get_stats(&st);
	/* Only DMA logging needs the kernel told: one restart. */
	ck_assert_uint_eq(st.log_starts, _i == 0);
	if (_i == 0)
		fake_dev_dma_write(pci_id, b.iova + PG, 2 * PG);
	else if (_i == 1)
		fake_dma_write(b.iova + PG, 2 * PG);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i == 2 ? 0xfULL : 0x6ULL);
	/* a: DMA logging reports the span tracked before the restart once;
	 * iommufd nothing written; Type1 the whole mapping, as always. */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i == 1 ? 0 : 0xffffULL);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], _i == 2 ? 0xffffULL : 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	/* Stopped: no longer followed, a map touches no tracker. */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* DMA logging: a mapping inside the planned ranges needs no restart (the
 * plan keeps a range unmapped through the tracker); NO_CLEAR leaves the
 * pending span for the next query. */
START_TEST(follow_dmalog_covered)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 4 * PG };
	struct fake_dirty_stats st;
	uint64_t bm[4], ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, b.iova, b.length, PG, bm, 0), 0);
	fake_dirty_reset_stats();
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	fake_dirty_get_stats(&st);
	ck_assert_uint_eq(st.log_starts, 0);
	fake_dev_dma_write(pci_id, b.iova, PG);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 1);
	/* Outside the plan: restarted; NO_CLEAR keeps the pending span. */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 64 * PG, 8ULL << 20, PG, RW), 0);
	for (int k = 0; k < 2; k++) {
		memset(bm, 0, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm,
						     VFIOMIG_DIRTY_NO_CLEAR), 0);
		ck_assert_uint_eq(bm[0], 0xffffULL);
	}
	/* An unmap through the tracker returns the pending bits too. */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 2);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Every ioctl of a map that restarts DMA logging failing in turn: the map
 * fails whole (undone, the record unchanged) or succeeds, and the page the
 * device wrote before is reported either way; the tracker stays usable. */
START_TEST(follow_dmalog_fail_nth)
{
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 4 * PG };
	bool done = false;

	for (unsigned int nth = 1; !done; nth++) {
		struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
		struct vfiomig_device *dev = open_into(BDF, io);
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
		struct vfiomig_dirty *tr = NULL;
		uint64_t bm[4], ps = PG;
		int ret;

		ck_assert_uint_lt(nth, 20);
		ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
		ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
		ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
		fake_dev_dma_write(pci_id, a.iova + 3 * PG, PG);
		fake_fail_nth_call("ioctl", nth, EIO);
		ret = vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW);
		done = ret == 0;
		fake_fail_nth(0, 0);
		ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), done ? 2 : 1);
		ck_assert(fake_dev_logging(pci_id));
		memset(bm, 0, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
		ck_assert_msg(bm[0] & 8, "nth %u: the page written is lost", nth);
		if (done) {
			fake_dev_dma_write(pci_id, b.iova, PG);
			memset(bm, 0, sizeof(bm));
			ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
			ck_assert_uint_eq(bm[0], 1);
		} else {
			/* Undone: the IOVA is free in the kernel. */
			ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova,
							   b.length, RW), 0);
		}
		ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
		ck_assert(!fake_dev_logging(pci_id));
		vfiomig_dirty_free(tr);
		vfiomig_device_free(dev);
		vfiomig_iommu_free(io);
		ck_assert_int_eq(fake_open_fds(), 0);
	}
}
END_TEST

/* A restart that fails and cannot be undone (the driver answers a page
 * size REPORT cannot use to every START from now on): the map fails, the
 * tracker says it is broken (queries: every page dirty and EIO), a stop
 * and a new start make it work again. */
START_TEST(follow_dmalog_broken)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 4 * PG };
	uint64_t bm[4], ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	fake_dev_set_log_pgsize(pci_id, 2048);
	logbuf[0] = '\0';
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW),
			 -EPROTO);
	ck_assert(logged("the tracker is broken"));
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), -EIO);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	/* Further maps are refused while broken. */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW),
			 -EIO);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	fake_dev_set_log_pgsize(pci_id, 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	fake_dev_dma_write(pci_id, a.iova, PG);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 1);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* vfiomig_iommu_unmap of IOVA a following tracker tracks is refused
 * (EBUSY, the log names vfiomig_dirty_unmap): its bits would be lost;
 * outside the tracked ranges, or once stopped, it unmaps.  A follower
 * refusing a map (iommufd: off the tracking page) undoes it. */
START_TEST(follow_unmap_busy)
{
	int path = _i ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = _i ? VFIOMIG_DIRTY_TYPE1 :
							     VFIOMIG_DIRTY_IOMMUFD);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 2ULL << 20, 16 * PG };
	uint64_t ps = _i ? PG : 2 * PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	logbuf[0] = '\0';
	ck_assert_int_eq(vfiomig_iommu_unmap(io, a.iova, a.length), -EBUSY);
	ck_assert(logged("vfiomig_dirty_unmap"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0, 1ULL << 20), _i ? 0 : -ENOENT);
	if (!_i) {
		/* 8 KiB tracking pages: a 4 KiB mapping cannot be tracked. */
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 8ULL << 20,
						   PG, RW), -EINVAL);
		ck_assert(logged("not aligned to the page size"));
		ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 8ULL << 20,
						   2 * PG, RW), 0);
	}
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0, 16ULL << 20), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* The tracker freed while following, then the context: the context's
 * reference kept it alive, nothing leaks; and the other order (the
 * caller's context reference and the device gone first). */
START_TEST(follow_free_order)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_IOMMUFD);
	struct vfiomig_dirty *tr = NULL;
	uint64_t ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 1ULL << 20, PG, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	if (_i) {
		vfiomig_dirty_free(tr);
		vfiomig_device_free(dev);
		vfiomig_iommu_free(io);
	} else {
		vfiomig_iommu_free(io);
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + PG, 2ULL << 20, PG, RW), 0);
		vfiomig_dirty_free(tr);
		vfiomig_device_free(dev);
	}
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Maps from another thread while the tracker is queried in this one (a
 * VMM's memory listener and its migration thread): every mapping made is
 * followed, no query sees a half-added range (ThreadSanitizer watches). */
struct mapper {
	struct vfiomig_iommu *io;
	int n, failed, err, at;
};

static void *map_thread(void *arg)
{
	struct mapper *m = arg;

	for (int i = 0; i < m->n; i++) {
		int ret = vfiomig_iommu_map(m->io, buf + 64 * PG + (uint64_t)i * PG,
					    (16ULL << 20) + (uint64_t)i * 2 * PG,
					    PG, RW);

		if (ret && !m->failed++) {
			m->err = ret;
			m->at = i;
		}
	}
	return NULL;
}

START_TEST(follow_threads)
{
	int path = _i ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD;
	struct vfiomig_iommu *io = iommu_new(path);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = _i ? VFIOMIG_DIRTY_TYPE1 :
							     VFIOMIG_DIRTY_DMA_LOGGING);
	struct mapper m = { .io = io, .n = 32 }; /* the fake's Type1 limit is 64 */
	struct vfiomig_dirty *tr = NULL;
	uint64_t bm[1], ps = PG;
	pthread_t t;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 1ULL << 20, 16 * PG, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, map_thread, &m), 0);
	for (int k = 0; k < 50; k++)
		ck_assert_int_eq(vfiomig_dirty_query(tr, 16ULL << 20, 64 * PG, PG,
						     bm, 0), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(m.failed == 0, "%d maps failed, the first (%d): %s",
		      m.failed, m.at, strerror(-m.err));
	if (!_i)
		fake_dev_dma_write(pci_id, 16ULL << 20, 64 * PG);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 16ULL << 20, 64 * PG, PG, bm, 0), 0);
	/* Every other page is a mapping: all of them dirty. */
	ck_assert_uint_eq(bm[0], 0x5555555555555555ULL);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Two trackers follow one context (DMA logging on the mtty, the HWPT on
 * the PCI function at 8 KiB pages).  A 4 KiB mapping the second cannot
 * track fails whole: the first, told before, forgets it again, the map is
 * undone.  An 8 KiB one at that IOVA is then tracked by both (the first
 * restarts again: the new plan has only 4 KiB there). */
START_TEST(follow_two_trackers)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *mdev = open_into(UUID1, io), *pdev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o1, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o2, .backend = VFIOMIG_DIRTY_IOMMUFD);
	struct vfiomig_dirty *t1 = NULL, *t2 = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 8ULL << 20, 2 * PG };
	struct fake_dirty_stats st;
	uint64_t bm[1], ps1 = PG, ps2 = 2 * PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&pdev, 1, &o2, &t2), 0);
	ck_assert_int_eq(vfiomig_dirty_start(t2, NULL, 0, &ps2), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&mdev, 1, &o1, &t1), 0);
	ck_assert_int_eq(vfiomig_dirty_start(t1, NULL, 0, &ps1), 0);
	logbuf[0] = '\0';
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, PG, RW), -EINVAL);
	ck_assert(strstr(logbuf, "restarting") && logged("not aligned to the page size"));
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
	/* Undone for the first too: nothing there to refuse an unmap for. */
	fake_dirty_reset_stats();
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	fake_dirty_get_stats(&st);
	ck_assert_uint_eq(st.log_starts, 1);
	fake_dma_write(b.iova + PG, PG);
	ck_assert_int_eq(vfiomig_dirty_query(t2, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 3); /* one 8 KiB page of the HWPT's */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), -EBUSY);
	vfiomig_dirty_free(t1);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), -EBUSY);
	vfiomig_dirty_free(t2);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), 0);
	vfiomig_device_free(mdev);
	vfiomig_device_free(pdev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

static Suite *dma_suite(void)
{
	Suite *s = suite_create("dma");
	TCase *tc = tcase_create("dma");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, options);
	tcase_add_test(tc, type1_ranges);
	tcase_add_test(tc, iommufd_rules);
	tcase_add_test(tc, adopt);
	tcase_add_loop_test(tc, random_model, 0, 2);
	tcase_add_loop_test(tc, fail_nth, 0, 2);
	tcase_add_loop_test(tc, dirty_from_mappings, 0, 3);
	tcase_add_loop_test(tc, dirty_unmap_forgets, 0, 2);
	tcase_add_loop_test(tc, follow_map, 0, 3);
	tcase_add_test(tc, follow_dmalog_covered);
	tcase_add_test(tc, follow_dmalog_fail_nth);
	tcase_add_test(tc, follow_dmalog_broken);
	tcase_add_loop_test(tc, follow_unmap_busy, 0, 2);
	tcase_add_loop_test(tc, follow_free_order, 0, 2);
	tcase_add_loop_test(tc, follow_threads, 0, 2);
	tcase_add_test(tc, follow_two_trackers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dma_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
