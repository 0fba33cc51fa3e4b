/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the library exports: built with -fvisibility=hidden, each public
 * function is marked at its definition.  Its own header so that the pure
 * rooms (bitmap.h) need not include internal.h. */
#ifndef VFIOMIG_EXPORT_H
#define VFIOMIG_EXPORT_H

#define VFIOMIG_EXPORT __attribute__((visibility("default")))

#endif
