// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: check a driver's VFIO migration support against the
 * uAPI (include/uapi/linux/vfio.h; kernel-contract.md 2-8), for driver
 * developers.  The state machine is driven with raw VFIO_DEVICE_FEATURE
 * SETs (vfiomig_feature_set) so that what is checked is the driver, not
 * the library's path planning; the library provides the expected paths
 * (vfiomig_state_plan) and the data sessions.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char usage_conform[] =
	"conform DEVICE [--peer DEVICE] [--only CHECK,...] [--json]\n"
	"\n"
	"Check DEVICE's driver against the VFIO migration uAPI, for driver\n"
	"developers.  One line per check: PASS, FAIL, SKIP (with the reason)\n"
	"or WARN (allowed, but worth knowing), then a summary.  The exit\n"
	"status is 0 when no check failed.  The device is reset (RUNNING) at\n"
	"the start and the end: do not run this on a device in use.\n"
	"\n"
	"Checks:\n"
	"  migration-flags     FEATURE_MIGRATION answers, STOP_COPY is set\n"
	"  initial-state       GET works; the device is RUNNING after a reset\n"
	"  invalid-targets     ERROR, 8 and unsupported states are refused\n"
	"                      (EINVAL) and leave the state alone\n"
	"  state-pairs         every pair of supported states: the SET\n"
	"                      succeeds, GET answers the target, and a data fd\n"
	"                      comes back exactly on the fd-creating arcs\n"
	"  data-fd             data fds are O_CLOEXEC, one-way (EBADF), streams\n"
	"                      (ESPIPE)\n"
	"  stop-copy-to-pre-copy  STOP_COPY -> PRE_COPY(_P2P) refused (EINVAL)\n"
	"  precopy-info        PRECOPY_INFO valid in PRE_COPY states only\n"
	"  precopy-end         end of precopy data: ENOMSG (read() 0: WARN)\n"
	"  precopy-to-stop-copy  PRE_COPY -> STOP_COPY keeps the fd (no new\n"
	"                      one), the stream goes on in it\n"
	"  stop-copy-end       end of stop-copy data: read() 0, never ENOMSG\n"
	"  mig-data-size       MIG_DATA_SIZE against the real stream size\n"
	"  round-trip          save, load into --peer, RUNNING, save again and\n"
	"                      compare; an incomplete stream is refused\n"
	"                      (SKIP without --peer)\n"
	"  reset               VFIO_DEVICE_RESET ends saving and resuming\n"
	"                      sessions and returns to RUNNING\n"
	"  dma-logging         DMA_LOGGING_START/REPORT/STOP validation\n"
	"\n"
	"  --peer DEVICE   a second device of the same kind for round-trip\n"
	"  --only LIST     run only these checks (comma-separated)\n"
	"  --json          machine-readable output\n"
	"  --iommu PATH    open through auto (default), iommufd or type1\n"
	"  -v              show the library's log\n";

enum { OPT_PEER = OPT_FIRST_CMD, OPT_ONLY };

enum result { R_PASS, R_FAIL, R_SKIP, R_WARN };
static const char *const result_name[] = { "PASS", "FAIL", "SKIP", "WARN" };

struct conform {
	struct cli *c;
	struct vfiomig_device *dev, *peer;
	const char *name, *peer_name;
	uint64_t flags;
	bool has_mig;
	const char *only;
	struct json j;
	unsigned int count[4];
	/* Filled by the checks that produce them. */
	int64_t stop_copy_bytes;  /* from STOP, -1 unknown */
	int64_t precopy_total;    /* PRE_COPY + STOP_COPY stream, -1 unknown */
	/* Whether every data fd state-pairs got from the kernel was
	 * O_CLOEXEC: -1 none seen. */
	int raw_fds_cloexec;
	/* The device's own stop-copy stream, to resume from in state-pairs. */
	unsigned char *stream;
	size_t stream_len;
	bool have_stream;
};

/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE payload (uAPI). */
struct mig_state {
	uint32_t device_state;
	int32_t data_fd;
};

