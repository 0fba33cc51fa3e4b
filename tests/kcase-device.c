// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of the foundation: open through both IOMMU paths,
 * EBUSY, capabilities, VFIO_DEVICE_FEATURE plumbing and its errno values,
 * reset, accessors, O_CLOEXEC, adopt, enumeration.  Written once; run on
 * the fake (kt-fake) and on the real kernel in the VM (kt-real).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "kenv.h"

#define MAX_FDS 1024

static const char *devroot(void)
{
	return kenv_dev_root() ? kenv_dev_root() : "/dev";
}

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void fd_snapshot(bool *open_)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	ck_assert_ptr_nonnull(d);
	memset(open_, 0, MAX_FDS * sizeof(*open_));
	while ((de = readdir(d))) {
		int n = atoi(de->d_name);

		if (de->d_name[0] != '.' && n != dirfd(d) && n >= 0 &&
		    n < MAX_FDS)
			open_[n] = true;
	}
	closedir(d);
}

/* Every fd opened since the snapshot is O_CLOEXEC; returns how many. */
static int new_fds_cloexec(const bool *before)
{
	bool after[MAX_FDS];
	int n = 0;

	fd_snapshot(after);
	for (int fd = 0; fd < MAX_FDS; fd++) {
		if (!after[fd] || before[fd])
			continue;
		ck_assert_msg(cloexec(fd), "fd %d is not O_CLOEXEC", fd);
		n++;
	}
	return n;
}

static int try_open(const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, &o, &dev);

	if (!ret)
		vfiomig_device_free(dev);
	else
		ck_assert_ptr_null(dev);
	return ret;
}

static void no_leaks(void)
{
	ck_assert_int_eq(kenv_open_fake_fds(), 0);
}

#define NEED_IOMMUFD()                                                         \
	do {                                                                   \
		if (!kenv_has_iommufd())                                       \
			kenv_skip("no cdev/iommufd path");                     \
	} while (0)

/* What vfiomig_device_enum says about one device. */
struct found {
	const char *want;
	bool seen;
	char driver[64], mdev_type[64], cdev[32], sysfs_path[PATH_MAX];
	int group;
};

static int find_cb(void *arg, const struct vfiomig_device_info *info)
{
	struct found *f = arg;

	if (strcmp(info->name, f->want))
		return 0;
	f->seen = true;
	snprintf(f->driver, sizeof(f->driver), "%s", info->driver ? info->driver : "");
	snprintf(f->mdev_type, sizeof(f->mdev_type), "%s",
		 info->mdev_type ? info->mdev_type : "");
	snprintf(f->cdev, sizeof(f->cdev), "%s", info->cdev ? info->cdev : "");
	snprintf(f->sysfs_path, sizeof(f->sysfs_path), "%s", info->sysfs_path);
	f->group = info->iommu_group;
	return 1;
}

static struct found find(const char *uuid)
{
	struct found f = { .want = uuid, .group = -1 };

	ck_assert_int_eq(vfiomig_device_enum(kenv_ctx(), 0, find_cb, &f), 1);
	ck_assert(f.seen);
	return f;
}

static const char *const mtty_uuid[] = { KENV_MTTY1_UUID, KENV_MTTY2_UUID };
static const char *const mtty_type[] = { "mtty-1", "mtty-2" };

static void same_path(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	ck_assert_ptr_nonnull(realpath(a, ra));
	ck_assert_ptr_nonnull(realpath(b, rb));
	ck_assert_str_eq(ra, rb);
}

