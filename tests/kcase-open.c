// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases of the open paths and the feature plumbing, moved
 * here from tests/test-core.c: open options, EBUSY's message, shared
 * containers and iommufds, fds with 0-2 closed, caps sizes, feature
 * arguments, and a fault injected at every kernel call of each open path
 * and of each feature call.  Written once, run on the fake (kt-fake) and
 * on the real kernel in the VM (kt-real), on mtty; a vfio-pci function's
 * identity and caps on the edu function (kenv.h, PCI).
 *
 * After each injected fault: the error is the injected one (or the
 * mapping iommu.c documents), no kernel fd is left (kenv_kernel_fds), and
 * the context is still usable: the same open succeeds next.
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
#include <sys/ioctl.h>
#include <linux/vfio.h>

#include "kenv.h"

/* ------------------------------------------------------------ helpers */

static bool cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static struct vfiomig_device *open_with(const char *name,
					const struct vfiomig_open_opts *o)
{
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, o, &dev);

	ck_assert_msg(ret == 0, "open %s (path %d): %s", name,
		      o ? o->iommu : VFIOMIG_IOMMU_AUTO, strerror(-ret));
	ck_assert_ptr_nonnull(dev);
	return dev;
}

/* 0 (the handle freed again) or the error, with no handle. */
static int try_open(const char *name, const struct vfiomig_open_opts *o)
{
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, o, &dev);

	if (!ret)
		vfiomig_device_free(dev);
	else
		ck_assert_ptr_null(dev);
	return ret;
}

/* Kernel calls of one successful open. */
static unsigned int open_calls(const char *name,
			       const struct vfiomig_open_opts *o)
{
	unsigned int c0 = kenv_calls(), n;
	struct vfiomig_device *dev = open_with(name, o);

	n = kenv_calls() - c0;
	vfiomig_device_free(dev);
	return n;
}

/* The IOMMU group of an mdev, from its sysfs iommu_group link. */
static int group_of(const char *uuid)
{
	char link[PATH_MAX], to[PATH_MAX], *end;
	const char *base;
	ssize_t n;
	long g;

	snprintf(link, sizeof(link), "%s/iommu_group", kenv_sysfs_path(uuid));
	n = readlink(link, to, sizeof(to) - 1);
	ck_assert_msg(n > 0, "%s: %s", link, strerror(errno));
	to[n] = '\0';
	base = strrchr(to, '/');
	base = base ? base + 1 : to;
	g = strtol(base, &end, 10);
	ck_assert_msg(*base && !*end && g >= 0 && g < INT_MAX,
		      "%s -> %s: no group number", link, to);
	return (int)g;
}

/* Raw MIG_DEVICE_STATE GET or SET on a device fd, as the case did before:
 * the state after it. */
static int raw_state_op(int fd, uint32_t op, uint32_t state)
{
	union {
		struct vfio_device_feature f;
		uint64_t b[4];
	} u = { .f = { .argsz = 16,
		       .flags = op | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE } };
	struct vfio_device_feature_mig_state st = { .device_state = state };

	memcpy(u.f.data, &st, sizeof(st));
	ck_assert_msg(ioctl(fd, VFIO_DEVICE_FEATURE, &u) == 0,
		      "MIG_DEVICE_STATE: %s", strerror(errno));
	memcpy(&st, u.f.data, sizeof(st));
	ck_assert_int_eq(st.data_fd, -1);
	return (int)st.device_state;
}

static int raw_state(int fd)
{
	return raw_state_op(fd, VFIO_DEVICE_FEATURE_GET, 0);
}

static void raw_set_state(int fd, uint32_t state)
{
	ck_assert_int_eq(raw_state_op(fd, VFIO_DEVICE_FEATURE_SET, state),
			 (int)state);
}

/* The open paths need the cdev/iommufd path: the VM and the fake have it;
 * a machine without it skips (a failure in the VM). */
#define NEED_IOMMUFD()                                                         \
	do {                                                                   \
		if (!kenv_has_iommufd())                                       \
			kenv_skip("no cdev/iommufd path");                     \
	} while (0)

/* ------------------------------------------------------------ options */

