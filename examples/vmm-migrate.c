// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vmm-migrate: how a VMM live-migrates the VFIO devices of one VM with
 * libvfiomig.  Public API only (<vfiomig.h>); copy from it freely.
 *
 *   vmm-migrate [OPTIONS] SRC1[,SRC2...] DST1[,DST2...]
 *
 * Devices are named as vfiomig_device_open(3) takes them (PCI address,
 * mdev UUID, sysfs path, cdev node) and paired by position: SRCi's state
 * goes to DSTi.  In a VMM the source and the destination are two processes
 * on two hosts joined by the migration stream; here both sides run in one
 * process and an in-memory buffer per device stands in for that stream.
 *
 * The steps are QEMU's (hw/vfio/migration.c), for a whole set of devices:
 *  1. setup: every source device RUNNING -> PRE_COPY, when every one of
 *     them has PRE_COPY (else they stay RUNNING until the switchover);
 *  2. precopy rounds while the guest runs: at most --budget bytes per
 *     device per round (the VMM's bandwidth), PRECOPY_INFO after each;
 *  3. switchover when every device's initial data is drained (QEMU's
 *     switchover-ack condition) and the dirty bytes left are at most
 *     --threshold, by the steps' estimate first, then by the set's exact
 *     totals (vfiomig_devset_stats): the set goes to STOP_COPY, every
 *     device quiesced in PRE_COPY_P2P / RUNNING_P2P before any of them
 *     stops (the P2P barrier: no device stops while a peer may still DMA
 *     into it);
 *  4. stop-copy: read the rest of every device's data;
 *  5. destination: the set to RESUMING, each device loads its data, all
 *     are committed to RUNNING_P2P, then all start RUNNING;
 *  6. the source set goes to STOP (QEMU does this after the migration
 *     completed, so it costs no downtime).
 * On any failure before the destination runs: the destination's data is
 * discarded (the devices are reset) and the sources go back to RUNNING,
 * the guest never noticing.
 *
 * Exit status: 0 migrated; 1 failed and rolled back (the VM still runs on
 * the source); 2 bad arguments or a device that cannot be opened (nothing
 * moved); 3 failed and a rollback step failed too (see the messages).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <vfiomig.h>

#define MAX_DEVS 16
/* What one device may put in the stream here; a VMM has no such limit. */
#define CHANNEL_MAX (64u << 20)

#define EXIT_ROLLED_BACK 1
#define EXIT_USAGE 2
#define EXIT_BROKEN 3

/* One device's section of the migration stream. */
struct channel {
	unsigned char *data;
	size_t len, cap;
};

struct side {
	size_t n;
	struct vfiomig_device *dev[MAX_DEVS];
	struct vfiomig_devset *set;
};

struct vm {
	struct vfiomig_ctx *ctx;
	struct side src, dst;
	struct channel chan[MAX_DEVS];
	struct vfiomig_precopy_progress prog[MAX_DEVS];
	bool precopy;          /* every source device has PRE_COPY */
	uint64_t budget;       /* bytes per device per precopy round */
	uint64_t threshold;    /* dirty bytes that may be left for stop-copy */
	unsigned int max_rounds;
};

/* ------------------------------------------------------------------ */
/* The stand-in for the migration stream                               */

/* vfiomig_write_fn: append what the library read from a data fd. */
static ssize_t channel_write(void *arg, const void *buf, size_t len)
{
	struct channel *c = arg;

	if (len > CHANNEL_MAX - c->len)
		return -ENOSPC;
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4096;
		unsigned char *p;

		while (cap < c->len + len)
			cap *= 2;
		p = realloc(c->data, cap);
		if (!p)
			return -ENOMEM;
		c->data = p;
		c->cap = cap;
	}
	memcpy(c->data + c->len, buf, len);
	c->len += len;
	return (ssize_t)len;
}

