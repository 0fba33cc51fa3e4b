/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vfiomig-ctl stream file: device migration data, framed and checked.
 *
 * Migration data is opaque to everyone but the driver, and a lost or
 * flipped byte ends as a device in ERROR on the destination.  The file
 * therefore frames the data in chunks, each with its own CRC, so that a
 * reader can refuse a damaged file before (regular file) or while (pipe)
 * it feeds the devices.  All integers are little-endian, fixed width; all
 * CRCs are CRC-32C (Castagnoli; crc32c.h).  Strings are NUL-padded,
 * always contain at least one NUL, and hold printable ASCII (0x20..0x7e)
 * before it: readers refuse any other byte there (a header is shown on
 * terminals), writers put '?' in its place.
 *
 * Version 2.0 (vfiomig-ctl 0.2) carries the streams of a device set: one
 * SECTION per device names it, chunks say whose data they hold.
 *
 * File = HEADER, SECTION * ndev, CHUNK*, END * ndev, end of file.
 *
 * HEADER (hdr_len bytes, 256 in version 2.0):
 *   off len field
 *     0   8 magic           89 56 46 4d 0d 0a 1a 0a  ("\x89VFM\r\n\x1a\n")
 *     8   2 version_major   2 (1 still read: see below); others refused
 *    10   2 version_minor   0; readers accept higher minors (new fields
 *                           only in reserved space)
 *    12   4 hdr_len         256 .. 4096, multiple of 4; the CRC is in the
 *                           last 4 bytes of the header
 *    16   4 ndev            devices in the set: 1 .. STREAM_MAX_DEVS
 *    20   4 flags           none defined: 0 (readers refuse others)
 *    24   8 created         seconds since the epoch; informational
 *    32  16 lib_version     libvfiomig version that saved it
 *    48  16 tool_version    vfiomig-ctl version that saved it
 *    64 188 reserved        0
 *   252   4 hdr_crc         CRC-32C of bytes [0, hdr_len - 4)
 *
 * SECTION (256 bytes; device i's is the i-th, right after the header, so
 * that a reader knows every device before any data):
 *     0   4 tag             "SECT"
 *     4   4 index           i
 *     8   8 mig_flags       the device's VFIO migration flags (STOP_COPY=1,
 *                           P2P=2, PRE_COPY=4)
 *    16   4 kind            0 unknown, 1 PCI function, 2 mdev
 *    20   4 flags           0
 *    24   2 pci_vendor      PCI IDs (kind 1; else 0)
 *    26   2 pci_device
 *    28   2 pci_subsystem_vendor
 *    30   2 pci_subsystem_device
 *    32   4 pci_class
 *    36   4 reserved        0
 *    40   8 data_size       MIG_DATA_SIZE at save time (an estimate; 0 =
 *                           unknown); informational
 *    48  32 driver          e.g. "mtty", "mlx5_vfio_pci"
 *    80  32 mdev_type       e.g. "mtty-2" (kind 2; else empty)
 *   112  64 device          the device's name; informational
 *   176  76 reserved        0
 *   252   4 rec_crc         CRC-32C of bytes [0, 252)
 *
 * CHUNK (32-byte record header, then `length` bytes of device data):
 *     0   4 tag             "CHNK"
 *     4   4 flags           bit 0: data read in a PRE_COPY state
 *                           (informational); other bits 0
 *     8   8 offset          position of the first byte in the device's
 *                           stream = sum of the lengths of the device's
 *                           previous chunks (detects lost/reordered chunks)
 *    16   4 length          1 .. STREAM_MAX_CHUNK (16 MiB); checked
 *                           before anything is allocated
 *    20   4 data_crc        CRC-32C of the payload
 *    24   4 device          index of the device whose data it is (< ndev)
 *    28   4 rec_crc         CRC-32C of bytes [0, 28) of this record
 * Chunks of different devices interleave in any order (a set is saved
 * round by round); each device's chunks are in stream order.
 *
 * END (32 bytes; one per device, in index order, after every chunk):
 *     0   4 tag             "DONE"
 *     4   4 flags           0
 *     8   8 total_length    sum of the device's chunk lengths
 *    16   4 chunk_count     number of the device's chunks
 *    20   4 stream_crc      CRC-32C of the device's whole stream (its
 *                           payloads concatenated, in order)
 *    24   4 device          its index
 *    28   4 rec_crc         CRC-32C of bytes [0, 28) of this record
 *
 * A file without every END is truncated; bytes after the last END are
 * refused.  The data of a chunk may be used (written to a device) only
 * after its data_crc matched; a device's stream as a whole is valid only
 * after its END matched.
 *
 * Version 1.0 (vfiomig-ctl 0.1: one device, still read, never written):
 * the HEADER holds the device too and no SECTION follows:
 *    16   8 mig_flags      24 4 kind     28 4 flags (0)
 *    32   2 pci_vendor     34 2 pci_device   36 2 pci_subsystem_vendor
 *    38   2 pci_subsystem_device             40 4 pci_class  44 4 reserved
 *    48   8 data_size      56 8 created
 *    64  32 driver         96 32 mdev_type  128 64 device
 *   192  16 lib_version   208 16 tool_version  224 28 reserved
 *   252   4 hdr_crc (or the last 4 bytes of a longer header)
 * CHUNK and END are as above with `device` a reserved 0 (ndev = 1).
 */
