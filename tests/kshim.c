// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The real kernel's fault and count layer (kt-real only): the same libc
 * symbols the fake interposes, passed through to libc, except that a call
 * on a kernel fd (kenv.h: VFIO and iommufd nodes and the fds the kernel
 * hands out for them) is counted, may be failed before the kernel sees it
 * (kenv_fail_nth), and a migration ioctl is tallied (kenv_mig_ioctls,
 * kenv_sets).  An fd is told apart by what /proc/self/fd says it is, so an
 * fd the kernel made (a group's device fd, a data fd) needs no bookkeeping.
 */
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
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

#define SHIM_EXPORT __attribute__((visibility("default")))
#define SHIM_MAX_FD 4096

static struct {
	pthread_mutex_t lock;
	unsigned int nth, seen, calls, ioctls;
	int err;
	char call[16];
	struct kenv_mig_ioctls mig;
	struct kenv_set sets[KENV_SETS_MAX];
	size_t nsets;
	/* mdev UUID behind a device fd, by fd (set when it is made). */
	char name[SHIM_MAX_FD][40];
} shim = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p)
		abort();
	return p;
}

#define NEXT(fn) ((__typeof__(&fn))next_sym(#fn))

static bool kernel_path(const char *p)
{
	return !strncmp(p, "/dev/vfio/", 10) || !strcmp(p, "/dev/iommu");
}

/* Is fd one of the kernel's VFIO or iommufd files? */
static bool kernel_fd(int fd)
{
	char link[64], to[PATH_MAX];
	ssize_t n;

	if (fd < 0)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, to, sizeof(to) - 1);
	if (n <= 0)
		return false;
	to[n] = '\0';
	if (kernel_path(to))
		return true;
	return !strncmp(to, "anon_inode:", 11) &&
	       (strstr(to, "vfio") || strstr(to, "mtty") || strstr(to, "mtest") ||
		strstr(to, "iommufd"));
}

/* Count one kernel call; the injected errno if this is the one to fail. */
static int intercept(const char *call)
{
	int err = 0;

	pthread_mutex_lock(&shim.lock);
	shim.calls++;
	if (!strcmp(call, "ioctl"))
		shim.ioctls++;
	if (shim.nth && (!shim.call[0] || !strcmp(shim.call, call)) &&
	    ++shim.seen == shim.nth) {
		shim.nth = 0;
		err = shim.err;
	}
	pthread_mutex_unlock(&shim.lock);
	return err;
}

void kshim_reset(void)
{
	pthread_mutex_lock(&shim.lock);
	shim.nth = shim.seen = shim.calls = shim.ioctls = 0;
	shim.call[0] = '\0';
	shim.mig = (struct kenv_mig_ioctls){ 0 };
	shim.nsets = 0;
	pthread_mutex_unlock(&shim.lock);
}

void kenv_fail_nth_call(const char *call, unsigned int nth, int err)
{
	pthread_mutex_lock(&shim.lock);
	shim.nth = nth;
	shim.err = err;
	shim.seen = 0;
	snprintf(shim.call, sizeof(shim.call), "%s", call ? call : "");
	pthread_mutex_unlock(&shim.lock);
}

void kenv_fail_nth(unsigned int nth, int err)
{
	kenv_fail_nth_call(NULL, nth, err);
}

unsigned int kenv_calls(void)
{
	unsigned int n;

	pthread_mutex_lock(&shim.lock);
	n = shim.calls;
	pthread_mutex_unlock(&shim.lock);
	return n;
}

unsigned int kenv_ioctls(void)
{
	unsigned int n;

	pthread_mutex_lock(&shim.lock);
	n = shim.ioctls;
	pthread_mutex_unlock(&shim.lock);
	return n;
}

/* The open fds only (/proc/self/fd): a readlink for each of 4096
 * possible fds took 170 ms per call under TCG in the VM. */
int kenv_kernel_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		abort();
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != dirfd(d))
			n += kernel_fd(fd);
	}
	closedir(d);
	return n;
}

void kenv_mig_ioctls(struct kenv_mig_ioctls *out)
{
	pthread_mutex_lock(&shim.lock);
	*out = shim.mig;
	pthread_mutex_unlock(&shim.lock);
}

