// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel against the contract where the VM cannot show it, with
 * raw syscalls only (no library): what needs a migration-capable vfio-pci
 * variant function (its sysfs tree, PRECOPY_INFOv2, REINIT), the fake's own
 * model and hooks (fault injection, pass-through of real fds, the leak
 * count, the arc log, the ioctl counters), and mtty checks that read the
 * fake's bookkeeping.  Each case says why it is here; the raw-uAPI checks
 * both kernels show are in kcase-uapi.c (kt-fake and kt-real), those of a
 * plain vfio-pci function behind an IOMMU (Type1's IOVA ranges and
 * pinning, a PCI cdev's HWPT and MSI window) on the VM's edu.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>

#include <linux/vfio.h>
#include "vfio-args.h"
#include <linux/iommufd.h>

#include "ck-errno.h"
#include "fake-internal.h"

#define UUID1 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" /* mtty-1, group 0 */
#define UUID2 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002" /* mtty-2, group 1 */
#define BDF "0000:3b:00.1"                           /* group 12, vfio3 */

#define IOMMU_TEST_CMD_NR _IO(IOMMUFD_TYPE, 0xa0)

static int id_mtty1, id_mtty2, id_pci;
static char path[PATH_MAX];

static const char *node(const char *rel)
{
	snprintf(path, sizeof(path), "%s/%s", fake_dev_root(), rel);
	return path;
}

static const char *sys(const char *rel)
{
	snprintf(path, sizeof(path), "%s/%s", fake_sysfs_root(), rel);
	return path;
}

static void setup(void)
{
	struct fake_dev_cfg cfg;

	ck_assert_int_eq(fake_init(true), 0);
	fake_cfg_mtty(&cfg, UUID1, 1, 0, 0);
	id_mtty1 = fake_add_device(&cfg);
	ck_assert_int_ge(id_mtty1, 0);
	fake_cfg_mtty(&cfg, UUID2, 2, 1, 1);
	id_mtty2 = fake_add_device(&cfg);
	ck_assert_int_ge(id_mtty2, 0);
	fake_cfg_pci(&cfg, BDF, 12, 3, VFIO_MIGRATION_STOP_COPY |
		     VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY);
	id_pci = fake_add_device(&cfg);
	ck_assert_int_ge(id_pci, 0);
}

static void teardown(void)
{
	int open = fake_open_fds();

	ck_assert_int_eq(fake_fini(), open);
	ck_assert_msg(open == 0, "%d fake fds leaked", open);
}

static int open_node(const char *rel, int flags)
{
	return open(node(rel), flags);
}

static bool cloexec(int fd)
{
	return fcntl(fd, F_GETFD) & FD_CLOEXEC;
}

static int bind_dev(int dfd, int ifd);
static uint32_t ioas_alloc(int ifd);
static int attach(int dfd, uint32_t *pt);

/* Group + container with Type1v2; returns the device fd. */
static int type1_device(const char *group, const char *name, int *gfd,
			int *cfd)
{
	int dfd;

	*gfd = open_node(group, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(*gfd, 0);
	*cfd = open_node("vfio/vfio", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(*cfd, 0);
	ck_ok(ioctl(*gfd, VFIO_GROUP_SET_CONTAINER, cfd));
	ck_ok(ioctl(*cfd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	dfd = ioctl(*gfd, VFIO_GROUP_GET_DEVICE_FD, name);
	ck_assert_int_ge(dfd, 0);
	return dfd;
}

/* ------------------------------------------------------------------ */

/* The fake's tree of a vfio-pci variant function (the VM's edu is plain
 * vfio-pci; an mdev's tree is in kcase-uapi.c, sysfs_mtty, on both
 * kernels) and a missing node left to libc. */
START_TEST(tree)
{
	char rp[PATH_MAX], buf[64];
	FILE *fp;

	/* PCI function */
	fp = fopen(sys("bus/pci/devices/" BDF "/vendor"), "re");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	ck_assert_str_eq(buf, "0x15b3\n");
	fp = fopen(sys("bus/pci/devices/" BDF "/class"), "re");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	ck_assert_str_eq(buf, "0x020000\n");
	ck_assert_ptr_nonnull(realpath(sys("bus/pci/devices/" BDF "/iommu_group"),
				       rp));
	ck_assert_str_eq(strrchr(rp, '/'), "/12");
	ck_assert_ptr_nonnull(realpath(sys("bus/pci/devices/" BDF "/driver"), rp));
	ck_assert_str_eq(strrchr(rp, '/'), "/mlx5_vfio_pci");
	ck_assert_int_eq(access(sys("bus/pci/devices/" BDF "/vfio-dev/vfio3"),
				F_OK), 0);
	/* its /dev nodes */
	ck_assert_int_eq(access(node("vfio/12"), F_OK), 0);
	ck_assert_int_eq(access(node("vfio/devices/vfio3"), F_OK), 0);
	/* No such group: libc's own ENOENT, not a fake call. */
	{
		unsigned int c = fake_calls();

		ck_errno(open_node("vfio/7", O_RDWR), ENOENT);
		ck_assert_uint_eq(fake_calls(), c);
	}
}
END_TEST

/* A machine without iommufd (fake only: the VM's kernel has it built in). */
START_TEST(no_iommufd_machine)
{
	struct fake_dev_cfg cfg;

	/* Replace the fixture's machine by one without iommufd. */
	ck_assert_int_eq(fake_fini(), 0);
	ck_assert_int_eq(fake_init(false), 0);
	fake_cfg_mtty(&cfg, UUID2, 2, 1, 1);
	ck_assert_int_ge(fake_add_device(&cfg), 0);
	ck_assert_int_ne(access(node("iommu"), F_OK), 0);
	ck_assert_int_ne(access(node("vfio/devices/vfio1"), F_OK), 0);
	ck_assert_int_ne(access(sys("bus/mdev/devices/" UUID2 "/vfio-dev"),
				F_OK), 0);
	ck_assert_int_eq(access(node("vfio/1"), F_OK), 0);
}
END_TEST

/* The fake's view of fd flags (fake_fd_nonblock, its fd count); the flags
 * themselves are in kcase-uapi.c, on both kernels. */
START_TEST(fd_flags_model)
{
	int b = open_node("vfio/vfio", O_RDWR);
	int c = open_node("iommu", O_RDWR | O_NONBLOCK);

	ck_assert_int_ge(b, 0);
	ck_assert_int_ge(c, 0);
	ck_assert(fake_fd_nonblock(fake_fd_lookup(c)));
	ck_assert(!fake_fd_nonblock(fake_fd_lookup(b)));
	ck_assert_int_eq(fake_open_fds(), 2);
	ck_ok(close(b));
	ck_ok(close(c));
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* Calls on real fds pass through the fake untouched (fake only by nature). */
START_TEST(passthrough)
{
	unsigned int calls = fake_calls();
	int p[2], fd, n = -1;
	struct pollfd pfd;
	char c;

	ck_ok(pipe(p));
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_ok(ioctl(p[0], FIONREAD, &n));
	ck_assert_int_eq(n, 1);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_int_eq(pfd.revents, POLLIN);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	ck_errno(pread(p[0], &c, 1, 0), ESPIPE);
	ck_errno(splice(p[0], NULL, p[1], NULL, 1, SPLICE_F_NONBLOCK), EINVAL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert(cloexec(fd));
	ck_assert_int_eq(read(fd, &c, 1), 0);
	ck_ok(close(fd));
	ck_errno(close(fd), EBADF);
	ck_errno(read(-1, &c, 1), EBADF);
	ck_errno(ioctl(-1, FIONREAD, &n), EBADF);
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
	/* Paths under the dev root that are no fake node go to libc. */
	fd = open(fake_dev_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_null(fake_fd_lookup(fd));
	ck_ok(close(fd));
	ck_assert_uint_eq(fake_calls(), calls);
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* The fake's open_count bookkeeping of a group's device fds (the errno of
 * each group/container rule is in kcase-uapi.c, on both kernels). */
START_TEST(group_open_count)
{
	struct fake_dev *d = fake_dev_get(id_mtty2);
	int g, c, dfd, dfd2;

	dfd = type1_device("vfio/1", UUID2, &g, &c);
	dfd2 = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, UUID2); /* allowed */
	ck_assert_int_ge(dfd2, 0);
	ck_assert_int_eq(d->open_count, 2);
	ck_ok(close(c));
	ck_ok(close(g));
	ck_ok(close(dfd));
	ck_assert_int_eq(d->open_count, 1);
	ck_ok(close(dfd2));
	ck_assert_int_eq(d->open_count, 0);
}
END_TEST

/* The fake's own model of a container, which fake-dirty.c relies on (maps
 * sorted, the DMA_AVAIL count): not kernel behaviour, kcase-uapi.c has the
 * errno of each MAP/UNMAP rule on both kernels. */
START_TEST(type1_model)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	struct vfio_iommu_type1_dma_unmap un = { .argsz = sizeof(un) };
	struct fake_container *fc;
	int g, c, dfd;

	dfd = type1_device("vfio/1", UUID2, &g, &c);
	fc = fake_fd_container(fake_fd_lookup(c));
	ck_assert_ptr_nonnull(fc);
	ck_assert_ptr_eq(fake_container_next(NULL), fc);
	ck_assert_uint_eq(fake_container_pgsize(fc), 4096);
	map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	map.vaddr = 0x7f0000000000ULL;
	map.size = 0x10000;
	map.iova = 0x100000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	map.iova = 0x200000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	map.iova = 0x80000;
	ck_ok(ioctl(c, VFIO_IOMMU_MAP_DMA, &map));
	ck_assert_int_eq(fc->nmaps, 3);
	ck_assert_uint_eq(fc->maps[0].iova, 0x80000); /* sorted */
	ck_assert_uint_eq(fc->maps[1].iova, 0x100000);
	ck_assert_uint_eq(fc->dma_avail, 65535 - 3);
	un.iova = 0x80000;
	un.size = 0x90000;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_int_eq(fc->nmaps, 1);
	un.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	un.iova = 0;
	un.size = 0;
	ck_ok(ioctl(c, VFIO_IOMMU_UNMAP_DMA, &un));
	ck_assert_int_eq(fc->nmaps, 0);
	ck_assert_uint_eq(fc->dma_avail, 65535);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* fake_check_feature, the fake's copy of vfio_check_feature (a helper;
 * the FEATURE ioctl's generic checks on mtty are in kcase-uapi.c). */
START_TEST(check_feature_helper)
{
	/* fake_check_feature is include/linux/vfio.h's (1 = PROBE done) */
	ck_assert_int_eq(fake_check_feature(VFIO_DEVICE_FEATURE_PROBE |
					    VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_SET | 2, 0,
					    VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_SET, 8), 1);
	ck_assert_int_eq(fake_check_feature(VFIO_DEVICE_FEATURE_PROBE |
					    VFIO_DEVICE_FEATURE_SET | 1, 0,
					    VFIO_DEVICE_FEATURE_GET, 8),
			 -EINVAL);
	ck_assert_int_eq(fake_check_feature(VFIO_DEVICE_FEATURE_PROBE | 6, 0,
					    VFIO_DEVICE_FEATURE_SET, 24), 1);
	ck_assert_int_eq(fake_check_feature(6, 100, VFIO_DEVICE_FEATURE_SET,
					    24), -EINVAL);
	ck_assert_int_eq(fake_check_feature(VFIO_DEVICE_FEATURE_SET | 6, 23,
					    VFIO_DEVICE_FEATURE_SET, 24),
			 -EINVAL);
	ck_assert_int_eq(fake_check_feature(VFIO_DEVICE_FEATURE_SET | 6, 24,
					    VFIO_DEVICE_FEATURE_SET, 24), 0);
}
END_TEST

/* What kcase-uapi.c's device_mtty cannot show: mtty's IRQ info before a
 * first GET_INFO (a fresh mdev; the VM's have answered it before), the
 * fake's registers, regions 2-5 (the real mtty would access out of
 * bounds), and a vfio-pci function with a reset method (the VM's edu
 * has none: kcase-uapi.c device_pci). */
START_TEST(device_driver_ioctls)
{
	struct vfio_device_info info;
	struct {
		uint32_t argsz, flags, index, count;
	} irq = { sizeof(irq), 0, 0, 0 };
	struct fake_dev *d = fake_dev_get(id_mtty2);
	uint8_t b = 0x5a, r = 0;
	uint32_t w = 0xffffffff;
	int g, c, dfd;

	dfd = type1_device("vfio/1", UUID2, &g, &c);
	/* mtty caches num_irqs in GET_INFO: before it, EINVAL */
	ck_errno(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq), EINVAL);
	memset(&info, 0, sizeof(info));
	info.argsz = 16;
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_INFO, &info));
	ck_ok(ioctl(dfd, _IO(VFIO_TYPE, VFIO_BASE + 9), &irq));
	/* BAR0 / BAR1: 1-byte accesses into the registers */
	ck_assert_int_eq(pwrite(dfd, &b, 1, 7), 1);
	ck_assert_uint_eq(d->regs[0][7], 0x5a);
	b = 0x33;
	ck_assert_int_eq(pwrite(dfd, &b, 1, (1ULL << 40) + 2), 1);
	ck_assert_uint_eq(d->regs[1][2], 0x33);
	/* a 4-byte access uses the first byte only */
	ck_assert_int_eq(pread(dfd, &w, 4, 4), 4);
	ck_assert_uint_eq(w, 0);
	/* regions 2..5: EINVAL in the fake (the real mtty must not be
	 * touched there) */
	ck_errno(pread(dfd, &r, 1, 2ULL << 40), EINVAL);
	ck_errno(pwrite(dfd, &r, 1, 5ULL << 40), EINVAL);
	/* read() uses the file position */
	ck_assert_int_eq(read(dfd, &r, 1), 1);
	ck_assert_int_eq(read(dfd, &r, 1), 1);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));

	/* vfio-pci: RESET flag */
	dfd = type1_device("vfio/12", BDF, &g, &c);
	info.argsz = sizeof(info);
	ck_ok(ioctl(dfd, VFIO_DEVICE_GET_INFO, &info));
	ck_assert_uint_eq(info.flags,
			  VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

static int bind_dev(int dfd, int ifd)
{
	struct vfio_device_bind_iommufd b = {
		.argsz = sizeof(b), .iommufd = ifd,
	};

	if (ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &b) < 0)
		return -errno;
	return (int)b.out_devid;
}

static uint32_t ioas_alloc(int ifd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	ck_ok(ioctl(ifd, IOMMU_IOAS_ALLOC, &a));
	return a.out_ioas_id;
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

/* The fake's bookkeeping of an mtty cdev (open_count, the access object,
 * attached, the object table emptied at close); the errno of each rule is
 * in kcase-uapi.c, on both kernels. */
START_TEST(cdev_mdev_model)
{
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };
	struct fake_dev *d = fake_dev_get(id_mtty2);
	int dfd = open_node("vfio/devices/vfio1", O_RDWR | O_CLOEXEC);
	int ifd = open_node("iommu", O_RDWR | O_CLOEXEC);
	uint32_t ioas, pt;
	int devid;

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_ge(ifd, 0);
	ck_assert_int_eq(d->open_count, 0); /* unbound: not open */
	devid = bind_dev(dfd, ifd);
	ck_assert_int_gt(devid, 0);
	ck_assert_int_eq(d->open_count, 1);
	ck_assert_int_eq(fake_iommufd_obj(fake_fd_lookup(ifd), devid)->type,
			 FIO_ACCESS);
	ioas = ioas_alloc(ifd);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_assert_ptr_eq(d->attached, fake_iommufd_obj(fake_fd_lookup(ifd), ioas));
	ck_assert_uint_eq(fake_ioas_alignment(d->attached), 4096);
	ck_ok(ioctl(dfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt));
	ck_assert_ptr_null(d->attached);
	pt = ioas;
	ck_assert_int_eq(attach(dfd, &pt), 0);
	ck_ok(close(ifd));
	ck_ok(close(dfd)); /* unbind: detach, access destroyed */
	ck_assert_int_eq(d->open_count, 0);
	ck_assert_ptr_null(d->attached);
	ck_assert_ptr_null(d->idev);
	ck_assert_ptr_null(fake_iommufd_obj_next(NULL));
}
END_TEST

/* The fake's fault injection (fake only by nature). */
START_TEST(fault_injection)
{
	unsigned int calls;
	int c, g, g2, p[2];
	char x;

	/* counting: only calls on fake fds/nodes */
	calls = fake_calls();
	ck_ok(pipe(p));
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(read(p[0], &x, 1), 1);
	ck_assert_uint_eq(fake_calls(), calls);
	c = open_node("vfio/vfio", O_RDWR | O_CLOEXEC);
	ck_assert_uint_eq(fake_calls(), calls + 1);
	ck_assert_int_eq(ioctl(c, VFIO_GET_API_VERSION), 0);
	ck_assert_uint_eq(fake_calls(), calls + 2);

	/* the 2nd call from now fails, and only it, with no side effect */
	fake_fail_nth(2, EIO);
	ck_assert_int_eq(ioctl(c, VFIO_GET_API_VERSION), 0);   /* 1st */
	ck_errno(open_node("vfio/1", O_RDWR | O_CLOEXEC), EIO); /* 2nd */
	ck_assert_int_eq(fake_open_fds(), 1);
	g = open_node("vfio/1", O_RDWR | O_CLOEXEC); /* not EBUSY */
	ck_assert_int_ge(g, 0);
	/* real fds are not counted */
	fake_fail_nth(1, ENOSPC);
	ck_assert_int_eq(write(p[1], "y", 1), 1);
	ck_errno(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), ENOSPC);
	{
		struct vfio_group_status st = { .argsz = sizeof(st) };

		ck_ok(ioctl(g, VFIO_GROUP_GET_STATUS, &st));
		ck_assert_uint_eq(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	}
	/* by call name */
	fake_fail_nth_call("ioctl", 2, ENOMEM);
	g2 = open_node("vfio/0", O_RDWR | O_CLOEXEC);   /* open: not counted */
	ck_assert_int_ge(g2, 0);
	ck_ok(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c)); /* ioctl #1 */
	ck_errno(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), ENOMEM);
	ck_ok(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)); /* disarmed */
	/* pread/pwrite/read/write/poll/splice/close are faultable too */
	{
		int dfd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, UUID2);
		struct pollfd pfd = { .fd = dfd, .events = POLLIN };
		uint8_t b = 0;

		ck_assert_int_ge(dfd, 0);
		fake_fail_nth_call("pread", 1, EAGAIN);
		ck_errno(pread(dfd, &b, 1, 0), EAGAIN);
		ck_assert_int_eq(pread(dfd, &b, 1, 0), 1);
		fake_fail_nth_call("pwrite", 1, EAGAIN);
		ck_errno(pwrite(dfd, &b, 1, 0), EAGAIN);
		fake_fail_nth_call("read", 1, EINTR);
		ck_errno(read(dfd, &b, 1), EINTR);
		fake_fail_nth_call("write", 1, EINTR);
		ck_errno(write(dfd, &b, 1), EINTR);
		fake_fail_nth_call("poll", 1, EINTR);
		ck_errno(poll(&pfd, 1, 0), EINTR);
		ck_assert_int_eq(poll(&pfd, 1, 0), 1);
		fake_fail_nth_call("splice", 1, ENOMEM);
		ck_errno(splice(dfd, NULL, p[1], NULL, 1, 0), ENOMEM);
		/* close: the error is returned, the fd is released anyway */
		fake_fail_nth_call("close", 1, EIO);
		ck_errno(close(dfd), EIO);
		ck_assert_ptr_null(fake_fd_lookup(dfd));
		ck_assert_int_eq(fake_dev_get(id_mtty2)->open_count, 0);
	}
	fake_fail_nth(0, 0);
	ck_ok(close(g2));
	ck_ok(close(g));
	ck_ok(close(c));
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
}
END_TEST

