// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mtest: libvfiomig's programmable test mdev driver, for the real-kernel
 * test tier only (tests/vm/, never installed).  Built against the VM's
 * kernel by tests/vm/build-kernel.sh and loaded by guest-init.sh.
 *
 * It is the fake kernel's GENERIC device (tests/fake/fake-mig.c, the
 * reference: keep the two in step) as an mdev, so that the cases that need
 * a device with megabytes of state, precopy dirtying, an ENOMSG end of
 * precopy data, a capability set of its own, an arc refused on demand, an
 * ERROR state or a DMA log of its own run against the real vfio core:
 * argsz and flag checks, vfio_mig_get_next_state(), the data fd's file
 * semantics, DMA logging's range checks, Type1 and iommufd are Linux's.
 *
 * Its state is a blob of state_size bytes (bytes 0-15 are registers, never
 * written: zero), streamed as records
 *	{ u32 magic "FKMG", u32 type, u64 off, u64 len } + payload
 * CHUNK records carry blob[off, off + len) in 4 KiB chunks; an END record
 * carries off = state_size and len = the FNV-1a 64 of the blob.
 *
 * Knobs (root only) in /sys/bus/mdev/devices/UUID/mtest/: mig_flags,
 * state_size, precopy_initial, precopy_dirty, precopy_enomsg, log_ops,
 * log_reject_double, log_pgsize are read by a write of "reset" (the device
 * must be closed: EBUSY), which also puts it in RUNNING with no session;
 * fill (a seed), dirty (bytes), error (1), fail_arc ("from to errno"),
 * log_answer (the page size the next DMA logging STARTs answer, now),
 * dma_write ("iova length": pages its DMA log marks), dma_rw ("iova
 * length": the device, open, reads guest memory there through
 * vfio_dma_rw() and writes the same bytes back, which Type1 reports
 * dirty) act at once; state and blob are read-only.
 */
#include <linux/anon_inodes.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/kernel.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/log2.h>
#include <linux/uaccess.h>
#include <linux/unaligned.h>
#include <linux/vfio.h>
#include <linux/vmalloc.h>

#define MTEST_NAME "mtest"
#define MTEST_NDEV 16

#define GEN_MAGIC 0x474d4b46u /* "FKMG" little-endian */
#define GEN_CHUNK 4096u
#define GEN_HDR 24u
#define GEN_CHUNK_REC 1u
#define GEN_END_REC 2u
#define GEN_MAX_STREAM (512u << 20)
#define GEN_MAX_STATE (64u << 20)

#define REGION_SHIFT 40
#define CONFIG_SIZE 0x100

/* Intervals [a, b): the logged ranges and the pages dirtied in them. */
struct ivset {
	struct { u64 a, b; } *v;
	size_t n, cap;
};

struct mtest_file;

struct mtest {
	struct vfio_device vdev;
	struct mutex lock;              /* everything below, files' too */
	bool open;
	/* knobs, applied by "reset" */
	u64 k_mig_flags;
	size_t k_state_size, k_precopy_initial, k_precopy_dirty;
	bool k_precopy_enomsg, k_log_ops, k_log_reject_double;
	u64 k_log_pgsize;
	/* applied */
	bool precopy_enomsg, log_reject_double;
	u64 log_pgsize;
	enum vfio_device_mig_state state;
	struct mtest_file *saving, *resuming;
	bool fail_armed;
	u32 fail_from, fail_to;
	int fail_err;
	u8 *blob;
	size_t size, nchunks, precopy_initial, precopy_dirty, dirty_cursor;
	u32 seed;
	u32 *ver, *sent;
	bool *pending;
	/* DMA logging */
	bool logging;
	u64 page_size;
	struct ivset ranges, dirty;
	u8 config[CONFIG_SIZE];
};

struct mtest_file {
	struct file *filp;
	struct mtest *dev;      /* holds a reference on dev->vdev */
	bool disabled, saving;
	u8 *data;
	size_t filled, cap, initial_end;
};

static const struct vfio_migration_ops mtest_mig_ops;
static const struct vfio_log_ops mtest_log_ops;

/* ------------------------------------------------------------ intervals */

static void iv_free(struct ivset *s)
{
	kvfree(s->v);
	memset(s, 0, sizeof(*s));
}

static int iv_reserve(struct ivset *s, size_t n)
{
	void *nv;
	size_t cap;

	if (n <= s->cap)
		return 0;
	cap = max_t(size_t, 16, s->cap * 2);
	while (cap < n)
		cap *= 2;
	nv = kvcalloc(cap, sizeof(*s->v), GFP_KERNEL);
	if (!nv)
		return -ENOMEM;
	if (s->n)
		memcpy(nv, s->v, s->n * sizeof(*s->v));
	kvfree(s->v);
	s->v = nv;
	s->cap = cap;
	return 0;
}

/* Add [a, b), merging: the set stays sorted and disjoint. */
static int iv_add(struct ivset *s, u64 a, u64 b)
{
	size_t i = 0, j;

	if (a >= b)
		return 0;
	while (i < s->n && s->v[i].b < a)
		i++;
	j = i;
	while (j < s->n && s->v[j].a <= b) {
		a = min(a, s->v[j].a);
		b = max(b, s->v[j].b);
		j++;
	}
	if (j == i) {
		if (iv_reserve(s, s->n + 1))
			return -ENOMEM;
		memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
		s->n++;
	} else if (j > i + 1) {
		memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(*s->v));
		s->n -= j - i - 1;
	}
	s->v[i].a = a;
	s->v[i].b = b;
	return 0;
}

