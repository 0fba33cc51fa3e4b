// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl state: print or set a device's migration state. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli.h"

const char usage_state[] =
	"state DEVICE [STATE] [OPTIONS]\n"
	"\n"
	"Without STATE, print DEVICE's migration state.  With STATE (running,\n"
	"stop, stop-copy, resuming, running-p2p, pre-copy, pre-copy-p2p; '_'\n"
	"may stand for '-'), move the device there.  A data session opened on\n"
	"the way (stop-copy, resuming, pre-copy) ends when the command exits:\n"
	"use save/load/migrate to move data.\n"
	"\n"
	"  --path          print the arcs the kernel would walk from the current\n"
	"                  state to STATE (marking those that open a data fd),\n"
	"                  and change nothing\n"
	"  --combined      one ioctl for the whole path (the kernel walks it);\n"
	"                  default: one ioctl per arc, so a failure names its arc\n"
	"  --recover WHAT  on failure: back (default: where it was), stay, reset,\n"
	"                  or a STATE to go to\n"
	"  --json          machine-readable output\n"
	"  --iommu PATH    open through auto (default), iommufd or type1\n"
	"  -v              show the library's log\n";

enum { OPT_PATH = OPT_FIRST_CMD, OPT_COMBINED, OPT_RECOVER };

static void print_path(struct cli *c, int cur, int target, const int *path,
		       int n)
{
	struct json j;
	int from = cur;

	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "from", cli_state_name(cur));
		json_str(&j, "to", cli_state_name(target));
		json_begin_arr(&j, "arcs");
		for (int i = 0; i < n; i++) {
			json_begin_obj(&j, NULL);
			json_str(&j, "from", cli_state_name(from));
			json_str(&j, "to", cli_state_name(path[i]));
			json_bool(&j, "opens_data_fd",
				  vfiomig_arc_opens_session(from, path[i]));
			json_end(&j);
			from = path[i];
		}
		json_end(&j);
		json_end(&j);
		return;
	}
	if (n == 0) {
		printf("%s: already there (no arc)\n", cli_state_name(cur));
		return;
	}
	printf("%s", cli_state_name(cur));
	for (int i = 0; i < n; i++) {
		printf(" -> %s%s", cli_state_name(path[i]),
		       vfiomig_arc_opens_session(from, path[i]) ? " [data fd]" : "");
		from = path[i];
	}
	putchar('\n');
}

int cmd_state(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "path", no_argument, NULL, OPT_PATH },
		{ "combined", no_argument, NULL, OPT_COMBINED },
		{ "recover", required_argument, NULL, OPT_RECOVER },
		CLI_END_OPT,
	};
	/* The library's default: back where the device was. */
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_device *dev;
	bool show_path = false;
	const char *recover = NULL;
	int opt, ret, cur, target = -1, status = EXIT_OK;
	struct json j;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PATH:
			show_path = true;
			continue;
		case OPT_COMBINED:
			so.flags |= VFIOMIG_SET_COMBINED;
			continue;
		case OPT_RECOVER:
			recover = optarg;
			continue;
		}
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage(c, "expected DEVICE [STATE]");
	if (argc - optind == 2) {
		target = cli_parse_state(c, argv[optind + 1]);
		if (target < 0)
			return EXIT_USAGE;
	}
	if (show_path && target < 0)
		return cli_usage(c, "--path needs a target STATE");
	if (recover) {
		if (target < 0)
			return cli_usage(c, "--recover needs a target STATE");
		if (!strcmp(recover, "back")) {
			so.recovery = VFIOMIG_RECOVER_DEFAULT;
		} else if (!strcmp(recover, "stay")) {
			so.recovery = VFIOMIG_RECOVER_STAY;
		} else if (!strcmp(recover, "reset")) {
			so.recovery = VFIOMIG_RECOVER_RESET;
		} else {
			so.recovery = VFIOMIG_RECOVER_STATE;
			so.recovery_state = cli_parse_state(c, recover);
			if (so.recovery_state < 0)
				return EXIT_USAGE;
		}
	}

	if (cli_open(c, argv[optind], &dev))
		return EXIT_FAIL;
	cur = vfiomig_state_get(dev);
	if (cur < 0) {
		cli_err_lib(c, cur, "cannot read the state of %s", argv[optind]);
		status = EXIT_FAIL;
		goto out;
	}
	if (target < 0) {
		if (c->json) {
			json_init(&j, stdout);
			json_begin_obj(&j, NULL);
			json_str(&j, "device", argv[optind]);
			json_str(&j, "state", cli_state_name(cur));
			json_end(&j);
		} else {
			printf("%s\n", cli_state_name(cur));
		}
		goto out;
	}
	if (show_path) {
		int path[16];

		ret = vfiomig_device_caps(dev, &caps);
		if (ret) {
			cli_err_lib(c, ret, "cannot read the migration flags");
			status = EXIT_FAIL;
			goto out;
		}
		ret = vfiomig_state_plan(cur, target, caps.migration_flags, path,
					 ARRAY_SIZE(path));
		if (ret < 0) {
			cli_err_lib(c, ret, "no path from %s to %s with flags 0x%" PRIx64,
				    cli_state_name(cur), cli_state_name(target),
				    caps.migration_flags);
			status = EXIT_FAIL;
			goto out;
		}
		print_path(c, cur, target, path, ret);
		goto out;
	}

	so.failed_from = so.failed_to = so.state = -1;
	ret = vfiomig_state_set(dev, target, &so);
	if (ret) {
		cli_err_lib(c, ret, "%s -> %s failed", cli_state_name(cur),
			    cli_state_name(target));
		if (so.failed_from >= 0 && so.failed_to >= 0)
			cli_err(c, "failing arc: %s -> %s", cli_state_name(so.failed_from),
				cli_state_name(so.failed_to));
		if (so.state >= 0)
			cli_err(c, "device is now in %s", cli_state_name(so.state));
		status = EXIT_FAIL;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", argv[optind]);
		json_str(&j, "from", cli_state_name(cur));
		json_str(&j, "target", cli_state_name(target));
		json_bool(&j, "ok", ret == 0);
		if (ret) {
			json_str(&j, "error", cli_strerror(ret));
			if (so.failed_from >= 0 && so.failed_to >= 0) {
				json_begin_obj(&j, "failed_arc");
				json_str(&j, "from", cli_state_name(so.failed_from));
				json_str(&j, "to", cli_state_name(so.failed_to));
				json_end(&j);
			}
		}
		json_str(&j, "state", so.state >= 0 ? cli_state_name(so.state) : NULL);
		json_end(&j);
	} else if (!ret) {
		printf("%s -> %s\n", cli_state_name(cur), cli_state_name(target));
	}
out:
	vfiomig_device_free(dev);
	return status;
}