START_TEST(open_opts)
{
	struct vfiomig_device *dev = NULL;
	struct vfiomig_ctx *ctx = kenv_ctx();
	struct {
		struct vfiomig_open_opts o;
		uint32_t future;
	} big = { .o = { .sz = sizeof(big) } };

	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts), .flags = 1u << 31 },
		&dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_NONE },
		&dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts), .iommu = 42 },
		&dev), -EINVAL);
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID,
		&(struct vfiomig_open_opts){ .sz = 2 }, &dev), -EINVAL);
	big.future = 7;
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID, &big.o, &dev),
			 -E2BIG);
	ck_assert_ptr_null(dev);
	/* none of these reached the kernel */
	ck_assert_uint_eq(kenv_calls(), 0);
	/* an older struct with only sz and flags: AUTO */
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID,
		&(struct vfiomig_open_opts){ .sz = offsetof(struct vfiomig_open_opts, iommu),
					     .iommu = 99 }, &dev), 0);
	ck_assert_int_eq(vfiomig_device_iommu_path(dev),
			 kenv_has_iommufd() ? VFIOMIG_IOMMU_IOMMUFD :
					      VFIOMIG_IOMMU_TYPE1);
	vfiomig_device_free(dev);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ EBUSY */

START_TEST(open_ebusy_log)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_device *a, *b = NULL;
	struct vfiomig_ctx *ctx = kenv_ctx_logged(LOG_DEBUG);
	char want[128];

	a = open_with(KENV_MTTY1_UUID, &o);
	snprintf(want, sizeof(want),
		 "group %d is already open (in use by another process?)",
		 group_of(KENV_MTTY1_UUID));
	kenv_log_clear();
	ck_assert_int_eq(vfiomig_device_open(ctx, KENV_MTTY1_UUID, &o, &b),
			 -EBUSY);
	ck_assert_msg(strstr(kenv_log_text(), want), "log does not say \"%s\":\n%s",
		      want, kenv_log_text());
	ck_assert_ptr_null(b);
	vfiomig_device_free(a);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ shared fds */

