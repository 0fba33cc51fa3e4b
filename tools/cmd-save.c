// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl save / load / migrate: move a device's migration data into a
 * stream file (stream.h), out of one, or straight into another device.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"
#include "stream.h"

const char usage_save[] =
	"save DEVICE [-o FILE|-] [OPTIONS]\n"
	"\n"
	"Save DEVICE's migration data into a stream file (see FILE FORMAT in\n"
	"vfiomig-ctl(1)).  A running device that supports PRE_COPY goes through\n"
	"precopy rounds first, then STOP_COPY; others go to STOP_COPY directly.\n"
	"The device ends in STOP (or RUNNING with --run); on failure (a signal,\n"
	"a full disk, a file size limit too) it goes back to the state it was\n"
	"in.  The data goes to a temporary file beside FILE (mode 0600: device\n"
	"state can hold guest secrets), renamed over FILE once complete and on\n"
	"disk; a failure leaves FILE as it was.  An existing FILE is refused\n"
	"unless --force.  '-' (the default when stdout is not a terminal)\n"
	"writes to stdout.\n"
	"\n"
	"  -o, --output FILE  where to write ('-': stdout)\n"
	"  -f, --force        replace an existing FILE if it is a regular file\n"
	"                     or a symbolic link (the link, not its target)\n"
	"      --no-precopy   go to STOP_COPY directly\n"
	"      --max-rounds N at most N precopy rounds (default: the library's\n"
	"                     policy decides)\n"
	"      --run          leave the device RUNNING afterwards (a snapshot)\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON (needs -o FILE)\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n";

const char usage_load[] =
	"load DEVICE [-i FILE|-] [OPTIONS]\n"
	"\n"
	"Load a stream file written by 'save' into DEVICE, which goes through\n"
	"RESUMING and ends in STOP (or RUNNING with --run).  A regular file is\n"
	"verified completely (every CRC, the end record) from its current\n"
	"offset before the device is touched, and exactly that is loaded; a\n"
	"pipe is verified chunk by chunk, and on a bad chunk the device is\n"
	"reset so it is never left in RESUMING or ERROR.  A stream saved from\n"
	"another kind of device (driver, mdev type or PCI IDs) is refused\n"
	"unless --force.  '-' (the default when stdin is not a terminal)\n"
	"reads stdin (from where it stands).\n"
	"\n"
	"  -i, --input FILE   what to read ('-': stdin)\n"
	"  -f, --force        load a stream from another kind of device\n"
	"      --run          end in RUNNING instead of STOP\n"
	"      --verify-only  check the file and print its header; no device\n"
	"                     is opened (DEVICE may be omitted)\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n";

const char usage_migrate[] =
	"migrate SRC DST [OPTIONS]\n"
	"\n"
	"Migrate device SRC into device DST in one process (both on this\n"
	"host): DST goes to RESUMING, SRC through precopy rounds (when\n"
	"supported) and STOP_COPY, its data is written straight into DST, then\n"
	"DST goes to RUNNING and SRC stays in STOP.  On failure DST is reset\n"
	"and SRC goes back to the state it was in.  Devices of different kinds\n"
	"are refused unless --force.\n"
	"\n"
	"      --no-precopy   go to STOP_COPY directly\n"
	"      --max-rounds N at most N precopy rounds\n"
	"      --stop         leave DST in STOP instead of RUNNING\n"
	"  -f, --force        migrate between different kinds of devices\n"
	"      --progress     progress lines on stderr even without a terminal\n"
	"      --json         print a summary as JSON\n"
	"      --iommu PATH   open through auto (default), iommufd or type1\n"
	"  -v                 show the library's log\n";

enum {
	OPT_NO_PRECOPY = OPT_FIRST_CMD,
	OPT_MAX_ROUNDS,
	OPT_RUN,
	OPT_STOP,
	OPT_PROGRESS,
	OPT_VERIFY_ONLY,
};

struct xfer_opts {
	bool no_precopy;
	unsigned int max_rounds;
	bool force;
	bool run;          /* save: source RUNNING after; load: RUNNING */
	bool stop;         /* migrate: destination STOP */
	bool verify_only;
	const char *path;
};

/* What a save moved, for the summary. */
struct save_stats {
	uint64_t precopy_bytes, stop_copy_bytes;
	unsigned int rounds;
	int orig_state;    /* the source's state before the save */
	int final_state;
	double seconds;
};

