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

_Static_assert(VFIOMIG_STATE_ERROR == (int)VFIO_DEVICE_STATE_ERROR &&
	       VFIOMIG_STATE_STOP == (int)VFIO_DEVICE_STATE_STOP &&
	       VFIOMIG_STATE_RUNNING == (int)VFIO_DEVICE_STATE_RUNNING &&
	       VFIOMIG_STATE_STOP_COPY == (int)VFIO_DEVICE_STATE_STOP_COPY &&
	       VFIOMIG_STATE_RESUMING == (int)VFIO_DEVICE_STATE_RESUMING &&
	       VFIOMIG_STATE_RUNNING_P2P == (int)VFIO_DEVICE_STATE_RUNNING_P2P &&
	       VFIOMIG_STATE_PRE_COPY == (int)VFIO_DEVICE_STATE_PRE_COPY &&
	       VFIOMIG_STATE_PRE_COPY_P2P == (int)VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	       VFIOMIG_STATE_NR == (int)VFIO_DEVICE_STATE_NR,
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

const char *vfm_state_name(int state)
{
	const char *n = vfiomig_state_name(state);

	return n ? n : "?";
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
/* Device: get and set                                                 */

static int get_state(struct vfiomig_device *dev)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };
	int ret;

	ret = vfm_feature(dev,
			  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &mig, sizeof(mig));
	if (ret < 0)
		return ret;
	if (mig.device_state > INT32_MAX)
		return -EPROTO;
	return (int)mig.device_state;
}

VFIOMIG_EXPORT int vfiomig_state_get(struct vfiomig_device *dev)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = get_state(dev);
	if (ret < 0)
		err(dev->ctx, "%s: GET device state: %s", vfm_dev_name(dev),
		    strerror(-ret));
	return ret;
}

/* A new data fd from the kernel becomes the device's session. */
static void session_install(struct vfiomig_device *dev, int fd, int from,
			    int to)
{
	if (dev->session.fd >= 0) {
		/* QEMU calls this "out of sync" (EBADF); the old fd is dead
		 * for the driver, so drop it and keep the new one. */
		warn(dev->ctx,
		     "%s: %s->%s returned data fd %d while fd %d was open: protocol error, closing the old one",
		     vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
		     fd, dev->session.fd);
		vfm_session_end(dev);
	}
	if (!vfiomig_arc_opens_session(from, to))
		warn(dev->ctx, "%s: %s->%s unexpectedly returned data fd %d",
		     vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
		     fd);
	dev->session.fd = fd;
	dev->session.saving = to != S_RESUMING;
	dbg(dev->ctx, "%s: %s session on fd %d", vfm_dev_name(dev),
	    dev->session.saving ? "saving" : "resuming", fd);
}

/* After a failure: keep the session only if the real state still has it. */
static void session_sync(struct vfiomig_device *dev, int state)
{
	if (dev->session.fd < 0)
		return;
	if (dev->session.saving ? saving_group(state) : state == S_RESUMING)
		return;
	dbg(dev->ctx, "%s: device in %s: ending the %s session", vfm_dev_name(dev),
	    vfm_state_name(state), dev->session.saving ? "saving" : "resuming");
	vfm_session_end(dev);
}

/* One VFIO_DEVICE_FEATURE SET of MIG_DEVICE_STATE. *fd gets data_fd. */
static int set_state(struct vfiomig_device *dev, int to, int *fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = (uint32_t)to,
		.data_fd = -1,
	};
	int ret;

	ret = vfm_feature(dev,
			  VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &mig, sizeof(mig));
	/* On failure the kernel rewrites the struct with the requested state
	 * and data_fd -1 (contract 4.1): it says nothing about the real
	 * state, which the caller reads back. */
	*fd = ret < 0 ? -1 : mig.data_fd;
	return ret;
}

/* Walk path[0..n) from cur, one arc per SET.  Returns 0, or the error
 * with *failed set to the index of the failing arc. */
static int walk_arcs(struct vfiomig_device *dev, int cur, const int *path,
		     int n, int *failed)
{
	for (int i = 0; i < n; i++) {
		int from = i ? path[i - 1] : cur, to = path[i], fd, ret;

		ret = set_state(dev, to, &fd);
		if (ret < 0) {
			*failed = i;
			return ret;
		}
		dbg(dev->ctx, "%s: %s->%s (data fd %d)", vfm_dev_name(dev),
		    vfm_state_name(from), vfm_state_name(to), fd);
		if (arc_closes_session(from, to))
			vfm_session_end(dev);
		if (fd >= 0)
			session_install(dev, fd, from, to);
	}
	return 0;
}

