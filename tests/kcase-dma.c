// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of IOMMU contexts and DMA mappings
 * (vfiomig_iommu_new(3)): mtty devices opened into a shared context on both
 * IOMMU paths (_i 0: Type1, 1: iommufd), map/unmap/lists, every rule of bad
 * input with the kernel's errno and nothing changed, a device's own
 * context, Type1 before the first and after the last device; the iommufd
 * selftest mock reporting dirty bits through mappings the library made.
 * Run on the fake (kt-fake) and on the real kernel in the VM (kt-real).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>

#include "iommufd_test.h"
#include "kenv.h"

#define MOCK_IO_PAGE_SIZE 2048UL
#define MOCK_APERTURE_START (1UL << 24)

#define PG 4096ULL
#define BUFSZ (64 * PG)

static int path_of(int i)
{
	return i ? VFIOMIG_IOMMU_IOMMUFD : VFIOMIG_IOMMU_TYPE1;
}

#define NEED_PATH(i)                                                           \
	do {                                                                   \
		if ((i) && !kenv_has_iommufd())                                \
			kenv_skip("no cdev/iommufd path");                     \
	} while (0)

static void *buf_new(void)
{
	void *p = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0x5a, BUFSZ);
	return p;
}

static struct vfiomig_iommu *iommu_new(int path)
{
	VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommu = path);
	struct vfiomig_iommu *io = NULL;

	ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	ck_assert_ptr_nonnull(io);
	return io;
}

static struct vfiomig_device *open_into(const char *uuid,
					struct vfiomig_iommu *io)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu_ctx = io);
	struct vfiomig_device *dev = NULL;

	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), uuid, &o, &dev), 0);
	return dev;
}

/* The context's mappings are exactly want[0..n). */
static void expect_maps(struct vfiomig_iommu *io,
			const struct vfiomig_range *want, size_t n)
{
	struct vfiomig_range got[8];

	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), (ssize_t)n);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, got, 8), (ssize_t)n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(got[i].iova, want[i].iova);
		ck_assert_uint_eq(got[i].length, want[i].length);
	}
}

/* Two mtty devices share one context: one container or IOAS, one set of
 * mappings; the caller's reference can go first. */
START_TEST(shared_ctx)
{
	int path = path_of(_i);
	struct vfiomig_iommu *io;
	struct vfiomig_device *a, *b;
	struct vfiomig_range r[16];
	struct vfiomig_range m1 = { 1ULL << 20, 16 * PG }, m2 = { 1ULL << 32, PG };
	uint32_t ia = 0, ib = 0;
	ssize_t n;
	char *buf;
	bool inside = false;

	NEED_PATH(_i);
	buf = buf_new();
	io = iommu_new(path);
	if (path == VFIOMIG_IOMMU_TYPE1) {
		/* No IOMMU before the first group: EAGAIN, nothing recorded. */
		ck_assert_int_eq(vfiomig_iommu_map(io, buf, m1.iova, m1.length,
						   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE),
				 -EAGAIN);
		ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 16), -EAGAIN);
		expect_maps(io, NULL, 0);
	} else {
		/* An IOAS takes mappings before any device. */
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + 16 * PG, m2.iova,
						   m2.length, VFIOMIG_DMA_READ),
				 0);
	}
	a = open_into(KENV_MTTY2B_UUID, io);
	b = open_into(KENV_MTTY2C_UUID, io);
	vfiomig_iommu_free(io); /* the devices keep it */
	ck_assert_ptr_eq(vfiomig_device_iommu(a), io);
	ck_assert_ptr_eq(vfiomig_device_iommu(b), io);
	ck_assert_int_eq(vfiomig_device_iommu_path(a), path);
	ck_assert_int_eq(vfiomig_device_iommu_fd(a), vfiomig_device_iommu_fd(b));
	if (path == VFIOMIG_IOMMU_IOMMUFD) {
		ck_assert_int_eq(vfiomig_device_iommufd_ids(a, NULL, &ia, NULL), 0);
		ck_assert_int_eq(vfiomig_device_iommufd_ids(b, NULL, &ib, NULL), 0);
		ck_assert_uint_ne(ia, 0);
		ck_assert_uint_eq(ia, ib);
	}

	ck_assert_int_eq(vfiomig_iommu_map(io, buf, m1.iova, m1.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE),
			 0);
	if (path == VFIOMIG_IOMMU_TYPE1)
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + 16 * PG, m2.iova,
						   m2.length, VFIOMIG_DMA_WRITE),
				 0);
	{
		struct vfiomig_range want[2] = { m1, m2 };

		expect_maps(io, want, 2);
	}
	n = vfiomig_iommu_iova_ranges(io, NULL, 0);
	ck_assert_int_ge(n, 1);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 16), n);
	for (ssize_t i = 0; i < n && i < 16; i++)
		if (m1.iova >= r[i].iova && m1.iova + m1.length <= r[i].iova + r[i].length)
			inside = true;
	ck_assert(inside);

	/* Unmapping through either device's context is the same thing. */
	ck_assert_int_eq(vfiomig_iommu_unmap(vfiomig_device_iommu(b), m1.iova,
					     m1.length),
			 0);
	expect_maps(io, &m2, 1);
	vfiomig_device_free(a);
	expect_maps(io, &m2, 1);
	/* The whole range, beyond the one mapping in it. */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0, 1ULL << 40), 0);
	expect_maps(io, NULL, 0);
	vfiomig_device_free(b); /* the last reference */
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* Every rule of bad input: the kernel's errno, nothing changed (the
 * library's record and the kernel's, seen by mapping the same range after). */
