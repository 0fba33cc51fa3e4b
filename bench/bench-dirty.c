// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-dirty: vfiomig_dirty_query and vfiomig_dirty_unmap on the fake
 * kernel (linked in, as the tests do) against the same raw ioctls written
 * straight into the caller's bitmap, in one process:
 *
 *   DMA logging, 1 and 2 devices, with and without ACCUMULATE:
 *     memset (without ACCUMULATE) + one DMA_LOGGING_REPORT per device into
 *     the caller's bitmap
 *   DMA logging converting from the 4K the devices log at to 2M / 64K
 *     pages: the same raw REPORTs at the caller's page size (REPORT takes
 *     any power of two: the kernel's iova_bitmap converts)
 *   iommufd: memset + one IOMMU_HWPT_GET_DIRTY_BITMAP over the guest; the
 *     tracker holds the guest as 1024 touching 1 GiB ranges (one GET per
 *     contiguous stretch, not per range)
 *   iommufd converting to 2M: one raw GET_DIRTY_BITMAP at 2M
 *   Type1: memset + one GET_BITMAP of the 1 TiB mapping into the caller's
 *     bitmap; with ACCUMULATE (the kernel writes whole words, so the raw
 *     caller reads into a zeroed buffer of its own and ORs it in: its
 *     buffer allocated once, outside the timing); converting to 2M (Type1
 *     reads at the IOMMU's page size only: the raw caller folds its own
 *     buffer, 8 words a bit)
 *   65535 unmaps, first to last (Type1, one page each): the raw
 *     UNMAP_DMA with GET_DIRTY_BITMAP into the caller's bitmap
 *
 * on a 1 TiB guest at 4 KiB pages (32 MiB of bitmap), 2048 dirty spans of
 * 1-64 pages re-dirtied (untimed) before every run.  Results of library and
 * baseline are compared before timing (test-dirty checks the library
 * against a model).  Runs alternate baseline/library
 * (the order flips every pair); ratio = baseline time / library time (> 1:
 * library faster); min = best baseline / best library, median = median of
 * the per-pair ratios.  Not a test: nothing asserts a time.  The fake's
 * own cost (REPORT walks its dirty intervals word-wise) is in both.
 *
 * Besides the human-readable table, one machine-readable line per path:
 *   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
 * and the tracker's scratch bytes per backend at 1 TiB:
 *   SCRATCH\t<backend>\t<bytes>
 *
 * usage: bench-dirty [--quick] [-r pairs (default 15)] [-p name]
 *   --quick  a 16 GiB guest, 5 pairs, 4095 unmaps: a few seconds
 *   -p name  only the paths whose name contains it
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake.h"
#include "vfiomig.h"
#include "bench.h"

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)

#define PCI0 "0000:3b:00.1"
#define PCI1 "0000:3b:00.2"
#define MTTY0 "83b8f4f2-509f-382f-3c1e-e6bfe0fa2001"

#define NSPANS 2048
#define MAXREPS 101

static uint64_t guest = 1 * TiB;
static int reps = 15;
static unsigned int nunmaps = 65535;
static struct vfiomig_ctx *ctx;

static uint64_t rng = BENCH_RND_SEED;
#define rnd() bench_rnd(&rng)

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench-dirty: %s: %s\n", what, strerror(ret < 0 ? -ret : ret));
	exit(1);
}

/* ------------------------------------------------------------ a path */

struct path {
	const char *name;
	const char *baseline;
	const char *goal;
	void (*prep)(struct path *p);  /* untimed: dirty the pages again */
	void (*base)(struct path *p);
	void (*lib)(struct path *p);
	/* state */
	struct vfiomig_dirty *tr;
	struct vfiomig_device *dev[2];
	int ndev, id[2];
	int fd;              /* iommufd or container */
	uint32_t hwpt;
	uint64_t ps;         /* the caller's page size */
	uint64_t iova0;      /* where the guest starts in IOVA space */
	unsigned int flags;  /* the library's query flags */
	uint64_t *bm;        /* the caller's bitmap (library and baseline) */
	uint64_t *raw;       /* the raw caller's own buffer (Type1 ACCUMULATE) */
};

static struct {
	uint64_t a, len;
} spans[NSPANS];

static void make_spans(void)
{
	for (int i = 0; i < NSPANS; i++) {
		spans[i].a = rnd() % (guest / 4096) * 4096;
		spans[i].len = (1 + rnd() % 64) * 4096;
		if (spans[i].a + spans[i].len > guest)
			spans[i].len = guest - spans[i].a;
	}
}