/* Where saved data goes: a stream file or another device. */
typedef int (*sink_fn)(void *arg, const void *buf, size_t len, bool precopy);

struct save_ctx {
	struct cli *c;
	struct progress *prog;
	sink_fn sink;
	void *sink_arg;
	bool precopy;
	uint64_t *counter;
	int sink_err;
};

/* ------------------------------------------------------------ helpers */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n;

		/* A signal may end a blocked write early with a short count,
		 * not EINTR: look at the flag before every write. */
		if (cli_interrupted)
			return cli_interrupt_err();
		n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR && !cli_interrupted)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_write_fn(void *arg, const void *buf, size_t len)
{
	return write_all(*(int *)arg, buf, len);
}

static ssize_t fd_read_fn(void *arg, void *buf, size_t len)
{
	for (;;) {
		ssize_t n;

		if (cli_interrupted)
			return -EINTR;
		n = read(*(int *)arg, buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR || cli_interrupted)
			return -errno;
	}
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void hdr_from_device(struct vfiomig_device *dev, uint64_t mig_flags,
			    uint64_t data_size, struct stream_hdr *h)
{
	struct vfiomig_pci_ids ids;

	memset(h, 0, sizeof(*h));
	h->mig_flags = mig_flags;
	h->data_size = data_size;
	h->created = (uint64_t)time(NULL);
	if (vfiomig_device_mdev_type(dev)) {
		h->kind = STREAM_KIND_MDEV;
		copy_str(h->mdev_type, sizeof(h->mdev_type),
			 vfiomig_device_mdev_type(dev));
	} else if (!vfiomig_device_pci_ids(dev, &ids)) {
		h->kind = STREAM_KIND_PCI;
		h->pci_vendor = ids.vendor;
		h->pci_device = ids.device;
		h->pci_subsystem_vendor = ids.subsystem_vendor;
		h->pci_subsystem_device = ids.subsystem_device;
		h->pci_class = ids.class_code;
	}
	copy_str(h->driver, sizeof(h->driver), vfiomig_device_driver(dev));
	copy_str(h->device, sizeof(h->device), vfiomig_device_name(dev));
	copy_str(h->lib_version, sizeof(h->lib_version),
		 vfiomig_version(NULL, NULL, NULL));
	copy_str(h->tool_version, sizeof(h->tool_version), PACKAGE_VERSION);
	/* As a file records it, so that the compatibility check compares
	 * like with like. */
	stream_hdr_clean(h);
}

static void kind_str(const struct stream_hdr *h, char *buf, size_t len)
{
	if (h->kind == STREAM_KIND_MDEV)
		snprintf(buf, len, "%s mdev of type %s", h->driver[0] ? h->driver : "?",
			 h->mdev_type);
	else if (h->kind == STREAM_KIND_PCI)
		snprintf(buf, len, "%s PCI function %04x:%04x",
			 h->driver[0] ? h->driver : "?", h->pci_vendor, h->pci_device);
	else
		snprintf(buf, len, "%s device", h->driver[0] ? h->driver : "unknown");
}

/* NULL when a stream described by `from` may be loaded into `to`. */
static const char *incompatible(const struct stream_hdr *from,
				const struct stream_hdr *to)
{
	if (strcmp(from->driver, to->driver))
		return "the drivers differ";
	if (from->kind != to->kind)
		return "one is an mdev, the other a PCI function";
	if (from->kind == STREAM_KIND_MDEV && strcmp(from->mdev_type, to->mdev_type))
		return "the mdev types differ";
	if (from->kind == STREAM_KIND_PCI &&
	    (from->pci_vendor != to->pci_vendor || from->pci_device != to->pci_device))
		return "the PCI IDs differ";
	return NULL;
}

/* Returns 0 when compatible or forced, else prints why and -EXDEV. */
static int check_compat(struct cli *c, const struct stream_hdr *from,
			const char *from_what, const struct stream_hdr *to,
			const char *to_name, bool force)
{
	const char *why = incompatible(from, to);
	char a[96], b[96];

	if (!why)
		return 0;
	kind_str(from, a, sizeof(a));
	kind_str(to, b, sizeof(b));
	if (force) {
		cli_warn(c, "%s is from a %s, %s is a %s (%s); going on (--force)",
			 from_what, a, to_name, b, why);
		return 0;
	}
	cli_err(c, "%s is from a %s, but %s is a %s (%s); use --force to override",
		from_what, a, to_name, b, why);
	return -EXDEV;
}

/* ------------------------------------------------------------ save */

static ssize_t save_write_fn(void *arg, const void *buf, size_t len)
{
	struct save_ctx *s = arg;
	int ret;

	if (!len)
		return 0;
	if (cli_interrupted) {
		s->sink_err = cli_interrupt_err();
		return s->sink_err;
	}
	ret = s->sink(s->sink_arg, buf, len, s->precopy);
	if (ret) {
		s->sink_err = ret;
		return ret;
	}
	*s->counter += len;
	s->prog->bytes += len;
	progress_update(s->prog, false);
	return (ssize_t)len;
}

static void restore_source(struct cli *c, struct vfiomig_device *dev, int orig)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = VFIOMIG_RECOVER_RESET);
	int ret;

	if (orig < 0)
		return;
	so.state = -1;
	cli_clear_err(c);
	ret = vfiomig_state_set(dev, orig, &so);
	if (ret)
		cli_err_lib(c, ret, "could not return the source to %s (now %s)",
			    cli_state_name(orig),
			    so.state >= 0 ? cli_state_name(so.state) : "unknown");
	else
		cli_err(c, "the source is back in %s", cli_state_name(orig));
}

