// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of the raw uAPI, without the library: the errno of
 * each bad argsz / flags / order case of groups and the Type1 container
 * (contract 9, 11.1) and of iommufd's IOAS map/unmap and size convention
 * (10, 11), and the two rules of guest-memory mapping the fake learnt
 * from 6.12 (issue 12): an IOVA in a reserved span is EINVAL before an
 * overlap is EEXIST (iopt_check_iova; the selftest's ADD_RESERVED, the
 * mock domain's aperture), and a writable map of read-only pages is
 * EFAULT when the pages are pinned at once (a domain on the IOAS), not
 * when they are not (an mdev's container or access).  Also what an mtty
 * shows of itself: its sysfs, the VFS side of its data fds, PRECOPY_INFO
 * as 6.12's mtty answers it, and an mdev refused a HWPT.  And a vfio-pci
 * function behind an IOMMU (kenv.h, PCI: edu on the VM's VT-d): what
 * vfio-pci answers of it, Type1's IOVA ranges and pinning at map time, its
 * cdev's automatic HWPT, and the MSI window and aperture it reserves in an
 * IOAS.  Written once;
 * run on the fake and on the real kernel in the VM: Linux checking the
 * fake.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "vfio-args.h"
#include "iommufd_test.h"
#include "ck-errno.h"
#include "kenv.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)

/* IOMMU_IOAS_IOVA_RANGES (0x84): not in the private uAPI copy. */
struct ku_iova_ranges {
	__u32 size, ioas_id, num_iovas, __reserved;
	__aligned_u64 allowed_iovas, out_iova_alignment;
};
#define KU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, 0x84)
#define KU_TEST_CMD_NR _IO(IOMMUFD_TYPE, 0xa0)

static char kpath[PATH_MAX];

/* A node under the dev root (/dev on the real kernel). */
static const char *node(const char *rel)
{
	const char *root = kenv_dev_root();

	snprintf(kpath, sizeof(kpath), "%s/%s", root ? root : "/dev", rel);
	return kpath;
}

static int open_node(const char *rel)
{
	int fd = open(node(rel), O_RDWR | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "%s: %s", kpath, strerror(errno));
	return fd;
}

/* The group node of an mtty instance, as its iommu_group link says (in
 * a static buffer). */
static const char *group_path(const char *uuid)
{
	static char gp[PATH_MAX];
	char link[PATH_MAX], rp[PATH_MAX], rel[32];

	snprintf(link, sizeof(link), "%s/iommu_group", kenv_sysfs_path(uuid));
	ck_assert_msg(realpath(link, rp), "%s: %s", link, strerror(errno));
	snprintf(rel, sizeof(rel), "vfio/%s", strrchr(rp, '/') + 1);
	snprintf(gp, sizeof(gp), "%s", node(rel));
	return gp;
}

static int open_group(const char *uuid)
{
	int fd = open(group_path(uuid), O_RDWR | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "group of %s: %s", uuid, strerror(errno));
	return fd;
}

/* Group + container with Type1 type; returns the device fd. */
static int type1_device(const char *uuid, int type, int *g, int *c)
{
	int dfd;

	*g = open_group(uuid);
	*c = open_node("vfio/vfio");
	ck_ok(ioctl(*g, VFIO_GROUP_SET_CONTAINER, c));
	ck_ok(ioctl(*c, VFIO_SET_IOMMU, type));
	dfd = ioctl(*g, VFIO_GROUP_GET_DEVICE_FD, uuid);
	ck_assert_int_ge(dfd, 0);
	return dfd;
}

static int iommufd_open(void)
{
	if (!kenv_has_iommufd())
		kenv_skip("no /dev/iommu");
	return open_node("iommu");
}

static uint32_t ioas_alloc(int ifd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	ck_ok(ioctl(ifd, IOMMU_IOAS_ALLOC, &a));
	return a.out_ioas_id;
}

static int destroy(int ifd, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	return ioctl(ifd, IOMMU_DESTROY, &d) ? -errno : 0;
}

/* The cdev of an mtty instance (its vfio-dev/vfioN). */
static int open_cdev(const char *uuid)
{
	char dir[PATH_MAX], rel[sizeof("vfio/devices/") + NAME_MAX] = "";
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/vfio-dev", kenv_sysfs_path(uuid));
	dp = opendir(dir);
	ck_assert_msg(dp, "%s: %s", dir, strerror(errno));
	while ((e = readdir(dp)))
		if (strncmp(e->d_name, "vfio", 4) == 0)
			snprintf(rel, sizeof(rel), "vfio/devices/%s", e->d_name);
	closedir(dp);
	ck_assert_msg(rel[0], "%s: no vfioN", dir);
	return open_node(rel);
}

/* The vfio-pci function's group + a Type1v2 container; its device fd. */
static int type1_pci(int *g, int *c)
{
	char rel[32];
	int dfd;

	snprintf(rel, sizeof(rel), "vfio/%d", kenv_pci_group());
	*g = open_node(rel);
	*c = open_node("vfio/vfio");
	ck_ok(ioctl(*g, VFIO_GROUP_SET_CONTAINER, c));
	ck_ok(ioctl(*c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	dfd = ioctl(*g, VFIO_GROUP_GET_DEVICE_FD, kenv_pci_bdf());
	ck_assert_msg(dfd >= 0, "GET_DEVICE_FD %s: %s", kenv_pci_bdf(),
		      strerror(errno));
	return dfd;
}

/* The vfio-pci function's cdev. */
static int open_pci_cdev(void)
{
	char rel[sizeof("vfio/devices/") + NAME_MAX];

	snprintf(rel, sizeof(rel), "vfio/devices/%s", kenv_pci_cdev());
	return open_node(rel);
}

static int bind_dev(int dfd, int ifd)
{
	struct vfio_device_bind_iommufd b = {
		.argsz = sizeof(b), .iommufd = ifd,
	};

	if (ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b) < 0)
		return -errno;
	return (int)b.out_devid;
}

static int attach(int dfd, uint32_t *pt)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at), .pt_id = *pt,
	};
	int r = ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);

	*pt = at.pt_id;
	return r < 0 ? -errno : 0;
}

/* A fixed-IOVA map; 0 or -errno. */
static int ioas_map(int ifd, uint32_t ioas, uint64_t iova, const void *va,
		    uint64_t len, uint32_t prot)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m), .ioas_id = ioas,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | prot,
		.user_va = (uintptr_t)va, .length = len, .iova = iova,
	};

	return ioctl(ifd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static int ioas_unmap(int ifd, uint32_t ioas, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas,
				      .iova = iova, .length = len };

	return ioctl(ifd, IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
}

/* IOAS_IOVA_RANGES into r (room for max); returns the count or -errno. */
static int iova_ranges(int ifd, uint32_t ioas, uint64_t (*r)[2], int max,
		       uint64_t *align)
{
	struct ku_iova_ranges c = { .size = sizeof(c), .ioas_id = ioas,
				    .num_iovas = max,
				    .allowed_iovas = (uintptr_t)r };
	int ret = ioctl(ifd, KU_IOAS_IOVA_RANGES, &c) ? -errno : 0;

	if (align)
		*align = c.out_iova_alignment;
	return ret ? ret : (int)c.num_iovas;
}

/* The selftest's mock domain on IOAS ioas; -errno, or the stdev id. */
static int mock_domain(int ifd, uint32_t ioas, uint32_t *hwpt)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN,
				    .id = ioas };

	if (ioctl(ifd, IOMMU_TEST_CMD, &c))
		return errno == ENOTTY ? (kenv_skip("no CONFIG_IOMMUFD_TEST"),
					  -ENOTTY) : -errno;
	if (hwpt)
		*hwpt = c.mock_domain.out_hwpt_id;
	return (int)c.mock_domain.out_stdev_id;
}

static int add_reserved(int ifd, uint32_t ioas, uint64_t start, uint64_t len)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_ADD_RESERVED,
				    .id = ioas,
				    .add_reserved = { start, len } };

	return ioctl(ifd, IOMMU_TEST_CMD, &c) ? -errno : 0;
}

/* Anonymous memory, touched, then made read-only. */
static void *ro_mem(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	memset(p, 0x5a, len);
	ck_ok(mprotect(p, len, PROT_READ));
	return p;
}

/* A Type1 MAP_DMA for reading and writing of 64 KiB of read-only pages
 * (ro_mem) at 1 MiB; the case unmaps vaddr. */
static struct vfio_iommu_type1_dma_map ro_map(void)
{
	return (struct vfio_iommu_type1_dma_map){
		.argsz = sizeof(struct vfio_iommu_type1_dma_map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)ro_mem(64 * KiB), .iova = 1 * MiB,
		.size = 64 * KiB,
	};
}

/* ------------------------------------------------------------------ */
/* Type1 container (contract 9), on an mtty group.                     */

START_TEST(container_before_iommu)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	int c = open_node("vfio/vfio");

	ck_assert_int_eq(ioctl(c, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU), 1);
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, 2 /* SPAPR */), 0);
	/* container.c: SET_IOMMU needs a group; other ioctls need SET_IOMMU */
	ck_errno(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL);
	ck_errno(ioctl(c, VFIO_IOMMU_GET_INFO, &info), EINVAL);
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &info), EINVAL);
	ck_errno(ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &info), EINVAL);
	ck_errno(ioctl(c, _IO(VFIO_TYPE, VFIO_BASE + 50)), EINVAL);
	ck_ok(close(c));
}
END_TEST

/* group.c: the group file is exclusive, GET_DEVICE_FD's order (name,
 * then container), SET_CONTAINER's (EBADF, EBADFD, then EINVAL once set),
 * SET_IOMMU's, device fds holding the group and the container. */
