// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Regions: the capability-chain parser (lib/region-caps.c, compiled in)
 * on every malformed chain and on random chains against the model that
 * built them; the region API against what only the fake has (devices
 * programmed with fake_dev_set_region(), the v1 device's mappable area).
 * The API on mtty and on a vfio-pci function runs on both kernels:
 * tests/kcase-region.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <check.h>
#include <linux/vfio.h>

#include "vfiomig.h"
#include "fake.h"
#include "region.h"

#define BDF "0000:3b:00.1"

/* ------------------------------------------------------ chain builder */

struct chain {
	unsigned char b[4096];
	size_t len;      /* bytes written so far (info + caps) */
	size_t last;     /* offset of the last cap header, 0 = none */
};

static void chain_init(struct chain *c, uint32_t flags)
{
	struct vfio_region_info ri = { .flags = flags };

	memset(c, 0, sizeof(*c));
	c->len = sizeof(ri);
	memcpy(c->b, &ri, sizeof(ri));
}

static void put32(struct chain *c, size_t off, uint32_t v)
{
	memcpy(c->b + off, &v, 4);
}

static uint32_t get32(const struct chain *c, size_t off)
{
	uint32_t v;

	memcpy(&v, c->b + off, 4);
	return v;
}

/* Append a capability of size bytes (padded to 8, like vfio_info_cap_add)
 * and link it from the previous one (or from cap_offset). */
static size_t chain_add(struct chain *c, uint16_t id, uint16_t version,
			const void *body, size_t size)
{
	struct vfio_info_cap_header h = { .id = id, .version = version };
	size_t off = c->len;

	ck_assert_uint_le(off + ((size + 7) & ~(size_t)7), sizeof(c->b));
	memset(c->b + off, 0, (size + 7) & ~(size_t)7);
	if (body)
		memcpy(c->b + off, body, size);
	memcpy(c->b + off, &h, sizeof(h));
	if (c->last)
		put32(c, c->last + 4, (uint32_t)off);
	else
		put32(c, 12, (uint32_t)off); /* cap_offset */
	c->last = off;
	c->len = off + ((size + 7) & ~(size_t)7);
	put32(c, 4, get32(c, 4) | VFIO_REGION_INFO_FLAG_CAPS);
	return off;
}

static size_t add_type(struct chain *c, uint32_t type, uint32_t subtype)
{
	struct vfio_region_info_cap_type t = { .type = type, .subtype = subtype };

	return chain_add(c, VFIO_REGION_INFO_CAP_TYPE, 1, &t, sizeof(t));
}

static size_t add_sparse(struct chain *c, uint32_t n, const uint64_t *offsz)
{
	unsigned char body[16 + 16 * 64];
	struct vfio_region_info_cap_sparse_mmap s = { .nr_areas = n };

	ck_assert_uint_le(n, 64);
	memcpy(body, &s, sizeof(s));
	for (uint32_t i = 0; i < n; i++)
		memcpy(body + 16 + 16 * i, offsz + 2 * i, 16);
	return chain_add(c, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, body,
			 16 + 16 * (size_t)n);
}

/* argsz = what was written, as the kernel reports when it fits. */
static int parse(struct chain *c, struct vfm_region_caps *out)
{
	put32(c, 0, (uint32_t)c->len);
	return vfm_region_caps_parse(c->b, c->len, out);
}

/* -------------------------------------------------------- parser cases */

START_TEST(parse_none)
{
	struct chain c;
	struct vfm_region_caps out;

	chain_init(&c, VFIO_REGION_INFO_FLAG_READ);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert(!out.have_type && !out.have_sparse && !out.ncaps);
	/* cap_offset garbage without CAPS (mtty echoes the caller's): ignored */
	put32(&c, 12, 0xdead);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert_int_eq(vfm_region_caps_parse(c.b, 31, &out), -EPROTO);
	ck_assert_int_eq(vfm_region_caps_parse(NULL, 32, &out), -EPROTO);
}
END_TEST

START_TEST(parse_good)
{
	struct chain c;
	struct vfm_region_caps out;
	uint64_t areas[] = { 0, 0x1000, 0x3000, 0x2000 };
	unsigned char junk[40];
	uint64_t a[2];

	memset(junk, 0x5a, sizeof(junk));
	chain_init(&c, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP);
	chain_add(&c, 77, 1, junk, sizeof(junk)); /* unknown: skipped */
	add_type(&c, 3, 1);
	chain_add(&c, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, NULL, 8);
	add_sparse(&c, 2, areas);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert(out.have_type && out.have_sparse);
	ck_assert_uint_eq(out.type, 3);
	ck_assert_uint_eq(out.subtype, 1);
	ck_assert_uint_eq(out.nr_areas, 2);
	ck_assert_uint_eq(out.ncaps, 4);
	memcpy(a, c.b + out.areas_off + 16, 16);
	ck_assert_uint_eq(a[0], 0x3000);
	ck_assert_uint_eq(a[1], 0x2000);
	/* A version 2 of a known id is skipped, not misread. */
	chain_init(&c, 0);
	chain_add(&c, VFIO_REGION_INFO_CAP_TYPE, 2, NULL, 8);
	add_type(&c, 1, 7);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert_uint_eq(out.subtype, 7);
	/* Sparse with no areas is a region with nothing mappable. */
	chain_init(&c, 0);
	add_sparse(&c, 0, NULL);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert(out.have_sparse && !out.nr_areas);
}
END_TEST

/* Each malformed chain, named. */
START_TEST(parse_malformed)
{
	struct chain c;
	struct vfm_region_caps out;
	uint64_t areas[] = { 0, 0x1000, 0x1000, 0x1000 };
	size_t t, s;

	/* CAPS without a chain */
	chain_init(&c, VFIO_REGION_INFO_FLAG_CAPS);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* cap_offset inside the info struct */
	chain_init(&c, 0);
	add_type(&c, 1, 1);
	put32(&c, 12, 16);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	put32(&c, 12, 0);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* cap_offset past the end, and past argsz but inside the buffer */
	chain_init(&c, 0);
	add_type(&c, 1, 1);
	put32(&c, 12, (uint32_t)c.len);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	put32(&c, 12, 32);
	put32(&c, 0, 40); /* the kernel wrote 40 bytes: the cap needs 48 */
	ck_assert_int_eq(vfm_region_caps_parse(c.b, c.len, &out), -EPROTO);
	put32(&c, 0, 36); /* not even a header */
	ck_assert_int_eq(vfm_region_caps_parse(c.b, c.len, &out), -EPROTO);
	/* buffer shorter than argsz: the buffer wins */
	put32(&c, 0, (uint32_t)c.len);
	ck_assert_int_eq(vfm_region_caps_parse(c.b, c.len - 1, &out), -EPROTO);
	ck_assert_int_eq(vfm_region_caps_parse(c.b, c.len, &out), 0);
	/* next pointing to itself, backwards, into its own header */
	chain_init(&c, 0);
	t = add_type(&c, 1, 1);
	s = add_sparse(&c, 1, areas);
	put32(&c, s + 4, (uint32_t)s);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	put32(&c, s + 4, (uint32_t)t);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	put32(&c, s + 4, (uint32_t)s + 4);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* next past the end */
	put32(&c, s + 4, (uint32_t)c.len + 8);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* next overlapping a known cap's body (type cap is 16 bytes) */
	chain_init(&c, 0);
	t = add_type(&c, 1, 1);
	add_type(&c, 2, 2);
	put32(&c, t + 4, (uint32_t)t + 8);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* a type cap cut short by the end */
	chain_init(&c, 0);
	chain_add(&c, VFIO_REGION_INFO_CAP_TYPE, 1, NULL, 8);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* a sparse cap cut short: header without nr_areas, areas past the end */
	chain_init(&c, 0);
	chain_add(&c, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, NULL, 8);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	chain_init(&c, 0);
	s = add_sparse(&c, 2, areas);
	put32(&c, s + 8, 3);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	put32(&c, s + 8, 0xffffffff); /* 16 * n overflows 32 bits */
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* more areas than fit before the next cap */
	chain_init(&c, 0);
	s = add_sparse(&c, 1, areas);
	add_type(&c, 1, 1);
	put32(&c, s + 8, 2);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	/* the same known cap twice */
	chain_init(&c, 0);
	add_type(&c, 1, 1);
	add_type(&c, 1, 2);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
	chain_init(&c, 0);
	add_sparse(&c, 1, areas);
	add_sparse(&c, 1, areas);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
}
END_TEST

/* As many unknown 8-byte caps as the buffer holds: fine; a loop of two
 * is -EPROTO, never a hang. */
START_TEST(parse_many)
{
	struct chain c;
	struct vfm_region_caps out;
	size_t a, b;

	chain_init(&c, 0);
	while (c.len + 8 <= sizeof(c.b))
		chain_add(&c, 99, 1, NULL, 8);
	ck_assert_int_eq(parse(&c, &out), 0);
	ck_assert_uint_eq(out.ncaps, (sizeof(c.b) - 32) / 8);
	chain_init(&c, 0);
	a = chain_add(&c, 99, 1, NULL, 8);
	b = chain_add(&c, 99, 1, NULL, 8);
	put32(&c, b + 4, (uint32_t)a);
	ck_assert_int_eq(parse(&c, &out), -EPROTO);
}
END_TEST

/* Random well-formed chains against the model that built them, then each
 * with one random byte changed: the parser answers 0 or -EPROTO and what
 * it reports lies inside the buffer (valgrind/ASan watch the reads). */
START_TEST(parse_random)
{
	unsigned int seed = 12345;

	for (int iter = 0; iter < 4000; iter++) {
		struct chain c;
		struct vfm_region_caps out;
		bool want_type = rand_r(&seed) & 1, want_sparse = rand_r(&seed) & 1;
		uint32_t type = (uint32_t)rand_r(&seed), sub = (uint32_t)rand_r(&seed);
		uint32_t nr = (uint32_t)rand_r(&seed) % 9;
		uint64_t areas[18];
		int nunk = rand_r(&seed) % 5, slots = nunk + want_type + want_sparse;
		int tpos = want_type ? rand_r(&seed) % slots : -1, spos = -1;
		size_t areas_off = 0;

		if (want_sparse)
			do
				spos = rand_r(&seed) % slots;
			while (spos == tpos);
		for (uint32_t i = 0; i < 2 * nr; i++)
			areas[i] = ((uint64_t)rand_r(&seed) << 32) | (unsigned)rand_r(&seed);
		chain_init(&c, (uint32_t)rand_r(&seed) & 7);
		for (int k = 0; k < slots; k++) {
			if (k == tpos) {
				add_type(&c, type, sub);
			} else if (k == spos) {
				areas_off = add_sparse(&c, nr, areas) + 16;
			} else {
				unsigned char junk[64];
				size_t n = 8 + (size_t)(rand_r(&seed) % 57);

				for (size_t j = 0; j < n; j++)
					junk[j] = (unsigned char)rand_r(&seed);
				chain_add(&c, (uint16_t)(3 + rand_r(&seed) % 100), 1,
					  junk, n);
			}
		}
		if (!slots) {
			ck_assert_int_eq(parse(&c, &out), 0);
			ck_assert(!out.ncaps);
			continue;
		}
		ck_assert_int_eq(parse(&c, &out), 0);
		ck_assert_int_eq(out.ncaps, slots);
		ck_assert_int_eq(out.have_type, want_type);
		ck_assert_int_eq(out.have_sparse, want_sparse);
		if (want_type) {
			ck_assert_uint_eq(out.type, type);
			ck_assert_uint_eq(out.subtype, sub);
		}
		if (want_sparse) {
			ck_assert_uint_eq(out.nr_areas, nr);
			ck_assert_uint_eq(out.areas_off, areas_off);
			ck_assert(!memcmp(c.b + areas_off, areas, 16 * nr));
		}
		/* one byte changed anywhere in the chain (or argsz) */
		{
			size_t pos = (size_t)rand_r(&seed) % c.len;
			int ret;

			if (pos < 32 && pos != 0 && pos != 12 && pos != 4)
				pos = 12;
			c.b[pos] ^= (unsigned char)(1 + rand_r(&seed) % 255);
			ret = vfm_region_caps_parse(c.b, c.len, &out);
			ck_assert(ret == 0 || ret == -EPROTO);
			if (!ret && out.have_sparse)
				ck_assert_uint_le(out.areas_off + 16 * (size_t)out.nr_areas,
						  c.len);
		}
	}
}
END_TEST

/* --------------------------------------------------------- API on fake */

static char logbuf[16384];

__attribute__((format(printf, 6, 0)))
static void log_capture(void *data, int prio, const char *file, int line,
			const char *fn, const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)data, (void)prio, (void)file, (void)line, (void)fn;
	if (n + 1 < sizeof(logbuf)) {
		vsnprintf(logbuf + n, sizeof(logbuf) - n - 1, fmt, ap);
		strcat(logbuf, "\n");
	}
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "%s", logbuf + n);
}

