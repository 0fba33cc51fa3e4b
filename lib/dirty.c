// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty page tracking: the tracker, backend selection, query dispatch.
 *
 * A tracker covers one or more devices and their IOMMU context.  The kernel
 * offers three ways to learn which pages a device wrote; the tracker picks
 * one at creation and hands back one bitmap at any page size:
 *
 *   dma-logging  VFIO_DEVICE_FEATURE_DMA_LOGGING_* per device (dirty-dmalog.c)
 *   iommufd      IOMMU_HWPT_{SET_DIRTY_TRACKING,GET_DIRTY_BITMAP} on a HWPT
 *                allocated with DIRTY_TRACKING (dirty-iommufd.c)
 *   type1        VFIO_IOMMU_DIRTY_PAGES on the container (dirty-type1.c)
 *   all          every tracked page is dirty on every query (here)
 *
 * Automatic order: dma-logging when every device supports it, else iommufd
 * when the IOMMU of every device does, else type1 when the container has
 * the migration capability, else all.  opts->backend or the environment
 * variable VFIOMIG_DIRTY_BACKEND forces one.
 *
 * Queries: the caller's bitmap is cleared (unless ACCUMULATE), every
 * backend ORs into it through the scratch buffer at whatever page size the
 * kernel used, and a kernel failure marks the whole queried range dirty
 * before the error is returned, so a VMM that ignores the error still
 * loses no page.
 */
#include <stdlib.h>
#include <strings.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "dirty.h"
#include "ranges.h"

static const char *const backend_names[] = {
	[VFIOMIG_DIRTY_AUTO] = "auto",
	[VFIOMIG_DIRTY_DMA_LOGGING] = "dma-logging",
	[VFIOMIG_DIRTY_IOMMUFD] = "iommufd",
	[VFIOMIG_DIRTY_TYPE1] = "type1",
	[VFIOMIG_DIRTY_ALL] = "all",
};

VFIOMIG_EXPORT const char *vfiomig_dirty_backend_name(int backend)
{
	if (backend < 0 || (size_t)backend >= ARRAY_SIZE(backend_names))
		return NULL;
	return backend_names[backend];
}

/* "dma-logging", "DMA_LOGGING", "type1", ... -> number, or -EINVAL. */
static int parse_backend(const char *s)
{
	char buf[32];
	size_t i;

	for (i = 0; s[i] && i + 1 < sizeof(buf); i++)
		buf[i] = s[i] == '_' ? '-' : s[i];
	if (s[i])
		return -EINVAL;
	buf[i] = 0;
	for (size_t b = 0; b < ARRAY_SIZE(backend_names); b++)
		if (!strcasecmp(buf, backend_names[b]))
			return (int)b;
	return -EINVAL;
}

/* ------------------------------------------------------------ helpers */

uint64_t *vfm_dirty_scratch(struct vfiomig_dirty *tr, uint64_t nbits)
{
	memset(tr->scratch, 0, BITS_TO_WORDS(nbits) * sizeof(uint64_t));
	return tr->scratch;
}

int vfm_dirty_read_chunked(struct vfiomig_dirty *tr,
			   const struct vfiomig_range *r, size_t nr,
			   uint64_t iova, uint64_t length, uint64_t ps,
			   uint64_t *bm, uint64_t kps, vfm_dirty_read_fn fn,
			   void *arg)
{
	uint64_t end = iova + length, nbits = length / ps;
	/* A chunk's length n * kps must be a uint64_t too: at most 2^63
	 * (still a power of two, so chunks stay aligned). */
	uint64_t chunk_pages = vfm_dirty_scratch_bits(tr);

	if (chunk_pages > (UINT64_C(1) << 63) / kps)
		chunk_pages = (UINT64_C(1) << 63) / kps;

	for (size_t j = vfm_ranges_find(r, nr, iova);
	     j < nr && r[j].iova < end; j++) {
		uint64_t a = r[j].iova > iova ? r[j].iova : iova;
		uint64_t b = r[j].iova + r[j].length < end ?
				     r[j].iova + r[j].length : end;
		/* Pages of kps covering [a, b), as [p, plast] by index. */
		uint64_t p = a / kps, plast = (b - 1) / kps;

		while (p <= plast) {
			uint64_t next = (p / chunk_pages + 1) * chunk_pages;
			uint64_t n = (next - 1 < plast ? next - 1 : plast) -
				     p + 1;
			uint64_t *buf = vfm_dirty_scratch(tr, n);
			int ret = fn(tr, arg, p * kps, n * kps, kps, buf);

			if (ret)
				return ret;
			vfm_bitmap_merge(bm, iova, ps, nbits, buf, p * kps, kps,
					 n);
			p += n;
		}
	}
	return 0;
}