START_TEST(group_container)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int g, c, c2, p[2], bad = 999, dfd, dfd2;
	char gpath[PATH_MAX];

	g = open_group(KENV_MTTY2_UUID);
	snprintf(gpath, sizeof(gpath), "%s", kpath);
	ck_errno(open(gpath, O_RDWR | O_CLOEXEC), EBUSY);
	st.argsz = 4;
	ck_errno(ioctl(g, VFIO_GROUP_GET_STATUS, &st), EINVAL);
	st.argsz = sizeof(st);
	ck_ok(ioctl(g, VFIO_GROUP_GET_STATUS, &st));
	ck_assert_uint_eq(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	/* GET_DEVICE_FD: name first (ENODEV), then no container (EINVAL) */
	ck_errno(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "nosuch"), ENODEV);
	ck_errno(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY1_UUID), ENODEV);
	ck_errno(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID), EINVAL);
	ck_errno(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), EINVAL);
	/* SET_CONTAINER: EBADF, EBADFD, then EINVAL once set */
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &bad), EBADF);
	ck_ok(pipe(p));
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &p[0]), EBADFD);
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &g), EBADFD);
	c = open_node("vfio/vfio");
	c2 = open_node("vfio/vfio");
	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c));
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c2), EINVAL);
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &bad), EBADF);
	ck_ok(ioctl(g, VFIO_GROUP_GET_STATUS, &st));
	ck_assert_uint_eq(st.flags, VFIO_GROUP_FLAGS_VIABLE |
				    VFIO_GROUP_FLAGS_CONTAINER_SET);
	/* no SET_IOMMU yet: vfio_group_use_container -> EINVAL */
	ck_errno(ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID), EINVAL);
	ck_errno(ioctl(c, VFIO_SET_IOMMU, 7), ENODEV);
	ck_errno(ioctl(c, VFIO_SET_IOMMU, 9 /* UNMAP_ALL */), EINVAL);
	ck_errno(ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL);
	ck_ok(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ck_errno(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), EINVAL);
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, 10 /* UPDATE_VADDR */),
			 0); /* mdev present */
	dfd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID);
	ck_assert_int_ge(dfd, 0);
	dfd2 = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID); /* allowed */
	ck_assert_int_ge(dfd2, 0);
	ck_errno(ioctl(g, VFIO_GROUP_UNSET_CONTAINER), EBUSY);
	/* The container fd may go: the group holds the container. */
	ck_ok(close(c));
	ck_ok(ioctl(dfd, VFIO_DEVICE_RESET));
	/* Device fds keep the group open: a new open is still EBUSY. */
	ck_ok(close(g));
	ck_errno(open(gpath, O_RDWR | O_CLOEXEC), EBUSY);
	ck_ok(close(dfd));
	ck_ok(close(dfd2));
	g = open_group(KENV_MTTY2_UUID);
	ck_ok(ioctl(g, VFIO_GROUP_GET_STATUS, &st));
	ck_assert_uint_eq(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	/* UNSET_CONTAINER then SET again */
	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c2));
	ck_ok(ioctl(g, VFIO_GROUP_UNSET_CONTAINER));
	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c2));
	ck_errno(ioctl(g, _IO(VFIO_TYPE, VFIO_BASE + 50)), ENOTTY);
	ck_ok(close(g));
	ck_ok(close(c2));
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
}
END_TEST

/* An mtty device fd of the group path: GET_INFO, GET_REGION_INFO and
 * GET_IRQ_INFO as mtty answers them, the cdev-only ioctls, BAR0's scratch
 * register, config space (ids, BAR0 sizing), an index mtty has no access
 * for (EFAULT), a negative offset (the VFS's EINVAL), RESET, splice.
 * (Regions 2-5 stay fake-only: the real mtty would access out of bounds.) */
START_TEST(device_mtty)
{
	struct vfio_device_info info;
	struct vfio_region_info ri;
	struct {
		uint32_t argsz, flags, index, count;
	} irq = { sizeof(irq), 0, 0, 0 };
	uint8_t b = 0x5a, r = 0;
	uint32_t w;
	int g, c, dfd, p[2];

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	memset(&info, 0, sizeof(info));
	info.argsz = 12;
	ck_errno(ioctl(dfd, VFIO_DEVICE_GET_INFO, &info), EINVAL);
	info.argsz = 16;
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_INFO, &info));
	ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI);
	ck_assert_uint_eq(info.num_regions, 9);
	ck_assert_uint_eq(info.num_irqs, 5);
	memset(&ri, 0, sizeof(ri));
	ri.argsz = sizeof(ri);
	ri.index = 1;
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &ri));
	ck_assert_uint_eq(ri.size, 8);
	ck_assert_uint_eq(ri.offset, 1ULL << 40);
	ri.index = 4; /* size 0 but READ|WRITE, as mtty says */
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &ri));
	ck_assert_uint_eq(ri.size, 0);
	ck_assert_uint_eq(ri.flags, VFIO_REGION_INFO_FLAG_READ |
				    VFIO_REGION_INFO_FLAG_WRITE);
	irq.index = 2; /* mtty: INTx and MSI only */
	ck_errno(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq), EINVAL);
	irq.index = 0;
	ck_ok(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq));
	ck_assert_uint_eq(irq.flags, 7);
	ck_assert_uint_eq(irq.count, 1);
	ck_errno(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 50)), ENOTTY);
	/* cdev-only ioctls on a group-path fd fall through: ENOTTY */
	ck_errno(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &info), ENOTTY);
	ck_errno(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &info), ENOTTY);
	/* BIND on a group-path fd: EINVAL (after the argument checks) */
	{
		struct vfio_device_bind_iommufd bind = {
			.argsz = sizeof(bind), .iommufd = 0,
		};

		ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &bind), EINVAL);
	}
	/* BAR0's scratch register (UART_SCR, offset 7) keeps a byte */
	ck_assert_int_eq(pwrite(dfd, &b, 1, 7), 1);
	ck_assert_int_eq(pread(dfd, &r, 1, 7), 1);
	ck_assert_uint_eq(r, 0x5a);
	/* config space: mtty's vconfig (ids 0x4348:0x3253), ids read-only */
	w = 0;
	ck_assert_int_eq(pread(dfd, &w, 4, 7ULL << 40), 4);
	ck_assert_uint_eq(w, 0x32534348);
	ck_assert_int_eq(pwrite(dfd, &w, 4, 7ULL << 40), 4);
	ck_assert_int_eq(pread(dfd, &w, 4, 7ULL << 40), 4);
	ck_assert_uint_eq(w, 0x32534348);
	/* BAR0 sizing: all ones -> ~(8 - 1) | I/O */
	w = 0xffffffff;
	ck_assert_int_eq(pwrite(dfd, &w, 4, (7ULL << 40) + 0x10), 4);
	ck_assert_int_eq(pread(dfd, &w, 4, (7ULL << 40) + 0x10), 4);
	ck_assert_uint_eq(w, 0xfffffff9);
	/* an index mtty_read has no access for: EFAULT; a negative offset */
	ck_errno(pread(dfd, &r, 1, 8ULL << 40), EFAULT);
	ck_errno(pread(dfd, &r, 1, -1), EINVAL);
	ck_assert_int_eq(ioctl(dfd, VFIO_DEVICE_RESET), 0);
	/* splice never works on a device fd (no splice_read/write) */
	ck_ok(pipe(p));
	ck_errno(splice(dfd, NULL, p[1], NULL, 1, 0), EINVAL);
	ck_errno(splice(p[0], NULL, dfd, NULL, 1, 0), EINVAL);
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* vfio_device_fops_unl_ioctl + vfio_ioctl_device_feature (contract 2) on
 * mtty: argsz, unknown flags, GET with SET before the feature's ENOTTY;
 * mtty has no ->device_feature beyond migration and DMA logging. */
START_TEST(feature_generic)
{
	unsigned char buf[64];
	struct vfio_device_feature *ft = (void *)buf;
	int g, c, dfd;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	memset(buf, 0, sizeof(buf));
	/* contract 2: argsz < 8, unknown flags, GET&SET without PROBE */
	ft->argsz = 7;
	ft->flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_MIGRATION;
	ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), EINVAL);
	ft->argsz = sizeof(buf);
	ft->flags = VFIO_DEVICE_FEATURE_GET | (1u << 19) | 1;
	ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), EINVAL);
	ft->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | 2;
	ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), EINVAL);
	/* flags checks come before the ENOTTY of an unknown index */
	ft->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | 3;
	ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), EINVAL);
	/* mtty has no ->device_feature: ENOTTY for 0, 3, 4, 5, 10.. */
	for (unsigned int i = 0; i < 16; i++) {
		if ((i >= 1 && i <= 2) || (i >= 6 && i <= 9))
			continue;
		ft->flags = VFIO_DEVICE_FEATURE_GET | i;
		ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), ENOTTY);
		ft->flags = VFIO_DEVICE_FEATURE_PROBE | i;
		ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), ENOTTY);
	}
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* fd flags: O_CLOEXEC as asked on the nodes, O_NONBLOCK kept, FIOCLEX on a
 * container fd, and GET_DEVICE_FD's fd always O_CLOEXEC. */
