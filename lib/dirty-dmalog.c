// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty tracking backend: device DMA logging (kernel-contract.md 8),
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_START / _STOP / _REPORT on every device.
 *
 * START takes at most PAGE_SIZE/16 ranges (E2BIG above), non-overlapping,
 * aligned to the page size: the caller's ranges are planned into that many
 * with the least extra area (ranges.c).  The page size is in/out: a driver
 * may log at another one; each device's answer is kept and its REPORTs use
 * it.  Only drivers refuse a second START (mlx5 EINVAL, mtty accepts it):
 * the library refuses it itself, per device, across trackers.  REPORT
 * always clears what it reports (there is no NO_CLEAR).
 */
#include <stdlib.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "dirty.h"
#include "ranges.h"

/* The plan is handed to the kernel as is. */
_Static_assert(sizeof(struct vfiomig_range) ==
	       sizeof(struct vfio_device_feature_dma_logging_range), "range");
_Static_assert(offsetof(struct vfiomig_range, length) ==
	       offsetof(struct vfio_device_feature_dma_logging_range, length),
	       "range.length");

int vfm_dmalog_probe(struct vfiomig_dirty *tr, char *why, size_t len)
{
	if (!tr->ndevs) {
		snprintf(why, len, "no VFIO device");
		return -ENODEV;
	}
	if (tr->n_dev_ids > tr->n_vfio_dev_ids) {
		snprintf(why, len, "%zu iommufd device(s) without a VFIO device "
			 "fd cannot log", tr->n_dev_ids - tr->n_vfio_dev_ids);
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < tr->ndevs; i++) {
		struct vfiomig_device *dev = tr->devs[i];
		int ret = vfm_feature(dev, VFIO_DEVICE_FEATURE_PROBE |
					   VFIO_DEVICE_FEATURE_SET |
					   VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				      NULL, 0);

		if (ret) {
			snprintf(why, len, "%s: no DMA logging (PROBE: %s)",
				 vfm_dev_name(dev), strerror(-ret));
			return -EOPNOTSUPP;
		}
	}
	snprintf(why, len, "all %zu device(s) support DMA logging", tr->ndevs);
	return 0;
}

/* STOP on device i; the claim on its logging kept (a restart) or given
 * back. */
static int stop_dev(struct vfiomig_dirty *tr, size_t i, bool release)
{
	struct vfiomig_device *dev = tr->devs[i];
	int ret;

	ret = vfm_feature(dev, VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
	if (ret) {
		/* Still logging as far as we know: start() and free() try
		 * again. */
		err(tr->ctx, "%s: DMA_LOGGING_STOP: %s", vfm_dev_name(dev),
		    strerror(-ret));
		return ret;
	}
	tr->dd[i].logging = false;
	if (release)
		vfm_dev_release_logging(dev);
	return 0;
}

static int log_stop(struct vfiomig_dirty *tr, size_t i)
{
	return stop_dev(tr, i, true);
}

/* Does every planned range, aligned out to kps, end below 2^64? */
static bool plan_fits(const struct vfiomig_range *plan, size_t nplan,
		      uint64_t kps)
{
	for (size_t i = 0; i < nplan; i++) {
		uint64_t last = plan[i].iova + plan[i].length - 1, end;

		if (!vfm_range_end(vfm_align_down(last, kps), kps, &end))
			return false;
	}
	return true;
}

/* START on device i with plan[0..n) at tr->plan_align.  A page size
 * answered that REPORT cannot use stops the logging again (the claim
 * kept): on failure the device logs nothing, unless that STOP failed. */
static int start_dev(struct vfiomig_dirty *tr, size_t i,
		     const struct vfiomig_range *plan, size_t n)
{
	struct vfiomig_device *dev = tr->devs[i];
	uint64_t ps = tr->plan_align;
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = ps,
		.num_ranges = (uint32_t)n,
		.ranges = (uintptr_t)plan,
	};
	int ret;

	ret = vfm_feature(dev, VFIO_DEVICE_FEATURE_SET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			  &ctl, sizeof(ctl));
	if (ret) {
		err(tr->ctx, "%s: DMA_LOGGING_START (%zu ranges, page size %#"
		    PRIx64 "): %s", vfm_dev_name(dev), n, ps, strerror(-ret));
		return ret;
	}
	tr->dd[i].logging = true;
	if (ctl.page_size != ps)
		dbg(tr->ctx, "%s: DMA logging page size %#" PRIx64 " (asked %#"
		    PRIx64 ")", vfm_dev_name(dev), (uint64_t)ctl.page_size, ps);
	/* REPORT takes only powers of two >= 4096 (contract 8.3), and must
	 * end below 2^64: so must every planned range once rounded out to
	 * the driver's page. */
	if (!vfm_is_pow2(ctl.page_size) || ctl.page_size < 4096) {
		err(tr->ctx, "%s: DMA_LOGGING_START answered page size %#"
		    PRIx64 ", which REPORT cannot use", vfm_dev_name(dev),
		    (uint64_t)ctl.page_size);
		ret = -EPROTO;
	} else if (!plan_fits(plan, n, ctl.page_size)) {
		err(tr->ctx, "%s: DMA logging page size %#" PRIx64 " rounds a "
		    "range up to 2^64, which REPORT cannot express",
		    vfm_dev_name(dev), (uint64_t)ctl.page_size);
		ret = -EOVERFLOW;
	}
	if (ret) {
		stop_dev(tr, i, false);
		return ret;
	}
	tr->dd[i].log_pgsize = ctl.page_size;
	return 0;
}

