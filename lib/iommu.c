// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real implementation. */
#include "internal.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

