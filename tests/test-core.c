// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fake-only unit tests of the foundation: context, options, log, version,
 * NULL handles, name resolution, adopt, and what needs a device the VM
 * has not: vfio-pci functions (a variant driver, one without a cdev, a
 * machine of several), a machine without /dev/iommu, hostile sysfs
 * entries.  The open paths on mtty, their faults, the feature plumbing
 * and a plain vfio-pci function's identity and caps (the VM's edu) are
 * kernel-facing cases (kcase-open.c, kcase-device.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <check.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "vfiomig.h"
#include "fake.h"

#define UUID1 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define UUID2 "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define BDF "0000:3b:00.1"
#define BDF_GROUP 12
#define BDF_CDEV 3
#define NOMIG_BDF "0000:3b:00.2"
#define NOCDEV_BDF "0000:3b:00.3"
#define OTHER_BDF "0000:00:1f.6" /* bound to a non-VFIO driver: not listed */

/* ------------------------------------------------------------ helpers */

static char logbuf[16384];

__attribute__((format(printf, 6, 0)))
static void log_capture(void *data, int prio, const char *file, int line,
			const char *fn, const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)data, (void)prio, (void)file, (void)line, (void)fn;
	if (n + 1 < sizeof(logbuf)) {
		vsnprintf(logbuf + n, sizeof(logbuf) - n - 1, fmt, ap);
		strcat(logbuf, "\n");
	}
	if (getenv("VFIOMIG_TEST_LOG")) {
		fprintf(stderr, "%s", logbuf + n);
	}
}

