// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device sets: the devices of one VM, moved as one unit through the P2P
 * barrier (kernel-contract.md 4; QEMU's vfio_vmstate_change_prepare and
 * change handler).  A device in RUNNING_P2P/PRE_COPY_P2P no longer starts
 * DMA but still answers it, so:
 *
 *  - on the way down no member stops while another still initiates DMA
 *    into it: every member reaches its P2P state before any leaves it;
 *  - on the way up no member initiates DMA into a peer that cannot answer
 *    yet: every member reaches RUNNING_P2P before any goes RUNNING.
 *
 * Members without P2P (only when the caller let them in) stop after every
 * P2P member is quiesced and before any P2P member stops, and start after
 * every P2P member answers and before any P2P member starts: their last
 * and first DMA always land on a device that answers.
 *
 * Each step is one member's vfiomig_state_set() with recovery STAY: the set
 * decides where everybody goes after a failure, and goes there through the
 * same barrier.
 */
#include <stdlib.h>

#include "internal.h"

struct member {
	struct vfiomig_device *dev;
	uint64_t mflags;
	bool p2p;
};

struct vfiomig_devset {
	struct vfiomig_ctx *ctx; /* the first member's, for messages */
	size_t n;
	struct member m[];
};

/* The failing member and arc of a set change. */
struct failure {
	int member, from, to, err;
};

#define S_RUNNING VFIOMIG_STATE_RUNNING
#define S_STOP VFIOMIG_STATE_STOP
#define S_RESUMING VFIOMIG_STATE_RESUMING
#define S_RUNNING_P2P VFIOMIG_STATE_RUNNING_P2P
#define S_PRE_COPY VFIOMIG_STATE_PRE_COPY
#define S_PRE_COPY_P2P VFIOMIG_STATE_PRE_COPY_P2P

/* ------------------------------------------------------------------ */
/* Handles                                                             */

static int member_init(struct vfiomig_devset *set, size_t i,
		       struct vfiomig_device *dev, unsigned int flags)
{
	struct member *m = &set->m[i];
	int ret;

	if (!dev)
		return -EINVAL;
	for (size_t j = 0; j < i; j++) {
		if (set->m[j].dev == dev) {
			err(set->ctx, "devset: %s is member %zu and %zu",
			    vfm_dev_name(dev), j, i);
			return -EINVAL;
		}
	}
	ret = vfm_device_mig_flags(dev, &m->mflags);
	if (ret < 0)
		return ret;
	m->dev = dev;
	m->p2p = m->mflags & VFIOMIG_MIG_P2P;
	if (!m->p2p && set->n > 1 && !(flags & VFIOMIG_DEVSET_ALLOW_NO_P2P)) {
		err(set->ctx,
		    "devset: %s has no P2P states: stopping it cannot wait for its peers to stop DMA into it (VFIOMIG_DEVSET_ALLOW_NO_P2P lets it in)",
		    vfm_dev_name(dev));
		return -EOPNOTSUPP;
	}
	return 0;
}

VFIOMIG_EXPORT int vfiomig_devset_new(struct vfiomig_device *const *devs,
				      size_t n,
				      const struct vfiomig_devset_opts *opts,
				      struct vfiomig_devset **setp)
{
	struct vfiomig_devset *set;
	unsigned int flags;
	int ret;

	if (!devs || !n || !setp || !devs[0] || n > INT32_MAX)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_devset_opts);
	if (ret)
		return ret;
	flags = OPTS_GET(opts, flags, 0u);
	if (flags & ~VFIOMIG_DEVSET_ALLOW_NO_P2P) {
		err(devs[0]->ctx, "devset: unknown flags 0x%x", flags);
		return -EINVAL;
	}
	set = calloc(1, sizeof(*set) + n * sizeof(set->m[0]));
	if (!set)
		return -ENOMEM;
	set->ctx = devs[0]->ctx;
	set->n = n;
	for (size_t i = 0; i < n; i++) {
		ret = member_init(set, i, devs[i], flags);
		if (ret < 0) {
			free(set);
			return ret;
		}
	}
	*setp = set;
	return 0;
}

VFIOMIG_EXPORT void vfiomig_devset_free(struct vfiomig_devset *set)
{
	free(set);
}

VFIOMIG_EXPORT size_t vfiomig_devset_size(const struct vfiomig_devset *set)
{
	return set ? set->n : 0;
}

