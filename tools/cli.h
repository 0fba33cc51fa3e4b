/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfiomig-ctl: what the command files share.  Public libvfiomig API only.
 * main() and the command table are vfiomig-ctl.c's; the helpers below
 * live in cli-opt.c (options, parsing), cli-msg.c (messages), cli-dev.c
 * (context, devices), cli-fmt.c (formatting), cli-signal.c (signals) and
 * progress.c.
 */
#ifndef VFM_CLI_H
#define VFM_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vfiomig.h"
#include "json.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* A transfer or state change failed after devices moved, and every device
 * was brought back: sources where they started, destinations reset. */
#define EXIT_ROLLED_BACK 3
/* ... and at least one device could not be: messages name its state. */
#define EXIT_STRANDED 4

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The migration flags this tool knows the meaning of (the others are
 * shown as a number). */
#define CLI_MIG_KNOWN                                                          \
	((uint64_t)(VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY))

struct cli_cmd;

struct cli {
	const char *cmd;          /* command being run */
	const struct cli_cmd *command; /* ... its entry (NULL before) */
	const char *sysfs_root;   /* NULL: library default */
	const char *dev_root;
	int verbose;
	bool json;
	int iommu;                /* enum vfiomig_iommu_path for opens */
	bool progress;            /* --progress: lines even without a tty */
	struct vfiomig_ctx *ctx;
	char last_err[512];       /* last library error message */
	unsigned int closed_std;  /* bit N: fd N was closed at start (now /dev/null) */
};

/* Long option ids shared by every command (values past any char). */
enum {
	OPT_HELP = 'h',
	OPT_VERBOSE = 'v',
	OPT_JSON = 0x100,
	OPT_SYSFS_ROOT,
	OPT_DEV_ROOT,
	OPT_IOMMU,
	OPT_FIRST_CMD = 0x200, /* commands number their own from here */
};

#define CLI_COMMON_OPTS                                                        \
	{ "help", no_argument, NULL, OPT_HELP },                               \
	{ "verbose", no_argument, NULL, OPT_VERBOSE },                         \
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },             \
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT }
#define CLI_JSON_OPT { "json", no_argument, NULL, OPT_JSON }
#define CLI_IOMMU_OPT { "iommu", required_argument, NULL, OPT_IOMMU }
#define CLI_END_OPT { NULL, 0, NULL, 0 }

/* Commands: argv[0] is the command name; return an EXIT_* code. */
struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *summary;
	const char *usage;   /* full --help text (after "usage: vfiomig-ctl ") */
	bool hidden;         /* not listed in the main help */
	/* Prints the whole --help text instead of usage (a text made from
	 * a table); NULL: usage. */
	void (*help)(FILE *f);
};
/* cli-opt.c: a command's --help text. */
void cli_print_usage(const struct cli_cmd *cmd, FILE *f);

int cmd_list(struct cli *c, int argc, char **argv);
int cmd_probe(struct cli *c, int argc, char **argv);
int cmd_state(struct cli *c, int argc, char **argv);
int cmd_save(struct cli *c, int argc, char **argv);
int cmd_load(struct cli *c, int argc, char **argv);
int cmd_migrate(struct cli *c, int argc, char **argv);
int cmd_dirty(struct cli *c, int argc, char **argv);
int cmd_conform(struct cli *c, int argc, char **argv);
int cmd_devlink(struct cli *c, int argc, char **argv);
int cmd_region(struct cli *c, int argc, char **argv);

extern const char usage_list[], usage_probe[], usage_state[], usage_save[],
	usage_load[], usage_migrate[], usage_dirty[], usage_devlink[],
	usage_region[];
void help_conform(FILE *f);

/*
 * cli-opt.c: handles a shared option inside a command's getopt loop: returns -1 if
 * opt is not shared, else an EXIT_* code to return now (help, bad value)
 * or -2 to go on.
 */
int cli_common_opt(struct cli *c, int opt, const char *arg);
/* cli-msg.c: prints "vfiomig-ctl: CMD: msg" and the "Try --help" hint;
 * EXIT_USAGE. */
