// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vfiomig-ctl stream file parser (tools/stream.c).
 *
 * Input: one byte that picks the read size (1..255 bytes per read, 0 =
 * whole reads, so short reads are exercised too), then the file.
 *
 * Two builds of this file (tests/run-fuzz.sh builds both, see fuzz/README):
 *   fuzz-stream      plain libFuzzer mutations.  Almost every mutation
 *                    breaks a CRC, so this one tests the integrity checks.
 *   fuzz-stream-crc  -DFUZZ_STREAM_FIX_CRC: a custom mutator repairs every
 *                    CRC after mutating, so the mutations reach the checks
 *                    behind them (versions, lengths, offsets, counts,
 *                    flags, strings).
 *
 * Beyond "does not crash", an accepted file must be canonical: the chunk
 * and end records the writer produces from what the reader returned are
 * byte for byte the input (2.0 files of any number of devices, 1.0 files
 * of 0.1), a decoded 1.0 header survives encode + decode, every device's
 * description holds printable strings only, and nothing of the input is
 * left unread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The writer's chunk buffer in the round trip: more than -max_len, so
 * each chunk read is written back as one chunk. */
#define ROUNDTRIP_CHUNK (1u << 16)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

struct input {
	const uint8_t *p;
	size_t len, pos;
	uint8_t piece;
};

static ssize_t in_read(void *arg, void *buf, size_t len)
{
	struct input *in = arg;
	size_t n = in->len - in->pos;

	if (n > len)
		n = len;
	if (in->piece && n > in->piece)
		n = in->piece;
	memcpy(buf, in->p + in->pos, n);
	in->pos += n;
	return (ssize_t)n;
}

/* What the writer emits in the round trip. */
struct output {
	uint8_t *p;
	size_t len, cap;
};

static int out_write(void *arg, const void *buf, size_t len)
{
	struct output *o = arg;

	if (o->len + len > o->cap) {
		size_t cap = (o->len + len) * 2;
		uint8_t *p = realloc(o->p, cap);

		if (!p)
			return -1;
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, buf, len);
	o->len += len;
	return 0;
}

/* Header strings reach terminals: the reader lets no control byte in. */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Whatever decode accepted of a 1.0 header, encode writes, and decode
 * reads back the same. */
static void check_v1_header(const struct stream_hdr *h)
{
	unsigned char b[STREAM_HDR_LEN];
	struct stream_hdr h2;

	CHECK(h->hdr_len >= STREAM_HDR_LEN && h->hdr_len <= STREAM_HDR_MAX);
	CHECK(!h->flags);
	stream_hdr_encode(h, b);
	CHECK(stream_hdr_decode(b, sizeof(b), &h2, NULL, 0) == 0);
	CHECK(h2.mig_flags == h->mig_flags && h2.kind == h->kind &&
	      h2.pci_vendor == h->pci_vendor && h2.pci_device == h->pci_device &&
	      h2.pci_subsystem_vendor == h->pci_subsystem_vendor &&
	      h2.pci_subsystem_device == h->pci_subsystem_device &&
	      h2.pci_class == h->pci_class && h2.data_size == h->data_size &&
	      h2.created == h->created);
	CHECK(!strcmp(h2.driver, h->driver) &&
	      !strcmp(h2.mdev_type, h->mdev_type) &&
	      !strcmp(h2.device, h->device) &&
	      !strcmp(h2.lib_version, h->lib_version) &&
	      !strcmp(h2.tool_version, h->tool_version));
}

/* Every description accepted holds printable strings only; 1.0 and 2.0
 * files only, 1 .. STREAM_MAX_DEVS devices, one for 1.0. */
