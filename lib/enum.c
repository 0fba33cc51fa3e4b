// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT int vfiomig_device_enum(struct vfiomig_ctx *ctx, unsigned int flags, vfiomig_enum_fn fn, void *arg)
{
	return -ENOSYS;
}