static void report(struct conform *k, const char *check, enum result r,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report(struct conform *k, const char *check, enum result r,
		   const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	k->count[r]++;
	if (k->c->json) {
		json_begin_obj(&k->j, NULL);
		json_str(&k->j, "check", check);
		json_str(&k->j, "result", result_name[r]);
		json_str(&k->j, "detail", detail);
		json_end(&k->j);
	} else {
		printf("%s %-22s %s\n", result_name[r], check, cli_esc(detail));
		fflush(stdout);
	}
}

/* Appends "; " (after the first) and a formatted part to buf. */
static void addf(char *buf, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void addf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= size - 1)
		return;
	if (*n) {
		k = snprintf(buf + *n, size - *n, "; ");
		*n += k > 0 ? (size_t)k : 0;
		if (*n >= size - 1)
			return;
	}
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	*n += k > 0 ? (size_t)k : 0;
	if (*n > size - 1)
		*n = size - 1;
}

static bool supported(uint64_t flags, int st)
{
	switch (st) {
	case VFIOMIG_STATE_STOP:
	case VFIOMIG_STATE_RUNNING:
	case VFIOMIG_STATE_STOP_COPY:
	case VFIOMIG_STATE_RESUMING:
		return flags & VFIOMIG_MIG_STOP_COPY;
	case VFIOMIG_STATE_RUNNING_P2P:
		return (flags & VFIOMIG_MIG_STOP_COPY) && (flags & VFIOMIG_MIG_P2P);
	case VFIOMIG_STATE_PRE_COPY:
		return (flags & VFIOMIG_MIG_STOP_COPY) && (flags & VFIOMIG_MIG_PRE_COPY);
	case VFIOMIG_STATE_PRE_COPY_P2P:
		return (flags & 7) == 7;
	}
	return false;
}

/* Raw SET: the driver's answer, data fd in *fd (-1 if none). */
static int raw_set(struct vfiomig_device *dev, int state, int *fd)
{
	struct mig_state m = { .device_state = (uint32_t)state, .data_fd = -1 };
	int ret = vfiomig_feature_set(dev, VFIOMIG_FEATURE_MIG_DEVICE_STATE, &m,
				      sizeof(m));

	*fd = ret ? -1 : m.data_fd;
	return ret;
}

/* Reset to RUNNING, dropping any library session. */
static int reset_dev(struct conform *k, struct vfiomig_device *dev)
{
	int ret;

	vfiomig_data_close(dev);
	ret = vfiomig_device_reset(dev);
	if (ret)
		return ret;
	ret = vfiomig_state_get(dev);
	if (ret < 0)
		return ret;
	cli_clear_err(k->c);
	return ret == VFIOMIG_STATE_RUNNING ? 0 : -EPROTO;
}

/* Walk to st through the library (one arc at a time); keep its session. */
static int goto_state(struct vfiomig_device *dev, int st)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);

	return vfiomig_state_set(dev, st, &so);
}

static bool want(const struct conform *k, const char *check)
{
	const char *p = k->only;
	size_t n = strlen(check);

	if (!p)
		return true;
	for (; (p = strstr(p, check)); p += n)
		if ((p == k->only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return true;
	return false;
}

/* Reads until 0/error; returns bytes, *end = 0 or -errno that ended it. */
static int64_t drain(int fd, int *end, unsigned char **copy, size_t *copylen)
{
	unsigned char buf[65536];
	int64_t total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*end = n < 0 ? -errno : 0;
			return total;
		}
		if (copy) {
			unsigned char *p = realloc(*copy, *copylen + (size_t)n);

			if (!p) {
				*end = -ENOMEM;
				return total;
			}
			memcpy(p + *copylen, buf, (size_t)n);
			*copy = p;
			*copylen += (size_t)n;
		}
		total += n;
	}
}

/* ------------------------------------------------------------ checks */