START_TEST(fd_flags)
{
	int a = open(node("vfio/vfio"), O_RDWR | O_CLOEXEC);
	int b = open(node("vfio/vfio"), O_RDWR);
	int c = iommufd_open();
	int n = open(node("iommu"), O_RDWR | O_NONBLOCK);
	int g, dfd;

	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ge(n, 0);
	ck_assert(fcntl(a, F_GETFD) & FD_CLOEXEC);
	ck_assert(!(fcntl(b, F_GETFD) & FD_CLOEXEC));
	ck_assert(!(fcntl(n, F_GETFD) & FD_CLOEXEC));
	ck_assert(fcntl(n, F_GETFL) & O_NONBLOCK);
	ck_assert(!(fcntl(a, F_GETFL) & O_NONBLOCK));
	ck_ok(ioctl(b, FIOCLEX));
	ck_assert(fcntl(b, F_GETFD) & FD_CLOEXEC);
	g = open(group_path(KENV_MTTY2_UUID), O_RDWR);
	ck_assert_int_ge(g, 0);
	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &b));
	ck_ok(ioctl(b, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	dfd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID);
	ck_assert_int_ge(dfd, 0);
	ck_assert(fcntl(dfd, F_GETFD) & FD_CLOEXEC);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(a));
	ck_ok(close(b));
	ck_ok(close(c));
	ck_ok(close(n));
}
END_TEST

/* DMA_AVAIL of GET_INFO: the kernel's count of free mapping slots. */
static uint32_t dma_avail(int c)
{
	unsigned char buf[256] = { 0 };
	struct vfio_iommu_type1_info *info = (void *)buf;

	info->argsz = sizeof(buf);
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	/* MIGRATION at 24, DMA_AVAIL at 56 (then IOVA_RANGE with a PCI
	 * group) */
	ck_assert_uint_eq(((struct vfio_info_cap_header *)(buf + 56))->id,
			  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
	return *(uint32_t *)(buf + 64);
}

START_TEST(type1_info)
{
	unsigned char buf[256];
	struct vfio_iommu_type1_info *info = (void *)buf;
	struct vfio_iommu_type1_info_cap_migration *mig;
	struct vfio_info_cap_header *h;
	int g, c, dfd;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	memset(buf, 0xee, sizeof(buf));
	info->argsz = 15;
	ck_errno(ioctl(c, VFIO_IOMMU_GET_INFO, info), EINVAL);
	/* argsz 16: required size written back, only 16 bytes copied */
	info->argsz = 16;
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	ck_assert_uint_eq(info->argsz, 72);
	ck_assert_uint_eq(info->flags,
			  VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
	ck_assert_uint_eq(info->iova_pgsizes, ~0xfffULL);
	ck_assert_uint_eq(info->cap_offset, 0xeeeeeeee);
	/* argsz 71: still too small for the caps */
	memset(buf, 0, sizeof(buf));
	info->argsz = 71;
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	ck_assert_uint_eq(info->argsz, 72);
	ck_assert_uint_eq(info->cap_offset, 0);
	/* argsz 72: the chain MIGRATION -> DMA_AVAIL, no IOVA_RANGE */
	memset(buf, 0, sizeof(buf));
	info->argsz = 72;
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	ck_assert_uint_eq(info->argsz, 72);
	ck_assert_uint_eq(info->cap_offset, 24);
	mig = (void *)(buf + 24);
	ck_assert_uint_eq(mig->header.id, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION);
	ck_assert_uint_eq(mig->header.version, 1);
	ck_assert_uint_eq(mig->header.next, 56);
	ck_assert_uint_eq(mig->flags, 0);
	ck_assert_uint_eq(mig->pgsize_bitmap, 4096);
	ck_assert_uint_eq(mig->max_dirty_bitmap_size, 268435456);
	h = (void *)(buf + 56);
	ck_assert_uint_eq(h->id, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
	ck_assert_uint_eq(h->version, 1);
	ck_assert_uint_eq(h->next, 0);
	ck_assert_uint_eq(*(uint32_t *)(buf + 64), 65535);
	/* mdev present: no UPDATE_VADDR */
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, 10), 0);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

START_TEST(type1_map_unmap)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	struct vfm_unmap_dirty un;
	__u64 bits[4];
	int g, c, dfd;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	/* mdev only: nothing is pinned at MAP time, any address does */
	map.vaddr = 0x7f0000000000ULL;
	map.iova = 0x100000;
	map.size = 0x10000;
	map.argsz = sizeof(map) - 1;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.argsz = sizeof(map);
	map.flags |= 1u << 3;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.flags = 0;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_VADDR;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	map.iova = 0x100800;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.iova = 0x100000;
	map.size = 0;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.size = 0x10000;
	map.iova = ~0xfffULL;
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL); /* wraps */
	map.iova = 0x100000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EEXIST);
	map.iova = 0x108000; /* overlaps */
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EEXIST);
	map.iova = 0x200000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	map.iova = 0x80000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_assert_uint_eq(dma_avail(c), 65535 - 3);
	/* VADDR update with mdev present: EBUSY (vfio_dma_do_unmap) */
	memset(&un, 0, sizeof(un));
	un.argsz = sizeof(struct vfio_iommu_type1_dma_unmap);
	un.flags = VFIO_DMA_UNMAP_FLAG_VADDR;
	un.iova = 0x100000;
	un.size = 0x10000;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EBUSY);

	/* UNMAP: argsz, flags, combinations */
	un.argsz = sizeof(struct vfio_iommu_type1_dma_unmap) - 1;
	un.flags = 0;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.argsz = sizeof(struct vfio_iommu_type1_dma_unmap);
	un.flags = 1u << 3;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
		     VFIO_DMA_UNMAP_FLAG_ALL;
	un.argsz = sizeof(un);
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	un.argsz = sizeof(un) - 1;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	/* with the bitmap but tracking is off: EINVAL */
	un.argsz = sizeof(un);
	un.bitmap.pgsize = 4096;
	un.bitmap.size = sizeof(bits);
	un.bitmap.data = bits;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	/* ALL with iova or size: EINVAL */
	un.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	un.argsz = sizeof(struct vfio_iommu_type1_dma_unmap);
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	/* v2 bisection: EINVAL, nothing removed */
	un.flags = 0;
	un.iova = 0x100000;
	un.size = 0x8000;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.iova = 0x108000;
	un.size = 0x100000;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.iova = 0x101000; /* aligned, but bisects */
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.iova = 0x100800;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	un.size = 0;
	un.iova = 0x100000;
	ck_errno(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un), EINVAL);
	ck_assert_uint_eq(dma_avail(c), 65535 - 3);
	/* a hole: success, size 0 */
	un.iova = 0x400000;
	un.size = 0x1000;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0);
	/* two mappings and the hole between */
	un.iova = 0x80000;
	un.size = 0x90000;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0x20000);
	ck_assert_uint_eq(dma_avail(c), 65535 - 1);
	/* ALL */
	un.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	un.iova = 0;
	un.size = 0;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0x10000);
	ck_assert_uint_eq(dma_avail(c), 65535);
	/* unknown container ioctl once the IOMMU is set: ENOTTY */
	ck_errno(ioctl(c, _IO(VFIO_TYPE, VFIO_BASE + 50)), ENOTTY);
	/* mappings stay until the last group leaves the container */
	map.iova = 0x100000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

START_TEST(type1_v1_unmap)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ,
		.vaddr = 0x10000, .iova = 0x100000, .size = 0x10000,
	};
	struct vfio_iommu_type1_dma_unmap un = { .argsz = sizeof(un) };
	int g = open_group(KENV_MTTY2_UUID);
	int c = open_node("vfio/vfio");

	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c));
	ck_ok(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	/* v1: from inside a mapping -> success, nothing unmapped */
	un.iova = 0x108000;
	un.size = 0x1000;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0);
	/* covering the first iova unmaps the whole mapping */
	un.iova = 0x100000;
	un.size = 0x1000;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0x10000);
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* vfio_dma_do_map pins only with a domain (vfio_pin_map_dma): an mdev's
 * container maps read-only pages for writing; the device would pin them
 * later (vfio_pin_pages), which mtty never does. */