START_TEST(open_shared_container)
{
	struct vfiomig_device *a, *b, *c;
	int cfd;

	a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);
	cfd = vfiomig_device_iommu_fd(a);
	ck_assert_int_gt(cfd, 0);
	b = open_with(KENV_MTTY2_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_TYPE1,
					     .iommu_fd = cfd });
	ck_assert_int_eq(vfiomig_device_iommu_fd(b), cfd);
	/* AUTO with a shared fd and no IOAS: the fd is a container */
	c = open_with(KENV_MTTY2B_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu_fd = cfd });
	ck_assert_int_eq(vfiomig_device_iommu_path(c), VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(vfiomig_device_iommu_fd(c), cfd);
	vfiomig_device_free(c);
	vfiomig_device_free(b);
	/* b did not own the container */
	ck_assert(cloexec(cfd));
	ck_assert_int_eq(vfiomig_feature_probe(a, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
	vfiomig_device_free(a);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

START_TEST(open_shared_iommufd)
{
	struct vfiomig_device *a, *b, *c;
	uint32_t ioas_a, ioas_b, ioas_c;
	int ifd;

	NEED_IOMMUFD();
	a = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD);
	ifd = vfiomig_device_iommu_fd(a);
	ck_assert_int_gt(ifd, 0);
	vfiomig_device_iommufd_ids(a, NULL, &ioas_a, NULL);
	/* AUTO with an IOAS id: the shared fd is an iommufd */
	b = open_with(KENV_MTTY2_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu_fd = ifd, .ioas_id = ioas_a });
	ck_assert_int_eq(vfiomig_device_iommu_path(b), VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_int_eq(vfiomig_device_iommu_fd(b), ifd);
	vfiomig_device_iommufd_ids(b, NULL, &ioas_b, NULL);
	ck_assert_uint_eq(ioas_b, ioas_a);
	/* forced iommufd, shared fd, no IOAS: a new IOAS in the shared fd */
	c = open_with(KENV_MTTY2B_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_IOMMUFD,
					     .iommu_fd = ifd });
	vfiomig_device_iommufd_ids(c, NULL, &ioas_c, NULL);
	ck_assert_uint_ne(ioas_c, ioas_a);
	vfiomig_device_free(c);
	vfiomig_device_free(b);
	ck_assert(cloexec(ifd));
	ck_assert_int_eq(vfiomig_feature_probe(a, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
	vfiomig_device_free(a);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ faults */

/*
 * Fail each kernel call of a successful open of name with o in turn, with
 * err.  Every failure is err, but for EINVAL at VFIO_DEVICE_BIND_IOMMUFD,
 * which iommu.c reports as EBUSY (the one cause the kernel has for it on a
 * fresh fd); returns how many failures were that mapping.  After each:
 * the kernel fds are the ones open before, and the same open succeeds.
 * still_usable (may be NULL) checks what the case holds open meanwhile.
 */
static unsigned int fault_sweep(const char *name,
				const struct vfiomig_open_opts *o, int err,
				unsigned int min_calls,
				void (*still_usable)(void))
{
	int fds = kenv_kernel_fds();
	unsigned int n = open_calls(name, o), busy = 0;

	ck_assert_msg(n >= min_calls, "%s path %d: %u kernel calls", name,
		      o->iommu, n);
	ck_assert_int_eq(kenv_kernel_fds(), fds);
	for (unsigned int i = 1; i <= n; i++) {
		int ret;

		kenv_fail_nth(i, err);
		ret = try_open(name, o);
		kenv_fail_nth(0, 0);
		if (err == EINVAL && ret == -EBUSY)
			busy++;
		else
			ck_assert_msg(ret == -err, "%s path %d call %u of %u: %s",
				      name, o->iommu, i, n, strerror(-ret));
		ck_assert_msg(kenv_kernel_fds() == fds,
			      "%s path %d call %u: %d kernel fds, %d before",
			      name, o->iommu, i, kenv_kernel_fds(), fds);
		if (still_usable)
			still_usable();
		ret = try_open(name, o);
		ck_assert_msg(ret == 0, "%s path %d: open after a fault at call %u: %s",
			      name, o->iommu, i, strerror(-ret));
		ck_assert_int_eq(kenv_kernel_fds(), fds);
	}
	return busy;
}

/* Open paths: container, API version, Type1v2 check, group, its status,
 * SET_CONTAINER, SET_IOMMU, GET_DEVICE_FD. */
START_TEST(open_faults_type1)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_TYPE1);

	ck_assert_uint_eq(fault_sweep(KENV_MTTY1_UUID, &o, EIO, 8, NULL), 0);
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID, &o, EIO, 8, NULL), 0);
	/* no EINVAL is mapped on this path (SET_IOMMU's EINVAL only for a
	 * shared container) */
	ck_assert_uint_eq(fault_sweep(KENV_MTTY1_UUID, &o, EINVAL, 8, NULL), 0);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* /dev/iommu, the cdev, IOAS_ALLOC, BIND, ATTACH. */
START_TEST(open_faults_iommufd)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_IOMMUFD);

	NEED_IOMMUFD();
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID, &o, EIO, 5, NULL), 0);
	ck_assert_uint_eq(fault_sweep(KENV_MTTY1_UUID, &o, EIO, 5, NULL), 0);
	/* BIND's EINVAL, and only it, is reported as EBUSY */
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID, &o, EINVAL, 5, NULL), 1);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* AUTO: a failure to open /dev/iommu falls back to the group path; every
 * other fault is an error; nothing leaks either way. */
START_TEST(open_faults_auto)
{
	unsigned int n, fallbacks = 0;

	NEED_IOMMUFD();
	n = open_calls(KENV_MTTY1_UUID, NULL);
	ck_assert_uint_ge(n, 5);
	for (unsigned int i = 1; i <= n; i++) {
		struct vfiomig_device *dev = NULL;
		int ret;

		kenv_fail_nth(i, EACCES);
		ret = vfiomig_device_open(kenv_ctx(), KENV_MTTY1_UUID, NULL, &dev);
		kenv_fail_nth(0, 0);
		if (ret == 0) {
			ck_assert_int_eq(vfiomig_device_iommu_path(dev),
					 VFIOMIG_IOMMU_TYPE1);
			fallbacks++;
			vfiomig_device_free(dev);
		} else {
			ck_assert_msg(ret == -EACCES, "call %u of %u: %s", i, n,
				      strerror(-ret));
			ck_assert_ptr_null(dev);
		}
		ck_assert_int_eq(kenv_kernel_fds(), 0);
		ck_assert_int_eq(try_open(KENV_MTTY1_UUID, NULL), 0);
		ck_assert_int_eq(kenv_kernel_fds(), 0);
	}
	ck_assert_uint_eq(fallbacks, 1);
}
END_TEST

/* The first device, whose container or iommufd the sweeps share. */
static struct vfiomig_device *shared_owner;
static int shared_fd;

