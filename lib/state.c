// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration v2 state machine: state names, path planning, get/set with a
 * failure pinned to an arc, recovery.
 *
 * Planning is a pure function.  It does not copy the kernel's
 * vfio_from_fsm_table: it searches the FSM arcs the uAPI defines for the
 * device's capability flags (include/uapi/linux/vfio.h, "The FSM takes
 * actions on the arcs between FSM states") for the shortest path whose
 * interior has no saving-group state, which is the rule the kernel table
 * encodes (contract 4.2).  tests/test-state.c checks the result against
 * the full-path tables of contract 4.4 and against the raw table walk; the
 * fake kernel implements the table walk on its own.
 */
#include <ctype.h>
#include <stdlib.h>

#include "internal.h"
#include "linux/vfio.h"

#define S_ERROR VFIOMIG_STATE_ERROR
#define S_STOP VFIOMIG_STATE_STOP
#define S_RUNNING VFIOMIG_STATE_RUNNING
#define S_STOP_COPY VFIOMIG_STATE_STOP_COPY
#define S_RESUMING VFIOMIG_STATE_RESUMING
#define S_RUNNING_P2P VFIOMIG_STATE_RUNNING_P2P
#define S_PRE_COPY VFIOMIG_STATE_PRE_COPY
#define S_PRE_COPY_P2P VFIOMIG_STATE_PRE_COPY_P2P
#define S_NR VFIOMIG_STATE_NR

_Static_assert(VFIOMIG_STATE_ERROR == VFIO_DEVICE_STATE_ERROR &&
	       VFIOMIG_STATE_STOP == VFIO_DEVICE_STATE_STOP &&
	       VFIOMIG_STATE_RUNNING == VFIO_DEVICE_STATE_RUNNING &&
	       VFIOMIG_STATE_STOP_COPY == VFIO_DEVICE_STATE_STOP_COPY &&
	       VFIOMIG_STATE_RESUMING == VFIO_DEVICE_STATE_RESUMING &&
	       VFIOMIG_STATE_RUNNING_P2P == VFIO_DEVICE_STATE_RUNNING_P2P &&
	       VFIOMIG_STATE_PRE_COPY == VFIO_DEVICE_STATE_PRE_COPY &&
	       VFIOMIG_STATE_PRE_COPY_P2P == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	       VFIOMIG_STATE_NR == VFIO_DEVICE_STATE_NR,
	       "public state numbers are the kernel's");
_Static_assert(VFIOMIG_MIG_STOP_COPY == VFIO_MIGRATION_STOP_COPY &&
	       VFIOMIG_MIG_P2P == VFIO_MIGRATION_P2P &&
	       VFIOMIG_MIG_PRE_COPY == VFIO_MIGRATION_PRE_COPY,
	       "public capability bits are the kernel's");

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const char *const state_names[S_NR] = {
	[S_ERROR] = "error",
	[S_STOP] = "stop",
	[S_RUNNING] = "running",
	[S_STOP_COPY] = "stop-copy",
	[S_RESUMING] = "resuming",
	[S_RUNNING_P2P] = "running-p2p",
	[S_PRE_COPY] = "pre-copy",
	[S_PRE_COPY_P2P] = "pre-copy-p2p",
};

