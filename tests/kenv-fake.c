// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-facing cases on the fake kernel: every case gets a fresh fake
 * machine like the VM's (seven mtty instances, both IOMMU paths), and must
 * leave no fake fd open.
 */
#include "fake.h"
#include "fake-internal.h"
#include "kenv.h"

/* Groups and cdev numbers of the mtty instances: from these on. */
#define KENV_FAKE_GROUP0 0
#define KENV_FAKE_CDEV0 0

void kenv_setup(void)
{
	static const struct {
		const char *uuid;
		int ports;
	} mtty[] = {
		{ KENV_MTTY1_UUID, 1 },
		{ KENV_MTTY2_UUID, 2 },
		{ KENV_MTTY2B_UUID, 2 },
		{ KENV_MTTY2C_UUID, 2 },
		{ KENV_MTTY2D_UUID, 2 },
		{ KENV_MTTY2E_UUID, 2 },
		{ KENV_MTTY2F_UUID, 2 },
	};
	struct fake_dev_cfg cfg;

	ck_assert_int_eq(fake_init(true), 0);
	for (int i = 0; i < (int)(sizeof(mtty) / sizeof(mtty[0])); i++) {
		fake_cfg_mtty(&cfg, mtty[i].uuid, mtty[i].ports,
			      KENV_FAKE_GROUP0 + i, KENV_FAKE_CDEV0 + i);
		ck_assert_int_ge(fake_add_device(&cfg), 0);
	}
}

void kenv_teardown(void)
{
	int open_fds = fake_open_fds();

	kenv_ctx_free();
	ck_assert_int_eq(fake_fini(), open_fds);
	ck_assert_msg(open_fds == 0, "%d fake fd(s) leaked", open_fds);
}

bool kenv_is_real(void)
{
	return false;
}

const char *kenv_sysfs_root(void)
{
	return fake_sysfs_root();
}

const char *kenv_dev_root(void)
{
	return fake_dev_root();
}

bool kenv_has_iommufd(void)
{
	return true;
}

int kenv_open_fake_fds(void)
{
	return fake_open_fds();
}

unsigned int kenv_kernel_complaints(void)
{
	return fake_mig_warnings();
}
