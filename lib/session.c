// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Data sessions: the data fd the kernel returns on an fd-creating arc
 * (kernel-contract.md 4.3, 5), MIG_DATA_SIZE (6), PRECOPY_INFO (5.3), and
 * moving the stream between the data fd and a caller's buffer, callback or
 * fd (file, pipe, socket).
 *
 * This file owns the session: it is opened (vfm_session_install) and
 * ended (vfm_session_arc, vfm_session_sync) as lib/state.c reports arcs
 * and states, which never reach up here the other way.  The fd slot itself
 * belongs to the handle (device.c closes it on reset and free).  Any error
 * while moving data ends the session (the stream can no longer be trusted)
 * and reads the device state back, the one truth then unknown.
 *
 * No splice(): no 6.12 driver's data fd has splice ops, so it always
 * fails with EINVAL (contract 17); bytes move by read()/write(), straight
 * into the caller's buffer with VFIOMIG_IO_BUF.
 */
#include <stdlib.h>

#include "internal.h"
#include "linux/vfio.h"

/*
 * Transfer buffer: MIG_DATA_SIZE rounded up to a page, clamped to
 * [XFER_MIN, XFER_MAX].  The floor avoids QEMU's trap (a stop_copy_length
 * of 0 gave it a 0-byte buffer) and keeps an underestimate cheap.  The cap
 * is QEMU's 1 MiB, confirmed by 0.1's bench/bench-stream (time relative
 * to a 1 MiB copy loop, median of 7 pairs, 256 MiB, tmpfs, 2-CPU VM):
 *
 *                      64K   256K   1M    4M    16M
 *   save file->file    1.02  1.00  1.01  1.08  1.22
 *   save file->pipe    1.02  1.05  1.00  0.98  1.42
 *   load pipe->file    0.90  1.01  1.01  0.97  1.00
 *   save file->socket  1.24  1.06  1.00  0.87  1.11
 *
 * Larger buffers gain at most 13% (sockets, 4 MiB) and lose on files;
 * 16 MiB loses everywhere.  The buffer is set up on the session's first
 * fd or callback transfer and kept until the session ends, so a transfer's
 * only system calls are its reads and writes (poll after EAGAIN).  Today's
 * bench/bench-stream compares vfiomig_save/vfiomig_load with raw loops on
 * the data fd using this buffer's size (tests/kcase-session.c
 * data_path_economy counts the calls).
 */
#define XFER_MIN (64u << 10)
#define XFER_MAX (1u << 20)

/* The session's stream ops: v2's unless the session was opened by
 * another protocol (a session set up by hand, as tests do, is v2's). */
static const struct vfm_mig_ops *session_ops(const struct vfiomig_session *ss)
{
	return ss->ops ? ss->ops : &vfm_mig_v2_ops;
}

void vfm_session_end(struct vfiomig_device *dev)
{
	vfm_dev_lock(dev);
	if (dev->session.fd >= 0) {
		dbg(dev->ctx, "%s: closing data fd %d", vfm_dev_name(dev),
		    dev->session.fd);
		vfm_dev_session_close(dev);
	}
	vfm_dev_unlock(dev);
}

VFIOMIG_EXPORT bool vfiomig_arc_opens_session(int from, int to)
{
	return (from == VFIOMIG_STATE_RUNNING && to == VFIOMIG_STATE_PRE_COPY) ||
	       (from == VFIOMIG_STATE_RUNNING_P2P &&
		to == VFIOMIG_STATE_PRE_COPY_P2P) ||
	       (from == VFIOMIG_STATE_STOP && to == VFIOMIG_STATE_STOP_COPY) ||
	       (from == VFIOMIG_STATE_STOP && to == VFIOMIG_STATE_RESUMING);
}

