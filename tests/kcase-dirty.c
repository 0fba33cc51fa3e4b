// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of dirty page tracking, on the fake and on the real
 * kernel (kernel-contract.md 8, 9, 10, 13):
 *  - DMA logging on mtty through the VFIO core's checks, by raw feature
 *    calls (257 ranges E2BIG, overlap EINVAL, bad REPORT page size
 *    EINVAL, ...), then through the library (1000 ranges planned);
 *  - Type1 dirty tracking on an mtty container with real anonymous memory
 *    mapped (mtty pins nothing: all zero);
 *  - iommufd HWPT dirty tracking with real dirty bits from the iommufd
 *    test mock (IOMMU_TEST_OP_DIRTY at 2048 granularity), read at several
 *    caller page sizes, cleared or kept (NO_CLEAR); skipped with a message
 *    when the kernel has no IOMMUFD_TEST.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>
#include "vfio-args.h"
#include <linux/iommufd.h>

#include "iommufd_test.h"
#include "kenv.h"

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)

static struct vfiomig_device *open_dev(const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s (path %d): %s", name, path,
		      strerror(-ret));
	return dev;
}

static struct vfiomig_dirty *tracker(struct vfiomig_device **devs, size_t n,
				     const struct vfiomig_dirty_opts *o)
{
	struct vfiomig_dirty *tr = NULL;
	int ret = vfiomig_dirty_new(devs, n, o, &tr);

	ck_assert_msg(ret == 0, "vfiomig_dirty_new: %s", strerror(-ret));
	return tr;
}

/* ------------------------------------------------ DMA logging, raw */

/* DMA_LOGGING_START with n ranges of 4 KiB, 8 KiB apart (or as given). */
static int raw_start(struct vfiomig_device *d, uint64_t page_size,
		     const struct vfio_device_feature_dma_logging_range *r,
		     uint32_t n)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = page_size,
		.num_ranges = n,
		.ranges = (uintptr_t)r,
	};

	return vfiomig_feature_set(d, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				   &ctl, sizeof(ctl));
}

static int raw_report(struct vfiomig_device *d, uint64_t iova, uint64_t len,
		      uint64_t page_size, uint64_t *bm)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = len,
		.page_size = page_size,
		.bitmap = (uintptr_t)bm,
	};

	return vfiomig_feature_get(d, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				   &rep, sizeof(rep));
}

static int raw_stop(struct vfiomig_device *d)
{
	return vfiomig_feature_set(d, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				   NULL, 0);
}

static void dmalog_core_checks(int path)
{
	struct vfio_device_feature_dma_logging_range r[257];
	struct vfiomig_device *d = open_dev(KENV_MTTY2_UUID, path);
	uint64_t bm[4] = { 0 };

	for (int i = 0; i < 257; i++) {
		r[i].iova = (uint64_t)i * 8 * KiB;
		r[i].length = 4 * KiB;
	}
	ck_assert_int_eq(vfiomig_feature_probe(d,
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			 VFIOMIG_FEATURE_SET), 1);
	/* num_ranges: 0 EINVAL, 257 > PAGE_SIZE/16 E2BIG, 256 fine */
	ck_assert_int_eq(raw_start(d, 4096, r, 0), -EINVAL);
	ck_assert_int_eq(raw_start(d, 4096, r, 257), -E2BIG);
	/* unaligned range */
	r[3].iova += 512;
	ck_assert_int_eq(raw_start(d, 4096, r, 10), -EINVAL);
	r[3].iova -= 512;
	/* overlapping (unsorted is fine, overlap is not) */
	r[5].iova = r[2].iova + 2 * KiB;
	r[5].iova &= ~4095ULL;
	ck_assert_int_eq(raw_start(d, 4096, r, 10), -EINVAL);
	r[5].iova = 5 * 8 * KiB;
	/* end past 2^64 */
	r[9].iova = UINT64_MAX - 4095;
	r[9].length = 8 * KiB;
	ck_assert_int_eq(raw_start(d, 4096, r, 10), -EOVERFLOW);
	r[9].iova = 9 * 8 * KiB;
	r[9].length = 4 * KiB;
	/* reversed order, 256 ranges: accepted; mtty echoes the page size */
	{
		struct vfio_device_feature_dma_logging_range rev[256];

		for (int i = 0; i < 256; i++)
			rev[i] = r[255 - i];
		ck_assert_int_eq(raw_start(d, 4096, rev, 256), 0);
	}
	/* REPORT: page size < 4096 or not a power of two: EINVAL */
	ck_assert_int_eq(raw_report(d, 0, 64 * KiB, 2048, bm), -EINVAL);
	ck_assert_int_eq(raw_report(d, 0, 64 * KiB, 12288, bm), -EINVAL);
	ck_assert_int_eq(raw_report(d, UINT64_MAX - 4095, 8192, 4096, bm),
			 -EOVERFLOW);
	ck_assert_int_eq(raw_report(d, 0, 64 * KiB, 4096, bm), 0);
	ck_assert_uint_eq(bm[0], 0); /* mtty never logs anything */
	/* mtty takes a second START without complaint */
	ck_assert_int_eq(raw_start(d, 4096, r, 1), 0);
	ck_assert_int_eq(raw_stop(d), 0);
	ck_assert_int_eq(raw_stop(d), 0);
	vfiomig_device_free(d);
}

START_TEST(dmalog_raw_type1)
{
	dmalog_core_checks(VFIOMIG_IOMMU_TYPE1);
}
END_TEST

START_TEST(dmalog_raw_iommufd)
{
	if (!kenv_has_iommufd())
		kenv_skip("no cdev/iommufd path");
	dmalog_core_checks(VFIOMIG_IOMMU_IOMMUFD);
}
END_TEST

/* ------------------------------------------- DMA logging, the library */

