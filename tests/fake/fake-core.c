// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's core (test-only).
 *
 *  - interposition of the libc calls of lib/sys.h: calls on fds the fake
 *    created, or opens of its device nodes, are served here; anything else
 *    goes to the next definition (libc, or a sanitizer) through
 *    dlsym(RTLD_NEXT) with arguments, return value and errno untouched;
 *  - the fd table (fake fds are eventfds, so fcntl, poll and leak counting
 *    are real), fault injection;
 *  - the fake machine: sysfs tree and /dev nodes in a temporary directory;
 *  - VFIO group / container / Type1 MAP, UNMAP, GET_INFO (contract 9, 11.1);
 *  - VFIO cdev and iommufd IOAS, objects, attach (contract 1, 10, 11.2);
 *  - device fds: VFIO_DEVICE_FEATURE generic checks and dispatch (2),
 *    RESET (7), GET_INFO, region access (12.5).
 * The migration model is in fake-mig.c, dirty tracking in fake-dirty.c.
 * Every errno and its order follows ../shared/docs/kernel-contract.md and,
 * where it is silent, the Linux 6.12 source (file:function cited).
 * Threads: one recursive lock (fake_lock()) guards the whole machine; see
 * "Threads" in fake.h.  Calls on real fds run in libc without it.
 * Not modeled: the iommufd VFIO-compat container (a group given an iommufd
 * in SET_CONTAINER gets EBADFD), IOMMU_IOAS_ALLOW_IOVAS/COPY/OPTION/
 * VFIO_IOAS, HWPT_INVALIDATE, FAULT_QUEUE_ALLOC (EOPNOTSUPP), Type1 page
 * pinning of user memory (a bad vaddr is accepted), dup()ed fake fds.
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

/* The library is a shared object: the interposers must be exported from the
 * test executable although the build uses -fvisibility=hidden. */
#define FAKE_EXPORT __attribute__((visibility("default")))

/* uAPI the private copy does not carry (include/uapi/linux/vfio.h). */
#ifndef VFIO_DEVICE_GET_IRQ_INFO
#define VFIO_DEVICE_GET_IRQ_INFO _IO(VFIO_TYPE, VFIO_BASE + 9)
#define VFIO_DEVICE_SET_IRQS _IO(VFIO_TYPE, VFIO_BASE + 10)
#endif
#define FAKE_VFIO_DMA_CC_IOMMU 4
#define FAKE_VFIO_TYPE1_NESTING_IOMMU 6
#define FAKE_VFIO_UNMAP_ALL 9
#define FAKE_VFIO_UPDATE_VADDR 10
#define FAKE_VFIO_PCI_NUM_REGIONS 9
#define FAKE_VFIO_PCI_NUM_IRQS 5
#define FAKE_VFIO_PCI_CONFIG_INDEX 7
#define FAKE_REGION_SHIFT 40    /* MTTY_VFIO_PCI_INDEX_TO_OFFSET */
#define FAKE_PAGE_SIZE 4096ULL
#define FAKE_PAGE_MASK (~(FAKE_PAGE_SIZE - 1))
#define FAKE_DIRTY_BITMAP_SIZE_MAX 268435456ULL /* ALIGN(INT_MAX, 64) / 8 */
#define FAKE_DMA_ENTRY_LIMIT 65535U /* vfio_iommu_type1 dma_entry_limit */
/* Intel VT-d domain: 4K|2M|1G, aperture 48 bits, MSI window reserved. */
#define FAKE_PCI_PGSIZES 0x40201000ULL
#define FAKE_MSI_START 0xfee00000ULL
#define FAKE_MSI_END 0xfeefffffULL
#define FAKE_APERTURE_END ((1ULL << 48) - 1)
#define FAKE_DEFAULT_POLLMASK (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)

#ifndef IOMMU_TEST_CMD
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)
#endif
#define FAKE_IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, 0x84)

struct fake_vfio_irq_info {
	uint32_t argsz, flags, index, count;
};

struct fake_vfio_irq_set {
	uint32_t argsz, flags, index, start, count;
};

struct fake_cap_iova_range {
	struct vfio_info_cap_header header;
	uint32_t nr_iovas, reserved;
	struct { uint64_t start, end; } ranges[2];
};

struct fake_cap_dma_avail {
	struct vfio_info_cap_header header;
	uint32_t avail;
};

