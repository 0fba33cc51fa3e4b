/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test suites' own statement of which arcs open and end a data
 * session (contract 4.3), for the kernel-facing cases (kcase-mig.c,
 * kcase-session.c), which check the library against it on both kernels.
 */
#ifndef MIG_ORACLE_H
#define MIG_ORACLE_H

#include <stdbool.h>

#include "vfiomig.h"

/* The arcs that end a session: leaving the saving group or RESUMING. */
static inline bool oracle_arc_ends_session(int from, int to)
{
	return (from == VFIOMIG_STATE_PRE_COPY && to == VFIOMIG_STATE_RUNNING) ||
	       (from == VFIOMIG_STATE_PRE_COPY_P2P &&
		to == VFIOMIG_STATE_RUNNING_P2P) ||
	       (from == VFIOMIG_STATE_STOP_COPY && to == VFIOMIG_STATE_STOP) ||
	       (from == VFIOMIG_STATE_RESUMING && to == VFIOMIG_STATE_STOP);
}

/*
 * Walk path[0..n) from cur with a session open before (open_before):
 * returns whether one is open at the end; *opened says whether an arc on
 * the way created a new one.
 */
static inline bool oracle_session_after(int cur, const int *path, int n,
					bool open_before, bool *opened)
{
	bool open_ = open_before;

	*opened = false;
	for (int i = 0; i < n; i++) {
		int from = i ? path[i - 1] : cur;

		if (oracle_arc_ends_session(from, path[i]))
			open_ = false;
		if (vfiomig_arc_opens_session(from, path[i]))
			open_ = *opened = true;
	}
	return open_;
}

#endif
