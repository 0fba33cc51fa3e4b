// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl migrate: a device set into another on this host, each
 * source's data written straight into the destination at its position.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "xfer.h"

const char usage_migrate[] =
	"migrate SRC[,SRC...] DST[,DST...] [OPTIONS]\n"
	"\n"
	"Migrate device SRC into device DST in one process (both on this\n"
	"host), or a set of devices into another (comma-separated, paired by\n"
	"position): the destinations go to RESUMING, the sources through\n"
	"precopy rounds (when every source supports them), paced across the\n"
	"set, until the set is drained, then to STOP_COPY through the P2P\n"
	"barrier; their data is written straight into the destinations, which\n"
	"then go to RUNNING through the barrier while the sources stay in STOP.\n"
	"If any member fails, the whole set is rolled back: the destinations\n"
	"are reset and the sources go back to the state they were in.  Devices\n"
	"of different kinds are refused unless --force.\n"
	"\n"
	"      --no-precopy   go to STOP_COPY directly\n"
	"      --max-rounds N at most N precopy rounds\n"
	"      --step SIZE    precopy bytes per member and step (default 1M)\n"
	"      --stop         leave the destinations in STOP instead of RUNNING\n"
	"  -f, --force        migrate between different kinds of devices\n"
	"      --allow-no-p2p let members without P2P states into a set\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n"
	"\n"
	"Exit status: 0 migrated, 1 failed before any device moved, 2 usage,\n"
	"3 failed and rolled back, 4 failed and a device is not back.\n";

struct dev_sink {
	struct cli *c;
	struct xfer_list *dst;
};

/* Source i's bytes into destination i; a refusal names the destination
 * (the library's message names the source whose callback failed). */
static int device_sink(void *arg, size_t i, const void *buf, size_t len,
		       bool precopy)
{
	struct dev_sink *s = arg;
	int ret = cli_load_buf(s->dst->m[i].dev, buf, len);

	(void)precopy;
	if (ret)
		cli_err_lib(s->c, ret, "%s refused %zu bytes", s->dst->m[i].name, len);
	return ret;
}

/* Every pair of a kind (or --force).  0 or -1 after printing why. */
static int check_pairs(struct cli *c, struct xfer_list *src,
		       struct xfer_list *dst, bool force)
{
	for (size_t i = 0; i < src->n; i++) {
		struct stream_hdr hs, hd;

		xfer_identity(&src->m[i], &hs);
		xfer_identity(&dst->m[i], &hd);
		if (xfer_check_compat(c, &hs, src->m[i].name, &hd, dst->m[i].name,
				      force))
			return -1;
	}
	return 0;
}

/* Usage errors between the two lists: lengths, a device on both sides. */
static int check_lists(struct cli *c, const struct xfer_list *src,
		       const struct xfer_list *dst)
{
	if (src->n != dst->n)
		return cli_usage(c, "%zu sources but %zu destinations: the lists "
				    "pair by position", src->n, dst->n);
	for (size_t i = 0; i < src->n; i++)
		for (size_t k = 0; k < dst->n; k++)
			if (!strcmp(src->m[i].name, dst->m[k].name))
				return cli_usage(c, "%s is both a source and a destination%s",
						 cli_esc(src->m[i].name),
						 src->n == 1 ? " (SRC and DST are the same device)" : "");
	return 0;
}