static void shared_still_usable(void)
{
	ck_assert(cloexec(shared_fd));
	ck_assert_int_eq(vfiomig_device_iommu_fd(shared_owner), shared_fd);
	ck_assert_int_eq(vfiomig_feature_probe(shared_owner,
					       VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
}

/* Opening into a caller's container or iommufd: a fault anywhere leaves
 * the shared fd open and its first device working. */
START_TEST(open_faults_shared)
{
	uint32_t ioas;

	shared_owner = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);
	shared_fd = vfiomig_device_iommu_fd(shared_owner);
	/* API version, Type1v2 check, group, status, SET_CONTAINER,
	 * SET_IOMMU (EINVAL: set already), GET_DEVICE_FD */
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_TYPE1,
					     .iommu_fd = shared_fd },
		EIO, 7, shared_still_usable), 0);
	vfiomig_device_free(shared_owner);
	shared_owner = NULL;

	NEED_IOMMUFD();
	shared_owner = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD);
	shared_fd = vfiomig_device_iommu_fd(shared_owner);
	vfiomig_device_iommufd_ids(shared_owner, NULL, &ioas, NULL);
	/* the cdev, BIND, ATTACH to the owner's IOAS */
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu_fd = shared_fd, .ioas_id = ioas },
		EIO, 3, shared_still_usable), 0);
	/* the cdev, a new IOAS, BIND, ATTACH */
	ck_assert_uint_eq(fault_sweep(KENV_MTTY2_UUID,
		&(struct vfiomig_open_opts){ .sz = sizeof(struct vfiomig_open_opts),
					     .iommu = VFIOMIG_IOMMU_IOMMUFD,
					     .iommu_fd = shared_fd },
		EIO, 4, shared_still_usable), 0);
	vfiomig_device_free(shared_owner);
	shared_owner = NULL;
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ std fds */

/* 0, 1 and 2 closed, as in a process started that way; std_restore()
 * puts them back before anything is asserted. */
static void std_close(int saved[3])
{
	for (int i = 0; i < 3; i++) {
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
		ck_assert_int_ge(saved[i], 3);
	}
	for (int i = 0; i < 3; i++)
		close(i);
}

/* Which of 0-2 were open (bit i), then 0-2 back. */
static int std_restore(const int saved[3])
{
	int open_ = 0;

	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) >= 0)
			open_ |= 1 << i;
		close(i);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(dup2(saved[i], i), i);
		close(saved[i]);
	}
	return open_;
}

/* Open name on path with 0-2 closed and the nth move of a fd off them
 * failing with EMFILE (0: none); *low gets which of 0-2 were open after. */
static int open_std_closed_nth(const char *name, int path, unsigned int nth,
			       int *low)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_ctx *ctx = kenv_ctx();
	struct vfiomig_device *dev = NULL;
	int saved[3], ret;

	std_close(saved);
	kenv_fail_nth_call("fcntl", nth, EMFILE);
	ret = vfiomig_device_open(ctx, name, &o, &dev);
	kenv_fail_nth(0, 0);
	if (dev) {
		if (vfiomig_device_fd(dev) <= 2 ||
		    vfiomig_device_iommu_fd(dev) <= 2)
			ret = -EBADFD;
		vfiomig_device_free(dev);
	}
	*low = std_restore(saved);
	return ret;
}

/* With 0-2 closed every fd the kernel gives lands there first and is moved
 * up (F_DUPFD_CLOEXEC): moves fds are moved (container, group, device fd;
 * or iommufd, device fd), and that move failing at each point is an error
 * that leaves nothing open, low or high. */
static void fault_every_move(const char *name, int path, unsigned int moves)
{
	int ret, low;

	for (unsigned int i = 1; i <= moves + 1; i++) {
		ret = open_std_closed_nth(name, path, i, &low);
		if (i > moves) /* the fault is never reached: all went well */
			ck_assert_msg(ret == 0, "%s path %d: %s", name, path,
				      strerror(-ret));
		else
			ck_assert_msg(ret == -EMFILE, "%s path %d move %u: %d",
				      name, path, i, ret);
		ck_assert_msg(low == 0, "%s path %d move %u: 0x%x left open",
			      name, path, i, low);
		ck_assert_msg(kenv_kernel_fds() == 0,
			      "%s path %d move %u leaks", name, path, i);
	}
}

