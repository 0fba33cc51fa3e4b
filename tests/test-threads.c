// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Nothing left: every thread case runs on both kernels in
 * tests/kcase-threads.c (kt-fake, under ThreadSanitizer too, and kt-real),
 * precopy over many rounds on programmable devices (kenv_gen_add) among
 * them.  This program stays an empty suite until the build drops it.
 */
#include <stdlib.h>
#include <check.h>

int main(void)
{
	Suite *s = suite_create("threads");
	SRunner *sr;
	int failed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