START_TEST(dmalog_library)
{
	struct vfiomig_device *d = open_dev(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_range *r = calloc(1000, sizeof(*r));
	uint64_t ps = 4096, nbits = 16384, *bm = calloc(nbits / 64 + 1, 8);
	struct vfiomig_dirty *tr;

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(bm);
	for (int i = 0; i < 1000; i++) {
		r[i].iova = (uint64_t)i * 64 * KiB + (uint64_t)(i % 5) * 4096;
		r[i].length = 4096 * (uint64_t)(1 + i % 3);
	}
	tr = tracker(&d, 1, NULL);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_DMA_LOGGING);
	/* 1000 ranges, the kernel takes 256: planned */
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 1000, &ps), 0);
	ck_assert_uint_eq(ps, 4096);
	/* the library refuses a second START (mtty would take it) */
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 1000, &ps), -EBUSY);
	memset(bm, 0xff, (nbits / 64 + 1) * 8);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, 64 * MiB, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), 0);
	memset(bm, 0xff, (nbits / 64 + 1) * 8);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, 64 * MiB, 2 * MiB, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 32), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);

	/* forcing iommufd on an emulated device: not available */
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o,
			     .backend = VFIOMIG_DIRTY_IOMMUFD);

		tr = (void *)1;
		ck_assert_int_eq(vfiomig_dirty_new(&d, 1, &o, &tr), -EOPNOTSUPP);
		ck_assert_ptr_null(tr);
	}
	vfiomig_device_free(d);
	free(r);
	free(bm);
}
END_TEST

/* -------------------------------------------------------------- Type1 */

START_TEST(type1_mtty)
{
	struct vfiomig_device *d = open_dev(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
	const uint64_t len = 8 * MiB, iova = 1ULL << 30;
	struct vfiomig_range r[] = { { iova, len / 2 }, { iova + len / 2, len / 2 } };
	uint64_t pg = 0, max = 0, ps = 0, bm[len / 4096 / 64];
	struct vfiomig_dirty *tr;
	void *mem;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	memset(mem, 0x5a, len);
	for (int i = 0; i < 2; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)mem + r[i].iova - iova,
			.iova = r[i].iova,
			.size = r[i].length,
		};

		ck_assert_int_eq(ioctl(vfiomig_device_iommu_fd(d),
				       VFIO_IOMMU_MAP_DMA, &m), 0);
	}
	ck_assert_int_eq(vfiomig_type1_dirty_caps(d, &pg, &max), 0);
	ck_assert_uint_eq(pg, 4096);
	ck_assert_uint_eq(max, 256 * MiB);

	tr = tracker(&d, 1, &o);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_TYPE1);
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 2, &ps), 0);
	ck_assert_uint_eq(ps, 4096);
	/* mtty pins nothing and never writes guest memory: all zero */
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, iova, len, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, len / 4096), 0);
	ck_assert_int_eq(vfiomig_dirty_query(tr, iova, len, 64 * KiB, bm,
					     VFIOMIG_DIRTY_ACCUMULATE), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, len / (64 * KiB)), 0);
	/* the kernel reads whole mappings only */
	ck_assert_int_eq(vfiomig_dirty_query(tr, iova, len / 4, 4096, bm, 0),
			 -EINVAL);
	/* unmap the second mapping with its dirty bits */
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, iova + len / 2, len / 2, 4096,
					     bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, len / 2 / 4096), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	{
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = iova, .size = len / 2,
		};

		ck_assert_int_eq(ioctl(vfiomig_device_iommu_fd(d),
				       VFIO_IOMMU_UNMAP_DMA, &u), 0);
		ck_assert_uint_eq(u.size, len / 2);
	}
	vfiomig_device_free(d);
	munmap(mem, len);
}
END_TEST

/*
 * Arithmetic at the edges, on an mtty container with memory mapped 16 MiB
 * below 2^64: a start, query or unmap whose range does not end below 2^64
 * (or is malformed) is refused with the bitmap untouched -- had it reached
 * the kernel, the kernel's error would have marked every page dirty -- and
 * an unmap refused leaves the mapping in place (MAP_DMA there: EEXIST).
 * Queries near the top are exact (mtty pins nothing: all zero).
 */
static int map_dma(struct vfiomig_device *d, void *mem, uint64_t iova,
		   uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)mem,
		.iova = iova,
		.size = size,
	};

	return ioctl(vfiomig_device_iommu_fd(d), VFIO_IOMMU_MAP_DMA, &m) ?
		       -errno : 0;
}

static void edges_on(int backend)
{
	struct vfiomig_device *d = open_dev(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend);
	const uint64_t top = 0 - 16 * MiB, p62 = 1ULL << 62, p63 = 1ULL << 63;
	const struct vfiomig_range bad[] = {
		{ 0 - 4096ULL, 4096 }, { 0 - 4096ULL, 8192 }, { p63, p63 },
	};
	const struct {
		uint64_t iova, length, ps;
		int err;
	} q[] = {
		{ 0 - 4096ULL, 4096, 4096, -EOVERFLOW }, /* ends at 2^64 */
		{ top, 32 * MiB, 4096, -EOVERFLOW },     /* wraps */
		{ 3 * p62, p62, p62, -EOVERFLOW },
		{ top, 1 * MiB, 3 * 4096, -EINVAL },
		{ top + 4096, 1 * MiB, 8192, -EINVAL },
		{ top - 16 * MiB, 16 * MiB, 4096, 0 },   /* up to the mapping */
		{ top - 16 * MiB, 32 * MiB - 4096, 4096, 0 },
		{ 0, 3 * p62, p62, 0 },
	};
	struct vfiomig_range r = { top, 1 * MiB };
	uint64_t ps = 4096, bm[32 * MiB / 4096 / 64];
	struct vfiomig_dirty *tr;
	void *mem;

	mem = mmap(NULL, r.length, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	memset(mem, 0x5a, r.length);
	ck_assert_int_eq(map_dma(d, mem, r.iova, r.length), 0);
	tr = tracker(&d, 1, &o);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), backend);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(vfiomig_dirty_start(tr, &bad[i], 1, &ps),
				 -EOVERFLOW);
	ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		memset(bm, 0xa5, sizeof(bm));
		ck_assert_msg(vfiomig_dirty_query(tr, q[i].iova, q[i].length,
						  q[i].ps, bm, 0) == q[i].err,
			      "query %zu", i);
		if (q[i].err) {
			for (size_t w = 0; w < sizeof(bm) / 8; w++)
				ck_assert_uint_eq(bm[w], 0xa5a5a5a5a5a5a5a5ULL);
		} else {
			/* "all": the pages of r inside the query; else none */
			uint64_t nbits = q[i].length / q[i].ps, want = 0;

			if (backend == VFIOMIG_DIRTY_ALL &&
			    q[i].iova + (q[i].length - 1) >= r.iova)
				want = r.length / q[i].ps;
			ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), want);
		}
		if (!q[i].err)
			continue;
		memset(bm, 0xa5, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_unmap(tr, q[i].iova, q[i].length,
						     q[i].ps, bm, 0), q[i].err);
		ck_assert_uint_eq(bm[0], 0xa5a5a5a5a5a5a5a5ULL);
		ck_assert_int_eq(map_dma(d, mem, r.iova, r.length), -EEXIST);
	}
	/* the mapping at the top unmaps exactly */
	memset(bm, 0xa5, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, r.iova, r.length, 4096, bm, 0),
			 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, r.length / 4096),
			  backend == VFIOMIG_DIRTY_ALL ? r.length / 4096 : 0);
	ck_assert_int_eq(map_dma(d, mem, r.iova, r.length), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(d); /* the container goes, with its mapping */
	munmap(mem, r.length);
}

