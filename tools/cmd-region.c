// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl region: read or write one byte of a device region (debug). */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "cli.h"

const char usage_region[] =
	"region DEVICE INDEX OFFSET [BYTE] [--json]\n"
	"\n"
	"For driver developers: read (or, with BYTE, write) one byte of region\n"
	"INDEX of DEVICE at OFFSET, with a 1-byte pread/pwrite on the device fd\n"
	"at (INDEX << 40) + OFFSET, the region layout of vfio-pci and of the\n"
	"mdev samples (VFIO_PCI_INDEX_TO_OFFSET).  Prints the byte read; a\n"
	"write reads nothing back (reads can have side effects).\n"
	"\n"
	"Nothing is refused: the bytes go to the driver as they are.  Know\n"
	"the driver.  In particular mtty (samples/vfio-mdev) indexes its ports\n"
	"by region and must never be accessed at regions 2-5 (a kernel\n"
	"out-of-bounds access); its BAR0 (0) and BAR1 (1, mtty-2 only) are\n"
	"8-byte 16550 UARTs: offset 7 is the scratch register (SCR).\n"
	"\n"
	"  --json        machine-readable output\n"
	"  --iommu PATH  open through auto (default), iommufd or type1\n"
	"  -v            show the library's log\n";

#define REGION_SHIFT 40

int cmd_region(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTS, CLI_JSON_OPT, CLI_IOMMU_OPT, CLI_END_OPT,
	};
	struct vfiomig_device *dev;
	uint64_t index, offset, byte = 0;
	unsigned char b, rb;
	bool write_it;
	int opt, ret, fd, status = EXIT_OK;
	off_t pos;
	ssize_t n;

	while ((opt = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		ret = cli_common_opt(c, opt, optarg);
		if (ret == -1)
			return cli_usage(c, "unexpected option");
		if (ret != -2)
			return ret;
	}
	if (argc - optind < 3 || argc - optind > 4)
		return cli_usage(c, "expected DEVICE INDEX OFFSET [BYTE]");
	if (cli_parse_u64(argv[optind + 1], &index) || index > 0xffff)
		return cli_usage(c, "bad region index '%s'", argv[optind + 1]);
	if (cli_parse_u64(argv[optind + 2], &offset) ||
	    offset >= (1ull << REGION_SHIFT))
		return cli_usage(c, "bad offset '%s'", argv[optind + 2]);
	write_it = argc - optind == 4;
	if (write_it && (cli_parse_u64(argv[optind + 3], &byte) || byte > 0xff))
		return cli_usage(c, "bad byte '%s' (0..255, 0x.. for hex)",
				 argv[optind + 3]);
	pos = (off_t)(index << REGION_SHIFT | offset);

	if (cli_open(c, argv[optind], &dev))
		return EXIT_FAIL;
	fd = vfiomig_device_fd(dev);
	if (fd < 0) {
		cli_err_lib(c, fd, "no device fd");
		status = EXIT_FAIL;
		goto out;
	}
	if (write_it) {
		b = (unsigned char)byte;
		n = pwrite(fd, &b, 1, pos);
		if (n != 1) {
			cli_err(c, "pwrite(region %" PRIu64 ", offset 0x%" PRIx64 "): %s",
				index, offset, n < 0 ? cli_strerror(-errno) : "short write");
			status = EXIT_FAIL;
			goto out;
		}
	}
	/* A read can have side effects (a UART's RX FIFO): after a write,
	 * read nothing back. */
	if (write_it)
		rb = b;
	else
		n = pread(fd, &rb, 1, pos);
	if (!write_it && n != 1) {
		cli_err(c, "pread(region %" PRIu64 ", offset 0x%" PRIx64 "): %s",
			index, offset, n < 0 ? cli_strerror(-errno) : "short read");
		status = EXIT_FAIL;
		goto out;
	}
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_begin_obj(&j, NULL);
		json_str(&j, "device", argv[optind]);
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
