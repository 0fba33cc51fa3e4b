// SPDX-License-Identifier: LGPL-2.1-or-later
/* STUB: replaced by the real fake dirty-tracking model (features 6, 7, 8,
 * Type1 DIRTY_PAGES, iommufd HWPT dirty tracking, IOMMU_TEST_CMD). */
#include <errno.h>

#include "fake-internal.h"

int fake_log_feature(struct fake_fd *f, uint32_t flags, void *data,
		     uint32_t payload)
{
	(void)f; (void)flags; (void)data; (void)payload;
	return -ENOTTY;
}
int fake_type1_dirty_ioctl(struct fake_fd *f, void *arg)
{
	(void)f; (void)arg;
	return -EINVAL;
}
int fake_type1_unmap_dirty(struct fake_container *c, void *unmap_arg)
{
	(void)c; (void)unmap_arg;
	return -EINVAL;
}
int fake_iommufd_dirty_ioctl(struct fake_fd *f, unsigned long req, void *arg)
{
	(void)f; (void)req; (void)arg;
	return -ENOTTY;
}
void fake_dirty_init_dev(struct fake_dev *d) { (void)d; }
void fake_dirty_fini_dev(struct fake_dev *d) { (void)d; }
bool fake_dev_logging(int id) { (void)id; return false; }
void fake_dev_dma_write(int id, uint64_t iova, uint64_t length) { (void)id; (void)iova; (void)length; }
void fake_dma_write(uint64_t iova, uint64_t length) { (void)iova; (void)length; }