static struct vfiomig_ctx *ctx;
static int pci_id;

static void setup(void)
{
	struct fake_dev_cfg c;
	VFIOMIG_OPTS(vfiomig_ctx_opts, o);

	ck_assert_int_eq(fake_init(true), 0);
	fake_cfg_pci(&c, BDF, 12, 3, 0x7);
	pci_id = fake_add_device(&c);
	ck_assert_int_ge(pci_id, 0);
	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	vfiomig_ctx_set_log_fn(ctx, log_capture, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	logbuf[0] = '\0';
}

static void teardown(void)
{
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_fini(), 0);
}

static struct vfiomig_device *open_dev(const char *name)
{
	struct vfiomig_device *dev = NULL;

	ck_assert_msg(vfiomig_device_open(ctx, name, NULL, &dev) == 0, "%s",
		      logbuf);
	return dev;
}

static int info(struct vfiomig_device *dev, uint32_t index,
		struct vfiomig_region_info *ri)
{
	memset(ri, 0xa5, sizeof(*ri));
	ri->sz = sizeof(*ri);
	return vfiomig_region_info(dev, index, ri);
}

static void program(uint32_t index, uint32_t flags, uint64_t size,
		    const struct chain *c)
{
	struct fake_region r = { .flags = flags, .size = size, .cap_offset = -1 };

	if (c) {
		r.caps = c->b + 32;
		r.caps_len = c->len - 32;
	}
	ck_assert_int_eq(fake_dev_set_region(pci_id, index, &r), 0);
}

