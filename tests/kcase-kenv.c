// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault and count layer of the kernel-facing cases (kenv.h), checked
 * on both kernels: the fake's hooks and the real kernel's pass-through
 * shim (tests/kshim.c) must count, fail and log the same calls, or the
 * fault sweeps and economy checks built on them mean different things in
 * the VM and on the fake.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "ck-errno.h"
#include "kenv.h"

static const int paths[] = { VFIOMIG_IOMMU_TYPE1, VFIOMIG_IOMMU_IOMMUFD };

static int open_on(int path, struct vfiomig_device **dev)
{
	VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu = path);

	*dev = NULL;
	return vfiomig_device_open(kenv_ctx(), KENV_MTTY2_UUID, &o, dev);
}

static bool path_ok(int path)
{
	return path != VFIOMIG_IOMMU_IOMMUFD || kenv_has_iommufd();
}

/* An open is kernel calls, ioctls among them, and kernel fds held until
 * the handle is freed. */
START_TEST(counts)
{
	struct vfiomig_device *dev;
	unsigned int calls = kenv_calls(), ioctls = kenv_ioctls();

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	ck_assert_int_eq(kenv_kernel_fds(), 0);
	ck_assert_int_eq(open_on(paths[_i], &dev), 0);
	ck_assert_uint_gt(kenv_ioctls(), ioctls);
	ck_assert_uint_gt(kenv_calls() - calls, kenv_ioctls() - ioctls);
	ck_assert_int_gt(kenv_kernel_fds(), 0);
	vfiomig_device_free(dev);
	kenv_ctx_free();
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* Every call of an open can be failed, one at a time; the failure is
 * the library's answer and nothing stays open.  The sweep ends where an
 * armed fault is no longer reached. */
START_TEST(fail_each_call_of_open)
{
	struct vfiomig_device *dev;
	unsigned int n, calls;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	calls = kenv_calls();
	ck_assert_int_eq(open_on(paths[_i], &dev), 0);
	vfiomig_device_free(dev);
	kenv_ctx_free();
	calls = kenv_calls() - calls;
	ck_assert_uint_gt(calls, 2);
	for (n = 1; n <= calls; n++) {
		int ret;

		kenv_fail_nth(n, EIO);
		ret = open_on(paths[_i], &dev);
		kenv_fail_nth(0, 0);
		/* a close failing on the way out is reported by nobody */
		if (ret == 0) {
			vfiomig_device_free(dev);
		} else {
			ck_assert_msg(ret < 0, "call %u: %d", n, ret);
			ck_assert_ptr_null(dev);
		}
		kenv_ctx_free();
		ck_assert_msg(kenv_kernel_fds() == 0, "call %u: fd leaked", n);
	}
	ck_assert_int_eq(open_on(paths[_i], &dev), 0);
	vfiomig_device_free(dev);
}
END_TEST

/* A failed first kernel call is exactly that errno: the open of the
 * first node. */
START_TEST(fail_first_open)
{
	struct vfiomig_device *dev;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	kenv_fail_nth_call("open", 1, ENXIO);
	ck_assert_int_eq(open_on(paths[_i], &dev), -ENXIO);
	ck_assert_ptr_null(dev);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* close() fails but, like Linux's, releases the fd. */
START_TEST(failed_close_releases)
{
	struct vfiomig_device *dev;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	ck_assert_int_eq(open_on(paths[_i], &dev), 0);
	kenv_fail_nth_call("close", 1, EINTR);
	vfiomig_device_free(dev);
	kenv_ctx_free();
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(kenv_kernel_fds(), 0);
}
END_TEST

/* Each SET that reaches the kernel is logged with the device and the
 * state asked for; an injected failure never reaches it. */
START_TEST(sets_logged)
{
	struct kenv_set s[4];
	struct kenv_mig_ioctls m;
	struct vfiomig_device *dev;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	ck_assert_int_eq(open_on(paths[_i], &dev), 0);
	ck_assert_int_eq(vfiomig_device_reset(dev), 0);
	kenv_sets_clear();
	kenv_mig_ioctls(&m);
	ck_assert_int_eq(vfiomig_state_set(dev, VFIOMIG_STATE_STOP, NULL), 0);
	ck_assert_int_eq(vfiomig_state_set(dev, VFIOMIG_STATE_RUNNING, NULL), 0);
	ck_assert_uint_eq(kenv_sets(s, 4), 2);
	ck_assert_str_eq(s[0].uuid, KENV_MTTY2_UUID);
	ck_assert_int_eq(s[0].state, VFIO_DEVICE_STATE_STOP);
	ck_assert_int_eq(s[0].err, 0);
	ck_assert_str_eq(s[1].uuid, KENV_MTTY2_UUID);
	ck_assert_int_eq(s[1].state, VFIO_DEVICE_STATE_RUNNING);
	{
		struct kenv_mig_ioctls m2;

		kenv_mig_ioctls(&m2);
		ck_assert_uint_ge(m2.state_sets, m.state_sets + 2);
	}
	kenv_sets_clear();
	kenv_fail_nth_call("ioctl", 1, EIO);
	ck_assert_int_lt(vfiomig_state_set(dev, VFIOMIG_STATE_STOP, NULL), 0);
	kenv_fail_nth(0, 0);
	ck_assert_int_eq(vfiomig_state_get(dev), VFIOMIG_STATE_RUNNING);
	ck_assert_uint_eq(kenv_sets(s, 4), 0);
	vfiomig_device_free(dev);
}
END_TEST

/* ---- the programmable device (kenv_gen_*): the fake's GENERIC and the
 * VM's test driver must give the same answers through the raw uAPI ---- */

#define GEN_REC 24u
#define GEN_CHUNK 4096u

/* A VFIO_DEVICE_FEATURE call with a payload of n bytes; -errno or 0. */
static int feature(int fd, uint32_t flags, void *payload, size_t n)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 32) / 8];
	struct vfio_device_feature *f = (void *)buf;

	ck_assert_uint_le(sizeof(*f) + n, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + n);
	f->flags = flags;
	if (n)
		memcpy(f->data, payload, n);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f))
		return -errno;
	if (n)
		memcpy(payload, f->data, n);
	return 0;
}

