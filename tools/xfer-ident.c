// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: a device's identity as a stream section records it, and
 * whether a stream from one kind of device may go into another (xfer.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xfer.h"

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

void xfer_identity(struct xfer_member *m, struct stream_hdr *h)
{
	struct vfiomig_device *dev = m->dev;
	struct vfiomig_pci_ids ids;

	memset(h, 0, sizeof(*h));
	h->version_major = STREAM_VERSION_MAJOR;
	h->version_minor = STREAM_VERSION_MINOR;
	h->mig_flags = m->flags;
	h->data_size = m->data_size;
	h->created = (uint64_t)time(NULL);
	if (vfiomig_device_mdev_type(dev)) {
		h->kind = STREAM_KIND_MDEV;
		copy_str(h->mdev_type, sizeof(h->mdev_type),
			 vfiomig_device_mdev_type(dev));
	} else if (!vfiomig_device_pci_ids(dev, &ids)) {
		h->kind = STREAM_KIND_PCI;
		h->pci_vendor = ids.vendor;
		h->pci_device = ids.device;
		h->pci_subsystem_vendor = ids.subsystem_vendor;
		h->pci_subsystem_device = ids.subsystem_device;
		h->pci_class = ids.class_code;
	}
	copy_str(h->driver, sizeof(h->driver), vfiomig_device_driver(dev));
	copy_str(h->device, sizeof(h->device), vfiomig_device_name(dev));
	copy_str(h->lib_version, sizeof(h->lib_version),
		 vfiomig_version(NULL, NULL, NULL));
	copy_str(h->tool_version, sizeof(h->tool_version), PACKAGE_VERSION);
	/* As a file records it, so that the compatibility check compares
	 * like with like. */
	stream_hdr_clean(h);
}

void xfer_kind_str(const struct stream_hdr *h, char *buf, size_t len)
{
	if (h->kind == STREAM_KIND_MDEV)
		snprintf(buf, len, "%s mdev of type %s", h->driver[0] ? h->driver : "?",
			 h->mdev_type);
	else if (h->kind == STREAM_KIND_PCI)
		snprintf(buf, len, "%s PCI function %04x:%04x",
			 h->driver[0] ? h->driver : "?", h->pci_vendor, h->pci_device);
	else
		snprintf(buf, len, "%s device", h->driver[0] ? h->driver : "unknown");
}

/* NULL when a stream described by `from` may be loaded into `to`. */
static const char *incompatible(const struct stream_hdr *from,
				const struct stream_hdr *to)
{
	if (strcmp(from->driver, to->driver))
		return "the drivers differ";
	if (from->kind != to->kind)
		return "one is an mdev, the other a PCI function";
	if (from->kind == STREAM_KIND_MDEV && strcmp(from->mdev_type, to->mdev_type))
		return "the mdev types differ";
	if (from->kind == STREAM_KIND_PCI &&
	    (from->pci_vendor != to->pci_vendor || from->pci_device != to->pci_device))
		return "the PCI IDs differ";
	return NULL;
}

int xfer_check_compat(struct cli *c, const struct stream_hdr *from,
		      const char *from_what, const struct stream_hdr *to,
		      const char *to_name, bool force)
{
	const char *why = incompatible(from, to);
	char a[96], b[96];

	if (!why)
		return 0;
	xfer_kind_str(from, a, sizeof(a));
	xfer_kind_str(to, b, sizeof(b));
	if (force) {
		cli_warn(c, "%s is from a %s, %s is a %s (%s); going on (--force)",
			 from_what, cli_esc(a), to_name, cli_esc(b), why);
		return 0;
	}
	cli_err(c, "%s is from a %s, but %s is a %s (%s); use --force to override",
		from_what, cli_esc(a), to_name, cli_esc(b), why);
	return -EXDEV;
}
