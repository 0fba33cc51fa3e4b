// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's libc interposers (test-only): the calls of lib/sys.h
 * and their _FORTIFY_SOURCE variants.  A call on an fd the fake created,
 * or an open of one of its nodes, is served by the fake; anything else
 * goes to the next definition (libc, or a sanitizer) through
 * dlsym(RTLD_NEXT) with arguments, return value and errno untouched.
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake-internal.h"

/* ------------------------------------------------------------------ */
/* Real libc entry points.                                             */

/* libc's own definitions (REAL(), fake-internal.h). */
int (*fake_real_open)(const char *, int, ...);
int (*fake_real_open64)(const char *, int, ...);
int (*fake_real_openat)(int, const char *, int, ...);
int (*fake_real_openat64)(int, const char *, int, ...);
int (*fake_real___open_2)(const char *, int);
int (*fake_real___open64_2)(const char *, int);
int (*fake_real___openat_2)(int, const char *, int);
int (*fake_real___openat64_2)(int, const char *, int);
int (*fake_real_close)(int);
int (*fake_real_ioctl)(int, unsigned long, ...);
ssize_t (*fake_real_read)(int, void *, size_t);
ssize_t (*fake_real___read_chk)(int, void *, size_t, size_t);
ssize_t (*fake_real_write)(int, const void *, size_t);
ssize_t (*fake_real_pread)(int, void *, size_t, off_t);
ssize_t (*fake_real_pread64)(int, void *, size_t, off_t);
ssize_t (*fake_real___pread_chk)(int, void *, size_t, off_t, size_t);
ssize_t (*fake_real___pread64_chk)(int, void *, size_t, off_t, size_t);
ssize_t (*fake_real_pwrite)(int, const void *, size_t, off_t);
ssize_t (*fake_real_pwrite64)(int, const void *, size_t, off_t);
int (*fake_real_poll)(struct pollfd *, nfds_t, int);
ssize_t (*fake_real_splice)(int, loff_t *, int, loff_t *, size_t,
			 unsigned int);


void *fake_real_sym(const char *name)
{
	void *p = NULL;

	/* dlsym() itself opens nothing, so this cannot recurse. */
#ifdef FAKE_TSAN
	/* Our strong definitions hide ThreadSanitizer's (weak) interceptors:
	 * call them, so that it still sees real fds (pipe happens-before,
	 * close racing a read). */
	char wrapped[64];

	snprintf(wrapped, sizeof(wrapped), "__interceptor_%s", name);
	p = dlsym(RTLD_DEFAULT, wrapped);
#endif
	if (!p)
		p = dlsym(RTLD_NEXT, name);
	if (!p)
		abort();
	return p;
}

ssize_t __pread_chk(int fd, void *buf, size_t len, off_t pos, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t pos,
		      size_t buflen);

/* ------------------------------------------------------------------ */
/* open and its variants: the fake's nodes (fake-open.c), else libc.    */

#define OPEN_MODE(flags, last)                                                \
	({                                                                    \
		mode_t m_ = 0;                                                \
		if (fake_open_needs_mode(flags)) {                            \
			va_list ap_;                                          \
			va_start(ap_, last);                                  \
			m_ = va_arg(ap_, mode_t);                             \
			va_end(ap_);                                          \
		}                                                             \
		m_;                                                           \
	})

FAKE_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h;
	int r = fake_try_node_open(path, flags, &h);

	return h ? r : REAL(open)(path, flags, mode);
}

FAKE_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h;
	int r = fake_try_node_open(path, flags, &h);

	return h ? r : REAL(open64)(path, flags, mode);
}

FAKE_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h = false;
	int r = 0;

	if (fake_at_is_plain(dirfd, path))
		r = fake_try_node_open(path, flags, &h);
	return h ? r : REAL(openat)(dirfd, path, flags, mode);
}

FAKE_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h = false;
	int r = 0;

	if (fake_at_is_plain(dirfd, path))
		r = fake_try_node_open(path, flags, &h);
	return h ? r : REAL(openat64)(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE variants: open without a mode argument. */
FAKE_EXPORT int __open_2(const char *path, int flags)
{
	bool h;
	int r;

	if (fake_node_needs_mode(path, flags))
		abort(); /* __fortify_fail("invalid open call") */
	r = fake_try_node_open(path, flags, &h);
	return h ? r : REAL(__open_2)(path, flags);
}

FAKE_EXPORT int __open64_2(const char *path, int flags)
{
	bool h;
	int r;

	if (fake_node_needs_mode(path, flags))
		abort();
	r = fake_try_node_open(path, flags, &h);
	return h ? r : REAL(__open64_2)(path, flags);
}

FAKE_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	bool h = false;
	int r = 0;

	if (fake_at_is_plain(dirfd, path)) {
		if (fake_node_needs_mode(path, flags))
			abort();
		r = fake_try_node_open(path, flags, &h);
	}
	return h ? r : REAL(__openat_2)(dirfd, path, flags);
}

