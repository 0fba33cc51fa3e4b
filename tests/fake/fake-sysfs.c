// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake machine (test-only): the sysfs tree and /dev nodes in a
 * temporary directory, the personalities (fake_cfg_mtty, fake_cfg_pci),
 * fake_init, fake_add_device, fake_fini (HACKING.md "Fake sysfs and
 * /dev").
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake-internal.h"

/* The machine (fake-internal.h). */
#define F fake_machine

/* ------------------------------------------------------------------ */
/* The fake machine: sysfs tree and /dev nodes.                         */

static int mkpath(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int mkfile(const char *content, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int mklink(const char *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

__attribute__((format(printf, 3, 0)))
static int vpath(char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, len, fmt, ap);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir -p */
static int mkpath(const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int mkfile(const char *content, const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	FILE *fp;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	fp = fopen(p, "we");
	if (!fp)
		return -errno;
	if (content)
		fputs(content, fp);
	if (fclose(fp))
		return -errno;
	return 0;
}

static int mklink(const char *target, const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r)
		return r;
	if (symlink(target, p) && errno != EEXIST)
		return -errno;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

FAKE_EXPORT void fake_cfg_mtty(struct fake_dev_cfg *cfg, const char *uuid,
			       int ports, int group, int cdev)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = uuid;
	cfg->mdev = true;
	cfg->mdev_type = ports == 1 ? "mtty-1" : "mtty-2";
	cfg->driver = "mtty"; /* mtty_driver.driver.name */
	cfg->group = group;
	cfg->cdev = cdev;
	cfg->personality = FAKE_MTTY;
	cfg->mtty_ports = ports == 1 ? 1 : 2;
	cfg->mig_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			 VFIO_MIGRATION_PRE_COPY;
	cfg->log_ops = true;
	cfg->log_reject_double = false;
	cfg->state_size = 24 + 36 * cfg->mtty_ports; /* 60 / 96 */
	cfg->precopy_initial = 24;
	cfg->precopy_dirty = 0;
	cfg->precopy_end = FAKE_END_ZERO;
	cfg->hw_dirty = false;
}

FAKE_EXPORT void fake_cfg_pci(struct fake_dev_cfg *cfg, const char *bdf,
			      int group, int cdev, uint64_t mig_flags)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = bdf;
	cfg->mdev = false;
	/* A migration-capable function is a variant driver (mlx5-like);
	 * without migration flags, plain vfio-pci (no mig_ops, no log_ops). */
	cfg->driver = mig_flags ? "mlx5_vfio_pci" : "vfio-pci";
	cfg->vendor = 0x15b3;
	cfg->device = 0x101e;
	cfg->subsystem_vendor = 0x15b3;
	cfg->subsystem_device = 0x0047;
	cfg->class_code = 0x020000;
	cfg->group = group;
	cfg->cdev = cdev;
	cfg->personality = FAKE_GENERIC;
	cfg->mig_flags = mig_flags;
	cfg->log_ops = mig_flags != 0;
	cfg->log_reject_double = true;
	cfg->state_size = 1 << 20;
	cfg->precopy_initial = 256 << 10;
	cfg->precopy_dirty = 0;
	cfg->precopy_end = FAKE_END_ENOMSG;
	cfg->hw_dirty = true;
}

FAKE_EXPORT int fake_init(bool with_iommufd)
{
	FAKE_LOCKED();
	const char *tmp = getenv("TMPDIR");
	int r;

	if (F.up)
		return -EBUSY;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(F.root, sizeof(F.root), "%s/vfiomig-fake-XXXXXX",
			     tmp) >= sizeof(F.root))
		return -ENAMETOOLONG;
	if (!mkdtemp(F.root))
		return -errno;
	snprintf(F.sys, sizeof(F.sys), "%s/sys", F.root);
	snprintf(F.dev, sizeof(F.dev), "%s/dev", F.root);
	F.devlen = strlen(F.dev);
	F.with_iommufd = with_iommufd;
	fake_fault.calls = 0;
	fake_fault.ioctls = 0;
	fake_fault.nth = 0;
	fake_arc_log_clear();
	F.iommu_pgsizes = FAKE_PCI_PGSIZES_DEFAULT;
	F.iommu_last = FAKE_APERTURE_END_DEFAULT;
	if ((r = mkpath("%s/bus/pci/drivers/vfio-pci", F.sys)) ||
	    (r = mkpath("%s/bus/pci/devices", F.sys)) ||
	    (r = mkpath("%s/bus/mdev/devices", F.sys)) ||
	    (r = mkpath("%s/bus/mdev/drivers", F.sys)) ||
	    (r = mkpath("%s/kernel/iommu_groups", F.sys)) ||
	    (r = mkpath("%s/class/mdev_bus", F.sys)) ||
	    (r = mkpath("%s/devices/virtual", F.sys)) ||
	    (r = mkpath("%s/vfio", F.dev)) ||
	    (r = mkfile(NULL, "%s/vfio/vfio", F.dev)))
		goto fail;
	if (with_iommufd &&
	    ((r = mkpath("%s/vfio/devices", F.dev)) ||
	     (r = mkfile(NULL, "%s/iommu", F.dev)) ||
	     (r = mkpath("%s/class/vfio-dev", F.sys))))
		goto fail;
	F.up = true;
	return 0;
fail:
	nftw(F.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}

/* sysfs of an mdev (contract 12.1, HACKING.md): the parent is
 * devices/virtual/<class>/<class>/ with the class from the type name. */
static int sysfs_mdev(struct fake_dev *d, char *devdir, size_t len)
{
	char cls[32], *dash;
	const char *type = d->mdev_type;
	int r;

	snprintf(cls, sizeof(cls), "%s", type);
	dash = strrchr(cls, '-');
	if (dash)
		*dash = '\0';
	if ((size_t)snprintf(devdir, len, "%s/devices/virtual/%s/%s/%s", F.sys,
			     cls, cls, d->name) >= len)
		return -ENAMETOOLONG;
	if ((r = mkpath("%s", devdir)) ||
	    (r = mkpath("%s/devices/virtual/%s/%s/mdev_supported_types/%s/devices",
			F.sys, cls, cls, type)))
		return r;
	if (!strcmp(type, "mtty-1") || !strcmp(type, "mtty-2")) {
		r = mkfile(!strcmp(type, "mtty-1") ? "Single port serial\n"
						   : "Dual port serial\n",
			   "%s/devices/virtual/%s/%s/mdev_supported_types/%s/name",
			   F.sys, cls, cls, type);
	} else {
		char name[64];

		snprintf(name, sizeof(name), "%s\n", type);
		r = mkfile(name,
			   "%s/devices/virtual/%s/%s/mdev_supported_types/%s/name",
			   F.sys, cls, cls, type);
	}
	if (r ||
	    (r = mkfile("vfio-pci\n",
			"%s/devices/virtual/%s/%s/mdev_supported_types/%s/device_api",
			F.sys, cls, cls, type)) ||
	    (r = mkfile(NULL,
			"%s/devices/virtual/%s/%s/mdev_supported_types/%s/create",
			F.sys, cls, cls, type)) ||
	    (r = mkpath("%s/class/mdev_bus", F.sys)))
		return r;
	{
		char t[PATH_MAX];

		snprintf(t, sizeof(t), "../mdev_supported_types/%s", type);
		if ((r = mklink(t, "%s/mdev_type", devdir)))
			return r;
		snprintf(t, sizeof(t), "../../../%s", d->name);
		if ((r = mklink(t,
				"%s/devices/virtual/%s/%s/mdev_supported_types/%s/devices/%s",
				F.sys, cls, cls, type, d->name)))
			return r;
		snprintf(t, sizeof(t), "../../devices/virtual/%s/%s", cls, cls);
		if ((r = mklink(t, "%s/class/mdev_bus/%s", F.sys, cls)))
			return r;
	}
	if ((r = mkfile(NULL, "%s/remove", devdir)) ||
	    (r = mklink(devdir, "%s/bus/mdev/devices/%s", F.sys, d->name)))
		return r;
	return 0;
}

static int sysfs_pci(struct fake_dev *d, char *devdir, size_t len)
{
	unsigned int dom = 0, bus = 0;
	char v[32];
	int r;

	sscanf(d->name, "%x:%x", &dom, &bus);
	if ((size_t)snprintf(devdir, len, "%s/devices/pci%04x:%02x/%s", F.sys,
			     dom, bus ? bus - 1 : 0, d->name) >= len)
		return -ENAMETOOLONG;
	if ((r = mkpath("%s", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.vendor);
	if ((r = mkfile(v, "%s/vendor", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.device);
	if ((r = mkfile(v, "%s/device", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.subsystem_vendor);
	if ((r = mkfile(v, "%s/subsystem_vendor", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%04x\n", d->cfg.subsystem_device);
	if ((r = mkfile(v, "%s/subsystem_device", devdir)))
		return r;
	snprintf(v, sizeof(v), "0x%06x\n", d->cfg.class_code);
	if ((r = mkfile(v, "%s/class", devdir)))
		return r;
	return mklink(devdir, "%s/bus/pci/devices/%s", F.sys, d->name);
}

FAKE_EXPORT int fake_add_device(const struct fake_dev_cfg *cfg)
{
	FAKE_LOCKED();
	char devdir[PATH_MAX], t[2 * PATH_MAX];
	struct fake_group *g;
	struct fake_dev *d;
	int r;

	if (!F.up || !cfg || !cfg->name)
		return -EINVAL;
	if (F.ndevs == FAKE_MAX_DEVS)
		return -ENOSPC;
	if (cfg->group < 0 || strlen(cfg->name) >= sizeof(d->name) ||
	    (cfg->mdev && (!cfg->mdev_type ||
			   strlen(cfg->mdev_type) >= sizeof(d->mdev_type))) ||
	    (cfg->driver && strlen(cfg->driver) >= sizeof(d->driver)))
		return -EINVAL;
	for (int i = 0; i < F.ndevs; i++)
		if (!strcmp(F.devs[i]->name, cfg->name) ||
		    (cfg->cdev >= 0 && F.devs[i]->cfg.cdev == cfg->cdev))
			return -EEXIST;
	g = fake_group_get(cfg->group);
	if (g && (g->emulated != cfg->mdev || cfg->mdev))
		return -EEXIST; /* an mdev has a group of its own */
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	snprintf(d->name, sizeof(d->name), "%s", cfg->name);
	snprintf(d->mdev_type, sizeof(d->mdev_type), "%s",
		 cfg->mdev ? cfg->mdev_type : "");
	snprintf(d->driver, sizeof(d->driver), "%s",
		 cfg->driver ? cfg->driver : "");
	d->cfg.name = d->name;
	d->cfg.mdev_type = cfg->mdev ? d->mdev_type : NULL;
	d->cfg.driver = cfg->driver ? d->driver : NULL;
	if (!F.with_iommufd)
		d->cfg.cdev = -1; /* VFIO_DEVICE_CDEV depends on IOMMUFD */
	d->id = F.ndevs;
	d->state = VFIO_DEVICE_STATE_RUNNING;
	fake_cfg_init(d);

	r = cfg->mdev ? sysfs_mdev(d, devdir, sizeof(devdir))
		      : sysfs_pci(d, devdir, sizeof(devdir));
	if (r)
		goto fail;
	if (d->cfg.driver) {
		if ((r = mkpath("%s/bus/%s/drivers/%s", F.sys,
				cfg->mdev ? "mdev" : "pci", d->driver)))
			goto fail;
		snprintf(t, sizeof(t), "%s/bus/%s/drivers/%s", F.sys,
			 cfg->mdev ? "mdev" : "pci", d->driver);
		if ((r = mklink(t, "%s/driver", devdir)) ||
		    (r = mklink(devdir, "%s/bus/%s/drivers/%s/%s", F.sys,
				cfg->mdev ? "mdev" : "pci", d->driver,
				d->name)))
			goto fail;
	}
	/* iommu group: mdev groups are named "vfio-noiommu" (contract 11.1) */
	if ((r = mkpath("%s/kernel/iommu_groups/%d/devices", F.sys,
			cfg->group)) ||
	    (r = mklink(devdir, "%s/kernel/iommu_groups/%d/devices/%s", F.sys,
			cfg->group, d->name)))
		goto fail;
	if (cfg->mdev)
		r = mkfile("vfio-noiommu\n", "%s/kernel/iommu_groups/%d/name",
			   F.sys, cfg->group);
	else
		r = mkfile("DMA\n", "%s/kernel/iommu_groups/%d/type", F.sys,
			   cfg->group);
	if (r)
		goto fail;
	snprintf(t, sizeof(t), "%s/kernel/iommu_groups/%d", F.sys, cfg->group);
	if ((r = mklink(t, "%s/iommu_group", devdir)) ||
	    (r = mkfile(NULL, "%s/vfio/%d", F.dev, cfg->group)))
		goto fail;
	if (d->cfg.cdev >= 0) {
		char dev[32];

		snprintf(dev, sizeof(dev), "511:%d\n", d->cfg.cdev);
		if ((r = mkpath("%s/vfio-dev/vfio%d", devdir, d->cfg.cdev)) ||
		    (r = mkfile(dev, "%s/vfio-dev/vfio%d/dev", devdir,
				d->cfg.cdev)) ||
		    (r = mklink("../..", "%s/vfio-dev/vfio%d/device",
				devdir, d->cfg.cdev)))
			goto fail;
		snprintf(t, sizeof(t), "%s/vfio-dev/vfio%d", devdir,
			 d->cfg.cdev);
		if ((r = mklink(t, "%s/class/vfio-dev/vfio%d", F.sys,
				d->cfg.cdev)) ||
		    (r = mkfile(NULL, "%s/vfio/devices/vfio%d", F.dev,
				d->cfg.cdev)))
			goto fail;
	}
	if (!g) {
		for (int i = 0; i < FAKE_MAX_DEVS; i++) {
			if (!F.groups[i].used) {
				g = &F.groups[i];
				memset(g, 0, sizeof(*g));
				g->used = true;
				g->num = cfg->group;
				g->emulated = cfg->mdev;
				break;
			}
		}
	}
	F.devs[F.ndevs++] = d;
	fake_mig_init_dev(d);
	fake_dirty_init_dev(d);
	return d->id;
fail:
	free(d);
	return r;
}

FAKE_EXPORT int fake_fini(void)
{
	FAKE_LOCKED();
	int leaked = 0;

	if (!F.up)
		return 0;
	/* Close what is left, as process exit would: data fds first (they
	 * reference devices), then devices, groups, containers, iommufds. */
	for (int pass = 0; pass < 2; pass++) {
		for (int fd = 0; fd < F.fds_cap; fd++) {
			struct fake_fd *f = F.fds[fd];

			if (!f || (pass == 0) != (f->type == FFD_DATA))
				continue;
			leaked++;
			fake_fd_close(f);
		}
	}
	for (int i = 0; i < F.ndevs; i++) {
		fake_dirty_fini_dev(F.devs[i]);
		fake_mig_fini_dev(F.devs[i]);
		fake_region_fini_dev(F.devs[i]);
		free(F.devs[i]);
	}
	while (F.nictxs) {
		F.ictxs[0]->refs = 1;
		fake_ictx_put(F.ictxs[0]);
	}
	while (F.nconts) {
		F.conts[0]->refs = 1;
		fake_container_put(F.conts[0]);
	}
	free(F.fds);
	free(F.conts);
	free(F.ictxs);
	nftw(F.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	memset(&F, 0, sizeof(F));
	fake_fault.nth = 0;
	return leaked;
}