/*
 * Precopy rounds (when the device supports them and runs), then
 * STOP_COPY; every byte goes to sink.  On success the device is left in
 * STOP_COPY with the session drained; on failure back in its first state.
 */
static int save_device(struct cli *c, struct vfiomig_device *dev,
		       const char *name, uint64_t mig_flags,
		       const struct xfer_opts *xo, sink_fn sink, void *sink_arg,
		       struct progress *prog, struct save_stats *st)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol, .max_rounds = xo->max_rounds);
	VFIOMIG_OPTS(vfiomig_precopy_progress, pp);
	struct save_ctx s = { .c = c, .prog = prog, .sink = sink,
			      .sink_arg = sink_arg };
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB,
		     .write_fn = save_write_fn, .arg = &s);
	double t0 = cli_now();
	int cur, ret, pre_target = -1;
	int64_t n;

	if (!(mig_flags & VFIOMIG_MIG_STOP_COPY)) {
		cli_err(c, "%s does not support STOP_COPY migration", name);
		return -EOPNOTSUPP;
	}
	cur = vfiomig_state_get(dev);
	if (cur < 0) {
		cli_err_lib(c, cur, "cannot read the state of %s", name);
		return cur;
	}
	st->orig_state = cur;
	if ((mig_flags & VFIOMIG_MIG_PRE_COPY) && !xo->no_precopy) {
		if (cur == VFIOMIG_STATE_RUNNING)
			pre_target = VFIOMIG_STATE_PRE_COPY;
		else if (cur == VFIOMIG_STATE_RUNNING_P2P)
			pre_target = VFIOMIG_STATE_PRE_COPY_P2P;
	}

	if (pre_target >= 0) {
		ret = vfiomig_state_set(dev, pre_target, &so);
		if (ret) {
			cli_err_lib(c, ret, "%s: %s -> %s failed", name,
				    cli_state_name(cur), cli_state_name(pre_target));
			goto fail;
		}
		s.precopy = true;
		s.counter = &st->precopy_bytes;
		progress_phase(prog, "pre-copy");
		for (;;) {
			ret = vfiomig_precopy_iterate(dev, &io, &pol, &pp);
			prog->round = pp.round;
			prog->initial = pp.initial_bytes;
			prog->dirty = pp.dirty_bytes;
			progress_update(prog, true);
			if (ret < 0) {
				if (s.sink_err)
					ret = s.sink_err;
				cli_err_lib(c, ret, "%s: precopy round %u failed", name,
					    pp.round + 1);
				goto fail;
			}
			if (ret == 1)
				break;
			if (xo->max_rounds && pp.round >= xo->max_rounds)
				break;
			if (cli_interrupted) {
				ret = -EINTR;
				cli_err(c, "interrupted after precopy round %u", pp.round);
				goto fail;
			}
		}
		st->rounds = pp.round;
	}

	ret = vfiomig_state_set(dev, VFIOMIG_STATE_STOP_COPY, &so);
	if (ret) {
		cli_err_lib(c, ret, "%s: -> stop-copy failed", name);
		goto fail;
	}
	s.precopy = false;
	s.counter = &st->stop_copy_bytes;
	progress_phase(prog, "stop-copy");
	n = vfiomig_save(dev, &io, 0);
	if (n < 0) {
		ret = s.sink_err ? s.sink_err : (int)n;
		cli_err_lib(c, ret, "%s: reading the stop-copy data failed", name);
		goto fail;
	}
	st->seconds = cli_now() - t0;
	return 0;
