// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of IOMMU contexts and DMA mappings
 * (vfiomig_iommu_new(3)): mtty devices opened into a shared context on both
 * IOMMU paths (_i 0: Type1, 1: iommufd), map/unmap/lists, every rule of bad
 * input with the kernel's errno and nothing changed (and the rule the log
 * names), options, adopted containers and IOASes, random maps and unmaps
 * against a model, a fault at each kernel call, a device's own context,
 * Type1 before the first and after the last device; trackers following
 * the mappings: the iommufd selftest mock reporting dirty bits through
 * mappings the library made, DMA logging and Type1 tracking on mtty
 * (which dirty nothing), a mapper thread, two trackers on one context;
 * DMA logging of a programmable device that writes, and of one whose
 * driver turns to a page size the tracker cannot use ("dma-written"); the
 * vfio-pci function's Type1 IOVA ranges (its MSI window and VT-d
 * aperture) and Type1 reporting its container's whole mappings as
 * trackers follow them ("pci", tagged pci: the VM of run-vm.sh --pci).
 * Run on the fake (kt-fake) and on the real kernel in the VM (kt-real).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>

#include "iommufd_test.h"
#include "kenv.h"

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#include "dirty-model.h"

#define MOCK_IO_PAGE_SIZE 2048UL
#define MOCK_APERTURE_START (1UL << 24)

#define PG 4096ULL
#define BUFSZ (64 * PG)
#define RW (VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE)

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

/* A device opened into a new context, a tracker of it (fol_track), the
 * memory mapped from; fol_close frees them all and checks nothing of
 * the kernel's is left open. */
struct fol {
	char *buf;
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	struct vfiomig_dirty *tr;
};

static void fol_open(struct fol *f, const char *name, int path)
{
	f->buf = buf_new();
	f->io = iommu_new(path);
	f->dev = open_into(name, f->io);
	f->tr = NULL;
}

static void fol_track(struct fol *f, int backend)
{
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend);

	ck_assert_int_eq(vfiomig_dirty_new(&f->dev, 1, &o, &f->tr), 0);
}

/* io: the context still the caller's (not dropped after the open). */
static void fol_close(struct fol *f, bool io)
{
	vfiomig_dirty_free(f->tr);
	vfiomig_device_free(f->dev);
	if (io)
		vfiomig_iommu_free(f->io);
	munmap(f->buf, BUFSZ);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}

/* The first word of r's bitmap at 4 KiB pages (the bitmap zeroed first). */
static uint64_t query1(struct vfiomig_dirty *tr, struct vfiomig_range r)
{
	uint64_t bm[4] = { 0 };

	ck_assert_int_eq(vfiomig_dirty_query(tr, r.iova, r.length, PG, bm, 0), 0);
	return bm[0];
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

/* ------------------------------------- options, rules, models, faults */

/* Bad options, every one refused before any kernel call: EINVAL, a
 * larger struct with a non-zero tail E2BIG; AUTO is iommufd where the
 * kernel has it (an IOAS takes a mapping before any device); NULL handles. */
START_TEST(options)
{
	struct vfiomig_ctx *ctx = kenv_ctx();
	struct vfiomig_iommu *io = NULL;
	VFIOMIG_OPTS(vfiomig_iommu_opts, o);
	unsigned int calls = kenv_calls();
	char *buf = buf_new();

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
	ck_assert_uint_eq(kenv_calls(), calls);
	ck_assert_ptr_null(vfiomig_device_iommu(NULL));
	ck_assert_int_eq(vfiomig_iommu_mappings(NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_iommu_unmap(NULL, 0, PG), -EINVAL);
	vfiomig_iommu_free(NULL);
	if (!kenv_has_iommufd()) {
		munmap(buf, BUFSZ);
		kenv_skip("no cdev/iommufd path");
	}
	/* AUTO: iommufd here. */
	ck_assert_int_eq(vfiomig_iommu_new(ctx, NULL, &io), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, PG, RW), 0);
	vfiomig_iommu_free(io);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* The Type1 rules the library checks before the kernel (in
 * vfio_dma_do_map's order), each named in the log, on mtty's container:
 * size 0, alignment, a wrap; an overlap; an unmap not page-aligned; the
 * one mapping made is all that is recorded.  (A PCI function's MSI
 * window, the ranges and an overlap named before it: pci_type1_ranges.) */
START_TEST(type1_rules)
{
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	const uint64_t at = 1ULL << 30;
	char *buf = buf_new();

	kenv_ctx_logged(LOG_DEBUG);
	io = iommu_new(VFIOMIG_IOMMU_TYPE1);
	dev = open_into(KENV_MTTY1_UUID, io);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, 0, RW), -EINVAL);
	ck_assert(kenv_logged("size 0"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 512, PG, RW), -EINVAL);
	ck_assert(kenv_logged("page-aligned"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0ULL - PG, 2 * PG, RW), -EINVAL);
	ck_assert(kenv_logged("wraps"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, at, PG, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, at - PG, 2 * PG, RW), -EEXIST);
	ck_assert(kenv_logged("overlaps the mapping"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, at, PG / 2), -EINVAL);
	ck_assert(kenv_logged("page-aligned"));
	ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* The iommufd rules, each named in the log, on an IOAS with mtty's
 * access (no reserved range: [0, 2^64 - 1)). */
START_TEST(iommufd_rules)
{
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	struct vfiomig_range r[2];
	char *buf;

	NEED_PATH(1);
	buf = buf_new();
	kenv_ctx_logged(LOG_DEBUG);
	io = iommu_new(VFIOMIG_IOMMU_IOMMUFD);
	dev = open_into(KENV_MTTY1_UUID, io);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(io, r, 2), 1);
	ck_assert_uint_eq(r[0].iova, 0);
	ck_assert_uint_eq(r[0].length, UINT64_MAX);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, UINT64_MAX, PG, RW), -EOVERFLOW);
	ck_assert(kenv_logged("below 2^64 - 1"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0, UINT64_MAX - PG + 1, RW), -EINVAL);
	ck_assert(kenv_logged("iopt_alloc_pages"));
	ck_assert_int_eq(vfiomig_iommu_map(io, (void *)(uintptr_t)(0ULL - PG), 0,
					   2 * PG, RW), -EOVERFLOW);
	ck_assert(kenv_logged("user address wraps"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG + 8, PG, RW), -EINVAL);
	ck_assert(kenv_logged("IOVA alignment 0x1000"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 0ULL - PG, 2 * PG, RW), -EOVERFLOW);
	ck_assert(kenv_logged("wraps past 2^64"));
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, 2 * PG, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, 2 * PG, 2 * PG, RW), -EEXIST);
	ck_assert(kenv_logged("overlaps the mapping [0x1000, +0x2000)"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 2 * PG, PG), -ENOENT);
	ck_assert(kenv_logged("cuts the mapping"));
	ck_assert_int_eq(vfiomig_iommu_unmap(io, 8 * PG, PG), -ENOENT);
	ck_assert(kenv_logged("nothing is mapped there"));
	vfiomig_device_free(dev);
	vfiomig_iommu_free(io);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
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
	char *buf;
	int fd;

	NEED_PATH(1);
	buf = buf_new();
	kenv_ctx_logged(LOG_DEBUG);
	{
		VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_TYPE1);

		ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY1_UUID,
						     &o, &dev), 0);
	}
	fd = vfiomig_device_iommu_fd(dev);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .container_fd = fd);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	/* The device's own context sees the kernel's mapping, not the
	 * other context's record. */
	ck_assert_int_eq(vfiomig_iommu_map(vfiomig_device_iommu(dev), buf, PG,
					   PG, RW), -EEXIST);
	ck_assert(kenv_logged("did not make"));
	vfiomig_iommu_free(io);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	vfiomig_device_free(dev);

	{
		VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_IOMMUFD);

		ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY1_UUID,
						     &o, &dev), 0);
	}
	fd = vfiomig_device_iommu_fd(dev);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, NULL, &ioas, NULL), 0);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd, .ioas_id = ioas);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	vfiomig_iommu_free(io);
	/* Its own IOAS on the same iommufd, destroyed with it. */
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = fd);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &io), 0);
	}
	ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
	vfiomig_iommu_free(io);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	vfiomig_device_free(dev);
	munmap(buf, BUFSZ);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* Random maps and unmaps against a model of the kernel's mappings (one
 * entry per page: the id of the mapping, 0 when free); the record must
 * equal the model after every call, a failure must change nothing.  The
 * kernel's rules: Type1 refuses an unmap that cuts a mapping (EINVAL) and
 * unmaps nothing quietly; iommufd says ENOENT to both. */