START_TEST(edges_type1)
{
	edges_on(VFIOMIG_DIRTY_TYPE1);
}
END_TEST

START_TEST(edges_dmalog)
{
	edges_on(VFIOMIG_DIRTY_DMA_LOGGING);
}
END_TEST

START_TEST(edges_all)
{
	edges_on(VFIOMIG_DIRTY_ALL);
}
END_TEST

/* The kernel's own checks of VFIO_IOMMU_DIRTY_PAGES and UNMAP_DMA with a
 * bitmap (contract 9.3, 9.4), in order, on an mtty container. */
static int dirty_pages(int cfd, uint32_t argsz, uint32_t flags)
{
	struct vfio_iommu_type1_dirty_bitmap db = { .argsz = argsz, .flags = flags };

	return ioctl(cfd, VFIO_IOMMU_DIRTY_PAGES, &db) ? -errno : 0;
}

static int get_bitmap(int cfd, uint32_t argsz, uint64_t iova, uint64_t size,
		      uint64_t pgsize, uint64_t bytes, uint64_t *data)
{
	struct vfm_dirty_get_bitmap a = {
		.argsz = argsz,
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		.get = { .iova = iova, .size = size,
			 .bitmap = { .pgsize = pgsize, .size = bytes,
				     .data = (__u64 *)data } },
	};

	return ioctl(cfd, VFIO_IOMMU_DIRTY_PAGES, &a) ? -errno : 0;
}

START_TEST(type1_raw_checks)
{
	struct vfiomig_device *d = open_dev(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	const uint64_t G = 1ULL << 30, M = MiB;
	uint64_t bm[16];
	int cfd = vfiomig_device_iommu_fd(d);
	void *mem = mmap(NULL, 2 * M, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(mem, MAP_FAILED);
	for (int i = 0; i < 2; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m),
			.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)mem + i * M,
			.iova = G + i * M,
			.size = M,
		};

		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_MAP_DMA, &m), 0);
	}
	/* flags */
	ck_assert_int_eq(dirty_pages(cfd, 4, VFIO_IOMMU_DIRTY_PAGES_FLAG_START),
			 -EINVAL);
	ck_assert_int_eq(dirty_pages(cfd, 8, 1u << 3), -EINVAL);
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
					     VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP),
			 -EINVAL);
	ck_assert_int_eq(dirty_pages(cfd, 8, 0), -EINVAL);
	/* STOP untracked, START twice: 0 */
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	/* GET_BITMAP: argsz, then not tracking */
	ck_assert_int_eq(get_bitmap(cfd, 40, G, 2 * M, 4096, 64, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G, 2 * M, 4096, 64, bm), -EINVAL);
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	/* wrap, bitmap too small, page size, alignment, bisection */
	ck_assert_int_eq(get_bitmap(cfd, 48, UINT64_MAX - 4095, 8192, 4096, 8,
				    bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G, 2 * M, 4096, 56, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G, 2 * M, 4096, 0, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G, 2 * M, 8192, 64, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G + 2048, M, 4096, 64, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G, M / 2, 4096, 64, bm), -EINVAL);
	ck_assert_int_eq(get_bitmap(cfd, 48, G + M / 2, M, 4096, 64, bm), -EINVAL);
	/* whole mappings, a hole after them: words over mappings written
	 * (mtty: as 0), the rest untouched */
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(get_bitmap(cfd, 48, G, 4 * M, 4096, 128, bm), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(bm[i], 0);
	for (int i = 8; i < 16; i++)
		ck_assert_uint_eq(bm[i], UINT64_MAX);
	/* UNMAP with the bitmap (9.4) */
	{
		struct vfm_unmap_dirty u = {
			.argsz = 24,
			.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			.iova = G + M, .size = M,
			.bitmap = { .pgsize = 4096, .size = 32,
				    .data = (__u64 *)bm },
		};

		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
		ck_assert_int_eq(errno, EINVAL);
		u.argsz = sizeof(u);
		u.flags |= VFIO_DMA_UNMAP_FLAG_ALL;
		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
		ck_assert_int_eq(errno, EINVAL);
		u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
		u.bitmap.pgsize = 8192;
		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
		ck_assert_int_eq(errno, EINVAL);
		u.bitmap.pgsize = 4096;
		u.bitmap.size = 16;
		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
		ck_assert_int_eq(errno, EINVAL);
		u.bitmap.size = 32;
		memset(bm, 0xff, sizeof(bm));
		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), 0);
		ck_assert_uint_eq(u.size, M);
		for (int i = 0; i < 4; i++)
			ck_assert_uint_eq(bm[i], 0);
		ck_assert_uint_eq(bm[4], UINT64_MAX);
	}
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	/* tracking off: UNMAP with the bitmap is refused */
	{
		struct vfm_unmap_dirty u = {
			.argsz = sizeof(u),
			.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			.iova = G, .size = M,
			.bitmap = { .pgsize = 4096, .size = 32,
				    .data = (__u64 *)bm },
		};

		ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_UNMAP_DMA, &u), -1);
		ck_assert_int_eq(errno, EINVAL);
	}
	vfiomig_device_free(d);
	munmap(mem, 2 * M);
}
END_TEST

