// SPDX-License-Identifier: GPL-2.0-or-later
/* vfiomig-ctl's pure parts: CRC-32C vectors, the JSON writer's escaping,
 * the stream format (round trip of one device and of a set; every flipped
 * byte and every truncation of a file refused; the framing of a set;
 * 0.1's format 1.0 still read; control bytes in header strings refused),
 * terminal
 * escaping of untrusted text, closed standard fds, the output file that
 * replaces its target only when complete. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crc32c.h"
#include "json.h"
#include "outfile.h"
#include "stream.h"
#include "term.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

/* C1 controls (CSI is U+009B) and bidi overrides are valid JSON, but a
 * terminal showing the output would act on them. */
static void doc_c1(struct json *j)
{
	json_begin_obj(j, NULL);
	json_str(j, "c1", "a\xc2\x9b""2Jb\xe2\x80\xae""c");
	json_end(j);
}

START_TEST(json_escapes_c1_and_bidi)
{
	char *s = json_out(doc_c1);

	ck_assert_str_eq(s, "{\n  \"c1\": \"a\\u009b2Jb\\u202ec\"\n}\n");
	free(s);
}
END_TEST

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

/* A file of ndev devices, each with precopy and stop-copy data in small
 * chunks, written interleaved (a set saved round by round).  Device i's
 * data is d + i * (pre + stop). */
static struct mem make_set_file(uint32_t ndev, size_t pre, size_t stop,
				size_t chunk, unsigned char **data)
{
	struct mem m = { 0 };
	struct stream_writer w;
	struct stream_hdr h[4] = { 0 };
	size_t per = pre + stop;
	unsigned char *d = malloc(ndev * per + 1);

	ck_assert_uint_le(ndev, 4);
	fill(d, ndev * per, 42);
	for (uint32_t i = 0; i < ndev; i++) {
		h[i].kind = STREAM_KIND_MDEV;
		h[i].mig_flags = 7;
		strcpy(h[i].driver, "mtty");
		strcpy(h[i].mdev_type, "mtty-2");
		snprintf(h[i].device, sizeof(h[i].device),
			 "83b8f4f2-509f-382f-3c1e-e6bfe0fa100%u", 2 + i);
		strcpy(h[i].lib_version, "0.2.0");
	}
	ck_assert_int_eq(stream_writer_init(&w, mem_write, &m, chunk), 0);
	ck_assert_int_eq(stream_write_header(&w, h, ndev), 0);
	/* Odd pieces, to cross chunk boundaries, each device in turn. */
	for (size_t i = 0; i < pre; i += 7)
		for (uint32_t k = 0; k < ndev; k++)
			ck_assert_int_eq(stream_write_data(&w, k, d + k * per + i,
							   pre - i < 7 ? pre - i : 7,
							   STREAM_CHUNK_PRECOPY), 0);
	for (uint32_t k = 0; k < ndev; k++)
		for (size_t i = 0; i < stop; i += 13)
			ck_assert_int_eq(stream_write_data(&w, k, d + k * per + pre + i,
							   stop - i < 13 ? stop - i : 13, 0), 0);
	ck_assert_int_eq(stream_write_end(&w), 0);
	ck_assert_uint_eq(w.file_off, m.len);
	stream_writer_free(&w);
	*data = d;
	return m;
}

static struct mem make_file(size_t pre, size_t stop, size_t chunk,
			    unsigned char **data)
{
	return make_set_file(1, pre, stop, chunk, data);
}

/* Parses m; returns 0 and each device's data at out + dev * per (out
 * may be NULL), or the error.  *outlen: bytes of all devices; h: device
 * 0's description; *ndev (may be NULL): the file's device count. */
