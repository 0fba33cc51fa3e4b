// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>
#include "vfiomig.h"
int main(void) { printf("%s\n", vfiomig_version(NULL, NULL, NULL)); return 0; }
