// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration v2 state machine: path planning, get/set with a
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
	return vfm_saving_state(s);
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

/* ------------------------------------------------------------------ */
/* Device: get and set                                                 */

VFIOMIG_EXPORT int vfiomig_state_get(struct vfiomig_device *dev)
{
	int ret;

	if (!dev)
		return -EINVAL;
	/* The caller asks the kernel: the one way to learn of a change made
	 * behind the library's back (a raw ioctl, another user of an adopted
	 * fd), and it refreshes what the library remembers. */
	ret = vfm_mig_state_read(dev);
	if (ret < 0)
		err(dev->ctx, "%s: GET device state: %s", vfm_dev_name(dev),
		    strerror(-ret));
	return ret;
}

static bool session_state(int s)
{
	return saving_group(s) || s == S_RESUMING;
}

/* Does the library hold the live session the device has in state s? */
static bool own_session(const struct vfiomig_device *dev, int s)
{
	const struct vfiomig_session *ss = &dev->session;

	if (ss->fd < 0)
		return false;
	return s == S_RESUMING ? !ss->saving : ss->saving && saving_group(s);
}

/*
 * A device in a session state whose session the library does not hold
 * (another process opened it and went away, the caller closed it, a load
 * failed) must never be walked along an arc that uses that session: the
 * data is not ours to read or to commit, and mtty dereferences its NULL
 * resuming file on RESUMING->STOP after the last close (contract 12.7).
 */
static bool orphaned(const struct vfiomig_device *dev, int s)
{
	return session_state(s) && !own_session(dev, s);
}

/* Where an orphaned session state is left to: a saving session ends on
 * its terminating arc, which reads and loads nothing (contract 4.3); every
 * way out of RESUMING goes through RESUMING->STOP, which loads, so only a
 * reset leaves it safely, to RUNNING (contract 7). */
static int orphan_exit(int s)
{
	switch (s) {
	case S_PRE_COPY:
		return S_RUNNING;
	case S_PRE_COPY_P2P:
		return S_RUNNING_P2P;
	case S_STOP_COPY:
		return S_STOP;
	default:
		return S_RUNNING;
	}
}

/* The state a walk out of s really starts from. */
static int walk_start(const struct vfiomig_device *dev, int s)
{
	return orphaned(dev, s) ? orphan_exit(s) : s;
}

/* Walk path[0..n) from cur, one arc per SET.  Returns 0, or the error
 * with *failed set to the index of the failing arc. */
static int walk_arcs(struct vfiomig_device *dev, int cur, const int *path,
		     int n, int *failed)
{
	for (int i = 0; i < n; i++) {
		int from = i ? path[i - 1] : cur, to = path[i], fd, ret;

		if (to == S_PRE_COPY || to == S_PRE_COPY_P2P)
			vfm_precopy_v2(dev); /* before the session opens */
		ret = vfm_mig_state_write(dev, to, &fd);
		if (ret < 0) {
			*failed = i;
			return ret;
		}
		dbg(dev->ctx, "%s: %s->%s (data fd %d)", vfm_dev_name(dev),
		    vfm_state_name(from), vfm_state_name(to), fd);
		vfm_session_arc(dev, from, to);
		if (fd >= 0)
			vfm_session_install(dev, fd, from, to);
	}
	return 0;
}

/* One SET for the whole path; the kernel walks it. */
static int walk_combined(struct vfiomig_device *dev, int cur, const int *path,
			 int n)
{
	int fd, ret, from = n > 1 ? path[n - 2] : cur;

	for (int i = 0; i < n; i++)
		if (path[i] == S_PRE_COPY || path[i] == S_PRE_COPY_P2P)
			vfm_precopy_v2(dev);
	ret = vfm_mig_state_write(dev, path[n - 1], &fd);
	if (ret < 0)
		return ret;
	dbg(dev->ctx, "%s: %s->%s in one SET, %d arcs (data fd %d)",
	    vfm_dev_name(dev), vfm_state_name(cur),
	    vfm_state_name(path[n - 1]), n, fd);
	for (int i = 0; i < n; i++)
		vfm_session_arc(dev, i ? path[i - 1] : cur, path[i]);
	if (fd >= 0)
		vfm_session_install(dev, fd, from, path[n - 1]);
	return 0;
}

