// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl dirty: drive dirty page tracking, for debugging a driver. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "cli.h"

const char usage_dirty[] =
	"dirty DEVICE... [start] [report] [stop] [OPTIONS]\n"
	"\n"
	"Exercise dirty page tracking over DEVICEs (one tracker for all of\n"
	"them), for debugging a driver's DMA logging or the IOMMU's tracking.\n"
	"The actions run in the order given (default: start report stop).\n"
	"A tracker lives only as long as this process: every action happens in\n"
	"one run, and tracking still active at the end is stopped at exit.\n"
	"Between start and the next action the command can pause (--sleep,\n"
	"--wait) so that the device can do DMA meanwhile.\n"
	"\n"
	"Without --map the tool maps no memory: with the Type1 and iommufd\n"
	"backends only IOVA that the device's IOMMU context already maps can be\n"
	"reported.  With --map, the DEVICEs share one IOMMU context and the\n"
	"tool maps anonymous memory in it (read/write) before tracking; the\n"
	"ranges default to the mappings.\n"
	"\n"
	"  start               create the tracker and start tracking the ranges\n"
	"  report              query each range and print the dirty pages\n"
	"  stop                stop tracking\n"
	"  --map SIZE[@IOVA]   map SIZE bytes of anonymous memory at IOVA\n"
	"                      (repeatable; default: after the previous one,\n"
	"                      inside the context's valid IOVA ranges)\n"
	"  --range IOVA:LEN    a range to track (repeatable; default 0:1G, or\n"
	"                      the --map mappings);\n"
	"                      numbers take 0x and K/M/G/T suffixes\n"
	"  --page-size N       tracking page size (default 4096; power of two)\n"
	"  --report-page-size N  bitmap page size of reports (default: the\n"
	"                      tracking page size)\n"
	"  --backend NAME      auto (default), dma-logging, iommufd, type1, all,\n"
	"                      mig-v1\n"
	"  --sleep SECONDS     pause after start\n"
	"  --wait              after start, wait for Enter on stdin\n"
	"  --no-clear          report without clearing the kernel's log\n"
	"  --json              machine-readable output\n"
	"  --iommu PATH        open through auto (default), iommufd or type1\n"
	"  -v                  show the library's log\n";

enum {
	OPT_RANGE = OPT_FIRST_CMD,
	OPT_PAGE_SIZE,
	OPT_REPORT_PAGE_SIZE,
	OPT_BACKEND,
	OPT_SLEEP,
	OPT_WAIT,
	OPT_NO_CLEAR,
	OPT_MAP,
};

struct dmap {
	uint64_t size, iova;
	bool fixed;  /* @IOVA given */
	void *mem;   /* MAP_FAILED until mapped */
	bool mapped;
};

#define MAX_RANGES 256
#define MAX_DEVS 16
#define MAX_RUNS_SHOWN 1000
/* Bitmaps up to the Type1 limit (2^31 pages). */
#define MAX_REPORT_PAGES (1ull << 31)

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int parse_range(const char *s, struct vfiomig_range *r)
{
	char buf[64];
	char *colon;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (cli_parse_u64(buf, &r->iova) || cli_parse_u64(colon + 1, &r->length) ||
	    !r->length || r->iova + r->length < r->iova)
		return -EINVAL;
	return 0;
}

/* SIZE[@IOVA] */
static int parse_map(const char *s, struct dmap *m)
{
	char buf[64];
	char *at;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	at = strchr(buf, '@');
	if (at)
		*at = 0;
	m->fixed = at != NULL;
	m->iova = 0;
	m->mem = MAP_FAILED;
	m->mapped = false;
	if (cli_parse_u64(buf, &m->size) || !m->size || m->size % 4096 ||
	    (at && (cli_parse_u64(at + 1, &m->iova) || m->iova % 4096 ||
		    m->iova + m->size < m->iova)))
		return -EINVAL;
	return 0;
}

/* Place the --map mappings that have no IOVA (after the previous one,
 * inside a valid range), mmap and map them all. */
