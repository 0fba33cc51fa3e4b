// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*),
 * validated as the VFIO core does it, with the uAPI's payloads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/vfio.h>

#include "conform.h"

/* The payloads are the uAPI's (layout pinned in lib/uapi-check.c) under
 * the public feature indices: the same numbers. */
_Static_assert(VFIOMIG_FEATURE_DMA_LOGGING_START == VFIO_DEVICE_FEATURE_DMA_LOGGING_START &&
	       VFIOMIG_FEATURE_DMA_LOGGING_STOP == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP &&
	       VFIOMIG_FEATURE_DMA_LOGGING_REPORT == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
	       "DMA logging feature indices");

static void set_range(struct vfio_device_feature_dma_logging_range *r,
		      uint64_t iova, uint64_t length)
{
	r->iova = iova;
	r->length = length;
}

static int log_start(struct vfiomig_device *dev,
		     struct vfio_device_feature_dma_logging_range *r, uint32_t n,
		     uint64_t *pgsize)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *pgsize, .num_ranges = n,
		.ranges = (__u64)(uintptr_t)r
	};
	int ret = vfiomig_feature_set(dev, VFIOMIG_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));

	*pgsize = ctl.page_size;
	return ret;
}

static int log_report(struct vfiomig_device *dev, uint64_t iova, uint64_t len,
		      uint64_t pgsize, uint64_t *bm)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova, .length = len, .page_size = pgsize,
		.bitmap = (__u64)(uintptr_t)bm
	};

	return vfiomig_feature_get(dev, VFIOMIG_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
}

static int log_stop(struct vfiomig_device *dev)
{
	return vfiomig_feature_set(dev, VFIOMIG_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

void check_dma_logging(struct conform *k)
{
	struct vfio_device_feature_dma_logging_range r[2];
	uint64_t bm[4] = { 0 }, ps;
	char why[400] = "", warn[256] = "";
	size_t n = 0, w = 0;
	int ret = vfiomig_feature_probe(k->dev, VFIOMIG_FEATURE_DMA_LOGGING_START,
					VFIOMIG_FEATURE_SET);

	cli_clear_err(k->c);
	if (ret <= 0) {
		report(k, CK_DMA_LOGGING, R_SKIP, "no DMA logging (%s)",
		       ret ? cli_strerror(ret) : "the driver has no log_ops");
		return;
	}
#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			addf(why, sizeof(why), &n, __VA_ARGS__);               \
	} while (0)
	ps = 4096;
	ret = log_start(k->dev, r, 0, &ps);
	EXPECT(ret == -EINVAL, "START with 0 ranges: %s", ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);
	set_range(&r[0], 0x100000, 0x200000);
	set_range(&r[1], 0x200000, 0x200000);
	ps = 4096;
	ret = log_start(k->dev, r, 2, &ps);
	EXPECT(ret == -EINVAL, "START with overlapping ranges: %s",
	       ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);
	set_range(&r[0], 0x100800, 0x1000);
	ps = 4096;
	ret = log_start(k->dev, r, 1, &ps);
	EXPECT(ret == -EINVAL, "START with an unaligned range: %s",
	       ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);

	set_range(&r[0], 0x100000, 0x40000);
	ps = 4096;
	ret = log_start(k->dev, r, 1, &ps);
	EXPECT(!ret, "START of one aligned range: %s", cli_errname(ret));
	if (!ret) {
		uint64_t ps2 = 4096;

		if (ps != 4096)
			addf(warn, sizeof(warn), &w, "tracks at page size %" PRIu64, ps);
		ret = log_report(k->dev, 0x100000, 0x40000, 4096, bm);
		if (ret == -EOPNOTSUPP)
			addf(warn, sizeof(warn), &w, "REPORT: EOPNOTSUPP (a kernel without "
			     "CONFIG_IOMMUFD_DRIVER)");
		else
			EXPECT(!ret, "REPORT: %s", cli_errname(ret));
		ret = log_report(k->dev, 0x100000, 0x40000, 1024, bm);
		EXPECT(ret == -EINVAL, "REPORT with page size 1024: %s",
		       ret ? cli_errname(ret) : "accepted");
		ret = log_report(k->dev, 0x100000, 0x40000, 6144, bm);
		EXPECT(ret == -EINVAL, "REPORT with page size 6144: %s",
		       ret ? cli_errname(ret) : "accepted");
		ret = log_start(k->dev, r, 1, &ps2);
		if (!ret)
			addf(warn, sizeof(warn), &w, "a second START while logging was accepted "
					      "(allowed: mtty does this)");
		ret = log_stop(k->dev);
		EXPECT(!ret, "STOP: %s", cli_errname(ret));
	}
#undef EXPECT
	cli_clear_err(k->c);
	if (n)
		report(k, CK_DMA_LOGGING, R_FAIL, "%s", why);
	else if (w)
		report(k, CK_DMA_LOGGING, R_WARN, "validation as the core does it; %s", warn);
	else
		report(k, CK_DMA_LOGGING, R_PASS,
		       "bad START refused (0 ranges, overlap, unaligned), START/REPORT/STOP "
		       "work, bad REPORT page sizes refused, second START refused");
}