#define NPG 64
START_TEST(random_model)
{
	int path = path_of(_i);
	struct vfiomig_iommu *io;
	struct vfiomig_device *dev;
	unsigned int model[NPG] = { 0 }, next_id = 1;
	unsigned int seed = 12345 + _i;
	char *buf;

	NEED_PATH(_i);
	buf = buf_new();
	kenv_ctx_logged(LOG_ERR);
	io = iommu_new(path);
	dev = open_into(KENV_MTTY1_UUID, io);
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
	munmap(buf, BUFSZ);
}
END_TEST

/* One round of context + open + map + unmap, a fault armed or not: each
 * call an error or a success, never a leak, the record never ahead of the
 * kernel nor behind it (a failed map left the IOVA free there, a failed
 * unmap left it mapped). */
static void fault_round(int path, char *buf)
{
	VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommu = path);
	VFIOMIG_OPTS(vfiomig_open_opts, oo);
	struct vfiomig_iommu *io = NULL;
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_iommu_new(kenv_ctx(), &o, &io);

	if (ret) {
		ck_assert_ptr_null(io);
		kenv_fail_nth(0, 0);
		ck_assert_int_eq(kenv_kernel_fds(), 0);
		return;
	}
	oo.iommu_ctx = io;
	ret = vfiomig_device_open(kenv_ctx(), KENV_MTTY1_UUID, &oo, &dev);
	if (!ret) {
		if (vfiomig_iommu_map(io, buf, PG, PG, RW) == 0) {
			ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
			if (vfiomig_iommu_unmap(io, PG, PG) == 0) {
				ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
			} else {
				ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 1);
				kenv_fail_nth(0, 0);
				ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW),
						 -EEXIST);
				ck_assert_int_eq(vfiomig_iommu_unmap(io, PG, PG), 0);
			}
		} else {
			ck_assert_int_eq(vfiomig_iommu_mappings(io, NULL, 0), 0);
			kenv_fail_nth(0, 0);
			ck_assert_int_eq(vfiomig_iommu_map(io, buf, PG, PG, RW), 0);
			ck_assert_int_eq(vfiomig_iommu_unmap(io, PG, PG), 0);
		}
		vfiomig_device_free(dev);
	} else {
		ck_assert_ptr_null(dev);
	}
	vfiomig_iommu_free(io);
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}

/* Every kernel call of context + open + map + unmap failing in turn (the
 * calls counted on a clean round first). */
START_TEST(fail_nth)
{
	int path = path_of(_i);
	unsigned int calls;
	char *buf;

	NEED_PATH(_i);
	buf = buf_new();
	kenv_ctx_logged(LOG_ERR);
	calls = kenv_calls();
	fault_round(path, buf);
	calls = kenv_calls() - calls;
	ck_assert_uint_gt(calls, 4);
	for (unsigned int nth = 1; nth <= calls; nth++) {
		kenv_fail_nth(nth, EIO);
		fault_round(path, buf);
	}
	munmap(buf, BUFSZ);
}
END_TEST

/* The iommufd selftest mock behind a context adopting the caller's
 * iommufd + IOAS (mock_open): the library's mappings reach the mock
 * domain through the tracker's dirty-tracking HWPT. */
#define MOCK_MEM (2ULL << 20)
/* The span a case marks dirty from a mapping's start: a whole number of
 * bytes of bitmap for IOMMU_TEST_OP_DIRTY (it reads the bitmap a long at a
 * time), the pages outside the mapping not marked. */
#define MOCK_WIN (512ULL << 10)

struct mock {
	int fd, hwpt;
	uint32_t ioas, idev;
	struct vfiomig_iommu *io;
	char *mem;
};

static void mock_env(struct mock *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = mock_open(&m->ioas, &m->idev);
	if (m->fd < 0)
		kenv_skip("no iommufd selftest mock");
	m->mem = mmap(NULL, MOCK_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->mem, MAP_FAILED);
	memset(m->mem, 0, MOCK_MEM);
	{
		VFIOMIG_OPTS(vfiomig_iommu_opts, o, .iommufd = m->fd,
			     .ioas_id = m->ioas);

		ck_assert_int_eq(vfiomig_iommu_new(kenv_ctx(), &o, &m->io), 0);
	}
}

