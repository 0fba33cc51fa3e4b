/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake kernel: what tests use to build a fake machine.
 *
 * Linked into the fake-kernel test programs only.  It interposes the libc
 * calls listed in lib/sys.h; calls on fds it did not create pass through
 * to libc.  Device nodes live under fake_dev_root() and a sysfs tree under
 * fake_sysfs_root(), both in a private temporary directory; point a
 * vfiomig_ctx at them.  Every behaviour follows
 * ../shared/docs/kernel-contract.md: same argsz minimums, flag checks and
 * errno values, in the same order.
 *
 * Threads: the fake is one machine shared by every thread of a test, under
 * one recursive lock (fake_lock() in fake-internal.h).  Every interposer
 * takes it once it knows the fd or path is the fake's, and every function
 * below takes it, so tests may call them from any thread (a test thread
 * dirtying pages while another queries).  Calls on real fds and paths go to
 * libc without the lock, so they may block (a pipe read waiting for a
 * writer thread); the fake's own files never block.  The fake thus adds no
 * ordering between library calls on real fds, and only one between calls
 * on fake fds that the kernel's own locks would add too: under
 * ThreadSanitizer, a race between threads is the caller's.  A new
 * interposer (fake-*.c) follows the same rule: look the fd up with the
 * lock held, drop it before going to libc.
 */
#ifndef FAKE_H
#define FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a driver ends precopy data for now (contract 5.1). */
enum fake_precopy_end {
	FAKE_END_ZERO = 0,   /* read() returns 0 (mtty, hisi, qat) */
	FAKE_END_ENOMSG = 1, /* read() fails with ENOMSG (mlx5) */
};

enum fake_personality {
	FAKE_GENERIC = 0, /* programmable state blob, see fields below */
	FAKE_MTTY = 1,    /* samples/vfio-mdev/mtty.c exactly (contract 12) */
};

struct fake_dev_cfg {
	const char *name;       /* "0000:3b:00.1" or an mdev UUID */
	bool mdev;              /* mdev (emulated IOMMU) vs PCI function */
	const char *mdev_type;  /* "mtty-2" */
	const char *driver;     /* "vfio-pci", "mlx5_vfio_pci", "mtty" */
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code;
	int group;              /* IOMMU group number */
	int cdev;               /* N of /dev/vfio/devices/vfioN, -1 = none */
	int personality;        /* enum fake_personality */
	int mtty_ports;         /* FAKE_MTTY: 1 or 2 */
	uint64_t mig_flags;     /* 0 = no mig_ops: migration features ENOTTY */
	bool log_ops;           /* DMA logging feature present */
	bool log_reject_double; /* second START -> EINVAL (mlx5); mtty: no */
	size_t state_size;      /* GENERIC: STOP_COPY stream length */
	size_t precopy_initial; /* GENERIC: initial bytes in PRE_COPY */
	size_t precopy_dirty;   /* GENERIC: bytes dirtied per precopy round */
	int precopy_end;        /* enum fake_precopy_end */
	bool hw_dirty;          /* iommufd: IOMMU_HW_CAP_DIRTY_TRACKING */
	/* GENERIC: the kernel has PRECOPY_INFOv2 (feature 12, contract 16);
	 * false = 6.12, where feature 12 is ENOTTY (mtty never has it). */
	bool precopy_v2;
	/* GENERIC: re-initialise once per saving session, as
	 * fake_dev_precopy_reinit(id, reinit_bytes), when a read() in a
	 * PRE_COPY state brings the stream position to reinit_after bytes or
	 * more (0 = never). */
	size_t reinit_after, reinit_bytes;
	/* vfio-pci functions (!mdev), what vfio_pci_core answers of them;
	 * all 0 (fake_cfg_pci) is a PCIe function with no BAR and a working
	 * reset.  bar_size: memory BAR i of this size (READ|WRITE|MMAP, no
	 * sparse areas; reads within it are 0, writes dropped), 0 = none.
	 * no_reset: no reset method (vdev->reset_works false): GET_INFO
	 * without VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_RESET EINVAL.
	 * conventional: not PCIe, so no ERR IRQ index (EINVAL). */
	uint64_t bar_size[6];
	bool no_reset;
	bool conventional;
};

