// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of regions: what mtty_get_region_info answers for
 * every index up to num_regions and past it (library and raw ioctl), a
 * BAR register and config space through vfiomig_region_read/write, and the
 * library refusing what lies outside a region before the kernel sees it
 * (mtty's size-0 regions 2-5 would be a kernel out-of-bounds access).
 * Written once; run on the fake (kt-fake) and on the real kernel in the VM
 * (kt-real).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>

#include "kenv.h"

static struct vfiomig_device *open_dev(const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s (path %d): %s", name, path,
		      strerror(-ret));
	return dev;
}

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
			struct vfiomig_device *dev = open_dev(m[i].uuid, paths[p]);

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
	uint32_t idx;

	ck_assert_int_eq(vfiomig_region_count(dev), 9);
	for (uint32_t i = 0; i < 9; i++) {
		uint64_t size = i == 7 ? 0xff : (i == 0 || (i == 1 && ports == 2)) ? 8 : 0;

		memset(&ri, 0xa5, sizeof(ri));
		ri.sz = sizeof(ri);
		ck_assert_int_eq(vfiomig_region_info(dev, i, &ri), 0);
		ck_assert_uint_eq(ri.index, i);
		/* READ|WRITE on every index, size 0 or not; no caps */
		ck_assert_uint_eq(ri.flags, VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE);
		ck_assert_uint_eq(ri.size, size);
		ck_assert_uint_eq(ri.offset, (uint64_t)i << 40);
		ck_assert_uint_eq(ri.nr_areas, 0);
		ck_assert_int_eq(vfiomig_region_areas(dev, i, NULL, 0), 0);
	}
	ri.sz = sizeof(ri);
	ck_assert_int_eq(vfiomig_region_info(dev, 9, &ri), -EINVAL);
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 1, &idx), -ENOENT);
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
	unsigned char b, r;
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
	ck_assert_int_eq(vfiomig_region_read(dev, 0, 8, &r, 1), -ERANGE);
	ck_assert_int_eq(vfiomig_region_write(dev, 0, 6, cfg, 4), -ERANGE);
	ck_assert_int_eq(vfiomig_region_read(dev, 0, UINT64_MAX, &r, 1), -ERANGE);
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

	each_mtty(check_rw);
	ck_assert_uint_eq(kenv_kernel_complaints(), complaints);
}
END_TEST

Suite *kcase_region_suite(void)
{
	Suite *s = suite_create("kcase-region");
	TCase *tc = tcase_create("region");

	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, info_mtty);
	tcase_add_test(tc, rw_mtty);
	suite_add_tcase(s, tc);
	return s;
}
