// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl region: list a device's regions, or read or write one byte
 * of a region (debug), through the library's region calls. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

const char usage_region[] =
	"region DEVICE [INDEX [OFFSET [BYTE]]] [--json]\n"
	"\n"
	"For driver developers.  Without INDEX: list the regions of DEVICE\n"
	"(VFIO_DEVICE_GET_REGION_INFO for each index up to num_regions): size,\n"
	"offset in the device fd, flags (r read, w write, m mmap, c capability\n"
	"chain), type/subtype and sparse mmap areas from the chain.  With INDEX:\n"
	"that region only.  With OFFSET: read (or, with BYTE, write) one byte of\n"
	"region INDEX at OFFSET, at the place in the device fd the kernel gives\n"
	"for the region.  Prints the byte read; a write reads nothing back\n"
	"(reads can have side effects).\n"
	"\n"
	"A region the device does not have, an empty one (size 0: mtty's\n"
	"regions 2-6), an offset outside the region, or a region without the\n"
	"read (write) flag is refused before anything reaches the driver.\n"
	"mtty's BAR0 (0) and BAR1 (1, mtty-2 only) are 8-byte 16550 UARTs:\n"
	"offset 7 is the scratch register (SCR).\n"
	"\n"
	"  --json        machine-readable output\n"
	"  --iommu PATH  open through auto (default), iommufd or type1\n"
	"  -v            show the library's log\n";

static void flags_str(uint32_t f, char *s)
{
	s[0] = f & VFIOMIG_REGION_READ ? 'r' : '-';
	s[1] = f & VFIOMIG_REGION_WRITE ? 'w' : '-';
	s[2] = f & VFIOMIG_REGION_MMAP ? 'm' : '-';
	s[3] = f & VFIOMIG_REGION_CAPS ? 'c' : '-';
	s[4] = '\0';
}

static void json_flags(struct json *j, uint32_t f)
{
	json_begin_arr(j, "flags");
	if (f & VFIOMIG_REGION_READ)
		json_str(j, NULL, "read");
	if (f & VFIOMIG_REGION_WRITE)
		json_str(j, NULL, "write");
	if (f & VFIOMIG_REGION_MMAP)
		json_str(j, NULL, "mmap");
	if (f & VFIOMIG_REGION_CAPS)
		json_str(j, NULL, "caps");
	json_end(j);
}

/* One region: a JSON object or a table line; 0, or -errno of the info
 * call (reported in the entry, not fatal for a listing). */
static int show_region(struct cli *c, struct json *j,
		       struct vfiomig_device *dev, uint32_t index)
{
	struct vfiomig_region_info ri = { .sz = sizeof(ri) };
	struct vfiomig_region_area *areas = NULL;
	char fl[5], sz[24], off[24];
	int ret, n = 0;

	ret = vfiomig_region_info(dev, index, &ri);
	if (!ret && ri.nr_areas) {
		areas = calloc(ri.nr_areas, sizeof(*areas));
		if (!areas)
			ret = -ENOMEM;
		else
			n = vfiomig_region_areas(dev, index, areas, ri.nr_areas);
		if (n < 0)
			ret = n;
		else if ((uint32_t)n < ri.nr_areas)
			ri.nr_areas = (uint32_t)n;
	}
	if (j) {
		json_begin_obj(j, NULL);
		json_u64(j, "index", index);
		if (ret) {
			json_str(j, "error", cli_errname(ret));
			json_end(j);
			free(areas);
			return ret;
		}
		json_u64(j, "size", ri.size);
		json_u64(j, "offset", ri.offset);
		json_flags(j, ri.flags);
		if (ri.flags & VFIOMIG_REGION_TYPED) {
			json_u64(j, "type", ri.type);
			json_u64(j, "subtype", ri.subtype);
		} else {
			json_null(j, "type");
			json_null(j, "subtype");
		}
		if (ri.flags & VFIOMIG_REGION_SPARSE) {
			json_begin_arr(j, "sparse_areas");
			for (uint32_t i = 0; i < ri.nr_areas; i++) {
				json_begin_obj(j, NULL);
				json_u64(j, "offset", areas[i].offset);
				json_u64(j, "size", areas[i].size);
				json_end(j);
			}
			json_end(j);
		} else {
			json_null(j, "sparse_areas");
		}
		json_end(j);
		free(areas);
		return 0;
	}
	if (ret) {
		printf("%-6" PRIu32 " %-12s %-16s %-5s (refused: %s)\n", index,
		       "-", "-", "-", cli_strerror(ret));
		cli_clear_err(c);
		free(areas);
		return ret;
	}
	flags_str(ri.flags, fl);
	snprintf(sz, sizeof(sz), "0x%" PRIx64, ri.size);
	snprintf(off, sizeof(off), "0x%" PRIx64, ri.offset);
	printf("%-6" PRIu32 " %-12s %-16s %-5s ", index, sz, off, fl);
	if (ri.flags & VFIOMIG_REGION_TYPED)
		printf("%" PRIu32 "/%" PRIu32, ri.type, ri.subtype);
	else
		printf("-");
	if (ri.flags & VFIOMIG_REGION_SPARSE) {
		printf("  sparse:");
		if (!ri.nr_areas)
			printf(" none");
		for (uint32_t i = 0; i < ri.nr_areas; i++)
			printf(" 0x%" PRIx64 "+0x%" PRIx64, areas[i].offset,
			       areas[i].size);
	}
	printf("\n");
	free(areas);
	return 0;
}

