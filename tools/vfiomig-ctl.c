// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: drive VFIO device migration from the command line.
 * main(), the command table, global options, and helpers shared by the
 * command files (cmd-*.c).  Uses only the public libvfiomig API.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"
#include "term.h"

static const char usage_main[] =
	"vfiomig-ctl [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
	"\n"
	"Drive VFIO device live migration (libvfiomig).\n"
	"\n"
	"Global options (also accepted after the command):\n"
	"  -v, --verbose        show the library's log on stderr (-vv: debug)\n"
	"      --sysfs-root DIR sysfs root (default /sys; env VFIOMIG_SYSFS_ROOT)\n"
	"      --dev-root DIR   /dev root (default /dev; env VFIOMIG_DEV_ROOT)\n"
	"  -h, --help           this help; COMMAND --help for a command's\n"
	"  -V, --version        versions of the tool and the library\n"
	"\n"
	"Commands:\n";

static const struct cli_cmd commands[] = {
	{ "list", cmd_list, "list the VFIO devices of the host", usage_list, false },
	{ "probe", cmd_probe, "show what the library can learn about a device", usage_probe, false },
	{ "state", cmd_state, "print or set a device's migration state", usage_state, false },
	{ "save", cmd_save, "save a device's migration data to a stream file", usage_save, false },
	{ "load", cmd_load, "load a stream file into a device", usage_load, false },
	{ "migrate", cmd_migrate, "migrate one device's state into another", usage_migrate, false },
	{ "dirty", cmd_dirty, "exercise dirty page tracking", usage_dirty, false },
	{ "conform", cmd_conform, "check a driver's migration support", usage_conform, false },
	{ "devlink", cmd_devlink, "show or set a devlink port function's migratable cap", usage_devlink, false },
	{ "region", cmd_region, "list the regions of a device, read or write a byte of one (debug)", usage_region, true },
};

static void print_help(FILE *f);

#ifndef HAVE_LIBNL
const char usage_devlink[] =
	"devlink PORT [migratable on|off]\n"
	"\n"
	"Not available: this vfiomig-ctl was built without libnl-genl-3\n"
	"(configure --without-libnl, or the library was not found).\n";

int cmd_devlink(struct cli *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: vfiomig-ctl %s", usage_devlink);
			return EXIT_OK;
		}
	cli_err(c, "not available: vfiomig-ctl was built without libnl-genl-3");
	return EXIT_FAIL;
}
#endif

/* ------------------------------------------------------------ text */

/* Messages quote device names, sysfs paths and the library's words about
 * them: one line, escaped, whatever they hold. */
static void put_escaped(FILE *f, const char *s)
{
	char buf[CLI_ESC_MAX];

	fputs(term_escape(s, buf, sizeof(buf)), f);
}

const char *cli_esc(const char *s)
{
	/* A few live at once: one printf may show several strings. */
	static char ring[8][CLI_ESC_MAX];
	static unsigned int next;
	char *buf = ring[next++ % ARRAY_SIZE(ring)];

	return term_escape(s, buf, CLI_ESC_MAX);
}

/* ------------------------------------------------------------ errors */

/* "vfiomig-ctl: CMD: [what]MESSAGE[: strerror][ (library)]\n", escaped.
 * Checked like printf by every compiler (clang warns on a non-literal
 * format without it). */
__attribute__((format(printf, 4, 0)))
static void vmsg(struct cli *c, const char *what, int err, const char *fmt,
		 va_list ap)
{
	char msg[CLI_ESC_MAX / 4];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", cli_strerror(err));
		/* The library's own words, unless -v already showed them. */
		n = strlen(msg);
		if (c->last_err[0] && !c->verbose)
			snprintf(msg + n, sizeof(msg) - n, " (%s)", c->last_err);
	}
	fprintf(stderr, "vfiomig-ctl: %s%s%s", c->cmd ? c->cmd : "",
		c->cmd ? ": " : "", what);
	put_escaped(stderr, msg);
	fputc('\n', stderr);
}

void cli_err(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, "", 0, fmt, ap);
	va_end(ap);
}

void cli_warn(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, "warning: ", 0, fmt, ap);
	va_end(ap);
}

void cli_err_lib(struct cli *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, "", err ? err : -EIO, fmt, ap);
	va_end(ap);
	cli_clear_err(c);
}

