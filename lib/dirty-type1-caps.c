// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The capability chain of VFIO_IOMMU_GET_INFO, parsed defensively: a pure
 * function over the bytes the kernel wrote, so tests can feed it broken
 * chains (tests/test-dirty.c compiles this file in).
 *
 * Layout (kernel-contract.md 9.2): struct vfio_iommu_type1_info (24 bytes),
 * then capabilities at offsets counted from the start of the info struct,
 * each a struct vfio_info_cap_header {u16 id, u16 version, u32 next} with
 * next = 0 at the end.  Trusted nothing: every offset must lie inside what
 * was both allocated and reported (argsz), leave room for what is read
 * there, be 4-byte aligned, and move strictly forward (so no loop).
 */
#include <linux/vfio.h>

#include "dirty.h"

int vfm_type1_parse_mig_cap(const void *buf, size_t buflen, uint64_t *pgsize,
			    uint64_t *max_bitmap)
{
	struct vfio_iommu_type1_info info;
	struct vfio_iommu_type1_info_cap_migration mig;
	struct vfio_info_cap_header hdr;
	const unsigned char *p = buf;
	size_t limit, off, prev = 0;

	if (buflen < sizeof(info))
		return -EPROTO;
	memcpy(&info, p, sizeof(info));
	/* The kernel reports the size it needs; only bytes below both that
	 * and our buffer were written. */
	limit = info.argsz < buflen ? info.argsz : buflen;
	if (!(info.flags & VFIO_IOMMU_INFO_CAPS) || !info.cap_offset)
		return -ENOENT;
	for (off = info.cap_offset; off; off = hdr.next) {
		if (off < sizeof(info) || off <= prev || off % 4 ||
		    off > limit || limit - off < sizeof(hdr))
			return -EPROTO;
		memcpy(&hdr, p + off, sizeof(hdr));
		if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION &&
		    hdr.version >= 1) {
			if (limit - off < sizeof(mig))
				return -EPROTO;
			memcpy(&mig, p + off, sizeof(mig));
			/* The dirty page size is the smallest IOMMU page
			 * (a single bit in practice). */
			if (!mig.pgsize_bitmap || !mig.max_dirty_bitmap_size)
				return -EPROTO;
			*pgsize = mig.pgsize_bitmap & -mig.pgsize_bitmap;
			*max_bitmap = mig.max_dirty_bitmap_size;
			return 0;
		}
		prev = off;
	}
	return -ENOENT;
}