static void print_summary(struct cli *c, const struct xfer_list *src,
			  const struct xfer_list *dst, const struct xfer_stats *st,
			  bool stop)
{
	uint64_t pre = 0, sc = 0, total;
	char b[32];

	for (size_t i = 0; i < src->n; i++) {
		pre += src->m[i].precopy_bytes;
		sc += src->m[i].stop_copy_bytes;
	}
	total = pre + sc;
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", src->arg);
		json_str(&j, "destination", dst->arg);
		json_u64(&j, "bytes", total);
		json_u64(&j, "precopy_bytes", pre);
		json_u64(&j, "precopy_rounds", st->rounds);
		json_u64(&j, "stop_copy_bytes", sc);
		json_strf(&j, "seconds", "%.3f", st->seconds);
		json_str(&j, "source_state", cli_state_name(VFIOMIG_STATE_STOP));
		json_str(&j, "destination_state", stop ? "stop" : "running");
		xfer_json_members(&j, src, true);
		json_end(&j);
		return;
	}
	cli_bytes_str(total, b, sizeof(b));
	printf("migrated %s (%" PRIu64 " bytes: precopy %" PRIu64 " in %u rounds, "
	       "stop-copy %" PRIu64 ") from %s to %s in %.3f s\n", b, total, pre,
	       st->rounds, sc, cli_esc(src->arg), cli_esc(dst->arg), st->seconds);
	printf("%s %s %s, %s %s stop\n", cli_esc(dst->arg), dst->n > 1 ? "are" : "is",
	       stop ? "stop" : "running", cli_esc(src->arg), src->n > 1 ? "are" : "is");
}

int cmd_migrate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, XFER_ALLOW_NO_P2P_OPT,
		{ "force", no_argument, NULL, 'f' },
		{ "no-precopy", no_argument, NULL, OPT_NO_PRECOPY },
		{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
		{ "step", required_argument, NULL, OPT_STEP },
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct xfer_stats st = { 0 };
	struct xfer_list src = { 0 }, dst = { 0 };
	struct dev_sink sink = { .c = c, .dst = &dst };
	struct progress prog;
	bool moved = false;
	int opt, ret, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hvf", opts, NULL)) != -1) {
		ret = xfer_parse_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 2)
		return cli_usage(c, "expected SRC DST (or SRC,SRC... DST,DST...)");
	ret = xfer_parse_list(c, argv[optind], &src);
	if (!ret)
		ret = xfer_parse_list(c, argv[optind + 1], &dst);
	if (!ret)
		ret = check_lists(c, &src, &dst);
	if (ret) {
		status = ret;
		goto out;
	}

	cli_trap_signals();
	if (xfer_open_list(c, &src, NULL) || xfer_open_list(c, &dst, &src) ||
	    check_pairs(c, &src, &dst, xo.force) ||
	    xfer_make_set(c, &src, xo.allow_no_p2p) ||
	    xfer_make_set(c, &dst, xo.allow_no_p2p) ||
	    xfer_read_states(c, &src) || xfer_read_states(c, &dst) ||
	    xfer_check_sources(c, &src))
		goto out;

	progress_init(c, &prog, "migrate");
	for (size_t i = 0; i < src.n; i++)
		prog.expect += src.m[i].data_size;
	if (xfer_set_state(c, &dst, VFIOMIG_STATE_RESUMING, &moved)) {
		progress_done(&prog, false);
		/* The library brought the destinations back. */
		status = moved ? xfer_fail_status(c, &dst, NULL) : EXIT_FAIL;
		goto out;
	}
	ret = xfer_save_set(c, &src, &xo, device_sink, &sink, &prog, &st, &moved);
	if (!ret) {
		ret = xfer_load_finish(c, &dst, xo.stop ? VFIOMIG_STATE_STOP :
							  VFIOMIG_STATE_RUNNING);
		/* The sources still hold the state: give it back. */
		if (ret)
			xfer_sources_back(c, &src);
	}
	if (ret) {
		progress_done(&prog, false);
		xfer_dests_reset(c, &dst);
		status = xfer_fail_status(c, &src, &dst);
		goto out;
	}
	/* The destinations hold the state now: the sources stop. */
	if (xfer_set_state(c, &src, VFIOMIG_STATE_STOP, NULL)) {
		progress_done(&prog, false);
		cli_err(c, "%s %s the migrated state; the sources did not reach stop",
			cli_esc(dst.arg), dst.n > 1 ? "hold" : "holds");
		status = EXIT_STRANDED;
		goto out;
	}
	progress_done(&prog, true);
	for (size_t i = 0; i < src.n; i++)
		src.m[i].final = VFIOMIG_STATE_STOP;
	print_summary(c, &src, &dst, &st, xo.stop);
	status = EXIT_OK;
out:
	xfer_list_free(&dst);
	xfer_list_free(&src);
	return status;
}
