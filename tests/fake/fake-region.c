// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Programmable regions (fake_dev_set_region()): a device region with the
 * flags, size and raw capability chain a test chooses, answered like
 * 6.12's vfio_pci_ioctl_get_region_info answers a device-specific region
 * (argsz grown with cap_offset 0 when the chain does not fit, else the
 * chain copied after the 32-byte info and cap_offset 32), backed by memory
 * for pread/pwrite.  fake-core.c asks here first (fake_region_*()).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "fake-internal.h"

#define FAKE_EXPORT __attribute__((visibility("default")))
#define MAX_PROG 32
#define MEM_MAX (1u << 20)

struct prog_region {
	bool used;
	uint32_t index;
	struct fake_region r;
	unsigned char *caps;
	unsigned char *mem;     /* min(size, MEM_MAX) bytes */
	size_t msize;
	/* A room's model of the region (fake-v1.c): it answers the accesses;
	 * mem is then a memfd's shared mapping that mmap() hands out. */
	struct fake_region_hook hook;
	bool shared;            /* mem is memfd's mapping */
	int memfd;
	unsigned int info_calls;
	struct fake_region_stats st;
};

struct prog_regions {
	uint32_t num;           /* num_regions override (0: personality's) */
	struct prog_region p[MAX_PROG];
};

static struct prog_regions *regs(struct fake_dev *d, bool make)
{
	if (!d->regions && make)
		d->regions = calloc(1, sizeof(struct prog_regions));
	return d->regions;
}

static struct prog_region *find(struct fake_dev *d, uint32_t index)
{
	struct prog_regions *rs = regs(d, false);

	if (!rs)
		return NULL;
	for (int i = 0; i < MAX_PROG; i++)
		if (rs->p[i].used && rs->p[i].index == index)
			return &rs->p[i];
	return NULL;
}

static void prog_free(struct prog_region *p)
{
	free(p->caps);
	if (p->hook.fini)
		p->hook.fini(p->hook.priv);
	if (p->shared) {
		munmap(p->mem, p->msize);
		close(p->memfd);
	} else {
		free(p->mem);
	}
	memset(p, 0, sizeof(*p));
}

void fake_region_fini_dev(struct fake_dev *d)
{
	struct prog_regions *rs = d->regions;

	if (!rs)
		return;
	for (int i = 0; i < MAX_PROG; i++)
		prog_free(&rs->p[i]);
	free(rs);
	d->regions = NULL;
}

FAKE_EXPORT int fake_dev_set_region(int id, uint32_t index,
				    const struct fake_region *r)
{
	FAKE_LOCKED();
	struct fake_dev *d = fake_dev_get(id);
	struct prog_regions *rs;
	struct prog_region *p;
	size_t msize;

	if (!d || !r || (r->caps_len && !r->caps))
		return -EINVAL;
	rs = regs(d, true);
	if (!rs)
		return -ENOMEM;
	p = find(d, index);
	for (int i = 0; !p && i < MAX_PROG; i++)
		if (!rs->p[i].used)
			p = &rs->p[i];
	if (!p)
		return -ENOSPC;
	if (p->used)
		prog_free(p);
	memset(p, 0, sizeof(*p));
	p->used = true;
	p->index = index;
	p->r = *r;
	if (r->caps_len) {
		p->caps = malloc(r->caps_len);
		if (!p->caps)
			return -ENOMEM;
		memcpy(p->caps, r->caps, r->caps_len);
	}
	p->r.caps = p->caps;
	msize = r->size < MEM_MAX ? r->size : MEM_MAX;
	p->msize = msize ? msize : 1;
	p->mem = calloc(1, p->msize);
	if (!p->mem)
		return -ENOMEM;
	/* vfio-pci counts 9 plus its device-specific regions. */
	if (index >= rs->num && index >= FAKE_PCI_NUM_REGIONS)
		rs->num = index + 1;
	return 0;
}

FAKE_EXPORT void fake_dev_region_stats(int id, uint32_t index,
				       struct fake_region_stats *out)
{
	FAKE_LOCKED();
	struct fake_dev *d = fake_dev_get(id);
	struct prog_region *p = d ? find(d, index) : NULL;

