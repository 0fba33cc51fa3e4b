/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's calls to VFIO and iommufd objects: thin wrappers over libc.
 *
 * The seam the test suite's fake kernel (tests/fake/) stands in at is libc,
 * not this header: the fake is linked into the test programs and defines
 * the libc symbols below, so every call of them in the library (through a
 * wrapper here or not) reaches the fake first; calls on fds the fake did
 * not create go on to libc (dlsym(RTLD_NEXT)).  In the production library
 * the wrappers are plain inline libc calls.  Keep VFIO/iommufd calls on
 * these wrappers so that they are easy to find; a new libc call on a
 * device, group, container, iommufd or data fd must also be one the fake
 * interposes, or the fake cannot stand in for it.
 *
 * The libc calls the library makes on kernel objects (fds of the
 * /dev/vfio nodes, /dev/iommu, device and data fds), and where:
 *
 *   open      sys_open (dma.c, iommu.c)
 *   close     sys_close, sys_fd_above_stdio
 *   fcntl     sys_fd_above_stdio (F_DUPFD_CLOEXEC)
 *   ioctl     sys_ioctl (every VFIO and iommufd ioctl)
 *   read      sys_read (session.c: migration data)
 *   write     sys_write (session.c: migration data)
 *   pread     sys_pread (region.c: region reads)
 *   pwrite    sys_pwrite (region.c: region writes)
 *   poll      sys_poll (session.c: a data fd that said EAGAIN)
 *   mmap      sys_mmap (region.c: a region's mappable area)
 *   munmap    sys_munmap (region.c)
 *
 * What the fake interposes (25 symbols): open, open64, openat, openat64,
 * close, ioctl, read, write, pread, pread64, pwrite, pwrite64, poll,
 * splice, fcntl, mmap, mmap64, munmap (a fake region's mappable area is a
 * memfd), and the _FORTIFY_SOURCE entry points __open_2,
 * __open64_2, __openat_2, __openat64_2, __read_chk, __pread_chk,
 * __pread64_chk.  (splice: never used by the library, it never works on a
 * migration data fd, kernel-contract.md 17; the fake keeps it for the
 * tool's own pipes.)
 *
 * sysfs goes around these wrappers: util.c, device.c and enum.c call libc
 * directly (lstat, open, fstat, read, close in util.c; readlink, stat,
 * realpath, opendir, readdir) on files under the context's sysfs root.
 * Tests point that root at a directory tree the fake builds, so those
 * calls stay real libc calls on real files (open/read/close pass through
 * the fake to libc).
 *
 * Two error conventions, per wrapper (do not mix them up at a call site):
 *
 *   -errno on failure:         sys_ioctl, sys_fd_above_stdio
 *   -1 (MAP_FAILED for mmap)
 *   with errno set, as libc:   sys_open, sys_close, sys_read, sys_write,
 *                              sys_pread, sys_pwrite, sys_poll, sys_mmap,
 *                              sys_munmap
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

/* 0, or -1 with errno set (like close()). */
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

/* sys_read/write/pread/pwrite: a count, or -1 with errno set (like libc). */
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

/* The number of ready fds, 0 on timeout, or -1 with errno set (like poll()). */
static inline int sys_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return poll(fds, n, timeout);
}

/* A device region: mmap(2) of the device fd; MAP_FAILED with errno set. */
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags,
			     int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/* 0, or -1 with errno set (like munmap()). */
static inline int sys_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}

#endif