static int parse_set(struct mem *m, unsigned char *out, size_t per,
		     size_t *outlen, struct stream_hdr *h, uint32_t *ndev,
		     char *err)
{
	struct stream_reader r;
	size_t fill_of[STREAM_MAX_DEVS] = { 0 };
	int ret;

	m->pos = 0;
	*outlen = 0;
	stream_reader_init(&r, mem_read, m);
	ret = stream_read_header(&r);
	if (!ret) {
		*h = r.hdr[0];
		if (ndev)
			*ndev = r.ndev;
	}
	while (!ret) {
		const void *p;
		uint32_t dev, fl;
		size_t n;

		ret = stream_read_chunk(&r, &dev, &p, &n, &fl);
		if (ret == 1) {
			ck_assert_uint_lt(dev, r.ndev);
			if (out)
				memcpy(out + dev * per + fill_of[dev], p, n);
			fill_of[dev] += n;
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

static int parse(struct mem *m, unsigned char *out, size_t *outlen,
		 struct stream_hdr *h, char *err)
{
	return parse_set(m, out, 0, outlen, h, NULL, err);
}

START_TEST(stream_round_trip)
{
	unsigned char *d, out[600];
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_file(24, 500, 64, &d);

	/* 256 header + 256 section + 1 precopy chunk + 8 stop-copy chunks
	 * (64 each), 32-byte records, 32-byte end. */
	ck_assert_uint_eq(m.len, 256 + 256 + 32 + 24 + 8 * 32 + 500 + 32);
	ck_assert_int_eq(parse(&m, out, &n, &h, err), 0);
	ck_assert_uint_eq(n, 524);
	ck_assert_mem_eq(out, d, 524);
	ck_assert_str_eq(h.driver, "mtty");
	ck_assert_str_eq(h.mdev_type, "mtty-2");
	ck_assert_str_eq(h.lib_version, "0.2.0");
	ck_assert_uint_eq(h.kind, STREAM_KIND_MDEV);
	ck_assert_uint_eq(h.mig_flags, 7);
	ck_assert_uint_eq(h.version_major, 2);
	/* Reading in 1-byte pieces changes nothing. */
	m.max_read = 1;
	ck_assert_int_eq(parse(&m, out, &n, &h, err), 0);
	ck_assert_uint_eq(n, 524);
	free(m.p);
	free(d);
}
END_TEST

/* Three devices, chunks interleaved: each device's stream comes back
 * whole and in order, whatever the read size. */
START_TEST(stream_set_round_trip)
{
	unsigned char *d, out[3 * 230];
	struct stream_hdr h;
	uint32_t ndev;
	size_t n;
	char err[256];
	struct mem m = make_set_file(3, 30, 200, 50, &d);

	for (size_t piece = 0; piece < 40; piece += 13) {
		m.max_read = piece;
		memset(out, 0, sizeof(out));
		ck_assert_int_eq(parse_set(&m, out, 230, &n, &h, &ndev, err), 0);
		ck_assert_uint_eq(ndev, 3);
		ck_assert_uint_eq(n, 3 * 230);
		ck_assert_mem_eq(out, d, 3 * 230);
	}
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

	ck_assert_uint_eq(m.len, 256 + 256 + 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, NULL), 0);
	ck_assert_uint_eq(n, 0);
	free(m.p);
	free(d);
}
END_TEST

static void flips_refused(struct mem *m)
{
	struct stream_hdr h;
	size_t n;
	char err[256];

	for (size_t i = 0; i < m->len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			m->p[i] ^= (unsigned char)(1u << bit);
			ck_assert_msg(parse_set(m, NULL, 0, &n, &h, NULL, err) == -EBADMSG,
				      "flip of bit %d at %zu accepted", bit, i);
			ck_assert(err[0]);
			m->p[i] ^= (unsigned char)(1u << bit);
		}
	}
	ck_assert_int_eq(parse_set(m, NULL, 0, &n, &h, NULL, NULL), 0);
}

START_TEST(stream_every_flip_refused)
{
	unsigned char *d;
	struct mem m = make_file(24, 200, 50, &d);

	flips_refused(&m);
	free(m.p);
	free(d);
	m = make_set_file(2, 10, 60, 32, &d);
	flips_refused(&m);
	free(m.p);
	free(d);
}
END_TEST

static void truncations_refused(struct mem *m)
{
	struct stream_hdr h;
	size_t n, full = m->len;
	char err[256];

	for (size_t len = 0; len < full; len++) {
		m->len = len;
		ck_assert_msg(parse_set(m, NULL, 0, &n, &h, NULL, err) == -EBADMSG,
			      "truncation to %zu accepted", len);
	}
	/* The last one's message says so. */
	ck_assert_ptr_nonnull(strstr(err, "truncated"));
	m->len = full;
	ck_assert_int_eq(parse_set(m, NULL, 0, &n, &h, NULL, NULL), 0);
}

START_TEST(stream_every_truncation_refused)
{
	unsigned char *d;
	struct mem m = make_file(24, 200, 50, &d);

	truncations_refused(&m);
	free(m.p);
	free(d);
	m = make_set_file(3, 10, 40, 32, &d);
	truncations_refused(&m);
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
	m.p[8] = 3;
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	m.p[8] = 2;
	/* Not a stream at all. */
	memcpy(m.p, "GARBAGE!", 8);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "magic"));
	free(m.p);
	free(d);
}
END_TEST

