// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What the kernel-facing cases get the same way on both kernels: the
 * context (on kenv_sysfs_root()/kenv_dev_root(), which are NULL on the real
 * kernel) with its optional log, and a device's sysfs path.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kenv.h"

static struct vfiomig_ctx *kctx;
static char kpath[PATH_MAX];

__attribute__((format(printf, 6, 0)))
static void kenv_log(void *data, int priority, const char *file, int line,
		     const char *fn, const char *format, va_list args)
{
	size_t n;

	(void)data;
	if (!format)
		return;
	n = strlen(format);
	fprintf(stderr, "vfiomig[%d] %s:%d %s: ", priority, file, line, fn);
	vfprintf(stderr, format, args);
	if (!n || format[n - 1] != '\n')
		fputc('\n', stderr);
}

struct vfiomig_ctx *kenv_ctx(void)
{
	struct vfiomig_ctx_opts o = {
		.sz = sizeof(o),
		.sysfs_root = kenv_sysfs_root(),
		.dev_root = kenv_dev_root(),
	};

	if (kctx)
		return kctx;
	ck_assert_int_eq(vfiomig_ctx_new(&o, &kctx), 0);
	if (getenv("VFIOMIG_TEST_LOG")) {
		vfiomig_ctx_set_log_fn(kctx, kenv_log, NULL);
		vfiomig_ctx_set_log_priority(kctx, LOG_DEBUG);
	}
	return kctx;
}

void kenv_ctx_free(void)
{
	vfiomig_ctx_free(kctx);
	kctx = NULL;
}

const char *kenv_sysfs_path(const char *uuid)
{
	const char *root = kenv_sysfs_root();
	char link[PATH_MAX];

	snprintf(link, sizeof(link), "%s/bus/mdev/devices/%s",
		 root ? root : "/sys", uuid);
	if (!realpath(link, kpath))
		snprintf(kpath, sizeof(kpath), "%s", link);
	return kpath;
}

struct vfiomig_device *kenv_open(const char *name, int path)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);
	struct vfiomig_device *dev = NULL;
	int ret = vfiomig_device_open(kenv_ctx(), name, &o, &dev);

	ck_assert_msg(ret == 0, "open %s (path %d): %s", name, path,
		      strerror(-ret));
	ck_assert_ptr_nonnull(dev);
	return dev;
}

struct vfiomig_device *kenv_open_running(const char *name, int path)
{
	struct vfiomig_device *dev = kenv_open(name, path);

	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	ck_assert_int_eq(vfiomig_state_get(dev), VFIOMIG_STATE_RUNNING);
	return dev;
}

#define KENV_UART_SCR 7

uint8_t kenv_mtty_scr(struct vfiomig_device *dev, int bar)
{
	uint8_t b = 0xff;

	ck_assert(bar == 0 || bar == 1);
	ck_assert_int_eq(pread(vfiomig_device_fd(dev), &b, 1,
			       ((off_t)bar << 40) + KENV_UART_SCR), 1);
	return b;
}

void kenv_mtty_set_scr(struct vfiomig_device *dev, int bar, uint8_t v)
{
	ck_assert(bar == 0 || bar == 1);
	ck_assert_int_eq(pwrite(vfiomig_device_fd(dev), &v, 1,
				((off_t)bar << 40) + KENV_UART_SCR), 1);
}

uint8_t kenv_fresh(unsigned int salt)
{
	static unsigned int seed;
	unsigned int n = __atomic_load_n(&seed, __ATOMIC_RELAXED);

	if (!n)
		n = (unsigned int)time(NULL) ^ (unsigned int)getpid() << 8;
	n = n * 1103515245u + 12345u + salt;
	__atomic_store_n(&seed, n, __ATOMIC_RELAXED);
	return (uint8_t)(n >> 16 | 1);
}

/* The record of kenv_ctx_logged (locked: a case's threads log too). */
static pthread_mutex_t klog_lock = PTHREAD_MUTEX_INITIALIZER;
static char klog[16384];

__attribute__((format(printf, 6, 0)))
static void klog_capture(void *data, int prio, const char *file, int line,
			 const char *fn, const char *fmt, va_list ap)
{
	size_t n;

	(void)data, (void)prio, (void)file, (void)line, (void)fn;
	pthread_mutex_lock(&klog_lock);
	n = strlen(klog);
	if (n + 1 < sizeof(klog)) {
		vsnprintf(klog + n, sizeof(klog) - n - 1, fmt, ap);
		strcat(klog, "\n");
	}
	if (getenv("VFIOMIG_TEST_LOG"))
		fprintf(stderr, "%s", klog + n);
	pthread_mutex_unlock(&klog_lock);
}

void kenv_log_clear(void)
{
	pthread_mutex_lock(&klog_lock);
	klog[0] = '\0';
	pthread_mutex_unlock(&klog_lock);
}

struct vfiomig_ctx *kenv_ctx_logged(int prio)
{
	struct vfiomig_ctx *ctx = kenv_ctx();

	vfiomig_ctx_set_log_fn(ctx, klog_capture, NULL);
	vfiomig_ctx_set_log_priority(ctx, prio);
	kenv_log_clear();
	return ctx;
}

const char *kenv_log_text(void)
{
	return klog;
}

unsigned int kenv_logged_n(const char *s)
{
	unsigned int n = 0;

	pthread_mutex_lock(&klog_lock);
	for (const char *p = klog; (p = strstr(p, s)); p += strlen(s))
		n++;
	klog[0] = '\0';
	pthread_mutex_unlock(&klog_lock);
	return n;
}

bool kenv_logged(const char *s)
{
	return kenv_logged_n(s) > 0;
}