/* Accessors and fds of a freshly opened mtty. */
static void check_mtty(struct vfiomig_device *dev, int i, int path)
{
	struct vfiomig_pci_ids ids;
	uint32_t devid = 1, ioas = 1, hwpt = 1;

	ck_assert_str_eq(vfiomig_device_name(dev), mtty_uuid[i]);
	ck_assert_str_eq(vfiomig_device_driver(dev), "mtty");
	ck_assert_str_eq(vfiomig_device_mdev_type(dev), mtty_type[i]);
	same_path(vfiomig_device_sysfs_path(dev), kenv_sysfs_path(mtty_uuid[i]));
	ck_assert_int_eq(vfiomig_device_pci_ids(dev, &ids), -ENODATA);
	ck_assert_ptr_eq(vfiomig_device_ctx(dev), kenv_ctx());
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), path);
	ck_assert(cloexec(vfiomig_device_fd(dev)));
	ck_assert(cloexec(vfiomig_device_iommu_fd(dev)));
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, &devid, &ioas, &hwpt), 0);
	if (path == VFIOMIG_IOMMU_IOMMUFD) {
		ck_assert_uint_ne(devid, 0);
		ck_assert_uint_ne(ioas, 0);
		/* emulated device: attached to the IOAS itself, no HWPT */
		ck_assert_uint_eq(hwpt, 0);
	} else {
		ck_assert_uint_eq(devid + ioas + hwpt, 0);
	}
}

static void open_both(int path, bool by_sysfs_path)
{
	for (int i = 0; i < 2; i++) {
		bool before[MAX_FDS];
		struct vfiomig_device *dev;
		const char *name = by_sysfs_path ? kenv_sysfs_path(mtty_uuid[i]) :
						   mtty_uuid[i];

		fd_snapshot(before);
		dev = kenv_open(name, path);
		/* device + group + container, or device + iommufd */
		ck_assert_int_eq(new_fds_cloexec(before),
				 path == VFIOMIG_IOMMU_TYPE1 ? 3 : 2);
		check_mtty(dev, i, path);
		vfiomig_device_free(dev);
		ck_assert_int_eq(new_fds_cloexec(before), 0);
	}
	no_leaks();
}

/* ------------------------------------------------------------ open */

START_TEST(open_type1_uuid)
{
	open_both(VFIOMIG_IOMMU_TYPE1, false);
}
END_TEST

START_TEST(open_type1_sysfs_path)
{
	open_both(VFIOMIG_IOMMU_TYPE1, true);
}
END_TEST

START_TEST(open_iommufd_uuid)
{
	NEED_IOMMUFD();
	open_both(VFIOMIG_IOMMU_IOMMUFD, false);
}
END_TEST

START_TEST(open_iommufd_sysfs_path)
{
	NEED_IOMMUFD();
	open_both(VFIOMIG_IOMMU_IOMMUFD, true);
}
END_TEST

START_TEST(open_uppercase_uuid)
{
	char upper[64];
	struct vfiomig_device *dev;

	for (size_t i = 0; i <= strlen(KENV_MTTY2_UUID); i++)
		upper[i] = (char)toupper((unsigned char)KENV_MTTY2_UUID[i]);
	dev = kenv_open(upper, VFIOMIG_IOMMU_TYPE1);
	ck_assert_str_eq(vfiomig_device_name(dev), KENV_MTTY2_UUID);
	vfiomig_device_free(dev);
	no_leaks();
}
END_TEST

START_TEST(open_cdev_name)
{
	struct found f;
	char node[PATH_MAX];
	struct vfiomig_device *dev;

	NEED_IOMMUFD();
	f = find(KENV_MTTY1_UUID);
	ck_assert_str_ne(f.cdev, "");
	snprintf(node, sizeof(node), "%s/vfio/devices/%s", devroot(), f.cdev);
	dev = kenv_open(node, VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_str_eq(vfiomig_device_name(dev), KENV_MTTY1_UUID);
	vfiomig_device_free(dev);
	dev = kenv_open(f.cdev, VFIOMIG_IOMMU_TYPE1); /* bare "vfioN" */
	ck_assert_str_eq(vfiomig_device_name(dev), KENV_MTTY1_UUID);
	vfiomig_device_free(dev);
	no_leaks();
}
END_TEST

START_TEST(open_auto)
{
	struct vfiomig_device *dev = NULL;

	ck_assert_int_eq(vfiomig_device_open(kenv_ctx(), KENV_MTTY2_UUID, NULL,
					     &dev), 0);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev),
			 kenv_has_iommufd() ? VFIOMIG_IOMMU_IOMMUFD :
					      VFIOMIG_IOMMU_TYPE1);
	vfiomig_device_free(dev);
	no_leaks();
}
END_TEST