static void prep_devs(struct path *p)
{
	for (int d = 0; d < p->ndev; d++)
		for (int i = 0; i < NSPANS; i++)
			fake_dev_dma_write(p->id[d], spans[(i + d * 7) % NSPANS].a,
					   spans[(i + d * 7) % NSPANS].len / (d + 1));
}

static void prep_iommu(struct path *p)
{
	for (int i = 0; i < NSPANS; i++)
		fake_dma_write(p->iova0 + spans[i].a, spans[i].len);
}

static void lib_query(struct path *p)
{
	int ret = vfiomig_dirty_query(p->tr, p->iova0, guest, p->ps, p->bm,
				      p->flags);

	if (ret)
		die("vfiomig_dirty_query", ret);
}

static uint64_t bm_bytes(uint64_t ps)
{
	return (guest / ps + 63) / 64 * 8;
}

/* ------------------------------------------------------- DMA logging */

static void raw_report(struct path *p, int d, uint64_t *buf, uint64_t ps)
{
	/* struct vfio_device_feature and its payload */
	struct {
		uint32_t argsz, flags;
		struct vfio_device_feature_dma_logging_report r;
	} a = {
		.argsz = sizeof(a),
		.flags = VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		.r = {
			.iova = 0,
			.length = guest,
			.page_size = ps,
			.bitmap = (uintptr_t)buf,
		},
	};

	if (ioctl(vfiomig_device_fd(p->dev[d]), VFIO_DEVICE_FEATURE, &a))
		die("DMA_LOGGING_REPORT", errno);
}

/* The raw caller: clears its bitmap (unless accumulating) and lets the
 * kernel write every device's bits into it. */