/* A Type1 (v1) container: DIRTY_PAGES -> EACCES. Opened by hand. */
START_TEST(type1_v1_eacces)
{
	char path[PATH_MAX], link[PATH_MAX], *slash;
	const char *dev = kenv_dev_root() ? kenv_dev_root() : "/dev";
	ssize_t n;
	int cfd, gfd;

	snprintf(path, sizeof(path), "%s/iommu_group",
		 kenv_sysfs_path(KENV_MTTY1_UUID));
	n = readlink(path, link, sizeof(link) - 1);
	ck_assert_int_gt(n, 0);
	link[n] = 0;
	slash = strrchr(link, '/');
	ck_assert_ptr_nonnull(slash);
	snprintf(path, sizeof(path), "%s/vfio/vfio", dev);
	cfd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(cfd, 0);
	snprintf(path, sizeof(path), "%s/vfio/%s", dev, slash + 1);
	gfd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(gfd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &cfd), 0);
	ck_assert_int_eq(ioctl(cfd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), 0);
	ck_assert_int_eq(dirty_pages(cfd, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START),
			 -EACCES);
	close(gfd);
	close(cfd);
}
END_TEST

/* ----------------------------------------------- iommufd test mock */

static int ioas_alloc(int fd, uint32_t *id)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	int ret = ioctl(fd, IOMMU_IOAS_ALLOC, &a);

	*id = a.out_ioas_id;
	return ret;
}

static uint64_t mock_dirty(int fd, uint32_t hwpt, uint64_t iova,
			   uint64_t length, const uint8_t *bits)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DIRTY,
		.id = hwpt,
		.dirty = {
			.iova = iova,
			.length = length,
			.page_size = MOCK_IO_PAGE_SIZE,
			.uptr = (uintptr_t)bits,
		},
	};

	ck_assert_int_eq(ioctl(fd, IOMMU_TEST_CMD, &c), 0);
	return c.dirty.out_nr_dirty;
}

/* Bit i of bm (ps pages from base) set iff one of the mock pages in pages[]
 * falls into page i. */
static void expect_mock(const uint64_t *bm, uint64_t ps, uint64_t nbits,
			const unsigned int *pages, size_t n)
{
	for (uint64_t i = 0; i < nbits; i++) {
		bool want = false, got = bm[i / 64] >> (i % 64) & 1;

		for (size_t k = 0; k < n; k++)
			if ((uint64_t)pages[k] * MOCK_IO_PAGE_SIZE / ps == i)
				want = true;
		ck_assert_msg(got == want, "page %llu at page size %llu: got %d",
			      (unsigned long long)i, (unsigned long long)ps, got);
	}
}

START_TEST(iommufd_mock)
{
	const uint64_t len = 2 * MiB, base = MOCK_APERTURE_START;
	/* mock pages (2048 bytes): 0 and 1 share 4 KiB page 0 */
	const unsigned int pages[] = { 0, 1, 5, 300, len / MOCK_IO_PAGE_SIZE - 1 };
	uint8_t bits[len / MOCK_IO_PAGE_SIZE / 8];
	uint64_t bm[len / 4096 / 64], ps = 4096, caps = 0;
	char path[PATH_MAX];
	uint32_t ioas_a, ioas_b, idev, stdev;
	struct vfiomig_dirty *tr;
	int fd, hwpt;
	void *mem;

	if (!kenv_has_iommufd())
		kenv_skip("no /dev/iommu");
	snprintf(path, sizeof(path), "%s/iommu",
		 kenv_dev_root() ? kenv_dev_root() : "/dev");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(ioas_alloc(fd, &ioas_a), 0);
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_MOCK_DOMAIN,
			.id = ioas_a,
		};

		if (ioctl(fd, IOMMU_TEST_CMD, &c) && errno == ENOTTY) {
			close(fd);
			kenv_skip("IOMMU_TEST_CMD: ENOTTY (kernel without CONFIG_IOMMUFD_TEST)");
		}
		ck_assert_uint_ne(c.mock_domain.out_idev_id, 0);
		idev = c.mock_domain.out_idev_id;
		stdev = c.mock_domain.out_stdev_id;
	}
	/* GET_HW_INFO: capabilities only with size >= 40 */
	{
		struct iommu_hw_info hi = { .size = 32, .dev_id = idev,
					    .out_capabilities = 0x5a5a };

		ck_assert_msg(ioctl(fd, IOMMU_GET_HW_INFO, &hi) == 0,
			      "IOMMU_GET_HW_INFO: %s", strerror(errno));
		ck_assert_uint_eq(hi.out_capabilities, 0x5a5a);
		ck_assert_uint_eq(hi.out_data_type, IOMMU_HW_INFO_TYPE_SELFTEST);
		/* data_len came back as the driver's length: no buffer now */
		ck_assert_uint_eq(hi.data_len, sizeof(struct iommu_test_hw_info));
		hi.data_len = 0;
		hi.size = sizeof(hi);
		ck_assert_int_eq(ioctl(fd, IOMMU_GET_HW_INFO, &hi), 0);
		caps = hi.out_capabilities;
		ck_assert_uint_eq(caps & IOMMU_HW_CAP_DIRTY_TRACKING, 1);
	}
	ck_assert_int_eq(ioas_alloc(fd, &ioas_b), 0);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	memset(mem, 0, len);
	{
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = ioas_b,
			.user_va = (uintptr_t)mem,
			.length = len,
			.iova = base,
		};

		ck_assert_int_eq(ioctl(fd, IOMMU_IOAS_MAP, &m), 0);
	}

	/* The tracker allocates the dirty HWPT on IOAS B for the mock. */
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = fd,
			     .ioas_id = ioas_b, .dev_ids = &idev, .n_dev_ids = 1,
			     .ctx = kenv_ctx());
		struct vfiomig_range r = { base, len };

		tr = tracker(NULL, 0, &o);
		ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
		hwpt = vfiomig_dirty_hwpt_id(tr);
		ck_assert_int_gt(hwpt, 0);
		ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
		ck_assert_uint_eq(ps, 4096);
	}
	memset(bits, 0, sizeof(bits));
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		bits[pages[i] / 8] |= (uint8_t)(1u << (pages[i] % 8));
	ck_assert_uint_eq(mock_dirty(fd, (uint32_t)hwpt, base, len, bits), 5);

	/* 4 KiB, kept; 16 KiB, kept; 64 KiB, cleared; then nothing */
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 4096, bm,
					     VFIOMIG_DIRTY_NO_CLEAR), 0);
	expect_mock(bm, 4096, len / 4096, pages, 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 16 * KiB, bm,
					     VFIOMIG_DIRTY_NO_CLEAR), 0);
	expect_mock(bm, 16 * KiB, len / (16 * KiB), pages, 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 64 * KiB, bm, 0), 0);
	expect_mock(bm, 64 * KiB, len / (64 * KiB), pages, 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, len / 4096), 0);

	/* again, read at 4 KiB and cleared by that read */
	ck_assert_uint_eq(mock_dirty(fd, (uint32_t)hwpt, base, len, bits), 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 4096, bm, 0), 0);
	expect_mock(bm, 4096, len / 4096, pages, 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, len, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, len / 4096), 0);
	/* a window: the second half, at 1 MiB pages */
	ck_assert_uint_eq(mock_dirty(fd, (uint32_t)hwpt, base, len, bits), 5);
	ck_assert_int_eq(vfiomig_dirty_query(tr, base + len / 2, len / 2,
					     1 * MiB, bm, 0), 0);
	ck_assert_uint_eq(bm[0] & 1, 1); /* the last mock page */

	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr); /* destroys its HWPT */
	{
		struct iommu_destroy dd = { .size = sizeof(dd), .id = (uint32_t)hwpt };

		ck_assert_int_eq(ioctl(fd, IOMMU_DESTROY, &dd), -1);
		ck_assert_int_eq(errno, ENOENT);
		dd.id = stdev;
		ck_assert_int_eq(ioctl(fd, IOMMU_DESTROY, &dd), 0);
	}
	close(fd);
	munmap(mem, len);
}
END_TEST