static bool arc_closes_session(int from, int to)
{
	return (from == VFIOMIG_STATE_PRE_COPY && to == VFIOMIG_STATE_RUNNING) ||
	       (from == VFIOMIG_STATE_PRE_COPY_P2P &&
		to == VFIOMIG_STATE_RUNNING_P2P) ||
	       (from == VFIOMIG_STATE_STOP_COPY && to == VFIOMIG_STATE_STOP) ||
	       (from == VFIOMIG_STATE_RESUMING && to == VFIOMIG_STATE_STOP);
}

void vfm_session_arc(struct vfiomig_device *dev, int from, int to)
{
	if (arc_closes_session(from, to))
		vfm_session_end(dev);
}

void vfm_session_install(struct vfiomig_device *dev, int fd, int from, int to)
{
	bool v2 = to != VFIOMIG_STATE_RESUMING && dev->precopy_v2;

	vfm_dev_lock(dev);
	if (dev->session.fd >= 0) {
		/* QEMU calls this "out of sync" (EBADF); the old fd is dead
		 * for the driver, so drop it and keep the new one. */
		warn(dev->ctx,
		     "%s: %s->%s returned data fd %d while fd %d was open: protocol error, closing the old one",
		     vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
		     fd, dev->session.fd);
		vfm_session_end(dev);
	}
	if (!vfiomig_arc_opens_session(from, to))
		warn(dev->ctx, "%s: %s->%s unexpectedly returned data fd %d",
		     vfm_dev_name(dev), vfm_state_name(from), vfm_state_name(to),
		     fd);
	dev->session = (struct vfiomig_session){
		.fd = fd,
		.saving = to != VFIOMIG_STATE_RESUMING,
		.v2 = v2,
		.ops = vfm_mig_ops(dev),
	};
	dbg(dev->ctx, "%s: %s session on fd %d%s", vfm_dev_name(dev),
	    dev->session.saving ? "saving" : "resuming", fd,
	    v2 ? " (PRECOPY_INFOv2)" : "");
	vfm_dev_unlock(dev);
}

void vfm_session_sync(struct vfiomig_device *dev, int state)
{
	vfm_dev_lock(dev);
	if (state != VFIOMIG_STATE_RESUMING)
		dev->session.refused = false;
	if (dev->session.fd >= 0 &&
	    !(dev->session.saving ? vfm_saving_state(state) :
				    state == VFIOMIG_STATE_RESUMING)) {
		dbg(dev->ctx, "%s: device in %s: ending the %s session",
		    vfm_dev_name(dev), vfm_state_name(state),
		    dev->session.saving ? "saving" : "resuming");
		vfm_session_end(dev);
	}
	vfm_dev_unlock(dev);
}

void vfm_session_refuse(struct vfiomig_device *dev, const char *why)
{
	vfm_dev_lock(dev);
	if (!dev->session.refused)
		err(dev->ctx,
		    "%s: %s: the resuming session is spoiled; nothing it received will be committed (vfiomig_load_abort() discards it)",
		    vfm_dev_name(dev), why);
	vfm_session_end(dev);
	dev->session.refused = true;
	vfm_dev_unlock(dev);
}

VFIOMIG_EXPORT int vfiomig_data_fd(const struct vfiomig_device *dev)
{
	int fd;

	if (!dev)
		return -EINVAL;
	vfm_dev_lock((struct vfiomig_device *)dev);
	fd = dev->session.fd >= 0 ? dev->session.fd : -ENOENT;
	/* v1: the stream is the migration region's, reached through
	 * vfiomig_save()/vfiomig_load() only; there is no data fd. */
	if (fd >= 0 && dev->session.ops && dev->session.ops->shares_device_fd)
		fd = -EOPNOTSUPP;
	vfm_dev_unlock((struct vfiomig_device *)dev);
	return fd;
}

VFIOMIG_EXPORT void vfiomig_data_close(struct vfiomig_device *dev)
{
	if (!dev)
		return;
	vfm_dev_lock(dev);
	if (dev->session.busy)
		err(dev->ctx, "%s: data_close while a transfer is in flight: ignored",
		    vfm_dev_name(dev));
	else
		vfm_session_end(dev);
	vfm_dev_unlock(dev);
}