/* A tracker of the mock device alone (the IOMMUFD back-end). */
static struct vfiomig_dirty *mock_tracker(struct mock *m)
{
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .iommufd = m->fd,
		     .ioas_id = m->ioas, .dev_ids = &m->idev, .n_dev_ids = 1,
		     .ctx = kenv_ctx());
	struct vfiomig_dirty *tr = NULL;

	ck_assert_int_eq(vfiomig_dirty_new(NULL, 0, &o, &tr), 0);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
	m->hwpt = vfiomig_dirty_hwpt_id(tr);
	ck_assert_int_gt(m->hwpt, 0);
	return tr;
}

static void mock_env_free(struct mock *m)
{
	vfiomig_iommu_free(m->io);
	munmap(m->mem, MOCK_MEM);
	close(m->fd);
}

/* The mock pages (half a 4 KiB page each) of n 4 KiB pages from page at. */
static size_t mock_pages(unsigned int *out, unsigned int at, unsigned int n)
{
	for (unsigned int i = 0; i < 2 * n; i++)
		out[i] = 2 * at + i;
	return 2 * n;
}

/* A tracker started without ranges takes the mappings the library made
 * (one range per mapping: the mock's bits in the first, none in the
 * second); without any mapping: EINVAL.  (The PCI function's Type1:
 * pci_from_mappings; DMA logging of a device that writes:
 * gen_from_mappings.) */
START_TEST(mock_from_mappings)
{
	const uint64_t base = MOCK_APERTURE_START;
	struct vfiomig_range a = { base + (1ULL << 20), 16 * PG },
			     b = { base + (4ULL << 20), 2 * PG };
	struct vfiomig_dirty *tr;
	unsigned int pages[4];
	uint64_t bm[4], ps = PG;
	struct mock m;

	kenv_ctx_logged(LOG_DEBUG);
	mock_env(&m);
	tr = mock_tracker(&m);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), -EINVAL);
	ck_assert(kenv_logged("no mappings"));
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	mock_mark(m.fd, m.hwpt, a.iova, MOCK_WIN, pages, mock_pages(pages, 3, 2));
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0x18ULL);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 16ULL << 20), 0);
	mock_env_free(&m);
}
END_TEST

/* The same without ranges on mtty, the pages it dirties being none (mtty
 * logs nothing, and its Type1 container reports only what mtty pinned):
 * EINVAL before any mapping, then started from the mappings.  _i 0 and 1:
 * DMA logging on Type1 and iommufd; 2: Type1 dirty tracking. */
START_TEST(mtty_from_mappings)
{
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG };
	uint64_t bm[4], ps = PG;
	struct fol f;

	NEED_PATH(_i == 1);
	kenv_ctx_logged(LOG_DEBUG);
	fol_open(&f, KENV_MTTY2_UUID, _i == 1 ? VFIOMIG_IOMMU_IOMMUFD : VFIOMIG_IOMMU_TYPE1);
	vfiomig_iommu_free(f.io);
	fol_track(&f, _i == 2 ? VFIOMIG_DIRTY_TYPE1 : VFIOMIG_DIRTY_DMA_LOGGING);
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), -EINVAL);
	ck_assert(kenv_logged("no mappings"));
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
	memset(bm, 0xff, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(f.tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0);
	/* Followed from the start: not unmapped around the tracker. */
	ck_assert_int_eq(vfiomig_iommu_unmap(f.io, b.iova, b.length), -EBUSY);
	ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
	fol_close(&f, false);
}
END_TEST

/* vfiomig_dirty_unmap on a range the library mapped: its dirty bits come
 * back (what the mock marked) and the context's record drops it (the
 * other mapping stays), the kernel's too (the IOVA maps again). */
START_TEST(mock_unmap_forgets)
{
	const uint64_t base = MOCK_APERTURE_START;
	struct vfiomig_range a = { base + (1ULL << 20), 16 * PG },
			     b = { base + (4ULL << 20), 2 * PG }, r[2];
	struct vfiomig_dirty *tr;
	unsigned int pages[2];
	uint64_t bm[4] = { 0 }, ps = PG;
	struct mock m;

	mock_env(&m);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, b.length, RW), 0);
	tr = mock_tracker(&m);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	mock_mark(m.fd, m.hwpt, a.iova, MOCK_WIN, pages, mock_pages(pages, 5, 1));
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0x20ULL);
	ck_assert_int_eq(vfiomig_iommu_mappings(m.io, r, 2), 1);
	ck_assert_uint_eq(r[0].iova, b.iova);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 16ULL << 20), 0);
	mock_env_free(&m);
}
END_TEST

/* A mapping made while the tracker runs is tracked from then on, with no
 * restart (only DMA logging needs the kernel told); once stopped, a map
 * or unmap touches no tracker. */
START_TEST(mock_follow_map)
{
	const uint64_t base = MOCK_APERTURE_START;
	struct vfiomig_range a = { base + (1ULL << 20), 16 * PG },
			     b = { base + (4ULL << 20), 4 * PG };
	struct vfiomig_dirty *tr;
	unsigned int pages[4];
	uint64_t bm[4], ps = PG;
	struct mock m;

	kenv_ctx_logged(LOG_DEBUG);
	mock_env(&m);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, a.iova, a.length, RW), 0);
	tr = mock_tracker(&m);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert(!kenv_logged("restarting"));
	mock_mark(m.fd, m.hwpt, b.iova, MOCK_WIN, pages, mock_pages(pages, 1, 2));
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(tr, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0x6ULL);
	for (int k = 0; k < 2; k++) {
		memset(bm, 0, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_query(tr, a.iova, a.length, PG, bm, 0), 0);
		ck_assert_uint_eq(bm[0], 0);
	}
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, b.iova, b.length), 0);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, b.length, RW), 0);
	vfiomig_dirty_free(tr);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 16ULL << 20), 0);
	mock_env_free(&m);
}
END_TEST

/* vfiomig_iommu_unmap of IOVA a following tracker tracks is refused
 * (EBUSY, the log names vfiomig_dirty_unmap): its bits would be lost;
 * outside the tracked ranges, or once stopped, it unmaps.  _i 0: the
 * mock's HWPT at 8 KiB pages, refusing a 4 KiB mapping (the map undone);
 * 1: Type1 dirty tracking on mtty's container. */
