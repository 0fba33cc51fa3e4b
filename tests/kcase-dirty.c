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
	if (kenv_quirk(KQ_LOG_DOUBLE_START_OK))
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
	if (!kenv_has_iommufd()) {
		fprintf(stderr, "%s: skipped: no cdev/iommufd path\n", __func__);
		return;
	}
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

	if (!kenv_has_iommufd()) {
		fprintf(stderr, "%s: skipped: no /dev/iommu\n", __func__);
		return;
	}
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
			fprintf(stderr, "%s: skipped: IOMMU_TEST_CMD: ENOTTY "
				"(kernel without CONFIG_IOMMUFD_TEST)\n",
				__func__);
			close(fd);
			return;
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
	tcase_add_test(tc, iommufd_mock);
	suite_add_tcase(s, tc);
	return s;
}