int vfm_data_size(struct vfiomig_device *dev, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int ret;

	ret = vfm_feature(dev,
			  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			  &ds, sizeof(ds));
	if (ret < 0)
		return ret;
	*len = ds.stop_copy_length;
	return 0;
}

VFIOMIG_EXPORT int vfiomig_data_size(struct vfiomig_device *dev,
				     uint64_t *stop_copy_length)
{
	int ret;

	if (!dev || !stop_copy_length)
		return -EINVAL;
	ret = vfm_data_size(dev, stop_copy_length);
	if (ret < 0)
		err(dev->ctx, "%s: MIG_DATA_SIZE: %s", vfm_dev_name(dev),
		    strerror(-ret));
	return ret;
}

/* The session failed and was ended: tell where the device is. */
static int session_failed(struct vfiomig_device *dev, int ret,
			  const char *what)
{
	int state = vfm_mig_state_read(dev);

	if (state >= 0)
		err(dev->ctx, "%s: %s: %s; session ended, device is in %s",
		    vfm_dev_name(dev), what, strerror(-ret),
		    vfm_state_name(state));
	else
		err(dev->ctx, "%s: %s: %s; session ended, state unknown",
		    vfm_dev_name(dev), what, strerror(-ret));
	return ret;
}

/* REINIT bookkeeping under the lock: pending from a REINIT until a
 * PRECOPY_INFO shows the initial data drained again. */
static void note_reinit(struct vfiomig_device *dev,
			const struct vfiomig_precopy_info *pi)
{
	struct vfiomig_session *ss = &dev->session;

	if (pi->flags & VFIOMIG_PRECOPY_REINIT) {
		ss->reinits++;
		ss->reinit_pending = true;
		info(dev->ctx, "%s: PRECOPY_INFO: REINIT, %llu initial bytes again",
		     vfm_dev_name(dev), (unsigned long long)pi->initial_bytes);
	} else if (!pi->initial_bytes) {
		ss->reinit_pending = false;
	}
}

int vfm_v2_precopy_info(struct vfiomig_device *dev, int fd,
			struct vfiomig_precopy_info *info)
{
	/* flags 0 in: 6.12 drivers echo what they get (contract 16). */
	struct vfio_precopy_info pi = { .argsz = sizeof(pi), .flags = 0 };
	int ret = sys_ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi);

	(void)dev;
	if (!ret) {
		info->initial_bytes = pi.initial_bytes;
		info->dirty_bytes = pi.dirty_bytes;
		info->flags = pi.flags;
	}
	return ret;
}

int vfm_precopy_info(struct vfiomig_device *dev,
		     struct vfiomig_precopy_info *info)
{
	struct vfiomig_precopy_info pi = { 0 };
	int ret;

	/* Under the lock: no state change can close the fd meanwhile. */
	vfm_dev_lock(dev);
	ret = dev->session.fd < 0 ? -ENODEV :
	      session_ops(&dev->session)->precopy_info(dev, dev->session.fd,
						       &pi);
	/* The transfer in flight, if any, ends the session itself. */
	if (ret == -ENODEV && dev->session.fd >= 0 && !dev->session.busy) {
		vfm_session_end(dev);
		vfm_dev_unlock(dev);
		return session_failed(dev, ret, "PRECOPY_INFO");
	}
	if (!ret) {
		info->initial_bytes = pi.initial_bytes;
		info->dirty_bytes = pi.dirty_bytes;
		info->flags = dev->session.v2 ?
				      pi.flags & VFIO_PRECOPY_INFO_REINIT : 0;
		note_reinit(dev, info);
	}
	vfm_dev_unlock(dev);
	if (ret < 0) /* EINVAL outside PRE_COPY, ENOTTY on a resuming fd */
		dbg(dev->ctx, "%s: PRECOPY_INFO: %s", vfm_dev_name(dev),
		    strerror(-ret));
	return ret;
}

