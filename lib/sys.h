/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's only way to the kernel.  Every open, ioctl, read, write,
 * poll and close of a VFIO or iommufd object goes through these
 * wrappers.  In the production library they are plain libc calls (inline,
 * no cost); the test suite's fake kernel (tests/fake/) stands in by
 * interposing exactly these libc symbols, so anything the library touches
 * must be on this list:
 *
 *   open openat close ioctl read write pread pwrite poll fcntl
 *
 * (No splice: it never works on a migration data fd, kernel-contract.md
 * 17.  The fake still interposes it, for the tool's own pipes.)
 *
 * sysfs is read with ordinary file and directory calls under the context's
 * sysfs root; tests point that root at a fake tree instead.
 */
#ifndef VFIOMIG_SYS_H
#define VFIOMIG_SYS_H

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <errno.h>

/*
 * Moves a fd the kernel just handed us off 0, 1 and 2.  A process started
 * with a standard fd closed gets its next open() there, and a later printf
 * or read of stdin would then reach the device.  A fd 0-2 is closed whether
 * the move worked or not; a fd above 2, or a negative one (an error from
 * the call that made it, e.g. -errno from sys_ioctl), is returned unchanged.
 * Returns the fd to use (> 2, O_CLOEXEC if moved) or -errno.
 */
static inline int sys_fd_above_stdio(int fd)
{
	int moved, saved;

	if (fd < 0 || fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	saved = errno;
	close(fd);
	return moved < 0 ? -saved : moved;
}

/* Returns a fd above 2, O_CLOEXEC, or -1 with errno set (like open()). */
static inline int sys_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return -1;
	fd = sys_fd_above_stdio(fd);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
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

/* A device region: mmap(2) of the device fd (MAP_FAILED + errno). */
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags,
			     int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

static inline int sys_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}

#endif
