// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kernel-facing cases (being moved here from tests/test-*.c): written once,
 * run on the fake (kt-fake) and on the real kernel in the VM (kt-real).
 */
#include "kenv.h"

Suite *kcase_session_suite(void)
{
	Suite *s = suite_create("kcase-session");
	TCase *tc = tcase_create("session");

	tcase_add_checked_fixture(tc, kenv_setup, kenv_teardown);
	suite_add_tcase(s, tc);
	return s;
}