START_TEST(follow_unmap_busy)
{
	const uint64_t base = _i ? 0 : MOCK_APERTURE_START;
	struct vfiomig_range a = { base + (2ULL << 20), 16 * PG };
	struct vfiomig_device *dev = NULL;
	struct vfiomig_dirty *tr = NULL;
	uint64_t ps = _i ? PG : 2 * PG;
	struct mock m = { .fd = -1 };
	char *mem;

	kenv_ctx_logged(LOG_DEBUG);
	if (_i) {
		VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = VFIOMIG_DIRTY_TYPE1);

		m.io = iommu_new(VFIOMIG_IOMMU_TYPE1);
		dev = open_into(KENV_MTTY2_UUID, m.io);
		mem = m.mem = buf_new();
		ck_assert_int_eq(vfiomig_iommu_map(m.io, mem, a.iova, a.length, RW), 0);
		ck_assert_int_eq(vfiomig_dirty_new(&dev, 1, &o, &tr), 0);
	} else {
		mock_env(&m);
		mem = m.mem;
		ck_assert_int_eq(vfiomig_iommu_map(m.io, mem, a.iova, a.length, RW), 0);
		tr = mock_tracker(&m);
	}
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, a.iova, a.length), -EBUSY);
	ck_assert(kenv_logged("vfiomig_dirty_unmap"));
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 1ULL << 20), _i ? 0 : -ENOENT);
	if (!_i) {
		/* 8 KiB tracking pages: a 4 KiB mapping cannot be tracked. */
		ck_assert_int_eq(vfiomig_iommu_map(m.io, mem + 32 * PG,
						   base + (8ULL << 20), PG, RW),
				 -EINVAL);
		ck_assert(kenv_logged("not aligned to the page size"));
		ck_assert_int_eq(vfiomig_iommu_mappings(m.io, NULL, 0), 1);
		ck_assert_int_eq(vfiomig_iommu_map(m.io, mem + 32 * PG,
						   base + (8ULL << 20), 2 * PG, RW),
				 0);
	}
	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 16ULL << 20), 0);
	ck_assert_int_eq(vfiomig_iommu_mappings(m.io, NULL, 0), 0);
	vfiomig_dirty_free(tr);
	if (_i) {
		vfiomig_device_free(dev);
		vfiomig_iommu_free(m.io);
		munmap(mem, BUFSZ);
	} else {
		mock_env_free(&m);
	}
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* The tracker freed while following, then the context; and the other
 * order: the caller's context reference gone first, the tracker's keeps
 * it usable (a map through it), freeing the tracker frees it.  Nothing
 * leaks (kenv_teardown). */
START_TEST(mock_free_order)
{
	const uint64_t base = MOCK_APERTURE_START;
	struct vfiomig_dirty *tr;
	uint64_t ps = PG;
	struct mock m;

	mock_env(&m);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, base + (1ULL << 20), PG, RW), 0);
	tr = mock_tracker(&m);
	ck_assert_int_eq(vfiomig_dirty_start(tr, NULL, 0, &ps), 0);
	if (_i) {
		vfiomig_dirty_free(tr);
		vfiomig_iommu_free(m.io);
	} else {
		vfiomig_iommu_free(m.io);
		ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + PG,
						   base + (2ULL << 20), PG, RW), 0);
		vfiomig_dirty_free(tr);
	}
	m.io = NULL;
	mock_env_free(&m);
}
END_TEST

/* Maps from another thread while the tracker is queried in this one (a
 * VMM's memory listener and its migration thread): every mapping made is
 * followed, no query sees a half-added range (ThreadSanitizer watches on
 * the fake).  _i 0: the mock (all the mappings' pages marked dirty are
 * reported); 1: Type1 on mtty's container, 2: DMA logging on mtty over
 * iommufd (mtty dirties nothing: each mapping followed shows by an unmap
 * around the tracker refused).  A device that writes and the PCI
 * function: gen_follow_threads, pci_follow_threads. */
struct mapper {
	struct vfiomig_iommu *io;
	char *mem;
	uint64_t base;
	int n, failed, err, at;
};

static void *map_thread(void *arg)
{
	struct mapper *m = arg;

	for (int i = 0; i < m->n; i++) {
		int ret = vfiomig_iommu_map(m->io, m->mem + (uint64_t)i * PG,
					    m->base + (uint64_t)i * 2 * PG,
					    PG, RW);

		if (ret && !m->failed++) {
			m->err = ret;
			m->at = i;
		}
	}
	return NULL;
}

/* mp's mappings made by a thread while tr is queried over them here;
 * every one made. */
static void map_while_querying(struct mapper *mp, struct vfiomig_dirty *tr)
{
	uint64_t bm[1];
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, map_thread, mp), 0);
	for (int k = 0; k < 50; k++)
		ck_assert_int_eq(vfiomig_dirty_query(tr, mp->base, 64 * PG, PG, bm, 0), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(mp->failed == 0, "%d maps failed, the first (%d): %s",
		      mp->failed, mp->at, strerror(-mp->err));
}

START_TEST(follow_threads)
{
	uint64_t base = _i ? 0 : MOCK_APERTURE_START;
	struct mapper mp = { .n = 32, .base = base + (16ULL << 20) };
	struct mock m = { .fd = -1 };
	uint64_t ps = PG;
	struct fol f;

	NEED_PATH(_i == 2);
	kenv_ctx_logged(LOG_ERR);
	if (_i) {
		fol_open(&f, KENV_MTTY2_UUID,
			 _i == 1 ? VFIOMIG_IOMMU_TYPE1 : VFIOMIG_IOMMU_IOMMUFD);
		m.io = f.io;
		m.mem = f.buf;
		ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, base + (1ULL << 20),
						   16 * PG, RW), 0);
		fol_track(&f, _i == 1 ? VFIOMIG_DIRTY_TYPE1 : VFIOMIG_DIRTY_DMA_LOGGING);
	} else {
		mock_env(&m);
		ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, base + (1ULL << 20),
						   16 * PG, RW), 0);
		f.tr = mock_tracker(&m);
	}
	mp.io = m.io;
	mp.mem = m.mem + 32 * PG;
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
	map_while_querying(&mp, f.tr);
	ck_assert_int_eq(vfiomig_iommu_mappings(m.io, NULL, 0), 1 + mp.n);
	if (!_i) {
		unsigned int pages[32];

		for (int i = 0; i < mp.n; i++)
			pages[i] = 4 * (unsigned int)i;
		mock_mark(m.fd, m.hwpt, mp.base, MOCK_WIN, pages, (size_t)mp.n);
		/* Every other page is a mapping: all of them dirty. */
		ck_assert_uint_eq(query1(f.tr, (struct vfiomig_range){ mp.base, 64 * PG }),
				  0x5555555555555555ULL);
	}
	for (int i = 0; i < mp.n; i++)
		ck_assert_int_eq(vfiomig_iommu_unmap(m.io, mp.base + (uint64_t)i * 2 * PG,
						     PG), -EBUSY);
	ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
	vfiomig_dirty_free(f.tr);
	f.tr = NULL;
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, base, 32ULL << 20), 0);
	if (_i) {
		fol_close(&f, true);
	} else {
		mock_env_free(&m);
		ck_assert_int_eq(kenv_kernel_fds(), 0);
	}
}
END_TEST