/* Page-aligned and a whole number of pages, so that a kernel that writes
 * a little past the bits asked for (whole pinned pages) stays inside. */
int vfm_dirty_scratch_reserve(struct vfiomig_dirty *tr, size_t bytes)
{
	void *p;

	bytes = (bytes + 4095) & ~(size_t)4095;
	if (tr->scratch && tr->scratch_bytes >= bytes)
		return 0;
	if (posix_memalign(&p, 4096, bytes))
		return -ENOMEM;
	free(tr->scratch);
	tr->scratch = p;
	tr->scratch_bytes = bytes;
	return 0;
}

int vfm_dirty_unmap_plain(struct vfiomig_dirty *tr, uint64_t iova,
			  uint64_t length)
{
	int ret;

	if (tr->container_fd >= 0) {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u),
			.iova = iova,
			.size = length,
		};

		ret = sys_ioctl(tr->container_fd, VFIO_IOMMU_UNMAP_DMA, &u);
		if (ret < 0)
			err(tr->ctx, "VFIO_IOMMU_UNMAP_DMA [%#" PRIx64 ", +%#" PRIx64
			    "): %s", iova, length, strerror(-ret));
		return ret < 0 ? ret : 0;
	}
	if (tr->iommufd >= 0 && tr->ioas_id) {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u),
			.ioas_id = tr->ioas_id,
			.iova = iova,
			.length = length,
		};

		ret = sys_ioctl(tr->iommufd, IOMMU_IOAS_UNMAP, &u);
		if (ret < 0)
			err(tr->ctx, "IOMMU_IOAS_UNMAP ioas %u [%#" PRIx64 ", +%#"
			    PRIx64 "): %s", tr->ioas_id, iova, length,
			    strerror(-ret));
		return ret < 0 ? ret : 0;
	}
	return -EOPNOTSUPP;
}

