// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: saving a device set (xfer.h), for save and migrate alike:
 * paced precopy rounds while the set runs, then STOP_COPY for the set and
 * its data, every byte through the caller's sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xfer.h"

/* One member's sink, as the library's write callback sees it. */
struct save_ctx {
	struct progress *prog;
	xfer_sink_fn sink;
	void *sink_arg;
	size_t index;
	bool precopy;
	uint64_t *counter;
	int sink_err;
};

static ssize_t save_write_fn(void *arg, const void *buf, size_t len)
{
	struct save_ctx *s = arg;
	int ret;

	if (!len)
		return 0;
	if (cli_interrupted) {
		s->sink_err = cli_interrupt_err();
		return s->sink_err;
	}
	ret = s->sink(s->sink_arg, s->index, buf, len, s->precopy);
	if (ret) {
		s->sink_err = ret;
		return ret;
	}
	*s->counter += len;
	s->prog->bytes += len;
	progress_update(s->prog, false);
	return (ssize_t)len;
}

struct saver {
	struct cli *c;
	struct xfer_list *l;
	const struct xfer_opts *xo;
	struct progress *prog;
	struct save_ctx *sc;     /* one per member */
	struct vfiomig_io *io;   /* one per member */
	uint64_t step;           /* budget of one member's step */
};

/* Precopy when every member has it and the set is on the running side:
 * PRE_COPY or PRE_COPY_P2P, else -1 (straight to STOP_COPY). */
static int precopy_target(const struct xfer_list *l, const struct xfer_opts *xo)
{
	if (xo->no_precopy)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		if (!(l->m[i].flags & VFIOMIG_MIG_PRE_COPY))
			return -1;
	if (l->m[0].orig == VFIOMIG_STATE_RUNNING)
		return VFIOMIG_STATE_PRE_COPY;
	if (l->m[0].orig == VFIOMIG_STATE_RUNNING_P2P)
		return VFIOMIG_STATE_PRE_COPY_P2P;
	return -1;
}

/* Per member, on progress lines (a set of more than one). */
static void member_lines(struct saver *s, unsigned int round)
{
	char b[32], ini[32], dir[32];

	if (!s->prog->lines || s->l->n < 2)
		return;
	for (size_t i = 0; i < s->l->n; i++) {
		struct xfer_member *m = &s->l->m[i];

		cli_bytes_str(m->precopy_bytes, b, sizeof(b));
		cli_bytes_str(m->pp.initial_bytes, ini, sizeof(ini));
		cli_bytes_str(m->pp.dirty_bytes, dir, sizeof(dir));
		fprintf(stderr, "%s: member %zu %s: pre-copy %s, round %u, initial %s, dirty %s%s\n",
			s->prog->label, i, cli_esc(m->name), b, round, ini, dir,
			m->pp.initial_drained ? ", drained" : "");
	}
}

/* One round: every member steps in turn, at most xo->step bytes a step,
 * until none has more for now.  0 or a negative errno. */
static int precopy_round(struct saver *s)
{
	struct xfer_list *l = s->l;
	bool *busy = calloc(l->n, sizeof(*busy));
	size_t left = l->n;
	int ret = 0;

	if (!busy)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		busy[i] = true;
	while (left && !ret) {
		for (size_t i = 0; i < l->n && !ret; i++) {
			struct xfer_member *m = &l->m[i];
			int64_t n;

			if (!busy[i])
				continue;
			if (cli_interrupted) {
				ret = cli_interrupt_err();
				break;
			}
			n = vfiomig_precopy_step(m->dev, &s->io[i], s->step, &m->pp);
			if (n < 0) {
				ret = s->sc[i].sink_err ? s->sc[i].sink_err : (int)n;
				cli_err_lib(s->c, ret, "%s: precopy failed", m->name);
				break;
			}
			m->reinits = m->pp.reinits;
			if ((uint64_t)n < s->step) {
				busy[i] = false;
				left--;
			}
		}
	}
	free(busy);
	return ret;
}

/* The set's totals as the members' last steps saw them (their own
 * PRECOPY_INFO, no extra ioctl). */
static void estimate(const struct xfer_list *l, struct vfiomig_devset_stats *t)
{
	t->initial_bytes = t->dirty_bytes = 0;
	t->initial_drained = true;
	for (size_t i = 0; i < l->n; i++) {
		t->initial_bytes += l->m[i].pp.initial_bytes;
		t->dirty_bytes += l->m[i].pp.dirty_bytes;
		t->initial_drained = t->initial_drained && l->m[i].pp.initial_drained;
	}
}

/* Whether the totals meet the policy (stall counted by the caller). */
static bool ready(const struct vfiomig_devset_stats *t, unsigned int stalled)
{
	return t->initial_drained && (!t->dirty_bytes || stalled >= 3);
}

/*
 * The set's switchover policy, the library's over the whole set: never
 * while some initial data is left (re-initialised or not); then when the
 * dirty total is 0 or has not shrunk for 3 rounds; --max-rounds caps.
 * The members' own step reports estimate it; the set's exact figures
 * (vfiomig_devset_stats) are asked only when the estimate says ready, as
 * QEMU does with its pending estimate and exact.
 */