/* Two trackers follow one context: DMA logging on mtty, the mock's HWPT
 * at 8 KiB pages.  A 4 KiB mapping the second cannot track fails whole:
 * the first, told before (it restarts), forgets it again, the map is
 * undone.  An 8 KiB one at that IOVA is then tracked by both (the first
 * restarts once more: the new plan has only 4 KiB there). */
START_TEST(follow_two_trackers)
{
	const uint64_t base = MOCK_APERTURE_START;
	struct vfiomig_range a = { base, 16 * PG }, b = { base + (8ULL << 20), 2 * PG };
	VFIOMIG_OPTS(vfiomig_dirty_opts, o1, .backend = VFIOMIG_DIRTY_DMA_LOGGING);
	struct vfiomig_dirty *t1 = NULL, *t2;
	struct vfiomig_device *mdev;
	unsigned int pages[2];
	uint64_t bm[1], ps1 = PG, ps2 = 2 * PG;
	struct mock m;

	kenv_ctx_logged(LOG_DEBUG);
	mock_env(&m);
	mdev = open_into(KENV_MTTY2_UUID, m.io);
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem, a.iova, a.length, RW), 0);
	t2 = mock_tracker(&m);
	ck_assert_int_eq(vfiomig_dirty_start(t2, NULL, 0, &ps2), 0);
	ck_assert_int_eq(vfiomig_dirty_new(&mdev, 1, &o1, &t1), 0);
	ck_assert_int_eq(vfiomig_dirty_start(t1, NULL, 0, &ps1), 0);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, PG, RW), -EINVAL);
	ck_assert_ptr_nonnull(strstr(kenv_log_text(), "restarting"));
	ck_assert(kenv_logged("not aligned to the page size"));
	ck_assert_int_eq(vfiomig_iommu_mappings(m.io, NULL, 0), 1);
	/* Undone for the first too: nothing there to refuse an unmap for. */
	ck_assert_int_eq(vfiomig_iommu_map(m.io, m.mem + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_uint_eq(kenv_logged_n("restarting"), 1);
	mock_mark(m.fd, m.hwpt, b.iova, MOCK_WIN, pages, mock_pages(pages, 1, 1));
	ck_assert_int_eq(vfiomig_dirty_query(t2, b.iova, b.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 3); /* one 8 KiB page of the HWPT's */
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, b.iova, b.length), -EBUSY);
	vfiomig_dirty_free(t1);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, b.iova, b.length), -EBUSY);
	vfiomig_dirty_free(t2);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, b.iova, b.length), 0);
	vfiomig_device_free(mdev);
	ck_assert_int_eq(vfiomig_iommu_unmap(m.io, a.iova, a.length), 0);
	mock_env_free(&m);
}
END_TEST

/* The two mappings of the DMA logging cases below. */
#define FA ((struct vfiomig_range){ 1ULL << 20, 16 * PG })
#define FB ((struct vfiomig_range){ 4ULL << 20, 4 * PG })

/* DMA logging of name on a new context of path, a and b mapped and the
 * tracker started from them, b unmapped through the tracker and a page
 * of a written (writes: name is a programmable device); b mapped again,
 * inside the plan: no restart. */
static void covered_start(struct fol *f, const char *name, int path, bool writes)
{
	uint64_t bm[4], ps = PG;

	kenv_ctx_logged(LOG_DEBUG);
	fol_open(f, name, path);
	ck_assert_int_eq(vfiomig_iommu_map(f->io, f->buf, FA.iova, FA.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(f->io, f->buf + 32 * PG, FB.iova, FB.length, RW), 0);
	fol_track(f, VFIOMIG_DIRTY_DMA_LOGGING);
	ck_assert_int_eq(vfiomig_dirty_start(f->tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_dirty_unmap(f->tr, FB.iova, FB.length, PG, bm, 0), 0);
	if (writes)
		kenv_gen_dma_write(name, FA.iova, PG);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(f->io, f->buf + 32 * PG, FB.iova, FB.length, RW), 0);
	ck_assert(!kenv_logged("restarting"));
}

/* DMA logging on mtty: a mapping inside the planned ranges needs no
 * restart (the plan keeps a range unmapped through the tracker); one
 * outside restarts it, and NO_CLEAR leaves the pending span (the pages
 * tracked before) for the next query; an unmap through the tracker returns
 * the pending bits too.  (A device writing into the range kept:
 * gen_dmalog_covered.) */
START_TEST(dmalog_covered)
{
	uint64_t bm[4];
	struct fol f;

	NEED_PATH(_i);
	covered_start(&f, KENV_MTTY2_UUID, path_of(_i), false);
	/* Outside the plan: restarted; NO_CLEAR keeps the pending span. */
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 48 * PG, 8ULL << 20, PG, RW), 0);
	ck_assert(kenv_logged("restarting"));
	for (int k = 0; k < 2; k++) {
		memset(bm, 0, sizeof(bm));
		ck_assert_int_eq(vfiomig_dirty_query(f.tr, FA.iova, FA.length, PG, bm,
						     VFIOMIG_DIRTY_NO_CLEAR), 0);
		ck_assert_uint_eq(bm[0], 0xffffULL);
	}
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_unmap(f.tr, FA.iova, FA.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	ck_assert_int_eq(vfiomig_iommu_mappings(f.io, NULL, 0), 2);
	fol_close(&f, true);
}
END_TEST

