/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vfiomig-ctl stream file: device migration data, framed and checked.
 *
 * Migration data is opaque to everyone but the driver, and a lost or
 * flipped byte ends as a device in ERROR on the destination.  The file
 * therefore frames the data in chunks, each with its own CRC, so that a
 * reader can refuse a damaged file before (regular file) or while (pipe)
 * it feeds the device.  All integers are little-endian, fixed width; all
 * CRCs are CRC-32C (Castagnoli; crc32c.h).  Strings are NUL-padded,
 * always contain at least one NUL, and hold printable ASCII (0x20..0x7e)
 * before it: readers refuse any other byte there (a header is shown on
 * terminals), writers put '?' in its place.
 *
 * File = HEADER, CHUNK*, END, then end of file (nothing may follow).
 *
 * HEADER (hdr_len bytes, 256 in version 1.0):
 *   off len field
 *     0   8 magic           89 56 46 4d 0d 0a 1a 0a  ("\x89VFM\r\n\x1a\n")
 *     8   2 version_major   1; readers refuse any other major
 *    10   2 version_minor   0; readers accept higher minors (new fields
 *                           only in reserved space or past byte 252)
 *    12   4 hdr_len         256 .. 4096, multiple of 4; the CRC is in the
 *                           last 4 bytes of the header
 *    16   8 mig_flags       source's VFIO migration flags (STOP_COPY=1,
 *                           P2P=2, PRE_COPY=4)
 *    24   4 kind            0 unknown, 1 PCI function, 2 mdev
 *    28   4 flags           none defined: 0 (readers refuse others)
 *    32   2 pci_vendor      PCI IDs (kind 1; else 0)
 *    34   2 pci_device
 *    36   2 pci_subsystem_vendor
 *    38   2 pci_subsystem_device
 *    40   4 pci_class
 *    44   4 reserved        0
 *    48   8 data_size       MIG_DATA_SIZE at save time (an estimate; 0 =
 *                           unknown); informational
 *    56   8 created         seconds since the epoch; informational
 *    64  32 driver          e.g. "mtty", "mlx5_vfio_pci"
 *    96  32 mdev_type       e.g. "mtty-2" (kind 2; else empty)
 *   128  64 device          source device name; informational
 *   192  16 lib_version     libvfiomig version that saved it
 *   208  16 tool_version    vfiomig-ctl version that saved it
 *   224  28 reserved        0
 *   252   4 hdr_crc         CRC-32C of bytes [0, hdr_len - 4)
 *
 * CHUNK (32-byte record header, then `length` bytes of device data):
 *     0   4 tag             "CHNK"
 *     4   4 flags           bit 0: data read in a PRE_COPY state
 *                           (informational); other bits 0
 *     8   8 offset          position of the first byte in the device
 *                           stream = sum of the lengths of all previous
 *                           chunks (detects lost/reordered chunks)
 *    16   4 length          1 .. STREAM_MAX_CHUNK (16 MiB); checked
 *                           before anything is allocated
 *    20   4 data_crc        CRC-32C of the payload
 *    24   4 reserved        0
 *    28   4 rec_crc         CRC-32C of bytes [0, 28) of this record
 *
 * END (32 bytes):
 *     0   4 tag             "DONE"
 *     4   4 flags           0
 *     8   8 total_length    sum of all chunk lengths
 *    16   4 chunk_count     number of chunks
 *    20   4 stream_crc      CRC-32C of the whole device stream (all
 *                           payloads concatenated, in order)
 *    24   4 reserved        0
 *    28   4 rec_crc         CRC-32C of bytes [0, 28) of this record
 *
 * A file without END is truncated; bytes after END are refused.  The data
 * of a chunk may be used (written to a device) only after its data_crc
 * matched; the stream as a whole is valid only after END matched.
 */
