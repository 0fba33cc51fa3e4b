/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private declarations shared by the library's source files. */
#ifndef VFIOMIG_INTERNAL_H
#define VFIOMIG_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>

#include "export.h"
#include "vfiomig.h"
#include "sys.h"


#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define offsetofend(TYPE, FIELD)                                               \
	(offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))

struct vfiomig_ctx {
	vfiomig_log_fn log_fn;
	void *log_data;
	int log_priority;
	char *sysfs_root;
	char *dev_root;
	/* dma.c: the IOMMU contexts made with this context (vfm_iommu_find),
	 * a list behind a mutex held for a list walk only (never with a
	 * context's or a tracker's lock held). */
	struct vfiomig_iommu *iommus;
	pthread_mutex_t iommus_lock;
};

/* A data session: the data fd the kernel returned on an fd-creating arc. */
struct vfiomig_session {
	int fd;           /* -1 when no session */
	bool saving;      /* PRE_COPY/STOP_COPY side, else resuming */
	/* A load failed, or the driver refused the stream at RESUMING->STOP:
	 * what the device holds must never be committed.  Outlives the fd;
	 * cleared by a reset or a new session. */
	bool refused;
	/* A save or load is moving data on fd (outside the device lock):
	 * nothing may end the session until it is done. */
	bool busy;
	/* PRECOPY_INFOv2 was on when the session opened: flags are real. */
	bool v2;
	/* How the stream moves (migv1.c: chosen per handle when the session
	 * opens); with shares_device_fd, fd is the device fd (v1: the stream
	 * is the migration region's), never closed by the session. */
	const struct vfm_mig_ops *ops;
	/* A REINIT was reported and initial_bytes has not been seen at 0
	 * since; reinits counts the reports of this session. */
	bool reinit_pending;
	unsigned int reinits;
	/* The transfer buffer, set up on the first fd/callback transfer of
	 * the session (MIG_DATA_SIZE once) and freed with the session. */
	void *buf;
	size_t bsize;
};

struct vfiomig_device {
	struct vfiomig_ctx *ctx;
	/* Recursive.  Held by every state change for its whole length and
	 * around every use of the session's fields (libvfiomig(7),
	 * Threads). */
	pthread_mutex_t lock;
	int fd;              /* device fd */
	bool own_fd;
	int iommu_path;      /* enum vfiomig_iommu_path */
	int group_fd;        /* Type1 path: the group, -1 otherwise */
	int container_fd;    /* Type1 path */
	bool own_container;
	int iommufd;         /* iommufd path */
	bool own_iommufd;
	uint32_t devid, ioas_id, hwpt_id;
	bool own_ioas;       /* the library allocated ioas_id */
	char *name;          /* PCI address or UUID, may be NULL */
	char *sysfs_path;    /* may be NULL */
	char *driver;        /* may be NULL */
	char *mdev_type;     /* NULL for PCI */
	bool have_pci_ids;
	struct vfiomig_pci_ids pci_ids;
	/* Migration: cached capability flags, written once (atomically,
	 * flags before known) by whichever thread asks first. */
	uint64_t mig_flags;
	bool mig_flags_known;
	struct vfiomig_session session;
	/* The state the library last set or read; -1 when unknown (before
	 * the first GET, after a failure).  Read and written under lock;
	 * state_gen counts the notes (vfm_dev_state_note_read). */
	int state;
	unsigned int state_gen;
	/* PRECOPY_INFOv2: the caller opted out; the SET was tried; it is on. */
	bool no_precopy_v2, precopy_v2_tried, precopy_v2;
	/* A tracker claimed this device's dirty tracking (the library refuses
	 * a second START; mtty would accept it; a second HWPT attach would
	 * steal the device).  vfm_dev_claim_logging(). */
	bool dirty_logging;
	/* The IOMMU context (dma.c): the one the device was opened into
	 * (a reference), or its own borrowing its fds; NULL without one. */
	struct vfiomig_iommu *io;
	/* region.c: the region cache (struct vfm_regions), NULL until
	 * first used; vfm_dev_regions(). */
	void *regions;
	/* migv1.c: the migration protocol (VFIOMIG_PROTO_*; -1 until
	 * detected on first use, written once under the lock), the one the
	 * caller forced (0: detect), and the v1 state (struct vfm_v1). */
	int proto;
	int proto_forced;
	void *v1;
};