/* The fake's leak count (fake only by nature). */
START_TEST(leak_count)
{
	int c = open_node("vfio/vfio", O_RDWR | O_CLOEXEC);
	int i = open_node("iommu", O_RDWR | O_CLOEXEC);
	int d = open_node("vfio/devices/vfio0", O_RDWR | O_CLOEXEC);

	ck_assert_int_ge(c, 0);
	ck_assert_int_ge(i, 0);
	ck_assert_int_ge(d, 0);
	ck_assert_int_gt(bind_dev(d, i), 0);
	ck_assert_int_eq(fake_open_fds(), 3);
	/* fake_fini closes them and reports them */
	ck_assert_int_eq(fake_fini(), 3);
	ck_assert_int_eq(fcntl(c, F_GETFD), -1);
	/* a fresh machine for the fixture's teardown */
	setup();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Migration extras: PRECOPY_INFOv2 and REINIT (contract 16), the arc   */
/* log, the ioctl counters                                              */

#define BDF_V2 "0000:3b:00.2"   /* group 13, vfio4: PRECOPY_INFOv2 */
#define BDF_V2NP "0000:3b:00.3" /* group 14, vfio5: v2, no PRE_COPY */
#define F12 VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define FGET VFIO_DEVICE_FEATURE_GET
#define FSET VFIO_DEVICE_FEATURE_SET
#define FPROBE VFIO_DEVICE_FEATURE_PROBE
#define MIG_ALL                                                               \
	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |                      \
	 VFIO_MIGRATION_PRE_COPY)
