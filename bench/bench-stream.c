// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench-stream: the library's data path (vfiomig_save, vfiomig_load)
 * against the strongest fair baseline, the raw read()/write() loop on the
 * same data fd, on the fake kernel (tests/fake, linked in as the tests do)
 * with a GENERIC device of -m MiB of state (default 64: 11 pairs of every
 * path in about a minute; -m 256 for the size).
 *
 * Paths, each against its baseline (the data fd is vfiomig_data_fd()'s):
 *   save IO_BUF      read() into the caller's buffer until 0
 *   save IO_FD pipe  read() 1 MiB + write() to a pipe drained by a thread
 *   save IO_FD file  read() 1 MiB + write() to a tmpfs file
 *   save IO_CB       read() 1 MiB + the same callback called directly
 *   load IO_BUF      write() of the caller's buffer
 *   load IO_FD pipe  read() 1 MiB from a pipe fed by a thread + write()
 *   load IO_FD file  read() 1 MiB from a tmpfs file + write()
 *   load IO_CB       the same callback into 1 MiB + write()
 * 1 MiB is the library's transfer buffer for a stream this size (MIG_DATA_SIZE
 * clamped to 1 MiB, lib/session.c): the baselines move the same pieces.
 *
 * A run is one whole data session: the arc that opens it (STOP->STOP_COPY,
 * where the fake builds the stream, or STOP->RESUMING) and the one that
 * closes it are outside the timing; the library pays, inside it, what a
 * session costs it (one MIG_DATA_SIZE and its buffer for fd and callback
 * transfers).  Baseline and library runs alternate (the order flips every
 * pair); ratio = baseline time / library time (> 1: library faster).
 * min = best baseline time / best library time; median = median of the
 * per-pair ratios.  Not a test: nothing here asserts a time.
 *
 * Besides the human-readable table, one machine-readable line per path:
 *   RATIO\t<path>\t<baseline>\t<min ratio>\t<median ratio>\t<goal>
 *
 * Usage: bench-stream [--quick] [-m MiB] [-r pairs (default 11)]
 *                     [-d dir for the files (default /dev/shm, a tmpfs)]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vfiomig.h"
#include "fake.h"
#include "bench.h"

#define XFER (1u << 20)      /* the library's buffer for this stream */
#define MAX_PAIRS 64
#define GOAL ">=0.9"

static size_t state_mib = 64;
static int pairs = 11;
static char dir[4096] = "/dev/shm";

static struct vfiomig_ctx *ctx;
static struct vfiomig_device *src, *dst;

static unsigned char *stream;    /* one whole STOP_COPY stream */
static size_t stream_len;
static unsigned char *dest;      /* the caller's buffer, stream_len + 4 KiB */
static size_t dest_cap;
static unsigned char *xbuf;      /* the baseline's 1 MiB buffer, per run */
static char out_path[4200], in_path[4200];
static int out_fd = -1, in_fd = -1;