static int map_all(struct cli *c, struct vfiomig_iommu *io, struct dmap *maps,
		   size_t nmaps, uint64_t align)
{
	struct vfiomig_range vr[64];
	ssize_t nvr = vfiomig_iommu_iova_ranges(io, vr, ARRAY_SIZE(vr));
	uint64_t next = 0;

	if (nvr < 0) {
		cli_err_lib(c, (int)nvr, "cannot read the valid IOVA ranges");
		return (int)nvr;
	}
	if (nvr > (ssize_t)ARRAY_SIZE(vr))
		nvr = ARRAY_SIZE(vr);
	for (size_t i = 0; i < nmaps; i++) {
		struct dmap *m = &maps[i];
		int ret;

		if (!m->fixed) {
			ssize_t k;

			for (k = 0; k < nvr; k++) {
				uint64_t a = next > vr[k].iova ? next : vr[k].iova;

				a = (a + align - 1) & ~(align - 1);
				if (a >= vr[k].iova && a - vr[k].iova < vr[k].length &&
				    m->size <= vr[k].length - (a - vr[k].iova)) {
					m->iova = a;
					break;
				}
			}
			if (k == nvr) {
				cli_err(c, "--map 0x%" PRIx64 ": no room in the valid IOVA ranges after 0x%" PRIx64,
					m->size, next);
				return -ENOSPC;
			}
		}
		m->mem = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m->mem == MAP_FAILED) {
			ret = -errno;
			cli_err(c, "--map: cannot allocate 0x%" PRIx64 " bytes: %s",
				m->size, cli_strerror(ret));
			return ret;
		}
		ret = vfiomig_iommu_map(io, m->mem, m->iova, m->size,
					VFIOMIG_DMA_READ | VFIOMIG_DMA_WRITE);
		if (ret) {
			cli_err_lib(c, ret, "cannot map 0x%" PRIx64 "+0x%" PRIx64,
				    m->iova, m->size);
			return ret;
		}
		m->mapped = true;
		next = m->iova + m->size;
	}
	return 0;
}

static int report(struct cli *c, struct vfiomig_dirty *tr,
		  const struct vfiomig_range *ranges, size_t nranges,
		  uint64_t pgsize, unsigned int flags, struct json *j)
{
	int status = 0;

	if (c->json)
		json_begin_arr(j, "ranges");
	for (size_t i = 0; i < nranges; i++) {
		uint64_t nbits = ranges[i].length / pgsize, count, pos = 0, len;
		uint64_t *bm = calloc((nbits + 63) / 64, sizeof(uint64_t));
		unsigned int shown = 0;
		int ret;

		if (!bm) {
			cli_err(c, "out of memory for a %" PRIu64 "-page bitmap", nbits);
			return -ENOMEM;
		}
		ret = vfiomig_dirty_query(tr, ranges[i].iova, ranges[i].length,
					  pgsize, bm, flags);
		count = vfiomig_bitmap_count(bm, nbits);
		if (ret) {
			cli_err_lib(c, ret, "report of 0x%" PRIx64 "+0x%" PRIx64 " failed"
				    " (the library marks the whole range dirty)",
				    ranges[i].iova, ranges[i].length);
			status = ret;
		}
		if (c->json) {
			json_begin_obj(j, NULL);
			json_u64(j, "iova", ranges[i].iova);
			json_u64(j, "length", ranges[i].length);
			json_u64(j, "page_size", pgsize);
			json_u64(j, "pages", nbits);
			json_bool(j, "ok", ret == 0);
			if (ret)
				json_str(j, "error", cli_strerror(ret));
			json_u64(j, "dirty_pages", count);
			json_begin_arr(j, "runs");
		} else {
			printf("range 0x%" PRIx64 "+0x%" PRIx64 ": %" PRIu64 " of %" PRIu64
			       " pages of %" PRIu64 " dirty%s\n", ranges[i].iova,
			       ranges[i].length, count, nbits, pgsize,
			       ret ? " (error: all marked)" : "");
		}
		while (vfiomig_bitmap_next_range(bm, nbits, &pos, &len) == 1) {
			uint64_t a = ranges[i].iova + pos * pgsize;

			if (shown++ < MAX_RUNS_SHOWN) {
				if (c->json) {
					json_begin_obj(j, NULL);
					json_u64(j, "iova", a);
					json_u64(j, "pages", len);
					json_end(j);
				} else {
					printf("  0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " pages)\n",
					       a, a + len * pgsize, len);
				}
			}
			pos += len;
		}
		if (c->json) {
			json_end(j);
			json_bool(j, "runs_truncated", shown > MAX_RUNS_SHOWN);
			json_end(j);
		} else if (shown > MAX_RUNS_SHOWN) {
			printf("  ... %u more runs\n", shown - MAX_RUNS_SHOWN);
		}
		free(bm);
	}
	if (c->json)
		json_end(j);
	return status;
}

