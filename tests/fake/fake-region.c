// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Programmable regions (fake_dev_set_region()): a device region with the
 * flags, size and raw capability chain a test chooses, answered like
 * 6.12's vfio_pci_ioctl_get_region_info answers a device-specific region
 * (argsz grown with cap_offset 0 when the chain does not fit, else the
 * chain copied after the 32-byte info and cap_offset 32), backed by memory
 * for pread/pwrite.  fake-core.c asks here first (fake_region_*()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
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

void fake_region_fini_dev(struct fake_dev *d)
{
	struct prog_regions *rs = d->regions;

	if (!rs)
		return;
	for (int i = 0; i < MAX_PROG; i++) {
		free(rs->p[i].caps);
		free(rs->p[i].mem);
	}
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
	free(p->caps);
	free(p->mem);
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
	p->mem = calloc(1, msize ? msize : 1);
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
