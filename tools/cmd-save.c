// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl save: the migration data of a device set into a stream file
 * (stream.h), through a temporary file that replaces the target only when
 * complete.  The transfer itself is xfer-save.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outfile.h"
#include "xfer.h"

const char usage_save[] =
	"save DEVICE[,DEVICE...] [-o FILE|-] [OPTIONS]\n"
	"\n"
	"Save the migration data of a device, or of a set of devices stopped as\n"
	"one (comma-separated), into a stream file (see FILE FORMAT in\n"
	"vfiomig-ctl(1)).  A running set whose members all support PRE_COPY\n"
	"goes through precopy rounds first, then STOP_COPY through the P2P\n"
	"barrier; others go to STOP_COPY directly.  The devices end in STOP (or\n"
	"RUNNING with --run); on failure (a signal, a full disk, a file size\n"
	"limit too) they go back to the state they were in.  The data goes to a\n"
	"temporary file beside FILE (mode 0600: device state can hold guest\n"
	"secrets), renamed over FILE once complete and on disk; a failure\n"
	"leaves FILE as it was.  An existing FILE is refused unless --force.\n"
	"'-' (the default when stdout is not a terminal) writes to stdout.\n"
	"\n"
	"  -o, --output FILE  where to write ('-': stdout)\n"
	"  -f, --force        replace an existing FILE if it is a regular file\n"
	"                     or a symbolic link (the link, not its target)\n"
	"      --no-precopy   go to STOP_COPY directly\n"
	"      --max-rounds N at most N precopy rounds (default: until the set\n"
	"                     is drained and its dirty data stops shrinking)\n"
	"      --step SIZE    precopy bytes per member and step (default 1M)\n"
	"      --run          leave the devices RUNNING afterwards (a snapshot)\n"
	"      --allow-no-p2p let members without P2P states into a set\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON (needs -o FILE)\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n"
	"\n"
	"Exit status: 0 saved, 1 failed before any device moved, 2 usage,\n"
	"3 failed and rolled back, 4 failed and a device is not back.\n";

/* Where a save's stream goes: stdout as it is, or a file that replaces
 * its target only when complete. */
struct save_out {
	bool to_stdout;
	const char *name;     /* for messages: "stdout" or the path */
	struct outfile file;
	int fd;
};

static int save_out_open(struct cli *c, const struct xfer_opts *xo,
			 struct save_out *o)
{
	char err[512];

	o->to_stdout = !xo->path || !strcmp(xo->path, "-");
	o->name = o->to_stdout ? "stdout" : xo->path;
	o->file.fd = -1;
	if (o->to_stdout) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	if (outfile_open(&o->file, xo->path, xo->force, err, sizeof(err))) {
		cli_err(c, "%s", err);
		return -1;
	}
	cli_remove_on_signal(o->file.tmp);
	o->fd = o->file.fd;
	return 0;
}

/* The stream is complete: make it the target.  0, or an error (the
 * target unchanged unless the rename was done). */
static int save_out_commit(struct cli *c, struct save_out *o)
{
	char err[512];
	bool renamed;
	int ret;

	if (o->to_stdout)
		return 0;
	ret = outfile_commit(&o->file, &renamed, err, sizeof(err));
	cli_remove_on_signal(NULL);
	if (ret && renamed) {
		/* Complete and in place; only a crash could lose the name. */
		cli_warn(c, "%s", err);
		return 0;
	}
	if (ret)
		cli_err(c, "%s", err);
	return ret;
}

static void save_out_abort(struct cli *c, struct save_out *o)
{
	if (o->to_stdout)
		return;
	cli_remove_on_signal(NULL);
	if (outfile_abort(&o->file))
		cli_err(c, "removed the incomplete new file; %s is as it was",
			o->name);
}

static int stream_sink(void *arg, size_t i, const void *buf, size_t len,
		       bool precopy)
{
	return stream_write_data(arg, (uint32_t)i, buf, len,
				 precopy ? STREAM_CHUNK_PRECOPY : 0);
}

static void print_summary(struct cli *c, const struct xfer_list *l,
			  const char *out_name, const struct xfer_stats *st,
			  const struct stream_writer *w, int final, FILE *f)
{
	uint64_t pre = 0, stop = 0, total;
	char b[32];

	for (size_t i = 0; i < l->n; i++) {
		pre += l->m[i].precopy_bytes;
		stop += l->m[i].stop_copy_bytes;
	}
	total = pre + stop;
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", l->arg);
		json_str(&j, "output", out_name);
		json_u64(&j, "bytes", total);
		json_u64(&j, "precopy_bytes", pre);
		json_u64(&j, "precopy_rounds", st->rounds);
		json_u64(&j, "stop_copy_bytes", stop);
		json_u64(&j, "chunks", w->nchunks);
		json_u64(&j, "file_bytes", w->file_off);
		json_strf(&j, "seconds", "%.3f", st->seconds);
		json_str(&j, "source_state", final >= 0 ? cli_state_name(final) : NULL);
		xfer_json_members(&j, l, true);
		json_end(&j);
		return;
	}
	cli_bytes_str(total, b, sizeof(b));
	fprintf(f, "saved %s (%" PRIu64 " bytes: precopy %" PRIu64 " in %u rounds, "
		"stop-copy %" PRIu64 ") from %s to %s in %.3f s\n", b, total, pre,
		st->rounds, stop, cli_esc(l->arg), out_name, st->seconds);
}

