/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfiomig-ctl: what save, load and migrate share.  Their devices come as
 * comma-separated lists (a device set, paired by position); every state
 * change of a set goes through the library's device set (vfiomig_devset_*),
 * so the P2P barrier and the rollback are the library's.
 *
 * xfer-set.c: the lists, their sets, state changes and the way back;
 * xfer-save.c: saving a set (precopy rounds, STOP_COPY) into a sink;
 * xfer-ident.c: a device's identity in a stream, compatibility;
 * xfer-opt.c: the shared options, fd I/O, per-member JSON.
 */
#ifndef VFM_XFER_H
#define VFM_XFER_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "stream.h"

struct xfer_opts {
	bool no_precopy;
	unsigned int max_rounds;
	uint64_t step;     /* precopy budget per member and step */
	bool force;
	bool run;          /* save: sources RUNNING after; load: RUNNING */
	bool stop;         /* migrate: destinations STOP */
	bool verify_only;
	bool allow_no_p2p;
	const char *path;
};

/* Options save, load and migrate share (values past OPT_FIRST_CMD). */
enum {
	OPT_NO_PRECOPY = OPT_FIRST_CMD,
	OPT_MAX_ROUNDS,
	OPT_STEP,
	OPT_RUN,
	OPT_STOP,
	OPT_PROGRESS,
	OPT_VERIFY_ONLY,
	OPT_ALLOW_NO_P2P,
};

#define XFER_ALLOW_NO_P2P_OPT                                                  \
	{ "allow-no-p2p", no_argument, NULL, OPT_ALLOW_NO_P2P }

/* One device of a list, with what a transfer learns about it. */
struct xfer_member {
	const char *name;
	struct vfiomig_device *dev;
	uint64_t flags;           /* VFIO migration flags */
	uint64_t data_size;       /* MIG_DATA_SIZE at the start (0: unknown) */
	int orig;                 /* state at the start, -1 before it is read */
	int final;                /* state at the end, -1 unknown */
	uint64_t precopy_bytes, stop_copy_bytes;
	unsigned int reinits;
	struct vfiomig_precopy_progress pp;
};

/* A device list and, once made, its device set. */
struct xfer_list {
	const char *arg;          /* as given, for messages */
	char *buf;                /* the names, split */
	size_t n;
	struct xfer_member *m;
	struct vfiomig_devset *set;
};

/* Splits arg at commas (no empty name, no name twice, at most
 * STREAM_MAX_DEVS): 0, or EXIT_USAGE after printing why. */
int xfer_parse_list(struct cli *c, const char *arg, struct xfer_list *l);
void xfer_list_free(struct xfer_list *l);
/* Opens every member and reads its migration flags; a device that is
 * already a member (another name for it), here or in `other`, is
 * refused.  0, or -1 after printing why (nothing moved). */
int xfer_open_list(struct cli *c, struct xfer_list *l,
		   const struct xfer_list *other);
/* The device set of the list (n >= 1).  0 or -1 after printing why. */
int xfer_make_set(struct cli *c, struct xfer_list *l, bool allow_no_p2p);
/* Every member's state now into orig; -1 after printing why. */
int xfer_read_states(struct cli *c, struct xfer_list *l);

/* Exit status of a command that failed after devices were asked to move,
 * from a look at every device: EXIT_ROLLED_BACK when each source is back
 * where it started and each destination (dst: those reset, else NULL)
 * RUNNING, else EXIT_STRANDED, naming those that are not. */
int xfer_fail_status(struct cli *c, struct xfer_list *src,
		     struct xfer_list *dst);

/* The set to `target` (recovery: back where each started); prints the
 * failing member and arc.  0 or a negative errno; *moved tells whether
 * the library walked any arc (false: refused before anything moved). */
int xfer_set_state(struct cli *c, struct xfer_list *l, int target,
		   bool *moved);
/* After a failure: the sources back where they started (a PRE_COPY
 * origin: its running twin, the session is gone). */
void xfer_sources_back(struct cli *c, struct xfer_list *l);
/* After a failure once the destinations entered RESUMING: reset each. */
void xfer_dests_reset(struct cli *c, struct xfer_list *l);

/* Commits every destination's RESUMING session, then the set to target
 * (the library's rollback on failure); prints the failing member. */
int xfer_load_finish(struct cli *c, struct xfer_list *l, int target);
/* Sources that can be saved as a set: STOP_COPY each, one starting
 * state for all (states read).  0 or an error after printing why. */
int xfer_check_sources(struct cli *c, const struct xfer_list *l);

/* Where saved data goes: member i's bytes to a stream file or to
 * destination i. */
typedef int (*xfer_sink_fn)(void *arg, size_t i, const void *buf,
			    size_t len, bool precopy);

struct xfer_stats {
	unsigned int rounds;
	double seconds;
};

/*
 * Saves every member of l (made into a set, states read): precopy rounds
 * when every member can and runs, paced across members (opts->step bytes
 * per member and step) until the set is drained and the policy is met,
 * then STOP_COPY for the set and its data.  On success the sources are
 * in STOP_COPY with their sessions drained; on failure they are back
 * where they started (xfer_sources_back).  *moved as xfer_set_state.
 */
int xfer_save_set(struct cli *c, struct xfer_list *l,
		  const struct xfer_opts *xo, xfer_sink_fn sink, void *sink_arg,
		  struct progress *prog, struct xfer_stats *st, bool *moved);

/* Identity of a device as a stream section records it. */
void xfer_identity(struct xfer_member *m, struct stream_hdr *h);
/* 0 when a stream described by `from` may go into `to` (or forced),
 * else prints why and returns -EXDEV. */
int xfer_check_compat(struct cli *c, const struct stream_hdr *from,
		      const char *from_what, const struct stream_hdr *to,
		      const char *to_name, bool force);
void xfer_kind_str(const struct stream_hdr *h, char *buf, size_t len);

/* Shared option parsing: as cli_common_opt. */
int xfer_parse_opt(struct cli *c, int opt, struct xfer_opts *xo);

/* fd <-> stream helpers (a signal stops them: cli_interrupted). */
int xfer_fd_write(void *arg, const void *buf, size_t len);
ssize_t xfer_fd_read(void *arg, void *buf, size_t len);

/* Per-member JSON of a transfer: "members": [...]. */
void xfer_json_members(struct json *j, const struct xfer_list *l,
		       bool saving);

#endif
