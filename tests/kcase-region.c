// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of regions: what mtty_get_region_info answers for
 * every index up to num_regions and past it (library and raw ioctl), a
 * BAR register and config space through vfiomig_region_read/write, and the
 * library refusing what lies outside a region before the kernel sees it
 * (mtty's size-0 regions 2-5 would be a kernel out-of-bounds access), NULL
 * arguments, the cache, one kernel call per access of any width, a failed
 * pread and a fault at each kernel call of the first region call; and
 * a vfio-pci function's regions (kenv.h, PCI: edu).  Written once; run on the fake (kt-fake) and on the real kernel in the VM
 * (kt-real).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "kenv.h"

/* Both mtty types, on each IOMMU path the kernel has. */
static void each_mtty(void (*fn)(struct vfiomig_device *dev, int ports))
{
	const struct {
		const char *uuid;
		int ports;
	} m[] = { { KENV_MTTY1_UUID, 1 }, { KENV_MTTY2_UUID, 2 } };
	int paths[] = { VFIOMIG_IOMMU_TYPE1, VFIOMIG_IOMMU_IOMMUFD };

	for (int p = 0; p < 2; p++) {
		if (paths[p] == VFIOMIG_IOMMU_IOMMUFD && !kenv_has_iommufd())
			continue;
		for (int i = 0; i < 2; i++) {
			struct vfiomig_device *dev = kenv_open(m[i].uuid, paths[p]);

			fn(dev, m[i].ports);
			vfiomig_device_free(dev);
		}
	}
}

static void check_info(struct vfiomig_device *dev, int ports)
{
	struct vfiomig_region_info ri;
	struct vfio_region_info raw;
	int fd = vfiomig_device_fd(dev);
	unsigned int ioctls;
	uint32_t idx;

	ck_assert_int_eq(vfiomig_region_count(dev), 9);
	for (uint32_t i = 0; i < 9; i++) {
		uint64_t size = i == 7 ? 0xff : (i == 0 || (i == 1 && ports == 2)) ? 8 : 0;

		memset(&ri, 0xa5, sizeof(ri));
		ri.sz = sizeof(ri);
		ck_assert_int_eq(vfiomig_region_info(dev, i, &ri), 0);
		ck_assert_uint_eq(ri.sz, sizeof(ri));
		ck_assert_uint_eq(ri.index, i);
		/* READ|WRITE on every index, size 0 or not; no caps */
		ck_assert_uint_eq(ri.flags, VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE);
		ck_assert_uint_eq(ri.size, size);
		ck_assert_uint_eq(ri.offset, (uint64_t)i << 40);
		ck_assert_uint_eq(ri.type, 0);
		ck_assert_uint_eq(ri.nr_areas, 0);
		ck_assert_int_eq(vfiomig_region_areas(dev, i, NULL, 0), 0);
	}
	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 9, &ri), -EINVAL);
	ck_assert_int_eq(vfiomig_region_info(dev, UINT32_MAX, &ri), -EINVAL);
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 1, &idx), -ENOENT);
	/* Cached: asked again, the kernel is not. */
	ioctls = kenv_ioctls();
	ck_assert_int_eq(vfiomig_region_info(dev, 7, &ri), 0);
	ck_assert_int_eq(vfiomig_region_count(dev), 9);
	ck_assert_uint_eq(kenv_ioctls(), ioctls);
	/* The kernel itself: EINVAL at index 9 and below minsz; argsz and
	 * cap_offset come back as they were sent (no chain). */
	raw = (struct vfio_region_info){ .argsz = sizeof(raw), .index = 9 };
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &raw), -1);
	ck_assert_int_eq(errno, EINVAL);
	raw = (struct vfio_region_info){ .argsz = 31, .index = 7 };
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &raw), -1);
	ck_assert_int_eq(errno, EINVAL);
	raw = (struct vfio_region_info){ .argsz = 64, .index = 7, .cap_offset = 40 };
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &raw), 0);
	ck_assert_uint_eq(raw.argsz, 64);
	ck_assert_uint_eq(raw.cap_offset, 40);
	ck_assert_uint_eq(raw.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	ck_assert_uint_eq(raw.size, 0xff);
	raw = (struct vfio_region_info){ .argsz = 100, .index = 0, .cap_offset = 77 };
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &raw), 0);
	ck_assert_uint_eq(raw.argsz, 100);
	ck_assert_uint_eq(raw.cap_offset, 77);
	ck_assert_uint_eq(raw.size, 8);
}

START_TEST(info_mtty)
{
	unsigned int complaints = kenv_kernel_complaints();

	each_mtty(check_info);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
}
END_TEST

