/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfiomig-ctl conform: what the command (cmd-conform.c: the table of
 * checks, the run loop, the report) shares with the files of checks
 * (conform-fsm.c, conform-data.c, conform-dmalog.c) and their device
 * helpers (conform-dev.c).
 *
 * The driver is driven with raw VFIO_DEVICE_FEATURE SETs
 * (vfiomig_feature_set with the uAPI's payloads from the private copy
 * lib/uapi/linux/vfio.h, their layout pinned in lib/uapi-check.c) so
 * that what is checked is the driver, not the library's path planning;
 * what the driver should do comes from the library: which states the
 * migration flags support and the paths between them
 * (vfiomig_state_plan), which arcs open a data session
 * (vfiomig_arc_opens_session).
 */
#ifndef VFM_CONFORM_H
#define VFM_CONFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/*
 * The checks, in the order they run and are listed.  Each has one entry
 * in cmd-conform.c's table (name, function, help) indexed by these.
 */
enum check_id {
	CK_PROTOCOL,
	CK_MIGRATION_FLAGS,
	CK_INITIAL_STATE,
	CK_INVALID_TARGETS,
	CK_STATE_PAIRS,
	CK_DATA_FD,
	CK_STOP_COPY_TO_PRE_COPY,
	CK_PRECOPY_INFO,
	CK_PRECOPY_END,
	CK_PRECOPY_TO_STOP_COPY,
	CK_STOP_COPY_END,
	CK_MIG_DATA_SIZE,
	CK_ROUND_TRIP,
	CK_RESET,
	CK_DMA_LOGGING,
	CK_NR
};

enum result { R_PASS, R_FAIL, R_SKIP, R_WARN, R_NR };

struct conform {
	struct cli *c;
	struct vfiomig_device *dev, *peer;
	const char *name, *peer_name;
	int proto;                /* vfiomig_device_protocol(dev) */
	uint64_t flags;           /* the device's migration flags */
	bool has_mig;             /* migration-flags passed: the rest applies */
	bool wanted[CK_NR];       /* --only (all without it) */
	struct json j;
	unsigned int count[R_NR];
	/* Filled by the checks that produce them. */
	int64_t precopy_total;    /* PRE_COPY + STOP_COPY stream, -1 unknown */
	/* Whether every data fd state-pairs got from the kernel was
	 * O_CLOEXEC: -1 none seen. */
	int raw_fds_cloexec;
	/* The device's own stop-copy stream, to resume from in state-pairs. */
	unsigned char *stream;
	size_t stream_len;
};

/* One line (or JSON object) for a check: PASS, FAIL, SKIP or WARN. */
void report(struct conform *k, enum check_id id, enum result r,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline bool want(const struct conform *k, enum check_id id)
{
	return k->wanted[id];
}

/* Migration v1 (the region of Linux 5.8-5.17): no data fd, no feature
 * calls; the checks that can say something drive it through the library
 * and the region (conform-fsm.c), the others are skipped with a reason
 * (cmd-conform.c's table). */
static inline bool is_v1(const struct conform *k)
{
	return k->proto == VFIOMIG_PROTO_V1;
}

/* The checks (a function may report several ids: see the table). */
void check_protocol(struct conform *k);
/* "v2", "v1", "none" (NULL for an error). */
void check_flags(struct conform *k);
void check_initial(struct conform *k);
void check_invalid_targets(struct conform *k);
void check_pairs(struct conform *k);
void check_no_stop_copy_to_pre_copy(struct conform *k);
void check_reset(struct conform *k);
void check_data_fd(struct conform *k);
void check_precopy_info(struct conform *k);
void check_precopy_stream(struct conform *k);
void check_stop_copy(struct conform *k);
void check_round_trip(struct conform *k);
void check_dma_logging(struct conform *k);

/* ---------------------------------------------- conform-dev.c helpers */

/* Appends "; " (after the first) and a formatted part to buf. */
void addf(char *buf, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Whether migration flags support a state (the library's answer). */
bool supported(uint64_t flags, int st);
/* Raw SET: the driver's answer, data fd in *fd (-1 if none).  On a v1
 * device, the library's SET of that state (no fd): v1 has no feature. */
int raw_set(struct vfiomig_device *dev, int state, int *fd);
/* Reset to RUNNING, dropping any library session; -EPROTO if not RUNNING. */
int reset_dev(struct conform *k, struct vfiomig_device *dev);
/* Walk to st through the library (one arc at a time); keep its session. */
int goto_state(struct vfiomig_device *dev, int st);
/* Reads until 0/error; returns bytes, *end = 0 or -errno that ended it;
 * a copy in *copy (realloc'ed, *copylen bytes) unless copy is NULL. */
int64_t drain(int fd, int *end, unsigned char **copy, size_t *copylen);

/* A growing buffer a save writes into. */
struct membuf {
	unsigned char *p;
	size_t len;
};
/* STOP_COPY through the library, the whole stream into m. */
int save_all(struct vfiomig_device *dev, struct membuf *m);
/* RESUMING, p written, then (target >= 0) load_finish to target. */
int load_all(struct vfiomig_device *dev, const void *p, size_t len,
	     int target);

#endif