/* Fill cfg with an mtty-2 (or mtty-1) instance like the VM's. */
void fake_cfg_mtty(struct fake_dev_cfg *cfg, const char *uuid, int ports,
		   int group, int cdev);
/* Fill cfg with a vfio-pci variant function with migration flags. */
void fake_cfg_pci(struct fake_dev_cfg *cfg, const char *bdf, int group,
		  int cdev, uint64_t mig_flags);

/* Create an empty fake machine: /dev/vfio/vfio, /dev/iommu (when
 * with_iommufd), the sysfs skeleton. Returns 0 or -errno. */
int fake_init(bool with_iommufd);
/* Tear it all down (closing the fake fds left open); returns how many
 * fake fds were still open (leaks). */
int fake_fini(void);
const char *fake_sysfs_root(void);
const char *fake_dev_root(void);

/* Add a device (sysfs entries, group node, cdev node). Returns an id. */
int fake_add_device(const struct fake_dev_cfg *cfg);

/* Fault injection: the nth (1-based) intercepted call from now on a fake
 * fd or fake node fails with err (no side effect). 0 disarms.  One-shot.
 * An intercepted call is one on a fake fd, an open of an existing fake
 * node, a poll with a fake fd in its set, a splice with a fake end; calls
 * on real fds are neither counted nor failed.  close() is the exception to
 * "no side effect": like Linux close(), it releases the fd even when it
 * reports the error, so that no caller leaks. */
void fake_fail_nth(unsigned int nth, int err);
/* Same, but only counting calls whose name matches ("ioctl", "read",
 * "write", "open", "close", "splice", "poll", "pread", "pwrite", "fcntl":
 * F_DUPFD and F_DUPFD_CLOEXEC of a fake fd). */
void fake_fail_nth_call(const char *call, unsigned int nth, int err);
/* Intercepted calls since fake_init (to enumerate fault points). */
unsigned int fake_calls(void);
/* Fake fds currently open (leak checks). */
int fake_open_fds(void);

/* Device model access for tests. */
int fake_dev_state(int id);
void fake_dev_set_state(int id, int state);
/* Make ERROR reachable (only RESET leaves it), like pds. */
void fake_dev_force_error(int id);
/* Fail the next SET arc from -> to with err (device stays in from). */
void fake_dev_fail_arc(int id, int from, int to, int err);
/* GENERIC: fill the device's state blob from a seed (deterministic). */
void fake_dev_fill(int id, uint32_t seed);
/* Copy of the device's current state blob / mtty registers. */
size_t fake_dev_blob(int id, void *buf, size_t len);
/* GENERIC: dirty n more precopy bytes now. */
void fake_dev_dirty_precopy(int id, size_t n);
/* PRECOPY_INFOv2 and REINIT (contract 16), GENERIC devices with
 * cfg.precopy_v2 only.  A SET of feature 12 (payload >= 0, GET: EINVAL,
 * PROBE: 0 without effect, EINVAL without VFIO_MIGRATION_PRE_COPY) turns
 * the device's v2 flag on until its last device fd closes (a variant
 * driver resets on the next open, so the flag is per open of the device).
 * PRECOPY_INFO then writes flags as output: VFIO_PRECOPY_INFO_REINIT once
 * after each re-initialisation, else 0.  Without the flag flags is echoed
 * as the caller sent it (6.12, contract 5.3).
 * fake_dev_precopy_reinit(): the device re-initialises in the middle of
 * precopy: the chunks covering the first n bytes of its state (at least
 * one) are appended to the saving stream again as new initial data (each
 * record is 24 bytes of header + the chunk, so initial_bytes grows by a
 * little more than n), initial_bytes now counts every unread byte up to
 * the end of them (dirty data queued before included) and falls back to
 * 0 as it is read, and the next PRECOPY_INFO reports REINIT (with v2 on;
 * without it the report is consumed unseen).  The stream still loads.
 * Returns 0, -ENODEV (no such device), -ENOTTY (mtty), -EINVAL (no
 * saving session in a PRE_COPY state). */
