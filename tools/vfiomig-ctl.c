// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: drive VFIO device migration from the command line.
 * main(), the command table and the global options.  The helpers the
 * command files (cmd-*.c) share are in cli-*.c and progress.c (cli.h).
 * Uses only the public libvfiomig API.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"

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
	{ "list", cmd_list, "list the VFIO devices of the host", usage_list, false, NULL },
	{ "probe", cmd_probe, "show what the library can learn about a device", usage_probe, false, NULL },
	{ "state", cmd_state, "print or set a device's migration state", usage_state, false, NULL },
	{ "save", cmd_save, "save a device's migration data to a stream file", usage_save, false, NULL },
	{ "load", cmd_load, "load a stream file into a device", usage_load, false, NULL },
	{ "migrate", cmd_migrate, "migrate one device's state into another", usage_migrate, false, NULL },
	{ "dirty", cmd_dirty, "exercise dirty page tracking", usage_dirty, false, NULL },
	{ "conform", cmd_conform, "check a driver's migration support", NULL, false, help_conform },
	{ "devlink", cmd_devlink, "show or set a devlink port function's migratable cap", usage_devlink, false, NULL },
	{ "region", cmd_region, "list the regions of a device, read or write a byte of one (debug)", usage_region, true, NULL },
};

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
	c.command = cmd;
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
