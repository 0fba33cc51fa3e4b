// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: check a driver's VFIO migration support against the
 * uAPI (include/uapi/linux/vfio.h; kernel-contract.md 2-8), for driver
 * developers.  This file is the command: the table of checks (each once:
 * name, function, help), from which --help, --only and the run loop come,
 * and the report.  The checks are in conform-fsm.c, conform-data.c and
 * conform-dmalog.c (conform.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform.h"

/* When a check runs. */
enum check_when {
	AFTER_GATE, /* once the gate, migration-flags, passed (migration v2) */
	ANY_DEVICE, /* whether the device has migration v2 or not */
};

struct check {
	const char *name;
	/* Reports this check; several entries may share a function (one
	 * pass over the device reports them all): it runs once, when any
	 * of them is wanted, and reports those that are (want()). */
	void (*run)(struct conform *k);
	enum check_when when;
	/* For --help: lines after the first are indented under it. */
	const char *help;
	/* Why it says nothing on a migration v1 device (SKIP), or NULL: it
	 * runs there too. */
	const char *v1_skip;
};

/* The v1 skip reasons. */
#define V1_NO_FD "v1 device: no data fd (vfiomig_data_fd: EOPNOTSUPP), " \
	"the stream is staged in the migration region"
#define V1_NO_FEATURE "v1 device: no VFIO_DEVICE_FEATURE"


/*
 * In the order they run.  A check that any device can answer (e.g. which
 * migration protocol it speaks, v1 region or v2) goes before or right
 * after migration-flags with ANY_DEVICE, its id in conform.h.
 */
static const struct check checks[CK_NR] = {
	[CK_PROTOCOL] = { "protocol", check_protocol, ANY_DEVICE,
		"which migration protocol the device speaks:\n"
		"v2 (VFIO_DEVICE_FEATURE_MIGRATION) or v1 (the\n"
		"migration region of Linux 5.8-5.17)", NULL },
	[CK_MIGRATION_FLAGS] = { "migration-flags", check_flags, ANY_DEVICE,
		"FEATURE_MIGRATION answers, STOP_COPY is set", NULL },
	[CK_INITIAL_STATE] = { "initial-state", check_initial, AFTER_GATE,
		"GET works; the device is RUNNING after a reset", NULL },
	[CK_INVALID_TARGETS] = { "invalid-targets", check_invalid_targets, AFTER_GATE,
		"ERROR, 8 and unsupported states are refused\n"
		"(EINVAL) and leave the state alone", NULL },
	[CK_STATE_PAIRS] = { "state-pairs", check_pairs, AFTER_GATE,
		"every pair of supported states: the SET\n"
		"succeeds, GET answers the target, and a data fd\n"
		"comes back exactly on the fd-creating arcs", NULL },
	[CK_DATA_FD] = { "data-fd", check_data_fd, AFTER_GATE,
		"data fds are O_CLOEXEC, one-way (EBADF), streams\n"
		"(ESPIPE)", V1_NO_FD },
	[CK_STOP_COPY_TO_PRE_COPY] = { "stop-copy-to-pre-copy",
		check_no_stop_copy_to_pre_copy, AFTER_GATE,
		"STOP_COPY -> PRE_COPY(_P2P) refused (EINVAL)",
		"v1 device: _SAVING -> _SAVING|_RUNNING is a rule of v2's arcs" },
	[CK_PRECOPY_INFO] = { "precopy-info", check_precopy_info, AFTER_GATE,
		"PRECOPY_INFO valid in PRE_COPY states only", NULL },
	[CK_PRECOPY_END] = { "precopy-end", check_precopy_stream, AFTER_GATE,
		"end of precopy data: ENOMSG (read() 0: WARN)", V1_NO_FD },
	[CK_PRECOPY_TO_STOP_COPY] = { "precopy-to-stop-copy", check_precopy_stream,
		AFTER_GATE,
		"PRE_COPY -> STOP_COPY keeps the fd (no new\n"
		"one), the stream goes on in it", V1_NO_FD },
	[CK_STOP_COPY_END] = { "stop-copy-end", check_stop_copy, AFTER_GATE,
		"end of stop-copy data: read() 0, never ENOMSG", V1_NO_FD },
	[CK_MIG_DATA_SIZE] = { "mig-data-size", check_stop_copy, AFTER_GATE,
		"MIG_DATA_SIZE against the real stream size",
		V1_NO_FEATURE " (pending_bytes tells the size)" },
	[CK_ROUND_TRIP] = { "round-trip", check_round_trip, AFTER_GATE,
		"save, load into --peer, RUNNING, save again and\n"
		"compare; an incomplete stream is refused\n"
		"(SKIP without --peer)", NULL },
	[CK_RESET] = { "reset", check_reset, AFTER_GATE,
		"VFIO_DEVICE_RESET ends saving and resuming\n"
		"sessions and returns to RUNNING", NULL },
	[CK_DMA_LOGGING] = { "dma-logging", check_dma_logging, AFTER_GATE,
		"DMA_LOGGING_START/REPORT/STOP validation",
		V1_NO_FEATURE " (dirty pfns: vfiomig-ctl dirty --backend mig-v1)" },
};

static const char usage_head[] =
	"conform DEVICE [--peer DEVICE] [--only CHECK,...] [--json]\n"
	"\n"
	"Check DEVICE's driver against the VFIO migration uAPI, for driver\n"
	"developers.  One line per check: PASS, FAIL, SKIP (with the reason)\n"
	"or WARN (allowed, but worth knowing), then a summary.  The exit\n"
	"status is 0 when no check failed.  The device is reset (RUNNING) at\n"
	"the start and the end: do not run this on a device in use.\n"
	"\n"
	"Checks:\n";

static const char usage_tail[] =
	"\n"
	"  --peer DEVICE   a second device of the same kind for round-trip\n"
	"  --only LIST     run only these checks (comma-separated)\n"
	"  --json          machine-readable output\n"
	"  --iommu PATH    open through auto (default), iommufd or type1\n"
	"  -v              show the library's log\n";

/* Where a check's help starts: "  NAME" padded, then two spaces. */
#define HELP_COL 22

void help_conform(FILE *f)
{
	fprintf(f, "usage: vfiomig-ctl %s", usage_head);
	for (size_t i = 0; i < CK_NR; i++) {
		const char *h = checks[i].help;
		size_t n;

		fprintf(f, "  %-*s  ", HELP_COL - 4, checks[i].name);
		for (;;) {
			n = strcspn(h, "\n");
			fprintf(f, "%.*s\n", (int)n, h);
			if (!h[n])
				break;
			h += n + 1;
			fprintf(f, "%*s", HELP_COL, "");
		}
	}
	fputs(usage_tail, f);
}

enum { OPT_PEER = OPT_FIRST_CMD, OPT_ONLY };

static const char *const result_name[R_NR] = { "PASS", "FAIL", "SKIP", "WARN" };

void report(struct conform *k, enum check_id id, enum result r,
	    const char *fmt, ...)
{
	const char *check = checks[id].name;
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	k->count[r]++;
	if (k->c->json) {
		json_begin_obj(&k->j, NULL);
		json_str(&k->j, "check", check);
		json_str(&k->j, "result", result_name[r]);
		json_str(&k->j, "detail", detail);
		json_end(&k->j);
	} else {
		printf("%s %-22s %s\n", result_name[r], check, cli_esc(detail));
		fflush(stdout);
	}
}

/* --only LIST into k->wanted (every check without it): 0 or EXIT_USAGE. */
static int parse_only(struct cli *c, struct conform *k, const char *only)
{
	char *copy, *save = NULL;

	for (size_t i = 0; i < CK_NR; i++)
		k->wanted[i] = !only;
	if (!only)
		return 0;
	copy = strdup(only);
	if (!copy)
		return EXIT_FAIL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i = 0;

		while (i < CK_NR && strcmp(t, checks[i].name))
			i++;
		if (i == CK_NR) {
			int ret = cli_usage(c, "--only: unknown check '%s'", t);

			free(copy);
			return ret;
		}
		k->wanted[i] = true;
	}
	free(copy);
	return 0;
}