START_TEST(bad_input)
{
	int path = path_of(_i);
	bool t1 = path == VFIOMIG_IOMMU_TYPE1;
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	struct vfiomig_range m = { 1ULL << 20, 16 * PG };
	const unsigned int RW = VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE;
	char *buf;

	NEED_PATH(_i);
	buf = buf_new();
	io = iommu_new(path);
	dev = open_into(KENV_MTTY2B_UUID, io);
	vfiomig_iommu_free(io);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, m.iova, m.length, RW), 0);

	/* flags */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 1ULL << 30, PG, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 1ULL << 30, PG, 4), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_map(NULL, buf, 1ULL << 30, PG, RW), -EINVAL);
	/* zero size */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 1ULL << 30, 0, RW), -EINVAL);
	/* misaligned iova, size, address (page alignment on both paths:
	 * Type1's page size, the mtty access's IOAS alignment) */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, (1ULL << 30) + 512, PG, RW), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 1ULL << 30, PG + 512, RW), -EINVAL);
	if (t1) /* iommufd maps any user address with a page offset the IOVA shares */
		ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG + 8, 1ULL << 30, PG, RW), -EINVAL);
	/* wrap past 2^64 */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 0ULL - PG, 2 * PG, RW),
			 t1 ? -EINVAL : -EOVERFLOW);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, 0, UINT64_MAX, RW),
			 t1 ? -EINVAL : -EOVERFLOW);
	/* overlap: inside, across the start, across the end, around */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, m.iova + PG, PG, RW), -EEXIST);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, m.iova - PG, 2 * PG, RW), -EEXIST);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 32 * PG, m.iova + m.length - PG, 2 * PG, RW), -EEXIST);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, m.iova - PG, m.length + 2 * PG, RW), -EEXIST);
	expect_maps(io, &m, 1);

	/* unmap: cutting a mapping, misaligned, zero, wrapping */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova + PG, PG), t1 ? -EINVAL : -ENOENT);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova, PG), t1 ? -EINVAL : -ENOENT);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova - PG, 2 * PG), t1 ? -EINVAL : -ENOENT);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0ULL - PG, 2 * PG), t1 ? -EINVAL : -EOVERFLOW);
	if (t1)
		ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova + 512, PG), -EINVAL);
	/* nothing mapped there: Type1 unmaps nothing, iommufd says ENOENT */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 1ULL << 40, PG), t1 ? 0 : -ENOENT);
	expect_maps(io, &m, 1);
	/* The kernel still has exactly m: mapping next to it works, over
	 * it does not. */
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 16 * PG, m.iova + m.length, PG, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf + 16 * PG, m.iova, PG, RW), -EEXIST);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova, m.length + PG), 0);
	expect_maps(io, NULL, 0);
	vfiomig_device_free(dev);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* Type1's dma_entry_limit (65535 by default): ENOSPC at the limit, the
 * failed map changes nothing, one unmap frees every entry. */