void cli_clear_err(struct cli *c)
{
	c->last_err[0] = 0;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(c, "", 0, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'vfiomig-ctl %s%s--help' for more information.\n",
		c->cmd ? c->cmd : "", c->cmd ? " " : "");
	return EXIT_USAGE;
}

const char *cli_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == ENOSYS)
		return "not implemented by this libvfiomig";
	return strerror(err);
}

const char *cli_errname(int err)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EIO, "EIO" },
		{ EBADF, "EBADF" }, { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" },
		{ EACCES, "EACCES" }, { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" },
		{ EEXIST, "EEXIST" }, { ENODEV, "ENODEV" }, { EINVAL, "EINVAL" },
		{ ENOTTY, "ENOTTY" }, { ENOSPC, "ENOSPC" }, { ESPIPE, "ESPIPE" },
		{ E2BIG, "E2BIG" }, { ENOSYS, "ENOSYS" }, { ENOMSG, "ENOMSG" },
		{ ENODATA, "ENODATA" }, { EOVERFLOW, "EOVERFLOW" },
		{ EBADFD, "EBADFD" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ EBADMSG, "EBADMSG" }, { EPROTO, "EPROTO" }, { EPIPE, "EPIPE" },
	};
	static char buf[24];

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].e == err)
			return names[i].n;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* ------------------------------------------------------------ context */

__attribute__((format(printf, 6, 0)))
static void log_fn(void *data, int priority, const char *file, int line,
		   const char *fn, const char *format, va_list args)
{
	struct cli *c = data;
	char msg[CLI_ESC_MAX / 4];

	if (priority <= LOG_ERR) {
		va_list aq;

		va_copy(aq, args);
		vsnprintf(c->last_err, sizeof(c->last_err), format, aq);
		va_end(aq);
		/* One line: the library may end messages with \n. */
		c->last_err[strcspn(c->last_err, "\n")] = 0;
	}
	if (!c->verbose)
		return;
	if (c->verbose > 1)
		fprintf(stderr, "libvfiomig: %s:%d %s: ", file, line, fn);
	else
		fprintf(stderr, "libvfiomig: %s: ", fn);
	vsnprintf(msg, sizeof(msg), format, args);
	msg[strcspn(msg, "\n")] = 0;
	put_escaped(stderr, msg);
	fputc('\n', stderr);
}

struct vfiomig_ctx *cli_ctx(struct cli *c)
{
	VFIOMIG_OPTS(vfiomig_ctx_opts, o, .sysfs_root = c->sysfs_root,
		     .dev_root = c->dev_root);
	int ret;

	if (c->ctx)
		return c->ctx;
	ret = vfiomig_ctx_new(&o, &c->ctx);
	if (ret) {
		cli_err_lib(c, ret, "cannot create a libvfiomig context");
		c->ctx = NULL;
		return NULL;
	}
	vfiomig_ctx_set_log_fn(c->ctx, log_fn, c);
	vfiomig_ctx_set_log_priority(c->ctx, c->verbose > 1 ? LOG_DEBUG :
					     c->verbose ? LOG_INFO : LOG_ERR);
	return c->ctx;
}

int cli_try_open(struct cli *c, const char *name, struct vfiomig_device **devp)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = c->iommu);
	struct vfiomig_ctx *ctx = cli_ctx(c);
	int ret;

	*devp = NULL;
	if (!ctx)
		return -ENOMEM;
	cli_clear_err(c);
	ret = vfiomig_device_open(ctx, name, &o, devp);
	if (ret)
		*devp = NULL;
	return ret;
}

int cli_open(struct cli *c, const char *name, struct vfiomig_device **devp)
{
	int ret = cli_try_open(c, name, devp);

	if (ret == -EBUSY)
		cli_err(c, "cannot open %s: %s (in use by another process)", name,
			cli_strerror(ret));
	else if (ret)
		cli_err_lib(c, ret, "cannot open %s", name);
	return ret;
}

