/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake kernel's object model, shared by its source files:
 *   fake-core.c and its rooms (fake-libc.c, fake-open.c, fake-container.c,
 *                   fake-group.c, fake-cdev.c, fake-iommufd.c, fake-ioas.c,
 *                   fake-device.c, fake-sysfs.c; see fake-core.c and the
 *                   section "Between the rooms" below): interposition, fd
 *                   table, fault injection, sysfs tree, group/container/
 *                   Type1, cdev bind/attach, iommufd IOAS, device fds
 *   fake-mig.c      features 1, 2, 9, 12, the v2 FSM, data fds,
 *                   PRECOPY_INFO, the arc log
 *   fake-dirty.c    features 6, 7, 8, Type1 DIRTY_PAGES and unmap with
 *                   bitmap, iommufd HWPT/hw_info/dirty, IOMMU_TEST_CMD
 *   fake-region.c   programmable regions; fake-v1.c the v1 migration region
 *   fake-fcntl.c    fcntl(): F_DUPFD and F_DUPFD_CLOEXEC of a fake fd
 */
#ifndef FAKE_INTERNAL_H
#define FAKE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include "fake.h"

#define FAKE_MAX_DEVS 16
#define FAKE_MAX_MAPS 64

enum fake_fd_type {
	FFD_CONTAINER = 1,  /* /dev/vfio/vfio */
	FFD_GROUP,          /* /dev/vfio/N */
	FFD_DEVICE,         /* from GROUP_GET_DEVICE_FD or a cdev open */
	FFD_IOMMUFD,        /* /dev/iommu */
	FFD_DATA,           /* migration data fd */
};

struct fake_map {
	uint64_t iova, size, vaddr;
	uint64_t *dirty;        /* Type1 per-mapping bitmap while tracking */
	/* Extensions (fake-core). */
	uint32_t prot;          /* VFIO_DMA_MAP_FLAG_READ/WRITE */
	bool vaddr_invalid;     /* after UNMAP_DMA with FLAG_VADDR */
};

struct fake_container {
	int refs;
	int iommu_type;         /* 0 until SET_IOMMU */
	int ngroups;
	struct fake_map maps[FAKE_MAX_MAPS];
	int nmaps;
	bool dirty_tracking;
	/* Extensions (fake-core).  maps[] is kept sorted by iova and
	 * non-overlapping; pages are 4 KiB (fake_container_pgsize()).
	 * While dirty_tracking is set, MAP_DMA gives each new mapping a zeroed
	 * dirty bitmap (calloc, ALIGN(npages, 64) / 8 bytes); the core free()s
	 * maps[i].dirty whenever it removes a mapping or releases the
	 * container, so fake-dirty.c must allocate it with malloc/calloc. */
	int n_iommu_groups;     /* attached groups of physical (IOMMU-backed)
				 * devices: Type1 then reports every mapped
				 * page dirty (contract 9.5) */
	int n_emulated_groups;  /* attached mdev groups */
	uint64_t pgsize_bitmap; /* iova_pgsizes of GET_INFO */
	uint32_t dma_avail;     /* DMA_AVAIL cap */
};

struct fake_dev;

struct fake_fd {
	int fd;                 /* the real fd (an eventfd) standing for it */
	int type;               /* enum fake_fd_type */
	struct fake_dev *dev;   /* DEVICE, DATA */
	int group;              /* GROUP: group number */
	struct fake_container *container; /* CONTAINER, GROUP once set */
	bool cdev;              /* DEVICE opened through /dev/vfio/devices */
	bool bound;             /* cdev: BIND_IOMMUFD succeeded */
	int iommufd_fd;         /* cdev: bound to this FFD_IOMMUFD fd */
	void *priv;             /* per-module data (DATA: the session) */
	bool o_nonblock;
	bool writable;          /* DATA: resuming fd */
	/* Extensions (fake-core). */
	int oflags;             /* open flags (O_ACCMODE, O_NONBLOCK, ...) */
	uint64_t pos;           /* DEVICE: file position for read()/write() */
	struct fake_iommufd *ictx; /* IOMMUFD; bound cdev DEVICE */
	struct fake_fd *next_all;  /* unused, reserved */
};

