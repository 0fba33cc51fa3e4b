// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl state: print or set a device's migration state. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "xfer.h"

const char usage_state[] =
	"state DEVICE[,DEVICE...] [STATE] [OPTIONS]\n"
	"\n"
	"Without STATE, print DEVICE's migration state.  With STATE (running,\n"
	"stop, stop-copy, resuming, running-p2p, pre-copy, pre-copy-p2p; '_'\n"
	"may stand for '-'), move the device there.  A comma-separated list is\n"
	"a device set: it moves as one through the P2P barrier (no member\n"
	"stops before every member is quiesced in its P2P state, none runs\n"
	"before every member is in RUNNING_P2P), and a failing member brings\n"
	"every member back.  A data session opened on the way (stop-copy,\n"
	"resuming, pre-copy) ends when the command exits: use\n"
	"save/load/migrate to move data.\n"
	"\n"
	"  --path          print the arcs the kernel would walk from the current\n"
	"                  state to STATE (marking those that open a data fd),\n"
	"                  and change nothing\n"
	"  --combined      one ioctl for the whole path (the kernel walks it);\n"
	"                  default: one ioctl per arc, so a failure names its arc\n"
	"                  (one device only)\n"
	"  --recover WHAT  on failure: back (default: where it was), stay, reset,\n"
	"                  or a STATE to go to\n"
	"  --allow-no-p2p  let members without P2P states into a set\n"
	"  --json          machine-readable output\n"
	"  --iommu PATH    open through auto (default), iommufd or type1\n"
	"  -v              show the library's log\n"
	"\n"
	"Exit status: 0 done, 1 failed before any device moved, 2 usage,\n"
	"3 failed and every device is back where it was, 4 failed and a device\n"
	"is not (--recover stay or reset, or the way back failed).\n";

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


struct state_args {
	struct xfer_list l;
	int target;               /* -1: print */
	bool show_path;
	bool allow_no_p2p;
	struct vfiomig_set_opts so;     /* one device */
	int recovery, recovery_state;   /* both */
};

/* --recover WHAT into a->recovery; 0 or EXIT_USAGE. */
static int parse_recover(struct cli *c, const char *recover, struct state_args *a)
{
	if (!strcmp(recover, "back")) {
		a->recovery = VFIOMIG_RECOVER_DEFAULT;
	} else if (!strcmp(recover, "stay")) {
		a->recovery = VFIOMIG_RECOVER_STAY;
	} else if (!strcmp(recover, "reset")) {
		a->recovery = VFIOMIG_RECOVER_RESET;
	} else {
		a->recovery = VFIOMIG_RECOVER_STATE;
		a->recovery_state = cli_parse_state(c, recover);
		if (a->recovery_state < 0)
			return EXIT_USAGE;
	}
	return 0;
}

/* Exit status of a failed change: nothing tried, back home, or not. */
static int fail_status(struct cli *c, struct xfer_list *l, bool tried)
{
	return tried ? xfer_fail_status(c, l, NULL) : EXIT_FAIL;
}

static void print_states(struct cli *c, const struct xfer_list *l)
{
	struct json j;

	if (l->n == 1) {
		if (c->json) {
			json_init(&j, stdout);
			json_begin_obj(&j, NULL);
			json_str(&j, "device", l->m[0].name);
			json_str(&j, "state", cli_state_name(l->m[0].orig));
			json_end(&j);
		} else {
			printf("%s\n", cli_state_name(l->m[0].orig));
		}
		return;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_begin_arr(&j, "devices");
		for (size_t i = 0; i < l->n; i++) {
			json_begin_obj(&j, NULL);
			json_str(&j, "device", l->m[i].name);
			json_str(&j, "state", cli_state_name(l->m[i].orig));
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
		return;
	}
	for (size_t i = 0; i < l->n; i++)
		printf("%s %s\n", cli_esc(l->m[i].name), cli_state_name(l->m[i].orig));
}

/* --path: each member's arcs. */
static int show_paths(struct cli *c, struct xfer_list *l, int target)
{
	for (size_t i = 0; i < l->n; i++) {
		struct xfer_member *m = &l->m[i];
		int path[16], ret;

		ret = vfiomig_state_plan(m->orig, target, m->flags, path,
					 ARRAY_SIZE(path));
		if (ret < 0) {
			cli_err_lib(c, ret, "%s: no path from %s to %s with flags 0x%" PRIx64,
				    m->name, cli_state_name(m->orig),
				    cli_state_name(target), m->flags);
			return EXIT_FAIL;
		}
		if (l->n > 1 && !c->json)
			printf("%s: ", cli_esc(m->name));
		print_path(c, m->orig, target, path, ret);
	}
	return EXIT_OK;
}

/* One device: vfiomig_state_set(), as 0.1 did (--combined, the arc). */
static int set_one(struct cli *c, struct state_args *a)
{
	struct xfer_member *m = &a->l.m[0];
	struct vfiomig_set_opts *so = &a->so;
	int ret, status = EXIT_OK;
	struct json j;

	so->recovery = a->recovery;
	so->recovery_state = a->recovery_state;
	so->failed_from = so->failed_to = so->state = -1;
	ret = vfiomig_state_set(m->dev, a->target, so);
	if (ret) {
		cli_err_lib(c, ret, "%s -> %s failed", cli_state_name(m->orig),
			    cli_state_name(a->target));
		if (so->failed_from >= 0 && so->failed_to >= 0)
			cli_err(c, "failing arc: %s -> %s", cli_state_name(so->failed_from),
				cli_state_name(so->failed_to));
		if (so->state >= 0)
			cli_err(c, "device is now in %s", cli_state_name(so->state));
		status = fail_status(c, &a->l, so->failed_from >= 0);
	}
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", m->name);
		json_str(&j, "from", cli_state_name(m->orig));
		json_str(&j, "target", cli_state_name(a->target));
		json_bool(&j, "ok", ret == 0);
		if (ret) {
			json_str(&j, "error", cli_strerror(ret));
			if (so->failed_from >= 0 && so->failed_to >= 0) {
				json_begin_obj(&j, "failed_arc");
				json_str(&j, "from", cli_state_name(so->failed_from));
				json_str(&j, "to", cli_state_name(so->failed_to));
				json_end(&j);
			}
		}
		json_str(&j, "state", so->state >= 0 ? cli_state_name(so->state) : NULL);
		json_end(&j);
	} else if (!ret) {
		printf("%s -> %s\n", cli_state_name(m->orig), cli_state_name(a->target));
	}
	return status;
}