	if (p)
		*out = p->st;
	else
		memset(out, 0, sizeof(*out));
}

uint32_t fake_region_count(struct fake_dev *d, uint32_t base)
{
	struct prog_regions *rs = regs(d, false);

	return rs && rs->num > base ? rs->num : base;
}

int fake_region_info(struct fake_dev *d, void *arg)
{
	struct vfio_region_info ri;
	struct prog_region *p;
	size_t need;

	memcpy(&ri, arg, sizeof(ri));
	p = find(d, ri.index);
	if (!p) {
		/* vfio-pci: a device-specific index past its regions. */
		if (ri.index >= FAKE_PCI_NUM_REGIONS &&
		    ri.index < fake_region_count(d, FAKE_PCI_NUM_REGIONS))
			return -EINVAL;
		return -ENOSYS;
	}
	p->info_calls++;
	ri.offset = (uint64_t)ri.index << 40;
	ri.size = p->r.size;
	ri.flags = p->r.flags & ~VFIO_REGION_INFO_FLAG_CAPS;
	if (p->r.caps_len) {
		need = sizeof(ri) + p->r.caps_len +
		       (size_t)p->r.argsz_grow * (p->info_calls - 1);
		ri.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (ri.argsz < need) {
			ri.argsz = (uint32_t)need;
			ri.cap_offset = 0;
		} else {
			memcpy((unsigned char *)arg + sizeof(ri), p->r.caps,
			       p->r.caps_len);
			ri.cap_offset = p->r.cap_offset >= 0 ?
						(uint32_t)p->r.cap_offset :
						(uint32_t)sizeof(ri);
		}
	}
	memcpy(arg, &ri, sizeof(ri));
	return 0;
}

int fake_region_rw(struct fake_dev *d, uint32_t index, uint64_t off,
		   void *buf, size_t len, bool write, ssize_t *out)
{
	struct prog_region *p = find(d, index);
	size_t msize;

	if (!p)
		return 0;
	p->st.calls++;
	p->st.last_len = len;
	p->st.last_off = off;
	if (p->r.eintr && p->st.eintrs < p->r.eintr) {
		p->st.eintrs++;
		*out = -EINTR;
		return 1;
	}
	if (p->hook.rw) {
		*out = p->hook.rw(p->hook.priv, p->mem, p->msize, off, buf, len,
				  write);
		return 1;
	}
	if ((write && !(p->r.flags & VFIO_REGION_INFO_FLAG_WRITE)) ||
	    (!write && !(p->r.flags & VFIO_REGION_INFO_FLAG_READ))) {
		*out = -EINVAL;
		return 1;
	}
	/* vfio_pci_bar_rw: past the end EINVAL, else clipped to it. */
	msize = p->r.size < MEM_MAX ? p->r.size : MEM_MAX;
	if (off >= msize) {
		*out = -EINVAL;
		return 1;
	}
	if (len > msize - off)
		len = msize - off;
	if (p->r.max_xfer && len > p->r.max_xfer)
		len = p->r.max_xfer;
	if (write)
		memcpy(p->mem + off, buf, len);
	else
		memcpy(buf, p->mem + off, len);
	*out = (ssize_t)len;
	return 1;
}

/* ------------------------------------------------------------------ */
/* A room's model of a region, and mmap() of it                        */