static void base_dmalog(struct path *p)
{
	if (!(p->flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(p->bm, 0, bm_bytes(p->ps));
	for (int d = 0; d < p->ndev; d++)
		raw_report(p, d, p->bm, p->ps);
}

_Static_assert(sizeof(struct vfio_device_feature) == 8, "feature header");

/* ----------------------------------------------------------- iommufd */

static void raw_get(struct path *p, uint64_t *buf)
{
	struct iommu_hwpt_get_dirty_bitmap g = {
		.size = sizeof(g),
		.hwpt_id = p->hwpt,
		.iova = p->iova0,
		.length = guest,
		.page_size = p->ps,
		.data = (uintptr_t)buf,
	};

	if (ioctl(p->fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &g))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP", errno);
}

static void base_iommufd(struct path *p)
{
	memset(p->bm, 0, bm_bytes(p->ps));
	raw_get(p, p->bm);
}

/* ------------------------------------------------------------- Type1 */

struct t1_get {
	uint32_t argsz, flags;
	struct vfio_iommu_type1_dirty_bitmap_get get;
};

static void raw_t1_get(struct path *p, uint64_t iova, uint64_t size,
		       uint64_t *buf)
{
	struct t1_get a = {
		.argsz = sizeof(a),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		.get = {
			.iova = iova,
			.size = size,
			.bitmap = {
				.pgsize = 4096,
				.size = (size / 4096 + 63) / 64 * 8,
				.data = (__u64 *)buf,
			},
		},
	};

	if (ioctl(p->fd, VFIO_IOMMU_DIRTY_PAGES, &a))
		die("VFIO_IOMMU_DIRTY_PAGES GET_BITMAP", errno);
}

static void base_type1(struct path *p)
{
	memset(p->bm, 0, bm_bytes(4096));
	raw_t1_get(p, 0, guest, p->bm);
}

/* The kernel writes whole words: an accumulating raw caller reads into a
 * zeroed buffer of its own and ORs it in. */
static void base_type1_acc(struct path *p)
{
	uint64_t n = bm_bytes(4096) / 8;

	memset(p->raw, 0, n * 8);
	raw_t1_get(p, 0, guest, p->raw);
	for (uint64_t i = 0; i < n; i++)
		p->bm[i] |= p->raw[i];
}

/* Type1 reads at the IOMMU's page size only: the raw caller converting to
 * 2M reads into its own buffer and folds each 8 words into a bit. */
static void base_type1_2m(struct path *p)
{
	uint64_t n = bm_bytes(2 * MiB) / 8, *src = p->raw;

	memset(p->raw, 0, bm_bytes(4096));
	raw_t1_get(p, 0, guest, p->raw);
	for (uint64_t w = 0; w < n; w++) {
		uint64_t v = 0;

		for (unsigned int j = 0; j < 64; j++, src += 8)
			v |= (uint64_t)((src[0] | src[1] | src[2] | src[3] |
					 src[4] | src[5] | src[6] | src[7]) != 0)
			     << j;
		p->bm[w] = v;
	}
}

/* ------------------------------------------------------------ unmaps */

/* struct vfio_iommu_type1_dma_unmap and its struct vfio_bitmap */
struct t1_unmap {
	uint32_t argsz, flags;
	uint64_t iova, size;
	struct vfio_bitmap b;
};
_Static_assert(sizeof(struct t1_unmap) ==
	       sizeof(struct vfio_iommu_type1_dma_unmap) +
	       sizeof(struct vfio_bitmap), "t1_unmap");

static struct vfiomig_range *unmap_ranges;

static void prep_unmaps(struct path *p)
{
	uint64_t ps = 4096;
	int ret;

	vfiomig_dirty_stop(p->tr);
	ret = vfiomig_dirty_start(p->tr, unmap_ranges, nunmaps, &ps);
	if (ret)
		die("vfiomig_dirty_start (unmaps)", ret);
}

static void base_unmaps(struct path *p)
{
	for (unsigned int i = 0; i < nunmaps; i++) {
		struct t1_unmap a = {
			.argsz = sizeof(a),
			.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP,
			.iova = unmap_ranges[i].iova,
			.size = 4096,
			.b = { .pgsize = 4096, .size = 8, .data = (__u64 *)p->bm },
		};

		p->bm[0] = 0;
		if (ioctl(p->fd, VFIO_IOMMU_UNMAP_DMA, &a))
			die("VFIO_IOMMU_UNMAP_DMA", errno);
	}
}

static void lib_unmaps(struct path *p)
{
	for (unsigned int i = 0; i < nunmaps; i++) {
		int ret = vfiomig_dirty_unmap(p->tr, unmap_ranges[i].iova, 4096,
					      4096, p->bm, 0);

		if (ret)
			die("vfiomig_dirty_unmap", ret);
	}
}

/* ---------------------------------------------------------- measuring */

static void measure(struct path *p)
{
	double tb[MAXREPS], tl[MAXREPS], r[MAXREPS], bmin, lmin, bmed, lmed;

	/* one warm-up pair, not counted */
	p->prep(p);
	p->base(p);
	p->prep(p);
	p->lib(p);
	for (int i = 0; i < reps; i++) {
		for (int k = 0; k < 2; k++) {
			bool lib = (k == 0) == (i % 2 == 1);
			double t0;

			p->prep(p);
			t0 = bench_cpu_now();
			if (lib)
				p->lib(p);
			else
				p->base(p);
			(lib ? tl : tb)[i] = bench_cpu_now() - t0;
		}
		r[i] = tb[i] / tl[i];
	}
	qsort(r, (size_t)reps, sizeof(double), bench_cmp_double);
	qsort(tb, (size_t)reps, sizeof(double), bench_cmp_double);
	qsort(tl, (size_t)reps, sizeof(double), bench_cmp_double);
	bmin = tb[0];
	lmin = tl[0];
	bmed = tb[reps / 2];
	lmed = tl[reps / 2];
	printf("%-34s base %8.3f / %8.3f ms  lib %8.3f / %8.3f ms  ratio "
	       "%.2f / %.2f (min / median)\n", p->name, bmin * 1e3, bmed * 1e3,
	       lmin * 1e3, lmed * 1e3, bmin / lmin, r[reps / 2]);
	printf("RATIO\t%s\t%s\t%.2f\t%.2f\t%s\n", p->name, p->baseline,
	       bmin / lmin, r[reps / 2], p->goal);
	fflush(stdout);
}

/* Library and baseline agree on the same dirty pages (conversion: the
 * library's bitmap is the baseline's converted). */
static void verify(struct path *p)
{
	uint64_t bytes = bm_bytes(p->ps);
	uint64_t *want = malloc(bytes);
	if (!want)
		die("malloc", ENOMEM);
	memset(p->bm, 0, bytes);
	p->prep(p);
	p->base(p);
	memcpy(want, p->bm, bytes);
	memset(p->bm, 0, bytes);
	p->prep(p);
	p->lib(p);
	if (memcmp(want, p->bm, bytes)) {
		fprintf(stderr, "bench-dirty: %s: library and baseline bitmaps "
			"differ\n", p->name);
		exit(1);
	}
	free(want);
}

static const char *only; /* -p: only paths whose name contains this */

static void run(struct path *p)
{
	if (only && !strstr(p->name, only))
		return;
	verify(p);
	measure(p);
}

/* ------------------------------------------------------------ machines */

static void machine(void)
{
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };
	int ret;

	ret = fake_init(true);
	if (ret)
		die("fake_init", ret);
	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ret = vfiomig_ctx_new(&o, &ctx);
	if (ret)
		die("vfiomig_ctx_new", ret);
}

static void machine_end(void)
{
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	fake_fini();
}

static int add_pci(const char *bdf, int group, int cdev, bool log_ops,
		   bool hw_dirty)
{
	struct fake_dev_cfg cfg;
	int id;

	fake_cfg_pci(&cfg, bdf, group, cdev, VFIOMIG_MIG_STOP_COPY |
						     VFIOMIG_MIG_P2P);
	cfg.log_ops = log_ops;
	cfg.hw_dirty = hw_dirty;
	id = fake_add_device(&cfg);
	if (id < 0)
		die("fake_add_device", id);
	return id;
}

static struct vfiomig_device *open_dev(const char *name, int path,
				       int share_fd, uint32_t ioas)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path, .iommu_fd = share_fd,
		     .ioas_id = ioas);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(ctx, name, &o, &dev);

	if (ret)
		die(name, ret);
	return dev;
}