static void check_rw(struct vfiomig_device *dev, int ports)
{
	unsigned char b, r, big[16];
	unsigned char cfg[0xff];
	uint32_t id;
	uint16_t vid;
	void *p;

	/* BAR0 (and BAR1) offset 7: the 16550's scratch register */
	for (uint32_t bar = 0; bar < (uint32_t)ports; bar++) {
		b = (unsigned char)(0x5a + bar);
		r = 0;
		ck_assert_int_eq(vfiomig_region_write(dev, bar, 7, &b, 1), 0);
		ck_assert_int_eq(vfiomig_region_read(dev, bar, 7, &r, 1), 0);
		ck_assert_uint_eq(r, b);
	}
	/* config space: native 4- and 2-byte reads, then all of it */
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, &id, 4), 0);
	ck_assert_uint_eq(id, 0x32534348);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, &vid, 2), 0);
	ck_assert_uint_eq(vid, 0x4348);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, cfg, sizeof(cfg)), 0);
	ck_assert(!memcmp(cfg, &id, 4));
	/* refused before the kernel: past the BAR, straddling its end,
	 * size-0 regions, no such region, past config space */
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 8, &r, 1), -ERANGE);
	ck_assert_ptr_nonnull(strstr(kenv_log_text(), "outside its 0x8 bytes"));
	ck_assert_int_eq(vfiomig_region_write(dev, 0, 6, cfg, 4), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 7, big, 2), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, UINT64_MAX, &r, 1), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 1, big, SIZE_MAX), -ERANGE);
	/* zero bytes inside, or at the end, is fine */
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 8, &r, 0), 0);
	for (uint32_t i = (uint32_t)ports; i <= 6; i++) {
		ck_assert_int_eq(vfiomig_region_read(dev, i, 0, &r, 1), -ERANGE);
		ck_assert_int_eq(vfiomig_region_write(dev, i, 0, &r, 1), -ERANGE);
	}
	ck_assert_int_eq(vfiomig_region_read(dev, 9, 0, &r, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0xff, &r, 1), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0xfc, &id, 4), -ERANGE);
	/* mtty has no mmap */
	ck_assert_int_eq(vfiomig_region_mmap(dev, 0, 0, 8, PROT_READ, &p), -EACCES);
}

START_TEST(rw_mtty)
{
	unsigned int complaints = kenv_kernel_complaints();

	kenv_ctx_logged(LOG_DEBUG);
	each_mtty(check_rw);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
}
END_TEST

/* One kernel call per access whatever its width, aligned or not, into an
 * unaligned buffer: config space read 1, 2, 4 and 8 bytes at a time and
 * 61 bytes from offset 3 (mtty splits them itself) says what one read of
 * all of it says; its last 8 bytes read, one byte further is out; a BAR
 * write is one call too.  (test-region.c's rw_widths keeps the access
 * lengths a driver saw, short transfers, EINTR and a read-only region.) */
static void check_widths(struct vfiomig_device *dev, int ports)
{
	unsigned char cfg[0xff], out[80], b = 0x33;
	unsigned int calls;
	uint64_t v;

	(void)ports;
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, cfg, sizeof(cfg)), 0);
	for (size_t w = 1; w <= 8; w *= 2) {
		memset(out, 0, sizeof(out));
		calls = kenv_calls();
		ck_assert_int_eq(vfiomig_region_read(dev, 7, 16 * w, out + 1, w), 0);
		ck_assert_uint_eq(kenv_calls() - calls, 1);
		ck_assert(!memcmp(out + 1, cfg + 16 * w, w));
	}
	calls = kenv_calls();
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 3, out, 61), 0);
	ck_assert_uint_eq(kenv_calls() - calls, 1);
	ck_assert(!memcmp(out, cfg + 3, 61));
	ck_assert_int_eq(vfiomig_region_read(dev, 7, sizeof(cfg) - 8, &v, 8), 0);
	ck_assert(!memcmp(&v, cfg + sizeof(cfg) - 8, 8));
	ck_assert_int_eq(vfiomig_region_read(dev, 7, sizeof(cfg) - 7, &v, 8), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 7, out, 1), 0); /* BAR0's info */
	calls = kenv_calls();
	ck_assert_int_eq(vfiomig_region_write(dev, 0, 7, &b, 1), 0);
	ck_assert_uint_eq(kenv_calls() - calls, 1);
}

START_TEST(widths_mtty)
{
	each_mtty(check_widths);
}
END_TEST

/* Every NULL handle, pointer and size refused with EINVAL, before the
 * kernel sees anything. */