/* The kernel's checks of HWPT_ALLOC, SET_DIRTY_TRACKING, GET_DIRTY_BITMAP
 * and the mock's DIRTY (contract 10.2-10.4, 13), in order, and what
 * becomes of a walk's errors (6.12.118 returns them). */
struct mock {
	int fd;
	uint32_t ioas_a, ioas_b, idev, stdev, auto_hwpt;
	void *mem;
};

static bool mock_up(struct mock *m, const char *who)
{
	char path[PATH_MAX];
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN };

	memset(m, 0, sizeof(*m));
	if (!kenv_has_iommufd())
		kenv_skip("%s: no /dev/iommu", who);
	snprintf(path, sizeof(path), "%s/iommu",
		 kenv_dev_root() ? kenv_dev_root() : "/dev");
	m->fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_int_eq(ioas_alloc(m->fd, &m->ioas_a), 0);
	c.id = m->ioas_a;
	if (ioctl(m->fd, IOMMU_TEST_CMD, &c) && errno == ENOTTY) {
		close(m->fd);
		kenv_skip("%s: IOMMU_TEST_CMD: ENOTTY (kernel without "
			  "CONFIG_IOMMUFD_TEST)", who);
	}
	m->idev = c.mock_domain.out_idev_id;
	m->stdev = c.mock_domain.out_stdev_id;
	m->auto_hwpt = c.mock_domain.out_hwpt_id;
	ck_assert_uint_ne(m->idev, 0);
	ck_assert_int_eq(ioas_alloc(m->fd, &m->ioas_b), 0);
	m->mem = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->mem, MAP_FAILED);
	memset(m->mem, 0, 4 * MiB);
	return true;
}

static int mock_map(struct mock *m, uint64_t off, uint64_t len)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = m->ioas_b,
		.user_va = (uintptr_t)m->mem + off,
		.length = len,
		.iova = MOCK_APERTURE_START + off,
	};

	return ioctl(m->fd, IOMMU_IOAS_MAP, &map) ? -errno : 0;
}

static int hwpt_alloc(int fd, uint32_t flags, uint32_t dev, uint32_t pt,
		      uint32_t reserved, uint32_t data_len, uint32_t *out)
{
	struct iommu_hwpt_alloc a = {
		.size = sizeof(a), .flags = flags, .dev_id = dev, .pt_id = pt,
		.__reserved = reserved, .data_len = data_len,
	};
	int ret = ioctl(fd, IOMMU_HWPT_ALLOC, &a) ? -errno : 0;

	if (out)
		*out = a.out_hwpt_id;
	return ret;
}

static int set_tracking(int fd, uint32_t hwpt, uint32_t flags)
{
	struct iommu_hwpt_set_dirty_tracking s = {
		.size = sizeof(s), .flags = flags, .hwpt_id = hwpt,
	};

	return ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &s) ? -errno : 0;
}

static int get_dirty(int fd, uint32_t hwpt, uint32_t flags, uint32_t rsv,
		     uint64_t iova, uint64_t len, uint64_t ps, uint64_t *bm)
{
	struct iommu_hwpt_get_dirty_bitmap g = {
		.size = sizeof(g), .hwpt_id = hwpt, .flags = flags,
		.__reserved = rsv, .iova = iova, .length = len,
		.page_size = ps, .data = (uintptr_t)bm,
	};

	return ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &g) ? -errno : 0;
}

