// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's core (test-only): the machine's state and its one lock,
 * fault injection and the test hooks' counters, the fd table (fake fds are
 * eventfds, so fcntl, poll and leak counting are real) and the release of
 * a fake fd.  The rest lives in rooms named after the kernel files they
 * mirror, with fake-internal.h between them:
 *   fake-libc.c       the interposers of the libc calls of lib/sys.h
 *   fake-open.c       opening the fake's /dev nodes
 *   fake-container.c  container + Type1 MAP, UNMAP, GET_INFO (9, 11.1)
 *   fake-group.c      groups (11.1)
 *   fake-cdev.c       cdev bind/attach to iommufd (11.2)
 *   fake-iommufd.c    iommufd contexts, objects, size convention (10)
 *   fake-ioas.c       IOAS map/unmap, reserved spans, IOVA ranges (10)
 *   fake-device.c     device fds: FEATURE dispatch (2), RESET (7),
 *                     GET_INFO, config space, region access (12.5)
 *   fake-sysfs.c      the machine: sysfs tree, /dev nodes, fake_init
 * The migration model is in fake-mig.c, dirty tracking in fake-dirty.c.
 * Every errno and its order follows ../shared/docs/kernel-contract.md and,
 * where it is silent, the Linux 6.12 source (file:function cited).
 * Threads: one recursive lock (fake_lock()) guards the whole machine; see
 * "Threads" in fake.h.  Calls on real fds run in libc without it.
 * Not modeled: the iommufd VFIO-compat container (a group given an iommufd
 * in SET_CONTAINER gets EBADFD), IOMMU_IOAS_ALLOW_IOVAS/COPY/OPTION/
 * VFIO_IOAS, HWPT_INVALIDATE, FAULT_QUEUE_ALLOC (EOPNOTSUPP), pinning of
 * user memory that is not mapped at all (accepted: only a mapping without
 * the permission is EFAULT), dup()ed fake fds.
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

/* The machine (fake-internal.h). */
#define F fake_machine

/* ------------------------------------------------------------------ */
/* State of the fake machine.                                          */

/*
 * The machine's lock (fake-internal.h).  Under ThreadSanitizer the fake is
 * invisible: its lock orders nothing and its accesses are not checked.
 * One global lock would otherwise order every pair of fake calls, in any
 * two threads, and hide the library's races between them; the kernel
 * promises no such order (and TSan does not see its locks either).
 */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

struct fake_machine fake_machine;

FAKE_EXPORT void fake_set_iommu(uint64_t pgsizes, uint64_t aperture_last)
{
	FAKE_LOCKED();

	F.iommu_pgsizes = pgsizes ? pgsizes : FAKE_PCI_PGSIZES_DEFAULT;
	F.iommu_last = aperture_last ? aperture_last : FAKE_APERTURE_END_DEFAULT;
}

#ifdef FAKE_TSAN
void AnnotateIgnoreSyncBegin(const char *file, int line);
void AnnotateIgnoreSyncEnd(const char *file, int line);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);

static void tsan_hide_begin(void)
{
	AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
}

static void tsan_hide_accesses(bool on)
{
	if (on)
		__tsan_ignore_thread_begin();
	else
		__tsan_ignore_thread_end();
}

static void tsan_hide_end(void)
{
	AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
}
#else
static void tsan_hide_begin(void) {}
static void tsan_hide_accesses(bool on) { (void)on; }
static void tsan_hide_end(void) {}
#endif

void fake_lock(void)
{
	int e = errno;

	tsan_hide_begin();
	pthread_mutex_lock(&lock);
	tsan_hide_accesses(true);
	errno = e;
}

void fake_unlock(void)
{
	int e = errno;

	tsan_hide_accesses(false);
	pthread_mutex_unlock(&lock);
	tsan_hide_end();
	errno = e;
}

/* fake-internal.h */
struct fake_fd *fake_fd_hold(int fd)
{
	struct fake_fd *f;