/* device.c: the device lock (see struct vfiomig_device). */
void vfm_dev_lock(struct vfiomig_device *dev);
void vfm_dev_unlock(struct vfiomig_device *dev);
/* device.c: a device's dirty tracking (DMA logging, or attachment to a
 * tracker's HWPT) belongs to one tracker at a time: claim it (-EBUSY when
 * another has it, in any thread) or give it back. */
int vfm_dev_claim_logging(struct vfiomig_device *dev);
void vfm_dev_release_logging(struct vfiomig_device *dev);
/* device.c: the HWPT the device is attached to (0: its IOAS's automatic
 * domain); a tracker moving it onto its dirty-tracking HWPT (and back)
 * records that here, readable from any thread. */
uint32_t vfm_dev_hwpt(const struct vfiomig_device *dev);
void vfm_dev_set_hwpt(struct vfiomig_device *dev, uint32_t hwpt_id);

/* device.c: the handle's region cache slot (region.c fills it under the
 * device lock; freed with the handle). */
void *vfm_dev_regions(struct vfiomig_device *dev);
void vfm_dev_set_regions(struct vfiomig_device *dev, void *regions);

/* device.c: the remembered state (-1: unknown) and noting it.  A state
 * read from the kernel is noted only if no state was noted while it was
 * read (vfm_dev_state_gen before the read): another thread's SET that
 * finished in between knows better, and a stale read must not undo it. */
int vfm_dev_state_cached(struct vfiomig_device *dev);
void vfm_dev_state_note(struct vfiomig_device *dev, int state);
unsigned int vfm_dev_state_gen(struct vfiomig_device *dev);
void vfm_dev_state_note_read(struct vfiomig_device *dev, int state,
			     unsigned int gen);
/* device.c: release the session's data fd and buffer (the slot the
 * handle owns); session.c decides when, a reset or free always does. */
void vfm_dev_session_close(struct vfiomig_device *dev);

/* States whose data session reads the device (the saving group). */
static inline bool vfm_saving_state(int s)
{
	return s == VFIOMIG_STATE_PRE_COPY || s == VFIOMIG_STATE_PRE_COPY_P2P ||
	       s == VFIOMIG_STATE_STOP_COPY;
}

/* The device's name for messages: PCI address or UUID, else "device". */
static inline const char *vfm_dev_name(const struct vfiomig_device *dev)
{
	return dev->name ? dev->name : "device";
}

/* Logging: cheap when the priority filters the message out. */
void vfiomig_log(const struct vfiomig_ctx *ctx, int priority, const char *file,
		 int line, const char *fn, const char *format, ...)
	__attribute__((format(printf, 6, 7)));

#define vfm_log_cond(ctx, prio, ...)                                           \
	do {                                                                   \
		const struct vfiomig_ctx *c_ = (ctx);                          \
		if (c_ && c_->log_fn && c_->log_priority >= (prio))            \
			vfiomig_log(c_, prio, __FILE__, __LINE__, __func__,    \
				    __VA_ARGS__);                              \
	} while (0)

#define err(ctx, ...) vfm_log_cond(ctx, LOG_ERR, __VA_ARGS__)
#define warn(ctx, ...) vfm_log_cond(ctx, LOG_WARNING, __VA_ARGS__)
#define info(ctx, ...) vfm_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define dbg(ctx, ...) vfm_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)

/*
 * Options structs (libbpf rule): NULL = defaults; sz must cover the first
 * member; bytes past what this library knows must be zero (-E2BIG).
 */
