// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl's pure parts: CRC-32C vectors, the JSON writer's escaping,
 * the stream format (round trip; every flipped byte and every truncation
 * of a file refused). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "json.h"
#include "stream.h"

/* ------------------------------------------------------------ CRC-32C */

START_TEST(crc_vectors)
{
	unsigned char buf[48];

	/* The check value, and RFC 3720 B.4's iSCSI test vectors. */
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	memset(buf, 0, 32);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, 32);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)(31 - i);
	ck_assert_uint_eq(crc32c(0, buf, 32), 0x113fdb5c);
	static const unsigned char iscsi_read[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
		0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	ck_assert_uint_eq(crc32c(0, iscsi_read, 48), 0xd9963a56);
}
END_TEST

START_TEST(crc_streaming)
{
	unsigned char buf[1000];
	uint32_t whole;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	whole = crc32c(0, buf, sizeof(buf));
	/* Any split, any alignment: same CRC as one call. */
	for (size_t k = 0; k <= 40; k++) {
		uint32_t c = crc32c(0, buf, k);

		c = crc32c(c, buf + k, sizeof(buf) - k);
		ck_assert_uint_eq(c, whole);
	}
}
END_TEST

/* ------------------------------------------------------------ JSON */

static char *json_out(void (*fn)(struct json *))
{
	char *p = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&p, &n);
	struct json j;

	json_init(&j, f);
	fn(&j);
	fclose(f);
	return p;
}

static void doc_escapes(struct json *j)
{
	json_begin_obj(j, NULL);
	json_str(j, "q", "a\"b\\c\nd\te\x01\x7f");
	json_str(j, "utf8", "caf\xc3\xa9 \xe2\x82\xac");
	json_str(j, "bad", "x\xff\xc3(y\xed\xa0\x80z");
	json_str(j, "null", NULL);
	json_u64(j, "big", UINT64_MAX);
	json_i64(j, "neg", -5);
	json_bool(j, "t", true);
	json_begin_arr(j, "empty");
	json_end(j);
	json_begin_arr(j, "a");
	json_u64(j, NULL, 1);
	json_begin_obj(j, NULL);
	json_end(j);
	json_end(j);
	json_end(j);
}

START_TEST(json_escaping)
{
	char *s = json_out(doc_escapes);

	ck_assert_str_eq(s,
		"{\n"
		"  \"q\": \"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\",\n"
		"  \"utf8\": \"caf\xc3\xa9 \xe2\x82\xac\",\n"
		"  \"bad\": \"x\\ufffd\\ufffd(y\\ufffd\\ufffd\\ufffdz\",\n"
		"  \"null\": null,\n"
		"  \"big\": 18446744073709551615,\n"
		"  \"neg\": -5,\n"
		"  \"t\": true,\n"
		"  \"empty\": [],\n"
		"  \"a\": [\n"
		"    1,\n"
		"    {}\n"
		"  ]\n"
		"}\n");
	free(s);
}
END_TEST

/* ------------------------------------------------------------ stream */

struct mem {
	unsigned char *p;
	size_t len, cap, pos;
	size_t max_read; /* read in pieces of at most this */
};

