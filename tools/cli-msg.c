// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: messages on stderr ("vfiomig-ctl: CMD: ..."), escaped for
 * a terminal, with the library's last error; errno names.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "term.h"

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
