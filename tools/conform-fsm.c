// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: the driver's state machine.  Its migration flags,
 * the state it starts in, the targets it must refuse, every pair of
 * supported states (raw SETs, a data fd exactly where the library's
 * planner says an arc opens a session), the arcs the uAPI forbids, and
 * what VFIO_DEVICE_RESET does to a session.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

/* Which protocol the library found (k->proto, asked before the checks). */
void check_protocol(struct conform *k)
{
	switch (k->proto) {
	case VFIOMIG_PROTO_V2:
	case VFIOMIG_PROTO_V1:
		report(k, CK_PROTOCOL, R_PASS, "%s (%s)", cli_proto_name(k->proto),
		       cli_proto_what(k->proto));
		break;
	case VFIOMIG_PROTO_NONE:
		report(k, CK_PROTOCOL, R_FAIL, "none (no FEATURE_MIGRATION, no "
		       "migration region)");
		break;
	default:
		report(k, CK_PROTOCOL, R_FAIL, "cannot tell: %s", cli_strerror(k->proto));
		break;
	}
	cli_clear_err(k->c);
}

/* The gate: without migration v2, nothing else is meaningful. */
void check_flags(struct conform *k)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	char s[64];
	int ret = vfiomig_device_caps(k->dev, &caps);

	k->has_mig = false;
	if (ret) {
		report(k, CK_MIGRATION_FLAGS, R_FAIL, "cannot read the capabilities: %s",
		       cli_strerror(ret));
		return;
	}
	if (!(caps.features & VFIOMIG_CAP_MIGRATION)) {
		report(k, CK_MIGRATION_FLAGS, R_FAIL,
		       "FEATURE_MIGRATION: ENOTTY (the driver has no migration support)");
		return;
	}
	k->flags = caps.migration_flags;
	cli_mig_flags_str(k->flags, s, sizeof(s));
	if (!(k->flags & VFIOMIG_MIG_STOP_COPY)) {
		report(k, CK_MIGRATION_FLAGS, R_FAIL, "0x%" PRIx64 " (%s): STOP_COPY is mandatory",
		       k->flags, s);
		return;
	}
	if (k->flags & ~CLI_MIG_KNOWN)
		report(k, CK_MIGRATION_FLAGS, R_WARN, "0x%" PRIx64 " (%s): unknown bits",
		       k->flags, s);
	else
		report(k, CK_MIGRATION_FLAGS, R_PASS, "0x%" PRIx64 " (%s)", k->flags, s);
	k->has_mig = true;
}

void check_initial(struct conform *k)
{
	int st = vfiomig_state_get(k->dev), ret;

	if (st < 0) {
		report(k, CK_INITIAL_STATE, R_FAIL, "GET MIG_DEVICE_STATE: %s",
		       cli_strerror(st));
		return;
	}
	ret = reset_dev(k, k->dev);
	if (ret) {
		report(k, CK_INITIAL_STATE, R_FAIL, "was %s; after VFIO_DEVICE_RESET: %s",
		       cli_state_name(st), ret == -EPROTO ? "not RUNNING" : cli_strerror(ret));
		return;
	}
	if (st == VFIOMIG_STATE_RUNNING)
		report(k, CK_INITIAL_STATE, R_PASS, "running; running after a reset");
	else
		report(k, CK_INITIAL_STATE, R_WARN,
		       "found in %s (a driver may keep the state across close, as mtty "
		       "does); running after a reset", cli_state_name(st));
}

/*
 * v1's own invalid state: _SAVING|_RESUMING written straight into
 * device_state (read-modify-write at its native width, the driver's
 * bits 3-31 kept) must be refused with EINVAL and change nothing.
 * True when it was not.
 */
static bool v1_both_bits(struct conform *k, char *what, size_t size, size_t *n)
{
	uint32_t idx, was, now, bad;
	int ret;

	if (vfiomig_region_find(k->dev, 3 /* MIGRATION */, 1, &idx) ||
	    vfiomig_region_read(k->dev, idx, 0, &was, sizeof(was))) {
		addf(what, size, n, "the migration region's device_state cannot be read");
		return true;
	}
	bad = (was & ~7u) | 6u; /* _SAVING|_RESUMING */
	ret = vfiomig_region_write(k->dev, idx, 0, &bad, sizeof(bad));
	if (vfiomig_region_read(k->dev, idx, 0, &now, sizeof(now)))
		now = ~0u;
	if (ret == -EINVAL && now == was)
		return false;
	addf(what, size, n, "_SAVING|_RESUMING: %s, device_state now %#x",
	     ret ? cli_errname(ret) : "accepted", now);
	reset_dev(k, k->dev);
	return true;
}

