// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfiomig-ctl: what save, load and migrate share around the transfer
 * (xfer.h): their options, reading and writing fds a signal can stop,
 * the per-member JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xfer.h"

int xfer_parse_opt(struct cli *c, int opt, struct xfer_opts *xo)
{
	uint64_t v;

	switch (opt) {
	case 'f':
		xo->force = true;
		return -2;
	case 'o':
	case 'i':
		xo->path = optarg;
		return -2;
	case OPT_NO_PRECOPY:
		xo->no_precopy = true;
		return -2;
	case OPT_MAX_ROUNDS:
		if (cli_parse_u64(optarg, &v) || v == 0 || v > 1000000)
			return cli_usage(c, "--max-rounds: expected a number 1..1000000");
		xo->max_rounds = (unsigned int)v;
		return -2;
	case OPT_STEP:
		if (cli_parse_u64(optarg, &v) || v < 4096 || v > (1ull << 40))
			return cli_usage(c, "--step: expected a size 4K..1T");
		xo->step = v;
		return -2;
	case OPT_RUN:
		xo->run = true;
		return -2;
	case OPT_STOP:
		xo->stop = true;
		return -2;
	case OPT_VERIFY_ONLY:
		xo->verify_only = true;
		return -2;
	case OPT_ALLOW_NO_P2P:
		xo->allow_no_p2p = true;
		return -2;
	case OPT_PROGRESS:
		c->progress = true;
		return -2;
	}
	return cli_common_opt(c, opt, optarg);
}

int xfer_fd_write(void *arg, const void *buf, size_t len)
{
	int fd = *(int *)arg;
	const char *p = buf;

	while (len) {
		ssize_t n;

		/* A signal may end a blocked write early with a short count,
		 * not EINTR: look at the flag before every write. */
		if (cli_interrupted)
			return cli_interrupt_err();
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR && !cli_interrupted)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t xfer_fd_read(void *arg, void *buf, size_t len)
{
	for (;;) {
		ssize_t n;

		if (cli_interrupted)
			return -EINTR;
		n = read(*(int *)arg, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR || cli_interrupted)
			return -errno;
	}
}

void xfer_json_members(struct json *j, const struct xfer_list *l, bool saving)
{
	json_begin_arr(j, "members");
	for (size_t i = 0; i < l->n; i++) {
		const struct xfer_member *m = &l->m[i];

		json_begin_obj(j, NULL);
		json_str(j, "device", m->name);
		if (saving) {
			json_u64(j, "precopy_bytes", m->precopy_bytes);
			json_u64(j, "stop_copy_bytes", m->stop_copy_bytes);
			json_u64(j, "reinits", m->reinits);
		}
		json_str(j, "state", m->final >= 0 ? cli_state_name(m->final) : NULL);
		json_end(j);
	}
	json_end(j);
}