static bool check_flags(struct conform *k)
{
	VFIOMIG_OPTS(vfiomig_caps, caps);
	char s[64];
	int ret = vfiomig_device_caps(k->dev, &caps);

	if (ret) {
		report(k, "migration-flags", R_FAIL, "cannot read the capabilities: %s",
		       cli_strerror(ret));
		return false;
	}
	if (!(caps.features & VFIOMIG_CAP_MIGRATION)) {
		report(k, "migration-flags", R_FAIL,
		       "FEATURE_MIGRATION: ENOTTY (the driver has no migration support)");
		return false;
	}
	k->flags = caps.migration_flags;
	cli_mig_flags_str(k->flags, s, sizeof(s));
	if (!(k->flags & VFIOMIG_MIG_STOP_COPY)) {
		report(k, "migration-flags", R_FAIL, "0x%" PRIx64 " (%s): STOP_COPY is mandatory",
		       k->flags, s);
		return false;
	}
	if (k->flags & ~(uint64_t)7)
		report(k, "migration-flags", R_WARN, "0x%" PRIx64 " (%s): unknown bits",
		       k->flags, s);
	else
		report(k, "migration-flags", R_PASS, "0x%" PRIx64 " (%s)", k->flags, s);
	return true;
}

static void check_initial(struct conform *k)
{
	int st = vfiomig_state_get(k->dev), ret;

	if (st < 0) {
		report(k, "initial-state", R_FAIL, "GET MIG_DEVICE_STATE: %s",
		       cli_strerror(st));
		return;
	}
	ret = reset_dev(k, k->dev);
	if (ret) {
		report(k, "initial-state", R_FAIL, "was %s; after VFIO_DEVICE_RESET: %s",
		       cli_state_name(st), ret == -EPROTO ? "not RUNNING" : cli_strerror(ret));
		return;
	}
	if (st == VFIOMIG_STATE_RUNNING)
		report(k, "initial-state", R_PASS, "running; running after a reset");
	else
		report(k, "initial-state", R_WARN,
		       "found in %s (a driver may keep the state across close, as mtty "
		       "does); running after a reset", cli_state_name(st));
}

static void check_invalid_targets(struct conform *k)
{
	int bad = 0, tried = 0, fd, ret, st;
	char what[200] = "";
	size_t n = 0;

	for (int t = 0; t <= VFIOMIG_STATE_NR; t++) {
		if (t != VFIOMIG_STATE_ERROR && t != VFIOMIG_STATE_NR &&
		    supported(k->flags, t))
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
	cli_clear_err(k->c);
	if (bad)
		report(k, "invalid-targets", R_FAIL, "expected EINVAL and no change: %s", what);
	else
		report(k, "invalid-targets", R_PASS, "%d unsupported targets refused with EINVAL",
		       tried);
}

struct membuf {
	unsigned char *p;
	size_t len;
};

static ssize_t mem_write(void *arg, const void *buf, size_t len)
{
	struct membuf *m = arg;
	unsigned char *p;

	if (m->len + len > (1u << 30))
		return -EFBIG;
	p = realloc(m->p, m->len + len);
	if (!p)
		return -ENOMEM;
	memcpy(p + m->len, buf, len);
	m->p = p;
	m->len += len;
	return (ssize_t)len;
}

static int save_all(struct vfiomig_device *dev, struct membuf *m)
{
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB, .write_fn = mem_write,
		     .arg = m);
	int64_t n;
	int ret = goto_state(dev, VFIOMIG_STATE_STOP_COPY);

	if (ret)
		return ret;
	n = vfiomig_save(dev, &io, 0);
	return n < 0 ? (int)n : 0;
}

/* RESUMING, p written, then (target >= 0) load_finish to target. */
static int load_all(struct vfiomig_device *dev, const void *p, size_t len,
		    int target)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);
	int ret = goto_state(dev, VFIOMIG_STATE_RESUMING);

	if (!ret)
		ret = cli_load_buf(dev, p, len);
	if (!ret && target >= 0)
		ret = vfiomig_load_finish(dev, target, &so);
	return ret;
}

static void note_fd(struct conform *k, int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0 && !(fl & FD_CLOEXEC))
		k->raw_fds_cloexec = 0;
	else if (k->raw_fds_cloexec < 0)
		k->raw_fds_cloexec = 1;
}

