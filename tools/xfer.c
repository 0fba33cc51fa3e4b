// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: the transfer code save, load and migrate share (xfer.h):
 * device lists, their sets, the paced precopy of a set, the way back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xfer.h"

/* ------------------------------------------------------------ lists */

int xfer_parse_list(struct cli *c, const char *arg, struct xfer_list *l)
{
	size_t n = 1;
	char *p;

	memset(l, 0, sizeof(*l));
	l->arg = arg;
	for (const char *q = arg; *q; q++)
		n += *q == ',';
	if (n > STREAM_MAX_DEVS)
		return cli_usage(c, "%zu devices in '%s': at most %u", n,
				 cli_esc(arg), STREAM_MAX_DEVS);
	l->buf = strdup(arg);
	l->m = calloc(n, sizeof(*l->m));
	if (!l->buf || !l->m) {
		xfer_list_free(l);
		cli_err(c, "%s", cli_strerror(-ENOMEM));
		return EXIT_FAIL;
	}
	p = l->buf;
	for (size_t i = 0; i < n; i++) {
		char *comma = strchr(p, ',');

		if (comma)
			*comma = 0;
		if (!*p) {
			xfer_list_free(l);
			return cli_usage(c, "an empty device name in '%s'", cli_esc(arg));
		}
		for (size_t k = 0; k < i; k++) {
			if (!strcmp(l->m[k].name, p)) {
				/* The message first: p is in l->buf. */
				int ret = cli_usage(c, "%s is named twice in '%s'",
						    cli_esc(p), cli_esc(arg));

				xfer_list_free(l);
				return ret;
			}
		}
		l->m[i].name = p;
		l->m[i].orig = l->m[i].final = -1;
		p = comma ? comma + 1 : p + strlen(p);
	}
	l->n = n;
	return 0;
}

void xfer_list_free(struct xfer_list *l)
{
	vfiomig_devset_free(l->set);
	l->set = NULL;
	for (size_t i = 0; l->m && i < l->n; i++)
		vfiomig_device_free(l->m[i].dev);
	free(l->m);
	free(l->buf);
	l->m = NULL;
	l->buf = NULL;
	l->n = 0;
}

static int get_flags(struct cli *c, struct xfer_member *m)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	int ret = vfiomig_device_caps(m->dev, &caps);

	if (ret) {
		cli_err_lib(c, ret, "cannot read the migration capabilities of %s",
			    m->name);
		return ret;
	}
	if (!(caps.features & VFIOMIG_CAP_MIGRATION)) {
		cli_err(c, "%s does not support migration", m->name);
		return -EOPNOTSUPP;
	}
	m->flags = caps.migration_flags;
	return 0;
}

/* The same device under two names: the same sysfs directory. */
static const struct xfer_member *find_dup(const struct xfer_list *l,
					  size_t upto, const char *path)
{
	for (size_t i = 0; l && i < upto && i < l->n; i++) {
		const char *p = l->m[i].dev ? vfiomig_device_sysfs_path(l->m[i].dev) : NULL;

		if (p && path && !strcmp(p, path))
			return &l->m[i];
	}
	return NULL;
}

int xfer_open_list(struct cli *c, struct xfer_list *l,
		   const struct xfer_list *other)
{
	for (size_t i = 0; i < l->n; i++) {
		struct xfer_member *m = &l->m[i];
		const struct xfer_member *d;
		const char *path;

		if (cli_open(c, m->name, &m->dev) || get_flags(c, m))
			return -1;
		path = vfiomig_device_sysfs_path(m->dev);
		d = find_dup(l, i, path);
		if (!d)
			d = find_dup(other, other ? other->n : 0, path);
		if (d) {
			cli_err(c, "%s and %s are the same device", m->name, d->name);
			return -1;
		}
		if (vfiomig_data_size(m->dev, &m->data_size))
			m->data_size = 0;
	}
	cli_clear_err(c);
	return 0;
}

