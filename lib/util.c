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
#include <sys/stat.h>

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

/* sysfs_emit() fills at most a page: more is not a sysfs attribute. */
#define SYSFS_ATTR_MAX 4096
/* vfio-dev/ holds one vfioN entry; stop looking after this many. */
#define VFIO_DEV_ENTRIES_MAX 64

static const char *file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFIFO: return "FIFO";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	}
	return "file of unknown type";
}

/* path is there but is no regular file: -EINVAL, said with its type. */
static int not_regular(const struct vfiomig_ctx *ctx, const char *path,
		       mode_t mode)
{
	err(ctx, "%s: a %s, not a sysfs attribute", path, file_type(mode));
	return -EINVAL;
}

/*
 * Open a sysfs attribute, refusing anything but a regular file: a FIFO
 * would block open() or read(), a device node could do anything when
 * opened.  lstat() keeps such a node from ever being opened; fstat()
 * closes the race with a tree that changes in between.
 */
static int open_attr(const struct vfiomig_ctx *ctx, const char *path)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return not_regular(ctx, path, st.st_mode);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
				O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = not_regular(ctx, path, st.st_mode);
	else
		return fd;
	close(fd);
	return ret;
}

/* Read fd to its end into buf, at most len bytes.  Returns the count, or
 * -EFBIG when the file holds len bytes or more (no room for a NUL), or
 * -errno. */
static ssize_t read_bounded(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return (ssize_t)got;
		got += (size_t)n;
	}
	return -EFBIG;
}

/* Read dir/attr into buf (NUL-terminated, trailing newlines removed).
 * Only a regular file of fewer than min(len, SYSFS_ATTR_MAX + 1) bytes is
 * read: a larger one is refused, never truncated, and so is anything that
 * is not a regular file.  Every failure but a missing attribute is logged,
 * naming the file.  Returns the length,
 * -ENOENT when there is no such attribute, -EINVAL when it is not a
 * regular file, -EFBIG when it does not fit, or -errno. */
int vfm_read_sysfs_str(const struct vfiomig_ctx *ctx, const char *dir,
		       const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t got;
	int fd;

	if (!len)
		return -EINVAL;
	if (len > SYSFS_ATTR_MAX + 1)
		len = SYSFS_ATTR_MAX + 1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, attr) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open_attr(ctx, path);
	if (fd < 0) {
		/* ENOENT: no such attribute; EINVAL: not_regular() said why */
		if (fd != -ENOENT && fd != -EINVAL)
			err(ctx, "%s: %s", path, strerror(-fd));
		return fd;
	}
	got = read_bounded(fd, buf, len);
	close(fd);
	if (got == -EFBIG)
		err(ctx, "%s: longer than %zu bytes, not a sysfs attribute",
		    path, len - 1);
	else if (got < 0)
		err(ctx, "%s: %s", path, strerror((int)-got));
	if (got < 0)
		return (int)got;
	while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\0'))
		got--;
	buf[got] = '\0';
	return (int)got;
}

/* The last component of the link dir/link's target. Returns its length or
 * -errno (-ENOENT: no such link; any other failure is logged). */