/* SET state; the data fd (or -1) in *data_fd; -errno or 0. */
static int set_state(int fd, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state m = { .device_state = state };
	int r = feature(fd, VFIO_DEVICE_FEATURE_SET |
				    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			&m, sizeof(m));

	if (data_fd)
		*data_fd = r ? -1 : m.data_fd;
	return r;
}

static int get_state(int fd)
{
	struct vfio_device_feature_mig_state m = { 0 };
	int r = feature(fd, VFIO_DEVICE_FEATURE_GET |
				    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			&m, sizeof(m));

	return r ? r : (int)m.device_state;
}

/* Read a data fd until read() returns 0 or fails; returns the bytes read
 * (into a malloc'd *out) and the final errno (0 at read() == 0) in *err. */
static size_t drain(int dfd, uint8_t **out, int *err)
{
	size_t len = 0, cap = 1 << 16;
	uint8_t *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			buf = realloc(buf, cap *= 2);
			ck_assert_ptr_nonnull(buf);
		}
		n = read(dfd, buf + len, cap - len);
		if (n <= 0) {
			*err = n < 0 ? errno : 0;
			break;
		}
		len += (size_t)n;
	}
	*out = buf;
	return len;
}

static const struct kenv_gen_cfg gen_full = {
	.mig_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
		     VFIO_MIGRATION_PRE_COPY,
	.state_size = 3 * GEN_CHUNK + 100,
	.precopy_initial = GEN_CHUNK,
	.precopy_enomsg = true,
};

/* Two devices of one configuration: seeded apart, a STOP_COPY stream of
 * MIG_DATA_SIZE bytes from one loads into the other, bit for bit. */