START_TEST(type1_limit)
{
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	char *buf = buf_new();
	uint64_t n = 0;
	int ret;

	io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	dev = open_into(KENV_MTTY2B_UUID, io);
	vfiomig_iommu_free(io);
	/* One page mapped again and again (gaps between: no merging). */
	while ((ret = vfiomig_iommu_map(io, buf, (n + 1) * 2 * PG, PG,
					VFIOMIG_DMA_READ)) == 0 && n < 200000)
		n++;
	ck_assert_int_eq(ret, -ENOSPC);
	ck_assert_uint_ge(n, 1);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), (ssize_t)n);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0, 0ULL - PG), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 2 * PG, PG, VFIOMIG_DMA_READ), 0);
	vfiomig_device_free(dev);
	munmap(buf, BUFSZ);
}
END_TEST

/* A device's own context: usable for mappings, closed with the device,
 * takes no other device; the last device of a Type1 context takes its
 * mappings with it (the kernel released the IOMMU). */
START_TEST(own_and_last)
{
	int path = path_of(_i);
	const unsigned int RW = VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE;
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL, *other = NULL;
	struct vfiomig_iommu *own, *io;
	struct vfiomig_range m = { 1ULL << 21, 4 * PG };
	char *buf;

	NEED_PATH(_i);
	buf = buf_new();
	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2B_UUID, &o, &dev), 0);
	own = vfiomig_device_iommu(dev);
	ck_assert_ptr_nonnull(own);
	ck_assert_int_eq(vfiomig_iommu_map(own, buf, m.iova, m.length, RW), 0);
	expect_maps(own, &m, 1);
	{
		VFIOMIG_OPTS(vfiomig_open_opts, o2, .iommu_ctx = own);

		ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2C_UUID,
						     &o2, &other), -EINVAL);
		ck_assert_ptr_null(other);
	}
	vfiomig_device_free(dev); /* its context and mappings with it */

	io = iommu_new(path);
	{
		/* A context's path and an iommu_fd do not mix. */
		VFIOMIG_OPTS(vfiomig_open_opts, o3, .iommu_ctx = io,
			     .iommu = path == VFIOMIG_IOMMU_TYPE1 ?
					      VFIOMIG_IOMMU_IOMMUFD :
					      VFIOMIG_IOMMU_TYPE1);

		ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2C_UUID,
						     &o3, &other), -EINVAL);
	}
	dev = open_into(KENV_MTTY2C_UUID, io);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, m.iova, m.length, RW), 0);
	vfiomig_device_free(dev);
	if (path == VFIOMIG_IOMMU_TYPE1) {
		expect_maps(io, NULL, 0);
		ck_assert_int_eq(vfiomig_iommu_map(io, buf, m.iova, m.length, RW),
				 -EAGAIN);
		/* A new first device: a fresh IOMMU, nothing mapped. */
		dev = open_into(KENV_MTTY2C_UUID, io);
		ck_assert_int_eq(vfiomig_iommu_map(io, buf, m.iova, m.length, RW), 0);
		vfiomig_device_free(dev);
	} else {
		/* The IOAS keeps its mappings without devices. */
		expect_maps(io, &m, 1);
		ck_assert_int_eq(vfiomig_iommu_unmap(io, m.iova, m.length), 0);
	}
	vfiomig_iommu_free(io);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* The iommufd selftest mock: an IOAS the caller holds, adopted by a
 * context; two mappings made through the library; a tracker (the mock
 * device's id) sees the mock's dirty bits through them; unmapping one
 * through the tracker returns its bits and the kernel's mapping is gone
 * (the IOVA maps again). */
START_TEST(mock_dirty)
{
	const uint64_t half = 1ULL << 20, base = MOCK_APERTURE_START;
	uint8_t bits[2 * (1 << 20) / MOCK_IO_PAGE_SIZE / 8];
	uint64_t bm[2 * (1 << 20) / 4096 / 64], ps = 4096;
	struct vfiomig_range r[2] = { { base, half }, { base + half, half } }, got[4];
	struct vfiomig_iommu *io = NULL;
	struct vfiomig_dirty *tr = NULL;
	uint32_t ioas_a = 0, ioas_b = 0, idev;
	char path[PATH_MAX];
	char *mem;
	int fd, hwpt;

	if (!kenv_has_iommufd())
		kenv_skip("no /dev/iommu");
	snprintf(path, sizeof(path), "%s/iommu",
		 kenv_dev_root() ? kenv_dev_root() : "/dev");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	{
		struct iommu_ioas_alloc a = { .size = sizeof(a) };

		ck_assert_int_eq(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
		ioas_a = a.out_ioas_id;
		ck_assert_int_eq(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
		ioas_b = a.out_ioas_id;
	}
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_MOCK_DOMAIN,
			.id = ioas_a,
		};

		if (ioctl(fd, IOMMU_TEST_CMD, &c) && errno == ENOTTY) {
			close(fd);
			kenv_skip("no CONFIG_IOMMUFD_TEST");
		}
		idev = c.mock_domain.out_idev_id;
		ck_assert_uint_ne(idev, 0);
	}
	mem = mmap(NULL, 2 * half, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	memset(mem, 0, 2 * half);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd, .ioas_id = ioas_b);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, mem, r[0].iova, r[0].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + half, r[1].iova, r[1].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, got, 4), 2);
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = fd,
			     .ioas_id = ioas_b, .dev_ids = &idev, .n_dev_ids = 1,
			     .ctx = kenv_ctx());

		ck_assert_int_eq(vfiomig_dirty_new(NULL, 0, &o, &tr), 0);
	}
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
	hwpt = vfiomig_dirty_hwpt_id(tr);
	ck_assert_int_gt(hwpt, 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, got, 2, &ps), 0);
	/* Mock pages 0 (first mapping) and 512 + 6 (second). */
	memset(bits, 0, sizeof(bits));
	bits[0] = 1;
	bits[(512 + 6) / 8] |= 1u << ((512 + 6) % 8);
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_DIRTY,
			.id = (uint32_t)hwpt,
			.dirty = { .iova = base, .length = 2 * half,
				   .page_size = MOCK_IO_PAGE_SIZE,
				   .uptr = (uintptr_t)bits },
		};

		ck_assert_int_eq(ioctl(fd, IOMMU_TEST_CMD, &c), 0);
		ck_assert_uint_eq(c.dirty.out_nr_dirty, 2);
	}
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, 2 * half, 4096, bm,
					     VFIOMIG_DIRTY_NO_CLEAR), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 512), 2);
	ck_assert_uint_eq(bm[0], 1);          /* 4 KiB page 0 */
	ck_assert_uint_eq(bm[4], 1ULL << 3);  /* page 256 + 3 */
	/* Unmap the second mapping through the tracker: its bit comes back. */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, r[1].iova, r[1].length, 4096,
					     bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 1);
	ck_assert_uint_eq(bm[0], 1ULL << 3);
	/* The kernel's mapping is gone: the IOVA maps again. */
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + half, r[1].iova, r[1].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, base, 2 * half), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
	vfiomig_iommu_free(io);
	munmap(mem, 2 * half);
	close(fd);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* The mock's environment of mock_dirty: an iommufd with IOAS a (the mock
 * device's) and IOAS b (the library's context adopting it); -1 without
 * the mock (skipped). */