size_t kenv_sets(struct kenv_set *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&shim.lock);
	n = shim.nsets;
	memcpy(out, shim.sets, (max < n ? max : n) * sizeof(*out));
	pthread_mutex_unlock(&shim.lock);
	return n;
}

void kenv_sets_clear(void)
{
	pthread_mutex_lock(&shim.lock);
	shim.nsets = 0;
	pthread_mutex_unlock(&shim.lock);
}

/* ------------------------------------------------------------------ */
/* Device names: the mdev UUID of a device fd, for kenv_sets.          */

static void name_fd(int fd, const char *name)
{
	size_t n = name ? strnlen(name, sizeof(shim.name[0]) - 1) : 0;

	if (fd < 0 || fd >= SHIM_MAX_FD)
		return;

	pthread_mutex_lock(&shim.lock);
	memcpy(shim.name[fd], name ? name : "", n);
	shim.name[fd][n] = '\0';
	pthread_mutex_unlock(&shim.lock);
}

/* /dev/vfio/devices/vfioN: the device under /sys/class/vfio-dev/vfioN. */
static void name_cdev(int fd, const char *path)
{
	char link[PATH_MAX], to[PATH_MAX];
	const char *base = strrchr(path, '/');
	ssize_t n;

	if (!base || strncmp(path, "/dev/vfio/devices/", 18))
		return;
	snprintf(link, sizeof(link), "/sys/class/vfio-dev%s/device", base);
	n = readlink(link, to, sizeof(to) - 1);
	if (n <= 0)
		return;
	to[n] = '\0';
	base = strrchr(to, '/');
	name_fd(fd, base ? base + 1 : to);
}

/* ------------------------------------------------------------------ */
/* The interposers.                                                    */

static bool open_needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* Absolute path of dirfd/path, for telling a kernel node. */
static void at_path(int dirfd, const char *path, char *out, size_t len)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	if (path[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(out, len, "%s", path);
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = '\0';
	if (snprintf(out, len, "%s/%s", dir, path) >= (int)len)
		out[0] = '\0'; /* too long to be a kernel node */
}

static int shim_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	char abs[PATH_MAX];
	int fd, err;

	at_path(dirfd, path, abs, sizeof(abs));
	if (!kernel_path(abs))
		return NEXT(openat)(dirfd, path, flags, mode);
	err = intercept("open");
	if (err) {
		errno = err;
		return -1;
	}
	fd = NEXT(openat)(dirfd, path, flags, mode);
	if (fd >= 0)
		name_cdev(fd, abs);
	return fd;
}

#define OPEN_MODE(flags, last)                                                \
	({                                                                    \
		mode_t m_ = 0;                                                \
		if (open_needs_mode(flags)) {                                 \
			va_list ap_;                                          \
			va_start(ap_, last);                                  \
			m_ = va_arg(ap_, mode_t);                             \
			va_end(ap_);                                          \
		}                                                             \
		m_;                                                           \
	})

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	return shim_openat(AT_FDCWD, path, flags, OPEN_MODE(flags, flags));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	return shim_openat(AT_FDCWD, path, flags, OPEN_MODE(flags, flags));
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	return shim_openat(dirfd, path, flags, OPEN_MODE(flags, flags));
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	return shim_openat(dirfd, path, flags, OPEN_MODE(flags, flags));
}

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

SHIM_EXPORT int __open_2(const char *path, int flags)
{
	return shim_openat(AT_FDCWD, path, flags, 0);
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	return shim_openat(AT_FDCWD, path, flags, 0);
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return shim_openat(dirfd, path, flags, 0);
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return shim_openat(dirfd, path, flags, 0);
}

/* Like Linux close(): the fd is gone even when an error is reported. */
SHIM_EXPORT int close(int fd)
{
	int err = kernel_fd(fd) ? intercept("close") : 0;
	int ret;

	name_fd(fd, NULL);
	ret = NEXT(close)(fd);
	if (err) {
		errno = err;
		return -1;
	}
	return ret;
}