/* Remove [a, b). */
static int iv_del(struct ivset *s, u64 a, u64 b)
{
	for (size_t i = 0; i < s->n; i++) {
		u64 x = s->v[i].a, y = s->v[i].b;

		if (y <= a || x >= b)
			continue;
		if (x < a && y > b) {
			if (iv_reserve(s, s->n + 1))
				return -ENOMEM;
			memmove(&s->v[i + 1], &s->v[i],
				(s->n - i) * sizeof(*s->v));
			s->n++;
			s->v[i].b = a;
			s->v[i + 1].a = b;
			return 0;
		}
		if (x < a) {
			s->v[i].b = a;
		} else if (y > b) {
			s->v[i].a = b;
		} else {
			memmove(&s->v[i], &s->v[i + 1],
				(s->n - i - 1) * sizeof(*s->v));
			s->n--;
			i--;
		}
	}
	return 0;
}

/* ------------------------------------------------------- the state blob */

static u64 mix(u64 x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t chunk_len(struct mtest *m, size_t c)
{
	size_t off = c * GEN_CHUNK;

	return off + GEN_CHUNK < m->size ? GEN_CHUNK : m->size - off;
}

/* Bytes 0-15 are the registers: nothing writes them. */
static void gen_regs(struct mtest *m)
{
	memset(m->blob, 0, min_t(size_t, m->size, 16));
}

static void gen_chunk_content(struct mtest *m, size_t c)
{
	size_t off = c * GEN_CHUNK, end = off + chunk_len(m, c);
	u64 k = mix(((u64)m->seed << 32) ^ c ^ ((u64)m->ver[c] << 48));

	for (size_t i = off; i < end; i++) {
		if (((i - off) & 7) == 0)
			k = mix(k);
		m->blob[i] = (u8)(k >> (8 * ((i - off) & 7)));
	}
}

static void gen_fill(struct mtest *m, u32 seed)
{
	m->seed = seed;
	for (size_t c = 0; c < m->nchunks; c++) {
		m->ver[c]++;
		gen_chunk_content(m, c);
	}
	gen_regs(m);
}

static u64 fnv1a(const u8 *p, size_t n)
{
	u64 h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static void gen_dirty(struct mtest *m, size_t n)
{
	size_t k = DIV_ROUND_UP(n, GEN_CHUNK);

	if (!m->nchunks)
		return;
	k = min(k, m->nchunks);
	while (k--) {
		size_t c = m->dirty_cursor++ % m->nchunks;

		m->ver[c]++;
		gen_chunk_content(m, c);
		if (c == 0)
			gen_regs(m);
		m->pending[c] = true;
	}
}

static u64 gen_inc(struct mtest *m)
{
	u64 n = 0;

	for (size_t c = 0; c < m->nchunks; c++)
		if (m->pending[c])
			n += GEN_HDR + chunk_len(m, c);
	return n;
}

static u64 gen_stream_size(struct mtest *m)
{
	return (u64)m->nchunks * GEN_HDR + m->size + GEN_HDR;
}

static void gen_free(struct mtest *m)
{
	kvfree(m->blob);
	kvfree(m->ver);
	kvfree(m->sent);
	kvfree(m->pending);
	m->blob = NULL;
	m->ver = m->sent = NULL;
	m->pending = NULL;
	m->size = m->nchunks = 0;
}

static int gen_alloc(struct mtest *m, size_t size)
{
	size_t n = DIV_ROUND_UP(size, GEN_CHUNK);

	gen_free(m);
	m->blob = kvzalloc(max_t(size_t, size, 1), GFP_KERNEL);
	m->ver = kvcalloc(n + 1, sizeof(*m->ver), GFP_KERNEL);
	m->sent = kvcalloc(n + 1, sizeof(*m->sent), GFP_KERNEL);
	m->pending = kvcalloc(n + 1, sizeof(*m->pending), GFP_KERNEL);
	if (!m->blob || !m->ver || !m->sent || !m->pending) {
		gen_free(m);
		return -ENOMEM;
	}
	m->size = size;
	m->nchunks = n;
	m->dirty_cursor = 0;
	return 0;
}

/* ------------------------------------------------------ migration files */

static int file_append(struct mtest_file *f, const void *p, size_t n)
{
	if (f->filled + n > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		u8 *nd;

		while (cap < f->filled + n)
			cap *= 2;
		nd = kvmalloc(cap, GFP_KERNEL_ACCOUNT);
		if (!nd)
			return -ENOMEM;
		if (f->filled)
			memcpy(nd, f->data, f->filled);
		kvfree(f->data);
		f->data = nd;
		f->cap = cap;
	}
	if (p)
		memcpy(f->data + f->filled, p, n);
	else
		memset(f->data + f->filled, 0, n);
	f->filled += n;
	return 0;
}

static int gen_record(struct mtest_file *f, u32 type, u64 off, u64 len,
		      const void *payload, size_t plen)
{
	u8 h[GEN_HDR];
	int ret;

	put_unaligned_le32(GEN_MAGIC, h);
	put_unaligned_le32(type, h + 4);
	put_unaligned_le64(off, h + 8);
	put_unaligned_le64(len, h + 16);
	ret = file_append(f, h, sizeof(h));
	if (!ret && plen)
		ret = file_append(f, payload, plen);
	return ret;
}

static int gen_send_chunk(struct mtest *m, struct mtest_file *f, size_t c)
{
	size_t len = chunk_len(m, c);
	int ret = gen_record(f, GEN_CHUNK_REC, (u64)c * GEN_CHUNK, len,
			     m->blob + c * GEN_CHUNK, len);

	if (!ret) {
		m->sent[c] = m->ver[c];
		m->pending[c] = false;
	}
	return ret;
}

static int gen_precopy_start(struct mtest *m, struct mtest_file *f)
{
	size_t n = DIV_ROUND_UP(min(m->precopy_initial, m->size), GEN_CHUNK);

	for (size_t c = 0; c < m->nchunks; c++) {
		m->sent[c] = 0;
		m->pending[c] = false;
	}
	for (size_t c = 0; c < n; c++) {
		int ret = gen_send_chunk(m, f, c);

		if (ret)
			return ret;
	}
	f->initial_end = f->filled;
	return 0;
}

static int gen_stop_copy(struct mtest *m, struct mtest_file *f, bool fresh)
{
	int ret;

	for (size_t c = 0; c < m->nchunks; c++) {
		if (fresh)
			m->sent[c] = 0;
		if (m->sent[c] && m->sent[c] == m->ver[c])
			continue;
		ret = gen_send_chunk(m, f, c);
		if (ret)
			return ret;
	}
	return gen_record(f, GEN_END_REC, m->size, fnv1a(m->blob, m->size),
			  NULL, 0);
}

static int gen_queue_dirty(struct mtest *m, struct mtest_file *f)
{
	for (size_t c = 0; c < m->nchunks; c++) {
		int ret;

		if (!m->pending[c])
			continue;
		ret = gen_send_chunk(m, f, c);
		if (ret)
			return ret;
	}
	return 0;
}

/* RESUMING -> STOP: replay the records; EINVAL unless complete. */
static int gen_load(struct mtest *m, struct mtest_file *f)
{
	u8 *blob = kvzalloc(max_t(size_t, m->size, 1), GFP_KERNEL);
	bool *seen = kvcalloc(max_t(size_t, m->nchunks, 1), sizeof(bool),
			      GFP_KERNEL);
	size_t p = 0;
	int ret = -EINVAL;

	if (!blob || !seen) {
		ret = -ENOMEM;
		goto out;
	}
	while (p + GEN_HDR <= f->filled) {
		const u8 *h = f->data + p;
		u32 type = get_unaligned_le32(h + 4);
		u64 off = get_unaligned_le64(h + 8);
		u64 len = get_unaligned_le64(h + 16);

		if (get_unaligned_le32(h) != GEN_MAGIC)
			goto out;
		p += GEN_HDR;
		if (type == GEN_END_REC) {
			if (p != f->filled || off != m->size ||
			    len != fnv1a(blob, m->size))
				goto out;
			for (size_t c = 0; c < m->nchunks; c++)
				if (!seen[c])
					goto out;
			memcpy(m->blob, blob, m->size);
			gen_regs(m);
			for (size_t c = 0; c < m->nchunks; c++) {
				m->ver[c]++;
				m->sent[c] = 0;
				m->pending[c] = false;
			}
			ret = 0;
			goto out;
		}
		if (type != GEN_CHUNK_REC || off % GEN_CHUNK ||
		    off >= m->size || len != chunk_len(m, off / GEN_CHUNK) ||
		    f->filled - p < len)
			goto out;
		memcpy(blob + off, f->data + p, len);
		seen[off / GEN_CHUNK] = true;
		p += len;
	}
out:
	kvfree(blob);
	kvfree(seen);
	return ret;
}

static bool is_precopy(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

/* The device's reference to a file goes: the file is dead (ENODEV). */
static void file_disable(struct mtest_file **fp)
{
	struct mtest_file *f = *fp;

	if (!f)
		return;
	f->disabled = true;
	f->filled = 0;
	f->filp->f_pos = 0;
	*fp = NULL;
	fput(f->filp);
}

static void disable_files(struct mtest *m)
{
	file_disable(&m->saving);
	file_disable(&m->resuming);
}

static int mtest_release_file(struct inode *inode, struct file *filp)
{
	struct mtest_file *f = filp->private_data;
	struct mtest *m = f->dev;

	kvfree(f->data);
	kfree(f);
	vfio_put_device(&m->vdev);
	return 0;
}

static ssize_t mtest_save_read(struct file *filp, char __user *buf,
			       size_t len, loff_t *pos)
{
	struct mtest_file *f = filp->private_data;
	struct mtest *m = f->dev;
	ssize_t ret = 0;
	size_t n;

	if (pos)
		return -ESPIPE;
	pos = &filp->f_pos;
	mutex_lock(&m->lock);
	if (f->disabled) {
		ret = -ENODEV;
		goto out;
	}
	if (*pos > f->filled) {
		ret = -EINVAL;
		goto out;
	}
	n = min_t(size_t, f->filled - *pos, len);
	if (n) {
		if (copy_to_user(buf, f->data + *pos, n)) {
			ret = -EFAULT;
			goto out;
		}
		*pos += n;
		ret = n;
		goto out;
	}
	/* The temporary end of precopy data. */
	if (m->precopy_enomsg && is_precopy(m->state))
		ret = -ENOMSG;
out:
	mutex_unlock(&m->lock);
	return ret;
}

static long mtest_precopy_ioctl(struct file *filp, unsigned int cmd,
				unsigned long arg)
{
	struct mtest_file *f = filp->private_data;
	struct mtest *m = f->dev;
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info = {};
	loff_t pos = filp->f_pos;
	int ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&m->lock);
	if (!is_precopy(m->state)) {
		ret = -EINVAL;
		goto out;
	}
	if (f->disabled) {
		ret = -ENODEV;
		goto out;
	}
	if (pos > f->filled) {
		ret = -EINVAL;
		goto out;
	}
	/* The device ran since the last look. */
	gen_dirty(m, m->precopy_dirty);
	info.initial_bytes = 0;
	info.dirty_bytes = 0;
	if (f->initial_end > pos) {
		info.initial_bytes = f->initial_end - pos;
	} else {
		u64 queued = f->filled - pos, inc = gen_inc(m);

		info.dirty_bytes = queued + inc;
		if (!queued && inc)
			ret = gen_queue_dirty(m, f);
	}
out:
	mutex_unlock(&m->lock);
	if (!ret && copy_to_user((void __user *)arg, &info, minsz))
		ret = -EFAULT;
	return ret;
}

static ssize_t mtest_resume_write(struct file *filp, const char __user *buf,
				  size_t len, loff_t *pos)
{
	struct mtest_file *f = filp->private_data;
	struct mtest *m = f->dev;
	ssize_t ret;

	if (pos)
		return -ESPIPE;
	pos = &filp->f_pos;
	if (len > SIZE_MAX - *pos)
		return -EINVAL;
	mutex_lock(&m->lock);
	if (*pos + len > GEN_MAX_STREAM) {
		ret = -ENOMEM;
		goto out;
	}
	if (f->disabled) {
		ret = -ENODEV;
		goto out;
	}
	ret = file_append(f, NULL, len);
	if (ret)
		goto out;
	if (copy_from_user(f->data + f->filled - len, buf, len)) {
		f->filled -= len;
		ret = -EFAULT;
		goto out;
	}
	*pos += len;
	ret = len;
out:
	mutex_unlock(&m->lock);
	return ret;
}

static const struct file_operations mtest_save_fops = {
	.owner = THIS_MODULE,
	.read = mtest_save_read,
	.unlocked_ioctl = mtest_precopy_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = mtest_release_file,
};

static const struct file_operations mtest_resume_fops = {
	.owner = THIS_MODULE,
	.write = mtest_resume_write,
	.release = mtest_release_file,
};

static struct mtest_file *file_new(struct mtest *m, bool saving)
{
	struct mtest_file *f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);

	if (!f)
		return ERR_PTR(-ENOMEM);
	f->filp = anon_inode_getfile("mtest_mig",
				     saving ? &mtest_save_fops
					    : &mtest_resume_fops,
				     f, saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(f->filp)) {
		int ret = PTR_ERR(f->filp);

		kfree(f);
		return ERR_PTR(ret);
	}
	stream_open(f->filp->f_inode, f->filp);
	f->dev = m;
	f->saving = saving;
	get_device(&m->vdev.device); /* put by mtest_release_file */
	return f;
}

/* ----------------------------------------------------------- the FSM */

/* One arc, as fake-mig.c's step_state().  Returns a file to hand out as a
 * new fd, NULL, or an ERR_PTR. */
static struct file *step_state(struct mtest *m, enum vfio_device_mig_state new)
{
	enum vfio_device_mig_state cur = m->state;
	struct mtest_file *f;
	int ret;

	if (m->fail_armed && m->fail_from == cur && m->fail_to == new) {
		m->fail_armed = false;
		return ERR_PTR(m->fail_err);
	}
	/* No-op arcs: P2P quiescing, PRE_COPY <-> PRE_COPY_P2P, and
	 * RUNNING <-> STOP without P2P. */
	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     (new == VFIO_DEVICE_STATE_RUNNING ||
	      new == VFIO_DEVICE_STATE_STOP)) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     new == VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     new == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_STOP) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     new == VFIO_DEVICE_STATE_RUNNING))
		return NULL;

	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    new == VFIO_DEVICE_STATE_STOP) {
		if (!m->resuming)
			return ERR_PTR(-EINVAL);
		ret = gen_load(m, m->resuming);
		if (ret)
			return ERR_PTR(ret);
		disable_files(m);
		return NULL;
	}
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     new == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	     new == VFIO_DEVICE_STATE_STOP)) {
		disable_files(m);
		return NULL;
	}
	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     new == VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     new == VFIO_DEVICE_STATE_STOP_COPY) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     new == VFIO_DEVICE_STATE_STOP_COPY) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     new == VFIO_DEVICE_STATE_STOP_COPY)) {
		bool fresh = !m->saving;

		if (!fresh) {
			if (new != VFIO_DEVICE_STATE_STOP_COPY)
				return NULL;
			ret = gen_stop_copy(m, m->saving, false);
			return ret ? ERR_PTR(ret) : NULL;
		}
		f = file_new(m, true);
		if (IS_ERR(f))
			return ERR_CAST(f);
		ret = new == VFIO_DEVICE_STATE_STOP_COPY ?
			      gen_stop_copy(m, f, true) :
			      gen_precopy_start(m, f);
		if (ret) {
			fput(f->filp);
			return ERR_PTR(ret);
		}
		m->saving = f;
		get_file(f->filp);
		return f->filp;
	}
	if (cur == VFIO_DEVICE_STATE_STOP &&
	    new == VFIO_DEVICE_STATE_RESUMING) {
		f = file_new(m, false);
		if (IS_ERR(f))
			return ERR_CAST(f);
		m->resuming = f;
		get_file(f->filp);
		return f->filp;
	}
	/* vfio_mig_get_next_state() does not use arcs other than the above */
	WARN_ON(true);
	return ERR_PTR(-EINVAL);
}

