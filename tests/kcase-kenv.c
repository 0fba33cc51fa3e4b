// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault and count layer of the kernel-facing cases (kenv.h), checked
 * on both kernels: the fake's hooks and the real kernel's pass-through
 * shim (tests/kshim.c) must count, fail and log the same calls, or the
 * fault sweeps and economy checks built on them mean different things in
 * the VM and on the fake.
 */
#include <errno.h>
#include <string.h>
#include <linux/vfio.h>

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
	return s;
}