START_TEST(open_missing)
{
	ck_assert_int_eq(try_open("83b8f4f2-509f-382f-3c1e-e6bfe0fa10ff",
				  VFIOMIG_IOMMU_AUTO), -ENODEV);
	ck_assert_int_eq(try_open("ff:1f.7", VFIOMIG_IOMMU_AUTO), -ENODEV);
	ck_assert_int_eq(try_open("not-a-device", VFIOMIG_IOMMU_AUTO), -EINVAL);
	no_leaks();
}
END_TEST

/* ------------------------------------------------------------ EBUSY */

START_TEST(ebusy_group_twice)
{
	struct vfiomig_device *a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);

	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1), -EBUSY);
	/* other devices (other groups) are not affected */
	ck_assert_int_eq(try_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1), 0);
	vfiomig_device_free(a);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1), 0);
	no_leaks();
}
END_TEST

START_TEST(ebusy_cdev_while_group)
{
	struct vfiomig_device *a;

	NEED_IOMMUFD();
	a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD), -EBUSY);
	vfiomig_device_free(a);
	no_leaks();
}
END_TEST

START_TEST(ebusy_group_while_cdev)
{
	struct vfiomig_device *a;

	NEED_IOMMUFD();
	a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1), -EBUSY);
	vfiomig_device_free(a);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1), 0);
	no_leaks();
}
END_TEST

START_TEST(ebusy_cdev_twice)
{
	struct vfiomig_device *a;

	NEED_IOMMUFD();
	a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD);
	/* The kernel answers BIND with EINVAL (one cdev open per device);
	 * the library reports the device as busy. */
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD), -EBUSY);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_AUTO), -EBUSY);
	vfiomig_device_free(a);
	ck_assert_int_eq(try_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD), 0);
	no_leaks();
}
END_TEST

/* ------------------------------------------------------------ features */

static void caps_on(int path)
{
	for (int i = 0; i < 2; i++) {
		struct vfiomig_device *dev = kenv_open(mtty_uuid[i], path);
		VFIOMIG_OPTS(vfiomig_caps, caps);
		struct vfio_device_feature_mig_data_size ds = { 0 };

		ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
		ck_assert_uint_eq(caps.migration_flags,
				  VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P |
					  VFIOMIG_MIG_PRE_COPY);
		ck_assert_uint_eq(caps.features,
				  VFIOMIG_CAP_MIGRATION |
					  VFIOMIG_CAP_MIG_DATA_SIZE |
					  VFIOMIG_CAP_DMA_LOGGING);
		ck_assert_int_eq(caps.iommu_path, path);
		ck_assert_int_eq(vfiomig_feature_get(dev,
						     VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
						     &ds, sizeof(ds)), 0);
		ck_assert_uint_eq(ds.stop_copy_length, i == 0 ? 60 : 96);
		vfiomig_device_free(dev);
	}
	no_leaks();
}

START_TEST(caps_type1)
{
	caps_on(VFIOMIG_IOMMU_TYPE1);
}
END_TEST

START_TEST(caps_iommufd)
{
	NEED_IOMMUFD();
	caps_on(VFIOMIG_IOMMU_IOMMUFD);
}
END_TEST

/* Raw VFIO_DEVICE_FEATURE: 0 or the errno. */
static int raw_feature(int fd, uint32_t argsz, uint32_t flags, void *payload,
		       size_t len)
{
	union {
		struct vfio_device_feature f;
		uint64_t b[8];
	} u = { .f = { .argsz = argsz, .flags = flags } };
	int ret;

	ck_assert_uint_le(len, sizeof(u) - sizeof(u.f));
	if (len)
		memcpy(u.f.data, payload, len);
	ret = ioctl(fd, VFIO_DEVICE_FEATURE, &u);
	if (ret < 0)
		return errno;
	if (len)
		memcpy(payload, u.f.data, len);
	return 0;
}

