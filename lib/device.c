// SPDX-License-Identifier: LGPL-2.1-or-later
/* Device handles: name resolution, open, adopt, free, accessors, reset,
 * and the slots a handle owns (the data fd, the remembered state). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "internal.h"
#include "region.h"
#include "linux/vfio.h"

/* "vfioN", "<dev_root>/vfio/devices/vfioN" or "/dev/vfio/devices/vfioN":
 * N, or -1 when name is none of these. */
static int parse_cdev_name(const struct vfiomig_ctx *ctx, const char *name)
{
	static const char sub[] = "/vfio/devices/";
	size_t dl = strlen(ctx->dev_root);
	const char *p = NULL;
	char *end;
	unsigned long n;

	if (!strncmp(name, "vfio", 4))
		p = name;
	else if (!strncmp(name, ctx->dev_root, dl) &&
		 !strncmp(name + dl, sub, sizeof(sub) - 1))
		p = name + dl + sizeof(sub) - 1;
	else if (!strncmp(name, "/dev", 4) &&
		 !strncmp(name + 4, sub, sizeof(sub) - 1))
		p = name + 4 + sizeof(sub) - 1;
	if (!p || strncmp(p, "vfio", 4) || p[4] < '0' || p[4] > '9')
		return -1;
	errno = 0;
	n = strtoul(p + 4, &end, 10);
	if (errno || *end || n > INT_MAX)
		return -1;
	return (int)n;
}

/*
 * The sysfs directory a name stands for, resolved with realpath() into
 * resolved (PATH_MAX bytes). -EINVAL for a malformed name, -ENODEV when it
 * names nothing.
 */
static int resolve_name(const struct vfiomig_ctx *ctx, const char *name,
			char *resolved)
{
	char canon[64], tried[PATH_MAX];
	struct stat st;
	int n, ret;

	if (vfm_parse_pci_addr(name, canon, sizeof(canon)) == 0)
		n = snprintf(tried, sizeof(tried), "%s/bus/pci/devices/%s",
			     ctx->sysfs_root, canon);
	else if (vfm_parse_uuid(name, canon, sizeof(canon)) == 0)
		n = snprintf(tried, sizeof(tried), "%s/bus/mdev/devices/%s",
			     ctx->sysfs_root, canon);
	else if ((ret = parse_cdev_name(ctx, name)) >= 0)
		n = snprintf(tried, sizeof(tried),
			     "%s/class/vfio-dev/vfio%d/device", ctx->sysfs_root,
			     ret);
	else if (strchr(name, '/'))
		n = snprintf(tried, sizeof(tried), "%s", name);
	else {
		err(ctx, "\"%s\": not a PCI address, mdev UUID, sysfs path or VFIO cdev",
		    name);
		return -EINVAL;
	}
	if ((size_t)n >= sizeof(tried)) {
		err(ctx, "\"%s\": path too long", name);
		return -ENAMETOOLONG;
	}
	if (!realpath(tried, resolved)) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENOTDIR) {
			err(ctx, "%s: no such device (%s does not exist)", name,
			    tried);
			return -ENODEV;
		}
		err(ctx, "%s: cannot resolve %s: %s", name, tried,
		    strerror(-ret));
		return ret;
	}
	if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err(ctx, "%s: %s is not a device directory", name, resolved);
		return -ENODEV;
	}
	return 0;
}

static int devinfo_lookup(const struct vfiomig_ctx *ctx, const char *name,
			  struct vfm_devinfo *di)
{
	char resolved[PATH_MAX];
	int ret;

	ret = resolve_name(ctx, name, resolved);
	if (ret)
		return ret;
	/* Logs its failures itself, naming the file at fault. */
	return vfm_devinfo_read(ctx, resolved, di);
}

/* Recursive: a state change resets the device through the public
 * vfiomig_device_reset(), which takes the lock too. */
