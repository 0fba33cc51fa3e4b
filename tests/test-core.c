// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdlib.h>
#include <check.h>

#include "vfiomig.h"

START_TEST(version)
{
	unsigned int a, b, c;

	ck_assert_str_eq(vfiomig_version(&a, &b, &c), PACKAGE_VERSION);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("version");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, version);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