static int dmalog_start(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	long pgsz = sysconf(_SC_PAGESIZE);
	size_t max = pgsz > 0 ? (size_t)pgsz / 16 : 256;
	uint64_t ps = *page_size, out_ps = ps;
	struct vfiomig_range *plan;
	uint64_t area = 0;
	size_t i;
	int n, ret;

	for (i = 0; i < tr->ndevs; i++) {
		/* A STOP of ours that failed: try it again first. */
		if (tr->dd[i].logging) {
			ret = log_stop(tr, i);
			if (ret)
				return ret;
		}
	}
	/* Claimed before the first START: two trackers in two threads
	 * cannot both pass the check. */
	for (i = 0; i < tr->ndevs; i++) {
		if (vfm_dev_claim_logging(tr->devs[i])) {
			err(tr->ctx, "%s: DMA logging is already started (by "
			    "another tracker)", vfm_dev_name(tr->devs[i]));
			while (i--)
				vfm_dev_release_logging(tr->devs[i]);
			return -EBUSY;
		}
	}
	n = vfm_ranges_normalize(tr->start_ranges, tr->n_start_ranges, ps,
				 &plan);
	if (n > 0)
		n = vfm_ranges_reduce(plan, (size_t)n, max);
	if (n <= 0) {
		free(plan);
		ret = n < 0 ? n : -EINVAL;
		goto release;
	}
	tr->plan = plan;
	tr->nplan = (size_t)n;
	for (i = 0; i < tr->nplan; i++)
		area += plan[i].length;
	dbg(tr->ctx, "DMA logging: %zu ranges planned into %zu (of at most "
	    "%zu), %#" PRIx64 " bytes logged", tr->n_start_ranges, tr->nplan, max,
	    area);

	tr->plan_align = ps;
	for (i = 0; i < tr->ndevs; i++) {
		ret = start_dev(tr, i, tr->plan, tr->nplan);
		if (ret)
			goto undo;
		if (tr->dd[i].log_pgsize > out_ps)
			out_ps = tr->dd[i].log_pgsize;
	}
	*page_size = out_ps;
	return 0;

undo:
	free(tr->plan);
	tr->plan = NULL;
	tr->nplan = 0;
release:
	/* A STOP that fails keeps its claim: still logging (stop() and
	 * free() try again). */
	for (i = 0; i < tr->ndevs; i++) {
		if (tr->dd[i].logging)
			log_stop(tr, i);
		else
			vfm_dev_release_logging(tr->devs[i]);
	}
	return ret;
}

static int dmalog_stop(struct vfiomig_dirty *tr)
{
	int ret = 0;

	/* Every device is claimed while started; one a failed restart left
	 * not logging is only released. */
	for (size_t i = 0; i < tr->ndevs; i++) {
		if (tr->dd[i].logging) {
			int r = log_stop(tr, i);

			if (r && !ret)
				ret = r;
		} else {
			vfm_dev_release_logging(tr->devs[i]);
		}
	}
	return ret;
}

/* The primitive: one REPORT of device `unit` into buf (the kernel only
 * sets bits; REPORT always clears what it reports, there is no NO_CLEAR). */
