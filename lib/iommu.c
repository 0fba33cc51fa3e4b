// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The two ways to a device fd (kernel-contract.md 11):
 *  - cdev + iommufd: /dev/vfio/devices/vfioN, /dev/iommu, IOMMU_IOAS_ALLOC,
 *    VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT;
 *  - group + Type1v2 container: /dev/vfio/vfio, /dev/vfio/<group>,
 *    GROUP_SET_CONTAINER, SET_IOMMU, GROUP_GET_DEVICE_FD.
 * A failure anywhere closes exactly what was opened before it.
 */
#include <limits.h>
#include <stdio.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "internal.h"

/* Open <dev_root>/<rel> read-write; the path goes to path for messages. */
static int open_node(const struct vfiomig_ctx *ctx, char *path, size_t len,
		     const char *rel)
{
	int fd;

	if ((size_t)snprintf(path, len, "%s/%s", ctx->dev_root, rel) >= len)
		return -ENAMETOOLONG;
	fd = sys_open(path, O_RDWR);
	return fd < 0 ? -errno : fd;
}

static void ioas_destroy(int iommufd, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	sys_ioctl(iommufd, IOMMU_DESTROY, &d);
}

/* cdev + iommufd. iommufd is open already (owned if own_iommufd). */
static int iommufd_path(struct vfiomig_device *dev,
			const struct vfm_devinfo *di, int iommufd,
			bool own_iommufd, uint32_t ioas_id)
{
	struct vfiomig_ctx *ctx = dev->ctx;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	bool own_ioas = false;
	char path[PATH_MAX], rel[32];
	int fd, ret;

	snprintf(rel, sizeof(rel), "vfio/devices/vfio%d", di->cdev);
	fd = open_node(ctx, path, sizeof(path), rel);
	if (fd < 0) {
		ret = fd;
		err(ctx, "%s: cannot open the VFIO cdev %s: %s", vfm_dev_name(dev),
		    path, strerror(-ret));
		goto fail;
	}

	if (!ioas_id) {
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

		ret = sys_ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc);
		if (ret < 0) {
			err(ctx, "%s: IOMMU_IOAS_ALLOC: %s", vfm_dev_name(dev),
			    strerror(-ret));
			goto fail;
		}
		ioas_id = alloc.out_ioas_id;
		own_ioas = true;
	}

	bind.iommufd = iommufd;
	ret = sys_ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	if (ret == -EBUSY) {
		err(ctx, "%s: cannot bind %s to iommufd: IOMMU group %d is open (device in use through the group path?)",
		    vfm_dev_name(dev), path, di->iommu_group);
		goto fail;
	}
	if (ret == -EINVAL) {
		/* Our fresh fd, flags 0 and a valid iommufd leave one cause:
		 * the cdev path opens a device once (vfio_main.c:vfio_df_open),
		 * so another cdev fd holds it. Say so as the group path does. */
		err(ctx, "%s: cannot bind %s to iommufd: the device is already open through another VFIO cdev fd (in use by another process?)",
		    vfm_dev_name(dev), path);
		ret = -EBUSY;
		goto fail;
	}
	if (ret < 0) {
		err(ctx, "%s: VFIO_DEVICE_BIND_IOMMUFD on %s: %s", vfm_dev_name(dev),
		    path, strerror(-ret));
		goto fail;
	}

	at.pt_id = ioas_id;
	ret = sys_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
	if (ret < 0) {
		err(ctx, "%s: VFIO_DEVICE_ATTACH_IOMMUFD_PT to IOAS %u: %s",
		    vfm_dev_name(dev), ioas_id, strerror(-ret));
		goto fail;
	}

	dev->fd = fd;
	dev->own_fd = true;
	dev->iommu_path = VFIOMIG_IOMMU_IOMMUFD;
	dev->iommufd = iommufd;
	dev->own_iommufd = own_iommufd;
	dev->devid = bind.out_devid;
	dev->ioas_id = ioas_id;
	dev->own_ioas = own_ioas;
	/* Physical devices get an automatic HWPT: pt_id comes back changed. */
	dev->hwpt_id = at.pt_id != ioas_id ? at.pt_id : 0;
	dbg(ctx, "%s: opened %s, iommufd %d, devid %u, ioas %u, hwpt %u",
	    vfm_dev_name(dev), path, iommufd, dev->devid, dev->ioas_id, dev->hwpt_id);
	return 0;

