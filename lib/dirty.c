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
 *   mig-v1       the migration v1 region's dirty pfns (dirty-v1.c)
 *
 * Automatic order: dma-logging when every device supports it, else mig-v1
 * when every device speaks v1 with the dirty pfns, else iommufd
 * when the IOMMU of every device does, else type1 when the container has
 * the migration capability, else all.  opts->backend or the environment
 * variable VFIOMIG_DIRTY_BACKEND forces one.
 *
 * Started without ranges, a tracker follows the library's mappings in its
 * IOMMU contexts (dma.c calls it under the context's lock, so the lock
 * order is context, then tracker): a new mapping is added to its ranges,
 * and DMA logging, whose ranges are fixed at START, restarts on a new
 * plan when the mapping falls outside the old one.  The STOP drops what
 * the devices logged; a REPORT first would not save it (a write logged
 * between the REPORT and the STOP would still be dropped), so every page
 * tracked before is kept as a pending span (tr->pending, O(ranges)) and
 * reported dirty by the next query or unmap covering it.
 *
 * Queries: the caller's bitmap is cleared (unless ACCUMULATE), then the
 * one query loop below asks each backend's read primitive for stretches of
 * the tracked ranges, following the backend's chunk rule: the kernel
 * writes straight into the caller's bitmap where the page sizes match and
 * the bits start a word, through the scratch buffer (1 MiB) otherwise.  A
 * kernel failure marks the whole queried range dirty before the error is
 * returned, so a VMM that ignores the error still loses no page.
 */
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>
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
	[VFIOMIG_DIRTY_MIG_V1] = "mig-v1",
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

/* Page-aligned and a whole number of pages, so that a kernel that writes
 * a little past the bits asked for (whole pinned pages) stays inside. */
static int scratch_reserve(struct vfiomig_dirty *tr, size_t bytes)
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

static int unmap_plain(struct vfiomig_dirty *tr, uint64_t iova,
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

/* Drop [iova, iova + length) from the tracked ranges (after an unmap):
 * O(log n). */
static int forget(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length)
{
	return vfm_rangeset_remove(&tr->ranges, iova, length);
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

static const struct vfm_dirty_ops all_ops = {
	.backend = VFIOMIG_DIRTY_ALL,
	.start = all_start,
	.stop = all_stop,
	/* no read(): the query loop sets every tracked page */
};

/* ------------------------------------------------------------- tracker */

static void tracker_free(struct vfiomig_dirty *tr)
{
	pthread_mutex_destroy(&tr->lock);
	vfm_rangeset_fini(&tr->pending);
	free(tr->follow);
	vfm_rangeset_fini(&tr->ranges);
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
	case VFIOMIG_DIRTY_MIG_V1:
		return vfm_v1dirty_probe(tr, why, len);
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
	case VFIOMIG_DIRTY_MIG_V1:
		return &vfm_dirty_v1_ops;
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
		/* the device's own log first: v2's, then v1's */
		VFIOMIG_DIRTY_DMA_LOGGING, VFIOMIG_DIRTY_MIG_V1,
		VFIOMIG_DIRTY_IOMMUFD, VFIOMIG_DIRTY_TYPE1, VFIOMIG_DIRTY_ALL,
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
	    backend > VFIOMIG_DIRTY_MIG_V1 || opt_iommufd < 0 ||
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
				    "mig-v1, auto)", env);
				return -EINVAL;
			}
			by = "VFIOMIG_DIRTY_BACKEND";
		}
	}

	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return -ENOMEM;
	if (pthread_mutex_init(&tr->lock, NULL)) {
		free(tr);
		return -ENOMEM;
	}
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
	vfm_rangeset_fini(&tr->ranges);
	vfm_rangeset_fini(&tr->pending);
	tr->broken = false;
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

/* ------------------------------------------- following the mappings */

/*
 * The IOMMU contexts whose mappings a tracker follows and whose record its
 * unmaps update, each once, a reference held on each (put_contexts): the
 * devices' contexts; without devices, the library's contexts on the
 * tracker's iommufd and IOAS (vfiomig_iommu_new adopting them).  The
 * count, or -ENOMEM.
 */
static ssize_t get_contexts(struct vfiomig_dirty *tr,
			    struct vfiomig_iommu ***out)
{
	size_t cap = tr->ndevs ? tr->ndevs : 4, n = 0, cur = 0;
	struct vfiomig_iommu **ios = calloc(cap, sizeof(*ios)), *io;

