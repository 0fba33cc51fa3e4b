// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysfs helpers: paths, attribute files, links, and the identity of a
 * device directory (driver, IOMMU group, cdev, mdev type, PCI ids).
 *
 * sysfs is read with ordinary file calls (not lib/sys.h: it is not a VFIO
 * object); the context's sysfs root points tests at a fake tree.
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

char *vfm_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	char *p;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (asprintf(&p, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return p;
}

/* Read dir/attr into buf (NUL-terminated, trailing newlines removed).
 * Returns the length or -errno (-ENAMETOOLONG if it does not fit). */
int vfm_read_sysfs_str(const char *dir, const char *attr, char *buf,
		       size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	size_t got = 0;
	int fd, ret = 0;

	if (!len)
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, attr) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == len) {
			ret = -ENAMETOOLONG;
			break;
		}
	}
	close(fd);
	if (ret)
		return ret;
	while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\0'))
		got--;
	buf[got] = '\0';
	return (int)got;
}

/* The last component of the link dir/link's target. Returns its length or
 * -errno (-ENOENT: no such link). */
int vfm_readlink_base(const char *dir, const char *link, char *buf,
		      size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	size_t bl;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, link) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	while (n > 1 && target[n - 1] == '/')
		target[--n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	bl = strlen(base);
	if (!bl)
		return -EINVAL;
	if (bl >= len)
		return -ENAMETOOLONG;
	memcpy(buf, base, bl + 1);
	return (int)bl;
}

static int parse_uint(const char *s, int base, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || !isxdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The N of the "vfioN" entry in dir/vfio-dev, or -1. */
static int read_cdev(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned long n;
	int ret = -1;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/vfio-dev", dir) >=
	    sizeof(path))
		return -1;
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vfio", 4) ||
		    !isdigit((unsigned char)de->d_name[4]) ||
		    parse_uint(de->d_name + 4, 10, INT_MAX, &n))
			continue;
		ret = (int)n;
		break;
	}
	closedir(d);
	return ret;
}

static int read_hex_attr(const char *dir, const char *attr,
			 unsigned long max, unsigned long *v)
{
	char buf[32];
	int ret = vfm_read_sysfs_str(dir, attr, buf, sizeof(buf));

	if (ret < 0)
		return ret;
	return parse_uint(buf, 16, max, v);
}

static int read_pci_ids(const char *dir, struct vfiomig_pci_ids *ids)
{
	unsigned long v[5];
	static const char *const attrs[5] = {
		"vendor", "device", "subsystem_vendor", "subsystem_device",
		"class",
	};

	for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
		int ret = read_hex_attr(dir, attrs[i],
					i == 4 ? 0xffffffUL : 0xffffUL, &v[i]);

		if (ret)
			return ret;
	}
	ids->vendor = (uint16_t)v[0];
	ids->device = (uint16_t)v[1];
	ids->subsystem_vendor = (uint16_t)v[2];
	ids->subsystem_device = (uint16_t)v[3];
	ids->class_code = (uint32_t)v[4];
	return 0;
}

int vfm_devinfo_read(const char *path, struct vfm_devinfo *di)
{
	char buf[NAME_MAX + 1];
	const char *base;
	unsigned long group;
	size_t pl = strlen(path);

	memset(di, 0, sizeof(*di));
	di->iommu_group = -1;
	if (pl >= sizeof(di->path))
		return -ENAMETOOLONG;
	memcpy(di->path, path, pl + 1);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!*base || strlen(base) >= sizeof(di->name))
		return -EINVAL;
	strcpy(di->name, base);

	if (vfm_readlink_base(path, "driver", di->driver,
			      sizeof(di->driver)) < 0)
		di->driver[0] = '\0';
	if (vfm_readlink_base(path, "mdev_type", di->mdev_type,
			      sizeof(di->mdev_type)) < 0)
		di->mdev_type[0] = '\0';
	if (vfm_readlink_base(path, "iommu_group", buf, sizeof(buf)) >= 0 &&
	    !parse_uint(buf, 10, INT_MAX, &group))
		di->iommu_group = (int)group;
	di->cdev = read_cdev(path);
	/* An mdev has a "vendor" directory of its own (mtty: vendor/sample_mdev_dev):
	 * only a PCI function's ids are read. */
	if (!di->mdev_type[0] && vfm_parse_pci_addr(di->name, NULL, 0) == 0 &&
	    read_pci_ids(path, &di->pci_ids) == 0)
		di->have_pci_ids = true;
	return 0;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* PCI address "DDDD:BB:DD.F" or "BB:DD.F" (hex, any case; domain of 4 to
 * 8 digits). Writes the canonical lowercase "dddd:bb:dd.f" into out (may
 * be NULL). */
int vfm_parse_pci_addr(const char *s, char *out, size_t len)
{
	const char *colon = strchr(s, ':'), *p = s;
	unsigned long dom = 0, bus, slot, fn;

	if (!colon)
		return -EINVAL;
	if (strchr(colon + 1, ':')) {
		size_t nd = (size_t)(colon - s);

		if (nd < 4 || nd > 8 || !all_hex(s, nd))
			return -EINVAL;
		dom = strtoul(s, NULL, 16);
		p = colon + 1;
	}
	/* bb:dd.f */
	if (strlen(p) != 7 || !all_hex(p, 2) || p[2] != ':' ||
	    !all_hex(p + 3, 2) || p[5] != '.' || p[6] < '0' || p[6] > '7')
		return -EINVAL;
	bus = strtoul(p, NULL, 16);
	slot = strtoul(p + 3, NULL, 16);
	fn = (unsigned long)(p[6] - '0');
	if (slot > 0x1f)
		return -EINVAL;
	if (out && (size_t)snprintf(out, len, "%04lx:%02lx:%02lx.%lx", dom,
				    bus, slot, fn) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* mdev UUID 8-4-4-4-12 hex digits, any case; writes it lowercase. */
int vfm_parse_uuid(const char *s, char *out, size_t len)
{
	static const size_t dash[] = { 8, 13, 18, 23 };
	size_t d = 0;

	if (strlen(s) != 36)
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		if (d < ARRAY_SIZE(dash) && i == dash[d]) {
			if (s[i] != '-')
				return -EINVAL;
			d++;
		} else if (!isxdigit((unsigned char)s[i])) {
			return -EINVAL;
		}
	}
	if (out) {
		if (len < 37)
			return -ENAMETOOLONG;
		for (size_t i = 0; i <= 36; i++)
			out[i] = (char)tolower((unsigned char)s[i]);
	}
	return 0;
}