/* One chunk record of the GENERIC stream: header + 4 KiB. */
#define REC (24u + 4096u)

static int add_v2(const char *bdf, int group, int cdev, uint64_t mig_flags,
		  size_t reinit_after, size_t reinit_bytes)
{
	struct fake_dev_cfg cfg;
	int id;

	fake_cfg_pci(&cfg, bdf, group, cdev, mig_flags);
	cfg.precopy_v2 = true;
	cfg.reinit_after = reinit_after;
	cfg.reinit_bytes = reinit_bytes;
	id = fake_add_device(&cfg);
	ck_assert_int_ge(id, 0);
	return id;
}

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
	ft->flags = FSET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	ms->device_state = state;
	ms->data_fd = -1;
	r = ioctl(dfd, VFIO_DEVICE_FEATURE, ft);
	if (out_fd)
		*out_fd = ms->data_fd;
	return r;
}

static int precopy_info(int fd, uint32_t flags, struct vfio_precopy_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->argsz = sizeof(*pi);
	pi->flags = flags;
	return ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, pi);
}

/* PRECOPY_INFO with flags, which must answer rflags, initial, dirty 0. */
#define ck_precopy(fd_, fl_, rfl_, init_)                                     \
	do {                                                                  \
		struct vfio_precopy_info pi_;                                 \
		ck_ok(precopy_info(fd_, fl_, &pi_));                          \
		ck_assert_uint_eq(pi_.flags, (rfl_));                         \
		ck_assert_uint_eq(pi_.initial_bytes, (init_));                \
		ck_assert_uint_eq(pi_.dirty_bytes, 0);                        \
	} while (0)

