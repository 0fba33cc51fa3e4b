/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel a kernel-facing case runs against.  The cases in
 * tests/kcase-*.c are written once; kenv-fake.c gives them the fake kernel
 * (make check), kenv-real.c the real one inside the VM (make check-vm).
 * A case that cannot run on this kernel says so with kenv_skip(): it is
 * reported as skipped, never as passed (see kenv_skip below).
 */
#ifndef KENV_H
#define KENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <check.h>

#include "vfiomig.h"

/* The VM's mtty instances; the fake builds the same machine. */
#define KENV_MTTY1_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001" /* mtty-1 */
#define KENV_MTTY2_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002" /* mtty-2 */
#define KENV_MTTY2B_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1003" /* mtty-2 */
/* Four more mtty-2, for device sets of up to three on each side. */
#define KENV_MTTY2C_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1004"
#define KENV_MTTY2D_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1005"
#define KENV_MTTY2E_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1006"
#define KENV_MTTY2F_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1007"

/*
 * A vfio-pci function, on both kernels: QEMU's edu device behind an
 * emulated VT-d in the VM of run-vm.sh --pci, bound to vfio-pci by
 * guest-init.sh, which exports its address as VFIOMIG_PCI_BDF; the fake
 * builds the same function at the same address.  The cases using it are
 * in Check test cases named and tagged "pci", which that VM runs alone
 * (CK_INCLUDE_TAGS=pci) and the usual one leaves out (CK_EXCLUDE_TAGS=pci):
 * on 6.12 the VT-d takes the iommufd selftest's mock devices too, and the
 * mock domain fails (run-vm.sh).  No migration (no mig_ops, no log_ops:
 * the migration features answer ENOTTY), a cdev, an IOMMU group of its
 * own (no interrupt remapping in the VM: its kernel allows unsafe
 * interrupts, run-vm.sh).  What vfio-pci answers of it: BAR0 1 MiB of
 * MMIO (READ|WRITE|MMAP), no other BAR, no ROM, no VGA region (index 8
 * EINVAL), 9 regions, config space 0x100 bytes (conventional PCI; past it
 * EFAULT); 5 IRQ indexes: INTx and MSI one vector each, no MSI-X vector,
 * ERR EINVAL (not PCIe), REQ one; no reset method (GET_INFO without
 * VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_RESET EINVAL).  Its VT-d domains
 * (QEMU 7.2's, the fake's machine IOMMU likewise): KENV_PCI_PGSIZES, IOVAs
 * up to KENV_PCI_APERTURE_LAST, the MSI window 0xfee00000-0xfeefffff
 * reserved, no dirty tracking.
 */
#define KENV_PCI_VENDOR 0x1234        /* PCI_VENDOR_ID_QEMU */
#define KENV_PCI_DEVICE 0x11e8
#define KENV_PCI_SUBSYS_VENDOR 0x1af4 /* QEMU's default subsystem ids */
#define KENV_PCI_SUBSYS_DEVICE 0x1100
#define KENV_PCI_CLASS 0x00ff00       /* PCI_CLASS_OTHERS */
#define KENV_PCI_DRIVER "vfio-pci"
#define KENV_PCI_BAR0_SIZE 0x100000ULL
#define KENV_PCI_CONFIG_SIZE 0x100
#define KENV_PCI_PGSIZES 0x40201000ULL /* 4 KiB | 2 MiB | 1 GiB */
#define KENV_PCI_APERTURE_LAST ((1ULL << 39) - 1) /* QEMU 7.2: aw-bits 39 */
#define KENV_PCI_MSI_START 0xfee00000ULL
#define KENV_PCI_MSI_LAST 0xfeefffffULL
/* Its address ("0000:00:02.0"); a function missing from the VM fails
 * the case. */
const char *kenv_pci_bdf(void);
/* Its IOMMU group number (its node is /dev/vfio/N). */
int kenv_pci_group(void);
/* Its cdev's name under /dev/vfio/devices ("vfioN"). */
const char *kenv_pci_cdev(void);

/*
 * kenv_skip("why", ...): end the case here as skipped.  Check has no skip
 * status, so this ends the case like a failed assertion whose message
 * starts with KENV_SKIP; the runner (kt-main.c) reports it as
 * "ok N - ... # SKIP why", not as a failure and never as a pass.  On the
 * real kernel a skip fails the run all the same: the VM must run every
 * case (kt-main.c, tests/vm/check-vm.sh).  Release what the case holds
 * before calling it (under CK_FORK=no nothing else will).
 */
#define KENV_SKIP "SKIP: "
#define kenv_skip(...) ck_abort_msg(KENV_SKIP __VA_ARGS__)

/* Per-case setup/teardown (checked fixtures): build a fresh fake machine,
 * or reset the real mtty devices to RUNNING. */
void kenv_setup(void);
void kenv_teardown(void);

