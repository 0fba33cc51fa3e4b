/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny streaming JSON writer: objects, arrays, strings (escaped, invalid
 * UTF-8 replaced by U+FFFD), integers, booleans, null.  Output is
 * indented, two spaces per level, and ends with a newline.
 *
 *   struct json j; json_init(&j, stdout);
 *   json_begin_obj(&j, NULL);
 *   json_str(&j, "name", "mtty");
 *   json_begin_arr(&j, "ports"); json_u64(&j, NULL, 1); json_end(&j);
 *   json_end(&j);
 *
 * key is NULL inside arrays and for the top-level value.
 */
#ifndef VFM_JSON_H
#define VFM_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH + 1];
	char close[JSON_MAX_DEPTH + 1];
};

void json_init(struct json *j, FILE *f);
void json_begin_obj(struct json *j, const char *key);
void json_begin_arr(struct json *j, const char *key);
void json_end(struct json *j);
/* s NULL writes null. */
void json_str(struct json *j, const char *key, const char *s);
void json_strf(struct json *j, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* Writes s as a JSON string literal (with quotes) to f. */
void json_write_string(FILE *f, const char *s);

#endif