/*
 * vfiomig_precopy_info grew `flags` in 0.2: a program built against 0.1
 * passes a 16-byte struct and binds to the 0.1 version, which writes only
 * that much (the glibc way; lib/libvfiomig.sym lists both nodes).
 */
struct precopy_info_0_1 {
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
};

VFIOMIG_EXPORT int vfm_precopy_info_0_1(struct vfiomig_device *dev,
					struct precopy_info_0_1 *info);
VFIOMIG_EXPORT int vfm_precopy_info_0_2(struct vfiomig_device *dev,
					struct vfiomig_precopy_info *info);
__asm__(".symver vfm_precopy_info_0_1, vfiomig_precopy_info@VFIOMIG_0.1");
__asm__(".symver vfm_precopy_info_0_2, vfiomig_precopy_info@@VFIOMIG_0.2");

VFIOMIG_EXPORT int vfm_precopy_info_0_1(struct vfiomig_device *dev,
					struct precopy_info_0_1 *info)
{
	struct vfiomig_precopy_info full;
	int ret;

	if (!dev || !info)
		return -EINVAL;
	ret = vfm_precopy_info(dev, &full);
	if (!ret) {
		info->initial_bytes = full.initial_bytes;
		info->dirty_bytes = full.dirty_bytes;
	}
	return ret;
}

VFIOMIG_EXPORT int vfm_precopy_info_0_2(struct vfiomig_device *dev,
					struct vfiomig_precopy_info *info)
{
	if (!dev || !info)
		return -EINVAL;
	return vfm_precopy_info(dev, info);
}

/* ------------------------------------------------------------------ */
/* Moving bytes                                                        */

struct xfer {
	struct vfiomig_device *dev;
	int dfd;                /* the data fd */
	const struct vfm_mig_ops *ops; /* how the session's stream moves */
	int kind;
	void *buf;
	size_t len;
	int fd;
	vfiomig_write_fn write_fn;
	vfiomig_read_fn read_fn;
	void *arg;
	uint64_t limit;         /* 0 = none */
	char *bounce;
	size_t bsize;
	uint64_t done;
	const char *what;       /* the failing step, for the log */
};

/* Wait until fd is ready for events; 0 or -errno.  Error/hangup counts as
 * ready: the next read or write reports it. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = sys_poll(&p, 1, -1);

		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Read from fd (the data fd or a caller's source fd): > 0 bytes, 0 at the
 * end, or -errno.  On the data fd, ENOMSG in PRE_COPY also means "nothing
 * more now" (contract 5.1). */
static ssize_t read_fd(struct xfer *x, int fd, bool data, void *p, size_t n)
{
	for (;;) {
		ssize_t r = sys_read(fd, p, n);
		int ret;

		if (r >= 0)
			return r;
		switch (errno) {
		case EINTR:
			continue;
		case ENOMSG:
			if (data)
				return 0;
			break;
		case EAGAIN:
			ret = wait_fd(fd, POLLIN);
			if (ret < 0) {
				x->what = data ? "poll on the data fd" :
						 "poll on the source fd";
				return ret;
			}
			continue;
		}
		x->what = data ? "read from the data fd" :
				 "read from the source fd";
		return -errno;
	}
}

/* Write all of p to fd (the data fd or a caller's fd). */
static int write_all(struct xfer *x, int fd, const void *p, size_t n,
		     const char *what)
{
	const char *c = p;

	while (n) {
		ssize_t r = sys_write(fd, c, n);
		int ret;

		if (r > 0) {
			c += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0) {
			x->what = what;
			return -EIO;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			ret = wait_fd(fd, POLLOUT);
			if (ret < 0) {
				x->what = what;
				return ret;
			}
			continue;
		}
		x->what = what;
		return -errno;
	}
	return 0;
}

