// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-facing cases on the fake kernel: every case gets a fresh fake
 * machine like the VM's (seven mtty instances, the edu function under
 * vfio-pci, both IOMMU paths), and must leave no fake fd open.
 */
#include <stdio.h>

#include "fake.h"
#include "fake-internal.h"
#include "kenv.h"

/* Groups and cdev numbers of the mtty instances: from these on. */
#define KENV_FAKE_GROUP0 0
#define KENV_FAKE_CDEV0 0

#define KENV_FAKE_NDEV 7

/* The fake's device ids of the mtty instances, and their UUIDs. */
static struct {
	int id;
	const char *uuid;
} kenv_devs[KENV_FAKE_NDEV];
/* SET log entries before this one are not reported by kenv_sets. */
static size_t kenv_sets_from;

/* ---- the vfio-pci function: QEMU's edu under vfio-pci (kenv.h) ------- */

#define KENV_FAKE_PCI_BDF "0000:00:02.0"
#define KENV_FAKE_PCI_GROUP 10
#define KENV_FAKE_PCI_CDEV 10

static void kenv_pci_add(void)
{
	struct fake_dev_cfg cfg;

	fake_set_iommu(KENV_PCI_PGSIZES, KENV_PCI_APERTURE_LAST);
	fake_cfg_pci(&cfg, KENV_FAKE_PCI_BDF, KENV_FAKE_PCI_GROUP,
		     KENV_FAKE_PCI_CDEV, 0);
	cfg.driver = KENV_PCI_DRIVER;
	cfg.vendor = KENV_PCI_VENDOR;
	cfg.device = KENV_PCI_DEVICE;
	cfg.subsystem_vendor = KENV_PCI_SUBSYS_VENDOR;
	cfg.subsystem_device = KENV_PCI_SUBSYS_DEVICE;
	cfg.class_code = KENV_PCI_CLASS;
	cfg.log_ops = false;
	cfg.hw_dirty = false;
	cfg.bar_size[0] = KENV_PCI_BAR0_SIZE;
	cfg.no_reset = true;
	cfg.conventional = true;
	ck_assert_int_ge(fake_add_device(&cfg), 0);
}

const char *kenv_pci_bdf(void)
{
	return KENV_FAKE_PCI_BDF;
}

int kenv_pci_group(void)
{
	return KENV_FAKE_PCI_GROUP;
}

const char *kenv_pci_cdev(void)
{
	static char name[16];

	snprintf(name, sizeof(name), "vfio%d", KENV_FAKE_PCI_CDEV);
	return name;
}

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
	kenv_pci_add();
	for (int i = 0; i < (int)(sizeof(mtty) / sizeof(mtty[0])); i++) {
		fake_cfg_mtty(&cfg, mtty[i].uuid, mtty[i].ports,
			      KENV_FAKE_GROUP0 + i, KENV_FAKE_CDEV0 + i);
		kenv_devs[i].id = fake_add_device(&cfg);
		kenv_devs[i].uuid = mtty[i].uuid;
		ck_assert_int_ge(kenv_devs[i].id, 0);
	}
	kenv_sets_from = 0;
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

void kenv_fail_nth(unsigned int nth, int err)
{
	fake_fail_nth(nth, err);
}

void kenv_fail_nth_call(const char *call, unsigned int nth, int err)
{
	fake_fail_nth_call(call, nth, err);
}

unsigned int kenv_calls(void)
{
	return fake_calls();
}

unsigned int kenv_ioctls(void)
{
	return fake_ioctls();
}

int kenv_kernel_fds(void)
{
	return fake_open_fds();
}

void kenv_mig_ioctls(struct kenv_mig_ioctls *out)
{
	*out = (struct kenv_mig_ioctls){ 0 };
	for (int i = 0; i < KENV_FAKE_NDEV; i++) {
		struct fake_dev_ioctls c;

		fake_dev_ioctls(kenv_devs[i].id, &c);
		out->state_gets += c.state_gets;
		out->state_sets += c.state_sets;
		out->mig_gets += c.mig_gets;
		out->data_sizes += c.data_sizes;
		out->precopy_infos += c.precopy_infos;
		out->resets += c.resets;
	}
}

static const char *kenv_uuid_of(int id)
{
	for (int i = 0; i < KENV_FAKE_NDEV; i++)
		if (kenv_devs[i].id == id)
			return kenv_devs[i].uuid;
	return "?";
}

size_t kenv_sets(struct kenv_set *out, size_t max)
{
	static struct fake_set sets[FAKE_ARC_LOG_MAX];
	size_t n = fake_set_log(sets, FAKE_ARC_LOG_MAX), k = 0;

	ck_assert_uint_eq(fake_arc_log_dropped(), 0);
	for (size_t i = kenv_sets_from; i < n; i++, k++) {
		if (k >= max)
			continue;
		snprintf(out[k].uuid, sizeof(out[k].uuid), "%s",
			 kenv_uuid_of(sets[i].id));
		out[k].state = sets[i].state;
		out[k].err = sets[i].err;
	}
	return k;
}

void kenv_sets_clear(void)
{
	kenv_sets_from = fake_set_log(NULL, 0);
}
