// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty tracking on the fake kernel only, where the VM's devices cannot
 * serve: vfio-pci functions with IOMMU dirty tracking or DMA logging
 * (selection, HWPT attach and back, pages the IOMMU saw written, a fault
 * through the attach), Type1 pages written by a driver (fake_dma_write)
 * under a small bitmap limit, and the Type1 capability chain parser
 * against broken chains (lib/dirty-type1-caps.c is compiled in; no
 * kernel).  Every part that holds on mtty and the iommufd mock runs on
 * both kernels: kcase-dirty.c ("library"); pages a device writes while it
 * logs or through vfio_dma_rw() and a driver's own logging page size, on
 * programmable devices: kcase-dirty.c ("programmed"); a vfio-pci function
 * without DMA logging or IOMMU dirty tracking (the VM's edu: selection,
 * capabilities 0, Type1's every-page scope): kcase-dirty.c ("pci").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <syslog.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <check.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake.h"
#include "vfiomig.h"

/* lib/dirty-type1-caps.c, compiled in. */
int vfm_type1_parse_mig_cap(const void *buf, size_t buflen, uint64_t *pgsize,
			    uint64_t *max_bitmap);

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

#include "dirty-model.h"

#define PCI0 "0000:3b:00.1"
#define PCI1 "0000:3b:00.2"
#define MTTY0 "83b8f4f2-509f-382f-3c1e-e6bfe0fa2001"

static struct vfiomig_ctx *ctx;
static char logbuf[16384];

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int prio, const char *file, int line,
		  const char *fn, const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)data;
	(void)prio;
	(void)file;
	(void)line;
	(void)fn;
	if (n + 2 >= sizeof(logbuf))
		return;
	vsnprintf(logbuf + n, sizeof(logbuf) - n - 1, fmt, ap);
	strcat(logbuf, "\n");
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "vfiomig: %s", logbuf + n);
}

static void setup(void)
{
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };

	unsetenv("VFIOMIG_DIRTY_BACKEND");
	ck_assert_int_eq(fake_init(true), 0);
	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	vfiomig_ctx_set_log_fn(ctx, logfn, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	logbuf[0] = 0;
}

static void teardown(void)
{
	int open = fake_open_fds();

	vfiomig_ctx_free(ctx);
	ctx = NULL;
	unsetenv("VFIOMIG_DIRTY_BACKEND");
	ck_assert_int_eq(fake_fini(), open);
	ck_assert_msg(open == 0, "%d fake fd(s) leaked", open);
}

/* ------------------------------------------------------------ machine */

/* A vfio-pci variant function: DMA logging if log_ops, IOMMU dirty
 * tracking if hw_dirty. */
static int add_pci(const char *bdf, int group, int cdev, bool log_ops,
		   bool hw_dirty)
{
	struct fake_dev_cfg cfg;

	fake_cfg_pci(&cfg, bdf, group, cdev, VFIOMIG_MIG_STOP_COPY |
						     VFIOMIG_MIG_P2P);
	cfg.log_ops = log_ops;
	cfg.hw_dirty = hw_dirty;
	return fake_add_device(&cfg);
}

static int add_mtty(const char *uuid, int group, int cdev)
{
	struct fake_dev_cfg cfg;

	fake_cfg_mtty(&cfg, uuid, 2, group, cdev);
	return fake_add_device(&cfg);
}

static struct vfiomig_device *open_dev(const char *name, int path,
				       int share_fd, uint32_t ioas)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path, .iommu_fd = share_fd,
		     .ioas_id = ioas);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(ctx, name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s: %s\n%s", name, strerror(-ret), logbuf);
	return dev;
}

static void t1_map(struct vfiomig_device *dev, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = 0x7f0000000000ULL + iova, /* the fake does not touch it */
		.iova = iova,
		.size = size,
	};

	ck_assert_int_eq(ioctl(vfiomig_device_iommu_fd(dev), VFIO_IOMMU_MAP_DMA,
			       &m), 0);
}