VFIOMIG_EXPORT const char *vfiomig_state_name(int state)
{
	if (state < 0 || state >= S_NR)
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

VFIOMIG_EXPORT int vfiomig_state_parse(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int s = 0; s < S_NR; s++)
		if (name_eq(state_names[s], name))
			return s;
	return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Planning                                                            */

#define F_SC VFIOMIG_MIG_STOP_COPY
#define F_P2P VFIOMIG_MIG_P2P
#define F_PC VFIOMIG_MIG_PRE_COPY

/* The capability bits a state needs; ERROR is never "supported". */
static bool state_supported(int s, uint64_t flags)
{
	uint64_t need;

	switch (s) {
	case S_STOP:
	case S_RUNNING:
	case S_STOP_COPY:
	case S_RESUMING:
		need = F_SC;
		break;
	case S_RUNNING_P2P:
		need = F_SC | F_P2P;
		break;
	case S_PRE_COPY:
		need = F_SC | F_PC;
		break;
	case S_PRE_COPY_P2P:
		need = F_SC | F_P2P | F_PC;
		break;
	default:
		return false;
	}
	return (flags & need) == need;
}

static bool saving_group(int s)
{
	return s == S_PRE_COPY || s == S_PRE_COPY_P2P || s == S_STOP_COPY;
}

/*
 * The single FSM arcs a driver implements for these capabilities (uAPI
 * comment above enum vfio_device_mig_state and vfio_mig_get_next_state()):
 * always RESUMING<->STOP<->STOP_COPY; with P2P RUNNING<->RUNNING_P2P,
 * RUNNING_P2P<->STOP, else RUNNING<->STOP; with PRE_COPY RUNNING<->PRE_COPY
 * and, with P2P, PRE_COPY<->PRE_COPY_P2P, PRE_COPY_P2P<->RUNNING_P2P,
 * PRE_COPY_P2P->STOP_COPY, else PRE_COPY->STOP_COPY.
 */
static bool arc_exists(int from, int to, uint64_t flags)
{
	bool p2p = flags & F_P2P, pc = flags & F_PC;

	if (!state_supported(from, flags) || !state_supported(to, flags))
		return false;

	switch (from) {
	case S_STOP:
		return to == S_STOP_COPY || to == S_RESUMING ||
		       to == (p2p ? S_RUNNING_P2P : S_RUNNING);
	case S_RESUMING:
	case S_STOP_COPY:
		return to == S_STOP;
	case S_RUNNING:
		return to == (p2p ? S_RUNNING_P2P : S_STOP) ||
		       (pc && to == S_PRE_COPY);
	case S_RUNNING_P2P:
		return to == S_RUNNING || to == S_STOP || to == S_PRE_COPY_P2P;
	case S_PRE_COPY:
		return to == S_RUNNING ||
		       to == (p2p ? S_PRE_COPY_P2P : S_STOP_COPY);
	case S_PRE_COPY_P2P:
		return to == S_PRE_COPY || to == S_RUNNING_P2P ||
		       to == S_STOP_COPY;
	default:
		return false;
	}
}

/* Breadth-first search over the arcs.  A saving-group state may only be
 * interior when the whole move stays inside the saving group (e.g.
 * PRE_COPY -> PRE_COPY_P2P -> STOP_COPY keeps one session). */
static int plan(int cur, int target, uint64_t flags, int out[S_NR])
{
	int prev[S_NR], queue[S_NR], head = 0, tail = 0, n = 0;
	bool inner_saving = saving_group(cur) && saving_group(target);

	if (!state_supported(cur, flags) || !state_supported(target, flags))
		return -EINVAL;
	/* Blocked by the uAPI ("These arcs are not permitted"). */
	if (cur == S_STOP_COPY &&
	    (target == S_PRE_COPY || target == S_PRE_COPY_P2P))
		return -EINVAL;
	if (cur == target)
		return 0;

	for (int s = 0; s < S_NR; s++)
		prev[s] = -1;
	prev[cur] = cur;
	queue[tail++] = cur;
	while (head < tail) {
		int u = queue[head++];

		if (u == target)
			break;
		if (u != cur && saving_group(u) && !inner_saving)
			continue;
		for (int v = 0; v < S_NR; v++) {
			if (prev[v] >= 0 || !arc_exists(u, v, flags))
				continue;
			prev[v] = u;
			queue[tail++] = v;
		}
	}
	if (prev[target] < 0)
		return -EINVAL;

	for (int s = target; s != cur; s = prev[s])
		n++;
	for (int s = target, i = n; s != cur; s = prev[s])
		out[--i] = s;
	return n;
}

VFIOMIG_EXPORT int vfiomig_state_plan(int cur, int target,
				      uint64_t migration_flags, int *path,
				      size_t max)
{
	int buf[S_NR];
	int n = plan(cur, target, migration_flags, buf);

	if (n < 0 || !path)
		return n;
	if ((size_t)n > max)
		return -ENOSPC;
	memcpy(path, buf, n * sizeof(*path));
	return n;
}

VFIOMIG_EXPORT bool vfiomig_arc_opens_session(int from, int to)
{
	return (from == S_RUNNING && to == S_PRE_COPY) ||
	       (from == S_RUNNING_P2P && to == S_PRE_COPY_P2P) ||
	       (from == S_STOP && to == S_STOP_COPY) ||
	       (from == S_STOP && to == S_RESUMING);
}

static bool arc_closes_session(int from, int to)
{
	return (from == S_PRE_COPY && to == S_RUNNING) ||
	       (from == S_PRE_COPY_P2P && to == S_RUNNING_P2P) ||
	       (from == S_STOP_COPY && to == S_STOP) ||
	       (from == S_RESUMING && to == S_STOP);
}

/* ------------------------------------------------------------------ */
/* Device: get and set (next commit).                                  */

VFIOMIG_EXPORT int vfiomig_state_get(struct vfiomig_device *dev)
{
	(void)dev;
	return -ENOSYS;
}

VFIOMIG_EXPORT int vfiomig_state_set(struct vfiomig_device *dev, int target,
				     struct vfiomig_set_opts *opts)
{
	(void)dev; (void)target; (void)opts;
	return -ENOSYS;
}