/* A device-specific migration region like issue 14's: type 3 subtype 1,
 * sparse mmap; found by type, areas copied, argsz grown once. */
START_TEST(typed_sparse)
{
	struct chain c;
	uint64_t areas[] = { 0x1000, 0x1000, 0x4000, 0x4000 };
	struct vfiomig_device *dev;
	struct vfiomig_region_info ri;
	struct vfiomig_region_area a[3];
	uint32_t idx = 0;
	void *p;

	chain_init(&c, 0);
	add_type(&c, 3, 1);
	add_sparse(&c, 2, areas);
	program(11, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			    VFIO_REGION_INFO_FLAG_MMAP, 0x8000, &c);
	chain_init(&c, 0);
	add_type(&c, 1, 1);
	program(10, VFIO_REGION_INFO_FLAG_READ, 0x100, &c);
	dev = open_dev(BDF);
	ck_assert_int_eq(vfiomig_region_count(dev), 12);
	ck_assert_int_eq(info(dev, 9, &ri), -EINVAL); /* a hole */
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 1, &idx), 0);
	ck_assert_uint_eq(idx, 11);
	ck_assert_int_eq(vfiomig_region_find(dev, 1, 1, &idx), 0);
	ck_assert_uint_eq(idx, 10);
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 2, &idx), -ENOENT);
	ck_assert_int_eq(info(dev, 11, &ri), 0);
	ck_assert_uint_eq(ri.flags, VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE |
					    VFIOMIG_REGION_MMAP | VFIOMIG_REGION_CAPS |
					    VFIOMIG_REGION_TYPED | VFIOMIG_REGION_SPARSE);
	ck_assert_uint_eq(ri.type, 3);
	ck_assert_uint_eq(ri.subtype, 1);
	ck_assert_uint_eq(ri.nr_areas, 2);
	ck_assert_uint_eq(ri.size, 0x8000);
	ck_assert_uint_eq(ri.offset, 11ull << 40);
	memset(a, 0, sizeof(a));
	ck_assert_int_eq(vfiomig_region_areas(dev, 11, a, 1), 2);
	ck_assert_uint_eq(a[0].offset, 0x1000);
	ck_assert_uint_eq(a[1].size, 0);
	ck_assert_int_eq(vfiomig_region_areas(dev, 11, a, 3), 2);
	ck_assert_uint_eq(a[1].offset, 0x4000);
	ck_assert_uint_eq(a[1].size, 0x4000);
	/* an older caller's struct: only what its sz covers */
	{
		struct vfiomig_region_info small;
		size_t sz = offsetof(struct vfiomig_region_info, type);

		memset(&small, 0x77, sizeof(small));
		small.sz = sz;
		ck_assert_int_eq(vfiomig_region_info(dev, 11, &small), 0);
		ck_assert_uint_eq(small.size, 0x8000);
		ck_assert_uint_eq(small.type, 0x77777777);
	}
	/* a newer caller's larger struct: the tail is zeroed */
	{
		unsigned char big[sizeof(ri) + 16];
		struct vfiomig_region_info *bp = (void *)big;

		memset(big, 0x77, sizeof(big));
		bp->sz = sizeof(big);
		ck_assert_int_eq(vfiomig_region_info(dev, 11, bp), 0);
		ck_assert_uint_eq(bp->sz, sizeof(big));
		ck_assert_uint_eq(big[sizeof(ri)], 0);
		ck_assert_uint_eq(big[sizeof(big) - 1], 0);
	}
	/* mmap: page-aligned, inside one area; the fake's fd is an eventfd
	 * (ENODEV passes through) */
	ck_assert_int_eq(vfiomig_region_mmap(dev, 11, 0, 0x1000, PROT_READ, &p), -ERANGE);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 11, 0x1000, 0x2000, PROT_READ, &p), -ERANGE);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 11, 0x1800, 0x800, PROT_READ, &p), -EINVAL);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 11, 0x5000, 0x4000, PROT_READ, &p), -ERANGE);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 11, 0x5000, 0x3000,
					     PROT_READ | PROT_WRITE, &p), -ENODEV);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 10, 0, 0x100, PROT_READ, &p), -EACCES);
	vfiomig_device_free(dev);
}
END_TEST