static void pause_after_start(struct cli *c, double sleep_s, bool wait)
{
	if (sleep_s > 0) {
		struct timespec ts = { .tv_sec = (time_t)sleep_s,
				       .tv_nsec = (long)((sleep_s - (double)(time_t)sleep_s) * 1e9) };

		if (!c->json)
			printf("tracking; sleeping %.3g s\n", sleep_s);
		fflush(stdout);
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	if (wait) {
		int ch;

		fprintf(stderr, "tracking; press Enter to go on\n");
		while ((ch = getchar()) != EOF && ch != '\n')
			;
	}
}

int cmd_dirty(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT,
		{ "range", required_argument, NULL, OPT_RANGE },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ "report-page-size", required_argument, NULL, OPT_REPORT_PAGE_SIZE },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "sleep", required_argument, NULL, OPT_SLEEP },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "no-clear", no_argument, NULL, OPT_NO_CLEAR },
		{ "map", required_argument, NULL, OPT_MAP },
		CLI_END_OPT,
	};
	static const char *const default_actions[] = { "start", "report", "stop" };
	struct vfiomig_range ranges[MAX_RANGES];
	struct vfiomig_device *devs[MAX_DEVS] = { 0 };
	const char *actions[64], *names[MAX_DEVS];
	VFIOMIG_OPTS(vfiomig_dirty_opts, dopts, .backend = VFIOMIG_DIRTY_AUTO);
	struct vfiomig_dirty *tr = NULL;
	struct vfiomig_iommu *io = NULL;
	struct dmap maps[MAX_RANGES];
	size_t nranges = 0, ndevs = 0, nactions = 0, nmaps = 0;
	uint64_t pgsize = 4096, rpgsize = 0;
	unsigned int qflags = 0;
	double sleep_s = 0;
	bool wait = false, started = false;
	int opt, ret, status = EXIT_OK;
	struct json j;
	char *end;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_RANGE:
			if (nranges == MAX_RANGES)
				return cli_usage(c, "at most %d ranges", MAX_RANGES);
			if (parse_range(optarg, &ranges[nranges]))
				return cli_usage(c, "--range: expected IOVA:LENGTH, not '%s'", optarg);
			nranges++;
			continue;
		case OPT_PAGE_SIZE:
		case OPT_REPORT_PAGE_SIZE: {
			uint64_t v;

			if (cli_parse_u64(optarg, &v) || !pow2(v) || v < 4096)
				return cli_usage(c, "page size: a power of two >= 4096, not '%s'",
						 optarg);
			*(opt == OPT_PAGE_SIZE ? &pgsize : &rpgsize) = v;
			continue;
		}
		case OPT_BACKEND: {
			int b = -1;

			for (int i = VFIOMIG_DIRTY_AUTO; i <= VFIOMIG_DIRTY_MIG_V1; i++) {
				const char *n = vfiomig_dirty_backend_name(i);

				if (n && !strcmp(n, optarg))
					b = i;
			}
			if (b < 0 && !strcmp(optarg, "auto"))
				b = VFIOMIG_DIRTY_AUTO;
			if (b < 0)
				return cli_usage(c, "--backend: auto, dma-logging, iommufd, type1, all or mig-v1, not '%s'",
						 optarg);
			dopts.backend = b;
			continue;
		}
		case OPT_SLEEP:
			sleep_s = strtod(optarg, &end);
			if (*end || end == optarg || !(sleep_s >= 0 && sleep_s < 86400))
				return cli_usage(c, "--sleep: seconds, not '%s'", optarg);
			continue;
		case OPT_WAIT:
			wait = true;
			continue;
		case OPT_NO_CLEAR:
			qflags |= VFIOMIG_DIRTY_NO_CLEAR;
			continue;
		case OPT_MAP:
			if (nmaps == MAX_RANGES)
				return cli_usage(c, "at most %d --map", MAX_RANGES);
			if (parse_map(optarg, &maps[nmaps]))
				return cli_usage(c, "--map: expected SIZE[@IOVA] (page multiples), not '%s'",
						 optarg);
			nmaps++;
			continue;
		}
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "start") || !strcmp(argv[i], "report") ||
		    !strcmp(argv[i], "stop")) {
			if (nactions == ARRAY_SIZE(actions))
				return cli_usage(c, "too many actions");
			actions[nactions++] = argv[i];
		} else if (nactions) {
			return cli_usage(c, "devices come before the actions ('%s')", argv[i]);
		} else if (ndevs == MAX_DEVS) {
			return cli_usage(c, "at most %d devices", MAX_DEVS);
		} else {
			names[ndevs++] = argv[i];
		}
	}
	if (!ndevs)
		return cli_usage(c, "expected at least one DEVICE");
	if (!nactions) {
		for (size_t i = 0; i < ARRAY_SIZE(default_actions); i++)
			actions[nactions++] = default_actions[i];
	}
	if (!rpgsize)
		rpgsize = pgsize;

	for (size_t i = 0; i < nmaps && !nranges; i++) {
		uint64_t al = pgsize > rpgsize ? pgsize : rpgsize;

		if (maps[i].size % al || maps[i].iova % al)
			return cli_usage(c, "--map 0x%" PRIx64 "@0x%" PRIx64
					 " is not aligned to the page size",
					 maps[i].size, maps[i].iova);
		if (maps[i].size / rpgsize > MAX_REPORT_PAGES)
			return cli_usage(c, "--map 0x%" PRIx64
					 " has too many pages for one bitmap",
					 maps[i].size);
	}
	if (!nranges && !nmaps) {
		ranges[0] = (struct vfiomig_range){ 0, 1ull << 30 };
		nranges = 1;
	}
	for (size_t i = 0; i < nranges; i++) {
		if (ranges[i].iova % pgsize || ranges[i].length % pgsize ||
		    ranges[i].iova % rpgsize || ranges[i].length % rpgsize)
			return cli_usage(c, "range 0x%" PRIx64 ":0x%" PRIx64
					 " is not aligned to the page size",
					 ranges[i].iova, ranges[i].length);
		if (ranges[i].length / rpgsize > MAX_REPORT_PAGES)
			return cli_usage(c, "range 0x%" PRIx64 ":0x%" PRIx64
					 " has too many pages for one bitmap",
					 ranges[i].iova, ranges[i].length);
	}

	if (nmaps) {
		VFIOMIG_OPTS(vfiomig_iommu_opts, io_o, .iommu = c->iommu);
		struct vfiomig_ctx *ctx = cli_ctx(c);

		ret = ctx ? vfiomig_iommu_new(ctx, &io_o, &io) : -ENOMEM;
		if (ret) {
			cli_err_lib(c, ret, "cannot create an IOMMU context");
			status = EXIT_FAIL;
			goto out;
		}
		for (size_t i = 0; i < ndevs; i++) {
			VFIOMIG_OPTS(vfiomig_open_opts, o, .iommu_ctx = io);

			cli_clear_err(c);
			ret = vfiomig_device_open(ctx, names[i], &o, &devs[i]);
			if (ret) {
				devs[i] = NULL;
				cli_err_lib(c, ret, "cannot open %s", names[i]);
				status = EXIT_FAIL;
				goto out;
			}
		}
		if (map_all(c, io, maps, nmaps,
			    pgsize > rpgsize ? pgsize : rpgsize)) {
			status = EXIT_FAIL;
			goto out;
		}
		if (!nranges) {
			for (size_t i = 0; i < nmaps; i++)
				ranges[i] = (struct vfiomig_range){ maps[i].iova, maps[i].size };
			nranges = nmaps;
		}
	}
	for (size_t i = 0; i < ndevs && !io; i++)
		if (cli_open(c, names[i], &devs[i])) {
			status = EXIT_FAIL;
			goto out;
		}
	ret = vfiomig_dirty_new(devs, ndevs, &dopts, &tr);
	if (ret) {
		cli_err_lib(c, ret, "cannot create a dirty tracker");
		status = EXIT_FAIL;
		goto out;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_begin_arr(&j, "devices");
		for (size_t i = 0; i < ndevs; i++)
			json_str(&j, NULL, names[i]);
		json_end(&j);
		json_str(&j, "backend", vfiomig_dirty_backend_name(vfiomig_dirty_backend(tr)));
		json_str(&j, "reason", vfiomig_dirty_reason(tr));
		json_u64(&j, "page_size", pgsize);
		json_begin_arr(&j, "maps");
		for (size_t i = 0; i < nmaps; i++) {
			json_begin_obj(&j, NULL);
			json_u64(&j, "iova", maps[i].iova);
			json_u64(&j, "length", maps[i].size);
			json_end(&j);
		}
		json_end(&j);
		json_begin_arr(&j, "actions");
	} else {
		printf("backend %s: %s\n",
		       vfiomig_dirty_backend_name(vfiomig_dirty_backend(tr)),
		       vfiomig_dirty_reason(tr) ? cli_esc(vfiomig_dirty_reason(tr)) : "");
		for (size_t i = 0; i < nmaps; i++)
			printf("mapped 0x%" PRIx64 "+0x%" PRIx64 " (anonymous memory, read/write)\n",
			       maps[i].iova, maps[i].size);
	}
	for (size_t a = 0; a < nactions; a++) {
		if (c->json) {
			json_begin_obj(&j, NULL);
			json_str(&j, "action", actions[a]);
		}
		if (!strcmp(actions[a], "start")) {
			uint64_t ps = pgsize;

			ret = vfiomig_dirty_start(tr, ranges, nranges, &ps);
			if (ret)
				cli_err_lib(c, ret, "start failed");
			else
				started = true;
			if (c->json && !ret)
				json_u64(&j, "tracking_page_size", ps);
			if (!c->json && !ret)
				printf("started: %zu range(s), page size %" PRIu64
				       " (asked %" PRIu64 ")\n", nranges, ps, pgsize);
		} else if (!strcmp(actions[a], "report")) {
			ret = report(c, tr, ranges, nranges, rpgsize, qflags, &j);
		} else {
			ret = vfiomig_dirty_stop(tr);
			if (ret)
				cli_err_lib(c, ret, "stop failed");
			else
				started = false;
			if (!c->json && !ret)
				printf("stopped\n");
		}
		if (c->json) {
			json_bool(&j, "ok", ret == 0);
			if (ret)
				json_str(&j, "error", cli_strerror(ret));
			json_end(&j);
		}
		if (ret)
			status = EXIT_FAIL;
		if (!ret && !strcmp(actions[a], "start"))
			pause_after_start(c, sleep_s, wait);
	}
	if (c->json) {
		json_end(&j);
		json_bool(&j, "stopped_at_exit", started);
		json_end(&j);
	} else if (started) {
		printf("tracking still active: stopped at exit\n");
	}
out:
	vfiomig_dirty_free(tr);
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].mapped)
			vfiomig_iommu_unmap(io, maps[i].iova, maps[i].size);
	for (size_t i = 0; i < ndevs; i++)
		vfiomig_device_free(devs[i]);
	vfiomig_iommu_free(io);
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].mem != MAP_FAILED)
			munmap(maps[i].mem, maps[i].size);
	return status;
}
