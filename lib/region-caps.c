// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The capability chain of VFIO_DEVICE_GET_REGION_INFO, parsed defensively:
 * a pure function over the bytes the kernel wrote, so tests/test-region.c
 * and fuzz/fuzz-regioncaps.c can feed it anything.
 *
 * Layout (6.12 vfio_pci_ioctl_get_region_info, vfio_info_cap_add/shift):
 * struct vfio_region_info (32 bytes), flags with VFIO_REGION_INFO_FLAG_CAPS,
 * cap_offset = 32, then capabilities {u16 id, u16 version, u32 next} with
 * next counted from the start of the info struct, 0 at the end, each
 * padded to 8 bytes.  Nothing is trusted: see region.h.
 */
#include <errno.h>
#include <string.h>

#include <linux/vfio.h>

#include "region.h"

int vfm_region_caps_parse(const void *buf, size_t buflen,
			  struct vfm_region_caps *out)
{
	struct vfio_region_info info;
	struct vfio_info_cap_header hdr;
	const unsigned char *p = buf;
	size_t limit, off, end;

	memset(out, 0, sizeof(*out));
	if (!buf || buflen < sizeof(info))
		return -EPROTO;
	memcpy(&info, p, sizeof(info));
	if (!(info.flags & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	if (!info.cap_offset)
		return -EPROTO;
	/* Only bytes below both the size the kernel says it needs and our
	 * buffer were written. */
	limit = info.argsz < buflen ? info.argsz : buflen;
	for (off = info.cap_offset; off; off = hdr.next) {
		if (off < sizeof(info) || off > limit ||
		    limit - off < sizeof(hdr))
			return -EPROTO;
		memcpy(&hdr, p + off, sizeof(hdr));
		/* Strictly forward, past this header: no loop, and at most
		 * limit / 8 capabilities. */
		if (hdr.next && hdr.next < off + sizeof(hdr))
			return -EPROTO;
		end = hdr.next ? hdr.next : limit;
		if (end > limit)
			return -EPROTO;
		out->ncaps++;
		if (hdr.version != 1)
			continue;
		if (hdr.id == VFIO_REGION_INFO_CAP_TYPE) {
			struct vfio_region_info_cap_type t;

			if (out->have_type || end - off < sizeof(t))
				return -EPROTO;
			memcpy(&t, p + off, sizeof(t));
			out->have_type = true;
			out->type = t.type;
			out->subtype = t.subtype;
		} else if (hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			struct vfio_region_info_cap_sparse_mmap s;
			size_t room;

			if (out->have_sparse || end - off < sizeof(s))
				return -EPROTO;
			memcpy(&s, p + off, sizeof(s));
			room = (end - off - sizeof(s)) /
			       sizeof(struct vfio_region_sparse_mmap_area);
			if (s.nr_areas > room)
				return -EPROTO;
			out->have_sparse = true;
			out->nr_areas = s.nr_areas;
			out->areas_off = off + sizeof(s);
		}
	}
	return 0;
}
