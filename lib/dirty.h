/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty page tracking, private: the tracker and the backend interface
 * shared by lib/dirty*.c.  The pure bitmap and range helpers, and the
 * rules for arithmetic at the edges, are in bitmap.h.
 */
#ifndef VFIOMIG_DIRTY_H
#define VFIOMIG_DIRTY_H

#include <inttypes.h>
#include <stdio.h>

#include "internal.h"
#include "bitmap.h"
#include "ranges.h"

/* ------------------------------------------------------------- tracker */

/*
 * The query loop (dirty.c) lets the kernel write straight into the
 * caller's bitmap whenever the page sizes match and the bits start on a
 * word; the scratch buffer (one per tracker, this size whatever the guest
 * size) takes only unaligned edges, page-size conversion and Type1 calls
 * that cannot be written in place.  Kernel-setting reads through scratch
 * go in chunks of VFM_DIRTY_CHUNK_BYTES of bitmap, aligned in absolute
 * IOVA (8 GiB at 4 KiB pages), so a chunk never splits a large IOPTE.
 */
#define VFM_DIRTY_SCRATCH_BYTES (1024u * 1024)
#define VFM_DIRTY_CHUNK_BYTES (256u * 1024)

struct vfiomig_dirty;

/*
 * A backend: how one kernel interface reads a stretch of dirty bits, and
 * its chunk rule.  Backends never call dirty.c; dirty.c owns the one
 * query loop and calls read() (or unmap_read()) per stretch.
 */
struct vfm_dirty_ops {
	int backend;
	/* Begin tracking tr->start_ranges; *page_size in: the caller's wish, out:
	 * the granularity the backend tracks at.  Sets tr->read_max. */
	int (*start)(struct vfiomig_dirty *tr, uint64_t *page_size);
	int (*stop)(struct vfiomig_dirty *tr);
	/* Optional: refuse a query or unmap range before anything is
	 * touched (Type1: it must not bisect a mapping). */
	int (*check_range)(struct vfiomig_dirty *tr, uint64_t iova,
			   uint64_t length);
	/*
	 * The primitive: the kernel's dirty bits of [iova, iova + length),
	 * read by reader `unit` (a device for DMA logging, else 0) at page
	 * size kps into buf (bit n = iova + n * kps): bits only set
	 * (DMA logging, iommufd), or whole words written (.overwrites).
	 * flags: the query's (NO_CLEAR).  0 or -errno (logged).
	 */
	int (*read)(struct vfiomig_dirty *tr, size_t unit, uint64_t iova,
		    uint64_t length, uint64_t kps, uint64_t *buf,
		    unsigned int flags);
	/* Optional (Type1): unmap [iova, iova + length) writing its dirty
	 * bits into buf as read() does, one kernel operation; without it
	 * dirty.c reads with NO_CLEAR then unmaps. */
	int (*unmap_read)(struct vfiomig_dirty *tr, uint64_t iova,
			  uint64_t length, uint64_t kps, uint64_t *buf);
	/*
	 * Optional: a mapping [iova, +length) was added to a followed IOMMU
	 * context while tracking (tr->ranges does not have it yet): make the
	 * kernel track it, or -errno (logged; the map is undone).  *lost:
	 * set when bits logged before were dropped (DMA logging restarted):
	 * dirty.c then reports every page tracked before as dirty.
	 * Without it the kernel covers new mappings by itself.
	 */
	int (*add_range)(struct vfiomig_dirty *tr, uint64_t iova,
			 uint64_t length, bool *lost);
	/* Undo what backend setup did (re-attach devices, free HWPT). */
	void (*release)(struct vfiomig_dirty *tr);

	/* The chunk rule. */
	bool per_device;   /* one reader per device, at dd[i].log_pgsize;
			    * else one at tr->page_size */
	bool from_plan;    /* read tr->plan's ranges, else tr->ranges */
	bool whole_ranges; /* a read covers whole tracked ranges (holes
			    * between them allowed), never splits one */
	bool overwrites;   /* the kernel writes whole words (zeros too) */
};

struct vfm_dirty_dev {
	uint64_t log_pgsize;  /* DMA logging: page size the kernel answered */
	bool logging;         /* DMA logging started on this device */
	bool attached;        /* iommufd: re-attached to our HWPT */
	uint32_t prev_pt;     /* iommufd: attachment to restore */
};