struct fake_dev {
	int id;
	struct fake_dev_cfg cfg;
	char name[64], mdev_type[32], driver[32];
	int state;              /* enum vfio_device_mig_state */
	int open_count;         /* device fds open */
	bool cdev_bound;
	/* Emulated device registers: region index -> bytes (mtty BAR0/1). */
	uint8_t regs[2][8];
	void *mig;              /* fake-mig.c */
	void *dirty;            /* fake-dirty.c */
	void *regions;          /* fake-region.c */
	/* Extensions (fake-core). */
	struct fake_iommufd_obj *idev; /* bound: DEVICE (PCI) or ACCESS (mdev)
					* object; NULL when not bound */
	struct fake_iommufd_obj *attached; /* PCI: HWPT; mdev: IOAS */
	uint32_t num_irqs;      /* mtty: cached by VFIO_DEVICE_GET_INFO */
	uint8_t config[256];    /* region 7: mtty's vconfig, or a PCI header */
	struct fake_dev_ioctls ioc; /* fake_dev_ioctls(): core counts total
				     * and resets, fake-mig the rest */
};

/* ------------------------------------------------------------------
 * iommufd object table (fake-core.c).  One table per /dev/iommu open
 * (struct fake_iommufd, refcounted: a bound device keeps it alive after
 * the iommufd fd is closed, as iommufd_ctx_from_fd() does).  Ids are
 * allocated lowest-free from 1, like the kernel's xarray (XA_FLAGS_ALLOC1).
 */
enum fake_iommufd_obj_type {
	FIO_IOAS = 1,
	FIO_HWPT_PAGING,
	FIO_HWPT_NESTED,
	FIO_DEVICE,             /* physical device bound through a cdev */
	FIO_ACCESS,             /* emulated (mdev) device bound through a cdev */
	FIO_SELFTEST,           /* IOMMU_TEST_CMD mock device (fake-dirty.c) */
	FIO_OTHER,
};

struct fake_ioas_map {
	uint64_t iova, length, user_va;
	uint32_t flags;         /* IOMMU_IOAS_MAP_* */
};

/* A reserved IOVA span of an IOAS (io_pagetable.c's iopt_reserved): maps
 * into it are EINVAL, IOAS_IOVA_RANGES reports the holes between them.
 * owner: who removes it (a HWPT: its aperture; a device: its MSI window;
 * NULL: the selftest's ADD_RESERVED, for the IOAS's life). */
struct fake_ioas_resv {
	uint64_t start, last;
	const void *owner;
};

struct fake_iommufd;

struct fake_iommufd_obj {
	uint32_t id;
	int type;               /* enum fake_iommufd_obj_type */
	/* Like iommufd_object.users: 1 = only the table holds it, so
	 * IOMMU_DESTROY may remove it; more = EBUSY.  Core adds one per
	 * attached device/access (IOAS, HWPT), per HWPT built on an IOAS, and
	 * one for a bound device/access object (owned by vfio). */
	int users;
	struct fake_iommufd *ictx;
	struct fake_dev *dev;   /* DEVICE, ACCESS (and SELFTEST if wanted) */
	struct fake_iommufd_obj *ioas; /* HWPT_PAGING: its IOAS (users held) */
	bool auto_domain;       /* HWPT made by attaching a device to an IOAS:
				 * flags 0, no dirty ops, freed on last detach */
	uint32_t flags;         /* HWPT: IOMMU_HWPT_ALLOC_* flags */
	bool hw_dirty;          /* DEVICE/SELFTEST: IOMMU has dirty tracking */
	uint64_t pgsize;        /* HWPT: smallest IOMMU page (0 = 4096; the
				 * mock domain uses 2048) */
	/* IOAS: its mappings, sorted by iova, non-overlapping. */
	struct fake_ioas_map *maps;
	int nmaps, maps_cap;
	/* IOAS: reserved spans, unsorted, may overlap. */
	struct fake_ioas_resv *resv;
	int nresv;
	void *priv;             /* owner module's data (fake-dirty: HWPT state) */
	/* Called just before the object is freed (IOMMU_DESTROY, auto HWPT
	 * release, unbind, iommufd close, fake_fini).  Must not free obj. */
	void (*destroy)(struct fake_iommufd_obj *obj);
	struct fake_iommufd_obj *next; /* core bookkeeping */
};