/* The saving stream as read so far (for a load that proves it whole). */
static uint8_t *stream;
static size_t stream_len;

/* Read up to n bytes of fd into stream: bytes read (0 at the temporary
 * end, ENOMSG, or the end). */
static size_t take(int fd, size_t n)
{
	size_t got = 0;

	if (!stream) {
		stream = malloc(4u << 20);
		ck_assert_ptr_nonnull(stream);
		stream_len = 0;
	}
	while (got < n) {
		size_t want = n - got;
		ssize_t r;

		if (want > (4u << 20) - stream_len)
			want = (4u << 20) - stream_len;
		ck_assert_uint_gt(want, 0);
		r = read(fd, stream + stream_len, want);
		if (r < 0 && errno == ENOMSG)
			break;
		ck_assert_int_ge(r, 0);
		if (!r)
			break;
		stream_len += (size_t)r;
		got += (size_t)r;
	}
	return got;
}

/* PRECOPY_INFOv2 on vfio-pci personalities (none in the VM). */
START_TEST(precopy_v2_feature)
{
	int v2 = add_v2(BDF_V2, 13, 4, MIG_ALL, 0, 0);
	int np = add_v2(BDF_V2NP, 14, 5,
			VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P, 0, 0);
	struct fake_dev_ioctls ioc;
	int g, c, dfd, dfd2;

	/* 6.12: a variant without it answers ENOTTY to anything (vfio-pci's
	 * ->device_feature knows only 0, 3-5; mtty's ENOTTY is in kcase-uapi.c,
	 * precopy_v2_mtty) */
	dfd = type1_device("vfio/12", BDF, &g, &c);
	ck_errno(feature(dfd, FSET | F12, 0), ENOTTY);
	ck_errno(feature(dfd, FPROBE | F12, 0), ENOTTY);
	ck_assert(!fake_dev_precopy_v2(id_pci));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));

	/* a v2 kernel: vfio_check_feature(flags, argsz, SET, 0) */
	dfd = type1_device("vfio/13", BDF_V2, &g, &c);
	ck_errno(feature(dfd, FGET | FSET | F12, 0), EINVAL); /* the core's */
	ck_errno(feature(dfd, FGET | F12, 0), EINVAL);
	ck_errno(feature(dfd, FPROBE | FGET | F12, 0), EINVAL);
	ck_errno(feature(dfd, F12, 0), EINVAL); /* neither GET nor SET */
	ck_assert_int_eq(feature(dfd, FPROBE | F12, 0), 0);
	ck_assert_int_eq(feature(dfd, FPROBE | FSET | F12, 0), 0);
	ck_assert(!fake_dev_precopy_v2(v2)); /* PROBE sets nothing */
	ck_assert_int_eq(feature(dfd, FSET | F12, 0), 0);
	ck_assert(fake_dev_precopy_v2(v2));
	ck_assert_int_eq(feature(dfd, FSET | F12, 8), 0); /* minsz 0 */
	fake_dev_ioctls(v2, &ioc);
	ck_assert_uint_eq(ioc.v2_sets, 2);
	ck_assert_uint_eq(ioc.total, 8);
	/* per open: a second fd shares it, the last close ends it */
	dfd2 = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, BDF_V2);
	ck_assert_int_ge(dfd2, 0);
	ck_ok(close(dfd));
	ck_assert(fake_dev_precopy_v2(v2));
	ck_ok(close(dfd2));
	ck_assert(!fake_dev_precopy_v2(v2));
	dfd = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, BDF_V2);
	ck_assert_int_ge(dfd, 0);
	ck_assert(!fake_dev_precopy_v2(v2));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));

	/* without VFIO_MIGRATION_PRE_COPY: EINVAL after the feature checks */
	dfd = type1_device("vfio/14", BDF_V2NP, &g, &c);
	ck_errno(feature(dfd, FSET | F12, 0), EINVAL);
	ck_errno(feature(dfd, FGET | F12, 0), EINVAL);
	ck_assert_int_eq(feature(dfd, FPROBE | FSET | F12, 0), 0);
	ck_assert(!fake_dev_precopy_v2(np));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* Programmable REINIT on blob devices (mtty never reinits). */