/* Every ioctl of a map that restarts DMA logging of name on path failing
 * in turn: the map fails whole (the record unchanged, the IOVA free in
 * the kernel) or succeeds; the tracker stays usable and stops.  writes
 * (name a programmable device): the page it wrote before is reported
 * either way, the device logging until stopped. */
static void dmalog_fail_nth_on(const char *name, int path, bool writes)
{
	bool done = false;

	kenv_ctx_logged(LOG_ERR);
	for (unsigned int nth = 1; !done; nth++) {
		uint64_t bm[4], ps = PG;
		struct fol f;

		ck_assert_uint_lt(nth, 20);
		fol_open(&f, name, path);
		ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, FA.iova, FA.length, RW), 0);
		fol_track(&f, VFIOMIG_DIRTY_DMA_LOGGING);
		ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
		if (writes)
			kenv_gen_dma_write(name, FA.iova + 3 * PG, PG);
		kenv_fail_nth_call("ioctl", nth, EIO);
		done = vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova, FB.length,
					 RW) == 0;
		kenv_fail_nth(0, 0);
		ck_assert_int_eq(vfiomig_iommu_mappings(f.io, NULL, 0), done ? 2 : 1);
		if (writes)
			ck_assert(gen_logging(f.dev));
		memset(bm, 0, sizeof(bm));
		ck_assert_msg(vfiomig_dirty_query(f.tr, FA.iova, FA.length, PG, bm, 0) == 0,
			      "nth %u: the tracker is not usable", nth);
		if (writes)
			ck_assert_msg(bm[0] & 8, "nth %u: the page written is lost", nth);
		if (done) {
			if (writes)
				kenv_gen_dma_write(name, FB.iova, PG);
			memset(bm, 0, sizeof(bm));
			ck_assert_int_eq(vfiomig_dirty_query(f.tr, FB.iova, FB.length, PG,
							     bm, 0), 0);
			if (writes)
				ck_assert_uint_eq(bm[0], 1);
		} else {
			/* Undone: the IOVA is free in the kernel. */
			ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova,
							   FB.length, RW), 0);
		}
		ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
		if (writes)
			ck_assert(!gen_logging(f.dev));
		fol_close(&f, true);
	}
}

/* On mtty, which logs nothing to lose.  (The page a device wrote before,
 * and its logging state: gen_dmalog_fail_nth.) */
START_TEST(dmalog_fail_nth)
{
	NEED_PATH(_i);
	dmalog_fail_nth_on(KENV_MTTY2_UUID, path_of(_i), false);
}
END_TEST

/* -------------- programmable devices and the vfio-pci function */

/*
 * DMA logging of a device that writes (gen_logger, dirty-model.h: the
 * pages kenv_gen_dma_write names are in its log while it logs) on a
 * context of the iommufd path, as trackers follow the mappings; a driver
 * changing its logging page size on a live device.
 *
 * The vfio-pci function (kenv.h, PCI: edu behind the VM's VT-d, the
 * fake's twin) in a Type1 container of its own ("pci": the VM of
 * run-vm.sh --pci): its IOVA ranges (the VT-d aperture less the MSI
 * window), and Type1 reporting whole mappings as trackers follow them (a
 * container with an IOMMU-backed group is not in pinned-page scope:
 * every mapped page is dirty at every read, vfio_iommu_type1's
 * update_user_bitmap).  Its domain pins at map time: real memory.
 */

/* A tracker started without ranges takes the mappings the library made
 * (one range per mapping), the context's reference dropped first (the
 * device's keeps it): the first query of each reports want_a and want_b,
 * after a programmable device wrote pages 3-4 of a (writes).  (Without
 * any mapping, on mtty and the mock: mtty_from_mappings,
 * mock_from_mappings.) */
static void from_mappings(const char *name, int path, int backend, bool writes,
			  uint64_t want_a, uint64_t want_b)
{
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG };
	uint64_t ps = PG;
	struct fol f;

	fol_open(&f, name, path);
	vfiomig_iommu_free(f.io);
	fol_track(&f, backend);
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, b.iova, b.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
	if (writes)
		kenv_gen_dma_write(name, a.iova + 3 * PG, 2 * PG);
	ck_assert_uint_eq(query1(f.tr, a), want_a);
	ck_assert_uint_eq(query1(f.tr, b), want_b);
	ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
	fol_close(&f, false);
}

/* DMA logging: what the device wrote in the first, nothing in the
 * second. */
START_TEST(gen_from_mappings)
{
	NEED_PATH(1);
	from_mappings(gen_logger(0), VFIOMIG_IOMMU_IOMMUFD, VFIOMIG_DIRTY_DMA_LOGGING,
		      true, 0x18ULL, 0);
}
END_TEST

/* The PCI function's Type1: the whole of each on the first query. */
START_TEST(pci_from_mappings)
{
	from_mappings(kenv_pci_bdf(), VFIOMIG_IOMMU_TYPE1, VFIOMIG_DIRTY_TYPE1,
		      false, 0xffffULL, 0x3ULL);
}
END_TEST

/* name tracked by backend on a new context of path, FA mapped and the
 * tracker started without ranges (following the context). */
static void follow_start(struct fol *f, const char *name, int path, int backend)
{
	uint64_t ps = PG;

	fol_open(f, name, path);
	ck_assert_int_eq(vfiomig_iommu_map(f->io, f->buf, FA.iova, FA.length, RW), 0);
	fol_track(f, backend);
	ck_assert_int_eq(vfiomig_dirty_start(f->tr, NULL, 0, &ps), 0);
}

/* Stopped: no longer followed, a map (of FB, mapped while it ran)
 * touches no tracker. */
static void follow_end(struct fol *f)
{
	ck_assert_int_eq(vfiomig_dirty_stop(f->tr), 0);
	ck_assert_int_eq(vfiomig_iommu_unmap(f->io, FB.iova, FB.length), 0);
	ck_assert_int_eq(vfiomig_iommu_map(f->io, f->buf + 32 * PG, FB.iova, FB.length,
					   RW), 0);
	fol_close(f, true);
}

/* A tracker started without ranges follows the context: a mapping made
 * while it runs is tracked from then on, what the device writes there
 * reported.  DMA logging restarts on a new plan (once: the library says
 * so, and the device's log of a is new): the pages tracked before (a)
 * are reported dirty once by the next query, none lost.  Once stopped, a
 * map touches no tracker.  (The mock's HWPT: mock_follow_map.) */