/* Hand p to the caller's write callback until it took all of it. */
static int cb_write_all(struct xfer *x, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t r = x->write_fn(x->arg, c, n);

		if (r <= 0 || (size_t)r > n) {
			x->what = "write callback";
			return r < 0 ? (int)r : -EIO;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The v2 stream: the data fd, read and written as a file. */
ssize_t vfm_v2_data_read(struct vfiomig_device *dev, int fd, void *buf,
			 size_t n, const char **what)
{
	struct xfer x = { .dev = dev };
	ssize_t r = read_fd(&x, fd, true, buf, n);

	*what = x.what;
	return r;
}

int vfm_v2_data_write(struct vfiomig_device *dev, int fd, const void *buf,
		      size_t n, const char **what)
{
	struct xfer x = { .dev = dev };
	int r = write_all(&x, fd, buf, n, "write to the data fd");

	*what = x.what;
	return r;
}

/* Read the next piece of the stream: from the session (save) or from the
 * caller's source (load).  > 0, 0 at the end, or -errno. */
static ssize_t stream_read(struct xfer *x, bool save, void *p, size_t n)
{
	if (save)
		return x->ops->data_read(x->dev, x->dfd, p, n, &x->what);
	if (x->kind == VFIOMIG_IO_CB) {
		ssize_t r = x->read_fn(x->arg, p, n);

		if (r < 0 || (size_t)r > n) {
			x->what = "read callback";
			return r < 0 ? r : -EIO;
		}
		return r;
	}
	return read_fd(x, x->fd, false, p, n);
}

/* Write all of p where the stream goes: to the caller's destination
 * (save) or to the data fd (load). */
static int stream_write(struct xfer *x, bool save, const void *p, size_t n)
{
	if (!save)
		return x->ops->data_write(x->dev, x->dfd, p, n, &x->what);
	if (x->kind == VFIOMIG_IO_CB)
		return cb_write_all(x, p, n);
	return write_all(x, x->fd, p, n, "write to the destination fd");
}

static size_t chunk(const struct xfer *x, size_t n)
{
	if (x->limit && x->limit - x->done < n)
		return (size_t)(x->limit - x->done);
	return n;
}

/* Move the stream through the session's buffer, either way, up to the
 * limit or the end. */
static int copy_loop(struct xfer *x, bool save)
{
	for (;;) {
		size_t want = chunk(x, x->bsize);
		ssize_t r;
		int ret;

		if (!want)
			return 0;
		r = stream_read(x, save, x->bounce, want);
		if (r <= 0)
			return (int)r;
		ret = stream_write(x, save, x->bounce, (size_t)r);
		if (ret < 0)
			return ret;
		x->done += (uint64_t)r;
	}
}

/* A caller's buffer: save fills it until the end of data, load writes all
 * of it. */
static int buf_xfer(struct xfer *x, bool save)
{
	int ret;

	if (!save) {
		ret = x->ops->data_write(x->dev, x->dfd, x->buf, x->len,
					 &x->what);
		if (!ret)
			x->done = x->len;
		return ret;
	}
	while (x->done < x->len) {
		ssize_t r = x->ops->data_read(x->dev, x->dfd,
					      (char *)x->buf + x->done,
					      x->len - (size_t)x->done, &x->what);

		if (r <= 0)
			return (int)r;
		x->done += (uint64_t)r;
	}
	return 0;
}

/* A saving session's buffer: MIG_DATA_SIZE, asked once per session. */
static size_t buffer_size(struct vfiomig_device *dev, bool save)
{
	uint64_t len = 0;
	int ret;

	if (!save)
		return XFER_MAX;
	ret = vfm_data_size(dev, &len);

	if (ret < 0) {
		dbg(dev->ctx, "%s: MIG_DATA_SIZE: %s; using a %u-byte buffer",
		    vfm_dev_name(dev), strerror(-ret), XFER_MAX);
		return XFER_MAX;
	}
	if (len >= XFER_MAX)
		return XFER_MAX;
	if (len <= XFER_MIN)
		return XFER_MIN;
	return (size_t)((len + 4095) & ~(uint64_t)4095);
}

/* Under the device lock: the session a save or a load may use, marked
 * busy (one transfer at a time; no state change ends it meanwhile). */
static int take_session(struct vfiomig_device *dev, bool save, int *fd,
			const struct vfm_mig_ops **ops)
{
	if (!save && dev->session.refused) {
		err(dev->ctx, "%s: load: an earlier load failed; the session is spoiled",
		    vfm_dev_name(dev));
		return -EBADMSG;
	}
	if (dev->session.fd < 0) {
		dbg(dev->ctx, "%s: %s: no data session", vfm_dev_name(dev),
		    save ? "save" : "load");
		return -ENODEV;
	}
	if (dev->session.saving != save) {
		err(dev->ctx, "%s: %s on a %s session", vfm_dev_name(dev),
		    save ? "save" : "load",
		    dev->session.saving ? "saving" : "resuming");
		return -EBADF;
	}
	if (dev->session.busy) {
		err(dev->ctx, "%s: %s: another transfer is in flight",
		    vfm_dev_name(dev), save ? "save" : "load");
		return -EBUSY;
	}
	dev->session.busy = true;
	*fd = dev->session.fd;
	*ops = session_ops(&dev->session);
	return 0;
}

/* The session's transfer buffer, set up on first use (the session is
 * busy: ours alone until the transfer ends).  Without it nothing moved. */
static int session_buffer(struct vfiomig_device *dev, bool save,
			  struct xfer *x)
{
	struct vfiomig_session *ss = &dev->session;

	if (!ss->buf) {
		size_t n = buffer_size(dev, save);
		void *p = malloc(n);

		if (!p)
			return -ENOMEM;
		vfm_dev_lock(dev);
		ss->buf = p;
		ss->bsize = n;
		vfm_dev_unlock(dev);
	}
	x->bounce = ss->buf;
	x->bsize = ss->bsize;
	return 0;
}

static int64_t xfer(struct vfiomig_device *dev, const struct vfiomig_io *io,
		    unsigned int flags, bool save)
{
	struct xfer x = { .dev = dev, .fd = -1 };
	const char *what;
	bool moved = true;
	int ret;

	if (!dev || !io)
		return -EINVAL;
	ret = OPTS_CHECK(io, vfiomig_io);
	if (ret)
		return ret;
	/* NO_SPLICE is what every transfer does now; still accepted. */
	if (flags & ~VFIOMIG_XFER_NO_SPLICE) {
		err(dev->ctx, "%s: unknown transfer flags 0x%x", vfm_dev_name(dev),
		    flags);
		return -EINVAL;
	}
	x.kind = OPTS_GET(io, kind, 0);
	x.buf = OPTS_GET(io, buf, NULL);
	x.len = OPTS_GET(io, len, 0);
	x.fd = OPTS_GET(io, fd, -1);
	x.write_fn = OPTS_GET(io, write_fn, NULL);
	x.read_fn = OPTS_GET(io, read_fn, NULL);
	x.arg = OPTS_GET(io, arg, NULL);
	x.limit = OPTS_GET(io, limit, 0);
	switch (x.kind) {
	case VFIOMIG_IO_BUF:
		ret = !x.buf && x.len ? -EINVAL : 0;
		break;
	case VFIOMIG_IO_FD:
		ret = x.fd < 0 ? -EINVAL : 0;
		break;
	case VFIOMIG_IO_CB:
		ret = (save ? !x.write_fn : !x.read_fn) ? -EINVAL : 0;
		break;
	default:
		ret = -EINVAL;
	}
	if (ret) {
		err(dev->ctx, "%s: bad vfiomig_io (kind %d)", vfm_dev_name(dev),
		    x.kind);
		return ret;
	}
	vfm_dev_lock(dev);
	ret = take_session(dev, save, &x.dfd, &x.ops);
	vfm_dev_unlock(dev);
	if (ret)
		return ret;

	if (x.kind == VFIOMIG_IO_BUF) {
		ret = buf_xfer(&x, save);
	} else {
		ret = session_buffer(dev, save, &x);
		/* Without the buffer nothing moved: the session lives. */
		moved = ret == 0;
		if (moved)
			ret = copy_loop(&x, save);
	}
	what = x.what ? x.what : save ? "save" : "load";

	vfm_dev_lock(dev);
	dev->session.busy = false;
	if (ret < 0 && moved) {
		/* The caller cannot know how much of its stream reached the
		 * driver, which may have kept bytes it refused (mtty keeps a
		 * bad header and answers EFAULT, contract 5.4). */
		if (!save)
			vfm_session_refuse(dev, what); /* ends it too */
		else
			vfm_session_end(dev);
	}
	vfm_dev_unlock(dev);
	if (ret < 0)
		return moved ? session_failed(dev, ret, what) : ret;
	dbg(dev->ctx, "%s: %s %llu bytes", vfm_dev_name(dev), save ? "saved" : "loaded",
	    (unsigned long long)x.done);
	return (int64_t)x.done;
}

VFIOMIG_EXPORT int64_t vfiomig_save(struct vfiomig_device *dev,
				    const struct vfiomig_io *to,
				    unsigned int flags)
{
	return xfer(dev, to, flags, true);
}

VFIOMIG_EXPORT int64_t vfiomig_load(struct vfiomig_device *dev,
				    const struct vfiomig_io *from,
				    unsigned int flags)
{
	return xfer(dev, from, flags, false);
}

/* ------------------------------------------------------------------ */
/* Precopy                                                             */

#define STALL_ROUNDS_DEFAULT 3u

/* The session's state for precopy: a PRE_COPY state, known without an
 * ioctl wherever the library set it. */
static int check_precopy(struct vfiomig_device *dev)
{
	int state = vfm_mig_state(dev);

	if (state < 0)
		return state;
	if (state != VFIOMIG_STATE_PRE_COPY &&
	    state != VFIOMIG_STATE_PRE_COPY_P2P) {
		err(dev->ctx, "%s: precopy round in %s", vfm_dev_name(dev),
		    vfm_state_name(state));
		return -EINVAL;
	}
	return 0;
}

/* Fold one step's result into the caller's progress. */
static void progress_update(struct vfiomig_device *dev,
			    struct vfiomig_precopy_progress *p, uint64_t moved,
			    const struct vfiomig_precopy_info *pi)
{
	unsigned int round = OPTS_GET(p, round, 0) + 1;
	uint64_t prev_initial = OPTS_GET(p, initial_bytes, 0);
	uint64_t prev_dirty = OPTS_GET(p, dirty_bytes, 0);
	unsigned int stalled = OPTS_GET(p, stalled, 0);
	bool drained;

	/* dirty_bytes means something once the initial data is gone (mlx5
	 * reports 0 before); a round that did not shrink it is a stall. */
	if (pi->initial_bytes || round == 1 || prev_initial ||
	    (pi->flags & VFIOMIG_PRECOPY_REINIT))
		stalled = 0;
	else if (pi->dirty_bytes >= prev_dirty)
		stalled++;
	else
		stalled = 0;
	vfm_dev_lock(dev);
	drained = !pi->initial_bytes && !dev->session.reinit_pending;
	OPTS_SET(p, reinits, dev->session.reinits);
	vfm_dev_unlock(dev);

	OPTS_SET(p, round, round);
	OPTS_SET(p, round_bytes, moved);
	OPTS_SET(p, total_bytes, OPTS_GET(p, total_bytes, 0) + moved);
	OPTS_SET(p, initial_bytes, pi->initial_bytes);
	OPTS_SET(p, dirty_bytes, pi->dirty_bytes);
	OPTS_SET(p, stalled, stalled);
	OPTS_SET(p, initial_drained, drained);
	dbg(dev->ctx,
	    "%s: precopy round %u: %llu bytes, initial %llu, dirty %llu, stalled %u%s",
	    vfm_dev_name(dev), round, (unsigned long long)moved,
	    (unsigned long long)pi->initial_bytes,
	    (unsigned long long)pi->dirty_bytes, stalled,
	    drained ? ", drained" : "");
}

static int64_t precopy_step(struct vfiomig_device *dev,
			    const struct vfiomig_io *to, uint64_t max_bytes,
			    struct vfiomig_precopy_progress *progress,
			    struct vfiomig_precopy_info *pi)
{
	struct vfiomig_io io;
	int64_t moved;
	int ret;

	if (!dev || !to || !progress)
		return -EINVAL;
	ret = OPTS_CHECK(progress, vfiomig_precopy_progress);
	if (!ret)
		ret = OPTS_CHECK(to, vfiomig_io);
	if (ret)
		return ret;
	/* Only in PRE_COPY states: don't move data and then fail. */
	ret = check_precopy(dev);
	if (ret < 0)
		return ret;
	/* The budget: the tighter of the caller's io limit and max_bytes. */
	io = (struct vfiomig_io){ .sz = sizeof(io) };
	memcpy(&io, to, to->sz < sizeof(io) ? to->sz : sizeof(io));
	io.sz = sizeof(io);
	if (max_bytes) {
		if (io.kind == VFIOMIG_IO_BUF && io.len > max_bytes)
			io.len = (size_t)max_bytes;
		else if (io.kind != VFIOMIG_IO_BUF &&
			 (!io.limit || io.limit > max_bytes))
			io.limit = max_bytes;
	}
	moved = vfiomig_save(dev, &io, 0);
	if (moved < 0)
		return moved;
	ret = vfm_precopy_info(dev, pi);
	if (ret < 0)
		return ret;
	progress_update(dev, progress, (uint64_t)moved, pi);
	return moved;
}

VFIOMIG_EXPORT int64_t vfiomig_precopy_step(
	struct vfiomig_device *dev, const struct vfiomig_io *to,
	uint64_t max_bytes, struct vfiomig_precopy_progress *progress)
{
	struct vfiomig_precopy_info pi;

	return precopy_step(dev, to, max_bytes, progress, &pi);
}

VFIOMIG_EXPORT int vfiomig_precopy_iterate(
	struct vfiomig_device *dev, const struct vfiomig_io *to,
	const struct vfiomig_precopy_policy *policy,
	struct vfiomig_precopy_progress *progress)
{
	struct vfiomig_precopy_info pi;
	uint64_t threshold;
	unsigned int stall, max_rounds;
	int64_t moved;
	int ret;

	ret = OPTS_CHECK(policy, vfiomig_precopy_policy);
	if (ret)
		return ret;
	threshold = OPTS_GET(policy, dirty_threshold, 0);
	stall = OPTS_GET(policy, stall_rounds, 0);
	if (!stall)
		stall = STALL_ROUNDS_DEFAULT;
	max_rounds = OPTS_GET(policy, max_rounds, 0);

	moved = precopy_step(dev, to, 0, progress, &pi);
	if (moved < 0)
		return (int)moved;
	if (max_rounds && OPTS_GET(progress, round, 0) >= max_rounds)
		return 1; /* the caller's hard cap wins */
	/* Else never while initial data is left, re-initialised or not: the
	 * destination needs it before the switchover (QEMU's switchover-ack). */
	if (!OPTS_GET(progress, initial_drained, !pi.initial_bytes))
		return 0;
	if (pi.dirty_bytes <= threshold ||
	    OPTS_GET(progress, stalled, 0) >= stall)
		return 1;
	return 0;
}