struct vfiomig_dirty {
	struct vfiomig_ctx *ctx;
	/* Serialises the caller's calls with the mappings a followed IOMMU
	 * context reports from other threads (vfm_iommu_follower). */
	pthread_mutex_t lock;
	struct vfiomig_device **devs;
	struct vfm_dirty_dev *dd;     /* per device */
	size_t ndevs;
	int backend;
	const struct vfm_dirty_ops *ops;
	char reason[512];
	bool started;
	uint64_t page_size;           /* tracking granularity once started */

	/* The caller's ranges from start(), sorted, non-overlapping, not
	 * merged (for Type1 each one is a mapping); unmaps remove from it,
	 * O(log n) each. */
	struct vfm_rangeset ranges;
	/* During start() only: the same, as a sorted array (backends plan
	 * and check from it). */
	const struct vfiomig_range *start_ranges;
	size_t n_start_ranges;

	uint64_t *scratch;             /* VFM_DIRTY_SCRATCH_BYTES, from start() */
	size_t scratch_bytes;
	uint64_t read_max;            /* bytes of bitmap one read may fill
				       * (0: no limit); set by start() */

	/* IOMMU context: a Type1 container, or an iommufd + IOAS. */
	int container_fd;             /* -1 if none */
	int iommufd;                  /* -1 if none */
	uint32_t ioas_id;

	/* DMA logging: the ranges given to the kernel, aligned to
	 * plan_align (the page size asked at start). */
	struct vfiomig_range *plan;
	size_t nplan;
	uint64_t plan_align;

	/* Following the library's mappings (start without ranges): one
	 * follower per IOMMU context (vfm_iommu_follower). */
	struct vfm_dirty_follow *follow;
	size_t nfollow;
	/* Spans whose bits the kernel dropped (DMA logging restarted for a
	 * new mapping): reported dirty by the next query or unmap covering
	 * them.  O(ranges), never a bitmap. */
	struct vfm_rangeset pending;
	/* A restart failed and could not be undone: the kernel no longer
	 * logs what it should.  Queries report all dirty and fail. */
	bool broken;

	/* iommufd */
	uint32_t hwpt_id;
	bool own_hwpt;
	uint32_t *dev_ids;            /* iommufd device ids: the VFIO devices'
				       * first, then opts->dev_ids */
	size_t n_dev_ids;
	size_t n_vfio_dev_ids;

	/* every device has the v1 region's dirty pfns (dirty-v1.c) */
	bool v1_pfns;
	/* Type1 migration capability */
	uint64_t t1_pgsize;
	uint64_t t1_max_bitmap;
};

struct vfm_dirty_follow {
	struct vfm_iommu_follower f;   /* first: container_of */
	struct vfiomig_dirty *tr;
};

extern const struct vfm_dirty_ops vfm_dirty_dmalog_ops;
extern const struct vfm_dirty_ops vfm_dirty_iommufd_ops;
extern const struct vfm_dirty_ops vfm_dirty_type1_ops;
/* dirty-v1.c: the mig-v1 backend, migration v1 devices' dirty pfns; the
 * probe sets tr->v1_pfns when every device has them. */
extern const struct vfm_dirty_ops vfm_dirty_v1_ops;
int vfm_v1dirty_probe(struct vfiomig_dirty *tr, char *why, size_t len);

/* Availability probes: 0 = usable, else -errno with why[] filled. */
int vfm_dmalog_probe(struct vfiomig_dirty *tr, char *why, size_t len);
int vfm_iommufd_probe(struct vfiomig_dirty *tr, char *why, size_t len);
int vfm_type1_probe(struct vfiomig_dirty *tr, char *why, size_t len);
/* iommufd backend setup: find or allocate the dirty HWPT, attach the
 * VFIO devices to it. */
int vfm_iommufd_setup(struct vfiomig_dirty *tr, uint32_t hwpt_id);

/* iommufd helpers (dirty-iommufd.c), also used by the device-level
 * vfiomig_iommufd_hw_caps(). */
int vfm_iommufd_hw_caps(int iommufd, uint32_t dev_id, uint64_t *caps);
/* Type1 helpers (dirty-type1.c). The capability chain parser is pure
 * (dirty-type1-caps.c): buf/buflen is what GET_INFO filled; 0, -ENOENT
 * (no migration capability) or -EPROTO (malformed). */
int vfm_type1_parse_mig_cap(const void *buf, size_t buflen, uint64_t *pgsize,
			    uint64_t *max_bitmap);
int vfm_type1_mig_cap(struct vfiomig_ctx *ctx, int container_fd,
		      uint64_t *pgsize, uint64_t *max_bitmap);

#endif