int cli_usage(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints "vfiomig-ctl: CMD: msg" on stderr. */
void cli_err(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Same, then ": strerror(-err)" and the library's last error message. */
void cli_err_lib(struct cli *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cli_warn(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Room for an escaped string (cli_esc) and one escaped message. */
#define CLI_ESC_MAX 4096
/* s (untrusted: a stream header's, sysfs's) escaped for a terminal with
 * term_escape(); valid until 8 more calls.  Messages through cli_err and
 * friends are escaped already. */
const char *cli_esc(const char *s);
/* Forget the library's last error message (after an expected failure). */
void cli_clear_err(struct cli *c);
/* strerror for a negative errno; ENOSYS reads "not implemented ...". */
const char *cli_strerror(int err);
/* Errno name ("ENOTTY") for a negative or positive errno. */
const char *cli_errname(int err);

/* cli-dev.c: the context, created on first use (roots, log function). */
struct vfiomig_ctx *cli_ctx(struct cli *c);
/* Opens a device with the --iommu choice; -EBUSY for a device in use by
 * another process on either path.  Prints nothing. */
int cli_try_open(struct cli *c, const char *name, struct vfiomig_device **devp);
/* The same, printing the error. */
int cli_open(struct cli *c, const char *name, struct vfiomig_device **devp);
/* Writes all of buf into dev's RESUMING session (0, or -EIO if short). */
int cli_load_buf(struct vfiomig_device *dev, const void *buf, size_t len);

/* cli-signal.c: SIGINT/SIGTERM/SIGHUP and SIGXFSZ (a file size limit) set
 * cli_interrupted instead of killing the process, so that a transfer can
 * remove its temporary file and put its devices back first; SIGPIPE is
 * ignored (writes fail with EPIPE, an error like any other).  A second
 * SIGINT/SIGTERM/SIGHUP is obeyed at once, after removing the file named
 * by cli_remove_on_signal().  For save, load and migrate. */
extern volatile sig_atomic_t cli_interrupted;
void cli_trap_signals(void);
/* The temporary file to remove if a second signal kills the process
 * (NULL: none); path is copied. */
void cli_remove_on_signal(const char *path);
/* The error a transfer stopped by cli_interrupted stands for: -EFBIG
 * for SIGXFSZ, else -EINTR. */
int cli_interrupt_err(void);

/* cli-opt.c: parsing. */
int cli_parse_u64(const char *s, uint64_t *v);       /* 0x.., K/M/G/T */
int cli_parse_state(struct cli *c, const char *s);   /* prints on error */
/* cli-fmt.c: formatting. */
const char *cli_state_name(int state);               /* never NULL */
/* vfiomig_device_protocol()'s answer: "v2", "v1", "none" (NULL for an
 * error); what it is, for a human. */
const char *cli_proto_name(int proto);
const char *cli_proto_what(int proto);
const char *cli_iommu_name(int path);
void cli_mig_flags_str(uint64_t flags, char *buf, size_t len);
void cli_bytes_str(uint64_t n, char *buf, size_t len); /* "1.5 MiB" */
void cli_json_mig_flags(struct json *j, const char *key, uint64_t flags);
/* A device's identity for list/probe output. */
void cli_json_identity(struct json *j, struct vfiomig_device *dev);

/* progress.c: progress display on stderr: a bar on a terminal, lines with
 * --progress, nothing otherwise. */
struct progress {
	bool tty, lines, active;
	const char *label;
	const char *phase;
	uint64_t bytes;          /* moved so far */
	uint64_t expect;         /* total expected, 0 = unknown */
	uint64_t initial, dirty; /* precopy counters */
	unsigned int round;
	double start, last;
	size_t width;            /* of the last bar drawn */
	bool printed;            /* what the last line showed */
	uint64_t printed_bytes;
	unsigned int printed_round;
	const char *printed_phase;
};
double cli_now(void);
void progress_init(struct cli *c, struct progress *p, const char *label);
void progress_phase(struct progress *p, const char *phase);
void progress_update(struct progress *p, bool force);
void progress_done(struct progress *p, bool ok);

#endif
