// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Regions: VFIO_DEVICE_GET_INFO's num_regions, VFIO_DEVICE_GET_REGION_INFO
 * with its capability chain (argsz grown once to what the kernel asks),
 * cached per handle, and bounds-checked access: pread/pwrite, mmap.
 *
 * The cache is a slot of the handle (device.c: vfm_dev_regions), filled
 * under the device lock on first use and freed with the handle.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "internal.h"
#include "region.h"

/* A chain larger than this is not a region's (the kernel's are tens of
 * bytes; a sparse cap with 4096 areas is 64 KiB). */
#define REGION_INFO_MAX (1u << 20)

struct vfm_region_slot {
	bool known;
	struct vfiomig_region_info info;
	struct vfiomig_region_area *areas;
};

struct vfm_regions {
	uint32_t num;
	struct vfm_region_slot r[];
};

void vfm_regions_free(void *regions)
{
	struct vfm_regions *rs = regions;
	uint32_t i;

	if (!rs)
		return;
	for (i = 0; i < rs->num; i++)
		free(rs->r[i].areas);
	free(rs);
}

/* Under the device lock: the cache, made on first use (GET_INFO). */
static int regions_get(struct vfiomig_device *dev, struct vfm_regions **out)
{
	struct vfio_device_info di;
	struct vfm_regions *rs = vfm_dev_regions(dev);
	int ret;

	if (rs) {
		*out = rs;
		return 0;
	}
	if (dev->fd < 0)
		return -EBADF;
	memset(&di, 0, sizeof(di));
	di.argsz = sizeof(di);
	ret = sys_ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &di);
	if (ret < 0) {
		err(dev->ctx, "%s: VFIO_DEVICE_GET_INFO: %s", vfm_dev_name(dev),
		    strerror(-ret));
		return ret;
	}
	/* Indexes are u32 in the uAPI; vfio-pci has 9 plus device-specific
	 * ones.  A count this large is not a device's. */
	if (di.num_regions > 65536) {
		err(dev->ctx, "%s: VFIO_DEVICE_GET_INFO: %u regions", vfm_dev_name(dev),
		    di.num_regions);
		return -EPROTO;
	}
	rs = calloc(1, sizeof(*rs) + (size_t)di.num_regions * sizeof(rs->r[0]));
	if (!rs)
		return -ENOMEM;
	rs->num = di.num_regions;
	vfm_dev_set_regions(dev, rs);
	*out = rs;
	return 0;
}

/* GET_REGION_INFO into a buffer of *len bytes (grown by the caller). */
static int region_ioctl(struct vfiomig_device *dev, uint32_t index,
			unsigned char **buf, size_t len)
{
	struct vfio_region_info ri = { .argsz = (uint32_t)len, .index = index };
	unsigned char *b = calloc(1, len);
	int ret;

	if (!b)
		return -ENOMEM;
	memcpy(b, &ri, sizeof(ri));
	ret = sys_ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, b);
	if (ret < 0) {
		free(b);
		return ret;
	}
	*buf = b;
	return 0;
}

static int region_fetch(struct vfiomig_device *dev, uint32_t index,
			struct vfm_region_slot *s)
{
	struct vfio_region_info ri;
	struct vfm_region_caps caps;
	unsigned char *buf = NULL;
	size_t len = sizeof(ri);
	const char *name = vfm_dev_name(dev);
	uint32_t i;
	int ret;

