// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * LD_PRELOAD object that runs a real program (vfiomig-ctl) on the fake
 * kernel.  Its constructor builds a fake machine from $VFIOMIG_FAKE and
 * exports VFIOMIG_SYSFS_ROOT / VFIOMIG_DEV_ROOT for the program; its
 * destructor tears the machine down.  The fake's interposers (open, ioctl,
 * read, ...) come with it, so the program's libc calls reach the fake.
 *
 * VFIOMIG_FAKE       comma-separated machine parts:
 *                      mtty     the VM's seven mtty instances (tests/kenv.h:
 *                               one mtty-1, six mtty-2)
 *                      generic  two vfio-pci variant functions 0000:3b:00.1
 *                               (source, filled from a seed) and
 *                               0000:3b:00.2, 4 MiB of state, 1 MiB of
 *                               precopy data, ENOMSG at its end
 *                      dirtying the generic functions dirty 64 KiB of
 *                               state per precopy round (a running guest)
 *                      reinit   the generic functions have PRECOPY_INFOv2
 *                               and re-initialise once per saving session
 *                               after 512 KiB of precopy data (256 KiB
 *                               again as new initial data: REINIT)
 *                      nomig    plain vfio-pci 0000:3c:00.0 (no migration)
 *                      flagsets variant functions with the other migration
 *                               flag sets: 0000:3d:00.1 STOP_COPY only,
 *                               0000:3d:00.3 STOP_COPY|P2P (pds),
 *                               0000:3d:00.5 STOP_COPY|PRE_COPY (hisi)
 *                      type1    no /dev/iommu (Type1 path only)
 *                      v1       two migration v1 functions (fake-v1.c:
 *                               the migration region of Linux 5.8-5.17)
 *                               0000:3e:00.1 (source, filled from a seed)
 *                               and 0000:3e:00.2, 1 MiB of state, 256 KiB
 *                               of precopy data, 48 KiB chunks through a
 *                               mappable 64 KiB data area; 0000:3e:00.3
 *                               the same with the proposal's dirty pfn
 *                               fields (the mig-v1 dirty backend)
 * VFIOMIG_FAKE_PROG  activate only in programs whose name contains this
 *                    (default "vfiomig-ctl": not in the libtool wrapper's
 *                    shell or in other tools of a test script)
 * VFIOMIG_FAKE_DUMP  at exit, append one line per device to this file:
 *                    "NAME state=STATE size=N fnv=HASH hex=FIRST-BYTES"
 * VFIOMIG_FAKE_STRICT=1  exit with status 99 if fake fds leaked
 * VFIOMIG_FAKE_FAIL_ARC  NAME:FROM:TO:ERRNO[;...]: the first SET of arc
 *                    FROM -> TO (state numbers) on device NAME fails with
 *                    ERRNO (a failing member, for the device set tests)
 *
 * Device state lives in the process: what one run saves, a second run
 * loads into a fresh machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"

#define MTTY1_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define MTTY2_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"
#define MTTY2B_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1003"
#define MTTY2C_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1004"
#define MTTY2D_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1005"
#define MTTY2E_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1006"
#define MTTY2F_UUID "83b8f4f2-509f-382f-3c1e-e6bfe0fa1007"
#define GENERIC_SEED 0x5eed

static bool active;
static int ids[16];
static const char *names[16];
static int nids;

static void fail(const char *what, int err)
{
	fprintf(stderr, "fake preload: %s: %s\n", what, strerror(err < 0 ? -err : err));
	_exit(98);
}

static int add(const struct fake_dev_cfg *cfg)
{
	int id = fake_add_device(cfg);

	if (id < 0)
		fail(cfg->name, id);
	if (nids < (int)(sizeof(ids) / sizeof(ids[0]))) {
		ids[nids] = id;
		names[nids++] = cfg->name;
	}
	return id;
}