static void features_on(int path)
{
	struct vfiomig_device *dev = kenv_open(KENV_MTTY2_UUID, path);
	int fd = vfiomig_device_fd(dev);
	uint64_t v = 0;
	unsigned char four[4];

	/* probe: 1 supported, 0 not (ENOTTY: no such feature; EINVAL: no such op) */
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION, 0), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_SET), 0);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
					       VFIOMIG_FEATURE_GET | VFIOMIG_FEATURE_SET), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
					       VFIOMIG_FEATURE_GET), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					       VFIOMIG_FEATURE_SET), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
					       VFIOMIG_FEATURE_GET), 0);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
					       VFIOMIG_FEATURE_GET), 1);
	ck_assert_int_eq(vfiomig_feature_probe(dev, 3, 0), 0);
	ck_assert_int_eq(vfiomig_feature_probe(dev, 0, VFIOMIG_FEATURE_GET), 0);
	ck_assert_int_eq(vfiomig_feature_probe(dev, 1, 1u << 2), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_probe(dev, 0x10000, 0), -EINVAL);

	/* get/set through the library */
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     &v, sizeof(v)), 0);
	ck_assert_uint_eq(v, 0x7);
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     four, sizeof(four)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_set(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_get(dev, 3, &v, sizeof(v)), -ENOTTY);
	ck_assert_int_eq(vfiomig_feature_get(dev, 0x10000, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_get(dev, 1, NULL, 8), -EINVAL);

	/* raw: the kernel's own checks, in order (contract 2) */
	v = 0;
	ck_assert_int_eq(raw_feature(fd, 16, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, &v, 8), 0);
	ck_assert_uint_eq(v, 0x7);
	ck_assert_int_eq(raw_feature(fd, 4, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, &v, 8), EINVAL);
	ck_assert_int_eq(raw_feature(fd, 4, VFIO_DEVICE_FEATURE_PROBE |
				     VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0), EINVAL);
	ck_assert_int_eq(raw_feature(fd, 16, (1u << 19) | VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, &v, 8), EINVAL);
	ck_assert_int_eq(raw_feature(fd, 16, (1u << 19) | VFIO_DEVICE_FEATURE_GET | 3,
				     &v, 8), EINVAL);
	ck_assert_int_eq(raw_feature(fd, 16, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &v, 8), EINVAL);
	ck_assert_int_eq(raw_feature(fd, 16, VFIO_DEVICE_FEATURE_GET | 3, &v, 8),
			 ENOTTY);
	ck_assert_int_eq(raw_feature(fd, 8, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0), EINVAL);
	/* extra argsz is ignored */
	ck_assert_int_eq(raw_feature(fd, 64, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, &v, 8), 0);
	/* PROBE: 0 for GET|SET on the state, EINVAL for SET on MIGRATION */
	ck_assert_int_eq(raw_feature(fd, 8, VFIO_DEVICE_FEATURE_PROBE |
				     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0), 0);
	ck_assert_int_eq(raw_feature(fd, 8, VFIO_DEVICE_FEATURE_PROBE |
				     VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0), EINVAL);
	vfiomig_device_free(dev);
	no_leaks();
}

START_TEST(features_type1)
{
	features_on(VFIOMIG_IOMMU_TYPE1);
}
END_TEST

START_TEST(features_iommufd)
{
	NEED_IOMMUFD();
	features_on(VFIOMIG_IOMMU_IOMMUFD);
}
END_TEST

static int raw_state(int fd)
{
	struct vfio_device_feature_mig_state st = { .device_state = 99 };

	ck_assert_int_eq(raw_feature(fd, 16, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
				     sizeof(st)), 0);
	ck_assert_int_eq(st.data_fd, -1);
	return (int)st.device_state;
}

START_TEST(reset_to_running)
{
	struct vfiomig_device *dev = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);
	struct vfio_device_feature_mig_state st = {
		.device_state = VFIO_DEVICE_STATE_STOP,
	};
	int fd = vfiomig_device_fd(dev);

	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_int_eq(raw_feature(fd, 16, VFIO_DEVICE_FEATURE_SET |
				     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
				     sizeof(st)), 0);
	ck_assert_int_eq(st.data_fd, -1);
	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_STOP);
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_RUNNING);
	vfiomig_device_free(dev);
	no_leaks();
}
END_TEST

/* ------------------------------------------------------------ adopt */

