// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The exported copies of the functions include/vfiomig.h defines inline.
 *
 * A caller compiled against this header runs its own inlined copy; the
 * exported symbol serves binaries built against 0.1, where the function was
 * out of line, and callers through an FFI, which cannot inline a C header.
 * Here VFIOMIG_INLINE turns the header's definitions into external ones, so
 * this file must include vfiomig.h before anything else does.
 */
#include "export.h"
#define VFIOMIG_INLINE VFIOMIG_EXPORT
#include "vfiomig.h"