int cli_common_opt(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_VERBOSE:
		c->verbose++;
		return -2;
	case OPT_JSON:
		c->json = true;
		return -2;
	case OPT_SYSFS_ROOT:
		c->sysfs_root = arg;
		return -2;
	case OPT_DEV_ROOT:
		c->dev_root = arg;
		return -2;
	case OPT_IOMMU:
		if (!strcmp(arg, "auto"))
			c->iommu = VFIOMIG_IOMMU_AUTO;
		else if (!strcmp(arg, "iommufd"))
			c->iommu = VFIOMIG_IOMMU_IOMMUFD;
		else if (!strcmp(arg, "type1"))
			c->iommu = VFIOMIG_IOMMU_TYPE1;
		else
			return cli_usage(c, "--iommu: '%s' is not auto, iommufd or type1",
					 arg);
		return -2;
	case OPT_HELP:
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			if (c->cmd && !strcmp(c->cmd, commands[i].name)) {
				printf("usage: vfiomig-ctl %s", commands[i].usage);
				return EXIT_OK;
			}
		print_help(stdout);
		return EXIT_OK;
	case '?':
		/* getopt printed the problem. */
		fprintf(stderr, "Try 'vfiomig-ctl %s%s--help' for more information.\n",
			c->cmd ? c->cmd : "", c->cmd ? " " : "");
		return EXIT_USAGE;
	case ':':
		return cli_usage(c, "option needs an argument");
	}
	return -1;
}

int cli_load_buf(struct vfiomig_device *dev, const void *buf, size_t len)
{
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = (void *)buf,
		     .len = len);
	int64_t n = vfiomig_load(dev, &io, 0);

	if (n < 0)
		return (int)n;
	return (uint64_t)n == len ? 0 : -EIO;
}

/* ------------------------------------------------------------ signals */

volatile sig_atomic_t cli_interrupted;
/* The handler's own copy: the caller's string may be freed under it. */
static char remove_path[PATH_MAX];
static volatile sig_atomic_t remove_set;

static void on_signal(int sig)
{
	int saved = errno;

	/* A file size limit is our own write's doing: the write fails with
	 * EFBIG and the transfer ends as on any error, once. */
	if (sig == SIGXFSZ) {
		if (!cli_interrupted)
			cli_interrupted = sig;
		errno = saved;
		return;
	}
	/* A second one is obeyed at once, leaving no temporary behind. */
	if (cli_interrupted && cli_interrupted != SIGXFSZ) {
		if (remove_set)
			unlink(remove_path);
		signal(sig, SIG_DFL);
		raise(sig);
	}
	cli_interrupted = sig;
	errno = saved;
}

void cli_trap_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocking read or write returns EINTR.  Every
	 * trapped signal blocked in the handler: one at a time. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaddset(&sa.sa_mask, SIGXFSZ);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void cli_remove_on_signal(const char *path)
{
	remove_set = 0;
	if (path && strlen(path) < sizeof(remove_path)) {
		strcpy(remove_path, path);
		remove_set = 1;
	}
}

int cli_interrupt_err(void)
{
	return cli_interrupted == SIGXFSZ ? -EFBIG : -EINTR;
}

/* ------------------------------------------------------------ parsing */

int cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;
	unsigned int shift = 0;

	/* strtoull() skips blanks and takes a sign: " -5" would be 2^64-5. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 0:
		break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' && shift)
		end++;
	if (*end == 'B' && shift)
		end++;
	if (*end)
		return -EINVAL;
	if (shift && x > (UINT64_MAX >> shift))
		return -ERANGE;
	*v = (uint64_t)x << shift;
	return 0;
}

const char *cli_state_name(int state)
{
	const char *n = vfiomig_state_name(state);
	static char buf[24];

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "state-%d", state);
	return buf;
}

int cli_parse_state(struct cli *c, const char *s)
{
	int st = vfiomig_state_parse(s);

	if (st >= 0)
		return st;
	cli_err(c, "unknown state '%s' (one of: running, stop, stop-copy, "
		   "resuming, running-p2p, pre-copy, pre-copy-p2p)", s);
	return -EINVAL;
}

const char *cli_iommu_name(int path)
{
	switch (path) {
	case VFIOMIG_IOMMU_AUTO: return "auto";
	case VFIOMIG_IOMMU_IOMMUFD: return "iommufd";
	case VFIOMIG_IOMMU_TYPE1: return "type1";
	case VFIOMIG_IOMMU_NONE: return "none";
	}
	return "unknown";
}

void cli_mig_flags_str(uint64_t flags, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	if (flags & VFIOMIG_MIG_STOP_COPY)
		n += (size_t)snprintf(buf + n, len - n, "%sstop-copy", n ? "," : "");
	if ((flags & VFIOMIG_MIG_P2P) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%sp2p", n ? "," : "");
	if ((flags & VFIOMIG_MIG_PRE_COPY) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%spre-copy", n ? "," : "");
	if ((flags & ~(uint64_t)7) && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s0x%" PRIx64, n ? "," : "",
				      flags & ~(uint64_t)7);
	if (!n)
		snprintf(buf, len, "none");
}

void cli_json_mig_flags(struct json *j, const char *key, uint64_t flags)
{
	json_begin_obj(j, key);
	json_u64(j, "value", flags);
	json_bool(j, "stop_copy", flags & VFIOMIG_MIG_STOP_COPY);
	json_bool(j, "p2p", flags & VFIOMIG_MIG_P2P);
	json_bool(j, "pre_copy", flags & VFIOMIG_MIG_PRE_COPY);
	json_end(j);
}

void cli_bytes_str(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void cli_json_identity(struct json *j, struct vfiomig_device *dev)
{
	struct vfiomig_pci_ids ids;

	json_str(j, "name", vfiomig_device_name(dev));
	json_str(j, "sysfs_path", vfiomig_device_sysfs_path(dev));
	json_str(j, "driver", vfiomig_device_driver(dev));
	json_str(j, "mdev_type", vfiomig_device_mdev_type(dev));
	if (vfiomig_device_pci_ids(dev, &ids) == 0) {
		json_begin_obj(j, "pci");
		json_strf(j, "vendor", "0x%04x", ids.vendor);
		json_strf(j, "device", "0x%04x", ids.device);
		json_strf(j, "subsystem_vendor", "0x%04x", ids.subsystem_vendor);
		json_strf(j, "subsystem_device", "0x%04x", ids.subsystem_device);
		json_strf(j, "class", "0x%06x", ids.class_code);
		json_end(j);
	} else {
		json_null(j, "pci");
	}
}

/* ------------------------------------------------------------ progress */

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct cli *c, struct progress *p, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO) == 1;
	p->lines = !p->tty && c->progress;
	p->active = p->tty || p->lines;
	p->label = label;
	p->start = p->last = cli_now();
}

void progress_phase(struct progress *p, const char *phase)
{
	if (p->phase && p->phase != phase)
		progress_update(p, true);
	p->phase = phase;
	progress_update(p, true);
}

void progress_update(struct progress *p, bool force)
{
	double now = cli_now(), dt, pct;
	char b[32], r[32], ini[32], dir[32], bar[32] = "", line[256];

	if (!p->active)
		return;
	if (!force && now - p->last < (p->tty ? 0.1 : 1.0))
		return;
	/* Lines: one per change, not one per call. */
	if (p->lines && p->printed && p->bytes == p->printed_bytes &&
	    p->round == p->printed_round && p->phase == p->printed_phase)
		return;
	p->printed = true;
	p->printed_bytes = p->bytes;
	p->printed_round = p->round;
	p->printed_phase = p->phase;
	p->last = now;
	dt = now - p->start;
	cli_bytes_str(p->bytes, b, sizeof(b));
	cli_bytes_str(dt > 0.001 ? (uint64_t)((double)p->bytes / dt) : 0, r,
		      sizeof(r));
	cli_bytes_str(p->initial, ini, sizeof(ini));
	cli_bytes_str(p->dirty, dir, sizeof(dir));
	pct = !p->expect ? 0 : p->bytes >= p->expect ? 100.0 :
	      100.0 * (double)p->bytes / (double)p->expect;

	if (!p->tty) {
		int n = snprintf(line, sizeof(line), "%s: %s %s, %s/s", p->label,
				 p->phase ? p->phase : "", b, r);

		if (p->round && n > 0 && (size_t)n < sizeof(line))
			n += snprintf(line + n, sizeof(line) - (size_t)n,
				      ", precopy round %u, initial %s, dirty %s",
				      p->round, ini, dir);
		if (p->expect && n > 0 && (size_t)n < sizeof(line))
			snprintf(line + n, sizeof(line) - (size_t)n, " (%.0f%% of %" PRIu64 ")",
				 pct, p->expect);
		fprintf(stderr, "%s\n", line);
	} else {
		struct winsize ws;
		size_t cols = 80, len;

		if (!ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 20)
			cols = ws.ws_col;
		/* [=========>          ]  45% when the total is known. */
		if (p->expect) {
			size_t fill = (size_t)(pct / 5);

			bar[0] = '[';
			for (size_t i = 0; i < 20; i++)
				bar[1 + i] = i < fill ? '=' : i == fill ? '>' : ' ';
			snprintf(bar + 21, sizeof(bar) - 21, "] %3.0f%% ", pct);
		}
		snprintf(line, sizeof(line), "%s%s %s %s %s/s", bar, p->label,
			 p->phase ? p->phase : "", b, r);
		if (p->round) {
			len = strlen(line);
			snprintf(line + len, sizeof(line) - len,
				 "  round %u: initial %s dirty %s", p->round, ini, dir);
		}
		/* Never wrap: the next \r must land on this line. */
		if (strlen(line) > cols - 1)
			line[cols - 1] = 0;
		len = strlen(line);
		fprintf(stderr, "\r%s", line);
		for (size_t i = len; i < p->width; i++)
			fputc(' ', stderr);
		p->width = len;
	}
	fflush(stderr);
}