static struct vfiomig_io channel_sink(struct channel *c)
{
	struct vfiomig_io io = { .sz = sizeof(io), .kind = VFIOMIG_IO_CB,
				 .write_fn = channel_write, .arg = c };

	return io;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static const char *st(int s)
{
	const char *name = vfiomig_state_name(s);

	return name ? name : "?";
}

__attribute__((format(printf, 6, 0)))
static void log_fn(void *data, int priority, const char *file, int line,
		   const char *fn, const char *format, va_list args)
{
	(void)data;
	(void)file;
	(void)line;
	(void)fn;
	fprintf(stderr, "libvfiomig[%d]: ", priority);
	vfprintf(stderr, format, args);
	if (!*format || format[strlen(format) - 1] != '\n')
		fputc('\n', stderr);
}

/* A failed set operation names the member and the arc. */
static void set_failed(const char *what, const struct side *s, int ret,
		       const struct vfiomig_devset_set_opts *so)
{
	fprintf(stderr, "vmm-migrate: %s: %s", what, strerror(-ret));
	if (so->failed_member >= 0)
		fprintf(stderr, " (member %d, %s, on %s -> %s)",
			so->failed_member,
			vfiomig_device_name(s->dev[so->failed_member]),
			st(so->failed_from), st(so->failed_to));
	fputc('\n', stderr);
}

/* Move a whole set; every member is back where it started on failure. */
static int set_state(struct side *s, int target, const char *what)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int ret = vfiomig_devset_state_set(s->set, target, &so);