static void ioas_map(int ifd, uint32_t ioas, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = 0x7f0000000000ULL + iova,
		.length = size,
		.iova = iova,
	};

	ck_assert_int_eq(ioctl(ifd, IOMMU_IOAS_MAP, &m), 0);
}

static struct vfiomig_dirty *tracker(struct vfiomig_device **devs, size_t n,
				     int backend)
{
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend);
	struct vfiomig_dirty *tr = NULL;
	int ret = vfiomig_dirty_new(devs, n, &o, &tr);

	ck_assert_msg(ret == 0, "dirty_new: %s\n%s", strerror(-ret), logbuf);
	return tr;
}

/* --------------------------------------------------------------- model */

/* --------------------------------------------------------- selection */

/* Names and NULL handles: no kernel. */
START_TEST(backend_names)
{
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_AUTO), "auto");
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_DMA_LOGGING),
			 "dma-logging");
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_IOMMUFD),
			 "iommufd");
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_TYPE1), "type1");
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_ALL), "all");
	ck_assert_str_eq(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_MIG_V1),
			 "mig-v1");
	ck_assert_ptr_null(vfiomig_dirty_backend_name(VFIOMIG_DIRTY_MIG_V1 + 1));
	ck_assert_ptr_null(vfiomig_dirty_backend_name(-1));
	ck_assert_int_eq(vfiomig_dirty_backend(NULL), -EINVAL);
	ck_assert_ptr_null(vfiomig_dirty_reason(NULL));
	ck_assert_int_eq(vfiomig_dirty_hwpt_id(NULL), -EINVAL);
	vfiomig_dirty_free(NULL);
}
END_TEST

/* Automatic order: logging > iommufd > type1 > all, on vfio-pci functions
 * (fake-only): one with DMA logging and IOMMU dirty tracking, one with
 * IOMMU dirty tracking only, on iommufd.  Type1 on a function without
 * DMA logging: kcase-dirty.c pci_auto_selection (the VM's edu); mtty, the
 * mock's device id and VFIOMIG_DIRTY_BACKEND: auto_selection. */
START_TEST(auto_selection)
{
	struct vfiomig_device *d;
	struct vfiomig_dirty *tr;

	add_pci(PCI0, 10, 0, true, true);   /* logging + IOMMU dirty */
	add_pci(PCI1, 11, 1, false, true);  /* IOMMU dirty only */

	d = open_dev(PCI0, VFIOMIG_IOMMU_IOMMUFD, 0, 0);
	tr = tracker(&d, 1, VFIOMIG_DIRTY_AUTO);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_DMA_LOGGING);
	ck_assert_ptr_nonnull(strstr(vfiomig_dirty_reason(tr), "dma-logging"));
	ck_assert_int_eq(vfiomig_dirty_hwpt_id(tr), -ENOENT);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(d);

	d = open_dev(PCI1, VFIOMIG_IOMMU_IOMMUFD, 0, 0);
	tr = tracker(&d, 1, VFIOMIG_DIRTY_AUTO);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
	ck_assert_msg(strstr(vfiomig_dirty_reason(tr), "not dma-logging"),
		      "%s", vfiomig_dirty_reason(tr));
	ck_assert_int_gt(vfiomig_dirty_hwpt_id(tr), 0);
	vfiomig_dirty_free(tr);
	vfiomig_device_free(d);
}
END_TEST

/* ------------------------------------------------------------ iommufd */

/* Two vfio-pci functions with IOMMU dirty tracking moved onto the
 * tracker's HWPT and back, a second tracker refused, the pages the IOMMU
 * saw written (fake-only: the VM's only such IOMMU is the mock, whose
 * device is no VFIO device; its bits, NO_CLEAR and unmaps: kcase-dirty.c
 * iommufd_hwpt). */