static void put32le(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The CRC of the record (32 bytes) or header/section (256) at p. */
static void fix_crc(unsigned char *p, size_t len)
{
	put32le(p + len - 4, crc32c(0, p, len - 4));
}

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
	fix_crc(rec, 32);
	mem_write(&m, rec, 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "bad length"));
	free(m.p);
	free(d);
}
END_TEST

/* What only a file with valid CRCs can show: every rule of the framing
 * of a set, each refused with its reason. */
START_TEST(stream_set_framing_refused)
{
	/* 2 devices, one 10-byte chunk each: header, 2 sections, chunk of
	 * device 0 at 768, of device 1 at 810, END 0 at 852, END 1 at 884. */
	unsigned char *d;
	struct stream_hdr h;
	size_t n;
	char err[256];
	struct mem m = make_set_file(2, 0, 10, 0, &d), orig = m;

	ck_assert_uint_eq(m.len, 916);
	orig.p = malloc(m.len);
	memcpy(orig.p, m.p, m.len);
	/* Device counts: 0, and more than STREAM_MAX_DEVS. */
	put32le(m.p + 16, 0);
	fix_crc(m.p, 256);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "device count"));
	put32le(m.p + 16, STREAM_MAX_DEVS + 1);
	fix_crc(m.p, 256);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "device count"));
	/* Three announced, two described: the third section is a chunk. */
	put32le(m.p + 16, 3);
	fix_crc(m.p, 256);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	memcpy(m.p, orig.p, m.len);
	/* A section that says it is another one. */
	put32le(m.p + 512 + 4, 0);
	fix_crc(m.p + 512, 256);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "section 1 says"));
	memcpy(m.p, orig.p, m.len);
	/* A chunk of a device the file does not have. */
	put32le(m.p + 810 + 24, 2);
	fix_crc(m.p + 810, 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "for device 2"));
	memcpy(m.p, orig.p, m.len);
	/* Device 1's chunk said to be device 0's: device 0's offsets break. */
	put32le(m.p + 810 + 24, 0);
	fix_crc(m.p + 810, 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "out of order"));
	memcpy(m.p, orig.p, m.len);
	/* The ENDs in the wrong order. */
	put32le(m.p + 852 + 24, 1);
	fix_crc(m.p + 852, 32);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "expected device 0"));
	memcpy(m.p, orig.p, m.len);
	/* A chunk after an END: device 1's chunk moved behind END 0. */
	memcpy(m.p + 810, orig.p + 852, 32);
	memcpy(m.p + 842, orig.p + 810, 42);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "after an end record"));
	memcpy(m.p, orig.p, m.len);
	ck_assert_int_eq(parse(&m, NULL, &n, &h, err), 0);
	free(orig.p);
	free(m.p);
	free(d);
}
END_TEST