static struct file *mtest_set_state(struct vfio_device *vdev,
				    enum vfio_device_mig_state new)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);
	struct file *ret = NULL;

	mutex_lock(&m->lock);
	/* Like pds: ERROR is left only by a reset, every SET there is EIO. */
	if (m->state == VFIO_DEVICE_STATE_ERROR) {
		ret = ERR_PTR(-EIO);
		goto out;
	}
	while (m->state != new) {
		enum vfio_device_mig_state next;
		int rc = vfio_mig_get_next_state(vdev, m->state, new, &next);

		if (rc) {
			ret = ERR_PTR(rc);
			break;
		}
		ret = step_state(m, next);
		if (IS_ERR(ret))
			break;
		m->state = next;
		if (WARN_ON(ret && new != next)) {
			fput(ret);
			ret = ERR_PTR(-EINVAL);
			break;
		}
	}
out:
	mutex_unlock(&m->lock);
	return ret;
}

static int mtest_get_state(struct vfio_device *vdev,
			   enum vfio_device_mig_state *cur)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_lock(&m->lock);
	*cur = m->state;
	mutex_unlock(&m->lock);
	return 0;
}

static int mtest_get_data_size(struct vfio_device *vdev,
			       unsigned long *stop_copy_length)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_lock(&m->lock);
	*stop_copy_length = gen_stream_size(m);
	mutex_unlock(&m->lock);
	return 0;
}

