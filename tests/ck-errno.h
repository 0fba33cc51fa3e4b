/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Check assertions on a raw syscall's result, for the cases that speak
 * the uAPI without the library (kcase-uapi.c on both kernels, test-fake.c
 * on the fake): the expression is evaluated once, errno cleared before it
 * and read right after, so a message names what the kernel said.
 */
#ifndef CK_ERRNO_H
#define CK_ERRNO_H

#include <errno.h>
#include <string.h>
#include <check.h>

/* Expect a -1 return with errno e. */
#define ck_errno(expr, e)                                                     \
	do {                                                                  \
		errno = 0;                                                    \
		long r_ = (long)(expr);                                       \
		int e_ = errno;                                               \
		ck_assert_msg(r_ == -1 && e_ == (e),                          \
			      "%s: returned %ld errno %d (%s), want %d (%s)",  \
			      #expr, r_, e_, strerror(e_), (e), strerror(e)); \
	} while (0)

/* Expect a return >= 0. */
#define ck_ok(expr)                                                           \
	do {                                                                  \
		errno = 0;                                                    \
		long r_ = (long)(expr);                                       \
		ck_assert_msg(r_ >= 0, "%s: returned %ld errno %d (%s)",      \
			      #expr, r_, errno, strerror(errno));            \
	} while (0)

#endif
