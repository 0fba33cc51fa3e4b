/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fake kernel's object model, shared by its source files:
 *   fake-core.c     interposition, fd table, fault injection, sysfs tree,
 *                   group/container/Type1 MAP/UNMAP, cdev bind/attach,
 *                   iommufd IOAS alloc/map/unmap/destroy, device RESET,
 *                   device region pread/pwrite, VFIO_DEVICE_FEATURE
 *                   generic checks then dispatch
 *   fake-mig.c      features 1, 2, 9, the v2 FSM, data fds, PRECOPY_INFO
 *   fake-dirty.c    features 6, 7, 8, Type1 DIRTY_PAGES and unmap with
 *                   bitmap, iommufd HWPT/hw_info/dirty, IOMMU_TEST_CMD
 */
#ifndef FAKE_INTERNAL_H
#define FAKE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
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
};

struct fake_container {
	int refs;
	int iommu_type;         /* 0 until SET_IOMMU */
	int ngroups;
	struct fake_map maps[FAKE_MAX_MAPS];
	int nmaps;
	bool dirty_tracking;
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
};

/* fake-core.c services */
struct fake_fd *fake_fd_lookup(int fd);
/* New fake fd of type; cloexec per flags; returns it or NULL (errno). */
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

/* fake-dirty.c hooks */
int fake_log_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload);
int fake_type1_dirty_ioctl(struct fake_fd *f, void *arg);
/* Called by UNMAP_DMA with GET_DIRTY_BITMAP before removing mappings. */
int fake_type1_unmap_dirty(struct fake_container *c, void *unmap_arg);
int fake_iommufd_dirty_ioctl(struct fake_fd *f, unsigned long req, void *arg);
void fake_dirty_init_dev(struct fake_dev *d);
void fake_dirty_fini_dev(struct fake_dev *d);

#endif