int vfm_opts_check(const void *opts, size_t user_sz, size_t known_sz);
#define OPTS_CHECK(opts, TYPE)                                                 \
	((opts) ? vfm_opts_check((opts), (opts)->sz, sizeof(struct TYPE)) : 0)
/* Field present in the caller's (possibly older) struct? */
#define OPTS_HAS(opts, FIELD)                                                  \
	((opts) && (opts)->sz >= offsetofend(__typeof__(*(opts)), FIELD))
#define OPTS_GET(opts, FIELD, DEF) (OPTS_HAS(opts, FIELD) ? (opts)->FIELD : (DEF))
#define OPTS_SET(opts, FIELD, VAL)                                             \
	do {                                                                   \
		if (OPTS_HAS(opts, FIELD))                                     \
			(opts)->FIELD = (VAL);                                 \
	} while (0)

/*
 * The migration protocol a handle speaks (migv1.c chooses, on first use):
 * v2 (VFIO_DEVICE_FEATURE, feature.c and session.c) or v1 (the migration
 * region of Linux 5.8-5.17, migv1.c).  state.c and session.c call these
 * and never ask which protocol it is.
 */
struct vfm_mig_ops {
	const char *name;
	/* The session's fd is the device fd (not owned). */
	bool shares_device_fd;
	/* VFIOMIG_MIG_* (cached by the caller's protocol), -ENOTTY without. */
	int (*flags)(struct vfiomig_device *dev, uint64_t *flags);
	/* The device's state as a v2 state number (ERROR for a v1 error). */
	int (*state_read)(struct vfiomig_device *dev, uint32_t *state);
	/* One state change; *fd: the new session's fd, or -1. */
	int (*state_write)(struct vfiomig_device *dev, int to, int *fd);
	/* The stream: > 0 bytes, 0 = nothing more now (PRE_COPY) or the end,
	 * -errno with *what naming the failing step. */
	ssize_t (*data_read)(struct vfiomig_device *dev, int fd, void *buf,
			     size_t n, const char **what);
	/* All of buf into the resuming session, or -errno. */
	int (*data_write)(struct vfiomig_device *dev, int fd, const void *buf,
			  size_t n, const char **what);
	/* VFIO_MIG_GET_PRECOPY_INFO's answer (flags as the kernel wrote). */
	int (*precopy_info)(struct vfiomig_device *dev, int fd,
			    struct vfiomig_precopy_info *info);
	/* The session ended: forget its stream position (may be NULL). */
	void (*session_end)(struct vfiomig_device *dev);
};
extern const struct vfm_mig_ops vfm_mig_v2_ops;
extern const struct vfm_mig_ops vfm_mig_v1_ops;
/* migv1.c: the handle's protocol, detected once (v2 FEATURE_MIGRATION
 * first, the v1 region on ENOTTY, or what the caller forced): a
 * VFIOMIG_PROTO_* or -errno (not cached: asked again next time). */
int vfm_mig_proto(struct vfiomig_device *dev);
/* migv1.c: the protocol's ops; v2's for a device without migration or
 * when detection failed (its calls then say so). */
const struct vfm_mig_ops *vfm_mig_ops(struct vfiomig_device *dev);
/* migv1.c: free the v1 state (unmap the data area); device.c at free. */
void vfm_v1_free(struct vfiomig_device *dev);
/* feature.c: FEATURE_GET|MIGRATION of v2, cached; -ENOTTY unlogged. */
int vfm_v2_mig_flags(struct vfiomig_device *dev, uint64_t *flags);
/* session.c: the v2 stream on the data fd. */
ssize_t vfm_v2_data_read(struct vfiomig_device *dev, int fd, void *buf,
			 size_t n, const char **what);
int vfm_v2_data_write(struct vfiomig_device *dev, int fd, const void *buf,
		      size_t n, const char **what);
int vfm_v2_precopy_info(struct vfiomig_device *dev, int fd,
			struct vfiomig_precopy_info *info);

/* feature.c: VFIO_DEVICE_FEATURE with the header filled in. */
int vfm_feature(struct vfiomig_device *dev, uint32_t flags, void *data,
		size_t len);