START_TEST(type1_ro_pages_mdev)
{
	struct vfio_iommu_type1_dma_map map = ro_map();
	int g, c, dfd;

	dfd = type1_device(KENV_MTTY1_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
	munmap((void *)(uintptr_t)map.vaddr, map.size);
}
END_TEST

/* An IOMMU-backed (PCI) group in the container: the chain gains
 * IOVA_RANGE (the domain's aperture less the MSI window), iova_pgsizes is
 * the domain's, UPDATE_VADDR is there (moved from test-fake's core). */
START_TEST(type1_info_pci)
{
	unsigned char buf[256];
	struct vfio_iommu_type1_info *info = (void *)buf;
	struct vfio_info_cap_header *h;
	uint64_t *range = (void *)(buf + 88);
	int g, c, dfd;

	dfd = type1_pci(&g, &c);
	memset(buf, 0, sizeof(buf));
	info->argsz = 16;
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	ck_assert_uint_eq(info->argsz, 24 + 32 + 16 + 48);
	ck_assert_uint_eq(info->iova_pgsizes, KENV_PCI_PGSIZES);
	info->argsz = sizeof(buf);
	ck_ok(ioctl(c, VFIO_IOMMU_GET_INFO, info));
	h = (void *)(buf + 56);
	ck_assert_uint_eq(h->next, 72);
	h = (void *)(buf + 72);
	ck_assert_uint_eq(h->id, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
	ck_assert_uint_eq(h->next, 0);
	ck_assert_uint_eq(*(uint32_t *)(buf + 80), 2);
	ck_assert_uint_eq(range[0], 0);
	ck_assert_uint_eq(range[1], KENV_PCI_MSI_START - 1);
	ck_assert_uint_eq(range[2], KENV_PCI_MSI_LAST + 1);
	ck_assert_uint_eq(range[3], KENV_PCI_APERTURE_LAST);
	ck_assert_int_eq(ioctl(c, VFIO_CHECK_EXTENSION, 10 /* UPDATE_VADDR */),
			 1);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* A group with a domain pins at MAP_DMA (vfio_pin_map_dma): FOLL_WRITE
 * on read-only pages is EFAULT, leaving nothing mapped (no DMA entry
 * taken, an UNMAP of everything unmaps 0 bytes), after the IOVA checks
 * (the MSI window: EINVAL); a read-only map of them pins (moved from
 * test-fake's core; the mdev case, no pin, is type1_ro_pages_mdev). */
START_TEST(type1_ro_pages_pci)
{
	struct vfio_iommu_type1_dma_map map = ro_map();
	struct vfio_iommu_type1_dma_unmap un = {
		.argsz = sizeof(un), .flags = VFIO_DMA_UNMAP_FLAG_ALL,
	};
	int g, c, dfd;

	dfd = type1_pci(&g, &c);
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EFAULT);
	ck_assert_uint_eq(dma_avail(c), 65535);
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_uint_eq(un.size, 0);
	map.iova = KENV_PCI_MSI_START; /* the MSI window first */
	ck_errno(ioctl(c, VFIO_IOMMU_MAP_DMA, &map), EINVAL);
	map.iova = 1 * MiB;
	map.flags = VFIO_DMA_MAP_FLAG_READ;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_assert_uint_eq(dma_avail(c), 65534);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
	munmap((void *)(uintptr_t)map.vaddr, map.size);
}
END_TEST

/* What vfio-pci answers of the edu function through a group device fd
 * (kenv.h, PCI): GET_INFO (no reset method: no RESET flag, RESET EINVAL),
 * each region, each IRQ index, its ids in config space, BAR0's end. */
START_TEST(device_pci)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info ri;
	struct {
		uint32_t argsz, flags, index, count;
	} irq;
	/* VFIO_IRQ_INFO_*: EVENTFD 1, MASKABLE 2, AUTOMASKED 4, NORESIZE 8 */
	static const struct {
		int err;
		uint32_t flags, count;
	} want_irq[5] = {
		{ 0, 1 | 2 | 4, 1 }, /* INTx, pin A */
		{ 0, 1 | 8, 1 },     /* MSI, one vector */
		{ 0, 1 | 8, 0 },     /* no MSI-X table */
		{ EINVAL, 0, 0 },    /* ERR: not PCIe */
		{ 0, 1 | 8, 1 },     /* REQ */
	};
	unsigned char cfg[0x30];
	uint32_t v;
	int g, c, dfd;

	dfd = type1_pci(&g, &c);
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_INFO, &info));
	ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI);
	ck_assert_uint_eq(info.num_regions, 9);
	ck_assert_uint_eq(info.num_irqs, 5);
	ck_errno(ioctl(dfd, VFIO_DEVICE_RESET), EINVAL);
	for (uint32_t i = 0; i < 10; i++) {
		uint64_t size = i == 0 ? KENV_PCI_BAR0_SIZE
			      : i == 7 ? KENV_PCI_CONFIG_SIZE : 0;
		uint32_t flags = i == 0 ? VFIO_REGION_INFO_FLAG_READ |
					  VFIO_REGION_INFO_FLAG_WRITE |
					  VFIO_REGION_INFO_FLAG_MMAP
			       : i == 7 ? VFIO_REGION_INFO_FLAG_READ |
					  VFIO_REGION_INFO_FLAG_WRITE : 0;

		ri = (struct vfio_region_info){ .argsz = sizeof(ri), .index = i };
		if (i >= 8) { /* no VGA; past num_regions */
			ck_errno(ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &ri),
				 EINVAL);
			continue;
		}
		ck_ok(ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &ri));
		ck_assert_msg(ri.flags == flags && ri.size == size,
			      "region %u: flags %#x size %#llx", i, ri.flags,
			      (unsigned long long)ri.size);
		ck_assert_uint_eq(ri.offset, (uint64_t)i << 40);
		ck_assert_uint_eq(ri.argsz, sizeof(ri));
		ck_assert_uint_eq(ri.cap_offset, 0);
	}
	for (uint32_t i = 0; i < 6; i++) {
		irq = (typeof(irq)){ sizeof(irq), 0, i, 0 };
		if (i == 5 || want_irq[i].err) {
			ck_errno(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq),
				 EINVAL);
			continue;
		}
		ck_ok(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq));
		ck_assert_msg(irq.flags == want_irq[i].flags &&
			      irq.count == want_irq[i].count,
			      "IRQ index %u: flags %#x count %u", i, irq.flags,
			      irq.count);
	}
	/* config space: the ids */
	ck_assert_int_eq(pread(dfd, cfg, sizeof(cfg), 7ULL << 40),
			 (ssize_t)sizeof(cfg));
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, KENV_PCI_VENDOR);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, KENV_PCI_DEVICE);
	ck_assert_uint_eq(cfg[9] | cfg[10] << 8 | (uint32_t)cfg[11] << 16,
			  KENV_PCI_CLASS);
	ck_assert_uint_eq(cfg[0x2c] | cfg[0x2d] << 8, KENV_PCI_SUBSYS_VENDOR);
	ck_assert_uint_eq(cfg[0x2e] | cfg[0x2f] << 8, KENV_PCI_SUBSYS_DEVICE);
	/* past cfg_size, or across it: EFAULT (vfio_config_do_rw) */
	ck_errno(pread(dfd, cfg, 4, (7ULL << 40) + KENV_PCI_CONFIG_SIZE),
		 EFAULT);
	ck_errno(pread(dfd, cfg, 4, (7ULL << 40) + KENV_PCI_CONFIG_SIZE - 2),
		 EFAULT);
	/* BAR0: its last word reads, past its end EINVAL; BAR1: nothing */
	ck_assert_int_eq(pread(dfd, &v, 4, KENV_PCI_BAR0_SIZE - 4), 4);
	ck_errno(pread(dfd, &v, 4, KENV_PCI_BAR0_SIZE), EINVAL);
	ck_errno(pread(dfd, &v, 4, 1ULL << 40), EINVAL);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* ------------------------------------------------------------------ */
/* mtty's sysfs, data fds and PRECOPY_INFO (contract 1, 4, 16).        */

/* The first line of a sysfs attribute (in a static buffer). */
static const char *attr(const char *path)
{
	static char buf[128];
	FILE *fp = fopen(path, "re");

	ck_assert_msg(fp, "%s: %s", path, strerror(errno));
	ck_assert_msg(fgets(buf, sizeof(buf), fp), "%s: empty", path);
	fclose(fp);
	return buf;
}

static void sysfs_one(const char *uuid, const char *type, const char *name)
{
	const char *root = kenv_sysfs_root() ? kenv_sysfs_root() : "/sys";
	char p[PATH_MAX + 64], dev[PATH_MAX], rp[PATH_MAX], want[128];
	char grp[NAME_MAX + 1], cdev[NAME_MAX + 1] = "", rel[2 * NAME_MAX];
	struct dirent *e;
	DIR *dp;

	/* the bus link resolves to the child of mtty's parent device */
	snprintf(p, sizeof(p), "%s/bus/mdev/devices/%s", root, uuid);
	ck_assert_msg(realpath(p, dev), "%s: %s", p, strerror(errno));
	snprintf(want, sizeof(want), "/devices/virtual/mtty/mtty/%s", uuid);
	ck_assert_msg(strstr(dev, want), "%s -> %s", p, dev);
	snprintf(p, sizeof(p), "%s/mdev_type", dev);
	ck_assert_ptr_nonnull(realpath(p, rp));
	ck_assert_str_eq(strrchr(rp, '/') + 1, type);
	snprintf(p, sizeof(p), "%s/mdev_type/name", dev);
	ck_assert_str_eq(attr(p), name);
	snprintf(p, sizeof(p), "%s/driver", dev);
	ck_assert_ptr_nonnull(realpath(p, rp));
	ck_assert_str_eq(strrchr(rp, '/'), "/mtty");
	/* an emulated group is named like a no-IOMMU one; its node */
	snprintf(p, sizeof(p), "%s/iommu_group", dev);
	ck_assert_ptr_nonnull(realpath(p, rp));
	snprintf(grp, sizeof(grp), "%s", strrchr(rp, '/') + 1);
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s/name", root, grp);
	ck_assert_str_eq(attr(p), "vfio-noiommu\n");
	snprintf(rel, sizeof(rel), "vfio/%s", grp);
	ck_assert_int_eq(access(node(rel), F_OK), 0);
	/* the cdev: one vfioN under vfio-dev, its class link back, its node */
	snprintf(p, sizeof(p), "%s/vfio-dev", dev);
	dp = opendir(p);
	ck_assert_msg(dp, "%s: %s", p, strerror(errno));
	while ((e = readdir(dp)))
		if (strncmp(e->d_name, "vfio", 4) == 0) {
			ck_assert_str_eq(cdev, "");
			snprintf(cdev, sizeof(cdev), "%s", e->d_name);
		}
	closedir(dp);
	ck_assert_str_ne(cdev, "");
	snprintf(p, sizeof(p), "%s/class/vfio-dev/%s/device", root, cdev);
	ck_assert_ptr_nonnull(realpath(p, rp));
	ck_assert_str_eq(rp, dev);
	snprintf(rel, sizeof(rel), "vfio/devices/%s", cdev);
	ck_assert_int_eq(access(node(rel), F_OK), 0);
}

/* What the library reads of an mdev (mdev_core.c, mdev_sysfs.c, vfio's
 * group.c and device_cdev.c), on an mtty-1 and an mtty-2. */
