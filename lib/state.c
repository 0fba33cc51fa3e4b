// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

VFIOMIG_EXPORT const char *vfiomig_state_name(int state)
{
	return NULL;
}

VFIOMIG_EXPORT int vfiomig_state_parse(const char *name)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_state_plan(int cur, int target, uint64_t migration_flags, int *path, size_t max)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT bool vfiomig_arc_opens_session(int from, int to)
{
	return false;
}

VFIOMIG_EXPORT int vfiomig_state_get(struct vfiomig_device *dev)
{
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_state_set(struct vfiomig_device *dev, int target, struct vfiomig_set_opts *opts)
{
	return -ENOSYS;
}