static int list_regions(struct cli *c, struct vfiomig_device *dev,
			const char *name, bool one, uint32_t index)
{
	struct json j;
	int n = vfiomig_region_count(dev), ret = 0;

	if (n < 0) {
		cli_err_lib(c, n, "cannot count the regions of %s", cli_esc(name));
		return EXIT_FAIL;
	}
	if (one && index >= (uint32_t)n) {
		cli_err(c, "%s has no region %" PRIu32 " (it has %d: 0..%d)",
			cli_esc(name), index, n, n - 1);
		return EXIT_FAIL;
	}
	if (c->json) {
		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", name);
		json_u64(&j, "num_regions", (uint64_t)n);
		json_begin_arr(&j, "regions");
	} else {
		printf("%-6s %-12s %-16s %-5s %s\n", "INDEX", "SIZE", "OFFSET",
		       "FLAGS", "TYPE");
	}
	for (uint32_t i = one ? index : 0; i < (one ? index + 1 : (uint32_t)n); i++) {
		int r = show_region(c, c->json ? &j : NULL, dev, i);

		/* A driver may refuse an index it counts (vfio-pci's VGA
		 * without VGA: EINVAL): listed, not fatal; anything else is. */
		if (r && (one || r != -EINVAL))
			ret = r;
	}
	if (c->json) {
		json_end(&j);
		json_end(&j);
	}
	return ret ? EXIT_FAIL : EXIT_OK;
}

int cmd_region(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, CLI_END_OPT,
	};
	struct vfiomig_region_info ri = { .sz = sizeof(ri) };
	struct vfiomig_device *dev;
	uint64_t index = 0, offset = 0, byte = 0;
	unsigned char b = 0, rb = 0;
	bool write_it;
	int opt, ret, nargs, n, status = EXIT_OK;
	const char *name;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	nargs = argc - optind;
	if (nargs < 1 || nargs > 4)
		return cli_usage(c, "expected DEVICE [INDEX [OFFSET [BYTE]]]");
	name = argv[optind];
	if (nargs >= 2 && (cli_parse_u64(argv[optind + 1], &index) ||
			   index > UINT32_MAX))
		return cli_usage(c, "bad region index '%s'", argv[optind + 1]);
	if (nargs >= 3 && cli_parse_u64(argv[optind + 2], &offset))
		return cli_usage(c, "bad offset '%s'", argv[optind + 2]);
	write_it = nargs == 4;
	if (write_it && (cli_parse_u64(argv[optind + 3], &byte) || byte > 0xff))
		return cli_usage(c, "bad byte '%s' (0..255, 0x.. for hex)",
				 argv[optind + 3]);

	if (cli_open(c, name, &dev))
		return EXIT_FAIL;
	if (nargs <= 2) {
		status = list_regions(c, dev, name, nargs == 2, (uint32_t)index);
		goto out;
	}
	/* Refuse with a message that says why, before the library does. */
	n = vfiomig_region_count(dev);
	if (n < 0) {
		cli_err_lib(c, n, "cannot count the regions of %s", cli_esc(name));
		status = EXIT_FAIL;
		goto out;
	}
	if (index >= (uint64_t)n) {
		cli_err(c, "%s has no region %" PRIu64 " (it has %d: 0..%d)",
			cli_esc(name), index, n, n - 1);
		status = EXIT_FAIL;
		goto out;
	}
	ret = vfiomig_region_info(dev, (uint32_t)index, &ri);
	if (ret) {
		cli_err_lib(c, ret, "region %" PRIu64, index);
		status = EXIT_FAIL;
		goto out;
	}
	if (!ri.size) {
		cli_err(c, "region %" PRIu64 " of %s is empty (size 0): nothing to %s",
			index, cli_esc(name), write_it ? "write" : "read");
		status = EXIT_FAIL;
		goto out;
	}
	if (offset >= ri.size) {
		cli_err(c, "offset 0x%" PRIx64 " is outside region %" PRIu64
			" (size 0x%" PRIx64 ")", offset, index, ri.size);
		status = EXIT_FAIL;
		goto out;
	}
	if (!(ri.flags & (write_it ? VFIOMIG_REGION_WRITE : VFIOMIG_REGION_READ))) {
		cli_err(c, "region %" PRIu64 " is not %s", index,
			write_it ? "writable" : "readable");
		status = EXIT_FAIL;
		goto out;
	}
	/* A read can have side effects (a UART's RX FIFO): after a write,
	 * read nothing back. */
	if (write_it) {
		b = (unsigned char)byte;
		ret = vfiomig_region_write(dev, (uint32_t)index, offset, &b, 1);
	} else {
		ret = vfiomig_region_read(dev, (uint32_t)index, offset, &rb, 1);
	}
	if (ret) {
		cli_err_lib(c, ret, "%s region %" PRIu64 " at offset 0x%" PRIx64,
			    write_it ? "write to" : "read of", index, offset);
		status = EXIT_FAIL;
		goto out;
	}
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", name);
		json_u64(&j, "region", index);
		json_u64(&j, "offset", offset);
		if (write_it)
			json_u64(&j, "written", byte);
		else
			json_null(&j, "written");
		if (write_it)
			json_null(&j, "value");
		else
			json_u64(&j, "value", rb);
		json_end(&j);
	} else if (write_it) {
		printf("wrote 0x%02x\n", (unsigned int)byte);
	} else {
		printf("0x%02x\n", rb);
	}
out:
	vfiomig_device_free(dev);
	return status;
}