/* Object id of iommufd fd f (FFD_IOMMUFD), any type; NULL if none. */
struct fake_iommufd_obj *fake_iommufd_obj(struct fake_fd *iommufd, uint32_t id);
/* Same, only of the given type; NULL if missing or of another type. */
struct fake_iommufd_obj *fake_iommufd_obj_type(struct fake_fd *iommufd,
					       uint32_t id, int type);
/* New object (users = 1, lowest free id); NULL + errno on failure. */
struct fake_iommufd_obj *fake_iommufd_obj_new(struct fake_fd *iommufd,
					      int type);
/* IOMMU_DESTROY semantics: 0, -ENOENT (no such id), -EBUSY (users > 1).
 * Drops the users the object holds on others (HWPT -> IOAS). */
int fake_iommufd_obj_destroy(struct fake_fd *iommufd, uint32_t id);
/* Iterate every object of every live iommufd context (NULL starts). */
struct fake_iommufd_obj *fake_iommufd_obj_next(struct fake_iommufd_obj *prev);
/* Iterate live Type1 containers (those with SET_IOMMU done). */
struct fake_container *fake_container_next(struct fake_container *prev);
/* Smallest IOMMU page size of a container (4096). */
uint64_t fake_container_pgsize(struct fake_container *c);
/* IOAS iova alignment as iopt->iova_alignment: 1, or 4096 once a device
 * or a pinning access (mdev) is attached. */
uint64_t fake_ioas_alignment(struct fake_iommufd_obj *ioas);
/* iopt_reserve_iova: reserve [start, last] of an IOAS for owner; an area
 * inside -> -EADDRINUSE (allowed ranges are not modeled), -ENOMEM. */
int fake_ioas_reserve(struct fake_iommufd_obj *ioas, uint64_t start,
		      uint64_t last, const void *owner);
/* iopt_remove_reserved_iova: drop every span of owner. */
void fake_ioas_unreserve(struct fake_iommufd_obj *ioas, const void *owner);
/* iopt_table_add_domain: a domain's aperture [start, last] on the IOAS
 * of HWPT h (h->ioas set): the rest reserved, owned by h (freeing h drops
 * it); an area outside -> -EADDRINUSE with nothing reserved. */
int fake_domain_aperture(struct fake_iommufd_obj *h, uint64_t start,
			 uint64_t last);
/* Could the kernel pin [va, va + len) for DMA (pin_user_pages with
 * FOLL_WRITE when write)?  False when a page lies in a mapping without
 * read (or, with write, write) permission: the kernel's EFAULT.  Pages
 * in no mapping at all pass: fake tests map made-up addresses the fake
 * never touches. */
bool fake_user_pages_pinnable(uint64_t va, uint64_t len, bool write);
/* Is O_NONBLOCK set on the fake fd now (follows fcntl(F_SETFL))? */
bool fake_fd_nonblock(struct fake_fd *f);

/* Optional hooks: fake-core.c has weak defaults; another fake-*.c may
 * define them (strong) to take over.
 *   fake_hook_data_poll: poll mask of a DATA fd; default DEFAULT_POLLMASK
 *     (POLLIN|POLLOUT|POLLRDNORM|POLLWRNORM): mtty/hisi/qat have no .poll.
 *   fake_hook_bar_access: one byte of BAR0/BAR1 (index 0/1, off < 8)
 *     read or written; default stores in d->regs[index][off].
 *   fake_hook_ioas_unmapped: [iova, iova+length) left the IOAS through
 *     IOMMU_IOAS_UNMAP (one call per area); HWPTs built on it lose those
 *     IOPTEs and their dirty bits. */
short fake_hook_data_poll(struct fake_fd *f, short events);
void fake_hook_bar_access(struct fake_dev *d, int index, uint64_t off,
			  uint8_t *byte, bool write);
void fake_hook_ioas_unmapped(struct fake_iommufd_obj *ioas, uint64_t iova,
			     uint64_t length);

/* The machine's one lock (fake-core.c; see "Threads" in fake.h).  Every
 * entry point that touches fake state holds it: the interposers, once
 * they know the fd or path is fake, and the test API.  Recursive, because
 * the fake calls itself (fake_fd_nonblock() -> fcntl, setup -> open).
 * fake_unlock() keeps errno.  Never block in libc while holding it. */