START_TEST(precopy_info_reinit)
{
	int v2 = add_v2(BDF_V2, 13, 4, MIG_ALL, 0, 0);
	const size_t init = 64 * REC; /* 256 KiB of initial data */
	uint8_t *a, *b;
	int g, c, dfd, fd, g2, c2, dfd2, rfd;

	/* hook errors */
	ck_assert_int_eq(fake_dev_precopy_reinit(id_mtty2, 1), -ENOTTY);
	ck_assert_int_eq(fake_dev_precopy_reinit(999, 1), -ENODEV);
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 1), -EINVAL); /* RUNNING */

	dfd = type1_device("vfio/13", BDF_V2, &g, &c);
	/* v2 off (6.12 behaviour): flags echoed as sent */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ck_assert_int_ge(fd, 0);
	ck_precopy(fd, 1, 1, init);
	ck_precopy(fd, 0xdeadbeef, 0xdeadbeef, init);
	/* a REINIT nobody asked to see goes unseen */
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 1), 0);
	ck_precopy(fd, 0, 0, init + REC);
	ck_precopy(fd, 1, 1, init + REC);
	ck_ok(close(fd));
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_RUNNING, NULL));

	/* v2 on: flags is output */
	ck_assert_int_eq(feature(dfd, FSET | F12, 0), 0);
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ck_assert_int_ge(fd, 0);
	stream_len = 0;
	ck_precopy(fd, 0xff, 0, init);
	ck_assert_uint_eq(take(fd, SIZE_MAX), init);
	ck_precopy(fd, 0, 0, 0);
	/* REINIT once, initial_bytes up again and down as it is read */
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 4096), 0);
	ck_precopy(fd, 0, VFIO_PRECOPY_INFO_REINIT, REC);
	ck_precopy(fd, 0, 0, REC);
	ck_assert_uint_eq(take(fd, 100), 100);
	ck_precopy(fd, 0, 0, REC - 100);
	/* a second one while data is unread: it counts in (2 chunks) */
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 5000), 0);
	ck_precopy(fd, VFIO_PRECOPY_INFO_REINIT, VFIO_PRECOPY_INFO_REINIT,
		   REC - 100 + 2 * REC);
	ck_assert_uint_eq(take(fd, SIZE_MAX), 3 * REC - 100);
	ck_precopy(fd, 0, 0, 0);
	ck_errno(read(fd, stream, 1), ENOMSG);
	/* PRE_COPY_P2P too */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL));
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 0), 0); /* 1 chunk */
	ck_precopy(fd, 0, VFIO_PRECOPY_INFO_REINIT, REC);
	ck_assert_uint_eq(take(fd, SIZE_MAX), REC);
	/* STOP_COPY: no precopy any more */
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_STOP_COPY, NULL));
	ck_assert_int_eq(fake_dev_precopy_reinit(v2, 1), -EINVAL);
	{
		struct vfio_precopy_info pi;

		ck_errno(precopy_info(fd, 0, &pi), EINVAL);
	}
	ck_assert_uint_gt(take(fd, SIZE_MAX), 0);
	ck_assert_uint_eq(take(fd, SIZE_MAX), 0);

	/* the stream with its re-sent chunks still loads, and is the device */
	dfd2 = type1_device("vfio/12", BDF, &g2, &c2);
	ck_ok(mig_set(dfd2, VFIO_DEVICE_STATE_RESUMING, &rfd));
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(write(rfd, stream, stream_len), (ssize_t)stream_len);
	ck_ok(mig_set(dfd2, VFIO_DEVICE_STATE_STOP, NULL));
	a = malloc(1 << 20);
	b = malloc(1 << 20);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fake_dev_blob(v2, a, 1 << 20), 1 << 20);
	ck_assert_uint_eq(fake_dev_blob(id_pci, b, 1 << 20), 1 << 20);
	ck_assert(!memcmp(a, b, 1 << 20));
	free(a);
	free(b);
	free(stream);
	stream = NULL;
	ck_ok(close(rfd));
	ck_ok(close(dfd2));
	ck_ok(close(g2));
	ck_ok(close(c2));
	ck_ok(close(fd));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

