// SPDX-License-Identifier: GPL-2.0-or-later
/* The vfiomig-ctl stream file format (see stream.h for the layout).
 * Self-contained (libc only) so that fuzz/fuzz-stream.c can build it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "stream.h"

#define TAG_CHUNK "CHNK"
#define TAG_END "DONE"

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Header strings are names and versions: printable ASCII only, so that
 * no file can put a control sequence on a terminal that shows it. */
static bool printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

static void clean_str(char *s, size_t size)
{
	for (size_t i = 0; i < size && s[i]; i++)
		if (!printable((unsigned char)s[i]))
			s[i] = '?';
}

static void put_str(unsigned char *p, size_t size, const char *s)
{
	size_t n = strnlen(s, size - 1);

	memset(p, 0, size);
	memcpy(p, s, n);
	clean_str((char *)p, n);
}

/* Copies a NUL-padded field; refuses one without a NUL (-1) or with a
 * byte that is not printable ASCII before it (-2). */
static int get_str(char *dst, const unsigned char *p, size_t size)
{
	const unsigned char *end = memchr(p, 0, size);

	if (!end)
		return -1;
	for (const unsigned char *q = p; q < end; q++)
		if (!printable(*q))
			return -2;
	memcpy(dst, p, size);
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void stream_hdr_encode(const struct stream_hdr *h, unsigned char *out)
{
	memset(out, 0, STREAM_HDR_LEN);
	memcpy(out, STREAM_MAGIC, 8);
	put16(out + 8, STREAM_VERSION_MAJOR);
	put16(out + 10, STREAM_VERSION_MINOR);
	put32(out + 12, STREAM_HDR_LEN);
	put64(out + 16, h->mig_flags);
	put32(out + 24, h->kind);
	put32(out + 28, 0);
	put16(out + 32, h->pci_vendor);
	put16(out + 34, h->pci_device);
	put16(out + 36, h->pci_subsystem_vendor);
	put16(out + 38, h->pci_subsystem_device);
	put32(out + 40, h->pci_class);
	put64(out + 48, h->data_size);
	put64(out + 56, h->created);
	put_str(out + 64, 32, h->driver);
	put_str(out + 96, 32, h->mdev_type);
	put_str(out + 128, 64, h->device);
	put_str(out + 192, 16, h->lib_version);
	put_str(out + 208, 16, h->tool_version);
	put32(out + STREAM_HDR_LEN - 4, crc32c(0, out, STREAM_HDR_LEN - 4));
}

int stream_hdr_decode(const unsigned char *in, size_t len,
		      struct stream_hdr *h, char *err, size_t errlen)
{
	uint32_t hdr_len, crc, want;

	memset(h, 0, sizeof(*h));
	if (len < 16 || memcmp(in, STREAM_MAGIC, 8) != 0) {
		seterr(err, errlen, "not a vfiomig-ctl stream file (bad magic)");
		return -EBADMSG;
	}
	h->version_major = get16(in + 8);
	h->version_minor = get16(in + 10);
	if (h->version_major != STREAM_VERSION_MAJOR) {
		seterr(err, errlen,
		       "stream format version %u.%u is not supported (this is %u.%u)",
		       h->version_major, h->version_minor,
		       STREAM_VERSION_MAJOR, STREAM_VERSION_MINOR);
		return -EBADMSG;
	}
	hdr_len = get32(in + 12);
	if (hdr_len < STREAM_HDR_LEN || hdr_len > STREAM_HDR_MAX ||
	    hdr_len % 4) {
		seterr(err, errlen, "bad header length %" PRIu32, hdr_len);
		return -EBADMSG;
	}
	if (len < hdr_len) {
		seterr(err, errlen,
		       "truncated: file ends inside the header (%zu of %" PRIu32
		       " bytes)", len, hdr_len);
		return -EBADMSG;
	}
	want = get32(in + hdr_len - 4);
	crc = crc32c(0, in, hdr_len - 4);
	if (crc != want) {
		seterr(err, errlen,
		       "header CRC mismatch (stored %08" PRIx32
		       ", computed %08" PRIx32 "): the file is damaged",
		       want, crc);
		return -EBADMSG;
	}
	h->hdr_len = hdr_len;
	h->mig_flags = get64(in + 16);
	h->kind = get32(in + 24);
	h->flags = get32(in + 28);
	h->pci_vendor = get16(in + 32);
	h->pci_device = get16(in + 34);
	h->pci_subsystem_vendor = get16(in + 36);
	h->pci_subsystem_device = get16(in + 38);
	h->pci_class = get32(in + 40);
	h->data_size = get64(in + 48);
	h->created = get64(in + 56);
	if (h->flags) {
		seterr(err, errlen, "unknown header flags 0x%" PRIx32,
		       h->flags);
		return -EBADMSG;
	}
	static const struct {
		size_t off, size, field;
		const char *name;
	} strs[] = {
		{ 64, 32, offsetof(struct stream_hdr, driver), "driver" },
		{ 96, 32, offsetof(struct stream_hdr, mdev_type), "mdev type" },
		{ 128, 64, offsetof(struct stream_hdr, device), "device" },
		{ 192, 16, offsetof(struct stream_hdr, lib_version), "library version" },
		{ 208, 16, offsetof(struct stream_hdr, tool_version), "tool version" },
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		int r = get_str((char *)h + strs[i].field, in + strs[i].off,
				strs[i].size);

		if (r) {
			/* Never quote the bytes: they may be an escape sequence. */
			seterr(err, errlen, r == -1 ?
			       "unterminated %s string in the header" :
			       "the header's %s string holds a byte that is not printable ASCII",
			       strs[i].name);
			return -EBADMSG;
		}
	}
	return 0;
}

void stream_hdr_clean(struct stream_hdr *h)
{
	clean_str(h->driver, sizeof(h->driver));
	clean_str(h->mdev_type, sizeof(h->mdev_type));
	clean_str(h->device, sizeof(h->device));
	clean_str(h->lib_version, sizeof(h->lib_version));
	clean_str(h->tool_version, sizeof(h->tool_version));
}

/* ------------------------------------------------------------ writer */

int stream_writer_init(struct stream_writer *w, stream_write_fn write,
		       void *arg, size_t chunk_size)
{
	memset(w, 0, sizeof(*w));
	if (!chunk_size)
		chunk_size = STREAM_DEFAULT_CHUNK;
	if (chunk_size > STREAM_MAX_CHUNK)
		return -EINVAL;
	w->buf = malloc(chunk_size);
	if (!w->buf)
		return -ENOMEM;
	w->cap = chunk_size;
	w->write = write;
	w->arg = arg;
	return 0;
}

void stream_writer_free(struct stream_writer *w)
{
	free(w->buf);
	w->buf = NULL;
}

static int emit(struct stream_writer *w, const void *p, size_t n)
{
	int ret = w->write(w->arg, p, n);

	if (!ret)
		w->file_off += n;
	return ret;
}

int stream_write_header(struct stream_writer *w, const struct stream_hdr *h)
{
	unsigned char b[STREAM_HDR_LEN];

	stream_hdr_encode(h, b);
	return emit(w, b, sizeof(b));
}

int stream_flush(struct stream_writer *w)
{
	unsigned char rec[STREAM_REC_LEN] = { 0 };
	int ret;

	if (!w->fill)
		return 0;
	if (w->nchunks == UINT32_MAX)
		return -EOVERFLOW;
	memcpy(rec, TAG_CHUNK, 4);
	put32(rec + 4, w->flags);
	put64(rec + 8, w->data_off);
	put32(rec + 16, (uint32_t)w->fill);
	put32(rec + 20, crc32c(0, w->buf, w->fill));
	put32(rec + 28, crc32c(0, rec, 28));
	ret = emit(w, rec, sizeof(rec));
	if (!ret)
		ret = emit(w, w->buf, w->fill);
	if (ret)
		return ret;
	w->crc = crc32c(w->crc, w->buf, w->fill);
	w->data_off += w->fill;
	w->nchunks++;
	w->fill = 0;
	return 0;
}

int stream_write_data(struct stream_writer *w, const void *p, size_t n,
		      uint32_t flags)
{
	const unsigned char *s = p;
	int ret;

	if (flags & ~STREAM_CHUNK_PRECOPY)
		return -EINVAL;
	if (w->fill && flags != w->flags) {
		ret = stream_flush(w);
		if (ret)
			return ret;
	}
	w->flags = flags;
	while (n) {
		size_t k = w->cap - w->fill;

		if (k > n)
			k = n;
		memcpy(w->buf + w->fill, s, k);
		w->fill += k;
		s += k;
		n -= k;
		if (w->fill == w->cap) {
			ret = stream_flush(w);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int stream_write_end(struct stream_writer *w)
{
	unsigned char rec[STREAM_REC_LEN] = { 0 };
	int ret = stream_flush(w);

	if (ret)
		return ret;
	memcpy(rec, TAG_END, 4);
	put64(rec + 8, w->data_off);
	put32(rec + 16, w->nchunks);
	put32(rec + 20, w->crc);
	put32(rec + 28, crc32c(0, rec, 28));
	return emit(w, rec, sizeof(rec));
}

/* ------------------------------------------------------------ reader */

void stream_reader_init(struct stream_reader *r, stream_read_fn read,
			void *arg)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->arg = arg;
}

void stream_reader_free(struct stream_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

#define FAIL(r, ...)                                                           \
	do {                                                                   \
		seterr((r)->err, sizeof((r)->err), __VA_ARGS__);               \
		return -EBADMSG;                                               \
	} while (0)

/* Reads exactly n bytes: n on success, fewer at end of file, or -errno. */
static ssize_t read_full(struct stream_reader *r, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = r->read(r->arg, (char *)buf + got, n - got);

		if (k < 0) {
			seterr(r->err, sizeof(r->err), "read error: %s",
			       strerror((int)-k));
			return k;
		}
		if (k == 0)
			break;
		if ((size_t)k > n - got) /* a broken read fn */
			return -EIO;
		got += (size_t)k;
	}
	r->file_off += got;
	return (ssize_t)got;
}

static int reserve(struct stream_reader *r, size_t n)
{
	unsigned char *p;

	if (n <= r->cap)
		return 0;
	p = realloc(r->buf, n);
	if (!p) {
		seterr(r->err, sizeof(r->err), "out of memory");
		return -ENOMEM;
	}
	r->buf = p;
	r->cap = n;
	return 0;
}

int stream_read_header(struct stream_reader *r, struct stream_hdr *h)
{
	unsigned char fixed[16];
	uint32_t hdr_len;
	ssize_t n;
	int ret;

	if (r->have_hdr) {
		seterr(r->err, sizeof(r->err), "header already read");
		return -EINVAL;
	}
	n = read_full(r, fixed, sizeof(fixed));
	if (n < 0)
		return (int)n;
	if (n == 0)
		FAIL(r, "empty file: no stream header");
	if (n < 8 || memcmp(fixed, STREAM_MAGIC, 8) != 0)
		FAIL(r, "not a vfiomig-ctl stream file (bad magic)");
	if (n < (ssize_t)sizeof(fixed))
		FAIL(r, "truncated: file ends inside the header");
	hdr_len = get32(fixed + 12);
	/* Bounded before allocation; decode repeats the checks. */
	if (get16(fixed + 8) == STREAM_VERSION_MAJOR &&
	    (hdr_len < STREAM_HDR_LEN || hdr_len > STREAM_HDR_MAX ||
	     hdr_len % 4))
		FAIL(r, "bad header length %" PRIu32, hdr_len);
	if (get16(fixed + 8) != STREAM_VERSION_MAJOR)
		hdr_len = sizeof(fixed);
	ret = reserve(r, hdr_len);
	if (ret)
		return ret;
	memcpy(r->buf, fixed, sizeof(fixed));
	n = read_full(r, r->buf + sizeof(fixed), hdr_len - sizeof(fixed));
	if (n < 0)
		return (int)n;
	ret = stream_hdr_decode(r->buf, sizeof(fixed) + (size_t)n, h, r->err,
				sizeof(r->err));
	if (ret)
		return ret;
	r->have_hdr = true;
	return 0;
}

int stream_read_chunk(struct stream_reader *r, const void **data,
		      size_t *len, uint32_t *flags)
{
	unsigned char rec[STREAM_REC_LEN];
	uint64_t at = r->file_off;
	uint32_t want, crc, n, fl;
	ssize_t got;
	int ret;

	if (!r->have_hdr || r->done) {
		seterr(r->err, sizeof(r->err), "no header read, or already at the end");
		return -EINVAL;
	}
	got = read_full(r, rec, sizeof(rec));
	if (got < 0)
		return (int)got;
	if (got == 0)
		FAIL(r, "truncated: the file ends after %" PRIu32
		     " chunks (%" PRIu64 " bytes of device data) without an end record",
		     r->nchunks, r->data_off);
	if (got < STREAM_REC_LEN)
		FAIL(r, "truncated: the file ends inside a record at offset %" PRIu64,
		     at);
	want = get32(rec + 28);
	crc = crc32c(0, rec, 28);
	if (crc != want)
		FAIL(r, "record %" PRIu32 " at file offset %" PRIu64
		     ": record CRC mismatch (stored %08" PRIx32
		     ", computed %08" PRIx32 "): the file is damaged",
		     r->nchunks, at, want, crc);
	fl = get32(rec + 4);
	if (!memcmp(rec, TAG_END, 4)) {
		unsigned char extra;

		if (fl || get32(rec + 24))
			FAIL(r, "end record at offset %" PRIu64
			     ": reserved fields not zero", at);
		if (get64(rec + 8) != r->data_off)
			FAIL(r, "end record: total length %" PRIu64
			     " but the chunks hold %" PRIu64 " bytes",
			     get64(rec + 8), r->data_off);
		if (get32(rec + 16) != r->nchunks)
			FAIL(r, "end record: %" PRIu32 " chunks announced, %" PRIu32
			     " found", get32(rec + 16), r->nchunks);
		if (get32(rec + 20) != r->crc)
			FAIL(r, "end record: stream CRC mismatch (stored %08" PRIx32
			     ", computed %08" PRIx32 ")", get32(rec + 20), r->crc);
		got = read_full(r, &extra, 1);
		if (got < 0)
			return (int)got;
		if (got)
			FAIL(r, "trailing data after the end record at offset %" PRIu64,
			     r->file_off - 1);
		r->done = true;
		return 0;
	}
	if (memcmp(rec, TAG_CHUNK, 4) != 0)
		FAIL(r, "unknown record type at file offset %" PRIu64, at);
	n = get32(rec + 16);
	if (fl & ~STREAM_CHUNK_PRECOPY)
		FAIL(r, "chunk %" PRIu32 ": unknown flags 0x%" PRIx32,
		     r->nchunks, fl);
	if (get32(rec + 24))
		FAIL(r, "chunk %" PRIu32 ": reserved field not zero", r->nchunks);
	if (n == 0 || n > STREAM_MAX_CHUNK)
		FAIL(r, "chunk %" PRIu32 ": bad length %" PRIu32, r->nchunks, n);
	if (get64(rec + 8) != r->data_off)
		FAIL(r, "chunk %" PRIu32 ": stream offset %" PRIu64
		     ", expected %" PRIu64 " (a chunk is missing or out of order)",
		     r->nchunks, get64(rec + 8), r->data_off);
	if (r->nchunks == UINT32_MAX)
		FAIL(r, "too many chunks");
	ret = reserve(r, n);
	if (ret)
		return ret;
	got = read_full(r, r->buf, n);
	if (got < 0)
		return (int)got;
	if ((uint32_t)got < n)
		FAIL(r, "truncated: the file ends inside chunk %" PRIu32
		     " (%zd of %" PRIu32 " bytes)", r->nchunks, got, n);
	want = get32(rec + 20);
	crc = crc32c(0, r->buf, n);
	if (crc != want)
		FAIL(r, "chunk %" PRIu32 " at file offset %" PRIu64
		     ": data CRC mismatch (stored %08" PRIx32
		     ", computed %08" PRIx32 "): the file is damaged",
		     r->nchunks, at, want, crc);
	r->crc = crc32c(r->crc, r->buf, n);
	r->data_off += n;
	r->nchunks++;
	*data = r->buf;
	*len = n;
	if (flags)
		*flags = fl;
	return 1;
}