static int mock_open(uint32_t *ioas_b, uint32_t *idev)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	char path[PATH_MAX];
	int fd;

	if (!kenv_has_iommufd())
		return -1;
	snprintf(path, sizeof(path), "%s/iommu",
		 kenv_dev_root() ? kenv_dev_root() : "/dev");
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
	c.id = a.out_ioas_id;
	ck_assert_int_eq(ioctl(fd, IOMMU_IOAS_ALLOC, &a), 0);
	*ioas_b = a.out_ioas_id;
	if (ioctl(fd, IOMMU_TEST_CMD, &c) && errno == ENOTTY) {
		close(fd);
		return -1;
	}
	*idev = c.mock_domain.out_idev_id;
	ck_assert_uint_ne(*idev, 0);
	return fd;
}

/* Mark mock pages (MOCK_IO_PAGE_SIZE units from base) dirty in the HWPT. */
static void mock_mark(int fd, int hwpt, uint64_t base, uint64_t len,
		      const unsigned int *pages, size_t n)
{
	uint8_t bits[2 * (1 << 20) / MOCK_IO_PAGE_SIZE / 8] = { 0 };
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_DIRTY,
		.id = (uint32_t)hwpt,
		.dirty = { .iova = base, .length = len,
			   .page_size = MOCK_IO_PAGE_SIZE,
			   .uptr = (uintptr_t)bits },
	};

	ck_assert_uint_le(len / MOCK_IO_PAGE_SIZE / 8, sizeof(bits));
	for (size_t i = 0; i < n; i++)
		bits[pages[i] / 8] |= 1u << (pages[i] % 8);
	ck_assert_int_eq(ioctl(fd, IOMMU_TEST_CMD, &c), 0);
	ck_assert_uint_eq(c.dirty.out_nr_dirty, n);
}