static int test_dirty(int fd, uint32_t id, uint64_t iova, uint64_t len,
		      uint64_t ps, const void *bits)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_DIRTY, .id = id,
		.dirty = { .iova = iova, .length = len, .page_size = ps,
			   .uptr = (uintptr_t)bits },
	};

	return ioctl(fd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

START_TEST(iommufd_mock_checks)
{
	const int walk_err = kenv_is_real() ? -EINVAL : 0;
	const uint64_t base = MOCK_APERTURE_START;
	uint8_t bits[4 * MiB / MOCK_IO_PAGE_SIZE / 8];
	uint64_t bm[4 * MiB / 4096 / 64];
	uint32_t h, idev_nd;
	struct mock m;

	if (!mock_up(&m, __func__))
		return;
	/* two mappings with a hole between them */
	ck_assert_int_eq(mock_map(&m, 0, 1 * MiB), 0);
	ck_assert_int_eq(mock_map(&m, 2 * MiB, 1 * MiB), 0);

	/* MOCK_DOMAIN_FLAGS: unknown device flag -> EINVAL; NO_DIRTY */
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c), .op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
			.id = m.ioas_a,
		};

		c.mock_domain_flags.dev_flags = 1u << 2;
		ck_assert_int_eq(ioctl(m.fd, IOMMU_TEST_CMD, &c), -1);
		ck_assert_int_eq(errno, EINVAL);
		c.mock_domain_flags.dev_flags = MOCK_FLAGS_DEVICE_NO_DIRTY;
		ck_assert_int_eq(ioctl(m.fd, IOMMU_TEST_CMD, &c), 0);
		idev_nd = c.mock_domain_flags.out_idev_id;
	}

	/* HWPT_ALLOC, in the kernel's order */
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.idev, m.ioas_b, 1, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.idev, m.ioas_b, 0, 4, NULL), -EINVAL);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.ioas_a, m.ioas_b, 0, 0, NULL), -ENOENT);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.idev, 9999, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.idev, m.stdev, 0, 0, NULL), -EINVAL);
	ck_assert_int_eq(hwpt_alloc(m.fd, 1u << 2, m.idev, m.ioas_b, 0, 0, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    idev_nd, m.ioas_b, 0, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(hwpt_alloc(m.fd, IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
				    m.idev, m.ioas_b, 0, 0, &h), 0);

	/* SET_DIRTY_TRACKING */
	ck_assert_int_eq(set_tracking(m.fd, h, 2), -EOPNOTSUPP);
	ck_assert_int_eq(set_tracking(m.fd, m.ioas_b, 1), -ENOENT);
	ck_assert_int_eq(set_tracking(m.fd, m.auto_hwpt, 1), -EOPNOTSUPP);

	/* DIRTY needs tracking on */
	memset(bits, 0xff, sizeof(bits));
	ck_assert_int_eq(test_dirty(m.fd, h, base, 4 * MiB, MOCK_IO_PAGE_SIZE,
				    bits), -EINVAL);
	ck_assert_int_eq(set_tracking(m.fd, h, 1), 0);
	ck_assert_int_eq(set_tracking(m.fd, h, 1), 0);
	ck_assert_int_eq(test_dirty(m.fd, h, base, 4 * MiB, 0, bits), -EINVAL);
	ck_assert_int_eq(test_dirty(m.fd, h, base, 4 * MiB, MOCK_IO_PAGE_SIZE,
				    NULL), -EINVAL);
	ck_assert_int_eq(test_dirty(m.fd, m.ioas_b, base, 4 * MiB,
				    MOCK_IO_PAGE_SIZE, bits), -ENOENT);
	ck_assert_int_eq(test_dirty(m.fd, m.auto_hwpt, base, 4 * MiB,
				    MOCK_IO_PAGE_SIZE, bits), -EINVAL);

	/* GET_DIRTY_BITMAP argument checks */
	ck_assert_int_eq(get_dirty(m.fd, h, 2, 0, base, MiB, 4096, bm),
			 -EOPNOTSUPP);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 1, base, MiB, 4096, bm),
			 -EOPNOTSUPP);
	ck_assert_int_eq(get_dirty(m.fd, m.ioas_b, 0, 0, base, MiB, 4096, bm),
			 -ENOENT);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, 0, 4096, bm), -EINVAL);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, UINT64_MAX - 4095, 8192, 4096,
				   bm), -EOVERFLOW);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base + 1024, MiB, 4096, bm),
			 -EINVAL);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, MiB, 0, bm), -EINVAL);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base + 2048, MiB, 4096, bm),
			 -EINVAL);
	ck_assert_int_eq(get_dirty(m.fd, m.auto_hwpt, 0, 0, base, MiB, 4096, bm),
			 -EOPNOTSUPP);

	/* every mapped mock page dirty: 512 + 512 of them */
	memset(bits, 0xff, sizeof(bits));
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c), .op = IOMMU_TEST_OP_DIRTY, .id = h,
			.dirty = { .iova = base, .length = 4 * MiB,
				   .page_size = MOCK_IO_PAGE_SIZE,
				   .uptr = (uintptr_t)bits },
		};

		ck_assert_int_eq(ioctl(m.fd, IOMMU_TEST_CMD, &c), 0);
		ck_assert_uint_eq(c.dirty.out_nr_dirty, 1024);
	}
	/* The walk stops at the hole: the first mapping reported (and
	 * cleared), the second not even read.  Its EINVAL comes back on the
	 * VM's 6.12.118 (iova_bitmap_for_each returns fn's error); the fake
	 * still swallows it and returns 0, as kernel-contract.md 11 says
	 * (to change in fake-dirty.c get_dirty_bitmap: then -EINVAL on
	 * both). */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, 4 * MiB, 4096, bm),
			 walk_err);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 1024), 256);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 4 * MiB / 4096), 256);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base + 2 * MiB, MiB, 4096, bm),
			 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 256);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, MiB, 4096, bm), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 0);
	/* tracking off: the driver's EINVAL (swallowed by the fake, as
	 * above), nothing reported */
	ck_assert_int_eq(test_dirty(m.fd, h, base, MiB, MOCK_IO_PAGE_SIZE, bits),
			 0);
	ck_assert_int_eq(set_tracking(m.fd, h, 0), 0);
	ck_assert_int_eq(set_tracking(m.fd, h, 0), 0);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, MiB, 4096, bm),
			 walk_err);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 0);
	/* enabling again starts from a clean snapshot */
	ck_assert_int_eq(set_tracking(m.fd, h, 1), 0);
	ck_assert_int_eq(get_dirty(m.fd, h, 0, 0, base, MiB, 4096, bm), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 0);

	close(m.fd);
	munmap(m.mem, 4 * MiB);
}
END_TEST

/* ------------------------------------------- the mock's dirty matrix */

