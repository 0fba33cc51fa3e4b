/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Text from outside the tool (a stream file's header, sysfs names, the
 * library's messages that quote them) made safe for a terminal.  A
 * hostile string must not move the cursor, retitle the window or hide
 * what follows: every byte a terminal could act on is shown as \xHH.
 * Self-contained (libc only): the unit tests link it alone.
 */
#ifndef VFM_TERM_H
#define VFM_TERM_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid.  p must
 * be NUL-terminated (a NUL ends a sequence as invalid). */
int utf8_len(const unsigned char *p);
/* The code point of the valid sequence of n bytes at p. */
unsigned int utf8_cp(const unsigned char *p, int n);
/* True for the code points a terminal may act on (C0, DEL, C1) and the
 * Unicode bidi controls that reorder what the reader sees. */
int term_unsafe_cp(unsigned int cp);

/*
 * Copies s into buf (size >= 8), always NUL-terminated, with each byte of
 * an unsafe code point (term_unsafe_cp(); C1 also as raw bytes) and of
 * invalid UTF-8 written as \xHH, and a backslash as \\, so that the
 * escape is unambiguous.  What does not fit ends in "...".  NULL
 * reads "(null)".  Returns buf.
 */
char *term_escape(const char *s, char *buf, size_t size);

#endif