static void check_headers(const struct stream_reader *r)
{
	CHECK(r->ndev >= 1 && r->ndev <= STREAM_MAX_DEVS);
	for (uint32_t i = 0; i < r->ndev; i++) {
		const struct stream_hdr *h = &r->hdr[i];

		CHECK(h->version_major == STREAM_VERSION_MAJOR ||
		      (h->version_major == STREAM_V1_MAJOR && r->ndev == 1));
		CHECK(!h->flags);
		CHECK(printable(h->driver) && printable(h->mdev_type) &&
		      printable(h->device) && printable(h->lib_version) &&
		      printable(h->tool_version));
	}
	if (r->hdr[0].version_major == STREAM_V1_MAJOR)
		check_v1_header(&r->hdr[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { .p = data, .len = size };
	struct output out = { 0 };
	struct stream_reader r;
	struct stream_writer w;
	bool roundtrip;
	int ret;

	if (size > 0) {
		in.piece = data[0];
		in.pos = 1;
	}
	roundtrip = !stream_writer_init(&w, out_write, &out, ROUNDTRIP_CHUNK);
	stream_reader_init(&r, in_read, &in);
	ret = stream_read_header(&r);
	if (!ret) {
		check_headers(&r);
		if (roundtrip && stream_write_header(&w, r.hdr, r.ndev))
			roundtrip = false;
	}
	while (!ret) {
		const void *p;
		uint32_t dev, flags;
		size_t n;

		ret = stream_read_chunk(&r, &dev, &p, &n, &flags);
		if (ret != 1)
			break;
		/* A verified chunk is within the stated bounds. */
		CHECK(n > 0 && n <= STREAM_MAX_CHUNK);
		CHECK(!(flags & ~STREAM_CHUNK_PRECOPY));
		CHECK(dev < r.ndev);
		if (n > ROUNDTRIP_CHUNK || stream_write_data(&w, dev, p, n, flags) ||
		    stream_flush(&w))
			roundtrip = false;
		ret = 0;
	}
	if (ret == 0) {
		/* Accepted: every END read, and nothing follows them.  The
		 * records the writer makes of it are the input's. */
		size_t sects = r.hdr[0].version_major == STREAM_V1_MAJOR ? 0 :
			       (size_t)r.ndev * STREAM_SECT_LEN;
		size_t body = 1 + r.hdr[0].hdr_len + sects;
		size_t obody = STREAM_HDR_LEN + (size_t)r.ndev * STREAM_SECT_LEN;

		CHECK(r.done);
		CHECK(r.ends == r.ndev);
		CHECK(in.pos == in.len);
		CHECK(r.file_off == size - 1);
		if (roundtrip && !stream_write_end(&w)) {
			CHECK(out.len - obody == size - body);
			CHECK(!memcmp(out.p + obody, data + body, out.len - obody));
		}
	} else {
		CHECK(ret < 0 && r.err[0]);
	}
	stream_reader_free(&r);
	if (roundtrip)
		stream_writer_free(&w);
	free(out.p);
	return 0;
}

#ifdef FUZZ_STREAM_FIX_CRC
/*
 * The CRC repair.  It follows the framing the way the reader does (header
 * length, then records by their length fields) and stops at the first
 * thing that does not fit; whatever lies past that point the reader refuses
 * before any CRC matters.
 */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Header CRC and (2.0) every section's; returns where the records
 * start, or 0 when the reader would stop before them anyway (magic,
 * version, length, device count). */
static size_t fix_header(uint8_t *f, size_t len)
{
	uint32_t hdr_len, major, ndev = 0;

	if (len < 16 || memcmp(f, STREAM_MAGIC, 8))
		return 0;
	major = f[8] | f[9] << 8;
	if (major != STREAM_VERSION_MAJOR && major != STREAM_V1_MAJOR)
		return 0;
	hdr_len = get32(f + 12);
	if (hdr_len < STREAM_HDR_LEN || hdr_len > STREAM_HDR_MAX ||
	    hdr_len % 4 || hdr_len > len)
		return 0;
	put32(f + hdr_len - 4, crc32c(0, f, hdr_len - 4));
	if (major == STREAM_VERSION_MAJOR) {
		ndev = get32(f + 16);
		if (ndev > STREAM_MAX_DEVS ||
		    (size_t)ndev * STREAM_SECT_LEN > len - hdr_len)
			return 0;
	}
	for (uint32_t i = 0; i < ndev; i++) {
		uint8_t *sect = f + hdr_len + (size_t)i * STREAM_SECT_LEN;

		put32(sect + STREAM_SECT_LEN - 4,
		      crc32c(0, sect, STREAM_SECT_LEN - 4));
	}
	return hdr_len + (size_t)ndev * STREAM_SECT_LEN;
}

/* What a mutation gets repaired: usually every CRC, sometimes all but one
 * kind, so that each integrity check stays covered in this build too. */
enum {
	FIX_DATA = 1 << 0,   /* chunk data_crc */
	FIX_STREAM = 1 << 1, /* END stream_crc */
	FIX_REC = 1 << 2,    /* rec_crc of every record */
	FIX_ALL = FIX_DATA | FIX_STREAM | FIX_REC,
};

static void fix_records(uint8_t *f, size_t len, size_t pos, unsigned int fix)
{
	uint32_t stream_crc[STREAM_MAX_DEVS] = { 0 };

	/* Each pass consumes at least one record, so this ends. */
	while (len - pos >= STREAM_REC_LEN) {
		uint8_t *rec = f + pos;
		uint32_t n = get32(rec + 16);
		bool chunk = !memcmp(rec, "CHNK", 4);
		bool fits = n && n <= len - pos - STREAM_REC_LEN;
		uint32_t dev = get32(rec + 24) % STREAM_MAX_DEVS;

		if (chunk && fits) {
			stream_crc[dev] = crc32c(stream_crc[dev], rec + STREAM_REC_LEN, n);
			if (fix & FIX_DATA)
				put32(rec + 20, crc32c(0, rec + STREAM_REC_LEN, n));
		} else if (!memcmp(rec, "DONE", 4) && fix & FIX_STREAM) {
			put32(rec + 20, stream_crc[dev]);
		}
		/* Any record's CRC, so that an unknown tag or a bad length is
		 * refused for what it is. */
		if (fix & FIX_REC)
			put32(rec + 28, crc32c(0, rec, 28));
		if (!memcmp(rec, "DONE", 4)) {
			pos += STREAM_REC_LEN; /* the next device's END */
			continue;
		}
		if (!chunk || !fits)
			return;
		pos += STREAM_REC_LEN + n;
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	/* 12 in 16: all; else none, or all but one kind. */
	static const unsigned int partial[4] = {
		0, FIX_ALL & ~FIX_DATA, FIX_ALL & ~FIX_STREAM, FIX_ALL & ~FIX_REC,
	};
	unsigned int fix = seed % 16 < 4 ? partial[seed % 16] : FIX_ALL;
	size_t hdr_len;

	size = LLVMFuzzerMutate(data, size, max_size);
	if (size < 2 || !fix)
		return size;
	hdr_len = fix_header(data + 1, size - 1);
	if (hdr_len)
		fix_records(data + 1, size - 1, hdr_len, fix);
	return size;
}
#endif
