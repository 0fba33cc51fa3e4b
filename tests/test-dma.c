// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Nothing left: every case of IOMMU contexts and DMA mappings runs on both
 * kernels in tests/kcase-dma.c (kt-fake, and kt-real in the VM): mtty, the
 * iommufd mock and programmable devices (the pages a device writes while
 * it logs, a driver changing its logging page size on a live device:
 * gen_follow_dmalog_broken) in the usual VM; the vfio-pci function's Type1
 * IOVA ranges and whole-mapping reports in its test case "pci" (the VM of
 * run-vm.sh --pci).  This program stays an empty suite until the build
 * drops it.
 */
#include <stdlib.h>
#include <check.h>

int main(void)
{
	Suite *s = suite_create("dma");
	SRunner *sr;
	int failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