/* A tracker made from the mock's device id alone, started without ranges
 * over the context adopting the caller's iommufd + IOAS: it follows the
 * context.  A mapping added mid-tracking has its mock dirty bits read back
 * by the next query; an unmap through the tracker returns its bit and the
 * context's record drops it (no VFIO device links the two: the library
 * context does); an unmap around the tracker is refused (EBUSY). */
START_TEST(mock_follow)
{
	const uint64_t half = 1ULL << 20, base = MOCK_APERTURE_START;
	const unsigned int pages[2] = { 0, 512 + 6 };
	uint64_t bm[2 * (1 << 20) / 4096 / 64], ps = 4096;
	struct vfiomig_range r[2] = { { base, half }, { base + half, half } }, got[4];
	struct vfiomig_iommu *io = NULL;
	struct vfiomig_dirty *tr = NULL;
	uint32_t ioas_b = 0, idev = 0;
	char *mem;
	int fd = mock_open(&ioas_b, &idev), hwpt;

	if (fd < 0)
		kenv_skip("no iommufd selftest mock");
	mem = mmap(NULL, 2 * half, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	memset(mem, 0, 2 * half);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd, .ioas_id = ioas_b);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, mem, r[0].iova, r[0].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = fd,
			     .ioas_id = ioas_b, .dev_ids = &idev, .n_dev_ids = 1,
			     .ctx = kenv_ctx());

		ck_assert_int_eq(vfiomig_dirty_new(NULL, 0, &o, &tr), 0);
	}
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
	hwpt = vfiomig_dirty_hwpt_id(tr);
	ck_assert_int_gt(hwpt, 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	/* Mapped while tracking. */
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + half, r[1].iova, r[1].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	mock_mark(fd, hwpt, base, 2 * half, pages, 2);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, 2 * half, 4096, bm,
					     VFIOMIG_DIRTY_NO_CLEAR), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 512), 2);
	ck_assert_uint_eq(bm[0], 1);          /* 4 KiB page 0 */
	ck_assert_uint_eq(bm[4], 1ULL << 3);  /* page 256 + 3 */
	/* Not around the tracker: its bits would be lost. */
	ck_assert_int_eq(vfiomig_iommu_unmap(io, r[1].iova, r[1].length), -EBUSY);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, r[1].iova, r[1].length, 4096,
					     bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 256), 1);
	ck_assert_uint_eq(bm[0], 1ULL << 3);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, got, 4), 1);
	ck_assert_uint_eq(got[0].iova, r[0].iova);
	/* Mapped again mid-tracking: followed again, clean. */
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + half, r[1].iova, r[1].length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	mock_mark(fd, hwpt, base, 2 * half, &pages[1], 1);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, base, 2 * half, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, 512), 2);
	ck_assert_uint_eq(bm[0], 1);
	ck_assert_uint_eq(bm[4], 1ULL << 3);  /* page 256 + 3 again */
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, base, 2 * half), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
	vfiomig_iommu_free(io);
	munmap(mem, 2 * half);
	close(fd);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* DMA logging on mtty (its log_ops log nothing, START/STOP/REPORT answer
 * 0) following its context on each IOMMU path: a mapping outside the plan
 * restarts logging (the pages tracked before reported dirty once), an
 * unmap around the tracker is refused, one through it unmaps. */