#ifndef VFM_STREAM_H
#define VFM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STREAM_MAGIC "\x89VFM\r\n\x1a\n"
#define STREAM_VERSION_MAJOR 1
#define STREAM_VERSION_MINOR 0
#define STREAM_HDR_LEN 256
#define STREAM_HDR_MAX 4096
#define STREAM_REC_LEN 32
#define STREAM_MAX_CHUNK (16u << 20)
#define STREAM_DEFAULT_CHUNK (1u << 20)

#define STREAM_KIND_UNKNOWN 0
#define STREAM_KIND_PCI 1
#define STREAM_KIND_MDEV 2

#define STREAM_CHUNK_PRECOPY (1u << 0)

struct stream_hdr {
	uint16_t version_major, version_minor;
	uint32_t hdr_len;
	uint64_t mig_flags;
	uint32_t kind;
	uint32_t flags;
	uint16_t pci_vendor, pci_device, pci_subsystem_vendor,
		pci_subsystem_device;
	uint32_t pci_class;
	uint64_t data_size;
	uint64_t created;
	char driver[32];
	char mdev_type[32];
	char device[64];
	char lib_version[16];
	char tool_version[16];
};

/* Read fn: bytes read (> 0), 0 at end of file, or a negative errno.
 * Write fn: writes all of len, returns 0 or a negative errno. */
typedef ssize_t (*stream_read_fn)(void *arg, void *buf, size_t len);
typedef int (*stream_write_fn)(void *arg, const void *buf, size_t len);

/* Header <-> bytes.  encode writes STREAM_HDR_LEN bytes; decode checks
 * magic, version, length, CRC and flags (err: a message, may be NULL). */
void stream_hdr_encode(const struct stream_hdr *h, unsigned char *out);
int stream_hdr_decode(const unsigned char *in, size_t len,
		      struct stream_hdr *h, char *err, size_t errlen);
/* Replaces each byte of h's strings that is not printable ASCII with '?',
 * as encode does: what a device is called, as a file would record it. */
void stream_hdr_clean(struct stream_hdr *h);

struct stream_writer {
	stream_write_fn write;
	void *arg;
	unsigned char *buf;   /* payload being collected */
	size_t cap, fill;
	uint32_t flags;       /* flags of the collected payload */
	uint64_t data_off;    /* device bytes framed so far */
	uint64_t file_off;    /* file bytes written so far */
	uint32_t nchunks;
	uint32_t crc;         /* of the whole stream */
};

int stream_writer_init(struct stream_writer *w, stream_write_fn write,
		       void *arg, size_t chunk_size);
void stream_writer_free(struct stream_writer *w);
int stream_write_header(struct stream_writer *w, const struct stream_hdr *h);
/* Collects data; a chunk is emitted when full or when flags change. */
int stream_write_data(struct stream_writer *w, const void *p, size_t n,
		      uint32_t flags);
int stream_flush(struct stream_writer *w);
/* Flushes, then writes END. */
int stream_write_end(struct stream_writer *w);

struct stream_reader {
	stream_read_fn read;
	void *arg;
	unsigned char *buf;
	size_t cap;
	uint64_t file_off;    /* bytes consumed */
	uint64_t data_off;    /* device bytes verified */
	uint32_t nchunks;
	uint32_t crc;
	bool have_hdr, done;
	char err[256];        /* why the last call failed */
};

void stream_reader_init(struct stream_reader *r, stream_read_fn read,
			void *arg);
void stream_reader_free(struct stream_reader *r);
/* 0, or a negative errno: -EBADMSG for a damaged/truncated/foreign file
 * (r->err says what and where), or the read fn's error. */
int stream_read_header(struct stream_reader *r, struct stream_hdr *h);
/*
 * 1: a verified chunk in *data, *len (valid until the next call), *flags;
 * 0: END verified and nothing follows it;
 * <0: as stream_read_header.
 */
int stream_read_chunk(struct stream_reader *r, const void **data,
		      size_t *len, uint32_t *flags);

#endif
