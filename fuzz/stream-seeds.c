// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the seed corpus of fuzz-stream and fuzz-stream-crc: small valid
 * stream files made with the tool's own writer (tools/stream.c), each
 * prefixed with the read-size byte the target takes first.  Built and run
 * by tests/run-fuzz.sh, so the seeds always match the current format.
 *
 *   stream-seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "stream.h"

struct seed {
	const char *name;
	uint8_t piece;            /* read size, 0 = whole reads */
	uint32_t kind;
	size_t chunk_size;
	/* Data in pieces of these sizes, alternating pre-copy and not when
	 * mixed; 0 ends the list. */
	size_t pieces[4];
	bool mixed;
	uint32_t ndev;            /* 0: 1; pieces go to the devices in turn */
	bool v1;                  /* format 1.0, as vfiomig-ctl 0.1 wrote it */
};

static const struct seed seeds[] = {
	{ "empty-pci", 0, STREAM_KIND_PCI, 0, { 0 }, false, 1, false },
	{ "one-chunk-mdev", 7, STREAM_KIND_MDEV, 0, { 100 }, false, 1, false },
	{ "precopy-then-stop", 0, STREAM_KIND_MDEV, 64, { 70, 30, 5 }, true, 1, false },
	{ "many-small-chunks", 1, STREAM_KIND_UNKNOWN, 16, { 200 }, false, 1, false },
	{ "pci-two-chunks", 33, STREAM_KIND_PCI, 512, { 600 }, false, 1, false },
	{ "set-of-two", 0, STREAM_KIND_MDEV, 64, { 70, 30, 5, 9 }, true, 2, false },
	{ "set-of-three", 5, STREAM_KIND_PCI, 32, { 40, 3, 50 }, false, 3, false },
	{ "set-of-two-empty", 0, STREAM_KIND_MDEV, 0, { 0 }, false, 2, false },
	{ "v1-mdev", 0, STREAM_KIND_MDEV, 64, { 70, 30 }, true, 1, true },
};

/* Format 1.0: 0.1's header, then the records of a one-device 2.0 file
 * (the same bytes: its device field is 1.0's reserved 0). */
static int to_v1(FILE *f, const struct stream_hdr *h, const char *path)
{
	unsigned char hdr[STREAM_HDR_LEN], buf[4096];
	FILE *in = fopen(path, "rb");
	size_t n;
	int ret = 0;

	if (!in)
		return -errno;
	/* The read-size byte, the 2.0 header and section: skipped. */
	if (fseek(in, 1 + STREAM_HDR_LEN + STREAM_SECT_LEN, SEEK_SET)) {
		fclose(in);
		return -EIO;
	}
	stream_hdr_encode(h, hdr);
	if (fwrite(hdr, 1, sizeof(hdr), f) != sizeof(hdr))
		ret = -EIO;
	while (!ret && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, f) != n)
			ret = -EIO;
	fclose(in);
	return ret;
}

static int file_write(void *arg, const void *buf, size_t len)
{
	return fwrite(buf, 1, len, arg) == len ? 0 : -EIO;
}

static void fill_header(const struct seed *s, struct stream_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->kind = s->kind;
	h->mig_flags = s->mixed ? 5 : 1; /* STOP_COPY, + PRE_COPY */
	h->created = 1700000000;
	h->data_size = 4096;
	strcpy(h->lib_version, "0.1.0");
	strcpy(h->tool_version, "0.1.0");
	if (s->kind == STREAM_KIND_PCI) {
		strcpy(h->driver, "mlx5_vfio_pci");
		strcpy(h->device, "0000:3b:00.1");
		h->pci_vendor = 0x15b3;
		h->pci_device = 0x101e;
		h->pci_class = 0x020000;
	} else if (s->kind == STREAM_KIND_MDEV) {
		strcpy(h->driver, "mtty");
		strcpy(h->mdev_type, "mtty-2");
		strcpy(h->device, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
	}
}

static int write_seed(const char *dir, const struct seed *s)
{
	unsigned char data[1024];
	struct stream_writer w;
	struct stream_hdr h;
	char path[4096];
	FILE *f;
	int ret;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	fill_header(s, &h);
	ret = stream_writer_init(&w, file_write, f, s->chunk_size);
	if (!ret && fputc(s->piece, f) == EOF)
		ret = -EIO;
	{
		struct stream_hdr hs[3] = { h, h, h };
		uint32_t ndev = s->ndev ? s->ndev : 1;

		if (!ret)
			ret = stream_write_header(&w, hs, ndev);
		for (int i = 0; !ret && i < 4 && s->pieces[i]; i++)
			ret = stream_write_data(&w, (uint32_t)i % ndev, data,
						s->pieces[i],
						s->mixed && i % 2 == 0 ?
						STREAM_CHUNK_PRECOPY : 0);
	}
	if (!ret)
		ret = stream_write_end(&w);
	stream_writer_free(&w);
	if (fclose(f) && !ret)
		ret = -EIO;
	if (!ret && s->v1) {
		char v1path[4200];

		snprintf(v1path, sizeof(v1path), "%s.tmp", path);
		if (rename(path, v1path))
			return -errno;
		f = fopen(path, "wb");
		if (!f)
			return -errno;
		if (fputc(s->piece, f) == EOF)
			ret = -EIO;
		if (!ret)
			ret = to_v1(f, &h, v1path);
		if (fclose(f) && !ret)
			ret = -EIO;
		remove(v1path);
	}
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stream-seeds DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		int ret = write_seed(argv[1], &seeds[i]);

		if (ret) {
			fprintf(stderr, "stream-seeds: %s: %s\n", seeds[i].name,
				strerror(-ret));
			return 1;
		}
	}
	return 0;
}