START_TEST(iommufd_hwpt)
{
	struct vfiomig_device *d[2];
	struct vfiomig_dirty *tr;
	uint32_t devid, ioas, hwpt0, hwpt1, hw;
	struct vfiomig_range r[] = { { 1 * GiB, 256 * MiB }, { 2 * GiB, 4 * MiB } };
	uint64_t ps = 4096, caps = 0, nbits = 2 * GiB / 4096, *bm = bm_alloc(nbits);
	struct span sp[] = {
		{ 1 * GiB, 1 * GiB + 1 }, { 1 * GiB + 100 * MiB, 1 * GiB + 101 * MiB },
		{ 2 * GiB + 4 * MiB - 4096, 2 * GiB + 4 * MiB },
	};
	int ifd;

	add_pci(PCI0, 10, 0, false, true);
	add_pci(PCI1, 11, 1, false, true);
	d[0] = open_dev(PCI0, VFIOMIG_IOMMU_IOMMUFD, 0, 0);
	ifd = vfiomig_device_iommu_fd(d[0]);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(d[0], &devid, &ioas, &hwpt0), 0);
	d[1] = open_dev(PCI1, VFIOMIG_IOMMU_IOMMUFD, ifd, ioas);
	ck_assert_int_eq(vfiomig_iommufd_hw_caps(d[0], &caps), 0);
	ck_assert_uint_eq(caps & IOMMU_HW_CAP_DIRTY_TRACKING, 1);
	ioas_map(ifd, ioas, r[0].iova, r[0].length);
	ioas_map(ifd, ioas, r[1].iova, r[1].length);

	tr = tracker(d, 2, VFIOMIG_DIRTY_AUTO);
	ck_assert_int_eq(vfiomig_dirty_backend(tr), VFIOMIG_DIRTY_IOMMUFD);
	hw = (uint32_t)vfiomig_dirty_hwpt_id(tr);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(d[0], NULL, NULL, &hwpt0), 0);
	ck_assert_int_eq(vfiomig_device_iommufd_ids(d[1], NULL, NULL, &hwpt1), 0);
	ck_assert_uint_eq(hwpt0, hw); /* both moved onto the dirty HWPT */
	ck_assert_uint_eq(hwpt1, hw);
	/* a second tracker would take d[0] off that HWPT: refused */
	{
		VFIOMIG_OPTS(vfiomig_dirty_opts, o2,
			     .backend = VFIOMIG_DIRTY_IOMMUFD);
		struct vfiomig_dirty *tr2 = NULL;

		ck_assert_int_eq(vfiomig_dirty_new(d, 1, &o2, &tr2), -EBUSY);
		ck_assert_ptr_null(tr2);
		ck_assert_int_eq(vfiomig_device_iommufd_ids(d[0], NULL, NULL,
							    &hwpt0), 0);
		ck_assert_uint_eq(hwpt0, hw);
	}

	/* before start nothing is recorded */
	fake_dma_write(sp[0].a, 1);
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 2, &ps), 0);
	for (int i = 0; i < 3; i++)
		fake_dma_write(sp[i].a, sp[i].b - sp[i].a);
	/* NO_CLEAR keeps the bits for the next read */
	ck_assert_int_eq(vfiomig_dirty_query(tr, 1 * GiB, 2 * GiB, 4096, bm,
					     VFIOMIG_DIRTY_NO_CLEAR), 0);
	expect(bm, 1 * GiB, 4096, nbits, sp, 3);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 1 * GiB, 2 * GiB, 64 * KiB, bm,
					     0), 0);
	expect(bm, 1 * GiB, 64 * KiB, 2 * GiB / (64 * KiB), sp, 3);
	ck_assert_int_eq(vfiomig_dirty_query(tr, 1 * GiB, 2 * GiB, 4096, bm, 0),
			 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), 0);

	ck_assert_int_eq(vfiomig_dirty_stop(tr), 0);
	vfiomig_dirty_free(tr);
	/* back on an automatic HWPT of the IOAS */
	ck_assert_int_eq(vfiomig_device_iommufd_ids(d[0], NULL, NULL, &hwpt0), 0);
	ck_assert_uint_ne(hwpt0, hw);
	vfiomig_device_free(d[1]);
	vfiomig_device_free(d[0]);
	free(bm);
}
END_TEST

/* -------------------------------------------------------------- Type1 */

/* The container's max_dirty_bitmap_size as the kernel says it, not a
 * constant (fake-only: 6.12's is fixed at 256 MiB, fake_set_dirty_bitmap_max
 * changes the fake's; the rest: kcase-dirty.c type1_caps). */