int fake_dev_precopy_reinit(int id, size_t n);
/* Is the device's PRECOPY_INFOv2 flag on (a SET of feature 12 done)? */
bool fake_dev_precopy_v2(int id);

/* Every arc the device FSMs took or refused, in order, across devices (a
 * SET walking several arcs logs each; a refused arc has err != 0 and the
 * device stayed in from).  VFIO_DEVICE_RESET of a device with migration
 * logs from -> RUNNING with reset set.  set is the serial number of the
 * MIG_DEVICE_STATE SET that walked the arc (1 = the first SET since
 * fake_init or fake_arc_log_clear), 0 for a reset. */
struct fake_arc {
	int id;
	int from, to;
	int err;                /* negative errno of a refused arc, else 0 */
	bool reset;
	unsigned int set;
};
/* Copy up to max entries from the start of the log; returns how many
 * the log holds (at most FAKE_ARC_LOG_MAX; later arcs are dropped, and
 * fake_arc_log_dropped() counts them). */
#define FAKE_ARC_LOG_MAX 4096
size_t fake_arc_log(struct fake_arc *out, size_t max);
size_t fake_arc_log_dropped(void);
void fake_arc_log_clear(void);

/* Every MIG_DEVICE_STATE SET that reached a device's model, in order,
 * across devices: the state asked for and the answer (0 or a negative
 * errno), whatever arcs it walked.  An injected failure is not one.
 * Cleared with the arc log; at most FAKE_ARC_LOG_MAX (later ones are
 * counted by fake_arc_log_dropped()). */
struct fake_set {
	int id;
	int state;
	int err;
};
size_t fake_set_log(struct fake_set *out, size_t max);

/* ioctl() calls on fake fds since fake_init (injected failures, FIOCLEX
 * and the like included: each is a syscall strace would count). */
unsigned int fake_ioctls(void);
/* Per device, since it was added: ioctls on its device fds and data fds,
 * and among them the migration calls by what they asked for (index and
 * GET or SET, PROBE not counted), whatever the answer. */
struct fake_dev_ioctls {
	unsigned int total;        /* every ioctl on its device or data fds */
	unsigned int state_gets;   /* MIG_DEVICE_STATE GET */
	unsigned int state_sets;   /* MIG_DEVICE_STATE SET (failed ones too) */
	unsigned int mig_gets;     /* MIGRATION GET */
	unsigned int data_sizes;   /* MIG_DATA_SIZE GET */
	unsigned int precopy_infos; /* VFIO_MIG_GET_PRECOPY_INFO */
	unsigned int v2_sets;      /* PRECOPY_INFOv2 SET (PROBE excluded) */
	unsigned int resets;       /* VFIO_DEVICE_RESET */
};
void fake_dev_ioctls(int id, struct fake_dev_ioctls *out);
/* Number of DMA logging STARTs active, and set DMA-logged dirty pages. */
bool fake_dev_logging(int id);
void fake_dev_dma_write(int id, uint64_t iova, uint64_t length);
/* Type1 / iommufd: pages written by DMA (marks every tracker). */
void fake_dma_write(uint64_t iova, uint64_t length);
/* DMA_LOGGING_START answers this page size instead of echoing the one asked
 * (a driver's choice; 0 = echo, as mtty always does). */
void fake_dev_set_log_pgsize(int id, uint64_t page_size);
/* The machine's IOMMU, which the vfio-pci functions' domains get (Type1's
 * iova_pgsizes and IOVA ranges, an iommufd domain's aperture): its page
 * sizes and the last IOVA of a domain; 0 = the default, a host's VT-d
 * (4K|2M|1G, 48 bits).  The MSI window 0xfee00000-0xfeefffff is always
 * reserved.  Reset by fake_init. */