START_TEST(sysfs_mtty)
{
	sysfs_one(KENV_MTTY1_UUID, "mtty-1", "Single port serial\n");
	sysfs_one(KENV_MTTY2_UUID, "mtty-2", "Dual port serial\n");
	ck_assert_int_eq(access(node("vfio/vfio"), F_OK), 0);
	ck_assert_int_eq(access(node("iommu"), F_OK), 0);
}
END_TEST

/* Raw VFIO_DEVICE_FEATURE with a payload of n zero bytes. */
static int feature(int dfd, uint32_t flags, uint32_t n)
{
	unsigned char buf[sizeof(struct vfio_device_feature) + 16] = { 0 };
	struct vfio_device_feature *ft = (void *)buf;

	ck_assert_uint_le(n, 16);
	ft->argsz = (uint32_t)sizeof(*ft) + n;
	ft->flags = flags;
	return ioctl(dfd, VFIO_DEVICE_FEATURE, ft);
}

/* Raw MIG_DEVICE_STATE SET: ioctl's result; *out_fd the new fd or -1. */
static int mig_set(int dfd, uint32_t state, int *out_fd)
{
	unsigned char buf[sizeof(struct vfio_device_feature) +
			  sizeof(struct vfio_device_feature_mig_state)] = { 0 };
	struct vfio_device_feature *ft = (void *)buf;
	struct vfio_device_feature_mig_state *ms = (void *)ft->data;
	int r;

	ft->argsz = sizeof(buf);
	ft->flags = VFIO_DEVICE_FEATURE_SET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	ms->device_state = state;
	ms->data_fd = -1;
	r = ioctl(dfd, VFIO_DEVICE_FEATURE, ft);
	if (out_fd)
		*out_fd = ms->data_fd;
	return r;
}

static int precopy_info(int fd, uint32_t argsz, uint32_t flags,
			struct vfio_precopy_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->argsz = argsz;
	pi->flags = flags;
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, pi);
}

/* PRECOPY_INFO with flags, which must answer rflags, initial, dirty 0. */
#define ck_precopy(fd_, fl_, rfl_, init_)                                     \
	do {                                                                  \
		struct vfio_precopy_info pi_;                                 \
		ck_ok(precopy_info(fd_, sizeof(pi_), fl_, &pi_));             \
		ck_assert_uint_eq(pi_.flags, (rfl_));                         \
		ck_assert_uint_eq(pi_.initial_bytes, (init_));                \
		ck_assert_uint_eq(pi_.dirty_bytes, 0);                        \
	} while (0)

/* Raw MIG_DEVICE_STATE GET. */
static int mig_get(int dfd)
{
	unsigned char buf[sizeof(struct vfio_device_feature) +
			  sizeof(struct vfio_device_feature_mig_state)] = { 0 };
	struct vfio_device_feature *ft = (void *)buf;
	struct vfio_device_feature_mig_state *ms = (void *)ft->data;

	ft->argsz = sizeof(buf);
	ft->flags = VFIO_DEVICE_FEATURE_GET |
		    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	ck_ok(ioctl(dfd, VFIO_DEVICE_FEATURE, ft));
	return (int)ms->device_state;
}

/* vfio_ioctl_device_feature_mig_device_state and mtty_set_state, raw (the
 * kernel's side of test-fake.c's arc log and ioctl counters): GET's minsz,
 * one SET walking RUNNING -> STOP inside the kernel, no fd; a target out
 * of the table or ERROR is EINVAL with the state kept; the state outlives
 * the device fd (mtty does not reset at close, a vfio-pci variant does);
 * RESET ends in RUNNING. */
START_TEST(mig_state_raw)
{
	int g, c, dfd, fd = 0;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	ck_assert_int_eq(mig_get(dfd), VFIO_DEVICE_STATE_RUNNING);
	ck_errno(feature(dfd, VFIO_DEVICE_FEATURE_GET |
			      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 4), EINVAL);
	ck_assert_int_eq(feature(dfd, VFIO_DEVICE_FEATURE_PROBE |
				      VFIO_DEVICE_FEATURE_GET |
				      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 0),
			 0);
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP, &fd));
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(mig_get(dfd), VFIO_DEVICE_STATE_STOP);
	ck_errno(mig_set(dfd, 8, NULL), EINVAL);
	ck_errno(mig_set(dfd, VFIO_DEVICE_STATE_ERROR, NULL), EINVAL);
	ck_assert_int_eq(mig_get(dfd), VFIO_DEVICE_STATE_STOP);
	ck_ok(close(dfd));
	dfd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, KENV_MTTY2_UUID);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(mig_get(dfd), VFIO_DEVICE_STATE_STOP);
	ck_ok(ioctl(dfd, VFIO_DEVICE_RESET));
	ck_assert_int_eq(mig_get(dfd), VFIO_DEVICE_STATE_RUNNING);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* A saving data fd's VFS checks (mtty_save_fops: stream_open, read only,
 * no splice_read, no poll) and a resuming one's (write only). */
START_TEST(data_fd_vfs)
{
	struct pollfd pfd[2];
	int g, c, dfd, fd, rfd, p[2];
	loff_t off = 0;
	char ch = 0;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_errno(pread(fd, &ch, 1, 0), ESPIPE);
	ck_errno(pwrite(fd, &ch, 1, 0), ESPIPE);
	ck_errno(write(fd, &ch, 1), EBADF); /* saving fd */
	ck_ok(pipe(p));
	ck_errno(splice(fd, NULL, p[1], NULL, 1, 0), EINVAL);
	ck_errno(splice(p[0], NULL, fd, NULL, 1, 0), EBADF);
	ck_errno(splice(p[1], NULL, fd, NULL, 1, 0), EBADF); /* O_WRONLY in */
	ck_errno(splice(fd, NULL, p[1], &off, 1, 0), ESPIPE);
	ck_errno(splice(fd, &off, p[1], NULL, 1, 0), EINVAL);
	/* always ready (DEFAULT_POLLMASK), real fds polled alongside */
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = p[0];
	pfd[1].events = POLLIN;
	ck_assert_int_eq(poll(pfd, 2, 1000), 1);
	ck_assert_int_eq(pfd[0].revents, POLLIN);
	ck_assert_int_eq(pfd[1].revents, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(poll(pfd, 2, 0), 2);
	ck_assert_int_eq(pfd[1].revents, POLLIN);
	ck_ok(close(fd));
	/* resuming: write only, a stream too */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP, NULL));
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_RESUMING, &rfd));
	ck_assert_int_ge(rfd, 0);
	ck_assert(fcntl(rfd, F_GETFD) & FD_CLOEXEC);
	ck_errno(read(rfd, &ch, 1), EBADF);
	ck_errno(pread(rfd, &ch, 1, 0), ESPIPE);
	ck_errno(pwrite(rfd, &ch, 1, 0), ESPIPE);
	ck_errno(splice(rfd, NULL, p[1], NULL, 1, 0), EBADF);
	ck_errno(splice(p[0], NULL, rfd, NULL, 1, 0), EINVAL);
	ck_ok(close(rfd));
	ck_ok(ioctl(dfd, VFIO_DEVICE_RESET));
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* mtty_precopy_ioctl (6.12): the flags come back as sent (no
 * PRECOPY_INFOv2), initial_bytes is what is left of the 24-byte header,
 * dirty_bytes 0, EINVAL outside PRE_COPY(_P2P) or below minsz; any other
 * ioctl on a saving fd is ENOTTY, and a resuming fd has none. */
START_TEST(precopy_info_mtty)
{
	struct vfio_precopy_info pi;
	uint8_t stream[128];
	int g, c, dfd, fd, fd2, rfd;
	size_t n = 0;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ck_assert_int_ge(fd, 0);
	ck_precopy(fd, 1, 1, 24);
	ck_precopy(fd, 0xdeadbeef, 0xdeadbeef, 24);
	ck_errno(precopy_info(fd, 23, 0, &pi), EINVAL);
	ck_assert_int_eq(read(fd, stream, 10), 10);
	ck_precopy(fd, 0, 0, 14);
	ck_assert_int_eq(read(fd, stream + 10, sizeof(stream) - 10), 14);
	n = 24;
	ck_precopy(fd, 0, 0, 0);
	/* mtty: read() 0, not ENOMSG, at the end of precopy data */
	ck_assert_int_eq(read(fd, stream + n, sizeof(stream) - n), 0);
	ck_errno(ioctl(fd, VFIO_DEVICE_RESET), ENOTTY);
	ck_ok(ioctl(fd, FIOCLEX));
	/* PRE_COPY_P2P: the same fd, no new one */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY_P2P, &fd2));
	ck_assert_int_eq(fd2, -1);
	ck_precopy(fd, 7, 7, 0);
	/* STOP_COPY: the ports appended to the same fd; no precopy info */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP_COPY, &fd2));
	ck_assert_int_eq(fd2, -1);
	ck_errno(precopy_info(fd, sizeof(pi), 0, &pi), EINVAL);
	ck_assert_int_eq(read(fd, stream + n, sizeof(stream) - n), 96 - 24);
	n = 96;
	ck_assert_int_eq(read(fd, stream + n, sizeof(stream) - n), 0);
	ck_ok(close(fd));
	/* the stream loads back; a resuming fd answers no ioctl */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP, NULL));
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_RESUMING, &rfd));
	ck_assert_int_ge(rfd, 0);
	ck_errno(precopy_info(rfd, sizeof(pi), 0, &pi), ENOTTY);
	ck_assert_int_eq(write(rfd, stream, n), (ssize_t)n);
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP, NULL));
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_RUNNING, NULL));
	ck_ok(close(rfd));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* PRECOPY_INFOv2 (VFIO_DEVICE_FEATURE 12, not in 6.12): mtty has no
 * ->device_feature, so SET, PROBE|SET and GET are ENOTTY. */
