// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fake-only tests of IOMMU contexts and DMA mappings (vfiomig_iommu_new(3))
 * that need a PCI function behind an IOMMU: its Type1 IOVA ranges (the MSI
 * window) and a map outside them; Type1 reporting whole mappings of a
 * container that is not in pinned-page scope, as trackers follow the
 * mappings; a driver that breaks DMA logging on demand.  The rest runs on
 * both kernels, on mtty, the iommufd mock and programmable devices (the
 * pages a device writes while it logs): tests/kcase-dma.c.
 */
#include <errno.h>
#include <pthread.h>
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

/* A PCI function's Type1 container: the domain's aperture minus the MSI
 * window; a map across the window is EINVAL, logged as outside the valid
 * ranges, after the overlap and limit checks (the kernel's order).  The
 * other Type1 rules: kcase-dma.c's type1_rules on mtty. */
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
	ck_assert_int_eq(vfiomig_iommu_mappings(io, r, 4), 1);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* A tracker started without ranges takes the mappings the library made
 * (one range per mapping), on a PCI function's Type1 container (the whole
 * mapping reported on the first query).  Without any mapping, the iommufd
 * HWPT and DMA logging (what a device wrote): kcase-dma.c
 * (mtty_from_mappings, mock_from_mappings, gen_from_mappings). */
START_TEST(dirty_from_mappings)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG };
	uint64_t bm[4], ps = PG;

	vfiomig_iommu_free(io);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0x3ULL);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* vfiomig_dirty_unmap on a range the library mapped: its dirty bits come
 * back (Type1 on a PCI function's container: the whole mapping) and the
 * context's record drops it (the other mapping stays).  The iommufd HWPT:
 * kcase-dma.c's mock_unmap_forgets. */
START_TEST(dirty_unmap_forgets)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG }, r[2];
	uint64_t bm[4] = { 0 }, ps = PG;

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
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
 * while it runs is tracked from then on, on a PCI function's Type1
 * container (whole mappings; the map starts no DMA logging).  The iommufd
 * HWPT and DMA logging (its restart, what a device wrote): kcase-dma.c's
 * mock_follow_map, gen_follow_map. */
START_TEST(follow_map)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
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
	/* Only DMA logging needs the kernel told. */
	ck_assert_uint_eq(st.log_starts, 0);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xfULL);
	/* a: the whole mapping, as always. */
	for (int k = 0; k < 2; k++) {
		memset(bm, 0, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
		ck_assert_uint_eq(bm[0], 0xffffULL);
	}
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

/* Maps from another thread while the tracker is queried in this one (a
 * VMM's memory listener and its migration thread): every mapping made is
 * followed, no query sees a half-added range (ThreadSanitizer watches);
 * whole mappings reported (Type1 on a PCI function's container).  The
 * iommufd mock, mtty and DMA logging of a device that writes: kcase-dma.c's
 * follow_threads, gen_follow_threads. */
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
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(BDF, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
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
	ck_assert_int_eq(vfiomig_dirty_query(tr, 16ULL << 20, 64 * PG, PG, bm, 0), 0);
	/* Every other page is a mapping: all of them dirty. */
	ck_assert_uint_eq(bm[0], 0x5555555555555555ULL);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* A test case with the fixture, added to s. */
static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

/* A test case per reason the cases stay fake-only (tests/vm/fake-only.txt
 * counts by test case). */
static Suite *dma_suite(void)
{
	Suite *s = suite_create("dma");
	TCase *tc;

	/* a PCI function's Type1 IOVA ranges: mtty's container has none */
	tc = tcase(s, "msi");
	tcase_add_test(tc, type1_ranges);
	/* Type1 reporting whole mappings (a PCI function's container, not
	 * in pinned-page scope): mtty's container is mdev-only */
	tc = tcase(s, "written");
	tcase_add_test(tc, dirty_from_mappings);
	tcase_add_test(tc, dirty_unmap_forgets);
	tcase_add_test(tc, follow_map);
	tcase_add_test(tc, follow_threads);
	/* a driver answering DMA logging with a page size REPORT cannot use
	 * from some START on (kenv_gen_add fixes a device's answer) */
	tc = tcase(s, "driver");
	tcase_add_test(tc, follow_dmalog_broken);
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
