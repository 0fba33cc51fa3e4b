// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real fake migration model (features 1, 2, 9). */
#include <errno.h>

#include "fake-internal.h"

int fake_mig_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload)
{
	(void)f; (void)flags; (void)data; (void)payload;
	return -ENOTTY;
}

void fake_mig_reset(struct fake_dev *d) { (void)d; }
void fake_mig_close_device(struct fake_dev *d) { (void)d; }
ssize_t fake_data_read(struct fake_fd *f, void *buf, size_t len)
{
	(void)f; (void)buf; (void)len;
	return -EBADF;
}
ssize_t fake_data_write(struct fake_fd *f, const void *buf, size_t len)
{
	(void)f; (void)buf; (void)len;
	return -EBADF;
}
int fake_data_ioctl(struct fake_fd *f, unsigned long req, void *arg)
{
	(void)f; (void)req; (void)arg;
	return -ENOTTY;
}
void fake_data_close(struct fake_fd *f) { (void)f; }
void fake_mig_init_dev(struct fake_dev *d) { (void)d; }
void fake_mig_fini_dev(struct fake_dev *d) { (void)d; }
int fake_dev_state(int id) { (void)id; return -1; }
void fake_dev_set_state(int id, int state) { (void)id; (void)state; }
void fake_dev_force_error(int id) { (void)id; }
void fake_dev_fail_arc(int id, int from, int to, int err) { (void)id; (void)from; (void)to; (void)err; }
void fake_dev_fill(int id, uint32_t seed) { (void)id; (void)seed; }
size_t fake_dev_blob(int id, void *buf, size_t len) { (void)id; (void)buf; (void)len; return 0; }
void fake_dev_dirty_precopy(int id, size_t n) { (void)id; (void)n; }