START_TEST(gen_stop_copy_load)
{
	const char *a = kenv_gen_add(&gen_full), *b = kenv_gen_add(&gen_full);
	size_t size = gen_full.state_size;
	uint8_t *sa = malloc(size), *sb = malloc(size), *stream;
	struct vfio_device_feature_migration mig = { 0 };
	struct vfio_device_feature_mig_data_size ds = { 0 };
	struct vfiomig_device *da, *db;
	int fa, fb, dfd, err;
	size_t len;
	ssize_t w;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	ck_assert_uint_eq(kenv_gen_blob(a, sa, size), size);
	ck_assert_uint_eq(kenv_gen_blob(b, sb, size), size);
	ck_assert_int_ne(memcmp(sa, sb, size), 0);
	for (int i = 0; i < 16; i++) /* the registers */
		ck_assert_int_eq(sa[i], 0);
	da = kenv_open(a, paths[_i]);
	db = kenv_open(b, paths[_i]);
	fa = vfiomig_device_fd(da);
	fb = vfiomig_device_fd(db);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_GET |
					     VFIO_DEVICE_FEATURE_MIGRATION,
				 &mig, sizeof(mig)), 0);
	ck_assert_uint_eq(mig.flags, gen_full.mig_flags);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_GET |
					     VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 &ds, sizeof(ds)), 0);
	ck_assert_uint_eq(ds.stop_copy_length, 4 * GEN_REC + size + GEN_REC);

	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP_COPY, &dfd), 0);
	ck_assert_int_ge(dfd, 0);
	len = drain(dfd, &stream, &err);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(len, ds.stop_copy_length);
	close(dfd);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP, NULL), 0);

	ck_assert_int_eq(set_state(fb, VFIO_DEVICE_STATE_RESUMING, &dfd), 0);
	/* A short stream: RESUMING -> STOP refused, the device stays. */
	ck_assert_int_eq(write(dfd, stream, len - 1), (ssize_t)len - 1);
	ck_assert_int_eq(set_state(fb, VFIO_DEVICE_STATE_STOP, NULL), -EINVAL);
	ck_assert_int_eq(get_state(fb), VFIO_DEVICE_STATE_RESUMING);
	close(dfd);
	ck_assert_int_eq(vfiomig_device_reset(db), 0);
	ck_assert_int_eq(set_state(fb, VFIO_DEVICE_STATE_RESUMING, &dfd), 0);
	w = write(dfd, stream, len);
	ck_assert_int_eq(w, (ssize_t)len);
	close(dfd);
	ck_assert_int_eq(set_state(fb, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	ck_assert_uint_eq(kenv_gen_blob(b, sb, size), size);
	ck_assert_int_eq(memcmp(sa, sb, size), 0);
	ck_assert_int_eq(kenv_gen_state(b), VFIO_DEVICE_STATE_RUNNING);
	free(stream);
	free(sa);
	free(sb);
	vfiomig_device_free(da);
	vfiomig_device_free(db);
}
END_TEST

/* Precopy: the initial chunks, ENOMSG at the temporary end, then what
 * the device dirtied; a refill changes the state. */
START_TEST(gen_precopy)
{
	struct kenv_gen_cfg cfg = gen_full;
	const char *a;
	struct vfio_precopy_info pi = { .argsz = sizeof(pi) };
	struct vfiomig_device *da;
	uint8_t *buf, x[2][64];
	int fa, dfd, err;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	cfg.precopy_dirty = 10;
	a = kenv_gen_add(&cfg);
	kenv_gen_blob(a, x[0], sizeof(x[0]));
	kenv_gen_fill(a, 1);
	kenv_gen_blob(a, x[1], sizeof(x[1]));
	ck_assert_int_eq(memcmp(x[0], x[1], 16), 0);
	ck_assert_int_ne(memcmp(x[0] + 16, x[1] + 16, sizeof(x[0]) - 16), 0);

	da = kenv_open(a, paths[_i]);
	fa = vfiomig_device_fd(da);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_PRE_COPY, &dfd), 0);
	/* Each PRECOPY_INFO first dirties precopy_dirty bytes: one chunk,
	 * held back while initial data is unread. */
	ck_ok(ioctl(dfd, VFIO_MIG_GET_PRECOPY_INFO, &pi));
	ck_assert_uint_eq(pi.initial_bytes, GEN_REC + GEN_CHUNK);
	ck_assert_uint_eq(pi.dirty_bytes, 0);
	ck_assert_uint_eq(drain(dfd, &buf, &err), GEN_REC + GEN_CHUNK);
	free(buf);
	ck_assert_int_eq(err, ENOMSG);
	ck_ok(ioctl(dfd, VFIO_MIG_GET_PRECOPY_INFO, &pi));
	ck_assert_uint_eq(pi.initial_bytes, 0);
	ck_assert_uint_eq(pi.dirty_bytes, 2 * (GEN_REC + GEN_CHUNK));
	kenv_gen_dirty_precopy(a, 2 * GEN_CHUNK);
	ck_assert_uint_eq(drain(dfd, &buf, &err), 2 * (GEN_REC + GEN_CHUNK));
	free(buf);
	ck_assert_int_eq(err, ENOMSG);
	/* The argsz check comes first; outside PRE_COPY: EINVAL. */
	pi.argsz = sizeof(pi) - 1;
	ck_errno(ioctl(dfd, VFIO_MIG_GET_PRECOPY_INFO, &pi), EINVAL);
	pi.argsz = sizeof(pi);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP_COPY, NULL), 0);
	ck_errno(ioctl(dfd, VFIO_MIG_GET_PRECOPY_INFO, &pi), EINVAL);
	/* STOP_COPY appends what is not sent in its version, then END:
	 * read() 0 now. */
	ck_assert_uint_ge(drain(dfd, &buf, &err), GEN_REC);
	free(buf);
	ck_assert_int_eq(err, 0);
	close(dfd);
	vfiomig_device_free(da);
}
END_TEST