/* The group path by hand, as a VMM would have done it. */
static int raw_type1(const char *uuid, int *cfd, int *gfd)
{
	char path[PATH_MAX];
	struct found f = find(uuid);
	int dfd;

	snprintf(path, sizeof(path), "%s/vfio/vfio", devroot());
	*cfd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(*cfd, 0);
	snprintf(path, sizeof(path), "%s/vfio/%d", devroot(), f.group);
	*gfd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(*gfd, 0);
	ck_assert_int_eq(ioctl(*gfd, VFIO_GROUP_SET_CONTAINER, cfd), 0);
	ck_assert_int_eq(ioctl(*cfd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	dfd = ioctl(*gfd, VFIO_GROUP_GET_DEVICE_FD, uuid);
	ck_assert_int_ge(dfd, 0);
	return dfd;
}

START_TEST(adopt_type1)
{
	struct vfiomig_device *dev = NULL;
	int cfd, gfd, dfd = raw_type1(KENV_MTTY2_UUID, &cfd, &gfd);
	VFIOMIG_OPTS(vfiomig_adopt_opts, o, .container_fd = cfd,
		     .name = KENV_MTTY2_UUID);
	VFIOMIG_OPTS(vfiomig_caps, caps);
	uint64_t v = 0;

	/* not owned: free leaves the fds to us */
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), dfd, &o, &dev), 0);
	ck_assert_int_eq(vfiomig_device_fd(dev), dfd);
	ck_assert_int_eq(vfiomig_device_iommu_fd(dev), cfd);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_TYPE1);
	ck_assert_str_eq(vfiomig_device_name(dev), KENV_MTTY2_UUID);
	ck_assert_str_eq(vfiomig_device_mdev_type(dev), "mtty-2");
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(caps.migration_flags, 0x7);
	ck_assert_int_eq(caps.iommu_path, VFIOMIG_IOMMU_TYPE1);
	vfiomig_device_free(dev);
	ck_assert_int_eq(raw_feature(dfd, 16, VFIO_DEVICE_FEATURE_GET |
				     VFIO_DEVICE_FEATURE_MIGRATION, &v, 8), 0);
	ck_assert(fd_open(cfd));

	/* owned: free closes device and container, not the group we kept */
	o.flags = VFIOMIG_ADOPT_OWN;
	o.name = NULL;
	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), dfd, &o, &dev), 0);
	ck_assert_ptr_null(vfiomig_device_name(dev));
	vfiomig_device_free(dev);
	ck_assert(!fd_open(dfd));
	ck_assert(!fd_open(cfd));
	ck_assert(fd_open(gfd));
	close(gfd);
	no_leaks();
}
END_TEST

START_TEST(adopt_iommufd)
{
	struct vfiomig_device *dev = NULL;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[PATH_MAX];
	uint32_t d, i, h;
	struct found f;
	int dfd, ifd;

	NEED_IOMMUFD();
	f = find(KENV_MTTY1_UUID);
	snprintf(path, sizeof(path), "%s/vfio/devices/%s", devroot(), f.cdev);
	dfd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	snprintf(path, sizeof(path), "%s/iommu", devroot());
	ifd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(ifd, 0);
	ck_assert_int_eq(ioctl(ifd, IOMMU_IOAS_ALLOC, &alloc), 0);
	bind.iommufd = ifd;
	ck_assert_int_eq(ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	at.pt_id = alloc.out_ioas_id;
	ck_assert_int_eq(ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at), 0);

	ck_assert_int_eq(vfiomig_device_adopt(kenv_ctx(), dfd,
		&(struct vfiomig_adopt_opts){
			.sz = sizeof(struct vfiomig_adopt_opts),
			.flags = VFIOMIG_ADOPT_OWN, .iommufd = ifd,
			.devid = bind.out_devid, .ioas_id = alloc.out_ioas_id,
			.name = kenv_sysfs_path(KENV_MTTY1_UUID) },
		&dev), 0);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_int_eq(vfiomig_device_iommu_fd(dev), ifd);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, &d, &i, &h), 0);
	ck_assert_uint_eq(d, bind.out_devid);
	ck_assert_uint_eq(i, alloc.out_ioas_id);
	ck_assert_uint_eq(h, 0);
	ck_assert_str_eq(vfiomig_device_name(dev), KENV_MTTY1_UUID);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
	vfiomig_device_free(dev);
	ck_assert(!fd_open(dfd));
	ck_assert(!fd_open(ifd));
	no_leaks();
}
END_TEST

