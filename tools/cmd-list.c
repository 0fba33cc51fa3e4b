// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl list: the VFIO devices of the host. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char usage_list[] =
	"list [--json]\n"
	"\n"
	"List the VFIO devices of the host: vfio-pci bound PCI functions,\n"
	"mdevs and cdevs, with driver, IOMMU group, cdev node, mdev type and\n"
	"migration flags.  The flags need an open of the device: 'busy' when\n"
	"the device is in use elsewhere (EBUSY), '-' when the open failed for\n"
	"another reason or the device has no migration support.\n"
	"\n"
	"  --json        machine-readable output\n"
	"  --iommu PATH  open through auto (default), iommufd or type1\n"
	"  -v            show the library's log\n";

struct entry {
	char *name, *sysfs_path, *driver, *mdev_type, *cdev;
	int group;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	int err;
};

static char *dupn(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int collect(void *arg, const struct vfiomig_device_info *info)
{
	struct entries *es = arg;
	struct entry *e;

	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 16;
		struct entry *v = realloc(es->v, cap * sizeof(*v));

		if (!v) {
			es->err = -ENOMEM;
			return 1;
		}
		es->v = v;
		es->cap = cap;
	}
	e = &es->v[es->n++];
	e->name = dupn(info->name);
	e->sysfs_path = dupn(info->sysfs_path);
	e->driver = dupn(info->driver);
	e->mdev_type = dupn(info->mdev_type);
	e->cdev = dupn(info->cdev);
	e->group = info->iommu_group;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, CLI_END_OPT,
	};
	struct entries es = { 0 };
	struct vfiomig_ctx *ctx;
	struct json j;
	int opt, ret, status = EXIT_OK;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument '%s'", argv[optind]);
	ctx = cli_ctx(c);
	if (!ctx)
		return EXIT_FAIL;
	ret = vfiomig_device_enum(ctx, 0, collect, &es);
	if (ret < 0 || es.err) {
		cli_err_lib(c, es.err ? es.err : ret, "cannot list devices");
		status = EXIT_FAIL;
		goto out;
	}
	if (es.n) /* no devices: es.v is NULL, which qsort must not get */
		qsort(es.v, es.n, sizeof(*es.v), cmp_entry);

	if (c->json) {
		json_init(&j, stdout);
		json_begin_arr(&j, NULL);
	} else {
		printf("%-36s %-14s %5s %-8s %-10s %s\n", "DEVICE", "DRIVER",
		       "GROUP", "CDEV", "TYPE", "MIGRATION");
	}
	for (size_t i = 0; i < es.n; i++) {
		struct entry *e = &es.v[i];
		struct vfiomig_device *dev = NULL;
		VFIOMIG_OPTS(vfiomig_caps, caps);
		char flags[64] = "-";
		const char *why = NULL;
		int err;

		/* The open is expected to fail for busy or unbound devices. */
		err = cli_try_open(c, e->name ? e->name : e->sysfs_path, &dev);
		if (!err) {
			err = vfiomig_device_caps(dev, &caps);
			if (!err && (caps.features & VFIOMIG_CAP_MIGRATION))
				cli_mig_flags_str(caps.migration_flags, flags,
						  sizeof(flags));
			else if (!err)
				why = "no migration support";
			vfiomig_device_free(dev);
		}
		if (err == -EBUSY)
			snprintf(flags, sizeof(flags), "busy");
		if (err && !why)
			why = cli_strerror(err);
		cli_clear_err(c);

		if (c->json) {
			json_begin_obj(&j, NULL);
			json_str(&j, "name", e->name);
			json_str(&j, "sysfs_path", e->sysfs_path);
			json_str(&j, "driver", e->driver);
			json_str(&j, "mdev_type", e->mdev_type);
			if (e->group >= 0)
				json_i64(&j, "iommu_group", e->group);
			else
				json_null(&j, "iommu_group");
			json_str(&j, "cdev", e->cdev);
			if (!err && !why)
				cli_json_mig_flags(&j, "migration", caps.migration_flags);
			else
				json_null(&j, "migration");
			json_bool(&j, "busy", err == -EBUSY);
			json_str(&j, "error", why);
			json_end(&j);
		} else {
			char group[16] = "-";

			if (e->group >= 0)
				snprintf(group, sizeof(group), "%d", e->group);
			/* Names from sysfs: a container's may be anything. */
			printf("%-36s %-14s %5s %-8s %-10s %s\n",
			       e->name ? cli_esc(e->name) : "?",
			       e->driver ? cli_esc(e->driver) : "-", group,
			       e->cdev ? cli_esc(e->cdev) : "-",
			       e->mdev_type ? cli_esc(e->mdev_type) : "-", flags);
		}
	}
	if (c->json)
		json_end(&j);
out:
	for (size_t i = 0; i < es.n; i++) {
		free(es.v[i].name);
		free(es.v[i].sysfs_path);
		free(es.v[i].driver);
		free(es.v[i].mdev_type);
		free(es.v[i].cdev);
	}
	free(es.v);
	return status;
}
