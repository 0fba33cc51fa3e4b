// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl probe: everything the library can learn about a device. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

const char usage_probe[] =
	"probe DEVICE [--json]\n"
	"\n"
	"Show what libvfiomig learns about DEVICE (PCI address, mdev UUID,\n"
	"sysfs path or /dev/vfio/devices/vfioN) without changing its state:\n"
	"identity, IOMMU path, the migration protocol (v2: VFIO_DEVICE_FEATURE,\n"
	"v1: the migration region of Linux 5.8-5.17), migration flags, current\n"
	"state, MIG_DATA_SIZE,\n"
	"DMA logging support, the dirty tracking backend that would be chosen\n"
	"and why, the Type1 migration capability (page size, max bitmap) and\n"
	"the iommufd hardware dirty tracking capability.\n"
	"\n"
	"  --json        machine-readable output\n"
	"  --iommu PATH  open through auto (default), iommufd or type1\n"
	"  -v            show the library's log\n";

/* One answer: a value or an error, for text and JSON alike. */
struct answer {
	int err;
	uint64_t v;
};

static void text_answer(const char *label, const struct answer *a,
			const char *unit)
{
	printf("%-22s ", label);
	if (a->err)
		printf("unavailable (%s)\n", cli_strerror(a->err));
	else
		printf("%" PRIu64 "%s\n", a->v, unit);
}