/* ------------------------------------------------------------ std fds */

/* What a device leaves where a process started with 0, 1 and 2 closed. */
struct std_run {
	int open_ret, set_ret;
	int dev_fd, iommu_fd, data_fd;
	bool std_open[3]; /* 0, 1, 2 open after open + STOP_COPY + free */
	bool std_open_mid[3]; /* ... while the device was open */
	bool cloexec;     /* the three fds were O_CLOEXEC */
};

/*
 * Open mtty-2 on path, move it to STOP_COPY and free it, with 0-2 closed.
 * Nothing is asserted in between: 0-2 are back before Check reports.
 */
static void run_without_std(int path, struct std_run *r)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_ctx *ctx = kenv_ctx();
	struct vfiomig_device *dev = NULL;
	int saved[3];

	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
		ck_assert_int_ge(saved[i], 3);
	}
	for (int i = 0; i < 3; i++)
		close(i);

	r->open_ret = vfiomig_device_open(ctx, KENV_MTTY2_UUID, &o, &dev);
	r->set_ret = r->open_ret;
	r->dev_fd = r->iommu_fd = r->data_fd = -1;
	if (!r->open_ret) {
		r->dev_fd = vfiomig_device_fd(dev);
		r->iommu_fd = vfiomig_device_iommu_fd(dev);
		r->set_ret = vfiomig_state_set(dev, VFIOMIG_STATE_STOP_COPY,
					       NULL);
		r->data_fd = vfiomig_data_fd(dev);
		r->cloexec = cloexec(r->dev_fd) && cloexec(r->iommu_fd) &&
			     cloexec(r->data_fd);
	}
	for (int i = 0; i < 3; i++)
		r->std_open_mid[i] = fd_open(i);
	if (dev) {
		vfiomig_state_set(dev, VFIOMIG_STATE_RUNNING, NULL);
		vfiomig_device_free(dev);
	}
	for (int i = 0; i < 3; i++)
		r->std_open[i] = fd_open(i);

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(dup2(saved[i], i), i);
		close(saved[i]);
	}
}

/* A process run with stdin or stdout closed gets its next open() there; a
 * device fd on 1 would take the next printf (seen on mtty: its MCR
 * changed).  The library never hands out, nor keeps, a fd 0, 1 or 2. */
START_TEST(fds_above_stdio)
{
	static const int paths[] = { VFIOMIG_IOMMU_TYPE1,
				     VFIOMIG_IOMMU_IOMMUFD,
				     VFIOMIG_IOMMU_AUTO };
	int path = paths[_i];
	struct std_run r = { 0 };

	if (path == VFIOMIG_IOMMU_IOMMUFD)
		NEED_IOMMUFD();
	run_without_std(path, &r);
	ck_assert_msg(r.open_ret == 0, "open: %s", strerror(-r.open_ret));
	ck_assert_msg(r.set_ret == 0, "STOP_COPY: %s", strerror(-r.set_ret));
	ck_assert_int_gt(r.dev_fd, 2);
	ck_assert_int_gt(r.iommu_fd, 2);
	ck_assert_int_gt(r.data_fd, 2);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(!r.std_open_mid[i], "fd %d taken by the library", i);
		ck_assert_msg(!r.std_open[i], "fd %d left open", i);
	}
	ck_assert_msg(r.cloexec, "a moved fd is not O_CLOEXEC");
	no_leaks();
}
END_TEST

/* ------------------------------------------------------------ enum */

START_TEST(enum_mtty)
{
	static const char *const uuids[] = { KENV_MTTY1_UUID, KENV_MTTY2_UUID,
					     KENV_MTTY2B_UUID };
	static const char *const types[] = { "mtty-1", "mtty-2", "mtty-2" };

	for (int i = 0; i < 3; i++) {
		struct found f = find(uuids[i]);

		ck_assert_str_eq(f.driver, "mtty");
		ck_assert_str_eq(f.mdev_type, types[i]);
		ck_assert_int_ge(f.group, 0);
		same_path(f.sysfs_path, kenv_sysfs_path(uuids[i]));
		if (kenv_has_iommufd())
			ck_assert_int_eq(strncmp(f.cdev, "vfio", 4), 0);
	}
}
END_TEST

