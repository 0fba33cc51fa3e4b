// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-facing cases on the real kernel, inside the test VM
 * (tests/vm/, make check-vm).  Needs root and VFIOMIG_VM set; otherwise
 * the whole program exits 77 (skipped) and says why.  Every case starts
 * with the three mtty devices reset to RUNNING (contract 7: mtty keeps its
 * migration state across close, so a case must not inherit the previous
 * one's).  The reset uses raw syscalls on the group/container path, not
 * the library under test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "kenv.h"
#include "kshim.h"

static const char *uuid_env(const char *var, const char *def)
{
	const char *v = getenv(var);

	return v && *v ? v : def;
}

static const char *why_not_here(void)
{
	if (!getenv("VFIOMIG_VM"))
		return "VFIOMIG_VM is not set (run it through make check-vm)";
	if (geteuid() != 0)
		return "not root";
	return NULL;
}

/* Before Check forks anything: the whole program is skipped. */
__attribute__((constructor)) static void kenv_real_gate(void)
{
	const char *why = why_not_here();

	if (why) {
		fprintf(stderr, "kt-real: SKIP: the real-kernel cases need the "
				"test VM: %s\n", why);
		exit(77);
	}
}

/* Reset one mtty to RUNNING through group + Type1 container. */
static void reset_mtty(const char *uuid)
{
	char link[PATH_MAX], target[PATH_MAX], node[PATH_MAX + 16];
	const char *base;
	ssize_t n;
	int group, container, dev;

	snprintf(link, sizeof(link), "/sys/bus/mdev/devices/%s/iommu_group",
		 uuid);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_msg(n > 0, "%s: %s", link, strerror(errno));
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	snprintf(node, sizeof(node), "/dev/vfio/%s", base);
	group = open(node, O_RDWR | O_CLOEXEC);
	ck_assert_msg(group >= 0, "open %s: %s", node, strerror(errno));
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ck_assert_msg(container >= 0, "open /dev/vfio/vfio: %s",
		      strerror(errno));
	ck_assert_msg(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0,
		      "SET_CONTAINER: %s", strerror(errno));
	ck_assert_msg(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0,
		      "SET_IOMMU: %s", strerror(errno));
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	ck_assert_msg(dev >= 0, "GET_DEVICE_FD %s: %s", uuid, strerror(errno));
	ck_assert_msg(ioctl(dev, VFIO_DEVICE_RESET) == 0, "RESET %s: %s", uuid,
		      strerror(errno));
	close(dev);
	close(group);
	close(container);
}

/* The four more mtty-2 of the device-set cases (guest-init.sh), where
 * they were created: a case that needs a missing one fails opening it. */
static void reset_more(void)
{
	static const char *const more[] = { KENV_MTTY2C_UUID, KENV_MTTY2D_UUID,
					    KENV_MTTY2E_UUID, KENV_MTTY2F_UUID };
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		snprintf(p, sizeof(p), "/sys/bus/mdev/devices/%s", more[i]);
		if (access(p, F_OK) == 0)
			reset_mtty(more[i]);
	}
}

/* Programmable devices handed out in this case (kenv_gen_add). */
static unsigned int gen_added;

void kenv_setup(void)
{
	const char *why = why_not_here();

	if (why) {
		fprintf(stderr, "kt-real: SKIP: %s\n", why);
		exit(77);
	}
	reset_mtty(uuid_env("VFIOMIG_MTTY1", KENV_MTTY1_UUID));
	reset_mtty(uuid_env("VFIOMIG_MTTY2", KENV_MTTY2_UUID));
	reset_mtty(uuid_env("VFIOMIG_MTTY2B", KENV_MTTY2B_UUID));
	reset_more();
	kshim_reset();
	gen_added = 0;
}

/* As on the fake: no kernel fd outlives a case. */
void kenv_teardown(void)
{
	int open_fds;

	kenv_ctx_free();
	open_fds = kenv_kernel_fds();
	ck_assert_msg(open_fds == 0, "%d kernel fd(s) leaked", open_fds);
}