void progress_done(struct progress *p, bool ok)
{
	if (!p->active)
		return;
	progress_phase(p, ok ? "done" : "failed");
	if (p->tty)
		fputc('\n', stderr);
	p->active = false;
}

/* ------------------------------------------------------------ main */

static void print_version(void)
{
	unsigned int ma, mi, mc;
	const char *v = vfiomig_version(&ma, &mi, &mc);

	printf("vfiomig-ctl %s\nlibvfiomig %s (API %u.%u.%u)\n", PACKAGE_VERSION,
	       v ? v : "?", ma, mi, mc);
}

static void print_help(FILE *f)
{
	fputs("usage: ", f);
	fputs(usage_main, f);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!commands[i].hidden)
			fprintf(f, "  %-10s %s\n", commands[i].name,
				commands[i].summary);
	fputs("\nExit status: 0 success, 1 operation failed (no device moved),\n"
	      "2 usage error, 3 failed and rolled back (every device back where it\n"
	      "was, destinations reset), 4 failed and a device is not back.\n"
	      "See vfiomig-ctl(1).\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS,
		CLI_JSON_OPT,
		{ "version", no_argument, NULL, 'V' },
		CLI_END_OPT,
	};
	struct cli c = { .sysfs_root = getenv("VFIOMIG_SYSFS_ROOT"),
			 .dev_root = getenv("VFIOMIG_DEV_ROOT") };
	const struct cli_cmd *cmd = NULL;
	static char argv0[64];
	int opt, ret;

	/* Before anything is opened: a device fd must never land on 0-2,
	 * where a write meant for stdout would go into the device. */
	ret = std_fds_ensure("/dev/null", &c.closed_std);
	if (ret) {
		/* Write even to a closed stderr: at worst EBADF. */
		static const char msg[] = "vfiomig-ctl: fds 0-2 are not all open "
					  "and /dev/null cannot take their place\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			return EXIT_FAIL;
		return EXIT_FAIL;
	}
	if (c.sysfs_root && !*c.sysfs_root)
		c.sysfs_root = NULL;
	if (c.dev_root && !*c.dev_root)
		c.dev_root = NULL;
	/* '+': stop at the command; it parses its own options. */
	while ((opt = getopt_long(argc, argv, "+hvV", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_HELP:
			print_help(stdout);
			return EXIT_OK;
		case 'V':
			print_version();
			return EXIT_OK;
		default:
			ret = cli_common_opt(&c, opt, optarg);
			if (ret == -2)
				break;
			if (ret == -1) {
				fprintf(stderr, "Try 'vfiomig-ctl --help' for more information.\n");
				return EXIT_USAGE;
			}
			return ret;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vfiomig-ctl: no command given\n");
		print_help(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[optind], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "vfiomig-ctl: unknown command '%s'\n"
			"Try 'vfiomig-ctl --help' for more information.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	c.cmd = cmd->name;
	argc -= optind;
	argv += optind;
	/* getopt names the program in its messages: "vfiomig-ctl CMD". */
	snprintf(argv0, sizeof(argv0), "vfiomig-ctl %s", cmd->name);
	argv[0] = argv0;
	optind = 0; /* full getopt re-initialisation for the command */
	ret = cmd->run(&c, argc, argv);
	vfiomig_ctx_free(c.ctx);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "vfiomig-ctl: error writing output: %s\n",
			strerror(errno));
		if (ret == EXIT_OK)
			ret = EXIT_FAIL;
	}
	return ret;
}
