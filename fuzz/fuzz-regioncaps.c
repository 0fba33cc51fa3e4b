// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for vfm_region_caps_parse (lib/region-caps.c, compiled
 * in): the bytes of a VFIO_DEVICE_GET_REGION_INFO answer, checked against
 * a reference written the other way round (first the list of capability
 * offsets, bounded, then the rules on it):
 *
 *   - the answer is 0 or -EPROTO, and the reference agrees on which;
 *   - on 0, type/subtype, the sparse cap's nr_areas and areas offset and
 *     the number of capabilities are the reference's, and the areas lie
 *     inside what the kernel wrote;
 *   - nothing past the header at or past min(argsz, length) is read: the
 *     same input with those bytes changed gets the same answer, and the buffer is a heap
 *     copy of exactly the input's length (ASan catches a read past it).
 *
 * Input: the buffer itself (struct vfio_region_info, then anything).  The
 * first byte of the input is replaced by a choice: bit 0 set keeps argsz as
 * the input says, else argsz is the input's length (most kernels' answers);
 * bit 1 sets VFIO_REGION_INFO_FLAG_CAPS; bit 2 sets cap_offset to 32.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "region.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			__builtin_trap();                                      \
	} while (0)

static uint32_t rd32(const unsigned char *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static uint16_t rd16(const unsigned char *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, 2);
	return v;
}

static int reference(const unsigned char *p, size_t len,
		     struct vfm_region_caps *out)
{
	size_t offs[4096], n = 0, limit, o, i;

	memset(out, 0, sizeof(*out));
	if (len < 32)
		return -EPROTO;
	if (!(rd32(p, 4) & VFIO_REGION_INFO_FLAG_CAPS))
		return 0;
	limit = rd32(p, 0) < len ? rd32(p, 0) : len;
	o = rd32(p, 12);
	if (!o)
		return -EPROTO;
	/* the chain's offsets; a chain longer than limit / 8 must have
	 * broken a rule (each step moves 8 bytes or more) */
	while (o) {
		if (n == sizeof(offs) / sizeof(offs[0]) || o < 32 || o + 8 > limit)
			return -EPROTO;
		offs[n++] = o;
		o = rd32(p, o + 4);
	}
	for (i = 0; i < n; i++) {
		size_t next = rd32(p, offs[i] + 4);
		size_t end = next ? next : limit;

		if (next && (next < offs[i] + 8 || next > limit))
			return -EPROTO;
		if (rd16(p, offs[i] + 2) != 1)
			continue;
		if (rd16(p, offs[i]) == VFIO_REGION_INFO_CAP_TYPE) {
			if (out->have_type || end - offs[i] < 16)
				return -EPROTO;
			out->have_type = true;
			out->type = rd32(p, offs[i] + 8);
			out->subtype = rd32(p, offs[i] + 12);
		} else if (rd16(p, offs[i]) == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			uint64_t nr;

			if (out->have_sparse || end - offs[i] < 16)
				return -EPROTO;
			nr = rd32(p, offs[i] + 8);
			if (16 + 16 * nr > end - offs[i])
				return -EPROTO;
			out->have_sparse = true;
			out->nr_areas = (uint32_t)nr;
			out->areas_off = offs[i] + 16;
		}
	}
	out->ncaps = (unsigned int)n;
	return 0;
}

static void same(const struct vfm_region_caps *a, const struct vfm_region_caps *b)
{
	CHECK(a->have_type == b->have_type && a->have_sparse == b->have_sparse);
	CHECK(a->ncaps == b->ncaps);
	if (a->have_type)
		CHECK(a->type == b->type && a->subtype == b->subtype);
	if (a->have_sparse)
		CHECK(a->nr_areas == b->nr_areas && a->areas_off == b->areas_off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vfm_region_caps got, want, again;
	unsigned char *b;
	size_t limit;
	uint8_t mode;
	int ret, ref;

	if (!size)
		return 0;
	b = malloc(size);
	if (!b)
		return 0;
	memcpy(b, data, size);
	mode = b[0];
	if (size >= 32) {
		uint32_t v;

		if (!(mode & 1)) {
			v = (uint32_t)size;
			memcpy(b, &v, 4);
		}
		if (mode & 2) {
			v = rd32(b, 4) | VFIO_REGION_INFO_FLAG_CAPS;
			memcpy(b + 4, &v, 4);
		}
		if (mode & 4) {
			v = 32;
			memcpy(b + 12, &v, 4);
		}
	}
	ret = vfm_region_caps_parse(b, size, &got);
	ref = reference(b, size, &want);
	CHECK(ret == 0 || ret == -EPROTO);
	CHECK(ret == ref);
	if (!ret) {
		same(&got, &want);
		limit = size >= 32 && rd32(b, 0) < size ? rd32(b, 0) : size;
		if (got.have_sparse)
			CHECK(got.areas_off + 16 * (size_t)got.nr_areas <= limit);
		/* what lies past the written bytes does not matter (the
		 * 32-byte header is always written) */
		for (size_t i = limit > 32 ? limit : 32; i < size; i++)
			b[i] ^= 0xff;
		CHECK(vfm_region_caps_parse(b, size, &again) == 0);
		same(&got, &again);
	}
	free(b);
	return 0;
}