VFIOMIG_EXPORT struct vfiomig_device *
vfiomig_devset_member(const struct vfiomig_devset *set, size_t i)
{
	return set && i < set->n ? set->m[i].dev : NULL;
}

/* ------------------------------------------------------------------ */
/* The barrier walk                                                    */

/* States in which a device initiates DMA. */
static bool active(int s)
{
	return s == S_RUNNING || s == S_PRE_COPY;
}

/* The quiesced twin of an active state. */
static int p2p_twin(int s)
{
	return s == S_RUNNING ? S_RUNNING_P2P :
	       s == S_PRE_COPY ? S_PRE_COPY_P2P : s;
}

/* A member's own target for the set's: without PRE_COPY it keeps running
 * while its peers precopy (as QEMU's devices without precopy do); without
 * P2P, a P2P state is the same side of the barrier without the P2P bit. */
static int member_target(const struct member *m, int cur, int target)
{
	if (!(m->mflags & VFIOMIG_MIG_PRE_COPY)) {
		if (target == S_PRE_COPY)
			target = S_RUNNING;
		else if (target == S_PRE_COPY_P2P)
			target = S_RUNNING_P2P;
	}
	if (m->p2p)
		return target;
	if (target == S_PRE_COPY_P2P)
		return S_PRE_COPY;
	if (target == S_RUNNING_P2P)
		return active(cur) ? S_RUNNING : S_STOP;
	return target;
}

/*
 * Where member m goes in phase p (1..6), or -1 to stay:
 *  1 P2P members leaving the active side: quiesce (P2P twin);
 *  2 members without P2P leaving it: their target;
 *  3 P2P members leaving it: their target;
 *  4 P2P members coming to the active side: the P2P twin of the target;
 *  5 members without P2P coming to it: their target;
 *  6 P2P members coming to it: their target.
 */
static int phase_step(const struct member *m, int p, int cur, int t)
{
	bool up = active(t);

	switch (p) {
	case 1:
		return m->p2p && !up && active(cur) ? p2p_twin(cur) : -1;
	case 2:
		return !m->p2p && !up ? t : -1;
	case 3:
		return m->p2p && !up ? t : -1;
	case 4:
		return m->p2p && up && !active(cur) ? p2p_twin(t) : -1;
	case 5:
		return !m->p2p && up ? t : -1;
	default:
		return m->p2p && up ? t : -1;
	}
}

/* One member, one step; the member stays where it stopped on failure. */
static int member_step(struct vfiomig_devset *set, size_t i, int to,
		       bool finish, struct failure *f)
{
	VFIOMIG_OPTS(vfiomig_set_opts, o, .recovery = VFIOMIG_RECOVER_STAY);
	struct vfiomig_device *dev = set->m[i].dev;
	int ret;

	ret = finish ? vfiomig_load_finish(dev, to, &o) :
		       vfiomig_state_set(dev, to, &o);
	if (ret < 0 && f) {
		*f = (struct failure){ (int)i, o.failed_from, o.failed_to, ret };
		err(set->ctx, "devset: member %zu (%s) failed at %s->%s: %s",
		    i, vfm_dev_name(dev), vfm_state_name(o.failed_from),
		    vfm_state_name(o.failed_to), strerror(-ret));
	}
	return ret;
}

/* A member the rollback could not bring back: reset it, the one way that
 * always ends in a state the caller knows (RUNNING). */
static void member_reset(struct vfiomig_devset *set, size_t i)
{
	int ret = vfiomig_device_reset(set->m[i].dev);

	if (ret < 0)
		err(set->ctx, "devset: member %zu (%s): reset failed: %s; state unknown",
		    i, vfm_dev_name(set->m[i].dev), strerror(-ret));
	else
		info(set->ctx, "devset: member %zu (%s) reset", i,
		     vfm_dev_name(set->m[i].dev));
}

/*
 * Walk every member to t[i] (-1: leave it alone) phase by phase.  Forward
 * (f != NULL): stop at the first failure.  Rollback (f == NULL): a member
 * that cannot get there is reset and the others go on.
 */
