// SPDX-License-Identifier: GPL-2.0-or-later
/* Untrusted text made safe for a terminal (see term.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "term.h"

int utf8_len(const unsigned char *p)
{
	unsigned char c = p[0];
	uint32_t cp;
	int n;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

unsigned int utf8_cp(const unsigned char *p, int n)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned int cp = p[0] & lead_mask[n];

	for (int i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

int term_unsafe_cp(unsigned int cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return 1;
	/* Bidi embeddings, overrides, isolates and marks reorder what the
	 * reader sees ("Trojan Source"). */
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

char *term_escape(const char *s, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	size_t o = 0, cut = 0;

	while (*p) {
		char piece[17];
		size_t k = 0;
		int n = utf8_len(p);
		bool plain = n > 0;

		if (plain && term_unsafe_cp(utf8_cp(p, n)))
			plain = false;
		if (!n)
			n = 1; /* one invalid byte at a time */
		if (*p == '\\') {
			memcpy(piece, "\\\\", 2);
			k = 2;
		} else if (plain) {
			memcpy(piece, p, (size_t)n);
			k = (size_t)n;
		} else {
			for (int i = 0; i < n; i++, k += 4)
				snprintf(piece + k, 5, "\\x%02x", p[i]);
		}
		/* The last piece boundary that leaves room for "...". */
		if (o + 4 <= size)
			cut = o;
		if (o + k + 1 > size) {
			memcpy(buf + cut, "...", 4);
			return buf;
		}
		memcpy(buf + o, piece, k);
		o += k;
		p += n;
	}
	buf[o] = 0;
	return buf;
}
