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

/* A string field of a header or section: where, how long, where in
 * struct stream_hdr, its name for messages. */
struct str_field {
	size_t off, size, field;
	const char *name;
};

static int get_strs(struct stream_hdr *h, const unsigned char *in,
		    const struct str_field *f, size_t n, const char *where,
		    char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		int r = get_str((char *)h + f[i].field, in + f[i].off, f[i].size);

		if (r) {
			/* Never quote the bytes: they may be an escape sequence. */
			if (r == -1)
				seterr(err, errlen, "unterminated %s string in %s",
				       f[i].name, where);
			else
				seterr(err, errlen,
				       "%s's %s string holds a byte that is not printable ASCII",
				       where, f[i].name);
			return -EBADMSG;
		}
	}
	return 0;
}

void stream_hdr_encode(const struct stream_hdr *h, unsigned char *out)
{
	memset(out, 0, STREAM_HDR_LEN);
	memcpy(out, STREAM_MAGIC, 8);
	put16(out + 8, STREAM_V1_MAJOR);
	put16(out + 10, 0);
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
	if (h->version_major != STREAM_V1_MAJOR) {
		seterr(err, errlen,
		       "stream format version %u.%u is not a 1.x header",
		       h->version_major, h->version_minor);
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
	static const struct str_field strs[] = {
		{ 64, 32, offsetof(struct stream_hdr, driver), "driver" },
		{ 96, 32, offsetof(struct stream_hdr, mdev_type), "mdev type" },
		{ 128, 64, offsetof(struct stream_hdr, device), "device" },
		{ 192, 16, offsetof(struct stream_hdr, lib_version), "library version" },
		{ 208, 16, offsetof(struct stream_hdr, tool_version), "tool version" },
	};
	return get_strs(h, in, strs, sizeof(strs) / sizeof(strs[0]),
			"the header", err, errlen);
}

void stream_hdr_clean(struct stream_hdr *h)
{
	clean_str(h->driver, sizeof(h->driver));
	clean_str(h->mdev_type, sizeof(h->mdev_type));
	clean_str(h->device, sizeof(h->device));
	clean_str(h->lib_version, sizeof(h->lib_version));
	clean_str(h->tool_version, sizeof(h->tool_version));
}


/* ------------------------------------------------------------ 2.0 */

#define TAG_SECT "SECT"

static void v2_hdr_encode(const struct stream_hdr *h, uint32_t ndev,
			  unsigned char *out)
{
	memset(out, 0, STREAM_HDR_LEN);
	memcpy(out, STREAM_MAGIC, 8);
	put16(out + 8, STREAM_VERSION_MAJOR);
	put16(out + 10, STREAM_VERSION_MINOR);
	put32(out + 12, STREAM_HDR_LEN);
	put32(out + 16, ndev);
	put64(out + 24, h->created);
	put_str(out + 32, 16, h->lib_version);
	put_str(out + 48, 16, h->tool_version);
	put32(out + STREAM_HDR_LEN - 4, crc32c(0, out, STREAM_HDR_LEN - 4));
}

static void sect_encode(const struct stream_hdr *h, uint32_t index,
			unsigned char *out)
{
	memset(out, 0, STREAM_SECT_LEN);
	memcpy(out, TAG_SECT, 4);
	put32(out + 4, index);
	put64(out + 8, h->mig_flags);
	put32(out + 16, h->kind);
	put16(out + 24, h->pci_vendor);
	put16(out + 26, h->pci_device);
	put16(out + 28, h->pci_subsystem_vendor);
	put16(out + 30, h->pci_subsystem_device);
	put32(out + 32, h->pci_class);
	put64(out + 40, h->data_size);
	put_str(out + 48, 32, h->driver);
	put_str(out + 80, 32, h->mdev_type);
	put_str(out + 112, 64, h->device);
	put32(out + STREAM_SECT_LEN - 4, crc32c(0, out, STREAM_SECT_LEN - 4));
}

/* A 2.0 header whose CRC matched: ndev and the file's fields into h. */
static int v2_hdr_decode(const unsigned char *in, struct stream_hdr *h,
			 uint32_t *ndev, char *err, size_t errlen)
{
	static const struct str_field strs[] = {
		{ 32, 16, offsetof(struct stream_hdr, lib_version), "library version" },
		{ 48, 16, offsetof(struct stream_hdr, tool_version), "tool version" },
	};
	uint32_t flags = get32(in + 20);

	*ndev = get32(in + 16);
	if (*ndev == 0 || *ndev > STREAM_MAX_DEVS) {
		seterr(err, errlen, "bad device count %" PRIu32 " (1..%u)", *ndev,
		       STREAM_MAX_DEVS);
		return -EBADMSG;
	}
	if (flags) {
		seterr(err, errlen, "unknown header flags 0x%" PRIx32, flags);
		return -EBADMSG;
	}
	h->created = get64(in + 24);
	return get_strs(h, in, strs, sizeof(strs) / sizeof(strs[0]),
			"the header", err, errlen);
}

/* Section `index`: the device's fields into h (the file's are there). */
static int sect_decode(const unsigned char *in, uint32_t index,
		       struct stream_hdr *h, char *err, size_t errlen)
{
	static const struct str_field strs[] = {
		{ 48, 32, offsetof(struct stream_hdr, driver), "driver" },
		{ 80, 32, offsetof(struct stream_hdr, mdev_type), "mdev type" },
		{ 112, 64, offsetof(struct stream_hdr, device), "device" },
	};
	uint32_t want = get32(in + STREAM_SECT_LEN - 4);
	uint32_t crc = crc32c(0, in, STREAM_SECT_LEN - 4);
	char where[32];

	if (memcmp(in, TAG_SECT, 4)) {
		seterr(err, errlen, "device section %" PRIu32 " missing", index);
		return -EBADMSG;
	}
	if (crc != want) {
		seterr(err, errlen,
		       "device section %" PRIu32 ": CRC mismatch (stored %08" PRIx32
		       ", computed %08" PRIx32 "): the file is damaged",
		       index, want, crc);
		return -EBADMSG;
	}
	if (get32(in + 4) != index) {
		seterr(err, errlen, "device section %" PRIu32 " says it is %" PRIu32,
		       index, get32(in + 4));
		return -EBADMSG;
	}
	h->mig_flags = get64(in + 8);
	h->kind = get32(in + 16);
	h->flags = get32(in + 20);
	h->pci_vendor = get16(in + 24);
	h->pci_device = get16(in + 26);
	h->pci_subsystem_vendor = get16(in + 28);
	h->pci_subsystem_device = get16(in + 30);
	h->pci_class = get32(in + 32);
	h->data_size = get64(in + 40);
	if (h->flags || get32(in + 36)) {
		seterr(err, errlen,
		       "device section %" PRIu32 ": unknown flags or reserved field not zero",
		       index);
		return -EBADMSG;
	}
	snprintf(where, sizeof(where), "device section %" PRIu32, index);
	return get_strs(h, in, strs, sizeof(strs) / sizeof(strs[0]), where,
			err, errlen);
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
	free(w->dev);
	w->buf = NULL;
	w->dev = NULL;
}

static int emit(struct stream_writer *w, const void *p, size_t n)
{
	int ret = w->write(w->arg, p, n);

	if (!ret)
		w->file_off += n;
	return ret;
}

int stream_write_header(struct stream_writer *w, const struct stream_hdr *devs,
			uint32_t ndev)
{
	size_t len = STREAM_HDR_LEN + (size_t)ndev * STREAM_SECT_LEN;
	unsigned char *b;
	int ret;

	if (!ndev || ndev > STREAM_MAX_DEVS || w->dev)
		return -EINVAL;
	w->dev = calloc(ndev, sizeof(*w->dev));
	b = malloc(len);
	if (!w->dev || !b) {
		free(b);
		return -ENOMEM;
	}
	w->ndev = ndev;
	v2_hdr_encode(&devs[0], ndev, b);
	for (uint32_t i = 0; i < ndev; i++)
		sect_encode(&devs[i], i, b + STREAM_HDR_LEN + i * STREAM_SECT_LEN);
	/* One write: a reader sees every device or none. */
	ret = emit(w, b, len);
	free(b);
	return ret;
}

int stream_flush(struct stream_writer *w)
{
	unsigned char rec[STREAM_REC_LEN] = { 0 };
	struct stream_count *d;
	int ret;

	if (!w->fill)
		return 0;
	d = &w->dev[w->cur];
	if (d->chunks == UINT32_MAX || w->nchunks == UINT32_MAX)
		return -EOVERFLOW;
	memcpy(rec, TAG_CHUNK, 4);
	put32(rec + 4, w->flags);
	put64(rec + 8, d->bytes);
	put32(rec + 16, (uint32_t)w->fill);
	put32(rec + 20, crc32c(0, w->buf, w->fill));
	put32(rec + 24, w->cur);
	put32(rec + 28, crc32c(0, rec, 28));
	ret = emit(w, rec, sizeof(rec));
	if (!ret)
		ret = emit(w, w->buf, w->fill);
	if (ret)
		return ret;
	d->crc = crc32c(d->crc, w->buf, w->fill);
	d->bytes += w->fill;
	d->chunks++;
	w->data_off += w->fill;
	w->nchunks++;
	w->fill = 0;
	return 0;
}

int stream_write_data(struct stream_writer *w, uint32_t dev, const void *p,
		      size_t n, uint32_t flags)
{
	const unsigned char *s = p;
	int ret;

	if ((flags & ~STREAM_CHUNK_PRECOPY) || dev >= w->ndev)
		return -EINVAL;
	if (w->fill && (flags != w->flags || dev != w->cur)) {
		ret = stream_flush(w);
		if (ret)
			return ret;
	}
	w->flags = flags;
	w->cur = dev;
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
	int ret = stream_flush(w);

	for (uint32_t i = 0; !ret && i < w->ndev; i++) {
		unsigned char rec[STREAM_REC_LEN] = { 0 };

		memcpy(rec, TAG_END, 4);
		put64(rec + 8, w->dev[i].bytes);
		put32(rec + 16, w->dev[i].chunks);
		put32(rec + 20, w->dev[i].crc);
		put32(rec + 24, i);
		put32(rec + 28, crc32c(0, rec, 28));
		ret = emit(w, rec, sizeof(rec));
	}
	return ret;
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
	free(r->hdr);
	free(r->dev);
	r->buf = NULL;
	r->hdr = NULL;
	r->dev = NULL;
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

/* The header's bytes (hdr_len of them, bounded before allocation) into
 * r->buf; 0 or an error. */
static int read_hdr_bytes(struct stream_reader *r, uint32_t *hdr_len)
{
	unsigned char fixed[16];
	uint16_t major;
	ssize_t n;
	int ret;

	n = read_full(r, fixed, sizeof(fixed));
	if (n < 0)
		return (int)n;
	if (n == 0)
		FAIL(r, "empty file: no stream header");
	if (n < 8 || memcmp(fixed, STREAM_MAGIC, 8) != 0)
		FAIL(r, "not a vfiomig-ctl stream file (bad magic)");
	if (n < (ssize_t)sizeof(fixed))
		FAIL(r, "truncated: file ends inside the header");
	major = get16(fixed + 8);
	if (major != STREAM_VERSION_MAJOR && major != STREAM_V1_MAJOR)
		FAIL(r, "stream format version %u.%u is not supported (this reads 1.x and %u.x)",
		     major, get16(fixed + 10), STREAM_VERSION_MAJOR);
	*hdr_len = get32(fixed + 12);
	if (*hdr_len < STREAM_HDR_LEN || *hdr_len > STREAM_HDR_MAX ||
	    *hdr_len % 4)
		FAIL(r, "bad header length %" PRIu32, *hdr_len);
	ret = reserve(r, *hdr_len);
	if (ret)
		return ret;
	memcpy(r->buf, fixed, sizeof(fixed));
	n = read_full(r, r->buf + sizeof(fixed), *hdr_len - sizeof(fixed));
	if (n < 0)
		return (int)n;
	if ((size_t)n < *hdr_len - sizeof(fixed))
		FAIL(r, "truncated: file ends inside the header (%zu of %" PRIu32
		     " bytes)", sizeof(fixed) + (size_t)n, *hdr_len);
	return 0;
}

static int alloc_devs(struct stream_reader *r, uint32_t ndev)
{
	r->hdr = calloc(ndev, sizeof(*r->hdr));
	r->dev = calloc(ndev, sizeof(*r->dev));
	if (!r->hdr || !r->dev) {
		seterr(r->err, sizeof(r->err), "out of memory");
		return -ENOMEM;
	}
	r->ndev = ndev;
	return 0;
}

/* 2.0: the header checked, then every section. */
static int read_v2(struct stream_reader *r, uint32_t hdr_len)
{
	struct stream_hdr file;
	uint32_t want = get32(r->buf + hdr_len - 4);
	uint32_t crc = crc32c(0, r->buf, hdr_len - 4);
	uint32_t ndev;
	int ret;

	if (crc != want)
		FAIL(r, "header CRC mismatch (stored %08" PRIx32
		     ", computed %08" PRIx32 "): the file is damaged", want, crc);
	/* Padding too: readers compare descriptions with memcmp(). */
	memset(&file, 0, sizeof(file));
	file.version_major = get16(r->buf + 8);
	file.version_minor = get16(r->buf + 10);
	file.hdr_len = hdr_len;
	ret = v2_hdr_decode(r->buf, &file, &ndev, r->err, sizeof(r->err));
	if (ret)
		return ret;
	ret = alloc_devs(r, ndev);
	if (ret)
		return ret;
	ret = reserve(r, STREAM_SECT_LEN);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < ndev; i++) {
		ssize_t n = read_full(r, r->buf, STREAM_SECT_LEN);

		if (n < 0)
			return (int)n;
		if (n < STREAM_SECT_LEN)
			FAIL(r, "truncated: the file ends in the description of device %" PRIu32
			     " of %" PRIu32, i, ndev);
		memcpy(&r->hdr[i], &file, sizeof(file));
		ret = sect_decode(r->buf, i, &r->hdr[i], r->err, sizeof(r->err));
		if (ret)
			return ret;
	}
	return 0;
}

int stream_read_header(struct stream_reader *r)
{
	uint32_t hdr_len = 0;
	int ret;

	if (r->have_hdr) {
		seterr(r->err, sizeof(r->err), "header already read");
		return -EINVAL;
	}
	ret = read_hdr_bytes(r, &hdr_len);
	if (ret)
		return ret;
	if (get16(r->buf + 8) == STREAM_VERSION_MAJOR) {
		ret = read_v2(r, hdr_len);
	} else {
		ret = alloc_devs(r, 1);
		if (!ret)
			ret = stream_hdr_decode(r->buf, hdr_len, &r->hdr[0],
						r->err, sizeof(r->err));
	}
	if (ret)
		return ret;
	r->have_hdr = true;
	return 0;
}

/* An END record (its CRC matched): the next device's, and it matches. */
static int read_end(struct stream_reader *r, const unsigned char *rec,
		    uint64_t at)
{
	uint32_t i = r->ends, dev = get32(rec + 24);
	const struct stream_count *d;
	unsigned char extra;
	ssize_t got;

	if (get32(rec + 4))
		FAIL(r, "end record at offset %" PRIu64 ": reserved fields not zero", at);
	if (dev != i)
		FAIL(r, "end record at offset %" PRIu64 " for device %" PRIu32
		     ", expected device %" PRIu32, at, dev, i);
	d = &r->dev[i];
	if (get64(rec + 8) != d->bytes)
		FAIL(r, "device %" PRIu32 ": end record: total length %" PRIu64
		     " but the chunks hold %" PRIu64 " bytes", i, get64(rec + 8),
		     d->bytes);
	if (get32(rec + 16) != d->chunks)
		FAIL(r, "device %" PRIu32 ": end record: %" PRIu32
		     " chunks announced, %" PRIu32 " found", i, get32(rec + 16),
		     d->chunks);
	if (get32(rec + 20) != d->crc)
		FAIL(r, "device %" PRIu32 ": end record: stream CRC mismatch (stored %08"
		     PRIx32 ", computed %08" PRIx32 ")", i, get32(rec + 20), d->crc);
	if (++r->ends < r->ndev)
		return 1;
	got = read_full(r, &extra, 1);
	if (got < 0)
		return (int)got;
	if (got)
		FAIL(r, "trailing data after the end record at offset %" PRIu64,
		     r->file_off - 1);
	r->done = true;
	return 0;
}

/* A CHUNK record (its CRC matched): checked, its payload read and
 * checked; 1, or an error. */
static int read_payload(struct stream_reader *r, const unsigned char *rec,
			uint64_t at, uint32_t *devp)
{
	uint32_t n = get32(rec + 16), fl = get32(rec + 4), dev = get32(rec + 24);
	uint32_t want, crc;
	struct stream_count *d;
	ssize_t got;
	int ret;

	if (r->ends)
		FAIL(r, "chunk at file offset %" PRIu64 " after an end record", at);
	if (fl & ~STREAM_CHUNK_PRECOPY)
		FAIL(r, "chunk %" PRIu32 ": unknown flags 0x%" PRIx32, r->nchunks, fl);
	if (dev >= r->ndev)
		FAIL(r, r->ndev == 1 ? "chunk %" PRIu32 ": reserved field not zero" :
		     "chunk %" PRIu32 ": for device %" PRIu32 " of a file of %" PRIu32,
		     r->nchunks, dev, r->ndev);
	if (n == 0 || n > STREAM_MAX_CHUNK)
		FAIL(r, "chunk %" PRIu32 ": bad length %" PRIu32, r->nchunks, n);
	d = &r->dev[dev];
	if (get64(rec + 8) != d->bytes)
		FAIL(r, "chunk %" PRIu32 ": stream offset %" PRIu64
		     ", expected %" PRIu64 " (a chunk is missing or out of order)",
		     r->nchunks, get64(rec + 8), d->bytes);
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
	d->crc = crc32c(d->crc, r->buf, n);
	d->bytes += n;
	d->chunks++;
	r->seq_crc = crc32c(r->seq_crc, rec, STREAM_REC_LEN);
	r->data_off += n;
	r->nchunks++;
	*devp = dev;
	return 1;
}

int stream_read_chunk(struct stream_reader *r, uint32_t *dev,
		      const void **data, size_t *len, uint32_t *flags)
{
	unsigned char rec[STREAM_REC_LEN];
	uint32_t want, crc, d = 0;
	int ret;

	if (!r->have_hdr || r->done) {
		seterr(r->err, sizeof(r->err), "no header read, or already at the end");
		return -EINVAL;
	}
	do {
		uint64_t at = r->file_off;
		ssize_t got = read_full(r, rec, sizeof(rec));

		if (got < 0)
			return (int)got;
		if (got == 0)
			FAIL(r, "truncated: the file ends after %" PRIu32
			     " chunks (%" PRIu64 " bytes of device data) without %s end record",
			     r->nchunks, r->data_off,
			     r->ndev > 1 ? "every device's" : "an");
		if (got < STREAM_REC_LEN)
			FAIL(r, "truncated: the file ends inside a record at offset %" PRIu64,
			     at);
		want = get32(rec + 28);
		crc = crc32c(0, rec, 28);
		if (crc != want)
			FAIL(r, "record %" PRIu32 " at file offset %" PRIu64
			     ": record CRC mismatch (stored %08" PRIx32
			     ", computed %08" PRIx32 "): the file is damaged",
			     r->nchunks + r->ends, at, want, crc);
		if (!memcmp(rec, TAG_END, 4))
			ret = read_end(r, rec, at);
		else if (!memcmp(rec, TAG_CHUNK, 4))
			ret = read_payload(r, rec, at, &d);
		else
			FAIL(r, "unknown record type at file offset %" PRIu64, at);
		/* read_end: 1 while more END records are due. */
	} while (ret == 1 && r->ends && !r->done);
	if (ret != 1)
		return ret;
	*dev = d;
	*data = r->buf;
	*len = get32(rec + 16);
	if (flags)
		*flags = get32(rec + 4);
	return 1;
}
