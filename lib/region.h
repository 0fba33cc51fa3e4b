/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Regions: the pure parser of VFIO_DEVICE_GET_REGION_INFO's capability
 * chain (lib/region-caps.c, fuzzed by fuzz/fuzz-regioncaps.c) and the
 * handle's region cache (lib/region.c). */
#ifndef VFIOMIG_REGION_H
#define VFIOMIG_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the chain says.  Areas are not copied: area i is the 16 bytes
 * (struct vfio_region_sparse_mmap_area) at buf + areas_off + 16 * i. */
struct vfm_region_caps {
	bool have_type;
	uint32_t type, subtype;
	bool have_sparse;
	uint32_t nr_areas;
	size_t areas_off;
	unsigned int ncaps;     /* capabilities walked, unknown ones too */
};

/*
 * buf: buflen bytes the kernel answered, starting with struct
 * vfio_region_info.  Without VFIO_REGION_INFO_FLAG_CAPS: 0, nothing found.
 * With it, the chain must start at a cap_offset >= 32 (0 is -EPROTO:
 * call this only on the answer to a large enough argsz) and lie inside both
 * buflen and the argsz the kernel reported; each header (8 bytes) and each
 * known capability fits before the next one (next strictly forward, so no
 * loop and at most buflen / 8 capabilities) and before the end; a known
 * capability appears once.  Anything else: -EPROTO.  Unknown ids and
 * versions other than 1 of a known id are skipped.
 */
int vfm_region_caps_parse(const void *buf, size_t buflen,
			  struct vfm_region_caps *out);

struct vfiomig_device;
/* region.c: free a handle's region cache (device.c, at free). */
void vfm_regions_free(void *regions);

#endif