START_TEST(type1_caps)
{
	struct vfiomig_device *d;
	uint64_t max = 0;

	add_pci(PCI0, 10, 0, false, false);
	d = open_dev(PCI0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	fake_set_dirty_bitmap_max(4096);
	ck_assert_int_eq(vfiomig_type1_dirty_caps(d, NULL, &max), 0);
	ck_assert_uint_eq(max, 4096);
	fake_set_dirty_bitmap_max(0);
	vfiomig_device_free(d);
}
END_TEST

/* Queries grouped under a small max_dirty_bitmap_size, never bisecting
 * (fake-only: 6.12's limit is 256 MiB of bitmap, 8 TiB of mappings at
 * 4 KiB; fake_set_dirty_bitmap_max makes it small). */
START_TEST(type1_chunking)
{
	struct vfiomig_device *d;
	struct vfiomig_dirty *tr;
	struct vfiomig_range r[40], big = { 200 * MiB, 4 * MiB };
	struct span sp[40];
	struct fake_dirty_stats st;
	uint64_t ps = 0, nbits = 128 * MiB / 4096, *bm = bm_alloc(nbits);
	uint64_t at = 0;

	add_mtty(MTTY0, 12, 2);
	fake_set_dirty_bitmap_max(64); /* 512 pages = 2 MiB per call */
	d = open_dev(MTTY0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	for (int i = 0; i < 40; i++) {
		r[i].iova = at;
		r[i].length = (1 + i % 2) * 512 * KiB; /* 512K or 1M */
		at += r[i].length + (i % 3) * 64 * KiB;
		t1_map(d, r[i].iova, r[i].length);
		sp[i].a = r[i].iova + (i * 4096) % r[i].length;
		sp[i].b = sp[i].a + 1;
	}
	tr = tracker(&d, 1, VFIOMIG_DIRTY_TYPE1);
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 40, &ps), 0);
	for (int i = 0; i < 40; i++)
		fake_dma_write(sp[i].a, 1);
	fake_dirty_reset_stats();
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, 128 * MiB, 4096, bm, 0), 0);
	expect(bm, 0, 4096, nbits, sp, 40);
	fake_dirty_get_stats(&st);
	ck_assert_uint_ge(st.type1_get_bitmaps, 10);
	ck_assert_uint_le(st.type1_max_bitmap_bytes, 64);
	/* and unmap in groups too */
	for (int i = 0; i < 40; i++)
		fake_dma_write(sp[i].a, 1);
	fake_dirty_reset_stats();
	ck_assert_int_eq(vfiomig_dirty_unmap(tr, 0, 128 * MiB, 4096, bm, 0), 0);
	expect(bm, 0, 4096, nbits, sp, 40);
	fake_dirty_get_stats(&st);
	ck_assert_uint_ge(st.type1_unmap_bitmaps, 10);
	ck_assert_uint_le(st.type1_max_bitmap_bytes, 64);
	/* nothing left to report */
	ck_assert_int_eq(vfiomig_dirty_query(tr, 0, 128 * MiB, 4096, bm, 0), 0);
	ck_assert_uint_eq(vfiomig_bitmap_count(bm, nbits), 0);
	vfiomig_dirty_free(tr);

	/* a mapping whose bitmap alone is over the limit: refused at start */
	t1_map(d, big.iova, big.length);
	tr = tracker(&d, 1, VFIOMIG_DIRTY_TYPE1);
	ck_assert_int_eq(vfiomig_dirty_start(tr, &big, 1, &ps), -E2BIG);
	ck_assert_ptr_nonnull(strstr(logbuf, "more than the kernel's"));
	vfiomig_dirty_free(tr);
	fake_set_dirty_bitmap_max(0);
	vfiomig_device_free(d);
	free(bm);
}
END_TEST

/* ------------------------------------------------------------- faults */

