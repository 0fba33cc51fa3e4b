// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IOMMU contexts and the DMA mappings made in them (vfiomig_iommu_new(3)).
 *
 * A context is a Type1 container or an iommufd IOAS.  It is refcounted: the
 * caller's reference (vfiomig_iommu_new, dropped by vfiomig_iommu_free) and
 * one per device opened into it.  A device opened without a context gets
 * one of its own that borrows the device's fds (vfm_iommu_borrow).
 *
 * The library records what it mapped in a vfm_rangeset (O(log n) per map
 * and unmap).  Dirty trackers started without ranges follow a context
 * (struct vfm_iommu_follower, linked at their start, unlinked at their
 * stop, each holding a reference so the context outlives them): a map
 * tells each of them under the context's lock and is undone if one cannot
 * track it; an unmap of what one tracks is refused (EBUSY: its dirty bits
 * come back only through vfiomig_dirty_unmap).  The library context lists
 * its IOMMU contexts, so a tracker made without devices finds the ones on
 * its iommufd and IOAS.  Rules it knows are checked before the kernel with the
 * kernel's errno; the kernel checks the rest (its own order) and a failure
 * is logged with the rule it names.  Nothing changes on failure: the
 * kernel's MAP fails whole, and an UNMAP that would cut a mapping (iommufd
 * unmaps the areas before it and then fails) is refused before the kernel.
 *
 * Type1 (kernel-contract 9, vfio_iommu_type1.c:vfio_dma_do_map/unmap):
 *   map: size 0 or (size|iova|vaddr) not on the IOMMU page size (at least
 *   the CPU page) -> EINVAL; iova or vaddr + size wraps -> EINVAL; an
 *   overlap -> EEXIST; dma_entry_limit reached -> ENOSPC; outside the valid
 *   IOVA ranges -> EINVAL.  unmap: iova/size not on the page size, size 0,
 *   a wrap -> EINVAL; a range cutting a mapping -> EINVAL.
 * iommufd (ioas.c:iommufd_ioas_map, io_pagetable.c):
 *   map: iova or length >= 2^64 - 1 -> EOVERFLOW; length 0 or above
 *   2^64 - 4097 (iopt_alloc_pages) -> EINVAL;
 *   vaddr + length wraps -> EOVERFLOW; length or iova not on the IOAS
 *   alignment -> EINVAL; iova + length wraps -> EOVERFLOW; a reserved IOVA
 *   -> EINVAL; an overlap -> EEXIST.  unmap: >= 2^64 - 1 -> EOVERFLOW;
 *   length 0 -> EINVAL; a wrap -> EOVERFLOW; cutting an area or nothing
 *   mapped -> ENOENT.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "internal.h"
#include "ranges.h"

#define DMA_PAGE 4096ULL

struct vfiomig_iommu {
	struct vfiomig_ctx *ctx;
	pthread_mutex_t lock;
	unsigned int refs;     /* the caller's + one per device */
	unsigned int ndevs;    /* devices opened into it */
	int path;              /* VFIOMIG_IOMMU_TYPE1 or _IOMMUFD */
	int fd;                /* container or iommufd */
	bool own_fd;
	uint32_t ioas_id;
	bool own_ioas;
	bool borrowed;         /* a device's fds: the device owns them */
	bool iommu_set;        /* Type1: VFIO_SET_IOMMU done (a group attached) */
	struct vfm_rangeset maps;
	/* Trackers following the mappings (dirty.c), each holding a
	 * reference: the context outlives them. */
	struct vfm_iommu_follower *followers;
	struct vfiomig_iommu *next; /* ctx->iommus */
};

/* IOMMU_IOAS_IOVA_RANGES (0x84), not in the private uAPI copy. */
struct vfm_iova_ranges {
	uint32_t size, ioas_id, num_iovas, reserved;
	uint64_t allowed_iovas, out_iova_alignment;
};
struct vfm_iova_range {
	uint64_t start, last;
};
#define VFM_IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, 0x84)

/* The library context's list of IOMMU contexts: a tracker made without
 * devices (an iommufd fd and IOAS in its options) finds its context there. */
static void list_lock(struct vfiomig_ctx *ctx)
{
	pthread_mutex_lock(&ctx->iommus_lock);
}

static void list_unlock(struct vfiomig_ctx *ctx)
{
	pthread_mutex_unlock(&ctx->iommus_lock);
}

static struct vfiomig_iommu *io_alloc(struct vfiomig_ctx *ctx)
{
	struct vfiomig_iommu *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	if (pthread_mutex_init(&io->lock, NULL)) {
		free(io);
		return NULL;
	}
	io->ctx = ctx;
	io->refs = 1;
	io->fd = -1;
	list_lock(ctx);
	io->next = ctx->iommus;
	ctx->iommus = io;
	list_unlock(ctx);
	return io;
}