void fake_lock(void);
void fake_unlock(void);
static inline void fake_unlock_at_exit_(int *unused)
{
	(void)unused;
	fake_unlock();
}
/* The lock is held: release it when the enclosing block ends, after the
 * return value is computed. */
#define FAKE_LOCK_HELD()                                                      \
	int fake_lock_held_ __attribute__((cleanup(fake_unlock_at_exit_),    \
					   unused)) = 0
/* Take the lock until the enclosing block ends. */
#define FAKE_LOCKED()                                                         \
	int fake_lock_held_ __attribute__((cleanup(fake_unlock_at_exit_),    \
					   unused)) = (fake_lock(), 0)

/* fd's fake file with the lock held (fake_unlock() when done), or NULL
 * without it: fd is not the fake's, go to libc (which may block). */
struct fake_fd *fake_fd_hold(int fd);

/* fake-core.c services (call them with the lock held) */
struct fake_fd *fake_fd_lookup(int fd);
/* An intercepted call starts (fake_fail_nth()): counts it; returns the
 * errno to inject, or 0. */
int fake_intercept(const char *call);
/* fcntl(F_DUPFD*) of f returned newfd (fake-fcntl.c): f now answers on
 * newfd, the old number is a plain eventfd.  0 or -ENOMEM. */
int fake_fd_rekey(struct fake_fd *f, int newfd, bool cloexec);
/* New fake fd of type; cloexec per flags; returns it or NULL (errno).
 * DATA fds: the caller (fake-mig) sets writable (resuming) and priv; the
 * core's VFS checks (read on a resuming fd, write on a saving one: EBADF;
 * pread/pwrite: ESPIPE) follow writable.  close() calls fake_data_close()
 * then frees the fake_fd. */
struct fake_fd *fake_fd_new(int type, struct fake_dev *dev, bool cloexec);
struct fake_dev *fake_dev_get(int id);
struct fake_container *fake_fd_container(struct fake_fd *f);

/* vfio_check_feature() of include/linux/vfio.h: 1 = PROBE done, 0 = go
 * on, <0 = -errno. payload = argsz - 8. */
int fake_check_feature(uint32_t flags, uint32_t payload, uint32_t ops,
		       uint32_t minsz);

/* fake-mig.c hooks; all return 0/count or -errno. */
int fake_mig_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload);
void fake_mig_reset(struct fake_dev *d);
void fake_mig_close_device(struct fake_dev *d); /* last device fd closed */
ssize_t fake_data_read(struct fake_fd *f, void *buf, size_t len);
ssize_t fake_data_write(struct fake_fd *f, const void *buf, size_t len);
int fake_data_ioctl(struct fake_fd *f, unsigned long req, void *arg);
void fake_data_close(struct fake_fd *f);
void fake_mig_init_dev(struct fake_dev *d);
void fake_mig_fini_dev(struct fake_dev *d);

/* fake-dirty.c hooks.
 * fake_iommufd_dirty_ioctl() gets IOMMU_HWPT_ALLOC, IOMMU_GET_HW_INFO,
 * IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP and
 * IOMMU_TEST_CMD after the core did iommufd_fops_ioctl's part: size <
 * min_size -> EINVAL, non-zero bytes past the struct -> E2BIG.  arg is a
 * zero-extended copy of the whole struct (kernel-side buffer, at least
 * FAKE_IOMMUFD_CMD_MAX bytes); on success the core copies back
 * min(size, sizeof(struct)) bytes, like iommufd_ucmd_respond(), so
 * write responses into arg.
 * fake_type1_unmap_dirty() runs after the core's checks of UNMAP_DMA with
 * GET_DIRTY_BITMAP (argsz >= 48, flag combinations, iova/size alignment
 * and wrap, v2 bisection: all EINVAL, so the kernel's interleaving with
 * verify_bitmap_size and the tracking/pgsize check is not observable);
 * it validates the vfio_bitmap, writes the bits of every mapping inside
 * [iova, iova+size) and returns 0 or -errno; on 0 the core removes those
 * mappings and writes back unmap.size.  arg is the user's struct. */
#define FAKE_IOMMUFD_CMD_MAX 128
int fake_log_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload);
int fake_type1_dirty_ioctl(struct fake_fd *f, void *arg);
/* Called by UNMAP_DMA with GET_DIRTY_BITMAP before removing mappings. */
int fake_type1_unmap_dirty(struct fake_container *c, void *unmap_arg);
int fake_iommufd_dirty_ioctl(struct fake_fd *f, unsigned long req, void *arg);
void fake_dirty_init_dev(struct fake_dev *d);
void fake_dirty_fini_dev(struct fake_dev *d);