fail:
	st->seconds = cli_now() - t0;
	restore_source(c, dev, cur);
	return ret ? ret : -EIO;
}

/* After a successful save: STOP (ends the session) or RUNNING. */
static int finish_source(struct cli *c, struct vfiomig_device *dev,
			 const char *name, bool run, struct save_stats *st)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	int target = run ? VFIOMIG_STATE_RUNNING : VFIOMIG_STATE_STOP;
	int ret = vfiomig_state_set(dev, target, &so);

	if (ret) {
		cli_err_lib(c, ret, "%s: -> %s after the save failed", name,
			    cli_state_name(target));
		st->final_state = vfiomig_state_get(dev);
		return ret;
	}
	st->final_state = target;
	return 0;
}

static int stream_sink(void *arg, const void *buf, size_t len, bool precopy)
{
	return stream_write_data(arg, buf, len,
				 precopy ? STREAM_CHUNK_PRECOPY : 0);
}

static int parse_xfer_opt(struct cli *c, int opt, struct xfer_opts *xo)
{
	uint64_t v;

	switch (opt) {
	case 'f':
		xo->force = true;
		return -2;
	case 'o':
	case 'i':
		xo->path = optarg;
		return -2;
	case OPT_NO_PRECOPY:
		xo->no_precopy = true;
		return -2;
	case OPT_MAX_ROUNDS:
		if (cli_parse_u64(optarg, &v) || v == 0 || v > 1000000)
			return cli_usage(c, "--max-rounds: expected a number 1..1000000");
		xo->max_rounds = (unsigned int)v;
		return -2;
	case OPT_RUN:
		xo->run = true;
		return -2;
	case OPT_STOP:
		xo->stop = true;
		return -2;
	case OPT_VERIFY_ONLY:
		xo->verify_only = true;
		return -2;
	case OPT_PROGRESS:
		c->progress = true;
		return -2;
	}
	return cli_common_opt(c, opt, optarg);
}

static int get_flags(struct cli *c, struct vfiomig_device *dev,
		     const char *name, uint64_t *flags)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	int ret = vfiomig_device_caps(dev, &caps);

	if (ret) {
		cli_err_lib(c, ret, "cannot read the migration capabilities of %s",
			    name);
		return ret;
	}
	if (!(caps.features & VFIOMIG_CAP_MIGRATION)) {
		cli_err(c, "%s does not support migration", name);
		return -EOPNOTSUPP;
	}
	*flags = caps.migration_flags;
	return 0;
}

/* w: the stream file's writer (save), NULL for migrate. */
static void print_save_summary(struct cli *c, const char *dev_name,
			       const char *out_name, const struct save_stats *st,
			       const struct stream_writer *w, FILE *f)
{
	uint64_t total = st->precopy_bytes + st->stop_copy_bytes;
	char b[32];

	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", dev_name);
		json_str(&j, w ? "output" : "destination", out_name);
		json_u64(&j, "bytes", total);
		json_u64(&j, "precopy_bytes", st->precopy_bytes);
		json_u64(&j, "precopy_rounds", st->rounds);
		json_u64(&j, "stop_copy_bytes", st->stop_copy_bytes);
		if (w) {
			json_u64(&j, "chunks", w->nchunks);
			json_u64(&j, "file_bytes", w->file_off);
		}
		json_strf(&j, "seconds", "%.3f", st->seconds);
		json_str(&j, "source_state", st->final_state >= 0 ?
			 cli_state_name(st->final_state) : NULL);
		json_end(&j);
		return;
	}
	cli_bytes_str(total, b, sizeof(b));
	fprintf(f, "%s %s (%" PRIu64 " bytes: precopy %" PRIu64 " in %u rounds, "
		"stop-copy %" PRIu64 ") from %s to %s in %.3f s\n",
		w ? "saved" : "migrated", b, total,
		st->precopy_bytes, st->rounds, st->stop_copy_bytes, dev_name,
		out_name, st->seconds);
}

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

