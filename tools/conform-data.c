// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: the driver's data sessions.  The fds (O_CLOEXEC,
 * one-way, streams), PRECOPY_INFO, how precopy and stop-copy data end,
 * MIG_DATA_SIZE against the real stream, and a round trip into a peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conform.h"

/* One session's fd: O_CLOEXEC, one-way, a stream. */
static void fd_props(struct conform *k, int st, char *why, size_t size,
		     size_t *n)
{
	bool saving = st == VFIOMIG_STATE_STOP_COPY;
	const char *what = saving ? "saving" : "resuming";
	char c = 0;
	ssize_t r;
	int fd, ret, fl;

	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, st)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		addf(why, size, n, "cannot open a %s session: %s", what,
		     cli_strerror(ret ? ret : -ENOENT));
		return;
	}
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || !(fl & FD_CLOEXEC))
		addf(why, size, n, "the %s fd is not O_CLOEXEC", what);
	errno = 0;
	r = saving ? write(fd, &c, 1) : read(fd, &c, 1);
	if (!(r < 0 && errno == EBADF))
		addf(why, size, n, "%s() on a %s fd: %s (expected EBADF)",
		     saving ? "write" : "read", what, r < 0 ? cli_errname(errno) : "accepted");
	/* Positioned I/O in the fd's own direction: a stream says ESPIPE
	 * (and, if it wrongly accepted, this touches no data: 0 bytes). */
	errno = 0;
	r = saving ? pread(fd, &c, 0, 0) : pwrite(fd, &c, 0, 0);
	if (!(r < 0 && errno == ESPIPE))
		addf(why, size, n, "%s() on a %s fd: %s (expected ESPIPE)",
		     saving ? "pread" : "pwrite", what,
		     r < 0 ? cli_errname(errno) : "accepted");
}

void check_data_fd(struct conform *k)
{
	char why[400] = "";
	size_t n = 0;

	fd_props(k, VFIOMIG_STATE_STOP_COPY, why, sizeof(why), &n);
	fd_props(k, VFIOMIG_STATE_RESUMING, why, sizeof(why), &n);
	if (k->raw_fds_cloexec == 0)
		addf(why, sizeof(why), &n, "a data fd returned by SET is not O_CLOEXEC");
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	if (n)
		report(k, CK_DATA_FD, R_FAIL, "%s", why);
	else
		report(k, CK_DATA_FD, R_PASS, "O_CLOEXEC, one-way (EBADF), stream (ESPIPE)");
}

void check_precopy_info(struct conform *k)
{
	struct vfiomig_precopy_info info;
	char why[256] = "";
	int ret;

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		report(k, CK_PRECOPY_INFO, R_SKIP, "no PRE_COPY support");
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_PRE_COPY))) {
		report(k, CK_PRECOPY_INFO, R_FAIL, "cannot enter pre-copy: %s", cli_strerror(ret));
		reset_dev(k, k->dev);
		return;
	}
	ret = vfiomig_precopy_info(k->dev, &info);
	if (ret) {
		snprintf(why, sizeof(why), "in pre-copy: %s", cli_errname(ret));
		goto fail;
	}
	if (supported(k->flags, VFIOMIG_STATE_PRE_COPY_P2P)) {
		if ((ret = goto_state(k->dev, VFIOMIG_STATE_PRE_COPY_P2P))) {
			snprintf(why, sizeof(why), "pre-copy -> pre-copy-p2p: %s",
				 cli_errname(ret));
			goto fail;
		}
		ret = vfiomig_precopy_info(k->dev, &info);
		if (ret) {
			snprintf(why, sizeof(why), "in pre-copy-p2p: %s", cli_errname(ret));
			goto fail;
		}
	}
	if ((ret = goto_state(k->dev, VFIOMIG_STATE_STOP_COPY))) {
		snprintf(why, sizeof(why), "-> stop-copy: %s", cli_errname(ret));
		goto fail;
	}
	ret = vfiomig_precopy_info(k->dev, &info);
	if (ret != -EINVAL) {
		snprintf(why, sizeof(why), "in stop-copy: %s (expected EINVAL)",
			 ret ? cli_errname(ret) : "answered");
		goto fail;
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	report(k, CK_PRECOPY_INFO, R_PASS, "answers in pre-copy%s, EINVAL in stop-copy",
	       supported(k->flags, VFIOMIG_STATE_PRE_COPY_P2P) ? " and pre-copy-p2p" : "");
	return;
fail:
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	report(k, CK_PRECOPY_INFO, R_FAIL, "%s", why);
}