static int dev_lock_init(struct vfiomig_device *dev)
{
	pthread_mutexattr_t a;
	int ret;

	if (pthread_mutexattr_init(&a))
		return -ENOMEM;
	ret = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = pthread_mutex_init(&dev->lock, &a);
	pthread_mutexattr_destroy(&a);
	return ret ? -ret : 0;
}

void vfm_dev_lock(struct vfiomig_device *dev)
{
	pthread_mutex_lock(&dev->lock);
}

void vfm_dev_unlock(struct vfiomig_device *dev)
{
	pthread_mutex_unlock(&dev->lock);
}

int vfm_dev_claim_logging(struct vfiomig_device *dev)
{
	int ret = 0;

	vfm_dev_lock(dev);
	if (dev->dirty_logging)
		ret = -EBUSY;
	else
		dev->dirty_logging = true;
	vfm_dev_unlock(dev);
	return ret;
}

void vfm_dev_release_logging(struct vfiomig_device *dev)
{
	vfm_dev_lock(dev);
	dev->dirty_logging = false;
	vfm_dev_unlock(dev);
}

uint32_t vfm_dev_hwpt(const struct vfiomig_device *dev)
{
	return __atomic_load_n(&dev->hwpt_id, __ATOMIC_RELAXED);
}

void vfm_dev_set_hwpt(struct vfiomig_device *dev, uint32_t hwpt_id)
{
	__atomic_store_n(&dev->hwpt_id, hwpt_id, __ATOMIC_RELAXED);
}

void *vfm_dev_regions(struct vfiomig_device *dev)
{
	return dev->regions;
}

void vfm_dev_set_regions(struct vfiomig_device *dev, void *regions)
{
	dev->regions = regions;
}

int vfm_dev_state_cached(struct vfiomig_device *dev)
{
	int s;

	vfm_dev_lock(dev);
	s = dev->state;
	vfm_dev_unlock(dev);
	return s;
}

void vfm_dev_state_note(struct vfiomig_device *dev, int state)
{
	vfm_dev_lock(dev);
	dev->state = state;
	dev->state_gen++;
	vfm_dev_unlock(dev);
}

unsigned int vfm_dev_state_gen(struct vfiomig_device *dev)
{
	unsigned int gen;

	vfm_dev_lock(dev);
	gen = dev->state_gen;
	vfm_dev_unlock(dev);
	return gen;
}

void vfm_dev_state_note_read(struct vfiomig_device *dev, int state,
			     unsigned int gen)
{
	vfm_dev_lock(dev);
	if (dev->state_gen == gen) {
		dev->state = state;
		dev->state_gen++;
	}
	vfm_dev_unlock(dev);
}

void vfm_dev_session_close(struct vfiomig_device *dev)
{
	struct vfiomig_session *ss = &dev->session;

	vfm_dev_lock(dev);
	if (ss->fd >= 0 && ss->ops && ss->ops->session_end)
		ss->ops->session_end(dev);
	if (ss->fd >= 0 && !(ss->ops && ss->ops->shares_device_fd))
		sys_close(ss->fd);
	free(ss->buf);
	*ss = (struct vfiomig_session){ .fd = -1, .refused = ss->refused };
	vfm_dev_unlock(dev);
}

static struct vfiomig_device *dev_new(struct vfiomig_ctx *ctx)
{
	struct vfiomig_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->ctx = ctx;
	dev->fd = -1;
	dev->group_fd = -1;
	dev->container_fd = -1;
	dev->iommufd = -1;
	dev->iommu_path = VFIOMIG_IOMMU_NONE;
	dev->session.fd = -1;
	dev->state = -1;
	dev->proto = -1;
	if (dev_lock_init(dev)) {
		free(dev);
		return NULL;
	}
	return dev;
}