/* A mapping that works: the fake's migration v1 device has a mappable
 * data area (a sparse area, memfd-backed as a driver's pages are).  What
 * is written through the mapping is what pread answers, and the other way
 * round; the area's edges are kept; munmap leaves no mapping behind. */
START_TEST(mmap_shared)
{
	const struct fake_v1_cfg v = {
		.index = 9,
		.region_size = 64u << 10,
		.data_offset = 8192,
		.mmap = true,
		.state_size = 4096,
	};
	struct vfiomig_region_area a[2];
	struct vfiomig_device *dev;
	struct fake_dev_cfg c;
	unsigned char buf[16];
	uint32_t idx = 0;
	void *p = NULL;
	int id;

	fake_cfg_pci(&c, "0000:3c:00.0", 13, 4, 0);
	id = fake_add_device(&c);
	ck_assert_int_ge(id, 0);
	ck_assert_int_eq(fake_dev_set_v1(id, &v), 0);
	dev = open_dev("0000:3c:00.0");
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 1, &idx), 0);
	ck_assert_uint_eq(idx, 9);
	ck_assert_int_eq(vfiomig_region_areas(dev, 9, a, 2), 1);
	ck_assert_uint_eq(a[0].offset, 8192);
	ck_assert_uint_eq(a[0].size, (64u << 10) - 8192);

	ck_assert_int_eq(vfiomig_region_mmap(dev, 9, 8192, 8192,
					     PROT_READ | PROT_WRITE, &p), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fake_region_mmaps(), 1);
	memcpy(p, "through the map", 16);
	ck_assert_int_eq(vfiomig_region_read(dev, 9, 8192, buf, 16), 0);
	ck_assert_mem_eq(buf, "through the map", 16);
	ck_assert_int_eq(vfiomig_region_write(dev, 9, 8192 + 4096,
					      "by pwrite here", 15), 0);
	ck_assert_mem_eq((char *)p + 4096, "by pwrite here", 15);
	/* outside the area, or crossing its end: refused before mmap(2) */
	ck_assert_int_eq(vfiomig_region_mmap(dev, 9, 0, 4096, PROT_READ, &p),
			 -ERANGE);
	ck_assert_int_eq(vfiomig_region_mmap(dev, 9, 60u << 10, 8192,
					     PROT_READ, &p), -ERANGE);
	ck_assert_int_eq(vfiomig_region_munmap(p, 8192), 0);
	ck_assert_int_eq(fake_region_mmaps(), 0);
	vfiomig_device_free(dev);
}
END_TEST