START_TEST(open_std_closed)
{
	int low;

	NEED_IOMMUFD();
	fault_every_move(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1, 3);
	fault_every_move(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1, 3);
	fault_every_move(KENV_MTTY2_UUID, VFIOMIG_IOMMU_IOMMUFD, 2);
	fault_every_move(KENV_MTTY1_UUID, VFIOMIG_IOMMU_IOMMUFD, 2);
	/* AUTO: /dev/iommu failing to move falls back to the group path */
	ck_assert_int_eq(open_std_closed_nth(KENV_MTTY2_UUID, VFIOMIG_IOMMU_AUTO,
					     1, &low), 0);
	ck_assert_int_eq(low, 0);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* The vfio-pci function (kenv.h, PCI: edu under vfio-pci) by its short
 * address on iommufd, where a physical device gets an automatic HWPT, and
 * on Type1 (moved from test-core's open). */
START_TEST(open_pci_identity)
{
	const char *bdf = kenv_pci_bdf();
	struct vfiomig_device *dev;
	struct vfiomig_pci_ids ids;
	uint32_t devid = 0, ioas = 0, hwpt = 0;

	if (!kenv_has_iommufd())
		kenv_skip("no cdev/iommufd path");
	/* short form ("00:02.0"), iommufd */
	ck_assert_msg(strncmp(bdf, "0000:", 5) == 0, "%s", bdf);
	dev = kenv_open(bdf + 5, VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_str_eq(vfiomig_device_name(dev), bdf);
	ck_assert_str_eq(vfiomig_device_driver(dev), KENV_PCI_DRIVER);
	ck_assert_ptr_null(vfiomig_device_mdev_type(dev));
	ck_assert_ptr_nonnull(strstr(vfiomig_device_sysfs_path(dev), "/devices/pci"));
	ck_assert_int_eq(vfiomig_device_pci_ids(dev, NULL), -EINVAL);
	ck_assert_int_eq(vfiomig_device_pci_ids(dev, &ids), 0);
	ck_assert_uint_eq(ids.vendor, KENV_PCI_VENDOR);
	ck_assert_uint_eq(ids.device, KENV_PCI_DEVICE);
	ck_assert_uint_eq(ids.subsystem_vendor, KENV_PCI_SUBSYS_VENDOR);
	ck_assert_uint_eq(ids.subsystem_device, KENV_PCI_SUBSYS_DEVICE);
	ck_assert_uint_eq(ids.class_code, KENV_PCI_CLASS);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, &devid, &ioas, &hwpt), 0);
	ck_assert_uint_ne(devid, 0);
	ck_assert_uint_ne(ioas, 0);
	ck_assert_uint_ne(hwpt, 0);
	ck_assert_uint_ne(hwpt, ioas);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, NULL, NULL, NULL), 0);
	ck_assert_ptr_eq(vfiomig_device_ctx(dev), kenv_ctx());
	vfiomig_device_free(dev);

	/* Type1: no iommufd ids */
	dev = kenv_open(bdf, VFIOMIG_IOMMU_TYPE1);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(dev, &devid, &ioas, &hwpt), 0);
	ck_assert_uint_eq(devid + ioas + hwpt, 0);
	ck_assert_int_ge(vfiomig_device_iommu_fd(dev), 0);
	vfiomig_device_free(dev);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* ------------------------------------------------------------ features */

/* A device without migration: the vfio-pci function (moved from
 * test-core's feature). */
START_TEST(caps_no_migration)
{
	struct vfiomig_device *dev = kenv_open(kenv_pci_bdf(), VFIOMIG_IOMMU_AUTO);
	VFIOMIG_OPTS(vfiomig_caps, caps);
	uint64_t v = 0;

	if (!kenv_has_iommufd()) {
		vfiomig_device_free(dev);
		kenv_skip("no cdev/iommufd path");
	}
	caps.migration_flags = 99;
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(caps.migration_flags, 0);
	ck_assert_uint_eq(caps.features, 0);
	ck_assert_int_eq(caps.iommu_path, VFIOMIG_IOMMU_IOMMUFD);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 0);
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     &v, sizeof(v)), -ENOTTY);
	vfiomig_device_free(dev);
}
END_TEST

/* mtty's migration flags (kernel-contract.md 12.2). */
#define MTTY_MIG_FLAGS                                                         \
	(VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)