/* One SET for the whole path; the kernel walks it. */
static int walk_combined(struct vfiomig_device *dev, int cur, const int *path,
			 int n)
{
	int fd, ret, from = n > 1 ? path[n - 2] : cur;

	ret = set_state(dev, path[n - 1], &fd);
	if (ret < 0)
		return ret;
	dbg(dev->ctx, "%s: %s->%s in one SET, %d arcs (data fd %d)",
	    vfm_dev_name(dev), vfm_state_name(cur),
	    vfm_state_name(path[n - 1]), n, fd);
	for (int i = 0; i < n; i++)
		if (arc_closes_session(i ? path[i - 1] : cur, path[i]))
			vfm_session_end(dev);
	if (fd >= 0)
		session_install(dev, fd, from, path[n - 1]);
	return 0;
}

static int do_reset(struct vfiomig_device *dev)
{
	int ret;

	/* vfiomig_device_reset() ends the session too; do it first so a
	 * failed reset cannot leave a dead fd behind. */
	vfm_session_end(dev);
	ret = vfiomig_device_reset(dev);
	if (ret < 0)
		err(dev->ctx, "%s: recovery: VFIO_DEVICE_RESET: %s", vfm_dev_name(dev),
		    strerror(-ret));
	else
		info(dev->ctx, "%s: recovery: device reset", vfm_dev_name(dev));
	return ret;
}

/* Apply the recovery policy after a failure; returns the state read back
 * (or a negative errno when even that failed). */
static int recover(struct vfiomig_device *dev, int state, int policy,
		   int rstate, uint64_t flags)
{
	int path[S_NR], n, failed, ret;

	switch (policy) {
	case VFIOMIG_RECOVER_STAY:
		return state;
	case VFIOMIG_RECOVER_RESET:
		do_reset(dev);
		break;
	case VFIOMIG_RECOVER_STATE:
		if (state == S_ERROR) {
			/* A SET from ERROR makes the kernel WARN and fails:
			 * a reset is the only way out (contract 4.5). */
			if (do_reset(dev) < 0)
				break;
			state = get_state(dev);
			if (state < 0)
				return state;
		}
		if (state < 0 || state == rstate)
			break;
		n = plan(state, rstate, flags, path);
		if (n < 0) {
			err(dev->ctx, "%s: recovery: no path %s->%s; resetting",
			    vfm_dev_name(dev), vfm_state_name(state),
			    vfm_state_name(rstate));
			do_reset(dev);
			break;
		}
		failed = 0;
		ret = walk_arcs(dev, state, path, n, &failed);
		if (ret < 0) {
			/* e.g. an incomplete stream: RESUMING->STOP fails
			 * again, and only a reset aborts RESUMING. */
			err(dev->ctx, "%s: recovery: %s->%s failed: %s; resetting",
			    vfm_dev_name(dev),
			    vfm_state_name(failed ? path[failed - 1] : state),
			    vfm_state_name(path[failed]), strerror(-ret));
			do_reset(dev);
		} else {
			info(dev->ctx, "%s: recovery: now %s", vfm_dev_name(dev),
			     vfm_state_name(rstate));
		}
		break;
	}
	state = get_state(dev);
	if (state >= 0)
		session_sync(dev, state);
	return state;
}

/*
 * expect: the state the device must be in (load_finish: RESUMING), or -1.
 */
static int state_set(struct vfiomig_device *dev, int target, int expect,
		     struct vfiomig_set_opts *opts)
{
	unsigned int flags = OPTS_GET(opts, flags, 0);
	int policy = OPTS_GET(opts, recovery, VFIOMIG_RECOVER_STAY);
	int rstate = OPTS_GET(opts, recovery_state, S_RUNNING);
	int path[S_NR], n, cur, ret, state, failed = 0, ffrom, fto;
	uint64_t mflags;

	OPTS_SET(opts, failed_from, -1);
	OPTS_SET(opts, failed_to, -1);
	OPTS_SET(opts, state, -1);