/* Version 1.0 (vfiomig-ctl 0.1): the one-device header and the same
 * records; still read.  Made from a 2.0 file: the header replaced by
 * 0.1's, the section dropped. */
START_TEST(stream_v1_read)
{
	unsigned char *d, out[300], v1[STREAM_HDR_LEN];
	struct stream_hdr h = { 0 }, back;
	struct mem m = make_file(24, 200, 50, &d), old = { 0 };
	uint32_t ndev;
	size_t n;
	char err[256];

	h.kind = STREAM_KIND_PCI;
	h.pci_vendor = 0x15b3;
	h.mig_flags = 7;
	strcpy(h.driver, "mlx5_vfio_pci");
	strcpy(h.device, "0000:3b:00.1");
	strcpy(h.lib_version, "0.1.0");
	stream_hdr_encode(&h, v1);
	ck_assert_uint_eq(v1[8], 1);
	mem_write(&old, v1, sizeof(v1));
	mem_write(&old, m.p + 512, m.len - 512);
	ck_assert_int_eq(parse_set(&old, out, 0, &n, &back, &ndev, err), 0);
	ck_assert_uint_eq(ndev, 1);
	ck_assert_uint_eq(n, 224);
	ck_assert_mem_eq(out, d, 224);
	ck_assert_uint_eq(back.version_major, 1);
	ck_assert_str_eq(back.driver, "mlx5_vfio_pci");
	ck_assert_uint_eq(back.pci_vendor, 0x15b3);
	ck_assert_str_eq(back.lib_version, "0.1.0");
	/* 1.0 has no device field: its reserved bytes stay 0. */
	put32le(old.p + 256 + 24, 1);
	fix_crc(old.p + 256, 32);
	ck_assert_int_eq(parse(&old, NULL, &n, &back, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "reserved field not zero"));
	free(old.p);
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

/* A header whose string field at off holds bad, with a valid CRC. */
static void hdr_with_string(unsigned char *b, size_t off, const char *bad)
{
	struct stream_hdr h = { 0 };
	uint32_t c;

	strcpy(h.driver, "mtty");
	stream_hdr_encode(&h, b);
	memcpy(b + off, bad, strlen(bad));
	c = crc32c(0, b, STREAM_HDR_LEN - 4);
	for (int i = 0; i < 4; i++)
		b[STREAM_HDR_LEN - 4 + i] = (unsigned char)(c >> (8 * i));
}

START_TEST(stream_hdr_strings_printable)
{
	/* driver, mdev type, device, library and tool versions */
	static const size_t offs[] = { 64, 96, 128, 192, 208 };
	static const char *const bad[] = { "\x1b]0;x\x07", "a\nb", "\x7f", "\xc2\x9b", "\xe2\x80\xae" };
	unsigned char b[STREAM_HDR_LEN];
	struct stream_hdr h;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			hdr_with_string(b, offs[i], bad[k]);
			err[0] = 0;
			ck_assert_int_eq(stream_hdr_decode(b, sizeof(b), &h, err, sizeof(err)),
					 -EBADMSG);
			ck_assert_ptr_nonnull(strstr(err, "not printable ASCII"));
			/* The message never carries the bytes. */
			for (const char *p = err; *p; p++)
				ck_assert(*p >= 0x20 && *p < 0x7f);
		}
	hdr_with_string(b, 64, "mlx5_vfio_pci ~!");
	ck_assert_int_eq(stream_hdr_decode(b, sizeof(b), &h, err, sizeof(err)), 0);
	ck_assert_str_eq(h.driver, "mlx5_vfio_pci ~!");
}
END_TEST