	*out = NULL;
	if (!ios)
		return -ENOMEM;
	for (size_t i = 0; i < tr->ndevs; i++) {
		bool seen = false;

		io = vfiomig_device_iommu(tr->devs[i]);
		for (size_t k = 0; k < n; k++)
			seen |= ios[k] == io;
		if (!io || seen)
			continue;
		vfm_iommu_get(io);
		ios[n++] = io;
	}
	while (!tr->ndevs && tr->ctx && tr->iommufd >= 0 &&
	       (io = vfm_iommu_find(tr->ctx, tr->iommufd, tr->ioas_id, &cur))) {
		if (n == cap) {
			struct vfiomig_iommu **g = realloc(ios, 2 * cap * sizeof(*ios));

			if (!g) {
				vfm_iommu_put(io);
				while (n)
					vfm_iommu_put(ios[--n]);
				free(ios);
				return -ENOMEM;
			}
			ios = g;
			cap *= 2;
		}
		ios[n++] = io;
	}
	*out = ios;
	return (ssize_t)n;
}

static void put_contexts(struct vfiomig_iommu **ios, size_t n)
{
	for (size_t i = 0; i < n; i++)
		vfm_iommu_put(ios[i]);
	free(ios);
}

/* Contexts are locked in address order: two trackers starting over the
 * same contexts cannot deadlock. */
static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* No ranges from the caller: the mappings the library made in the
 * contexts ios[0..n) (locked).  One context: its mappings as they are,
 * one range each (what Type1 needs).  Several: their union, overlapping
 * and adjacent ranges merged.  -EINVAL when no context has a mapping. */
static ssize_t ranges_from_mappings(struct vfiomig_dirty *tr,
				    struct vfiomig_iommu **ios, size_t nios,
				    struct vfiomig_range **outp)
{
	struct vfiomig_range *all = NULL, *m, *grown;
	size_t n = 0;
	ssize_t ret;

	for (size_t i = 0; i < nios; i++) {
		ret = vfm_iommu_mappings_copy_locked(ios[i], &m);
		if (ret < 0) {
			free(all);
			return ret;
		}
		if (!ret)
			continue;
		grown = realloc(all, (n + (size_t)ret) * sizeof(*all));
		if (!grown) {
			free(m);
			free(all);
			return -ENOMEM;
		}
		all = grown;
		memcpy(all + n, m, (size_t)ret * sizeof(*m));
		n += (size_t)ret;
		free(m);
	}
	if (!n) {
		err(tr->ctx, "dirty start: no ranges given and the %s IOMMU contexts have no mappings made through the library",
		    tr->ndevs ? "devices'" : "tracker's");
		free(all);
		return -EINVAL;
	}
	if (nios > 1) {
		struct vfiomig_range *merged;

		ret = vfm_ranges_normalize(all, n, 4096, &merged);
		free(all);
		if (ret < 0)
			return ret;
		all = merged;
		n = (size_t)ret;
	}
	dbg(tr->ctx, "dirty start: %zu range(s) from the mappings of %zu IOMMU context(s)%s",
	    n, nios, nios > 1 ? " (merged)" : "");
	*outp = all;
	return (ssize_t)n;
}

/* Is [iova, +length) inside the DMA logging plan (planned ranges that
 * touch taken together)? */
static bool plan_covers(const struct vfiomig_dirty *tr, uint64_t iova,
			uint64_t length)
{
	size_t i = vfm_ranges_find(tr->plan, tr->nplan, iova);
	uint64_t at = iova, end = iova + length;

	for (; i < tr->nplan && tr->plan[i].iova <= at; i++) {
		at = tr->plan[i].iova + tr->plan[i].length;
		if (at >= end)
			return true;
	}
	return false;
}

/* The spans to report dirty if the backend drops its log now: the pending
 * ones and every tracked range, merged (O(ranges)).  Made before the
 * backend acts, so that committing it cannot fail after bits are gone. */
static int pending_prepare(struct vfiomig_dirty *tr, struct vfm_rangeset *out)
{
	struct vfiomig_range *a, *b, *all, *merged;
	ssize_t na = vfm_rangeset_copy(&tr->ranges, &a), nb;
	int n, ret;

	if (na < 0)
		return (int)na;
	nb = vfm_rangeset_copy(&tr->pending, &b);
	if (nb < 0) {
		free(a);
		return (int)nb;
	}
	all = realloc(a, ((size_t)na + (size_t)nb + 1) * sizeof(*all));
	if (!all) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	if (nb)
		memcpy(all + na, b, (size_t)nb * sizeof(*b));
	free(b);
	n = na + nb ? vfm_ranges_normalize(all, (size_t)(na + nb), 4096, &merged) : 0;
	free(all);
	if (n < 0)
		return n;
	ret = vfm_rangeset_init(out, n ? merged : NULL, (size_t)n);
	if (n)
		free(merged);
	return ret;
}