/* Frees the strings and the struct; fds are the caller's business. */
static void dev_release(struct vfiomig_device *dev)
{
	free(dev->name);
	free(dev->sysfs_path);
	free(dev->driver);
	free(dev->mdev_type);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int dev_set_identity(struct vfiomig_device *dev,
			    const struct vfm_devinfo *di)
{
	dev->name = strdup(di->name);
	dev->sysfs_path = strdup(di->path);
	if (di->driver[0])
		dev->driver = strdup(di->driver);
	if (di->mdev_type[0])
		dev->mdev_type = strdup(di->mdev_type);
	if (!dev->name || !dev->sysfs_path || (di->driver[0] && !dev->driver) ||
	    (di->mdev_type[0] && !dev->mdev_type))
		return -ENOMEM;
	dev->have_pci_ids = di->have_pci_ids;
	dev->pci_ids = di->pci_ids;
	return 0;
}

VFIOMIG_EXPORT int vfiomig_device_open(struct vfiomig_ctx *ctx,
				       const char *name,
				       const struct vfiomig_open_opts *opts,
				       struct vfiomig_device **devp)
{
	struct vfiomig_device *dev = NULL;
	struct vfiomig_iommu *io;
	struct vfm_devinfo *di = NULL;
	unsigned int flags;
	int path, iommu_fd, ret;
	uint32_t ioas_id;

	if (!ctx || !name || !devp)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_open_opts);
	if (ret)
		return ret;
	flags = OPTS_GET(opts, flags, 0u);
	path = OPTS_GET(opts, iommu, VFIOMIG_IOMMU_AUTO);
	iommu_fd = OPTS_GET(opts, iommu_fd, 0);
	ioas_id = OPTS_GET(opts, ioas_id, 0u);
	io = OPTS_GET(opts, iommu_ctx, NULL);
	if (flags & ~(VFIOMIG_OPEN_NO_PRECOPY_V2 | VFIOMIG_OPEN_PROTO_V2 |
		      VFIOMIG_OPEN_PROTO_V1)) {
		err(ctx, "%s: unknown open flags 0x%x", name, flags);
		return -EINVAL;
	}
	if ((flags & VFIOMIG_OPEN_PROTO_V2) && (flags & VFIOMIG_OPEN_PROTO_V1)) {
		err(ctx, "%s: both migration protocols forced", name);
		return -EINVAL;
	}
	if (path != VFIOMIG_IOMMU_AUTO && path != VFIOMIG_IOMMU_IOMMUFD &&
	    path != VFIOMIG_IOMMU_TYPE1) {
		err(ctx, "%s: cannot open with IOMMU path %d", name, path);
		return -EINVAL;
	}

	di = malloc(sizeof(*di));
	dev = dev_new(ctx);
	if (!di || !dev) {
		ret = -ENOMEM;
		goto out;
	}
	ret = devinfo_lookup(ctx, name, di);
	if (ret)
		goto out;
	ret = dev_set_identity(dev, di);
	if (ret)
		goto out;
	if (di->iommu_group < 0 && di->cdev < 0) {
		err(ctx, "%s: not bound to a VFIO driver (%s has no iommu_group and no vfio-dev/)",
		    name, di->path);
		ret = -ENODEV;
		goto out;
	}
	if (io) {
		ret = vfm_iommu_attach_check(dev, io, path, iommu_fd, ioas_id,
					     &path, &iommu_fd, &ioas_id);
		if (ret)
			goto out;
	}
	ret = vfm_iommu_open(dev, di, path, iommu_fd, ioas_id);
	if (ret)
		goto out;
	if (io) {
		vfm_iommu_attached(dev, io);
	} else {
		ret = vfm_iommu_borrow(dev);
		if (ret) {
			vfm_iommu_close(dev);
			goto out;
		}
	}
	dev->no_precopy_v2 = flags & VFIOMIG_OPEN_NO_PRECOPY_V2;
	dev->proto_forced = flags & VFIOMIG_OPEN_PROTO_V1 ? VFIOMIG_PROTO_V1 :
			    flags & VFIOMIG_OPEN_PROTO_V2 ? VFIOMIG_PROTO_V2 : 0;
	*devp = dev;
	dev = NULL;
out:
	if (dev)
		dev_release(dev);
	free(di);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_device_adopt(struct vfiomig_ctx *ctx, int device_fd,
					const struct vfiomig_adopt_opts *opts,
					struct vfiomig_device **devp)
{
	struct vfiomig_device *dev;
	const char *name;
	unsigned int flags;
	int container_fd, iommufd, ret, state = -1;
	bool own;

	if (!ctx || !devp)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_adopt_opts);
	if (ret)
		return ret;
	flags = OPTS_GET(opts, flags, 0u);
	container_fd = OPTS_GET(opts, container_fd, -1);
	iommufd = OPTS_GET(opts, iommufd, -1);
	name = OPTS_GET(opts, name, NULL);
	if (flags & ~(VFIOMIG_ADOPT_OWN | VFIOMIG_ADOPT_NO_PRECOPY_V2 |
		      VFIOMIG_ADOPT_STATE_KNOWN | VFIOMIG_ADOPT_PROTO_V2 |
		      VFIOMIG_ADOPT_PROTO_V1)) {
		err(ctx, "adopt: unknown flags 0x%x", flags);
		return -EINVAL;
	}
	if ((flags & VFIOMIG_ADOPT_PROTO_V2) && (flags & VFIOMIG_ADOPT_PROTO_V1)) {
		err(ctx, "adopt: both migration protocols forced");
		return -EINVAL;
	}
	if (flags & VFIOMIG_ADOPT_STATE_KNOWN) {
		state = OPTS_GET(opts, state, -1);
		if (state <= VFIOMIG_STATE_ERROR || state >= VFIOMIG_STATE_NR) {
			err(ctx, "adopt: vouched-for state %d is no device state",
			    state);
			return -EINVAL;
		}
	}
	if (device_fd < 0) {
		err(ctx, "adopt: bad device fd %d", device_fd);
		return -EBADF;
	}
	if (container_fd > 0 && iommufd > 0) {
		err(ctx, "adopt: both a container (%d) and an iommufd (%d)",
		    container_fd, iommufd);
		return -EINVAL;
	}
	own = flags & VFIOMIG_ADOPT_OWN;

	dev = dev_new(ctx);
	if (!dev)
		return -ENOMEM;
	if (name) {
		struct vfm_devinfo *di = malloc(sizeof(*di));

		ret = di ? devinfo_lookup(ctx, name, di) : -ENOMEM;
		if (!ret)
			ret = dev_set_identity(dev, di);
		free(di);
		if (ret) {
			dev_release(dev);
			return ret;
		}
	}

	dev->fd = device_fd;
	dev->own_fd = own;
	dev->state = state;
	dev->no_precopy_v2 = flags & VFIOMIG_ADOPT_NO_PRECOPY_V2;
	dev->proto_forced = flags & VFIOMIG_ADOPT_PROTO_V1 ? VFIOMIG_PROTO_V1 :
			    flags & VFIOMIG_ADOPT_PROTO_V2 ? VFIOMIG_PROTO_V2 : 0;
	if (container_fd > 0) {
		dev->iommu_path = VFIOMIG_IOMMU_TYPE1;
		dev->container_fd = container_fd;
		dev->own_container = own;
	} else if (iommufd > 0) {
		dev->iommu_path = VFIOMIG_IOMMU_IOMMUFD;
		dev->iommufd = iommufd;
		dev->own_iommufd = own;
		dev->devid = OPTS_GET(opts, devid, 0u);
		dev->ioas_id = OPTS_GET(opts, ioas_id, 0u);
		dev->hwpt_id = OPTS_GET(opts, hwpt_id, 0u);
	}
	if (vfm_iommu_borrow(dev)) {
		dev_release(dev);
		return -ENOMEM;
	}
	dbg(ctx, "%s: adopted fd %d (%s)", vfm_dev_name(dev), device_fd,
	    own ? "owned" : "not owned");
	*devp = dev;
	return 0;
}