int cmd_probe(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, CLI_END_OPT,
	};
	struct vfiomig_device *dev;
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_pci_ids ids;
	struct answer state, dsize, logging, t1pg, t1max, hwcaps;
	uint32_t devid = 0, ioas = 0, hwpt = 0;
	int opt, ret, caps_err, dirty_err, backend = -1, path, proto;
	const char *reason = NULL;
	char flags[64];
	struct json j;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1)
		return cli_usage(c, "expected one DEVICE");
	if (cli_open(c, argv[optind], &dev))
		return EXIT_FAIL;

	proto = vfiomig_device_protocol(dev);
	caps_err = vfiomig_device_caps(dev, &caps);
	path = vfiomig_device_iommu_path(dev);
	ret = vfiomig_state_get(dev);
	state = (struct answer){ ret < 0 ? ret : 0, ret < 0 ? 0 : (uint64_t)ret };
	dsize.err = vfiomig_data_size(dev, &dsize.v);
	ret = vfiomig_feature_probe(dev, VFIOMIG_FEATURE_DMA_LOGGING_START,
				    VFIOMIG_FEATURE_SET);
	logging = (struct answer){ ret < 0 ? ret : 0, ret > 0 };
	t1pg.err = t1max.err = vfiomig_type1_dirty_caps(dev, &t1pg.v, &t1max.v);
	hwcaps.err = vfiomig_iommufd_hw_caps(dev, &hwcaps.v);
	vfiomig_device_iommufd_ids(dev, &devid, &ioas, &hwpt);
	/* The backend a tracker over this device alone would use; creating
	 * the tracker does not start tracking. */
	dirty_err = vfiomig_dirty_new(&dev, 1, NULL, &tr);
	if (!dirty_err) {
		backend = vfiomig_dirty_backend(tr);
		reason = vfiomig_dirty_reason(tr);
	}
	cli_clear_err(c);

	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		cli_json_identity(&j, dev);
		json_str(&j, "iommu_path", cli_iommu_name(path));
		if (devid || ioas || hwpt) {
			json_begin_obj(&j, "iommufd_ids");
			json_u64(&j, "devid", devid);
			json_u64(&j, "ioas_id", ioas);
			json_u64(&j, "hwpt_id", hwpt);
			json_end(&j);
		}
		if (proto < 0) {
			json_null(&j, "protocol");
			json_str(&j, "protocol_error", cli_strerror(proto));
		} else {
			json_str(&j, "protocol", cli_proto_name(proto));
		}
		if (!caps_err && (caps.features & VFIOMIG_CAP_MIGRATION))
			cli_json_mig_flags(&j, "migration", caps.migration_flags);
		else
			json_null(&j, "migration");
		if (caps_err)
			json_str(&j, "caps_error", cli_strerror(caps_err));
		json_begin_obj(&j, "features");
		json_bool(&j, "migration", !caps_err && (caps.features & VFIOMIG_CAP_MIGRATION));
		json_bool(&j, "mig_data_size", !caps_err && (caps.features & VFIOMIG_CAP_MIG_DATA_SIZE));
		json_bool(&j, "dma_logging", !caps_err && (caps.features & VFIOMIG_CAP_DMA_LOGGING));
		json_end(&j);
		if (state.err) {
			json_null(&j, "state");
			json_str(&j, "state_error", cli_strerror(state.err));
		} else {
			json_str(&j, "state", cli_state_name((int)state.v));
		}
		if (dsize.err) {
			json_null(&j, "mig_data_size");
			json_str(&j, "mig_data_size_error", cli_strerror(dsize.err));
		} else {
			json_u64(&j, "mig_data_size", dsize.v);
		}
		if (logging.err)
			json_null(&j, "dma_logging");
		else
			json_bool(&j, "dma_logging", logging.v);
		json_begin_obj(&j, "dirty");
		if (dirty_err) {
			json_null(&j, "backend");
			json_str(&j, "error", cli_strerror(dirty_err));
		} else {
			json_str(&j, "backend", vfiomig_dirty_backend_name(backend));
			json_str(&j, "reason", reason);
		}
		json_end(&j);
		json_begin_obj(&j, "type1_migration");
		if (t1pg.err) {
			json_bool(&j, "available", false);
			json_str(&j, "error", cli_strerror(t1pg.err));
		} else {
			json_bool(&j, "available", true);
			json_u64(&j, "pgsize", t1pg.v);
			json_u64(&j, "max_bitmap_bytes", t1max.v);
		}
		json_end(&j);
		json_begin_obj(&j, "iommufd_hw");
		if (hwcaps.err) {
			json_bool(&j, "available", false);
			json_str(&j, "error", cli_strerror(hwcaps.err));
		} else {
			json_bool(&j, "available", true);
			json_u64(&j, "capabilities", hwcaps.v);
			json_bool(&j, "dirty_tracking", hwcaps.v & 1);
		}
		json_end(&j);
		json_end(&j);
	} else {
		const char *s;

		/* Names from sysfs, escaped: a container's may be anything. */
		s = vfiomig_device_name(dev);
		printf("%-22s %s\n", "device", cli_esc(s ? s : argv[optind]));
		if ((s = vfiomig_device_sysfs_path(dev)))
			printf("%-22s %s\n", "sysfs path", cli_esc(s));
		s = vfiomig_device_driver(dev);
		printf("%-22s %s\n", "driver", s ? cli_esc(s) : "-");
		if ((s = vfiomig_device_mdev_type(dev)))
			printf("%-22s %s\n", "mdev type", cli_esc(s));
		if (!vfiomig_device_pci_ids(dev, &ids))
			printf("%-22s %04x:%04x (subsystem %04x:%04x, class %06x)\n",
			       "PCI IDs", ids.vendor, ids.device, ids.subsystem_vendor,
			       ids.subsystem_device, ids.class_code);
		printf("%-22s %s", "IOMMU path", cli_iommu_name(path));
		if (devid || ioas || hwpt)
			printf(" (devid %u, ioas %u, hwpt %u)", devid, ioas, hwpt);
		putchar('\n');
		printf("%-22s ", "migration protocol");
		if (proto < 0)
			printf("unavailable (%s)\n", cli_strerror(proto));
		else
			printf("%s (%s)\n", cli_proto_name(proto), cli_proto_what(proto));
		if (caps_err) {
			printf("%-22s unavailable (%s)\n", "migration", cli_strerror(caps_err));
		} else if (!(caps.features & VFIOMIG_CAP_MIGRATION)) {
			printf("%-22s not supported\n", "migration");
		} else {
			cli_mig_flags_str(caps.migration_flags, flags, sizeof(flags));
			printf("%-22s 0x%" PRIx64 " (%s)\n", "migration flags",
			       caps.migration_flags, flags);
		}
		printf("%-22s ", "state");
		if (state.err)
			printf("unavailable (%s)\n", cli_strerror(state.err));
		else
			printf("%s\n", cli_state_name((int)state.v));
		text_answer("MIG_DATA_SIZE", &dsize, " bytes");
		printf("%-22s ", "DMA logging");
		if (logging.err)
			printf("unknown (%s)\n", cli_strerror(logging.err));
		else
			printf("%s\n", logging.v ? "supported" : "not supported");
		printf("%-22s ", "dirty backend");
		if (dirty_err)
			printf("unavailable (%s)\n", cli_strerror(dirty_err));
		else
			printf("%s (%s)\n", vfiomig_dirty_backend_name(backend),
			       reason ? cli_esc(reason) : "no reason given");
		printf("%-22s ", "Type1 migration cap");
		if (t1pg.err == -ENOENT)
			printf("n/a (no Type1 container: --iommu type1 to see it)\n");
		else if (t1pg.err)
			printf("unavailable (%s)\n", cli_strerror(t1pg.err));
		else
			printf("page size %" PRIu64 ", max bitmap %" PRIu64 " bytes\n",
			       t1pg.v, t1max.v);
		printf("%-22s ", "iommufd HW dirty");
		if (hwcaps.err == -ENOENT)
			printf("n/a (%s)\n", path == VFIOMIG_IOMMU_IOMMUFD ?
			       "no IOMMU device behind it: an emulated device" :
			       "not on the iommufd path");
		else if (hwcaps.err)
			printf("unavailable (%s)\n", cli_strerror(hwcaps.err));
		else
			printf("%s (capabilities 0x%" PRIx64 ")\n",
			       hwcaps.v & 1 ? "yes" : "no", hwcaps.v);
	}
	vfiomig_dirty_free(tr);
	vfiomig_device_free(dev);
	return EXIT_OK;
}