	ret = region_ioctl(dev, index, &buf, len);
	if (ret < 0)
		goto fail_ioctl;
	memcpy(&ri, buf, sizeof(ri));
	/* A chain that did not fit: once more at the size the kernel asks
	 * (vfio_pci_ioctl_get_region_info sets argsz, cap_offset 0). */
	if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.argsz > len) {
		if (ri.argsz > REGION_INFO_MAX) {
			err(dev->ctx, "%s: region %u: the kernel asks argsz %u for its capabilities: too large",
			    name, index, ri.argsz);
			ret = -EPROTO;
			goto fail;
		}
		len = ri.argsz;
		free(buf);
		buf = NULL;
		ret = region_ioctl(dev, index, &buf, len);
		if (ret < 0)
			goto fail_ioctl;
		memcpy(&ri, buf, sizeof(ri));
		if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.argsz > len) {
			err(dev->ctx, "%s: region %u: argsz %zu was too small again (now %u)",
			    name, index, len, ri.argsz);
			ret = -EPROTO;
			goto fail;
		}
	}
	ret = vfm_region_caps_parse(buf, len, &caps);
	if (ret < 0) {
		err(dev->ctx, "%s: region %u: malformed capability chain", name,
		    index);
		goto fail;
	}
	if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && !ri.cap_offset) {
		err(dev->ctx, "%s: region %u: CAPS without a chain", name, index);
		ret = -EPROTO;
		goto fail;
	}
	if (ri.size > (uint64_t)INT64_MAX || ri.offset > (uint64_t)INT64_MAX - ri.size) {
		err(dev->ctx, "%s: region %u: offset 0x%llx size 0x%llx past the fd's range",
		    name, index, (unsigned long long)ri.offset,
		    (unsigned long long)ri.size);
		ret = -EPROTO;
		goto fail;
	}
	s->areas = NULL;
	if (caps.have_sparse && caps.nr_areas) {
		s->areas = calloc(caps.nr_areas, sizeof(*s->areas));
		if (!s->areas) {
			ret = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < caps.nr_areas; i++) {
			struct vfio_region_sparse_mmap_area a;

			memcpy(&a, buf + caps.areas_off + i * sizeof(a), sizeof(a));
			if (a.offset > ri.size || a.size > ri.size - a.offset) {
				err(dev->ctx, "%s: region %u: sparse area %u [0x%llx, +0x%llx) outside the region (0x%llx)",
				    name, index, i, (unsigned long long)a.offset,
				    (unsigned long long)a.size,
				    (unsigned long long)ri.size);
				free(s->areas);
				s->areas = NULL;
				ret = -EPROTO;
				goto fail;
			}
			s->areas[i].offset = a.offset;
			s->areas[i].size = a.size;
		}
	}
	s->info = (struct vfiomig_region_info){
		.sz = sizeof(s->info),
		.index = index,
		.flags = ri.flags & (VFIOMIG_REGION_READ | VFIOMIG_REGION_WRITE |
				     VFIOMIG_REGION_MMAP | VFIOMIG_REGION_CAPS),
		.size = ri.size,
		.offset = ri.offset,
	};
	if (caps.have_type) {
		s->info.flags |= VFIOMIG_REGION_TYPED;
		s->info.type = caps.type;
		s->info.subtype = caps.subtype;
	}
	if (caps.have_sparse) {
		s->info.flags |= VFIOMIG_REGION_SPARSE;
		s->info.nr_areas = caps.nr_areas;
	}
	s->known = true;
	free(buf);
	return 0;
fail_ioctl:
	/* EINVAL: the driver has no region there (vfio-pci's VGA index
	 * without VGA); vfiomig_region_find() and the migration v1 lookup
	 * pass over it, so not an error of theirs to log. */
	if (ret == -EINVAL)
		dbg(dev->ctx, "%s: VFIO_DEVICE_GET_REGION_INFO(%u): %s", name,
		    index, strerror(-ret));
	else
		err(dev->ctx, "%s: VFIO_DEVICE_GET_REGION_INFO(%u): %s", name,
		    index, strerror(-ret));
fail:
	free(buf);
	return ret;
}

/* Under the device lock: the cached slot of index. */
static int region_slot(struct vfiomig_device *dev, uint32_t index,
		       struct vfm_region_slot **out)
{
	struct vfm_regions *rs;
	int ret = regions_get(dev, &rs);

	if (ret < 0)
		return ret;
	if (index >= rs->num) {
		err(dev->ctx, "%s: no region %u (the device has %u)",
		    vfm_dev_name(dev), index, rs->num);
		return -EINVAL;
	}
	if (!rs->r[index].known) {
		ret = region_fetch(dev, index, &rs->r[index]);
		if (ret < 0)
			return ret;
	}
	*out = &rs->r[index];
	return 0;
}

/* A copy of index's slot (info; areas when want_areas, caller frees). */
static int region_get(struct vfiomig_device *dev, uint32_t index,
		      struct vfiomig_region_info *info,
		      struct vfiomig_region_area **areas)
{
	struct vfm_region_slot *s;
	int ret;