bool kenv_is_real(void)
{
	return true;
}

const char *kenv_sysfs_root(void)
{
	return NULL;
}

const char *kenv_dev_root(void)
{
	return NULL;
}

bool kenv_has_iommufd(void)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "/sys/bus/mdev/devices/%s/vfio-dev",
		 uuid_env("VFIOMIG_MTTY2", KENV_MTTY2_UUID));
	return access("/dev/iommu", F_OK) == 0 && access(p, F_OK) == 0;
}

int kenv_open_fake_fds(void)
{
	return 0;
}

static bool complaint(const char *line)
{
	static const char *const words[] = { "BUG:", "Oops", "WARNING:",
					     "general protection" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(line, words[i]))
			return true;
	return false;
}

/* Every record of /dev/kmsg since boot: one read() per record; EAGAIN
 * at the end (non-blocking), EPIPE when a record was overwritten. */
unsigned int kenv_kernel_complaints(void)
{
	char rec[8192];
	unsigned int n = 0;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "/dev/kmsg: %s", strerror(errno));
	for (;;) {
		ssize_t r = read(fd, rec, sizeof(rec) - 1);

		if (r < 0 && errno == EPIPE)
			continue;
		if (r <= 0)
			break;
		rec[r] = '\0';
		n += complaint(rec);
	}
	close(fd);
	return n;
}

/* ---- the vfio-pci function: edu, bound by guest-init.sh (kenv.h) ------- */

const char *kenv_pci_bdf(void)
{
	const char *bdf = getenv("VFIOMIG_PCI_BDF");

	ck_assert_msg(bdf && *bdf, "VFIOMIG_PCI_BDF is not set: no edu function "
				   "bound to vfio-pci (the VM of run-vm.sh --pci "
				   "has one; CK_EXCLUDE_TAGS=pci leaves the PCI "
				   "cases out)");
	return bdf;
}

int kenv_pci_group(void)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group",
		 kenv_pci_bdf());
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_msg(n > 0, "%s: %s", link, strerror(errno));
	target[n] = '\0';
	base = strrchr(target, '/');
	return atoi(base ? base + 1 : target);
}

