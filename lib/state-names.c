// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration state names: pure, so that every room (session.c, state.c,
 * devset.c) may name a state in its messages without calling up.
 */
#include <ctype.h>

#include "internal.h"

static const char *const state_names[VFIOMIG_STATE_NR] = {
	[VFIOMIG_STATE_ERROR] = "error",
	[VFIOMIG_STATE_STOP] = "stop",
	[VFIOMIG_STATE_RUNNING] = "running",
	[VFIOMIG_STATE_STOP_COPY] = "stop-copy",
	[VFIOMIG_STATE_RESUMING] = "resuming",
	[VFIOMIG_STATE_RUNNING_P2P] = "running-p2p",
	[VFIOMIG_STATE_PRE_COPY] = "pre-copy",
	[VFIOMIG_STATE_PRE_COPY_P2P] = "pre-copy-p2p",
};

VFIOMIG_EXPORT const char *vfiomig_state_name(int state)
{
	if (state < 0 || state >= VFIOMIG_STATE_NR)
		return NULL;
	return state_names[state];
}

static bool name_eq(const char *want, const char *s)
{
	for (; *want; want++, s++) {
		char c = *s == '_' ? '-' : (char)tolower((unsigned char)*s);

		if (c != *want)
			return false;
	}
	return *s == '\0';
}

const char *vfm_state_name(int state)
{
	const char *n = vfiomig_state_name(state);

	return n ? n : "?";
}

VFIOMIG_EXPORT int vfiomig_state_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int s = 0; s < VFIOMIG_STATE_NR; s++)
		if (name_eq(state_names[s], name))
			return s;
	return -EINVAL;
}