	vfm_dev_lock(dev);
	ret = region_slot(dev, index, &s);
	if (!ret) {
		*info = s->info;
		if (areas) {
			*areas = NULL;
			if (s->info.nr_areas) {
				*areas = malloc(s->info.nr_areas * sizeof(**areas));
				if (*areas)
					memcpy(*areas, s->areas,
					       s->info.nr_areas * sizeof(**areas));
				else
					ret = -ENOMEM;
			}
		}
	}
	vfm_dev_unlock(dev);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_region_count(struct vfiomig_device *dev)
{
	struct vfm_regions *rs;
	int ret;

	if (!dev)
		return -EINVAL;
	vfm_dev_lock(dev);
	ret = regions_get(dev, &rs);
	if (!ret)
		ret = (int)rs->num;
	vfm_dev_unlock(dev);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_region_info(struct vfiomig_device *dev,
				       uint32_t index,
				       struct vfiomig_region_info *info)
{
	struct vfiomig_region_info ri;
	size_t sz;
	int ret;

	if (!dev || !info || info->sz < offsetofend(struct vfiomig_region_info, sz))
		return -EINVAL;
	ret = region_get(dev, index, &ri, NULL);
	if (ret < 0)
		return ret;
	/* An older caller's smaller struct gets what it has room for; a
	 * newer one's tail is zeroed. */
	sz = info->sz;
	ri.sz = sz;
	if (sz > sizeof(ri)) {
		memset((char *)info + sizeof(ri), 0, sz - sizeof(ri));
		sz = sizeof(ri);
	}
	memcpy(info, &ri, sz);
	return 0;
}

VFIOMIG_EXPORT int vfiomig_region_areas(struct vfiomig_device *dev,
					uint32_t index,
					struct vfiomig_region_area *areas,
					uint32_t max)
{
	struct vfiomig_region_info ri;
	struct vfiomig_region_area *a;
	int ret;

	if (!dev || (max && !areas))
		return -EINVAL;
	ret = region_get(dev, index, &ri, &a);
	if (ret < 0)
		return ret;
	if (a && max)
		memcpy(areas, a, (max < ri.nr_areas ? max : ri.nr_areas) *
					 sizeof(*areas));
	free(a);
	return ri.nr_areas > INT32_MAX ? -EOVERFLOW : (int)ri.nr_areas;
}

VFIOMIG_EXPORT int vfiomig_region_find(struct vfiomig_device *dev,
				       uint32_t type, uint32_t subtype,
				       uint32_t *index)
{
	struct vfiomig_region_info ri;
	int n, ret;
	uint32_t i;

	if (!dev || !index)
		return -EINVAL;
	n = vfiomig_region_count(dev);
	if (n < 0)
		return n;
	for (i = 0; i < (uint32_t)n; i++) {
		ret = region_get(dev, i, &ri, NULL);
		/* mtty answers every index; a driver refusing one it counts
		 * (vfio-pci's VGA without VGA: EINVAL) has no type there. */
		if (ret == -EINVAL)
			continue;
		if (ret < 0)
			return ret;
		if ((ri.flags & VFIOMIG_REGION_TYPED) && ri.type == type &&
		    ri.subtype == subtype) {
			*index = i;
			return 0;
		}
	}
	return -ENOENT;
}

/* Checks common to read and write: the region, its flag, the bounds. */
static int region_access_check(struct vfiomig_device *dev, uint32_t index,
			       uint64_t offset, size_t len, uint32_t need,
			       struct vfiomig_region_info *ri)
{
	int ret = region_get(dev, index, ri, NULL);

	if (ret < 0)
		return ret;
	if (!(ri->flags & need)) {
		err(dev->ctx, "%s: region %u is not %s", vfm_dev_name(dev),
		    index, need == VFIOMIG_REGION_READ ? "readable" : "writable");
		return -EACCES;
	}
	if (offset > ri->size || len > ri->size - offset) {
		err(dev->ctx, "%s: region %u: [0x%llx, +0x%zx) outside its 0x%llx bytes",
		    vfm_dev_name(dev), index, (unsigned long long)offset, len,
		    (unsigned long long)ri->size);
		return -ERANGE;
	}
	return 0;
}

/* The kernel does the access in chunks it chooses (vfio-pci: 4/2/1 by
 * alignment; mtty the same): one pread/pwrite of all of it, continued
 * after a short count, retried on EINTR. */
static int region_xfer(struct vfiomig_device *dev, uint32_t index, off_t pos,
		       unsigned char *buf, size_t len, bool write)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (write)
			n = sys_pwrite(dev->fd, buf + done, len - done,
				       pos + (off_t)done);
		else
			n = sys_pread(dev->fd, buf + done, len - done,
				      pos + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;

			err(dev->ctx, "%s: region %u: %s at 0x%zx: %s",
			    vfm_dev_name(dev), index, write ? "pwrite" : "pread",
			    done, strerror(-e));
			return e;
		}
		if (n == 0) {
			err(dev->ctx, "%s: region %u: %s returned 0 at 0x%zx",
			    vfm_dev_name(dev), index, write ? "pwrite" : "pread",
			    done);
			return -EIO;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Aligned 1/2/4/8 bytes: one access of that width from an aligned
 * variable (a register), whatever the caller's buffer alignment. */
static bool native_width(uint64_t offset, size_t len)
{
	return (len == 1 || len == 2 || len == 4 || len == 8) &&
	       !(offset % len);
}

VFIOMIG_EXPORT int vfiomig_region_read(struct vfiomig_device *dev,
				       uint32_t index, uint64_t offset,
				       void *buf, size_t len)
{
	struct vfiomig_region_info ri;
	uint64_t v = 0;
	int ret;

	if (!dev || (!buf && len))
		return -EINVAL;
	ret = region_access_check(dev, index, offset, len, VFIOMIG_REGION_READ,
				  &ri);
	if (ret < 0 || !len)
		return ret;
	if (native_width(offset, len)) {
		ret = region_xfer(dev, index, (off_t)(ri.offset + offset),
				  (unsigned char *)&v, len, false);
		if (!ret)
			memcpy(buf, &v, len);
		return ret;
	}
	return region_xfer(dev, index, (off_t)(ri.offset + offset), buf, len,
			   false);
}

VFIOMIG_EXPORT int vfiomig_region_write(struct vfiomig_device *dev,
					uint32_t index, uint64_t offset,
					const void *buf, size_t len)
{
	struct vfiomig_region_info ri;
	uint64_t v;
	int ret;

	if (!dev || (!buf && len))
		return -EINVAL;
	ret = region_access_check(dev, index, offset, len,
				  VFIOMIG_REGION_WRITE, &ri);
	if (ret < 0 || !len)
		return ret;
	if (native_width(offset, len)) {
		memcpy(&v, buf, len);
		return region_xfer(dev, index, (off_t)(ri.offset + offset),
				   (unsigned char *)&v, len, true);
	}
	return region_xfer(dev, index, (off_t)(ri.offset + offset),
			   (unsigned char *)(uintptr_t)buf, len, true);
}

VFIOMIG_EXPORT int vfiomig_region_mmap(struct vfiomig_device *dev,
				       uint32_t index, uint64_t offset,
				       size_t len, int prot, void **addr)
{
	struct vfiomig_region_info ri;
	struct vfiomig_region_area *areas = NULL;
	long page = sysconf(_SC_PAGESIZE);
	const char *name;
	bool inside;
	void *p;
	uint32_t i;
	int ret;

	if (!dev || !addr || !len || (prot & ~(PROT_READ | PROT_WRITE)) ||
	    !prot)
		return -EINVAL;
	name = vfm_dev_name(dev);
	if (page <= 0 || offset % (uint64_t)page) {
		err(dev->ctx, "%s: region %u: mmap offset 0x%llx is not page-aligned",
		    name, index, (unsigned long long)offset);
		return -EINVAL;
	}
	ret = region_get(dev, index, &ri, &areas);
	if (ret < 0)
		return ret;
	if (!(ri.flags & VFIOMIG_REGION_MMAP) ||
	    ((prot & PROT_READ) && !(ri.flags & VFIOMIG_REGION_READ)) ||
	    ((prot & PROT_WRITE) && !(ri.flags & VFIOMIG_REGION_WRITE))) {
		err(dev->ctx, "%s: region %u (flags 0x%x) cannot be mapped %s%s",
		    name, index, ri.flags, prot & PROT_READ ? "r" : "",
		    prot & PROT_WRITE ? "w" : "");
		ret = -EACCES;
		goto out;
	}
	if (ri.flags & VFIOMIG_REGION_SPARSE) {
		inside = false;
		for (i = 0; i < ri.nr_areas && !inside; i++)
			inside = offset >= areas[i].offset &&
				 offset - areas[i].offset <= areas[i].size &&
				 len <= areas[i].size - (offset - areas[i].offset);
	} else {
		inside = offset <= ri.size && len <= ri.size - offset;
	}
	if (!inside) {
		err(dev->ctx, "%s: region %u: [0x%llx, +0x%zx) is outside %s",
		    name, index, (unsigned long long)offset, len,
		    ri.flags & VFIOMIG_REGION_SPARSE ? "every sparse mmap area" :
						       "the region");
		ret = -ERANGE;
		goto out;
	}
	p = sys_mmap(NULL, len, prot, MAP_SHARED, dev->fd,
		     (off_t)(ri.offset + offset));
	if (p == MAP_FAILED) {
		ret = -errno;
		err(dev->ctx, "%s: region %u: mmap: %s", name, index,
		    strerror(-ret));
		goto out;
	}
	*addr = p;
	ret = 0;
out:
	free(areas);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_region_munmap(void *addr, size_t len)
{
	if (!addr || !len)
		return -EINVAL;
	return sys_munmap(addr, len) ? -errno : 0;
}