	if (ret < 0)
		set_failed(what, s, ret, &so);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Opening the devices                                                 */

/* names: "A,B,C" (modified in place). */
static int open_side(struct vm *vm, struct side *s, char *names)
{
	VFIOMIG_OPTS(vfiomig_devset_opts, o);
	char *save = NULL;
	int ret;

	for (char *name = strtok_r(names, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		if (s->n == MAX_DEVS) {
			fprintf(stderr, "vmm-migrate: more than %d devices\n",
				MAX_DEVS);
			return -E2BIG;
		}
		ret = vfiomig_device_open(vm->ctx, name, NULL, &s->dev[s->n]);
		if (ret < 0) {
			fprintf(stderr, "vmm-migrate: %s: %s\n", name,
				strerror(-ret));
			return ret;
		}
		s->n++;
	}
	/* Refuses a member without P2P in a set of several devices: its
	 * ordering could not be guaranteed (VFIOMIG_DEVSET_ALLOW_NO_P2P). */
	ret = vfiomig_devset_new(s->dev, s->n, &o, &s->set);
	if (ret < 0)
		fprintf(stderr, "vmm-migrate: device set: %s\n", strerror(-ret));
	return ret;
}

static void close_side(struct side *s)
{
	vfiomig_devset_free(s->set);
	for (size_t i = 0; i < s->n; i++)
		vfiomig_device_free(s->dev[i]);
}

/* ------------------------------------------------------------------ */
/* Source: setup, precopy, switchover, stop-copy                       */

static bool all_have_precopy(const struct side *s)
{
	for (size_t i = 0; i < s->n; i++) {
		VFIOMIG_OPTS(vfiomig_caps, caps);

		if (vfiomig_device_caps(s->dev[i], &caps) < 0 ||
		    !(caps.migration_flags & VFIOMIG_MIG_PRE_COPY))
			return false;
	}
	return true;
}

static int setup(struct vm *vm)
{
	vm->precopy = all_have_precopy(&vm->src);
	if (!vm->precopy) {
		printf("setup: not every device has PRE_COPY: no precopy\n");
		return 0;
	}
	for (size_t i = 0; i < vm->src.n; i++) /* a new session: zeroed */
		vm->prog[i] = (struct vfiomig_precopy_progress){
			.sz = sizeof(vm->prog[i]) };
	printf("setup: %zu device(s) RUNNING -> PRE_COPY\n", vm->src.n);
	return set_state(&vm->src, VFIOMIG_STATE_PRE_COPY, "setup");
}

/* One paced round: at most vm->budget bytes from every device. */
static int precopy_round(struct vm *vm, uint64_t *moved)
{
	*moved = 0;
	for (size_t i = 0; i < vm->src.n; i++) {
		struct vfiomig_io io = channel_sink(&vm->chan[i]);
		int64_t n = vfiomig_precopy_step(vm->src.dev[i], &io,
						 vm->budget, &vm->prog[i]);

		if (n < 0) {
			fprintf(stderr, "vmm-migrate: precopy %s: %s\n",
				vfiomig_device_name(vm->src.dev[i]),
				strerror((int)-n));
			return (int)n;
		}
		*moved += (uint64_t)n;
	}
	return 0;
}

/* The estimate, from what each step's PRECOPY_INFO said (no ioctl):
 * could the set switch over now? */
static bool estimate(const struct vm *vm, unsigned int round, uint64_t moved)
{
	uint64_t initial = 0, dirty = 0;
	bool drained = true;

	for (size_t i = 0; i < vm->src.n; i++) {
		initial += vm->prog[i].initial_bytes;
		dirty += vm->prog[i].dirty_bytes;
		drained = drained && vm->prog[i].initial_drained;
	}
	if (drained && dirty <= vm->threshold)
		return true;
	printf("round %u: moved %" PRIu64 " B; initial %" PRIu64
	       " B, dirty %" PRIu64 " B\n", round, moved, initial, dirty);
	return false;
}

/* The switchover decision, from the set's exact totals (QEMU asks its
 * exact sizes likewise only when the estimate says it is close). */
static int ready(struct vm *vm, unsigned int round, uint64_t moved,
		 bool *go)
{
	VFIOMIG_OPTS(vfiomig_devset_stats, s);
	int ret;

	*go = false;
	if (!estimate(vm, round, moved))
		return 0;
	ret = vfiomig_devset_stats(vm->src.set, VFIOMIG_DEVSET_TOTAL, &s);
	if (ret < 0) {
		fprintf(stderr, "vmm-migrate: stats: %s\n", strerror(-ret));
		return ret;
	}
	printf("round %u: moved %" PRIu64 " B; initial %" PRIu64
	       " B, dirty %" PRIu64 " B, stop-copy %" PRIu64 " B left%s\n",
	       round, moved, s.initial_bytes, s.dirty_bytes, s.stop_copy_bytes,
	       s.initial_drained ? "; initial data drained" : "");
	*go = s.initial_drained && s.dirty_bytes <= vm->threshold;
	return 0;
}

static int precopy(struct vm *vm)
{
	bool go = false;
	uint64_t moved;
	int ret;

	if (!vm->precopy)
		return 0;
	printf("precopy: at most %" PRIu64 " B per device per round\n",
	       vm->budget);
	for (unsigned int round = 1; !go; round++) {
		if (round > vm->max_rounds) {
			/* A VMM decides by its downtime limit; stop-copy
			 * carries whatever is left either way. */
			printf("precopy: %u rounds, switching over anyway\n",
			       vm->max_rounds);
			break;
		}
		ret = precopy_round(vm, &moved);
		if (!ret)
			ret = ready(vm, round, moved, &go);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The guest's vCPUs stop here; then the devices, through the barrier. */
static int switchover(struct vm *vm)
{
	printf("switchover: %zu device(s) -> STOP_COPY\n", vm->src.n);
	return set_state(&vm->src, VFIOMIG_STATE_STOP_COPY, "switchover");
}

/* Read each device's data to the end of its stream. */
static int stop_copy(struct vm *vm)
{
	printf("stop-copy: reading the rest\n");
	for (size_t i = 0; i < vm->src.n; i++) {
		struct vfiomig_io io = channel_sink(&vm->chan[i]);
		int64_t n;

		do
			n = vfiomig_save(vm->src.dev[i], &io, 0);
		while (n > 0);
		if (n < 0) {
			fprintf(stderr, "vmm-migrate: save %s: %s\n",
				vfiomig_device_name(vm->src.dev[i]),
				strerror((int)-n));
			return (int)n;
		}
		printf("stop-copy: %s: %zu B in all\n",
		       vfiomig_device_name(vm->src.dev[i]), vm->chan[i].len);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Destination: resume, load, start                                    */

static int load_all(struct vm *vm)
{
	for (size_t i = 0; i < vm->dst.n; i++) {
		struct vfiomig_io io = { .sz = sizeof(io),
					 .kind = VFIOMIG_IO_BUF,
					 .buf = vm->chan[i].data,
					 .len = vm->chan[i].len };
		int64_t n = vfiomig_load(vm->dst.dev[i], &io, 0);

		if (n != (int64_t)vm->chan[i].len) {
			fprintf(stderr, "vmm-migrate: load %s: %s\n",
				vfiomig_device_name(vm->dst.dev[i]),
				n < 0 ? strerror((int)-n) : "short write");
			return n < 0 ? (int)n : -EIO;
		}
	}
	return 0;
}

static int resume(struct vm *vm)
{
	VFIOMIG_OPTS(vfiomig_devset_set_opts, so);
	int ret;

	printf("destination: %zu device(s) -> RESUMING\n", vm->dst.n);
	ret = set_state(&vm->dst, VFIOMIG_STATE_RESUMING, "resume");
	if (!ret)
		ret = load_all(vm);
	if (ret < 0)
		return ret;
	/* Commit every device (all reach STOP before any goes on), and hold
	 * them in RUNNING_P2P until the rest of the VM is loaded. */
	ret = vfiomig_devset_load_finish(vm->dst.set, VFIOMIG_STATE_RUNNING_P2P,
					 &so);
	if (ret < 0) {
		set_failed("load", &vm->dst, ret, &so);
		return ret;
	}
	printf("destination: loaded, RUNNING_P2P; starting\n");
	return set_state(&vm->dst, VFIOMIG_STATE_RUNNING, "start");
}

/* ------------------------------------------------------------------ */
/* The end: success or rollback                                        */

/* The VM runs on the destination: the source devices only stop.  Should
 * that fail, reset them (QEMU's habit): never restart them. */
static int retire_source(struct vm *vm)
{
	int rc = 0;

	printf("source: %zu device(s) -> STOP\n", vm->src.n);
	if (!set_state(&vm->src, VFIOMIG_STATE_STOP, "source stop"))
		return 0;
	for (size_t i = 0; i < vm->src.n; i++)
		if (vfiomig_device_reset(vm->src.dev[i]) < 0)
			rc = EXIT_BROKEN;
	return rc;
}

/* Discard what a destination device received; leave it reset. */
static int discard(struct vfiomig_device *dev)
{
	int s;

	if (vfiomig_data_fd(dev) >= 0)
		return vfiomig_load_abort(dev, VFIOMIG_STATE_RUNNING, NULL);
	s = vfiomig_state_get(dev);
	if (s == VFIOMIG_STATE_RUNNING)
		return 0; /* untouched, or reset by the library already */
	return vfiomig_device_reset(dev);
}

static int rollback(struct vm *vm)
{
	int rc = EXIT_ROLLED_BACK;

	printf("rollback: destination discarded, source back to RUNNING\n");
	for (size_t i = 0; i < vm->dst.n; i++)
		if (discard(vm->dst.dev[i]) < 0)
			rc = EXIT_BROKEN;
	if (set_state(&vm->src, VFIOMIG_STATE_RUNNING, "rollback") < 0)
		rc = EXIT_BROKEN;
	return rc;
}

static void show_states(const char *side, const struct side *s)
{
	for (size_t i = 0; i < s->n; i++)
		printf("  %s %s: %s\n", side, vfiomig_device_name(s->dev[i]),
		       st(vfiomig_state_get(s->dev[i])));
}

static int migrate(struct vm *vm)
{
	int ret = setup(vm);

	if (!ret)
		ret = precopy(vm);
	if (!ret)
		ret = switchover(vm);
	if (!ret)
		ret = stop_copy(vm);
	if (!ret)
		ret = resume(vm);
	if (ret < 0)
		return rollback(vm);
	return retire_source(vm);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-migrate [OPTIONS] SRC1[,SRC2...] DST1[,DST2...]\n"
		"  -b, --budget BYTES     precopy bytes per device per round "
		"(default 1048576)\n"
		"  -t, --threshold BYTES  dirty bytes left for stop-copy "
		"(default 0)\n"
		"  -r, --max-rounds N     precopy rounds at most (default 100)\n"
		"  -v, --verbose          the library's debug log on stderr\n");
}

static bool number(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && !*end;
}

static int parse(struct vm *vm, int argc, char **argv, int *prio)
{
	static const struct option opts[] = {
		{ "budget", required_argument, NULL, 'b' },
		{ "threshold", required_argument, NULL, 't' },
		{ "max-rounds", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t rounds = 100;
	int c;

	vm->budget = 1u << 20;
	while ((c = getopt_long(argc, argv, "b:t:r:vh", opts, NULL)) != -1) {
		bool ok = true;

		if (c == 'b')
			ok = number(optarg, &vm->budget) && vm->budget;
		else if (c == 't')
			ok = number(optarg, &vm->threshold);
		else if (c == 'r')
			ok = number(optarg, &rounds) && rounds &&
			     rounds <= 1000000;
		else if (c == 'v')
			*prio = LOG_DEBUG;
		else if (c == 'h')
			return 1;
		else
			ok = false;
		if (!ok)
			return -EINVAL;
	}
	vm->max_rounds = (unsigned int)rounds;
	return argc - optind == 2 ? 0 : -EINVAL;
}

static int open_all(struct vm *vm, char *srcs, char *dsts)
{
	int ret = open_side(vm, &vm->src, srcs);

	if (!ret)
		ret = open_side(vm, &vm->dst, dsts);
	if (!ret && vm->src.n != vm->dst.n) {
		fprintf(stderr, "vmm-migrate: %zu source(s), %zu destination(s)\n",
			vm->src.n, vm->dst.n);
		ret = -EINVAL;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct vm vm = { .ctx = NULL };
	int prio = LOG_ERR, ret, rc;

	/* A line at a time, in order with the library's log on stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = parse(&vm, argc, argv, &prio);
	if (ret) {
		usage(ret > 0 ? stdout : stderr);
		return ret > 0 ? EXIT_SUCCESS : EXIT_USAGE;
	}
	ret = vfiomig_ctx_new(NULL, &vm.ctx);
	if (ret < 0) {
		fprintf(stderr, "vmm-migrate: context: %s\n", strerror(-ret));
		return EXIT_USAGE;
	}
	vfiomig_ctx_set_log_fn(vm.ctx, log_fn, NULL);
	vfiomig_ctx_set_log_priority(vm.ctx, prio);

	ret = open_all(&vm, argv[optind], argv[optind + 1]);
	rc = ret < 0 ? EXIT_USAGE : migrate(&vm);
	if (ret >= 0) {
		printf("states:\n");
		show_states("source", &vm.src);
		show_states("destination", &vm.dst);
	}
	printf("vmm-migrate: %s\n", rc == 0 ? "migrated" :
		rc == EXIT_ROLLED_BACK ? "FAILED, rolled back" :
		rc == EXIT_USAGE ? "FAILED, nothing moved" :
		"FAILED, rollback incomplete");

	close_side(&vm.src);
	close_side(&vm.dst);
	for (size_t i = 0; i < MAX_DEVS; i++)
		free(vm.chan[i].data);
	vfiomig_ctx_free(vm.ctx);
	return rc;
}