/* fake-region.c: programmable regions (fake_dev_set_region()).  With the
 * lock held.  count: num_regions (base unless regions were added past it);
 * info: -ENOSYS when index is not programmed (the personality answers),
 * else the answer (arg is the user's struct, argsz already checked); rw:
 * 0 when not programmed, else 1 with *out the pread/pwrite result. */
#define FAKE_PCI_NUM_REGIONS 9
uint32_t fake_region_count(struct fake_dev *d, uint32_t base);
int fake_region_info(struct fake_dev *d, void *arg);
int fake_region_rw(struct fake_dev *d, uint32_t index, uint64_t off,
		   void *buf, size_t len, bool write, ssize_t *out);
void fake_region_fini_dev(struct fake_dev *d);
/* A room's model of a programmed region (fake-v1.c): rw answers every
 * pread/pwrite that reaches the region (after the EINTR injection) with
 * the result; mem is the region's memory (msize bytes).  With mmap_ok the
 * memory becomes a memfd's shared mapping and mmap() of the device fd
 * maps it where mmap_ok(priv, off, len) allows.  fini frees priv with the
 * region.  Set once, after fake_dev_set_region(); lock held. */
struct fake_region_hook {
	ssize_t (*rw)(void *priv, unsigned char *mem, size_t msize,
		      uint64_t off, void *buf, size_t len, bool write);
	bool (*mmap_ok)(void *priv, uint64_t off, size_t len);
	void (*fini)(void *priv);
	void (*reset)(void *priv);      /* VFIO_DEVICE_RESET */
	void *priv;
};
int fake_region_set_hook(struct fake_dev *d, uint32_t index,
			 const struct fake_region_hook *h);
/* The priv of d's first region hooked with rw (NULL: none). */
void *fake_region_hook_priv(struct fake_dev *d,
			    ssize_t (*rw)(void *, unsigned char *, size_t,
					  uint64_t, void *, size_t, bool));
/* VFIO_DEVICE_RESET of d (fake-core.c): every hooked region's reset. */
void fake_region_reset(struct fake_dev *d);
/* Type1 max_dirty_bitmap_size now (fake_set_dirty_bitmap_max()): GET_INFO
 * reports it, GET_BITMAP and UNMAP with a bitmap enforce it. */
uint64_t fake_dirty_bitmap_max(void);

/* fake-mig.c: WARN_ON splats the kernel would have printed so far (a SET
 * from ERROR, an arc no driver implements); tests check the library never
 * causes one. */
unsigned int fake_mig_warnings(void);

/* ------------------------------------------------------------------
 * Between the rooms of the fake's core, named after the kernel files they
 * mirror: fake-core.c (the machine's state, lock, fd table, fault
 * injection), fake-libc.c (the interposers), fake-open.c (the nodes),
 * fake-container.c (container + Type1), fake-group.c, fake-cdev.c,
 * fake-iommufd.c (contexts, objects, dispatch), fake-ioas.c (IOAS map,
 * unmap, reserved spans), fake-device.c (device fds, config space),
 * fake-sysfs.c (the machine's tree).  Call with the lock held.
 */

/* The library is a shared object: the interposers must be exported from the
 * test executable although the build uses -fvisibility=hidden. */
#define FAKE_EXPORT __attribute__((visibility("default")))