	fake_lock();
	f = fake_fd_lookup(fd);
	if (!f)
		fake_unlock();
	return f;
}

/* Fault injection and call counting. */
struct fake_fault fake_fault;

/* An intercepted call starts: count it; returns the errno to inject or 0. */
int fake_intercept_locked(const char *call)
{
	fake_fault.calls++;
	if (!fake_fault.nth)
		return 0;
	if (fake_fault.call[0] && strcmp(fake_fault.call, call))
		return 0;
	if (++fake_fault.seen != fake_fault.nth)
		return 0;
	fake_fault.nth = 0;
	return fake_fault.err;
}

/* fake_intercept_locked() for the interposers of the other fake-*.c files. */
int fake_intercept(const char *call)
{
	FAKE_LOCKED();

	return fake_intercept_locked(call);
}

FAKE_EXPORT void fake_fail_nth(unsigned int nth, int err)
{
	FAKE_LOCKED();

	fake_fault.nth = nth;
	fake_fault.err = err;
	fake_fault.seen = 0;
	fake_fault.call[0] = '\0';
}

FAKE_EXPORT void fake_fail_nth_call(const char *call, unsigned int nth,
				    int err)
{
	FAKE_LOCKED();

	fake_fail_nth(nth, err);
	if (call)
		snprintf(fake_fault.call, sizeof(fake_fault.call), "%s", call);
}

FAKE_EXPORT unsigned int fake_calls(void)
{
	FAKE_LOCKED();

	return fake_fault.calls;
}

FAKE_EXPORT unsigned int fake_ioctls(void)
{
	FAKE_LOCKED();

	return fake_fault.ioctls;
}

FAKE_EXPORT void fake_dev_ioctls(int id, struct fake_dev_ioctls *out)
{
	FAKE_LOCKED();
	struct fake_dev *d = fake_dev_get(id);

	if (d)
		*out = d->ioc;
	else
		memset(out, 0, sizeof(*out));
}

FAKE_EXPORT int fake_open_fds(void)
{
	FAKE_LOCKED();

	return F.nfds;
}

FAKE_EXPORT const char *fake_sysfs_root(void)
{
	FAKE_LOCKED();

	return F.up ? F.sys : NULL;
}

FAKE_EXPORT const char *fake_dev_root(void)
{
	FAKE_LOCKED();

	return F.up ? F.dev : NULL;
}

int fake_ret_errno(int neg)
{
	errno = -neg;
	return -1;
}

/* ------------------------------------------------------------------ */
/* The fd table.                                                        */

struct fake_fd *fake_fd_lookup(int fd)
{
	if (fd < 0 || fd >= F.fds_cap)
		return NULL;
	return F.fds[fd];
}

static void fd_release(struct fake_fd *f);