static const struct vfio_migration_ops mtest_mig_ops = {
	.migration_set_state = mtest_set_state,
	.migration_get_state = mtest_get_state,
	.migration_get_data_size = mtest_get_data_size,
};

/* ------------------------------------------------------- DMA logging */

static int mtest_log_start(struct vfio_device *vdev,
			   struct rb_root_cached *ranges, u32 nnodes,
			   u64 *page_size)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);
	struct interval_tree_node *node;
	struct ivset tree = {};
	int ret = 0;

	mutex_lock(&m->lock);
	/* mlx5 refuses a second START, mtty does not. */
	if (m->logging && m->log_reject_double) {
		ret = -EINVAL;
		goto out;
	}
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX); node;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX)) {
		ret = iv_add(&tree, node->start, (u64)node->last + 1);
		if (ret) {
			iv_free(&tree);
			goto out;
		}
	}
	if (m->log_pgsize)
		*page_size = m->log_pgsize;
	iv_free(&m->ranges);
	iv_free(&m->dirty);
	m->ranges = tree;
	m->logging = true;
	m->page_size = *page_size;
out:
	mutex_unlock(&m->lock);
	return ret;
}

static int mtest_log_stop(struct vfio_device *vdev)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_lock(&m->lock);
	m->logging = false;
	iv_free(&m->ranges);
	iv_free(&m->dirty);
	mutex_unlock(&m->lock);
	return 0;
}

