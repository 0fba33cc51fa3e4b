// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Data sessions on the fake kernel only: a splice-capable file put in
 * place of the data fd (white box), since no 6.12 data fd splices
 * (contract 17).  Everything else runs on both kernels in
 * tests/kcase-session.c: mtty for every sink and source, the syscall
 * economy, pacing, adopted fds, injected faults; programmable devices
 * (kenv_gen_add) for megabytes of state, precopy dirtying, ENOMSG, the
 * capability sets mtty lacks, a device without migration, drivers that
 * fail an arc inside a combined SET or enter ERROR, a stream body checked
 * by its driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <check.h>

#include "vfiomig.h"
#include "fake.h"
/* white box: splice_path puts a real file in place of the data fd */
#include "../lib/internal.h"

#define SRC_BDF "0000:3b:00.1"
#define DST_BDF "0000:3b:00.2"

#define ALLF (VFIOMIG_MIG_STOP_COPY | VFIOMIG_MIG_P2P | VFIOMIG_MIG_PRE_COPY)

static struct vfiomig_ctx *ctx;
static struct vfiomig_device *src, *dst;

__attribute__((format(printf, 6, 0)))
static void logfn(void *data, int priority, const char *file, int line,
		  const char *fn, const char *format, va_list args)
{
	(void)data; (void)file; (void)line;
	fprintf(stderr, "vfiomig[%d] %s: ", priority, fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

/* Two GENERIC functions of 4 KiB state: only their handles are used. */
static void up(void)
{
	struct fake_dev_cfg cfg;
	struct vfiomig_ctx_opts o = { .sz = sizeof(o) };

	ck_assert_int_eq(fake_init(true), 0);
	fake_cfg_pci(&cfg, SRC_BDF, 12, 3, ALLF);
	cfg.state_size = 4096;
	cfg.precopy_initial = 1u << 20;
	cfg.precopy_dirty = 128u << 10;
	cfg.precopy_end = FAKE_END_ZERO;
	ck_assert_int_ge(fake_add_device(&cfg), 0);
	cfg.name = DST_BDF;
	cfg.group = 13;
	cfg.cdev = 4;
	ck_assert_int_ge(fake_add_device(&cfg), 0);

	o.sysfs_root = fake_sysfs_root();
	o.dev_root = fake_dev_root();
	ck_assert_int_eq(vfiomig_ctx_new(&o, &ctx), 0);
	if (getenv("VFIOMIG_TEST_LOG")) {
		vfiomig_ctx_set_log_fn(ctx, logfn, NULL);
		vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	}
	ck_assert_int_eq(vfiomig_device_open(ctx, SRC_BDF, NULL, &src), 0);
	ck_assert_int_eq(vfiomig_device_open(ctx, DST_BDF, NULL, &dst), 0);
}

static void down(void)
{
	vfiomig_device_free(src);
	vfiomig_device_free(dst);
	src = dst = NULL;
	vfiomig_ctx_free(ctx);
	ctx = NULL;
	ck_assert_int_eq(fake_open_fds(), 0);
	ck_assert_int_eq(fake_fini(), 0);
}

/* A pipe sink and source (7000 and 5003 bytes per callback call, a
 * buffer sink of 16 MiB: unused here). */
#define XIO_CB_WRITE_MAX 7000
#define XIO_CB_READ_MAX 5003
#define XIO_BUF_CAP (16u << 20)
#include "xfer-io.h"

/* ------------------------------------------------------------------ */
/* splice: the fake's data fds cannot splice (EINVAL, like mtty's), so */
/* put a splice-capable file where the data fd is and check the loop.  */

static int splice_fallbacks;

__attribute__((format(printf, 6, 0)))
static void count_fallback(void *data, int priority, const char *file,
			   int line, const char *fn, const char *format,
			   va_list args)
{
	char msg[256];

	(void)data; (void)priority; (void)file; (void)line; (void)fn;
	vsnprintf(msg, sizeof(msg), format, args);
	if (strstr(msg, "splice:"))
		splice_fallbacks++;
}

START_TEST(splice_path)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_FD };
	const size_t total = (700u << 10) + 3;
	struct vec data = { 0 };
	struct source so;
	struct sink sk;
	unsigned char *back;
	int f;

	up();
	vfiomig_ctx_set_log_fn(ctx, count_fallback, NULL);
	vfiomig_ctx_set_log_priority(ctx, LOG_DEBUG);
	for (size_t i = 0; i < total; i++) {
		unsigned char c = (unsigned char)(i * 7 + (i >> 11));

		vec_add(&data, &c, 1);
	}

	/* save: "data fd" -> caller's pipe */
	f = xio_tmpfd();
	ck_assert_int_eq(write(f, data.p, total), (ssize_t)total);
	ck_assert_int_eq(lseek(f, 0, SEEK_SET), 0);
	src->session.fd = f;
	src->session.saving = true;
	sink_open(&sk, K_PIPE);
	io.fd = sk.fd;
	io.limit = 100000;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 100000);
	io.limit = 0;
	ck_assert_int_eq(vfiomig_save(src, &io, 0), (int64_t)(total - 100000));
	ck_assert_int_eq(vfiomig_save(src, &io, 0), 0);
	sink_close(&sk);
	ck_assert_uint_eq(sk.v.n, total);
	ck_assert_int_eq(memcmp(sk.v.p, data.p, total), 0);
	ck_assert_int_eq(splice_fallbacks, 0);
	vfiomig_data_close(src); /* closes f */
	free(sk.v.p);

	/* load: caller's pipe -> "data fd" */
	f = xio_tmpfd();
	dst->session.fd = f;
	dst->session.saving = false;
	io = source_open(&so, K_PIPE, &data);
	ck_assert_int_eq(vfiomig_load(dst, &io, 0), (int64_t)total);
	source_close(&so);
	ck_assert_int_eq(splice_fallbacks, 0);
	back = malloc(total);
	ck_assert_int_eq(pread(f, back, total, 0), (ssize_t)total);
	ck_assert_int_eq(memcmp(back, data.p, total), 0);
	free(back);

	/* NO_SPLICE: the copy loop, same bytes */
	ck_assert_int_eq(ftruncate(f, 0), 0);
	ck_assert_int_eq(lseek(f, 0, SEEK_SET), 0);
	io = source_open(&so, K_PIPE, &data);
	ck_assert_int_eq(vfiomig_load(dst, &io, VFIOMIG_XFER_NO_SPLICE),
			 (int64_t)total);
	source_close(&so);
	back = malloc(total);
	ck_assert_int_eq(pread(f, back, total, 0), (ssize_t)total);
	ck_assert_int_eq(memcmp(back, data.p, total), 0);
	free(back);
	vfiomig_data_close(dst);
	/* a data fd (no splice tried): kcase-session.c no_splice */
	free(data.p);
	down();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc;
	SRunner *sr;
	int failed;

	/* a load that stops early leaves a pump writing into a closed pipe */
	signal(SIGPIPE, SIG_IGN);
	/* One test case per reason it stays fake-only (tests/vm/fake-only.txt
	 * counts by test case).  A splice-capable file in place of the data
	 * fd (white box). */
	tc = tcase_create("splice");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, splice_path);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
