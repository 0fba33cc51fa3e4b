// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl devlink: show or set the "migratable" capability of a devlink
 * port function, over generic netlink (libnl-genl-3).  mlx5 VFs need it set
 * on their eswitch port before a migration-capable driver binds.
 * Attribute numbers: include/uapi/linux/devlink.h (kernel-contract.md 14);
 * Debian 12's headers lack the CAPS attribute, so they are spelled here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "cli.h"

const char usage_devlink[] =
	"devlink PORT [migratable on|off] [--json]\n"
	"\n"
	"Show the devlink port PORT (iproute2 syntax: BUS/DEVICE/INDEX, e.g.\n"
	"pci/0000:06:00.0/2 or netdevsim/netdevsim1/128), with its flavour\n"
	"and port function: hardware address, state and the \"migratable\"\n"
	"capability; or set that capability (needs CAP_NET_ADMIN).  mlx5 VFs\n"
	"need it on their eswitch port (in switchdev mode) before the\n"
	"mlx5_vfio_pci driver binds to them; the kernel reports it for\n"
	"PCI VF ports of drivers that implement it.  Like `devlink port\n"
	"function set PORT migratable enable` of newer iproute2.\n"
	"Kernel errors are shown with the kernel's own message (extack).\n"
	"\n"
	"  --json   machine-readable output\n"
	"  -v       more detail on errors\n";

/* Generic netlink family "devlink", version 1. */
#define DL_GENL_NAME "devlink"
#define DL_GENL_VERSION 1
#define DL_CMD_PORT_GET 5
#define DL_CMD_PORT_SET 6
#define DL_ATTR_BUS_NAME 1
#define DL_ATTR_DEV_NAME 2
#define DL_ATTR_PORT_INDEX 3
#define DL_ATTR_PORT_NETDEV_NAME 7
#define DL_ATTR_PORT_FLAVOUR 77
#define DL_ATTR_PORT_NUMBER 78
#define DL_ATTR_PORT_PCI_PF_NUMBER 127
#define DL_ATTR_PORT_PCI_VF_NUMBER 128
#define DL_ATTR_PORT_FUNCTION 145
#define DL_ATTR_MAX 200
#define DL_FN_ATTR_HW_ADDR 1
#define DL_FN_ATTR_STATE 2
#define DL_FN_ATTR_OPSTATE 3
#define DL_FN_ATTR_CAPS 4
#define DL_FN_ATTR_MAX 6
#define DL_FN_CAP_MIGRATABLE (1u << 1)

struct port_id {
	char bus[32];
	char dev[128];
	uint32_t index;
};

struct port_info {
	bool have;
	char netdev[64];
	int flavour;          /* -1 unknown */
	int pf, vf;           /* -1 unknown */
	int port_number;
	bool have_fn;
	unsigned char hw_addr[32];
	int hw_addr_len;
	int state, opstate;   /* -1 unknown */
	bool have_caps;
	uint32_t caps_value, caps_selector;
};

struct nl_result {
	int err;              /* negative errno from the kernel, 0 */
	char msg[256];        /* extack message */
	struct port_info *info;
};

static const char *flavour_name(int f)
{
	static const char *const n[] = { "physical", "cpu", "dsa", "pcipf",
					 "pcivf", "virtual", "unused", "pcisf" };

	return f >= 0 && f < (int)ARRAY_SIZE(n) ? n[f] : "unknown";
}

static int parse_port(const char *s, struct port_id *p)
{
	const char *slash = strchr(s, '/'), *last = strrchr(s, '/');
	uint64_t idx;

	if (!slash || slash == last || slash == s || last[1] == 0)
		return -EINVAL;
	if ((size_t)(slash - s) >= sizeof(p->bus) ||
	    (size_t)(last - slash - 1) >= sizeof(p->dev) || last == slash + 1)
		return -EINVAL;
	if (last[1] < '0' || last[1] > '9' || cli_parse_u64(last + 1, &idx) ||
	    idx > UINT32_MAX)
		return -EINVAL;
	memcpy(p->bus, s, (size_t)(slash - s));
	p->bus[slash - s] = 0;
	memcpy(p->dev, slash + 1, (size_t)(last - slash - 1));
	p->dev[last - slash - 1] = 0;
	p->index = (uint32_t)idx;
	return 0;
}