fail:
	if (fd >= 0)
		sys_close(fd); /* unbinds */
	if (own_ioas)
		ioas_destroy(iommufd, ioas_id);
	if (own_iommufd)
		sys_close(iommufd);
	return ret;
}

/* Messages of the openers below name the device when there is one. */
#define WHO(name) (name) ? (name) : "", (name) ? ": " : ""

int vfm_iommufd_open(struct vfiomig_ctx *ctx, const char *name,
		     const char *fallback)
{
	char path[PATH_MAX];
	int fd = open_node(ctx, path, sizeof(path), "iommu");

	if (fd >= 0)
		return fd;
	if (fallback)
		dbg(ctx, "%s%scannot open %s (%s): using %s", WHO(name), path,
		    strerror(-fd), fallback);
	else
		err(ctx, "%s%scannot open %s: %s (kernel without CONFIG_IOMMUFD?)",
		    WHO(name), path, strerror(-fd));
	return fd;
}

/* This library's API version and a Type1v2 IOMMU (-EPROTO, -ENODEV). */
static int container_check(struct vfiomig_ctx *ctx, int cfd, const char *name)
{
	int ret = sys_ioctl(cfd, VFIO_GET_API_VERSION, NULL);

	if (ret < 0) {
		err(ctx, "%s%sVFIO_GET_API_VERSION: %s", WHO(name), strerror(-ret));
		return ret;
	}
	if (ret != VFIO_API_VERSION) {
		err(ctx, "%s%sVFIO API version %d, expected %d", WHO(name), ret,
		    VFIO_API_VERSION);
		return -EPROTO;
	}
	ret = sys_ioctl(cfd, VFIO_CHECK_EXTENSION,
			(void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (ret < 0) {
		err(ctx, "%s%sVFIO_CHECK_EXTENSION(Type1v2): %s", WHO(name),
		    strerror(-ret));
		return ret;
	}
	if (ret == 0) {
		err(ctx, "%s%sthe VFIO container has no Type1v2 IOMMU", WHO(name));
		return -ENODEV;
	}
	return 0;
}

int vfm_container_open(struct vfiomig_ctx *ctx, const char *name)
{
	char path[PATH_MAX];
	int fd = open_node(ctx, path, sizeof(path), "vfio/vfio");
	int ret;

	if (fd < 0) {
		err(ctx, "%s%scannot open the VFIO container %s: %s", WHO(name),
		    path, strerror(-fd));
		return fd;
	}
	ret = container_check(ctx, fd, name);
	if (ret) {
		sys_close(fd);
		return ret;
	}
	return fd;
}

/* group + Type1v2 container; shared > 0 is a caller's container. */
static int type1_path(struct vfiomig_device *dev, const struct vfm_devinfo *di,
		      int shared)
{
	struct vfiomig_ctx *ctx = dev->ctx;
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int cfd = -1, gfd = -1, fd = -1, ret;
	bool own_container = false;
	char path[PATH_MAX], rel[32];

	if (di->iommu_group < 0) {
		err(ctx, "%s: no IOMMU group (%s/iommu_group): the group path is not available",
		    vfm_dev_name(dev), di->path);
		return -ENODEV;
	}

	if (shared > 0) {
		cfd = shared;
		ret = container_check(ctx, cfd, vfm_dev_name(dev));
	} else {
		cfd = vfm_container_open(ctx, vfm_dev_name(dev));
		ret = cfd < 0 ? cfd : 0;
		own_container = cfd >= 0;
	}
	if (ret)
		goto fail;

	snprintf(rel, sizeof(rel), "vfio/%d", di->iommu_group);
	gfd = open_node(ctx, path, sizeof(path), rel);
	if (gfd == -EBUSY) {
		ret = gfd;
		err(ctx, "%s: group %d is already open (in use by another process?)",
		    vfm_dev_name(dev), di->iommu_group);
		goto fail;
	}
	if (gfd < 0) {
		ret = gfd;
		err(ctx, "%s: cannot open group %d (%s): %s", vfm_dev_name(dev),
		    di->iommu_group, path, strerror(-ret));
		goto fail;
	}

	ret = sys_ioctl(gfd, VFIO_GROUP_GET_STATUS, &status);
	if (ret < 0) {
		err(ctx, "%s: VFIO_GROUP_GET_STATUS on group %d: %s",
		    vfm_dev_name(dev), di->iommu_group, strerror(-ret));
		goto fail;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		err(ctx, "%s: group %d is not viable (bind every device of the group to a VFIO driver)",
		    vfm_dev_name(dev), di->iommu_group);
		ret = -EPERM;
		goto fail;
	}

	ret = sys_ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &cfd);
	if (ret < 0) {
		err(ctx, "%s: VFIO_GROUP_SET_CONTAINER on group %d: %s",
		    vfm_dev_name(dev), di->iommu_group, strerror(-ret));
		goto fail;
	}

	ret = sys_ioctl(cfd, VFIO_SET_IOMMU,
			(void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	/* drivers/vfio/container.c: a container that already has an IOMMU
	 * driver answers EINVAL; the group was attached to it above. */
	if (ret == -EINVAL && !own_container) {
		dbg(ctx, "%s: shared container already has its IOMMU set",
		    vfm_dev_name(dev));
	} else if (ret < 0) {
		err(ctx, "%s: VFIO_SET_IOMMU(Type1v2): %s", vfm_dev_name(dev),
		    strerror(-ret));
		goto fail;
	}

	fd = sys_fd_above_stdio(sys_ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD,
					  (void *)di->name));
	if (fd < 0) {
		ret = fd;
		err(ctx, "%s: VFIO_GROUP_GET_DEVICE_FD(\"%s\") on group %d: %s",
		    vfm_dev_name(dev), di->name, di->iommu_group, strerror(-ret));
		goto fail;
	}

	dev->fd = fd;
	dev->own_fd = true;
	dev->iommu_path = VFIOMIG_IOMMU_TYPE1;
	dev->group_fd = gfd;
	dev->container_fd = cfd;
	dev->own_container = own_container;
	dbg(ctx, "%s: opened through group %d, container %d%s", vfm_dev_name(dev),
	    di->iommu_group, cfd, own_container ? "" : " (shared)");
	return 0;

fail:
	if (gfd >= 0)
		sys_close(gfd);
	if (own_container)
		sys_close(cfd);
	return ret;
}

int vfm_iommu_open(struct vfiomig_device *dev, const struct vfm_devinfo *di,
		   int path, int iommu_fd, uint32_t ioas_id)
{
	int ifd;

	switch (path) {
	case VFIOMIG_IOMMU_AUTO:
		/* A shared fd: an IOAS id says it is an iommufd. */
		if (iommu_fd > 0) {
			if (ioas_id)
				return iommufd_path(dev, di, iommu_fd, false,
						    ioas_id);
			return type1_path(dev, di, iommu_fd);
		}
		if (di->cdev < 0) {
			dbg(dev->ctx, "%s: no VFIO cdev: using the group path",
			    vfm_dev_name(dev));
			return type1_path(dev, di, 0);
		}
		ifd = vfm_iommufd_open(dev->ctx, vfm_dev_name(dev), "the group path");
		if (ifd < 0)
			return type1_path(dev, di, 0);
		return iommufd_path(dev, di, ifd, true, ioas_id);

	case VFIOMIG_IOMMU_IOMMUFD:
		if (di->cdev < 0) {
			err(dev->ctx, "%s: no VFIO cdev (%s/vfio-dev/ missing: kernel without CONFIG_VFIO_DEVICE_CDEV?)",
			    vfm_dev_name(dev), di->path);
			return -ENODEV;
		}
		if (iommu_fd > 0)
			return iommufd_path(dev, di, iommu_fd, false, ioas_id);
		ifd = vfm_iommufd_open(dev->ctx, vfm_dev_name(dev), NULL);
		if (ifd < 0)
			return ifd;
		return iommufd_path(dev, di, ifd, true, ioas_id);

	case VFIOMIG_IOMMU_TYPE1:
		return type1_path(dev, di, iommu_fd);
	}
	return -EINVAL;
}

void vfm_iommu_close(struct vfiomig_device *dev)
{
	if (dev->fd >= 0 && dev->own_fd)
		sys_close(dev->fd); /* iommufd: unbinds the device */
	dev->fd = -1;
	if (dev->group_fd >= 0)
		sys_close(dev->group_fd);
	dev->group_fd = -1;
	if (dev->container_fd >= 0 && dev->own_container)
		sys_close(dev->container_fd);
	dev->container_fd = -1;
	if (dev->iommufd >= 0 && dev->own_ioas && dev->ioas_id)
		ioas_destroy(dev->iommufd, dev->ioas_id);
	if (dev->iommufd >= 0 && dev->own_iommufd)
		sys_close(dev->iommufd);
	dev->iommufd = -1;
}