/* feature.c: FEATURE_GET|MIGRATION, cached; -ENOTTY without migration. */
int vfm_device_mig_flags(struct vfiomig_device *dev, uint64_t *flags);
/* feature.c: MIG_DEVICE_STATE.  read: always a GET (the truth after a
 * failure); state: the remembered state, a GET only when unknown; write:
 * one SET (*fd gets a new data fd or -1), remembered on success,
 * forgotten on failure.  All -errno on failure. */
int vfm_mig_state_read(struct vfiomig_device *dev);
int vfm_mig_state(struct vfiomig_device *dev);
int vfm_mig_state_write(struct vfiomig_device *dev, int to, int *fd);
/* feature.c: turn PRECOPY_INFOv2 on once (unless opted out); whether on. */
bool vfm_precopy_v2(struct vfiomig_device *dev);

/* state-names.c: the state's name for messages, "?" for an unknown number. */
const char *vfm_state_name(int state);

/* session.c: PRECOPY_INFO (flags only where v2 is on; REINIT noted) and
 * MIG_DATA_SIZE, without logging what the caller may expect (ENOTTY). */
int vfm_precopy_info(struct vfiomig_device *dev,
		     struct vfiomig_precopy_info *info);
int vfm_data_size(struct vfiomig_device *dev, uint64_t *len);
/* session.c: end the session (close the data fd) if any. */
void vfm_session_end(struct vfiomig_device *dev);
/* session.c: arc from -> to returned data fd: it becomes the session. */
void vfm_session_install(struct vfiomig_device *dev, int fd, int from, int to);
/* session.c: the arc from -> to succeeded: end the session it ends. */
void vfm_session_arc(struct vfiomig_device *dev, int from, int to);
/* session.c: the device is in state (read back): keep the session only
 * if the state still has it. */
void vfm_session_sync(struct vfiomig_device *dev, int state);
/* session.c: the driver refused (part of) the resuming stream: end the
 * session and remember that nothing it received may be committed. */
void vfm_session_refuse(struct vfiomig_device *dev, const char *why);

/* util.c */
char *vfm_path_join(const char *a, const char *b);
/* sysfs is untrusted (a container's, --sysfs-root): only a regular file of
 * at most a page is read, without blocking; anything else is refused with
 * -errno and a message naming the file and its type. */
int vfm_read_sysfs_str(const struct vfiomig_ctx *ctx, const char *dir,
		       const char *attr, char *buf, size_t len);
int vfm_readlink_base(const struct vfiomig_ctx *ctx, const char *dir,
		      const char *link, char *buf, size_t len);
/* Canonical lowercase forms into out (may be NULL); 0 or -EINVAL. */
int vfm_parse_pci_addr(const char *s, char *out, size_t len);
int vfm_parse_uuid(const char *s, char *out, size_t len);

/* What sysfs says about a device directory (util.c). */
struct vfm_devinfo {
	char path[4096];       /* resolved device directory */
	char name[256];        /* its last component: PCI address or UUID */
	char driver[256];      /* "" when unbound */
	char mdev_type[256];   /* "" for a PCI function */
	int iommu_group;       /* -1 when none */
	int cdev;              /* N of vfio-dev/vfioN, -1 when none */
	bool have_pci_ids;
	struct vfiomig_pci_ids pci_ids;
};
int vfm_devinfo_read(const struct vfiomig_ctx *ctx, const char *path,
		     struct vfm_devinfo *di);

/* iommu.c: get dev->fd through path (AUTO, IOMMUFD or TYPE1), filling
 * dev's iommu fields; on failure nothing it opened stays open. */
int vfm_iommu_open(struct vfiomig_device *dev, const struct vfm_devinfo *di,
		   int path, int iommu_fd, uint32_t ioas_id);
