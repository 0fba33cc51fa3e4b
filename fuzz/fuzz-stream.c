// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the vfiomig-ctl stream file parser (tools/stream.c).
 * Feeds the input as a file, in pieces whose sizes come from the input
 * itself, so short reads are exercised too.  Not built by make; see
 * fuzz/README:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Itools \
 *     fuzz/fuzz-stream.c tools/stream.c tools/crc32c.c -o fuzz-stream
 *   ./fuzz-stream -max_len=65536 corpus/
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stream.h"

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
	/* Vary the read size: 1..256 bytes, or all that was asked. */
	if (in->piece && n > in->piece)
		n = in->piece;
	memcpy(buf, in->p + in->pos, n);
	in->pos += n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { .p = data, .len = size };
	struct stream_reader r;
	struct stream_hdr h;
	int ret;

	/* The first byte picks the read size; the rest is the file. */
	if (size > 0) {
		in.piece = data[0];
		in.pos = 1;
	}
	stream_reader_init(&r, in_read, &in);
	ret = stream_read_header(&r, &h);
	while (!ret) {
		const void *p;
		size_t n;
		uint32_t flags;

		ret = stream_read_chunk(&r, &p, &n, &flags);
		if (ret == 1) {
			/* A verified chunk is within the stated bounds. */
			if (n == 0 || n > STREAM_MAX_CHUNK)
				__builtin_trap();
			ret = 0;
		} else if (ret == 0) {
			break;
		}
	}
	stream_reader_free(&r);
	return 0;
}