VFIOMIG_EXPORT int vfiomig_device_reset(struct vfiomig_device *dev)
{
	int ret;

	if (!dev)
		return -EINVAL;
	vfm_dev_lock(dev);
	if (dev->session.busy) {
		err(dev->ctx, "%s: reset while a transfer is in flight",
		    vfm_dev_name(dev));
		ret = -EBUSY;
		goto out;
	}
	ret = sys_ioctl(dev->fd, VFIO_DEVICE_RESET, NULL);
	if (ret < 0) {
		err(dev->ctx, "%s: VFIO_DEVICE_RESET: %s", vfm_dev_name(dev),
		    strerror(-ret));
		dev->state = -1;
		goto out;
	}
	/* The kernel disables every migration data fd and puts the device
	 * in RUNNING (contract 7); what a refused load left is gone. */
	vfm_dev_session_close(dev);
	dev->session.refused = false;
	dev->state = VFIOMIG_STATE_RUNNING;
out:
	vfm_dev_unlock(dev);
	return ret;
}

VFIOMIG_EXPORT void vfiomig_device_free(struct vfiomig_device *dev)
{
	if (!dev)
		return;
	vfm_dev_session_close(dev);
	vfm_iommu_close(dev);
	vfm_iommu_detach(dev);
	vfm_v1_free(dev); /* unmaps through the region cache's info */
	vfm_regions_free(dev->regions);
	dev_release(dev);
}

