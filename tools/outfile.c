// SPDX-License-Identifier: GPL-2.0-or-later
/* Standard fds and an output file that replaces its target only when
 * complete (see outfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return e ? -e : -EIO;
}

int std_fds_ensure(const char *null_path, unsigned int *closed)
{
	*closed = 0;
	for (int fd = 0; fd <= 2; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free fd: this one, as those below are open. */
		nfd = open(null_path, O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) {
			close(nfd);
			return -EBADF;
		}
		*closed |= 1u << fd;
	}
	return 0;
}

static const char *kind_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* May the target be replaced?  0, or why not. */
static int check_target(const struct outfile *o, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(o->path, &st)) {
		if (errno == ENOENT)
			return 0;
		return fail(err, errlen, "cannot look at %s: %s", o->path,
			    strerror(errno));
	}
	if (!o->force) {
		errno = EEXIST;
		return fail(err, errlen, "%s exists; use --force to replace it",
			    o->path);
	}
	if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
		return 0;
	errno = S_ISDIR(st.st_mode) ? EISDIR : EPERM;
	return fail(err, errlen,
		    "%s is %s; --force replaces only regular files and symbolic links",
		    o->path, kind_name(st.st_mode));
}

int outfile_open(struct outfile *o, const char *path, bool force, char *err,
		 size_t errlen)
{
	char *copy = NULL, *base;
	int ret;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->force = force;
	o->path = strdup(path);
	copy = strdup(path);
	if (!o->path || !copy) {
		errno = ENOMEM;
		ret = fail(err, errlen, "out of memory");
		goto out;
	}
	if (!*path || path[strlen(path) - 1] == '/') {
		errno = EISDIR;
		ret = fail(err, errlen, "%s names a directory, not a file", path);
		goto out;
	}
	ret = check_target(o, err, errlen);
	if (ret)
		goto out;
	o->dir = strdup(dirname(copy));
	strcpy(copy, path);
	base = basename(copy);
	/* A name near NAME_MAX leaves no room for the suffix: shorten it. */
	if (!o->dir || asprintf(&o->tmp, "%s/.%.200s.XXXXXX", o->dir, base) < 0) {
		o->tmp = NULL;
		errno = ENOMEM;
		ret = fail(err, errlen, "out of memory");
		goto out;
	}
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		free(o->tmp);
		o->tmp = NULL;
		ret = fail(err, errlen, "cannot create a file in %s: %s", o->dir,
			   strerror(errno));
		goto out;
	}
	/* Exactly 0600 whatever the umask: device state can hold secrets. */
	if (fchmod(o->fd, 0600)) {
		ret = fail(err, errlen, "cannot chmod %s: %s", o->tmp,
			   strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(copy);
	if (ret)
		outfile_abort(o);
	return ret;
}

/* rename without replacing: renameat2 where the filesystem has it, else
 * link + unlink (both refuse an existing target). */
static int rename_noreplace(const char *from, const char *to)
{
	if (!renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to))
		return -1;
	unlink(from);
	return 0;
}

int outfile_commit(struct outfile *o, bool *renamed, char *err, size_t errlen)
{
	int fd = o->fd, dfd, ret;

	*renamed = false;
	o->fd = -1;
	if (fsync(fd)) {
		ret = fail(err, errlen, "fsync %s: %s", o->path, strerror(errno));
		close(fd);
		return ret;
	}
	if (close(fd))
		return fail(err, errlen, "closing %s: %s", o->path, strerror(errno));
	/* Again: the target may have changed while the data was written. */
	ret = check_target(o, err, errlen);
	if (ret)
		return ret;
	if (o->force ? rename(o->tmp, o->path) : rename_noreplace(o->tmp, o->path)) {
		if (errno == EEXIST)
			return fail(err, errlen, "%s appeared meanwhile; use --force to replace it",
				    o->path);
		return fail(err, errlen, "cannot rename the new file to %s: %s",
			    o->path, strerror(errno));
	}
	free(o->tmp);
	o->tmp = NULL;
	*renamed = true;
	/* The rename itself must survive a crash too. */
	dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) && errno != EINVAL)) {
		ret = fail(err, errlen, "fsync of the directory %s: %s", o->dir,
			   strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	close(dfd);
	return 0;
}

bool outfile_abort(struct outfile *o)
{
	bool removed = false;

	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (o->tmp)
		removed = unlink(o->tmp) == 0;
	free(o->tmp);
	free(o->dir);
	free(o->path);
	o->tmp = o->dir = o->path = NULL;
	return removed;
}