/* Add [iova, +length) to the tracked ranges: the parts no range covers
 * (contexts followed together may map the same IOVA). */
static int ranges_add(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length)
{
	uint64_t at = iova, end = iova + length;

	while (at < end) {
		size_t cur;
		const struct vfiomig_range *r = vfm_rangeset_first(&tr->ranges, at, &cur);
		uint64_t stop = r && r->iova < end ? r->iova : end;
		int ret;

		if (r && r->iova <= at) {
			at = r->iova + r->length;
			continue;
		}
		ret = vfm_rangeset_add(&tr->ranges, at, stop - at);
		if (ret)
			return ret;
		at = stop;
	}
	return 0;
}

/* A followed context mapped [iova, +length): track it from now on.  The
 * tracker's lock is held. */
static int track_add(struct vfiomig_dirty *tr, uint64_t iova, uint64_t length)
{
	struct vfm_rangeset np = { 0 };
	bool lost = false, from_plan = tr->ops->from_plan;
	uint64_t end;
	int ret = 0;

	if (!tr->started)
		return 0;
	if (tr->broken) {
		err(tr->ctx, "dirty tracking: [%#" PRIx64 ", +%#" PRIx64 ") cannot be tracked: the tracker is broken (stop it)",
		    iova, length);
		return -EIO;
	}
	if (iova % 4096 || length % 4096 || !vfm_range_end(iova, length, &end)) {
		err(tr->ctx, "dirty tracking: mapping [%#" PRIx64 ", +%#" PRIx64 ") is not 4 KiB aligned",
		    iova, length);
		return -EINVAL;
	}
	if (tr->ops->add_range && !(from_plan && plan_covers(tr, iova, length))) {
		if (from_plan)
			ret = pending_prepare(tr, &np);
		if (!ret)
			ret = tr->ops->add_range(tr, iova, length, &lost);
		if (lost) {
			vfm_rangeset_fini(&tr->pending);
			tr->pending = np;
		} else {
			vfm_rangeset_fini(&np);
		}
	}
	if (!ret)
		ret = ranges_add(tr, iova, length);
	if (!ret)
		dbg(tr->ctx, "dirty tracking: following the new mapping [%#" PRIx64 ", +%#" PRIx64 ")",
		    iova, length);
	return ret;
}

static struct vfiomig_dirty *follower_tracker(struct vfm_iommu_follower *f)
{
	return ((struct vfm_dirty_follow *)f)->tr;
}

static int follow_mapped(struct vfm_iommu_follower *f, uint64_t iova,
			 uint64_t size)
{
	struct vfiomig_dirty *tr = follower_tracker(f);
	int ret;

	pthread_mutex_lock(&tr->lock);
	ret = track_add(tr, iova, size);
	pthread_mutex_unlock(&tr->lock);
	return ret;
}

/* A map undone (another follower refused it): forget it again.  Removing
 * what was added whole splits nothing; a failure only over-reports. */
static void follow_unmapped(struct vfm_iommu_follower *f, uint64_t iova,
			    uint64_t size)
{
	struct vfiomig_dirty *tr = follower_tracker(f);

	pthread_mutex_lock(&tr->lock);
	if (tr->started)
		vfm_rangeset_remove(&tr->ranges, iova, size);
	pthread_mutex_unlock(&tr->lock);
}

/* vfiomig_iommu_unmap of tracked IOVA would drop its dirty bits unseen:
 * refused, vfiomig_dirty_unmap returns them. */
static int follow_unmapping(struct vfm_iommu_follower *f, uint64_t iova,
			    uint64_t size)
{
	struct vfiomig_dirty *tr = follower_tracker(f);
	const struct vfiomig_range *r;
	size_t cur;
	bool busy;

	pthread_mutex_lock(&tr->lock);
	/* The first range ending after iova overlaps when it starts by the
	 * last byte (dma.c refused a wrap already). */
	r = vfm_rangeset_first(&tr->ranges, iova, &cur);
	busy = tr->started && r && r->iova <= iova + (size - 1);
	pthread_mutex_unlock(&tr->lock);
	return busy ? -EBUSY : 0;
}

/* Stop following (before stopping: no context calls in afterwards).  The
 * tracker's lock is not held: a map in progress holds its context's lock
 * and waits for ours. */