START_TEST(precopy_v2_mtty)
{
	const uint32_t f12 = VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2;
	int g, c, dfd;

	dfd = type1_device(KENV_MTTY2_UUID, VFIO_TYPE1v2_IOMMU, &g, &c);
	ck_errno(feature(dfd, VFIO_DEVICE_FEATURE_SET | f12, 0), ENOTTY);
	ck_errno(feature(dfd, VFIO_DEVICE_FEATURE_PROBE |
			      VFIO_DEVICE_FEATURE_SET | f12, 0), ENOTTY);
	ck_errno(feature(dfd, VFIO_DEVICE_FEATURE_GET | f12, 0), ENOTTY);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* ------------------------------------------------------------------ */
/* iommufd (contract 10, 11).                                          */

/* device_cdev.c and iommufd.c on an mtty cdev: nothing answers before
 * BIND; BIND's order (argsz/flags/fd sign, the group's block, the fd);
 * the single open; ATTACH to an IOAS only (an mdev's access), DESTROY of
 * what is in use, DETACH; the bound device keeping the iommufd alive. */
START_TEST(cdev_mdev)
{
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	unsigned char ft[16] = { 0 };
	int dfd, dfd2, ifd = iommufd_open(), g, c, p[2], devid;
	uint64_t r4[4][2], align;
	uint32_t ioas, pt;
	uint8_t r;

	dfd = open_cdev(KENV_MTTY2_UUID);
	/* before BIND every other ioctl, read and write: EINVAL */
	*(uint32_t *)ft = sizeof(ft);
	ck_errno(ioctl(dfd, VFIO_DEVICE_FEATURE, ft), EINVAL);
	ck_errno(ioctl(dfd, VFIO_DEVICE_RESET), EINVAL);
	ck_errno(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), EINVAL);
	ck_errno(pread(dfd, &r, 1, 0), EINVAL);
	ck_errno(read(dfd, &r, 1), EINVAL);
	/* BIND: argsz, flags, iommufd < 0 */
	b.argsz = 15;
	b.iommufd = ifd;
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EINVAL);
	b.argsz = sizeof(b);
	b.flags = 1;
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EINVAL);
	b.flags = 0;
	b.iommufd = -1;
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EINVAL);
	/* group open -> EBUSY, before the iommufd is even looked at */
	g = open_group(KENV_MTTY2_UUID);
	b.iommufd = 999;
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EBUSY);
	ck_ok(close(g));
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EBADF);
	ck_ok(pipe(p));
	b.iommufd = p[0];
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EBADFD);
	c = open_node("vfio/vfio");
	b.iommufd = c;
	ck_errno(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b), EBADFD);
	devid = bind_dev(dfd, ifd);
	ck_assert_int_gt(devid, 0);
	ck_assert_int_eq(bind_dev(dfd, ifd), -EINVAL); /* already bound */
	/* the group is blocked while a cdev fd is bound */
	ck_errno(open(group_path(KENV_MTTY2_UUID), O_RDWR | O_CLOEXEC), EBUSY);
	/* a second cdev fd cannot bind (vfio_df_open: single open) */
	dfd2 = open_cdev(KENV_MTTY2_UUID);
	ck_assert_int_eq(bind_dev(dfd2, ifd), -EINVAL);
	ck_ok(close(dfd2));
	/* now the device answers */
	ck_assert_int_eq(ioctl(dfd, VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(pread(dfd, &r, 1, 0), 1);
	/* ATTACH: argsz, flags, unknown id, non-IOAS */
	at.argsz = 11;
	ck_errno(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), EINVAL);
	at.argsz = sizeof(at);
	at.flags = 1;
	ck_errno(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), EINVAL);
	at.flags = 0;
	at.pt_id = 77;
	ck_errno(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), ENOENT);
	pt = devid; /* an access object */
	ck_assert_int_eq(attach(dfd, &pt), -ENOENT);
	ioas = ioas_alloc(ifd);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_assert_uint_eq(pt, ioas); /* emulated: no HWPT */
	/* a pinning access makes the IOAS page-aligned */
	ck_assert_int_eq(iova_ranges(ifd, ioas, r4, 4, &align), 1);
	ck_assert_uint_eq(align, 4096);
	pt = ioas; /* same IOAS again: 0 */
	ck_assert_int_eq(attach(dfd, &pt), 0);
	/* DESTROY: bound access and attached IOAS are busy */
	ck_assert_int_eq(destroy(ifd, devid), -EBUSY);
	ck_assert_int_eq(destroy(ifd, ioas), -EBUSY);
	ck_assert_int_eq(destroy(ifd, 1000), -ENOENT);
	/* DETACH: argsz, flags */
	dt.argsz = 7;
	ck_errno(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), EINVAL);
	dt.argsz = sizeof(dt);
	dt.flags = 2;
	ck_errno(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt), EINVAL);
	dt.flags = 0;
	ck_ok(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt));
	ck_ok(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt)); /* again: 0 */
	ck_assert_int_eq(iova_ranges(ifd, ioas, r4, 4, &align), 1);
	ck_assert_uint_eq(align, 1);
	ck_assert_int_eq(destroy(ifd, ioas), 0);
	ck_assert_int_eq(destroy(ifd, ioas), -ENOENT);
	/* the bound device keeps the iommufd alive after its fd closes */
	ioas = ioas_alloc(ifd);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_ok(close(ifd));
	ck_assert_int_eq(ioctl(dfd, VFIO_DEVICE_RESET), 0);
	ck_ok(close(dfd)); /* unbind: detach, access destroyed */
	/* and the group opens again */
	g = open_group(KENV_MTTY2_UUID);
	ck_ok(close(g));
	ck_ok(close(c));
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
}
END_TEST

/* An mdev's access cannot be attached to a HWPT (contract 10.5;
 * iommufd_access_attach looks up an IOAS only): the mock domain's HWPT is
 * ENOENT to an mtty cdev, its IOAS is fine. */
START_TEST(cdev_mdev_hwpt)
{
	int ifd = iommufd_open(), m;
	uint32_t ioas = ioas_alloc(ifd), hwpt = 0, pt;

	ck_assert_int_gt(mock_domain(ifd, ioas, &hwpt), 0);
	ck_assert_uint_ne(hwpt, 0);
	m = open_cdev(KENV_MTTY2_UUID);
	ck_assert_int_gt(bind_dev(m, ifd), 0);
	pt = hwpt;
	ck_assert_int_eq(attach(m, &pt), -ENOENT);
	pt = ioas;
	ck_assert_int_eq(attach(m, &pt), 0);
	ck_assert_uint_eq(pt, ioas);
	ck_ok(close(m));
	ck_ok(close(ifd));
}
END_TEST

/* A PCI function's cdev: a device object (GET_HW_INFO answers for it;
 * VT-d, no dirty tracking on QEMU's), the automatic HWPT an IOAS gets (a
 * paging HWPT without dirty ops: SET_DIRTY_TRACKING finds it and refuses,
 * EOPNOTSUPP, where an IOAS id is ENOENT), reused for the same IOAS,
 * attach to the HWPT itself, the wrong ids, DESTROY of what is in use, the
 * IOAS aligned to the domain's page while attached, detach and unbind
 * taking the automatic HWPT along (moved from test-fake's core). */
START_TEST(cdev_pci)
{
	struct iommu_hw_info hi = { .size = sizeof(hi) };
	struct iommu_hwpt_set_dirty_tracking sd = { .size = sizeof(sd) };
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	uint64_t r[4][2], align;
	int dfd, ifd, devid;
	uint32_t ioas, pt, hwpt;

	ifd = iommufd_open();
	dfd = open_pci_cdev();
	ioas = ioas_alloc(ifd);
	devid = bind_dev(dfd, ifd);
	ck_assert_int_gt(devid, 0);
	hi.dev_id = (uint32_t)devid;
	ck_ok(ioctl(ifd, IOMMU_GET_HW_INFO, &hi));
	ck_assert_uint_eq(hi.out_data_type, IOMMU_HW_INFO_TYPE_INTEL_VTD);
	ck_assert_uint_eq(hi.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING, 0);
	hi.dev_id = ioas;
	ck_errno(ioctl(ifd, IOMMU_GET_HW_INFO, &hi), ENOENT);
	/* IOAS -> auto HWPT; pt_id rewritten */
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	hwpt = pt;
	ck_assert_uint_ne(hwpt, ioas);
	sd.hwpt_id = hwpt;
	ck_errno(ioctl(ifd, IOMMU_HWPT_SET_DIRTY_TRACKING, &sd), EOPNOTSUPP);
	sd.hwpt_id = ioas;
	ck_errno(ioctl(ifd, IOMMU_HWPT_SET_DIRTY_TRACKING, &sd), ENOENT);
	/* the same IOAS again reuses the auto domain */
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_assert_uint_eq(pt, hwpt);
	/* attach to the HWPT itself */
	pt = hwpt;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_assert_uint_eq(pt, hwpt);
	/* another object type -> EINVAL; unknown -> ENOENT */
	pt = (uint32_t)devid;
	ck_assert_int_eq(attach(dfd, &pt), -EINVAL);
	pt = 500;
	ck_assert_int_eq(attach(dfd, &pt), -ENOENT);
	ck_assert_int_eq(destroy(ifd, hwpt), -EBUSY);
	ck_assert_int_eq(destroy(ifd, ioas), -EBUSY);
	ck_assert_int_eq(destroy(ifd, (uint32_t)devid), -EBUSY);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, &align), 2);
	ck_assert_uint_eq(align, 4096);
	/* detach: the auto domain goes with its last device */
	ck_ok(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt));
	ck_assert_int_eq(destroy(ifd, hwpt), -ENOENT);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, &align), 1);
	ck_assert_uint_eq(align, 1);
	/* (an mdev on a HWPT: cdev_mdev_hwpt, on the mock's) */
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	hwpt = pt;
	ck_ok(close(dfd)); /* unbind detaches: auto HWPT gone too */
	ck_assert_int_eq(destroy(ifd, ioas), 0);
	/* nothing left: the HWPT, the device object */
	ck_assert_int_eq(destroy(ifd, hwpt), -ENOENT);
	ck_assert_int_eq(destroy(ifd, (uint32_t)devid), -ENOENT);
	ck_ok(close(ifd));
}
END_TEST