int cmd_save(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "no-precopy", no_argument, NULL, OPT_NO_PRECOPY },
		{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
		{ "run", no_argument, NULL, OPT_RUN },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct save_stats st = { .orig_state = -1, .final_state = -1 };
	struct vfiomig_device *dev = NULL;
	struct stream_writer w = { 0 };
	struct save_out out = { 0 };
	struct stream_hdr h;
	struct progress prog;
	uint64_t flags, dsize = 0;
	const char *name;
	int opt, ret, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hvo:f", opts, NULL)) != -1) {
		ret = parse_xfer_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1)
		return cli_usage(c, "expected one DEVICE");
	name = argv[optind];
	if (!xo.path || !strcmp(xo.path, "-")) {
		if (isatty(STDOUT_FILENO) == 1)
			return cli_usage(c, "refusing to write binary data to a terminal; use -o FILE");
		if (c->json)
			return cli_usage(c, "--json needs -o FILE (stdout carries the data)");
		/* It is /dev/null now: the device's state would be lost. */
		if (c->closed_std & (1u << STDOUT_FILENO)) {
			cli_err(c, "standard output is closed; use -o FILE");
			return EXIT_FAIL;
		}
	}

	cli_trap_signals();
	/* The output first: a refused target leaves the device untouched. */
	if (save_out_open(c, &xo, &out))
		return EXIT_FAIL;
	if (cli_open(c, name, &dev))
		goto out;
	if (get_flags(c, dev, name, &flags))
		goto out;
	if (vfiomig_data_size(dev, &dsize))
		dsize = 0;
	cli_clear_err(c);

	ret = stream_writer_init(&w, fd_write_fn, &out.fd, 0);
	if (ret) {
		cli_err(c, "%s", cli_strerror(ret));
		goto out;
	}
	hdr_from_device(dev, flags, dsize, &h);
	ret = stream_write_header(&w, &h);
	if (ret) {
		cli_err(c, "writing %s: %s", out.name, cli_strerror(ret));
		goto out;
	}

	progress_init(c, &prog, "save");
	prog.expect = dsize;
	ret = save_device(c, dev, name, flags, &xo, stream_sink, &w, &prog, &st);
	if (!ret) {
		ret = stream_write_end(&w);
		if (ret)
			cli_err(c, "writing %s: %s", out.name, cli_strerror(ret));
	}
	/* A signal that came after the last write still means "stop". */
	if (!ret && cli_interrupted) {
		ret = cli_interrupt_err();
		cli_err(c, "writing %s: %s", out.name, cli_strerror(ret));
	}
	if (!ret)
		ret = save_out_commit(c, &out);
	if (ret) {
		progress_done(&prog, false);
		/* The data is out of the device: give the source back. */
		if (st.orig_state >= 0 &&
		    vfiomig_state_get(dev) == VFIOMIG_STATE_STOP_COPY)
			restore_source(c, dev, st.orig_state);
		goto out;
	}
	if (finish_source(c, dev, name, xo.run, &st)) {
		progress_done(&prog, false);
		goto out;
	}
	progress_done(&prog, true);
	print_save_summary(c, name, out.name, &st, &w,
			   out.to_stdout ? stderr : stdout);
	status = EXIT_OK;
out:
	stream_writer_free(&w);
	save_out_abort(c, &out);
	vfiomig_device_free(dev);
	return status;
}

/* ------------------------------------------------------------ load */

/*
 * What a first pass over a regular file verified, so that the second pass,
 * which feeds the device, loads exactly that: the header and the stream
 * CRC after each chunk.  A file changed in between is caught at the
 * header (before the device is touched) or at the first chunk that
 * differs (before it is written).
 */
struct verified {
	struct stream_hdr h;
	uint64_t bytes;
	uint32_t chunks;
	uint32_t *crc;       /* NULL: not recorded (verify only, a pipe) */
	size_t cap;
};

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
	v->crc[r->nchunks - 1] = r->crc;
	return 0;
}

/* Reads the whole stream from fd's offset, checking everything; no
 * device involved.  record: keep what load_matches() compares. */
static int verify_stream(struct cli *c, int fd, const char *what,
			 struct verified *v, bool record)
{
	struct stream_reader r;
	const void *data;
	size_t len;
	int ret;

