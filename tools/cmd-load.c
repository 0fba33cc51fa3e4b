// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl load: a stream file (stream.h) into a device set, each
 * device's section into the device at its position.  A regular file is
 * verified whole, and every section checked against its destination,
 * before any device moves.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xfer.h"

const char usage_load[] =
	"load DEVICE[,DEVICE...] [-i FILE|-] [OPTIONS]\n"
	"\n"
	"Load a stream file written by 'save' into a device, or into a set of\n"
	"devices (comma-separated, as many as the file holds, paired by\n"
	"position), which go through RESUMING and end in STOP (or RUNNING with\n"
	"--run) through the P2P barrier.  A regular file is verified\n"
	"completely (every CRC, the end records) from its current offset, and\n"
	"each device's section checked against its destination, before any\n"
	"device is touched; exactly that is loaded.  A pipe is verified chunk\n"
	"by chunk, and on a bad chunk every destination is reset so none is\n"
	"left in RESUMING or ERROR.  A stream saved from another kind of\n"
	"device (driver, mdev type or PCI IDs) is refused unless --force.\n"
	"Files of format 1.0 (vfiomig-ctl 0.1) load onto one device.  '-' (the\n"
	"default when stdin is not a terminal) reads stdin (from where it\n"
	"stands).\n"
	"\n"
	"  -i, --input FILE   what to read ('-': stdin)\n"
	"  -f, --force        load a stream from another kind of device\n"
	"      --run          end in RUNNING instead of STOP\n"
	"      --verify-only  check the file and print its header; no device\n"
	"                     is opened (DEVICE may be omitted)\n"
	"      --allow-no-p2p let members without P2P states into a set\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n"
	"\n"
	"Exit status: 0 loaded, 1 failed before any device moved, 2 usage,\n"
	"3 failed and every destination was reset, 4 a reset failed too.\n";

/*
 * What a first pass over a regular file verified, so that the second pass,
 * which feeds the devices, loads exactly that: the descriptions and, after
 * each chunk, the CRC of the chunk records so far.  A file changed in
 * between is caught at the header (before any device is touched) or at
 * the first chunk that differs (before it is written).
 */
struct verified {
	uint32_t ndev;
	struct stream_hdr *hdr;
	struct stream_count *dev;
	uint64_t bytes;
	uint32_t chunks;
	uint32_t *crc;       /* NULL: not recorded (verify only, a pipe) */
	size_t cap;
};

static void verified_free(struct verified *v)
{
	free(v->hdr);
	free(v->dev);
	free(v->crc);
}