/* The chain does not fit at first: argsz grown, the chain read on the
 * second call; a kernel that asks more every time is -EPROTO. */
START_TEST(argsz_growth)
{
	struct chain c;
	struct fake_region r = { .flags = 1, .size = 64, .cap_offset = -1 };
	struct vfiomig_device *dev;
	struct vfiomig_region_info ri;
	struct fake_dev_ioctls before, after;

	chain_init(&c, 0);
	for (int i = 0; i < 40; i++)
		chain_add(&c, 200, 1, NULL, 64);
	add_type(&c, 7, 9);
	program(9, 1, 64, &c);
	r.caps = c.b + 32;
	r.caps_len = c.len - 32;
	r.argsz_grow = 8;
	ck_assert_int_eq(fake_dev_set_region(pci_id, 12, &r), 0);
	dev = open_dev(BDF);
	fake_dev_ioctls(pci_id, &before);
	ck_assert_int_eq(info(dev, 9, &ri), 0);
	fake_dev_ioctls(pci_id, &after);
	ck_assert_uint_eq(after.total - before.total, 3); /* GET_INFO + 2 */
	ck_assert_uint_eq(ri.type, 7);
	ck_assert_uint_eq(ri.subtype, 9);
	ck_assert_int_eq(info(dev, 12, &ri), -EPROTO);
	ck_assert_ptr_nonnull(strstr(logbuf, "too small again"));
	/* not cached: asked again */
	ck_assert_int_eq(info(dev, 12, &ri), -EPROTO);
	vfiomig_device_free(dev);
}
END_TEST