static int precopy_rounds(struct saver *s, struct xfer_stats *st)
{
	uint64_t prev_dirty = UINT64_MAX;
	unsigned int stalled = 0;

	for (unsigned int round = 1;; round++) {
		VFIOMIG_OPTS(vfiomig_devset_stats, tot);
		int ret = precopy_round(s);

		if (ret) {
			if (ret == -EINTR || ret == -EFBIG)
				cli_err(s->c, "interrupted in precopy round %u", round);
			return ret;
		}
		estimate(s->l, &tot);
		if (tot.initial_drained) {
			stalled = tot.dirty_bytes >= prev_dirty ? stalled + 1 : 0;
			prev_dirty = tot.dirty_bytes;
		} else {
			stalled = 0;
			prev_dirty = UINT64_MAX;
		}
		if (ready(&tot, stalled)) {
			ret = vfiomig_devset_stats(s->l->set, VFIOMIG_DEVSET_TOTAL, &tot);
			if (ret) {
				cli_err_lib(s->c, ret, "%s: precopy totals", cli_esc(s->l->arg));
				return ret;
			}
		}
		st->rounds = round;
		s->prog->round = round;
		s->prog->initial = tot.initial_bytes;
		s->prog->dirty = tot.dirty_bytes;
		member_lines(s, round);
		progress_update(s->prog, true);
		if (s->xo->max_rounds && round >= s->xo->max_rounds)
			return 0;
		if (ready(&tot, stalled))
			return 0;
	}
}

/* Every member's STOP_COPY data, member by member. */
static int stop_copy_data(struct saver *s)
{
	for (size_t i = 0; i < s->l->n; i++) {
		struct xfer_member *m = &s->l->m[i];
		int64_t n;

		s->sc[i].precopy = false;
		s->sc[i].counter = &m->stop_copy_bytes;
		n = vfiomig_save(m->dev, &s->io[i], 0);
		if (n < 0) {
			int ret = s->sc[i].sink_err ? s->sc[i].sink_err : (int)n;

			cli_err_lib(s->c, ret, "%s: reading the stop-copy data failed",
				    m->name);
			return ret;
		}
	}
	return 0;
}

/* Members of a set start from one state, so that the way back is one
 * move of the set through the barrier. */
int xfer_check_sources(struct cli *c, const struct xfer_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!(l->m[i].flags & VFIOMIG_MIG_STOP_COPY)) {
			cli_err(c, "%s does not support STOP_COPY migration", l->m[i].name);
			return -EOPNOTSUPP;
		}
		if (l->m[i].orig != l->m[0].orig) {
			cli_err(c, "%s is in %s but %s in %s: a set starts from one state "
				   "(vfiomig-ctl state %s STATE first)",
				l->m[0].name, cli_state_name(l->m[0].orig), l->m[i].name,
				cli_state_name(l->m[i].orig), cli_esc(l->arg));
			return -EINVAL;
		}
	}
	return 0;
}

int xfer_save_set(struct cli *c, struct xfer_list *l,
		  const struct xfer_opts *xo, xfer_sink_fn sink, void *sink_arg,
		  struct progress *prog, struct xfer_stats *st, bool *moved)
{
	struct saver s = { .c = c, .l = l, .xo = xo, .prog = prog,
			   .step = xo->step ? xo->step : STREAM_DEFAULT_CHUNK };
	double t0 = cli_now();
	int pre, ret;

	ret = xfer_check_sources(c, l);
	if (ret)
		return ret;
	s.sc = calloc(l->n, sizeof(*s.sc));
	s.io = calloc(l->n, sizeof(*s.io));
	if (!s.sc || !s.io) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct xfer_member *m = &l->m[i];

		s.sc[i] = (struct save_ctx){ .prog = prog, .sink = sink,
					     .sink_arg = sink_arg, .index = i,
					     .precopy = true,
					     .counter = &m->precopy_bytes };
		s.io[i] = (struct vfiomig_io){ .sz = sizeof(s.io[i]),
					       .kind = VFIOMIG_IO_CB,
					       .write_fn = save_write_fn,
					       .arg = &s.sc[i] };
		memset(&m->pp, 0, sizeof(m->pp));
		m->pp.sz = sizeof(m->pp);
	}
	/* The library brings a set back to where its call found it (PRE_COPY
	 * for the STOP_COPY step); the command's way back is further. */
	pre = precopy_target(l, xo);
	if (pre >= 0) {
		ret = xfer_set_state(c, l, pre, moved);
		if (ret)
			goto back;
		progress_phase(prog, "pre-copy");
		ret = precopy_rounds(&s, st);
		if (ret)
			goto back;
	}
	ret = xfer_set_state(c, l, VFIOMIG_STATE_STOP_COPY, moved);
	if (ret)
		goto back;
	progress_phase(prog, "stop-copy");
	ret = stop_copy_data(&s);
	if (ret)
		goto back;
	goto out;
back:
	if (*moved)
		xfer_sources_back(c, l);
out:
	st->seconds = cli_now() - t0;
	free(s.sc);
	free(s.io);
	return ret;
}
