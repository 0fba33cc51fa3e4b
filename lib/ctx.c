// SPDX-License-Identifier: LGPL-2.1-or-later
/* Library context: log function, sysfs and /dev roots; version; options. */
#include <stdarg.h>
#include <stdlib.h>

#include "internal.h"

VFIOMIG_EXPORT const char *vfiomig_version(unsigned int *major,
					   unsigned int *minor,
					   unsigned int *micro)
{
	if (major)
		*major = VFIOMIG_VERSION_MAJOR;
	if (minor)
		*minor = VFIOMIG_VERSION_MINOR;
	if (micro)
		*micro = VFIOMIG_VERSION_MICRO;
	return PACKAGE_VERSION;
}

int vfm_opts_check(const void *opts, size_t user_sz, size_t known_sz)
{
	const unsigned char *p = opts;

	if (user_sz < sizeof(size_t))
		return -EINVAL;
	/* A newer caller's extra fields must be unset: we cannot honour them. */
	for (size_t i = known_sz; i < user_sz; i++)
		if (p[i])
			return -E2BIG;
	return 0;
}

void vfiomig_log(const struct vfiomig_ctx *ctx, int priority, const char *file,
		 int line, const char *fn, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}

VFIOMIG_EXPORT int vfiomig_ctx_new(const struct vfiomig_ctx_opts *opts,
				   struct vfiomig_ctx **ctxp)
{
	const char *sys = OPTS_GET(opts, sysfs_root, NULL);
	const char *dev = OPTS_GET(opts, dev_root, NULL);
	struct vfiomig_ctx *ctx;
	int ret;

	if (!ctxp)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_ctx_opts);
	if (ret)
		return ret;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (pthread_mutex_init(&ctx->iommus_lock, NULL)) {
		free(ctx);
		return -ENOMEM;
	}
	ctx->log_priority = LOG_ERR;
	ctx->sysfs_root = strdup(sys ? sys : "/sys");
	ctx->dev_root = strdup(dev ? dev : "/dev");
	if (!ctx->sysfs_root || !ctx->dev_root) {
		vfiomig_ctx_free(ctx);
		return -ENOMEM;
	}
	*ctxp = ctx;
	return 0;
}

VFIOMIG_EXPORT void vfiomig_ctx_free(struct vfiomig_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->sysfs_root);
	free(ctx->dev_root);
	pthread_mutex_destroy(&ctx->iommus_lock);
	free(ctx);
}

VFIOMIG_EXPORT void vfiomig_ctx_set_log_fn(struct vfiomig_ctx *ctx,
					   vfiomig_log_fn fn, void *data)
{
	if (!ctx)
		return;
	ctx->log_fn = fn;
	ctx->log_data = data;
}

VFIOMIG_EXPORT void vfiomig_ctx_set_log_priority(struct vfiomig_ctx *ctx,
						 int priority)
{
	if (ctx)
		ctx->log_priority = priority;
}

VFIOMIG_EXPORT int vfiomig_ctx_get_log_priority(const struct vfiomig_ctx *ctx)
{
	return ctx ? ctx->log_priority : -EINVAL;
}