/* What the kernel must never say, refused with -EPROTO and a log line. */
START_TEST(bad_chains)
{
	struct chain c;
	uint64_t out_area[] = { 0x1000, 0x2000 };
	uint64_t wrap_area[] = { 0x1000, UINT64_MAX };
	struct fake_region r = { .flags = 1, .size = 0x2000 };
	struct vfiomig_device *dev;
	struct vfiomig_region_info ri;
	uint32_t idx;
	size_t t;

	chain_init(&c, 0);
	add_sparse(&c, 1, out_area); /* past the region's end */
	program(9, 1 | 4, 0x2000, &c);
	chain_init(&c, 0);
	add_sparse(&c, 1, wrap_area);
	program(10, 1 | 4, 0x2000, &c);
	chain_init(&c, 0);
	t = add_type(&c, 1, 1);
	put32(&c, t + 4, (uint32_t)t); /* loop */
	program(11, 1, 0x2000, &c);
	chain_init(&c, 0);
	add_type(&c, 3, 1);
	r.caps = c.b + 32;
	r.caps_len = c.len - 32;
	r.cap_offset = 8; /* inside the info struct */
	ck_assert_int_eq(fake_dev_set_region(pci_id, 12, &r), 0);
	r.cap_offset = 0; /* CAPS, no chain */
	ck_assert_int_eq(fake_dev_set_region(pci_id, 13, &r), 0);
	dev = open_dev(BDF);
	for (uint32_t i = 9; i <= 13; i++) {
		logbuf[0] = '\0';
		ck_assert_int_eq(info(dev, i, &ri), -EPROTO);
		ck_assert_int_ne(strlen(logbuf), 0);
	}
	ck_assert_ptr_nonnull(strstr(logbuf, "malformed capability chain"));
	/* find stops at the first broken region rather than guess */
	ck_assert_int_eq(vfiomig_region_find(dev, 3, 1, &idx), -EPROTO);
	vfiomig_device_free(dev);
}
END_TEST