	stream_reader_init(&r, fd_read_fn, &fd);
	ret = stream_read_header(&r, &v->h);
	while (!ret) {
		ret = stream_read_chunk(&r, &data, &len, NULL);
		if (ret == 0)
			break;
		if (ret == 1)
			ret = record ? record_chunk(v, &r) : 0;
	}
	if (ret)
		cli_err(c, "%s: %s", what, r.err[0] ? r.err : cli_strerror(ret));
	v->bytes = r.data_off;
	v->chunks = r.nchunks;
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
	return !r->nchunks || v->crc[r->nchunks - 1] == r->crc;
}

/* h comes from a file: every string escaped (the parser refuses
 * control bytes already; this is the second line of defence). */
static void print_hdr(const struct stream_hdr *h, uint64_t bytes,
		      uint32_t chunks, bool json)
{
	char kind[96], flags[64];

	kind_str(h, kind, sizeof(kind));
	cli_mig_flags_str(h->mig_flags, flags, sizeof(flags));
	if (json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_strf(&j, "format", "%u.%u", h->version_major, h->version_minor);
		json_str(&j, "source", h->device);
		json_str(&j, "driver", h->driver);
		json_str(&j, "mdev_type", h->kind == STREAM_KIND_MDEV ? h->mdev_type : NULL);
		if (h->kind == STREAM_KIND_PCI) {
			json_begin_obj(&j, "pci");
			json_strf(&j, "vendor", "0x%04x", h->pci_vendor);
			json_strf(&j, "device", "0x%04x", h->pci_device);
			json_strf(&j, "subsystem_vendor", "0x%04x", h->pci_subsystem_vendor);
			json_strf(&j, "subsystem_device", "0x%04x", h->pci_subsystem_device);
			json_strf(&j, "class", "0x%06x", h->pci_class);
			json_end(&j);
		} else {
			json_null(&j, "pci");
		}
		cli_json_mig_flags(&j, "migration", h->mig_flags);
		json_u64(&j, "data_size", h->data_size);
		json_u64(&j, "created", h->created);
		json_str(&j, "lib_version", h->lib_version);
		json_str(&j, "tool_version", h->tool_version);
		json_u64(&j, "bytes", bytes);
		json_u64(&j, "chunks", chunks);
		json_bool(&j, "valid", true);
		json_end(&j);
		return;
	}
	printf("stream format %u.%u: valid\n", h->version_major, h->version_minor);
	printf("  source      %s, a %s\n", h->device[0] ? cli_esc(h->device) : "?",
	       cli_esc(kind));
	printf("  migration   0x%" PRIx64 " (%s)\n", h->mig_flags, flags);
	printf("  data        %" PRIu64 " bytes in %" PRIu32 " chunks (MIG_DATA_SIZE was %" PRIu64 ")\n",
	       bytes, chunks, h->data_size);
	printf("  saved by    libvfiomig %s, vfiomig-ctl %s\n", cli_esc(h->lib_version),
	       cli_esc(h->tool_version));
}

/* On any failure once RESUMING was entered: reset, report the state. */
static void reset_destination(struct cli *c, struct vfiomig_device *dev,
			      const char *name)
{
	int ret, st;

	cli_clear_err(c);
	ret = vfiomig_device_reset(dev);
	st = vfiomig_state_get(dev);
	if (ret)
		cli_err_lib(c, ret, "%s: reset failed; the device is in %s", name,
			    st >= 0 ? cli_state_name(st) : "an unknown state");
	else
		cli_err(c, "%s was reset and is now %s", name,
			st >= 0 ? cli_state_name(st) : "in an unknown state");
}

static int enter_resuming(struct cli *c, struct vfiomig_device *dev,
			  const char *name)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so, .recovery = VFIOMIG_RECOVER_RESET);
	int ret = vfiomig_state_set(dev, VFIOMIG_STATE_RESUMING, &so);

	if (ret)
		cli_err_lib(c, ret, "%s: -> resuming failed", name);
	return ret;
}

static int finish_destination(struct cli *c, struct vfiomig_device *dev,
			      const char *name, int target)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	int ret = vfiomig_load_finish(dev, target, &so);

	if (ret)
		cli_err_lib(c, ret, "%s: the driver refused the data (resuming -> %s)",
			    name, cli_state_name(target));
	return ret;
}