/* ------------------------------------------------------------------ */
/* Real libc entry points.                                             */

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real___read_chk)(int, void *, size_t, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pread64)(int, void *, size_t, off_t);
static ssize_t (*real___pread_chk)(int, void *, size_t, off_t, size_t);
static ssize_t (*real___pread64_chk)(int, void *, size_t, off_t, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static ssize_t (*real_splice)(int, loff_t *, int, loff_t *, size_t,
			      unsigned int);

#if defined(__SANITIZE_THREAD__)
#define FAKE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FAKE_TSAN 1
#endif
#endif

static void *real_sym(const char *name)
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

/* Resolved on first use, by whichever thread comes first: every thread
 * finds the same pointer, so a relaxed race is harmless but must be
 * atomic to be defined. */
#define REAL(name)                                                            \
	({                                                                    \
		__typeof__(real_##name) p_ =                                  \
			__atomic_load_n(&real_##name, __ATOMIC_RELAXED);      \
		if (!p_) {                                                    \
			p_ = (__typeof__(real_##name))real_sym(#name);        \
			__atomic_store_n(&real_##name, p_, __ATOMIC_RELAXED); \
		}                                                             \
		p_; /* never a plain read of the shared pointer */            \
	})

/* The _FORTIFY_SOURCE entry points (glibc declares them only when
 * fortifying). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t len, off_t pos, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t pos,
		      size_t buflen);

/* ------------------------------------------------------------------ */
/* State of the fake machine.                                          */

struct fake_group {
	int num;
	bool used;
	bool emulated;          /* mdev: vfio_noiommu_group_alloc, no domain */
	int refs;               /* group fd + group-path device fds: while > 0
				 * the group is "opened" (group.c:opened_file) */
	struct fake_container *container;
	int cdev_open_cnt;      /* bound cdev fds (vfio_device_block_group) */
};

struct fake_iommufd {
	int refs;               /* the iommufd fd + bound device fds */
	bool closing;           /* released: objects go without bookkeeping */
	struct fake_iommufd_obj *objs; /* sorted by id */
};

static struct {
	bool up;
	bool with_iommufd;
	char root[1000];
	char sys[1024];
	char dev[1024];
	size_t devlen;
	struct fake_dev *devs[FAKE_MAX_DEVS];
	int ndevs;
	struct fake_group groups[FAKE_MAX_DEVS];
	struct fake_fd **fds;   /* indexed by fd number */
	int fds_cap;
	int nfds;
	struct fake_container **conts;
	int nconts, conts_cap;
	struct fake_iommufd **ictxs;
	int nictxs, ictxs_cap;
} F;

/*
 * The machine's lock (fake-internal.h).  Under ThreadSanitizer the fake is
 * invisible: its lock orders nothing and its accesses are not checked.
 * One global lock would otherwise order every pair of fake calls, in any
 * two threads, and hide the library's races between them; the kernel
 * promises no such order (and TSan does not see its locks either).
 */
static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

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
static struct {
	unsigned int calls;
	unsigned int nth;       /* 0 = disarmed */
	unsigned int seen;
	int err;
	char call[16];          /* "" = any call */
	unsigned int ioctls;    /* fake_ioctls() */
} fault;

/* An intercepted call starts: count it; returns the errno to inject or 0. */
static int intercept(const char *call)
{
	fault.calls++;
	if (!fault.nth)
		return 0;
	if (fault.call[0] && strcmp(fault.call, call))
		return 0;
	if (++fault.seen != fault.nth)
		return 0;
	fault.nth = 0;
	return fault.err;
}

/* intercept() for the interposers of the other fake-*.c files. */
int fake_intercept(const char *call)
{
	FAKE_LOCKED();

	return intercept(call);
}

FAKE_EXPORT void fake_fail_nth(unsigned int nth, int err)
{
	FAKE_LOCKED();

	fault.nth = nth;
	fault.err = err;
	fault.seen = 0;
	fault.call[0] = '\0';
}

FAKE_EXPORT void fake_fail_nth_call(const char *call, unsigned int nth,
				    int err)
{
	FAKE_LOCKED();

	fake_fail_nth(nth, err);
	if (call)
		snprintf(fault.call, sizeof(fault.call), "%s", call);
}

FAKE_EXPORT unsigned int fake_calls(void)
{
	FAKE_LOCKED();

	return fault.calls;
}

FAKE_EXPORT unsigned int fake_ioctls(void)
{
	FAKE_LOCKED();

	return fault.ioctls;
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

static int ret_errno(int neg)
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
static struct fake_fd *fd_create(int type, struct fake_dev *dev, int oflags)
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
	return fd_create(type, dev, O_RDONLY | (cloexec ? O_CLOEXEC : 0));
}

bool fake_fd_nonblock(struct fake_fd *f)
{
	int fl = fcntl(f->fd, F_GETFL);

	return fl >= 0 ? (fl & O_NONBLOCK) != 0 : f->o_nonblock;
}

/* Remove from the table and close the eventfd; returns close()'s result. */
static int fd_close(struct fake_fd *f)
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

static struct fake_group *group_get(int num)
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
		g = group_get(f->group);
		return g ? g->container : NULL;
	case FFD_DEVICE:
		if (f->cdev || !f->dev)
			return NULL;
		g = group_get(f->dev->cfg.group);
		return g ? g->container : NULL;
	default:
		return NULL;
	}
}

/* Pointer vectors (containers, iommufd contexts). */
static int vec_add(void ***v, int *n, int *cap, void *p)
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

static void vec_del(void **v, int *n, void *p)
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
/* Containers and Type1 (drivers/vfio/container.c, vfio_iommu_type1.c). */

struct fake_container *fake_container_next(struct fake_container *prev)
{
	int i = 0;

	if (prev) {
		for (i = 0; i < F.nconts; i++)
			if (F.conts[i] == prev)
				break;
		i++;
	}
	for (; i < F.nconts; i++)
		if (F.conts[i]->iommu_type)
			return F.conts[i];
	return NULL;
}

uint64_t fake_container_pgsize(struct fake_container *c)
{
	uint64_t b = c && c->pgsize_bitmap ? c->pgsize_bitmap : FAKE_PAGE_MASK;

	return b & -b;
}

static struct fake_container *container_new(void)
{
	struct fake_container *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (vec_add((void ***)&F.conts, &F.nconts, &F.conts_cap, c)) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->refs = 1;
	return c;
}

static void map_remove(struct fake_container *c, int i)
{
	free(c->maps[i].dirty);
	memmove(&c->maps[i], &c->maps[i + 1],
		(c->nmaps - i - 1) * sizeof(c->maps[0]));
	c->nmaps--;
}

/* vfio_iommu_type1_release: the driver goes, with every mapping. */
static void type1_release(struct fake_container *c)
{
	while (c->nmaps)
		map_remove(c, c->nmaps - 1);
	c->iommu_type = 0;
	c->dirty_tracking = false;
	c->pgsize_bitmap = 0;
}

static void container_put(struct fake_container *c)
{
	if (--c->refs > 0)
		return;
	type1_release(c);
	vec_del((void **)F.conts, &F.nconts, c);
	free(c);
}

/* vfio_update_pgsize_bitmap: PAGE_MASK ANDed with every domain's sizes. */
static void type1_update_pgsize(struct fake_container *c)
{
	c->pgsize_bitmap = FAKE_PAGE_MASK;
	if (c->n_iommu_groups)
		c->pgsize_bitmap &= FAKE_PCI_PGSIZES;
}

/* vfio_group_detach_container (container.c). */
static void group_detach_container(struct fake_group *g)
{
	struct fake_container *c = g->container;

	g->container = NULL;
	c->ngroups--;
	if (g->emulated)
		c->n_emulated_groups--;
	else
		c->n_iommu_groups--;
	if (c->iommu_type) {
		if (!c->ngroups)
			type1_release(c);
		else
			type1_update_pgsize(c);
	}
	container_put(c);
}

static void group_put(struct fake_group *g)
{
	if (--g->refs > 0)
		return;
	if (g->container)
		group_detach_container(g);
}

/* vfio_iommu_type1_check_extension, with iommu == NULL before SET_IOMMU. */
static int type1_check_extension(struct fake_container *c, unsigned long arg)
{
	switch (arg) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case FAKE_VFIO_TYPE1_NESTING_IOMMU:
	case FAKE_VFIO_UNMAP_ALL:
		return 1;
	case FAKE_VFIO_UPDATE_VADDR:
		return c->iommu_type && !c->n_emulated_groups;
	case FAKE_VFIO_DMA_CC_IOMMU:
		/* vfio_domains_have_enforce_cache_coherency: 1 when no domain
		 * refuses (none at all for mdev-only); NULL iommu -> 0. */
		return c->iommu_type ? 1 : 0;
	default:
		return 0;
	}
}

/* container.c:vfio_ioctl_set_iommu: no group or already set -> EINVAL;
 * no driver claims the extension -> ENODEV; type1 open() refuses the
 * other extensions it claims (UNMAP_ALL) -> EINVAL. */
static int type1_set_iommu(struct fake_container *c, unsigned long arg)
{
	if (!c->ngroups || c->iommu_type)
		return -EINVAL;
	if (type1_check_extension(c, arg) <= 0 || arg == FAKE_VFIO_UPDATE_VADDR)
		return -ENODEV;
	if (arg != VFIO_TYPE1_IOMMU && arg != VFIO_TYPE1v2_IOMMU &&
	    arg != FAKE_VFIO_TYPE1_NESTING_IOMMU)
		return -EINVAL;
	c->iommu_type = (int)arg;
	c->dma_avail = FAKE_DMA_ENTRY_LIMIT;
	c->nmaps = 0;
	c->dirty_tracking = false;
	type1_update_pgsize(c);
	return 0;
}

static bool type1_v2(struct fake_container *c)
{
	return c->iommu_type != VFIO_TYPE1_IOMMU;
}

/* The iova list: empty for an mdev-only container, the domain aperture
 * minus the MSI window once an IOMMU-backed group is attached. */
static int type1_iova_ranges(struct fake_container *c, uint64_t r[2][2])
{
	if (!c->n_iommu_groups)
		return 0;
	r[0][0] = 0;
	r[0][1] = FAKE_MSI_START - 1;
	r[1][0] = FAKE_MSI_END + 1;
	r[1][1] = FAKE_APERTURE_END;
	return 2;
}

/* vfio_iommu_type1_get_info (contract 9.2). */
static int type1_get_info(struct fake_container *c, void *arg)
{
	struct vfio_iommu_type1_info info;
	unsigned char caps[128];
	struct vfio_iommu_type1_info_cap_migration mig;
	struct fake_cap_dma_avail avail;
	struct fake_cap_iova_range iova;
	uint64_t r[2][2];
	size_t csize = 0, minsz;
	int n;

	memset(&info, 0, sizeof(info));
	memset(&mig, 0, sizeof(mig));
	memset(&avail, 0, sizeof(avail));
	memset(&iova, 0, sizeof(iova));
	memcpy(&info, arg, 16);
	if (info.argsz < 16)
		return -EINVAL;
	minsz = info.argsz < sizeof(info) ? info.argsz : sizeof(info);
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = c->pgsize_bitmap;

	memset(caps, 0, sizeof(caps));
	mig.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
	mig.header.version = 1;
	mig.pgsize_bitmap = fake_container_pgsize(c);
	mig.max_dirty_bitmap_size = fake_dirty_bitmap_max();
	memcpy(caps, &mig, sizeof(mig));
	csize = sizeof(mig);                    /* 32 */
	avail.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
	avail.header.version = 1;
	avail.avail = c->dma_avail;
	((struct vfio_info_cap_header *)caps)->next = csize;
	memcpy(caps + csize, &avail, sizeof(avail));
	csize += 16;                            /* ALIGN(12, 8) */
	n = type1_iova_ranges(c, r);
	if (n) {
		iova.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
		iova.header.version = 1;
		iova.nr_iovas = n;
		for (int i = 0; i < n; i++) {
			iova.ranges[i].start = r[i][0];
			iova.ranges[i].end = r[i][1];
		}
		((struct vfio_info_cap_header *)(caps + 32))->next = csize;
		memcpy(caps + csize, &iova, 16 + 16 * n);
		csize += 16 + 16 * n;
	}
	info.flags |= VFIO_IOMMU_INFO_CAPS;
	if (info.argsz < sizeof(info) + csize) {
		info.argsz = sizeof(info) + csize;
	} else {
		/* vfio_info_cap_shift: next offsets from the info start. */
		size_t off = 0;

		for (;;) {
			struct vfio_info_cap_header *h = (void *)(caps + off);
			uint32_t next = h->next;

			if (next)
				h->next = next + sizeof(info);
			if (!next)
				break;
			off = next;
		}
		memcpy((char *)arg + sizeof(info), caps, csize);
		info.cap_offset = sizeof(info);
	}
	memcpy(arg, &info, minsz);
	return 0;
}

/* First mapping overlapping [iova, iova + size), or -1. */
static int type1_find(struct fake_container *c, uint64_t iova, uint64_t size)
{
	for (int i = 0; i < c->nmaps; i++) {
		struct fake_map *m = &c->maps[i];

		if (m->iova + m->size > iova && m->iova < iova + size)
			return i;
	}
	return -1;
}

static bool type1_iova_valid(struct fake_container *c, uint64_t start,
			     uint64_t last)
{
	uint64_t r[2][2];
	int n = type1_iova_ranges(c, r);

	if (!n)
		return true;
	for (int i = 0; i < n; i++)
		if (start >= r[i][0] && last <= r[i][1])
			return true;
	return false;
}

/* vfio_iommu_type1_map_dma + vfio_dma_do_map. */
static int type1_map_dma(struct fake_container *c, void *arg)
{
	struct vfio_iommu_type1_dma_map map;
	uint32_t mask = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
			VFIO_DMA_MAP_FLAG_VADDR;
	uint32_t prot;
	bool set_vaddr;
	uint64_t pgsize = fake_container_pgsize(c);
	struct fake_map *m;
	int i;

	memcpy(&map, arg, sizeof(map));
	if (map.argsz < sizeof(map) || (map.flags & ~mask))
		return -EINVAL;
	set_vaddr = map.flags & VFIO_DMA_MAP_FLAG_VADDR;
	prot = map.flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	if ((prot && set_vaddr) || (!prot && !set_vaddr))
		return -EINVAL;
	if (!map.size || ((map.size | map.iova | map.vaddr) & (pgsize - 1)))
		return -EINVAL;
	if (map.iova + map.size - 1 < map.iova ||
	    map.vaddr + map.size - 1 < map.vaddr)
		return -EINVAL;
	i = type1_find(c, map.iova, map.size);
	if (set_vaddr) {
		if (i < 0)
			return -ENOENT;
		m = &c->maps[i];
		if (!m->vaddr_invalid || m->iova != map.iova ||
		    m->size != map.size)
			return -EINVAL;
		m->vaddr = map.vaddr;
		m->vaddr_invalid = false;
		return 0;
	}
	if (i >= 0)
		return -EEXIST;
	/* FAKE_MAX_MAPS is the fake's own limit (the kernel's is 65535). */
	if (!c->dma_avail || c->nmaps == FAKE_MAX_MAPS)
		return -ENOSPC;
	if (!type1_iova_valid(c, map.iova, map.iova + map.size - 1))
		return -EINVAL;
	for (i = 0; i < c->nmaps && c->maps[i].iova < map.iova; i++)
		;
	memmove(&c->maps[i + 1], &c->maps[i], (c->nmaps - i) * sizeof(*m));
	m = &c->maps[i];
	memset(m, 0, sizeof(*m));
	m->iova = map.iova;
	m->size = map.size;
	m->vaddr = map.vaddr;
	m->prot = prot;
	/* vfio_pin_map_dma, only with a domain (an IOMMU-backed group),
	 * before the dirty bitmap: vaddr_get_pfns pins with FOLL_WRITE for a
	 * writable map -> EFAULT, and the mapping is removed again */
	if (c->n_iommu_groups &&
	    !fake_user_pages_pinnable(map.vaddr, map.size,
				      prot & VFIO_DMA_MAP_FLAG_WRITE)) {
		memmove(&c->maps[i], &c->maps[i + 1],
			(c->nmaps - i) * sizeof(*m));
		return -EFAULT;
	}
	if (c->dirty_tracking) {
		/* vfio_dma_bitmap_alloc: > INT_MAX pages -> EINVAL. */
		uint64_t npages = map.size / pgsize;

		if (npages > INT_MAX) {
			memmove(&c->maps[i], &c->maps[i + 1],
				(c->nmaps - i) * sizeof(*m));
			return -EINVAL;
		}
		m->dirty = calloc((npages + 63) / 64, sizeof(uint64_t));
		if (!m->dirty) {
			memmove(&c->maps[i], &c->maps[i + 1],
				(c->nmaps - i) * sizeof(*m));
			return -ENOMEM;
		}
	}
	c->nmaps++;
	c->dma_avail--;
	return 0;
}

/* vfio_iommu_type1_unmap_dma + vfio_dma_do_unmap (contract 9.4). */
static int type1_unmap_dma(struct fake_container *c, void *arg)
{
	struct vfio_iommu_type1_dma_unmap unmap;
	uint32_t mask = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
			VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
	uint64_t pgsize = fake_container_pgsize(c), iova, size, unmapped = 0;
	bool all, vaddr, dirty;
	int i, ret;

	memcpy(&unmap, arg, sizeof(unmap));
	if (unmap.argsz < sizeof(unmap) || (unmap.flags & ~mask))
		return -EINVAL;
	dirty = unmap.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	all = unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL;
	vaddr = unmap.flags & VFIO_DMA_UNMAP_FLAG_VADDR;
	if (dirty && (all || vaddr))
		return -EINVAL;
	if (dirty) {
		struct vfio_bitmap bm;
		uint64_t npages;

		if (unmap.argsz < sizeof(unmap) + sizeof(bm))
			return -EINVAL;
		memcpy(&bm, (char *)arg + sizeof(unmap), sizeof(bm));
		/* verify_bitmap_size(unmap.size >> __ffs(pgsize), size) */
		if (!bm.pgsize)
			return -EINVAL;
		npages = unmap.size >> __builtin_ctzll(bm.pgsize);
		if (!npages || !bm.size || bm.size > fake_dirty_bitmap_max() ||
		    bm.size < ((npages + 63) / 64) * 8)
			return -EINVAL;
	}
	/* vfio_dma_do_unmap */
	if (vaddr && c->n_emulated_groups)
		return -EBUSY;
	iova = unmap.iova;
	size = unmap.size;
	if (iova & (pgsize - 1))
		return -EINVAL;
	if (all) {
		if (iova || size)
			return -EINVAL;
		size = UINT64_MAX;
	} else if (!size || (size & (pgsize - 1)) || iova + size - 1 < iova) {
		return -EINVAL;
	}
	if (dirty) {
		struct vfio_bitmap bm;

		memcpy(&bm, (char *)arg + sizeof(unmap), sizeof(bm));
		if (!c->dirty_tracking || bm.pgsize != pgsize)
			return -EINVAL;
	}
	if (type1_v2(c) && !all) {
		i = type1_find(c, iova, 1);
		if (i >= 0 && c->maps[i].iova != iova)
			return -EINVAL;
		i = type1_find(c, iova + size - 1, 1);
		if (i >= 0 && c->maps[i].iova + c->maps[i].size != iova + size)
			return -EINVAL;
	}
	if (dirty) {
		ret = fake_type1_unmap_dirty(c, arg);
		if (ret)
			return ret;
	}
	if (vaddr) {
		/* Invalidate vaddrs (only without mdev, checked above). */
		int first = -1;

		for (i = 0; i < c->nmaps; i++) {
			struct fake_map *m = &c->maps[i];

			if (m->iova + m->size <= iova || m->iova > iova + (size - 1))
				continue;
			if (first < 0)
				first = i;
			if (m->vaddr_invalid) {
				for (int j = first; j < i; j++)
					c->maps[j].vaddr_invalid = false;
				return -EINVAL;
			}
			m->vaddr_invalid = true;
			unmapped += m->size;
		}
	} else {
		i = type1_find(c, iova, size == UINT64_MAX ? size - iova : size);
		while (i >= 0 && i < c->nmaps) {
			struct fake_map *m = &c->maps[i];

			if (m->iova > iova + (size - 1))
				break;
			if (!type1_v2(c) && iova > m->iova)
				break;
			unmapped += m->size;
			map_remove(c, i);
			c->dma_avail++;
		}
	}
	unmap.size = unmapped;
	memcpy(arg, &unmap, sizeof(unmap));
	return 0;
}

/* container.c:vfio_fops_unl_ioctl, then vfio_iommu_type1_ioctl. */
static int container_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	struct fake_container *c = f->container;

	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return type1_check_extension(c, (unsigned long)arg);
	case VFIO_SET_IOMMU:
		return type1_set_iommu(c, (unsigned long)arg);
	}
	if (!c->iommu_type)
		return -EINVAL;
	switch (cmd) {
	case VFIO_IOMMU_GET_INFO:
		return type1_get_info(c, arg);
	case VFIO_IOMMU_MAP_DMA:
		return type1_map_dma(c, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return type1_unmap_dma(c, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		/* Same number as VFIO_DEVICE_FEATURE: dispatched by fd type. */
		return fake_type1_dirty_ioctl(f, arg);
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------ */
/* iommufd contexts and objects (drivers/iommu/iommufd/main.c).        */

static struct fake_iommufd *ictx_new(void)
{
	struct fake_iommufd *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	if (vec_add((void ***)&F.ictxs, &F.nictxs, &F.ictxs_cap, x)) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	x->refs = 1;
	return x;
}

static struct fake_iommufd_obj *ictx_obj(struct fake_iommufd *x, uint32_t id)
{
	for (struct fake_iommufd_obj *o = x ? x->objs : NULL; o; o = o->next)
		if (o->id == id)
			return o;
	return NULL;
}

/* Unlink and free, dropping what it holds on others; no users check. */
static void obj_free(struct fake_iommufd_obj *o)
{
	struct fake_iommufd_obj **pp;

	for (pp = &o->ictx->objs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	}
	if (o->destroy)
		o->destroy(o);
	if ((o->type == FIO_HWPT_PAGING || o->type == FIO_HWPT_NESTED) &&
	    o->ioas && !o->ictx->closing) {
		o->ioas->users--;
		/* iopt_table_remove_domain: its aperture spans go */
		fake_ioas_unreserve(o->ioas, o);
	}
	free(o->maps);
	free(o->resv);
	free(o);
}

static void ictx_put(struct fake_iommufd *x)
{
	if (--x->refs > 0)
		return;
	/* iommufd_fops_release: destroy everything.  Every destroy() hook
	 * runs (newest object first) before any object is freed, so a hook
	 * may still look at the objects it references. */
	for (;;) {
		struct fake_iommufd_obj *o, *pick = NULL;
		void (*fn)(struct fake_iommufd_obj *);

		for (o = x->objs; o; o = o->next)
			if (o->destroy)
				pick = o; /* the last one with a hook */
		if (!pick)
			break;
		fn = pick->destroy;
		pick->destroy = NULL;
		fn(pick);
	}
	x->closing = true;
	while (x->objs)
		obj_free(x->objs);
	vec_del((void **)F.ictxs, &F.nictxs, x);
	free(x);
}

static struct fake_iommufd_obj *ictx_obj_new(struct fake_iommufd *x, int type)
{
	struct fake_iommufd_obj *o, **pp;
	uint32_t id = 1;

	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	/* Lowest free id from 1 (xa_alloc with XA_FLAGS_ALLOC1). */
	for (pp = &x->objs; *pp && (*pp)->id == id; pp = &(*pp)->next)
		id++;
	o->id = id;
	o->type = type;
	o->users = 1;
	o->ictx = x;
	o->next = *pp;
	*pp = o;
	return o;
}

struct fake_iommufd_obj *fake_iommufd_obj(struct fake_fd *iommufd, uint32_t id)
{
	return iommufd ? ictx_obj(iommufd->ictx, id) : NULL;
}

struct fake_iommufd_obj *fake_iommufd_obj_type(struct fake_fd *iommufd,
					       uint32_t id, int type)
{
	struct fake_iommufd_obj *o = fake_iommufd_obj(iommufd, id);

	return o && o->type == type ? o : NULL;
}

struct fake_iommufd_obj *fake_iommufd_obj_new(struct fake_fd *iommufd,
					      int type)
{
	if (!iommufd || !iommufd->ictx) {
		errno = EINVAL;
		return NULL;
	}
	return ictx_obj_new(iommufd->ictx, type);
}

/* main.c:iommufd_object_remove for IOMMU_DESTROY. */
static int ictx_obj_destroy(struct fake_iommufd *x, uint32_t id)
{
	struct fake_iommufd_obj *o = ictx_obj(x, id);

	if (!o)
		return -ENOENT;
	if (o->users != 1)
		return -EBUSY;
	obj_free(o);
	return 0;
}

int fake_iommufd_obj_destroy(struct fake_fd *iommufd, uint32_t id)
{
	return iommufd ? ictx_obj_destroy(iommufd->ictx, id) : -ENOENT;
}

struct fake_iommufd_obj *fake_iommufd_obj_next(struct fake_iommufd_obj *prev)
{
	int i = 0;

	if (prev) {
		if (prev->next)
			return prev->next;
		for (i = 0; i < F.nictxs; i++)
			if (F.ictxs[i] == prev->ictx)
				break;
		i++;
	}
	for (; i < F.nictxs; i++)
		if (F.ictxs[i]->objs)
			return F.ictxs[i]->objs;
	return NULL;
}

uint64_t fake_ioas_alignment(struct fake_iommufd_obj *ioas)
{
	uint64_t a = 1;

	for (struct fake_iommufd_obj *o = ioas->ictx->objs; o; o = o->next) {
		if (o->type == FIO_ACCESS && o->dev && o->dev->attached == ioas &&
		    a < FAKE_PAGE_SIZE)
			a = FAKE_PAGE_SIZE; /* needs_pin_pages */
		if ((o->type == FIO_HWPT_PAGING) && o->ioas == ioas) {
			uint64_t p = o->pgsize ? o->pgsize : FAKE_PAGE_SIZE;

			if (a < p)
				a = p;
		}
	}
	return a;
}

/* HWPT reference from a device dropped (iommufd_hw_pagetable_put): an
 * auto domain goes away with its last device. */
static void hwpt_put(struct fake_iommufd_obj *h)
{
	h->users--;
	if (h->auto_domain && h->users == 1)
		obj_free(h);
}

/* ------------------------------------------------------------------ */
/* IOAS reserved spans and user page pinning (io_pagetable.c, gup).    */

int fake_ioas_reserve(struct fake_iommufd_obj *ioas, uint64_t start,
		      uint64_t last, const void *owner)
{
	struct fake_ioas_resv *n;

	for (int i = 0; i < ioas->nmaps; i++) {
		const struct fake_ioas_map *m = &ioas->maps[i];

		if (m->iova <= last && m->iova + m->length - 1 >= start)
			return -EADDRINUSE;
	}
	n = realloc(ioas->resv, (ioas->nresv + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ioas->resv = n;
	n[ioas->nresv++] = (struct fake_ioas_resv){ start, last, owner };
	return 0;
}

void fake_ioas_unreserve(struct fake_iommufd_obj *ioas, const void *owner)
{
	int j = 0;

	for (int i = 0; i < ioas->nresv; i++)
		if (ioas->resv[i].owner != owner)
			ioas->resv[j++] = ioas->resv[i];
	ioas->nresv = j;
}

int fake_domain_aperture(struct fake_iommufd_obj *h, uint64_t start,
			 uint64_t last)
{
	int ret = 0;

	if (start)
		ret = fake_ioas_reserve(h->ioas, 0, start - 1, h);
	if (!ret && last != UINT64_MAX)
		ret = fake_ioas_reserve(h->ioas, last + 1, UINT64_MAX, h);
	if (ret)
		fake_ioas_unreserve(h->ioas, h);
	return ret;
}

/* Last byte of the first reserved span or area meeting [start, last];
 * false when the range is free. */
static bool ioas_used(const struct fake_iommufd_obj *ioas, uint64_t start,
		      uint64_t last, bool areas, uint64_t *end)
{
	for (int i = 0; i < ioas->nresv; i++) {
		const struct fake_ioas_resv *r = &ioas->resv[i];

		if (r->start <= last && r->last >= start) {
			*end = r->last;
			return true;
		}
	}
	for (int i = 0; areas && i < ioas->nmaps; i++) {
		const struct fake_ioas_map *m = &ioas->maps[i];

		if (m->iova <= last && m->iova + m->length - 1 >= start) {
			*end = m->iova + m->length - 1;
			return true;
		}
	}
	return false;
}

/* Does the IOAS have a domain (iopt->domains), so that a map pins its
 * pages at once (iopt_fill_domains_pages)?  An mdev access does not. */
static bool ioas_has_domain(const struct fake_iommufd_obj *ioas)
{
	for (struct fake_iommufd_obj *o = ioas->ictx->objs; o; o = o->next)
		if (o->type == FIO_HWPT_PAGING && o->ioas == ioas)
			return true;
	return false;
}

/* One /proc/self/maps line: does it forbid a pin of [va, last]? */
static bool maps_line_forbids(const char *line, uint64_t va, uint64_t last,
			      bool write)
{
	unsigned long long lo, hi;
	char perm[5];

	if (sscanf(line, "%llx-%llx %4s", &lo, &hi, perm) != 3)
		return false;
	if (hi <= va || lo > last)
		return false;
	return perm[0] != 'r' || (write && perm[1] != 'w');
}

bool fake_user_pages_pinnable(uint64_t va, uint64_t len, bool write)
{
	uint64_t last = va + len - 1;
	char line[512];
	bool ok = true;
	FILE *fp;

	if (!len)
		return true;
	/* gup's check_vma_flags: a VMA without VM_READ, or without VM_WRITE
	 * under FOLL_WRITE, is EFAULT (no FOLL_FORCE for DMA pins). */
	fp = fopen("/proc/self/maps", "re");
	if (!fp)
		return true;
	while (ok && fgets(line, sizeof(line), fp))
		ok = !maps_line_forbids(line, va, last, write);
	fclose(fp);
	return ok;
}

/* ioas.c:iommufd_ioas_map + io_pagetable.c:iopt_map_pages. */
static int ioas_map(struct fake_iommufd *x, struct iommu_ioas_map *cmd)
{
	struct fake_iommufd_obj *ioas;
	uint64_t a, iova, last, end;
	int i;

	if ((cmd->flags & ~(IOMMU_IOAS_MAP_FIXED_IOVA |
			    IOMMU_IOAS_MAP_WRITEABLE |
			    IOMMU_IOAS_MAP_READABLE)) || cmd->__reserved)
		return -EOPNOTSUPP;
	if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX)
		return -EOVERFLOW;
	if (!(cmd->flags &
	      (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return -EINVAL;
	ioas = ictx_obj(x, cmd->ioas_id);
	if (!ioas || ioas->type != FIO_IOAS)
		return -ENOENT;
	/* iopt_alloc_pages */
	if (!cmd->length || cmd->length > UINT64_MAX - FAKE_PAGE_SIZE)
		return -EINVAL;
	if (cmd->user_va + cmd->length < cmd->user_va)
		return -EOVERFLOW;
	a = fake_ioas_alignment(ioas);
	/* iopt_alloc_area_pages: the length before the iova */
	if (cmd->length & (a - 1))
		return -EINVAL;
	if (cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA) {
		iova = cmd->iova;
		/* iopt_check_iova */
		if (iova & (a - 1))
			return -EINVAL;
		if (__builtin_add_overflow(iova, cmd->length - 1, &last))
			return -EOVERFLOW;
		/* no reserved span in the range, then no area */
		if (ioas_used(ioas, iova, last, false, &end))
			return -EINVAL;
		if (ioas_used(ioas, iova, last, true, &end))
			return -EEXIST;
	} else {
		/* iopt_alloc_iova: first hole from PAGE_SIZE, aligned like
		 * the user address (at most 2 MiB), at least like the IOAS. */
		uint64_t al = 1, cand;

		if (cmd->length >= ULONG_MAX / 2)
			return -EOVERFLOW;
		while (al < cmd->length)
			al <<= 1;
		if (cmd->user_va && al > (cmd->user_va & -cmd->user_va))
			al = cmd->user_va & -cmd->user_va;
		if (al > (2ULL << 20))
			al = 2ULL << 20;
		if (al < a)
			return -EINVAL;
		cand = FAKE_PAGE_SIZE;
		cand = (cand + al - 1) & ~(al - 1);
		cand += (cmd->user_va % FAKE_PAGE_SIZE) & (al - 1);
		/* the first hole of areas and reserved spans that fits */
		while (cand + cmd->length - 1 >= cand &&
		       ioas_used(ioas, cand, cand + cmd->length - 1, true,
				 &end)) {
			if (end == UINT64_MAX)
				return -ENOSPC;
			cand = (end + 1 + al - 1) & ~(al - 1);
			if (!cand)
				return -ENOSPC;
		}
		if (cand + cmd->length - 1 < cand)
			return -ENOSPC;
		iova = cand;
	}
	/* iopt_insert_area: the page offset */
	if ((cmd->user_va % FAKE_PAGE_SIZE) & (a - 1))
		return -EINVAL;
	/* iopt_fill_domains_pages: with a domain the pages are pinned now,
	 * FOLL_WRITE for a writable map (pfn_reader_user_pin -> EFAULT) */
	if (ioas_has_domain(ioas) &&
	    !fake_user_pages_pinnable(cmd->user_va, cmd->length,
				      cmd->flags & IOMMU_IOAS_MAP_WRITEABLE))
		return -EFAULT;
	if (ioas->nmaps == ioas->maps_cap) {
		int cap = ioas->maps_cap ? ioas->maps_cap * 2 : 16;
		struct fake_ioas_map *n = realloc(ioas->maps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ioas->maps = n;
		ioas->maps_cap = cap;
	}
	for (i = 0; i < ioas->nmaps && ioas->maps[i].iova < iova; i++)
		;
	memmove(&ioas->maps[i + 1], &ioas->maps[i],
		(ioas->nmaps - i) * sizeof(ioas->maps[0]));
	ioas->maps[i].iova = iova;
	ioas->maps[i].length = cmd->length;
	ioas->maps[i].user_va = cmd->user_va;
	ioas->maps[i].flags = cmd->flags;
	ioas->nmaps++;
	cmd->iova = iova;
	return 0;
}

static void ioas_remove(struct fake_iommufd_obj *ioas, int i)
{
	struct fake_ioas_map m = ioas->maps[i];

	memmove(&ioas->maps[i], &ioas->maps[i + 1],
		(ioas->nmaps - i - 1) * sizeof(m));
	ioas->nmaps--;
	fake_hook_ioas_unmapped(ioas, m.iova, m.length);
}

/* ioas.c:iommufd_ioas_unmap + io_pagetable.c:iopt_unmap_iova_range:
 * whole areas only (a bisected one -> ENOENT, after removing the areas
 * before it), nothing unmapped -> ENOENT. */
static int ioas_unmap(struct fake_iommufd *x, struct iommu_ioas_unmap *cmd)
{
	struct fake_iommufd_obj *ioas = ictx_obj(x, cmd->ioas_id);
	uint64_t start = cmd->iova, last, unmapped = 0;
	int rc = 0;

	if (!ioas || ioas->type != FIO_IOAS)
		return -ENOENT;
	if (cmd->iova == 0 && cmd->length == UINT64_MAX) {
		while (ioas->nmaps) {
			unmapped += ioas->maps[0].length;
			ioas_remove(ioas, 0);
		}
	} else {
		if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX)
			return -EOVERFLOW;
		if (!cmd->length)
			return -EINVAL;
		if (__builtin_add_overflow(start, cmd->length - 1, &last))
			return -EOVERFLOW;
		for (int i = 0; i < ioas->nmaps;) {
			struct fake_ioas_map *m = &ioas->maps[i];
			uint64_t mlast = m->iova + m->length - 1;

			if (mlast < start) {
				i++;
				continue;
			}
			if (m->iova > last)
				break;
			if (m->iova < start || mlast > last) {
				rc = -ENOENT;
				break;
			}
			unmapped += m->length;
			ioas_remove(ioas, i);
		}
		if (!rc && !unmapped)
			rc = -ENOENT;
		if (rc)
			return rc;
	}
	cmd->length = unmapped;
	return 0;
}

struct fake_iova_ranges {
	uint32_t size, ioas_id, num_iovas, __reserved;
	uint64_t allowed_iovas, out_iova_alignment;
};

/* ioas.c:iommufd_ioas_iova_ranges: __reserved first, then the IOAS; the
 * holes between reserved spans, as many as fit copied, all counted; too
 * small an array -> EMSGSIZE with num_iovas written back. */
static int ioas_iova_ranges(struct fake_iommufd *x,
			    struct fake_iova_ranges *cmd, bool *respond)
{
	struct fake_iommufd_obj *ioas;
	uint64_t *r = (uint64_t *)(uintptr_t)cmd->allowed_iovas;
	uint32_t max = cmd->num_iovas, n = 0;
	uint64_t cur = 0, end;
	bool more = true;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = ictx_obj(x, cmd->ioas_id);
	if (!ioas || ioas->type != FIO_IOAS)
		return -ENOENT;
	*respond = true;
	cmd->out_iova_alignment = fake_ioas_alignment(ioas);
	while (more) {
		uint64_t hole_last = UINT64_MAX;

		/* skip the spans that cover cur */
		if (ioas_used(ioas, cur, cur, false, &end)) {
			if (end == UINT64_MAX)
				break;
			cur = end + 1;
			continue;
		}
		/* the hole ends before the nearest span above cur */
		for (int i = 0; i < ioas->nresv; i++)
			if (ioas->resv[i].start > cur &&
			    ioas->resv[i].start - 1 < hole_last)
				hole_last = ioas->resv[i].start - 1;
		if (n < max) {
			r[2 * n] = cur;
			r[2 * n + 1] = hole_last;
		}
		n++;
		more = hole_last != UINT64_MAX;
		cur = hole_last + 1;
	}
	cmd->num_iovas = n;
	return n > max ? -EMSGSIZE : 0;
}

/* Per-command sizes for iommufd_fops_ioctl: struct size and min_size
 * (offsetofend of the IOCTL_OP's last member), main.c. */
static const struct {
	uint8_t size, min;
} iommufd_ops[0x21] = {
	[0x00] = { 8, 8 },   /* DESTROY */
	[0x01] = { 12, 12 }, /* IOAS_ALLOC */
	[0x02] = { 24, 24 }, /* IOAS_ALLOW_IOVAS */
	[0x03] = { 40, 40 }, /* IOAS_COPY */
	[0x04] = { 32, 32 }, /* IOAS_IOVA_RANGES */
	[0x05] = { 40, 40 }, /* IOAS_MAP */
	[0x06] = { 24, 24 }, /* IOAS_UNMAP */
	[0x07] = { 24, 24 }, /* OPTION */
	[0x08] = { 12, 12 }, /* VFIO_IOAS */
	[0x09] = { 48, 24 }, /* HWPT_ALLOC */
	[0x0a] = { 40, 32 }, /* GET_HW_INFO */
	[0x0b] = { 16, 16 }, /* HWPT_SET_DIRTY_TRACKING */
	[0x0c] = { 48, 48 }, /* HWPT_GET_DIRTY_BITMAP */
	[0x0d] = { 32, 32 }, /* HWPT_INVALIDATE */
	[0x0e] = { 16, 16 }, /* FAULT_QUEUE_ALLOC */
	[0x20] = { 72, 68 }, /* TEST_CMD (CONFIG_IOMMUFD_TEST, as in the VM) */
};

/* vfio_compat.c:iommufd_vfio_ioctl (numbers outside the iommufd table).
 * No compat IOAS is modeled (IOMMU_VFIO_IOAS is not), hence ENODEV. */
static int iommufd_vfio_compat(unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return arg == VFIO_TYPE1_IOMMU || arg == VFIO_TYPE1v2_IOMMU ||
		       arg == FAKE_VFIO_UNMAP_ALL;
	case VFIO_SET_IOMMU:
	case VFIO_IOMMU_GET_INFO:
	case VFIO_IOMMU_MAP_DMA:
	case VFIO_IOMMU_UNMAP_DMA:
		return -ENODEV;
	default:
		return -ENOTTY;
	}
}

/* main.c:iommufd_fops_ioctl. */
static int iommufd_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	unsigned int nr = _IOC_NR(cmd);
	unsigned char buf[FAKE_IOMMUFD_CMD_MAX];
	uint32_t usize;
	size_t ksize;
	bool respond = false;
	int ret;

	if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= 0x21)
		return iommufd_vfio_compat(cmd, (unsigned long)arg);
	nr -= IOMMUFD_CMD_BASE;
	if (!iommufd_ops[nr].size || cmd != _IO(IOMMUFD_TYPE, nr + 0x80))
		return -ENOTTY;
	if (!arg)
		return -EFAULT;
	memcpy(&usize, arg, sizeof(usize));
	if (usize < iommufd_ops[nr].min)
		return -EINVAL;
	/* copy_struct_from_user */
	ksize = iommufd_ops[nr].size;
	memset(buf, 0, sizeof(buf));
	if (usize > ksize) {
		for (size_t i = ksize; i < usize; i++)
			if (((unsigned char *)arg)[i])
				return -E2BIG;
	}
	memcpy(buf, arg, usize < ksize ? usize : ksize);

	switch (cmd) {
	case IOMMU_DESTROY:
		ret = ictx_obj_destroy(f->ictx, ((struct iommu_destroy *)buf)->id);
		break;
	case IOMMU_IOAS_ALLOC: {
		struct iommu_ioas_alloc *c = (void *)buf;
		struct fake_iommufd_obj *o;

		if (c->flags) {
			ret = -EOPNOTSUPP;
			break;
		}
		o = ictx_obj_new(f->ictx, FIO_IOAS);
		if (!o) {
			ret = -ENOMEM;
			break;
		}
		c->out_ioas_id = o->id;
		ret = 0;
		break;
	}
	case IOMMU_IOAS_MAP:
		ret = ioas_map(f->ictx, (void *)buf);
		break;
	case IOMMU_IOAS_UNMAP:
		ret = ioas_unmap(f->ictx, (void *)buf);
		break;
	case FAKE_IOMMU_IOAS_IOVA_RANGES:
		ret = ioas_iova_ranges(f->ictx, (void *)buf, &respond);
		break;
	case IOMMU_HWPT_ALLOC:
	case IOMMU_GET_HW_INFO:
	case IOMMU_HWPT_SET_DIRTY_TRACKING:
	case IOMMU_HWPT_GET_DIRTY_BITMAP:
	case IOMMU_TEST_CMD:
		ret = fake_iommufd_dirty_ioctl(f, cmd, buf);
		break;
	default:
		/* ALLOW_IOVAS, COPY, OPTION, VFIO_IOAS, HWPT_INVALIDATE,
		 * FAULT_QUEUE_ALLOC: not modeled by the fake. */
		ret = -EOPNOTSUPP;
		break;
	}
	if (!ret || respond) /* iommufd_ucmd_respond */
		memcpy(arg, buf, usize < ksize ? usize : ksize);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Groups (drivers/vfio/group.c).                                      */

/* Is fd open at all (fdget would succeed)? */
static bool fd_is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* group.c:vfio_group_ioctl_set_container. */
static int group_set_container(struct fake_fd *f, struct fake_group *g,
			       const int *arg)
{
	struct fake_fd *cf;
	struct fake_container *c;

	if (!arg)
		return -EFAULT;
	if (!fd_is_open(*arg))
		return -EBADF;
	if (g->container)
		return -EINVAL;
	cf = fake_fd_lookup(*arg);
	if (!cf || cf->type != FFD_CONTAINER) {
		/* An iommufd here would be the iommufd VFIO-compat path
		 * (iommufd_vfio_compat_ioas_create): not modeled. */
		return -EBADFD;
	}
	c = cf->container;
	g->container = c;
	c->refs++;
	c->ngroups++;
	if (g->emulated)
		c->n_emulated_groups++;
	else
		c->n_iommu_groups++;
	if (c->iommu_type)
		type1_update_pgsize(c);
	f->container = c;
	return 0;
}

static struct fake_dev *dev_by_name(int group, const char *name)
{
	for (int i = 0; i < F.ndevs; i++) {
		struct fake_dev *d = F.devs[i];

		if (d->cfg.group == group && !strcmp(d->name, name))
			return d;
	}
	return NULL;
}

/* group.c:vfio_group_ioctl_get_device_fd: the name first (ENODEV from
 * vfio_device_get_from_name), then vfio_df_group_open (no container ->
 * EINVAL) and vfio_group_use_container (no SET_IOMMU -> EINVAL); the fd is
 * always O_CLOEXEC (get_unused_fd_flags(O_CLOEXEC)). */
static int group_get_device_fd(struct fake_group *g, const char *arg)
{
	struct fake_dev *d;
	struct fake_fd *df;

	if (!arg)
		return -EFAULT;
	d = dev_by_name(g->num, arg);
	if (!d)
		return -ENODEV;
	if (!g->container || !g->container->iommu_type)
		return -EINVAL;
	df = fd_create(FFD_DEVICE, d, O_RDWR | O_CLOEXEC);
	if (!df)
		return -errno;
	df->group = g->num;
	df->container = g->container;
	d->open_count++;
	g->refs++;
	return df->fd;
}

static int group_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	struct fake_group *g = group_get(f->group);

	switch (cmd) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status st;

		if (!arg)
			return -EFAULT;
		memcpy(&st, arg, sizeof(st));
		if (st.argsz < sizeof(st))
			return -EINVAL;
		st.flags = VFIO_GROUP_FLAGS_VIABLE;
		if (g->container)
			st.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
		memcpy(arg, &st, sizeof(st));
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		return group_set_container(f, g, arg);
	case VFIO_GROUP_UNSET_CONTAINER:
		/* vfio_group_ioctl_unset_container: container_users != 1
		 * (device fds open) -> EBUSY. */
		if (!g->container)
			return -EINVAL;
		if (g->refs != 1)
			return -EBUSY;
		group_detach_container(g);
		f->container = NULL;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		return group_get_device_fd(g, arg);
	default:
		return -ENOTTY;
	}
}

/* ------------------------------------------------------------------ */
/* Device fds (vfio_main.c, device_cdev.c, iommufd.c, the drivers).     */

static void dev_last_close(struct fake_dev *d)
{
	/* vfio_df_device_last_close -> ops->close_device (mtty_close). */
	fake_mig_close_device(d);
}

/* Physical: iommufd_device_detach; emulated: iommufd_access_detach. */
static void dev_detach(struct fake_dev *d)
{
	struct fake_iommufd_obj *a = d->attached;

	if (!a)
		return;
	d->attached = NULL;
	if (d->cfg.mdev) {
		a->users--;
	} else {
		if (a->ioas)
			fake_ioas_unreserve(a->ioas, d->idev);
		hwpt_put(a);
		d->idev->users--;
	}
}

/* iommufd_device_attach_reserved_iova: a physical device behind VT-d
 * reserves its MSI window in the IOAS it attaches to (an area there ->
 * EADDRINUSE), and drops it from the IOAS it leaves. */
static int dev_resv_check(struct fake_dev *d, struct fake_iommufd_obj *ioas)
{
	if (!ioas || (d->attached && d->attached->ioas == ioas))
		return 0;
	for (int i = 0; i < ioas->nmaps; i++) {
		const struct fake_ioas_map *m = &ioas->maps[i];

		if (m->iova <= FAKE_MSI_END &&
		    m->iova + m->length - 1 >= FAKE_MSI_START)
			return -EADDRINUSE;
	}
	return 0;
}

static int dev_reserve(struct fake_dev *d, struct fake_iommufd_obj *ioas)
{
	struct fake_iommufd_obj *old = d->attached ? d->attached->ioas : NULL;
	int ret;

	if (!ioas || old == ioas)
		return 0;
	ret = fake_ioas_reserve(ioas, FAKE_MSI_START, FAKE_MSI_END, d->idev);
	if (!ret && old)
		fake_ioas_unreserve(old, d->idev);
	return ret;
}

/* vfio_df_unbind_iommufd (close of a bound cdev fd). */
static void dev_unbind(struct fake_fd *f)
{
	struct fake_dev *d = f->dev;
	struct fake_group *g = group_get(d->cfg.group);

	dev_detach(d);
	if (d->idev)
		obj_free(d->idev);
	d->idev = NULL;
	f->bound = false;
	d->cdev_bound = false;
	if (--d->open_count == 0)
		dev_last_close(d);
	if (g)
		g->cdev_open_cnt--;
	ictx_put(f->ictx);
	f->ictx = NULL;
}

/* device_cdev.c:vfio_df_ioctl_bind_iommufd (contract 11.2). */
static int dev_bind(struct fake_fd *f, void *arg)
{
	struct vfio_device_bind_iommufd b;
	struct fake_dev *d = f->dev;
	struct fake_group *g = group_get(d->cfg.group);
	struct fake_fd *xf;
	struct fake_iommufd_obj *o;

	if (!arg)
		return -EFAULT;
	memcpy(&b, arg, sizeof(b));
	if (b.argsz < sizeof(b) || b.flags || b.iommufd < 0)
		return -EINVAL;
	if (!f->cdev)
		return -EINVAL;
	/* vfio_device_block_group */
	if (g && g->refs)
		return -EBUSY;
	if (f->bound)
		return -EINVAL;
	/* iommufd_ctx_from_fd */
	if (!fd_is_open(b.iommufd))
		return -EBADF;
	xf = fake_fd_lookup(b.iommufd);
	if (!xf || xf->type != FFD_IOMMUFD)
		return -EBADFD;
	/* vfio_df_open: the cdev path allows a single open */
	if (d->open_count)
		return -EINVAL;
	/* ops->bind_iommufd: physical -> device object, emulated -> access */
	o = ictx_obj_new(xf->ictx, d->cfg.mdev ? FIO_ACCESS : FIO_DEVICE);
	if (!o)
		return -ENOMEM;
	o->dev = d;
	o->users = 2; /* the table + vfio's reference: DESTROY -> EBUSY */
	o->hw_dirty = !d->cfg.mdev && d->cfg.hw_dirty;
	d->idev = o;
	d->open_count++;
	d->cdev_bound = true;
	if (g)
		g->cdev_open_cnt++;
	f->ictx = xf->ictx;
	f->ictx->refs++;
	f->iommufd_fd = b.iommufd;
	f->bound = true;
	b.out_devid = o->id;
	memcpy(arg, &b, sizeof(b));
	return 0;
}

/* vfio_df_ioctl_attach_pt + vfio_iommufd_{physical,emulated}_attach_ioas. */
static int dev_attach(struct fake_fd *f, void *arg)
{
	struct vfio_device_attach_iommufd_pt at;
	struct fake_dev *d = f->dev;
	struct fake_iommufd_obj *pt, *hwpt = NULL;
	int ret;

	if (!arg)
		return -EFAULT;
	memcpy(&at, arg, sizeof(at));
	if (at.argsz < sizeof(at) || at.flags)
		return -EINVAL;
	pt = ictx_obj(f->ictx, at.pt_id);
	if (d->cfg.mdev) {
		/* iommufd_access_change_ioas_id -> iommufd_get_ioas: only an
		 * IOAS; a HWPT id is ENOENT (contract 10.5). */
		if (!pt || pt->type != FIO_IOAS)
			return -ENOENT;
		if (d->attached != pt) {
			pt->users++;
			if (d->attached)
				d->attached->users--;
			d->attached = pt;
		}
		return 0;
	}
	/* device.c:iommufd_device_change_pt */
	if (!pt)
		return -ENOENT;
	switch (pt->type) {
	case FIO_HWPT_PAGING:
	case FIO_HWPT_NESTED:
		/* The reserved regions first, then the driver attach: a
		 * dirty-tracking domain on an IOMMU without it -> EINVAL
		 * (contract 10.2). */
		ret = dev_resv_check(d, pt->ioas);
		if (ret)
			return ret;
		if ((pt->flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
		    !d->cfg.hw_dirty)
			return -EINVAL;
		hwpt = pt;
		break;
	case FIO_IOAS:
		ret = dev_resv_check(d, pt);
		if (ret)
			return ret;
		/* iommufd_device_auto_get_domain: reuse an auto domain of
		 * this IOAS, else make one (flags 0, no dirty ops). */
		for (struct fake_iommufd_obj *o = f->ictx->objs; o; o = o->next)
			if (o->type == FIO_HWPT_PAGING && o->auto_domain &&
			    o->ioas == pt)
				hwpt = o;
		if (!hwpt) {
			hwpt = ictx_obj_new(f->ictx, FIO_HWPT_PAGING);
			if (!hwpt)
				return -ENOMEM;
			hwpt->auto_domain = true;
			hwpt->ioas = pt;
			pt->users++;
			/* VT-d: a 48-bit aperture */
			ret = fake_domain_aperture(hwpt, 0, FAKE_APERTURE_END);
			if (ret) {
				obj_free(hwpt);
				return ret;
			}
		}
		at.pt_id = hwpt->id;
		break;
	default:
		return -EINVAL;
	}
	if (d->attached != hwpt) {
		struct fake_iommufd_obj *old = d->attached;

		ret = dev_reserve(d, hwpt->ioas);
		if (ret)
			return ret;
		hwpt->users++;
		d->attached = hwpt;
		if (old)
			hwpt_put(old);
		else
			d->idev->users++;
	}
	memcpy(arg, &at, sizeof(at));
	return 0;
}

/* vfio_df_ioctl_detach_pt. */
static int dev_detach_ioctl(struct fake_fd *f, void *arg)
{
	struct vfio_device_detach_iommufd_pt dt;

	if (!arg)
		return -EFAULT;
	memcpy(&dt, arg, sizeof(dt));
	if (dt.argsz < sizeof(dt) || dt.flags)
		return -EINVAL;
	dev_detach(f->dev);
	return 0;
}

int fake_check_feature(uint32_t flags, uint32_t payload, uint32_t ops,
		       uint32_t minsz)
{
	/* include/linux/vfio.h:vfio_check_feature, with the kernel's 0/1
	 * swapped: 1 = PROBE answered, 0 = go on. */
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) &
	    ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 1;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (payload < minsz)
		return -EINVAL;
	return 0;
}

/* vfio_main.c:vfio_ioctl_device_feature (contract 2). */
static int dev_feature(struct fake_fd *f, void *arg)
{
	struct vfio_device_feature hdr;
	uint32_t payload;

	if (!arg)
		return -EFAULT;
	memcpy(&hdr, arg, sizeof(hdr));
	if (hdr.argsz < sizeof(hdr))
		return -EINVAL;
	if (hdr.flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (!(hdr.flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (hdr.flags & VFIO_DEVICE_FEATURE_SET) &&
	    (hdr.flags & VFIO_DEVICE_FEATURE_GET))
		return -EINVAL;
	payload = hdr.argsz - sizeof(hdr);
	switch (hdr.flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
	case VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2:
		return fake_mig_feature(f, hdr.flags,
					(char *)arg + sizeof(hdr), payload);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return fake_log_feature(f, hdr.flags,
					(char *)arg + sizeof(hdr), payload);
	default:
		/* mtty has no ->device_feature; the fake vfio-pci variants
		 * answer ENOTTY for the vfio-pci core features too. */
		return -ENOTTY;
	}
}

/* The driver's ->ioctl: mtty_ioctl, or vfio_pci_core_ioctl for PCI. */
static int dev_driver_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	struct fake_dev *d = f->dev;
	bool mtty = d->cfg.personality == FAKE_MTTY;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		if (!arg)
			return -EFAULT;
		memcpy(&info, arg, 16);
		if (info.argsz < 16)
			return -EINVAL;
		/* mtty_get_device_info sets only FLAGS_PCI; vfio-pci adds
		 * RESET when reset_works. */
		info.flags = VFIO_DEVICE_FLAGS_PCI |
			     (mtty ? 0 : VFIO_DEVICE_FLAGS_RESET);
		info.num_regions = fake_region_count(d, FAKE_VFIO_PCI_NUM_REGIONS);
		info.num_irqs = FAKE_VFIO_PCI_NUM_IRQS;
		d->num_irqs = info.num_irqs;
		memcpy(arg, &info, 16);
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info ri;
		int r;

		if (!arg)
			return -EFAULT;
		/* Both drivers: minsz = offsetofend(offset) = 32, copied in
		 * and back; without a chain argsz and cap_offset go back as
		 * the caller wrote them. */
		memcpy(&ri, arg, sizeof(ri));
		if (ri.argsz < sizeof(ri))
			return -EINVAL;
		r = fake_region_info(d, arg); /* fake_dev_set_region() */
		if (r != -ENOSYS)
			return r;
		/* vfio-pci without VGA: EINVAL at index 8 and at a
		 * device-specific index it does not have. */
		if (ri.index >= FAKE_VFIO_PCI_NUM_REGIONS ||
		    (!mtty && ri.index == FAKE_VFIO_PCI_NUM_REGIONS - 1))
			return -EINVAL;
		/* mtty_get_region_info: READ|WRITE on every index, size 0
		 * but for config (0xff) and the BARs of its ports (8);
		 * vfio_pci: config (cfg_size 0x100) READ|WRITE, the fake
		 * functions have no BAR or ROM (size 0, flags 0). */
		ri.offset = (uint64_t)ri.index << FAKE_REGION_SHIFT;
		ri.size = 0;
		if (ri.index == FAKE_VFIO_PCI_CONFIG_INDEX)
			ri.size = mtty ? 0xff : 0x100;
		else if (mtty && (ri.index == 0 ||
				  (ri.index == 1 && d->cfg.mtty_ports > 1)))
			ri.size = 8;
		ri.flags = VFIO_REGION_INFO_FLAG_READ |
			   VFIO_REGION_INFO_FLAG_WRITE;
		if (!mtty && !ri.size)
			ri.flags = 0;
		memcpy(arg, &ri, sizeof(ri));
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct fake_vfio_irq_info ii;

		if (!arg)
			return -EFAULT;
		memcpy(&ii, arg, sizeof(ii));
		/* mtty: num_irqs is only known after GET_INFO */
		if (ii.argsz < sizeof(ii) ||
		    ii.index >= (mtty ? d->num_irqs : FAKE_VFIO_PCI_NUM_IRQS))
			return -EINVAL;
		/* mtty_get_irq_info: INTx and MSI only */
		if (mtty && ii.index > 1)
			return -EINVAL;
		ii.flags = 1; /* VFIO_IRQ_INFO_EVENTFD */
		if (ii.index == 0)
			ii.flags |= 2 | 4; /* MASKABLE | AUTOMASKED */
		else if (ii.index == 1)
			ii.flags |= 8; /* NORESIZE */
		ii.count = ii.index <= 1 ? 1 : 0;
		memcpy(arg, &ii, sizeof(ii));
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct fake_vfio_irq_set is;

		if (!arg)
			return -EFAULT;
		memcpy(&is, arg, sizeof(is));
		/* vfio_set_irqs_validate_and_prepare, roughly */
		if (is.argsz < sizeof(is) ||
		    is.index >= (mtty ? d->num_irqs : FAKE_VFIO_PCI_NUM_IRQS) ||
		    is.count >= UINT32_MAX - is.start || (is.flags & ~0x3f))
			return -EINVAL;
		return 0;
	}
	case VFIO_DEVICE_RESET:
		/* mtty_reset: deferred reset, state RUNNING, files disabled,
		 * always 0; vfio-pci: pci_try_reset_function then the
		 * variant's reset_done does the same. */
		d->ioc.resets++;
		fake_mig_reset(d);
		fake_region_reset(d); /* fake-v1.c: back to _RUNNING */
		return 0;
	default:
		return -ENOTTY;
	}
}

/* vfio_main.c:vfio_device_fops_unl_ioctl. */
static int device_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	if (cmd == VFIO_DEVICE_BIND_IOMMUFD)
		return dev_bind(f, arg);
	if (f->cdev && !f->bound)
		return -EINVAL; /* !df->access_granted */
	if (f->cdev) {
		if (cmd == VFIO_DEVICE_ATTACH_IOMMUFD_PT)
			return dev_attach(f, arg);
		if (cmd == VFIO_DEVICE_DETACH_IOMMUFD_PT)
			return dev_detach_ioctl(f, arg);
	}
	if (cmd == VFIO_DEVICE_FEATURE)
		return dev_feature(f, arg);
	return dev_driver_ioctl(f, cmd, arg);
}

/* Weak defaults of the optional hooks (see fake-internal.h). */
__attribute__((weak)) short fake_hook_data_poll(struct fake_fd *f,
						 short events)
{
	(void)f, (void)events;
	return FAKE_DEFAULT_POLLMASK;
}

__attribute__((weak)) void fake_hook_bar_access(struct fake_dev *d, int index,
						uint64_t off, uint8_t *byte,
						bool write)
{
	if (write)
		d->regs[index][off] = *byte;
	else
		*byte = d->regs[index][off];
}

/* The kernel's DIRTY_BITMAP_SIZE_MAX unless fake-dirty.c lowers it. */
__attribute__((weak)) uint64_t fake_dirty_bitmap_max(void)
{
	return FAKE_DIRTY_BITMAP_SIZE_MAX;
}

__attribute__((weak)) void fake_hook_ioas_unmapped(struct fake_iommufd_obj *ioas,
						   uint64_t iova,
						   uint64_t length)
{
	(void)ioas, (void)iova, (void)length;
}

/* Config space: mtty_create_config_space, or a PCI header for the
 * vfio-pci fakes. */
static void cfg_init(struct fake_dev *d)
{
	static const uint8_t vendor[] = {
		[0x40] = 0x23, [0x43] = 0x80, [0x44] = 0x23, [0x48] = 0x23,
		[0x4c] = 0x23,
	};
	static const char ident[] = "PCI Serial/UART"; /* 0x60..0x6e */
	uint8_t *c = d->config;

	memset(c, 0, sizeof(d->config));
	if (d->cfg.personality != FAKE_MTTY) {
		c[0] = d->cfg.vendor & 0xff;
		c[1] = d->cfg.vendor >> 8;
		c[2] = d->cfg.device & 0xff;
		c[3] = d->cfg.device >> 8;
		c[9] = d->cfg.class_code & 0xff;
		c[0xa] = (d->cfg.class_code >> 8) & 0xff;
		c[0xb] = (d->cfg.class_code >> 16) & 0xff;
		c[0x2c] = d->cfg.subsystem_vendor & 0xff;
		c[0x2d] = d->cfg.subsystem_vendor >> 8;
		c[0x2e] = d->cfg.subsystem_device & 0xff;
		c[0x2f] = d->cfg.subsystem_device >> 8;
		return;
	}
	c[0] = 0x48; c[1] = 0x43; c[2] = 0x53; c[3] = 0x32; /* 0x32534348 */
	c[4] = 0x01;            /* command: I/O+ */
	c[7] = 0x02;            /* status 0x0200 */
	c[8] = 0x10;            /* revision */
	c[9] = 0x02;            /* 16550-compatible */
	c[0xb] = 0x07;          /* simple communication controller */
	c[0x10] = 0x01;         /* BAR0: I/O */
	if (d->cfg.mtty_ports == 2)
		c[0x14] = 0x01; /* BAR1: I/O */
	c[0x2c] = 0x48; c[0x2d] = 0x43; c[0x2e] = 0x53; c[0x2f] = 0x32;
	c[0x3d] = 0x01;         /* INTA# */
	for (size_t i = 0x40; i < sizeof(vendor); i++)
		if (vendor[i])
			c[i] = vendor[i];
	memcpy(&c[0x60], ident, sizeof(ident) - 1);
}

/* mtty's handle_pci_cfg_write, by chunk start offset; the fake PCI
 * functions ignore config writes. */
static void cfg_write(struct fake_dev *d, uint64_t off, const uint8_t *buf,
		      size_t n)
{
	uint8_t *c = d->config;
	uint32_t v = 0;

	if (d->cfg.personality != FAKE_MTTY)
		return;
	memcpy(&v, buf, n < 4 ? n : 4);
	switch (off) {
	case 0x3c:
		c[0x3c] = buf[0];
		break;
	case 0x10:
	case 0x14:
		if (d->cfg.mtty_ports == 1 && off == 0x14) {
			memset(&c[off], 0, 4);
			break;
		}
		if (v == 0xffffffff)
			v &= ~(uint32_t)0x8 + 1; /* bar_mask: ~MTTY_IO_BAR_SIZE + 1 */
		v |= c[off] & 0x3;
		memcpy(&c[off], &v, 4);
		break;
	case 0x18:
	case 0x1c:
	case 0x20:
		memset(&c[off], 0, 4);
		break;
	default:
		break;
	}
}

/* Region access through the device fd (mtty_read/mtty_write +
 * mdev_access, contract 12.5): chunks of 4/2/1 bytes by alignment, a BAR
 * access uses the first byte of the chunk. */
static ssize_t dev_rw(struct fake_fd *f, void *buf, size_t len, uint64_t pos,
		      bool write)
{
	struct fake_dev *d = f->dev;
	bool mtty = d->cfg.personality == FAKE_MTTY;
	size_t done = 0;

	if (f->cdev && !f->bound)
		return -EINVAL;
	{
		ssize_t out;

		if (fake_region_rw(d, pos >> FAKE_REGION_SHIFT,
				   pos & ((1ULL << FAKE_REGION_SHIFT) - 1),
				   buf, len, write, &out))
			return out;
	}
	while (done < len) {
		uint64_t p = pos + done;
		unsigned int index = p >> FAKE_REGION_SHIFT;
		uint64_t off = p & ((1ULL << FAKE_REGION_SHIFT) - 1);
		size_t n = len - done;
		uint8_t *b = (uint8_t *)buf + done;

		n = (n >= 4 && !(p % 4)) ? 4 : (n >= 2 && !(p % 2)) ? 2 : 1;
		if (index == FAKE_VFIO_PCI_CONFIG_INDEX) {
			/* mtty's vconfig is 0xff bytes; past it the real
			 * sample reads and writes out of bounds. */
			if (off + n > 0x100)
				return done ? (ssize_t)done : -EINVAL;
			if (write)
				cfg_write(d, off, b, n);
			else
				memcpy(b, &d->config[off], n);
		} else if (mtty && index <= 1) {
			uint8_t byte = write ? b[0] : 0;

			if (off < 8)
				fake_hook_bar_access(d, index, off, &byte,
						     write);
			if (!write) {
				memset(b, 0, n);
				b[0] = byte;
			}
		} else if (index >= 2 && index <= 5) {
			/* The real mtty indexes s[index] out of bounds here
			 * (kernel memory access): tests must never do it. */
			return -EINVAL;
		} else {
			/* mdev_access returns -1: mtty_read -> EFAULT */
			return mtty ? -EFAULT : -EINVAL;
		}
		done += n;
	}
	return done;
}

/* ------------------------------------------------------------------ */
/* Releasing a fake fd (the file's ->release).                          */

static void fd_release(struct fake_fd *f)
{
	struct fake_group *g;

	switch (f->type) {
	case FFD_CONTAINER:
		container_put(f->container);
		break;
	case FFD_GROUP:
		g = group_get(f->group);
		if (g)
			group_put(g);
		break;
	case FFD_DEVICE:
		if (f->cdev) {
			if (f->bound)
				dev_unbind(f);
			break;
		}
		/* vfio_df_group_close */
		if (--f->dev->open_count == 0)
			dev_last_close(f->dev);
		g = group_get(f->group);
		if (g)
			group_put(g);
		break;
	case FFD_IOMMUFD:
		ictx_put(f->ictx);
		break;
	case FFD_DATA:
		fake_data_close(f);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Opening the fake nodes.                                              */

enum fake_node {
	N_NONE = 0,
	N_CONTAINER,    /* vfio/vfio */
	N_GROUP,        /* vfio/<group> */
	N_CDEV,         /* vfio/devices/vfio<N> */
	N_IOMMU,        /* iommu */
};

static bool parse_num(const char *s, int *num)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end || errno || v > INT_MAX)
		return false;
	*num = (int)v;
	return true;
}

static struct fake_dev *dev_by_cdev(int n)
{
	for (int i = 0; i < F.ndevs; i++)
		if (F.devs[i]->cfg.cdev == n)
			return F.devs[i];
	return NULL;
}

/* Which existing fake node path names, if any. */
static int node_of(const char *path, int *num)
{
	char rel[64];
	size_t j = 0;
	const char *p;

	if (!F.up || !path || strncmp(path, F.dev, F.devlen) ||
	    path[F.devlen] != '/')
		return N_NONE;
	/* Collapse repeated slashes of the part under the dev root. */
	for (p = path + F.devlen; *p; p++) {
		if (*p == '/' && (j == 0 || rel[j - 1] == '/'))
			continue;
		if (j + 1 >= sizeof(rel))
			return N_NONE;
		rel[j++] = *p;
	}
	rel[j] = '\0';
	if (!strcmp(rel, "vfio/vfio"))
		return N_CONTAINER;
	if (!strcmp(rel, "iommu"))
		return F.with_iommufd ? N_IOMMU : N_NONE;
	if (!strncmp(rel, "vfio/devices/vfio", 17) &&
	    parse_num(rel + 17, num))
		return F.with_iommufd && dev_by_cdev(*num) ? N_CDEV : N_NONE;
	if (!strncmp(rel, "vfio/", 5) && parse_num(rel + 5, num))
		return group_get(*num) ? N_GROUP : N_NONE;
	return N_NONE;
}

/* Open a fake node: returns the fd or -errno. */
static int node_open(int node, int num, int flags)
{
	struct fake_fd *f;
	struct fake_group *g;
	int err = intercept("open");

	if (err)
		return -err;
	switch (node) {
	case N_CONTAINER: {
		/* container.c:vfio_fops_open */
		struct fake_container *c = container_new();

		if (!c)
			return -ENOMEM;
		f = fd_create(FFD_CONTAINER, NULL, flags);
		if (!f) {
			err = -errno;
			container_put(c);
			return err;
		}
		f->container = c;
		return f->fd;
	}
	case N_GROUP:
		/* group.c:vfio_group_fops_open */
		g = group_get(num);
		if (g->cdev_open_cnt || g->refs)
			return -EBUSY;
		f = fd_create(FFD_GROUP, NULL, flags);
		if (!f)
			return -errno;
		f->group = num;
		g->refs = 1;
		return f->fd;
	case N_CDEV:
		/* device_cdev.c:vfio_device_fops_cdev_open: no access until
		 * BIND_IOMMUFD. */
		f = fd_create(FFD_DEVICE, dev_by_cdev(num), flags);
		if (!f)
			return -errno;
		f->cdev = true;
		return f->fd;
	case N_IOMMU: {
		/* main.c:iommufd_fops_open */
		struct fake_iommufd *x = ictx_new();

		if (!x)
			return -ENOMEM;
		f = fd_create(FFD_IOMMUFD, NULL, flags);
		if (!f) {
			err = -errno;
			ictx_put(x);
			return err;
		}
		f->ictx = x;
		return f->fd;
	}
	}
	return -ENOENT;
}

static bool open_needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* If path is a fake node, open it (*handled = true). */
static int try_node_open(const char *path, int flags, bool *handled)
{
	FAKE_LOCKED();
	int num = -1, node = node_of(path, &num), r;

	*handled = node != N_NONE;
	if (!*handled)
		return 0;
	r = node_open(node, num, flags);
	return r < 0 ? ret_errno(r) : r;
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

FAKE_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h;
	int r = try_node_open(path, flags, &h);

	return h ? r : REAL(open)(path, flags, mode);
}

FAKE_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h;
	int r = try_node_open(path, flags, &h);

	return h ? r : REAL(open64)(path, flags, mode);
}

/* A fake node that a fortified open without a mode must not create. */
static bool node_needs_mode(const char *path, int flags)
{
	FAKE_LOCKED();
	int num;

	return node_of(path, &num) != N_NONE && open_needs_mode(flags);
}

static bool at_is_plain(int dirfd, const char *path)
{
	return path && (path[0] == '/' || dirfd == AT_FDCWD);
}

FAKE_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h = false;
	int r = 0;

	if (at_is_plain(dirfd, path))
		r = try_node_open(path, flags, &h);
	return h ? r : REAL(openat)(dirfd, path, flags, mode);
}

FAKE_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = OPEN_MODE(flags, flags);
	bool h = false;
	int r = 0;

	if (at_is_plain(dirfd, path))
		r = try_node_open(path, flags, &h);
	return h ? r : REAL(openat64)(dirfd, path, flags, mode);
}