/* Close what the device owns, device fd first. */
void vfm_iommu_close(struct vfiomig_device *dev);
/* The IOMMU nodes, opened for a device (name: its name, for messages) or
 * a library context (name NULL); an fd or -errno, logged.
 * vfm_iommufd_open: fallback names what the caller does instead when
 * /dev/iommu cannot be opened (a debug message), NULL makes it an error.
 * vfm_container_open: /dev/vfio/vfio, checked: this library's API
 * version and a Type1v2 IOMMU (-EPROTO, -ENODEV). */
int vfm_iommufd_open(struct vfiomig_ctx *ctx, const char *name,
		     const char *fallback);
int vfm_container_open(struct vfiomig_ctx *ctx, const char *name);
/* dma.c: opening into a context: check it fits (-EINVAL, logged) and
 * give the path, fd and IOAS to open with; after a successful open,
 * vfm_iommu_attached() takes the device's reference. */
int vfm_iommu_attach_check(struct vfiomig_device *dev, struct vfiomig_iommu *io,
			   int path, int iommu_fd, uint32_t ioas_id,
			   int *pathp, int *fdp, uint32_t *ioasp);
void vfm_iommu_attached(struct vfiomig_device *dev, struct vfiomig_iommu *io);
/* dma.c: a device opened without a context gets one borrowing its fds
 * (none without an IOMMU fd); 0 or -ENOMEM. */
int vfm_iommu_borrow(struct vfiomig_device *dev);
/* dma.c: drop the device's context, after its fds are closed. */
void vfm_iommu_detach(struct vfiomig_device *dev);
/* dma.c: [iova, +length) was unmapped behind the context's back (a
 * tracker's vfiomig_dirty_unmap on container fd, or iommufd fd + IOAS):
 * drop it from the record if the context is that one. */
void vfm_iommu_forget(struct vfiomig_iommu *io, int fd, uint32_t ioas_id,
		      uint64_t iova, uint64_t length);

/*
 * dma.c: a dirty tracker following a context's mappings (dirty.c): told of
 * each mapping made through vfiomig_iommu_map() and asked before each
 * vfiomig_iommu_unmap().  The callbacks run with the context's lock held;
 * lock order: context, then tracker.
 */
struct vfm_iommu_follower {
	struct vfm_iommu_follower *next;  /* the context's list */
	struct vfiomig_iommu *io;         /* a reference while linked */
	/* [iova, +size) was mapped: track it from now on, or -errno (the
	 * map is undone: unmapped() for the followers told before). */
	int (*mapped)(struct vfm_iommu_follower *f, uint64_t iova,
		      uint64_t size);
	void (*unmapped)(struct vfm_iommu_follower *f, uint64_t iova,
			 uint64_t size);
	/* May [iova, +size) be unmapped outside the tracker?  0 or -EBUSY. */
	int (*unmapping)(struct vfm_iommu_follower *f, uint64_t iova,
			 uint64_t size);
};
/* dma.c: references to contexts; a context of ctx on that container fd,
 * or iommufd fd and IOAS, with a reference taken (NULL: none; *cur 0
 * starts, then the next one). */
void vfm_iommu_get(struct vfiomig_iommu *io);
void vfm_iommu_put(struct vfiomig_iommu *io);
struct vfiomig_iommu *vfm_iommu_find(struct vfiomig_ctx *ctx, int fd,
				     uint32_t ioas_id, size_t *cur);
/* dma.c: the context's lock, held across a tracker's start so that no
 * mapping falls between its snapshot and its following; the snapshot
 * (the record's mappings in a new sorted array, *out freed by the caller,
 * NULL when none: the count or -ENOMEM) and linking a follower (a
 * reference taken) under it.  Unlinking takes the lock itself. */
void vfm_iommu_lock(struct vfiomig_iommu *io);
void vfm_iommu_unlock(struct vfiomig_iommu *io);
ssize_t vfm_iommu_mappings_copy_locked(struct vfiomig_iommu *io,
				       struct vfiomig_range **out);
void vfm_iommu_follow_locked(struct vfiomig_iommu *io,
			     struct vfm_iommu_follower *f);
void vfm_iommu_unfollow(struct vfm_iommu_follower *f);

#endif
