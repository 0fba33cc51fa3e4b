// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel-facing cases on the fake kernel: every case gets a fresh fake
 * machine like the VM's (seven mtty instances, the edu function under
 * vfio-pci, both IOMMU paths), and must leave no fake fd open.
 */
#include <stdio.h>
#include <string.h>

#include "fake.h"
#include "fake-internal.h"
#include "kenv.h"

/* Groups and cdev numbers of the mtty instances: from these on. */
#define KENV_FAKE_GROUP0 0
#define KENV_FAKE_CDEV0 0

#define KENV_FAKE_NMTTY 7
#define KENV_FAKE_NDEV (KENV_FAKE_NMTTY + KENV_GEN_MAX)
/* Groups and cdevs of the programmable devices (kenv_gen_add). */
#define KENV_FAKE_GEN_GROUP0 16
#define KENV_FAKE_GEN_CDEV0 16

/* The fake's device ids of the mtty instances and the programmable
 * devices added so far, and their UUIDs. */
static struct {
	int id;
	char uuid[40];
} kenv_devs[KENV_FAKE_NDEV];
static int kenv_ndevs;
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
		snprintf(kenv_devs[i].uuid, sizeof(kenv_devs[i].uuid), "%s",
			 mtty[i].uuid);
		ck_assert_int_ge(kenv_devs[i].id, 0);
	}
	kenv_ndevs = KENV_FAKE_NMTTY;
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
	for (int i = 0; i < kenv_ndevs; i++) {
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
	for (int i = 0; i < kenv_ndevs; i++)
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

/* ---- programmable devices: the fake's GENERIC personality as mdevs ---- */

const char *kenv_gen_add(const struct kenv_gen_cfg *gc)
{
	int n = kenv_ndevs - KENV_FAKE_NMTTY;
	struct fake_dev_cfg cfg = {
		.mdev = true,
		.mdev_type = "mtest-1",
		.driver = "mtest",
		.group = KENV_FAKE_GEN_GROUP0 + n,
		.cdev = KENV_FAKE_GEN_CDEV0 + n,
		.personality = FAKE_GENERIC,
		.mig_flags = gc->mig_flags,
		.log_ops = gc->log_ops,
		.log_reject_double = gc->log_reject_double,
		.state_size = gc->state_size,
		.precopy_initial = gc->precopy_initial,
		.precopy_dirty = gc->precopy_dirty,
		.precopy_end = gc->precopy_enomsg ? FAKE_END_ENOMSG
						  : FAKE_END_ZERO,
	};
	int id;

	ck_assert_int_lt(n, KENV_GEN_MAX);
	ck_assert_uint_le(gc->state_size, 64u << 20);
	snprintf(kenv_devs[kenv_ndevs].uuid, sizeof(kenv_devs[0].uuid),
		 KENV_GEN_UUID_FMT, (unsigned int)n + 1);
	cfg.name = kenv_devs[kenv_ndevs].uuid;
	id = fake_add_device(&cfg);
	ck_assert_int_ge(id, 0);
	kenv_devs[kenv_ndevs++].id = id;
	if (gc->log_pgsize)
		fake_dev_set_log_pgsize(id, gc->log_pgsize);
	fake_dev_fill(id, (uint32_t)n + 1);
	return cfg.name;
}

static int kenv_gen_id(const char *uuid)
{
	for (int i = KENV_FAKE_NMTTY; i < kenv_ndevs; i++)
		if (!strcmp(kenv_devs[i].uuid, uuid))
			return kenv_devs[i].id;
	ck_abort_msg("%s is not a programmable device of this case", uuid);
	return -1;
}

int kenv_gen_state(const char *uuid)
{
	return fake_dev_state(kenv_gen_id(uuid));
}

void kenv_gen_fill(const char *uuid, uint32_t seed)
{
	fake_dev_fill(kenv_gen_id(uuid), seed);
}

size_t kenv_gen_blob(const char *uuid, void *buf, size_t len)
{
	return fake_dev_blob(kenv_gen_id(uuid), buf, len);
}

void kenv_gen_dirty_precopy(const char *uuid, size_t n)
{
	fake_dev_dirty_precopy(kenv_gen_id(uuid), n);
}

void kenv_gen_force_error(const char *uuid)
{
	fake_dev_force_error(kenv_gen_id(uuid));
}

void kenv_gen_fail_arc(const char *uuid, int from, int to, int err)
{
	fake_dev_fail_arc(kenv_gen_id(uuid), from, to, err);
}

void kenv_gen_dma_write(const char *uuid, uint64_t iova, uint64_t len)
{
	fake_dev_dma_write(kenv_gen_id(uuid), iova, len);
}

int kenv_gen_dma_rw(const char *uuid, uint64_t iova, uint64_t len)
{
	(void)kenv_gen_id(uuid);
	fake_dma_write(iova, len);
	return 0;
}

void kenv_gen_set_log_pgsize(const char *uuid, uint64_t page_size)
{
	fake_dev_set_log_pgsize(kenv_gen_id(uuid), page_size);
}