static void io_unlist(struct vfiomig_iommu *io)
{
	struct vfiomig_iommu **pp;

	list_lock(io->ctx);
	for (pp = &io->ctx->iommus; *pp; pp = &(*pp)->next) {
		if (*pp == io) {
			*pp = io->next;
			break;
		}
	}
	list_unlock(io->ctx);
}

static void io_destroy(struct vfiomig_iommu *io)
{
	io_unlist(io);
	if (io->path == VFIOMIG_IOMMU_IOMMUFD && io->own_ioas) {
		struct iommu_destroy d = { .size = sizeof(d), .id = io->ioas_id };

		sys_ioctl(io->fd, IOMMU_DESTROY, &d);
	}
	if (io->own_fd && io->fd >= 0)
		sys_close(io->fd);
	vfm_rangeset_fini(&io->maps);
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static void io_put(struct vfiomig_iommu *io)
{
	bool last;

	pthread_mutex_lock(&io->lock);
	last = --io->refs == 0;
	pthread_mutex_unlock(&io->lock);
	if (last)
		io_destroy(io);
}

static const char *path_name(int path)
{
	return path == VFIOMIG_IOMMU_TYPE1 ? "Type1" : "iommufd";
}

/* Type1: VFIO_IOMMU_GET_INFO answers only once an IOMMU is set. */
static bool type1_iommu_set(int fd)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };

	return sys_ioctl(fd, VFIO_IOMMU_GET_INFO, &info) == 0;
}

static int open_container(struct vfiomig_iommu *io)
{
	int fd = vfm_container_open(io->ctx, NULL);

	if (fd < 0)
		return fd;
	io->path = VFIOMIG_IOMMU_TYPE1;
	io->fd = fd;
	io->own_fd = true;
	return 0;
}

static int alloc_ioas(struct vfiomig_iommu *io)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int ret = sys_ioctl(io->fd, IOMMU_IOAS_ALLOC, &alloc);

	if (ret < 0) {
		err(io->ctx, "IOMMU_IOAS_ALLOC: %s", strerror(-ret));
		return ret;
	}
	io->ioas_id = alloc.out_ioas_id;
	io->own_ioas = true;
	return 0;
}

/* quiet: a Type1 container is the fallback (AUTO). */
static int open_iommufd(struct vfiomig_iommu *io, bool quiet)
{
	int fd = vfm_iommufd_open(io->ctx, NULL,
				  quiet ? "a Type1 container" : NULL);

	if (fd < 0)
		return fd;
	io->path = VFIOMIG_IOMMU_IOMMUFD;
	io->fd = fd;
	io->own_fd = true;
	return alloc_ioas(io);
}

VFIOMIG_EXPORT int vfiomig_iommu_new(struct vfiomig_ctx *ctx,
				     const struct vfiomig_iommu_opts *opts,
				     struct vfiomig_iommu **iop)
{
	struct vfiomig_iommu *io;
	unsigned int flags;
	int path, cfd, ifd, ret;
	uint32_t ioas_id;

	if (!ctx || !iop)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_iommu_opts);
	if (ret)
		return ret;
	flags = OPTS_GET(opts, flags, 0u);
	path = OPTS_GET(opts, iommu, VFIOMIG_IOMMU_AUTO);
	cfd = OPTS_GET(opts, container_fd, 0);
	ifd = OPTS_GET(opts, iommufd, 0);
	ioas_id = OPTS_GET(opts, ioas_id, 0u);
	if (flags) {
		err(ctx, "iommu context: unknown flags 0x%x", flags);
		return -EINVAL;
	}
	if (path != VFIOMIG_IOMMU_AUTO && path != VFIOMIG_IOMMU_IOMMUFD &&
	    path != VFIOMIG_IOMMU_TYPE1) {
		err(ctx, "iommu context: no IOMMU path %d", path);
		return -EINVAL;
	}
	if (cfd < 0 || ifd < 0 || (cfd > 0 && ifd > 0) ||
	    (cfd > 0 && path == VFIOMIG_IOMMU_IOMMUFD) ||
	    (ifd > 0 && path == VFIOMIG_IOMMU_TYPE1) || (ioas_id && ifd <= 0)) {
		err(ctx, "iommu context: container fd %d, iommufd %d, IOAS %u and path %d do not agree",
		    cfd, ifd, ioas_id, path);
		return -EINVAL;
	}
	io = io_alloc(ctx);
	if (!io)
		return -ENOMEM;
	if (cfd > 0) {
		io->path = VFIOMIG_IOMMU_TYPE1;
		io->fd = cfd;
		io->iommu_set = type1_iommu_set(cfd);
	} else if (ifd > 0) {
		io->path = VFIOMIG_IOMMU_IOMMUFD;
		io->fd = ifd;
		io->ioas_id = ioas_id;
		ret = ioas_id ? 0 : alloc_ioas(io);
	} else if (path == VFIOMIG_IOMMU_TYPE1) {
		ret = open_container(io);
	} else if (path == VFIOMIG_IOMMU_IOMMUFD) {
		ret = open_iommufd(io, false);
	} else {
		ret = open_iommufd(io, true);
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO ||
		    ret == -EACCES || ret == -EPERM)
			ret = open_container(io);
	}
	if (ret) {
		io_destroy(io);
		return ret;
	}
	dbg(ctx, "iommu context: %s fd %d%s, IOAS %u", path_name(io->path),
	    io->fd, io->own_fd ? "" : " (the caller's)", io->ioas_id);
	*iop = io;
	return 0;
}