/* Tally a migration ioctl that reached the kernel, and its answer. */
static void tally(int fd, unsigned long req, void *arg, int ret)
{
	struct vfio_device_feature *f = arg;
	uint32_t idx;
	bool get, set;

	pthread_mutex_lock(&shim.lock);
	if (req == VFIO_MIG_GET_PRECOPY_INFO)
		shim.mig.precopy_infos++;
	else if (req == VFIO_DEVICE_RESET)
		shim.mig.resets++;
	if (req != VFIO_DEVICE_FEATURE || !f || (f->flags & VFIO_DEVICE_FEATURE_PROBE))
		goto out;
	idx = f->flags & VFIO_DEVICE_FEATURE_MASK;
	get = f->flags & VFIO_DEVICE_FEATURE_GET;
	set = f->flags & VFIO_DEVICE_FEATURE_SET;
	if (idx == VFIO_DEVICE_FEATURE_MIGRATION && get) {
		shim.mig.mig_gets++;
	} else if (idx == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE && get) {
		shim.mig.data_sizes++;
	} else if (idx == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE && get) {
		shim.mig.state_gets++;
	} else if (idx == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE && set) {
		struct vfio_device_feature_mig_state *ms = (void *)f->data;

		shim.mig.state_sets++;
		if (shim.nsets < KENV_SETS_MAX) {
			struct kenv_set *s = &shim.sets[shim.nsets++];

			snprintf(s->uuid, sizeof(s->uuid), "%s",
				 fd >= 0 && fd < SHIM_MAX_FD ? shim.name[fd] : "");
			s->state = (int)ms->device_state;
			s->err = ret < 0 ? -errno : 0;
		}
	}
out:
	pthread_mutex_unlock(&shim.lock);
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int err, ret, saved;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!kernel_fd(fd))
		return NEXT(ioctl)(fd, req, arg);
	err = intercept("ioctl");
	if (err) {
		errno = err;
		return -1;
	}
	ret = NEXT(ioctl)(fd, req, arg);
	saved = errno;
	if (req == VFIO_GROUP_GET_DEVICE_FD && ret >= 0)
		name_fd(ret, arg);
	tally(fd, req, arg, ret);
	errno = saved;
	return ret;
}

#define PASS_IO(call, fd, ...)                                                \
	do {                                                                  \
		int err_ = kernel_fd(fd) ? intercept(#call) : 0;              \
		if (err_) {                                                   \
			errno = err_;                                         \
			return -1;                                            \
		}                                                             \
		return NEXT(call)(__VA_ARGS__);                               \
	} while (0)

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	PASS_IO(read, fd, fd, buf, len);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();
	PASS_IO(read, fd, fd, buf, len);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	PASS_IO(write, fd, fd, buf, len);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t pos)
{
	PASS_IO(pread, fd, fd, buf, len, pos);
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t pos)
{
	PASS_IO(pread, fd, fd, buf, len, pos);
}

ssize_t __pread_chk(int fd, void *buf, size_t len, off_t pos, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t pos, size_t buflen);
SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t pos,
				size_t buflen)
{
	if (len > buflen)
		abort();
	PASS_IO(pread, fd, fd, buf, len, pos);
}

SHIM_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t pos,
				  size_t buflen)
{
	if (len > buflen)
		abort();
	PASS_IO(pread, fd, fd, buf, len, pos);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t pos)
{
	PASS_IO(pwrite, fd, fd, buf, len, pos);
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t pos)
{
	PASS_IO(pwrite, fd, fd, buf, len, pos);
}

SHIM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	for (nfds_t i = 0; i < n; i++) {
		if (kernel_fd(fds[i].fd)) {
			int err = intercept("poll");

			if (err) {
				errno = err;
				return -1;
			}
			break;
		}
	}
	return NEXT(poll)(fds, n, timeout);
}

SHIM_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out,
			   size_t len, unsigned int flags)
{
	int err = kernel_fd(in) || kernel_fd(out) ? intercept("splice") : 0;

	if (err) {
		errno = err;
		return -1;
	}
	return NEXT(splice)(in, off_in, out, off_out, len, flags);
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int err, nfd;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if ((cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !kernel_fd(fd))
		return NEXT(fcntl)(fd, cmd, arg);
	err = intercept("fcntl");
	if (err) {
		errno = err;
		return -1;
	}
	nfd = NEXT(fcntl)(fd, cmd, arg);
	if (nfd >= 0 && nfd < SHIM_MAX_FD && fd < SHIM_MAX_FD) {
		char name[40];

		pthread_mutex_lock(&shim.lock);
		memcpy(name, shim.name[fd], sizeof(name));
		pthread_mutex_unlock(&shim.lock);
		name_fd(nfd, name);
	}
	return nfd;
}