/* Drivers store the state after each arc that succeeded (contract 4.5):
 * after a combined SET failed, the state reached names the failing arc. */
static int combined_failed_arc(int cur, const int *path, int n, int state)
{
	for (int i = 0; i < n; i++)
		if ((i ? path[i - 1] : cur) == state)
			return i;
	return n - 1;
}

static int do_reset(struct vfiomig_device *dev)
{
	int ret;

	/* A reset ends the session too; end it first so a failed reset
	 * cannot leave a dead fd behind. */
	vfm_session_end(dev);
	ret = vfiomig_device_reset(dev);
	if (ret < 0)
		err(dev->ctx, "%s: VFIO_DEVICE_RESET: %s", vfm_dev_name(dev),
		    strerror(-ret));
	else
		info(dev->ctx, "%s: device reset", vfm_dev_name(dev));
	return ret;
}

/* Where a failed change stopped: the arc, and the state read back (or
 * -errno when even the GET failed). */
struct stop {
	int from, to, state;
};

/* Arc from->to failed with ret: read the state back, log, and drop what
 * the device no longer has.  A refused RESUMING->STOP spoils the session. */
static void stopped_at(struct vfiomig_device *dev, int from, int to, int ret,
		       struct stop *st)
{
	st->from = from;
	st->to = to;
	if (from == S_RESUMING && to == S_STOP)
		vfm_session_refuse(dev, "the driver refused resuming->stop");
	if (st->state < 0) {
		err(dev->ctx, "%s: %s->%s failed: %s; state unknown (GET: %s)",
		    vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
		    strerror(-ret), strerror(-st->state));
		return;
	}
	err(dev->ctx, "%s: %s->%s failed: %s; device is in %s",
	    vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
	    strerror(-ret), vfm_state_name(st->state));
	vfm_session_sync(dev, st->state);
}

/* Leave an orphaned session state (see orphaned()); *cur gets the state
 * reached. */
static int leave_orphan(struct vfiomig_device *dev, int *cur, struct stop *st)
{
	int from = *cur, to = orphan_exit(from), fd = -1, ret;

	if (from == S_RESUMING) {
		info(dev->ctx,
		     "%s: in resuming without a live session of the library's%s: leaving it by VFIO_DEVICE_RESET (resuming->stop would load whatever the device holds)",
		     vfm_dev_name(dev),
		     dev->session.refused ? " (the driver refused the load)" : "");
		ret = do_reset(dev);
	} else {
		info(dev->ctx,
		     "%s: in %s without a session of the library's: ending that session by %s->%s",
		     vfm_dev_name(dev), vfm_state_name(from),
		     vfm_state_name(from), vfm_state_name(to));
		ret = vfm_mig_state_write(dev, to, &fd);
		if (fd >= 0) /* a terminating arc: never a new fd */
			sys_close(fd);
	}
	/* Known after a success (the SET or the reset), read after a
	 * failure. */
	st->state = vfm_mig_state(dev);
	if (ret < 0) {
		stopped_at(dev, from, to, ret, st);
		return ret;
	}
	if (st->state < 0) {
		err(dev->ctx, "%s: GET device state: %s", vfm_dev_name(dev),
		    strerror(-st->state));
		st->from = from;
		st->to = to;
		return st->state;
	}
	*cur = st->state;
	return 0;
}

/* Drive the device from cur to target: out of an orphaned session state
 * first, then along the planned arcs (one SET per arc, or one for all). */
