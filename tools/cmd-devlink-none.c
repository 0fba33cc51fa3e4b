// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl devlink without libnl-genl-3: the command is there, says
 * why it cannot work, and still answers --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