static void unfollow_all(struct vfiomig_dirty *tr)
{
	for (size_t i = 0; i < tr->nfollow; i++)
		vfm_iommu_unfollow(&tr->follow[i].f);
	free(tr->follow);
	tr->follow = NULL;
	tr->nfollow = 0;
}

static int start_locked(struct vfiomig_dirty *tr,
			const struct vfiomig_range *ranges, size_t nranges,
			uint64_t *page_size);

/*
 * Start over the library's mappings and follow them: the contexts locked
 * (in address order) from the snapshot of their mappings until the
 * tracker follows them, so that no mapping falls in between.
 */
static int start_following(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	struct vfiomig_iommu **ios;
	struct vfiomig_range *mapped = NULL;
	struct vfm_dirty_follow *fl = NULL;
	ssize_t nios = get_contexts(tr, &ios), n;
	int ret;

	if (nios < 0)
		return (int)nios;
	if (tr->nfollow) {
		put_contexts(ios, (size_t)nios);
		err(tr->ctx, "dirty start: tracking already started");
		return -EBUSY;
	}
	if (nios)
		fl = calloc((size_t)nios, sizeof(*fl));
	if (nios && !fl) {
		put_contexts(ios, (size_t)nios);
		return -ENOMEM;
	}
	qsort(ios, (size_t)nios, sizeof(*ios), cmp_ptr);
	for (ssize_t i = 0; i < nios; i++)
		vfm_iommu_lock(ios[i]);
	n = ranges_from_mappings(tr, ios, (size_t)nios, &mapped);
	ret = n < 0 ? (int)n : 0;
	pthread_mutex_lock(&tr->lock);
	if (!ret)
		ret = start_locked(tr, mapped, (size_t)n, page_size);
	for (ssize_t i = 0; !ret && i < nios; i++) {
		fl[i].tr = tr;
		fl[i].f.mapped = follow_mapped;
		fl[i].f.unmapped = follow_unmapped;
		fl[i].f.unmapping = follow_unmapping;
		vfm_iommu_follow_locked(ios[i], &fl[i].f);
	}
	if (!ret) {
		tr->follow = fl;
		tr->nfollow = (size_t)nios;
		fl = NULL;
	}
	pthread_mutex_unlock(&tr->lock);
	for (ssize_t i = nios; i--;)
		vfm_iommu_unlock(ios[i]);
	put_contexts(ios, (size_t)nios);
	free(fl);
	free(mapped);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_dirty_start(struct vfiomig_dirty *tr,
				       const struct vfiomig_range *ranges,
				       size_t nranges, uint64_t *page_size)
{
	int ret;

	if (!tr || !page_size || (!ranges && nranges) || (ranges && !nranges))
		return -EINVAL;
	if (!ranges)
		return start_following(tr, page_size);
	pthread_mutex_lock(&tr->lock);
	ret = start_locked(tr, ranges, nranges, page_size);
	pthread_mutex_unlock(&tr->lock);
	return ret;
}

static int start_locked(struct vfiomig_dirty *tr,
			const struct vfiomig_range *ranges, size_t nranges,
			uint64_t *page_size)
{
	struct vfiomig_range *r;
	uint64_t ps, end;
	size_t bytes;
	int ret;

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
	ret = vfm_rangeset_init(&tr->ranges, r, nranges);
	if (!ret)
		ret = scratch_reserve(tr, VFM_DIRTY_SCRATCH_BYTES);
	if (!ret) {
		tr->start_ranges = r;
		tr->n_start_ranges = nranges;
		ret = tr->ops->start(tr, &ps);
		tr->start_ranges = NULL;
		tr->n_start_ranges = 0;
	}
	free(r);
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
	int ret = 0;

	if (!tr)
		return -EINVAL;
	unfollow_all(tr);
	pthread_mutex_lock(&tr->lock);
	if (tr->started) {
		ret = tr->ops->stop(tr);
		tr->started = false;
		drop_started(tr);
	}
	pthread_mutex_unlock(&tr->lock);
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

/* ------------------------------------------------------ the query loop */

/* The tracker's ranges (sorted, disjoint; for Type1 each one a mapping)
 * or the DMA logging plan, from the first one ending after iova. */
static const struct vfiomig_range *rng_first(const struct vfiomig_dirty *tr,
					     bool plan, uint64_t iova,
					     size_t *cur)
{
	if (!plan)
		return vfm_rangeset_first(&tr->ranges, iova, cur);
	*cur = vfm_ranges_find(tr->plan, tr->nplan, iova);
	return *cur < tr->nplan ? &tr->plan[*cur] : NULL;
}

static const struct vfiomig_range *rng_next(const struct vfiomig_dirty *tr,
					    bool plan, size_t *cur)
{
	if (!plan)
		return vfm_rangeset_next(&tr->ranges, cur);
	return ++*cur < tr->nplan ? &tr->plan[*cur] : NULL;
}

/* One query (or unmap) in progress, for one reader. */
struct query {
	struct vfiomig_dirty *tr;
	uint64_t iova, end, ps, nbits;
	uint64_t *bm;
	unsigned int flags;
	bool unmap;   /* unmap_read() rather than read() */
	size_t unit;  /* the reader */
	uint64_t kps; /* its page size */
};

/* One read of [iova, iova + length) at page size ps into buf. */
static int q_read_ps(const struct query *q, uint64_t iova, uint64_t length,
		     uint64_t ps, uint64_t *buf)
{
	struct vfiomig_dirty *tr = q->tr;

	if (q->unmap)
		return tr->ops->unmap_read(tr, iova, length, ps, buf);
	return tr->ops->read(tr, q->unit, iova, length, ps, buf, q->flags);
}

/* The same at the reader's page size. */
static int q_read(const struct query *q, uint64_t iova, uint64_t length,
		  uint64_t *buf)
{
	return q_read_ps(q, iova, length, q->kps, buf);
}

/* OR buf (n kernel pages from kernel page p) into the caller's bitmap. */
static void merge(const struct query *q, const uint64_t *buf, uint64_t p,
		  uint64_t n)
{
	vfm_bitmap_merge(q->bm, q->iova, q->ps, q->nbits, buf, p * q->kps,
			 q->kps, n);
}

/*
 * A stretch [a, b) of tracked IOVA read by a kernel that only sets bits
 * (and takes any power-of-two page size for its bitmap: iova_bitmap),
 * from its first kernel page on:
 *  - straight into the caller's bitmap, at the caller's page size, from a
 *    position on that page size whose bit starts a caller's word, to the
 *    end of the stretch (or, when that end is not on the caller's page
 *    size, to the last chunk boundary before it).  Not when the caller's
 *    pages are finer than the kernel's: a split between two reads could
 *    fall inside a kernel page, and the first read would clear it whole.
 *  - otherwise through the scratch buffer at the kernel's page size, up to
 *    the next chunk boundary, merged into the caller's bitmap.
 * Every split between two reads is a chunk boundary (aligned in absolute
 * IOVA to VFM_DIRTY_CHUNK_BYTES of bitmap: 8 GiB at 4 KiB), so none falls
 * inside a large IOPTE (which a read clears as a whole), or the stretch's
 * end.  Reads stay inside the stretch, rounded out to the kernel's pages.
 */
static int read_setting(const struct query *q, uint64_t a, uint64_t b)
{
	struct vfiomig_dirty *tr = q->tr;
	/* A chunk's length must be a uint64_t too: at most 2^63 (still a
	 * power of two, so chunks stay aligned). */
	uint64_t cp = (uint64_t)VFM_DIRTY_CHUNK_BYTES * 8, cb;
	/* In kernel pages: [p, pend). */
	uint64_t p = a / q->kps, pend = (b - 1) / q->kps + 1;
	/* The caller's page size in kernel pages, when direct reads may use
	 * it (a power of two; 0: never direct). */
	uint64_t r = q->ps >= q->kps ? q->ps / q->kps : 0;

	if (cp > (UINT64_C(1) << 63) / q->kps)
		cp = (UINT64_C(1) << 63) / q->kps;
	cb = cp > r ? cp : r; /* the split alignment, in kernel pages */
	while (p < pend) {
		uint64_t bit = r ? (p * q->kps - q->iova) / q->ps : 0;
		uint64_t e = r && pend % r ? vfm_align_down(pend, cb) : pend;
		int ret;

		if (r && p % r == 0 && bit % 64 == 0 && e > p) {
			ret = q_read_ps(q, p * q->kps, (e - p) * q->kps, q->ps,
					q->bm + bit / 64);
		} else {
			uint64_t m = (p / cp + 1) * cp - p;

			if (m > pend - p)
				m = pend - p;
			e = p + m;
			memset(tr->scratch, 0, BITS_TO_WORDS(m) * 8);
			ret = q_read(q, p * q->kps, m * q->kps, tr->scratch);
			if (!ret)
				merge(q, tr->scratch, p, m);
		}
		if (ret)
			return ret;
		p = e;
	}
	return 0;
}

/* Kernels that only set bits: one read per contiguous stretch of the
 * tracked ranges (or the plan) inside the query, touching ranges merged. */
static int read_stretches(const struct query *q)
{
	struct vfiomig_dirty *tr = q->tr;
	bool plan = tr->ops->from_plan;
	size_t cur;
	const struct vfiomig_range *r = rng_first(tr, plan, q->iova, &cur);

	while (r && r->iova < q->end) {
		uint64_t a = r->iova > q->iova ? r->iova : q->iova;
		uint64_t b = r->iova + r->length;
		int ret;

		while ((r = rng_next(tr, plan, &cur)) && r->iova == b)
			b += r->length;
		if (b > q->end)
			b = q->end;
		ret = read_setting(q, a, b);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Does a range at offset off from a group's start begin a word of the
 * group's bitmap?  Type1 (6.12 update_user_bitmap) shifts the bitmap of a
 * range that does not in place and clears only the range's own bits
 * after: the bits of its last pages stay behind and a later read reports
 * them as a neighbour's, pages nobody wrote.  A range that starts a word
 * is never shifted, so the library starts a new group for any other.
 */
static bool word_aligned(uint64_t off, uint64_t kps)
{
	return (off / kps) % 64 == 0;
}

/*
 * A kernel that reads whole ranges and writes whole words (Type1): the
 * ranges inside the query (none split, check_range saw to it) in groups
 * of consecutive ones, each starting a word of its group's bitmap
 * (word_aligned).  Straight into the caller's bitmap when the page sizes
 * match, the bitmap was cleared (no ACCUMULATE: the kernel writes zeros
 * too, and leaves words over holes alone) and the group starts a word:
 * then a group's bitmap may be as large as the kernel allows.
 * Otherwise through the scratch buffer, groups as large as it holds; a
 * single range larger than that needs a buffer of its own for the call.
 */
static int read_whole(const struct query *q)
{
	struct vfiomig_dirty *tr = q->tr;
	bool can_direct = q->kps == q->ps &&
			  !(tr->ops->overwrites &&
			    (q->flags & VFIOMIG_DIRTY_ACCUMULATE));
	uint64_t max = tr->read_max ? tr->read_max : UINT64_MAX;
	size_t cur;
	const struct vfiomig_range *r = rng_first(tr, false, q->iova, &cur);

	while (r && r->iova < q->end) {
		uint64_t gs = r->iova, ge = r->iova + r->length, n, bytes;
		uint64_t bit = (gs - q->iova) / q->ps;
		uint64_t *w = can_direct && bit % 64 == 0 ? q->bm + bit / 64 : NULL;
		uint64_t lim = w || max < tr->scratch_bytes ? max :
							      tr->scratch_bytes;
		uint64_t *buf = w;
		int ret;

		while ((r = rng_next(tr, false, &cur)) && r->iova < q->end &&
		       word_aligned(r->iova - gs, q->kps) &&
		       BITS_TO_WORDS((r->iova + r->length - gs) / q->kps) * 8 <=
			       lim)
			ge = r->iova + r->length;
		n = (ge - gs) / q->kps;
		bytes = BITS_TO_WORDS(n) * 8;
		if (!buf && bytes <= tr->scratch_bytes) {
			buf = tr->scratch;
			memset(buf, 0, bytes);
		} else if (!buf) {
			/* One mapping (a group holds more only while it fits
			 * the scratch buffer), whose words the kernel writes
			 * every one of: no need to clear.  Huge pages when the
			 * system gives them on request: 16 faults for a 1 TiB
			 * mapping's 32 MiB, not 8192. */
			size_t sz = (size_t)(vfm_div_round_up(bytes, 2u << 20)
					     << 21);
			void *t;

			if (posix_memalign(&t, 2u << 20, sz))
				return -ENOMEM;
			madvise(t, sz, MADV_HUGEPAGE); /* a hint */
			buf = t;
			dbg(tr->ctx, "dirty %s: [%#" PRIx64 ", %#" PRIx64 ") "
			    "needs a %#" PRIx64 "-byte bitmap for one call, "
			    "more than the scratch buffer: allocated for the "
			    "call", q->unmap ? "unmap" : "query", gs, ge,
			    bytes);
		}
		ret = q_read(q, gs, ge - gs, buf);
		if (!ret && buf != w)
			merge(q, buf, gs / q->kps, n);
		if (buf != w && buf != tr->scratch)
			free(buf);
		if (ret)
			return ret;
		if (q->unmap) {
			/* Those mappings are gone: forget them now, so a
			 * failure of a later group leaves the tracker
			 * right. */
			ret = forget(tr, gs, ge - gs);
			if (ret)
				return ret;
			r = ge < q->end ? rng_first(tr, false, ge, &cur) : NULL;
		}
	}
	return 0;
}

/* The "all" backend: every tracked page inside the query is dirty. */
static void set_all(const struct query *q)
{
	size_t cur;
	const struct vfiomig_range *r = rng_first(q->tr, false, q->iova, &cur);

	for (; r && r->iova < q->end; r = rng_next(q->tr, false, &cur)) {
		uint64_t a = r->iova > q->iova ? r->iova : q->iova;
		uint64_t b = r->iova + r->length < q->end ?
				     r->iova + r->length : q->end;
		uint64_t first = (a - q->iova) / q->ps;
		uint64_t last = (b - 1 - q->iova) / q->ps;

		vfm_bitmap_set(q->bm, first, last - first + 1);
	}
}

/*
 * The one query loop: OR into bm (based at iova, ps-byte pages, already
 * cleared unless ACCUMULATE) the dirty pages of [iova, iova + length),
 * every reader in turn (a kernel that only sets bits writes straight into
 * bm, so several devices need no scratch).  unmap: read with the
 * backend's unmap_read(), forgetting what it unmapped.  0 or the first
 * error.
 */
static int query_loop(struct vfiomig_dirty *tr, uint64_t iova,
		      uint64_t length, uint64_t ps, uint64_t *bm,
		      unsigned int flags, bool unmap)
{
	const struct vfm_dirty_ops *ops = tr->ops;
	struct query q = {
		.tr = tr,
		.iova = iova,
		.end = iova + length,
		.ps = ps,
		.nbits = length / ps,
		.bm = bm,
		.flags = flags,
		.unmap = unmap,
		.kps = tr->page_size,
	};
	size_t nunits = ops->per_device ? tr->ndevs : 1;

	if (!ops->read) {
		set_all(&q);
		return 0;
	}
	for (q.unit = 0; q.unit < nunits; q.unit++) {
		int ret;

		if (ops->per_device)
			q.kps = tr->dd[q.unit].log_pgsize;
		ret = ops->whole_ranges ? read_whole(&q) : read_stretches(&q);
		if (ret)
			return ret;
	}
	return 0;
}

/* OR into bm (based at iova, ps-byte pages) the pending spans inside
 * [iova, iova + length), and forget them unless NO_CLEAR (a removal that
 * finds no memory to split keeps them: reported again, never lost). */
static void report_pending(struct vfiomig_dirty *tr, uint64_t iova,
			   uint64_t length, uint64_t ps, uint64_t *bm,
			   bool clear)
{
	uint64_t end = iova + length;
	size_t cur;
	const struct vfiomig_range *r = vfm_rangeset_first(&tr->pending, iova, &cur);
	bool any = false;

	for (; r && r->iova < end; r = vfm_rangeset_next(&tr->pending, &cur)) {
		uint64_t a = r->iova > iova ? r->iova : iova;
		uint64_t b = r->iova + r->length < end ? r->iova + r->length : end;
		uint64_t first = (a - iova) / ps, last = (b - 1 - iova) / ps;

		vfm_bitmap_set(bm, first, last - first + 1);
		any = true;
	}
	if (any && clear && vfm_rangeset_remove(&tr->pending, iova, length))
		dbg(tr->ctx, "dirty: the pending spans of [%#" PRIx64 ", +%#"
		    PRIx64 ") stay (no memory): reported again", iova, length);
}

static int query_locked(struct vfiomig_dirty *tr, uint64_t iova,
			uint64_t length, uint64_t page_size, uint64_t *bitmap,
			unsigned int flags)
{
	uint64_t nbits;
	size_t bytes;
	int ret;

	ret = check_query(tr, iova, length, page_size, bitmap, &bytes,
			  "query");
	if (ret)
		return ret;
	nbits = length / page_size;
	if (!(flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(bitmap, 0, bytes);
	ret = tr->broken ? -EIO :
	      query_loop(tr, iova, length, page_size, bitmap, flags, false);
	if (ret < 0) {
		/* The log is unreliable now: lose nothing. */
		err(tr->ctx, "dirty query [%#" PRIx64 ", +%#" PRIx64 ") failed "
		    "(%s): reporting every page of it dirty", iova, length,
		    tr->broken ? "the tracker is broken: stop it" :
				 strerror(-ret));
		vfm_bitmap_set(bitmap, 0, nbits);
		return ret;
	}
	report_pending(tr, iova, length, page_size, bitmap,
		       !(flags & VFIOMIG_DIRTY_NO_CLEAR));
	return 0;
}

VFIOMIG_EXPORT int vfiomig_dirty_query(struct vfiomig_dirty *tr, uint64_t iova,
				       uint64_t length, uint64_t page_size,
				       uint64_t *bitmap, unsigned int flags)
{
	int ret;

	if (!tr || flags & ~(VFIOMIG_DIRTY_ACCUMULATE | VFIOMIG_DIRTY_NO_CLEAR))
		return -EINVAL;
	pthread_mutex_lock(&tr->lock);
	ret = query_locked(tr, iova, length, page_size, bitmap, flags);
	pthread_mutex_unlock(&tr->lock);
	return ret;
}

/* The kernel side of an unmap with its bits (bitmap cleared or not per
 * flags already): Type1 in one operation, else read without clearing (the
 * IOPTEs go with the unmap anyway) and unmap.  A broken tracker reads
 * nothing: every page is reported. */
static int unmap_read_all(struct vfiomig_dirty *tr, uint64_t iova,
			  uint64_t length, uint64_t page_size,
			  uint64_t *bitmap, unsigned int flags)
{
	int ret;

	if (tr->broken) {
		vfm_bitmap_set(bitmap, 0, length / page_size);
		ret = unmap_plain(tr, iova, length);
		return ret ? ret : forget(tr, iova, length);
	}
	if (tr->ops->unmap_read)
		return query_loop(tr, iova, length, page_size, bitmap, flags,
				  true);
	ret = query_loop(tr, iova, length, page_size, bitmap,
			 flags | VFIOMIG_DIRTY_NO_CLEAR, false);
	if (!ret)
		ret = unmap_plain(tr, iova, length);
	if (!ret)
		ret = forget(tr, iova, length);
	return ret;
}

static int unmap_locked(struct vfiomig_dirty *tr, uint64_t iova,
			uint64_t length, uint64_t page_size, uint64_t *bitmap,
			unsigned int flags)
{
	size_t bytes;
	int ret;

	ret = check_query(tr, iova, length, page_size, bitmap, &bytes,
			  "unmap");
	if (ret)
		return ret;
	if (tr->container_fd < 0 && (tr->iommufd < 0 || !tr->ioas_id)) {
		err(tr->ctx, "dirty unmap: the tracker has no IOMMU context "
		    "(container or IOAS) to unmap from");
		return -EOPNOTSUPP;
	}
	if (!(flags & VFIOMIG_DIRTY_ACCUMULATE))
		memset(bitmap, 0, bytes);
	ret = unmap_read_all(tr, iova, length, page_size, bitmap, flags);
	if (ret < 0) {
		err(tr->ctx, "dirty unmap [%#" PRIx64 ", +%#" PRIx64 ") failed "
		    "(%s): reporting every page of it dirty", iova, length,
		    strerror(-ret));
		vfm_bitmap_set(bitmap, 0, length / page_size);
		return ret;
	}
	report_pending(tr, iova, length, page_size, bitmap, true);
	return 0;
}

VFIOMIG_EXPORT int vfiomig_dirty_unmap(struct vfiomig_dirty *tr, uint64_t iova,
				       uint64_t length, uint64_t page_size,
				       uint64_t *bitmap, unsigned int flags)
{
	struct vfiomig_iommu **ios;
	ssize_t nios;
	int ret;

	if (!tr || flags & ~VFIOMIG_DIRTY_ACCUMULATE)
		return -EINVAL;
	pthread_mutex_lock(&tr->lock);
	ret = unmap_locked(tr, iova, length, page_size, bitmap, flags);
	pthread_mutex_unlock(&tr->lock);
	if (ret)
		return ret;
	/* The contexts on that container or IOAS forget what went (after
	 * the tracker's lock: a context's lock comes first).  A tracker
	 * without devices finds them by its iommufd and IOAS. */
	nios = get_contexts(tr, &ios);
	if (nios < 0) {
		err(tr->ctx, "dirty unmap [%#" PRIx64 ", +%#" PRIx64 "): the IOMMU context's record keeps it (%s)",
		    iova, length, strerror((int)-nios));
		return 0;
	}
	for (ssize_t i = 0; i < nios; i++)
		vfm_iommu_forget(ios[i], tr->container_fd >= 0 ? tr->container_fd :
				 tr->iommufd, tr->ioas_id, iova, length);
	put_contexts(ios, (size_t)nios);
	return 0;
}
