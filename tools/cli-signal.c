// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: signals during a transfer (cli.h): the first stops it
 * cleanly, a second is obeyed at once, leaving no temporary file.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
