// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device sets on the fake kernel only (issue 10): what needs programmable
 * (GENERIC) devices.  Sets of one to four over the mixes of capabilities
 * mtty has not (a member without P2P or without PRE_COPY, a device without
 * migration, a member in ERROR), opened through both IOMMU paths.  What
 * the fake sees is the evidence: its arc log (every arc of every device,
 * in order) is replayed to check the P2P barrier, a driver refuses every
 * arc of every member in turn (in the middle of a SET the kernel walks,
 * too), and every member must end where the recovery says with nothing
 * leaked.  Also load_finish on those mixes, the aggregates and
 * PRECOPY_INFOv2 REINIT in the middle of precopy (vfiomig_precopy_step,
 * vfiomig_precopy_iterate, the set's switchover condition).  Whatever
 * holds on mtty (sets of mtty-1 and mtty-2, every member with every
 * capability: the barrier from the kernel's SET log, a fault at every
 * ioctl of a set change, the recovery choices, load_finish, the
 * aggregates, the ioctl economy) is tests/kcase-devset.c, on both kernels.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"
#include "fake-internal.h" /* fake_mig_warnings() */

#define ST(x) VFIOMIG_STATE_##x
#define SC VFIOMIG_MIG_STOP_COPY
#define P2P VFIOMIG_MIG_P2P
#define PC VFIOMIG_MIG_PRE_COPY
#define ALLF (SC | P2P | PC)
#define MAXM 4

/* Every capability mix a migratable device can have. */
static const uint64_t caps4[4] = { SC, SC | P2P, SC | PC, SC | P2P | PC };

/* GENERIC devices of 10 chunks (the last one short), 3 chunks initial. */
#define DEV_SIZE 40000u
#define DEV_CHUNKS 10u
#define DEV_INITIAL 10000u
#define REC (24u + 4096u)
#define INITIAL_BYTES (3u * REC)
#define STREAM_BYTES (DEV_CHUNKS * 24u + DEV_SIZE + 24u)

/* A machine: n source members and, when asked, n destinations. */
static struct {
	struct vfiomig_ctx *ctx;
	size_t n;
	bool dst;
	unsigned int warnings;  /* the fake's WARN_ON count at up() */
	uint64_t fl[MAXM];
	int id[MAXM], did[MAXM];
	struct vfiomig_device *dev[MAXM], *ddev[MAXM];
	struct vfiomig_devset *set, *dset;
} M;

/* What the library logged, for "a log line naming the member". */
static char logbuf[16384];
static size_t loglen;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	va_list copy;
	int n;

	(void)data; (void)file; (void)line; (void)fn;
	va_copy(copy, args);
	if (getenv("VFIOMIG_TEST_LOG")) {
		fprintf(stderr, "vfiomig[%d]: ", priority);
		vfprintf(stderr, format, copy);
		fputc('\n', stderr);
	}
	va_end(copy);
	if (loglen >= sizeof(logbuf) - 2)
		return;
	n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen - 1, format,
		      args);
	if (n > 0)
		loglen += (size_t)n < sizeof(logbuf) - loglen - 2
				  ? (size_t)n
				  : sizeof(logbuf) - loglen - 2;
	logbuf[loglen++] = '\n';
	logbuf[loglen] = '\0';
}

static void log_clear(void)
{
	loglen = 0;
	logbuf[0] = '\0';
}

static const char *bdf(bool dst, size_t i)
{
	static char names[2][MAXM][16];

	snprintf(names[dst][i], sizeof(names[dst][i]), "0000:%02x:00.1",
		 (dst ? 0x50 : 0x40) + (int)i);
	return names[dst][i];
}

/* Sources re-initialise once per saving session after this many bytes
 * (fake cfg.reinit_after; 0 = never), for the tests that set it. */
static size_t reinit_after;

static int add_dev(bool dst, size_t i, uint64_t flags)
{
	struct fake_dev_cfg cfg;
	int id;

	fake_cfg_pci(&cfg, bdf(dst, i), (dst ? 30 : 20) + (int)i,
		     (dst ? 20 : 10) + (int)i, flags);
	cfg.state_size = DEV_SIZE;
	cfg.precopy_initial = DEV_INITIAL;
	cfg.precopy_dirty = 0;
	cfg.precopy_end = i % 2 ? FAKE_END_ZERO : FAKE_END_ENOMSG;
	cfg.precopy_v2 = i % 2 == 0; /* a kernel newer than 6.12 for some */
	cfg.reinit_after = reinit_after;
	cfg.reinit_bytes = 4096;
	id = fake_add_device(&cfg);
	ck_assert_int_ge(id, 0);
	fake_dev_fill(id, (dst ? 0x900 : 0x100) + (uint32_t)i);
	return id;
}

static struct vfiomig_device *open_dev(bool dst, size_t i, unsigned int flags)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .flags = flags,
		     .iommu = i % 2 ? VFIOMIG_IOMMU_TYPE1
				    : VFIOMIG_IOMMU_IOMMUFD);
	struct vfiomig_device *d = NULL;

	ck_assert_int_eq(vfiomig_device_open(M.ctx, bdf(dst, i), &o, &d), 0);
	return d;
}

/* n members with these capabilities (and as many destinations); a set of
 * each side made with devset_flags, unless no_set. */
static void up(size_t n, const uint64_t *flags, bool dst,
	       unsigned int devset_flags, bool no_set)
{
	VFIOMIG_OPTS(vfiomig_ctx_opts, co);
	VFIOMIG_OPTS(vfiomig_devset_opts, so, .flags = devset_flags);

	memset(&M, 0, sizeof(M));
	M.n = n;
	M.dst = dst;
	M.warnings = fake_mig_warnings();
	ck_assert_int_eq(fake_init(true), 0);
	for (size_t i = 0; i < n; i++) {
		M.fl[i] = flags[i];
		M.id[i] = add_dev(false, i, flags[i]);
		if (dst)
			M.did[i] = add_dev(true, i, flags[i]);
	}
	co.sysfs_root = fake_sysfs_root();
	co.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&co, &M.ctx), 0);
	vfiomig_ctx_set_log_fn(M.ctx, logfn, NULL);
	vfiomig_ctx_set_log_priority(M.ctx, LOG_DEBUG);
	log_clear();
	for (size_t i = 0; i < n; i++) {
		M.dev[i] = open_dev(false, i, 0);
		if (dst)
			M.ddev[i] = open_dev(true, i, 0);
	}
	if (no_set)
		return;
	ck_assert_int_eq(vfiomig_devset_new(M.dev, n, &so, &M.set), 0);
	if (dst)
		ck_assert_int_eq(vfiomig_devset_new(M.ddev, n, &so, &M.dset), 0);
}

static void down(void)
{
	vfiomig_devset_free(M.set);
	vfiomig_devset_free(M.dset);
	for (size_t i = 0; i < M.n; i++) {
		vfiomig_device_free(M.dev[i]);
		vfiomig_device_free(M.ddev[i]);
	}
	vfiomig_ctx_free(M.ctx);
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
	ck_assert_uint_eq(fake_mig_warnings(), M.warnings);
	memset(&M, 0, sizeof(M));
}

/* ------------------------------------------------------------------ */
/* The rules, stated on their own (header, devset-spec, man pages)      */

static bool active(int s)
{
	return s == ST(RUNNING) || s == ST(PRE_COPY);
}

/* Neither starts nor answers DMA. */
static bool stopped(int s)
{
	return s == ST(STOP) || s == ST(STOP_COPY) || s == ST(RESUMING) ||
	       s == ST(ERROR);
}