static int dmalog_read(struct vfiomig_dirty *tr, size_t unit, uint64_t iova,
		       uint64_t length, uint64_t kps, uint64_t *buf,
		       unsigned int flags)
{
	struct vfiomig_device *dev = tr->devs[unit];
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova,
		.length = length,
		.page_size = kps,
		.bitmap = (uintptr_t)buf,
	};
	int ret;

	(void)flags;
	ret = vfm_feature(dev, VFIO_DEVICE_FEATURE_GET |
			       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			  &rep, sizeof(rep));
	if (ret)
		err(tr->ctx, "%s: DMA_LOGGING_REPORT [%#" PRIx64 ", +%#" PRIx64
		    ") page size %#" PRIx64 ": %s", vfm_dev_name(dev), iova,
		    length, kps, strerror(-ret));
	return ret;
}

/* Device i logs plan[0..n) instead of what it logged: STOP then START
 * (there is no way to add a range, and mlx5 refuses a second START),
 * the claim kept across.  *lost once a STOP dropped the device's log. */
static int restart_dev(struct vfiomig_dirty *tr, size_t i,
		       const struct vfiomig_range *plan, size_t n, bool *lost)
{
	int ret = 0;

	if (tr->dd[i].logging) {
		ret = stop_dev(tr, i, false);
		if (ret)
			return ret;
		*lost = true;
	}
	return start_dev(tr, i, plan, n);
}

/*
 * Re-plan with [iova, +length) added to the tracked ranges and restart
 * every device on the new plan.  A failure puts every device back on the
 * old plan (the map is then undone); if that fails too the tracker is
 * broken (tr->broken: queries report all dirty and fail with EIO until
 * it is stopped), never silently blind.
 */
static int dmalog_add_range(struct vfiomig_dirty *tr, uint64_t iova,
			    uint64_t length, bool *lost)
{
	long pgsz = sysconf(_SC_PAGESIZE);
	size_t max = pgsz > 0 ? (size_t)pgsz / 16 : 256, i, k;
	struct vfiomig_range *all, *grown, *plan = NULL;
	ssize_t n = vfm_rangeset_copy(&tr->ranges, &all);
	int np, ret = 0;

	if (n < 0)
		return (int)n;
	grown = realloc(all, ((size_t)n + 1) * sizeof(*all));
	if (!grown) {
		free(all);
		return -ENOMEM;
	}
	all = grown;
	all[n].iova = iova;
	all[n].length = length;
	np = vfm_ranges_plan(all, (size_t)n + 1, tr->plan_align, max, &plan);
	free(all);
	if (np <= 0)
		return np < 0 ? np : -EINVAL;
	info(tr->ctx, "DMA logging: [%#" PRIx64 ", +%#" PRIx64 ") mapped "
	     "outside the %zu planned ranges: restarting on %d ranges (the "
	     "pages tracked so far are reported dirty by the next query)",
	     iova, length, tr->nplan, np);
	for (i = 0; i < tr->ndevs && !ret; i++)
		ret = restart_dev(tr, i, plan, (size_t)np, lost);
	if (!ret) {
		free(tr->plan);
		tr->plan = plan;
		tr->nplan = (size_t)np;
		return 0;
	}
	free(plan);
	/* Devices 0..i-1 log the new plan but the last, which failed: it logs
	 * the old plan (its STOP failed) or nothing.  All back. */
	for (k = 0; k < i; k++) {
		if (restart_dev(tr, k, tr->plan, tr->nplan, lost)) {
			tr->broken = true;
			err(tr->ctx, "%s: DMA logging cannot be put back on its "
			    "ranges: the tracker is broken (queries report "
			    "every page dirty and fail with EIO; stop and "
			    "start it again)", vfm_dev_name(tr->devs[k]));
		}
	}
	return ret;
}

/* Last chance for a STOP that failed; the device is released anyway. */
static void dmalog_release(struct vfiomig_dirty *tr)
{
	for (size_t i = 0; i < tr->ndevs; i++) {
		if (tr->dd[i].logging) {
			log_stop(tr, i);
			tr->dd[i].logging = false;
			vfm_dev_release_logging(tr->devs[i]);
		}
	}
}

const struct vfm_dirty_ops vfm_dirty_dmalog_ops = {
	.backend = VFIOMIG_DIRTY_DMA_LOGGING,
	.start = dmalog_start,
	.stop = dmalog_stop,
	.read = dmalog_read,
	.add_range = dmalog_add_range,
	.release = dmalog_release,
	/* Chunk rule: per device at its page size, the planned ranges (what
	 * the devices log), any length. */
	.per_device = true,
	.from_plan = true,
};