bool kenv_is_real(void);
/* NULL for the real kernel; used in vfiomig_ctx_opts. */
const char *kenv_sysfs_root(void);
const char *kenv_dev_root(void);
/* A context on the current kernel, logging to stderr at LOG_DEBUG when
 * VFIOMIG_TEST_LOG is set. */
struct vfiomig_ctx *kenv_ctx(void);
/* Free it (kenv_teardown); the next kenv_ctx() makes a new one. */
void kenv_ctx_free(void);
/* Is the cdev/iommufd path there? */
bool kenv_has_iommufd(void);

/* Open name (an mdev UUID) through path (VFIOMIG_IOMMU_*) in kenv_ctx();
 * a failure fails the case. */
struct vfiomig_device *kenv_open(const char *name, int path);
/* The same, then a reset: mtty keeps its migration state across close,
 * so a case starts from RUNNING. */
struct vfiomig_device *kenv_open_running(const char *name, int path);

/* mtty's scratch register (UART_SCR, kept as written) of port bar (0 or
 * 1), through the device fd: one-byte accesses only (6.12's mtty answers a
 * wider read with uninitialised bytes). */
uint8_t kenv_mtty_scr(struct vfiomig_device *dev, int bar);
void kenv_mtty_set_scr(struct vfiomig_device *dev, int bar, uint8_t v);
/* A byte, never 0, that differs from run to run: the real mtty keeps its
 * registers across cases and runs. */
uint8_t kenv_fresh(unsigned int salt);

/* What the library says: kenv_ctx() with its messages at prio and above
 * kept, one line each, the record emptied (any thread may log). */
struct vfiomig_ctx *kenv_ctx_logged(int prio);
/* The record so far (read it from the case's thread, no logger running). */
const char *kenv_log_text(void);
void kenv_log_clear(void);
/* How many times s (not empty) is in the record; the record is emptied. */
unsigned int kenv_logged_n(const char *s);
bool kenv_logged(const char *s);

/* The sysfs path of a device as the kernel shows it. */
const char *kenv_sysfs_path(const char *uuid);

/* Leak check at teardown: fake fds still open (0 on the real kernel). */
int kenv_open_fake_fds(void);

/* Kernel complaints so far: lines of the real kernel's log that say BUG,
 * Oops, WARNING or "general protection"; the fake's WARN_ON count (the
 * fake aborts where the kernel would oops).  A case asserts it did not
 * grow. */
unsigned int kenv_kernel_complaints(void);

/* Every kernel-facing case runs on mtty, on both kernels: a case that
 * relies on a behaviour of mtty's (read() 0 at the end of precopy data,
 * dirty_bytes 0, a second DMA_LOGGING_START taken) says so in a comment. */

/*
 * Fault injection and call counts, on both kernels.  A kernel call is an
 * open of a node under the device root (/dev/vfio/..., /dev/iommu), or a
 * call on an fd such an open or the kernel handed out (group, container,
 * iommufd, device and data fds): ioctl, read, write, pread, pwrite, close,
 * fcntl F_DUPFD/F_DUPFD_CLOEXEC, a poll with one in its set, a splice with
 * one end.  The fake counts and fails its own calls (fake_fail_nth); on the
 * real kernel a pass-through shim (tests/kshim.c) does the same in front of
 * libc, so a case sweeps a fault over every call of an operation on mtty in
 * the VM as on the fake.  kenv_setup() disarms and zeroes everything.
 */
/* The nth (1-based) kernel call from now fails with err, the kernel never
 * seeing it (close() still releases the fd, as Linux does).  0 disarms.
 * One-shot. */
void kenv_fail_nth(unsigned int nth, int err);
/* Same, counting only calls of that name ("ioctl", "read", "write", "open",
 * "close", "splice", "poll", "pread", "pwrite", "fcntl"). */
void kenv_fail_nth_call(const char *call, unsigned int nth, int err);
/* Kernel calls and ioctls among them since kenv_setup (a failed one
 * included: each is a syscall strace would count). */
unsigned int kenv_calls(void);
unsigned int kenv_ioctls(void);
/* Kernel fds open now, the case's own raw ones included (leak checks). */
int kenv_kernel_fds(void);

/* The migration ioctls of every device since kenv_setup, by what they
 * asked for (VFIO_DEVICE_FEATURE PROBE not counted), whatever the answer. */
struct kenv_mig_ioctls {
	unsigned int state_gets;    /* MIG_DEVICE_STATE GET */
	unsigned int state_sets;    /* MIG_DEVICE_STATE SET (failed ones too) */
	unsigned int mig_gets;      /* MIGRATION GET */
	unsigned int data_sizes;    /* MIG_DATA_SIZE GET */
	unsigned int precopy_infos; /* VFIO_MIG_GET_PRECOPY_INFO */
	unsigned int resets;        /* VFIO_DEVICE_RESET */
};
void kenv_mig_ioctls(struct kenv_mig_ioctls *out);

