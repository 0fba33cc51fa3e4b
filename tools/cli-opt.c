// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: parsing what the user gives: the options every command
 * shares, sizes, state names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_print_usage(const struct cli_cmd *cmd, FILE *f)
{
	if (cmd->help)
		cmd->help(f);
	else
		fprintf(f, "usage: vfiomig-ctl %s", cmd->usage);
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
		/* Before the command, main() prints its own help. */
		if (!c->command)
			return -1;
		cli_print_usage(c->command, stdout);
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

int cli_parse_state(struct cli *c, const char *s)
{
	int st = vfiomig_state_parse(s);

	if (st >= 0)
		return st;
	cli_err(c, "unknown state '%s' (one of: running, stop, stop-copy, "
		   "resuming, running-p2p, pre-copy, pre-copy-p2p)", s);
	return -EINVAL;
}
