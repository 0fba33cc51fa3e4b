/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tool's careful file handling, for a hostile environment: standard
 * fds that may be closed, and an output file that replaces its target
 * only when it is complete.  Self-contained (libc only): the unit tests
 * link it alone.  Functions return 0 or a negative errno and put a
 * message (naming the file) in err.
 */
#ifndef VFM_OUTFILE_H
#define VFM_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Opens null_path (/dev/null) read-write onto each of fds 0, 1 and 2 that
 * is closed, so that no file opened later lands there (a device fd on 1
 * would receive what is meant for stdout).  *closed gets bit N for each
 * fd N that was closed.  On failure the caller must exit without opening
 * anything.
 */
int std_fds_ensure(const char *null_path, unsigned int *closed);

/*
 * An output file: data goes to a temporary beside the target
 * ("DIR/.NAME.XXXXXX", mode 0600, O_EXCL|O_CLOEXEC), which replaces the
 * target only in outfile_commit(), after fsync.
 */
struct outfile {
	char *path;   /* the target, as given */
	char *dir;    /* its directory */
	char *tmp;    /* the temporary; NULL once renamed or removed */
	int fd;       /* the temporary's, -1 when closed */
	bool force;
};

/*
 * Checks the target and creates the temporary.  Without force an existing
 * target is -EEXIST; with force only a regular file or a symbolic link
 * (replaced, never followed) may be replaced: a directory is -EISDIR, a
 * device node, FIFO or socket -EPERM.  On failure nothing is left behind
 * and outfile_abort() is a no-op.
 */
int outfile_open(struct outfile *o, const char *path, bool force, char *err,
		 size_t errlen);
/* fsync and close the temporary, rename it over the target (never over
 * one that appeared meanwhile without force, never over a non-regular
 * file), fsync the directory.  *renamed tells whether the target was
 * replaced: a failed directory fsync is an error after the rename (the
 * file is complete and in place, its name may not survive a crash). */
int outfile_commit(struct outfile *o, bool *renamed, char *err, size_t errlen);
/* Closes and removes the temporary if it is still there; frees o.
 * Returns true if a temporary was removed. */
bool outfile_abort(struct outfile *o);

#endif