static void check_pairs(struct conform *k)
{
	int pairs = 0, bad = 0, ret, fd, st, path[16], n;
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
			want_fd = n > 0 &&
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
		report(k, "state-pairs", R_FAIL, "%d of %d pairs wrong; first: %s%s", bad,
		       pairs, first, k->c->verbose ? "" : " (-v lists all)");
	else
		report(k, "state-pairs", R_PASS,
		       "%d pairs: target reached, data fds exactly on the fd-creating arcs",
		       pairs);
}

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

static void check_data_fd(struct conform *k)
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
		report(k, "data-fd", R_FAIL, "%s", why);
	else
		report(k, "data-fd", R_PASS, "O_CLOEXEC, one-way (EBADF), stream (ESPIPE)");
}

static void check_no_stop_copy_to_pre_copy(struct conform *k)
{
	int fd, ret, st, bad = 0;
	char why[200] = "";

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		report(k, "stop-copy-to-pre-copy", R_SKIP, "no PRE_COPY support");
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
		report(k, "stop-copy-to-pre-copy", R_FAIL, "%s", why);
	else
		report(k, "stop-copy-to-pre-copy", R_PASS,
		       "refused with EINVAL, the device stays in stop-copy");
}

static void check_precopy_info(struct conform *k)
{
	struct vfiomig_precopy_info info;
	char why[256] = "";
	int ret;

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		report(k, "precopy-info", R_SKIP, "no PRE_COPY support");
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_PRE_COPY))) {
		report(k, "precopy-info", R_FAIL, "cannot enter pre-copy: %s", cli_strerror(ret));
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
	report(k, "precopy-info", R_PASS, "answers in pre-copy%s, EINVAL in stop-copy",
	       supported(k->flags, VFIOMIG_STATE_PRE_COPY_P2P) ? " and pre-copy-p2p" : "");
	return;
fail:
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
	report(k, "precopy-info", R_FAIL, "%s", why);
}

