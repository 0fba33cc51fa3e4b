/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvfiomig - drive VFIO device live migration from a VMM.
 *
 * Conventions, everywhere in this header:
 *  - functions return 0 (or a count) on success and a negative errno on
 *    failure; nothing is printed, messages go to the context's log function;
 *  - an options struct starts with its size (use VFIOMIG_OPTS()); a NULL
 *    options pointer means "all defaults"; a smaller (older) struct is
 *    accepted, a larger one only if its unknown tail is zero (else -E2BIG);
 *  - flags arguments reject unknown bits with -EINVAL;
 *  - every fd the library opens is O_CLOEXEC.
 * See libvfiomig(7).
 */
#ifndef VFIOMIG_H
#define VFIOMIG_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Functions defined in this header (see "Inline definitions" at its end)
 * are static inline in the caller; the library's own copy is exported. */
#ifndef VFIOMIG_INLINE
#define VFIOMIG_INLINE static inline
#endif

#define VFIOMIG_VERSION_MAJOR 0
#define VFIOMIG_VERSION_MINOR 2
#define VFIOMIG_VERSION_MICRO 0

/* Declare and size an options struct: VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = ...); */
#define VFIOMIG_OPTS(TYPE, NAME, ...)                                          \
	struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

/* Library version string, e.g. "0.1.0"; *major etc. may be NULL. */
const char *vfiomig_version(unsigned int *major, unsigned int *minor,
			    unsigned int *micro);

/* ------------------------------------------------------------------ */
/* Context: log function, sysfs and /dev roots.                        */

struct vfiomig_ctx;

struct vfiomig_ctx_opts {
	size_t sz;
	const char *sysfs_root; /* default "/sys" */
	const char *dev_root;   /* default "/dev" */
};

/* priority is a syslog(3) level (LOG_ERR .. LOG_DEBUG). */
typedef void (*vfiomig_log_fn)(void *data, int priority, const char *file,
			       int line, const char *fn, const char *format,
			       va_list args);

int vfiomig_ctx_new(const struct vfiomig_ctx_opts *opts,
		    struct vfiomig_ctx **ctxp);
void vfiomig_ctx_free(struct vfiomig_ctx *ctx);
/* fn NULL: silence (the default). Messages above the priority are dropped. */
void vfiomig_ctx_set_log_fn(struct vfiomig_ctx *ctx, vfiomig_log_fn fn,
			    void *data);