int xfer_make_set(struct cli *c, struct xfer_list *l, bool allow_no_p2p)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o,
		     .flags = allow_no_p2p ? VFIOMIG_DEVSET_ALLOW_NO_P2P : 0);
	struct vfiomig_device **devs = calloc(l->n, sizeof(*devs));
	int ret;

	if (!devs) {
		cli_err(c, "%s", cli_strerror(-ENOMEM));
		return -1;
	}
	for (size_t i = 0; i < l->n; i++)
		devs[i] = l->m[i].dev;
	cli_clear_err(c);
	ret = vfiomig_devset_new(devs, l->n, &o, &l->set);
	free(devs);
	if (ret == -EOPNOTSUPP) {
		cli_err_lib(c, ret, "%s cannot move as one set", cli_esc(l->arg));
		cli_err(c, "a member without P2P states may stop while its peers "
			   "still DMA into it; --allow-no-p2p accepts that");
		return -1;
	}
	if (ret) {
		cli_err_lib(c, ret, "cannot make a device set of %s", cli_esc(l->arg));
		return -1;
	}
	return 0;
}

int xfer_read_states(struct cli *c, struct xfer_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int s = vfiomig_state_get(l->m[i].dev);

		if (s < 0) {
			cli_err_lib(c, s, "cannot read the state of %s", l->m[i].name);
			return -1;
		}
		l->m[i].orig = s;
	}
	return 0;
}

/* ------------------------------------------------------------ the way back */

int xfer_set_state(struct cli *c, struct xfer_list *l, int target,
		   bool *moved)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int ret;

	so.failed_member = -1;
	cli_clear_err(c);
	ret = vfiomig_devset_state_set(l->set, target, &so);
	if (moved)
		*moved = *moved || !ret || so.failed_member >= 0;
	if (!ret)
		return 0;
	if (so.failed_member >= 0 && (size_t)so.failed_member < l->n)
		cli_err_lib(c, ret, "%s: %s -> %s failed (member %d, on its way to %s)",
			    l->m[so.failed_member].name,
			    cli_state_name(so.failed_from),
			    cli_state_name(so.failed_to), so.failed_member,
			    cli_state_name(target));
	else
		cli_err_lib(c, ret, "%s -> %s refused; nothing moved",
			    cli_esc(l->arg), cli_state_name(target));
	return ret;
}

/* Where a source goes back to: where it started; a PRE_COPY origin's
 * session is gone after STOP_COPY, so its running twin. */
static int back_state(int orig)
{
	if (orig == VFIOMIG_STATE_PRE_COPY)
		return VFIOMIG_STATE_RUNNING;
	if (orig == VFIOMIG_STATE_PRE_COPY_P2P)
		return VFIOMIG_STATE_RUNNING_P2P;
	return orig;
}

void xfer_sources_back(struct cli *c, struct xfer_list *l)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so,
		     .recovery = VFIOMIG_RECOVER_RESET);
	int goal, ret;

	if (!l->set || !l->n || l->m[0].orig < 0)
		return;
	/* Every source started in one state (xfer_save_set checks). */
	goal = back_state(l->m[0].orig);
	cli_clear_err(c);
	ret = vfiomig_devset_state_set(l->set, goal, &so);
	if (ret)
		cli_err_lib(c, ret, "could not bring %s back to %s",
			    l->n > 1 ? "the sources" : "the source",
			    cli_state_name(goal));
	else
		cli_err(c, "%s back in %s", l->n > 1 ? "the sources are" :
			"the source is", cli_state_name(goal));
}

void xfer_dests_reset(struct cli *c, struct xfer_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct xfer_member *m = &l->m[i];
		int ret, st;

		cli_clear_err(c);
		ret = vfiomig_device_reset(m->dev);
		st = vfiomig_state_get(m->dev);
		if (ret)
			cli_err_lib(c, ret, "%s: reset failed; the device is in %s",
				    m->name, st >= 0 ? cli_state_name(st) :
				    "an unknown state");
		else
			cli_err(c, "%s was reset and is now %s", m->name,
				st >= 0 ? cli_state_name(st) : "in an unknown state");
	}
}

int xfer_fail_status(struct cli *c, struct xfer_list *src,
		     struct xfer_list *dst)
{
	bool home = true;