const char *kenv_pci_cdev(void)
{
	static char name[NAME_MAX + 1];
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev",
		 kenv_pci_bdf());
	dp = opendir(dir);
	ck_assert_msg(dp, "%s: %s", dir, strerror(errno));
	name[0] = '\0';
	while ((e = readdir(dp)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(dp);
	ck_assert_msg(name[0], "%s: no vfioN", dir);
	return name;
}

/* ---- programmable devices: mdevs of the test driver, mtest ---------------
 * tests/vm/mdrv/mtest.c takes its knobs from sysfs attributes under
 * /sys/bus/mdev/devices/UUID/mtest/ (root only); guest-init.sh created
 * KENV_GEN_MAX instances. */

/* Open knob of device uuid (a failure fails the case). */
static int gen_open(const char *uuid, const char *knob, int flags)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/mtest/%s", uuid,
		 knob);
	fd = open(path, flags | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

/* Write the formatted value to a knob: 0, or the driver's -errno. */
static int gen_vwrite(const char *uuid, const char *knob, const char *fmt,
		      va_list ap) __attribute__((format(printf, 3, 0)));

static int gen_vwrite(const char *uuid, const char *knob, const char *fmt,
		      va_list ap)
{
	char val[128];
	int fd = gen_open(uuid, knob, O_WRONLY), n, ret = 0;
	ssize_t w;

	n = vsnprintf(val, sizeof(val), fmt, ap);
	w = write(fd, val, (size_t)n);
	if (w < 0)
		ret = -errno;
	else
		ck_assert_msg(w == n, "short write of %s to %s of %s", val,
			      knob, uuid);
	close(fd);
	return ret;
}

static int gen_write(const char *uuid, const char *knob, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int gen_write(const char *uuid, const char *knob, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = gen_vwrite(uuid, knob, fmt, ap);
	va_end(ap);
	return ret;
}

/* The same, where the write must succeed. */
static void gen_knob(const char *uuid, const char *knob, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void gen_knob(const char *uuid, const char *knob, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = gen_vwrite(uuid, knob, fmt, ap);
	va_end(ap);
	ck_assert_msg(ret == 0, "write %s of %s: %s", knob, uuid,
		      strerror(-ret));
}

static uint64_t gen_read_knob(const char *uuid, const char *knob)
{
	char val[64];
	int fd = gen_open(uuid, knob, O_RDONLY);
	ssize_t n = read(fd, val, sizeof(val) - 1);

	ck_assert_msg(n > 0, "read %s of %s: %s", knob, uuid, strerror(errno));
	close(fd);
	val[n] = '\0';
	return strtoull(val, NULL, 0);
}

const char *kenv_gen_add(const struct kenv_gen_cfg *gc)
{
	static char uuids[KENV_GEN_MAX][40];
	char *uuid;

	ck_assert_uint_lt(gen_added, KENV_GEN_MAX);
	ck_assert_uint_le(gc->state_size, 64u << 20);
	uuid = uuids[gen_added++];
	snprintf(uuid, sizeof(uuids[0]), KENV_GEN_UUID_FMT, gen_added);
	gen_knob(uuid, "mig_flags", "%llu", (unsigned long long)gc->mig_flags);
	gen_knob(uuid, "state_size", "%zu", gc->state_size);
	gen_knob(uuid, "precopy_initial", "%zu", gc->precopy_initial);
	gen_knob(uuid, "precopy_dirty", "%zu", gc->precopy_dirty);
	gen_knob(uuid, "precopy_enomsg", "%d", gc->precopy_enomsg);
	gen_knob(uuid, "log_ops", "%d", gc->log_ops);
	gen_knob(uuid, "log_reject_double", "%d", gc->log_reject_double);
	gen_knob(uuid, "log_pgsize", "%llu",
		 (unsigned long long)gc->log_pgsize);
	/* Applies the knobs: RUNNING, no session, a new state. */
	gen_knob(uuid, "reset", "1");
	gen_knob(uuid, "fill", "%u", gen_added);
	return uuid;
}

int kenv_gen_state(const char *uuid)
{
	return (int)gen_read_knob(uuid, "state");
}

void kenv_gen_fill(const char *uuid, uint32_t seed)
{
	gen_knob(uuid, "fill", "%u", seed);
}

size_t kenv_gen_blob(const char *uuid, void *buf, size_t len)
{
	size_t size = (size_t)gen_read_knob(uuid, "state_size"), done = 0;
	int fd;

	if (!buf || !len)
		return size;
	fd = gen_open(uuid, "blob", O_RDONLY);
	if (len > size)
		len = size;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)done);

		ck_assert_msg(n > 0, "read blob of %s at %zu: %s", uuid, done,
			      n < 0 ? strerror(errno) : "end of file");
		done += (size_t)n;
	}
	close(fd);
	return size;
}

void kenv_gen_dirty_precopy(const char *uuid, size_t n)
{
	gen_knob(uuid, "dirty", "%zu", n);
}

void kenv_gen_force_error(const char *uuid)
{
	gen_knob(uuid, "error", "1");
}

void kenv_gen_fail_arc(const char *uuid, int from, int to, int err)
{
	gen_knob(uuid, "fail_arc", "%d %d %d", from, to, err < 0 ? -err : err);
}

void kenv_gen_dma_write(const char *uuid, uint64_t iova, uint64_t len)
{
	gen_knob(uuid, "dma_write", "%llu %llu", (unsigned long long)iova,
		 (unsigned long long)len);
}

int kenv_gen_dma_rw(const char *uuid, uint64_t iova, uint64_t len)
{
	return gen_write(uuid, "dma_rw", "%llu %llu", (unsigned long long)iova,
			 (unsigned long long)len);
}

void kenv_gen_set_log_pgsize(const char *uuid, uint64_t page_size)
{
	gen_knob(uuid, "log_answer", "%llu", (unsigned long long)page_size);
}