VFIOMIG_EXPORT void vfiomig_iommu_free(struct vfiomig_iommu *io)
{
	if (io)
		io_put(io);
}

VFIOMIG_EXPORT struct vfiomig_iommu *
vfiomig_device_iommu(const struct vfiomig_device *dev)
{
	return dev ? dev->io : NULL;
}

/* ------------------------------------------------------------ devices */

int vfm_iommu_attach_check(struct vfiomig_device *dev, struct vfiomig_iommu *io,
			   int path, int iommu_fd, uint32_t ioas_id,
			   int *pathp, int *fdp, uint32_t *ioasp)
{
	if (io->ctx != dev->ctx || io->borrowed ||
	    (path != VFIOMIG_IOMMU_AUTO && path != io->path) || iommu_fd ||
	    ioas_id) {
		err(dev->ctx, "%s: open into an IOMMU context: %s",
		    vfm_dev_name(dev),
		    io->ctx != dev->ctx ? "the context belongs to another library context" :
		    io->borrowed ? "the context is another device's own (open that device's peers with the context of vfiomig_iommu_new)" :
		    "iommu_fd and ioas_id must be 0 and the path AUTO or the context's");
		return -EINVAL;
	}
	*pathp = io->path;
	*fdp = io->fd;
	*ioasp = io->ioas_id;
	return 0;
}

void vfm_iommu_attached(struct vfiomig_device *dev, struct vfiomig_iommu *io)
{
	pthread_mutex_lock(&io->lock);
	io->refs++;
	io->ndevs++;
	if (io->path == VFIOMIG_IOMMU_TYPE1)
		io->iommu_set = true;
	pthread_mutex_unlock(&io->lock);
	dev->io = io;
}

int vfm_iommu_borrow(struct vfiomig_device *dev)
{
	struct vfiomig_iommu *io;

	if (dev->iommu_path != VFIOMIG_IOMMU_TYPE1 &&
	    dev->iommu_path != VFIOMIG_IOMMU_IOMMUFD)
		return 0;
	if (dev->iommu_path == VFIOMIG_IOMMU_IOMMUFD &&
	    (dev->iommufd < 0 || !dev->ioas_id))
		return 0;
	if (dev->iommu_path == VFIOMIG_IOMMU_TYPE1 && dev->container_fd < 0)
		return 0;
	io = io_alloc(dev->ctx);
	if (!io)
		return -ENOMEM;
	io->path = dev->iommu_path;
	io->borrowed = true;
	io->ndevs = 1;
	if (io->path == VFIOMIG_IOMMU_TYPE1) {
		io->fd = dev->container_fd;
		io->iommu_set = true;
	} else {
		io->fd = dev->iommufd;
		io->ioas_id = dev->ioas_id;
	}
	dev->io = io;
	return 0;
}

void vfm_iommu_detach(struct vfiomig_device *dev)
{
	struct vfiomig_iommu *io = dev->io;

	if (!io)
		return;
	dev->io = NULL;
	pthread_mutex_lock(&io->lock);
	if (!--io->ndevs && io->path == VFIOMIG_IOMMU_TYPE1 && !io->borrowed) {
		/* The last group left the container: the kernel released its
		 * IOMMU and every mapping with it (container.c:
		 * __vfio_group_unset_container). */
		if (vfm_rangeset_count(&io->maps))
			dbg(io->ctx, "iommu context: the last device left the Type1 container: its %zu mappings are gone",
			    vfm_rangeset_count(&io->maps));
		vfm_rangeset_fini(&io->maps);
		io->iommu_set = type1_iommu_set(io->fd);
	}
	pthread_mutex_unlock(&io->lock);
	io_put(io);
}

/* ----------------------------------------------------------- ranges */

/* Type1: VFIO_IOMMU_GET_INFO with its capability chain; the IOVA ranges
 * (none in the chain: the whole space) and the smallest page size. */