/* MIG_DEVICE_STATE SETs that reached the kernel since kenv_setup or
 * kenv_sets_clear, in order, across devices: the device (its mdev UUID),
 * the state asked for and the answer (0 or a negative errno).  An injected
 * failure never reached the kernel and is not logged. */
struct kenv_set {
	char uuid[40];
	int state;
	int err;
};
#define KENV_SETS_MAX 4096
/* Copy up to max from the start; returns how many the log holds. */
size_t kenv_sets(struct kenv_set *out, size_t max);
void kenv_sets_clear(void);

/*
 * Programmable devices: mdevs of the project's test driver, mtest
 * (tests/vm/mdrv/mtest.c), in the VM; the fake's GENERIC personality on
 * the fake, which the driver mirrors (fake-mig.c: the same stream of
 * 24-byte records, chunks of 4 KiB and an END record with the FNV-1a of
 * the state, the same precopy and dirtying rules).  What the kernel adds
 * around a driver (the vfio core's feature checks, argsz, the FSM walk of
 * vfio_mig_get_next_state(), data fds, DMA logging's range checks, Type1,
 * iommufd) is the real kernel's in the VM.  A case takes up to
 * KENV_GEN_MAX of them, each configured by kenv_gen_add(); the VM has
 * KENV_GEN_MAX instances, reconfigured for every case.
 */
#define KENV_GEN_MAX 8
/* Their UUIDs: KENV_GEN_UUID_FMT with 1..KENV_GEN_MAX. */
#define KENV_GEN_UUID_FMT "83b8f4f2-509f-382f-3c1e-e6bfe0fa20%02u"
struct kenv_gen_cfg {
	uint64_t mig_flags;     /* VFIO_MIGRATION_*; 0: no migration (the
				 * migration features answer ENOTTY) */
	size_t state_size;      /* bytes of device state (at most 64 MiB) */
	size_t precopy_initial; /* offered as initial data in PRE_COPY */
	size_t precopy_dirty;   /* dirtied before each PRECOPY_INFO */
	bool precopy_enomsg;    /* precopy's temporary end of data: read()
				 * fails with ENOMSG (mlx5), else returns 0 */
	bool log_ops;           /* DMA logging */
	bool log_reject_double; /* a second START: EINVAL (mlx5) */
	uint64_t log_pgsize;    /* START answers this page size (0: echo) */
};
/* A programmable device configured so, fresh: RUNNING, no session, its
 * state filled from a seed of its own (kenv_gen_fill(uuid, n) for the nth
 * device added, from 1).  Returns its mdev UUID; a failure fails the
 * case.  The device must not be open. */
const char *kenv_gen_add(const struct kenv_gen_cfg *cfg);
/* Its migration state as the driver holds it (enum vfio_device_mig_state). */
int kenv_gen_state(const char *uuid);
/* Refill its state from seed: new contents, every byte but the first 16
 * (registers, zero) changed (the chunk versions count each fill, so two
 * fills never give the same bytes, whatever the seeds). */
void kenv_gen_fill(const char *uuid, uint32_t seed);
/* Copy up to len bytes of its state out; returns state_size. */
size_t kenv_gen_blob(const char *uuid, void *buf, size_t len);
/* Dirty n more bytes of its state now (the device runs). */
void kenv_gen_dirty_precopy(const char *uuid, size_t n);
/* The device enters ERROR on its own (pds does): its files die, every
 * SET fails with EIO until a VFIO_DEVICE_RESET. */
void kenv_gen_force_error(const char *uuid);
/* The driver refuses its next arc from -> to with err (> 0), staying in
 * from; 0 disarms. */
void kenv_gen_fail_arc(const char *uuid, int from, int to, int err);
/* Pages the device writes by DMA: its DMA log marks [iova, +len) while
 * logging runs. */
void kenv_gen_dma_write(const char *uuid, uint64_t iova, uint64_t len);
/* From now on its DMA logging STARTs answer page_size (0: echo), whatever
 * it was added with: a driver changing its mind on a live device. */
void kenv_gen_set_log_pgsize(const char *uuid, uint64_t page_size);
/* The device, open on the Type1 path, reads guest memory at [iova, +len)
 * and writes the same bytes back (vfio_dma_rw()): Type1 reports those
 * pages dirty in its pinned-page scope (contract 9.5).  0 or -errno
 * (call it on mapped ranges: the fake does not check). */
int kenv_gen_dma_rw(const char *uuid, uint64_t iova, uint64_t len);

/* Suites of kernel-facing cases. */
Suite *kcase_device_suite(void);
Suite *kcase_mig_suite(void);
Suite *kcase_dirty_suite(void);
Suite *kcase_devset_suite(void);
Suite *kcase_region_suite(void);
Suite *kcase_dma_suite(void);
Suite *kcase_uapi_suite(void);
Suite *kcase_open_suite(void);
Suite *kcase_session_suite(void);
Suite *kcase_threads_suite(void);
Suite *kcase_kenv_suite(void);

/* Fake-only sections: cases that need fault injection or programmable
 * devices live in their own unit tests, not here. */
#endif