	for (int side = 0; side < 2; side++) {
		struct xfer_list *l = side ? dst : src;

		for (size_t i = 0; l && i < l->n; i++) {
			struct xfer_member *m = &l->m[i];
			/* Destinations (passed once reset): RUNNING. */
			int want = side ? VFIOMIG_STATE_RUNNING : back_state(m->orig);
			int s = m->dev ? vfiomig_state_get(m->dev) : -1;

			m->final = s;
			/* A PRE_COPY origin: itself (state) or its running twin
			 * (a transfer ended its session). */
			if (m->orig < 0 || s == want || (!side && s == m->orig))
				continue;
			home = false;
			cli_err(c, "%s is in %s, not back in %s", m->name,
				s >= 0 ? cli_state_name(s) : "an unknown state",
				cli_state_name(want));
		}
	}
	cli_clear_err(c);
	return home ? EXIT_ROLLED_BACK : EXIT_STRANDED;
}

/* Commits every destination, then the set to target through the barrier. */
int xfer_load_finish(struct cli *c, struct xfer_list *l, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int ret;

	so.failed_member = -1;
	cli_clear_err(c);
	ret = vfiomig_devset_load_finish(l->set, target, &so);
	if (!ret)
		return 0;
	if (so.failed_member >= 0 && (size_t)so.failed_member < l->n)
		cli_err_lib(c, ret, "%s: the driver refused the data (%s -> %s)",
			    l->m[so.failed_member].name, cli_state_name(so.failed_from),
			    cli_state_name(so.failed_to));
	else
		cli_err_lib(c, ret, "%s: resuming -> %s failed", cli_esc(l->arg),
			    cli_state_name(target));
	return ret;
}

/* ------------------------------------------------------------ save */

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

/* ------------------------------------------------------------ identity */

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

void xfer_identity(struct xfer_member *m, struct stream_hdr *h)
{
	struct vfiomig_device *dev = m->dev;
	struct vfiomig_pci_ids ids;

	memset(h, 0, sizeof(*h));
	h->version_major = STREAM_VERSION_MAJOR;
	h->version_minor = STREAM_VERSION_MINOR;
	h->mig_flags = m->flags;
	h->data_size = m->data_size;
	h->created = (uint64_t)time(NULL);
	if (vfiomig_device_mdev_type(dev)) {
		h->kind = STREAM_KIND_MDEV;
		copy_str(h->mdev_type, sizeof(h->mdev_type),
			 vfiomig_device_mdev_type(dev));
	} else if (!vfiomig_device_pci_ids(dev, &ids)) {
		h->kind = STREAM_KIND_PCI;
		h->pci_vendor = ids.vendor;
		h->pci_device = ids.device;
		h->pci_subsystem_vendor = ids.subsystem_vendor;
		h->pci_subsystem_device = ids.subsystem_device;
		h->pci_class = ids.class_code;
	}
	copy_str(h->driver, sizeof(h->driver), vfiomig_device_driver(dev));
	copy_str(h->device, sizeof(h->device), vfiomig_device_name(dev));
	copy_str(h->lib_version, sizeof(h->lib_version),
		 vfiomig_version(NULL, NULL, NULL));
	copy_str(h->tool_version, sizeof(h->tool_version), PACKAGE_VERSION);
	/* As a file records it, so that the compatibility check compares
	 * like with like. */
	stream_hdr_clean(h);
}

void xfer_kind_str(const struct stream_hdr *h, char *buf, size_t len)
{
	if (h->kind == STREAM_KIND_MDEV)
		snprintf(buf, len, "%s mdev of type %s", h->driver[0] ? h->driver : "?",
			 h->mdev_type);
	else if (h->kind == STREAM_KIND_PCI)
		snprintf(buf, len, "%s PCI function %04x:%04x",
			 h->driver[0] ? h->driver : "?", h->pci_vendor, h->pci_device);
	else
		snprintf(buf, len, "%s device", h->driver[0] ? h->driver : "unknown");
}

