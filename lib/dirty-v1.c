// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Dirty tracking backend: the dirty pfns of the migration v1 region (the
 * proposal before the 5.8 merge; lib/migv1.c).  Where the region holds the
 * fields after data_size (start_pfn, page_size, total_pfns, copied_pfns)
 * and the driver answers them, the device reports the pages it wrote, as
 * DMA logging does for v2: the tracker's mig-v1 backend
 * (VFIOMIG_DIRTY_MIG_V1) for a set of such devices, tried right after
 * dma-logging (dirty.c's order).
 *
 * One read: write start_pfn, page_size, total_pfns; read copied_pfns:
 * VFIO_DEVICE_DIRTY_PFNS_NONE (0) no page of the rest is dirty,
 * VFIO_DEVICE_DIRTY_PFNS_ALL (~0) all are, else that many pfns' bits were
 * copied to the data area at data_offset (read next), and the next
 * request starts after them.  The driver logs while the device saves;
 * there is nothing to start or stop.  The data area is the stream's too:
 * a chunk being saved is copied out first (vfm_v1_quiesce()).
 */
#include <stdlib.h>
#include <string.h>

#include "dirty.h"
#include "migv1.h"

/* Every device speaks v1 with the pfn fields, and answers them. */
int vfm_v1dirty_probe(struct vfiomig_dirty *tr, char *why, size_t len)
{
	uint64_t v;

	if (!tr->ndevs || tr->n_dev_ids > tr->n_vfio_dev_ids) {
		snprintf(why, len, "devices the tracker does not open (iommufd "
			 "device ids) report no dirty pfns");
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < tr->ndevs; i++) {
		struct vfiomig_device *dev = tr->devs[i];
		int ret;

		if (vfm_mig_proto(dev) != VFIOMIG_PROTO_V1) {
			snprintf(why, len, "%s: does not speak migration v1",
				 vfm_dev_name(dev));
			return -EOPNOTSUPP;
		}
		if (vfm_v1_region_size(dev) < VFM_V1_HDR_PFNS) {
			snprintf(why, len, "%s: the migration region has no dirty "
				 "pfn fields (the merged 5.8 layout)",
				 vfm_dev_name(dev));
			return -EOPNOTSUPP;
		}
		vfm_dev_lock(dev);
		/* The merged 5.8 layout has nothing here: refused. */
		ret = vfm_v1_rd64(dev, VFM_V1_OFF_PAGE_SIZE, &v);
		if (ret >= 0)
			ret = vfm_v1_rd64(dev, VFM_V1_OFF_TOTAL_PFNS, &v);
		vfm_dev_unlock(dev);
		if (ret < 0) {
			snprintf(why, len, "%s: the driver does not answer the "
				 "dirty pfn fields (%s)", vfm_dev_name(dev),
				 strerror(-ret));
			return -EOPNOTSUPP;
		}
	}
	tr->v1_pfns = true;
	snprintf(why, len, "all %zu device(s) report dirty pfns through the "
		 "migration v1 region", tr->ndevs);
	return 0;
}

static int v1dirty_start(struct vfiomig_dirty *tr, uint64_t *page_size)
{
	uint64_t ps = *page_size ? *page_size : 4096;

	for (size_t i = 0; i < tr->ndevs; i++)
		tr->dd[i].log_pgsize = ps;
	tr->read_max = 0;
	*page_size = ps;
	return 0;
}

static int v1dirty_stop(struct vfiomig_dirty *tr)
{
	(void)tr;
	return 0;
}

/* OR nbits bits of src (LSB-first words) into dst at bit pos. */
static void or_bits(uint64_t *dst, uint64_t pos, const uint64_t *src,
		    uint64_t nbits)
{
	for (uint64_t i = 0; i < nbits; i++)
		if (src[i / 64] >> (i % 64) & 1)
			dst[(pos + i) / 64] |= 1ull << ((pos + i) % 64);
}

/* One request from pfn start for n pfns: how many were answered (the
 * bits ORed into buf at pos), or -errno. */
static int64_t request(struct vfiomig_dirty *tr, struct vfiomig_device *dev,
		       uint64_t start, uint64_t n, uint64_t kps, uint64_t *buf,
		       uint64_t pos)
{
	uint64_t copied, off, *bits;
	size_t bytes;
	int ret;

	ret = vfm_v1_wr64(dev, VFM_V1_OFF_START_PFN, start);
	if (!ret)
		ret = vfm_v1_wr64(dev, VFM_V1_OFF_PAGE_SIZE, kps);
	if (!ret)
		ret = vfm_v1_wr64(dev, VFM_V1_OFF_TOTAL_PFNS, n);
	if (!ret)
		ret = vfm_v1_rd64(dev, VFM_V1_OFF_COPIED_PFNS, &copied);
	if (ret < 0)
		return ret;
	if (copied == VFM_V1_DIRTY_PFNS_NONE)
		return (int64_t)n;
	if (copied == VFM_V1_DIRTY_PFNS_ALL) {
		vfm_bitmap_set(buf, pos, n);
		return (int64_t)n;
	}
	if (copied > n) {
		err(tr->ctx, "%s: v1 dirty pfns: %" PRIu64 " copied of %" PRIu64
		    " asked", vfm_dev_name(dev), copied, n);
		return -EPROTO;
	}
	ret = vfm_v1_rd64(dev, VFM_V1_OFF_DATA_OFFSET, &off);
	if (ret < 0)
		return ret;
	bytes = (size_t)((copied + 63) / 64 * 8);
	bits = malloc(bytes);
	if (!bits)
		return -ENOMEM;
	ret = vfm_v1_data_read(dev, off, bits, bytes);
	if (!ret)
		or_bits(buf, pos, bits, copied);
	free(bits);
	return ret < 0 ? ret : (int64_t)copied;
}

static int v1dirty_read(struct vfiomig_dirty *tr, size_t unit, uint64_t iova,
			uint64_t length, uint64_t kps, uint64_t *buf,
			unsigned int flags)
{
	struct vfiomig_device *dev = tr->devs[unit];
	uint64_t total = length / kps, done = 0;
	int64_t n = 0;
	int ret;

	(void)flags; /* the driver's report always clears */
	vfm_dev_lock(dev);
	ret = vfm_v1_quiesce(dev);
	while (!ret && done < total) {
		n = request(tr, dev, iova / kps + done, total - done, kps, buf,
			    done);
		if (n < 0)
			ret = (int)n;
		else if (!n)
			ret = -EPROTO; /* no progress: a driver looping */
		else
			done += (uint64_t)n;
	}
	vfm_dev_unlock(dev);
	if (ret < 0)
		err(tr->ctx, "%s: v1 dirty pfns [%#" PRIx64 ", +%#" PRIx64 "): %s",
		    vfm_dev_name(dev), iova, length, strerror(-ret));
	return ret;
}

const struct vfm_dirty_ops vfm_dirty_v1_ops = {
	.backend = VFIOMIG_DIRTY_MIG_V1,
	.start = v1dirty_start,
	.stop = v1dirty_stop,
	.read = v1dirty_read,
	/* Chunk rule: one reader per device at its page size, any stretch
	 * of the tracked ranges; bits only set. */
	.per_device = true,
};