int vfm_readlink_base(const struct vfiomig_ctx *ctx, const char *dir,
		      const char *link, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	struct stat st;
	ssize_t n;
	size_t bl;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, link) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0 && errno == EINVAL && lstat(path, &st) == 0) {
		err(ctx, "%s: a %s, not a symbolic link", path,
		    file_type(st.st_mode));
		return -EINVAL;
	}
	if (n < 0 && errno == ENOENT)
		return -ENOENT;
	if (n < 0) {
		err(ctx, "%s: %s", path, strerror(errno));
		return -errno;
	}
	target[n] = '\0';
	while (n > 1 && target[n - 1] == '/')
		target[--n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	bl = strlen(base);
	if (!bl || bl >= len) {
		err(ctx, "%s: link to \"%s\": no name of 1 to %zu bytes", path,
		    target, len - 1);
		return bl ? -ENAMETOOLONG : -EINVAL;
	}
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

/* The N of the first "vfioN" entry of dir/vfio-dev: -1 when there is no
 * such directory or entry, or -errno when vfio-dev is not a directory. */
static int read_cdev(const struct vfiomig_ctx *ctx, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	unsigned long n;
	int ret = -1;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/vfio-dev", dir) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	d = opendir(path); /* O_DIRECTORY: a FIFO fails, never blocks */
	if (!d && errno == ENOENT)
		return -1;
	if (!d) {
		ret = -errno;
		err(ctx, "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < VFIO_DEV_ENTRIES_MAX && (de = readdir(d)); i++) {
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

static int read_hex_attr(const struct vfiomig_ctx *ctx, const char *dir,
			 const char *attr, unsigned long max, unsigned long *v)
{
	char buf[32];
	int ret = vfm_read_sysfs_str(ctx, dir, attr, buf, sizeof(buf));

	if (ret < 0)
		return ret;
	ret = parse_uint(buf, 16, max, v);
	if (ret)
		err(ctx, "%s/%s: \"%s\" is not a number up to 0x%lx", dir, attr,
		    buf, max);
	return ret;
}

/* 0, -ENOENT when an id is missing, or why an id could not be read. */
static int read_pci_ids(const struct vfiomig_ctx *ctx, const char *dir,
			struct vfiomig_pci_ids *ids)
{
	unsigned long v[5];
	static const char *const attrs[5] = {
		"vendor", "device", "subsystem_vendor", "subsystem_device",
		"class",
	};

	for (size_t i = 0; i < ARRAY_SIZE(attrs); i++) {
		int ret = read_hex_attr(ctx, dir, attrs[i],
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

/* A link that may be missing: "" then.  Any other failure is the caller's. */
static int read_opt_link(const struct vfiomig_ctx *ctx, const char *dir,
			 const char *link, char *buf, size_t len)
{
	int ret = vfm_readlink_base(ctx, dir, link, buf, len);

	if (ret < 0)
		buf[0] = '\0';
	return ret == -ENOENT ? 0 : ret;
}

/*
 * What sysfs says about the device directory path.  What a device may lack
 * (a driver, a group, a cdev, PCI ids) is left empty; anything there that
 * is not what sysfs would hold (a FIFO, socket, huge file or directory for
 * an attribute, a file for a link) fails the device with -errno, and every
 * failure is logged naming the file.
 */
int vfm_devinfo_read(const struct vfiomig_ctx *ctx, const char *path,
		     struct vfm_devinfo *di)
{
	char group[NAME_MAX + 1];
	const char *base;
	unsigned long n;
	size_t pl = strlen(path);
	struct stat st;
	int ret;

	memset(di, 0, sizeof(*di));
	di->iommu_group = -1;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (pl >= sizeof(di->path) || !*base || strlen(base) >= sizeof(di->name)) {
		err(ctx, "%s: not a device directory name", path);
		return pl >= sizeof(di->path) ? -ENAMETOOLONG : -EINVAL;
	}
	memcpy(di->path, path, pl + 1);
	strcpy(di->name, base);
	if (lstat(path, &st) < 0) {
		ret = -errno;
		err(ctx, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISDIR(st.st_mode)) {
		err(ctx, "%s: a %s, not a device directory", path,
		    file_type(st.st_mode));
		return -ENOTDIR;
	}

	if ((ret = read_opt_link(ctx, path, "driver", di->driver,
				 sizeof(di->driver))) < 0 ||
	    (ret = read_opt_link(ctx, path, "mdev_type", di->mdev_type,
				 sizeof(di->mdev_type))) < 0 ||
	    (ret = read_opt_link(ctx, path, "iommu_group", group,
				 sizeof(group))) < 0)
		return ret;
	if (ret > 0 && !parse_uint(group, 10, INT_MAX, &n))
		di->iommu_group = (int)n;
	di->cdev = read_cdev(ctx, path);
	if (di->cdev < -1)
		return di->cdev;
	/* An mdev has a "vendor" directory of its own (mtty: vendor/sample_mdev_dev):
	 * only a PCI function's ids are read. */
	if (di->mdev_type[0] || vfm_parse_pci_addr(di->name, NULL, 0))
		return 0;
	ret = read_pci_ids(ctx, path, &di->pci_ids);
	if (ret == -ENOENT)
		return 0;
	di->have_pci_ids = ret == 0;
	return ret;
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