/* Every ioctl of new/start/query/stop failing in turn on vfio-pci
 * functions with IOMMU dirty tracking (fake-only: the fallback from DMA
 * logging to the HWPT and VFIO_DEVICE_ATTACH_IOMMUFD_PT there and back need
 * such a function; every kernel call on mtty and the mock: kcase-dirty.c
 * fault_sweep): the error comes back (or a fallback is chosen), nothing
 * leaks, the device stays usable. */
START_TEST(fault_sweep)
{
	struct vfiomig_range r = { 16 * MiB, 8 * MiB };
	uint64_t bm[64];

	add_pci(PCI0, 10, 0, true, true);
	add_pci(PCI1, 11, 1, false, true);
	for (int which = 0; which < 2; which++) {
		struct vfiomig_device *d = open_dev(which ? PCI1 : PCI0,
						    VFIOMIG_IOMMU_IOMMUFD, 0, 0);
		uint32_t ioas;

		ck_assert_int_eq(vfiomig_device_iommufd_ids(d, NULL, &ioas, NULL), 0);
		ioas_map(vfiomig_device_iommu_fd(d), ioas, r.iova, r.length);
		for (unsigned int n = 1; n < 40; n++) {
			struct vfiomig_dirty *tr = NULL;
			uint64_t ps = 0;
			int ret;

			fake_fail_nth_call("ioctl", n, EIO);
			ret = vfiomig_dirty_new(&d, 1, NULL, &tr);
			if (!ret) {
				ret = vfiomig_dirty_start(tr, &r, 1, &ps);
				if (!ret)
					vfiomig_dirty_query(tr, 16 * MiB, 8 * MiB,
							    1 * MiB, bm, 0);
				vfiomig_dirty_free(tr);
			}
			fake_fail_nth(0, 0);
		}
		/* still usable */
		{
			struct vfiomig_dirty *tr = tracker(&d, 1, VFIOMIG_DIRTY_AUTO);
			uint64_t ps = 0;

			ck_assert_int_eq(vfiomig_dirty_start(tr, &r, 1, &ps), 0);
			ck_assert_int_eq(vfiomig_dirty_query(tr, 16 * MiB, 8 * MiB,
							     1 * MiB, bm, 0), 0);
			vfiomig_dirty_free(tr);
		}
		vfiomig_device_free(d);
	}
}
END_TEST

/* ----------------------------------------- Type1 capability chain parser */

struct info_buf {
	struct vfio_iommu_type1_info info;
	unsigned char caps[232];
};

static void put_cap(struct info_buf *b, size_t off, uint16_t id, uint16_t ver,
		    uint32_t next)
{
	struct vfio_info_cap_header h = { .id = id, .version = ver, .next = next };

	memcpy((unsigned char *)b + off, &h, sizeof(h));
}

static void put_mig(struct info_buf *b, size_t off, uint32_t next, uint64_t pg,
		    uint64_t max)
{
	struct vfio_iommu_type1_info_cap_migration m = {
		.header = { .id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
			    .version = 1, .next = next },
		.pgsize_bitmap = pg,
		.max_dirty_bitmap_size = max,
	};

	memcpy((unsigned char *)b + off, &m, sizeof(m));
}

static int parse(struct info_buf *b, size_t len)
{
	uint64_t pg = 0, max = 0;
	int ret = vfm_type1_parse_mig_cap(b, len, &pg, &max);

	if (!ret) {
		ck_assert_uint_eq(pg, 4096);
		ck_assert_uint_eq(max, 256 * MiB);
	}
	return ret;
}

