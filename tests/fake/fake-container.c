// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's VFIO container and Type1 IOMMU (test-only):
 * drivers/vfio/container.c and vfio_iommu_type1.c: CHECK_EXTENSION,
 * SET_IOMMU, GET_INFO with its capability chain, MAP_DMA, UNMAP_DMA
 * (contract 9, 11.1).  Dirty tracking is in fake-dirty.c.
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

struct fake_container *fake_container_new(void)
{
	struct fake_container *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (fake_vec_add((void ***)&F.conts, &F.nconts, &F.conts_cap, c)) {
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

void fake_container_put(struct fake_container *c)
{
	if (--c->refs > 0)
		return;
	type1_release(c);
	fake_vec_del((void **)F.conts, &F.nconts, c);
	free(c);
}

/* vfio_update_pgsize_bitmap: PAGE_MASK ANDed with every domain's sizes. */
void fake_type1_update_pgsize(struct fake_container *c)
{
	c->pgsize_bitmap = FAKE_PAGE_MASK;
	if (c->n_iommu_groups)
		c->pgsize_bitmap &= FAKE_PCI_PGSIZES;
}

/* vfio_group_detach_container (container.c). */
void fake_group_detach_container(struct fake_group *g)
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
			fake_type1_update_pgsize(c);
	}
	fake_container_put(c);
}

void fake_group_put(struct fake_group *g)
{
	if (--g->refs > 0)
		return;
	if (g->container)
		fake_group_detach_container(g);
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
	fake_type1_update_pgsize(c);
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
		/* and the extra word update_user_bitmap shifts into */
		m->dirty = calloc((npages + 63) / 64 + 1, sizeof(uint64_t));
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
int fake_container_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
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
