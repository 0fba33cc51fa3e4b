// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty tracking backend: iommufd HWPT dirty tracking (kernel-contract.md
 * 10, 11.2).
 *
 *   IOMMU_GET_HW_INFO (size >= 40, or out_capabilities is not written)
 *     must report IOMMU_HW_CAP_DIRTY_TRACKING for every device id;
 *   a HWPT auto-created by attaching to an IOAS has no dirty ops, so the
 *     tracker allocates one with IOMMU_HWPT_ALLOC_DIRTY_TRACKING on the IOAS
 *     (it starts populated with the IOAS's mappings) and moves every VFIO
 *     device onto it with VFIO_DEVICE_ATTACH_IOMMUFD_PT (a replace); free()
 *     moves them back and destroys it;
 *   IOMMU_HWPT_SET_DIRTY_TRACKING on start (the kernel clears all dirty
 *     bits first: a clean snapshot) and stop;
 *   IOMMU_HWPT_GET_DIRTY_BITMAP per contiguous stretch of tracked ranges,
 *     with NO_CLEAR on demand.
 *
 * Emulated devices (mdev) bind as an ACCESS object and can only attach to
 * an IOAS: GET_HW_INFO answers ENOENT for them, so they never qualify.
 * Device ids without a VFIO device (opts->dev_ids, e.g. the iommufd test
 * mock) count for the capability check and the allocation; attaching them
 * is the caller's business.
 */
#include <stdlib.h>
#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "dirty.h"

_Static_assert(sizeof(struct iommu_hw_info) >= 40,
	       "iommu_hw_info must reach out_capabilities");

int vfm_iommufd_hw_caps(int iommufd, uint32_t dev_id, uint64_t *caps)
{
	struct iommu_hw_info info = {
		.size = sizeof(info),
		.dev_id = dev_id,
	};
	int ret = sys_ioctl(iommufd, IOMMU_GET_HW_INFO, &info);

	if (ret < 0)
		return ret;
	*caps = info.out_capabilities;
	return 0;
}

VFIOMIG_EXPORT int vfiomig_iommufd_hw_caps(struct vfiomig_device *dev,
					   uint64_t *caps)
{
	int ret;

	if (!dev || !caps)
		return -EINVAL;
	if (dev->iommu_path != VFIOMIG_IOMMU_IOMMUFD || dev->iommufd < 0 ||
	    !dev->devid)
		return -ENOENT;
	ret = vfm_iommufd_hw_caps(dev->iommufd, dev->devid, caps);
	if (ret < 0)
		err(dev->ctx, "%s: IOMMU_GET_HW_INFO dev id %u: %s%s",
		    vfm_dev_name(dev), dev->devid, strerror(-ret),
		    ret == -ENOENT ? " (an emulated device has no IOMMU)" : "");
	return ret;
}

int vfm_iommufd_probe(struct vfiomig_dirty *tr, char *why, size_t len)
{
	if (tr->iommufd < 0) {
		snprintf(why, len, "no iommufd context");
		return -ENODEV;
	}
	if (!tr->ioas_id) {
		snprintf(why, len, "no IOAS");
		return -ENODEV;
	}
	for (size_t i = 0; i < tr->ndevs; i++) {
		struct vfiomig_device *dev = tr->devs[i];

		if (dev->iommu_path != VFIOMIG_IOMMU_IOMMUFD ||
		    dev->iommufd != tr->iommufd || !dev->devid) {
			snprintf(why, len, "%s is not bound to the tracker's "
				 "iommufd", vfm_dev_name(dev));
			return -ENODEV;
		}
	}
	if (!tr->n_dev_ids) {
		snprintf(why, len, "no iommufd device");
		return -ENODEV;
	}
	for (size_t i = 0; i < tr->n_dev_ids; i++) {
		const char *name = i < tr->n_vfio_dev_ids ?
			vfm_dev_name(tr->devs[i]) : "(opts)";
		uint64_t caps = 0;
		int ret = vfm_iommufd_hw_caps(tr->iommufd, tr->dev_ids[i], &caps);

		if (ret < 0) {
			snprintf(why, len, "dev id %u %s: IOMMU_GET_HW_INFO: %s%s",
				 tr->dev_ids[i], name, strerror(-ret),
				 ret == -ENOENT ? " (emulated device?)" : "");
			return -EOPNOTSUPP;
		}
		if (!(caps & IOMMU_HW_CAP_DIRTY_TRACKING)) {
			snprintf(why, len, "dev id %u %s: the IOMMU has no dirty "
				 "tracking", tr->dev_ids[i], name);
			return -EOPNOTSUPP;
		}
	}
	snprintf(why, len, "the IOMMU of all %zu device(s) tracks dirty pages",
		 tr->n_dev_ids);
	return 0;
}

static int attach_pt(struct vfiomig_device *dev, uint32_t *pt_id)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at),
		.pt_id = *pt_id,
	};
	int ret = sys_ioctl(dev->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);

	if (!ret)
		*pt_id = at.pt_id;
	return ret < 0 ? ret : 0;
}