static ssize_t type1_info(struct vfiomig_iommu *io, struct vfiomig_range *r,
			  size_t n, uint64_t *pgsize)
{
	struct vfio_iommu_type1_info *info;
	uint32_t argsz = sizeof(*info);
	ssize_t count = -1;
	unsigned char *buf = NULL;
	int ret;

	for (int tries = 0; tries < 4; tries++) {
		unsigned char *nb = realloc(buf, argsz);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		memset(buf, 0, argsz);
		info = (void *)buf;
		info->argsz = argsz;
		ret = sys_ioctl(io->fd, VFIO_IOMMU_GET_INFO, info);
		if (ret < 0) {
			free(buf);
			return ret;
		}
		if (info->argsz <= argsz)
			break;
		if (info->argsz > 1u << 20) {
			err(io->ctx, "VFIO_IOMMU_GET_INFO asks for %u bytes",
			    info->argsz);
			free(buf);
			return -EPROTO;
		}
		argsz = info->argsz;
	}
	info = (void *)buf;
	if (info->argsz > argsz) {
		free(buf);
		return -EAGAIN;
	}
	*pgsize = (info->flags & VFIO_IOMMU_INFO_PGSIZES) && info->iova_pgsizes ?
		  info->iova_pgsizes & -info->iova_pgsizes : DMA_PAGE;
	if (info->flags & VFIO_IOMMU_INFO_CAPS) {
		/* Offsets from the start of info; each must lie inside the
		 * buffer and move forward (no loop). */
		uint32_t off = info->cap_offset, prev = 0;

		while (off) {
			struct vfio_info_cap_header h;

			if (off <= prev || off < sizeof(*info) ||
			    off > argsz - sizeof(h) || (off & 3)) {
				err(io->ctx, "VFIO_IOMMU_GET_INFO: capability at offset %u outside the buffer (%u bytes) or not after %u",
				    off, argsz, prev);
				free(buf);
				return -EPROTO;
			}
			memcpy(&h, buf + off, sizeof(h));
			if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				uint32_t nr;

				if (off + 16 > argsz) {
					free(buf);
					return -EPROTO;
				}
				memcpy(&nr, buf + off + 8, 4);
				if (nr > (argsz - off - 16) / 16) {
					err(io->ctx, "VFIO_IOMMU_GET_INFO: %u IOVA ranges do not fit the capability",
					    nr);
					free(buf);
					return -EPROTO;
				}
				count = 0;
				for (uint32_t i = 0; i < nr; i++) {
					struct vfm_iova_range k;

					memcpy(&k, buf + off + 16 + 16 * i, 16);
					if (k.last < k.start)
						continue;
					if ((size_t)count < n) {
						r[count].iova = k.start;
						r[count].length = k.last - k.start +
								  (k.last != UINT64_MAX);
					}
					count++;
				}
			}
			prev = off;
			off = h.next;
		}
	}
	free(buf);
	if (count < 0) {
		/* No list: an mdev-only container checks no range. */
		if (n) {
			r[0].iova = 0;
			r[0].length = UINT64_MAX;
		}
		count = 1;
	}
	return count;
}

/* iommufd: IOMMU_IOAS_IOVA_RANGES, asking the count first (EMSGSIZE). */
static ssize_t ioas_info(struct vfiomig_iommu *io, struct vfiomig_range *r,
			 size_t n, uint64_t *align)
{
	struct vfm_iova_range *k = NULL;
	uint32_t num = 0;
	int ret = -EAGAIN;

	for (int tries = 0; tries < 4; tries++) {
		struct vfm_iova_ranges cmd = {
			.size = sizeof(cmd), .ioas_id = io->ioas_id,
			.num_iovas = num, .allowed_iovas = (uintptr_t)k,
		};

		ret = sys_ioctl(io->fd, VFM_IOMMU_IOAS_IOVA_RANGES, &cmd);
		*align = cmd.out_iova_alignment ? cmd.out_iova_alignment : 1;
		if (ret == -EMSGSIZE && cmd.num_iovas > num &&
		    cmd.num_iovas < (1u << 20)) {
			struct vfm_iova_range *nk;

			num = cmd.num_iovas;
			nk = realloc(k, num * sizeof(*k));
			if (!nk) {
				ret = -ENOMEM;
				break;
			}
			k = nk;
			ret = -EAGAIN;
			continue;
		}
		if (ret == 0) {
			size_t count = 0;

			if (cmd.num_iovas > num) {
				ret = -EPROTO;
				break;
			}
			for (uint32_t i = 0; i < cmd.num_iovas; i++) {
				if (k[i].last < k[i].start)
					continue;
				if (count < n) {
					r[count].iova = k[i].start;
					r[count].length = k[i].last - k[i].start +
							  (k[i].last != UINT64_MAX);
				}
				count++;
			}
			free(k);
			return count;
		}
		break;
	}
	free(k);
	if (ret < 0)
		err(io->ctx, "IOMMU_IOAS_IOVA_RANGES on IOAS %u: %s",
		    io->ioas_id, strerror(-ret));
	return ret;
}