START_TEST(gen_follow_map)
{
	const char *g = gen_logger(0);
	struct fol f;

	NEED_PATH(1);
	kenv_ctx_logged(LOG_DEBUG);
	follow_start(&f, g, VFIOMIG_IOMMU_IOMMUFD, VFIOMIG_DIRTY_DMA_LOGGING);
	kenv_gen_dma_write(g, FA.iova, PG);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova, FB.length, RW), 0);
	/* DMA logging needs the kernel told: one restart, the device's
	 * log started afresh (the page written before is gone from it) */
	ck_assert_uint_eq(kenv_logged_n("restarting"), 1);
	{
		uint64_t bm[4] = { 0 };
		struct vfio_device_feature_dma_logging_report rep = {
			.iova = FA.iova, .length = FA.length, .page_size = PG,
			.bitmap = (uintptr_t)bm,
		};

		ck_assert_int_eq(vfiomig_feature_get(f.dev,
				VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
				sizeof(rep)), 0);
		ck_assert_uint_eq(bm[0], 0);
	}
	kenv_gen_dma_write(g, FB.iova + PG, 2 * PG);
	ck_assert_uint_eq(query1(f.tr, FB), 0x6ULL);
	/* a: the span tracked before the restart, reported once */
	ck_assert_uint_eq(query1(f.tr, FA), 0xffffULL);
	ck_assert_uint_eq(query1(f.tr, FA), 0);
	follow_end(&f);
}
END_TEST

/* The same on the PCI function's Type1: tracked from then on, whole; the
 * map tells the kernel nothing more (one ioctl, the MAP_DMA: only DMA
 * logging restarts).  (mtty's: mtty_type1_follow.) */
START_TEST(pci_follow_map)
{
	unsigned int ioctls;
	struct fol f;

	kenv_ctx_logged(LOG_DEBUG);
	follow_start(&f, kenv_pci_bdf(), VFIOMIG_IOMMU_TYPE1, VFIOMIG_DIRTY_TYPE1);
	kenv_log_clear();
	ioctls = kenv_ioctls();
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova, FB.length, RW), 0);
	/* Only DMA logging needs the kernel told. */
	ck_assert_uint_eq(kenv_ioctls() - ioctls, 1);
	ck_assert(!kenv_logged("restarting"));
	ck_assert_uint_eq(query1(f.tr, FB), 0xfULL);
	/* a: the whole mapping, as always. */
	for (int k = 0; k < 2; k++)
		ck_assert_uint_eq(query1(f.tr, FA), 0xffffULL);
	follow_end(&f);
}
END_TEST

/* A mapping inside the planned ranges needs no restart (the plan keeps a
 * range unmapped through the tracker: the library says none, and the
 * device's log kept a page written before) and what the device writes
 * there is reported.  (The restart outside the plan, NO_CLEAR and the
 * pending span: dmalog_covered on mtty.) */
START_TEST(gen_dmalog_covered)
{
	const char *g = gen_logger(0);
	struct fol f;

	NEED_PATH(1);
	covered_start(&f, g, VFIOMIG_IOMMU_IOMMUFD, true);
	kenv_gen_dma_write(g, FB.iova, PG);
	ck_assert_uint_eq(query1(f.tr, FB), 1);
	/* not restarted: the page of a, and nothing pending */
	ck_assert_uint_eq(query1(f.tr, FA), 1);
	ck_assert_int_eq(vfiomig_iommu_mappings(f.io, NULL, 0), 2);
	fol_close(&f, true);
}
END_TEST

/* dmalog_fail_nth_on with a device that writes (dmalog_fail_nth sweeps
 * the same on mtty, which logs nothing to lose). */
START_TEST(gen_dmalog_fail_nth)
{
	NEED_PATH(1);
	dmalog_fail_nth_on(gen_logger(0), VFIOMIG_IOMMU_IOMMUFD, true);
}
END_TEST

/* Maps from another thread while the tracker is queried in this one
 * (follow_threads, struct mapper above): every mapping made is followed,
 * no query sees a half-added range (ThreadSanitizer watches on the fake);
 * every page of every mapping then reported (writes: after a programmable
 * device wrote over all of them; Type1 on the PCI function: whole
 * mappings).  32 mappings: the fake's Type1 holds 64. */
static void follow_threads_on(const char *name, int path, int backend, bool writes)
{
	struct mapper mp = { .n = 32, .base = 16ULL << 20 };
	struct fol f;

	kenv_ctx_logged(LOG_ERR);
	follow_start(&f, name, path, backend);
	mp.io = f.io;
	mp.mem = f.buf + 32 * PG;
	map_while_querying(&mp, f.tr);
	if (writes)
		kenv_gen_dma_write(name, mp.base, 64 * PG);
	/* Every other page is a mapping: all of them dirty. */
	ck_assert_uint_eq(query1(f.tr, (struct vfiomig_range){ mp.base, 64 * PG }),
			  0x5555555555555555ULL);
	fol_close(&f, true);
}

START_TEST(gen_follow_threads)
{
	NEED_PATH(1);
	follow_threads_on(gen_logger(0), VFIOMIG_IOMMU_IOMMUFD,
			  VFIOMIG_DIRTY_DMA_LOGGING, true);
}
END_TEST

START_TEST(pci_follow_threads)
{
	follow_threads_on(kenv_pci_bdf(), VFIOMIG_IOMMU_TYPE1, VFIOMIG_DIRTY_TYPE1,
			  false);
}
END_TEST

/* A restart that fails and cannot be undone: the driver answers a page
 * size REPORT cannot use (2 KiB, below the caller's) to every START from
 * now on (kenv_gen_set_log_pgsize: a driver changing its mind on a live
 * device).  The map fails (EPROTO, the record unchanged), the tracker
 * says it is broken (queries: every page dirty and EIO; further maps
 * EIO); a stop and a new start, the driver echoing again, make it work:
 * what the device writes is reported.  (A START refused from the first:
 * kcase-dirty.c gen_driver_errnos.) */