FAKE_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	bool h = false;
	int r = 0;

	if (fake_at_is_plain(dirfd, path)) {
		if (fake_node_needs_mode(path, flags))
			abort();
		r = fake_try_node_open(path, flags, &h);
	}
	return h ? r : REAL(__openat64_2)(dirfd, path, flags);
}

/* ------------------------------------------------------------------ */
/* close, ioctl, read, write, pread, pwrite, poll, splice.              */

FAKE_EXPORT int close(int fd)
{
	struct fake_fd *f = fake_fd_hold(fd);
	int err, r;

	if (!f)
		return REAL(close)(fd);
	FAKE_LOCK_HELD();
	err = fake_intercept_locked("close");
	/* An injected failure still releases the fd, as Linux close() does
	 * on any error: otherwise no caller could avoid a leak. */
	r = fake_fd_close(f);
	if (err)
		return fake_ret_errno(-err);
	return r;
}

FAKE_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct fake_fd *f = fake_fd_hold(fd);
	unsigned int cmd = (unsigned int)req;
	va_list ap;
	void *arg;
	int err, r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!f)
		return REAL(ioctl)(fd, req, arg);
	FAKE_LOCK_HELD();
	fake_fault.ioctls++;
	if (f->dev && (f->type == FFD_DEVICE || f->type == FFD_DATA))
		f->dev->ioc.total++;
	err = fake_intercept_locked("ioctl");
	if (err)
		return fake_ret_errno(-err);
	switch (cmd) {
	case FIOCLEX:
	case FIONCLEX:
	case FIONBIO:
	case FIOASYNC:
		/* fs/ioctl.c:do_vfs_ioctl, before the file's own ioctl: the
		 * eventfd behind the fake fd carries these flags. */
		return REAL(ioctl)(fd, req, arg);
	}
	switch (f->type) {
	case FFD_CONTAINER:
		r = fake_container_ioctl(f, cmd, arg);
		break;
	case FFD_GROUP:
		r = fake_group_ioctl(f, cmd, arg);
		break;
	case FFD_DEVICE:
		r = fake_device_ioctl(f, cmd, arg);
		break;
	case FFD_IOMMUFD:
		r = fake_iommufd_ioctl(f, cmd, arg);
		break;
	case FFD_DATA:
		r = fake_data_ioctl(f, req, arg);
		break;
	default:
		r = -ENOTTY;
	}
	return r < 0 ? fake_ret_errno(r) : r;
}

static bool fd_can_read(struct fake_fd *f)
{
	if (f->type == FFD_DATA)
		return !f->writable;
	return (f->oflags & O_ACCMODE) != O_WRONLY;
}

static bool fd_can_write(struct fake_fd *f)
{
	if (f->type == FFD_DATA)
		return f->writable;
	return (f->oflags & O_ACCMODE) != O_RDONLY;
}

/* read()/pread() on a fake fd: pos < 0 for read(). */
static ssize_t fake_read(struct fake_fd *f, void *buf, size_t len, off_t pos,
			 bool positioned)
{
	ssize_t r;

	if (positioned && pos < 0)
		return -EINVAL;
	if (positioned && f->type == FFD_DATA)
		return -ESPIPE; /* stream_open() */
	if (!fd_can_read(f))
		return -EBADF;
	switch (f->type) {
	case FFD_DATA:
		return fake_data_read(f, buf, len);
	case FFD_DEVICE:
		r = fake_dev_rw(f, buf, len, positioned ? (uint64_t)pos : f->pos,
			   false);
		if (r > 0 && !positioned)
			f->pos += r;
		return r;
	default:
		return -EINVAL; /* no ->read: !FMODE_CAN_READ */
	}
}

static ssize_t fake_write(struct fake_fd *f, const void *buf, size_t len,
			  off_t pos, bool positioned)
{
	ssize_t r;

	if (positioned && pos < 0)
		return -EINVAL;
	if (positioned && f->type == FFD_DATA)
		return -ESPIPE;
	if (!fd_can_write(f))
		return -EBADF;
	switch (f->type) {
	case FFD_DATA:
		return fake_data_write(f, buf, len);
	case FFD_DEVICE:
		r = fake_dev_rw(f, (void *)buf, len,
			   positioned ? (uint64_t)pos : f->pos, true);
		if (r > 0 && !positioned)
			f->pos += r;
		return r;
	default:
		return -EINVAL;
	}
}

static ssize_t ret_ssize(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* With the lock held (fake_fd_hold()); releases it. */
#define FAKE_RW(call, fn, ...)                                                \
	({                                                                    \
		FAKE_LOCK_HELD();                                             \
		int e_ = fake_intercept_locked(call);                                     \
		ssize_t r_ = e_ ? -e_ : fn(__VA_ARGS__);                      \
		ret_ssize(r_);                                                \
	})

FAKE_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(read)(fd, buf, len);
	return FAKE_RW("read", fake_read, f, buf, len, 0, false);
}

FAKE_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(__read_chk)(fd, buf, len, buflen);
	if (len > buflen)
		abort(); /* __chk_fail() */
	return FAKE_RW("read", fake_read, f, buf, len, 0, false);
}