/* Whether the pass of checks[i] (it and the entries after it sharing its
 * function) has a check to report.  The gate always runs. */
static bool pass_wanted(const struct conform *k, size_t i)
{
	for (size_t j = i; j < CK_NR && checks[j].run == checks[i].run; j++)
		if (k->wanted[j] || j == CK_MIGRATION_FLAGS)
			return true;
	return false;
}

/* A pass that says nothing on a v1 device: SKIP what of it is wanted. */
static void skip_v1(struct conform *k, size_t i)
{
	for (size_t j = i; j < CK_NR && checks[j].run == checks[i].run; j++)
		if (k->wanted[j])
			report(k, (enum check_id)j, R_SKIP, "%s",
			       checks[j].v1_skip ? checks[j].v1_skip : checks[i].v1_skip);
}

static void run_checks(struct conform *k)
{
	for (size_t i = 0; i < CK_NR; i++) {
		if (i > 0 && checks[i - 1].run == checks[i].run)
			continue; /* the same pass, run already */
		if (checks[i].when == AFTER_GATE && !k->has_mig)
			continue;
		if (is_v1(k) && checks[i].v1_skip) {
			skip_v1(k, i);
			continue;
		}
		/* Every check after it starts from RUNNING: initial-state
		 * first looks at what the device was left in. */
		if (i == CK_INITIAL_STATE && !want(k, CK_INITIAL_STATE))
			reset_dev(k, k->dev);
		if (pass_wanted(k, i))
			checks[i].run(k);
	}
	if (k->has_mig)
		reset_dev(k, k->dev);
}