static int mem_write(void *arg, const void *buf, size_t len)
{
	struct mem *m = arg;

	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		ck_assert_ptr_nonnull(m->p);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
	struct mem *m = arg;
	size_t n = m->len - m->pos;

	if (n > len)
		n = len;
	if (m->max_read && n > m->max_read)
		n = m->max_read;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* A file with precopy and stop-copy data in small chunks. */
static struct mem make_file(size_t pre, size_t stop, size_t chunk,
			    unsigned char **data)
{
	struct mem m = { 0 };
	struct stream_writer w;
	struct stream_hdr h = { 0 };
	unsigned char *d = malloc(pre + stop + 1);

	fill(d, pre + stop, 42);
	h.kind = STREAM_KIND_MDEV;
	h.mig_flags = 7;
	strcpy(h.driver, "mtty");
	strcpy(h.mdev_type, "mtty-2");
	strcpy(h.device, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002");
	ck_assert_int_eq(stream_writer_init(&w, mem_write, &m, chunk), 0);
	ck_assert_int_eq(stream_write_header(&w, &h), 0);
	/* Odd pieces, to cross chunk boundaries. */
	for (size_t i = 0; i < pre; i += 7)
		ck_assert_int_eq(stream_write_data(&w, d + i, pre - i < 7 ? pre - i : 7,
						   STREAM_CHUNK_PRECOPY), 0);
	for (size_t i = 0; i < stop; i += 13)
		ck_assert_int_eq(stream_write_data(&w, d + pre + i,
						   stop - i < 13 ? stop - i : 13, 0), 0);
	ck_assert_int_eq(stream_write_end(&w), 0);
	ck_assert_uint_eq(w.file_off, m.len);
	stream_writer_free(&w);
	*data = d;
	return m;
}

/* Parses m; returns 0 and the data, or the error. */
static int parse(struct mem *m, unsigned char *out, size_t *outlen,
		 struct stream_hdr *h, char *err)
{
	struct stream_reader r;
	int ret;

	m->pos = 0;
	*outlen = 0;
	stream_reader_init(&r, mem_read, m);
	ret = stream_read_header(&r, h);
	while (!ret) {
		const void *p;
		size_t n;
		uint32_t fl;

		ret = stream_read_chunk(&r, &p, &n, &fl);
		if (ret == 1) {
			if (out)
				memcpy(out + *outlen, p, n);
			*outlen += n;
			ret = 0;
		} else if (ret == 0) {
			break;
		}
	}
	if (ret && err)
		snprintf(err, 256, "%s", r.err);
	stream_reader_free(&r);
	return ret;
}

START_TEST(stream_round_trip)
{
	unsigned char *d, out[600];
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_file(24, 500, 64, &d);

	/* 256 header + 1 precopy chunk + 8 stop-copy chunks (64 each),
	 * 32-byte records, 32-byte end. */
	ck_assert_uint_eq(m.len, 256 + 32 + 24 + 8 * 32 + 500 + 32);
	ck_assert_int_eq(parse(&m, out, &n, &h, err), 0);
	ck_assert_uint_eq(n, 524);
	ck_assert_mem_eq(out, d, 524);
	ck_assert_str_eq(h.driver, "mtty");
	ck_assert_str_eq(h.mdev_type, "mtty-2");
	ck_assert_uint_eq(h.kind, STREAM_KIND_MDEV);
	ck_assert_uint_eq(h.mig_flags, 7);
	/* Reading in 1-byte pieces changes nothing. */
	m.max_read = 1;
	ck_assert_int_eq(parse(&m, out, &n, &h, err), 0);
	ck_assert_uint_eq(n, 524);
	free(m.p);
	free(d);
}
END_TEST

START_TEST(stream_empty_data)
{
	unsigned char *d;
	struct stream_hdr h;
	size_t n;
	struct mem m = make_file(0, 0, 0, &d);

	ck_assert_uint_eq(m.len, 256 + 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, NULL), 0);
	ck_assert_uint_eq(n, 0);
	free(m.p);
	free(d);
}
END_TEST

START_TEST(stream_every_flip_refused)
{
	unsigned char *d;
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_file(24, 200, 50, &d);

	for (size_t i = 0; i < m.len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			m.p[i] ^= (unsigned char)(1u << bit);
			ck_assert_msg(parse(&m, NULL, &n, &h, err) == -EBADMSG,
				      "flip of bit %d at %zu accepted", bit, i);
			ck_assert(err[0]);
			m.p[i] ^= (unsigned char)(1u << bit);
		}
	}
	ck_assert_int_eq(parse(&m, NULL, &n, &h, NULL), 0);
	free(m.p);
	free(d);
}
END_TEST

START_TEST(stream_every_truncation_refused)
{
	unsigned char *d;
	struct stream_hdr h;
	size_t n, full;
	char err[256];
	struct mem m = make_file(24, 200, 50, &d);

	full = m.len;
	for (size_t len = 0; len < full; len++) {
		m.len = len;
		ck_assert_msg(parse(&m, NULL, &n, &h, err) == -EBADMSG,
			      "truncation to %zu accepted", len);
	}
	/* The last one's message says so. */
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	m.len = full;
	ck_assert_int_eq(parse(&m, NULL, &n, &h, NULL), 0);
	free(m.p);
	free(d);
}
END_TEST

START_TEST(stream_trailing_and_foreign)
{
	unsigned char *d;
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_file(0, 10, 0, &d);

	mem_write(&m, "x", 1);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "trailing"));
	m.len--;
	/* Another major version. */
	m.p[8] = 2;
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	m.p[8] = 1;
	/* Not a stream at all. */
	memcpy(m.p, "GARBAGE!", 8);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "magic"));
	free(m.p);
	free(d);
}
END_TEST

/* A record header with a valid CRC but a huge length is refused before
 * any allocation. */
START_TEST(stream_length_bounded)
{
	unsigned char *d, rec[32] = "CHNK";
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_file(0, 0, 0, &d);

	m.len -= 32; /* drop END */
	rec[16] = 0xff; rec[17] = 0xff; rec[18] = 0xff; rec[19] = 0x7f;
	uint32_t c = crc32c(0, rec, 28);
	for (int i = 0; i < 4; i++)
		rec[28 + i] = (unsigned char)(c >> (8 * i));
	mem_write(&m, rec, 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "bad length"));
	free(m.p);
	free(d);
}
END_TEST

START_TEST(stream_hdr_strings_bounded)
{
	struct stream_hdr h = { 0 }, back;
	unsigned char b[STREAM_HDR_LEN];
	char err[128];

	memset(h.driver, 'd', sizeof(h.driver) - 1);
	memset(h.device, 'n', sizeof(h.device) - 1);
	stream_hdr_encode(&h, b);
	ck_assert_int_eq(stream_hdr_decode(b, sizeof(b), &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.driver, h.driver);
	ck_assert_str_eq(back.device, h.device);
	ck_assert_uint_eq(back.hdr_len, STREAM_HDR_LEN);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cli-units");
	TCase *t = tcase_create("crc32c");

	tcase_add_test(t, crc_vectors);
	tcase_add_test(t, crc_streaming);
	suite_add_tcase(s, t);
	t = tcase_create("json");
	tcase_add_test(t, json_escaping);
	suite_add_tcase(s, t);
	t = tcase_create("stream");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, stream_round_trip);
	tcase_add_test(t, stream_empty_data);
	tcase_add_test(t, stream_every_flip_refused);
	tcase_add_test(t, stream_every_truncation_refused);
	tcase_add_test(t, stream_trailing_and_foreign);
	tcase_add_test(t, stream_length_bounded);
	tcase_add_test(t, stream_hdr_strings_bounded);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