/* A set: vfiomig_devset_state_set(), the library's barrier and rollback. */
static int set_many(struct cli *c, struct state_args *a)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so, .recovery = a->recovery,
		     .recovery_state = a->recovery_state);
	struct xfer_list *l = &a->l;
	int ret, status = EXIT_OK;
	struct json j;

	if (xfer_make_set(c, l, a->allow_no_p2p))
		return EXIT_FAIL;
	so.failed_member = so.failed_from = so.failed_to = -1;
	cli_clear_err(c);
	ret = vfiomig_devset_state_set(l->set, a->target, &so);
	if (ret) {
		if (so.failed_member >= 0 && (size_t)so.failed_member < l->n)
			cli_err_lib(c, ret, "%s (member %d): %s -> %s failed on its way to %s",
				    l->m[so.failed_member].name, so.failed_member,
				    cli_state_name(so.failed_from),
				    cli_state_name(so.failed_to),
				    cli_state_name(a->target));
		else
			cli_err_lib(c, ret, "-> %s refused; nothing moved",
				    cli_state_name(a->target));
		status = fail_status(c, l, so.failed_member >= 0);
	}
	for (size_t i = 0; i < l->n; i++)
		l->m[i].final = ret ? l->m[i].final : a->target;
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "target", cli_state_name(a->target));
		json_bool(&j, "ok", ret == 0);
		if (ret) {
			json_str(&j, "error", cli_strerror(ret));
			if (so.failed_member >= 0) {
				json_u64(&j, "failed_member", (uint64_t)so.failed_member);
				json_begin_obj(&j, "failed_arc");
				json_str(&j, "from", cli_state_name(so.failed_from));
				json_str(&j, "to", cli_state_name(so.failed_to));
				json_end(&j);
			}
		}
		json_begin_arr(&j, "devices");
		for (size_t i = 0; i < l->n; i++) {
			json_begin_obj(&j, NULL);
			json_str(&j, "device", l->m[i].name);
			json_str(&j, "from", cli_state_name(l->m[i].orig));
			json_str(&j, "state", l->m[i].final >= 0 ?
				 cli_state_name(l->m[i].final) : NULL);
			json_end(&j);
		}
		json_end(&j);
		json_end(&j);
	} else if (!ret) {
		for (size_t i = 0; i < l->n; i++)
			printf("%s: %s -> %s\n", cli_esc(l->m[i].name),
			       cli_state_name(l->m[i].orig), cli_state_name(a->target));
	}
	return status;
}

int cmd_state(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, XFER_ALLOW_NO_P2P_OPT,
		{ "path", no_argument, NULL, OPT_PATH },
		{ "combined", no_argument, NULL, OPT_COMBINED },
		{ "recover", required_argument, NULL, OPT_RECOVER },
		CLI_END_OPT,
	};
	/* The library's default: back where the devices were. */
	struct state_args a = { .target = -1 };
	const char *recover = NULL;
	int opt, ret, status;

	a.so.sz = sizeof(a.so);
	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PATH:
			a.show_path = true;
			continue;
		case OPT_COMBINED:
			a.so.flags |= VFIOMIG_SET_COMBINED;
			continue;
		case OPT_RECOVER:
			recover = optarg;
			continue;
		case OPT_ALLOW_NO_P2P:
			a.allow_no_p2p = true;
			continue;
		}
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage(c, "expected DEVICE[,DEVICE...] [STATE]");
	if (argc - optind == 2) {
		a.target = cli_parse_state(c, argv[optind + 1]);
		if (a.target < 0)
			return EXIT_USAGE;
	}
	if (a.show_path && a.target < 0)
		return cli_usage(c, "--path needs a target STATE");
	if (recover) {
		if (a.target < 0)
			return cli_usage(c, "--recover needs a target STATE");
		if (parse_recover(c, recover, &a))
			return EXIT_USAGE;
	}
	ret = xfer_parse_list(c, argv[optind], &a.l);
	if (ret)
		return ret;
	if (a.l.n > 1 && (a.so.flags & VFIOMIG_SET_COMBINED)) {
		xfer_list_free(&a.l);
		return cli_usage(c, "--combined moves one device: a set moves arc by arc "
				    "through the P2P barrier");
	}

	status = EXIT_FAIL;
	if (xfer_open_list(c, &a.l, NULL) || xfer_read_states(c, &a.l))
		goto out;
	if (a.target < 0) {
		print_states(c, &a.l);
		status = EXIT_OK;
	} else if (a.show_path) {
		status = show_paths(c, &a.l, a.target);
	} else {
		status = a.l.n == 1 ? set_one(c, &a) : set_many(c, &a);
	}
out:
	xfer_list_free(&a.l);
	return status;
}