/* PRE_COPY: drain, check the end, then STOP_COPY in the same fd. */
void check_precopy_stream(struct conform *k)
{
	struct vfiomig_precopy_info before, after;
	int fd, ret, end, st, newfd;
	int64_t pre, rest;
	bool run_end = want(k, CK_PRECOPY_END), run_sc = want(k, CK_PRECOPY_TO_STOP_COPY);

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		if (run_end)
			report(k, CK_PRECOPY_END, R_SKIP, "no PRE_COPY support");
		if (run_sc)
			report(k, CK_PRECOPY_TO_STOP_COPY, R_SKIP, "no PRE_COPY support");
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_PRE_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		if (run_end)
			report(k, CK_PRECOPY_END, R_FAIL, "cannot open a pre-copy session: %s",
			       cli_strerror(ret ? ret : -ENOENT));
		reset_dev(k, k->dev);
		return;
	}
	ret = vfiomig_precopy_info(k->dev, &before);
	pre = drain(fd, &end, NULL, NULL);
	if (run_end) {
		char extra[160] = "";
		int r2 = vfiomig_precopy_info(k->dev, &after);

		if (!ret && !r2 && (after.initial_bytes != 0 || after.dirty_bytes != 0))
			snprintf(extra, sizeof(extra),
				 "; PRECOPY_INFO after the drain: initial %" PRIu64
				 ", dirty %" PRIu64 " (expected 0, 0)",
				 after.initial_bytes, after.dirty_bytes);
		else if (!ret && (uint64_t)pre < before.initial_bytes)
			snprintf(extra, sizeof(extra), "; read %" PRId64
				 " bytes but initial_bytes was %" PRIu64, pre,
				 before.initial_bytes);
		if (end == -ENOMSG)
			report(k, CK_PRECOPY_END, extra[0] ? R_WARN : R_PASS,
			       "%" PRId64 " bytes, then ENOMSG%s", pre, extra);
		else if (end == 0)
			report(k, CK_PRECOPY_END, R_WARN,
			       "read() returned 0 instead of ENOMSG at the end of precopy "
			       "data (allowed: mtty, hisi, qat do this); %" PRId64 " bytes%s",
			       pre, extra);
		else
			report(k, CK_PRECOPY_END, R_FAIL, "%" PRId64 " bytes, then %s", pre,
			       cli_errname(end));
	}
	if (!run_sc)
		goto out;
	/* Raw SET: the driver must not hand out a new fd. */
	ret = raw_set(k->dev, VFIOMIG_STATE_STOP_COPY, &newfd);
	st = vfiomig_state_get(k->dev);
	if (ret || st != VFIOMIG_STATE_STOP_COPY) {
		report(k, CK_PRECOPY_TO_STOP_COPY, R_FAIL, "pre-copy -> stop-copy: %s, now %s",
		       ret ? cli_errname(ret) : "accepted", st >= 0 ? cli_state_name(st) : "?");
		if (newfd >= 0)
			close(newfd);
		goto out;
	}
	if (newfd >= 0) {
		close(newfd);
		report(k, CK_PRECOPY_TO_STOP_COPY, R_FAIL,
		       "a new data fd was returned (the session must go on in the old one)");
		goto out;
	}
	rest = drain(fd, &end, NULL, NULL);
	k->precopy_total = pre + rest;
	if (end)
		report(k, CK_PRECOPY_TO_STOP_COPY, R_FAIL,
		       "reading the rest in the pre-copy fd: %s after %" PRId64 " bytes",
		       cli_errname(end), rest);
	else
		report(k, CK_PRECOPY_TO_STOP_COPY, R_PASS,
		       "same fd, %" PRId64 " more bytes (%" PRId64 " in all)", rest,
		       k->precopy_total);
out:
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
}