/* What a writer is given, it writes as '?': its own files always parse. */
START_TEST(stream_hdr_encode_cleans)
{
	struct stream_hdr h = { 0 }, back;
	unsigned char b[STREAM_HDR_LEN];
	char err[128];

	strcpy(h.driver, "m\x1b[2Jtty");
	strcpy(h.device, "dev\xc3\xa9");
	stream_hdr_encode(&h, b);
	ck_assert_int_eq(stream_hdr_decode(b, sizeof(b), &back, err, sizeof(err)), 0);
	ck_assert_str_eq(back.driver, "m?[2Jtty");
	ck_assert_str_eq(back.device, "dev??");
	stream_hdr_clean(&h);
	ck_assert_str_eq(h.driver, back.driver);
	ck_assert_str_eq(h.device, back.device);
}
END_TEST

/* ------------------------------------------------------------ terminal */

static const char *esc(const char *s)
{
	static char buf[256];

	return term_escape(s, buf, sizeof(buf));
}

START_TEST(term_escape_controls)
{
	ck_assert_str_eq(esc("mtty-2 0000:3b:00.1"), "mtty-2 0000:3b:00.1");
	ck_assert_str_eq(esc("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
	ck_assert_str_eq(esc("\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");
	ck_assert_str_eq(esc("a\nb\tc\rd\x7f"), "a\\x0ab\\x09c\\x0dd\\x7f");
	/* C1 as a raw byte (CSI 0x9b) and as UTF-8 (U+009B). */
	ck_assert_str_eq(esc("\x9b" "2J"), "\\x9b2J");
	ck_assert_str_eq(esc("\xc2\x9b" "2J"), "\\xc2\\x9b2J");
	/* A right-to-left override hides what follows. */
	ck_assert_str_eq(esc("a\xe2\x80\xae" "b"), "a\\xe2\\x80\\xaeb");
	/* Invalid UTF-8: overlong, surrogate, truncated. */
	ck_assert_str_eq(esc("\xc0\xaf\xed\xa0\x80\xe2\x82"),
			 "\\xc0\\xaf\\xed\\xa0\\x80\\xe2\\x82");
	/* A backslash doubles: "\x1b" in a name cannot pose as an escape. */
	ck_assert_str_eq(esc("\\x1b"), "\\\\x1b");
	ck_assert_str_eq(esc(NULL), "(null)");
	ck_assert_str_eq(esc(""), "");
}
END_TEST

START_TEST(term_escape_truncates)
{
	char buf[8];

	ck_assert_str_eq(term_escape("abcdefg", buf, sizeof(buf)), "abcdefg");
	ck_assert_str_eq(term_escape("abcdefgh", buf, sizeof(buf)), "abcd...");
	/* Never half an escape. */
	ck_assert_str_eq(term_escape("ab\x1b" "cdefgh", buf, sizeof(buf)), "ab...");
	ck_assert_str_eq(term_escape("\xe2\x82\xac\xe2\x82\xac", buf, sizeof(buf)),
			 "\xe2\x82\xac\xe2\x82\xac");
	ck_assert_str_eq(term_escape("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", buf,
				     sizeof(buf)), "\xe2\x82\xac...");
	/* Every output byte is printable or part of valid UTF-8 text. */
	for (int c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, out[16];

		term_escape(in, out, sizeof(out));
		for (const unsigned char *p = (const unsigned char *)out; *p; p++)
			ck_assert_msg(*p >= 0x20 && *p != 0x7f, "byte %#x passed", c);
	}
}
END_TEST

/* ------------------------------------------------------------ std fds */

/* In a child (the test runner needs its own fds): close the fds in mask,
 * call std_fds_ensure(path), report through the exit status. */
static int std_fds_child(unsigned int mask, const char *path)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned int closed = 99;
		int ret;

		for (int fd = 0; fd <= 2; fd++)
			if (mask & (1u << fd))
				close(fd);
		ret = std_fds_ensure(path, &closed);
		if (ret)
			_exit(ret == -ENOENT ? 100 : 101);
		if (closed != mask)
			_exit(102);
		for (int fd = 0; fd <= 2; fd++)
			if (fcntl(fd, F_GETFD) < 0)
				_exit(103 + fd);
		/* The next open lands past 2. */
		ret = open("/dev/null", O_RDONLY | O_CLOEXEC);
		_exit(ret > 2 ? 0 : 110);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(std_fds_reopened)
{
	for (unsigned int mask = 0; mask < 8; mask++)
		ck_assert_int_eq(std_fds_child(mask, "/dev/null"), 0);
	/* No /dev/null: an error, for the tool to exit on. */
	ck_assert_int_eq(std_fds_child(2, "/nonexistent/null"), 100);
	ck_assert_int_eq(std_fds_child(0, "/nonexistent/null"), 0);
}
END_TEST

/* ------------------------------------------------------------ outfile */

static char dir[64];

static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/cli-units.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *in_dir(const char *name)
{
	static char buf[4][128];
	static int n;
	char *b = buf[n++ % 4];

	snprintf(b, 128, "%s/%s", dir, name);
	return b;
}

/* Entries of dir, as " a b c" (sorted), to see no temporary is left. */
static const char *dir_list(void)
{
	static char out[512];
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			strcat(out, " ");
			strcat(out, ents[i]->d_name);
		}
		free(ents[i]);
	}
	free(ents);
	return out;
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static const char *get_file(const char *path)
{
	static char buf[128];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return "(none)";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* Writes text through an outfile to name; returns outfile_open's or
 * outfile_commit's error. */
static int save_text(const char *name, bool force, const char *text)
{
	struct outfile o;
	char err[256];
	bool renamed;
	int ret = outfile_open(&o, in_dir(name), force, err, sizeof(err));

	if (ret)
		return ret;
	ck_assert_int_eq(write(o.fd, text, strlen(text)), (ssize_t)strlen(text));
	ret = outfile_commit(&o, &renamed, err, sizeof(err));
	ck_assert(renamed == !ret);
	outfile_abort(&o);
	return ret;
}

START_TEST(outfile_new_and_replace)
{
	struct stat st;
	mode_t old = umask(0);

	ck_assert_int_eq(save_text("a", false, "one"), 0);
	umask(old);
	ck_assert_str_eq(get_file(in_dir("a")), "one");
	ck_assert_int_eq(stat(in_dir("a"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* Without force an existing file is refused and kept. */
	ck_assert_int_eq(save_text("a", false, "two"), -EEXIST);
	ck_assert_str_eq(get_file(in_dir("a")), "one");
	ck_assert_int_eq(save_text("a", true, "two"), 0);
	ck_assert_str_eq(get_file(in_dir("a")), "two");
	/* A symbolic link is replaced, never followed. */
	put_file(in_dir("target"), "precious");
	ck_assert_int_eq(symlink("target", in_dir("link")), 0);
	ck_assert_int_eq(save_text("link", false, "x"), -EEXIST);
	ck_assert_int_eq(save_text("link", true, "new"), 0);
	ck_assert_int_eq(lstat(in_dir("link"), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_str_eq(get_file(in_dir("target")), "precious");
	ck_assert_str_eq(get_file(in_dir("link")), "new");
	/* A dangling link too. */
	ck_assert_int_eq(symlink("nowhere", in_dir("dangling")), 0);
	ck_assert_int_eq(save_text("dangling", true, "d"), 0);
	ck_assert_str_eq(dir_list(), " a dangling link target");
}
END_TEST

START_TEST(outfile_refuses_special_files)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;

	ck_assert_int_eq(mkfifo(in_dir("fifo"), 0600), 0);
	ck_assert_int_ge(s, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", in_dir("sock"));
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	ck_assert_int_eq(mkdir(in_dir("sub"), 0700), 0);
	ck_assert_int_eq(save_text("fifo", true, "x"), -EPERM);
	ck_assert_int_eq(save_text("sock", true, "x"), -EPERM);
	ck_assert_int_eq(save_text("sub", true, "x"), -EISDIR);
	ck_assert_int_eq(save_text("sub/", false, "x"), -EISDIR);
	ck_assert_int_eq(save_text("fifo", false, "x"), -EEXIST);
	/* Still what they were, and nothing else in the directory. */
	ck_assert_int_eq(lstat(in_dir("fifo"), &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_int_eq(lstat(in_dir("sock"), &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_str_eq(dir_list(), " fifo sock sub");
}
END_TEST

START_TEST(outfile_abort_leaves_nothing)
{
	struct outfile o;
	char err[256];
	bool renamed;

	put_file(in_dir("t"), "old");
	/* A failure midway (ENOSPC, a signal, a device error): the target
	 * as it was, no temporary. */
	ck_assert_int_eq(outfile_open(&o, in_dir("t"), true, err, sizeof(err)), 0);
	ck_assert_int_eq(write(o.fd, "partial", 7), 7);
	/* The temporary: hidden, beside the target. */
	ck_assert_int_eq(strncmp(dir_list(), " .t.", 4), 0);
	ck_assert(outfile_abort(&o));
	ck_assert_str_eq(get_file(in_dir("t")), "old");
	ck_assert_str_eq(dir_list(), " t");
	/* A target that appears while the data is written is not replaced
	 * without force. */
	ck_assert_int_eq(outfile_open(&o, in_dir("late"), false, err, sizeof(err)), 0);
	put_file(in_dir("late"), "theirs");
	ck_assert_int_eq(outfile_commit(&o, &renamed, err, sizeof(err)), -EEXIST);
	ck_assert(!renamed);
	ck_assert(outfile_abort(&o));
	ck_assert_str_eq(get_file(in_dir("late")), "theirs");
	/* ... nor with force when it is no longer a regular file. */
	ck_assert_int_eq(outfile_open(&o, in_dir("late"), true, err, sizeof(err)), 0);
	ck_assert_int_eq(unlink(in_dir("late")), 0);
	ck_assert_int_eq(mkfifo(in_dir("late"), 0600), 0);
	ck_assert_int_eq(outfile_commit(&o, &renamed, err, sizeof(err)), -EPERM);
	ck_assert(outfile_abort(&o));
	ck_assert_str_eq(dir_list(), " late t");
	/* A directory it cannot write: refused before anything exists. */
	ck_assert_int_eq(outfile_open(&o, "/proc/vfiomig-out", false, err, sizeof(err)) < 0, 1);
	ck_assert(!outfile_abort(&o));
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
	tcase_add_test(t, json_escapes_c1_and_bidi);
	suite_add_tcase(s, t);
	t = tcase_create("stream");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, stream_round_trip);
	tcase_add_test(t, stream_set_round_trip);
	tcase_add_test(t, stream_set_framing_refused);
	tcase_add_test(t, stream_v1_read);
	tcase_add_test(t, stream_empty_data);
	tcase_add_test(t, stream_every_flip_refused);
	tcase_add_test(t, stream_every_truncation_refused);
	tcase_add_test(t, stream_trailing_and_foreign);
	tcase_add_test(t, stream_length_bounded);
	tcase_add_test(t, stream_hdr_strings_bounded);
	tcase_add_test(t, stream_hdr_strings_printable);
	tcase_add_test(t, stream_hdr_encode_cleans);
	suite_add_tcase(s, t);
	t = tcase_create("term");
	tcase_add_test(t, term_escape_controls);
	tcase_add_test(t, term_escape_truncates);
	suite_add_tcase(s, t);
	t = tcase_create("std-fds");
	tcase_add_test(t, std_fds_reopened);
	suite_add_tcase(s, t);
	t = tcase_create("outfile");
	tcase_add_checked_fixture(t, dir_setup, dir_teardown);
	tcase_add_test(t, outfile_new_and_replace);
	tcase_add_test(t, outfile_refuses_special_files);
	tcase_add_test(t, outfile_abort_leaves_nothing);
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