void fake_set_iommu(uint64_t pgsizes, uint64_t aperture_last);
/* Type1 max_dirty_bitmap_size: reported by GET_INFO's migration capability
 * and enforced by GET_BITMAP and UNMAP_DMA with a bitmap (0 = the kernel's
 * 256 MiB; reset when a machine's first device is added). */
void fake_set_dirty_bitmap_max(uint64_t bytes);
/* Counters of the dirty-tracking calls that reached the model. */
struct fake_dirty_stats {
	unsigned int log_starts, log_reports;
	unsigned int type1_get_bitmaps, type1_unmap_bitmaps;
	uint64_t type1_max_bitmap_bytes; /* largest bitmap.size seen */
	unsigned int hwpt_allocs, hwpt_get_bitmaps;
};
void fake_dirty_get_stats(struct fake_dirty_stats *s);
void fake_dirty_reset_stats(void);

/* Programmable regions (fake-region.c): region index of the device answers
 * GET_REGION_INFO like vfio-pci answers a device-specific region: offset
 * index << 40, these flags (CAPS added when there is a chain), size, and
 * caps_len bytes of chain copied verbatim after the 32-byte info (so the
 * test writes the next offsets itself, counted from the info start: the
 * first capability sits at 32) when argsz is large enough, else argsz
 * grown to what is needed and cap_offset 0.  Index 9 and above adds
 * device-specific regions (num_regions becomes index + 1; the missing ones
 * answer EINVAL); 0-8 replace the personality's answer.  pread/pwrite
 * reach min(size, 1 MiB) bytes of memory (past it EINVAL, clipped at it). */
struct fake_region {
	uint32_t flags;          /* VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP */
	uint64_t size;
	const void *caps;        /* copied */
	size_t caps_len;
	int64_t cap_offset;      /* reported when the chain fits; -1 = 32 */
	uint32_t argsz_grow;     /* each call needs this much more than the
				  * one before (a chain that keeps growing) */
	size_t max_xfer;         /* pread/pwrite move at most this (0: all) */
	unsigned int eintr;      /* first N accesses fail with EINTR */
};
int fake_dev_set_region(int id, uint32_t index, const struct fake_region *r);
struct fake_region_stats {
	unsigned int calls;      /* pread/pwrite calls that reached it */
	unsigned int eintrs;
	size_t last_len;         /* length asked by the last call */
	uint64_t last_off;
};
void fake_dev_region_stats(int id, uint32_t index,
			   struct fake_region_stats *out);
/* Live mappings of programmed regions made through mmap() of a device fd
 * and not yet munmap()ed (leak checks). */
int fake_region_mmaps(void);