START_TEST(caps_sizes)
{
	struct vfiomig_device *dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	struct vfiomig_caps caps;
	struct {
		struct vfiomig_caps c;
		uint64_t future;
	} big;

	memset(&caps, 0xa5, sizeof(caps));
	caps.sz = offsetof(struct vfiomig_caps, migration_flags) + 4;
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), -EINVAL);
	caps.sz = offsetof(struct vfiomig_caps, features);
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(caps.migration_flags, MTTY_MIG_FLAGS);
	ck_assert_uint_eq(caps.features, 0xa5a5a5a5u); /* not written */
	caps.sz = offsetof(struct vfiomig_caps, iommu_path);
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert(caps.features & VFIOMIG_CAP_MIGRATION);
	ck_assert(caps.features & VFIOMIG_CAP_MIG_DATA_SIZE);
	ck_assert_int_eq(caps.iommu_path, (int)0xa5a5a5a5);
	memset(&big, 0xa5, sizeof(big));
	big.c.sz = sizeof(big);
	ck_assert_int_eq(vfiomig_device_caps(dev, &big.c), 0);
	ck_assert_int_eq(big.c.iommu_path, VFIOMIG_IOMMU_TYPE1);
	ck_assert_uint_eq(big.future, 0xa5a5a5a5a5a5a5a5ull); /* not ours */
	vfiomig_device_free(dev);
}
END_TEST

START_TEST(feature_args)
{
	struct vfiomig_device *dev = kenv_open(KENV_MTTY1_UUID, VFIOMIG_IOMMU_TYPE1);
	unsigned char big[300];
	unsigned int c0 = kenv_calls();
	uint64_t v;

	ck_assert_int_eq(vfiomig_feature_probe(dev, 1, 4), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_probe(dev, 0x10000, 0), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_get(dev, 0x10001, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_set(dev, 0x10002, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_get(dev, 1, NULL, 8), -EINVAL);
	ck_assert_int_eq(vfiomig_feature_set(dev, 2, NULL, 8), -EINVAL);
	/* the library refused them all itself */
	ck_assert_uint_eq(kenv_calls(), c0);
	/* a payload larger than any core feature (heap buffer): the kernel
	 * ignores the extra argsz */
	memset(big, 0xee, sizeof(big));
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     big, sizeof(big)), 0);
	memcpy(&v, big, sizeof(v));
	ck_assert_uint_eq(v, MTTY_MIG_FLAGS);
	ck_assert_uint_eq(big[8], 0xee);
	vfiomig_device_free(dev);
}
END_TEST

/* A fault at each call of vfiomig_device_caps on a fresh handle (flags not
 * cached yet): FEATURE_MIGRATION, PROBE MIG_DATA_SIZE and DMA_LOGGING_START,
 * then, unless the handle opted out, the PRECOPY_INFOv2 opt-in (a SET).
 * The opt-in's failure is not an error: ENOTTY and EINVAL mean "v2 off"
 * for the handle; another error (the EIO here) means off for now, and the
 * next call asks again.  mtty has no v2 (ENOTTY), so the caps are the same
 * either way. */
static void caps_fresh_sweep(unsigned int open_flags, unsigned int ncalls)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = VFIOMIG_IOMMU_TYPE1,
		     .flags = open_flags);
	VFIOMIG_OPTS(vfiomig_caps, want);
	struct vfiomig_device *dev = open_with(KENV_MTTY2_UUID, &o);
	unsigned int c0 = kenv_calls(), n;

	ck_assert_int_eq(vfiomig_device_caps(dev, &want), 0);
	n = kenv_calls() - c0;
	vfiomig_device_free(dev);
	ck_assert_uint_eq(want.migration_flags, MTTY_MIG_FLAGS);
	ck_assert_msg(n == ncalls, "caps (open flags 0x%x): %u calls", open_flags, n);
	for (unsigned int i = 1; i <= n; i++) {
		VFIOMIG_OPTS(vfiomig_caps, caps);
		int ret;

		dev = open_with(KENV_MTTY2_UUID, &o);
		kenv_fail_nth(i, EIO);
		ret = vfiomig_device_caps(dev, &caps);
		kenv_fail_nth(0, 0);
		if (!(open_flags & VFIOMIG_OPEN_NO_PRECOPY_V2) && i == n) {
			ck_assert_int_eq(ret, 0);
			ck_assert_uint_eq(caps.migration_flags, want.migration_flags);
			ck_assert_uint_eq(caps.features, want.features);
		} else {
			ck_assert_msg(ret == -EIO, "caps call %u of %u: %s", i, n,
				      strerror(-ret));
		}
		/* the handle is still usable; a failed opt-in is asked again */
		c0 = kenv_calls();
		ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
		if (!(open_flags & VFIOMIG_OPEN_NO_PRECOPY_V2) && i == n) {
			unsigned int again = kenv_calls() - c0;

			/* the opt-in was the one call more than now */
			c0 = kenv_calls();
			ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
			ck_assert_uint_eq(again, kenv_calls() - c0 + 1);
		}
		ck_assert_uint_eq(caps.migration_flags, want.migration_flags);
		ck_assert_uint_eq(caps.features, want.features);
		vfiomig_device_free(dev);
		ck_assert_int_eq(kenv_kernel_fds(), 0);
	}
}