/* Native widths, a loop for the rest, short transfers, EINTR. */
START_TEST(rw_widths)
{
	struct vfiomig_device *dev;
	struct fake_region_stats st;
	struct fake_region r = { .flags = 3, .size = 256, .cap_offset = -1 };
	unsigned char in[64], out[64];
	uint64_t v;

	for (int i = 0; i < 64; i++)
		in[i] = (unsigned char)(i * 7 + 1);
	program(9, 3, 256, NULL);
	r.max_xfer = 3;
	ck_assert_int_eq(fake_dev_set_region(pci_id, 10, &r), 0);
	r.max_xfer = 0;
	r.eintr = 2;
	ck_assert_int_eq(fake_dev_set_region(pci_id, 11, &r), 0);
	program(12, 1, 256, NULL); /* read-only */
	dev = open_dev(BDF);
	/* widths 1/2/4/8 at aligned offsets: one access of that length,
	 * from an unaligned caller buffer too */
	for (size_t w = 1; w <= 8; w *= 2) {
		ck_assert_int_eq(vfiomig_region_write(dev, 9, 16 * w, in + 1, w), 0);
		fake_dev_region_stats(pci_id, 9, &st);
		ck_assert_uint_eq(st.last_len, w);
		ck_assert_uint_eq(st.last_off, 16 * w);
		memset(out, 0, sizeof(out));
		ck_assert_int_eq(vfiomig_region_read(dev, 9, 16 * w, out + 1, w), 0);
		ck_assert(!memcmp(out + 1, in + 1, w));
	}
	fake_dev_region_stats(pci_id, 9, &st);
	ck_assert_uint_eq(st.calls, 8);
	/* unaligned, odd lengths: one call, the driver splits */
	ck_assert_int_eq(vfiomig_region_write(dev, 9, 3, in, 61), 0);
	ck_assert_int_eq(vfiomig_region_read(dev, 9, 3, out, 61), 0);
	ck_assert(!memcmp(in, out, 61));
	fake_dev_region_stats(pci_id, 9, &st);
	ck_assert_uint_eq(st.calls, 10);
	ck_assert_uint_eq(st.last_len, 61);
	ck_assert_int_eq(vfiomig_region_read(dev, 9, 248, &v, 8), 0);
	ck_assert_int_eq(vfiomig_region_read(dev, 9, 249, &v, 8), -ERANGE);
	/* short transfers continue */
	ck_assert_int_eq(vfiomig_region_write(dev, 10, 0, in, 10), 0);
	ck_assert_int_eq(vfiomig_region_read(dev, 10, 0, out, 10), 0);
	ck_assert(!memcmp(in, out, 10));
	fake_dev_region_stats(pci_id, 10, &st);
	ck_assert_uint_eq(st.calls, 8);
	/* EINTR retried */
	ck_assert_int_eq(vfiomig_region_write(dev, 11, 8, in, 8), 0);
	fake_dev_region_stats(pci_id, 11, &st);
	ck_assert_uint_eq(st.eintrs, 2);
	ck_assert_uint_eq(st.calls, 3);
	/* permissions (a driver error passing through: kcase-region.c's
	 * pread_error) */
	ck_assert_int_eq(vfiomig_region_write(dev, 12, 0, in, 1), -EACCES);
	ck_assert_ptr_nonnull(strstr(logbuf, "region 12 is not writable"));
	ck_assert_int_eq(vfiomig_region_read(dev, 12, 0, out, 1), 0);
	vfiomig_device_free(dev);
}
END_TEST

/* Every failure point of the first region call of a region with a
 * capability chain (its info asked twice): a clean error, no leak, and a
 * later call works.  Without a chain, on mtty: kcase-region.c's
 * first_call_faults. */
START_TEST(faults)
{
	struct chain c;
	struct vfiomig_region_info ri;

	chain_init(&c, 0);
	add_type(&c, 3, 1);
	program(9, 1, 64, &c);
	for (unsigned int n = 1; n <= 4; n++) {
		struct vfiomig_device *dev = open_dev(BDF);
		int ret;

		fake_fail_nth_call("ioctl", n, EIO);
		ret = info(dev, 9, &ri);
		fake_fail_nth(0, 0);
		if (n <= 3)
			ck_assert_int_eq(ret, -EIO);
		else
			ck_assert_int_eq(ret, 0);
		ck_assert_int_eq(info(dev, 9, &ri), 0);
		ck_assert_uint_eq(ri.type, 3);
		vfiomig_device_free(dev);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("region");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("parser");
	tcase_add_test(tc, parse_none);
	tcase_add_test(tc, parse_good);
	tcase_add_test(tc, parse_malformed);
	tcase_add_test(tc, parse_many);
	tcase_add_test(tc, parse_random);
	suite_add_tcase(s, tc);

	/* The API on what only the fake has, a test case per reason
	 * (tests/vm/fake-only.txt counts by test case; a vfio-pci function's
	 * regions are kcase-region.c's, on the VM's edu): regions programmed with fake_dev_set_region: capability chains,
	 * argsz growth, short transfers, EINTR (mtty has no caps) */
	tc = tcase_create("programmed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, typed_sparse);
	tcase_add_test(tc, argsz_growth);
	tcase_add_test(tc, bad_chains);
	tcase_add_test(tc, rw_widths);
	tcase_add_test(tc, faults);
	suite_add_tcase(s, tc);
	/* the v1 device's mappable data area (mtty maps nothing) */
	tc = tcase_create("mmap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mmap_shared);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