START_TEST(iommufd_size_convention)
{
	unsigned char buf[64];
	struct iommu_ioas_alloc *a = (void *)buf;
	int ifd = iommufd_open();

	memset(buf, 0, sizeof(buf));
	a->size = 11;
	ck_errno(ioctl(ifd, IOMMU_IOAS_ALLOC, a), EINVAL);
	a->size = 16;
	buf[13] = 1;
	ck_errno(ioctl(ifd, IOMMU_IOAS_ALLOC, a), E2BIG);
	buf[13] = 0;
	ck_ok(ioctl(ifd, IOMMU_IOAS_ALLOC, a));
	ck_assert_uint_eq(a->out_ioas_id, 1);
	ck_assert_uint_eq(*(uint32_t *)(buf + 12), 0); /* tail untouched */
	a->flags = 1;
	ck_errno(ioctl(ifd, IOMMU_IOAS_ALLOC, a), EOPNOTSUPP);
	a->flags = 0;
	ck_ok(ioctl(ifd, IOMMU_IOAS_ALLOC, a));
	ck_assert_uint_eq(a->out_ioas_id, 2);
	/* lowest free id is reused */
	ck_assert_int_eq(destroy(ifd, 1), 0);
	ck_ok(ioctl(ifd, IOMMU_IOAS_ALLOC, a));
	ck_assert_uint_eq(a->out_ioas_id, 1);
	/* unknown numbers: ENOTTY; size encoded in the number: ENOTTY */
	ck_errno(ioctl(ifd, _IO(IOMMUFD_TYPE, 0x90), buf), ENOTTY);
	ck_errno(ioctl(ifd, _IO(IOMMUFD_TYPE, 0xa1), buf), ENOTTY);
	ck_errno(ioctl(ifd, _IOW(IOMMUFD_TYPE, 0x81, uint32_t), buf), ENOTTY);
	/* VFIO compat numbers */
	ck_assert_int_eq(ioctl(ifd, VFIO_GET_API_VERSION), 0);
	ck_errno(ioctl(ifd, VFIO_IOMMU_DIRTY_PAGES, buf), ENOTTY);
	/* DESTROY min size 8 */
	{
		struct iommu_destroy dd = { .size = 4, .id = 1 };

		ck_errno(ioctl(ifd, IOMMU_DESTROY, &dd), EINVAL);
	}
	/* HWPT_ALLOC min size 24; bytes past the struct must be zero */
	memset(buf, 0, sizeof(buf));
	*(uint32_t *)buf = 20;
	ck_errno(ioctl(ifd, IOMMU_HWPT_ALLOC, buf), EINVAL);
	*(uint32_t *)buf = 60;
	buf[50] = 1;
	ck_errno(ioctl(ifd, IOMMU_HWPT_ALLOC, buf), E2BIG);
	/* GET_HW_INFO min 32, GET_DIRTY_BITMAP min 48, TEST_CMD min 68 */
	memset(buf, 0, sizeof(buf));
	*(uint32_t *)buf = 31;
	ck_errno(ioctl(ifd, IOMMU_GET_HW_INFO, buf), EINVAL);
	*(uint32_t *)buf = 47;
	ck_errno(ioctl(ifd, IOMMU_HWPT_GET_DIRTY_BITMAP, buf), EINVAL);
	*(uint32_t *)buf = 15;
	ck_errno(ioctl(ifd, IOMMU_HWPT_SET_DIRTY_TRACKING, buf), EINVAL);
	{
		unsigned char t[80] = { 0 };

		*(uint32_t *)t = 67;
		ck_errno(ioctl(ifd, KU_TEST_CMD_NR, t), EINVAL);
	}
	ck_ok(close(ifd));
}
END_TEST

START_TEST(iommufd_ioas_map)
{
	struct iommu_ioas_map m = { .size = sizeof(m) };
	struct iommu_ioas_unmap u = { .size = sizeof(u) };
	int ifd = iommufd_open();
	uint32_t ioas = ioas_alloc(ifd);

	/* no domain: nothing is pinned, any address does */
	m.ioas_id = ioas;
	m.user_va = 0x7f0000000000ULL;
	m.length = 0x10000;
	m.iova = 0x100000;
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | (1u << 3);
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EOPNOTSUPP);
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
	m.__reserved = 1;
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EOPNOTSUPP);
	m.__reserved = 0;
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA;
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EINVAL);
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		  IOMMU_IOAS_MAP_WRITEABLE;
	m.ioas_id = 99;
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), ENOENT);
	m.ioas_id = ioas;
	m.iova = ~0ULL;
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EOVERFLOW);
	m.iova = 0x100000;
	ck_ok(ioctl(ifd, IOMMU_IOAS_MAP, &m));
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EEXIST);
	m.iova = 0x108000;
	ck_errno(ioctl(ifd, IOMMU_IOAS_MAP, &m), EEXIST);
	/* no FIXED_IOVA: the kernel picks one, written back, not over the
	 * first mapping */
	m.flags = IOMMU_IOAS_MAP_READABLE;
	m.iova = 0;
	ck_ok(ioctl(ifd, IOMMU_IOAS_MAP, &m));
	ck_assert_uint_ne(m.iova, 0);
	ck_assert(m.iova + m.length <= 0x100000 || m.iova >= 0x110000);
	/* UNMAP: a bisected area -> ENOENT; nothing there -> ENOENT */
	u.ioas_id = ioas;
	u.iova = 0x100000;
	u.length = 0x8000;
	ck_errno(ioctl(ifd, IOMMU_IOAS_UNMAP, &u), ENOENT);
	u.iova = 0x40000000;
	ck_errno(ioctl(ifd, IOMMU_IOAS_UNMAP, &u), ENOENT);
	u.length = 0;
	ck_errno(ioctl(ifd, IOMMU_IOAS_UNMAP, &u), EINVAL);
	u.iova = 0x100000;
	u.length = 0x10000;
	ck_ok(ioctl(ifd, IOMMU_IOAS_UNMAP, &u));
	ck_assert_uint_eq(u.length, 0x10000);
	/* all: the kernel's pick is what is left */
	u.iova = 0;
	u.length = UINT64_MAX;
	ck_ok(ioctl(ifd, IOMMU_IOAS_UNMAP, &u));
	ck_assert_uint_eq(u.length, 0x10000);
	ck_assert_int_eq(ioas_unmap(ifd, ioas, m.iova, m.length), -ENOENT);
	ck_ok(close(ifd));
}
END_TEST

/* io_pagetable.c: reserved spans (the selftest's ADD_RESERVED) are holes
 * in IOAS_IOVA_RANGES; a fixed map into one is EINVAL, checked before an
 * overlap (EEXIST); a span over an area is EADDRINUSE; the kernel's own
 * pick avoids them. */