static void print_head(struct conform *k)
{
	const char *d = vfiomig_device_driver(k->dev);
	const char *t = vfiomig_device_mdev_type(k->dev);

	if (k->c->json) {
		json_init(&k->j, stdout);
		json_begin_obj(&k->j, NULL);
		json_str(&k->j, "device", k->name);
		json_str(&k->j, "driver", d);
		json_str(&k->j, "mdev_type", t);
		json_str(&k->j, "peer", k->peer_name);
		if (k->proto >= 0)
			json_str(&k->j, "protocol", cli_proto_name(k->proto));
		else
			json_null(&k->j, "protocol");
		json_begin_arr(&k->j, "checks");
		return;
	}
	printf("conform: %s (driver %s%s%s)%s%s\n", cli_esc(k->name),
	       d ? cli_esc(d) : "?", t ? ", type " : "", t ? cli_esc(t) : "",
	       k->peer_name ? ", peer " : "",
	       k->peer_name ? cli_esc(k->peer_name) : "");
}

static void print_summary(struct conform *k)
{
	if (k->c->json) {
		json_end(&k->j);
		json_begin_obj(&k->j, "summary");
		json_u64(&k->j, "passed", k->count[R_PASS]);
		json_u64(&k->j, "failed", k->count[R_FAIL]);
		json_u64(&k->j, "skipped", k->count[R_SKIP]);
		json_u64(&k->j, "warnings", k->count[R_WARN]);
		json_end(&k->j);
		json_bool(&k->j, "ok", k->count[R_FAIL] == 0);
		json_end(&k->j);
	} else {
		printf("conform: %u passed, %u failed, %u skipped, %u warnings\n",
		       k->count[R_PASS], k->count[R_FAIL], k->count[R_SKIP],
		       k->count[R_WARN]);
	}
}

int cmd_conform(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "only", required_argument, NULL, OPT_ONLY },
		CLI_END_OPT,
	};
	struct conform k = { .c = c, .precopy_total = -1, .raw_fds_cloexec = -1 };
	const char *only = NULL;
	int opt, ret, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PEER:
			k.peer_name = optarg;
			continue;
		case OPT_ONLY:
			only = optarg;
			continue;
		}
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1)
		return cli_usage(c, "expected one DEVICE");
	k.name = argv[optind];
	if (k.peer_name && !strcmp(k.peer_name, k.name))
		return cli_usage(c, "--peer must be another device");
	ret = parse_only(c, &k, only);
	if (ret)
		return ret;
	if (cli_open(c, k.name, &k.dev))
		return EXIT_FAIL;
	if (k.peer_name && cli_open(c, k.peer_name, &k.peer))
		goto out;

	k.proto = vfiomig_device_protocol(k.dev);
	print_head(&k);
	run_checks(&k);
	free(k.stream);
	print_summary(&k);
	status = k.count[R_FAIL] ? EXIT_FAIL : EXIT_OK;
out:
	vfiomig_device_free(k.peer);
	vfiomig_device_free(k.dev);
	return status;
}
