// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: formatting for output: state and IOMMU path names,
 * migration flags, byte counts, a device's identity in JSON.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

const char *cli_state_name(int state)
{
	const char *n = vfiomig_state_name(state);
	static char buf[24];

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "state-%d", state);
	return buf;
}

const char *cli_proto_name(int proto)
{
	switch (proto) {
	case VFIOMIG_PROTO_V2:
		return "v2";
	case VFIOMIG_PROTO_V1:
		return "v1";
	case VFIOMIG_PROTO_NONE:
		return "none";
	default:
		return NULL;
	}
}

const char *cli_proto_what(int proto)
{
	switch (proto) {
	case VFIOMIG_PROTO_V2:
		return "VFIO_DEVICE_FEATURE_MIGRATION";
	case VFIOMIG_PROTO_V1:
		return "migration region, Linux 5.8-5.17";
	default:
		return "no migration support";
	}
}

const char *cli_iommu_name(int path)
{
	switch (path) {
	case VFIOMIG_IOMMU_AUTO: return "auto";
	case VFIOMIG_IOMMU_IOMMUFD: return "iommufd";
	case VFIOMIG_IOMMU_TYPE1: return "type1";
	case VFIOMIG_IOMMU_NONE: return "none";
	}
	return "unknown";
}

void cli_mig_flags_str(uint64_t flags, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	if (flags & VFIOMIG_MIG_STOP_COPY)
		n += (size_t)snprintf(buf + n, len - n, "%sstop-copy", n ? "," : "");
	if ((flags & VFIOMIG_MIG_P2P) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%sp2p", n ? "," : "");
	if ((flags & VFIOMIG_MIG_PRE_COPY) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%spre-copy", n ? "," : "");
	if ((flags & ~CLI_MIG_KNOWN) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s0x%" PRIx64, n ? "," : "",
				      flags & ~CLI_MIG_KNOWN);
	if (!n)
		snprintf(buf, len, "none");
}

void cli_json_mig_flags(struct json *j, const char *key, uint64_t flags)
{
	json_begin_obj(j, key);
	json_u64(j, "value", flags);
	json_bool(j, "stop_copy", flags & VFIOMIG_MIG_STOP_COPY);
	json_bool(j, "p2p", flags & VFIOMIG_MIG_P2P);
	json_bool(j, "pre_copy", flags & VFIOMIG_MIG_PRE_COPY);
	json_end(j);
}

void cli_bytes_str(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void cli_json_identity(struct json *j, struct vfiomig_device *dev)
{
	struct vfiomig_pci_ids ids;

	json_str(j, "name", vfiomig_device_name(dev));
	json_str(j, "sysfs_path", vfiomig_device_sysfs_path(dev));
	json_str(j, "driver", vfiomig_device_driver(dev));
	json_str(j, "mdev_type", vfiomig_device_mdev_type(dev));
	if (vfiomig_device_pci_ids(dev, &ids) == 0) {
		json_begin_obj(j, "pci");
		json_strf(j, "vendor", "0x%04x", ids.vendor);
		json_strf(j, "device", "0x%04x", ids.device);
		json_strf(j, "subsystem_vendor", "0x%04x", ids.subsystem_vendor);
		json_strf(j, "subsystem_device", "0x%04x", ids.subsystem_device);
		json_strf(j, "class", "0x%06x", ids.class_code);
		json_end(j);
	} else {
		json_null(j, "pci");
	}
}