static int need_iommu(struct vfiomig_iommu *io, const char *what)
{
	if (io->path == VFIOMIG_IOMMU_TYPE1 && !io->iommu_set) {
		err(io->ctx, "%s: the Type1 container has no IOMMU until the first device is opened into the context (VFIO_SET_IOMMU needs a group)",
		    what);
		return -EAGAIN;
	}
	return 0;
}

VFIOMIG_EXPORT ssize_t vfiomig_iommu_iova_ranges(struct vfiomig_iommu *io,
						 struct vfiomig_range *r,
						 size_t n)
{
	uint64_t unit;
	ssize_t ret;

	if (!io || (!r && n))
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	ret = need_iommu(io, "IOVA ranges");
	if (!ret)
		ret = io->path == VFIOMIG_IOMMU_TYPE1 ? type1_info(io, r, n, &unit) :
			ioas_info(io, r, n, &unit);
	pthread_mutex_unlock(&io->lock);
	return ret;
}

VFIOMIG_EXPORT ssize_t vfiomig_iommu_mappings(struct vfiomig_iommu *io,
					      struct vfiomig_range *r, size_t n)
{
	const struct vfiomig_range *m;
	size_t cur, count = 0;

	if (!io || (!r && n))
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	for (m = vfm_rangeset_first(&io->maps, 0, &cur); m;
	     m = vfm_rangeset_next(&io->maps, &cur)) {
		if (count < n)
			r[count] = *m;
		count++;
	}
	pthread_mutex_unlock(&io->lock);
	return count;
}

/* ------------------------------------------------------------ map/unmap */

/* The first recorded mapping overlapping [iova, last], or NULL. */
static const struct vfiomig_range *overlap(struct vfiomig_iommu *io,
					   uint64_t iova, uint64_t last)
{
	size_t cur;
	const struct vfiomig_range *m = vfm_rangeset_first(&io->maps, iova, &cur);

	return m && m->iova <= last ? m : NULL;
}

/* After the kernel refused a map with EINVAL: which of its rules. */
static void explain_einval(struct vfiomig_iommu *io, uint64_t iova,
			   uint64_t size)
{
	struct vfiomig_range r[64];
	uint64_t unit = 1;
	ssize_t n = io->path == VFIOMIG_IOMMU_TYPE1 ?
			    type1_info(io, r, ARRAY_SIZE(r), &unit) :
			    ioas_info(io, r, ARRAY_SIZE(r), &unit);
	bool inside = false;

	if (n < 0) {
		err(io->ctx, "map [%#llx, +%#llx): refused (EINVAL) by the kernel",
		    (unsigned long long)iova, (unsigned long long)size);
		return;
	}
	if ((iova | size) & (unit - 1)) {
		err(io->ctx, "map [%#llx, +%#llx): not aligned to the %s's %s %#llx (EINVAL)",
		    (unsigned long long)iova, (unsigned long long)size,
		    io->path == VFIOMIG_IOMMU_TYPE1 ? "container" : "IOAS",
		    io->path == VFIOMIG_IOMMU_TYPE1 ? "smallest IOMMU page size" :
						      "IOVA alignment",
		    (unsigned long long)unit);
		return;
	}
	for (ssize_t i = 0; i < n && i < (ssize_t)ARRAY_SIZE(r); i++)
		if (iova >= r[i].iova && iova - r[i].iova < r[i].length &&
		    size - 1 <= r[i].length - 1 - (iova - r[i].iova))
			inside = true;
	err(io->ctx, "map [%#llx, +%#llx): %s (EINVAL)", (unsigned long long)iova,
	    (unsigned long long)size,
	    inside ? "refused by the kernel (a reserved IOVA, or the user address)" :
		     "outside the valid IOVA ranges (vfiomig_iommu_iova_ranges)");
}

static int type1_map(struct vfiomig_iommu *io, void *vaddr, uint64_t iova,
		     uint64_t size, unsigned int flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .vaddr = (uintptr_t)vaddr, .iova = iova,
		.size = size,
	};
	uint64_t va = (uintptr_t)vaddr;

	if (flags & VFIOMIG_DMA_READ)
		map.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (flags & VFIOMIG_DMA_WRITE)
		map.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	/* vfio_dma_do_map, in its order; the IOMMU page size is at least
	 * the CPU page (vfio_update_pgsize_bitmap), so a finer address fails
	 * its check whatever the domain. */
	if (!size) {
		err(io->ctx, "map at %#llx: size 0 (EINVAL)",
		    (unsigned long long)iova);
		return -EINVAL;
	}
	if ((size | iova | va) & (DMA_PAGE - 1)) {
		err(io->ctx, "map [%#llx, +%#llx) from %p: iova, size and address must be page-aligned (EINVAL)",
		    (unsigned long long)iova, (unsigned long long)size, vaddr);
		return -EINVAL;
	}
	if (iova + size - 1 < iova || va + size - 1 < va) {
		err(io->ctx, "map [%#llx, +%#llx): wraps past 2^64 (EINVAL)",
		    (unsigned long long)iova, (unsigned long long)size);
		return -EINVAL;
	}
	return sys_ioctl(io->fd, VFIO_IOMMU_MAP_DMA, &map);
}

