// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: progress of a transfer on stderr: a bar on a terminal,
 * lines with --progress, nothing otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

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