/* NULL when a stream described by `from` may be loaded into `to`. */
static const char *incompatible(const struct stream_hdr *from,
				const struct stream_hdr *to)
{
	if (strcmp(from->driver, to->driver))
		return "the drivers differ";
	if (from->kind != to->kind)
		return "one is an mdev, the other a PCI function";
	if (from->kind == STREAM_KIND_MDEV && strcmp(from->mdev_type, to->mdev_type))
		return "the mdev types differ";
	if (from->kind == STREAM_KIND_PCI &&
	    (from->pci_vendor != to->pci_vendor || from->pci_device != to->pci_device))
		return "the PCI IDs differ";
	return NULL;
}

int xfer_check_compat(struct cli *c, const struct stream_hdr *from,
		      const char *from_what, const struct stream_hdr *to,
		      const char *to_name, bool force)
{
	const char *why = incompatible(from, to);
	char a[96], b[96];

	if (!why)
		return 0;
	xfer_kind_str(from, a, sizeof(a));
	xfer_kind_str(to, b, sizeof(b));
	if (force) {
		cli_warn(c, "%s is from a %s, %s is a %s (%s); going on (--force)",
			 from_what, cli_esc(a), to_name, cli_esc(b), why);
		return 0;
	}
	cli_err(c, "%s is from a %s, but %s is a %s (%s); use --force to override",
		from_what, cli_esc(a), to_name, cli_esc(b), why);
	return -EXDEV;
}

/* ------------------------------------------------------------ options, io */

int xfer_parse_opt(struct cli *c, int opt, struct xfer_opts *xo)
{
	uint64_t v;

	switch (opt) {
	case 'f':
		xo->force = true;
		return -2;
	case 'o':
	case 'i':
		xo->path = optarg;
		return -2;
	case OPT_NO_PRECOPY:
		xo->no_precopy = true;
		return -2;
	case OPT_MAX_ROUNDS:
		if (cli_parse_u64(optarg, &v) || v == 0 || v > 1000000)
			return cli_usage(c, "--max-rounds: expected a number 1..1000000");
		xo->max_rounds = (unsigned int)v;
		return -2;
	case OPT_STEP:
		if (cli_parse_u64(optarg, &v) || v < 4096 || v > (1ull << 40))
			return cli_usage(c, "--step: expected a size 4K..1T");
		xo->step = v;
		return -2;
	case OPT_RUN:
		xo->run = true;
		return -2;
	case OPT_STOP:
		xo->stop = true;
		return -2;
	case OPT_VERIFY_ONLY:
		xo->verify_only = true;
		return -2;
	case OPT_ALLOW_NO_P2P:
		xo->allow_no_p2p = true;
		return -2;
	case OPT_PROGRESS:
		c->progress = true;
		return -2;
	}
	return cli_common_opt(c, opt, optarg);
}

int xfer_fd_write(void *arg, const void *buf, size_t len)
{
	int fd = *(int *)arg;
	const char *p = buf;

	while (len) {
		ssize_t n;

		/* A signal may end a blocked write early with a short count,
		 * not EINTR: look at the flag before every write. */
		if (cli_interrupted)
			return cli_interrupt_err();
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR && !cli_interrupted)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t xfer_fd_read(void *arg, void *buf, size_t len)
{
	for (;;) {
		ssize_t n;

		if (cli_interrupted)
			return -EINTR;
		n = read(*(int *)arg, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR || cli_interrupted)
			return -errno;
	}
}

void xfer_json_members(struct json *j, const struct xfer_list *l, bool saving)
{
	json_begin_arr(j, "members");
	for (size_t i = 0; i < l->n; i++) {
		const struct xfer_member *m = &l->m[i];

		json_begin_obj(j, NULL);
		json_str(j, "device", m->name);
		if (saving) {
			json_u64(j, "precopy_bytes", m->precopy_bytes);
			json_u64(j, "stop_copy_bytes", m->stop_copy_bytes);
			json_u64(j, "reinits", m->reinits);
		}
		json_str(j, "state", m->final >= 0 ? cli_state_name(m->final) : NULL);
		json_end(j);
	}
	json_end(j);
}