/* uAPI the private copy does not carry (include/uapi/linux/vfio.h). */
#ifndef VFIO_DEVICE_GET_IRQ_INFO
#define VFIO_DEVICE_GET_IRQ_INFO _IO(VFIO_TYPE, VFIO_BASE + 9)
#define VFIO_DEVICE_SET_IRQS _IO(VFIO_TYPE, VFIO_BASE + 10)
#endif
#define FAKE_VFIO_DMA_CC_IOMMU 4
#define FAKE_VFIO_TYPE1_NESTING_IOMMU 6
#define FAKE_VFIO_UNMAP_ALL 9
#define FAKE_VFIO_UPDATE_VADDR 10
#define FAKE_VFIO_PCI_NUM_REGIONS 9
#define FAKE_VFIO_PCI_NUM_IRQS 5
#define FAKE_VFIO_PCI_CONFIG_INDEX 7
#define FAKE_REGION_SHIFT 40    /* MTTY_VFIO_PCI_INDEX_TO_OFFSET */
#define FAKE_PAGE_SIZE 4096ULL
#define FAKE_PAGE_MASK (~(FAKE_PAGE_SIZE - 1))
#define FAKE_DIRTY_BITMAP_SIZE_MAX 268435456ULL /* ALIGN(INT_MAX, 64) / 8 */
#define FAKE_DMA_ENTRY_LIMIT 65535U /* vfio_iommu_type1 dma_entry_limit */
/* Intel VT-d domain: by default 4K|2M|1G, aperture 48 bits (a host's),
 * else what fake_set_iommu() said; MSI window reserved. */
#define FAKE_PCI_PGSIZES_DEFAULT 0x40201000ULL
#define FAKE_APERTURE_END_DEFAULT ((1ULL << 48) - 1)
#define FAKE_PCI_PGSIZES (fake_machine.iommu_pgsizes)
#define FAKE_MSI_START 0xfee00000ULL
#define FAKE_MSI_END 0xfeefffffULL
#define FAKE_APERTURE_END (fake_machine.iommu_last)
#define FAKE_DEFAULT_POLLMASK (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)


struct fake_group {
	int num;
	bool used;
	bool emulated;          /* mdev: vfio_noiommu_group_alloc, no domain */
	int refs;               /* group fd + group-path device fds: while > 0
				 * the group is "opened" (group.c:opened_file) */
	struct fake_container *container;
	int cdev_open_cnt;      /* bound cdev fds (vfio_device_block_group) */
};

struct fake_iommufd {
	int refs;               /* the iommufd fd + bound device fds */
	bool closing;           /* released: objects go without bookkeeping */
	struct fake_iommufd_obj *objs; /* sorted by id */
};

/* The machine (fake-core.c; the rooms say F). */
struct fake_machine {
	bool up;
	bool with_iommufd;
	char root[1000];
	char sys[1024];
	char dev[1024];
	size_t devlen;
	struct fake_dev *devs[FAKE_MAX_DEVS];
	int ndevs;
	struct fake_group groups[FAKE_MAX_DEVS];
	struct fake_fd **fds;   /* indexed by fd number */
	int fds_cap;
	int nfds;
	struct fake_container **conts;
	int nconts, conts_cap;
	struct fake_iommufd **ictxs;
	int nictxs, ictxs_cap;
	/* The IOMMU of the PCI functions' domains (fake_set_iommu). */
	uint64_t iommu_pgsizes, iommu_last;
};
extern struct fake_machine fake_machine;

/* The next definitions of the interposed calls (fake-libc.c): REAL(close)
 * calls libc's close (or a sanitizer's). */
extern int (*fake_real_open)(const char *, int, ...);
extern int (*fake_real_open64)(const char *, int, ...);
extern int (*fake_real_openat)(int, const char *, int, ...);
extern int (*fake_real_openat64)(int, const char *, int, ...);
extern int (*fake_real___open_2)(const char *, int);
extern int (*fake_real___open64_2)(const char *, int);
extern int (*fake_real___openat_2)(int, const char *, int);
extern int (*fake_real___openat64_2)(int, const char *, int);
extern int (*fake_real_close)(int);
extern int (*fake_real_ioctl)(int, unsigned long, ...);
extern ssize_t (*fake_real_read)(int, void *, size_t);
extern ssize_t (*fake_real___read_chk)(int, void *, size_t, size_t);
extern ssize_t (*fake_real_write)(int, const void *, size_t);
extern ssize_t (*fake_real_pread)(int, void *, size_t, off_t);
extern ssize_t (*fake_real_pread64)(int, void *, size_t, off_t);
extern ssize_t (*fake_real___pread_chk)(int, void *, size_t, off_t, size_t);
extern ssize_t (*fake_real___pread64_chk)(int, void *, size_t, off_t, size_t);
extern ssize_t (*fake_real_pwrite)(int, const void *, size_t, off_t);
extern ssize_t (*fake_real_pwrite64)(int, const void *, size_t, off_t);
extern int (*fake_real_poll)(struct pollfd *, nfds_t, int);
extern ssize_t (*fake_real_splice)(int, loff_t *, int, loff_t *,
				size_t, unsigned int);