void check_invalid_targets(struct conform *k)
{
	int bad = 0, tried = 0, fd, ret, st;
	char what[200] = "";
	size_t n = 0;

	/* ERROR and 8 (past the last state) are never supported. */
	for (int t = 0; t <= VFIOMIG_STATE_NR; t++) {
		if (supported(k->flags, t))
			continue;
		tried++;
		ret = raw_set(k->dev, t, &fd);
		if (fd >= 0)
			close(fd);
		st = vfiomig_state_get(k->dev);
		if (ret != -EINVAL || st != VFIOMIG_STATE_RUNNING) {
			bad++;
			addf(what, sizeof(what), &n, "%s: %s, now %s",
			     t == VFIOMIG_STATE_NR ? "8" : cli_state_name(t),
			     ret ? cli_errname(ret) : "accepted",
			     st >= 0 ? cli_state_name(st) : "?");
			reset_dev(k, k->dev);
		}
	}
	if (is_v1(k) && v1_both_bits(k, what, sizeof(what), &n))
		bad++;
	cli_clear_err(k->c);
	if (bad)
		report(k, CK_INVALID_TARGETS, R_FAIL, "expected EINVAL and no change: %s", what);
	else if (is_v1(k))
		report(k, CK_INVALID_TARGETS, R_PASS, "_SAVING|_RESUMING refused by the "
		       "driver with EINVAL; %d unsupported targets refused (no v1 bits)",
		       tried);
	else
		report(k, CK_INVALID_TARGETS, R_PASS, "%d unsupported targets refused with EINVAL",
		       tried);
}

static void note_fd(struct conform *k, int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0 && !(fl & FD_CLOEXEC))
		k->raw_fds_cloexec = 0;
	else if (k->raw_fds_cloexec < 0)
		k->raw_fds_cloexec = 1;
}