/* A member's own target for the set's target. */
static int mtarget(uint64_t fl, int cur, int target)
{
	if (!(fl & PC)) {
		if (target == ST(PRE_COPY))
			target = ST(RUNNING);
		else if (target == ST(PRE_COPY_P2P))
			target = ST(RUNNING_P2P);
	}
	if (fl & P2P)
		return target;
	if (target == ST(PRE_COPY_P2P))
		return ST(PRE_COPY);
	if (target == ST(RUNNING_P2P))
		return active(cur) ? ST(RUNNING) : ST(STOP);
	return target;
}

static const char *sname(int s)
{
	const char *n = vfiomig_state_name(s);

	return n ? n : "?";
}

/* ------------------------------------------------------------------ */
/* The arc log                                                          */

static struct fake_arc alog[FAKE_ARC_LOG_MAX];

static size_t arcs(void)
{
	size_t n = fake_arc_log(alog, FAKE_ARC_LOG_MAX);

	ck_assert_uint_eq(fake_arc_log_dropped(), 0);
	return n;
}

/* Index of fake device id among ids[0..n), or -1. */
static int index_of(const int *ids, size_t n, int id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return (int)i;
	return -1;
}

/*
 * Replay alog[0..na) over the members (ids, flags, states at the start)
 * and check the barrier at every arc a SET walked: no member enters a
 * stopped state while a peer is active, none becomes active while a peer
 * is stopped, unless neither has P2P (nothing can order those; the set
 * let them in with ALLOW_NO_P2P).  Resets are the recovery's last resort
 * and are not held to it.  Leaves the replayed states in st.
 */
static void check_barrier(const int *ids, const uint64_t *fl, size_t n,
			  const int *start, size_t na, int *st)
{
	memcpy(st, start, n * sizeof(*st));
	for (size_t k = 0; k < na; k++) {
		const struct fake_arc *a = &alog[k];
		int m = index_of(ids, n, a->id);

		if (m < 0 || a->err)
			continue;
		ck_assert_msg(st[m] == a->from,
			      "arc %zu: member %d %s->%s, but it was in %s", k, m,
			      sname(a->from), sname(a->to), sname(st[m]));
		for (size_t o = 0; !a->reset && o < n; o++) {
			if ((int)o == m || !((fl[m] | fl[o]) & P2P))
				continue;
			ck_assert_msg(!(stopped(a->to) && active(st[o])),
				      "barrier: arc %zu: member %d %s->%s while member %zu is %s",
				      k, m, sname(a->from), sname(a->to), o,
				      sname(st[o]));
			ck_assert_msg(!(active(a->to) && stopped(st[o])),
				      "barrier: arc %zu: member %d %s->%s while member %zu is %s",
				      k, m, sname(a->from), sname(a->to), o,
				      sname(st[o]));
		}
		st[m] = a->to;
	}
}

static void states_of(const int *ids, size_t n, int *st)
{
	for (size_t i = 0; i < n; i++)
		st[i] = fake_dev_state(ids[i]);
}

/* Did member id walk into state s in alog[0..na)? */
static bool reached(int id, size_t na, int s)
{
	for (size_t k = 0; k < na; k++)
		if (alog[k].id == id && !alog[k].err && !alog[k].reset &&
		    alog[k].to == s)
			return true;
	return false;
}

static bool was_reset(int id, size_t na)
{
	for (size_t k = 0; k < na; k++)
		if (alog[k].id == id && alog[k].reset)
			return true;
	return false;
}

/* The fake and the library agree on where a member is. */
static void agree(struct vfiomig_device *d, int id)
{
	ck_assert_int_eq(vfiomig_state_get(d), fake_dev_state(id));
}

/* ------------------------------------------------------------------ */
/* Moving data                                                          */

struct vec {
	unsigned char *p;
	size_t n, cap;
};

static void vec_add(struct vec *v, const void *p, size_t n)
{
	if (v->n + n > v->cap) {
		v->cap = (v->n + n) * 2;
		v->p = realloc(v->p, v->cap);
		ck_assert_ptr_nonnull(v->p);
	}
	memcpy(v->p + v->n, p, n);
	v->n += n;
}

/* Everything the member's session has now. */
static void save_now(struct vfiomig_device *d, struct vec *v)
{
	unsigned char buf[16384];

	for (;;) {
		VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
			     .len = sizeof(buf));
		int64_t r = vfiomig_save(d, &io, 0);

		ck_assert_int_ge(r, 0);
		if (!r)
			return;
		vec_add(v, buf, (size_t)r);
	}
}

static void load_all(struct vfiomig_device *d, const struct vec *v)
{
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = v->p,
		     .len = v->n);

	ck_assert_int_eq(vfiomig_load(d, &io, 0), (int64_t)v->n);
}

/* The source set's whole stream per member: precopy, then stop-copy. */
static void source_streams(struct vec *v)
{
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, ST(PRE_COPY), NULL), 0);
	for (size_t i = 0; i < M.n; i++)
		if (M.fl[i] & PC)
			save_now(M.dev[i], &v[i]);
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, ST(STOP_COPY), NULL), 0);
	for (size_t i = 0; i < M.n; i++) {
		save_now(M.dev[i], &v[i]);
		ck_assert_uint_ge(v[i].n, STREAM_BYTES);
	}
}

static void same_blob(int a, int b)
{
	static unsigned char x[DEV_SIZE], y[DEV_SIZE];

	ck_assert_uint_eq(fake_dev_blob(a, x, sizeof(x)), DEV_SIZE);
	ck_assert_uint_eq(fake_dev_blob(b, y, sizeof(y)), DEV_SIZE);
	ck_assert(!memcmp(x, y, DEV_SIZE));
}

/* Member i's capabilities in mix k of a set of n (two bits a member). */
static void mix(size_t n, unsigned int k, uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		fl[i] = caps4[(k >> (2 * i)) & 3];
}

static bool all_p2p(size_t n, const uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		if (!(fl[i] & P2P))
			return false;
	return true;
}

/* Loop index -> (size, mix): sizes 1..4, every mix of each. */
static void decode(int li, size_t *n, unsigned int *k)
{
	unsigned int total = 0;

	for (size_t s = 1; s <= MAXM; s++) {
		unsigned int count = 1u << (2 * s);

		if ((unsigned int)li < total + count) {
			*n = s;
			*k = (unsigned int)li - total;
			return;
		}
		total += count;
	}
	ck_abort_msg("loop index %d out of range", li);
}

#define N_ALL_MIXES (4 + 16 + 64 + 256)

/* Every member with every capability: what mtty has (kcase-devset.c). */
static bool all_allf(size_t n, const uint64_t *fl)
{
	for (size_t i = 0; i < n; i++)
		if (fl[i] != ALLF)
			return false;
	return true;
}

/* As decode(), over the mixes where some member lacks a capability: the
 * mix of ALLF members alone (the last of each size) runs on mtty, on both
 * kernels (kcase-devset.c every_size). */
static void decode_lacking(int li, size_t *n, unsigned int *k)
{
	unsigned int total = 0;

	for (size_t s = 1; s <= MAXM; s++) {
		unsigned int count = (1u << (2 * s)) - 1;

		if ((unsigned int)li < total + count) {
			*n = s;
			*k = (unsigned int)li - total;
			return;
		}
		total += count;
	}
	ck_abort_msg("loop index %d out of range", li);
}

#define N_LACKING_MIXES (N_ALL_MIXES - MAXM)

/* ------------------------------------------------------------------ */
/* Making a set                                                         */