START_TEST(iommufd_reserved)
{
	const uint64_t rs = 2 * MiB, rl = 1 * MiB;
	uint64_t r[4][2], align;
	struct iommu_ioas_map m = { .size = sizeof(m) };
	struct ku_iova_ranges bad = { .size = sizeof(bad), .ioas_id = 99,
				      .__reserved = 1 };
	int ifd = iommufd_open();
	uint32_t ioas = ioas_alloc(ifd);
	void *mem = (void *)0x7f0000000000ULL; /* no domain: never pinned */
	int n;

	/* IOVA_RANGES: __reserved before the id; one range to start */
	ck_errno(ioctl(ifd, KU_IOAS_IOVA_RANGES, &bad), EOPNOTSUPP);
	bad.__reserved = 0;
	ck_errno(ioctl(ifd, KU_IOAS_IOVA_RANGES, &bad), ENOENT);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, &align), 1);
	ck_assert_uint_eq(r[0][0], 0);
	ck_assert_uint_eq(r[0][1], UINT64_MAX);
	ck_assert_uint_eq(align, 1);
	/* ADD_RESERVED: length 0, unknown IOAS */
	ck_assert_int_eq(add_reserved(ifd, ioas, rs, 0), -EINVAL);
	ck_assert_int_eq(add_reserved(ifd, 99, rs, rl), -ENOENT);
	ck_assert_int_eq(add_reserved(ifd, ioas, rs, rl), 0);
	/* two holes now; too small an array: EMSGSIZE, the count back */
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 1, NULL), -EMSGSIZE);
	ck_assert_uint_eq(r[0][0], 0);
	ck_assert_uint_eq(r[0][1], rs - 1);
	n = iova_ranges(ifd, ioas, r, 4, NULL);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(r[1][0], rs + rl);
	ck_assert_uint_eq(r[1][1], UINT64_MAX);
	/* inside, across an edge: EINVAL */
	ck_assert_int_eq(ioas_map(ifd, ioas, rs + 64 * KiB, mem, 64 * KiB,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, rs - 64 * KiB, mem, 128 * KiB,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	/* an area below it, then a map over both: the span wins (EINVAL) */
	ck_assert_int_eq(ioas_map(ifd, ioas, rs - 64 * KiB, mem, 64 * KiB,
				  IOMMU_IOAS_MAP_READABLE), 0);
	ck_assert_int_eq(ioas_map(ifd, ioas, rs - 64 * KiB, mem, 128 * KiB,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, rs - 64 * KiB, mem, 64 * KiB,
				  IOMMU_IOAS_MAP_READABLE), -EEXIST);
	/* a span over an area: EADDRINUSE */
	ck_assert_int_eq(add_reserved(ifd, ioas, rs - 4 * KiB, 8 * KiB),
			 -EADDRINUSE);
	/* the kernel's pick: 2 MiB fits in no hole below the span */
	m.ioas_id = ioas;
	m.flags = IOMMU_IOAS_MAP_READABLE;
	m.user_va = (uintptr_t)mem;
	m.length = 2 * MiB;
	ck_ok(ioctl(ifd, IOMMU_IOAS_MAP, &m));
	ck_assert_uint_ge(m.iova, rs + rl);
	/* the span stays after the areas go */
	ck_assert_int_eq(ioas_unmap(ifd, ioas, 0, UINT64_MAX), 0);
	ck_assert_int_eq(ioas_map(ifd, ioas, rs, mem, 64 * KiB,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_ok(close(ifd));
}
END_TEST

/* A PCI function attached to an IOAS reserves its MSI window there
 * (iommufd_device_attach_reserved_iova; an area in it -> EADDRINUSE) and
 * its VT-d domain the IOVAs past its aperture; the domain pins at
 * IOAS_MAP: read-only pages for writing -> EFAULT (moved from test-fake's
 * core; iommufd_reserved and iommufd_ro_pages show both rules on the
 * mock). */
START_TEST(iommufd_pci_reserved)
{
	const size_t len = 64 * KiB;
	const uint32_t rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	void *mem = ro_mem(len);
	uint64_t r[4][2];
	int dfd, ifd;
	uint32_t ioas, pt;

	ifd = iommufd_open();
	dfd = open_pci_cdev();
	ioas = ioas_alloc(ifd);
	ck_assert_int_gt(bind_dev(dfd, ifd), 0);
	/* an area in the MSI window refuses the device */
	ck_assert_int_eq(ioas_map(ifd, ioas, KENV_PCI_MSI_START, mem, len,
				  IOMMU_IOAS_MAP_READABLE), 0);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), -EADDRINUSE);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, NULL), 1);
	ck_assert_int_eq(ioas_unmap(ifd, ioas, KENV_PCI_MSI_START, len), 0);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, NULL), 2);
	ck_assert_uint_eq(r[0][0], 0);
	ck_assert_uint_eq(r[0][1], KENV_PCI_MSI_START - 1);
	ck_assert_uint_eq(r[1][0], KENV_PCI_MSI_LAST + 1);
	ck_assert_uint_eq(r[1][1], KENV_PCI_APERTURE_LAST);
	ck_assert_int_eq(ioas_map(ifd, ioas, KENV_PCI_MSI_START, mem, len,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, KENV_PCI_APERTURE_LAST + 1, mem,
				  len, IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, 1 * MiB, mem, len, rw), -EFAULT);
	ck_assert_int_eq(ioas_map(ifd, ioas, 1 * MiB, mem, len,
				  IOMMU_IOAS_MAP_READABLE), 0);
	/* detached: the auto domain and both spans go */
	ck_ok(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt));
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, NULL), 1);
	ck_assert_uint_eq(r[0][1], UINT64_MAX);
	ck_ok(close(dfd));
	ck_ok(close(ifd));
	munmap(mem, len);
}
END_TEST

/* iopt_table_add_domain: the mock domain's aperture [16 MiB, 2 GiB)
 * reserves the rest of the IOAS while the domain lives; an area outside
 * refuses the domain (EADDRINUSE). */
START_TEST(iommufd_mock_aperture)
{
	const size_t len = 64 * KiB;
	void *mem = ro_mem(len);
	uint64_t r[4][2], align;
	int ifd = iommufd_open();
	uint32_t ioas = ioas_alloc(ifd);
	int stdev;

	ck_assert_int_eq(ioas_map(ifd, ioas, 1 * MiB, mem, len,
				  IOMMU_IOAS_MAP_READABLE), 0);
	ck_assert_int_eq(mock_domain(ifd, ioas, NULL), -EADDRINUSE);
	ck_assert_int_eq(ioas_unmap(ifd, ioas, 1 * MiB, len), 0);
	stdev = mock_domain(ifd, ioas, NULL);
	ck_assert_int_gt(stdev, 0);
	ck_assert_int_eq(iova_ranges(ifd, ioas, r, 4, &align), 1);
	ck_assert_uint_eq(r[0][0], MOCK_APERTURE_START);
	ck_assert_uint_eq(r[0][1], MOCK_APERTURE_LAST);
	ck_assert_uint_eq(align, MOCK_IO_PAGE_SIZE);
	ck_assert_int_eq(ioas_map(ifd, ioas, 1 * MiB, mem, len,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, MOCK_APERTURE_LAST + 1, mem, len,
				  IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, MOCK_APERTURE_LAST + 1 - len / 2,
				  mem, len, IOMMU_IOAS_MAP_READABLE), -EINVAL);
	ck_assert_int_eq(ioas_map(ifd, ioas, MOCK_APERTURE_START, mem, len,
				  IOMMU_IOAS_MAP_READABLE), 0);
	ck_assert_int_eq(ioas_unmap(ifd, ioas, MOCK_APERTURE_START, len), 0);
	ck_ok(close(ifd));
	munmap(mem, len);
}
END_TEST

/* A domain pins at IOAS_MAP (iopt_fill_domains_pages): FOLL_WRITE on
 * read-only pages is EFAULT, after the IOVA checks; a read-only map of
 * them pins.  Without a domain nothing is pinned: the map is made. */
START_TEST(iommufd_ro_pages)
{
	const size_t len = 64 * KiB;
	void *mem = ro_mem(len);
	const uint32_t rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
	int ifd = iommufd_open();
	uint32_t ioas = ioas_alloc(ifd), bare = ioas_alloc(ifd);
	const uint64_t base = MOCK_APERTURE_START;

	ck_assert_int_gt(mock_domain(ifd, ioas, NULL), 0);
	ck_assert_int_eq(ioas_map(ifd, ioas, base, mem, len, rw), -EFAULT);
	/* the reserved span first: EINVAL */
	ck_assert_int_eq(ioas_map(ifd, ioas, 1 * MiB, mem, len, rw), -EINVAL);
	/* nothing was left behind by the EFAULT */
	ck_assert_int_eq(ioas_unmap(ifd, ioas, base, len), -ENOENT);
	ck_assert_int_eq(ioas_map(ifd, ioas, base, mem, len,
				  IOMMU_IOAS_MAP_READABLE), 0);
	ck_assert_int_eq(ioas_unmap(ifd, ioas, base, len), 0);
	/* no domain on this IOAS: not pinned, made */
	ck_assert_int_eq(ioas_map(ifd, bare, base, mem, len, rw), 0);
	ck_assert_int_eq(ioas_unmap(ifd, bare, base, len), 0);
	ck_ok(close(ifd));
	munmap(mem, len);
}
END_TEST

Suite *kcase_uapi_suite(void)
{
	Suite *s = suite_create("kcase-uapi");
	TCase *t1 = tcase_create("type1");
	TCase *mt = tcase_create("mtty");
	TCase *io = tcase_create("iommufd");
	/* The vfio-pci function (kenv.h, PCI): its own test case, run by a
	 * VM of its own (run-vm.sh --pci, CK_INCLUDE_TAGS=pci; the other
	 * VM excludes it, CK_EXCLUDE_TAGS=pci). */
	TCase *pci = tcase_create("pci");

	tcase_add_checked_fixture(t1, kenv_setup, kenv_teardown);
	tcase_add_test(t1, container_before_iommu);
	tcase_add_test(t1, group_container);
	tcase_add_test(t1, device_mtty);
	tcase_add_test(t1, feature_generic);
	tcase_add_test(t1, fd_flags);
	tcase_add_test(t1, type1_info);
	tcase_add_test(t1, type1_map_unmap);
	tcase_add_test(t1, type1_v1_unmap);
	tcase_add_test(t1, type1_ro_pages_mdev);
	suite_add_tcase(s, t1);
	tcase_add_checked_fixture(mt, kenv_setup, kenv_teardown);
	tcase_add_test(mt, sysfs_mtty);
	tcase_add_test(mt, mig_state_raw);
	tcase_add_test(mt, data_fd_vfs);
	tcase_add_test(mt, precopy_info_mtty);
	tcase_add_test(mt, precopy_v2_mtty);
	suite_add_tcase(s, mt);
	tcase_add_checked_fixture(io, kenv_setup, kenv_teardown);
	tcase_add_test(io, iommufd_size_convention);
	tcase_add_test(io, cdev_mdev);
	tcase_add_test(io, cdev_mdev_hwpt);
	tcase_add_test(io, iommufd_ioas_map);
	tcase_add_test(io, iommufd_reserved);
	tcase_add_test(io, iommufd_mock_aperture);
	tcase_add_test(io, iommufd_ro_pages);
	suite_add_tcase(s, io);
	tcase_set_tags(pci, "pci");
	tcase_add_checked_fixture(pci, kenv_setup, kenv_teardown);
	tcase_add_test(pci, device_pci);
	tcase_add_test(pci, type1_info_pci);
	tcase_add_test(pci, type1_ro_pages_pci);
	tcase_add_test(pci, cdev_pci);
	tcase_add_test(pci, iommufd_pci_reserved);
	suite_add_tcase(s, pci);
	return s;
}