void check_pairs(struct conform *k)
{
	int pairs = 0, bad = 0, ret, fd, st, path[VFIOMIG_STATE_NR], n;
	char first[256] = "";
	struct membuf own = { 0 };

	/* The device's own stream, to leave RESUMING with. */
	if (!reset_dev(k, k->dev) && !save_all(k->dev, &own)) {
		k->stream = own.p;
		k->stream_len = own.len;
	} else {
		free(own.p);
	}

	for (int from = 1; from < VFIOMIG_STATE_NR; from++) {
		if (!supported(k->flags, from))
			continue;
		for (int to = 1; to < VFIOMIG_STATE_NR; to++) {
			bool want_fd, ok = true;
			char why[160] = "";

			if (!supported(k->flags, to))
				continue;
			/* Checked on their own (stop-copy-to-pre-copy). */
			if (from == VFIOMIG_STATE_STOP_COPY &&
			    (to == VFIOMIG_STATE_PRE_COPY || to == VFIOMIG_STATE_PRE_COPY_P2P))
				continue;
			n = vfiomig_state_plan(from, to, k->flags, path, ARRAY_SIZE(path));
			if (n < 0) {
				snprintf(why, sizeof(why), "the library has no path (%s)",
					 cli_strerror(n));
				ok = false;
				goto record;
			}
			want_fd = n > 0 && !is_v1(k) &&
				  vfiomig_arc_opens_session(n > 1 ? path[n - 2] : from,
							    path[n - 1]);
			pairs++;
			if (reset_dev(k, k->dev) || goto_state(k->dev, from) ||
			    vfiomig_state_get(k->dev) != from) {
				snprintf(why, sizeof(why), "could not reach %s first",
					 cli_state_name(from));
				ok = false;
				goto record;
			}
			/* Leaving RESUMING needs a complete stream. */
			if (from == VFIOMIG_STATE_RESUMING &&
			    (ret = cli_load_buf(k->dev, k->stream, k->stream_len))) {
				snprintf(why, sizeof(why), "loading the device's own %zu-byte "
					 "stream first: %s", k->stream_len, cli_errname(ret));
				ok = false;
				goto record;
			}
			/* Our raw SET is the only owner of data fds now. */
			vfiomig_data_close(k->dev);
			ret = raw_set(k->dev, to, &fd);
			st = vfiomig_state_get(k->dev);
			if (ret) {
				snprintf(why, sizeof(why), "SET failed: %s (now %s)",
					 cli_errname(ret), st >= 0 ? cli_state_name(st) : "?");
				ok = false;
			} else if (st != to) {
				snprintf(why, sizeof(why), "GET answers %s",
					 st >= 0 ? cli_state_name(st) : cli_strerror(st));
				ok = false;
			} else if (want_fd != (fd >= 0)) {
				snprintf(why, sizeof(why), want_fd ? "no data fd returned" :
					 "a data fd was returned on an arc that opens no session");
				ok = false;
			}
			if (fd >= 0) {
				note_fd(k, fd);
				close(fd);
			}
record:
			if (!ok) {
				bad++;
				if (!first[0])
					snprintf(first, sizeof(first), "%s -> %s: %s",
						 cli_state_name(from), cli_state_name(to), why);
				if (k->c->verbose)
					fprintf(stderr, "conform: %s -> %s: %s\n",
						cli_state_name(from), cli_state_name(to), why);
			}
		}
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	if (bad)
		report(k, CK_STATE_PAIRS, R_FAIL, "%d of %d pairs wrong; first: %s%s", bad,
		       pairs, first, k->c->verbose ? "" : " (-v lists all)");
	else if (is_v1(k))
		report(k, CK_STATE_PAIRS, R_PASS, "%d pairs: target reached (v1: "
		       "device_state bits, no data fds)", pairs);
	else
		report(k, CK_STATE_PAIRS, R_PASS,
		       "%d pairs: target reached, data fds exactly on the fd-creating arcs",
		       pairs);
}

void check_no_stop_copy_to_pre_copy(struct conform *k)
{
	int fd, ret, st, bad = 0;
	char why[200] = "";

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		report(k, CK_STOP_COPY_TO_PRE_COPY, R_SKIP, "no PRE_COPY support");
		return;
	}
	for (int to = VFIOMIG_STATE_PRE_COPY; to <= VFIOMIG_STATE_PRE_COPY_P2P; to++) {
		if (!supported(k->flags, to))
			continue;
		if (reset_dev(k, k->dev) || goto_state(k->dev, VFIOMIG_STATE_STOP_COPY)) {
			snprintf(why, sizeof(why), "could not reach stop-copy");
			bad++;
			break;
		}
		ret = raw_set(k->dev, to, &fd);
		if (fd >= 0)
			close(fd);
		st = vfiomig_state_get(k->dev);
		if (ret != -EINVAL || st != VFIOMIG_STATE_STOP_COPY) {
			snprintf(why, sizeof(why), "stop-copy -> %s: %s, now %s",
				 cli_state_name(to), ret ? cli_errname(ret) : "accepted",
				 st >= 0 ? cli_state_name(st) : "?");
			bad++;
		}
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	if (bad)
		report(k, CK_STOP_COPY_TO_PRE_COPY, R_FAIL, "%s", why);
	else
		report(k, CK_STOP_COPY_TO_PRE_COPY, R_PASS,
		       "refused with EINVAL, the device stays in stop-copy");
}

/* v1: no data fd to see fail; the reset must end either session with
 * device_state back at _RUNNING. */
static void check_reset_v1(struct conform *k)
{
	static const int sessions[] = { VFIOMIG_STATE_STOP_COPY, VFIOMIG_STATE_RESUMING };
	char why[256] = "";
	size_t n = 0;
	int ret, st;

	for (size_t i = 0; i < ARRAY_SIZE(sessions); i++) {
		const char *name = cli_state_name(sessions[i]);

		if ((ret = reset_dev(k, k->dev)) ||
		    (ret = goto_state(k->dev, sessions[i]))) {
			addf(why, sizeof(why), &n, "cannot reach %s: %s", name,
			     cli_strerror(ret));
			continue;
		}
		ret = vfiomig_device_reset(k->dev);
		st = vfiomig_state_get(k->dev);
		if (ret || st != VFIOMIG_STATE_RUNNING)
			addf(why, sizeof(why), &n, "reset in %s: %s, then %s", name,
			     ret ? cli_errname(ret) : "ok",
			     st >= 0 ? cli_state_name(st) : "?");
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	if (n)
		report(k, CK_RESET, R_FAIL, "%s", why);
	else
		report(k, CK_RESET, R_PASS, "ends saving and resuming, device running "
		       "(v1: no data fds to see fail)");
}

void check_reset(struct conform *k)
{
	char c = 0, why[256] = "";
	int fd, dup1, ret, st;
	ssize_t r;
	size_t n = 0;

	if (is_v1(k)) {
		check_reset_v1(k);
		return;
	}

	/* Saving session. */
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_STOP_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		report(k, CK_RESET, R_FAIL, "cannot open a stop-copy session: %s",
		       cli_strerror(ret ? ret : -ENOENT));
		reset_dev(k, k->dev);
		return;
	}
	dup1 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	ret = vfiomig_device_reset(k->dev);
	st = vfiomig_state_get(k->dev);
	if (ret || st != VFIOMIG_STATE_RUNNING)
		addf(why, sizeof(why), &n, "reset in stop-copy: %s, then %s", ret ? cli_errname(ret) : "ok",
				      st >= 0 ? cli_state_name(st) : "?");
	if (dup1 >= 0) {
		r = read(dup1, &c, 1);
		if (r >= 0)
			addf(why, sizeof(why), &n, "the old saving fd still reads (%zd)", r);
		close(dup1);
	}
	/* Resuming session. */
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_RESUMING)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		addf(why, sizeof(why), &n, "cannot open a resuming session: %s", cli_strerror(ret ? ret : -ENOENT));
		goto done;
	}
	dup1 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	ret = vfiomig_device_reset(k->dev);
	st = vfiomig_state_get(k->dev);
	if (ret || st != VFIOMIG_STATE_RUNNING)
		addf(why, sizeof(why), &n, "reset in resuming: %s, then %s",
				      ret ? cli_errname(ret) : "ok", st >= 0 ? cli_state_name(st) : "?");
	if (dup1 >= 0) {
		r = write(dup1, &c, 1);
		if (r >= 0)
			addf(why, sizeof(why), &n, "the old resuming fd still takes data");
		close(dup1);
	}
done:
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	if (n)
		report(k, CK_RESET, R_FAIL, "%s", why);
	else
		report(k, CK_RESET, R_PASS,
		       "ends saving and resuming sessions (old fds fail), device running");
}