static void iommufd_release(struct vfiomig_dirty *tr)
{
	for (size_t i = 0; i < tr->ndevs; i++) {
		struct vfiomig_device *dev = tr->devs[i];
		uint32_t pt = tr->dd[i].prev_pt;
		int ret;

		if (!tr->dd[i].attached)
			continue;
		/* The previous HWPT may have been an auto domain, gone with
		 * its last device: fall back to the IOAS. */
		ret = attach_pt(dev, &pt);
		if (ret && pt != dev->ioas_id) {
			pt = dev->ioas_id;
			ret = attach_pt(dev, &pt);
		}
		if (ret) {
			err(tr->ctx, "%s: re-attaching to pt %u: %s",
			    vfm_dev_name(dev), tr->dd[i].prev_pt, strerror(-ret));
		} else {
			vfm_dev_set_hwpt(dev, pt != dev->ioas_id ? pt : 0u);
		}
		tr->dd[i].attached = false;
		vfm_dev_release_logging(dev);
	}
	if (tr->own_hwpt && tr->hwpt_id) {
		struct iommu_destroy d = { .size = sizeof(d), .id = tr->hwpt_id };
		int ret = sys_ioctl(tr->iommufd, IOMMU_DESTROY, &d);

		if (ret < 0)
			err(tr->ctx, "IOMMU_DESTROY HWPT %u: %s", tr->hwpt_id,
			    strerror(-ret));
	}
	tr->own_hwpt = false;
	tr->hwpt_id = 0;
}

int vfm_iommufd_setup(struct vfiomig_dirty *tr, uint32_t hwpt_id)
{
	int ret;

	if (hwpt_id) {
		tr->hwpt_id = hwpt_id;
	} else {
		struct iommu_hwpt_alloc a = {
			.size = sizeof(a),
			.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
			.dev_id = tr->dev_ids[0],
			.pt_id = tr->ioas_id,
		};

		ret = sys_ioctl(tr->iommufd, IOMMU_HWPT_ALLOC, &a);
		if (ret < 0) {
			err(tr->ctx, "IOMMU_HWPT_ALLOC DIRTY_TRACKING dev id %u "
			    "ioas %u: %s", a.dev_id, a.pt_id, strerror(-ret));
			return ret;
		}
		tr->hwpt_id = a.out_hwpt_id;
		tr->own_hwpt = true;
		dbg(tr->ctx, "dirty-tracking HWPT %u on IOAS %u", tr->hwpt_id,
		    tr->ioas_id);
	}
	for (size_t i = 0; i < tr->ndevs; i++) {
		struct vfiomig_device *dev = tr->devs[i];
		uint32_t pt = tr->hwpt_id, pt_prev = vfm_dev_hwpt(dev);

		if (!pt_prev)
			pt_prev = dev->ioas_id;
		if (pt_prev == tr->hwpt_id)
			continue;
		/* Attaching takes the device from another tracker's HWPT,
		 * whose dirty bits would silently stop: one at a time. */
		ret = vfm_dev_claim_logging(dev);
		if (ret) {
			err(tr->ctx, "%s: dirty tracking is already started (by "
			    "another tracker)", vfm_dev_name(dev));
			iommufd_release(tr);
			return ret;
		}
		ret = attach_pt(dev, &pt);
		if (ret) {
			vfm_dev_release_logging(dev);
			err(tr->ctx, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT to "
			    "dirty-tracking HWPT %u: %s", vfm_dev_name(dev),
			    tr->hwpt_id, strerror(-ret));
			iommufd_release(tr);
			return ret;
		}
		tr->dd[i].attached = true;
		tr->dd[i].prev_pt = pt_prev;
		vfm_dev_set_hwpt(dev, tr->hwpt_id);
	}
	return 0;
}