/* Drop [iova, iova + length) from the tracked ranges (after an unmap). */
int vfm_dirty_forget(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length)
{
	uint64_t end = iova + length;
	size_t i = vfm_ranges_find(tr->ranges, tr->nranges, iova);

	while (i < tr->nranges && tr->ranges[i].iova < end) {
		struct vfiomig_range *r = &tr->ranges[i];
		uint64_t rend = r->iova + r->length;

		if (r->iova < iova && rend > end) {
			/* Split in two. */
			struct vfiomig_range *n = realloc(tr->ranges,
				(tr->nranges + 1) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			tr->ranges = n;
			r = &n[i];
			memmove(&n[i + 1], &n[i],
				(tr->nranges - i) * sizeof(*n));
			tr->nranges++;
			r->length = iova - r->iova;
			n[i + 1].iova = end;
			n[i + 1].length = rend - end;
			return 0;
		}
		if (r->iova < iova) {
			r->length = iova - r->iova;
			i++;
		} else if (rend > end) {
			r->length = rend - end;
			r->iova = end;
			i++;
		} else {
			memmove(r, r + 1, (tr->nranges - i - 1) * sizeof(*r));
			tr->nranges--;
		}
	}
	return 0;
}

/* ------------------------------------------------- the all-dirty backend */

static int all_start(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	(void)tr;
	(void)page_size;
	return 0;
}

static int all_stop(struct vfiomig_dirty *tr)
{
	(void)tr;
	return 0;
}

static int all_query(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length,
		     uint64_t ps, uint64_t *bm, unsigned int flags)
{
	uint64_t end = iova + length;

	(void)flags;
	for (size_t i = vfm_ranges_find(tr->ranges, tr->nranges, iova);
	     i < tr->nranges && tr->ranges[i].iova < end; i++) {
		const struct vfiomig_range *r = &tr->ranges[i];
		uint64_t a = r->iova > iova ? r->iova : iova;
		uint64_t b = r->iova + r->length < end ? r->iova + r->length : end;
		uint64_t first = (a - iova) / ps;
		uint64_t last = (b - 1 - iova) / ps;

		vfm_bitmap_set(bm, first, last - first + 1);
	}
	return 0;
}

static const struct vfm_dirty_ops all_ops = {
	.backend = VFIOMIG_DIRTY_ALL,
	.start = all_start,
	.stop = all_stop,
	.query = all_query,
};

/* ------------------------------------------------------------- tracker */

static void tracker_free(struct vfiomig_dirty *tr)
{
	free(tr->ranges);
	free(tr->plan);
	free(tr->scratch);
	free(tr->dev_ids);
	free(tr->dd);
	free(tr->devs);
	free(tr);
}

/* Which IOMMU context the devices share (or opts name). */
static void find_context(struct vfiomig_dirty *tr, int opt_iommufd,
			 uint32_t opt_ioas)
{
	bool type1 = tr->ndevs > 0, ifd = tr->ndevs > 0;

	for (size_t i = 0; i < tr->ndevs; i++) {
		const struct vfiomig_device *d = tr->devs[i];
		const struct vfiomig_device *d0 = tr->devs[0];

		if (d->iommu_path != VFIOMIG_IOMMU_TYPE1 ||
		    d->container_fd < 0 || d->container_fd != d0->container_fd)
			type1 = false;
		if (d->iommu_path != VFIOMIG_IOMMU_IOMMUFD || d->iommufd < 0 ||
		    d->iommufd != d0->iommufd || d->ioas_id != d0->ioas_id)
			ifd = false;
	}
	if (type1)
		tr->container_fd = tr->devs[0]->container_fd;
	if (opt_iommufd > 0) {
		tr->iommufd = opt_iommufd;
		tr->ioas_id = opt_ioas;
		if (!tr->ioas_id && ifd && tr->devs[0]->iommufd == opt_iommufd)
			tr->ioas_id = tr->devs[0]->ioas_id;
	} else if (ifd) {
		tr->iommufd = tr->devs[0]->iommufd;
		tr->ioas_id = opt_ioas ? opt_ioas : tr->devs[0]->ioas_id;
	}
}

static int probe_backend(struct vfiomig_dirty *tr, int b, char *why,
			 size_t len)
{
	switch (b) {
	case VFIOMIG_DIRTY_DMA_LOGGING:
		return vfm_dmalog_probe(tr, why, len);
	case VFIOMIG_DIRTY_IOMMUFD:
		return vfm_iommufd_probe(tr, why, len);
	case VFIOMIG_DIRTY_TYPE1:
		return vfm_type1_probe(tr, why, len);
	default:
		snprintf(why, len, "every tracked page reported dirty on "
			 "every query");
		return 0;
	}
}

static const struct vfm_dirty_ops *backend_ops(int b)
{
	switch (b) {
	case VFIOMIG_DIRTY_DMA_LOGGING:
		return &vfm_dirty_dmalog_ops;
	case VFIOMIG_DIRTY_IOMMUFD:
		return &vfm_dirty_iommufd_ops;
	case VFIOMIG_DIRTY_TYPE1:
		return &vfm_dirty_type1_ops;
	default:
		return &all_ops;
	}
}

static void reason_add(struct vfiomig_dirty *tr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reason_add(struct vfiomig_dirty *tr, const char *fmt, ...)
{
	size_t off = strlen(tr->reason);
	va_list ap;

	if (off + 1 >= sizeof(tr->reason))
		return;
	va_start(ap, fmt);
	vsnprintf(tr->reason + off, sizeof(tr->reason) - off, fmt, ap);
	va_end(ap);
}

/*
 * forced: AUTO or the backend to use; by: who forced it (for messages).
 * The reason reads "<chosen>: <why>[; not <other>: <why not>]...".
 */
static int select_backend(struct vfiomig_dirty *tr, int forced,
			  const char *by, uint32_t hwpt_id)
{
	static const int order[] = {
		VFIOMIG_DIRTY_DMA_LOGGING, VFIOMIG_DIRTY_IOMMUFD,
		VFIOMIG_DIRTY_TYPE1, VFIOMIG_DIRTY_ALL,
	};
	char skipped[384] = "", why[256];
	size_t soff = 0;

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		int b = order[i], ret;

		if (forced != VFIOMIG_DIRTY_AUTO && b != forced)
			continue;
		why[0] = 0;
		ret = probe_backend(tr, b, why, sizeof(why));
		if (!ret && b == VFIOMIG_DIRTY_IOMMUFD) {
			ret = vfm_iommufd_setup(tr, hwpt_id);
			if (ret) {
				snprintf(why, sizeof(why), "dirty-tracking HWPT "
					 "setup failed: %s", strerror(-ret));
				if (forced != VFIOMIG_DIRTY_AUTO) {
					err(tr->ctx, "dirty tracking: backend %s "
					    "(forced by %s): %s",
					    backend_names[b], by, why);
					return ret;
				}
			}
		}
		if (!ret) {
			tr->backend = b;
			tr->ops = backend_ops(b);
			reason_add(tr, "%s: %s", backend_names[b], why);
			if (forced != VFIOMIG_DIRTY_AUTO)
				reason_add(tr, " (forced by %s)", by);
			if (skipped[0])
				reason_add(tr, "%s", skipped);
			info(tr->ctx, "dirty tracking: %s", tr->reason);
			return 0;
		}
		if (forced != VFIOMIG_DIRTY_AUTO) {
			err(tr->ctx, "dirty tracking: backend %s forced by %s is "
			    "not available: %s", backend_names[b], by, why);
			return -EOPNOTSUPP;
		}
		dbg(tr->ctx, "dirty tracking: not %s: %s", backend_names[b], why);
		if (soff < sizeof(skipped))
			soff += (size_t)snprintf(skipped + soff,
						 sizeof(skipped) - soff,
						 "; not %s: %s",
						 backend_names[b], why);
	}
	return -EOPNOTSUPP; /* not reached: "all" is always there */
}

VFIOMIG_EXPORT int vfiomig_dirty_new(struct vfiomig_device *const *devs,
				     size_t ndevs,
				     const struct vfiomig_dirty_opts *opts,
				     struct vfiomig_dirty **trp)
{
	const uint32_t *opt_ids = OPTS_GET(opts, dev_ids, NULL);
	size_t n_opt_ids = OPTS_GET(opts, n_dev_ids, 0);
	int backend = OPTS_GET(opts, backend, VFIOMIG_DIRTY_AUTO);
	int opt_iommufd = OPTS_GET(opts, iommufd, 0);
	struct vfiomig_ctx *ctx = OPTS_GET(opts, ctx, NULL);
	const char *by = "opts->backend";
	struct vfiomig_dirty *tr;
	int ret;

	if (!trp)
		return -EINVAL;
	*trp = NULL;
	ret = OPTS_CHECK(opts, vfiomig_dirty_opts);
	if (ret)
		return ret;
	if (OPTS_GET(opts, flags, 0) || backend < VFIOMIG_DIRTY_AUTO ||
	    backend > VFIOMIG_DIRTY_ALL || opt_iommufd < 0 ||
	    (n_opt_ids && !opt_ids) || (ndevs && !devs))
		return -EINVAL;
	for (size_t i = 0; i < ndevs; i++)
		if (!devs[i])
			return -EINVAL;
	if (!ndevs && !opt_iommufd)
		return -EINVAL; /* nothing to track */
	if (!ctx && ndevs)
		ctx = devs[0]->ctx;

	if (backend == VFIOMIG_DIRTY_AUTO) {
		const char *env = secure_getenv("VFIOMIG_DIRTY_BACKEND");

		if (env && *env) {
			backend = parse_backend(env);
			if (backend < 0) {
				err(ctx, "VFIOMIG_DIRTY_BACKEND=%s: unknown "
				    "backend (dma-logging, iommufd, type1, all, "
				    "auto)", env);
				return -EINVAL;
			}
			by = "VFIOMIG_DIRTY_BACKEND";
		}
	}

	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return -ENOMEM;
	tr->ctx = ctx;
	tr->container_fd = -1;
	tr->iommufd = -1;
	tr->ndevs = ndevs;
	tr->devs = calloc(ndevs ? ndevs : 1, sizeof(*tr->devs));
	tr->dd = calloc(ndevs ? ndevs : 1, sizeof(*tr->dd));
	tr->dev_ids = calloc(ndevs + n_opt_ids + 1, sizeof(*tr->dev_ids));
	if (!tr->devs || !tr->dd || !tr->dev_ids) {
		tracker_free(tr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ndevs; i++) {
		tr->devs[i] = devs[i];
		if (devs[i]->iommu_path == VFIOMIG_IOMMU_IOMMUFD &&
		    devs[i]->devid)
			tr->dev_ids[tr->n_dev_ids++] = devs[i]->devid;
	}
	tr->n_vfio_dev_ids = tr->n_dev_ids;
	for (size_t i = 0; i < n_opt_ids; i++)
		tr->dev_ids[tr->n_dev_ids++] = opt_ids[i];
	find_context(tr, opt_iommufd, OPTS_GET(opts, ioas_id, 0));

	ret = select_backend(tr, backend, by, OPTS_GET(opts, hwpt_id, 0));
	if (ret) {
		tracker_free(tr);
		return ret;
	}
	*trp = tr;
	return 0;
}

VFIOMIG_EXPORT void vfiomig_dirty_free(struct vfiomig_dirty *tr)
{
	if (!tr)
		return;
	if (tr->started)
		vfiomig_dirty_stop(tr);
	if (tr->ops && tr->ops->release)
		tr->ops->release(tr);
	tracker_free(tr);
}

VFIOMIG_EXPORT int vfiomig_dirty_backend(const struct vfiomig_dirty *tr)
{
	return tr ? tr->backend : -EINVAL;
}

VFIOMIG_EXPORT const char *vfiomig_dirty_reason(const struct vfiomig_dirty *tr)
{
	return tr ? tr->reason : NULL;
}

VFIOMIG_EXPORT int vfiomig_dirty_hwpt_id(const struct vfiomig_dirty *tr)
{
	if (!tr)
		return -EINVAL;
	return tr->backend == VFIOMIG_DIRTY_IOMMUFD && tr->hwpt_id ?
		       (int)tr->hwpt_id : -ENOENT;
}

/* Free what start() took: the ranges, the DMA logging plan, the scratch
 * buffer. */
static void drop_started(struct vfiomig_dirty *tr)
{
	free(tr->ranges);
	tr->ranges = NULL;
	tr->nranges = 0;
	free(tr->plan);
	tr->plan = NULL;
	tr->nplan = 0;
	free(tr->scratch);
	tr->scratch = NULL;
	tr->scratch_bytes = 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct vfiomig_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

VFIOMIG_EXPORT int vfiomig_dirty_start(struct vfiomig_dirty *tr,
				       const struct vfiomig_range *ranges,
				       size_t nranges, uint64_t *page_size)
{
	struct vfiomig_range *r;
	uint64_t ps, end;
	size_t bytes;
	int ret;

	if (!tr || !ranges || !nranges || !page_size)
		return -EINVAL;
	ps = *page_size ? *page_size : 4096;
	if (!vfm_is_pow2(ps) || ps < 4096) {
		err(tr->ctx, "dirty start: page size %#" PRIx64 " is not a "
		    "power of two >= 4096", ps);
		return -EINVAL;
	}
	if (tr->started) {
		err(tr->ctx, "dirty start: tracking already started");
		return -EBUSY;
	}
	if (!vfm_array_bytes(nranges, sizeof(*r), &bytes))
		return -EINVAL; /* no such array */
	r = malloc(bytes);
	if (!r)
		return -ENOMEM;
	memcpy(r, ranges, bytes);
	qsort(r, nranges, sizeof(*r), cmp_range);
	for (size_t i = 0; i < nranges; i++) {
		const char *why = NULL;

		ret = -EINVAL;
		if (!r[i].length || r[i].iova % 4096 || r[i].length % 4096) {
			why = "empty or not 4 KiB aligned";
		} else if (!vfm_range_end(r[i].iova, r[i].length, &end)) {
			why = "does not end below 2^64";
			ret = -EOVERFLOW;
		} else if (i && r[i - 1].iova + r[i - 1].length > r[i].iova) {
			why = "overlaps another range";
		}
		if (why) {
			err(tr->ctx, "dirty start: range [%#" PRIx64 ", +%#"
			    PRIx64 "): %s", r[i].iova, r[i].length, why);
			free(r);
			return ret;
		}
	}
	tr->ranges = r;
	tr->nranges = nranges;
	ret = vfm_dirty_scratch_reserve(tr, VFM_DIRTY_SCRATCH_BYTES);
	if (!ret)
		ret = tr->ops->start(tr, &ps);
	if (ret) {
		drop_started(tr);
		return ret;
	}
	tr->page_size = ps;
	tr->started = true;
	*page_size = ps;
	dbg(tr->ctx, "dirty tracking started: %s, %zu ranges, page size %#"
	    PRIx64, backend_names[tr->backend], nranges, ps);
	return 0;
}

VFIOMIG_EXPORT int vfiomig_dirty_stop(struct vfiomig_dirty *tr)
{
	int ret;

	if (!tr)
		return -EINVAL;
	if (!tr->started)
		return 0;
	ret = tr->ops->stop(tr);
	tr->started = false;
	drop_started(tr);
	return ret;
}

/* Arguments common to query and unmap, all checked before the bitmap or
 * the kernel is touched; *bytes: the bitmap's size. 0 or -errno. */
static int check_query(struct vfiomig_dirty *tr, uint64_t iova,
		       uint64_t length, uint64_t page_size,
		       const uint64_t *bitmap, size_t *bytes, const char *what)
{
	uint64_t end;
	bool wraps;

	if (!vfm_is_pow2(page_size) || page_size < 4096 || !length ||
	    iova % page_size || length % page_size) {
		err(tr->ctx, "dirty %s: [%#" PRIx64 ", +%#" PRIx64 ") at page "
		    "size %#" PRIx64 ": page size must be a power of two >= "
		    "4096, the range non-empty and aligned to it", what, iova,
		    length, page_size);
		return -EINVAL;
	}
	wraps = !vfm_range_end(iova, length, &end);
	if (wraps || !vfm_bitmap_bytes(length / page_size, bytes)) {
		err(tr->ctx, "dirty %s: [%#" PRIx64 ", +%#" PRIx64 ") at page "
		    "size %#" PRIx64 ": %s", what, iova, length, page_size,
		    wraps ? "does not end below 2^64" :
			    "its bitmap does not fit in memory");
		return -EOVERFLOW;
	}
	if (!bitmap)
		return -EINVAL;
	if (!tr->started) {
		err(tr->ctx, "dirty %s: tracking is not started", what);
		return -EINVAL;
	}
	if (tr->ops->check_range)
		return tr->ops->check_range(tr, iova, length);
	return 0;
}

VFIOMIG_EXPORT int vfiomig_dirty_query(struct vfiomig_dirty *tr, uint64_t iova,
				       uint64_t length, uint64_t page_size,
				       uint64_t *bitmap, unsigned int flags)
{
	uint64_t nbits;
	size_t bytes;
	int ret;

	if (!tr || flags & ~(VFIOMIG_DIRTY_ACCUMULATE | VFIOMIG_DIRTY_NO_CLEAR))
		return -EINVAL;
	ret = check_query(tr, iova, length, page_size, bitmap, &bytes,
			  "query");
	if (ret)
		return ret;
	nbits = length / page_size;
	if (!(flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(bitmap, 0, bytes);
	ret = tr->ops->query(tr, iova, length, page_size, bitmap, flags);
	if (ret < 0) {
		/* The log is unreliable now: lose nothing. */
		err(tr->ctx, "dirty query [%#" PRIx64 ", +%#" PRIx64 ") failed "
		    "(%s): reporting every page of it dirty", iova, length,
		    strerror(-ret));
		vfm_bitmap_set(bitmap, 0, nbits);
	}
	return ret < 0 ? ret : 0;
}

VFIOMIG_EXPORT int vfiomig_dirty_unmap(struct vfiomig_dirty *tr, uint64_t iova,
				       uint64_t length, uint64_t page_size,
				       uint64_t *bitmap, unsigned int flags)
{
	uint64_t nbits;
	size_t bytes;
	int ret;

	if (!tr || flags & ~VFIOMIG_DIRTY_ACCUMULATE)
		return -EINVAL;
	ret = check_query(tr, iova, length, page_size, bitmap, &bytes,
			  "unmap");
	if (ret)
		return ret;
	if (tr->container_fd < 0 && (tr->iommufd < 0 || !tr->ioas_id)) {
		err(tr->ctx, "dirty unmap: the tracker has no IOMMU context "
		    "(container or IOAS) to unmap from");
		return -EOPNOTSUPP;
	}
	nbits = length / page_size;
	if (!(flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(bitmap, 0, bytes);
	if (tr->ops->unmap) {
		ret = tr->ops->unmap(tr, iova, length, page_size, bitmap);
	} else {
		/* Read what is dirty without clearing (the IOPTEs go away
		 * with the unmap anyway), then unmap. */
		ret = tr->ops->query(tr, iova, length, page_size, bitmap,
				     VFIOMIG_DIRTY_NO_CLEAR);
		if (!ret)
			ret = vfm_dirty_unmap_plain(tr, iova, length);
		if (!ret)
			ret = vfm_dirty_forget(tr, iova, length);
	}
	if (ret < 0) {
		err(tr->ctx, "dirty unmap [%#" PRIx64 ", +%#" PRIx64 ") failed "
		    "(%s): reporting every page of it dirty", iova, length,
		    strerror(-ret));
		vfm_bitmap_set(bitmap, 0, nbits);
	}
	return ret < 0 ? ret : 0;
}