/* STOP -> STOP_COPY: the whole stream; end with 0, never ENOMSG. */
void check_stop_copy(struct conform *k)
{
	uint64_t dsize = 0;
	int fd, ret, end, end2;
	int64_t n, n2;
	int dret;

	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_STOP))) {
		report(k, CK_STOP_COPY_END, R_FAIL, "cannot reach stop: %s", cli_strerror(ret));
		return;
	}
	dret = vfiomig_data_size(k->dev, &dsize);
	if ((ret = goto_state(k->dev, VFIOMIG_STATE_STOP_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		report(k, CK_STOP_COPY_END, R_FAIL, "cannot open a stop-copy session: %s",
		       cli_strerror(ret ? ret : -ENOENT));
		reset_dev(k, k->dev);
		return;
	}
	n = drain(fd, &end, NULL, NULL);
	n2 = drain(fd, &end2, NULL, NULL);
	if (want(k, CK_STOP_COPY_END)) {
		if (end == -ENOMSG)
			report(k, CK_STOP_COPY_END, R_FAIL,
			       "ENOMSG in stop-copy after %" PRId64 " bytes (the uAPI allows it "
			       "only in pre-copy states)", n);
		else if (end)
			report(k, CK_STOP_COPY_END, R_FAIL, "%s after %" PRId64 " bytes",
			       cli_errname(end), n);
		else if (end2 || n2)
			report(k, CK_STOP_COPY_END, R_FAIL,
			       "%" PRId64 " bytes then 0, but a second read gave %s",
			       n, end2 ? cli_errname(end2) : "more data");
		else
			report(k, CK_STOP_COPY_END, R_PASS, "%" PRId64 " bytes, then read() 0 (twice)",
			       n);
	}
	if (want(k, CK_MIG_DATA_SIZE)) {
		if (dret)
			report(k, CK_MIG_DATA_SIZE, R_FAIL, "MIG_DATA_SIZE: %s", cli_errname(dret));
		else if (end)
			report(k, CK_MIG_DATA_SIZE, R_SKIP, "the stream could not be read");
		else if ((uint64_t)n == dsize &&
			 (k->precopy_total < 0 || (uint64_t)k->precopy_total == dsize))
			report(k, CK_MIG_DATA_SIZE, R_PASS, "%" PRIu64 " bytes = the stream%s", dsize,
			       k->precopy_total >= 0 ? " (from stop and through pre-copy)" : "");
		else if ((uint64_t)n == dsize)
			report(k, CK_MIG_DATA_SIZE, R_WARN,
			       "%" PRIu64 " = the stop-copy stream, but the stream through "
			       "pre-copy has %" PRId64 " bytes", dsize, k->precopy_total);
		else
			report(k, CK_MIG_DATA_SIZE, R_WARN,
			       "%" PRIu64 " bytes, the stream has %" PRId64 " (%s-estimate: a VMM "
			       "sizes its buffers from it)", dsize, n,
			       (uint64_t)n > dsize ? "under" : "over");
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
}

void check_round_trip(struct conform *k)
{
	struct membuf a = { 0 }, b = { 0 };
	const char *pd, *dd;
	int ret, st;

	if (!k->peer) {
		report(k, CK_ROUND_TRIP, R_SKIP,
		       "needs a second device of the same kind (--peer DEVICE)");
		return;
	}
	pd = vfiomig_device_driver(k->peer);
	dd = vfiomig_device_driver(k->dev);
	if (!pd || !dd || strcmp(pd, dd) ||
	    (vfiomig_device_mdev_type(k->dev) && (!vfiomig_device_mdev_type(k->peer) ||
	     strcmp(vfiomig_device_mdev_type(k->dev), vfiomig_device_mdev_type(k->peer))))) {
		report(k, CK_ROUND_TRIP, R_SKIP, "%s is not of the same kind as %s",
		       k->peer_name, k->name);
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = reset_dev(k, k->peer))) {
		report(k, CK_ROUND_TRIP, R_FAIL, "reset: %s", cli_strerror(ret));
		return;
	}
	/* An incomplete stream must not be accepted. */
	if ((ret = save_all(k->dev, &a)) || a.len == 0) {
		report(k, CK_ROUND_TRIP, R_FAIL, "save: %s", ret ? cli_strerror(ret) : "no data");
		goto out;
	}
	reset_dev(k, k->dev);
	ret = load_all(k->peer, a.p, a.len / 2, VFIOMIG_STATE_STOP);
	reset_dev(k, k->peer);
	if (!ret) {
		report(k, CK_ROUND_TRIP, R_WARN,
		       "the driver accepted half a stream (%zu of %zu bytes) at resuming -> stop",
		       a.len / 2, a.len);
		goto out;
	}
	ret = load_all(k->peer, a.p, a.len, VFIOMIG_STATE_RUNNING);
	if (ret) {
		report(k, CK_ROUND_TRIP, R_FAIL, "loading %zu bytes into %s: %s", a.len,
		       k->peer_name, cli_strerror(ret));
		goto out;
	}
	st = vfiomig_state_get(k->peer);
	if (st != VFIOMIG_STATE_RUNNING) {
		report(k, CK_ROUND_TRIP, R_FAIL, "%s is %s after the load, not running",
		       k->peer_name, st >= 0 ? cli_state_name(st) : "?");
		goto out;
	}
	if ((ret = save_all(k->peer, &b))) {
		report(k, CK_ROUND_TRIP, R_FAIL, "saving %s again: %s", k->peer_name,
		       cli_strerror(ret));
		goto out;
	}
	if (a.len == b.len && !memcmp(a.p, b.p, a.len))
		report(k, CK_ROUND_TRIP, R_PASS,
		       "%zu bytes loaded into %s (half a stream refused), saved again identical",
		       a.len, k->peer_name);
	else
		report(k, CK_ROUND_TRIP, R_WARN,
		       "loaded and running, but saving %s again gives %zu bytes that differ "
		       "from the %zu loaded (fine if the stream is not deterministic)",
		       k->peer_name, b.len, a.len);
out:
	free(a.p);
	free(b.p);
	reset_dev(k, k->dev);
	reset_dev(k, k->peer);
	cli_clear_err(k->c);
}