int cmd_load(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "input", required_argument, NULL, 'i' },
		{ "force", no_argument, NULL, 'f' },
		{ "run", no_argument, NULL, OPT_RUN },
		{ "verify-only", no_argument, NULL, OPT_VERIFY_ONLY },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct vfiomig_device *dev = NULL;
	struct stream_reader r = { 0 };
	struct stream_hdr h, mine;
	struct progress prog;
	struct verified v = { 0 };
	struct stat sb;
	uint64_t flags;
	off_t start;
	const char *name = NULL, *what;
	bool from_stdin, resuming = false;
	int opt, ret, fd = -1, status = EXIT_FAIL, target;
	double t0;

	while ((opt = getopt_long(argc, argv, "hvi:f", opts, NULL)) != -1) {
		ret = parse_xfer_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind > 1 || (argc - optind == 0 && !xo.verify_only))
		return cli_usage(c, "expected one DEVICE");
	if (argc - optind == 1)
		name = argv[optind];
	from_stdin = !xo.path || !strcmp(xo.path, "-");
	what = from_stdin ? "stdin" : xo.path;
	if (from_stdin && isatty(STDIN_FILENO) == 1)
		return cli_usage(c, "refusing to read binary data from a terminal; use -i FILE");
	if (from_stdin && (c->closed_std & (1u << STDIN_FILENO))) {
		cli_err(c, "standard input is closed; use -i FILE");
		return EXIT_FAIL;
	}
	target = xo.run ? VFIOMIG_STATE_RUNNING : VFIOMIG_STATE_STOP;

	if (from_stdin) {
		fd = STDIN_FILENO;
	} else {
		fd = open(xo.path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_err(c, "cannot open %s: %s", xo.path, strerror(errno));
			return EXIT_FAIL;
		}
	}
	if (fstat(fd, &sb)) {
		cli_err(c, "fstat %s: %s", what, strerror(errno));
		goto out;
	}
	/* A regular file is checked whole before the device is touched,
	 * from where it stands (stdin may be a file read in part already),
	 * then read again from there to feed the device. */
	if (S_ISREG(sb.st_mode)) {
		start = lseek(fd, 0, SEEK_CUR);
		if (start < 0) {
			cli_err(c, "lseek %s: %s", what, strerror(errno));
			goto out;
		}
		if (verify_stream(c, fd, what, &v, !xo.verify_only)) {
			if (name)
				cli_err(c, "%s was not touched", name);
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
		print_hdr(&v.h, v.bytes, v.chunks, c->json);
		status = EXIT_OK;
		goto out;
	}

	cli_trap_signals();
	if (cli_open(c, name, &dev))
		goto out;
	if (get_flags(c, dev, name, &flags))
		goto out;
	stream_reader_init(&r, fd_read_fn, &fd);
	ret = stream_read_header(&r, &h);
	if (ret) {
		cli_err(c, "%s: %s; %s was not touched", what,
			r.err[0] ? r.err : cli_strerror(ret), name);
		goto out;
	}
	if (v.crc && memcmp(&h, &v.h, sizeof(h))) {
		cli_err(c, "%s changed after it was verified; %s was not touched",
			what, name);
		goto out;
	}
	hdr_from_device(dev, flags, 0, &mine);
	if (check_compat(c, &h, what, &mine, name, xo.force))
		goto out;

	progress_init(c, &prog, "load");
	prog.expect = S_ISREG(sb.st_mode) ? v.bytes : h.data_size;
	t0 = cli_now();
	if (enter_resuming(c, dev, name))
		goto fail;
	resuming = true;
	progress_phase(&prog, "resuming");
	for (;;) {
		const void *data;
		size_t len;

		ret = stream_read_chunk(&r, &data, &len, NULL);
		if (ret < 0) {
			cli_err(c, "%s: %s", what, r.err[0] ? r.err : cli_strerror(ret));
			goto fail;
		}
		if (!load_matches(&v, &r, ret == 0)) {
			cli_err(c, "%s changed after it was verified (chunk %" PRIu32 ")",
				what, r.nchunks);
			goto fail;
		}
		if (ret == 0)
			break;
		ret = cli_interrupted ? -EINTR : cli_load_buf(dev, data, len);
		if (ret) {
			cli_err_lib(c, ret, "%s: writing %zu bytes at stream offset %" PRIu64
				    " failed", name, len, r.data_off - len);
			goto fail;
		}
		prog.bytes += len;
		progress_update(&prog, false);
	}
	if (finish_destination(c, dev, name, target))
		goto fail;
	progress_done(&prog, true);
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", name);
		json_str(&j, "input", what);
		json_str(&j, "source", h.device);
		json_u64(&j, "bytes", r.data_off);
		json_u64(&j, "chunks", r.nchunks);
		json_strf(&j, "seconds", "%.3f", cli_now() - t0);
		json_str(&j, "state", cli_state_name(target));
		json_end(&j);
	} else {
		printf("loaded %" PRIu64 " bytes (%" PRIu32 " chunks) from %s into %s; "
		       "%s is %s\n", r.data_off, r.nchunks, what, name, name,
		       cli_state_name(target));
	}
	status = EXIT_OK;
	goto out;
