// SPDX-License-Identifier: LGPL-2.1-or-later
/* Runner of the kernel-facing cases (fake or real kernel, per kenv). */
#include <stdlib.h>

#include "kenv.h"

int main(void)
{
	SRunner *sr = srunner_create(kcase_device_suite());
	int failed;

	srunner_add_suite(sr, kcase_mig_suite());
	srunner_add_suite(sr, kcase_dirty_suite());
	srunner_add_suite(sr, kcase_devset_suite());
	srunner_add_suite(sr, kcase_region_suite());
	srunner_add_suite(sr, kcase_dma_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