/* NLMSG_ERROR with NETLINK_EXT_ACK: keep the errno and the message. */
static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nl_result *res = arg;
	/* libnl hands us the payload of the NLMSG_ERROR message. */
	struct nlmsghdr *outer = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	size_t off, total;

	(void)nla;
	res->err = e->error;
	if (!(outer->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	/* TLVs follow the error and the echoed request (just its header
	 * when NLM_F_CAPPED). */
	off = sizeof(e->error) + ((outer->nlmsg_flags & NLM_F_CAPPED) ?
				  sizeof(struct nlmsghdr) : e->msg.nlmsg_len);
	off = NLA_ALIGN(off);
	total = outer->nlmsg_len - NLMSG_HDRLEN;
	if (off < total) {
		struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

		if (!nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off),
			       (int)(total - off), NULL) &&
		    tb[NLMSGERR_ATTR_MSG]) {
			int n = nla_len(tb[NLMSGERR_ATTR_MSG]);

			if (n > (int)sizeof(res->msg) - 1)
				n = (int)sizeof(res->msg) - 1;
			if (n > 0) {
				memcpy(res->msg, nla_data(tb[NLMSGERR_ATTR_MSG]), (size_t)n);
				res->msg[n] = 0;
			}
		}
	}
	return NL_STOP;
}

static int on_port(struct nl_msg *msg, void *arg)
{
	struct nl_result *res = arg;
	struct port_info *pi = res->info;
	struct nlattr *tb[DL_ATTR_MAX + 1], *fn[DL_FN_ATTR_MAX + 1];

	if (!pi || genlmsg_parse(nlmsg_hdr(msg), 0, tb, DL_ATTR_MAX, NULL))
		return NL_SKIP;
	pi->have = true;
	if (tb[DL_ATTR_PORT_NETDEV_NAME])
		snprintf(pi->netdev, sizeof(pi->netdev), "%.*s",
			 nla_len(tb[DL_ATTR_PORT_NETDEV_NAME]),
			 (char *)nla_data(tb[DL_ATTR_PORT_NETDEV_NAME]));
	if (tb[DL_ATTR_PORT_FLAVOUR] && nla_len(tb[DL_ATTR_PORT_FLAVOUR]) >= 2)
		pi->flavour = nla_get_u16(tb[DL_ATTR_PORT_FLAVOUR]);
	if (tb[DL_ATTR_PORT_NUMBER] && nla_len(tb[DL_ATTR_PORT_NUMBER]) >= 4)
		pi->port_number = (int)nla_get_u32(tb[DL_ATTR_PORT_NUMBER]);
	if (tb[DL_ATTR_PORT_PCI_PF_NUMBER] && nla_len(tb[DL_ATTR_PORT_PCI_PF_NUMBER]) >= 2)
		pi->pf = nla_get_u16(tb[DL_ATTR_PORT_PCI_PF_NUMBER]);
	if (tb[DL_ATTR_PORT_PCI_VF_NUMBER] && nla_len(tb[DL_ATTR_PORT_PCI_VF_NUMBER]) >= 2)
		pi->vf = nla_get_u16(tb[DL_ATTR_PORT_PCI_VF_NUMBER]);
	if (tb[DL_ATTR_PORT_FUNCTION] &&
	    !nla_parse_nested(fn, DL_FN_ATTR_MAX, tb[DL_ATTR_PORT_FUNCTION], NULL)) {
		pi->have_fn = true;
		if (fn[DL_FN_ATTR_HW_ADDR]) {
			int n = nla_len(fn[DL_FN_ATTR_HW_ADDR]);

			if (n > (int)sizeof(pi->hw_addr))
				n = (int)sizeof(pi->hw_addr);
			memcpy(pi->hw_addr, nla_data(fn[DL_FN_ATTR_HW_ADDR]), (size_t)n);
			pi->hw_addr_len = n;
		}
		if (fn[DL_FN_ATTR_STATE] && nla_len(fn[DL_FN_ATTR_STATE]) >= 1)
			pi->state = nla_get_u8(fn[DL_FN_ATTR_STATE]);
		if (fn[DL_FN_ATTR_OPSTATE] && nla_len(fn[DL_FN_ATTR_OPSTATE]) >= 1)
			pi->opstate = nla_get_u8(fn[DL_FN_ATTR_OPSTATE]);
		/* NLA_BITFIELD32: { u32 value; u32 selector; } */
		if (fn[DL_FN_ATTR_CAPS] && nla_len(fn[DL_FN_ATTR_CAPS]) >= 8) {
			uint32_t bf[2];

			memcpy(bf, nla_data(fn[DL_FN_ATTR_CAPS]), sizeof(bf));
			pi->have_caps = true;
			pi->caps_value = bf[0];
			pi->caps_selector = bf[1];
		}
	}
	return NL_OK;
}