static int record_chunk(struct verified *v, const struct stream_reader *r)
{
	if (r->nchunks > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		uint32_t *p = realloc(v->crc, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->crc = p;
		v->cap = cap;
	}
	v->crc[r->nchunks - 1] = r->seq_crc;
	return 0;
}

/* Reads the whole stream from fd's offset, checking everything; no
 * device involved.  record: keep what load_matches() compares. */
static int verify_stream(struct cli *c, int fd, const char *what,
			 struct verified *v, bool record)
{
	struct stream_reader r;
	const void *data;
	uint32_t dev;
	size_t len;
	int ret;

	stream_reader_init(&r, xfer_fd_read, &fd);
	ret = stream_read_header(&r);
	while (!ret) {
		ret = stream_read_chunk(&r, &dev, &data, &len, NULL);
		if (ret == 0)
			break;
		if (ret == 1)
			ret = record ? record_chunk(v, &r) : 0;
	}
	if (ret)
		cli_err(c, "%s: %s", what, r.err[0] ? r.err : cli_strerror(ret));
	v->bytes = r.data_off;
	v->chunks = r.nchunks;
	/* The reader's descriptions and counts become ours. */
	v->ndev = r.ndev;
	v->hdr = r.hdr;
	v->dev = r.dev;
	r.hdr = NULL;
	r.dev = NULL;
	stream_reader_free(&r);
	/* No chunk at all still records (an empty stream is valid). */
	if (!ret && record && !v->crc && !(v->crc = malloc(sizeof(*v->crc))))
		ret = -ENOMEM;
	return ret;
}

/* Is what the load pass read so far what the first pass verified? */
static bool load_matches(const struct verified *v, const struct stream_reader *r,
			 bool at_end)
{
	if (!v->crc)
		return true;
	if (r->nchunks > v->chunks || (at_end && r->nchunks != v->chunks))
		return false;
	return !r->nchunks || v->crc[r->nchunks - 1] == r->seq_crc;
}

static void json_hdr(struct json *j, const struct stream_hdr *h)
{
	json_str(j, "source", h->device);
	json_str(j, "driver", h->driver);
	json_str(j, "mdev_type", h->kind == STREAM_KIND_MDEV ? h->mdev_type : NULL);
	if (h->kind == STREAM_KIND_PCI) {
		json_begin_obj(j, "pci");
		json_strf(j, "vendor", "0x%04x", h->pci_vendor);
		json_strf(j, "device", "0x%04x", h->pci_device);
		json_strf(j, "subsystem_vendor", "0x%04x", h->pci_subsystem_vendor);
		json_strf(j, "subsystem_device", "0x%04x", h->pci_subsystem_device);
		json_strf(j, "class", "0x%06x", h->pci_class);
		json_end(j);
	} else {
		json_null(j, "pci");
	}
	cli_json_mig_flags(j, "migration", h->mig_flags);
	json_u64(j, "data_size", h->data_size);
}

/* The file's descriptions come from a file: every string escaped (the
 * parser refuses control bytes already; this is the second line of
 * defence).  JSON: device 0 at the top as 0.1 printed it, every device
 * under "devices". */
static void print_hdr(const struct verified *v, bool json)
{
	const struct stream_hdr *h = &v->hdr[0];

	if (json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_strf(&j, "format", "%u.%u", h->version_major, h->version_minor);
		json_hdr(&j, h);
		json_u64(&j, "created", h->created);
		json_str(&j, "lib_version", h->lib_version);
		json_str(&j, "tool_version", h->tool_version);
		json_u64(&j, "bytes", v->bytes);
		json_u64(&j, "chunks", v->chunks);
		json_begin_arr(&j, "devices");
		for (uint32_t i = 0; i < v->ndev; i++) {
			json_begin_obj(&j, NULL);
			json_hdr(&j, &v->hdr[i]);
			json_u64(&j, "bytes", v->dev[i].bytes);
			json_u64(&j, "chunks", v->dev[i].chunks);
			json_end(&j);
		}
		json_end(&j);
		json_bool(&j, "valid", true);
		json_end(&j);
		return;
	}
	printf("stream format %u.%u: valid", h->version_major, h->version_minor);
	if (v->ndev > 1)
		printf(", %" PRIu32 " devices, %" PRIu64 " bytes in %" PRIu32 " chunks",
		       v->ndev, v->bytes, v->chunks);
	putchar('\n');
	for (uint32_t i = 0; i < v->ndev; i++) {
		const char *ind = v->ndev > 1 ? "    " : "";
		char kind[96], flags[64];

		h = &v->hdr[i];
		xfer_kind_str(h, kind, sizeof(kind));
		cli_mig_flags_str(h->mig_flags, flags, sizeof(flags));
		if (v->ndev > 1)
			printf("  device %" PRIu32 "\n", i);
		printf("%s  source      %s, a %s\n", ind,
		       h->device[0] ? cli_esc(h->device) : "?", cli_esc(kind));
		printf("%s  migration   0x%" PRIx64 " (%s)\n", ind, h->mig_flags, flags);
		printf("%s  data        %" PRIu64 " bytes in %" PRIu32
		       " chunks (MIG_DATA_SIZE was %" PRIu64 ")\n", ind,
		       v->dev[i].bytes, v->dev[i].chunks, h->data_size);
	}
	printf("  saved by    libvfiomig %s, vfiomig-ctl %s\n",
	       cli_esc(v->hdr[0].lib_version), cli_esc(v->hdr[0].tool_version));
}

/* The input: a file, or stdin.  -1 after printing why. */
static int open_input(struct cli *c, const struct xfer_opts *xo, int *fd,
		      const char **what)
{
	bool from_stdin = !xo->path || !strcmp(xo->path, "-");

	*what = from_stdin ? "stdin" : xo->path;
	if (from_stdin && isatty(STDIN_FILENO) == 1)
		return cli_usage(c, "refusing to read binary data from a terminal; use -i FILE");
	if (from_stdin && (c->closed_std & (1u << STDIN_FILENO))) {
		cli_err(c, "standard input is closed; use -i FILE");
		return EXIT_FAIL;
	}
	if (from_stdin) {
		*fd = STDIN_FILENO;
		return 0;
	}
	*fd = open(xo->path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		cli_err(c, "cannot open %s: %s", xo->path, strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

/* Header and sections of the pass that loads: the ones verified (a
 * regular file), as many as the devices given, each compatible with its
 * destination.  0 or -1 after printing why; no device moved. */
static int check_sections(struct cli *c, struct stream_reader *r,
			  const struct verified *v, struct xfer_list *l,
			  const char *what, bool force)
{
	int ret = stream_read_header(r);

	if (ret) {
		cli_err(c, "%s: %s; %s was not touched", what,
			r->err[0] ? r->err : cli_strerror(ret), cli_esc(l->arg));
		return -1;
	}
	if (v->crc && (r->ndev != v->ndev ||
		       memcmp(r->hdr, v->hdr, r->ndev * sizeof(*r->hdr)))) {
		cli_err(c, "%s changed after it was verified; %s was not touched",
			what, cli_esc(l->arg));
		return -1;
	}
	if (r->ndev != l->n) {
		cli_err(c, "%s holds the streams of %" PRIu32 " device%s, but %zu %s given; "
			"%s was not touched", what, r->ndev, r->ndev == 1 ? "" : "s",
			l->n, l->n == 1 ? "device was" : "devices were", cli_esc(l->arg));
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct stream_hdr mine;
		char from[64];

		xfer_identity(&l->m[i], &mine);
		if (l->n > 1)
			snprintf(from, sizeof(from), "device %zu of %s", i, what);
		else
			snprintf(from, sizeof(from), "%s", what);
		if (xfer_check_compat(c, &r->hdr[i], from, &mine, l->m[i].name, force))
			return -1;
	}
	return 0;
}

/* Every chunk into its destination.  0 or a negative errno. */
static int feed(struct cli *c, struct stream_reader *r, const struct verified *v,
		struct xfer_list *l, const char *what, struct progress *prog)
{
	for (;;) {
		const void *data;
		uint32_t dev;
		size_t len;
		int ret = stream_read_chunk(r, &dev, &data, &len, NULL);

		if (ret < 0) {
			cli_err(c, "%s: %s", what, r->err[0] ? r->err : cli_strerror(ret));
			return ret;
		}
		if (!load_matches(v, r, ret == 0)) {
			cli_err(c, "%s changed after it was verified (chunk %" PRIu32 ")",
				what, r->nchunks);
			return -EBADMSG;
		}
		if (ret == 0)
			return 0;
		ret = cli_interrupted ? -EINTR : cli_load_buf(l->m[dev].dev, data, len);
		if (ret) {
			cli_err_lib(c, ret, "%s: writing %zu bytes at stream offset %" PRIu64
				    " failed", l->m[dev].name, len, r->dev[dev].bytes - len);
			return ret;
		}
		prog->bytes += len;
		progress_update(prog, false);
	}
}

static void print_summary(struct cli *c, const struct xfer_list *l,
			  const struct stream_reader *r, const char *what,
			  int target, double seconds)
{
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", l->arg);
		json_str(&j, "input", what);
		json_str(&j, "source", r->hdr[0].device);
		json_u64(&j, "bytes", r->data_off);
		json_u64(&j, "chunks", r->nchunks);
		json_strf(&j, "seconds", "%.3f", seconds);
		json_str(&j, "state", cli_state_name(target));
		xfer_json_members(&j, l, false);
		json_end(&j);
		return;
	}
	printf("loaded %" PRIu64 " bytes (%" PRIu32 " chunks) from %s into %s; "
	       "%s %s %s\n", r->data_off, r->nchunks, what, cli_esc(l->arg),
	       cli_esc(l->arg), l->n > 1 ? "are" : "is", cli_state_name(target));
}

int cmd_load(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, XFER_ALLOW_NO_P2P_OPT,
		{ "input", required_argument, NULL, 'i' },
		{ "force", no_argument, NULL, 'f' },
		{ "run", no_argument, NULL, OPT_RUN },
		{ "verify-only", no_argument, NULL, OPT_VERIFY_ONLY },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct xfer_list l = { 0 };
	struct stream_reader r = { 0 };
	struct verified v = { 0 };
	struct progress prog;
	struct stat sb;
	off_t start;
	const char *what;
	bool moved = false;
	int opt, ret, fd = -1, status = EXIT_FAIL, target;
	double t0;

	while ((opt = getopt_long(argc, argv, "hvi:f", opts, NULL)) != -1) {
		ret = xfer_parse_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind > 1 || (argc - optind == 0 && !xo.verify_only))
		return cli_usage(c, "expected one DEVICE or DEVICE,DEVICE...");
	if (argc - optind == 1) {
		ret = xfer_parse_list(c, argv[optind], &l);
		if (ret)
			return ret;
	}
	ret = open_input(c, &xo, &fd, &what);
	if (ret) {
		xfer_list_free(&l);
		return ret;
	}
	target = xo.run ? VFIOMIG_STATE_RUNNING : VFIOMIG_STATE_STOP;

	if (fstat(fd, &sb)) {
		cli_err(c, "fstat %s: %s", what, strerror(errno));
		goto out;
	}
	/* A regular file is checked whole before any device is touched,
	 * from where it stands (stdin may be a file read in part already),
	 * then read again from there to feed the devices. */
	if (S_ISREG(sb.st_mode)) {
		start = lseek(fd, 0, SEEK_CUR);
		if (start < 0) {
			cli_err(c, "lseek %s: %s", what, strerror(errno));
			goto out;
		}
		if (verify_stream(c, fd, what, &v, !xo.verify_only)) {
			if (l.n)
				cli_err(c, "%s was not touched", cli_esc(l.arg));
			goto out;
		}
		if (lseek(fd, start, SEEK_SET) != start) {
			cli_err(c, "cannot go back to offset %jd of %s: %s",
				(intmax_t)start, what, strerror(errno));
			goto out;
		}
	} else if (xo.verify_only) {
		if (verify_stream(c, fd, what, &v, false))
			goto out;
	}
	if (xo.verify_only) {
		print_hdr(&v, c->json);
		status = EXIT_OK;
		goto out;
	}

	cli_trap_signals();
	stream_reader_init(&r, xfer_fd_read, &fd);
	/* The device count first: a wrong list opens nothing. */
	if (v.crc && v.ndev != l.n) {
		cli_err(c, "%s holds the streams of %" PRIu32 " device%s, but %zu %s given; "
			"%s was not touched", what, v.ndev, v.ndev == 1 ? "" : "s",
			l.n, l.n == 1 ? "device was" : "devices were", cli_esc(l.arg));
		goto out;
	}
	if (xfer_open_list(c, &l, NULL) || xfer_make_set(c, &l, xo.allow_no_p2p) ||
	    xfer_read_states(c, &l))
		goto out;
	if (check_sections(c, &r, &v, &l, what, xo.force))
		goto out;

	progress_init(c, &prog, "load");
	prog.expect = 0;
	for (uint32_t i = 0; i < r.ndev; i++)
		prog.expect += v.dev ? v.dev[i].bytes : r.hdr[i].data_size;
	t0 = cli_now();
	if (xfer_set_state(c, &l, VFIOMIG_STATE_RESUMING, &moved)) {
		progress_done(&prog, false);
		/* The library brought the set back. */
		status = moved ? xfer_fail_status(c, &l, NULL) : EXIT_FAIL;
		goto out;
	}
	progress_phase(&prog, "resuming");
	if (feed(c, &r, &v, &l, what, &prog) || xfer_load_finish(c, &l, target)) {
		progress_done(&prog, false);
		xfer_dests_reset(c, &l);
		status = xfer_fail_status(c, NULL, &l);
		goto out;
	}
	progress_done(&prog, true);
	for (size_t i = 0; i < l.n; i++)
		l.m[i].final = target;
	print_summary(c, &l, &r, what, target, cli_now() - t0);
	status = EXIT_OK;
out:
	stream_reader_free(&r);
	verified_free(&v);
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	xfer_list_free(&l);
	return status;
}