static int ioas_map(struct vfiomig_iommu *io, void *vaddr, uint64_t iova,
		    uint64_t size, unsigned int flags)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map), .flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = io->ioas_id, .user_va = (uintptr_t)vaddr,
		.length = size, .iova = iova,
	};
	uint64_t va = (uintptr_t)vaddr;

	if (flags & VFIOMIG_DMA_READ)
		map.flags |= IOMMU_IOAS_MAP_READABLE;
	if (flags & VFIOMIG_DMA_WRITE)
		map.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	/* iommufd_ioas_map, iopt_alloc_user_pages, iopt_check_iova. */
	if (iova >= UINT64_MAX || size >= UINT64_MAX) {
		err(io->ctx, "map [%#llx, +%#llx): iova and length must be below 2^64 - 1 (EOVERFLOW)",
		    (unsigned long long)iova, (unsigned long long)size);
		return -EOVERFLOW;
	}
	if (!size || size > UINT64_MAX - DMA_PAGE) {
		err(io->ctx, "map at %#llx: size %#llx (0, or above 2^64 - 4097: iopt_alloc_pages) (EINVAL)",
		    (unsigned long long)iova, (unsigned long long)size);
		return -EINVAL;
	}
	if (va + size < va) {
		err(io->ctx, "map from %p, length %#llx: the user address wraps (EOVERFLOW)",
		    vaddr, (unsigned long long)size);
		return -EOVERFLOW;
	}
	return sys_ioctl(io->fd, IOMMU_IOAS_MAP, &map);
}

/* Undo a mapping just made (its record or a follower failed). */
static void kernel_unmap(struct vfiomig_iommu *io, uint64_t iova,
			 uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u1 = {
		.argsz = sizeof(u1), .iova = iova, .size = size,
	};
	struct iommu_ioas_unmap u2 = {
		.size = sizeof(u2), .ioas_id = io->ioas_id,
		.iova = iova, .length = size,
	};

	if (io->path == VFIOMIG_IOMMU_TYPE1)
		sys_ioctl(io->fd, VFIO_IOMMU_UNMAP_DMA, &u1);
	else
		sys_ioctl(io->fd, IOMMU_IOAS_UNMAP, &u2);
}

/* A mapping was made: every tracker following the context tracks it from
 * now on.  One that cannot fails the map; those told before it forget it
 * again (all or none track it, as the map is undone). */