/*
 * Real dirty bits from the mock (IOMMU_TEST_OP_DIRTY, 2048-byte pages),
 * read back through vfiomig_dirty_query() at caller page sizes 4 KiB (the
 * tracking page size: the direct path, the kernel writing into the
 * caller's bitmap wherever a stretch starts on a word), 64 KiB and 2 MiB
 * (conversion), from a window that starts on the mapping or not, over one
 * tracked range or three (one starting and ending off a word), with and
 * without ACCUMULATE and NO_CLEAR, against an oracle: a model of the mock
 * pages dirty in the kernel.  A caller page is dirty iff a dirty mock page
 * in it lies in a tracked range; a query clears (unless NO_CLEAR) exactly
 * the tracked mock pages of its window, nothing else, which the full read
 * after each round checks.
 */
#define MX_LEN (8 * MiB)
#define MX_MOCK_PAGES (MX_LEN / MOCK_IO_PAGE_SIZE)
#define MX_WORDS (MX_LEN / 4096 / 64 + 8)      /* + canary words */
#define MX_CANARY 0x5a5a5a5a5a5a5a5aULL

struct mx {
	const struct vfiomig_range *ranges;     /* offsets from the base */
	size_t n;
	bool dirty[MX_MOCK_PAGES];              /* the kernel's, modelled */
	uint64_t seed;
};

static const struct vfiomig_range mx_one[] = { { 0, MX_LEN } };
static const struct vfiomig_range mx_three[] = {
	{ 0, 3 * MiB },                                 /* on a word */
	{ 3 * MiB + 20 * KiB, 2 * MiB - 12 * KiB },     /* bit 773 .. 1282 */
	{ 6 * MiB, 2 * MiB },
};

static uint64_t mx_rand(struct mx *x)
{
	x->seed ^= x->seed << 13;
	x->seed ^= x->seed >> 7;
	x->seed ^= x->seed << 17;
	return x->seed;
}

static bool mx_tracked(const struct mx *x, uint64_t off)
{
	for (size_t k = 0; k < x->n; k++)
		if (off >= x->ranges[k].iova &&
		    off - x->ranges[k].iova < x->ranges[k].length)
			return true;
	return false;
}

/* The expected bit i of a query of [wo, wo + wl) at page size ps. */
static bool mx_expect(const struct mx *x, uint64_t wo, uint64_t ps, uint64_t i)
{
	uint64_t first = (wo + i * ps) / MOCK_IO_PAGE_SIZE;
	uint64_t last = (wo + (i + 1) * ps) / MOCK_IO_PAGE_SIZE;

	for (uint64_t m = first; m < last && m < MX_MOCK_PAGES; m++)
		if (x->dirty[m] && mx_tracked(x, m * MOCK_IO_PAGE_SIZE))
			return true;
	return false;
}

/* A clearing query of [wo, wo + wl) read (and cleared) these. */
static void mx_cleared(struct mx *x, uint64_t wo, uint64_t wl)
{
	for (uint64_t m = wo / MOCK_IO_PAGE_SIZE;
	     m < (wo + wl) / MOCK_IO_PAGE_SIZE; m++)
		if (mx_tracked(x, m * MOCK_IO_PAGE_SIZE))
			x->dirty[m] = false;
}

/* Mark a random set of mock pages (about 1 in 16, plus every range's and
 * the window's edges, inside and out) dirty through the mock. */
static void mx_mark(struct mx *x, int fd, uint32_t hwpt, uint64_t wo,
		    uint64_t wl)
{
	static uint8_t bits[MX_MOCK_PAGES / 8];
	uint64_t edges[2 * 3 * 2 + 4], n = 0, want = 0;

	memset(bits, 0, sizeof(bits));
	for (uint64_t m = 0; m < MX_MOCK_PAGES; m++)
		if (mx_rand(x) % 16 == 0)
			bits[m / 8] |= (uint8_t)(1u << (m % 8));
	for (size_t k = 0; k < x->n; k++) {
		uint64_t a = x->ranges[k].iova, b = a + x->ranges[k].length;

		edges[n++] = a;
		edges[n++] = b - MOCK_IO_PAGE_SIZE;
		if (a)
			edges[n++] = a - MOCK_IO_PAGE_SIZE;
		if (b < MX_LEN)
			edges[n++] = b;
	}
	edges[n++] = wo;
	edges[n++] = wo + wl - MOCK_IO_PAGE_SIZE;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t m = edges[k] / MOCK_IO_PAGE_SIZE;

		if (!(mx_rand(x) & 3)) /* most edges, not all */
			continue;
		bits[m / 8] |= (uint8_t)(1u << (m % 8));
	}
	for (uint64_t m = 0; m < MX_MOCK_PAGES; m++)
		if (bits[m / 8] >> (m % 8) & 1) {
			x->dirty[m] = true;
			want++;
		}
	/* every marked page is mapped: each one counts */
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c), .op = IOMMU_TEST_OP_DIRTY, .id = hwpt,
			.dirty = { .iova = MOCK_APERTURE_START, .length = MX_LEN,
				   .page_size = MOCK_IO_PAGE_SIZE,
				   .uptr = (uintptr_t)bits },
		};

		ck_assert_msg(ioctl(fd, IOMMU_TEST_CMD, &c) == 0,
			      "IOMMU_TEST_OP_DIRTY: %s", strerror(errno));
		ck_assert_uint_eq(c.dirty.out_nr_dirty, want);
	}
}

/* Query [wo, wo + wl) at ps with flags into a bitmap prefilled with a
 * random pattern, canaries after it; compare with the oracle (OR the
 * pattern with ACCUMULATE). */