static int set_tracking(struct vfiomig_dirty *tr, bool enable)
{
	struct iommu_hwpt_set_dirty_tracking s = {
		.size = sizeof(s),
		.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = tr->hwpt_id,
	};
	int ret = sys_ioctl(tr->iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &s);

	if (ret < 0)
		err(tr->ctx, "IOMMU_HWPT_SET_DIRTY_TRACKING %s HWPT %u: %s",
		    enable ? "enable" : "disable", tr->hwpt_id, strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int iommufd_start(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	/* Reads are whole pages of *page_size from a range's start, and a
	 * read that starts in a hole reports nothing and no error (6.12,
	 * contract 10.4): each range must start and end on a page. */
	for (size_t i = 0; i < tr->n_start_ranges; i++) {
		const struct vfiomig_range *r = &tr->start_ranges[i];

		if (r->iova % *page_size || r->length % *page_size) {
			err(tr->ctx, "iommufd dirty start: range [%#" PRIx64
			    ", +%#" PRIx64 ") not aligned to the page size %#"
			    PRIx64, r->iova, r->length, *page_size);
			return -EINVAL;
		}
	}
	return set_tracking(tr, true);
}

/* A mapping added to the IOAS while tracking: the HWPT's domain tracks it
 * (its IOPTEs start clean); reads need it on the tracking page. */
static int iommufd_add_range(struct vfiomig_dirty *tr, uint64_t iova,
			     uint64_t length, bool *lost)
{
	(void)lost;
	if (iova % tr->page_size || length % tr->page_size) {
		err(tr->ctx, "iommufd dirty tracking: mapping [%#" PRIx64 ", +%#"
		    PRIx64 ") not aligned to the page size %#" PRIx64, iova,
		    length, tr->page_size);
		return -EINVAL;
	}
	return 0;
}

static int iommufd_stop(struct vfiomig_dirty *tr)
{
	return set_tracking(tr, false);
}

/* The primitive: one GET_DIRTY_BITMAP of [iova, +length) into buf (the
 * kernel only sets bits); NO_CLEAR on demand. */
static int iommufd_read(struct vfiomig_dirty *tr, size_t unit, uint64_t iova,
			uint64_t length, uint64_t kps, uint64_t *buf,
			unsigned int flags)
{
	struct iommu_hwpt_get_dirty_bitmap g = {
		.size = sizeof(g),
		.hwpt_id = tr->hwpt_id,
		.flags = flags & VFIOMIG_DIRTY_NO_CLEAR ?
				 IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0,
		.iova = iova,
		.length = length,
		.page_size = kps,
		.data = (uintptr_t)buf,
	};
	int ret;

	(void)unit;
	ret = sys_ioctl(tr->iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &g);
	if (ret < 0) {
		err(tr->ctx, "IOMMU_HWPT_GET_DIRTY_BITMAP HWPT %u [%#" PRIx64
		    ", +%#" PRIx64 ") page size %#" PRIx64 ": %s", tr->hwpt_id,
		    iova, length, kps, strerror(-ret));
		return ret;
	}
	return 0;
}

const struct vfm_dirty_ops vfm_dirty_iommufd_ops = {
	.backend = VFIOMIG_DIRTY_IOMMUFD,
	.start = iommufd_start,
	.stop = iommufd_stop,
	.read = iommufd_read,
	.add_range = iommufd_add_range,
	.release = iommufd_release,
	/* Chunk rule: one read per contiguous stretch of tracked ranges
	 * (touching ones merged: the kernel walks contiguous areas), any
	 * length; split only at chunk boundaries aligned in absolute IOVA,
	 * never inside a large IOPTE. */
};