static int tell_followers(struct vfiomig_iommu *io, uint64_t iova,
			  uint64_t size)
{
	struct vfm_iommu_follower *f, *g;
	int ret = 0;

	for (f = io->followers; f; f = f->next) {
		ret = f->mapped(f, iova, size);
		if (ret)
			break;
	}
	if (ret)
		for (g = io->followers; g != f; g = g->next)
			g->unmapped(g, iova, size);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_iommu_map(struct vfiomig_iommu *io, void *vaddr,
				     uint64_t iova, uint64_t size,
				     unsigned int flags)
{
	const struct vfiomig_range *m;
	int ret;

	if (!io)
		return -EINVAL;
	if (!flags || (flags & ~(VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE))) {
		err(io->ctx, "map at %#llx: flags 0x%x (READ and/or WRITE, nothing else) (EINVAL)",
		    (unsigned long long)iova, flags);
		return -EINVAL;
	}
	pthread_mutex_lock(&io->lock);
	ret = need_iommu(io, "map");
	if (ret)
		goto out;
	ret = io->path == VFIOMIG_IOMMU_TYPE1 ? type1_map(io, vaddr, iova, size, flags) :
		ioas_map(io, vaddr, iova, size, flags);
	if (ret == -EEXIST) {
		m = overlap(io, iova, iova + (size - 1));
		if (m)
			err(io->ctx, "map [%#llx, +%#llx): overlaps the mapping [%#llx, +%#llx) (EEXIST)",
			    (unsigned long long)iova, (unsigned long long)size,
			    (unsigned long long)m->iova,
			    (unsigned long long)m->length);
		else
			err(io->ctx, "map [%#llx, +%#llx): overlaps a mapping the library did not make (EEXIST)",
			    (unsigned long long)iova, (unsigned long long)size);
	} else if (ret == -ENOSPC && io->path == VFIOMIG_IOMMU_TYPE1) {
		err(io->ctx, "map [%#llx, +%#llx): the container's mapping limit is reached (vfio_iommu_type1 dma_entry_limit, %zu made by the library) (ENOSPC)",
		    (unsigned long long)iova, (unsigned long long)size,
		    vfm_rangeset_count(&io->maps));
	} else if (ret == -EINVAL) {
		explain_einval(io, iova, size);
	} else if (ret == -EOVERFLOW) {
		err(io->ctx, "map [%#llx, +%#llx): the IOVA range wraps past 2^64 (EOVERFLOW)",
		    (unsigned long long)iova, (unsigned long long)size);
	} else if (ret < 0) {
		err(io->ctx, "map [%#llx, +%#llx) from %p: %s", (unsigned long long)iova,
		    (unsigned long long)size, vaddr, strerror(-ret));
	}
	if (ret < 0)
		goto out;
	/* A range the caller unmapped behind the library's back is gone. */
	ret = vfm_rangeset_remove(&io->maps, iova, size);
	if (!ret)
		ret = vfm_rangeset_add(&io->maps, iova, size);
	if (ret) {
		kernel_unmap(io, iova, size);
		err(io->ctx, "map [%#llx, +%#llx): cannot record it: %s (unmapped)",
		    (unsigned long long)iova, (unsigned long long)size,
		    strerror(-ret));
		goto out;
	}
	ret = tell_followers(io, iova, size);
	if (ret) {
		kernel_unmap(io, iova, size);
		vfm_rangeset_remove(&io->maps, iova, size);
		err(io->ctx, "map [%#llx, +%#llx): a dirty tracker following the context cannot track it: %s (unmapped)",
		    (unsigned long long)iova, (unsigned long long)size,
		    strerror(-ret));
		goto out;
	}
	dbg(io->ctx, "mapped [%#llx, +%#llx) from %p%s%s",
	    (unsigned long long)iova, (unsigned long long)size, vaddr,
	    flags & VFIOMIG_DMA_READ ? " r" : "", flags & VFIOMIG_DMA_WRITE ? " w" : "");
out:
	pthread_mutex_unlock(&io->lock);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_iommu_unmap(struct vfiomig_iommu *io, uint64_t iova,
				       uint64_t size)
{
	bool t1;
	uint64_t last;
	const struct vfiomig_range *m;
	size_t cur;
	int ret, bad;

	if (!io)
		return -EINVAL;
	t1 = io->path == VFIOMIG_IOMMU_TYPE1;
	pthread_mutex_lock(&io->lock);
	ret = need_iommu(io, "unmap");
	if (ret)
		goto out;
	/* vfio_dma_do_unmap / iommufd_ioas_unmap, in their order. */
	if (t1 && ((iova | size) & (DMA_PAGE - 1))) {
		err(io->ctx, "unmap [%#llx, +%#llx): iova and size must be page-aligned (EINVAL)",
		    (unsigned long long)iova, (unsigned long long)size);
		ret = -EINVAL;
		goto out;
	}
	if (!t1 && (iova >= UINT64_MAX || size >= UINT64_MAX)) {
		err(io->ctx, "unmap [%#llx, +%#llx): iova and length must be below 2^64 - 1 (EOVERFLOW)",
		    (unsigned long long)iova, (unsigned long long)size);
		ret = -EOVERFLOW;
		goto out;
	}
	if (!size) {
		err(io->ctx, "unmap at %#llx: size 0 (EINVAL)",
		    (unsigned long long)iova);
		ret = -EINVAL;
		goto out;
	}
	if (__builtin_add_overflow(iova, size - 1, &last)) {
		err(io->ctx, "unmap [%#llx, +%#llx): wraps past 2^64 (%s)",
		    (unsigned long long)iova, (unsigned long long)size,
		    t1 ? "EINVAL" : "EOVERFLOW");
		ret = t1 ? -EINVAL : -EOVERFLOW;
		goto out;
	}
	/* Cutting a mapping: Type1 v2 refuses it (EINVAL) before unmapping
	 * anything; iommufd unmaps the areas before it, then says ENOENT.
	 * Refused here for both, nothing changed. */
	bad = t1 ? -EINVAL : -ENOENT;
	m = vfm_rangeset_first(&io->maps, iova, &cur);
	if (m && m->iova < iova) {
		err(io->ctx, "unmap [%#llx, +%#llx): cuts the mapping [%#llx, +%#llx) (whole mappings only) (%s)",
		    (unsigned long long)iova, (unsigned long long)size,
		    (unsigned long long)m->iova, (unsigned long long)m->length,
		    t1 ? "EINVAL" : "ENOENT");
		ret = bad;
		goto out;
	}
	m = vfm_rangeset_first(&io->maps, last, &cur);
	if (m && m->iova <= last && m->length - 1 > last - m->iova) {
		err(io->ctx, "unmap [%#llx, +%#llx): cuts the mapping [%#llx, +%#llx) (whole mappings only) (%s)",
		    (unsigned long long)iova, (unsigned long long)size,
		    (unsigned long long)m->iova, (unsigned long long)m->length,
		    t1 ? "EINVAL" : "ENOENT");
		ret = bad;
		goto out;
	}
	/* A tracker following the context would lose the range's dirty
	 * bits: they come back only through vfiomig_dirty_unmap. */
	for (struct vfm_iommu_follower *f = io->followers; f; f = f->next) {
		ret = f->unmapping(f, iova, size);
		if (ret) {
			err(io->ctx, "unmap [%#llx, +%#llx): a dirty tracker follows the mappings there: unmap through vfiomig_dirty_unmap(3) to get their dirty bits, or stop the tracker first (%s)",
			    (unsigned long long)iova, (unsigned long long)size,
			    strerror(-ret));
			goto out;
		}
	}
	if (t1) {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = iova, .size = size,
		};

		ret = sys_ioctl(io->fd, VFIO_IOMMU_UNMAP_DMA, &u);
	} else {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u), .ioas_id = io->ioas_id,
			.iova = iova, .length = size,
		};

		ret = sys_ioctl(io->fd, IOMMU_IOAS_UNMAP, &u);
		if (ret == -ENOENT && !overlap(io, iova, last))
			err(io->ctx, "unmap [%#llx, +%#llx): nothing is mapped there (ENOENT)",
			    (unsigned long long)iova, (unsigned long long)size);
	}
	if (ret < 0) {
		if (ret != -ENOENT)
			err(io->ctx, "unmap [%#llx, +%#llx): %s",
			    (unsigned long long)iova, (unsigned long long)size,
			    strerror(-ret));
		goto out;
	}
	/* Whole mappings only: removing them never splits, never allocates. */
	ret = vfm_rangeset_remove(&io->maps, iova, size);