static struct vfiomig_ctx *new_ctx(const char *sys, const char *dev)
{
	VFIOMIG_OPTS(vfiomig_ctx_opts, o, .sysfs_root = sys, .dev_root = dev);
	struct vfiomig_ctx *ctx = NULL;

	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	vfiomig_ctx_set_log_fn(ctx, log_capture, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	logbuf[0] = '\0';
	return ctx;
}

static int count_in_log(const char *needle)
{
	int n = 0;

	for (const char *p = logbuf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The fake machine of the fake-backed cases. */
static struct vfiomig_ctx *ctx;
static int mtty1_id, pci_id;

static void machine_up(bool with_iommufd)
{
	struct fake_dev_cfg c;

	ck_assert_int_eq(fake_init(with_iommufd), 0);
	fake_cfg_mtty(&c, UUID1, 1, 20, 0);
	mtty1_id = fake_add_device(&c);
	ck_assert_int_ge(mtty1_id, 0);
	fake_cfg_mtty(&c, UUID2, 2, 21, 1);
	ck_assert_int_ge(fake_add_device(&c), 0);
	fake_cfg_pci(&c, BDF, BDF_GROUP, BDF_CDEV, 0x7);
	pci_id = fake_add_device(&c);
	ck_assert_int_ge(pci_id, 0);
	fake_cfg_pci(&c, NOMIG_BDF, 13, 4, 0);
	ck_assert_int_ge(fake_add_device(&c), 0);
	fake_cfg_pci(&c, NOCDEV_BDF, 14, -1, 0x7);
	ck_assert_int_ge(fake_add_device(&c), 0);
	fake_cfg_pci(&c, OTHER_BDF, 15, -1, 0);
	c.driver = "e1000e";
	ck_assert_int_ge(fake_add_device(&c), 0);
	ctx = new_ctx(fake_sysfs_root(), fake_dev_root());
}

static void setup(void)
{
	machine_up(true);
}

static void setup_no_iommufd(void)
{
	machine_up(false);
}

static void teardown(void)
{
	fake_fail_nth(0, 0);
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_fini(), 0);
}

static struct vfiomig_device *open_path(const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(ctx, name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s path %d: %s\n%s", name, path,
		      strerror(-ret), logbuf);
	return dev;
}

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

/* ------------------------------------------------------------ version, ctx */

START_TEST(version)
{
	unsigned int a = 9, b = 9, c = 9;
	char buf[32];

	ck_assert_str_eq(vfiomig_version(&a, &b, &c), PACKAGE_VERSION);
	snprintf(buf, sizeof(buf), "%u.%u.%u", a, b, c);
	ck_assert_str_eq(buf, PACKAGE_VERSION);
	ck_assert_uint_eq(a, VFIOMIG_VERSION_MAJOR);
	ck_assert_ptr_nonnull(vfiomig_version(NULL, NULL, NULL));
}
END_TEST

START_TEST(ctx_defaults)
{
	struct vfiomig_ctx *c = NULL;

	ck_assert_int_eq(vfiomig_ctx_new(NULL, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_ctx_new(NULL, &c), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(vfiomig_ctx_get_log_priority(c), LOG_ERR);
	vfiomig_ctx_set_log_priority(c, LOG_DEBUG);
	ck_assert_int_eq(vfiomig_ctx_get_log_priority(c), LOG_DEBUG);
	vfiomig_ctx_free(c);
	/* NULL is harmless everywhere */
	vfiomig_ctx_free(NULL);
	vfiomig_ctx_set_log_fn(NULL, log_capture, NULL);
	vfiomig_ctx_set_log_priority(NULL, LOG_DEBUG);
	ck_assert_int_eq(vfiomig_ctx_get_log_priority(NULL), -EINVAL);
}
END_TEST

START_TEST(ctx_opts_sizes)
{
	struct {
		struct vfiomig_ctx_opts o;
		uint64_t future;
	} big = { .o = { .sz = sizeof(big) } };
	struct vfiomig_ctx_opts small = { .sz = 1 };
	struct vfiomig_ctx *c = NULL;
	/* An older caller that knew only sysfs_root. */
	struct vfiomig_ctx_opts old = {
		.sz = offsetof(struct vfiomig_ctx_opts, dev_root),
		.sysfs_root = "/nonexistent-sys",
		.dev_root = (const char *)1, /* not part of the old struct */
	};

	ck_assert_int_eq(vfiomig_ctx_new(&small, &c), -EINVAL);
	big.future = 1;
	ck_assert_int_eq(vfiomig_ctx_new(&big.o, &c), -E2BIG);
	big.future = 0;
	ck_assert_int_eq(vfiomig_ctx_new(&big.o, &c), 0);
	vfiomig_ctx_free(c);
	ck_assert_int_eq(vfiomig_ctx_new(&old, &c), 0);
	vfiomig_ctx_set_log_fn(c, log_capture, NULL);
	logbuf[0] = '\0';
	/* dev_root was not read: the default /dev stands. */
	ck_assert_int_eq(vfiomig_device_open(c, UUID1, NULL,
					     &(struct vfiomig_device *){ 0 }),
			 -ENODEV);
	ck_assert_ptr_nonnull(strstr(logbuf, "/nonexistent-sys/bus/mdev/devices/" UUID1));
	vfiomig_ctx_free(c);
}
END_TEST

START_TEST(log_priority_filter)
{
	struct vfiomig_ctx *c = new_ctx("/nonexistent-sys", "/nonexistent-dev");
	struct vfiomig_device *dev = NULL;

	vfiomig_ctx_set_log_priority(c, LOG_EMERG);
	ck_assert_int_eq(vfiomig_device_open(c, "nonsense", NULL, &dev), -EINVAL);
	ck_assert_str_eq(logbuf, "");
	vfiomig_ctx_set_log_priority(c, LOG_ERR);
	ck_assert_int_eq(vfiomig_device_open(c, "nonsense", NULL, &dev), -EINVAL);
	ck_assert_ptr_nonnull(strstr(logbuf, "nonsense"));
	/* no log function: silence, no crash */
	vfiomig_ctx_set_log_fn(c, NULL, NULL);
	ck_assert_int_eq(vfiomig_device_open(c, "nonsense", NULL, &dev), -EINVAL);
	ck_assert_ptr_null(dev);
	vfiomig_ctx_free(c);
}
END_TEST

/* ------------------------------------------------------------ NULL handles */

static int enum_count(void *arg, const struct vfiomig_device_info *info)
{
	(void)info;
	(*(int *)arg)++;
	return 0;
}

START_TEST(null_handles)
{
	struct vfiomig_device *dev = (struct vfiomig_device *)&dev;
	struct vfiomig_pci_ids ids;
	struct vfiomig_caps caps = { .sz = sizeof(caps) };
	struct vfiomig_ctx *c = new_ctx("/nonexistent", "/nonexistent");
	uint64_t v;
	int n = 0;

	ck_assert_int_eq(vfiomig_device_open(NULL, UUID1, NULL, &dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_open(c, NULL, NULL, &dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_open(c, UUID1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_device_adopt(NULL, 5, NULL, &dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_adopt(c, 5, NULL, NULL), -EINVAL);
	vfiomig_device_free(NULL);
	ck_assert_ptr_null(vfiomig_device_ctx(NULL));
	ck_assert_int_eq(vfiomig_device_fd(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_device_iommu_fd(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_device_iommu_path(NULL), -EINVAL);
	ck_assert_ptr_null(vfiomig_device_name(NULL));
	ck_assert_ptr_null(vfiomig_device_sysfs_path(NULL));
	ck_assert_ptr_null(vfiomig_device_driver(NULL));
	ck_assert_ptr_null(vfiomig_device_mdev_type(NULL));
	ck_assert_int_eq(vfiomig_device_pci_ids(NULL, &ids), -EINVAL);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(NULL, NULL, NULL, NULL),
			 -EINVAL);
	ck_assert_int_eq(vfiomig_device_reset(NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_device_caps(NULL, &caps), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_probe(NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_get(NULL, 1, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_set(NULL, 2, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_device_enum(NULL, 0, enum_count, &n), -EINVAL);
	ck_assert_int_eq(vfiomig_device_enum(c, 0, NULL, &n), -EINVAL);
	ck_assert_int_eq(vfiomig_device_enum(c, 1, enum_count, &n), -EINVAL);
	/* no sysfs at all: nothing to enumerate, not an error */
	ck_assert_int_eq(vfiomig_device_enum(c, 0, enum_count, &n), 0);
	ck_assert_int_eq(n, 0);
	vfiomig_ctx_free(c);
}
END_TEST

/* ------------------------------------------------------------ names */

/* Resolution needs no kernel: an empty sysfs tells which path was tried. */
START_TEST(names_resolve)
{
	static const struct {
		const char *name, *tried;
	} ok[] = {
		{ "0000:3b:00.1", "/S/bus/pci/devices/0000:3b:00.1" },
		{ "3b:00.1", "/S/bus/pci/devices/0000:3b:00.1" },
		{ "3B:1F.7", "/S/bus/pci/devices/0000:3b:1f.7" },
		{ "10000:00:02.0", "/S/bus/pci/devices/10000:00:02.0" },
		{ UUID1, "/S/bus/mdev/devices/" UUID1 },
		{ "83B8F4F2-509F-382F-3C1E-E6BFE0FA1001",
		  "/S/bus/mdev/devices/" UUID1 },
		{ "vfio7", "/S/class/vfio-dev/vfio7/device" },
		{ "/D/vfio/devices/vfio12", "/S/class/vfio-dev/vfio12/device" },
		{ "/dev/vfio/devices/vfio3", "/S/class/vfio-dev/vfio3/device" },
		{ "/S/devices/virtual/mtty/mtty/x", "/S/devices/virtual/mtty/mtty/x" },
	};
	static const char *const bad[] = {
		"", "foo", "3b:00.8", "3b:20.0", "0000:3b:00", "000:3b:00.1",
		"0000:3b:00.1x", "3b:0.1", "0000:3g:00.1",
		"83b8f4f2-509f-382f-3c1e-e6bfe0fa100",
		"83b8f4f2-509f-382f-3c1e-e6bfe0fa10011",
		"83b8f4f2_509f-382f-3c1e-e6bfe0fa1001",
		"83b8f4f2-509f-382f-3c1e-e6bfe0fa100g", "vfio", "vfiox",
		"vfio3x", "vfio-3",
	};
	char tmpl[] = "/tmp/vfiomig-names-XXXXXX";
	char sys[PATH_MAX], devr[PATH_MAX], name[PATH_MAX], want[PATH_MAX];
	struct vfiomig_device *dev = NULL;
	struct vfiomig_ctx *c;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(sys, sizeof(sys), "%s/S", tmpl);
	snprintf(devr, sizeof(devr), "%s/D", tmpl);
	c = new_ctx(sys, devr);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *n = ok[i].name;

		if (!strncmp(n, "/S", 2) || !strncmp(n, "/D", 2)) {
			snprintf(name, sizeof(name), "%s%s", tmpl, n);
			n = name;
		}
		snprintf(want, sizeof(want), "%s%s does not exist", tmpl,
			 ok[i].tried);
		logbuf[0] = '\0';
		ck_assert_int_eq(vfiomig_device_open(c, n, NULL, &dev), -ENODEV);
		ck_assert_msg(strstr(logbuf, want), "%s: log \"%s\", want \"%s\"",
			      n, logbuf, want);
		ck_assert_msg(strstr(logbuf, n), "%s: log does not name it", n);
		/* adopt resolves a name the same way */
		ck_assert_int_eq(vfiomig_device_adopt(c, 0,
			&(struct vfiomig_adopt_opts){ .sz = sizeof(struct vfiomig_adopt_opts),
						      .name = n }, &dev),
			-ENODEV);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		logbuf[0] = '\0';
		ck_assert_msg(vfiomig_device_open(c, bad[i], NULL, &dev) == -EINVAL,
			      "\"%s\" accepted", bad[i]);
		ck_assert_int_eq(count_in_log("not a PCI address"), 1);
	}
	ck_assert_ptr_null(dev);
	vfiomig_ctx_free(c);
	rmdir(tmpl);
}
END_TEST

/* ------------------------------------------------------------ open */

START_TEST(open_no_cdev)
{
	struct vfiomig_device *dev;

	dev = open_path(NOCDEV_BDF, VFIOMIG_IOMMU_AUTO);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_TYPE1);
	vfiomig_device_free(dev);
	logbuf[0] = '\0';
	ck_assert_int_eq(vfiomig_device_open(ctx, NOCDEV_BDF,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_IOMMUFD },
		&dev), -ENODEV);
	ck_assert_ptr_nonnull(strstr(logbuf, "no VFIO cdev"));
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

START_TEST(open_no_iommufd)
{
	struct vfiomig_device *dev = NULL;
	int ret;

	dev = open_path(UUID1, VFIOMIG_IOMMU_AUTO);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_TYPE1);
	vfiomig_device_free(dev);
	dev = NULL;
	logbuf[0] = '\0';
	ret = vfiomig_device_open(ctx, UUID1,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_IOMMUFD },
		&dev);
	/* no IOMMUFD, no VFIO_DEVICE_CDEV: no cdev to open */
	ck_assert_int_eq(ret, -ENODEV);
	ck_assert_ptr_null(dev);
	ck_assert_ptr_nonnull(strstr(logbuf, "no VFIO cdev"));
	ck_assert_int_eq(fake_open_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ adopt */

START_TEST(adopt_checks)
{
	struct vfiomig_device *dev = NULL;
	VFIOMIG_OPTS(vfiomig_adopt_opts, o, .flags = 1u << 3);

	ck_assert_int_eq(vfiomig_device_adopt(ctx, 5, &o, &dev), -EINVAL);
	o.flags = 0;
	ck_assert_int_eq(vfiomig_device_adopt(ctx, -1, &o, &dev), -EBADF);
	ck_assert_int_eq(vfiomig_device_adopt(ctx, -1, NULL, &dev), -EBADF);
	o.container_fd = 6;
	o.iommufd = 7;
	ck_assert_int_eq(vfiomig_device_adopt(ctx, 5, &o, &dev), -EINVAL);
	o.container_fd = 0;
	o.iommufd = 0;
	o.name = "nonsense";
	ck_assert_int_eq(vfiomig_device_adopt(ctx, 5, &o, &dev), -EINVAL);
	o.name = "0000:99:00.0";
	o.flags = VFIOMIG_ADOPT_OWN;
	ck_assert_int_eq(vfiomig_device_adopt(ctx, 5, &o, &dev), -ENODEV);
	ck_assert_ptr_null(dev);
}
END_TEST

/* Ownership needs no kernel: plain eventfds stand for the adopted fds. */
START_TEST(adopt_ownership)
{
	struct vfiomig_device *dev = NULL;
	int dfd = eventfd(0, EFD_CLOEXEC), xfd = eventfd(0, EFD_CLOEXEC);
	uint32_t d, i, h;

	ck_assert_int_ge(dfd, 0);
	ck_assert_int_ge(xfd, 0);
	ck_assert_int_eq(vfiomig_device_adopt(ctx, dfd,
		&(struct vfiomig_adopt_opts){ .sz = sizeof(struct vfiomig_adopt_opts),
					      .container_fd = xfd, .name = UUID2 },
		&dev), 0);
	ck_assert_int_eq(vfiomig_device_fd(dev), dfd);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(vfiomig_device_iommu_fd(dev), xfd);
	ck_assert_str_eq(vfiomig_device_name(dev), UUID2);
	ck_assert_str_eq(vfiomig_device_mdev_type(dev), "mtty-2");
	ck_assert_str_eq(vfiomig_device_driver(dev), "mtty");
	vfiomig_device_free(dev);
	ck_assert(cloexec(dfd) && cloexec(xfd)); /* not owned: still open */

	ck_assert_int_eq(vfiomig_device_adopt(ctx, dfd, NULL, &dev), 0);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_NONE);
	ck_assert_int_eq(vfiomig_device_iommu_fd(dev), -ENOENT);
	ck_assert_ptr_null(vfiomig_device_name(dev));
	ck_assert_ptr_null(vfiomig_device_sysfs_path(dev));
	ck_assert_int_eq(vfiomig_device_pci_ids(dev, &(struct vfiomig_pci_ids){ 0 }),
			 -ENODATA);
	vfiomig_device_free(dev);
	ck_assert(cloexec(dfd));

	ck_assert_int_eq(vfiomig_device_adopt(ctx, dfd,
		&(struct vfiomig_adopt_opts){ .sz = sizeof(struct vfiomig_adopt_opts),
					      .flags = VFIOMIG_ADOPT_OWN,
					      .container_fd = -1, .iommufd = xfd,
					      .devid = 5, .ioas_id = 6, .hwpt_id = 7,
					      .name = BDF },
		&dev), 0);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev), VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_int_eq(vfiomig_device_iommu_fd(dev), xfd);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, &d, &i, &h), 0);
	ck_assert_uint_eq(d, 5);
	ck_assert_uint_eq(i, 6);
	ck_assert_uint_eq(h, 7);
	ck_assert_int_eq(vfiomig_device_pci_ids(dev, &(struct vfiomig_pci_ids){ 0 }), 0);
	vfiomig_device_free(dev);
	/* owned: both closed */
	ck_assert_int_eq(fcntl(dfd, F_GETFD), -1);
	ck_assert_int_eq(fcntl(xfd, F_GETFD), -1);
}
END_TEST

/* ------------------------------------------------------------ enum */

struct seen {
	int n;
	char names[16][64];
	struct vfiomig_device_info info[16];
	char drivers[16][32], types[16][32], cdevs[16][16];
};

static int enum_record(void *arg, const struct vfiomig_device_info *info)
{
	struct seen *s = arg;
	int i = s->n++;

	ck_assert_int_lt(i, 16);
	ck_assert_uint_eq(info->sz, sizeof(*info));
	snprintf(s->names[i], sizeof(s->names[i]), "%s", info->name);
	snprintf(s->drivers[i], sizeof(s->drivers[i]), "%s",
		 info->driver ? info->driver : "(null)");
	snprintf(s->types[i], sizeof(s->types[i]), "%s",
		 info->mdev_type ? info->mdev_type : "(null)");
	snprintf(s->cdevs[i], sizeof(s->cdevs[i]), "%s",
		 info->cdev ? info->cdev : "(null)");
	s->info[i] = *info;
	ck_assert_ptr_nonnull(info->sysfs_path);
	return 0;
}

START_TEST(enum_machine)
{
	struct seen s = { 0 };

	ck_assert_int_eq(vfiomig_device_enum(ctx, 0, enum_record, &s), 0);
	/* PCI first (sorted), the e1000e function skipped, then mdevs */
	ck_assert_int_eq(s.n, 5);
	ck_assert_str_eq(s.names[0], BDF);
	ck_assert_str_eq(s.names[1], NOMIG_BDF);
	ck_assert_str_eq(s.names[2], NOCDEV_BDF);
	ck_assert_str_eq(s.names[3], UUID1);
	ck_assert_str_eq(s.names[4], UUID2);
	ck_assert_str_eq(s.drivers[0], "mlx5_vfio_pci"); /* a variant */
	ck_assert_str_eq(s.drivers[1], "vfio-pci");
	ck_assert_str_eq(s.types[0], "(null)");
	ck_assert_str_eq(s.cdevs[0], "vfio3");
	ck_assert_int_eq(s.info[0].iommu_group, BDF_GROUP);
	ck_assert_str_eq(s.cdevs[2], "(null)");
	ck_assert_str_eq(s.drivers[3], "mtty");
	ck_assert_str_eq(s.types[3], "mtty-1");
	ck_assert_str_eq(s.types[4], "mtty-2");
	ck_assert_int_eq(s.info[4].iommu_group, 21);
	ck_assert_str_eq(s.cdevs[4], "vfio1");
}
END_TEST

/* ------------------------------------------------------------ hostile sysfs */

/* What a container's /sys or a --sysfs-root may hold where sysfs has an
 * attribute or a link: each breaks NOMIG_BDF only. */
enum hostile {
	H_FIFO,         /* vendor: a FIFO (open or read would block) */
	H_SOCKET,       /* vendor: a bound unix socket */
	H_HUGE,         /* vendor: 1 MiB regular file */
	H_LOOP,         /* vendor: a symlink to itself */
	H_DIR,          /* vendor: a directory */
	H_LINK_FIFO,    /* driver: a FIFO where a link should be */
	H_VFIODEV_FIFO, /* vfio-dev: a FIFO where a directory should be */
	H_ENTRY_LOOP,   /* bus/pci/devices/<bdf>: a symlink loop */
	H_ENTRY_FIFO,   /* bus/pci/devices/<bdf>: a link to a FIFO */
	H_COUNT
};

/* snprintf() into an array, asserting it fits. */
#define PATHF(buf, ...)                                                        \
	ck_assert_uint_lt((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__),    \
			  sizeof(buf))

/* Break NOMIG_BDF's sysfs as h says.  Returns the path the log must name
 * and, for H_SOCKET, the socket's fd in *sock (else -1). */
static void make_hostile(int h, char named[PATH_MAX], int *sock)
{
	char entry[PATH_MAX], dir[PATH_MAX], p[PATH_MAX], old[PATH_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	*sock = -1;
	PATHF(entry, "%s/bus/pci/devices/%s", fake_sysfs_root(), NOMIG_BDF);
	ck_assert_ptr_nonnull(realpath(entry, dir));
	if (h == H_ENTRY_LOOP || h == H_ENTRY_FIFO) {
		PATHF(p, "%s/fifo", dir);
		ck_assert_int_eq(unlink(entry), 0);
		ck_assert_int_eq(h == H_ENTRY_LOOP ? symlink(entry, entry)
						   : mkfifo(p, 0600) ||
							     symlink(p, entry),
				 0);
		strcpy(named, h == H_ENTRY_LOOP ? entry : p);
		return;
	}
	PATHF(p, "%s/%s", dir,
	      h == H_LINK_FIFO ? "driver" :
	      h == H_VFIODEV_FIFO ? "vfio-dev" : "vendor");
	if (h == H_VFIODEV_FIFO) {
		PATHF(old, "%s/vfio-dev.old", dir);
		ck_assert_int_eq(rename(p, old), 0);
	} else {
		ck_assert_int_eq(unlink(p), 0);
	}
	strcpy(named, p);
	switch (h) {
	case H_FIFO:
	case H_LINK_FIFO:
	case H_VFIODEV_FIFO:
		ck_assert_int_eq(mkfifo(p, 0600), 0);
		break;
	case H_SOCKET:
		ck_assert_uint_lt(strlen(p), sizeof(sa.sun_path));
		strcpy(sa.sun_path, p);
		*sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(*sock, 0);
		ck_assert_int_eq(bind(*sock, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		ck_assert_int_eq(listen(*sock, 1), 0);
		break;
	case H_HUGE:
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		/* A real vendor id first: only the size gives it away. */
		ck_assert_int_eq(write(fd, "0x15b3\n", 7), 7);
		ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
		close(fd);
		break;
	case H_LOOP:
		ck_assert_int_eq(symlink("vendor", p), 0);
		break;
	case H_DIR:
		ck_assert_int_eq(mkdir(p, 0700), 0);
		break;
	}
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Enumeration finishes without the broken device and with every other one;
 * opening it fails, naming the file, with nothing left open.  A FIFO would
 * block forever (Check's timeout then fails the test). */
START_TEST(sysfs_hostile)
{
	static const char *const types[H_COUNT] = {
		[H_FIFO] = "a FIFO", [H_SOCKET] = "a socket",
		[H_HUGE] = "longer than", [H_LOOP] = "a symbolic link",
		[H_DIR] = "a directory", [H_LINK_FIFO] = "a FIFO",
		[H_VFIODEV_FIFO] = "Not a directory",
		[H_ENTRY_LOOP] = "Too many levels of symbolic links",
		[H_ENTRY_FIFO] = "a FIFO",
	};
	struct vfiomig_device *dev = NULL;
	struct seen s = { 0 };
	char named[PATH_MAX];
	int sock, fds, ret;

	make_hostile(_i, named, &sock);
	fds = count_fds();
	ck_assert_int_eq(vfiomig_device_enum(ctx, 0, enum_record, &s), 0);
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.names[0], BDF);
	ck_assert_str_eq(s.names[1], NOCDEV_BDF);
	ck_assert_str_eq(s.names[2], UUID1);
	ck_assert_str_eq(s.names[3], UUID2);
	ck_assert_msg(strstr(logbuf, named) && strstr(logbuf, types[_i]),
		      "log does not say %s is %s:\n%s", named, types[_i], logbuf);

	logbuf[0] = '\0';
	ret = vfiomig_device_open(ctx, NOMIG_BDF, NULL, &dev);
	ck_assert_msg(ret < 0, "opened: %d", ret);
	ck_assert_ptr_null(dev);
	ck_assert_msg(strstr(logbuf, named), "log does not name %s:\n%s",
		      named, logbuf);
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(count_fds(), fds);
	/* the others still open */
	vfiomig_device_free(open_path(BDF, VFIOMIG_IOMMU_AUTO));
	if (sock >= 0)
		close(sock);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("basics");
	tcase_add_test(tc, version);
	tcase_add_test(tc, ctx_defaults);
	tcase_add_test(tc, ctx_opts_sizes);
	tcase_add_test(tc, log_priority_filter);
	tcase_add_test(tc, null_handles);
	tcase_add_test(tc, names_resolve);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, open_no_cdev);
	suite_add_tcase(s, tc);

	tc = tcase_create("no-iommufd");
	tcase_add_checked_fixture(tc, setup_no_iommufd, teardown);
	tcase_add_test(tc, open_no_iommufd);
	suite_add_tcase(s, tc);

	tc = tcase_create("adopt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, adopt_checks);
	tcase_add_test(tc, adopt_ownership);
	suite_add_tcase(s, tc);

	tc = tcase_create("enum");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, enum_machine);
	tcase_add_loop_test(tc, sysfs_hostile, 0, H_COUNT);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