static bool has_part(const char *spec, const char *part)
{
	size_t n = strlen(part);

	for (const char *p = spec; (p = strstr(p, part)); p += n)
		if ((p == spec || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return true;
	return false;
}

/* "NAME:FROM:TO:ERRNO[;...]": arm fake_dev_fail_arc() on named devices. */
static void fail_arcs(const char *spec)
{
	char name[128];
	int from, to, err, n;

	while (spec && *spec) {
		if (sscanf(spec, "%127[^:]:%d:%d:%d%n", name, &from, &to, &err, &n) != 4)
			fail("VFIOMIG_FAKE_FAIL_ARC", EINVAL);
		for (int i = 0; i < nids; i++)
			if (!strcmp(names[i], name))
				fake_dev_fail_arc(ids[i], from, to, err);
		spec += n;
		if (*spec == ';')
			spec++;
	}
}

__attribute__((constructor)) static void preload_init(void)
{
	const char *spec = getenv("VFIOMIG_FAKE");
	const char *prog = getenv("VFIOMIG_FAKE_PROG");
	struct fake_dev_cfg cfg;
	int ret, group = 0, cdev = 0;

	if (!spec || !*spec)
		return;
	if (!prog || !*prog)
		prog = "vfiomig-ctl";
	if (!strstr(program_invocation_short_name, prog))
		return;
	ret = fake_init(!has_part(spec, "type1"));
	if (ret)
		fail("fake_init", ret);
	active = true;
	if (has_part(spec, "mtty")) {
		static const struct {
			const char *uuid;
			int ports;
		} m[] = { { MTTY1_UUID, 1 }, { MTTY2_UUID, 2 }, { MTTY2B_UUID, 2 },
			  { MTTY2C_UUID, 2 }, { MTTY2D_UUID, 2 }, { MTTY2E_UUID, 2 },
			  { MTTY2F_UUID, 2 } };

		for (int i = 0; i < 7; i++) {
			fake_cfg_mtty(&cfg, m[i].uuid, m[i].ports, group++, cdev++);
			add(&cfg);
		}
	}
	if (has_part(spec, "generic")) {
		static const char *const bdf[] = { "0000:3b:00.1", "0000:3b:00.2" };

		for (int i = 0; i < 2; i++) {
			int id;

			fake_cfg_pci(&cfg, bdf[i], group++, cdev++,
				     1 /* STOP_COPY */ | 2 /* P2P */ | 4 /* PRE_COPY */);
			cfg.state_size = 4u << 20;
			cfg.precopy_initial = 1u << 20;
			if (has_part(spec, "dirtying"))
				cfg.precopy_dirty = 64u << 10;
			if (has_part(spec, "reinit")) {
				cfg.precopy_v2 = true;
				cfg.reinit_after = 512u << 10;
				cfg.reinit_bytes = 256u << 10;
			}
			id = add(&cfg);
			if (i == 0)
				fake_dev_fill(id, GENERIC_SEED);
		}
	}
	if (has_part(spec, "flagsets")) {
		static const struct {
			const char *bdf;
			uint64_t flags;
		} f[] = { { "0000:3d:00.1", 1 }, { "0000:3d:00.3", 3 }, { "0000:3d:00.5", 5 } };

		for (int i = 0; i < 3; i++) {
			fake_cfg_pci(&cfg, f[i].bdf, group++, cdev++, f[i].flags);
			cfg.state_size = 64u << 10;
			cfg.precopy_initial = 16u << 10;
			add(&cfg);
		}
	}
	if (has_part(spec, "nomig")) {
		fake_cfg_pci(&cfg, "0000:3c:00.0", group++, cdev++, 0);
		add(&cfg);
	}
	if (has_part(spec, "v1")) {
		static const char *const bdf[] = { "0000:3e:00.1", "0000:3e:00.2",
						   "0000:3e:00.3" };
		struct fake_v1_cfg v = {
			.index = 9,
			.region_size = 128u << 10,
			.data_offset = 64u << 10,
			.chunk_max = 48u << 10,
			.mmap = true,
			.state_size = 1u << 20,
			.precopy_initial = 256u << 10,
		};

		for (int i = 0; i < 3; i++) {
			int id;

			v.pfns = i == 2;
			fake_cfg_pci(&cfg, bdf[i], group++, cdev++, 0);
			id = add(&cfg);
			ret = fake_dev_set_v1(id, &v);
			if (ret)
				fail("fake_dev_set_v1", ret);
			if (i == 0)
				fake_v1_fill(id, GENERIC_SEED);
		}
	}
	fail_arcs(getenv("VFIOMIG_FAKE_FAIL_ARC"));
	if (setenv("VFIOMIG_SYSFS_ROOT", fake_sysfs_root(), 1) ||
	    setenv("VFIOMIG_DEV_ROOT", fake_dev_root(), 1))
		fail("setenv", errno);
}

/* A v1 device's state as the v2 number the library reports for it. */
static int v1_state(int id)
{
	static const int v2[8] = { 1 /* STOP */, 2 /* RUNNING */,
				   3 /* STOP_COPY */, 6 /* PRE_COPY */,
				   4 /* RESUMING */, 0, 0, 0 /* ERROR */ };

	return v2[fake_v1_state(id) & 7];
}

static void dump(const char *path)
{
	FILE *f = fopen(path, "a");
	static unsigned char buf[8u << 20];

	if (!f) {
		fprintf(stderr, "fake preload: %s: %s\n", path, strerror(errno));
		return;
	}
	for (int i = 0; i < nids; i++) {
		bool v1 = fake_dev_is_v1(ids[i]);
		size_t n = v1 ? fake_v1_blob(ids[i], buf, sizeof(buf)) :
				fake_dev_blob(ids[i], buf, sizeof(buf));
		uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

		if (n > sizeof(buf))
			n = sizeof(buf);
		for (size_t k = 0; k < n; k++)
			h = (h ^ buf[k]) * 0x100000001b3ull;
		fprintf(f, "%s state=%d size=%zu fnv=%016" PRIx64 " hex=", names[i],
			v1 ? v1_state(ids[i]) : fake_dev_state(ids[i]), n, h);
		for (size_t k = 0; k < n && k < 128; k++)
			fprintf(f, "%02x", buf[k]);
		fputc('\n', f);
	}
	fclose(f);
}

__attribute__((destructor)) static void preload_fini(void)
{
	const char *d = getenv("VFIOMIG_FAKE_DUMP");
	const char *strict = getenv("VFIOMIG_FAKE_STRICT");
	int leaked;

	if (!active)
		return;
	if (d && *d)
		dump(d);
	leaked = fake_fini();
	active = false;
	if (leaked) {
		fprintf(stderr, "fake preload: %d fake fd(s) left open at exit\n",
			leaked);
		if (strict && !strcmp(strict, "1"))
			_exit(99);
	}
}