out:
	pthread_mutex_unlock(&io->lock);
	return ret;
}

void vfm_iommu_forget(struct vfiomig_iommu *io, int fd, uint32_t ioas_id,
		      uint64_t iova, uint64_t length)
{
	int ret;

	if (!io || io->fd != fd ||
	    (io->path == VFIOMIG_IOMMU_IOMMUFD && io->ioas_id != ioas_id))
		return;
	pthread_mutex_lock(&io->lock);
	ret = vfm_rangeset_remove(&io->maps, iova, length);
	pthread_mutex_unlock(&io->lock);
	if (ret)
		err(io->ctx, "unmap [%#llx, +%#llx) through a dirty tracker: the context's record keeps it (%s)",
		    (unsigned long long)iova, (unsigned long long)length,
		    strerror(-ret));
}

/* ------------------------------------------------------------ followers */

void vfm_iommu_get(struct vfiomig_iommu *io)
{
	pthread_mutex_lock(&io->lock);
	io->refs++;
	pthread_mutex_unlock(&io->lock);
}

void vfm_iommu_put(struct vfiomig_iommu *io)
{
	if (io)
		io_put(io);
}

static bool io_is(const struct vfiomig_iommu *io, int fd, uint32_t ioas_id)
{
	return io->fd == fd &&
	       (io->path == VFIOMIG_IOMMU_TYPE1 || io->ioas_id == ioas_id);
}

struct vfiomig_iommu *vfm_iommu_find(struct vfiomig_ctx *ctx, int fd,
				     uint32_t ioas_id, size_t *cur)
{
	struct vfiomig_iommu *io, *found = NULL;
	size_t k = 0;

	list_lock(ctx);
	for (io = ctx->iommus; io && !found; io = io->next) {
		if (!io_is(io, fd, ioas_id) || k++ < *cur)
			continue;
		/* A context whose last reference is gone is being
		 * destroyed: not handed out again. */
		pthread_mutex_lock(&io->lock);
		if (io->refs) {
			io->refs++;
			found = io;
		}
		pthread_mutex_unlock(&io->lock);
	}
	list_unlock(ctx);
	*cur = k;
	return found;
}

void vfm_iommu_lock(struct vfiomig_iommu *io)
{
	pthread_mutex_lock(&io->lock);
}

void vfm_iommu_unlock(struct vfiomig_iommu *io)
{
	pthread_mutex_unlock(&io->lock);
}

ssize_t vfm_iommu_mappings_copy_locked(struct vfiomig_iommu *io,
				       struct vfiomig_range **out)
{
	*out = NULL;
	return vfm_rangeset_copy(&io->maps, out);
}

void vfm_iommu_follow_locked(struct vfiomig_iommu *io,
			     struct vfm_iommu_follower *f)
{
	io->refs++;
	f->io = io;
	f->next = io->followers;
	io->followers = f;
}

void vfm_iommu_unfollow(struct vfm_iommu_follower *f)
{
	struct vfiomig_iommu *io = f->io;
	struct vfm_iommu_follower **pp;

	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	for (pp = &io->followers; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&io->lock);
	f->io = NULL;
	f->next = NULL;
	io_put(io);
}