static int walk(struct vfiomig_device *dev, int cur, int target,
		uint64_t mflags, bool combined, struct stop *st)
{
	int path[S_NR], n, i = 0, ret;

	if (orphaned(dev, cur)) {
		ret = leave_orphan(dev, &cur, st);
		if (ret < 0)
			return ret;
	}
	n = plan(cur, target, mflags, path);
	if (n < 0) {
		err(dev->ctx, "%s: no path %s->%s", vfm_dev_name(dev),
		    vfm_state_name(cur), vfm_state_name(target));
		*st = (struct stop){ .from = cur, .to = target, .state = cur };
		return n;
	}
	if (n == 0)
		return 0;
	if (combined)
		ret = walk_combined(dev, cur, path, n);
	else
		ret = walk_arcs(dev, cur, path, n, &i);
	if (!ret)
		return 0;
	st->state = vfm_mig_state_read(dev);
	if (combined)
		i = combined_failed_arc(cur, path, n, st->state);
	stopped_at(dev, i ? path[i - 1] : cur, path[i], ret, st);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Requests and recovery                                               */

/* A state change as the caller asked for it, validated. */
struct request {
	int target;
	bool combined;
	int recovery;     /* enum vfiomig_recovery */
	int rstate;
	uint64_t mflags;
};

/* Recovery goals besides a state. */
#define GOAL_RESET (-1)
#define GOAL_STAY (-2)

/* Everything that needs no state change first: nothing is touched when
 * the request is bad. */
static int parse_request(struct vfiomig_device *dev, int target,
			 const struct vfiomig_set_opts *opts,
			 struct request *rq)
{
	unsigned int flags = OPTS_GET(opts, flags, 0);
	int ret;

	rq->target = target;
	rq->combined = !(flags & VFIOMIG_SET_STEPWISE);
	rq->recovery = OPTS_GET(opts, recovery, VFIOMIG_RECOVER_DEFAULT);
	rq->rstate = OPTS_GET(opts, recovery_state, S_ERROR);
	if (flags & ~(VFIOMIG_SET_COMBINED | VFIOMIG_SET_STEPWISE) ||
	    (flags & VFIOMIG_SET_COMBINED && flags & VFIOMIG_SET_STEPWISE)) {
		err(dev->ctx, "%s: bad set flags 0x%x", vfm_dev_name(dev), flags);
		return -EINVAL;
	}
	if (rq->recovery < VFIOMIG_RECOVER_DEFAULT ||
	    rq->recovery > VFIOMIG_RECOVER_STAY) {
		err(dev->ctx, "%s: unknown recovery policy %d", vfm_dev_name(dev),
		    rq->recovery);
		return -EINVAL;
	}
	if (target < 0 || target >= S_NR || target == S_ERROR) {
		err(dev->ctx, "%s: bad target state %d", vfm_dev_name(dev), target);
		return -EINVAL;
	}
	ret = vfm_device_mig_flags(dev, &rq->mflags);
	if (ret < 0) {
		err(dev->ctx, "%s: no migration support: %s", vfm_dev_name(dev),
		    strerror(-ret));
		return ret;
	}
	if (!state_supported(target, rq->mflags)) {
		err(dev->ctx, "%s: state %s not supported (migration flags 0x%llx)",
		    vfm_dev_name(dev), vfm_state_name(target),
		    (unsigned long long)rq->mflags);
		return -EINVAL;
	}
	/* ERROR (0) as recovery_state: "not set" by default, "reset" with
	 * RECOVER_STATE; any other state must be one the device has. */
	if (rq->rstate != S_ERROR && !state_supported(rq->rstate, rq->mflags)) {
		err(dev->ctx, "%s: recovery state %d not supported",
		    vfm_dev_name(dev), rq->rstate);
		return -EINVAL;
	}
	return 0;
}

/* Where recovery takes the device after a call that started in origin. */
static int recovery_goal(const struct vfiomig_device *dev,
			 const struct request *rq, int origin)
{
	switch (rq->recovery) {
	case VFIOMIG_RECOVER_STAY:
		return GOAL_STAY;
	case VFIOMIG_RECOVER_RESET:
		return GOAL_RESET;
	case VFIOMIG_RECOVER_STATE:
		return rq->rstate == S_ERROR ? GOAL_RESET : rq->rstate;
	}
	if (rq->rstate != S_ERROR)
		return rq->rstate;
	/* Back where the call started; not into ERROR, and not back into
	 * RESUMING, whose data was refused or committed already. */
	if (origin == S_ERROR || origin == S_RESUMING)
		return GOAL_RESET;
	return walk_start(dev, origin);
}

/* Apply the recovery after a failure that left the device in state (or
 * unknown, < 0); returns the state read back at the end or -errno. */
static int recover(struct vfiomig_device *dev, const struct request *rq,
		   int goal, int state)
{
	struct stop st = { -1, -1, -1 };

	if (goal == GOAL_STAY)
		return state;
	/* ERROR: a SET from it WARNs and fails (contract 4.5); unknown:
	 * nothing to plan from.  Only a reset is left. */
	if (goal == GOAL_RESET || state < 0 || state == S_ERROR) {
		info(dev->ctx, "%s: recovery: resetting the device", vfm_dev_name(dev));
		if (do_reset(dev) < 0 || goal == GOAL_RESET)
			goto out;
		state = vfm_mig_state(dev);
		if (state < 0)
			goto out;
	}
	if (state == goal && !orphaned(dev, state))
		goto out;
	if (walk(dev, state, goal, rq->mflags, false, &st) < 0) {
		err(dev->ctx, "%s: recovery to %s failed; resetting",
		    vfm_dev_name(dev), vfm_state_name(goal));
		do_reset(dev);
	} else {
		info(dev->ctx, "%s: recovery: back in %s", vfm_dev_name(dev),
		     vfm_state_name(goal));
	}
out:
	state = vfm_mig_state(dev); /* a GET only where the way back failed */
	if (state >= 0)
		vfm_session_sync(dev, state);
	return state;
}

enum set_mode {
	MODE_SET,    /* vfiomig_state_set */
	MODE_FINISH, /* vfiomig_load_finish: commit our own RESUMING session */
	MODE_ABORT,  /* vfiomig_load_abort: discard RESUMING, then set */
};

/* load_finish commits only a live, unspoiled session of the library's. */
static int check_finish(struct vfiomig_device *dev, int cur)
{
	if (cur != S_RESUMING) {
		err(dev->ctx, "%s: load_finish: device is in %s, not resuming",
		    vfm_dev_name(dev), vfm_state_name(cur));
		return -EINVAL;
	}
	if (dev->session.refused) {
		err(dev->ctx,
		    "%s: load_finish: a load of this session failed; refusing to commit it (vfiomig_load_abort() discards it)",
		    vfm_dev_name(dev));
		return -EBADMSG;
	}
	if (!own_session(dev, cur)) {
		err(dev->ctx,
		    "%s: load_finish: no resuming session of the library's; refusing to commit what the device holds",
		    vfm_dev_name(dev));
		return -ENODEV;
	}
	return 0;
}

static int change_state(struct vfiomig_device *dev, const struct request *rq,
			int mode, struct vfiomig_set_opts *opts)
{
	struct stop st = { -1, -1, -1 };
	int cur, goal, ret;

	OPTS_SET(opts, failed_from, -1);
	OPTS_SET(opts, failed_to, -1);
	/* Where are we?  Remembered, or a GET, which changes nothing.  A
	 * request for the state remembered is confirmed by a GET: "done"
	 * without any kernel call could hide an asynchronous ERROR (pds). */
	cur = vfm_mig_state(dev);
	if (cur == rq->target)
		cur = vfm_mig_state_read(dev);
	OPTS_SET(opts, state, cur);
	if (cur < 0) {
		err(dev->ctx, "%s: GET device state: %s", vfm_dev_name(dev),
		    strerror(-cur));
		return cur;
	}
	if (mode == MODE_FINISH) {
		ret = check_finish(dev, cur);
		if (ret < 0)
			return ret;
	}
	if (mode == MODE_ABORT && cur == S_RESUMING) {
		/* Without our session, RESUMING is left the one safe way,
		 * by a reset (leave_orphan()), on the way to any target. */
		info(dev->ctx, "%s: load aborted: discarding what the device received",
		     vfm_dev_name(dev));
		vfm_session_end(dev);
	}
	goal = recovery_goal(dev, rq, cur);
	if (cur == S_ERROR) {
		/* Never SET from ERROR: the kernel WARNs (contract 4.2). */
		err(dev->ctx, "%s: device is in ERROR; only a reset leaves it",
		    vfm_dev_name(dev));
		st = (struct stop){ S_ERROR, rq->target, S_ERROR };
		ret = -EIO;
		goto failed;
	}
	/* The whole way must exist before the first step is taken. */
	ret = plan(walk_start(dev, cur), rq->target, rq->mflags,
		   (int[S_NR]){ 0 });
	if (ret < 0) {
		err(dev->ctx, "%s: no path %s->%s (migration flags 0x%llx)",
		    vfm_dev_name(dev), vfm_state_name(cur),
		    vfm_state_name(rq->target), (unsigned long long)rq->mflags);
		return ret;
	}
	if (cur == rq->target && !orphaned(dev, cur))
		return 0;
	ret = walk(dev, cur, rq->target, rq->mflags, rq->combined, &st);
	if (!ret) {
		OPTS_SET(opts, state, rq->target);
		return 0;
	}
failed:
	/* Not inside OPTS_SET(): it evaluates nothing when opts is NULL. */
	st.state = recover(dev, rq, goal, st.state);
	OPTS_SET(opts, failed_from, st.from);
	OPTS_SET(opts, failed_to, st.to);
	OPTS_SET(opts, state, st.state);
	return ret;
}

static int state_request(struct vfiomig_device *dev, int target,
			 struct vfiomig_set_opts *opts, int mode)
{
	struct request rq;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_set_opts);
	if (ret)
		return ret;
	OPTS_SET(opts, failed_from, -1);
	OPTS_SET(opts, failed_to, -1);
	OPTS_SET(opts, state, -1);
	if (mode == MODE_FINISH && target != S_STOP && target != S_RUNNING &&
	    target != S_RUNNING_P2P) {
		err(dev->ctx,
		    "%s: load_finish: target must be stop, running-p2p or running",
		    vfm_dev_name(dev));
		return -EINVAL;
	}
	ret = parse_request(dev, target, opts, &rq);
	if (ret)
		return ret;
	/* One state change at a time, none under a transfer in flight (it
	 * would end the session the transfer is using). */
	vfm_dev_lock(dev);
	if (dev->session.busy) {
		err(dev->ctx, "%s: state change while a transfer is in flight",
		    vfm_dev_name(dev));
		ret = -EBUSY;
	} else {
		ret = change_state(dev, &rq, mode, opts);
	}
	vfm_dev_unlock(dev);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_state_set(struct vfiomig_device *dev, int target,
				     struct vfiomig_set_opts *opts)
{
	return state_request(dev, target, opts, MODE_SET);
}

VFIOMIG_EXPORT int vfiomig_load_finish(struct vfiomig_device *dev, int target,
				       struct vfiomig_set_opts *opts)
{
	return state_request(dev, target, opts, MODE_FINISH);
}

VFIOMIG_EXPORT int vfiomig_load_abort(struct vfiomig_device *dev, int target,
				      struct vfiomig_set_opts *opts)
{
	return state_request(dev, target, opts, MODE_ABORT);
}