/* Capabilities mtty does not have (a member without P2P, a device without
 * migration); the rest of making a set is kcase-devset.c's set_new, on
 * both kernels. */
START_TEST(set_new_caps)
{
	static const uint64_t fl[4] = { ALLF, SC | P2P, SC, SC | PC };
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	struct vfiomig_devset *set = NULL;
	struct vfiomig_device *devs[4], *nomig = NULL;
	struct fake_dev_cfg cfg;

	up(4, fl, false, 0, true);
	/* a set of one takes any migratable device: no peer to wait for */
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(vfiomig_devset_new(&M.dev[i], 1, NULL, &set), 0);
		ck_assert_uint_eq(vfiomig_devset_size(set), 1);
		ck_assert_ptr_eq(vfiomig_devset_member(set, 0), M.dev[i]);
		ck_assert_ptr_null(vfiomig_devset_member(set, 1));
		vfiomig_devset_free(set);
		set = NULL;
	}
	/* more than one with a member lacking P2P: refused, the member named */
	log_clear();
	ck_assert_int_eq(vfiomig_devset_new(M.dev, 3, NULL, &set), -EOPNOTSUPP);
	ck_assert_ptr_null(set);
	ck_assert_msg(strstr(logbuf, bdf(false, 2)), "log names %s: %s",
		      bdf(false, 2), logbuf);
	ck_assert_ptr_null(strstr(logbuf, bdf(false, 1)));
	devs[0] = M.dev[3];
	devs[1] = M.dev[0];
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -EOPNOTSUPP);
	/* P2P members only: accepted */
	ck_assert_int_eq(vfiomig_devset_new(M.dev, 2, NULL, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 2);
	vfiomig_devset_free(set);
	/* ALLOW_NO_P2P lets them in, in the caller's order */
	o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
	ck_assert_int_eq(vfiomig_devset_new(M.dev, 4, &o, &set), 0);
	ck_assert_uint_eq(vfiomig_devset_size(set), 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_ptr_eq(vfiomig_devset_member(set, i), M.dev[i]);
	vfiomig_devset_free(set);
	set = NULL;
	/* a device without migration: its error */
	fake_cfg_pci(&cfg, "0000:3c:00.0", 40, 40, 0);
	ck_assert_int_ge(fake_add_device(&cfg), 0);
	ck_assert_int_eq(vfiomig_device_open(M.ctx, "0000:3c:00.0", NULL, &nomig),
			 0);
	devs[0] = nomig;
	ck_assert_int_eq(vfiomig_devset_new(devs, 1, NULL, &set), -ENOTTY);
	devs[0] = M.dev[0];
	devs[1] = nomig;
	o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
	ck_assert_int_eq(vfiomig_devset_new(devs, 2, &o, &set), -ENOTTY);
	ck_assert_ptr_null(set);
	vfiomig_device_free(nomig);
	/* nothing moved by any of it */
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(fake_dev_state(M.id[i]), ST(RUNNING));
	ck_assert_uint_eq(arcs(), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The barrier, arc by arc                                              */

/* member, from, to */
typedef int arc3[3];

/* The log is exactly exp[0..n) (ids of the source or destination side),
 * each member step one SET. */
static void expect_arcs(const int *ids, const arc3 *exp, size_t n)
{
	size_t na = arcs();

	for (size_t k = 0; k < na && k < n; k++)
		ck_assert_msg(alog[k].id == ids[exp[k][0]] &&
				      alog[k].from == exp[k][1] &&
				      alog[k].to == exp[k][2] && !alog[k].err &&
				      !alog[k].reset,
			      "arc %zu: device %d %s->%s%s, want member %d %s->%s",
			      k, alog[k].id, sname(alog[k].from),
			      sname(alog[k].to), alog[k].reset ? " (reset)" : "",
			      exp[k][0], sname(exp[k][1]), sname(exp[k][2]));
	ck_assert_uint_eq(na, n);
}

/* A set change that must succeed; then every member at its own target,
 * the library agreeing, the barrier held, no failure reported. */
static void set_ok(struct vfiomig_devset *set, const int *ids,
		   struct vfiomig_device *const *devs, int target)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int start[MAXM], st[MAXM];

	states_of(ids, M.n, start);
	fake_arc_log_clear();
	ck_assert_msg(vfiomig_devset_state_set(set, target, &so) == 0,
		      "set -> %s failed (log: %s)", sname(target), logbuf);
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_int_eq(so.failed_from, -1);
	ck_assert_int_eq(so.failed_to, -1);
	check_barrier(ids, M.fl, M.n, start, arcs(), st);
	for (size_t i = 0; i < M.n; i++) {
		ck_assert_msg(fake_dev_state(ids[i]) ==
				      mtarget(M.fl[i], start[i], target),
			      "member %zu (0x%llx) %s -> %s: in %s, want %s", i,
			      (unsigned long long)M.fl[i], sname(start[i]),
			      sname(target), sname(fake_dev_state(ids[i])),
			      sname(mtarget(M.fl[i], start[i], target)));
		ck_assert_int_eq(st[i], fake_dev_state(ids[i]));
		agree(devs[i], ids[i]);
	}
}

/* ALLOW_NO_P2P: members without P2P stop after every P2P member is
 * quiesced and before any P2P member stops, and start after every P2P
 * member is in RUNNING_P2P and before any P2P member runs. */
START_TEST(barrier_no_p2p)
{
	/* 0, 2: P2P; 1, 3: not; 0 and 3 have PRE_COPY */
	static const uint64_t fl[4] = { ALLF, SC, SC | P2P, SC | PC };
	static const arc3 down_sc[] = {
		{ 0, ST(RUNNING), ST(RUNNING_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
		{ 1, ST(RUNNING), ST(STOP) },
		{ 1, ST(STOP), ST(STOP_COPY) },
		{ 3, ST(RUNNING), ST(STOP) },
		{ 3, ST(STOP), ST(STOP_COPY) },
		{ 0, ST(RUNNING_P2P), ST(STOP) },
		{ 0, ST(STOP), ST(STOP_COPY) },
		{ 2, ST(RUNNING_P2P), ST(STOP) },
		{ 2, ST(STOP), ST(STOP_COPY) },
	};
	static const arc3 to_stop[] = {
		{ 1, ST(STOP_COPY), ST(STOP) },
		{ 3, ST(STOP_COPY), ST(STOP) },
		{ 0, ST(STOP_COPY), ST(STOP) },
		{ 2, ST(STOP_COPY), ST(STOP) },
	};
	static const arc3 up_run[] = {
		{ 0, ST(STOP), ST(RUNNING_P2P) },
		{ 2, ST(STOP), ST(RUNNING_P2P) },
		{ 1, ST(STOP), ST(RUNNING) },
		{ 3, ST(STOP), ST(RUNNING) },
		{ 0, ST(RUNNING_P2P), ST(RUNNING) },
		{ 2, ST(RUNNING_P2P), ST(RUNNING) },
	};
	/* members without PRE_COPY keep running */
	static const arc3 to_pre[] = {
		{ 3, ST(RUNNING), ST(PRE_COPY) },
		{ 0, ST(RUNNING), ST(PRE_COPY) },
	};
	static const arc3 pre_sc[] = {
		{ 0, ST(PRE_COPY), ST(PRE_COPY_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
		{ 1, ST(RUNNING), ST(STOP) },
		{ 1, ST(STOP), ST(STOP_COPY) },
		{ 3, ST(PRE_COPY), ST(STOP_COPY) },
		{ 0, ST(PRE_COPY_P2P), ST(STOP_COPY) },
		{ 2, ST(RUNNING_P2P), ST(STOP) },
		{ 2, ST(STOP), ST(STOP_COPY) },
	};
	/* RUNNING_P2P: members without P2P stay on their side (running) */
	static const arc3 to_r2p[] = {
		{ 0, ST(RUNNING), ST(RUNNING_P2P) },
		{ 2, ST(RUNNING), ST(RUNNING_P2P) },
	};

	up(4, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	set_ok(M.set, M.id, M.dev, ST(STOP_COPY));
	expect_arcs(M.id, down_sc, 10);
	set_ok(M.set, M.id, M.dev, ST(STOP));
	expect_arcs(M.id, to_stop, 4);
	set_ok(M.set, M.id, M.dev, ST(RUNNING));
	expect_arcs(M.id, up_run, 6);
	set_ok(M.set, M.id, M.dev, ST(PRE_COPY));
	expect_arcs(M.id, to_pre, 2);
	set_ok(M.set, M.id, M.dev, ST(STOP_COPY));
	expect_arcs(M.id, pre_sc, 8);
	set_ok(M.set, M.id, M.dev, ST(RUNNING));
	set_ok(M.set, M.id, M.dev, ST(RUNNING_P2P));
	expect_arcs(M.id, to_r2p, 2);
	/* from STOP, RUNNING_P2P leaves members without P2P stopped */
	set_ok(M.set, M.id, M.dev, ST(STOP));
	set_ok(M.set, M.id, M.dev, ST(RUNNING_P2P));
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(fake_dev_state(M.id[i]),
				 i % 2 ? ST(STOP) : ST(RUNNING_P2P));
	down();
}
END_TEST

/* A set of one goes straight there: one SET per change.  _i: a mix mtty
 * has not (the fourth, every capability, is kcase-devset.c's). */
START_TEST(set_of_one)
{
	const uint64_t fl[1] = { caps4[_i] };
	static const int seq[] = { ST(PRE_COPY), ST(STOP_COPY), ST(STOP),
				   ST(RUNNING), ST(STOP_COPY), ST(RESUMING) };

	up(1, fl, false, 0, false);
	for (size_t j = 0; j < sizeof(seq) / sizeof(seq[0]); j++) {
		size_t na;

		set_ok(M.set, M.id, M.dev, seq[j]);
		na = arcs();
		for (size_t k = 0; k < na; k++)
			ck_assert_uint_eq(alog[k].set, na ? 1 : 0);
	}
	ck_assert_int_eq(vfiomig_device_reset(M.dev[0]), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every size, every mix of capabilities                                */

static const int chain[] = {
	ST(PRE_COPY), ST(PRE_COPY_P2P), ST(PRE_COPY), ST(STOP_COPY),
	ST(STOP), ST(RUNNING_P2P), ST(RUNNING), ST(RUNNING_P2P),
	ST(PRE_COPY_P2P), ST(RUNNING), ST(STOP_COPY), ST(STOP),
	ST(RESUMING),
};

START_TEST(every_mix)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	struct vfiomig_devset *set = NULL;
	uint64_t fl[MAXM];
	unsigned int k;
	size_t n;
	bool p2p;

	decode_lacking(_i, &n, &k);
	mix(n, k, fl);
	ck_assert(!all_allf(n, fl));
	p2p = all_p2p(n, fl);
	up(n, fl, false, 0, true);
	/* refused without the opt-in exactly when a member lacks P2P */
	ck_assert_int_eq(vfiomig_devset_new(M.dev, n, &o, &set),
			 n == 1 || p2p ? 0 : -EOPNOTSUPP);
	if (!set) {
		o.flags = VFIOMIG_DEVSET_ALLOW_NO_P2P;
		ck_assert_int_eq(vfiomig_devset_new(M.dev, n, &o, &set), 0);
	}
	M.set = set;
	for (size_t j = 0; j < sizeof(chain) / sizeof(chain[0]); j++)
		set_ok(M.set, M.id, M.dev, chain[j]);
	/* RESUMING is left by a reset (nothing to commit) */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(vfiomig_device_reset(M.dev[i]), 0);
	set_ok(M.set, M.id, M.dev, ST(STOP_COPY));
	set_ok(M.set, M.id, M.dev, ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* A fault at every arc of every member, and at every ioctl              */

struct flow {
	int origin; /* reached from RUNNING by a set change (RUNNING: none) */
	int target;
};

static const struct flow flows[] = {
	{ ST(RUNNING), ST(PRE_COPY) },      { ST(PRE_COPY), ST(STOP_COPY) },
	{ ST(RUNNING), ST(STOP_COPY) },     { ST(STOP_COPY), ST(STOP) },
	{ ST(STOP), ST(RUNNING) },          { ST(PRE_COPY), ST(RUNNING) },
	{ ST(STOP), ST(RESUMING) },         { ST(RUNNING_P2P), ST(RUNNING) },
	{ ST(PRE_COPY_P2P), ST(STOP_COPY) },
};
#define N_FLOWS (sizeof(flows) / sizeof(flows[0]))

/* Fake fds with every member out of its sessions (the baseline). */
static int base_fds;

static bool session_state(int s)
{
	return s == ST(PRE_COPY) || s == ST(PRE_COPY_P2P) ||
	       s == ST(STOP_COPY) || s == ST(RESUMING);
}

/* Nothing leaked: a data fd exactly for members in a session state. */
static void fds_match(void)
{
	int sessions = 0;

	for (size_t i = 0; i < M.n; i++) {
		int s = fake_dev_state(M.id[i]);

		if (session_state(s)) {
			sessions++;
			ck_assert_int_ge(vfiomig_data_fd(M.dev[i]), 0);
		} else {
			ck_assert_int_eq(vfiomig_data_fd(M.dev[i]), -ENOENT);
		}
	}
	ck_assert_int_eq(fake_open_fds(), base_fds + sessions);
}

/* Every member reset to RUNNING, then the set to origin. */
static void to_origin(int origin)
{
	for (size_t i = 0; i < M.n; i++)
		ck_assert_int_eq(vfiomig_device_reset(M.dev[i]), 0);
	if (origin != ST(RUNNING))
		ck_assert_int_eq(vfiomig_devset_state_set(M.set, origin, NULL),
				 0);
	fake_arc_log_clear();
	log_clear();
}

static int twin_running(int s)
{
	return s == ST(PRE_COPY) ? ST(RUNNING) :
	       s == ST(PRE_COPY_P2P) ? ST(RUNNING_P2P) : s;
}

/* After a failed set change with the default recovery: every member back
 * where it started, or where the rules say when that cannot be. */
static void check_default_back(const int *start, size_t na)
{
	for (size_t i = 0; i < M.n; i++) {
		int f = fake_dev_state(M.id[i]), want = start[i];

		if (reached(M.id[i], na, ST(RESUMING)))
			want = ST(RUNNING); /* reset: nothing committed */
		else if ((start[i] == ST(PRE_COPY) ||
			  start[i] == ST(PRE_COPY_P2P)) &&
			 reached(M.id[i], na, ST(STOP_COPY)))
			want = twin_running(start[i]); /* its session ended */
		ck_assert_msg(f == want,
			      "member %zu (0x%llx) started in %s: in %s, want %s (log: %s)",
			      i, (unsigned long long)M.fl[i], sname(start[i]),
			      sname(f), sname(want), logbuf);
		if (want == ST(RUNNING) && start[i] != ST(RUNNING) &&
		    reached(M.id[i], na, ST(RESUMING)))
			ck_assert(was_reset(M.id[i], na));
		agree(M.dev[i], M.id[i]);
	}
	fds_match();
}

/* One failing set change: fail() arms the fault. */
static int run_failing(const struct flow *fw, int *start,
		       struct vfiomig_devset_set_opts *so)
{
	states_of(M.id, M.n, start);
	return vfiomig_devset_state_set(M.set, fw->target, so);
}

static void fault_flow(const struct flow *fw)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	struct fake_arc clean[64];
	int start[MAXM], st[MAXM], ret;
	size_t nclean = 0, na;
	unsigned int k0, nioctl;

	/* The clean run: its arcs and its ioctls are the fault points. */
	to_origin(fw->origin);
	states_of(M.id, M.n, start);
	k0 = fake_ioctls();
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, fw->target, &so), 0);
	nioctl = fake_ioctls() - k0;
	na = arcs();
	check_barrier(M.id, M.fl, M.n, start, na, st);
	for (size_t k = 0; k < na; k++)
		if (!alog[k].reset && nclean < 64)
			clean[nclean++] = alog[k];

	/* A driver refusing each arc in turn. */
	for (size_t j = 0; j < nclean; j++) {
		int m = index_of(M.id, M.n, clean[j].id);

		to_origin(fw->origin);
		fake_dev_fail_arc(clean[j].id, clean[j].from, clean[j].to, EIO);
		so = (struct vfiomig_devset_set_opts){ .sz = sizeof(so) };
		ret = run_failing(fw, start, &so);
		fake_dev_fail_arc(clean[j].id, 0, 0, 0);
		ck_assert_msg(ret == -EIO,
			      "%s->%s, member %d failing %s->%s: %d", sname(fw->origin),
			      sname(fw->target), m, sname(clean[j].from),
			      sname(clean[j].to), ret);
		ck_assert_int_eq(so.failed_member, m);
		ck_assert_int_eq(so.failed_from, clean[j].from);
		ck_assert_int_eq(so.failed_to, clean[j].to);
		na = arcs();
		check_barrier(M.id, M.fl, M.n, start, na, st);
		check_default_back(start, na);
	}

	/* Each ioctl of the change failing in turn (no side effect); with
	 * every capability in every member that is kcase-devset.c's
	 * fault_every_ioctl, on mtty, on both kernels. */
	for (unsigned int k = 1; !all_allf(M.n, M.fl) && k <= nioctl; k++) {
		to_origin(fw->origin);
		fake_fail_nth_call("ioctl", k, EIO);
		so = (struct vfiomig_devset_set_opts){ .sz = sizeof(so) };
		ret = run_failing(fw, start, &so);
		fake_fail_nth(0, 0);
		na = arcs();
		check_barrier(M.id, M.fl, M.n, start, na, st);
		if (ret == 0) {
			ck_assert_int_eq(so.failed_member, -1);
			for (size_t i = 0; i < M.n; i++)
				ck_assert_int_eq(fake_dev_state(M.id[i]),
						 mtarget(M.fl[i], start[i],
							 fw->target));
			fds_match();
			continue;
		}
		ck_assert_int_eq(ret, -EIO);
		ck_assert_int_ge(so.failed_member, 0);
		ck_assert_int_lt(so.failed_member, (int)M.n);
		/* a SET refused before it walked: its first arc is named */
		ck_assert_int_eq(vfiomig_state_plan(so.failed_from, so.failed_to,
						    M.fl[so.failed_member], NULL,
						    0), 1);
		check_default_back(start, na);
	}
}

/* Sizes 1..3, every mix, every flow (_i as decode()). */
START_TEST(fault_every_arc)
{
	uint64_t fl[MAXM];
	unsigned int k;
	size_t n;

	decode(_i, &n, &k);
	mix(n, k, fl);
	up(n, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = fake_open_fds();
	for (size_t f = 0; f < N_FLOWS; f++)
		fault_flow(&flows[f]);
	to_origin(ST(RUNNING));
	down();
}
END_TEST

/* Sets of four: all P2P, and mixes with every capability in them. */
static const uint64_t four[][4] = {
	{ ALLF, ALLF, ALLF, ALLF },
	{ SC | P2P, SC | P2P, ALLF, SC | P2P },
	{ ALLF, SC, SC | P2P, SC | PC },
	{ SC, SC | PC, ALLF, SC | P2P },
	{ SC | PC, SC, SC | PC, SC },
};

START_TEST(fault_every_arc_four)
{
	up(4, four[_i], false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = fake_open_fds();
	for (size_t f = 0; f < N_FLOWS; f++)
		fault_flow(&flows[f]);
	to_origin(ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Recovery choices                                                     */

/* A failure at each arc of flow fw with these options: the call names
 * it; check() looks at the result. */
static void each_failure(const struct flow *fw,
			 const struct vfiomig_devset_set_opts *opts,
			 void (*check)(const int *start, const int *at_fail,
				       size_t na, size_t nfail))
{
	struct fake_arc clean[64];
	int start[MAXM], st[MAXM];
	size_t nclean = 0, na;

	to_origin(fw->origin);
	states_of(M.id, M.n, start);
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, fw->target, NULL), 0);
	na = arcs();
	for (size_t k = 0; k < na && nclean < 64; k++)
		clean[nclean++] = alog[k];
	for (size_t j = 0; j < nclean; j++) {
		struct vfiomig_devset_set_opts so = *opts;
		size_t nfail = SIZE_MAX;
		int at_fail[MAXM];

		to_origin(fw->origin);
		fake_dev_fail_arc(clean[j].id, clean[j].from, clean[j].to, EIO);
		ck_assert_int_eq(run_failing(fw, start, &so), -EIO);
		fake_dev_fail_arc(clean[j].id, 0, 0, 0);
		ck_assert_int_eq(so.failed_member,
				 index_of(M.id, M.n, clean[j].id));
		ck_assert_int_eq(so.failed_from, clean[j].from);
		ck_assert_int_eq(so.failed_to, clean[j].to);
		na = arcs();
		for (size_t k = 0; k < na; k++)
			if (alog[k].err)
				nfail = k;
		ck_assert_uint_lt(nfail, na);
		/* the states when the walk stopped */
		check_barrier(M.id, M.fl, M.n, start, nfail, at_fail);
		check_barrier(M.id, M.fl, M.n, start, na, st);
		check(start, at_fail, na, nfail);
		for (size_t i = 0; i < M.n; i++)
			agree(M.dev[i], M.id[i]);
		fds_match();
	}
}

/* STAY: nobody moves after the failure. */
static void check_stay(const int *start, const int *at_fail, size_t na,
		       size_t nfail)
{
	(void)start;
	ck_assert_uint_eq(na, nfail + 1);
	for (size_t i = 0; i < M.n; i++)
		ck_assert_int_eq(fake_dev_state(M.id[i]), at_fail[i]);
}

/* RESET (or STATE with ERROR): every member that moved is reset, the
 * others stay; no SET after the failure. */
static void check_reset(const int *start, const int *at_fail, size_t na,
			size_t nfail)
{
	for (size_t k = nfail + 1; k < na; k++)
		ck_assert(alog[k].reset);
	for (size_t i = 0; i < M.n; i++) {
		bool moved = at_fail[i] != start[i];

		ck_assert_int_eq(was_reset(M.id[i], na), moved);
		ck_assert_int_eq(fake_dev_state(M.id[i]),
				 moved ? ST(RUNNING) : start[i]);
	}
}

static int recovery_state_want;

/* recovery_state set: everybody there (its own version of it). */
static void check_state(const int *start, const int *at_fail, size_t na,
			size_t nfail)
{
	(void)start;
	(void)na;
	(void)nfail;
	for (size_t i = 0; i < M.n; i++)
		ck_assert_int_eq(fake_dev_state(M.id[i]),
				 mtarget(M.fl[i], at_fail[i],
					 recovery_state_want));
}

/* _i: 0 all P2P, 1 a mix with ALLOW_NO_P2P. */
START_TEST(recovery_choices)
{
	static const uint64_t fls[2][3] = { { ALLF, SC | P2P, ALLF },
					    { ALLF, SC | PC, SC | P2P } };
	static const struct flow fws[] = {
		{ ST(RUNNING), ST(STOP_COPY) },
		{ ST(PRE_COPY), ST(STOP_COPY) },
		{ ST(STOP), ST(RUNNING) },
	};

	up(3, fls[_i], false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	base_fds = fake_open_fds();
	for (size_t f = 0; f < sizeof(fws) / sizeof(fws[0]); f++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		so.recovery = VFIOMIG_RECOVER_STAY;
		each_failure(&fws[f], &so, check_stay);
		so.recovery = VFIOMIG_RECOVER_RESET;
		each_failure(&fws[f], &so, check_reset);
		so.recovery = VFIOMIG_RECOVER_STATE;
		so.recovery_state = ST(ERROR);
		each_failure(&fws[f], &so, check_reset);
		so.recovery_state = recovery_state_want = ST(STOP);
		each_failure(&fws[f], &so, check_state);
		so.recovery = VFIOMIG_RECOVER_DEFAULT;
		so.recovery_state = recovery_state_want = ST(RUNNING);
		each_failure(&fws[f], &so, check_state);
		so.recovery_state = recovery_state_want = ST(RUNNING_P2P);
		each_failure(&fws[f], &so, check_state);
	}
	to_origin(ST(RUNNING));
	down();
}
END_TEST

/* A member in ERROR (mtty never enters it): EIO, nobody moves; the other
 * bad requests are kcase-devset.c's bad_requests. */
START_TEST(member_in_error)
{
	static const uint64_t fl[2] = { ALLF, SC | P2P };
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

	up(2, fl, false, 0, false);
	fake_dev_force_error(M.id[1]);
	ck_assert_int_eq(vfiomig_state_get(M.dev[1]), ST(ERROR));
	fake_arc_log_clear();
	ck_assert_int_eq(vfiomig_devset_state_set(M.set, ST(STOP), &so), -EIO);
	ck_assert_int_eq(so.failed_member, -1);
	ck_assert_uint_eq(arcs(), 0);
	ck_assert_int_eq(fake_dev_state(M.id[0]), ST(RUNNING));
	ck_assert_int_eq(vfiomig_device_reset(M.dev[1]), 0);
	set_ok(M.set, M.id, M.dev, ST(STOP));
	set_ok(M.set, M.id, M.dev, ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* The destination: load_finish                                          */

/* Destination members back to RUNNING, then RESUMING with the streams. */
static void dst_loaded(const struct vec *v)
{
	for (size_t i = 0; i < M.n; i++)
		ck_assert_int_eq(vfiomig_device_reset(M.ddev[i]), 0);
	ck_assert_int_eq(vfiomig_devset_state_set(M.dset, ST(RESUMING), NULL), 0);
	for (size_t i = 0; i < M.n; i++)
		load_all(M.ddev[i], &v[i]);
	fake_arc_log_clear();
	log_clear();
}

static void dst_in(const int *want)
{
	for (size_t i = 0; i < M.n; i++) {
		ck_assert_msg(fake_dev_state(M.did[i]) == want[i],
			      "destination %zu in %s, want %s (log: %s)", i,
			      sname(fake_dev_state(M.did[i])), sname(want[i]),
			      logbuf);
		agree(M.ddev[i], M.did[i]);
		/* out of RESUMING no session is left (a spoiled one in
		 * RESUMING may be closed already) */
		if (want[i] != ST(RESUMING))
			ck_assert_int_eq(vfiomig_data_fd(M.ddev[i]), -ENOENT);
	}
}

/* A source that gives half its stream, then fails. */
static ssize_t half_then_eio(void *arg, void *buf, size_t len)
{
	const struct vec *v = arg;
	static size_t given;

	if (given >= v->n / 2) {
		given = 0;
		return -EIO;
	}
	len = len < v->n / 2 - given ? len : v->n / 2 - given;
	memcpy(buf, v->p + given, len);
	given += len;
	return (ssize_t)len;
}

/* _i: sets of 1..3 P2P members (0..2), a mix with ALLOW_NO_P2P (3). */
START_TEST(load_finish)
{
	static const uint64_t mixed[3] = { SC | PC, ALLF, SC };
	const uint64_t p2p[3] = { ALLF, SC | P2P, ALLF };
	static const int targets[] = { ST(RUNNING), ST(RUNNING_P2P), ST(STOP) };
	size_t n = _i < 3 ? (size_t)_i + 1 : 3;
	struct vec v[MAXM] = { { 0 } };
	int start[MAXM], st[MAXM], want[MAXM];
	size_t na;

	up(n, _i < 3 ? p2p : mixed, true, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	source_streams(v);

	/* each target: committed, then through the barrier */
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(v);
		states_of(M.did, n, start);
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, targets[t],
							    &so), 0);
		ck_assert_int_eq(so.failed_member, -1);
		na = arcs();
		check_barrier(M.did, M.fl, n, start, na, st);
		/* phase 0: every member commits before any goes further */
		for (size_t k = 0; n > 1 && k < n; k++)
			ck_assert(alog[k].from == ST(RESUMING) &&
				  alog[k].to == ST(STOP));
		for (size_t i = 0; i < n; i++) {
			want[i] = mtarget(M.fl[i], ST(STOP), targets[t]);
			same_blob(M.id[i], M.did[i]);
		}
		dst_in(want);
		/* held in RUNNING_P2P until the VM is ready */
		if (targets[t] != ST(RUNNING))
			set_ok(M.dset, M.did, M.ddev, ST(RUNNING));
	}

	/* a stream the driver refuses (one byte short): named, and every
	 * destination member reset; none ran what it had */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		size_t bad = n - 1;

		v[bad].n--;
		dst_loaded(v);
		v[bad].n++;
		states_of(M.did, n, start);
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_int_eq(so.failed_member, (int)bad);
		ck_assert_int_eq(so.failed_from, ST(RESUMING));
		ck_assert_int_eq(so.failed_to, ST(STOP));
		na = arcs();
		check_barrier(M.did, M.fl, n, start, na, st);
		for (size_t k = 0; k < na; k++)
			ck_assert(alog[k].reset || !active(alog[k].to));
		for (size_t i = 0; i < n; i++) {
			want[i] = ST(RUNNING);
			ck_assert(was_reset(M.did[i], na));
		}
		dst_in(want);
	}

	/* not every member resuming: refused, nothing committed */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(v);
		ck_assert_int_eq(vfiomig_load_abort(M.ddev[0], ST(STOP), NULL), 0);
		fake_arc_log_clear();
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_int_eq(so.failed_member, -1);
		ck_assert_uint_eq(arcs(), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = i ? ST(RESUMING) : ST(STOP);
		dst_in(want);
	}

	/* a member whose load failed: EBADMSG, nothing committed */
	if (n > 1) {
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
		VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_CB,
			     .read_fn = half_then_eio, .arg = &v[1]);

		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(vfiomig_device_reset(M.ddev[i]), 0);
		ck_assert_int_eq(vfiomig_devset_state_set(M.dset, ST(RESUMING),
							  NULL), 0);
		load_all(M.ddev[0], &v[0]);
		ck_assert_int_lt(vfiomig_load(M.ddev[1], &io, 0), 0);
		fake_arc_log_clear();
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(RUNNING),
							    &so), -EBADMSG);
		ck_assert_uint_eq(arcs(), 0);
		for (size_t i = 0; i < n; i++)
			want[i] = ST(RESUMING);
		dst_in(want);
	}

	/* bad targets */
	{
		VFIOMIG_OPTS(vfiomig_devset_set_opts, so);

		dst_loaded(v);
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(PRE_COPY),
							    &so), -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(RESUMING),
							    &so), -EINVAL);
		ck_assert_int_eq(vfiomig_devset_load_finish(NULL, ST(RUNNING),
							    &so), -EINVAL);
		ck_assert_uint_eq(arcs(), 0);
	}

	/* a fault at every arc of load_finish: in the commit (or in a set
	 * of one, anywhere: its one step starts in RESUMING) every member
	 * is reset; after the commit every member is back in STOP */
	{
		struct fake_arc clean[64];
		size_t nclean = 0;

		dst_loaded(v);
		ck_assert_int_eq(vfiomig_devset_load_finish(M.dset, ST(RUNNING),
							    NULL), 0);
		na = arcs();
		for (size_t k = 0; k < na && nclean < 64; k++)
			clean[nclean++] = alog[k];
		for (size_t j = 0; j < nclean; j++) {
			VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
			bool commit = clean[j].from == ST(RESUMING) || n == 1;

			dst_loaded(v);
			states_of(M.did, n, start);
			fake_dev_fail_arc(clean[j].id, clean[j].from,
					  clean[j].to, EIO);
			ck_assert_int_eq(vfiomig_devset_load_finish(M.dset,
								    ST(RUNNING),
								    &so),
					 -EIO);
			fake_dev_fail_arc(clean[j].id, 0, 0, 0);
			ck_assert_int_eq(so.failed_member,
					 index_of(M.did, n, clean[j].id));
			ck_assert_int_eq(so.failed_from, clean[j].from);
			ck_assert_int_eq(so.failed_to, clean[j].to);
			na = arcs();
			check_barrier(M.did, M.fl, n, start, na, st);
			for (size_t i = 0; i < n; i++)
				want[i] = commit ? ST(RUNNING) : ST(STOP);
			dst_in(want);
		}
	}
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(vfiomig_device_reset(M.ddev[i]), 0);
		ck_assert_int_eq(vfiomig_device_reset(M.dev[i]), 0);
		free(v[i].p);
	}
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Aggregates for the switchover                                        */

static struct vfiomig_devset_stats stats(size_t i)
{
	struct vfiomig_devset_stats s = { .sz = sizeof(s) };

	ck_assert_int_eq(vfiomig_devset_stats(M.set, i, &s), 0);
	return s;
}

/* The total is the sum of the members (drained: all of them). */
static struct vfiomig_devset_stats total_checked(void)
{
	struct vfiomig_devset_stats t = stats(VFIOMIG_DEVSET_TOTAL), sum = {
		.initial_drained = true,
	};

	for (size_t i = 0; i < M.n; i++) {
		struct vfiomig_devset_stats s = stats(i);

		sum.stop_copy_bytes += s.stop_copy_bytes;
		sum.initial_bytes += s.initial_bytes;
		sum.dirty_bytes += s.dirty_bytes;
		sum.precopy += s.precopy;
		sum.reinits += s.reinits;
		sum.initial_drained = sum.initial_drained && s.initial_drained;
	}
	ck_assert_uint_eq(t.stop_copy_bytes, sum.stop_copy_bytes);
	ck_assert_uint_eq(t.initial_bytes, sum.initial_bytes);
	ck_assert_uint_eq(t.dirty_bytes, sum.dirty_bytes);
	ck_assert_uint_eq(t.precopy, sum.precopy);
	ck_assert_uint_eq(t.reinits, sum.reinits);
	ck_assert_int_eq(t.initial_drained, sum.initial_drained);
	return t;
}

/* Move what member i has now, through the paced call. */
static int64_t step(size_t i, uint64_t max,
		    struct vfiomig_precopy_progress *p)
{
	static unsigned char buf[1 << 16];
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
		     .len = sizeof(buf));

	return vfiomig_precopy_step(M.dev[i], &io, max, p);
}

START_TEST(set_stats)
{
	/* 0: P2P+PRE_COPY, v2; 1: the same, 6.12 (no v2); 2: PRE_COPY
	 * without P2P, v2; 3: stop-copy only */
	static const uint64_t fl[4] = { ALLF, ALLF, SC | PC, SC };
	struct vfiomig_precopy_progress p[4];
	struct vfiomig_devset_stats s, t;

	up(4, fl, false, VFIOMIG_DEVSET_ALLOW_NO_P2P, false);
	for (size_t i = 0; i < 4; i++)
		p[i] = (struct vfiomig_precopy_progress){ .sz = sizeof(p[i]) };
	/* running: MIG_DATA_SIZE, nothing else */
	for (size_t i = 0; i < 4; i++) {
		s = stats(i);
		ck_assert_uint_eq(s.stop_copy_bytes, STREAM_BYTES);
		ck_assert_uint_eq(s.initial_bytes, 0);
		ck_assert_uint_eq(s.precopy, 0);
		ck_assert(s.initial_drained);
	}
	t = total_checked();
	ck_assert_uint_eq(t.stop_copy_bytes, 4 * STREAM_BYTES);
	ck_assert(t.initial_drained);

	/* pre-copy: members 0..2 precopy, 3 keeps running */
	set_ok(M.set, M.id, M.dev, ST(PRE_COPY));
	for (size_t i = 0; i < 4; i++) {
		s = stats(i);
		ck_assert_uint_eq(s.precopy, i < 3);
		ck_assert_uint_eq(s.initial_bytes, i < 3 ? INITIAL_BYTES : 0);
		ck_assert_int_eq(s.initial_drained, i == 3);
		ck_assert_uint_eq(s.reinits, 0);
	}
	t = total_checked();
	ck_assert_uint_eq(t.precopy, 3);
	ck_assert_uint_eq(t.initial_bytes, 3 * INITIAL_BYTES);
	ck_assert(!t.initial_drained);
	/* drained one by one: the set only when all are */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(step(i, 0, &p[i]), INITIAL_BYTES);
		ck_assert(p[i].initial_drained);
		ck_assert(stats(i).initial_drained);
		ck_assert_int_eq(total_checked().initial_drained, i == 2);
	}

	/* REINIT on a v2 member: counted, not drained until read again */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 4096), 0);
	s = stats(0);
	ck_assert_uint_eq(s.reinits, 1);
	ck_assert_uint_eq(s.initial_bytes, REC);
	ck_assert(!s.initial_drained);
	t = total_checked(); /* a second PRECOPY_INFO: no REINIT any more */
	ck_assert_uint_eq(t.reinits, 1);
	ck_assert_uint_eq(t.initial_bytes, REC);
	ck_assert(!t.initial_drained);
	ck_assert_int_eq(step(0, 100, &p[0]), 100);
	ck_assert(!p[0].initial_drained);
	ck_assert_uint_eq(p[0].reinits, 1);
	ck_assert_int_eq(step(0, 0, &p[0]), REC - 100);
	ck_assert(p[0].initial_drained);
	t = total_checked();
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.reinits, 1);

	/* the 6.12 member: no REINIT is ever reported, but its initial
	 * bytes still hold the switchover back until read */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[1], 4096), 0);
	s = stats(1);
	ck_assert_uint_eq(s.reinits, 0);
	ck_assert_uint_eq(s.initial_bytes, REC);
	ck_assert(!total_checked().initial_drained);
	ck_assert_int_eq(step(1, 0, &p[1]), REC);
	ck_assert_uint_eq(p[1].reinits, 0);
	ck_assert(total_checked().initial_drained);

	/* REINIT drained within the very step that reports it: drained only
	 * after a PRECOPY_INFO without REINIT */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[2], 1), 0);
	ck_assert_int_eq(step(2, 0, &p[2]), REC);
	ck_assert_uint_eq(p[2].initial_bytes, 0);
	ck_assert_uint_eq(p[2].reinits, 1);
	ck_assert(!p[2].initial_drained);
	s = stats(2);
	ck_assert_uint_eq(s.initial_bytes, 0);
	ck_assert(s.initial_drained);

	/* stop-copy: out of precopy, drained by definition */
	set_ok(M.set, M.id, M.dev, ST(STOP_COPY));
	t = total_checked();
	ck_assert_uint_eq(t.precopy, 0);
	ck_assert_uint_eq(t.initial_bytes, 0);
	ck_assert(t.initial_drained);
	ck_assert_uint_eq(t.stop_copy_bytes, 4 * STREAM_BYTES);

	/* bad input: kcase-devset.c's set_stats */
	set_ok(M.set, M.id, M.dev, ST(RUNNING));
	down();
}
END_TEST