#ifndef VFM_STREAM_H
#define VFM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STREAM_MAGIC "\x89VFM\r\n\x1a\n"
#define STREAM_VERSION_MAJOR 2    /* written */
#define STREAM_VERSION_MINOR 0
#define STREAM_V1_MAJOR 1         /* read: one device, vfiomig-ctl 0.1 */
#define STREAM_HDR_LEN 256
#define STREAM_HDR_MAX 4096
#define STREAM_SECT_LEN 256
#define STREAM_REC_LEN 32
#define STREAM_MAX_CHUNK (16u << 20)
#define STREAM_DEFAULT_CHUNK (1u << 20)
/* Devices in one file: a VM's assigned devices, bounded before anything
 * is allocated. */
#define STREAM_MAX_DEVS 64

#define STREAM_KIND_UNKNOWN 0
#define STREAM_KIND_PCI 1
#define STREAM_KIND_MDEV 2

#define STREAM_CHUNK_PRECOPY (1u << 0)

/* One device of a file: its SECTION (2.0) or the HEADER (1.0), with the
 * file's version, time and writer versions repeated in each. */
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

/* Version 1.0 headers <-> bytes (0.1's files; tests write them).  encode
 * writes STREAM_HDR_LEN bytes; decode checks magic, version, length, CRC
 * and flags (err: a message, may be NULL). */
void stream_hdr_encode(const struct stream_hdr *h, unsigned char *out);
int stream_hdr_decode(const unsigned char *in, size_t len,
		      struct stream_hdr *h, char *err, size_t errlen);
/* Replaces each byte of h's strings that is not printable ASCII with '?',
 * as encode does: what a device is called, as a file would record it. */
void stream_hdr_clean(struct stream_hdr *h);

/* What a writer or reader counted of one device's stream. */
struct stream_count {
	uint64_t bytes;    /* device bytes framed / verified */
	uint32_t chunks;
	uint32_t crc;      /* of the device's stream so far */
};

struct stream_writer {
	stream_write_fn write;
	void *arg;
	unsigned char *buf;   /* payload being collected */
	size_t cap, fill;
	uint32_t flags;       /* flags of the collected payload */
	uint32_t cur;         /* device of the collected payload */
	uint32_t ndev;
	struct stream_count *dev; /* ndev counters */
	uint64_t data_off;    /* device bytes framed so far, all devices */
	uint64_t file_off;    /* file bytes written so far */
	uint32_t nchunks;     /* all devices */
};

int stream_writer_init(struct stream_writer *w, stream_write_fn write,
		       void *arg, size_t chunk_size);
void stream_writer_free(struct stream_writer *w);
/* HEADER (created and versions from devs[0]) and ndev SECTIONs. */
int stream_write_header(struct stream_writer *w, const struct stream_hdr *devs,
			uint32_t ndev);
/* Collects device dev's data; a chunk is emitted when full or when the
 * device or the flags change. */
int stream_write_data(struct stream_writer *w, uint32_t dev, const void *p,
		      size_t n, uint32_t flags);
int stream_flush(struct stream_writer *w);
/* Flushes, then writes every device's END. */
int stream_write_end(struct stream_writer *w);

struct stream_reader {
	stream_read_fn read;
	void *arg;
	unsigned char *buf;
	size_t cap;
	uint64_t file_off;    /* bytes consumed */
	uint32_t ndev;        /* after the header: devices in the file */
	struct stream_hdr *hdr; /* ndev descriptions */
	struct stream_count *dev; /* ndev counters */
	uint64_t data_off;    /* device bytes verified, all devices */
	uint32_t nchunks;     /* all devices */
	uint32_t seq_crc;     /* of every chunk record read, in order: two
			       * passes that agree read the same chunks */
	uint32_t ends;        /* END records verified */
	bool have_hdr, done;
	char err[256];        /* why the last call failed */
};

void stream_reader_init(struct stream_reader *r, stream_read_fn read,
			void *arg);
void stream_reader_free(struct stream_reader *r);
/* The HEADER and (2.0) every SECTION: r->ndev and r->hdr[] describe the
 * devices.  0, or a negative errno: -EBADMSG for a damaged/truncated/
 * foreign file (r->err says what and where), or the read fn's error. */
int stream_read_header(struct stream_reader *r);
/*
 * 1: a verified chunk of device *dev in *data, *len (valid until the next
 *    call), *flags (may be NULL);
 * 0: every END verified and nothing follows them;
 * <0: as stream_read_header.
 */
int stream_read_chunk(struct stream_reader *r, uint32_t *dev,
		      const void **data, size_t *len, uint32_t *flags);

#endif