static struct vfiomig_dirty *tracker(struct vfiomig_device **devs, size_t n,
				     int backend)
{
	VFIOMIG_OPTS(vfiomig_dirty_opts, o, .backend = backend);
	struct vfiomig_dirty *tr = NULL;
	int ret = vfiomig_dirty_new(devs, n, &o, &tr);

	if (ret)
		die("vfiomig_dirty_new", ret);
	return tr;
}

static void start(struct vfiomig_dirty *tr, const struct vfiomig_range *r,
		  size_t n)
{
	uint64_t ps = 4096;
	int ret = vfiomig_dirty_start(tr, r, n, &ps);

	if (ret)
		die("vfiomig_dirty_start", ret);
}

static uint64_t *alloc_bm(uint64_t bytes)
{
	uint64_t *bm = malloc(bytes);

	if (!bm)
		die("malloc", ENOMEM);
	memset(bm, 0, bytes); /* faulted in before any timing */
	return bm;
}

/* Heap bytes in use (the library allocates with malloc). */
static size_t heap_now(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* What vfiomig_dirty_start() kept on the heap: the tracker's scratch, its
 * copy of the ranges and the DMA logging plan (the fake allocates nothing
 * in the kernel calls measured: Type1 tracking is started raw first). */
static void scratch_line(const char *backend, size_t before)
{
	printf("SCRATCH\t%s\t%zu\t(tracker heap after start at %" PRIu64
	       " GiB, ranges included)\n", backend, heap_now() - before,
	       (uint64_t)(guest / GiB));
}

static void bench_dmalog(void)
{
	struct path p = { 0 };
	struct vfiomig_range whole = { 0, guest };
	int cfd;

	machine();
	p.id[0] = add_pci(PCI0, 10, -1, true, false);
	p.id[1] = add_pci(PCI1, 11, -1, true, false);
	p.dev[0] = open_dev(PCI0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	cfd = vfiomig_device_iommu_fd(p.dev[0]);
	p.dev[1] = open_dev(PCI1, VFIOMIG_IOMMU_TYPE1, cfd, 0);
	p.bm = alloc_bm(bm_bytes(4096));
	p.raw = alloc_bm(bm_bytes(4096));
	p.prep = prep_devs;
	p.base = base_dmalog;
	p.lib = lib_query;
	p.goal = ">=0.8";

	for (int n = 1; n <= 2; n++) {
		p.ndev = n;
		size_t before;

		p.tr = tracker(p.dev, (size_t)n, VFIOMIG_DIRTY_DMA_LOGGING);
		before = heap_now();
		start(p.tr, &whole, 1);
		if (n == 1)
			scratch_line("dma-logging", before);
		p.ps = 4096;
		p.flags = 0;
		p.name = n == 1 ? "query dmalog 1dev 4K" : "query dmalog 2dev 4K";
		p.baseline = "memset+raw REPORT per device into caller bitmap";
		run(&p);
		p.flags = VFIOMIG_DIRTY_ACCUMULATE;
		p.name = n == 1 ? "query dmalog 1dev 4K ACCUMULATE" :
				  "query dmalog 2dev 4K ACCUMULATE";
		p.baseline = "raw REPORT per device into caller bitmap";
		run(&p);
		for (int c = 0; c < 2; c++) {
			p.ps = c ? 64 * KiB : 2 * MiB;
			p.flags = 0;
			/* REPORT takes any page size (iova_bitmap): the raw
			 * caller asks for the caller's */
			p.baseline = "memset+raw REPORT per device at the "
				     "caller's page size into caller bitmap";
			p.goal = ">=0.5";
			p.name = n == 1 ? (c ? "query dmalog 1dev 4K->64K" :
					      "query dmalog 1dev 4K->2M") :
					  (c ? "query dmalog 2dev 4K->64K" :
					       "query dmalog 2dev 4K->2M");
			run(&p);
			p.goal = ">=0.8";
		}
		vfiomig_dirty_free(p.tr);
	}
	vfiomig_device_free(p.dev[1]);
	vfiomig_device_free(p.dev[0]);
	free(p.bm);
	free(p.raw);
	machine_end();
}

static void bench_iommufd(void)
{
	struct path p = { 0 };
	struct vfiomig_range *r;
	uint32_t devid, ioas;
	size_t nr = 1024, before;
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		/* Nothing of the process there (the fake checks a pinned
		 * range against /proc/self/maps; 0x7f... holds libraries). */
		.user_va = 0x200000000000ULL,
		.length = guest,
		.iova = 0,
	};
	int ret;

	machine();
	add_pci(PCI0, 10, 0, false, true);
	/* Above 4 GiB, as a VMM places RAM that does not fit below the PCI
	 * hole: a PCI function's MSI window is reserved in its IOAS. */
	p.iova0 = 4ULL << 30;
	m.iova = p.iova0;
	p.dev[0] = open_dev(PCI0, VFIOMIG_IOMMU_IOMMUFD, 0, 0);
	p.fd = vfiomig_device_iommu_fd(p.dev[0]);
	ret = vfiomig_device_iommufd_ids(p.dev[0], &devid, &ioas, NULL);
	if (ret)
		die("vfiomig_device_iommufd_ids", ret);
	m.ioas_id = ioas;
	if (ioctl(p.fd, IOMMU_IOAS_MAP, &m))
		die("IOMMU_IOAS_MAP", errno);
	p.tr = tracker(p.dev, 1, VFIOMIG_DIRTY_IOMMUFD);
	p.hwpt = (uint32_t)vfiomig_dirty_hwpt_id(p.tr);
	/* the guest as touching ranges (as a VMM's RAM slots) */
	r = calloc(nr, sizeof(*r));
	if (!r)
		die("calloc", ENOMEM);
	for (size_t i = 0; i < nr; i++) {
		r[i].iova = p.iova0 + guest / nr * i;
		r[i].length = guest / nr;
	}
	before = heap_now();
	start(p.tr, r, nr);
	scratch_line("iommufd", before);
	free(r);
	p.bm = alloc_bm(bm_bytes(4096));
	p.ps = 4096;
	p.prep = prep_iommu;
	p.base = base_iommufd;
	p.lib = lib_query;
	p.name = "query iommufd 4K (1024 ranges)";
	p.baseline = "memset+one raw GET_DIRTY_BITMAP into caller bitmap";
	p.goal = ">=0.8";
	run(&p);
	/* GET_DIRTY_BITMAP takes any page size too */
	p.ps = 2 * MiB;
	p.name = "query iommufd 4K->2M (1024 ranges)";
	p.baseline = "memset+one raw GET_DIRTY_BITMAP at 2M into caller bitmap";
	p.goal = ">=0.5";
	run(&p);
	vfiomig_dirty_free(p.tr);
	vfiomig_device_free(p.dev[0]);
	free(p.bm);
	machine_end();
}

static void bench_type1(void)
{
	struct path p = { 0 };
	struct vfiomig_range whole = { 0, guest };
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = 0x7f0000000000ULL,
		.iova = 0,
		.size = guest,
	};
	struct fake_dev_cfg cfg;
	int id;

	machine();
	fake_cfg_mtty(&cfg, MTTY0, 2, 12, 2);
	id = fake_add_device(&cfg);
	if (id < 0)
		die("fake_add_device", id);
	p.dev[0] = open_dev(MTTY0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	p.fd = vfiomig_device_iommu_fd(p.dev[0]);
	if (ioctl(p.fd, VFIO_IOMMU_MAP_DMA, &m))
		die("VFIO_IOMMU_MAP_DMA", errno);
	p.tr = tracker(p.dev, 1, VFIOMIG_DIRTY_TYPE1);
	{
		struct vfio_iommu_type1_dirty_bitmap db = {
			.argsz = sizeof(db),
			.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
		};
		size_t before;

		if (ioctl(p.fd, VFIO_IOMMU_DIRTY_PAGES, &db))
			die("VFIO_IOMMU_DIRTY_PAGES START", errno);
		before = heap_now();
		start(p.tr, &whole, 1);
		scratch_line("type1", before);
	}
	p.bm = alloc_bm(bm_bytes(4096));
	p.raw = alloc_bm(bm_bytes(4096));
	p.ps = 4096;
	p.prep = prep_iommu;
	p.base = base_type1;
	p.lib = lib_query;
	p.name = "query type1 4K (one mapping)";
	p.baseline = "memset+raw GET_BITMAP into caller bitmap";
	p.goal = ">=0.8";
	run(&p);
	p.flags = VFIOMIG_DIRTY_ACCUMULATE;
	p.base = base_type1_acc;
	p.name = "query type1 4K ACCUMULATE";
	p.baseline = "raw GET_BITMAP into own zeroed buffer + OR loop";
	p.goal = "-";
	run(&p);
	p.flags = 0;
	p.ps = 2 * MiB;
	p.base = base_type1_2m;
	p.name = "query type1 4K->2M";
	p.baseline = "raw GET_BITMAP into own zeroed buffer + 8-word fold loop";
	p.goal = ">=0.5";
	run(&p);
	vfiomig_dirty_free(p.tr);
	vfiomig_device_free(p.dev[0]);
	free(p.bm);
	free(p.raw);
	machine_end();
}

static void bench_unmaps(void)
{
	static char name[64];
	struct path p = { 0 };
	struct fake_dev_cfg cfg;
	int id;

	machine();
	fake_cfg_mtty(&cfg, MTTY0, 2, 12, 2);
	id = fake_add_device(&cfg);
	if (id < 0)
		die("fake_add_device", id);
	p.dev[0] = open_dev(MTTY0, VFIOMIG_IOMMU_TYPE1, 0, 0);
	p.fd = vfiomig_device_iommu_fd(p.dev[0]);
	/* The tracker's bookkeeping is what is measured: the fake holds no
	 * mapping, so its UNMAP_DMA costs the same small amount in both. */
	unmap_ranges = calloc(nunmaps, sizeof(*unmap_ranges));
	if (!unmap_ranges)
		die("calloc", ENOMEM);
	for (unsigned int i = 0; i < nunmaps; i++) {
		unmap_ranges[i].iova = (uint64_t)i * 2 * 4096;
		unmap_ranges[i].length = 4096;
	}
	p.tr = tracker(p.dev, 1, VFIOMIG_DIRTY_TYPE1);
	start(p.tr, unmap_ranges, nunmaps);
	p.bm = alloc_bm(64);
	p.ps = 4096;
	p.prep = prep_unmaps;
	p.base = base_unmaps;
	p.lib = lib_unmaps;
	snprintf(name, sizeof(name), "unmap type1 x%u first-to-last", nunmaps);
	p.name = name;
	p.baseline = "raw UNMAP_DMA+GET_DIRTY_BITMAP per range";
	p.goal = "-";
	if (!only || strstr(p.name, only))
		measure(&p);
	vfiomig_dirty_free(p.tr);
	vfiomig_device_free(p.dev[0]);
	free(p.bm);
	free(unmap_ranges);
	machine_end();
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "qr:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			only = optarg;
			break;
		case 'q':
			guest = 16 * GiB;
			reps = 5;
			nunmaps = 4095;
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAXREPS) {
				fprintf(stderr, "bench-dirty: -r 1..%d\n",
					MAXREPS);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: bench-dirty [--quick] [-r pairs] [-p name]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	make_spans();
	printf("bench-dirty: %" PRIu64 " GiB guest at 4 KiB pages (%" PRIu64
	       " KiB of bitmap), %d dirty spans, %d pairs\n", (uint64_t)(guest / GiB),
	       (uint64_t)(bm_bytes(4096) / KiB), NSPANS, reps);
	bench_dmalog();
	bench_iommufd();
	bench_type1();
	bench_unmaps();
	return 0;
}