START_TEST(null_args)
{
	struct vfiomig_region_info ri = { .sz = sizeof(ri) };
	struct vfiomig_device *dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	unsigned int calls = kenv_calls();
	uint32_t idx;
	void *p;
	char b;

	ck_assert_int_eq(vfiomig_region_count(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_region_info(NULL, 0, &ri), -EINVAL);
	ck_assert_int_eq(vfiomig_region_info(dev, 0, NULL), -EINVAL);
	ri.sz = 0;
	ck_assert_int_eq(vfiomig_region_info(dev, 0, &ri), -EINVAL);
	ck_assert_int_eq(vfiomig_region_areas(NULL, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_region_areas(dev, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_find(NULL, 1, 1, &idx), -EINVAL);
	ck_assert_int_eq(vfiomig_region_find(dev, 1, 1, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(NULL, 0, 0, &b, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_write(NULL, 0, 0, &b, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_write(dev, 0, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(NULL, 0, 0, 4096, PROT_READ, &p), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 0, 0, 4096, PROT_READ, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 0, 0, 0, PROT_READ, &p), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 0, 0, 4096, PROT_EXEC, &p), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 0, 0, 4096, 0, &p), -EINVAL);
	ck_assert_int_eq(vfiomig_region_munmap(NULL, 4096), -EINVAL);
	ck_assert_uint_eq(kenv_calls(), calls);
	vfiomig_device_free(dev);
}
END_TEST

/* A driver's error on a read passes through (the shim fails the pread
 * before mtty sees it); the next read works. */
START_TEST(pread_error)
{
	struct vfiomig_device *dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	unsigned char out[4];

	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, out, 4), 0);
	kenv_fail_nth_call("pread", 1, EIO);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, out, 4), -EIO);
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(vfiomig_region_read(dev, 7, 0, out, 4), 0);
	ck_assert_uint_eq(out[0] | out[1] << 8, 0x4348);
	vfiomig_device_free(dev);
}
END_TEST

/* Every kernel call of the first region call failing in turn (GET_INFO,
 * then GET_REGION_INFO: counted on a clean device first): a clean error,
 * nothing cached, no leak, and the next call works.  (test-region.c's
 * faults keeps a capability chain read twice.) */
START_TEST(first_call_faults)
{
	struct vfiomig_region_info ri;
	struct vfiomig_device *dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
	unsigned int calls = kenv_calls();

	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 7, &ri), 0);
	calls = kenv_calls() - calls;
	ck_assert_uint_ge(calls, 1);
	vfiomig_device_free(dev);
	for (unsigned int n = 1; n <= calls + 1; n++) {
		dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO);
		ri.sz = sizeof(ri);
		kenv_fail_nth(n, EIO);
		ck_assert_int_eq(vfiomig_region_info(dev, 7, &ri), n <= calls ? -EIO : 0);
		kenv_fail_nth(0, 0);
		ri.sz = sizeof(ri);
		ck_assert_int_eq(vfiomig_region_info(dev, 7, &ri), 0);
		ck_assert_uint_eq(ri.size, 0xff);
		ck_assert_int_eq(vfiomig_region_count(dev), 9);
		vfiomig_device_free(dev);
		ck_assert_int_eq(kenv_kernel_fds(), 0);
	}
}
END_TEST

/* vfio-pci (kenv.h, PCI: edu): 9 regions, config 0x100, BAR0 1 MiB
 * READ|WRITE|MMAP, a missing BAR (flags 0: -EACCES before the kernel), no
 * VGA index (EINVAL, logged at debug) (moved from test-region's pci). */
START_TEST(pci_info)
{
	struct vfiomig_device *dev;
	struct vfiomig_region_info ri;
	unsigned char b = 0;

	kenv_ctx_logged(LOG_DEBUG);
	dev = kenv_open(kenv_pci_bdf(), VFIOMIG_IOMMU_AUTO);
	ck_assert_int_eq(vfiomig_region_count(dev), 9);
	memset(&ri, 0xa5, sizeof(ri));
	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 7, &ri), 0);
	ck_assert_uint_eq(ri.size, KENV_PCI_CONFIG_SIZE);
	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 0, &ri), 0);
	ck_assert_uint_eq(ri.flags, VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE |
				    VFIOMIG_REGION_MMAP);
	ck_assert_uint_eq(ri.size, KENV_PCI_BAR0_SIZE);
	ck_assert_uint_eq(ri.nr_areas, 0);
	memset(&ri, 0xa5, sizeof(ri));
	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 1, &ri), 0);
	ck_assert_uint_eq(ri.flags, 0);
	ck_assert_uint_eq(ri.size, 0);
	ck_assert_int_eq(vfiomig_region_read(dev, 1, 0, &b, 1), -EACCES);
	ck_assert_int_eq(vfiomig_region_write(dev, 1, 0, &b, 1), -EACCES);
	ri.sz = sizeof(ri);
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_region_info(dev, 8, &ri), -EINVAL);
	ck_assert_msg(strstr(kenv_log_text(), "VFIO_DEVICE_GET_REGION_INFO(8)"),
		      "%s", kenv_log_text());
	vfiomig_device_free(dev);
}
END_TEST

Suite *kcase_region_suite(void)
{
	Suite *s = suite_create("kcase-region");
	TCase *tc = tcase_create("region");

	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, info_mtty);
	tcase_add_test(tc, rw_mtty);
	tcase_add_test(tc, widths_mtty);
	tcase_add_test(tc, null_args);
	tcase_add_test(tc, pread_error);
	tcase_add_test(tc, first_call_faults);
	suite_add_tcase(s, tc);

	/* The vfio-pci function (kenv.h, PCI): its own test case, run by a
	 * VM of its own (run-vm.sh --pci, CK_INCLUDE_TAGS=pci; the
	 * other VM excludes it, CK_EXCLUDE_TAGS=pci). */
	tc = tcase_create("pci");
	tcase_set_tags(tc, "pci");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, pci_info);
	suite_add_tcase(s, tc);
	return s;
}