/* cfg.reinit_after, programmable (mtty never reinits): once per saving
 * session, at the read that gets there */
START_TEST(precopy_reinit_auto)
{
	int v2 = add_v2(BDF_V2, 13, 4, MIG_ALL, 1000, 8192);
	const size_t init = 64 * REC;
	int g, c, dfd, fd;

	dfd = type1_device("vfio/13", BDF_V2, &g, &c);
	ck_assert_int_eq(feature(dfd, FSET | F12, 0), 0);
	for (int round = 0; round < 2; round++) {
		stream_len = 0;
		ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY, &fd));
		ck_assert_int_ge(fd, 0);
		ck_assert_uint_eq(take(fd, 999), 999);
		ck_precopy(fd, 0, 0, init - 999);
		ck_assert_uint_eq(take(fd, 1), 1);
		ck_precopy(fd, 0, VFIO_PRECOPY_INFO_REINIT,
			   init - 1000 + 2 * REC);
		ck_assert_uint_eq(take(fd, 4096), 4096);
		ck_precopy(fd, 0, 0, init - 1000 - 4096 + 2 * REC);
		ck_ok(close(fd));
		ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_RUNNING, NULL));
	}
	ck_assert(fake_dev_precopy_v2(v2));
	free(stream);
	stream = NULL;
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
}
END_TEST