static void mx_query(struct mx *x, struct vfiomig_dirty *tr, uint64_t wo,
		     uint64_t wl, uint64_t ps, unsigned int flags,
		     const char *what)
{
	uint64_t bm[MX_WORDS], pat[MX_WORDS];
	uint64_t nb = wl / ps, nw = (nb + 63) / 64, bad = 0, first_bad = 0;
	int ret;

	for (uint64_t w = 0; w < MX_WORDS; w++)
		bm[w] = pat[w] = w < nw ? mx_rand(x) : MX_CANARY;
	ret = vfiomig_dirty_query(tr, MOCK_APERTURE_START + wo, wl, ps, bm,
				  flags);
	ck_assert_msg(ret == 0, "%s: query [+%llu, %llu) at %llu, flags %u: %s",
		      what, (unsigned long long)wo, (unsigned long long)wl,
		      (unsigned long long)ps, flags, strerror(-ret));
	for (uint64_t i = 0; i < nb; i++) {
		bool got = bm[i / 64] >> (i % 64) & 1;
		bool want = mx_expect(x, wo, ps, i) ||
			    ((flags & VFIOMIG_DIRTY_ACCUMULATE) &&
			     (pat[i / 64] >> (i % 64) & 1));

		if (got != want && !bad++)
			first_bad = i;
	}
	ck_assert_msg(!bad,
		      "%s: query [+%llu, +%llu) at %llu, flags %u: %llu bits wrong, first bit %llu (iova +%llu): got %d",
		      what, (unsigned long long)wo, (unsigned long long)(wo + wl),
		      (unsigned long long)ps, flags, (unsigned long long)bad,
		      (unsigned long long)first_bad,
		      (unsigned long long)(wo + first_bad * ps),
		      (int)(bm[first_bad / 64] >> (first_bad % 64) & 1));
	for (uint64_t w = nw; w < MX_WORDS; w++)
		ck_assert_msg(bm[w] == MX_CANARY, "%s: word %llu past the bitmap written",
			      what, (unsigned long long)w);
	if (!(flags & VFIOMIG_DIRTY_NO_CLEAR))
		mx_cleared(x, wo, wl);
}

START_TEST(iommufd_mock_matrix)
{
	static const uint64_t sizes[] = { 4 * KiB, 64 * KiB, 2 * MiB };
	static const unsigned int flag_sets[] = {
		0, VFIOMIG_DIRTY_ACCUMULATE, VFIOMIG_DIRTY_NO_CLEAR,
		VFIOMIG_DIRTY_ACCUMULATE | VFIOMIG_DIRTY_NO_CLEAR,
	};
	static struct mx x;
	const bool three = _i / 6, offset = _i % 2;
	const uint64_t ps = sizes[(_i / 2) % 3];
	struct vfiomig_range r[3];
	uint64_t wo, wl, tps = 4096;
	struct vfiomig_dirty *tr;
	char what[96];
	struct mock m;
	int hwpt;

	if (!mock_up(&m, __func__))
		return;
	munmap(m.mem, 4 * MiB);
	m.mem = mmap(NULL, MX_LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m.mem, MAP_FAILED);
	memset(m.mem, 0, MX_LEN);
	ck_assert_int_eq(mock_map(&m, 0, MX_LEN), 0);

	memset(&x, 0, sizeof(x));
	x.ranges = three ? mx_three : mx_one;
	x.n = three ? 3 : 1;
	x.seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(_i + 1);
	/* the window: the whole mapping, or one starting (and ending) off it
	 * and off a word of the caller's bitmap */
	if (!offset) {
		wo = 0;
		wl = MX_LEN;
	} else if (ps < 2 * MiB) {
		wo = 3 * ps;
		wl = MX_LEN - 5 * ps;
	} else {
		wo = 2 * MiB;
		wl = 4 * MiB;
	}
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = m.fd,
			     .ioas_id = m.ioas_b, .dev_ids = &m.idev,
			     .n_dev_ids = 1, .ctx = kenv_ctx());

		for (size_t k = 0; k < x.n; k++)
			r[k] = (struct vfiomig_range){
				MOCK_APERTURE_START + x.ranges[k].iova,
				x.ranges[k].length };
		tr = tracker(NULL, 0, &o);
		ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
		hwpt = vfiomig_dirty_hwpt_id(tr);
		ck_assert_int_gt(hwpt, 0);
		ck_assert_int_eq(vfiomig_dirty_start(tr, r, x.n, &tps), 0);
		ck_assert_uint_eq(tps, 4096);
	}
	for (size_t f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		snprintf(what, sizeof(what), "%s ranges, %llu KiB pages, %s window",
			 three ? "three" : "one",
			 (unsigned long long)(ps / KiB),
			 offset ? "offset" : "whole");
		mx_mark(&x, m.fd, (uint32_t)hwpt, wo, wl);
		mx_query(&x, tr, wo, wl, ps, flag_sets[f], what);
		/* again: the same bits after NO_CLEAR, none otherwise */
		mx_query(&x, tr, wo, wl, ps, 0, what);
		/* nothing outside the window was read or cleared */
		mx_query(&x, tr, 0, MX_LEN, 4096, VFIOMIG_DIRTY_NO_CLEAR, what);
	}
	/* a last clearing read leaves nothing */
	mx_query(&x, tr, 0, MX_LEN, 4096, 0, what);
	mx_query(&x, tr, 0, MX_LEN, 2 * MiB, 0, what);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	{
		struct iommu_destroy dd = { .size = sizeof(dd), .id = m.stdev };

		ck_assert_int_eq(ioctl(m.fd, IOMMU_DESTROY, &dd), 0);
	}
	close(m.fd);
	munmap(m.mem, MX_LEN);
}
END_TEST

Suite *kcase_dirty_suite(void)
{
	Suite *s = suite_create("dirty");
	TCase *tc = tcase_create("dirty");

	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dmalog_raw_type1);
	tcase_add_test(tc, dmalog_raw_iommufd);
	tcase_add_test(tc, dmalog_library);
	tcase_add_test(tc, type1_mtty);
	tcase_add_test(tc, type1_raw_checks);
	tcase_add_test(tc, edges_type1);
	tcase_add_test(tc, edges_dmalog);
	tcase_add_test(tc, edges_all);
	tcase_add_test(tc, type1_v1_eacces);
	tcase_add_test(tc, iommufd_mock);
	tcase_add_test(tc, iommufd_mock_checks);
	suite_add_tcase(s, tc);

	/* 2 layouts x 3 page sizes x 2 windows, each with 4 flag sets */
	tc = tcase_create("mock-matrix");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, iommufd_mock_matrix, 0, 12);
	suite_add_tcase(s, tc);
	return s;
}