/* ERROR on the device's own, a refused arc, no migration at all. */
START_TEST(gen_error_and_refusal)
{
	struct kenv_gen_cfg none = { .state_size = 4096 };
	const char *a = kenv_gen_add(&gen_full), *n = kenv_gen_add(&none);
	struct vfio_device_feature_migration mig = { 0 };
	struct vfiomig_device *da, *dn;
	int fa, dfd;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	da = kenv_open(a, paths[_i]);
	fa = vfiomig_device_fd(da);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_PRE_COPY, &dfd), 0);
	kenv_gen_force_error(a);
	ck_assert_int_eq(get_state(fa), VFIO_DEVICE_STATE_ERROR);
	ck_assert_int_eq(kenv_gen_state(a), VFIO_DEVICE_STATE_ERROR);
	{
		uint8_t byte;

		ck_errno(read(dfd, &byte, 1), ENODEV);
	}
	close(dfd);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_RUNNING, NULL), -EIO);
	ck_ok(ioctl(fa, VFIO_DEVICE_RESET));
	ck_assert_int_eq(get_state(fa), VFIO_DEVICE_STATE_RUNNING);

	/* RUNNING -> STOP walks RUNNING_P2P: the second arc refused, the
	 * device stays part-way. */
	kenv_gen_fail_arc(a, VFIO_DEVICE_STATE_RUNNING_P2P,
			  VFIO_DEVICE_STATE_STOP, EIO);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP, NULL), -EIO);
	ck_assert_int_eq(get_state(fa), VFIO_DEVICE_STATE_RUNNING_P2P);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP, NULL), 0);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	vfiomig_device_free(da);

	dn = kenv_open(n, paths[_i]);
	ck_assert_int_eq(feature(vfiomig_device_fd(dn),
				 VFIO_DEVICE_FEATURE_GET |
					 VFIO_DEVICE_FEATURE_MIGRATION,
				 &mig, sizeof(mig)), -ENOTTY);
	vfiomig_device_free(dn);
}
END_TEST

/* A STOP_COPY-only device: the vfio core refuses the P2P and PRE_COPY
 * states, RUNNING -> STOP is one arc. */