#define ck_arc(a, i_, f_, t_, e_, r_, s_)                                     \
	do {                                                                  \
		ck_assert_int_eq((a).id, (i_));                               \
		ck_assert_int_eq((a).from, (f_));                             \
		ck_assert_int_eq((a).to, (t_));                               \
		ck_assert_int_eq((a).err, (e_));                              \
		ck_assert_int_eq((a).reset, (r_));                            \
		ck_assert_uint_eq((a).set, (s_));                             \
	} while (0)

/* The fake's arc log (a test hook). */
START_TEST(arc_log)
{
	enum {
		RUN = VFIO_DEVICE_STATE_RUNNING,
		R2P = VFIO_DEVICE_STATE_RUNNING_P2P,
		STOP = VFIO_DEVICE_STATE_STOP,
		SC = VFIO_DEVICE_STATE_STOP_COPY,
	};
	struct fake_arc log[8];
	int g, c, dfd, fd, gm, cm, dm;

	fake_arc_log_clear();
	ck_assert_uint_eq(fake_arc_log(NULL, 0), 0);
	dfd = type1_device("vfio/12", BDF, &g, &c);
	dm = type1_device("vfio/1", UUID2, &gm, &cm);
	/* one SET, every arc the kernel walks */
	ck_ok(mig_set(dfd, SC, &fd));
	ck_assert_int_ge(fd, 0);
	ck_ok(mig_set(dm, STOP, NULL));
	ck_assert_uint_eq(fake_arc_log(log, 8), 5);
	ck_arc(log[0], id_pci, RUN, R2P, 0, false, 1);
	ck_arc(log[1], id_pci, R2P, STOP, 0, false, 1);
	ck_arc(log[2], id_pci, STOP, SC, 0, false, 1);
	ck_arc(log[3], id_mtty2, RUN, R2P, 0, false, 2);
	ck_arc(log[4], id_mtty2, R2P, STOP, 0, false, 2);
	/* a refused arc, the device left where it was */
	fake_dev_fail_arc(id_pci, STOP, R2P, EIO);
	ck_errno(mig_set(dfd, RUN, NULL), EIO);
	ck_assert_int_eq(fake_dev_state(id_pci), STOP);
	/* an invalid target walks nothing but counts as a SET */
	ck_errno(mig_set(dfd, 8, NULL), EINVAL);
	/* RESET, and a variant's reset at its last close */
	ck_ok(ioctl(dfd, VFIO_DEVICE_RESET));
	ck_ok(mig_set(dfd, STOP, NULL));
	ck_ok(close(dfd));
	ck_assert_int_eq(fake_dev_state(id_pci), RUN);
	ck_assert_uint_eq(fake_arc_log(NULL, 0), 11);
	ck_assert_uint_eq(fake_arc_log(log, 8), 11); /* copies 8 */
	ck_arc(log[5], id_pci, SC, STOP, 0, false, 3);
	ck_arc(log[6], id_pci, STOP, R2P, -EIO, false, 3);
	ck_arc(log[7], id_pci, STOP, RUN, 0, true, 0);
	{
		struct fake_arc all[11];

		ck_assert_uint_eq(fake_arc_log(all, 11), 11);
		ck_arc(all[8], id_pci, RUN, R2P, 0, false, 5);
		ck_arc(all[9], id_pci, R2P, STOP, 0, false, 5);
		ck_arc(all[10], id_pci, STOP, RUN, 0, true, 0);
	}
	ck_assert_uint_eq(fake_arc_log_dropped(), 0);
	/* mtty keeps its state at close: no reset */
	ck_ok(close(dm));
	ck_assert_uint_eq(fake_arc_log(NULL, 0), 11);
	/* cleared: the SET numbers start again */
	fake_arc_log_clear();
	dm = ioctl(gm, VFIO_GROUP_GET_DEVICE_FD, UUID2);
	ck_assert_int_ge(dm, 0);
	ck_ok(mig_set(dm, RUN, NULL));
	ck_assert_uint_eq(fake_arc_log(log, 8), 2);
	ck_arc(log[0], id_mtty2, STOP, R2P, 0, false, 1);
	ck_arc(log[1], id_mtty2, R2P, RUN, 0, false, 1);
	ck_ok(close(dm));
	ck_ok(close(fd));
	ck_ok(close(g));
	ck_ok(close(c));
	ck_ok(close(gm));
	ck_ok(close(cm));
}
END_TEST