FAKE_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(write)(fd, buf, len);
	return FAKE_RW("write", fake_write, f, buf, len, 0, false);
}

FAKE_EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t pos)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(pread)(fd, buf, len, pos);
	return FAKE_RW("pread", fake_read, f, buf, len, pos, true);
}

FAKE_EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t pos)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(pread64)(fd, buf, len, pos);
	return FAKE_RW("pread", fake_read, f, buf, len, pos, true);
}

FAKE_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t pos,
				size_t buflen)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(__pread_chk)(fd, buf, len, pos, buflen);
	if (len > buflen)
		abort();
	return FAKE_RW("pread", fake_read, f, buf, len, pos, true);
}

FAKE_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t pos,
				  size_t buflen)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(__pread64_chk)(fd, buf, len, pos, buflen);
	if (len > buflen)
		abort();
	return FAKE_RW("pread", fake_read, f, buf, len, pos, true);
}

FAKE_EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t pos)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(pwrite)(fd, buf, len, pos);
	return FAKE_RW("pwrite", fake_write, f, buf, len, pos, true);
}

FAKE_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t pos)
{
	struct fake_fd *f = fake_fd_hold(fd);

	if (!f)
		return REAL(pwrite64)(fd, buf, len, pos);
	return FAKE_RW("pwrite", fake_write, f, buf, len, pos, true);
}

/* Fake fds answer for themselves: DEFAULT_POLLMASK (no ->poll in vfio,
 * container, group, iommufd, mtty data files) unless fake-mig says
 * otherwise for a data fd; real fds are polled by libc. */
FAKE_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct pollfd stackv[16], *v = stackv;
	bool any = false, ready = false;
	int err, r, count = 0;

	fake_lock();
	for (nfds_t i = 0; i < n; i++)
		if (fake_fd_lookup(fds[i].fd))
			any = true;
	if (!any) {
		fake_unlock();
		return REAL(poll)(fds, n, timeout);
	}
	err = fake_intercept_locked("poll");
	if (err) {
		fake_unlock();
		return fake_ret_errno(-err);
	}
	if (n > 16) {
		v = malloc(n * sizeof(*v));
		if (!v) {
			fake_unlock();
			return fake_ret_errno(-ENOMEM);
		}
	}
	for (nfds_t i = 0; i < n; i++) {
		struct fake_fd *f = fake_fd_lookup(fds[i].fd);

		v[i] = fds[i];
		v[i].revents = 0;
		if (!f)
			continue;
		v[i].fd = -1; /* ignored by the real poll */
		{
			short m = f->type == FFD_DATA
				  ? fake_hook_data_poll(f, fds[i].events)
				  : FAKE_DEFAULT_POLLMASK;

			/* POLLERR/POLLHUP are reported even if not asked */
			fds[i].revents = m & (fds[i].events | POLLERR |
					      POLLHUP | POLLNVAL);
		}
		if (fds[i].revents)
			ready = true;
	}
	/* The fake fds are answered; the real ones may block. */
	fake_unlock();
	r = REAL(poll)(v, n, ready ? 0 : timeout);
	if (r < 0) {
		err = errno;
		if (v != stackv)
			free(v);
		return fake_ret_errno(-err);
	}
	for (nfds_t i = 0; i < n; i++) {
		if (v[i].fd >= 0 || fds[i].fd < 0)
			fds[i].revents = v[i].revents;
		if (fds[i].revents)
			count++;
	}
	if (v != stackv)
		free(v);
	return count;
}

/* Access mode of a real fd is not `bad` (O_RDONLY/O_WRONLY). */
static bool real_mode_ok(int fd, int bad)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_ACCMODE) != bad;
}

static bool fd_is_pipe(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISFIFO(st.st_mode);
}

/* fs/splice.c:do_splice: mode checks (EBADF) first; then no fake file
 * has ->splice_read/->splice_write (mtty's data files and the VFIO files
 * have none): warn_unsupported -> EINVAL. */
FAKE_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out,
			   size_t len, unsigned int flags)
{
	struct fake_fd *fi, *fo;
	int err;

	fake_lock();
	fi = fake_fd_lookup(in);
	fo = fake_fd_lookup(out);
	if (!fi && !fo) {
		fake_unlock();
		return REAL(splice)(in, off_in, out, off_out, len, flags);
	}
	FAKE_LOCK_HELD();
	err = fake_intercept_locked("splice");
	if (err)
		return ret_ssize(-err);
	if ((!fi && !fake_fd_is_open(in)) || (!fo && !fake_fd_is_open(out)))
		return ret_ssize(-EBADF);
	if ((fi ? !fd_can_read(fi) : !real_mode_ok(in, O_WRONLY)) ||
	    (fo ? !fd_can_write(fo) : !real_mode_ok(out, O_RDONLY)))
		return ret_ssize(-EBADF);
	/* A pipe end with an offset: ESPIPE before the missing op. */
	if ((!fi && off_in && fd_is_pipe(in)) ||
	    (!fo && off_out && fd_is_pipe(out)))
		return ret_ssize(-ESPIPE);
	return ret_ssize(-EINVAL);
}
