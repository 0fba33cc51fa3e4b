// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's IOAS (test-only): drivers/iommu/iommufd/ioas.c and
 * io_pagetable.c: reserved spans, IOAS_MAP with its IOVA checks and the
 * kernel's own pick, the pinning a domain does at map time, IOAS_UNMAP,
 * IOAS_IOVA_RANGES (contract 10).
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
int fake_ioas_map_ioctl(struct fake_iommufd *x, struct iommu_ioas_map *cmd)
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
	ioas = fake_ictx_obj(x, cmd->ioas_id);
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
int fake_ioas_unmap_ioctl(struct fake_iommufd *x, struct iommu_ioas_unmap *cmd)
{
	struct fake_iommufd_obj *ioas = fake_ictx_obj(x, cmd->ioas_id);
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
int fake_ioas_iova_ranges(struct fake_iommufd *x,
			    struct fake_iova_ranges *cmd, bool *respond)
{
	struct fake_iommufd_obj *ioas;
	uint64_t *r = (uint64_t *)(uintptr_t)cmd->allowed_iovas;
	uint32_t max = cmd->num_iovas, n = 0;
	uint64_t cur = 0, end;
	bool more = true;

	if (cmd->__reserved)
		return -EOPNOTSUPP;
	ioas = fake_ictx_obj(x, cmd->ioas_id);
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