fail:
	progress_done(&prog, false);
	if (resuming)
		reset_destination(c, dev, name);
out:
	stream_reader_free(&r);
	free(v.crc);
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	vfiomig_device_free(dev);
	return status;
}

/* ------------------------------------------------------------ migrate */

struct dev_sink {
	struct vfiomig_device *dst;
};

static int device_sink(void *arg, const void *buf, size_t len, bool precopy)
{
	struct dev_sink *d = arg;

	(void)precopy;
	return cli_load_buf(d->dst, buf, len);
}

int cmd_migrate(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "force", no_argument, NULL, 'f' },
		{ "no-precopy", no_argument, NULL, OPT_NO_PRECOPY },
		{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
		{ "stop", no_argument, NULL, OPT_STOP },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		CLI_END_OPT,
	};
	struct xfer_opts xo = { 0 };
	struct save_stats st = { .orig_state = -1, .final_state = -1 };
	struct vfiomig_device *src = NULL, *dst = NULL;
	struct stream_hdr hs, hd;
	struct dev_sink sink;
	struct progress prog;
	uint64_t sflags, dflags, dsize = 0;
	const char *sname, *dname;
	int opt, ret, status = EXIT_FAIL;
	bool resuming = false;

	while ((opt = getopt_long(argc, argv, "hvf", opts, NULL)) != -1) {
		ret = parse_xfer_opt(c, opt, &xo);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 2)
		return cli_usage(c, "expected SRC DST");
	sname = argv[optind];
	dname = argv[optind + 1];
	if (!strcmp(sname, dname))
		return cli_usage(c, "SRC and DST are the same device");

	cli_trap_signals();
	if (cli_open(c, sname, &src) || cli_open(c, dname, &dst))
		goto out;
	if (get_flags(c, src, sname, &sflags) || get_flags(c, dst, dname, &dflags))
		goto out;
	if (vfiomig_data_size(src, &dsize))
		dsize = 0;
	cli_clear_err(c);
	hdr_from_device(src, sflags, dsize, &hs);
	hdr_from_device(dst, dflags, 0, &hd);
	if (check_compat(c, &hs, sname, &hd, dname, xo.force))
		goto out;

	progress_init(c, &prog, "migrate");
	prog.expect = dsize;
	if (enter_resuming(c, dst, dname))
		goto fail;
	resuming = true;
	sink.dst = dst;
	ret = save_device(c, src, sname, sflags, &xo, device_sink, &sink, &prog, &st);
	if (ret)
		goto fail;
	ret = finish_destination(c, dst, dname,
				 xo.stop ? VFIOMIG_STATE_STOP : VFIOMIG_STATE_RUNNING);
	if (ret) {
		/* The source still holds the state: give it back. */
		restore_source(c, src, st.orig_state);
		goto fail;
	}
	resuming = false;
	if (finish_source(c, src, sname, false, &st))
		goto fail_done;
	progress_done(&prog, true);
	print_save_summary(c, sname, dname, &st, NULL, stdout);
	if (!c->json)
		printf("%s is %s, %s is %s\n", dname,
		       xo.stop ? "stop" : "running", sname,
		       cli_state_name(st.final_state));
	status = EXIT_OK;
	goto out;
fail:
	progress_done(&prog, false);
	if (resuming)
		reset_destination(c, dst, dname);
	goto out;
fail_done:
	progress_done(&prog, false);
out:
	vfiomig_device_free(dst);
	vfiomig_device_free(src);
	return status;
}