START_TEST(caps_parser)
{
	struct info_buf b;

	memset(&b, 0, sizeof(b));
	b.info.argsz = 24 + 32 + 16;
	b.info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
	b.info.cap_offset = 24;
	/* the kernel's order: migration, then dma avail */
	put_mig(&b, 24, 56, 0x1000 | 0x200000, 256 * MiB);
	put_cap(&b, 56, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 0);
	ck_assert_int_eq(parse(&b, sizeof(b)), 0);
	/* migration last */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 40);
	put_mig(&b, 40, 0, 0x1000, 256 * MiB);
	b.info.argsz = 72;
	ck_assert_int_eq(parse(&b, sizeof(b)), 0);
	/* the kernel says fewer bytes than the migration cap needs */
	b.info.argsz = 60;
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* our buffer is shorter than the chain */
	b.info.argsz = 72;
	ck_assert_int_eq(parse(&b, 64), -EPROTO);
	ck_assert_int_eq(parse(&b, 20), -EPROTO);
	/* a loop: next points back */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 40);
	put_cap(&b, 40, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, 24);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* a self loop */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 24);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* misaligned */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 42);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* past the end */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 4096);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* into the info struct */
	b.info.cap_offset = 8;
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	/* no migration cap at all */
	b.info.cap_offset = 24;
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 0);
	ck_assert_int_eq(parse(&b, sizeof(b)), -ENOENT);
	/* version 0 of the migration cap is not it */
	put_cap(&b, 24, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 0, 0);
	ck_assert_int_eq(parse(&b, sizeof(b)), -ENOENT);
	/* no caps flag / offset */
	put_mig(&b, 24, 0, 0x1000, 256 * MiB);
	b.info.flags = VFIO_IOMMU_INFO_PGSIZES;
	ck_assert_int_eq(parse(&b, sizeof(b)), -ENOENT);
	b.info.flags |= VFIO_IOMMU_INFO_CAPS;
	b.info.cap_offset = 0;
	ck_assert_int_eq(parse(&b, sizeof(b)), -ENOENT);
	/* nonsense values */
	b.info.cap_offset = 24;
	put_mig(&b, 24, 0, 0, 256 * MiB);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	put_mig(&b, 24, 0, 0x1000, 0);
	ck_assert_int_eq(parse(&b, sizeof(b)), -EPROTO);
	put_mig(&b, 24, 0, 0x1000, 256 * MiB);
	ck_assert_int_eq(parse(&b, sizeof(b)), 0);
}
END_TEST

/* ------------------------------------------ direct vs scratch, oracle */

/*
 * Random Type1 queries against a model, through every path of the query
 * loop: groups of mappings straight into the caller's bitmap and
 * (starting off a word) through the scratch buffer, page-size conversion,
 * ACCUMULATE over random bits.  The model: the dirty byte spans not yet
 * reported (all inside tracked ranges); a query reports every page of its
 * window overlapping one, and forgets what it reported (GET_BITMAP always
 * clears).  Fake-only for Type1's bitmap limit made small (6.12's is
 * fixed at 256 MiB); under the kernel's limit, with pages a driver wrote
 * through vfio_dma_rw(): kcase-dirty.c gen_oracle_type1 on both kernels
 * (and oracle_type1 on mtty, the iommufd oracle on the mock, DMA
 * logging's on programmable devices).
 */
/* One random query of [iova, +len) at ps, checked against the model. */
static void oracle_query(struct vfiomig_dirty *tr, struct model *m,
			 uint64_t iova, uint64_t len, uint64_t ps)
{
	uint64_t nbits = len / ps, words = (nbits + 63) / 64;
	uint64_t *got = bm_alloc(nbits), *want = bm_alloc(nbits);
	unsigned int flags = 0;
	int r = (int)(trnd() % 4);

	if (r & 1) {
		flags |= VFIOMIG_DIRTY_ACCUMULATE;
		for (uint64_t i = 0; i < words; i++)
			got[i] = want[i] = trnd() & trnd();
	} else {
		memset(got, 0xa5, words * 8);
	}
	if (r & 2)
		flags |= VFIOMIG_DIRTY_NO_CLEAR;
	model_bits(m, want, iova, ps, nbits);
	ck_assert_msg(vfiomig_dirty_query(tr, iova, len, ps, got, flags) == 0,
		      "query [%#" PRIx64 ", +%#" PRIx64 ") ps %#" PRIx64
		      "\n%s", iova, len, ps, logbuf);
	if (nbits % 64) { /* bits past the bitmap are not the test's */
		got[words - 1] &= ~0ULL >> (64 - nbits % 64);
		want[words - 1] &= ~0ULL >> (64 - nbits % 64);
	}
	for (uint64_t i = 0; i < words; i++)
		ck_assert_msg(got[i] == want[i], "query [%#" PRIx64 ", +%#"
			      PRIx64 ") ps %#" PRIx64 " flags %u: word %" PRIu64
			      " got %#" PRIx64 " want %#" PRIx64, iova, len, ps,
			      flags, i, got[i], want[i]);
	model_clear(m, iova, iova + len);
	free(got);
	free(want);
	logbuf[0] = 0;
}