static int barrier_walk(struct vfiomig_devset *set, const int *t,
			struct failure *f)
{
	for (int p = 1; p <= 6; p++) {
		for (size_t i = 0; i < set->n; i++) {
			int cur, to, ret;

			if (t[i] < 0)
				continue;
			cur = vfm_mig_state(set->m[i].dev);
			/* One device has no peer to wait for: straight there,
			 * one change (one SET where the kernel can walk it). */
			if (set->n == 1)
				to = p == 6 ? t[i] : -1;
			else
				to = cur < 0 ? -1 :
				     phase_step(&set->m[i], p, cur, t[i]);
			if (cur >= 0 && (to < 0 || to == cur))
				continue;
			ret = cur < 0 ? cur : member_step(set, i, to, false, f);
			if (ret >= 0)
				continue;
			if (f && cur < 0)
				*f = (struct failure){ (int)i, -1, -1, cur };
			if (f)
				return ret;
			member_reset(set, i);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Requests and rollback                                               */

struct set_request {
	int recovery, rstate;
	int *origin; /* each member's state when the call started */
	int *goal;   /* the walk's targets */
};

static int parse_set_opts(struct vfiomig_devset *set,
			  const struct vfiomig_devset_set_opts *opts,
			  struct set_request *rq)
{
	unsigned int flags = OPTS_GET(opts, flags, 0u);

	rq->recovery = OPTS_GET(opts, recovery, VFIOMIG_RECOVER_DEFAULT);
	rq->rstate = OPTS_GET(opts, recovery_state, VFIOMIG_STATE_ERROR);
	if (flags) {
		err(set->ctx, "devset: unknown set flags 0x%x", flags);
		return -EINVAL;
	}
	if (rq->recovery < VFIOMIG_RECOVER_DEFAULT ||
	    rq->recovery > VFIOMIG_RECOVER_STAY) {
		err(set->ctx, "devset: unknown recovery policy %d", rq->recovery);
		return -EINVAL;
	}
	if (rq->rstate < 0 || rq->rstate >= VFIOMIG_STATE_NR ||
	    rq->rstate == S_RESUMING) {
		err(set->ctx, "devset: bad recovery state %d", rq->rstate);
		return -EINVAL;
	}
	return 0;
}

/* Every member's plan exists (a member without the target state, a
 * blocked arc): refused before anybody moves. */
static int check_plans(struct vfiomig_devset *set, const int *t)
{
	for (size_t i = 0; i < set->n; i++) {
		int cur = vfm_mig_state(set->m[i].dev);

		if (cur < 0)
			return cur;
		if (cur == VFIOMIG_STATE_ERROR) {
			err(set->ctx, "devset: member %zu (%s) is in ERROR; only a reset leaves it",
			    i, vfm_dev_name(set->m[i].dev));
			return -EIO;
		}
		if (vfiomig_state_plan(cur, t[i], set->m[i].mflags, NULL, 0) < 0) {
			err(set->ctx, "devset: member %zu (%s): no way %s->%s",
			    i, vfm_dev_name(set->m[i].dev), vfm_state_name(cur),
			    vfm_state_name(t[i]));
			return -EINVAL;
		}
	}
	return 0;
}

/* Where member i goes back to by default: where it started, else the
 * nearest state the caller knows (PRE_COPY's session is gone after
 * STOP_COPY: its running twin), else a reset (-1: RESUMING, ERROR). */
static int default_goal(const struct member *m, int origin, int cur)
{
	if (origin == S_RESUMING || origin == VFIOMIG_STATE_ERROR ||
	    cur == VFIOMIG_STATE_ERROR)
		return -1;
	if (vfiomig_state_plan(cur, origin, m->mflags, NULL, 0) >= 0)
		return origin;
	if (origin == S_PRE_COPY)
		return S_RUNNING;
	if (origin == S_PRE_COPY_P2P)
		return S_RUNNING_P2P;
	return -1;
}

/* After a failure: every member back to its goal through the barrier. */
static void rollback(struct vfiomig_devset *set, const struct set_request *rq)
{
	if (rq->recovery == VFIOMIG_RECOVER_STAY)
		return;
	info(set->ctx, "devset: rolling %zu members back", set->n);
	for (size_t i = 0; i < set->n; i++) {
		const struct member *m = &set->m[i];
		int cur = vfm_mig_state(m->dev), goal;

		/* RESUMING is only ever left by a reset here: its way out
		 * commits, and nothing of a failed set change is committed. */
		if (cur == S_RESUMING)
			goal = -1;
		else if (rq->recovery == VFIOMIG_RECOVER_RESET ||
			 (rq->recovery == VFIOMIG_RECOVER_STATE &&
			  rq->rstate == VFIOMIG_STATE_ERROR))
			goal = cur == rq->origin[i] ? rq->origin[i] : -1;
		else if (rq->rstate != VFIOMIG_STATE_ERROR && cur >= 0)
			goal = member_target(m, cur, rq->rstate);
		else
			goal = cur < 0 ? -1 : default_goal(m, rq->origin[i], cur);
		if (goal >= 0 && cur != VFIOMIG_STATE_ERROR &&
		    vfiomig_state_plan(cur, goal, m->mflags, NULL, 0) < 0)
			goal = -1;
		if (goal < 0) {
			member_reset(set, i);
			rq->goal[i] = -1;
		} else {
			rq->goal[i] = goal;
		}
	}
	barrier_walk(set, rq->goal, NULL);
}

static void report(struct vfiomig_devset_set_opts *opts,
		   const struct failure *f)
{
	OPTS_SET(opts, failed_member, f->member);
	OPTS_SET(opts, failed_from, f->from);
	OPTS_SET(opts, failed_to, f->to);
}

/* Validate, then remember where everybody starts. */
static int set_begin(struct vfiomig_devset *set,
		     struct vfiomig_devset_set_opts *opts,
		     struct set_request *rq)
{
	int ret;

	if (!set)
		return -EINVAL;
	ret = OPTS_CHECK(opts, vfiomig_devset_set_opts);
	if (ret)
		return ret;
	report(opts, &(struct failure){ -1, -1, -1, 0 });
	ret = parse_set_opts(set, opts, rq);
	if (ret)
		return ret;
	rq->origin = calloc(2 * set->n, sizeof(int));
	if (!rq->origin)
		return -ENOMEM;
	rq->goal = rq->origin + set->n;
	for (size_t i = 0; i < set->n; i++) {
		rq->origin[i] = vfm_mig_state(set->m[i].dev);
		if (rq->origin[i] < 0) {
			ret = rq->origin[i];
			free(rq->origin);
			return ret;
		}
	}
	return 0;
}

static int set_walk(struct vfiomig_devset *set, int target,
		    struct set_request *rq, struct failure *f)
{
	int ret;

	for (size_t i = 0; i < set->n; i++)
		rq->goal[i] = member_target(&set->m[i], rq->origin[i], target);
	ret = check_plans(set, rq->goal);
	if (ret < 0)
		return ret; /* nothing moved */
	ret = barrier_walk(set, rq->goal, f);
	if (ret < 0)
		rollback(set, rq);
	return ret;
}

VFIOMIG_EXPORT int vfiomig_devset_state_set(struct vfiomig_devset *set,
					    int target,
					    struct vfiomig_devset_set_opts *opts)
{
	struct failure f = { -1, -1, -1, 0 };
	struct set_request rq;
	int ret;

	ret = set_begin(set, opts, &rq);
	if (ret)
		return ret;
	if (target <= VFIOMIG_STATE_ERROR || target >= VFIOMIG_STATE_NR) {
		err(set->ctx, "devset: bad target state %d", target);
		ret = -EINVAL;
	} else {
		ret = set_walk(set, target, &rq, &f);
	}
	if (ret < 0 && f.member >= 0)
		report(opts, &f);
	free(rq.origin);
	return ret;
}

/* load_finish's preconditions on every member, before any commits: in
 * RESUMING with the library's own, unspoiled session. */
static int check_resuming(struct vfiomig_devset *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct vfiomig_device *dev = set->m[i].dev;
		int s = vfm_mig_state(dev), ret = 0;

		vfm_dev_lock(dev);
		if (s != S_RESUMING)
			ret = s < 0 ? s : -EINVAL;
		else if (dev->session.refused)
			ret = -EBADMSG;
		else if (dev->session.fd < 0 || dev->session.saving)
			ret = -ENODEV;
		vfm_dev_unlock(dev);
		if (ret < 0) {
			err(set->ctx,
			    "devset: load_finish: member %zu (%s) %s; nothing committed",
			    i, vfm_dev_name(dev),
			    ret == -EBADMSG ? "had a load fail" :
			    ret == -ENODEV  ? "has no resuming session of the library's" :
					      "is not resuming");
			return ret;
		}
	}
	return 0;
}

/* Phase 0: every member commits (to STOP, before any member runs; a set
 * of one straight to the target). */
static int commit_all(struct vfiomig_devset *set, int to, struct failure *f)
{
	for (size_t i = 0; i < set->n; i++) {
		int ret = member_step(set, i, to, true, f);

		if (ret < 0)
			return ret;
	}
	return 0;
}

VFIOMIG_EXPORT int vfiomig_devset_load_finish(
	struct vfiomig_devset *set, int target,
	struct vfiomig_devset_set_opts *opts)
{
	struct failure f = { -1, -1, -1, 0 };
	struct set_request rq;
	int ret;

	ret = set_begin(set, opts, &rq);
	if (ret)
		return ret;
	if (target != S_STOP && target != S_RUNNING_P2P && target != S_RUNNING) {
		err(set->ctx,
		    "devset: load_finish: target must be stop, running-p2p or running");
		ret = -EINVAL;
		goto out;
	}
	ret = check_resuming(set);
	if (ret < 0)
		goto out;
	ret = commit_all(set, set->n == 1 ? target : S_STOP, &f);
	if (ret < 0) {
		/* Committed or refused, RESUMING is never gone back to. */
		rollback(set, &rq);
		goto out;
	}
	for (size_t i = 0; i < set->n; i++)
		rq.origin[i] = S_STOP; /* a later failure goes back here */
	if (set->n == 1)
		goto out;
	ret = set_walk(set, target, &rq, &f);
out:
	if (ret < 0 && f.member >= 0)
		report(opts, &f);
	free(rq.origin);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Aggregates                                                          */

static int member_stats(struct vfiomig_device *dev,
			struct vfiomig_devset_stats *st)
{
	struct vfiomig_precopy_info pi = { 0 };
	uint64_t scl = 0;
	int s, ret;

	ret = vfm_data_size(dev, &scl);
	if (ret < 0 && ret != -ENOTTY)
		return ret;
	s = vfm_mig_state(dev);
	if (s < 0)
		return s;
	*st = (struct vfiomig_devset_stats){ .stop_copy_bytes = scl,
					     .initial_drained = true };
	if (s != S_PRE_COPY && s != S_PRE_COPY_P2P)
		return 0;
	ret = vfm_precopy_info(dev, &pi);
	if (ret < 0)
		return ret;
	st->initial_bytes = pi.initial_bytes;
	st->dirty_bytes = pi.dirty_bytes;
	st->precopy = 1;
	vfm_dev_lock(dev);
	st->reinits = dev->session.reinits;
	st->initial_drained = !pi.initial_bytes && !dev->session.reinit_pending;
	vfm_dev_unlock(dev);
	return 0;
}

static void stats_add(struct vfiomig_devset_stats *sum,
		      const struct vfiomig_devset_stats *st)
{
	sum->stop_copy_bytes += st->stop_copy_bytes;
	sum->initial_bytes += st->initial_bytes;
	sum->dirty_bytes += st->dirty_bytes;
	sum->precopy += st->precopy;
	sum->reinits += st->reinits;
	sum->initial_drained = sum->initial_drained && st->initial_drained;
}

VFIOMIG_EXPORT int vfiomig_devset_stats(struct vfiomig_devset *set, size_t i,
					struct vfiomig_devset_stats *stats)
{
	struct vfiomig_devset_stats sum = { .initial_drained = true }, st;
	int ret;

	if (!set || !stats ||
	    stats->sz < offsetofend(struct vfiomig_devset_stats, sz) ||
	    (i != VFIOMIG_DEVSET_TOTAL && i >= set->n))
		return -EINVAL;
	ret = OPTS_CHECK(stats, vfiomig_devset_stats);
	if (ret)
		return ret;
	for (size_t k = 0; k < set->n; k++) {
		if (i != VFIOMIG_DEVSET_TOTAL && k != i)
			continue;
		ret = member_stats(set->m[k].dev, &st);
		if (ret < 0)
			return ret;
		stats_add(&sum, &st);
	}
	OPTS_SET(stats, stop_copy_bytes, sum.stop_copy_bytes);
	OPTS_SET(stats, initial_bytes, sum.initial_bytes);
	OPTS_SET(stats, dirty_bytes, sum.dirty_bytes);
	OPTS_SET(stats, precopy, sum.precopy);
	OPTS_SET(stats, reinits, sum.reinits);
	OPTS_SET(stats, initial_drained, sum.initial_drained);
	return 0;
}