/*
 * A migration v1 device (Linux 5.8-5.17, fake-v1.c): give a device added
 * with mig_flags 0 (VFIO_DEVICE_FEATURE answers ENOTTY) a region of type
 * 3 (VFIO_REGION_TYPE_MIGRATION_DEPRECATED) subtype 1 at index, whose
 * first bytes are struct vfio_device_migration_info: device_state (u32
 * at 0), reserved (u32 at 4), pending_bytes (8), data_offset (16),
 * data_size (24) and, with pfns, the proposal's start_pfn (32), page_size
 * (40), total_pfns (48), copied_pfns (56).  What it enforces, as a v1
 * vendor driver did:
 *  - a header field is reached only by one access of exactly its width
 *    at its offset (device_state: 4 bytes at 0; the u64s: 8 bytes at
 *    theirs); anything else in the header, the reserved word included,
 *    and anything between the header and the data area: EINVAL;
 *  - device_state: bits 0-2 _RUNNING, _SAVING, _RESUMING; _RESUMING with
 *    any other bit (SAVING|RESUMING is the error encoding) is EINVAL;
 *    bits 3-31 are the driver's (cfg.reserved) and a write must carry
 *    them unchanged (read-modify-write), else EINVAL; a refused write
 *    leaves the state as it was;
 *  - read-only fields (pending_bytes, data_offset, copied_pfns) refuse a
 *    write with EINVAL; pending_bytes outside _SAVING and data_offset or
 *    data_size outside _SAVING/_RESUMING are EINVAL;
 *  - saving: reading pending_bytes commits the chunk staged before (it
 *    "was read") and returns the state bytes left; reading data_offset
 *    stages the next chunk (at most chunk_max bytes: the driver's own
 *    format, an 8-byte offset into the state and the bytes there) in the
 *    data area, once until pending_bytes is read again; data_size is the
 *    staged chunk.  In _SAVING|_RUNNING only the first precopy_initial
 *    bytes are offered, and with precopy_dirty, once they are drained,
 *    every second pending_bytes read that finds nothing left dirties the
 *    first precopy_dirty bytes again (re-sent: a device that never
 *    drains); in _SAVING the whole state, and a session continues from
 *    where it was (entering _SAVING from a state without it starts over);
 *  - resuming: data_offset is the data area; writing data_size (at most
 *    the data area, more than the 8-byte offset) applies that chunk to
 *    the state (ENOSPC for an offset outside it);
 *  - the data area is any access inside it; with mmap it is mappable
 *    (the region has VFIO_REGION_INFO_FLAG_MMAP and a sparse mmap
 *    capability covering exactly the data area; mmap elsewhere: EINVAL);
 *  - dirty pfns (pfns): start_pfn, page_size, total_pfns are written,
 *    reading copied_pfns answers for [start_pfn, +total_pfns) of the pages
 *    marked by fake_v1_dirty() (4 KiB pfns; page_size other than 4096 or
 *    total_pfns 0: EINVAL): 0 (VFIO_DEVICE_DIRTY_PFNS_NONE) when none is
 *    dirty, else the bits of the first min(total_pfns, pfns_max) pfns
 *    copied into the data area (LSB-first u64 words; data_offset then
 *    names it without staging a chunk) and cleared; pfns_answer forces
 *    NONE or ALL (~0) instead, clearing the range all the same.
 */
struct fake_v1_cfg {
	uint32_t index;          /* region index, >= 9 */
	uint64_t region_size;    /* 0: 64 KiB (at most 1 MiB) */
	uint64_t data_offset;    /* the data area; 0: 4096 */
	uint64_t data_size;      /* 0: the rest of the region */
	size_t chunk_max;        /* largest chunk staged; 0: data_size */
	bool mmap;               /* mappable data area */
	bool pfns;               /* header with the pfn fields */
	size_t state_size;       /* the device's state (the saved stream) */
	size_t precopy_initial;  /* offered in _SAVING|_RUNNING */
	size_t precopy_dirty;    /* re-dirtied per drained precopy round */
	uint32_t reserved;       /* driver bits 3-31 of device_state */
	uint64_t pfns_max;       /* most pfns one answer copies (partial
				  * answers); 0: what the data area holds */
	int pfns_answer;         /* 0: the bits, 1: always NONE, 2: ALL */
};
int fake_dev_set_v1(int id, const struct fake_v1_cfg *cfg);
/* device_state as the driver holds it (bits 0-2 and the reserved ones). */
uint32_t fake_v1_state(int id);
void fake_v1_set_state(int id, uint32_t state);
/* The next write of device_state fails with err (state unchanged). */
void fake_v1_fail_state(int id, int err);
/* Fill the device state from a seed; copy it out (returns its size). */
void fake_v1_fill(int id, uint32_t seed);
size_t fake_v1_blob(int id, void *buf, size_t len);
/* Mark pfns [pfn, +n) (4 KiB pages, below 2^20) dirty, as device DMA. */
void fake_v1_dirty(int id, uint64_t pfn, uint64_t n);
/* Is this a v1 device? */
bool fake_dev_is_v1(int id);
struct fake_v1_stats {
	unsigned int chunks_saved;  /* chunks staged and committed */
	unsigned int chunks_loaded; /* data_size writes consumed */
	unsigned int refused;       /* accesses refused (EINVAL) */
	unsigned int state_writes;  /* device_state writes (refused too) */
	uint64_t bytes_saved, bytes_loaded;
	uint64_t last_chunk;        /* size of the last chunk either way */
};
void fake_v1_stats(int id, struct fake_v1_stats *out);

#endif
