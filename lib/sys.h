/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's only way to the kernel.  Every open, ioctl, read, write,
 * poll, splice and close of a VFIO or iommufd object goes through these
 * wrappers.  In the production library they are plain libc calls (inline,
 * no cost); the test suite's fake kernel (tests/fake/) stands in by
 * interposing exactly these libc symbols, so anything the library touches
 * must be on this list:
 *
 *   open openat close ioctl read write pread pwrite poll splice
 *
 * sysfs is read with ordinary file and directory calls under the context's
 * sysfs root; tests point that root at a fake tree instead.
 */
#ifndef VFIOMIG_SYS_H
#define VFIOMIG_SYS_H

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

static inline int sys_open(const char *path, int flags)
{
	return open(path, flags | O_CLOEXEC);
}

static inline int sys_close(int fd)
{
	return close(fd);
}

/* Returns 0/positive on success, -errno on failure. */
static inline int sys_ioctl(int fd, unsigned long req, void *arg)
{
	int ret = ioctl(fd, req, arg);

	return ret < 0 ? -errno : ret;
}

static inline ssize_t sys_read(int fd, void *buf, size_t len)
{
	return read(fd, buf, len);
}

static inline ssize_t sys_write(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len);
}

static inline ssize_t sys_pread(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}

static inline ssize_t sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

static inline int sys_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll(fds, n, timeout);
}

static inline ssize_t sys_splice(int in, int out, size_t len, unsigned int fl)
{
	return splice(in, NULL, out, NULL, len, fl);
}

#endif