	/* Everything that needs no kernel call first. */
	if (flags & ~VFIOMIG_SET_COMBINED) {
		err(dev->ctx, "%s: unknown set flags 0x%x", vfm_dev_name(dev), flags);
		return -EINVAL;
	}
	if (policy != VFIOMIG_RECOVER_STAY && policy != VFIOMIG_RECOVER_STATE &&
	    policy != VFIOMIG_RECOVER_RESET) {
		err(dev->ctx, "%s: unknown recovery policy %d", vfm_dev_name(dev),
		    policy);
		return -EINVAL;
	}
	if (target < 0 || target >= S_NR || target == S_ERROR) {
		err(dev->ctx, "%s: bad target state %d", vfm_dev_name(dev), target);
		return -EINVAL;
	}
	ret = vfm_device_mig_flags(dev, &mflags);
	if (ret < 0) {
		err(dev->ctx, "%s: no migration support: %s", vfm_dev_name(dev),
		    strerror(-ret));
		return ret;
	}
	if (!state_supported(target, mflags)) {
		err(dev->ctx, "%s: state %s not supported (migration flags 0x%llx)",
		    vfm_dev_name(dev), vfm_state_name(target),
		    (unsigned long long)mflags);
		return -EINVAL;
	}
	if (policy == VFIOMIG_RECOVER_STATE &&
	    !state_supported(rstate, mflags)) {
		err(dev->ctx, "%s: recovery state %d not supported", vfm_dev_name(dev),
		    rstate);
		return -EINVAL;
	}

	/* Where are we?  A GET changes nothing. */
	cur = get_state(dev);
	if (cur < 0) {
		err(dev->ctx, "%s: GET device state: %s", vfm_dev_name(dev),
		    strerror(-cur));
		return cur;
	}
	if (expect >= 0 && cur != expect) {
		err(dev->ctx, "%s: device is in %s, not %s", vfm_dev_name(dev),
		    vfm_state_name(cur), vfm_state_name(expect));
		OPTS_SET(opts, state, cur);
		return -EINVAL;
	}
	if (cur == S_ERROR) {
		/* Never SET from ERROR: the kernel WARNs (contract 4.2). */
		err(dev->ctx, "%s: device is in ERROR; only a reset leaves it",
		    vfm_dev_name(dev));
		ffrom = S_ERROR;
		fto = target;
		ret = -EIO;
		state = cur;
		session_sync(dev, state);
		goto failed;
	}
	n = plan(cur, target, mflags, path);
	if (n < 0) {
		err(dev->ctx, "%s: no path %s->%s (migration flags 0x%llx)",
		    vfm_dev_name(dev), vfm_state_name(cur),
		    vfm_state_name(target),
		    (unsigned long long)mflags);
		OPTS_SET(opts, state, cur);
		return n;
	}
	if (n == 0) {
		OPTS_SET(opts, state, cur);
		return 0;
	}

	if (flags & VFIOMIG_SET_COMBINED)
		ret = walk_combined(dev, cur, path, n);
	else
		ret = walk_arcs(dev, cur, path, n, &failed);
	if (!ret) {
		OPTS_SET(opts, state, target);
		return 0;
	}

	/* The failure: read the real state back. */
	state = get_state(dev);
	if (flags & VFIOMIG_SET_COMBINED) {
		/* Drivers store the state after each arc that succeeded
		 * (contract 4.5): the state reached tells the failing arc. */
		ffrom = n > 1 ? path[n - 2] : cur;
		fto = target;
		for (int i = 0; i < n && state != target; i++) {
			if ((i ? path[i - 1] : cur) == state) {
				ffrom = state;
				fto = path[i];
				break;
			}
		}
	} else {
		ffrom = failed ? path[failed - 1] : cur;
		fto = path[failed];
	}
	if (state >= 0) {
		err(dev->ctx, "%s: %s->%s failed: %s; device is in %s",
		    vfm_dev_name(dev), vfm_state_name(ffrom),
		    vfm_state_name(fto), strerror(-ret),
		    vfm_state_name(state));
		session_sync(dev, state);
	} else {
		err(dev->ctx, "%s: %s->%s failed: %s; state unknown (GET: %s)",
		    vfm_dev_name(dev), vfm_state_name(ffrom),
		    vfm_state_name(fto), strerror(-ret),
		    strerror(-state));
	}

failed:
	OPTS_SET(opts, failed_from, ffrom);
	OPTS_SET(opts, failed_to, fto);
	if (state >= 0 || policy == VFIOMIG_RECOVER_RESET)
		state = recover(dev, state, policy, rstate, mflags);
	OPTS_SET(opts, state, state);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_state_set(struct vfiomig_device *dev, int target,
				     struct vfiomig_set_opts *opts)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_set_opts);
	if (ret)
		return ret;
	return state_set(dev, target, -1, opts);
}

VFIOMIG_EXPORT int vfiomig_load_finish(struct vfiomig_device *dev, int target,
				       struct vfiomig_set_opts *opts)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_set_opts);
	if (ret)
		return ret;
	if (target != S_STOP && target != S_RUNNING) {
		err(dev->ctx, "%s: load_finish: target must be stop or running",
		    vfm_dev_name(dev));
		return -EINVAL;
	}
	return state_set(dev, target, S_RESUMING, opts);
}