/* The driver pins and writes a few spans inside random ranges of r. */
static void oracle_dirty(struct model *m, const struct vfiomig_range *r,
			 size_t nr, int count)
{
	for (int i = 0; i < count; i++) {
		const struct vfiomig_range *x = &r[trnd() % nr];
		uint64_t a = x->iova + trnd() % x->length;
		uint64_t b = a + 1 + trnd() % (3 * 4096);

		if (b > x->iova + x->length)
			b = x->iova + x->length;
		fake_dma_write(a, b - a);
		model_add(m, a, b);
	}
}

/* Ranges on unit pages at random offsets (so stretches start anywhere in
 * a caller's word), gaps of 0 (touching) to a few pages, from base. */
static size_t oracle_ranges(struct vfiomig_range *r, size_t n, uint64_t base,
			    uint64_t unit)
{
	uint64_t at = base + (trnd() % 64) * unit;

	for (size_t i = 0; i < n; i++) {
		r[i].iova = at;
		r[i].length = (1 + trnd() % 300) * unit;
		at += r[i].length + (trnd() % 3 ? 0 : (trnd() % 70) * unit);
	}
	return n;
}

START_TEST(oracle_type1_limit)
{
	struct vfiomig_device *d;
	struct vfiomig_dirty *tr;
	struct vfiomig_range r[40];
	static struct model m;
	uint64_t ps = 4096;

	add_mtty(MTTY0, 12, 2);
	d = open_dev(MTTY0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	/* mappings on 64 KiB, so 4K and 64K queries can take whole ones;
	 * groups start anywhere in a caller's word */
	oracle_ranges(r, 40, 1 * GiB, 64 * KiB);
	for (size_t i = 0; i < 40; i++)
		t1_map(d, r[i].iova, r[i].length);
	/* 128 MiB of IOVA per call: groups of mappings, direct and
	 * (starting off a word) through scratch */
	fake_set_dirty_bitmap_max(4096);
	memset(&m, 0, sizeof(m));
	tr = tracker(&d, 1, VFIOMIG_DIRTY_TYPE1);
	ck_assert_int_eq(vfiomig_dirty_start(tr, r, 40, &ps), 0);
	for (int it = 0; it < 150; it++) {
		size_t i = trnd() % 40, j = i + trnd() % (40 - i);
		uint64_t iova = r[i].iova;
		uint64_t len = r[j].iova + r[j].length - iova;

		ps = trnd() % 2 ? 4096 : 64 * KiB;
		oracle_dirty(&m, r, 40, 1 + it % 7);
		oracle_query(tr, &m, iova, len, ps);
	}
	vfiomig_dirty_free(tr);
	fake_set_dirty_bitmap_max(0);
	vfiomig_device_free(d);
}
END_TEST

/* A test case per reason it is fake-only (tests/vm/fake-only.txt counts
 * by test case). */
static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("dirty");
	TCase *tc;
	SRunner *sr;
	int failed;

	/* no kernel call */
	tc = tcase(s, "pure");
	tcase_add_test(tc, backend_names);
	tcase_add_test(tc, caps_parser);
	/* vfio-pci functions with DMA logging or IOMMU dirty tracking: the
	 * VM's edu has neither (its cases: kcase-dirty.c "pci") */
	tc = tcase(s, "pci");
	tcase_add_test(tc, auto_selection);
	tcase_add_test(tc, iommufd_hwpt);
	tcase_add_test(tc, fault_sweep);
	/* Type1 pages pinned by a driver and its bitmap limit made small:
	 * no VM device pins pages, 6.12's limit is fixed */
	tc = tcase(s, "type1");
	tcase_add_test(tc, oracle_type1_limit);
	tcase_add_test(tc, type1_caps);
	tcase_add_test(tc, type1_chunking);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
