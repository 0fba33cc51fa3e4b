/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iommufd selftest mock's command (CONFIG_IOMMUFD_TEST), our own
 * definitions of what drivers/iommu/iommufd/iommufd_test.h (Linux 6.12, not
 * exported to userspace) declares, for kernel-contract.md section 13.  Used
 * by the fake kernel (tests/fake/fake-dirty.c) and by the kernel-facing
 * cases (tests/kcase-dirty.c) on both kernels; the layout is pinned below.
 */
#ifndef VFIOMIG_TESTS_IOMMUFD_TEST_H
#define VFIOMIG_TESTS_IOMMUFD_TEST_H

#include <stddef.h>
#include <linux/types.h>
#include <linux/ioctl.h>

#include <linux/iommufd.h> /* the private copy: IOMMUFD_TYPE, CMD_BASE */

enum {
	IOMMU_TEST_OP_ADD_RESERVED = 1,
	IOMMU_TEST_OP_MOCK_DOMAIN = 2,
	IOMMU_TEST_OP_MD_CHECK_MAP = 3,
	IOMMU_TEST_OP_MD_CHECK_REFS = 4,
	IOMMU_TEST_OP_CREATE_ACCESS = 5,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6,
	IOMMU_TEST_OP_ACCESS_PAGES = 7,
	IOMMU_TEST_OP_ACCESS_RW = 8,
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9,
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10,
	IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11,
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12,
	IOMMU_TEST_OP_DIRTY = 13,
	IOMMU_TEST_OP_MD_CHECK_IOTLB = 14,
	IOMMU_TEST_OP_TRIGGER_IOPF = 15,
};

/* Mock domain geometry (selftest.c): page = PAGE_SIZE / 2 on x86-64. */
#define MOCK_IO_PAGE_SIZE 2048UL
#define MOCK_HUGE_PAGE_SIZE (512 * MOCK_IO_PAGE_SIZE)
#define MOCK_APERTURE_START (1UL << 24)
#define MOCK_APERTURE_LAST ((1UL << 31) - 1)

enum {
	MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0,
	MOCK_FLAGS_DEVICE_HUGE_IOVA = 1 << 1,
};

#define IOMMU_HW_INFO_TYPE_SELFTEST 0xfeedbeef
#define IOMMU_HW_INFO_SELFTEST_REGVAL 0xdeadbeef

struct iommu_test_hw_info {
	__u32 flags;
	__u32 test_reg;
};

/* Only the union members the tests use are spelled out; the union keeps
 * the kernel's size (48 bytes: the dirty member is the largest). */
struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__aligned_u64 start;
			__aligned_u64 length;
		} add_reserved;
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id; /* a real iommufd device id */
		} mock_domain;
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
			__u32 dev_flags; /* MOCK_FLAGS_DEVICE_* */
		} mock_domain_flags;
		struct {
			__u32 pt_id;
		} mock_domain_replace;
		struct {
			__u32 flags;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 page_size;
			__aligned_u64 uptr;
			__aligned_u64 out_nr_dirty;
		} dirty;
		struct {
			__u32 dev_id;
			__u32 pasid;
			__u32 grpid;
			__u32 perm;
			__u64 addr;
		} trigger_iopf;
	};
	__u32 last;
};
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

_Static_assert(sizeof(struct iommu_test_cmd) == 72, "iommu_test_cmd size");
_Static_assert(offsetof(struct iommu_test_cmd, last) == 64,
	       "iommu_test_cmd.last: min size 68");
_Static_assert(offsetof(struct iommu_test_cmd, mock_domain.out_idev_id) == 24,
	       "mock_domain.out_idev_id");
_Static_assert(offsetof(struct iommu_test_cmd, mock_domain_flags.dev_flags) ==
		       28, "mock_domain_flags.dev_flags");
_Static_assert(offsetof(struct iommu_test_cmd, dirty.iova) == 24,
	       "dirty.iova");
_Static_assert(offsetof(struct iommu_test_cmd, dirty.out_nr_dirty) == 56,
	       "dirty.out_nr_dirty");
_Static_assert(IOMMU_TEST_CMD == 0x3ba0, "IOMMU_TEST_CMD");

#endif