void *fake_real_sym(const char *name);
/* Resolved on first use, by whichever thread comes first: every thread
 * finds the same pointer, so a relaxed race is harmless but must be
 * atomic to be defined. */
#define REAL(name)                                                            \
	({                                                                    \
		__typeof__(fake_real_##name) p_ =                                  \
			__atomic_load_n(&fake_real_##name, __ATOMIC_RELAXED);      \
		if (!p_) {                                                    \
			p_ = (__typeof__(fake_real_##name))fake_real_sym(#name);        \
			__atomic_store_n(&fake_real_##name, p_, __ATOMIC_RELAXED); \
		}                                                             \
		p_; /* never a plain read of the shared pointer */            \
	})

#if defined(__SANITIZE_THREAD__)
#define FAKE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FAKE_TSAN 1
#endif
#endif

/* The _FORTIFY_SOURCE entry points (glibc declares them only when
 * fortifying). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

/* fake-core.c */
struct fake_fault {
	unsigned int calls;
	unsigned int nth;       /* 0 = disarmed */
	unsigned int seen;
	int err;
	char call[16];          /* "" = any call */
	unsigned int ioctls;    /* fake_ioctls() */
};
extern struct fake_fault fake_fault;
int fake_intercept_locked(const char *call);
int fake_ret_errno(int neg);
struct fake_fd *fake_fd_create(int type, struct fake_dev *dev, int oflags);
int fake_fd_close(struct fake_fd *f);
struct fake_group *fake_group_get(int num);
int fake_vec_add(void ***v, int *n, int *cap, void *p);
void fake_vec_del(void **v, int *n, void *p);

/* fake-container.c */
struct fake_container *fake_container_new(void);
void fake_container_put(struct fake_container *c);
void fake_type1_update_pgsize(struct fake_container *c);
void fake_group_detach_container(struct fake_group *g);
void fake_group_put(struct fake_group *g);
int fake_container_ioctl(struct fake_fd *f, unsigned int cmd, void *arg);

/* fake-iommufd.c */
struct fake_iommufd *fake_ictx_new(void);
struct fake_iommufd_obj *fake_ictx_obj(struct fake_iommufd *x, uint32_t id);
void fake_obj_free(struct fake_iommufd_obj *o);
void fake_ictx_put(struct fake_iommufd *x);
struct fake_iommufd_obj *fake_ictx_obj_new(struct fake_iommufd *x, int type);
void fake_hwpt_put(struct fake_iommufd_obj *h);
int fake_iommufd_ioctl(struct fake_fd *f, unsigned int cmd, void *arg);

/* fake-ioas.c */
struct iommu_ioas_map;
struct iommu_ioas_unmap;
struct fake_iova_ranges;
int fake_ioas_map_ioctl(struct fake_iommufd *x, struct iommu_ioas_map *cmd);
int fake_ioas_unmap_ioctl(struct fake_iommufd *x, struct iommu_ioas_unmap *cmd);
int fake_ioas_iova_ranges(struct fake_iommufd *x,
			  struct fake_iova_ranges *cmd, bool *respond);

/* fake-group.c */
bool fake_fd_is_open(int fd);
int fake_group_ioctl(struct fake_fd *f, unsigned int cmd, void *arg);

/* fake-cdev.c */
void fake_dev_last_close(struct fake_dev *d);
void fake_dev_unbind(struct fake_fd *f);
int fake_dev_bind(struct fake_fd *f, void *arg);
int fake_dev_attach(struct fake_fd *f, void *arg);
int fake_dev_detach_ioctl(struct fake_fd *f, void *arg);

/* fake-device.c */
int fake_device_ioctl(struct fake_fd *f, unsigned int cmd, void *arg);
void fake_cfg_init(struct fake_dev *d);
ssize_t fake_dev_rw(struct fake_fd *f, void *buf, size_t len, uint64_t pos,
		    bool write);

/* fake-open.c */
bool fake_open_needs_mode(int flags);
/* If path is a fake node, open it (*handled = true). */
int fake_try_node_open(const char *path, int flags, bool *handled);
/* A fake node that a fortified open without a mode must not create. */
bool fake_node_needs_mode(const char *path, int flags);
bool fake_at_is_plain(int dirfd, const char *path);

#endif