static int mtest_log_read_and_clear(struct vfio_device *vdev,
				    unsigned long iova, unsigned long length,
				    struct iova_bitmap *dirty)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);
	u64 end = (u64)iova + length;
	int ret = 0;

	mutex_lock(&m->lock);
	/* mlx5 wants a started tracker. */
	if (!m->logging) {
		ret = m->log_reject_double ? -EINVAL : 0;
		goto out;
	}
	for (size_t i = 0; i < m->dirty.n; i++) {
		u64 a = max_t(u64, m->dirty.v[i].a, iova);
		u64 b = min_t(u64, m->dirty.v[i].b, end);

		if (a < b)
			iova_bitmap_set(dirty, a, b - a);
	}
	ret = iv_del(&m->dirty, iova, end);
out:
	mutex_unlock(&m->lock);
	return ret;
}

static const struct vfio_log_ops mtest_log_ops = {
	.log_start = mtest_log_start,
	.log_stop = mtest_log_stop,
	.log_read_and_clear = mtest_log_read_and_clear,
};

/* The device wrote [iova, iova + len): logged at the logging page size
 * where it falls inside the logged ranges, if logging. */
static int dma_write(struct mtest *m, u64 iova, u64 len)
{
	u64 ps = m->page_size && is_power_of_2(m->page_size) ? m->page_size
							     : PAGE_SIZE;

	if (!m->logging || !len)
		return 0;
	for (size_t i = 0; i < m->ranges.n; i++) {
		u64 a = max(m->ranges.v[i].a, iova);
		u64 b = min(m->ranges.v[i].b, iova + len);
		int ret;

		if (a >= b)
			continue;
		ret = iv_add(&m->dirty, a & ~(ps - 1),
			     ((b - 1) & ~(ps - 1)) + ps);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------ device fd and ioctls */

static ssize_t mtest_rw(struct mtest *m, char __user *buf, size_t count,
			loff_t *ppos, bool write)
{
	unsigned int index = *ppos >> REGION_SHIFT;
	u64 off = *ppos & ((1ULL << REGION_SHIFT) - 1);
	ssize_t ret = count;

	if (index != VFIO_PCI_CONFIG_REGION_INDEX || off > CONFIG_SIZE ||
	    count > CONFIG_SIZE - off)
		return -EINVAL;
	mutex_lock(&m->lock);
	if (write ? copy_from_user(m->config + off, buf, count) :
		    copy_to_user(buf, m->config + off, count))
		ret = -EFAULT;
	mutex_unlock(&m->lock);
	if (ret > 0)
		*ppos += count;
	return ret;
}

static ssize_t mtest_read(struct vfio_device *vdev, char __user *buf,
			  size_t count, loff_t *ppos)
{
	return mtest_rw(container_of(vdev, struct mtest, vdev), buf, count,
			ppos, false);
}

static ssize_t mtest_write(struct vfio_device *vdev, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	return mtest_rw(container_of(vdev, struct mtest, vdev),
			(char __user *)buf, count, ppos, true);
}

static void mtest_reset_state(struct mtest *m)
{
	if (!m->vdev.mig_ops)
		return;
	m->state = VFIO_DEVICE_STATE_RUNNING;
	disable_files(m);
}

static long mtest_ioctl(struct vfio_device *vdev, unsigned int cmd,
			unsigned long arg)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;
		unsigned long minsz = offsetofend(struct vfio_device_info,
						  num_irqs);

		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = VFIO_PCI_NUM_REGIONS;
		info.num_irqs = VFIO_PCI_NUM_IRQS;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;
		unsigned long minsz = offsetofend(struct vfio_region_info,
						  offset);

		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		if (info.index >= VFIO_PCI_VGA_REGION_INDEX)
			return -EINVAL;
		info.offset = (u64)info.index << REGION_SHIFT;
		info.size = info.index == VFIO_PCI_CONFIG_REGION_INDEX ?
				    CONFIG_SIZE : 0;
		info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ |
						 VFIO_REGION_INFO_FLAG_WRITE :
					 0;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;
		unsigned long minsz = offsetofend(struct vfio_irq_info, count);

		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
			return -EINVAL;
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
			info.flags |= VFIO_IRQ_INFO_MASKABLE |
				      VFIO_IRQ_INFO_AUTOMASKED;
		else if (info.index == VFIO_PCI_MSI_IRQ_INDEX)
			info.flags |= VFIO_IRQ_INFO_NORESIZE;
		info.count = info.index <= VFIO_PCI_MSI_IRQ_INDEX ? 1 : 0;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct vfio_irq_set hdr;
		unsigned long minsz = offsetofend(struct vfio_irq_set, count);

		if (copy_from_user(&hdr, uarg, minsz))
			return -EFAULT;
		if (hdr.argsz < minsz || hdr.index >= VFIO_PCI_NUM_IRQS ||
		    hdr.count >= U32_MAX - hdr.start || (hdr.flags & ~0x3f))
			return -EINVAL;
		return 0; /* no interrupt ever fires */
	}
	case VFIO_DEVICE_RESET:
		mutex_lock(&m->lock);
		mtest_reset_state(m);
		mutex_unlock(&m->lock);
		return 0;
	}
	return -ENOTTY;
}