VFIOMIG_EXPORT struct vfiomig_ctx *
vfiomig_device_ctx(const struct vfiomig_device *dev)
{
	return dev ? dev->ctx : NULL;
}

VFIOMIG_EXPORT int vfiomig_device_fd(const struct vfiomig_device *dev)
{
	return dev ? dev->fd : -EINVAL;
}

VFIOMIG_EXPORT int vfiomig_device_iommu_fd(const struct vfiomig_device *dev)
{
	if (!dev)
		return -EINVAL;
	if (dev->iommu_path == VFIOMIG_IOMMU_TYPE1 && dev->container_fd >= 0)
		return dev->container_fd;
	if (dev->iommu_path == VFIOMIG_IOMMU_IOMMUFD && dev->iommufd >= 0)
		return dev->iommufd;
	return -ENOENT;
}

VFIOMIG_EXPORT int vfiomig_device_iommu_path(const struct vfiomig_device *dev)
{
	return dev ? dev->iommu_path : -EINVAL;
}

VFIOMIG_EXPORT const char *vfiomig_device_name(const struct vfiomig_device *dev)
{
	return dev ? dev->name : NULL;
}

VFIOMIG_EXPORT const char *
vfiomig_device_sysfs_path(const struct vfiomig_device *dev)
{
	return dev ? dev->sysfs_path : NULL;
}

VFIOMIG_EXPORT const char *
vfiomig_device_driver(const struct vfiomig_device *dev)
{
	return dev ? dev->driver : NULL;
}

VFIOMIG_EXPORT const char *
vfiomig_device_mdev_type(const struct vfiomig_device *dev)
{
	return dev ? dev->mdev_type : NULL;
}

VFIOMIG_EXPORT int vfiomig_device_pci_ids(const struct vfiomig_device *dev,
					  struct vfiomig_pci_ids *ids)
{
	if (!dev || !ids)
		return -EINVAL;
	if (!dev->have_pci_ids)
		return -ENODATA;
	*ids = dev->pci_ids;
	return 0;
}

VFIOMIG_EXPORT int vfiomig_device_iommufd_ids(const struct vfiomig_device *dev,
					      uint32_t *devid,
					      uint32_t *ioas_id,
					      uint32_t *hwpt_id)
{
	if (!dev)
		return -EINVAL;
	if (devid)
		*devid = dev->devid;
	if (ioas_id)
		*ioas_id = dev->ioas_id;
	if (hwpt_id) /* a tracker in another thread may attach meanwhile */
		*hwpt_id = vfm_dev_hwpt(dev);
	return 0;
}