/* Make F.fds[fd] an empty slot: 0 or -ENOMEM. */
static int fd_slot(int fd)
{
	if (fd >= F.fds_cap) {
		int cap = fd + 64;
		struct fake_fd **n = realloc(F.fds, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		memset(n + F.fds_cap, 0, (cap - F.fds_cap) * sizeof(*n));
		F.fds = n;
		F.fds_cap = cap;
	}
	if (F.fds[fd]) {
		/* Closed behind our back (not through close()): forget it. */
		free(F.fds[fd]);
		F.fds[fd] = NULL;
		F.nfds--;
	}
	return 0;
}

/* fake-fcntl.c: fcntl(F_DUPFD*) of f gave newfd.  Linux would share the
 * file between both numbers; the fake moves f to newfd and leaves the old
 * number a plain eventfd, which is what moving a fd off 0-2 (dup, close
 * the old) needs.  Returns 0 or -ENOMEM. */
int fake_fd_rekey(struct fake_fd *f, int newfd, bool cloexec)
{
	FAKE_LOCKED();

	if (fd_slot(newfd))
		return -ENOMEM;
	F.fds[f->fd] = NULL;
	F.fds[newfd] = f;
	f->fd = newfd;
	f->oflags = cloexec ? f->oflags | O_CLOEXEC : f->oflags & ~O_CLOEXEC;
	return 0;
}

/* Register a new fake fd backed by a fresh eventfd. */
struct fake_fd *fake_fd_create(int type, struct fake_dev *dev, int oflags)
{
	struct fake_fd *f;
	int efl = 0, fd;

	if (oflags & O_CLOEXEC)
		efl |= EFD_CLOEXEC;
	if (oflags & O_NONBLOCK)
		efl |= EFD_NONBLOCK;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	fd = eventfd(0, efl);
	if (fd < 0) {
		free(f);
		return NULL;
	}
	if (fd_slot(fd)) {
		REAL(close)(fd);
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	f->fd = fd;
	f->type = type;
	f->dev = dev;
	f->oflags = oflags;
	f->o_nonblock = oflags & O_NONBLOCK;
	f->iommufd_fd = -1;
	f->group = -1;
	F.fds[fd] = f;
	F.nfds++;
	return f;
}

struct fake_fd *fake_fd_new(int type, struct fake_dev *dev, bool cloexec)
{
	return fake_fd_create(type, dev, O_RDONLY | (cloexec ? O_CLOEXEC : 0));
}

bool fake_fd_nonblock(struct fake_fd *f)
{
	int fl = fcntl(f->fd, F_GETFL);

	return fl >= 0 ? (fl & O_NONBLOCK) != 0 : f->o_nonblock;
}

/* Remove from the table and close the eventfd; returns close()'s result. */
int fake_fd_close(struct fake_fd *f)
{
	int fd = f->fd;

	fd_release(f);
	F.fds[fd] = NULL;
	F.nfds--;
	free(f);
	return REAL(close)(fd);
}

struct fake_dev *fake_dev_get(int id)
{
	if (id < 0 || id >= F.ndevs)
		return NULL;
	return F.devs[id];
}

struct fake_group *fake_group_get(int num)
{
	for (int i = 0; i < FAKE_MAX_DEVS; i++)
		if (F.groups[i].used && F.groups[i].num == num)
			return &F.groups[i];
	return NULL;
}

struct fake_container *fake_fd_container(struct fake_fd *f)
{
	struct fake_group *g;

	if (!f)
		return NULL;
	switch (f->type) {
	case FFD_CONTAINER:
		return f->container;
	case FFD_GROUP:
		g = fake_group_get(f->group);
		return g ? g->container : NULL;
	case FFD_DEVICE:
		if (f->cdev || !f->dev)
			return NULL;
		g = fake_group_get(f->dev->cfg.group);
		return g ? g->container : NULL;
	default:
		return NULL;
	}
}

/* Pointer vectors (containers, iommufd contexts). */
int fake_vec_add(void ***v, int *n, int *cap, void *p)
{
	if (*n == *cap) {
		int c = *cap ? *cap * 2 : 8;
		void **nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = p;
	return 0;
}

void fake_vec_del(void **v, int *n, void *p)
{
	for (int i = 0; i < *n; i++) {
		if (v[i] == p) {
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			return;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Releasing a fake fd (the file's ->release).                          */

static void fd_release(struct fake_fd *f)
{
	struct fake_group *g;

	switch (f->type) {
	case FFD_CONTAINER:
		fake_container_put(f->container);
		break;
	case FFD_GROUP:
		g = fake_group_get(f->group);
		if (g)
			fake_group_put(g);
		break;
	case FFD_DEVICE:
		if (f->cdev) {
			if (f->bound)
				fake_dev_unbind(f);
			break;
		}
		/* vfio_df_group_close */
		if (--f->dev->open_count == 0)
			fake_dev_last_close(f->dev);
		g = fake_group_get(f->group);
		if (g)
			fake_group_put(g);
		break;
	case FFD_IOMMUFD:
		fake_ictx_put(f->ictx);
		break;
	case FFD_DATA:
		fake_data_close(f);
		break;
	}
}