static int mtest_open_device(struct vfio_device *vdev)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_lock(&m->lock);
	m->open = true;
	mutex_unlock(&m->lock);
	return 0;
}

/* A variant driver resets on the next open: RUNNING, every file dead.
 * DMA logging goes on (the fake keeps it too). */
static void mtest_close_device(struct vfio_device *vdev)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_lock(&m->lock);
	m->open = false;
	mtest_reset_state(m);
	mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------- knobs */

static struct mtest *knob_dev(struct device *dev)
{
	return dev_get_drvdata(dev);
}

#define KNOB_U64(name, field)                                               \
	static ssize_t name##_show(struct device *dev,                      \
				   struct device_attribute *attr, char *buf) \
	{                                                                   \
		struct mtest *m = knob_dev(dev);                            \
		u64 v;                                                      \
		mutex_lock(&m->lock);                                       \
		v = m->field;                                               \
		mutex_unlock(&m->lock);                                     \
		return sysfs_emit(buf, "%llu\n", (unsigned long long)v);    \
	}                                                                   \
	static ssize_t name##_store(struct device *dev,                     \
				    struct device_attribute *attr,          \
				    const char *buf, size_t count)          \
	{                                                                   \
		struct mtest *m = knob_dev(dev);                            \
		u64 v;                                                      \
		int ret = kstrtou64(buf, 0, &v);                            \
		if (ret)                                                    \
			return ret;                                         \
		mutex_lock(&m->lock);                                       \
		m->field = v;                                               \
		mutex_unlock(&m->lock);                                     \
		return count;                                               \
	}                                                                   \
	static DEVICE_ATTR_RW(name)

KNOB_U64(mig_flags, k_mig_flags);
KNOB_U64(precopy_initial, k_precopy_initial);
KNOB_U64(precopy_dirty, k_precopy_dirty);
KNOB_U64(precopy_enomsg, k_precopy_enomsg);
KNOB_U64(log_ops, k_log_ops);
KNOB_U64(log_reject_double, k_log_reject_double);
KNOB_U64(log_pgsize, k_log_pgsize);

/* state_size reads back what is applied (the blob's size). */
static ssize_t state_size_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct mtest *m = knob_dev(dev);
	size_t v;

	mutex_lock(&m->lock);
	v = m->size;
	mutex_unlock(&m->lock);
	return sysfs_emit(buf, "%zu\n", v);
}

static ssize_t state_size_store(struct device *dev,
				struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);
	u64 v;
	int ret = kstrtou64(buf, 0, &v);

	if (ret)
		return ret;
	if (v > GEN_MAX_STATE)
		return -EINVAL;
	mutex_lock(&m->lock);
	m->k_state_size = v;
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_RW(state_size);

