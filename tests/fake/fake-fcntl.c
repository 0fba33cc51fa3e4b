// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fcntl() for the fake kernel (test-only).
 *
 * The library moves a fd the kernel gave it off 0-2 with
 * fcntl(fd, F_DUPFD_CLOEXEC, 3) and closes the old one
 * (sys_fd_above_stdio() in lib/sys.h).  The fake tracks its fds by number,
 * so a dup of a fake fd moves the fake file to the new number
 * (fake_fd_rekey()); it is an intercepted call ("fcntl" for
 * fake_fail_nth_call()).  Every other command, and any fcntl of a real fd,
 * goes to libc untouched: F_GETFD/F_GETFL on a fake fd then see its
 * eventfd, as the fake's own checks and the tests' O_CLOEXEC checks want.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake-internal.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

typedef int (*fcntl_fn)(int, int, ...);

static fcntl_fn real_fcntl(void)
{
	static fcntl_fn fn;
	fcntl_fn p = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!p) {
		p = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl");
		if (!p)
			abort();
		__atomic_store_n(&fn, p, __ATOMIC_RELAXED);
	}
	return p;
}

/* F_DUPFD(_CLOEXEC) of fake fd f at or above minfd. */
static int dup_fake(struct fake_fd *f, int cmd, int minfd)
{
	int ret = fake_intercept("fcntl");
	int nfd;

	if (ret) {
		errno = ret;
		return -1;
	}
	nfd = real_fcntl()(f->fd, cmd, minfd);
	if (nfd < 0)
		return -1;
	ret = fake_fd_rekey(f, nfd, cmd == F_DUPFD_CLOEXEC);
	if (ret) {
		close(nfd);
		errno = -ret;
		return -1;
	}
	return nfd;
}

/* The argument is an int or a pointer by cmd; like glibc, take it as a
 * pointer-sized word and pass it on unchanged. */
FAKE_EXPORT int fcntl(int fd, int cmd, ...)
{
	struct fake_fd *f;
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
		return real_fcntl()(fd, cmd, arg);
	/* Under the fake's lock, like every other interposer (fake.h). */
	f = fake_fd_hold(fd);
	if (!f)
		return real_fcntl()(fd, cmd, arg);
	ret = dup_fake(f, cmd, (int)(intptr_t)arg);
	fake_unlock();
	return ret;
}
