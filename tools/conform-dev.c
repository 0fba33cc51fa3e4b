// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl conform: how the checks drive a device.  Raw SETs with the
 * uAPI's payload (the driver's own answer), resets, walks through the
 * library (vfiomig_state_set, which keeps the session), whole streams
 * saved into and loaded from memory.  What a state needs comes from the
 * library's planner, not from a table of our own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "conform.h"

/* The public numbers are the kernel's: the tool hands the uAPI payload
 * to vfiomig_feature_set() under the public feature index. */
_Static_assert(VFIOMIG_FEATURE_MIG_DEVICE_STATE == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
	       "MIG_DEVICE_STATE feature index");
_Static_assert((int)VFIOMIG_STATE_ERROR == (int)VFIO_DEVICE_STATE_ERROR &&
	       (int)VFIOMIG_STATE_STOP == (int)VFIO_DEVICE_STATE_STOP &&
	       (int)VFIOMIG_STATE_RUNNING == (int)VFIO_DEVICE_STATE_RUNNING &&
	       (int)VFIOMIG_STATE_STOP_COPY == (int)VFIO_DEVICE_STATE_STOP_COPY &&
	       (int)VFIOMIG_STATE_RESUMING == (int)VFIO_DEVICE_STATE_RESUMING &&
	       (int)VFIOMIG_STATE_RUNNING_P2P == (int)VFIO_DEVICE_STATE_RUNNING_P2P &&
	       (int)VFIOMIG_STATE_PRE_COPY == (int)VFIO_DEVICE_STATE_PRE_COPY &&
	       (int)VFIOMIG_STATE_PRE_COPY_P2P == (int)VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	       (int)VFIOMIG_STATE_NR == (int)VFIO_DEVICE_STATE_NR,
	       "public states are the kernel's");

void addf(char *buf, size_t size, size_t *n, const char *fmt, ...)
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

/* The planner refuses an unsupported state even as a path to itself. */
bool supported(uint64_t flags, int st)
{
	return vfiomig_state_plan(st, st, flags, NULL, 0) == 0;
}

/* Raw SET: the driver's answer, data fd in *fd (-1 if none). */
int raw_set(struct vfiomig_device *dev, int state, int *fd)
{
	struct vfio_device_feature_mig_state m = {
		.device_state = (__u32)state, .data_fd = -1
	};
	int ret;

	if (vfiomig_device_protocol(dev) == VFIOMIG_PROTO_V1) {
		*fd = -1;
		return goto_state(dev, state);
	}
	ret = vfiomig_feature_set(dev, VFIOMIG_FEATURE_MIG_DEVICE_STATE, &m,
				  sizeof(m));
	*fd = ret ? -1 : m.data_fd;
	return ret;
}

/* Reset to RUNNING, dropping any library session. */
int reset_dev(struct conform *k, struct vfiomig_device *dev)
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
int goto_state(struct vfiomig_device *dev, int st)
{
	VFIOMIG_OPTS(vfiomig_set_opts, so);

	return vfiomig_state_set(dev, st, &so);
}

/* Reads until 0/error; returns bytes, *end = 0 or -errno that ended it. */
int64_t drain(int fd, int *end, unsigned char **copy, size_t *copylen)
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

int save_all(struct vfiomig_device *dev, struct membuf *m)
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
int load_all(struct vfiomig_device *dev, const void *p, size_t len,
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