/* Apply the knobs: a fresh device. */
static ssize_t reset_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);
	int ret = 0;

	mutex_lock(&m->lock);
	if (m->open) {
		ret = -EBUSY;
		goto out;
	}
	if ((m->k_mig_flags && !(m->k_mig_flags & VFIO_MIGRATION_STOP_COPY)) ||
	    (m->k_mig_flags & ~(u64)(VFIO_MIGRATION_STOP_COPY |
				     VFIO_MIGRATION_P2P |
				     VFIO_MIGRATION_PRE_COPY))) {
		ret = -EINVAL;
		goto out;
	}
	disable_files(m);
	ret = gen_alloc(m, m->k_state_size);
	if (ret)
		goto out;
	m->vdev.migration_flags = m->k_mig_flags;
	m->vdev.mig_ops = m->k_mig_flags ? &mtest_mig_ops : NULL;
	m->vdev.log_ops = m->k_log_ops ? &mtest_log_ops : NULL;
	m->precopy_initial = m->k_precopy_initial;
	m->precopy_dirty = m->k_precopy_dirty;
	m->precopy_enomsg = m->k_precopy_enomsg;
	m->log_reject_double = m->k_log_reject_double;
	m->log_pgsize = m->k_log_pgsize;
	m->state = VFIO_DEVICE_STATE_RUNNING;
	m->fail_armed = false;
	m->logging = false;
	m->page_size = 0;
	iv_free(&m->ranges);
	iv_free(&m->dirty);
	memset(m->config, 0, sizeof(m->config));
out:
	mutex_unlock(&m->lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(reset);

static ssize_t fill_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);
	u32 seed;
	int ret = kstrtou32(buf, 0, &seed);

	if (ret)
		return ret;
	mutex_lock(&m->lock);
	gen_fill(m, seed);
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_WO(fill);

static ssize_t dirty_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);
	u64 n;
	int ret = kstrtou64(buf, 0, &n);

	if (ret)
		return ret;
	mutex_lock(&m->lock);
	gen_dirty(m, n);
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_WO(dirty);

/* pds_vfio_reset(..., ERROR): the files die with it. */
static ssize_t error_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);

	mutex_lock(&m->lock);
	m->state = VFIO_DEVICE_STATE_ERROR;
	disable_files(m);
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_WO(error);