/* Refusals before anything is opened: 0 or an EXIT_* code. */
static int check_stdout(struct cli *c, const struct xfer_opts *xo)
{
	if (xo->path && strcmp(xo->path, "-"))
		return 0;
	if (isatty(STDOUT_FILENO) == 1)
		return cli_usage(c, "refusing to write binary data to a terminal; use -o FILE");
	if (c->json)
		return cli_usage(c, "--json needs -o FILE (stdout carries the data)");
	/* It is /dev/null now: the devices' state would be lost. */
	if (c->closed_std & (1u << STDOUT_FILENO)) {
		cli_err(c, "standard output is closed; use -o FILE");
		return EXIT_FAIL;
	}
	return 0;
}

/* The stream's header and sections: every member as a file records it. */
static int write_header(struct cli *c, struct stream_writer *w,
			struct xfer_list *l, const char *out_name)
{
	struct stream_hdr *h = calloc(l->n, sizeof(*h));
	int ret = h ? 0 : -ENOMEM;

	for (size_t i = 0; h && i < l->n; i++)
		xfer_identity(&l->m[i], &h[i]);
	if (!ret)
		ret = stream_write_header(w, h, (uint32_t)l->n);
	free(h);
	if (ret)
		cli_err(c, "writing %s: %s", out_name, cli_strerror(ret));
	return ret;
}

/* The data is out and on disk: STOP, or RUNNING with --run. */
static int finish_sources(struct cli *c, struct xfer_list *l, bool run)
{
	int target = run ? VFIOMIG_STATE_RUNNING : VFIOMIG_STATE_STOP;

	if (xfer_set_state(c, l, target, NULL)) {
		cli_err(c, "the stream is complete, but the devices did not reach %s",
			cli_state_name(target));
		return -1;
	}
	return target;
}

int cmd_save(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, XFER_ALLOW_NO_P2P_OPT,
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-precopy", no_argument, NULL, OPT_NO_PRECOPY },
		{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
		{ "step", required_argument, NULL, OPT_STEP },
		{ "run", no_argument, NULL, OPT_RUN },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct xfer_stats st = { 0 };
	struct xfer_list l = { 0 };
	struct stream_writer w = { 0 };
	struct save_out out = { .file.fd = -1 };
	struct progress prog;
	bool moved = false;
	int opt, ret, final, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hvo:f", opts, NULL)) != -1) {
		ret = xfer_parse_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1)
		return cli_usage(c, "expected one DEVICE or DEVICE,DEVICE...");
	ret = check_stdout(c, &xo);
	if (ret)
		return ret;
	ret = xfer_parse_list(c, argv[optind], &l);
	if (ret)
		return ret;

	cli_trap_signals();
	/* The output first: a refused target leaves the devices untouched. */
	out.to_stdout = true;
	if (save_out_open(c, &xo, &out))
		goto out;
	if (xfer_open_list(c, &l, NULL) || xfer_make_set(c, &l, xo.allow_no_p2p) ||
	    xfer_read_states(c, &l))
		goto out;
	ret = stream_writer_init(&w, xfer_fd_write, &out.fd, 0);
	if (ret) {
		cli_err(c, "%s", cli_strerror(ret));
		goto out;
	}
	if (write_header(c, &w, &l, out.name))
		goto out;

	progress_init(c, &prog, "save");
	for (size_t i = 0; i < l.n; i++)
		prog.expect += l.m[i].data_size;
	ret = xfer_save_set(c, &l, &xo, stream_sink, &w, &prog, &st, &moved);
	if (ret)
		goto fail; /* the sources are back already */
	ret = stream_write_end(&w);
	if (ret)
		cli_err(c, "writing %s: %s", out.name, cli_strerror(ret));
	/* A signal that came after the last write still means "stop". */
	if (!ret && cli_interrupted) {
		ret = cli_interrupt_err();
		cli_err(c, "writing %s: %s", out.name, cli_strerror(ret));
	}
	if (!ret)
		ret = save_out_commit(c, &out);
	if (ret) {
		/* The data is out of the devices: give the sources back. */
		xfer_sources_back(c, &l);
		goto fail;
	}
	final = finish_sources(c, &l, xo.run);
	if (final < 0) {
		progress_done(&prog, false);
		status = xfer_fail_status(c, &l, NULL);
		goto out;
	}
	progress_done(&prog, true);
	for (size_t i = 0; i < l.n; i++)
		l.m[i].final = final;
	print_summary(c, &l, out.name, &st, &w, final,
		      out.to_stdout ? stderr : stdout);
	status = EXIT_OK;
	goto out;
fail:
	progress_done(&prog, false);
	status = moved ? xfer_fail_status(c, &l, NULL) : EXIT_FAIL;
out:
	stream_writer_free(&w);
	save_out_abort(c, &out);
	xfer_list_free(&l);
	return status;
}