/* ------------------------------------------------------------------ */
/* REINIT and the library's policy                                      */

START_TEST(reinit_policy)
{
	/* 0: v2, re-initialises after 5000 bytes; 1: 6.12 */
	static const uint64_t fl[2] = { ALLF, ALLF };
	VFIOMIG_OPTS(vfiomig_precopy_policy, pol, .dirty_threshold = UINT64_MAX);
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_precopy_progress p;
	struct vfiomig_precopy_info pi;
	struct fake_dev_ioctls ioc;
	static unsigned char buf[1 << 16];
	VFIOMIG_OPTS(vfiomig_io, io, .kind = VFIOMIG_IO_BUF, .buf = buf,
		     .len = sizeof(buf));
	int r;

	reinit_after = 5000;
	up(2, fl, false, 0, true);
	reinit_after = 0;
	ck_assert_int_eq(vfiomig_device_caps(M.dev[0], &caps), 0);
	ck_assert(caps.features & VFIOMIG_CAP_PRECOPY_V2);
	ck_assert_int_eq(vfiomig_device_caps(M.dev[1], &caps), 0);
	ck_assert(!(caps.features & VFIOMIG_CAP_PRECOPY_V2));

	/* the v2 device re-initialises while the first round reads: that
	 * round drains everything, but reports REINIT: no switchover yet */
	ck_assert_int_eq(vfiomig_state_set(M.dev[0], ST(PRE_COPY), NULL), 0);
	ck_assert(fake_dev_precopy_v2(M.id[0]));
	fake_dev_ioctls(M.id[0], &ioc);
	ck_assert_uint_eq(ioc.v2_sets, 1); /* once, before the session */
	p = (struct vfiomig_precopy_progress){ .sz = sizeof(p) };
	r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p.round_bytes, INITIAL_BYTES + REC);
	ck_assert_uint_eq(p.initial_bytes, 0);
	ck_assert_uint_eq(p.reinits, 1);
	ck_assert(!p.initial_drained);
	r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
	ck_assert_int_eq(r, 1);
	ck_assert(p.initial_drained);
	/* a REINIT later: iterate holds back until it is read again */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 8192), 0);
	io.len = 1000;
	for (int round = 0; round < 100; round++) {
		r = vfiomig_precopy_iterate(M.dev[0], &io, &pol, &p);
		ck_assert_int_ge(r, 0);
		if (r)
			break;
		ck_assert(!p.initial_drained);
	}
	ck_assert_int_eq(r, 1);
	ck_assert(p.initial_drained);
	ck_assert_uint_eq(p.initial_bytes, 0);
	ck_assert_uint_eq(p.reinits, 2);
	/* vfiomig_precopy_info: REINIT passed on once, with v2 */
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[0], &pi), 0);
	ck_assert_uint_eq(pi.flags, VFIOMIG_PRECOPY_REINIT);
	ck_assert_uint_eq(pi.initial_bytes, REC);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[0], &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);

	/* 6.12: flags never reported, the initial bytes still counted */
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_state_set(M.dev[1], ST(PRE_COPY), NULL), 0);
	ck_assert(!fake_dev_precopy_v2(M.id[1]));
	p = (struct vfiomig_precopy_progress){ .sz = sizeof(p) };
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 1);
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[1], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(M.dev[1], &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, REC);
	io.len = 100;
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 0);
	ck_assert_uint_eq(p.reinits, 0);
	io.len = sizeof(buf);
	ck_assert_int_eq(vfiomig_precopy_iterate(M.dev[1], &io, &pol, &p), 1);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(vfiomig_state_set(M.dev[i], ST(RUNNING), NULL),
				 0);
	down();
}
END_TEST

