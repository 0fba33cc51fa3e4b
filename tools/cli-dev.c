// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: the library context (roots, its log on stderr with -v, its
 * last error kept for messages) and opening devices through it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "cli.h"

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
	fputs(cli_esc(msg), stderr);
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

int cli_load_buf(struct vfiomig_device *dev, const void *buf, size_t len)
{
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = (void *)buf,
		     .len = len);
	int64_t n = vfiomig_load(dev, &io, 0);

	if (n < 0)
		return (int)n;
	return (uint64_t)n == len ? 0 : -EIO;
}