START_TEST(gen_follow_dmalog_broken)
{
	const char *g = gen_logger(0);
	uint64_t bm[4], ps = PG;
	struct fol f;

	NEED_PATH(1);
	kenv_ctx_logged(LOG_DEBUG);
	follow_start(&f, g, VFIOMIG_IOMMU_IOMMUFD, VFIOMIG_DIRTY_DMA_LOGGING);
	kenv_gen_set_log_pgsize(g, 2048);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova, FB.length, RW),
			 -EPROTO);
	ck_assert(kenv_logged("the tracker is broken"));
	ck_assert_int_eq(vfiomig_iommu_mappings(f.io, NULL, 0), 1);
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(vfiomig_dirty_query(f.tr, FA.iova, FA.length, PG, bm, 0), -EIO);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	/* Further maps are refused while broken. */
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, FB.iova, FB.length, RW),
			 -EIO);
	ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
	kenv_gen_set_log_pgsize(g, 0);
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
	kenv_gen_dma_write(g, FA.iova, PG);
	ck_assert_uint_eq(query1(f.tr, FA), 1);
	fol_close(&f, true);
}
END_TEST

/* The domain's aperture minus the MSI window; a map across the window or
 * past the aperture is EINVAL, logged as outside the valid ranges, after
 * the overlap check (vfio_dma_do_map's order).  The other Type1 rules:
 * type1_rules on mtty; the raw chain: kcase-uapi.c type1_info_pci. */
START_TEST(pci_type1_ranges)
{
	struct vfiomig_range r[4];
	struct fol f;

	kenv_ctx_logged(LOG_DEBUG);
	fol_open(&f, kenv_pci_bdf(), VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(f.io, r, 1), 2);
	ck_assert_int_eq(vfiomig_iommu_iova_ranges(f.io, r, 4), 2);
	ck_assert_uint_eq(r[0].iova, 0);
	ck_assert_uint_eq(r[0].length, KENV_PCI_MSI_START);
	ck_assert_uint_eq(r[1].iova, KENV_PCI_MSI_LAST + 1);
	ck_assert_uint_eq(r[1].iova + r[1].length, KENV_PCI_APERTURE_LAST + 1);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, KENV_PCI_MSI_START - PG, 2 * PG,
					   RW), -EINVAL);
	ck_assert(kenv_logged("outside the valid IOVA ranges"));
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, KENV_PCI_APERTURE_LAST + 1, PG,
					   RW), -EINVAL);
	ck_assert(kenv_logged("outside the valid IOVA ranges"));
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, KENV_PCI_MSI_START - PG, PG,
					   RW), 0);
	/* Overlap comes before the range check. */
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, KENV_PCI_MSI_START - PG, 2 * PG,
					   RW), -EEXIST);
	ck_assert(kenv_logged("overlaps the mapping"));
	ck_assert_int_eq(vfiomig_iommu_mappings(f.io, r, 4), 1);
	fol_close(&f, true);
}
END_TEST

/* vfiomig_dirty_unmap on a range the library mapped: its dirty bits come
 * back (the whole mapping) and the context's record drops it (the other
 * mapping stays), the kernel's too (the IOVA maps again).  (The mock's
 * HWPT: mock_unmap_forgets.) */
START_TEST(pci_unmap_forgets)
{
	struct vfiomig_range a = { 1ULL << 20, 16 * PG }, b = { 4ULL << 20, 2 * PG }, r[2];
	uint64_t bm[4] = { 0 }, ps = PG;
	struct fol f;

	fol_open(&f, kenv_pci_bdf(), VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf + 32 * PG, b.iova, b.length, RW), 0);
	fol_track(&f, VFIOMIG_DIRTY_TYPE1);
	ck_assert_int_eq(vfiomig_dirty_start(f.tr, NULL, 0, &ps), 0);
	ck_assert_int_eq(vfiomig_dirty_unmap(f.tr, a.iova, a.length, PG, bm, 0), 0);
	ck_assert_uint_eq(bm[0], 0xffffULL);
	ck_assert_int_eq(vfiomig_iommu_mappings(f.io, r, 2), 1);
	ck_assert_uint_eq(r[0].iova, b.iova);
	/* The kernel's mapping is gone too: the IOVA maps again. */
	ck_assert_int_eq(vfiomig_iommu_map(f.io, f.buf, a.iova, a.length, RW), 0);
	ck_assert_int_eq(vfiomig_dirty_stop(f.tr), 0);
	fol_close(&f, true);
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

	tc = tcase_create("dma-rules");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, options);
	tcase_add_test(tc, type1_rules);
	tcase_add_test(tc, iommufd_rules);
	tcase_add_test(tc, adopt);
	tcase_add_loop_test(tc, random_model, 0, 2);
	tcase_add_loop_test(tc, fail_nth, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("dma-follow");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, mock_from_mappings);
	tcase_add_loop_test(tc, mtty_from_mappings, 0, 3);
	tcase_add_test(tc, mock_unmap_forgets);
	tcase_add_test(tc, mock_follow_map);
	tcase_add_loop_test(tc, follow_unmap_busy, 0, 2);
	tcase_add_loop_test(tc, mock_free_order, 0, 2);
	tcase_add_loop_test(tc, follow_threads, 0, 3);
	tcase_add_test(tc, follow_two_trackers);
	tcase_add_loop_test(tc, dmalog_covered, 0, 2);
	tcase_add_loop_test(tc, dmalog_fail_nth, 0, 2);
	suite_add_tcase(s, tc);

	/* a programmable device writing while it logs, as trackers follow
	 * the mappings */
	tc = tcase_create("dma-written");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, gen_from_mappings);
	tcase_add_test(tc, gen_follow_map);
	tcase_add_test(tc, gen_dmalog_covered);
	tcase_add_test(tc, gen_dmalog_fail_nth);
	tcase_add_test(tc, gen_follow_threads);
	tcase_add_test(tc, gen_follow_dmalog_broken);
	suite_add_tcase(s, tc);

	/* the vfio-pci function (kenv.h, PCI), run
	 * by a VM of its own (run-vm.sh --pci, CK_INCLUDE_TAGS=pci; the
	 * other VM excludes it, CK_EXCLUDE_TAGS=pci) */
	tc = tcase_create("pci");
	tcase_set_tags(tc, "pci");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, pci_type1_ranges);
	tcase_add_test(tc, pci_from_mappings);
	tcase_add_test(tc, pci_unmap_forgets);
	tcase_add_test(tc, pci_follow_map);
	tcase_add_test(tc, pci_follow_threads);
	suite_add_tcase(s, tc);
	return s;
}