/* VFIOMIG_OPEN_NO_PRECOPY_V2: the feature is never asked for. */
START_TEST(reinit_opt_out)
{
	static const uint64_t fl[1] = { ALLF };
	VFIOMIG_OPTS(vfiomig_caps, caps);
	struct vfiomig_precopy_info pi;
	struct fake_dev_ioctls ioc;
	struct vfiomig_device *d;

	up(1, fl, false, 0, true);
	vfiomig_device_free(M.dev[0]);
	M.dev[0] = d = open_dev(false, 0, VFIOMIG_OPEN_NO_PRECOPY_V2);
	ck_assert_int_eq(vfiomig_device_caps(d, &caps), 0);
	ck_assert(!(caps.features & VFIOMIG_CAP_PRECOPY_V2));
	ck_assert_int_eq(vfiomig_state_set(d, ST(PRE_COPY), NULL), 0);
	ck_assert(!fake_dev_precopy_v2(M.id[0]));
	ck_assert_int_eq(fake_dev_precopy_reinit(M.id[0], 1), 0);
	ck_assert_int_eq(vfiomig_precopy_info(d, &pi), 0);
	ck_assert_uint_eq(pi.flags, 0);
	ck_assert_uint_eq(pi.initial_bytes, INITIAL_BYTES + REC);
	fake_dev_ioctls(M.id[0], &ioc);
	ck_assert_uint_eq(ioc.v2_sets, 0);
	ck_assert_int_eq(vfiomig_state_set(d, ST(RUNNING), NULL), 0);
	down();
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *devset_suite(void)
{
	Suite *s = suite_create("devset");
	TCase *tc = tcase_create("set");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, set_new_caps);
	tcase_add_test(tc, barrier_no_p2p);
	tcase_add_loop_test(tc, set_of_one, 0, 3);
	tcase_add_loop_test(tc, every_mix, 0, N_LACKING_MIXES);
	tcase_add_test(tc, member_in_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, fault_every_arc, 0, 4 + 16 + 64);
	tcase_add_loop_test(tc, fault_every_arc_four, 0,
			    (int)(sizeof(four) / sizeof(four[0])));
	tcase_add_loop_test(tc, recovery_choices, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, load_finish, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("precopy");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, set_stats);
	tcase_add_test(tc, reinit_policy);
	tcase_add_test(tc, reinit_opt_out);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(devset_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
