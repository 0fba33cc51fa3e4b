// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: the device lists of save, load and migrate (xfer.h) made
 * into device sets, their state changes, and the way back after a
 * failure (sources where they started, destinations reset).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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