START_TEST(gen_caps)
{
	struct kenv_gen_cfg cfg = { .mig_flags = VFIO_MIGRATION_STOP_COPY,
				    .state_size = 5000 };
	const char *a = kenv_gen_add(&cfg);
	struct vfiomig_device *da;
	int fa;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	da = kenv_open(a, paths[_i]);
	fa = vfiomig_device_fd(da);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_RUNNING_P2P, NULL),
			 -EINVAL);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_PRE_COPY, NULL),
			 -EINVAL);
	kenv_gen_fail_arc(a, VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_STOP,
			  EBUSY);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP, NULL), -EBUSY);
	ck_assert_int_eq(get_state(fa), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_int_eq(set_state(fa, VFIO_DEVICE_STATE_STOP, NULL), 0);
	vfiomig_device_free(da);
	/* Closing resets a variant driver's device: RUNNING again. */
	ck_assert_int_eq(kenv_gen_state(a), VFIO_DEVICE_STATE_RUNNING);
}
END_TEST

/* DMA logging of its own: the page size it answers, the pages it wrote,
 * mlx5's refusal of a second START. */
START_TEST(gen_dma_log)
{
	struct kenv_gen_cfg cfg = gen_full;
	const char *a;
	struct vfiomig_device *da;
	struct vfio_device_feature_dma_logging_range r = {
		.iova = 0x100000, .length = 0x400000 };
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = 4096, .num_ranges = 1,
		.ranges = (uintptr_t)&r };
	uint64_t bits[16] = { 0 };
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = 0x100000, .length = 0x400000, .page_size = 0x10000,
		.bitmap = (uintptr_t)bits };
	int fa;

	if (!path_ok(paths[_i]))
		kenv_skip("no iommufd");
	cfg.log_ops = true;
	cfg.log_reject_double = true;
	cfg.log_pgsize = 0x10000;
	a = kenv_gen_add(&cfg);
	da = kenv_open(a, paths[_i]);
	fa = vfiomig_device_fd(da);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_GET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep)), -EINVAL);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_SET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &c, sizeof(c)), 0);
	ck_assert_uint_eq(c.page_size, 0x10000);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_SET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &c, sizeof(c)), -EINVAL);
	kenv_gen_dma_write(a, 0x120000, 1);        /* page 2 */
	kenv_gen_dma_write(a, 0x1f0000, 0x20000);  /* pages 15, 16 */
	kenv_gen_dma_write(a, 0x600000, 0x1000);   /* outside: not logged */
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_GET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep)), 0);
	ck_assert_uint_eq(bits[0], (1ull << 2) | (1ull << 15) | (1ull << 16));
	/* Read and cleared. */
	bits[0] = 0;
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_GET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 &rep, sizeof(rep)), 0);
	ck_assert_uint_eq(bits[0], 0);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_SET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 NULL, 0), 0);
	/* The driver changes its answer on the live device. */
	kenv_gen_set_log_pgsize(a, 0x20000);
	c.page_size = 4096;
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_SET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 &c, sizeof(c)), 0);
	ck_assert_uint_eq(c.page_size, 0x20000);
	ck_assert_int_eq(feature(fa, VFIO_DEVICE_FEATURE_SET |
					     VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 NULL, 0), 0);
	vfiomig_device_free(da);
}
END_TEST

Suite *kcase_kenv_suite(void)
{
	Suite *s = suite_create("kcase-kenv");
	TCase *tc = tcase_create("kenv");

	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120); /* a sweep over every call, under TCG */
	tcase_add_loop_test(tc, counts, 0, 2);
	tcase_add_loop_test(tc, fail_each_call_of_open, 0, 2);
	tcase_add_loop_test(tc, fail_first_open, 0, 2);
	tcase_add_loop_test(tc, failed_close_releases, 0, 2);
	tcase_add_loop_test(tc, sets_logged, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("gen");
	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, gen_stop_copy_load, 0, 2);
	tcase_add_loop_test(tc, gen_precopy, 0, 2);
	tcase_add_loop_test(tc, gen_error_and_refusal, 0, 2);
	tcase_add_loop_test(tc, gen_caps, 0, 2);
	tcase_add_loop_test(tc, gen_dma_log, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