/* PRE_COPY: drain, check the end, then STOP_COPY in the same fd. */
static void check_precopy_stream(struct conform *k)
{
	struct vfiomig_precopy_info before, after;
	int fd, ret, end, st, newfd;
	int64_t pre, rest;
	bool run_end = want(k, "precopy-end"), run_sc = want(k, "precopy-to-stop-copy");

	if (!supported(k->flags, VFIOMIG_STATE_PRE_COPY)) {
		if (run_end)
			report(k, "precopy-end", R_SKIP, "no PRE_COPY support");
		if (run_sc)
			report(k, "precopy-to-stop-copy", R_SKIP, "no PRE_COPY support");
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_PRE_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		if (run_end)
			report(k, "precopy-end", R_FAIL, "cannot open a pre-copy session: %s",
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
			report(k, "precopy-end", extra[0] ? R_WARN : R_PASS,
			       "%" PRId64 " bytes, then ENOMSG%s", pre, extra);
		else if (end == 0)
			report(k, "precopy-end", R_WARN,
			       "read() returned 0 instead of ENOMSG at the end of precopy "
			       "data (allowed: mtty, hisi, qat do this); %" PRId64 " bytes%s",
			       pre, extra);
		else
			report(k, "precopy-end", R_FAIL, "%" PRId64 " bytes, then %s", pre,
			       cli_errname(end));
	}
	if (!run_sc)
		goto out;
	/* Raw SET: the driver must not hand out a new fd. */
	ret = raw_set(k->dev, VFIOMIG_STATE_STOP_COPY, &newfd);
	st = vfiomig_state_get(k->dev);
	if (ret || st != VFIOMIG_STATE_STOP_COPY) {
		report(k, "precopy-to-stop-copy", R_FAIL, "pre-copy -> stop-copy: %s, now %s",
		       ret ? cli_errname(ret) : "accepted", st >= 0 ? cli_state_name(st) : "?");
		if (newfd >= 0)
			close(newfd);
		goto out;
	}
	if (newfd >= 0) {
		close(newfd);
		report(k, "precopy-to-stop-copy", R_FAIL,
		       "a new data fd was returned (the session must go on in the old one)");
		goto out;
	}
	rest = drain(fd, &end, NULL, NULL);
	k->precopy_total = pre + rest;
	if (end)
		report(k, "precopy-to-stop-copy", R_FAIL,
		       "reading the rest in the pre-copy fd: %s after %" PRId64 " bytes",
		       cli_errname(end), rest);
	else
		report(k, "precopy-to-stop-copy", R_PASS,
		       "same fd, %" PRId64 " more bytes (%" PRId64 " in all)", rest,
		       k->precopy_total);
out:
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
}

/* STOP -> STOP_COPY: the whole stream; end with 0, never ENOMSG. */
static void check_stop_copy(struct conform *k)
{
	uint64_t dsize = 0;
	int fd, ret, end, end2;
	int64_t n, n2;
	int dret;

	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_STOP))) {
		report(k, "stop-copy-end", R_FAIL, "cannot reach stop: %s", cli_strerror(ret));
		return;
	}
	dret = vfiomig_data_size(k->dev, &dsize);
	if ((ret = goto_state(k->dev, VFIOMIG_STATE_STOP_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		report(k, "stop-copy-end", R_FAIL, "cannot open a stop-copy session: %s",
		       cli_strerror(ret ? ret : -ENOENT));
		reset_dev(k, k->dev);
		return;
	}
	n = drain(fd, &end, NULL, NULL);
	n2 = drain(fd, &end2, NULL, NULL);
	k->stop_copy_bytes = end ? -1 : n;
	if (want(k, "stop-copy-end")) {
		if (end == -ENOMSG)
			report(k, "stop-copy-end", R_FAIL,
			       "ENOMSG in stop-copy after %" PRId64 " bytes (the uAPI allows it "
			       "only in pre-copy states)", n);
		else if (end)
			report(k, "stop-copy-end", R_FAIL, "%s after %" PRId64 " bytes",
			       cli_errname(end), n);
		else if (end2 || n2)
			report(k, "stop-copy-end", R_FAIL,
			       "%" PRId64 " bytes then 0, but a second read gave %s",
			       n, end2 ? cli_errname(end2) : "more data");
		else
			report(k, "stop-copy-end", R_PASS, "%" PRId64 " bytes, then read() 0 (twice)",
			       n);
	}
	if (want(k, "mig-data-size")) {
		if (dret)
			report(k, "mig-data-size", R_FAIL, "MIG_DATA_SIZE: %s", cli_errname(dret));
		else if (end)
			report(k, "mig-data-size", R_SKIP, "the stream could not be read");
		else if ((uint64_t)n == dsize &&
			 (k->precopy_total < 0 || (uint64_t)k->precopy_total == dsize))
			report(k, "mig-data-size", R_PASS, "%" PRIu64 " bytes = the stream%s", dsize,
			       k->precopy_total >= 0 ? " (from stop and through pre-copy)" : "");
		else if ((uint64_t)n == dsize)
			report(k, "mig-data-size", R_WARN,
			       "%" PRIu64 " = the stop-copy stream, but the stream through "
			       "pre-copy has %" PRId64 " bytes", dsize, k->precopy_total);
		else
			report(k, "mig-data-size", R_WARN,
			       "%" PRIu64 " bytes, the stream has %" PRId64 " (%s-estimate: a VMM "
			       "sizes its buffers from it)", dsize, n,
			       (uint64_t)n > dsize ? "under" : "over");
	}
	reset_dev(k, k->dev);
	cli_clear_err(k->c);
}

static void check_round_trip(struct conform *k)
{
	struct membuf a = { 0 }, b = { 0 };
	const char *pd, *dd;
	int ret, st;

	if (!k->peer) {
		report(k, "round-trip", R_SKIP,
		       "needs a second device of the same kind (--peer DEVICE)");
		return;
	}
	pd = vfiomig_device_driver(k->peer);
	dd = vfiomig_device_driver(k->dev);
	if (!pd || !dd || strcmp(pd, dd) ||
	    (vfiomig_device_mdev_type(k->dev) && (!vfiomig_device_mdev_type(k->peer) ||
	     strcmp(vfiomig_device_mdev_type(k->dev), vfiomig_device_mdev_type(k->peer))))) {
		report(k, "round-trip", R_SKIP, "%s is not of the same kind as %s",
		       k->peer_name, k->name);
		return;
	}
	if ((ret = reset_dev(k, k->dev)) || (ret = reset_dev(k, k->peer))) {
		report(k, "round-trip", R_FAIL, "reset: %s", cli_strerror(ret));
		return;
	}
	/* An incomplete stream must not be accepted. */
	if ((ret = save_all(k->dev, &a)) || a.len == 0) {
		report(k, "round-trip", R_FAIL, "save: %s", ret ? cli_strerror(ret) : "no data");
		goto out;
	}
	reset_dev(k, k->dev);
	ret = load_all(k->peer, a.p, a.len / 2, VFIOMIG_STATE_STOP);
	reset_dev(k, k->peer);
	if (!ret) {
		report(k, "round-trip", R_WARN,
		       "the driver accepted half a stream (%zu of %zu bytes) at resuming -> stop",
		       a.len / 2, a.len);
		goto out;
	}
	ret = load_all(k->peer, a.p, a.len, VFIOMIG_STATE_RUNNING);
	if (ret) {
		report(k, "round-trip", R_FAIL, "loading %zu bytes into %s: %s", a.len,
		       k->peer_name, cli_strerror(ret));
		goto out;
	}
	st = vfiomig_state_get(k->peer);
	if (st != VFIOMIG_STATE_RUNNING) {
		report(k, "round-trip", R_FAIL, "%s is %s after the load, not running",
		       k->peer_name, st >= 0 ? cli_state_name(st) : "?");
		goto out;
	}
	if ((ret = save_all(k->peer, &b))) {
		report(k, "round-trip", R_FAIL, "saving %s again: %s", k->peer_name,
		       cli_strerror(ret));
		goto out;
	}
	if (a.len == b.len && !memcmp(a.p, b.p, a.len))
		report(k, "round-trip", R_PASS,
		       "%zu bytes loaded into %s (half a stream refused), saved again identical",
		       a.len, k->peer_name);
	else
		report(k, "round-trip", R_WARN,
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

static void check_reset(struct conform *k)
{
	char c = 0, why[256] = "";
	int fd, dup1, ret, st;
	ssize_t r;
	size_t n = 0;

	/* Saving session. */
	if ((ret = reset_dev(k, k->dev)) || (ret = goto_state(k->dev, VFIOMIG_STATE_STOP_COPY)) ||
	    (fd = vfiomig_data_fd(k->dev)) < 0) {
		report(k, "reset", R_FAIL, "cannot open a stop-copy session: %s",
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
		report(k, "reset", R_FAIL, "%s", why);
	else
		report(k, "reset", R_PASS,
		       "ends saving and resuming sessions (old fds fail), device running");
}

/* uAPI payloads of the DMA logging features. */
struct log_range {
	uint64_t iova, length;
};
struct log_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
	uint64_t ranges;
};
struct log_report {
	uint64_t iova, length, page_size, bitmap;
};

static int log_start(struct vfiomig_device *dev, struct log_range *r, uint32_t n,
		     uint64_t *pgsize)
{
	struct log_control ctl = { .page_size = *pgsize, .num_ranges = n,
				   .ranges = (uint64_t)(uintptr_t)r };
	int ret = vfiomig_feature_set(dev, VFIOMIG_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));

	*pgsize = ctl.page_size;
	return ret;
}

static int log_report(struct vfiomig_device *dev, uint64_t iova, uint64_t len,
		      uint64_t pgsize, uint64_t *bm)
{
	struct log_report rep = { iova, len, pgsize, (uint64_t)(uintptr_t)bm };

	return vfiomig_feature_get(dev, VFIOMIG_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
}

static int log_stop(struct vfiomig_device *dev)
{
	return vfiomig_feature_set(dev, VFIOMIG_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

static void check_dma_logging(struct conform *k)
{
	struct log_range r[2];
	uint64_t bm[4] = { 0 }, ps;
	char why[400] = "", warn[256] = "";
	size_t n = 0, w = 0;
	int ret = vfiomig_feature_probe(k->dev, VFIOMIG_FEATURE_DMA_LOGGING_START,
					VFIOMIG_FEATURE_SET);

	cli_clear_err(k->c);
	if (ret <= 0) {
		report(k, "dma-logging", R_SKIP, "no DMA logging (%s)",
		       ret ? cli_strerror(ret) : "the driver has no log_ops");
		return;
	}
#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			addf(why, sizeof(why), &n, __VA_ARGS__);               \
	} while (0)
	ps = 4096;
	ret = log_start(k->dev, r, 0, &ps);
	EXPECT(ret == -EINVAL, "START with 0 ranges: %s", ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);
	r[0] = (struct log_range){ 0x100000, 0x200000 };
	r[1] = (struct log_range){ 0x200000, 0x200000 };
	ps = 4096;
	ret = log_start(k->dev, r, 2, &ps);
	EXPECT(ret == -EINVAL, "START with overlapping ranges: %s",
	       ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);
	r[0] = (struct log_range){ 0x100800, 0x1000 };
	ps = 4096;
	ret = log_start(k->dev, r, 1, &ps);
	EXPECT(ret == -EINVAL, "START with an unaligned range: %s",
	       ret ? cli_errname(ret) : "accepted");
	if (!ret)
		log_stop(k->dev);

	r[0] = (struct log_range){ 0x100000, 0x40000 };
	ps = 4096;
	ret = log_start(k->dev, r, 1, &ps);
	EXPECT(!ret, "START of one aligned range: %s", cli_errname(ret));
	if (!ret) {
		uint64_t ps2 = 4096;

		if (ps != 4096)
			addf(warn, sizeof(warn), &w, "tracks at page size %" PRIu64, ps);
		ret = log_report(k->dev, 0x100000, 0x40000, 4096, bm);
		if (ret == -EOPNOTSUPP)
			addf(warn, sizeof(warn), &w, "REPORT: EOPNOTSUPP (a kernel without "
			     "CONFIG_IOMMUFD_DRIVER)");
		else
			EXPECT(!ret, "REPORT: %s", cli_errname(ret));
		ret = log_report(k->dev, 0x100000, 0x40000, 1024, bm);
		EXPECT(ret == -EINVAL, "REPORT with page size 1024: %s",
		       ret ? cli_errname(ret) : "accepted");
		ret = log_report(k->dev, 0x100000, 0x40000, 6144, bm);
		EXPECT(ret == -EINVAL, "REPORT with page size 6144: %s",
		       ret ? cli_errname(ret) : "accepted");
		ret = log_start(k->dev, r, 1, &ps2);
		if (!ret)
			addf(warn, sizeof(warn), &w, "a second START while logging was accepted "
					      "(allowed: mtty does this)");
		ret = log_stop(k->dev);
		EXPECT(!ret, "STOP: %s", cli_errname(ret));
	}
#undef EXPECT
	cli_clear_err(k->c);
	if (n)
		report(k, "dma-logging", R_FAIL, "%s", why);
	else if (w)
		report(k, "dma-logging", R_WARN, "validation as the core does it; %s", warn);
	else
		report(k, "dma-logging", R_PASS,
		       "bad START refused (0 ranges, overlap, unaligned), START/REPORT/STOP "
		       "work, bad REPORT page sizes refused, second START refused");
}

static const char *const all_checks[] = {
	"migration-flags", "initial-state", "invalid-targets", "state-pairs", "data-fd",
	"stop-copy-to-pre-copy", "precopy-info", "precopy-end", "precopy-to-stop-copy",
	"stop-copy-end", "mig-data-size", "round-trip", "reset", "dma-logging",
};

int cmd_conform(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "only", required_argument, NULL, OPT_ONLY },
		CLI_END_OPT,
	};
	struct conform k = { .c = c, .stop_copy_bytes = -1, .precopy_total = -1,
			     .raw_fds_cloexec = -1 };
	int opt, ret, status = EXIT_FAIL;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PEER:
			k.peer_name = optarg;
			continue;
		case OPT_ONLY:
			k.only = optarg;
			continue;
		}
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind != 1)
		return cli_usage(c, "expected one DEVICE");
	k.name = argv[optind];
	if (k.peer_name && !strcmp(k.peer_name, k.name))
		return cli_usage(c, "--peer must be another device");
	if (k.only) {
		char *copy = strdup(k.only), *save = NULL;

		if (!copy)
			return EXIT_FAIL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			bool known = false;

			for (size_t i = 0; i < ARRAY_SIZE(all_checks); i++)
				known |= !strcmp(t, all_checks[i]);
			if (!known) {
				free(copy);
				return cli_usage(c, "--only: unknown check '%s'", t);
			}
		}
		free(copy);
	}
	if (cli_open(c, k.name, &k.dev))
		return EXIT_FAIL;
	if (k.peer_name && cli_open(c, k.peer_name, &k.peer))
		goto out;

	if (c->json) {
		json_init(&k.j, stdout);
		json_begin_obj(&k.j, NULL);
		json_str(&k.j, "device", k.name);
		json_str(&k.j, "driver", vfiomig_device_driver(k.dev));
		json_str(&k.j, "mdev_type", vfiomig_device_mdev_type(k.dev));
		json_str(&k.j, "peer", k.peer_name);
		json_begin_arr(&k.j, "checks");
	} else {
		const char *d = vfiomig_device_driver(k.dev), *t = vfiomig_device_mdev_type(k.dev);

		printf("conform: %s (driver %s%s%s)%s%s\n", cli_esc(k.name),
		       d ? cli_esc(d) : "?", t ? ", type " : "", t ? cli_esc(t) : "",
		       k.peer_name ? ", peer " : "",
		       k.peer_name ? cli_esc(k.peer_name) : "");
	}
	/* Without migration, nothing else is meaningful. */
	k.has_mig = check_flags(&k);
	if (k.has_mig) {
		if (want(&k, "initial-state"))
			check_initial(&k);
		else
			reset_dev(&k, k.dev);
		if (want(&k, "invalid-targets"))
			check_invalid_targets(&k);
		if (want(&k, "state-pairs"))
			check_pairs(&k);
		if (want(&k, "data-fd"))
			check_data_fd(&k);
		if (want(&k, "stop-copy-to-pre-copy"))
			check_no_stop_copy_to_pre_copy(&k);
		if (want(&k, "precopy-info"))
			check_precopy_info(&k);
		if (want(&k, "precopy-end") || want(&k, "precopy-to-stop-copy") ||
		    want(&k, "mig-data-size"))
			check_precopy_stream(&k);
		if (want(&k, "stop-copy-end") || want(&k, "mig-data-size"))
			check_stop_copy(&k);
		if (want(&k, "round-trip"))
			check_round_trip(&k);
		if (want(&k, "reset"))
			check_reset(&k);
		if (want(&k, "dma-logging"))
			check_dma_logging(&k);
		reset_dev(&k, k.dev);
	}
	free(k.stream);
	if (c->json) {
		json_end(&k.j);
		json_begin_obj(&k.j, "summary");
		json_u64(&k.j, "passed", k.count[R_PASS]);
		json_u64(&k.j, "failed", k.count[R_FAIL]);
		json_u64(&k.j, "skipped", k.count[R_SKIP]);
		json_u64(&k.j, "warnings", k.count[R_WARN]);
		json_end(&k.j);
		json_bool(&k.j, "ok", k.count[R_FAIL] == 0);
		json_end(&k.j);
	} else {
		printf("conform: %u passed, %u failed, %u skipped, %u warnings\n",
		       k.count[R_PASS], k.count[R_FAIL], k.count[R_SKIP], k.count[R_WARN]);
	}
	status = k.count[R_FAIL] ? EXIT_FAIL : EXIT_OK;
out:
	vfiomig_device_free(k.peer);
	vfiomig_device_free(k.dev);
	return status;
}
