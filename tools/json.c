// SPDX-License-Identifier: GPL-2.0-or-later
/* Tiny JSON writer (see json.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "term.h"

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

static void indent(struct json *j)
{
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Separator, newline, indentation and "key": before a value. */
static void prefix(struct json *j, const char *key)
{
	if (j->depth > 0) {
		fputs(j->first[j->depth] ? "\n" : ",\n", j->f);
		indent(j);
	}
	j->first[j->depth] = false;
	if (key && j->depth > 0 && j->close[j->depth] == '}') {
		json_write_string(j->f, key);
		fputs(": ", j->f);
	}
}

void json_write_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		int n;

		switch (*p) {
		case '"':
			fputs("\\\"", f);
			p++;
			continue;
		case '\\':
			fputs("\\\\", f);
			p++;
			continue;
		case '\n':
			fputs("\\n", f);
			p++;
			continue;
		case '\r':
			fputs("\\r", f);
			p++;
			continue;
		case '\t':
			fputs("\\t", f);
			p++;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_len(p);
		if (!n) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		/* C1 controls and bidi controls, valid JSON either way, are
		 * escaped: JSON is read on terminals too. */
		if (term_unsafe_cp(utf8_cp(p, n))) {
			fprintf(f, "\\u%04x", utf8_cp(p, n));
			p += n;
			continue;
		}
		fwrite(p, 1, (size_t)n, f);
		p += n;
	}
	fputc('"', f);
}

static void begin(struct json *j, const char *key, char open, char close)
{
	prefix(j, key);
	fputc(open, j->f);
	if (j->depth < JSON_MAX_DEPTH)
		j->depth++;
	else
		abort(); /* a programming error in the tool */
	j->first[j->depth] = true;
	j->close[j->depth] = close;
}

void json_begin_obj(struct json *j, const char *key)
{
	begin(j, key, '{', '}');
}

void json_begin_arr(struct json *j, const char *key)
{
	begin(j, key, '[', ']');
}

void json_end(struct json *j)
{
	char c = j->close[j->depth];
	bool empty = j->first[j->depth];

	if (j->depth == 0)
		abort();
	j->depth--;
	if (!empty) {
		fputc('\n', j->f);
		indent(j);
	}
	fputc(c, j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *s)
{
	prefix(j, key);
	if (s)
		json_write_string(j->f, s);
	else
		fputs("null", j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_strf(struct json *j, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	json_str(j, key, n < 0 ? NULL : s);
	free(s);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	prefix(j, key);
	fprintf(j->f, "%" PRIu64, v);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	prefix(j, key);
	fprintf(j->f, "%" PRId64, v);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_bool(struct json *j, const char *key, bool v)
{
	prefix(j, key);
	fputs(v ? "true" : "false", j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_null(struct json *j, const char *key)
{
	prefix(j, key);
	fputs("null", j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}