/* _FORTIFY_SOURCE variants: open without a mode argument. */
FAKE_EXPORT int __open_2(const char *path, int flags)
{
	bool h;
	int r;

	if (node_needs_mode(path, flags))
		abort(); /* __fortify_fail("invalid open call") */
	r = try_node_open(path, flags, &h);
	return h ? r : REAL(__open_2)(path, flags);
}

FAKE_EXPORT int __open64_2(const char *path, int flags)
{
	bool h;
	int r;

	if (node_needs_mode(path, flags))
		abort();
	r = try_node_open(path, flags, &h);
	return h ? r : REAL(__open64_2)(path, flags);
}

FAKE_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	bool h = false;
	int r = 0;

	if (at_is_plain(dirfd, path)) {
		if (node_needs_mode(path, flags))
			abort();
		r = try_node_open(path, flags, &h);
	}
	return h ? r : REAL(__openat_2)(dirfd, path, flags);
}

FAKE_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	bool h = false;
	int r = 0;

	if (at_is_plain(dirfd, path)) {
		if (node_needs_mode(path, flags))
			abort();
		r = try_node_open(path, flags, &h);
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
	err = intercept("close");
	/* An injected failure still releases the fd, as Linux close() does
	 * on any error: otherwise no caller could avoid a leak. */
	r = fd_close(f);
	if (err)
		return ret_errno(-err);
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
	fault.ioctls++;
	if (f->dev && (f->type == FFD_DEVICE || f->type == FFD_DATA))
		f->dev->ioc.total++;
	err = intercept("ioctl");
	if (err)
		return ret_errno(-err);
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
		r = container_ioctl(f, cmd, arg);
		break;
	case FFD_GROUP:
		r = group_ioctl(f, cmd, arg);
		break;
	case FFD_DEVICE:
		r = device_ioctl(f, cmd, arg);
		break;
	case FFD_IOMMUFD:
		r = iommufd_ioctl(f, cmd, arg);
		break;
	case FFD_DATA:
		r = fake_data_ioctl(f, req, arg);
		break;
	default:
		r = -ENOTTY;
	}
	return r < 0 ? ret_errno(r) : r;
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
		r = dev_rw(f, buf, len, positioned ? (uint64_t)pos : f->pos,
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
		r = dev_rw(f, (void *)buf, len,
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
		int e_ = intercept(call);                                     \
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
	err = intercept("poll");
	if (err) {
		fake_unlock();
		return ret_errno(-err);
	}
	if (n > 16) {
		v = malloc(n * sizeof(*v));
		if (!v) {
			fake_unlock();
			return ret_errno(-ENOMEM);
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
		return ret_errno(-err);
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
	err = intercept("splice");
	if (err)
		return ret_ssize(-err);
	if ((!fi && !fd_is_open(in)) || (!fo && !fd_is_open(out)))
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

/* ------------------------------------------------------------------ */
/* The fake machine: sysfs tree and /dev nodes.                         */

static int mkpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mkfile(const char *content, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int mklink(const char *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

__attribute__((format(printf, 3, 0)))
static int vpath(char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, len, fmt, ap);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir -p */
static int mkpath(const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int mkfile(const char *content, const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	FILE *fp;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	fp = fopen(p, "we");
	if (!fp)
		return -errno;
	if (content)
		fputs(content, fp);
	if (fclose(fp))
		return -errno;
	return 0;
}

static int mklink(const char *target, const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	if (symlink(target, p) && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

FAKE_EXPORT void fake_cfg_mtty(struct fake_dev_cfg *cfg, const char *uuid,
			       int ports, int group, int cdev)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = uuid;
	cfg->mdev = true;
	cfg->mdev_type = ports == 1 ? "mtty-1" : "mtty-2";
	cfg->driver = "mtty"; /* mtty_driver.driver.name */
	cfg->group = group;
	cfg->cdev = cdev;
	cfg->personality = FAKE_MTTY;
	cfg->mtty_ports = ports == 1 ? 1 : 2;
	cfg->mig_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			 VFIO_MIGRATION_PRE_COPY;
	cfg->log_ops = true;
	cfg->log_reject_double = false;
	cfg->state_size = 24 + 36 * cfg->mtty_ports; /* 60 / 96 */
	cfg->precopy_initial = 24;
	cfg->precopy_dirty = 0;
	cfg->precopy_end = FAKE_END_ZERO;
	cfg->hw_dirty = false;
}

FAKE_EXPORT void fake_cfg_pci(struct fake_dev_cfg *cfg, const char *bdf,
			      int group, int cdev, uint64_t mig_flags)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = bdf;
	cfg->mdev = false;
	/* A migration-capable function is a variant driver (mlx5-like);
	 * without migration flags, plain vfio-pci (no mig_ops, no log_ops). */
	cfg->driver = mig_flags ? "mlx5_vfio_pci" : "vfio-pci";
	cfg->vendor = 0x15b3;
	cfg->device = 0x101e;
	cfg->subsystem_vendor = 0x15b3;
	cfg->subsystem_device = 0x0047;
	cfg->class_code = 0x020000;
	cfg->group = group;
	cfg->cdev = cdev;
	cfg->personality = FAKE_GENERIC;
	cfg->mig_flags = mig_flags;
	cfg->log_ops = mig_flags != 0;
	cfg->log_reject_double = true;
	cfg->state_size = 1 << 20;
	cfg->precopy_initial = 256 << 10;
	cfg->precopy_dirty = 0;
	cfg->precopy_end = FAKE_END_ENOMSG;
	cfg->hw_dirty = true;
}

FAKE_EXPORT int fake_init(bool with_iommufd)
{
	FAKE_LOCKED();
	const char *tmp = getenv("TMPDIR");
	int r;

	if (F.up)
		return -EBUSY;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(F.root, sizeof(F.root), "%s/vfiomig-fake-XXXXXX",
			     tmp) >= sizeof(F.root))
		return -ENAMETOOLONG;
	if (!mkdtemp(F.root))
		return -errno;
	snprintf(F.sys, sizeof(F.sys), "%s/sys", F.root);
	snprintf(F.dev, sizeof(F.dev), "%s/dev", F.root);
	F.devlen = strlen(F.dev);
	F.with_iommufd = with_iommufd;
	fault.calls = 0;
	fault.ioctls = 0;
	fault.nth = 0;
	fake_arc_log_clear();
	if ((r = mkpath("%s/bus/pci/drivers/vfio-pci", F.sys)) ||
	    (r = mkpath("%s/bus/pci/devices", F.sys)) ||
	    (r = mkpath("%s/bus/mdev/devices", F.sys)) ||
	    (r = mkpath("%s/bus/mdev/drivers", F.sys)) ||
	    (r = mkpath("%s/kernel/iommu_groups", F.sys)) ||
	    (r = mkpath("%s/class/mdev_bus", F.sys)) ||
	    (r = mkpath("%s/devices/virtual", F.sys)) ||
	    (r = mkpath("%s/vfio", F.dev)) ||
	    (r = mkfile(NULL, "%s/vfio/vfio", F.dev)))
		goto fail;
	if (with_iommufd &&
	    ((r = mkpath("%s/vfio/devices", F.dev)) ||
	     (r = mkfile(NULL, "%s/iommu", F.dev)) ||
	     (r = mkpath("%s/class/vfio-dev", F.sys))))
		goto fail;
	F.up = true;
	return 0;
fail:
	nftw(F.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}

/* sysfs of an mdev (contract 12.1, HACKING.md): the parent is
 * devices/virtual/<class>/<class>/ with the class from the type name. */
static int sysfs_mdev(struct fake_dev *d, char *devdir, size_t len)
{
	char cls[32], *dash;
	const char *type = d->mdev_type;
	int r;

	snprintf(cls, sizeof(cls), "%s", type);
	dash = strrchr(cls, '-');
	if (dash)
		*dash = '\0';
	if ((size_t)snprintf(devdir, len, "%s/devices/virtual/%s/%s/%s", F.sys,
			     cls, cls, d->name) >= len)
		return -ENAMETOOLONG;
	if ((r = mkpath("%s", devdir)) ||
	    (r = mkpath("%s/devices/virtual/%s/%s/mdev_supported_types/%s/devices",
			F.sys, cls, cls, type)))
		return r;
	if (!strcmp(type, "mtty-1") || !strcmp(type, "mtty-2")) {
		r = mkfile(!strcmp(type, "mtty-1") ? "Single port serial\n"
						   : "Dual port serial\n",
			   "%s/devices/virtual/%s/%s/mdev_supported_types/%s/name",
			   F.sys, cls, cls, type);
	} else {
		char name[64];

		snprintf(name, sizeof(name), "%s\n", type);
		r = mkfile(name,
			   "%s/devices/virtual/%s/%s/mdev_supported_types/%s/name",
			   F.sys, cls, cls, type);
	}
	if (r ||
	    (r = mkfile("vfio-pci\n",
			"%s/devices/virtual/%s/%s/mdev_supported_types/%s/device_api",
			F.sys, cls, cls, type)) ||
	    (r = mkfile(NULL,
			"%s/devices/virtual/%s/%s/mdev_supported_types/%s/create",
			F.sys, cls, cls, type)) ||
	    (r = mkpath("%s/class/mdev_bus", F.sys)))
		return r;
	{
		char t[PATH_MAX];

		snprintf(t, sizeof(t), "../mdev_supported_types/%s", type);
		if ((r = mklink(t, "%s/mdev_type", devdir)))
			return r;
		snprintf(t, sizeof(t), "../../../%s", d->name);
		if ((r = mklink(t,
				"%s/devices/virtual/%s/%s/mdev_supported_types/%s/devices/%s",
				F.sys, cls, cls, type, d->name)))
			return r;
		snprintf(t, sizeof(t), "../../devices/virtual/%s/%s", cls, cls);
		if ((r = mklink(t, "%s/class/mdev_bus/%s", F.sys, cls)))
			return r;
	}
	if ((r = mkfile(NULL, "%s/remove", devdir)) ||
	    (r = mklink(devdir, "%s/bus/mdev/devices/%s", F.sys, d->name)))
		return r;
	return 0;
}

static int sysfs_pci(struct fake_dev *d, char *devdir, size_t len)
{
	unsigned int dom = 0, bus = 0;
	char v[32];
	int r;

	sscanf(d->name, "%x:%x", &dom, &bus);
	if ((size_t)snprintf(devdir, len, "%s/devices/pci%04x:%02x/%s", F.sys,
			     dom, bus ? bus - 1 : 0, d->name) >= len)
		return -ENAMETOOLONG;
	if ((r = mkpath("%s", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.vendor);
	if ((r = mkfile(v, "%s/vendor", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.device);
	if ((r = mkfile(v, "%s/device", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.subsystem_vendor);
	if ((r = mkfile(v, "%s/subsystem_vendor", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.subsystem_device);
	if ((r = mkfile(v, "%s/subsystem_device", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%06x\n", d->cfg.class_code);
	if ((r = mkfile(v, "%s/class", devdir)))
		return r;
	return mklink(devdir, "%s/bus/pci/devices/%s", F.sys, d->name);
}

FAKE_EXPORT int fake_add_device(const struct fake_dev_cfg *cfg)
{
	FAKE_LOCKED();
	char devdir[PATH_MAX], t[2 * PATH_MAX];
	struct fake_group *g;
	struct fake_dev *d;
	int r;

	if (!F.up || !cfg || !cfg->name)
		return -EINVAL;
	if (F.ndevs == FAKE_MAX_DEVS)
		return -ENOSPC;
	if (cfg->group < 0 || strlen(cfg->name) >= sizeof(d->name) ||
	    (cfg->mdev && (!cfg->mdev_type ||
			   strlen(cfg->mdev_type) >= sizeof(d->mdev_type))) ||
	    (cfg->driver && strlen(cfg->driver) >= sizeof(d->driver)))
		return -EINVAL;
	for (int i = 0; i < F.ndevs; i++)
		if (!strcmp(F.devs[i]->name, cfg->name) ||
		    (cfg->cdev >= 0 && F.devs[i]->cfg.cdev == cfg->cdev))
			return -EEXIST;
	g = group_get(cfg->group);
	if (g && (g->emulated != cfg->mdev || cfg->mdev))
		return -EEXIST; /* an mdev has a group of its own */
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	snprintf(d->name, sizeof(d->name), "%s", cfg->name);
	snprintf(d->mdev_type, sizeof(d->mdev_type), "%s",
		 cfg->mdev ? cfg->mdev_type : "");
	snprintf(d->driver, sizeof(d->driver), "%s",
		 cfg->driver ? cfg->driver : "");
	d->cfg.name = d->name;
	d->cfg.mdev_type = cfg->mdev ? d->mdev_type : NULL;
	d->cfg.driver = cfg->driver ? d->driver : NULL;
	if (!F.with_iommufd)
		d->cfg.cdev = -1; /* VFIO_DEVICE_CDEV depends on IOMMUFD */
	d->id = F.ndevs;
	d->state = VFIO_DEVICE_STATE_RUNNING;
	cfg_init(d);

	r = cfg->mdev ? sysfs_mdev(d, devdir, sizeof(devdir))
		      : sysfs_pci(d, devdir, sizeof(devdir));
	if (r)
		goto fail;
	if (d->cfg.driver) {
		if ((r = mkpath("%s/bus/%s/drivers/%s", F.sys,
				cfg->mdev ? "mdev" : "pci", d->driver)))
			goto fail;
		snprintf(t, sizeof(t), "%s/bus/%s/drivers/%s", F.sys,
			 cfg->mdev ? "mdev" : "pci", d->driver);
		if ((r = mklink(t, "%s/driver", devdir)) ||
		    (r = mklink(devdir, "%s/bus/%s/drivers/%s/%s", F.sys,
				cfg->mdev ? "mdev" : "pci", d->driver,
				d->name)))
			goto fail;
	}
	/* iommu group: mdev groups are named "vfio-noiommu" (contract 11.1) */
	if ((r = mkpath("%s/kernel/iommu_groups/%d/devices", F.sys,
			cfg->group)) ||
	    (r = mklink(devdir, "%s/kernel/iommu_groups/%d/devices/%s", F.sys,
			cfg->group, d->name)))
		goto fail;
	if (cfg->mdev)
		r = mkfile("vfio-noiommu\n", "%s/kernel/iommu_groups/%d/name",
			   F.sys, cfg->group);
	else
		r = mkfile("DMA\n", "%s/kernel/iommu_groups/%d/type", F.sys,
			   cfg->group);
	if (r)
		goto fail;
	snprintf(t, sizeof(t), "%s/kernel/iommu_groups/%d", F.sys, cfg->group);
	if ((r = mklink(t, "%s/iommu_group", devdir)) ||
	    (r = mkfile(NULL, "%s/vfio/%d", F.dev, cfg->group)))
		goto fail;
	if (d->cfg.cdev >= 0) {
		char dev[32];

		snprintf(dev, sizeof(dev), "511:%d\n", d->cfg.cdev);
		if ((r = mkpath("%s/vfio-dev/vfio%d", devdir, d->cfg.cdev)) ||
		    (r = mkfile(dev, "%s/vfio-dev/vfio%d/dev", devdir,
				d->cfg.cdev)) ||
		    (r = mklink("../..", "%s/vfio-dev/vfio%d/device",
				devdir, d->cfg.cdev)))
			goto fail;
		snprintf(t, sizeof(t), "%s/vfio-dev/vfio%d", devdir,
			 d->cfg.cdev);
		if ((r = mklink(t, "%s/class/vfio-dev/vfio%d", F.sys,
				d->cfg.cdev)) ||
		    (r = mkfile(NULL, "%s/vfio/devices/vfio%d", F.dev,
				d->cfg.cdev)))
			goto fail;
	}
	if (!g) {
		for (int i = 0; i < FAKE_MAX_DEVS; i++) {
			if (!F.groups[i].used) {
				g = &F.groups[i];
				memset(g, 0, sizeof(*g));
				g->used = true;
				g->num = cfg->group;
				g->emulated = cfg->mdev;
				break;
			}
		}
	}
	F.devs[F.ndevs++] = d;
	fake_mig_init_dev(d);
	fake_dirty_init_dev(d);
	return d->id;
fail:
	free(d);
	return r;
}

FAKE_EXPORT int fake_fini(void)
{
	FAKE_LOCKED();
	int leaked = 0;

	if (!F.up)
		return 0;
	/* Close what is left, as process exit would: data fds first (they
	 * reference devices), then devices, groups, containers, iommufds. */
	for (int pass = 0; pass < 2; pass++) {
		for (int fd = 0; fd < F.fds_cap; fd++) {
			struct fake_fd *f = F.fds[fd];

			if (!f || (pass == 0) != (f->type == FFD_DATA))
				continue;
			leaked++;
			fd_close(f);
		}
	}
	for (int i = 0; i < F.ndevs; i++) {
		fake_dirty_fini_dev(F.devs[i]);
		fake_mig_fini_dev(F.devs[i]);
		fake_region_fini_dev(F.devs[i]);
		free(F.devs[i]);
	}
	while (F.nictxs) {
		F.ictxs[0]->refs = 1;
		ictx_put(F.ictxs[0]);
	}
	while (F.nconts) {
		F.conts[0]->refs = 1;
		container_put(F.conts[0]);
	}
	free(F.fds);
	free(F.conts);
	free(F.ictxs);
	nftw(F.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(&F, 0, sizeof(F));
	fault.nth = 0;
	return leaked;
}