START_TEST(mtty_dmalog_follow)
{
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 8ULL << 20, 4 * PG };
	uint64_t bm[4], ps = PG;
	char *mem;

	NEED_PATH(_i);
	io = iommu_new(path_of(_i));
	dev = open_into(KENV_MTTY2_UUID, io);
	mem = buf_new();
	ck_assert_int_eq(vfiomig_iommu_map(io, mem, a.iova, a.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + 32 * PG, b.iova, b.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), -EBUSY);
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, a.iova, a.length), 0);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	munmap(mem, BUFSZ);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

/* Type1 dirty tracking on mtty following its container: a mapping made
 * while tracking gets a bitmap from the kernel (vfio_dma_do_map), so the
 * tracker reads it (GET_BITMAP over it, mdev-only: all clear) and unmaps
 * it with its bitmap; around the tracker the unmap is refused. */
START_TEST(mtty_type1_follow)
{
	struct vfiomig_iommu *io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *dev = open_into(KENV_MTTY2_UUID, io);
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 8ULL << 20, 4 * PG };
	uint64_t bm[4], ps = PG;
	char *mem = buf_new();

	ck_assert_int_eq(vfiomig_iommu_map(io, mem, a.iova, a.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + 32 * PG, b.iova, b.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	/* One GET_BITMAP over both mappings and the hole between. */
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, 16ULL << 20, 1ULL << 20, bm,
					     0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, b.iova, b.length), -EBUSY);
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
	/* Gone from the kernel too (the tracker unmapped it): maps again. */
	ck_assert_int_eq(vfiomig_iommu_map(io, mem + 32 * PG, b.iova, b.length,
					   VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 0, 16ULL << 20), 0);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	munmap(mem, BUFSZ);
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}
END_TEST

Suite *kcase_dma_suite(void)
{
	Suite *s = suite_create("dma");
	TCase *tc;

	tc = tcase_create("dma-map");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, shared_ctx, 0, 2);
	tcase_add_loop_test(tc, bad_input, 0, 2);
	tcase_add_test(tc, type1_limit);
	tcase_add_loop_test(tc, own_and_last, 0, 2);
	tcase_add_test(tc, mock_dirty);
	tcase_add_test(tc, mock_follow);
	tcase_add_loop_test(tc, mtty_dmalog_follow, 0, 2);
	tcase_add_test(tc, mtty_type1_follow);
	suite_add_tcase(s, tc);
	return s;
}