/* Sends msg (consumed) and reads the answers up to the ACK. */
static int transact(struct nl_sock *sk, struct nl_msg *msg,
		    struct nl_result *res)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_port, res);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, res);
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret >= 0)
		ret = nl_recvmsgs(sk, cb);
	nl_cb_put(cb);
	if (res->err)
		return res->err;
	if (ret < 0) {
		snprintf(res->msg, sizeof(res->msg), "%s", nl_geterror(ret));
		return -EIO;
	}
	return 0;
}

static struct nl_msg *port_msg(int family, int cmd, const struct port_id *p)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, (uint8_t)cmd,
			 DL_GENL_VERSION) ||
	    nla_put_string(msg, DL_ATTR_BUS_NAME, p->bus) ||
	    nla_put_string(msg, DL_ATTR_DEV_NAME, p->dev) ||
	    nla_put_u32(msg, DL_ATTR_PORT_INDEX, p->index)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static void report_nl_error(struct cli *c, int err, const char *msg)
{
	if (msg && *msg)
		cli_err(c, "%s: %s", strerror(-err), msg);
	else
		cli_err(c, "%s", strerror(-err));
}

static void print_port(struct cli *c, const char *name, const struct port_info *pi)
{
	bool mig_known = pi->have_caps && (pi->caps_selector & DL_FN_CAP_MIGRATABLE);
	bool mig = pi->caps_value & DL_FN_CAP_MIGRATABLE;

	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "port", name);
		json_str(&j, "flavour", pi->flavour >= 0 ? flavour_name(pi->flavour) : NULL);
		json_str(&j, "netdev", pi->netdev[0] ? pi->netdev : NULL);
		if (pi->pf >= 0)
			json_i64(&j, "pfnum", pi->pf);
		if (pi->vf >= 0)
			json_i64(&j, "vfnum", pi->vf);
		if (pi->have_fn) {
			json_begin_obj(&j, "function");
			if (pi->hw_addr_len) {
				char mac[3 * 32 + 1] = "";

				for (int i = 0; i < pi->hw_addr_len; i++)
					sprintf(mac + 3 * i, "%s%02x", i ? ":" : "", pi->hw_addr[i]);
				json_str(&j, "hw_addr", mac + 0);
			}
			if (pi->state >= 0)
				json_str(&j, "state", pi->state ? "active" : "inactive");
			if (pi->opstate >= 0)
				json_str(&j, "opstate", pi->opstate ? "attached" : "detached");
			if (mig_known)
				json_bool(&j, "migratable", mig);
			else
				json_null(&j, "migratable");
			json_end(&j);
		} else {
			json_null(&j, "function");
		}
		json_end(&j);
		return;
	}
	printf("%s: flavour %s", name, pi->flavour >= 0 ? flavour_name(pi->flavour) : "?");
	if (pi->pf >= 0)
		printf(" pfnum %d", pi->pf);
	if (pi->vf >= 0)
		printf(" vfnum %d", pi->vf);
	if (pi->netdev[0])
		printf(" netdev %s", pi->netdev);
	putchar('\n');
	if (!pi->have_fn) {
		printf("  function: none reported (no port function attributes%s)\n",
		       pi->flavour != 4 ? "; migratable exists for PCI VF ports only" : "");
		return;
	}
	printf("  function:");
	if (pi->hw_addr_len) {
		printf(" hw_addr ");
		for (int i = 0; i < pi->hw_addr_len; i++)
			printf("%s%02x", i ? ":" : "", pi->hw_addr[i]);
	}
	if (pi->state >= 0)
		printf(" state %s", pi->state ? "active" : "inactive");
	if (mig_known)
		printf(" migratable %s\n", mig ? "enabled" : "disabled");
	else
		printf(" migratable not reported (the port's driver does not support it%s)\n",
		       pi->flavour != 4 ? "; only PCI VF ports have it" : "");
}