START_TEST(feature_faults)
{
	struct vfiomig_device *dev;
	VFIOMIG_OPTS(vfiomig_caps, caps);
	unsigned int c0;
	uint64_t v;
	int fd, fds;

	caps_fresh_sweep(VFIOMIG_OPEN_NO_PRECOPY_V2, 3);
	caps_fresh_sweep(0, 4);

	dev = kenv_open(KENV_MTTY2_UUID, VFIOMIG_IOMMU_TYPE1);
	fd = vfiomig_device_fd(dev);
	fds = kenv_kernel_fds();
	/* a probe and a get are one call each */
	c0 = kenv_calls();
	kenv_fail_nth(1, EIO);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), -EIO);
	ck_assert_int_eq(vfiomig_feature_probe(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					       VFIOMIG_FEATURE_GET), 1);
	kenv_fail_nth(1, EIO);
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     &v, sizeof(v)), -EIO);
	v = 0;
	ck_assert_int_eq(vfiomig_feature_get(dev, VFIO_DEVICE_FEATURE_MIGRATION,
					     &v, sizeof(v)), 0);
	ck_assert_uint_eq(v, MTTY_MIG_FLAGS);
	ck_assert_uint_eq(kenv_calls() - c0, 4);

	/* the migration flags cached: two probes remain */
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	c0 = kenv_calls();
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	ck_assert_uint_eq(kenv_calls() - c0, 2);
	for (unsigned int i = 1; i <= 2; i++) {
		kenv_fail_nth(i, EIO);
		ck_assert_int_eq(vfiomig_device_caps(dev, &caps), -EIO);
		kenv_fail_nth(0, 0);
		ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	}
	kenv_fail_nth(3, EIO);
	ck_assert_int_eq(vfiomig_device_caps(dev, &caps), 0);
	kenv_fail_nth(0, 0);

	/* reset: the kernel never saw the failed one (STOP stays), the next
	 * one resets */
	raw_set_state(fd, VFIO_DEVICE_STATE_STOP);
	kenv_fail_nth(1, EIO);
	ck_assert_int_eq(vfiomig_device_reset(dev), -EIO);
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_STOP);
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(raw_state(fd), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_int_eq(kenv_kernel_fds(), fds);
	vfiomig_device_free(dev);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

Suite *kcase_open_suite(void)
{
	Suite *s = suite_create("kcase-open");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, open_opts);
	tcase_add_test(tc, open_ebusy_log);
	tcase_add_test(tc, open_shared_container);
	tcase_add_test(tc, open_shared_iommufd);
	tcase_add_test(tc, open_std_closed);
	suite_add_tcase(s, tc);

	/* Sweeps of a few hundred kernel calls and leak checks: seconds
	 * under TCG in the VM. */
	tc = tcase_create("open-faults");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, open_faults_type1);
	tcase_add_test(tc, open_faults_iommufd);
	tcase_add_test(tc, open_faults_auto);
	tcase_add_test(tc, open_faults_shared);
	suite_add_tcase(s, tc);

	tc = tcase_create("feature");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, caps_sizes);
	tcase_add_test(tc, feature_args);
	tcase_add_test(tc, feature_faults);
	suite_add_tcase(s, tc);

	/* The vfio-pci function (kenv.h, PCI): its own test case, run by a
	 * VM of its own (run-vm.sh --pci, CK_INCLUDE_TAGS=pci; the
	 * other VM excludes it, CK_EXCLUDE_TAGS=pci). */
	tc = tcase_create("pci");
	tcase_set_tags(tc, "pci");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, open_pci_identity);
	tcase_add_test(tc, caps_no_migration);
	suite_add_tcase(s, tc);

	return s;
}