static void die(const char *what)
{
	fprintf(stderr, "bench-stream: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_ret(const char *what, int64_t ret)
{
	fprintf(stderr, "bench-stream: %s: %s\n", what,
		ret < 0 ? strerror((int)-ret) : "short transfer");
	exit(1);
}

static void write_all(int fd, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n) {
		ssize_t r = write(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write");
		c += r;
		n -= (size_t)r;
	}
}

static unsigned char *big_buffer(size_t n)
{
	unsigned char *p = malloc(n);

	if (!p)
		die("malloc");
	memset(p, 0, n); /* faulted in outside the timing */
	return p;
}

/* ---- the caller's callbacks (the library's and the baselines' alike) */

struct cursor {
	unsigned char *p;
	size_t pos, cap;
};

static ssize_t sink_cb(void *arg, const void *buf, size_t len)
{
	struct cursor *c = arg;

	if (len > c->cap - c->pos)
		return -ENOSPC;
	memcpy(c->p + c->pos, buf, len);
	c->pos += len;
	return (ssize_t)len;
}

static ssize_t source_cb(void *arg, void *buf, size_t len)
{
	struct cursor *c = arg;
	size_t n = c->cap - c->pos < len ? c->cap - c->pos : len;

	memcpy(buf, c->p + c->pos, n);
	c->pos += n;
	return (ssize_t)n;
}

/* ---- threads at the far end of a pipe ---------------------------- */

struct peer {
	int fd;
	size_t bytes;
	pthread_t th;
};

static void *drain(void *arg)
{
	struct peer *p = arg;
	unsigned char *buf = malloc(XFER);
	ssize_t r;

	if (!buf)
		die("malloc");
	while ((r = read(p->fd, buf, XFER)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("drain read");
		p->bytes += (size_t)r;
	}
	free(buf);
	return NULL;
}

static void *feed(void *arg)
{
	struct peer *p = arg;

	write_all(p->fd, stream, stream_len);
	p->bytes = stream_len;
	close(p->fd);
	return NULL;
}

/* ---- sessions ---------------------------------------------------- */

static int open_session(bool save)
{
	int ret = vfiomig_state_set(save ? src : dst,
				    save ? VFIOMIG_STATE_STOP_COPY :
					   VFIOMIG_STATE_RESUMING, NULL);
	if (ret < 0)
		die_ret("state_set", ret);
	ret = vfiomig_data_fd(save ? src : dst);
	if (ret < 0)
		die_ret("data_fd", ret);
	return ret;
}

static void close_session(bool save)
{
	int ret = save ? vfiomig_state_set(src, VFIOMIG_STATE_STOP, NULL) :
			 /* nothing is loaded: the reset discards it */
			 vfiomig_load_abort(dst, VFIOMIG_STATE_STOP, NULL);
	if (ret < 0)
		die_ret("closing the session", ret);
}

/* ---- the paths ----------------------------------------------------- */

enum kind { BUF, PIPE, FILE_, CB };

static const char *const kind_name[] = { "IO_BUF", "IO_FD pipe", "IO_FD file",
					 "IO_CB" };
static const char *const save_base[] = {
	"read() loop into the caller's buffer",
	"read()+write() 1 MiB to the pipe",
	"read()+write() 1 MiB to the tmpfs file",
	"read() 1 MiB + the callback called directly",
};
static const char *const load_base[] = {
	"write() loop from the caller's buffer",
	"read() 1 MiB from the pipe + write()",
	"read() 1 MiB from the tmpfs file + write()",
	"the callback into 1 MiB + write()",
};

/* Raw loops on the data fd. */
static size_t base_save(int dfd, enum kind k, int out, struct cursor *c)
{
	size_t done = 0;

	for (;;) {
		unsigned char *p = k == BUF ? dest + done : xbuf;
		size_t want = k == BUF ? dest_cap - done : XFER;
		ssize_t r = read(dfd, p, want);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read from the data fd");
		if (r == 0)
			return done;
		if (k == PIPE || k == FILE_)
			write_all(out, xbuf, (size_t)r);
		else if (k == CB && sink_cb(c, xbuf, (size_t)r) != r)
			die("sink");
		done += (size_t)r;
	}
}

static size_t base_load(int dfd, enum kind k, int in, struct cursor *c)
{
	size_t done = 0;

	if (k == BUF) {
		write_all(dfd, stream, stream_len);
		return stream_len;
	}
	for (;;) {
		ssize_t r = k == CB ? source_cb(c, xbuf, XFER) :
				      read(in, xbuf, XFER);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read from the source");
		if (r == 0)
			return done;
		write_all(dfd, xbuf, (size_t)r);
		done += (size_t)r;
	}
}

static size_t lib_xfer(bool save, enum kind k, int fd, struct cursor *c)
{
	struct vfiomig_io io = { .sz = sizeof(io) };
	int64_t n;

	switch (k) {
	case BUF:
		io.kind = VFIOMIG_IO_BUF;
		io.buf = save ? dest : stream;
		io.len = save ? dest_cap : stream_len;
		break;
	case PIPE:
	case FILE_:
		io.kind = VFIOMIG_IO_FD;
		io.fd = fd;
		break;
	case CB:
		io.kind = VFIOMIG_IO_CB;
		io.write_fn = sink_cb;
		io.read_fn = source_cb;
		io.arg = c;
		break;
	}
	n = save ? vfiomig_save(src, &io, 0) : vfiomig_load(dst, &io, 0);
	if (n < 0)
		die_ret(save ? "vfiomig_save" : "vfiomig_load", n);
	return (size_t)n;
}

/* One run (one whole session); returns its seconds. */
static double run(bool save, enum kind k, bool lib)
{
	struct cursor c = { .p = save ? dest : stream,
			    .cap = save ? dest_cap : stream_len };
	struct peer peer = { .fd = -1 };
	int p[2], fd = -1, dfd;
	size_t moved;
	double t0, t;

	dfd = open_session(save);
	if (k == PIPE) {
		if (pipe2(p, O_CLOEXEC))
			die("pipe2");
		fd = save ? p[1] : p[0];
		peer.fd = save ? p[0] : p[1];
		if (pthread_create(&peer.th, NULL, save ? drain : feed, &peer))
			die("pthread_create");
	} else if (k == FILE_) {
		fd = save ? out_fd : in_fd;
		if (save && ftruncate(fd, 0))
			die("ftruncate");
		if (lseek(fd, 0, SEEK_SET))
			die("lseek");
	}

	/* The baseline's buffer is a session's, like the library's (a
	 * buffer kept for the whole process measured up to 1.5x slower
	 * here: where it lands matters more than its page faults), and
	 * faulted in outside the timing, which the library's is not. */
	if (!lib)
		xbuf = big_buffer(XFER);
	t0 = bench_wall_now();
	moved = lib ? lib_xfer(save, k, fd, &c) :
		      save ? base_save(dfd, k, fd, &c) :
			     base_load(dfd, k, fd, &c);
	t = bench_wall_now() - t0;
	if (!lib) {
		free(xbuf);
		xbuf = NULL;
	}

	if (k == PIPE) {
		close(fd);
		pthread_join(peer.th, NULL);
		if (save)
			close(peer.fd);
		if (peer.bytes != stream_len)
			die_ret("the pipe's far end", 0);
	}
	if (k == FILE_ && save && lseek(fd, 0, SEEK_END) != (off_t)stream_len)
		die_ret("the file", 0);
	if (moved != stream_len)
		die_ret(lib ? "library" : "baseline", 0);
	close_session(save);
	return t;
}

static void measure(bool save, enum kind k)
{
	double tb[MAX_PAIRS], tl[MAX_PAIRS], r[MAX_PAIRS];
	double bmin = 1e30, lmin = 1e30, med;
	int n = pairs;

	for (int i = 0; i < n; i++) {
		if (i % 2) {
			tl[i] = run(save, k, true);
			tb[i] = run(save, k, false);
		} else {
			tb[i] = run(save, k, false);
			tl[i] = run(save, k, true);
		}
		r[i] = tb[i] / tl[i];
		if (tb[i] < bmin)
			bmin = tb[i];
		if (tl[i] < lmin)
			lmin = tl[i];
	}
	qsort(r, (size_t)n, sizeof(r[0]), bench_cmp_double);
	med = n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
	printf("%-5s %-11s %9.0f %9.0f %7.2f %7.2f   %s\n",
	       save ? "save" : "load", kind_name[k],
	       (double)stream_len / (1 << 20) / bmin,
	       (double)stream_len / (1 << 20) / lmin, bmin / lmin, med,
	       save ? save_base[k] : load_base[k]);
	printf("RATIO\tstream %s %s\t%s\t%.2f\t%.2f\t%s\n",
	       save ? "save" : "load", kind_name[k],
	       save ? save_base[k] : load_base[k], bmin / lmin, med, GOAL);
	fflush(stdout);
}

/* ---- setup ------------------------------------------------------- */

static int open_file(char *path, const char *what)
{
	int fd;

	snprintf(path, 4200, "%s/bench-stream-%s.%d", dir, what, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path);
	return fd;
}

static void setup(void)
{
	struct fake_dev_cfg cfg;
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };
	uint64_t len;
	int id, ret, dfd;

	if (fake_init(false))
		die_ret("fake_init", -EIO);
	fake_cfg_pci(&cfg, "0000:3b:00.1", 12, 3, VFIOMIG_MIG_STOP_COPY);
	cfg.state_size = state_mib << 20;
	id = fake_add_device(&cfg);
	if (id < 0)
		die_ret("fake_add_device", id);
	fake_dev_fill(id, 0x5eed);
	cfg.name = "0000:3b:00.2";
	cfg.group = 13;
	cfg.cdev = 4;
	if ((ret = fake_add_device(&cfg)) < 0)
		die_ret("fake_add_device", ret);

	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	if ((ret = vfiomig_ctx_new(&o, &ctx)) < 0)
		die_ret("vfiomig_ctx_new", ret);
	if ((ret = vfiomig_device_open(ctx, "0000:3b:00.1", NULL, &src)) < 0 ||
	    (ret = vfiomig_device_open(ctx, "0000:3b:00.2", NULL, &dst)) < 0)
		die_ret("vfiomig_device_open", ret);
	if ((ret = vfiomig_state_set(src, VFIOMIG_STATE_STOP, NULL)) < 0 ||
	    (ret = vfiomig_state_set(dst, VFIOMIG_STATE_STOP, NULL)) < 0)
		die_ret("vfiomig_state_set", ret);
	if ((ret = vfiomig_data_size(src, &len)) < 0)
		die_ret("vfiomig_data_size", ret);
	stream_len = (size_t)len;
	dest_cap = stream_len + 4096; /* a save into it ends on the 0 read */
	dest = big_buffer(dest_cap);
	stream = big_buffer(stream_len);

	/* The stream, read raw once; the library's must be the same bytes. */
	dfd = open_session(true);
	if (base_save(dfd, BUF, -1, NULL) != stream_len)
		die_ret("the first stream", 0);
	memcpy(stream, dest, stream_len);
	close_session(true);
	memset(dest, 0, dest_cap);
	open_session(true);
	if (lib_xfer(true, BUF, -1, NULL) != stream_len ||
	    memcmp(dest, stream, stream_len))
		die_ret("vfiomig_save's stream differs from read()'s", 0);
	close_session(true);

	out_fd = open_file(out_path, "out");
	in_fd = open_file(in_path, "in");
	write_all(in_fd, stream, stream_len);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	int opt;

	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		snprintf(dir, sizeof(dir), "%s", tmp ? tmp : "/tmp");
	while ((opt = getopt_long(argc, argv, "m:r:d:", lo, NULL)) != -1) {
		switch (opt) {
		case 'q': /* a few seconds: the smoke test's run */
			state_mib = 16;
			pairs = 3;
			break;
		case 'm':
			state_mib = (size_t)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			pairs = atoi(optarg);
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [--quick] [-m MiB] [-r pairs] [-d dir]\n",
				argv[0]);
			return 2;
		}
	}
	if (state_mib < 2 || pairs < 1 || pairs > MAX_PAIRS) {
		fprintf(stderr, "bench-stream: -m >= 2, 1 <= -r <= %d\n",
			MAX_PAIRS);
		return 2;
	}
	/* a pipe's reader may go away first if something fails */
	signal(SIGPIPE, SIG_IGN);

	setup();
	printf("bench-stream: vfiomig_save/vfiomig_load on the fake kernel, "
	       "a %zu MiB GENERIC device (stream %zu bytes), %d pairs, files in %s\n",
	       state_mib, stream_len, pairs, dir);
	printf("ratio = baseline time / library time (> 1: library faster); "
	       "min = best / best, median of the pairs; MiB/s of the best runs\n\n");
	printf("%-5s %-11s %9s %9s %7s %7s   %s\n", "", "path", "base MB/s",
	       "lib MB/s", "min", "median", "baseline");
	for (int save = 1; save >= 0; save--)
		for (int k = BUF; k <= CB; k++)
			measure(save, (enum kind)k);

	close(out_fd);
	close(in_fd);
	unlink(out_path);
	unlink(in_path);
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	vfiomig_ctx_free(ctx);
	free(dest);
	free(stream);
	return fake_fini() ? 1 : 0;
}