int cmd_devlink(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_END_OPT,
	};
	struct port_info pi = { .flavour = -1, .pf = -1, .vf = -1, .state = -1,
				.opstate = -1 };
	struct nl_result res = { 0 };
	struct nl_sock *sk = NULL;
	struct nl_msg *msg;
	struct port_id port;
	int opt, ret, family, set = -1, one = 1, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1 && argc - optind != 3)
		return cli_usage(c, "expected PORT [migratable on|off]");
	if (parse_port(argv[optind], &port))
		return cli_usage(c, "'%s' is not a port (BUS/DEVICE/INDEX, e.g. pci/0000:06:00.0/2)",
				 argv[optind]);
	if (argc - optind == 3) {
		const char *v = argv[optind + 2];

		if (strcmp(argv[optind + 1], "migratable"))
			return cli_usage(c, "only 'migratable' can be set, not '%s'",
					 argv[optind + 1]);
		if (!strcmp(v, "on") || !strcmp(v, "enable") || !strcmp(v, "true"))
			set = 1;
		else if (!strcmp(v, "off") || !strcmp(v, "disable") || !strcmp(v, "false"))
			set = 0;
		else
			return cli_usage(c, "migratable: on or off, not '%s'", v);
	}

	sk = nl_socket_alloc();
	if (!sk) {
		cli_err(c, "out of memory");
		return EXIT_FAIL;
	}
	ret = genl_connect(sk);
	if (ret < 0) {
		cli_err(c, "cannot open a generic netlink socket: %s", nl_geterror(ret));
		goto out;
	}
	/* The kernel's own words on errors; without the echoed request. */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	family = genl_ctrl_resolve(sk, DL_GENL_NAME);
	if (family < 0) {
		cli_err(c, "the kernel has no devlink generic netlink family (%s)",
			nl_geterror(family));
		goto out;
	}

	if (set >= 0) {
		struct nlattr *nest;
		uint32_t bf[2] = { set ? DL_FN_CAP_MIGRATABLE : 0, DL_FN_CAP_MIGRATABLE };

		msg = port_msg(family, DL_CMD_PORT_SET, &port);
		if (!msg || !(nest = nla_nest_start(msg, DL_ATTR_PORT_FUNCTION)) ||
		    nla_put(msg, DL_FN_ATTR_CAPS, sizeof(bf), bf) ||
		    nla_nest_end(msg, nest) < 0) {
			if (msg)
				nlmsg_free(msg);
			cli_err(c, "cannot build the request");
			goto out;
		}
		ret = transact(sk, msg, &res);
		if (ret) {
			report_nl_error(c, ret, res.msg);
			goto out;
		}
		if (!c->json)
			printf("%s: migratable %s\n", argv[optind], set ? "enabled" : "disabled");
		if (!c->json && !c->verbose) {
			status = EXIT_OK;
			goto out;
		}
	}

	memset(&res, 0, sizeof(res));
	res.info = &pi;
	msg = port_msg(family, DL_CMD_PORT_GET, &port);
	if (!msg) {
		cli_err(c, "cannot build the request");
		goto out;
	}
	ret = transact(sk, msg, &res);
	if (ret) {
		report_nl_error(c, ret, res.msg);
		goto out;
	}
	if (!pi.have) {
		cli_err(c, "the kernel sent no port description");
		goto out;
	}
	print_port(c, argv[optind], &pi);
	status = EXIT_OK;
out:
	nl_socket_free(sk);
	return status;
}
