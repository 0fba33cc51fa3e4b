// SPDX-License-Identifier: LGPL-2.1-or-later
#include "kenv.h"

Suite *kcase_device_suite(void)
{
	Suite *s = suite_create("device");

	return s;
}