void vfiomig_ctx_set_log_priority(struct vfiomig_ctx *ctx, int priority);
int vfiomig_ctx_get_log_priority(const struct vfiomig_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Device handles.                                                     */

struct vfiomig_device;
/* An IOMMU context (a Type1 container or an iommufd IOAS) devices are
 * opened into and guest memory is mapped in: vfiomig_iommu_new(3). */
struct vfiomig_iommu;

enum vfiomig_iommu_path {
	VFIOMIG_IOMMU_AUTO = 0,    /* open: iommufd when usable, else Type1 */
	VFIOMIG_IOMMU_IOMMUFD = 1, /* cdev + /dev/iommu */
	VFIOMIG_IOMMU_TYPE1 = 2,   /* group + Type1v2 container */
	VFIOMIG_IOMMU_NONE = 3,    /* adopted device fd without IOMMU context */
};

/* Open/adopt: leave PRECOPY_INFOv2 off (VFIO_PRECOPY_INFO_REINIT never
 * reported; the kernel's 6.12 behaviour).  By default the library turns it
 * on wherever the kernel has it (vfiomig_precopy_info(3)). */
#define VFIOMIG_OPEN_NO_PRECOPY_V2 (1u << 0)
/* Open/adopt: speak this migration protocol only, without detecting the
 * other (vfiomig_device_protocol(3)).  At most one of the two. */
#define VFIOMIG_OPEN_PROTO_V2 (1u << 1)
#define VFIOMIG_OPEN_PROTO_V1 (1u << 2)

struct vfiomig_open_opts {
	size_t sz;
	unsigned int flags;  /* VFIOMIG_OPEN_* */
	int iommu;           /* enum vfiomig_iommu_path; AUTO by default */
	/* Optional: share an already open container or iommufd (not owned). */
	int iommu_fd;        /* 0 = none (a real fd 0 cannot be shared) */
	uint32_t ioas_id;    /* with an iommufd: attach to this IOAS */
	/* Open into this IOMMU context (it then decides the path; iommu_fd
	 * and ioas_id must be 0, iommu AUTO or the context's path).  The
	 * device holds a reference to it until vfiomig_device_free(). */
	struct vfiomig_iommu *iommu_ctx;
};

/*
 * name: a PCI address ("0000:3b:00.1" or "3b:00.1"), an mdev UUID, a sysfs
 * device path, or a cdev node ("/dev/vfio/devices/vfio3").
 */
int vfiomig_device_open(struct vfiomig_ctx *ctx, const char *name,
			const struct vfiomig_open_opts *opts,
			struct vfiomig_device **devp);

/* Adopt fds a VMM already holds. Not owned unless VFIOMIG_ADOPT_OWN. */
#define VFIOMIG_ADOPT_OWN (1u << 0)
#define VFIOMIG_ADOPT_NO_PRECOPY_V2 (1u << 1) /* see VFIOMIG_OPEN_NO_... */
/* The caller vouches that the device is in opts->state: the library does
 * not read it back.  (A session state is left as any session the library
 * does not hold: vfiomig_state_set(3).) */
#define VFIOMIG_ADOPT_STATE_KNOWN (1u << 2)
#define VFIOMIG_ADOPT_PROTO_V2 (1u << 4) /* see VFIOMIG_OPEN_PROTO_V2 */
#define VFIOMIG_ADOPT_PROTO_V1 (1u << 5)

struct vfiomig_adopt_opts {
	size_t sz;
	unsigned int flags;  /* VFIOMIG_ADOPT_* */
	int container_fd;    /* -1/0 = none */
	int iommufd;         /* -1/0 = none */
	uint32_t devid;      /* iommufd device id from BIND, 0 = unknown */
	uint32_t ioas_id;
	uint32_t hwpt_id;
	const char *name;    /* optional: sysfs name/path for identity */
	int state;           /* with VFIOMIG_ADOPT_STATE_KNOWN */
};

int vfiomig_device_adopt(struct vfiomig_ctx *ctx, int device_fd,
			 const struct vfiomig_adopt_opts *opts,
			 struct vfiomig_device **devp);
/* Ends any data session, closes what the library owns. NULL is a no-op. */
void vfiomig_device_free(struct vfiomig_device *dev);

struct vfiomig_ctx *vfiomig_device_ctx(const struct vfiomig_device *dev);
int vfiomig_device_fd(const struct vfiomig_device *dev);
/* Container fd (Type1) or iommufd; -ENOENT when there is none. */
int vfiomig_device_iommu_fd(const struct vfiomig_device *dev);
int vfiomig_device_iommu_path(const struct vfiomig_device *dev);
/* "0000:3b:00.1" or the mdev UUID; NULL if unknown (adopted, no name). */
const char *vfiomig_device_name(const struct vfiomig_device *dev);
const char *vfiomig_device_sysfs_path(const struct vfiomig_device *dev);
const char *vfiomig_device_driver(const struct vfiomig_device *dev);
/* mdev type ("mtty-2"); NULL for PCI functions. */
const char *vfiomig_device_mdev_type(const struct vfiomig_device *dev);

struct vfiomig_pci_ids {
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code;
};
/* -ENODATA when the device is not a PCI function. */
int vfiomig_device_pci_ids(const struct vfiomig_device *dev,
			   struct vfiomig_pci_ids *ids);

/* iommufd ids (0 when unknown/not applicable); any pointer may be NULL. */
int vfiomig_device_iommufd_ids(const struct vfiomig_device *dev,
			       uint32_t *devid, uint32_t *ioas_id,
			       uint32_t *hwpt_id);

int vfiomig_device_reset(struct vfiomig_device *dev);

/* The migration protocol a device speaks behind the same calls. */
enum vfiomig_protocol {
	VFIOMIG_PROTO_NONE = 0, /* no migration support */
	VFIOMIG_PROTO_V1 = 1,   /* the migration region (Linux 5.8-5.17) */
	VFIOMIG_PROTO_V2 = 2,   /* VFIO_DEVICE_FEATURE_MIGRATION (5.18+) */
};
/* Detected on first use (v2 first, the v1 region when the device answers
 * ENOTTY) unless forced at open; then fixed for the handle.  A
 * VFIOMIG_PROTO_* or a negative errno (detection failed: asked again). */
int vfiomig_device_protocol(struct vfiomig_device *dev);

/* ------------------------------------------------------------------ */
/* IOMMU contexts and DMA mappings (vfiomig_iommu_new(3)).             */

struct vfiomig_range;

struct vfiomig_iommu_opts {
	size_t sz;
	unsigned int flags;  /* none defined: 0 */
	int iommu;           /* enum vfiomig_iommu_path: AUTO, IOMMUFD, TYPE1 */
	/* Optional: adopt a container or an iommufd the caller holds (not
	 * owned: it stays open while the context lives).  0 = none. */
	int container_fd;
	int iommufd;
	uint32_t ioas_id;    /* with iommufd: this IOAS (0: allocate one) */
};

int vfiomig_iommu_new(struct vfiomig_ctx *ctx,
		      const struct vfiomig_iommu_opts *opts,
		      struct vfiomig_iommu **iop);
/* Drops the caller's reference; devices opened into it keep it alive. */
void vfiomig_iommu_free(struct vfiomig_iommu *io);
/* The device's context (its own or the one it was opened into), valid
 * while the device lives; NULL for a device without one (adopted). */
struct vfiomig_iommu *vfiomig_device_iommu(const struct vfiomig_device *dev);

#define VFIOMIG_DMA_READ (1u << 0)  /* the device may read the memory */
#define VFIOMIG_DMA_WRITE (1u << 1) /* the device may write it */
int vfiomig_iommu_map(struct vfiomig_iommu *io, void *vaddr, uint64_t iova,
		      uint64_t size, unsigned int flags);
int vfiomig_iommu_unmap(struct vfiomig_iommu *io, uint64_t iova,
			uint64_t size);
/* Fill r[0..min(n, count)) and return the count, or -errno. */
ssize_t vfiomig_iommu_iova_ranges(struct vfiomig_iommu *io,
				  struct vfiomig_range *r, size_t n);
ssize_t vfiomig_iommu_mappings(struct vfiomig_iommu *io,
			       struct vfiomig_range *r, size_t n);

/* ------------------------------------------------------------------ */
/* Regions (VFIO_DEVICE_GET_INFO / GET_REGION_INFO, region access).    */

/* vfiomig_region_info.flags: the kernel's VFIO_REGION_INFO_FLAG_* bits,
 * and what the library found in the capability chain. */
#define VFIOMIG_REGION_READ (1u << 0)
#define VFIOMIG_REGION_WRITE (1u << 1)
#define VFIOMIG_REGION_MMAP (1u << 2)
#define VFIOMIG_REGION_CAPS (1u << 3)
#define VFIOMIG_REGION_TYPED (1u << 16)  /* type, subtype are valid */
#define VFIOMIG_REGION_SPARSE (1u << 17) /* mmap only inside nr_areas areas */

/* Out-struct: the caller sets sz; the library fills what sz covers. */
struct vfiomig_region_info {
	size_t sz;
	uint32_t index;
	uint32_t flags;     /* VFIOMIG_REGION_* */
	uint64_t size;      /* bytes; 0: the device has nothing there */
	uint64_t offset;    /* of the region in the device fd */
	uint32_t type;      /* VFIO_REGION_INFO_CAP_TYPE (TYPED) */
	uint32_t subtype;
	uint32_t nr_areas;  /* sparse mmap areas (SPARSE) */
};

struct vfiomig_region_area {
	uint64_t offset;    /* inside the region */
	uint64_t size;
};

/* num_regions of VFIO_DEVICE_GET_INFO (cached), or a negative errno. */
int vfiomig_region_count(struct vfiomig_device *dev);
/* -EINVAL for an index >= vfiomig_region_count(); -EPROTO for a
 * capability chain that does not hold together.  Cached per handle. */
int vfiomig_region_info(struct vfiomig_device *dev, uint32_t index,
			struct vfiomig_region_info *info);
/* Copy up to max sparse areas; returns how many the region has. */
int vfiomig_region_areas(struct vfiomig_device *dev, uint32_t index,
			 struct vfiomig_region_area *areas, uint32_t max);
/* The lowest index with that type/subtype capability: 0 or -ENOENT. */
int vfiomig_region_find(struct vfiomig_device *dev, uint32_t type,
			uint32_t subtype, uint32_t *index);
/* All len bytes at offset inside the region, or a negative errno (-ERANGE
 * outside it, -EACCES without READ/WRITE).  An aligned 1/2/4/8-byte access
 * is one access of that width. */
int vfiomig_region_read(struct vfiomig_device *dev, uint32_t index,
			uint64_t offset, void *buf, size_t len);
int vfiomig_region_write(struct vfiomig_device *dev, uint32_t index,
			 uint64_t offset, const void *buf, size_t len);
/* mmap(2) len bytes at a page-aligned offset of an MMAP region (inside
 * one sparse area if SPARSE), MAP_SHARED, prot PROT_READ|PROT_WRITE
 * bits; *addr on success.  Undo with vfiomig_region_munmap(). */
int vfiomig_region_mmap(struct vfiomig_device *dev, uint32_t index,
			uint64_t offset, size_t len, int prot, void **addr);
int vfiomig_region_munmap(void *addr, size_t len);

/* ------------------------------------------------------------------ */
/* Device enumeration.                                                 */

struct vfiomig_device_info {
	size_t sz;
	const char *name;        /* PCI address or mdev UUID */
	const char *sysfs_path;
	const char *driver;      /* NULL if unbound */
	const char *mdev_type;   /* NULL for PCI */
	int iommu_group;         /* -1 if none */
	const char *cdev;        /* "vfio3" or NULL */
};

/* Return non-zero from fn to stop; that value is returned. */
typedef int (*vfiomig_enum_fn)(void *arg, const struct vfiomig_device_info *info);
/* Calls fn for every VFIO device (vfio-pci bound functions, mdevs, cdevs). */
int vfiomig_device_enum(struct vfiomig_ctx *ctx, unsigned int flags,
			vfiomig_enum_fn fn, void *arg);

/* ------------------------------------------------------------------ */
/* VFIO_DEVICE_FEATURE plumbing.                                       */

/* Feature indices of VFIO_DEVICE_FEATURE: the kernel's numbers, named. */
#define VFIOMIG_FEATURE_MIGRATION 1
#define VFIOMIG_FEATURE_MIG_DEVICE_STATE 2
#define VFIOMIG_FEATURE_DMA_LOGGING_START 6
#define VFIOMIG_FEATURE_DMA_LOGGING_STOP 7
#define VFIOMIG_FEATURE_DMA_LOGGING_REPORT 8
#define VFIOMIG_FEATURE_MIG_DATA_SIZE 9
#define VFIOMIG_FEATURE_MIG_PRECOPY_INFO_V2 12 /* newer than 6.12 */

#define VFIOMIG_FEATURE_GET (1u << 0)
#define VFIOMIG_FEATURE_SET (1u << 1)

/* 1: supported, 0: not supported (ENOTTY), <0: error. */
int vfiomig_feature_probe(struct vfiomig_device *dev, uint32_t feature,
			  unsigned int flags);
/* data/len is the feature payload (without the 8-byte header). */
int vfiomig_feature_get(struct vfiomig_device *dev, uint32_t feature,
			void *data, size_t len);
/* The kernel may write the payload back (e.g. DMA_LOGGING_START). */
int vfiomig_feature_set(struct vfiomig_device *dev, uint32_t feature,
			void *data, size_t len);

#define VFIOMIG_MIG_STOP_COPY (1u << 0)
#define VFIOMIG_MIG_P2P (1u << 1)
#define VFIOMIG_MIG_PRE_COPY (1u << 2)

#define VFIOMIG_CAP_MIGRATION (1u << 0)     /* FEATURE_MIGRATION answered */
#define VFIOMIG_CAP_MIG_DATA_SIZE (1u << 1)
#define VFIOMIG_CAP_DMA_LOGGING (1u << 2)
/* PRECOPY_INFOv2 is on for this handle: REINIT is reported. */
#define VFIOMIG_CAP_PRECOPY_V2 (1u << 3)

struct vfiomig_caps {
	size_t sz;
	uint64_t migration_flags; /* VFIOMIG_MIG_* */
	uint32_t features;        /* VFIOMIG_CAP_* */
	int iommu_path;           /* enum vfiomig_iommu_path */
};

int vfiomig_device_caps(struct vfiomig_device *dev, struct vfiomig_caps *caps);

/* ------------------------------------------------------------------ */
/* Migration v2 state machine.                                         */

enum vfiomig_state {
	VFIOMIG_STATE_ERROR = 0,
	VFIOMIG_STATE_STOP = 1,
	VFIOMIG_STATE_RUNNING = 2,
	VFIOMIG_STATE_STOP_COPY = 3,
	VFIOMIG_STATE_RESUMING = 4,
	VFIOMIG_STATE_RUNNING_P2P = 5,
	VFIOMIG_STATE_PRE_COPY = 6,
	VFIOMIG_STATE_PRE_COPY_P2P = 7,
	VFIOMIG_STATE_NR = 8,
};

/* "running", "stop", "stop-copy", "resuming", "running-p2p", "pre-copy",
 * "pre-copy-p2p", "error"; NULL for an unknown number. */
const char *vfiomig_state_name(int state);
/* The state number, or -EINVAL. Case-insensitive; '_' accepted for '-'. */
int vfiomig_state_parse(const char *name);

/*
 * The kernel's vfio_mig_get_next_state() walk from cur to target for a
 * device with migration_flags, as a pure function. Writes the states after
 * cur into path (VFIOMIG_STATE_NR entries always suffice; path NULL: count
 * only); returns their number (0 when cur == target), -EINVAL (unsupported
 * state, STOP_COPY -> PRE_COPY, ...) or -ENOSPC (max too small).
 */
int vfiomig_state_plan(int cur, int target, uint64_t migration_flags,
		       int *path, size_t max);
/* Whether the arc from -> to creates a data fd (a new session). */
bool vfiomig_arc_opens_session(int from, int to);

/*
 * The device's state from the kernel (>= 0) or a negative errno; it also
 * refreshes what the library remembers.  The library's own calls remember
 * the state they set and ask the kernel only where the truth is unknown
 * (first use, after a failure, an adopted fd not vouched for).
 */
int vfiomig_state_get(struct vfiomig_device *dev);

/* How a multi-arc change is issued.  Default (since 0.2): one SET, the
 * kernel walks the arcs (drivers keep the last state reached, so a failure
 * still names its arc).  COMBINED asks for that explicitly (0.1's flag);
 * STEPWISE issues one SET per arc, as 0.1 did by default. */
#define VFIOMIG_SET_COMBINED (1u << 0)
#define VFIOMIG_SET_STEPWISE (1u << 1)

/*
 * What a failed state change does with the device (see vfiomig_state_set(3)).
 * A zero-filled vfiomig_set_opts is the safe default: back where the call
 * started.  Recovery never walks an arc that needs a data session the
 * library does not hold; where no other way is safe it resets the device.
 */
enum vfiomig_recovery {
	/* 0: recovery_state when it is set (non-zero), else the state the
	 * call started in; a reset when that cannot be reached (and always
	 * for a call that started in RESUMING: nothing refused is kept). */
	VFIOMIG_RECOVER_DEFAULT = 0,
	/* recovery_state; ERROR (0) there means "reset" (QEMU's habit). */
	VFIOMIG_RECOVER_STATE = 1,
	VFIOMIG_RECOVER_RESET = 2, /* VFIO_DEVICE_RESET (-> RUNNING) */
	VFIOMIG_RECOVER_STAY = 3,  /* leave the device where it stopped */
};

struct vfiomig_set_opts {
	size_t sz;
	unsigned int flags;      /* VFIOMIG_SET_* */
	int recovery;            /* enum vfiomig_recovery */
	int recovery_state;      /* enum vfiomig_state; 0: see above */
	/* out: filled on failure (and on success: failed_* = -1) */
	int failed_from;         /* arc that failed, -1 if none */
	int failed_to;
	int state;               /* state at the end (read back after a
				  * failure and the recovery) */
};

int vfiomig_state_set(struct vfiomig_device *dev, int target,
		      struct vfiomig_set_opts *opts);

/* ------------------------------------------------------------------ */
/* Data sessions.                                                      */

/* The open session's data fd (still owned by the library), or -ENOENT. */
int vfiomig_data_fd(const struct vfiomig_device *dev);
/* Ends the session (closes the fd) without changing the device state. */
void vfiomig_data_close(struct vfiomig_device *dev);

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE; valid in any state. */
int vfiomig_data_size(struct vfiomig_device *dev, uint64_t *stop_copy_length);

/* New initial data is in the stream (PRECOPY_INFOv2 only): initial_bytes
 * may grow again and must be drained again before switchover. */
#define VFIOMIG_PRECOPY_REINIT (1u << 0)

struct vfiomig_precopy_info {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
	uint64_t flags; /* VFIOMIG_PRECOPY_REINIT; since 0.2 (0.1 callers
			 * get the two fields above only) */
};
/* VFIO_MIG_GET_PRECOPY_INFO on the session fd (PRE_COPY states only).
 * flags is the kernel's answer only where PRECOPY_INFOv2 is on, else 0. */
int vfiomig_precopy_info(struct vfiomig_device *dev,
			 struct vfiomig_precopy_info *info);

/* Write fn returns bytes consumed (> 0) or a negative errno. */
typedef ssize_t (*vfiomig_write_fn)(void *arg, const void *buf, size_t len);
/* Read fn returns bytes (> 0), 0 at end of input, or a negative errno. */
typedef ssize_t (*vfiomig_read_fn)(void *arg, void *buf, size_t len);

enum vfiomig_io_kind {
	VFIOMIG_IO_BUF = 1, /* buf/len */
	VFIOMIG_IO_FD = 2,  /* fd: file, pipe, socket */
	VFIOMIG_IO_CB = 3,  /* write_fn (save) / read_fn (load) with arg */
};

struct vfiomig_io {
	size_t sz;
	int kind;               /* enum vfiomig_io_kind */
	void *buf;              /* IO_BUF */
	size_t len;             /* IO_BUF: capacity (save) / length (load) */
	int fd;                 /* IO_FD */
	vfiomig_write_fn write_fn;
	vfiomig_read_fn read_fn;
	void *arg;
	uint64_t limit;         /* fd/cb: max bytes to move, 0 = no limit */
};

/* No effect since 0.2 (no transfer uses splice: no VFIO data fd has it). */
#define VFIOMIG_XFER_NO_SPLICE (1u << 0)

/*
 * Save: read what the session has now into `to`. In PRE_COPY states stops
 * when the driver has nothing more for now (read 0 or ENOMSG); in
 * STOP_COPY at the end of the stream. With IO_BUF stops when the buffer is
 * full. Returns the number of bytes moved (0 = nothing available / end).
 * On an error the session is ended, the state read back, and the error
 * returned. -ENODEV without a session (none, ended, or reset).
 */
int64_t vfiomig_save(struct vfiomig_device *dev, const struct vfiomig_io *to,
		     unsigned int flags);
/* Load: write `from` into the RESUMING session. Returns bytes written.
 * Any failure once data may have moved spoils the session: later loads
 * and vfiomig_load_finish() fail with -EBADMSG; vfiomig_load_abort(). */
int64_t vfiomig_load(struct vfiomig_device *dev, const struct vfiomig_io *from,
		     unsigned int flags);
/*
 * Commit what the RESUMING session received: leave RESUMING for target
 * (STOP, RUNNING_P2P or RUNNING).  What the kernel validates, here or in
 * the writes, is up to the driver.  Refused with -EBADMSG after a failed
 * vfiomig_load() (the session is spoiled: nothing of it is ever
 * committed) and with -ENODEV without the library's own resuming session.
 */
int vfiomig_load_finish(struct vfiomig_device *dev, int target,
			struct vfiomig_set_opts *opts);
/*
 * The way out of a refused or abandoned load: discard whatever the device
 * received (end the session; VFIO_DEVICE_RESET when the device is in
 * RESUMING, the only exit that loads nothing), then go to target like
 * vfiomig_state_set() (RESUMING: a fresh session to try again).
 */
int vfiomig_load_abort(struct vfiomig_device *dev, int target,
		       struct vfiomig_set_opts *opts);

struct vfiomig_precopy_policy {
	size_t sz;
	uint64_t dirty_threshold;  /* switch when dirty_bytes <= this (default 0) */
	unsigned int stall_rounds; /* ... or not shrinking over N rounds (0 = default 3) */
	unsigned int max_rounds;   /* ... or after this many rounds (0 = no limit) */
};

struct vfiomig_precopy_progress {
	size_t sz;
	unsigned int round;        /* rounds done, counting this one */
	uint64_t round_bytes;      /* bytes moved in this round */
	uint64_t total_bytes;      /* bytes moved in all rounds */
	uint64_t initial_bytes;    /* from PRECOPY_INFO after the round */
	uint64_t dirty_bytes;
	unsigned int stalled;      /* rounds dirty_bytes did not shrink */
	/* since 0.2 */
	unsigned int reinits;      /* REINITs reported so far */
	bool initial_drained;      /* every initial byte read, none
				    * re-initialised since: QEMU's
				    * switchover-ack condition */
};

/*
 * Mechanism without policy: move at most max_bytes (0 = no limit; with
 * IO_BUF also at most its len) of what the PRE_COPY session has now into
 * `to`, read PRECOPY_INFO, update progress.  Returns the bytes moved (0:
 * nothing available now).  progress must be zeroed (besides sz) at the
 * start of the session.  The transfer buffer is set up once per session.
 */
int64_t vfiomig_precopy_step(struct vfiomig_device *dev,
			     const struct vfiomig_io *to, uint64_t max_bytes,
			     struct vfiomig_precopy_progress *progress);

/*
 * One precopy round with the library's policy: vfiomig_precopy_step()
 * without a byte limit, then the decision.  Returns 1 when the policy says
 * "go to STOP_COPY now" (never while initial data, re-initialised or not,
 * is left), 0 to keep iterating, or a negative errno.
 */
int vfiomig_precopy_iterate(struct vfiomig_device *dev,
			    const struct vfiomig_io *to,
			    const struct vfiomig_precopy_policy *policy,
			    struct vfiomig_precopy_progress *progress);

/* ------------------------------------------------------------------ */
/* Device sets: the devices of one VM, stopped and started together.   */

struct vfiomig_devset;

/* Let members without P2P into a set of more than one device: they stop
 * after every P2P member is quiesced and before any P2P member stops, and
 * start after every P2P member is in RUNNING_P2P (vfiomig_devset_new(3)). */
#define VFIOMIG_DEVSET_ALLOW_NO_P2P (1u << 0)

struct vfiomig_devset_opts {
	size_t sz;
	unsigned int flags; /* VFIOMIG_DEVSET_* */
};

/* devs: n distinct open devices with migration support (any IOMMU path),
 * not owned.  -EOPNOTSUPP for a member without P2P in a set of more than
 * one, unless VFIOMIG_DEVSET_ALLOW_NO_P2P. */
int vfiomig_devset_new(struct vfiomig_device *const *devs, size_t n,
		       const struct vfiomig_devset_opts *opts,
		       struct vfiomig_devset **setp);
/* Frees the set, not its devices.  NULL is a no-op. */
void vfiomig_devset_free(struct vfiomig_devset *set);
size_t vfiomig_devset_size(const struct vfiomig_devset *set);
/* Member i, or NULL when out of range. */
struct vfiomig_device *vfiomig_devset_member(const struct vfiomig_devset *set,
					     size_t i);

struct vfiomig_devset_set_opts {
	size_t sz;
	unsigned int flags;      /* none yet: 0 */
	int recovery;            /* enum vfiomig_recovery, for every member;
				  * DEFAULT: each back where it started */
	int recovery_state;      /* enum vfiomig_state, as vfiomig_set_opts */
	/* out, on failure (-1 on success): */
	int failed_member;       /* index of the member that failed */
	int failed_from;         /* ... and its arc */
	int failed_to;
};

/*
 * Move every member to target through the P2P barrier: on the way down no
 * member leaves RUNNING_P2P/PRE_COPY_P2P for STOP/STOP_COPY before every
 * member reached it; on the way up none leaves RUNNING_P2P for RUNNING
 * before every member is there.  A member without PRE_COPY asked for a
 * PRE_COPY state keeps running (RUNNING / RUNNING_P2P) while its peers
 * precopy.  A failure brings every member back (see recovery) and names
 * the member and the arc.
 */
int vfiomig_devset_state_set(struct vfiomig_devset *set, int target,
			     struct vfiomig_devset_set_opts *opts);
/* Commit every member's RESUMING session (all to STOP first, so a refused
 * stream stops the set before any member runs), then to target (STOP,
 * RUNNING_P2P or RUNNING) through the barrier. */
int vfiomig_devset_load_finish(struct vfiomig_devset *set, int target,
			       struct vfiomig_devset_set_opts *opts);

/* vfiomig_devset_stats(): the set's total instead of one member. */
#define VFIOMIG_DEVSET_TOTAL SIZE_MAX

struct vfiomig_devset_stats {
	size_t sz;
	uint64_t stop_copy_bytes; /* MIG_DATA_SIZE (0 without the feature) */
	uint64_t initial_bytes;   /* PRECOPY_INFO; 0 outside PRE_COPY */
	uint64_t dirty_bytes;
	unsigned int precopy;     /* members in a PRE_COPY state */
	unsigned int reinits;     /* REINITs reported in this session */
	/* Every member's initial data drained (and none re-initialised
	 * since): QEMU's switchover-ack condition.  True outside PRE_COPY. */
	bool initial_drained;
};

/* Aggregates for a switchover decision, of member i or of the whole set
 * (VFIOMIG_DEVSET_TOTAL). */
int vfiomig_devset_stats(struct vfiomig_devset *set, size_t i,
			 struct vfiomig_devset_stats *stats);

/* ------------------------------------------------------------------ */
/* Dirty page tracking.                                                */

struct vfiomig_dirty;

enum vfiomig_dirty_backend {
	VFIOMIG_DIRTY_AUTO = 0,
	VFIOMIG_DIRTY_DMA_LOGGING = 1,
	VFIOMIG_DIRTY_IOMMUFD = 2,
	VFIOMIG_DIRTY_TYPE1 = 3,
	VFIOMIG_DIRTY_ALL = 4,
	VFIOMIG_DIRTY_MIG_V1 = 5, /* the migration v1 region's dirty pfns */
};

struct vfiomig_range {
	uint64_t iova;
	uint64_t length;
};

struct vfiomig_dirty_opts {
	size_t sz;
	unsigned int flags;        /* none yet */
	int backend;               /* AUTO, or force one */
	/* iommufd context without (or besides) VFIO devices, e.g. a VMM's
	 * own iommufd objects or the iommufd test mock: */
	int iommufd;               /* 0 = take it from the devices */
	uint32_t ioas_id;
	uint32_t hwpt_id;          /* existing dirty-capable HWPT, or 0 */
	const uint32_t *dev_ids;   /* iommufd device ids to allocate for */
	size_t n_dev_ids;
	/* Log through this context (default: the first device's). */
	struct vfiomig_ctx *ctx;
};

/* VFIOMIG_DIRTY_BACKEND in the environment forces a backend by name
 * ("dma-logging", "iommufd", "type1", "all", "mig-v1") when opts->backend
 * is AUTO. */
int vfiomig_dirty_new(struct vfiomig_device *const *devs, size_t ndevs,
		      const struct vfiomig_dirty_opts *opts,
		      struct vfiomig_dirty **trp);
/* Stops tracking if started; frees. NULL is a no-op. */
void vfiomig_dirty_free(struct vfiomig_dirty *tr);
int vfiomig_dirty_backend(const struct vfiomig_dirty *tr);
/* Why that backend was chosen, one line. */
const char *vfiomig_dirty_reason(const struct vfiomig_dirty *tr);
const char *vfiomig_dirty_backend_name(int backend);

/* The iommufd backend's dirty-tracking HWPT id, or -ENOENT. */
int vfiomig_dirty_hwpt_id(const struct vfiomig_dirty *tr);

/*
 * ranges: the guest's mapped IOVA ranges (4 KiB aligned, non-overlapping);
 * for Type1 each range must be exactly one VFIO_IOMMU_MAP_DMA mapping.
 * *page_size in: the tracking granularity wanted (0 = 4096); out: the one
 * the kernel tracks at (DMA logging may answer a larger one).
 */
int vfiomig_dirty_start(struct vfiomig_dirty *tr,
			const struct vfiomig_range *ranges, size_t nranges,
			uint64_t *page_size);
int vfiomig_dirty_stop(struct vfiomig_dirty *tr);

#define VFIOMIG_DIRTY_ACCUMULATE (1u << 0) /* OR into bitmap, don't clear it */
#define VFIOMIG_DIRTY_NO_CLEAR (1u << 1)   /* don't clear the kernel's log */

/*
 * bitmap: one bit per page_size page of [iova, iova + length), LSB-first
 * in 64-bit words. page_size is any power of two >= 4096. On a kernel
 * error the whole queried range is marked dirty and the error returned.
 */
int vfiomig_dirty_query(struct vfiomig_dirty *tr, uint64_t iova,
			uint64_t length, uint64_t page_size, uint64_t *bitmap,
			unsigned int flags);
/* Unmap [iova, iova + length) and return its dirty bits (Type1: UNMAP
 * with GET_DIRTY_BITMAP; iommufd: query NO_CLEAR then IOAS_UNMAP). */
int vfiomig_dirty_unmap(struct vfiomig_dirty *tr, uint64_t iova,
			uint64_t length, uint64_t page_size, uint64_t *bitmap,
			unsigned int flags);

/* Plan at most max ranges covering all of in[] with the least extra area
 * (merging across the smallest gaps), aligned to page_size. Returns the
 * number written to out or a negative errno. */
int vfiomig_dirty_plan_ranges(const struct vfiomig_range *in, size_t n,
			      uint64_t page_size, struct vfiomig_range *out,
			      size_t max);

/* Type1 migration capability of the device's container. */
int vfiomig_type1_dirty_caps(struct vfiomig_device *dev, uint64_t *pgsize,
			     uint64_t *max_bitmap_bytes);
/* IOMMU_GET_HW_INFO out_capabilities for the device (iommufd path). */
int vfiomig_iommufd_hw_caps(struct vfiomig_device *dev, uint64_t *caps);

/* Bitmap helpers: nbits bits, LSB-first 64-bit words. */
uint64_t vfiomig_bitmap_count(const uint64_t *bitmap, uint64_t nbits);
/* From *pos, find the next run of set bits: *pos = first, *len = run
 * length; returns 1, or 0 when there is none. Advance *pos += *len.
 * Defined inline below. */
VFIOMIG_INLINE int vfiomig_bitmap_next_range(const uint64_t *bitmap,
					     uint64_t nbits, uint64_t *pos,
					     uint64_t *len);
/* Convert a bitmap covering `length` bytes from src_pgsize to dst_pgsize
 * pages (OR when growing, replicate when shrinking); ACCUMULATE ORs into
 * dst instead of overwriting it. */
int vfiomig_bitmap_convert(const uint64_t *src, uint64_t src_pgsize,
			   uint64_t *dst, uint64_t dst_pgsize, uint64_t length,
			   unsigned int flags);

/* ------------------------------------------------------------------ */
/* Inline definitions                                                  */
/* ------------------------------------------------------------------ */

/*
 * A caller walks the runs of a bitmap one call per run, so a call costs what
 * the loop body does: the walk is defined here and inlined into the caller's
 * loop, as the caller would write it by hand.  The library exports the same
 * definition (lib/inline.c), for binaries built against older headers and
 * for callers through an FFI.
 */
VFIOMIG_INLINE int vfiomig_bitmap_next_range(const uint64_t *bitmap,
					     uint64_t nbits, uint64_t *pos,
					     uint64_t *len)
{
	const uint64_t ones = ~(uint64_t)0;
	uint64_t w, words, x, first, end;

	if (!bitmap || !pos || !len)
		return -EINVAL;
	if (*pos >= nbits)
		goto none;
	/* No word past the one holding bit nbits - 1 is read (words computed
	 * so that nbits near 2^64 does not wrap). */
	w = *pos / 64;
	words = nbits / 64 + (nbits % 64 != 0);
	/* The first set bit at or after *pos. */
	x = bitmap[w] & (ones << (*pos % 64));
	while (!x && ++w < words)
		x = bitmap[w];
	if (!x)
		goto none;
	first = w * 64 + (uint64_t)__builtin_ctzll(x);
	if (first >= nbits)
		goto none;
	/* The first clear bit after it: in the same word, mostly. */
	x = ~bitmap[w] & (ones << (first % 64));
	while (!x && ++w < words)
		x = ~bitmap[w];
	end = x ? w * 64 + (uint64_t)__builtin_ctzll(x) : nbits;
	*pos = first;
	*len = (end < nbits ? end : nbits) - first;
	return 1;
none:
	*len = 0;
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* VFIOMIG_H */