/* The fake's ioctl counters (a test hook). */
START_TEST(ioctl_counts)
{
	struct fake_dev_ioctls ioc;
	struct vfio_precopy_info pi;
	unsigned int n0 = fake_ioctls();
	int g, c, dfd, fd, p[2], avail;

	/* only ioctls on fake fds */
	ck_ok(pipe(p));
	ck_ok(ioctl(p[0], FIONREAD, &avail));
	ck_assert_uint_eq(fake_ioctls(), n0);
	dfd = type1_device("vfio/12", BDF, &g, &c);
	ck_assert_uint_eq(fake_ioctls(), n0 + 3); /* group and container */
	fake_dev_ioctls(id_pci, &ioc);
	ck_assert_uint_eq(ioc.total, 0);
	/* by what was asked, whatever the answer; PROBE not counted */
	ck_ok(feature(dfd, FGET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 8));
	ck_ok(feature(dfd, FPROBE | FGET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		      0));
	ck_errno(feature(dfd, FGET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 4),
		 EINVAL);
	ck_ok(feature(dfd, FGET | VFIO_DEVICE_FEATURE_MIGRATION, 8));
	ck_ok(feature(dfd, FGET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, 8));
	ck_ok(mig_set(dfd, VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ck_errno(mig_set(dfd, 8, NULL), EINVAL); /* no such state */
	ck_ok(precopy_info(fd, 0, &pi));
	ck_errno(ioctl(fd, VFIO_DEVICE_RESET), ENOTTY); /* data fd: counted */
	ck_ok(ioctl(fd, FIOCLEX));
	/* an injected failure is a call, but never reaches the model */
	fake_fail_nth_call("ioctl", 1, EIO);
	ck_errno(precopy_info(fd, 0, &pi), EIO);
	ck_ok(ioctl(dfd, VFIO_DEVICE_RESET));
	fake_dev_ioctls(id_pci, &ioc);
	ck_assert_uint_eq(ioc.total, 12);
	ck_assert_uint_eq(ioc.state_gets, 2);
	ck_assert_uint_eq(ioc.state_sets, 2);
	ck_assert_uint_eq(ioc.mig_gets, 1);
	ck_assert_uint_eq(ioc.data_sizes, 1);
	ck_assert_uint_eq(ioc.precopy_infos, 1);
	ck_assert_uint_eq(ioc.v2_sets, 0);
	ck_assert_uint_eq(ioc.resets, 1);
	ck_assert_uint_eq(fake_ioctls(), n0 + 3 + 12);
	/* other devices untouched, unknown ids read as zero */
	fake_dev_ioctls(id_mtty2, &ioc);
	ck_assert_uint_eq(ioc.total, 0);
	memset(&ioc, 0xff, sizeof(ioc));
	fake_dev_ioctls(999, &ioc);
	ck_assert_uint_eq(ioc.total, 0);
	ck_assert_uint_eq(ioc.resets, 0);
	ck_ok(close(fd));
	ck_ok(close(dfd));
	ck_ok(close(g));
	ck_ok(close(c));
	ck_ok(close(p[0]));
	ck_ok(close(p[1]));
}
END_TEST

static Suite *fake_suite(void)
{
	Suite *s = suite_create("fake");
	/* Kernel behaviour on what the VM has not (variant vfio-pci functions,
	 * a machine without iommufd, REINIT): fake-only,
	 * tests/vm/fake-only.txt. */
	TCase *tc = tcase_create("core");
	/* The fake's own model and hooks: what a kernel has nothing of. */
	TCase *model = tcase_create("model");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, tree);
	tcase_add_test(tc, no_iommufd_machine);
	tcase_add_test(tc, device_driver_ioctls);
	tcase_add_test(tc, precopy_v2_feature);
	tcase_add_test(tc, precopy_info_reinit);
	tcase_add_test(tc, precopy_reinit_auto);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(model, setup, teardown);
	tcase_add_test(model, fd_flags_model);
	tcase_add_test(model, passthrough);
	tcase_add_test(model, group_open_count);
	tcase_add_test(model, type1_model);
	tcase_add_test(model, check_feature_helper);
	tcase_add_test(model, cdev_mdev_model);
	tcase_add_test(model, fault_injection);
	tcase_add_test(model, leak_count);
	tcase_add_test(model, arc_log);
	tcase_add_test(model, ioctl_counts);
	suite_add_tcase(s, model);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fake_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