int fake_region_set_hook(struct fake_dev *d, uint32_t index,
			 const struct fake_region_hook *h)
{
	struct prog_region *p = find(d, index);
	void *m;
	int fd;

	if (!p || p->hook.rw)
		return -EINVAL;
	if (h->mmap_ok) {
		/* Shared memory, so that what the model writes is what the
		 * caller's mapping sees, and the other way round. */
		fd = memfd_create("fake-region", MFD_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (ftruncate(fd, (off_t)p->msize) < 0) {
			close(fd);
			return -ENOMEM;
		}
		m = mmap(NULL, p->msize, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 0);
		if (m == MAP_FAILED) {
			close(fd);
			return -ENOMEM;
		}
		memcpy(m, p->mem, p->msize);
		free(p->mem);
		p->mem = m;
		p->memfd = fd;
		p->shared = true;
	}
	p->hook = *h;
	return 0;
}

void *fake_region_hook_priv(struct fake_dev *d,
			    ssize_t (*rw)(void *, unsigned char *, size_t,
					  uint64_t, void *, size_t, bool))
{
	struct prog_regions *rs = regs(d, false);

	for (int i = 0; rs && i < MAX_PROG; i++)
		if (rs->p[i].used && rs->p[i].hook.rw == rw)
			return rs->p[i].hook.priv;
	return NULL;
}

void fake_region_reset(struct fake_dev *d)
{
	struct prog_regions *rs = regs(d, false);

	for (int i = 0; rs && i < MAX_PROG; i++)
		if (rs->p[i].used && rs->p[i].hook.reset)
			rs->p[i].hook.reset(rs->p[i].hook.priv);
}

/* Live mappings of fake regions (fake_region_mmaps()): a test checks the
 * library unmaps what it mapped. */
#define MAX_MAPS 64
static struct {
	void *addr;
	size_t len;
} maps[MAX_MAPS];
static int nmaps;

FAKE_EXPORT int fake_region_mmaps(void)
{
	FAKE_LOCKED();
	return nmaps;
}

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);

static mmap_fn real_mmap(void)
{
	static mmap_fn fn;
	mmap_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!f) {
		f = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
		if (!f)
			abort();
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	return f;
}

static munmap_fn real_munmap(void)
{
	static munmap_fn fn;
	munmap_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);

	if (!f) {
		f = (munmap_fn)dlsym(RTLD_NEXT, "munmap");
		if (!f)
			abort();
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	return f;
}

/* vfio_device_fops_mmap -> the region's mmap: only a region whose model
 * allows [off, +len) (a sparse area), MAP_SHARED only (vfio-pci: EINVAL
 * otherwise); any other region of a fake device answers as the eventfd
 * standing for it did before (ENODEV). */
static void *fake_mmap(struct fake_fd *f, void *addr, size_t len, int prot,
		       int flags, off_t pos, int *err, int *memfd)
{
	struct prog_region *p;
	uint64_t off;

	*err = fake_intercept("mmap");
	if (*err)
		return NULL;
	if (f->type != FFD_DEVICE || (f->cdev && !f->bound) || pos < 0) {
		*err = ENODEV;
		return NULL;
	}
	p = find(f->dev, (uint32_t)((uint64_t)pos >> 40));
	off = (uint64_t)pos & ((1ull << 40) - 1);
	if (!p || !p->shared) {
		*err = ENODEV;
		return NULL;
	}
	if (!(flags & MAP_SHARED) || !(p->r.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    off > p->msize || len > p->msize - off ||
	    !p->hook.mmap_ok(p->hook.priv, off, len)) {
		*err = EINVAL;
		return NULL;
	}
	(void)addr;
	(void)prot;
	*memfd = p->memfd;
	return p->mem;
}

FAKE_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		       off_t pos)
{
	struct fake_fd *f = (flags & MAP_ANONYMOUS) ? NULL : fake_fd_hold(fd);
	void *r;
	int err = 0, memfd = -1;

	if (!f)
		return real_mmap()(addr, len, prot, flags, fd, pos);
	{
		FAKE_LOCK_HELD();
		if (!fake_mmap(f, addr, len, prot, flags, pos, &err, &memfd)) {
			errno = err;
			return MAP_FAILED;
		}
		r = real_mmap()(addr, len, prot, flags, memfd,
				(off_t)((uint64_t)pos & ((1ull << 40) - 1)));
		if (r != MAP_FAILED && nmaps < MAX_MAPS) {
			maps[nmaps].addr = r;
			maps[nmaps++].len = len;
		}
	}
	return r;
}

FAKE_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
			 off_t pos)
{
	return mmap(addr, len, prot, flags, fd, pos);
}

FAKE_EXPORT int munmap(void *addr, size_t len)
{
	fake_lock();
	for (int i = 0; i < nmaps; i++) {
		if (maps[i].addr == addr && maps[i].len == len) {
			maps[i] = maps[--nmaps];
			break;
		}
	}
	fake_unlock();
	return real_munmap()(addr, len);
}
