// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kenv.h"

Suite *kcase_mig_suite(void)
{
	Suite *s = suite_create("mig");

	return s;
}