static ssize_t fail_arc_store(struct device *dev,
			      struct device_attribute *attr, const char *buf,
			      size_t count)
{
	struct mtest *m = knob_dev(dev);
	u32 from, to;
	int err;

	if (sscanf(buf, "%u %u %d", &from, &to, &err) != 3 || err < 0 ||
	    err > MAX_ERRNO)
		return -EINVAL;
	mutex_lock(&m->lock);
	m->fail_armed = err != 0;
	m->fail_from = from;
	m->fail_to = to;
	m->fail_err = -err;
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_WO(fail_arc);

static ssize_t dma_write_store(struct device *dev,
			       struct device_attribute *attr, const char *buf,
			       size_t count)
{
	struct mtest *m = knob_dev(dev);
	unsigned long long iova, len;
	int ret;

	if (sscanf(buf, "%llu %llu", &iova, &len) != 2 || iova + len < iova)
		return -EINVAL;
	mutex_lock(&m->lock);
	ret = dma_write(m, iova, len);
	mutex_unlock(&m->lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(dma_write);

/* The driver changes its mind: the next STARTs answer this page size. */
static ssize_t log_answer_store(struct device *dev,
				struct device_attribute *attr, const char *buf,
				size_t count)
{
	struct mtest *m = knob_dev(dev);
	u64 v;
	int ret = kstrtou64(buf, 0, &v);

	if (ret)
		return ret;
	mutex_lock(&m->lock);
	m->log_pgsize = v;
	mutex_unlock(&m->lock);
	return count;
}
static DEVICE_ATTR_WO(log_answer);

/* vfio_dma_rw() of an open device: read, then write the same bytes back
 * (the guest's memory is unchanged, Type1 marks the pages dirty). */
static ssize_t dma_rw_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct mtest *m = knob_dev(dev);
	unsigned long long iova, len;
	void *data;
	int ret;

	if (sscanf(buf, "%llu %llu", &iova, &len) != 2 || !len ||
	    len > SZ_16M || iova + len < iova)
		return -EINVAL;
	data = kvmalloc(len, GFP_KERNEL);
	if (!data)
		return -ENOMEM;
	mutex_lock(&m->lock);
	ret = m->open ? 0 : -ENODEV;
	if (!ret)
		ret = vfio_dma_rw(&m->vdev, iova, data, len, false);
	if (!ret)
		ret = vfio_dma_rw(&m->vdev, iova, data, len, true);
	mutex_unlock(&m->lock);
	kvfree(data);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(dma_rw);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct mtest *m = knob_dev(dev);
	int v;

	mutex_lock(&m->lock);
	v = m->state;
	mutex_unlock(&m->lock);
	return sysfs_emit(buf, "%d\n", v);
}
static DEVICE_ATTR_RO(state);

static ssize_t blob_read(struct file *filp, struct kobject *kobj,
			 struct bin_attribute *attr, char *buf, loff_t off,
			 size_t count)
{
	struct mtest *m = knob_dev(kobj_to_dev(kobj));
	ssize_t n = 0;

	mutex_lock(&m->lock);
	if (off < m->size) {
		n = min_t(size_t, count, m->size - off);
		memcpy(buf, m->blob + off, n);
	}
	mutex_unlock(&m->lock);
	return n;
}
static BIN_ATTR_RO(blob, 0);

static struct attribute *mtest_attrs[] = {
	&dev_attr_mig_flags.attr,
	&dev_attr_state_size.attr,
	&dev_attr_precopy_initial.attr,
	&dev_attr_precopy_dirty.attr,
	&dev_attr_precopy_enomsg.attr,
	&dev_attr_log_ops.attr,
	&dev_attr_log_reject_double.attr,
	&dev_attr_log_pgsize.attr,
	&dev_attr_reset.attr,
	&dev_attr_fill.attr,
	&dev_attr_dirty.attr,
	&dev_attr_error.attr,
	&dev_attr_fail_arc.attr,
	&dev_attr_dma_write.attr,
	&dev_attr_dma_rw.attr,
	&dev_attr_log_answer.attr,
	&dev_attr_state.attr,
	NULL,
};

static struct bin_attribute *mtest_bin_attrs[] = {
	&bin_attr_blob,
	NULL,
};

static const struct attribute_group mtest_group = {
	.name = MTEST_NAME,
	.attrs = mtest_attrs,
	.bin_attrs = mtest_bin_attrs,
};

static const struct attribute_group *mtest_groups[] = {
	&mtest_group,
	NULL,
};

/* --------------------------------------------- mdev type, probe, module */

static int mtest_init_dev(struct vfio_device *vdev)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	mutex_init(&m->lock);
	/* Until configured: STOP_COPY|P2P|PRE_COPY, 64 KiB, no logging. */
	m->k_mig_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			 VFIO_MIGRATION_PRE_COPY;
	m->k_state_size = 64 << 10;
	vdev->migration_flags = m->k_mig_flags;
	vdev->mig_ops = &mtest_mig_ops;
	m->state = VFIO_DEVICE_STATE_RUNNING;
	if (gen_alloc(m, m->k_state_size))
		return -ENOMEM;
	gen_fill(m, 1);
	return 0;
}

static void mtest_release_dev(struct vfio_device *vdev)
{
	struct mtest *m = container_of(vdev, struct mtest, vdev);

	gen_free(m);
	iv_free(&m->ranges);
	iv_free(&m->dirty);
	mutex_destroy(&m->lock);
}

static const struct vfio_device_ops mtest_dev_ops = {
	.name = "vfio-mtest",
	.init = mtest_init_dev,
	.release = mtest_release_dev,
	.open_device = mtest_open_device,
	.close_device = mtest_close_device,
	.read = mtest_read,
	.write = mtest_write,
	.ioctl = mtest_ioctl,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

static int mtest_probe(struct mdev_device *mdev)
{
	struct mtest *m;
	int ret;

	m = vfio_alloc_device(mtest, vdev, &mdev->dev, &mtest_dev_ops);
	if (IS_ERR(m))
		return PTR_ERR(m);
	dev_set_drvdata(&mdev->dev, m);
	ret = vfio_register_emulated_iommu_dev(&m->vdev);
	if (ret) {
		dev_set_drvdata(&mdev->dev, NULL);
		vfio_put_device(&m->vdev);
	}
	return ret;
}

static void mtest_remove(struct mdev_device *mdev)
{
	struct mtest *m = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&m->vdev);
	mutex_lock(&m->lock);
	disable_files(m);
	mutex_unlock(&m->lock);
	vfio_put_device(&m->vdev);
}

static unsigned int mtest_get_available(struct mdev_type *mtype)
{
	return MTEST_NDEV;
}

static struct mdev_driver mtest_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = MTEST_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = mtest_groups,
	},
	.probe = mtest_probe,
	.remove = mtest_remove,
	.get_available = mtest_get_available,
};

static struct mdev_type mtest_type = {
	.sysfs_name = "1",
	.pretty_name = "programmable test device",
};

static struct mdev_type *mtest_types[] = { &mtest_type };

static struct {
	struct class *class;
	struct device dev;
	struct mdev_parent parent;
} mtest_parent;

static void mtest_parent_release(struct device *dev)
{
}

static int __init mtest_init(void)
{
	int ret = mdev_register_driver(&mtest_driver);

	if (ret)
		return ret;
	mtest_parent.class = class_create(MTEST_NAME);
	if (IS_ERR(mtest_parent.class)) {
		ret = PTR_ERR(mtest_parent.class);
		goto err_driver;
	}
	mtest_parent.dev.class = mtest_parent.class;
	mtest_parent.dev.release = mtest_parent_release;
	dev_set_name(&mtest_parent.dev, "%s", MTEST_NAME);
	ret = device_register(&mtest_parent.dev);
	if (ret)
		goto err_put;
	ret = mdev_register_parent(&mtest_parent.parent, &mtest_parent.dev,
				   &mtest_driver, mtest_types,
				   ARRAY_SIZE(mtest_types));
	if (ret)
		goto err_device;
	return 0;

err_device:
	device_del(&mtest_parent.dev);
err_put:
	put_device(&mtest_parent.dev);
	class_destroy(mtest_parent.class);
err_driver:
	mdev_unregister_driver(&mtest_driver);
	return ret;
}

static void __exit mtest_exit(void)
{
	mdev_unregister_parent(&mtest_parent.parent);
	device_unregister(&mtest_parent.dev);
	class_destroy(mtest_parent.class);
	mdev_unregister_driver(&mtest_driver);
}

module_init(mtest_init);
module_exit(mtest_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("libvfiomig's programmable test mdev (tests only)");
MODULE_IMPORT_NS(IOMMUFD);