/* The walk's order, and a callback's non-zero return. */
struct walk {
	int n, stop_at;
	char names[64][64];
};

static int walk_cb(void *arg, const struct vfiomig_device_info *info)
{
	struct walk *w = arg;

	ck_assert_int_lt(w->n, 64);
	snprintf(w->names[w->n], sizeof(w->names[0]), "%s", info->name);
	return ++w->n == w->stop_at ? 42 : 0;
}

static bool uuid_name(const char *name)
{
	return strlen(name) == 36 && name[8] == '-' && name[13] == '-';
}

/* Every VFIO device once: PCI functions first, then mdevs, each sorted by
 * name (enum.c); a callback's non-zero return ends the walk at once and
 * is what the walk returns (moved from test-core's enum_machine). */
START_TEST(enum_order_stop)
{
	static const char *const uuids[] = {
		KENV_MTTY1_UUID,  KENV_MTTY2_UUID,  KENV_MTTY2B_UUID,
		KENV_MTTY2C_UUID, KENV_MTTY2D_UUID, KENV_MTTY2E_UUID,
		KENV_MTTY2F_UUID,
	};
	static struct walk w, part;
	int found = 0;

	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(vfiomig_device_enum(kenv_ctx(), 0, walk_cb, &w), 0);
	for (int i = 0; i < w.n; i++) {
		bool mdev = uuid_name(w.names[i]);

		if (i > 0 && uuid_name(w.names[i - 1]) == mdev)
			ck_assert_msg(strcmp(w.names[i - 1], w.names[i]) < 0,
				      "%s listed before %s", w.names[i - 1],
				      w.names[i]);
		else if (i > 0)
			ck_assert_msg(mdev, "PCI %s after mdev %s", w.names[i],
				      w.names[i - 1]);
		for (size_t u = 0; u < sizeof(uuids) / sizeof(uuids[0]); u++)
			found += !strcmp(w.names[i], uuids[u]);
	}
	ck_assert_int_eq(found, 7);
	for (int k = 1; k <= w.n; k++) {
		memset(&part, 0, sizeof(part));
		part.stop_at = k;
		ck_assert_int_eq(vfiomig_device_enum(kenv_ctx(), 0, walk_cb,
						     &part), 42);
		ck_assert_int_eq(part.n, k);
		for (int i = 0; i < k; i++)
			ck_assert_str_eq(part.names[i], w.names[i]);
	}
}
END_TEST

Suite *kcase_device_suite(void)
{
	Suite *s = suite_create("device");
	TCase *tc;

	tc = tcase_create("device-open");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, open_type1_uuid);
	tcase_add_test(tc, open_type1_sysfs_path);
	tcase_add_test(tc, open_iommufd_uuid);
	tcase_add_test(tc, open_iommufd_sysfs_path);
	tcase_add_test(tc, open_uppercase_uuid);
	tcase_add_test(tc, open_cdev_name);
	tcase_add_test(tc, open_auto);
	tcase_add_test(tc, open_missing);
	tcase_add_test(tc, ebusy_group_twice);
	tcase_add_test(tc, ebusy_cdev_while_group);
	tcase_add_test(tc, ebusy_group_while_cdev);
	tcase_add_test(tc, ebusy_cdev_twice);
	tcase_add_loop_test(tc, fds_above_stdio, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("device-feature");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, caps_type1);
	tcase_add_test(tc, caps_iommufd);
	tcase_add_test(tc, features_type1);
	tcase_add_test(tc, features_iommufd);
	tcase_add_test(tc, reset_to_running);
	suite_add_tcase(s, tc);

	tc = tcase_create("device-adopt-enum");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_add_test(tc, adopt_type1);
	tcase_add_test(tc, adopt_iommufd);
	tcase_add_test(tc, enum_mtty);
	tcase_add_test(tc, enum_order_stop);
	suite_add_tcase(s, tc);

	return s;
}
