// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fake kernel's device fds (test-only): drivers/vfio/vfio_main.c and
 * the drivers (mtty, a vfio-pci function): VFIO_DEVICE_FEATURE's generic
 * checks and dispatch (contract 2), RESET (7), GET_INFO, GET_REGION_INFO,
 * IRQ info, config space and region read/write (12.5).  The migration
 * model is in fake-mig.c, dirty tracking in fake-dirty.c, programmable
 * regions in fake-region.c.
 */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/iommufd.h>

#include "fake-internal.h"

struct fake_vfio_irq_info {
	uint32_t argsz, flags, index, count;
};

struct fake_vfio_irq_set {
	uint32_t argsz, flags, index, start, count;
};

int fake_check_feature(uint32_t flags, uint32_t payload, uint32_t ops,
		       uint32_t minsz)
{
	/* include/linux/vfio.h:vfio_check_feature, with the kernel's 0/1
	 * swapped: 1 = PROBE answered, 0 = go on. */
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) &
	    ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 1;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (payload < minsz)
		return -EINVAL;
	return 0;
}

/* vfio_main.c:vfio_ioctl_device_feature (contract 2). */
static int dev_feature(struct fake_fd *f, void *arg)
{
	struct vfio_device_feature hdr;
	uint32_t payload;

	if (!arg)
		return -EFAULT;
	memcpy(&hdr, arg, sizeof(hdr));
	if (hdr.argsz < sizeof(hdr))
		return -EINVAL;
	if (hdr.flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (!(hdr.flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (hdr.flags & VFIO_DEVICE_FEATURE_SET) &&
	    (hdr.flags & VFIO_DEVICE_FEATURE_GET))
		return -EINVAL;
	payload = hdr.argsz - sizeof(hdr);
	switch (hdr.flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
	case VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2:
		return fake_mig_feature(f, hdr.flags,
					(char *)arg + sizeof(hdr), payload);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return fake_log_feature(f, hdr.flags,
					(char *)arg + sizeof(hdr), payload);
	default:
		/* mtty has no ->device_feature; the fake vfio-pci variants
		 * answer ENOTTY for the vfio-pci core features too. */
		return -ENOTTY;
	}
}

/* The driver's ->ioctl: mtty_ioctl, or vfio_pci_core_ioctl for PCI. */
static int dev_driver_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	struct fake_dev *d = f->dev;
	bool mtty = d->cfg.personality == FAKE_MTTY;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		if (!arg)
			return -EFAULT;
		memcpy(&info, arg, 16);
		if (info.argsz < 16)
			return -EINVAL;
		/* mtty_get_device_info sets only FLAGS_PCI; vfio-pci adds
		 * RESET when reset_works. */
		info.flags = VFIO_DEVICE_FLAGS_PCI |
			     (mtty || d->cfg.no_reset ? 0
						      : VFIO_DEVICE_FLAGS_RESET);
		info.num_regions = fake_region_count(d, FAKE_VFIO_PCI_NUM_REGIONS);
		info.num_irqs = FAKE_VFIO_PCI_NUM_IRQS;
		d->num_irqs = info.num_irqs;
		memcpy(arg, &info, 16);
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info ri;
		int r;

		if (!arg)
			return -EFAULT;
		/* Both drivers: minsz = offsetofend(offset) = 32, copied in
		 * and back; without a chain argsz and cap_offset go back as
		 * the caller wrote them. */
		memcpy(&ri, arg, sizeof(ri));
		if (ri.argsz < sizeof(ri))
			return -EINVAL;
		r = fake_region_info(d, arg); /* fake_dev_set_region() */
		if (r != -ENOSYS)
			return r;
		/* vfio-pci without VGA: EINVAL at index 8 and at a
		 * device-specific index it does not have. */
		if (ri.index >= FAKE_VFIO_PCI_NUM_REGIONS ||
		    (!mtty && ri.index == FAKE_VFIO_PCI_NUM_REGIONS - 1))
			return -EINVAL;
		/* mtty_get_region_info: READ|WRITE on every index, size 0
		 * but for config (0xff) and the BARs of its ports (8);
		 * vfio_pci: config (cfg_size 0x100) READ|WRITE, a memory BAR
		 * READ|WRITE|MMAP (page-aligned, no MSI-X table in it), no
		 * ROM; a missing BAR size 0, flags 0. */
		ri.offset = (uint64_t)ri.index << FAKE_REGION_SHIFT;
		ri.size = 0;
		if (ri.index == FAKE_VFIO_PCI_CONFIG_INDEX)
			ri.size = mtty ? 0xff : 0x100;
		else if (mtty && (ri.index == 0 ||
				  (ri.index == 1 && d->cfg.mtty_ports > 1)))
			ri.size = 8;
		else if (!mtty && ri.index < 6)
			ri.size = d->cfg.bar_size[ri.index];
		ri.flags = VFIO_REGION_INFO_FLAG_READ |
			   VFIO_REGION_INFO_FLAG_WRITE;
		if (!mtty && !ri.size)
			ri.flags = 0;
		else if (!mtty && ri.index < 6)
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP;
		memcpy(arg, &ri, sizeof(ri));
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct fake_vfio_irq_info ii;

		if (!arg)
			return -EFAULT;
		memcpy(&ii, arg, sizeof(ii));
		/* mtty: num_irqs is only known after GET_INFO */
		if (ii.argsz < sizeof(ii) ||
		    ii.index >= (mtty ? d->num_irqs : FAKE_VFIO_PCI_NUM_IRQS))
			return -EINVAL;
		/* mtty_get_irq_info: INTx and MSI only */
		if (mtty && ii.index > 1)
			return -EINVAL;
		/* vfio_pci_ioctl_get_irq_info: ERR only on PCIe */
		if (!mtty && ii.index == 3 && d->cfg.conventional)
			return -EINVAL;
		ii.flags = 1; /* VFIO_IRQ_INFO_EVENTFD */
		if (ii.index == 0)
			ii.flags |= 2 | 4; /* MASKABLE | AUTOMASKED */
		else if (ii.index == 1 || !mtty)
			ii.flags |= 8; /* NORESIZE (no dynamic MSI-X) */
		/* vfio_pci_get_irq_count: INTx pin A, one MSI vector, no
		 * MSI-X table, ERR (PCIe) and REQ one each. */
		ii.count = ii.index != 2 ? 1 : 0;
		memcpy(arg, &ii, sizeof(ii));
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct fake_vfio_irq_set is;

		if (!arg)
			return -EFAULT;
		memcpy(&is, arg, sizeof(is));
		/* vfio_set_irqs_validate_and_prepare, roughly */
		if (is.argsz < sizeof(is) ||
		    is.index >= (mtty ? d->num_irqs : FAKE_VFIO_PCI_NUM_IRQS) ||
		    is.count >= UINT32_MAX - is.start || (is.flags & ~0x3f))
			return -EINVAL;
		return 0;
	}
	case VFIO_DEVICE_RESET:
		/* mtty_reset: deferred reset, state RUNNING, files disabled,
		 * always 0; vfio-pci: pci_try_reset_function then the
		 * variant's reset_done does the same; no reset method:
		 * EINVAL. */
		d->ioc.resets++;
		if (!mtty && d->cfg.no_reset)
			return -EINVAL;
		fake_mig_reset(d);
		fake_region_reset(d); /* fake-v1.c: back to _RUNNING */
		return 0;
	default:
		return -ENOTTY;
	}
}

/* vfio_main.c:vfio_device_fops_unl_ioctl. */
int fake_device_ioctl(struct fake_fd *f, unsigned int cmd, void *arg)
{
	if (cmd == VFIO_DEVICE_BIND_IOMMUFD)
		return fake_dev_bind(f, arg);
	if (f->cdev && !f->bound)
		return -EINVAL; /* !df->access_granted */
	if (f->cdev) {
		if (cmd == VFIO_DEVICE_ATTACH_IOMMUFD_PT)
			return fake_dev_attach(f, arg);
		if (cmd == VFIO_DEVICE_DETACH_IOMMUFD_PT)
			return fake_dev_detach_ioctl(f, arg);
	}
	if (cmd == VFIO_DEVICE_FEATURE)
		return dev_feature(f, arg);
	return dev_driver_ioctl(f, cmd, arg);
}

/* Weak defaults of the optional hooks (see fake-internal.h). */
__attribute__((weak)) short fake_hook_data_poll(struct fake_fd *f,
						 short events)
{
	(void)f, (void)events;
	return FAKE_DEFAULT_POLLMASK;
}

__attribute__((weak)) void fake_hook_bar_access(struct fake_dev *d, int index,
						uint64_t off, uint8_t *byte,
						bool write)
{
	if (write)
		d->regs[index][off] = *byte;
	else
		*byte = d->regs[index][off];
}

/* The kernel's DIRTY_BITMAP_SIZE_MAX unless fake-dirty.c lowers it. */
__attribute__((weak)) uint64_t fake_dirty_bitmap_max(void)
{
	return FAKE_DIRTY_BITMAP_SIZE_MAX;
}

__attribute__((weak)) void fake_hook_ioas_unmapped(struct fake_iommufd_obj *ioas,
						   uint64_t iova,
						   uint64_t length)
{
	(void)ioas, (void)iova, (void)length;
}

/* Config space: mtty_create_config_space, or a PCI header for the
 * vfio-pci fakes. */
void fake_cfg_init(struct fake_dev *d)
{
	static const uint8_t vendor[] = {
		[0x40] = 0x23, [0x43] = 0x80, [0x44] = 0x23, [0x48] = 0x23,
		[0x4c] = 0x23,
	};
	static const char ident[] = "PCI Serial/UART"; /* 0x60..0x6e */
	uint8_t *c = d->config;

	memset(c, 0, sizeof(d->config));
	if (d->cfg.personality != FAKE_MTTY) {
		c[0] = d->cfg.vendor & 0xff;
		c[1] = d->cfg.vendor >> 8;
		c[2] = d->cfg.device & 0xff;
		c[3] = d->cfg.device >> 8;
		c[9] = d->cfg.class_code & 0xff;
		c[0xa] = (d->cfg.class_code >> 8) & 0xff;
		c[0xb] = (d->cfg.class_code >> 16) & 0xff;
		c[0x2c] = d->cfg.subsystem_vendor & 0xff;
		c[0x2d] = d->cfg.subsystem_vendor >> 8;
		c[0x2e] = d->cfg.subsystem_device & 0xff;
		c[0x2f] = d->cfg.subsystem_device >> 8;
		return;
	}
	c[0] = 0x48; c[1] = 0x43; c[2] = 0x53; c[3] = 0x32; /* 0x32534348 */
	c[4] = 0x01;            /* command: I/O+ */
	c[7] = 0x02;            /* status 0x0200 */
	c[8] = 0x10;            /* revision */
	c[9] = 0x02;            /* 16550-compatible */
	c[0xb] = 0x07;          /* simple communication controller */
	c[0x10] = 0x01;         /* BAR0: I/O */
	if (d->cfg.mtty_ports == 2)
		c[0x14] = 0x01; /* BAR1: I/O */
	c[0x2c] = 0x48; c[0x2d] = 0x43; c[0x2e] = 0x53; c[0x2f] = 0x32;
	c[0x3d] = 0x01;         /* INTA# */
	for (size_t i = 0x40; i < sizeof(vendor); i++)
		if (vendor[i])
			c[i] = vendor[i];
	memcpy(&c[0x60], ident, sizeof(ident) - 1);
}

/* mtty's handle_pci_cfg_write, by chunk start offset; the fake PCI
 * functions ignore config writes. */
static void cfg_write(struct fake_dev *d, uint64_t off, const uint8_t *buf,
		      size_t n)
{
	uint8_t *c = d->config;
	uint32_t v = 0;

	if (d->cfg.personality != FAKE_MTTY)
		return;
	memcpy(&v, buf, n < 4 ? n : 4);
	switch (off) {
	case 0x3c:
		c[0x3c] = buf[0];
		break;
	case 0x10:
	case 0x14:
		if (d->cfg.mtty_ports == 1 && off == 0x14) {
			memset(&c[off], 0, 4);
			break;
		}
		if (v == 0xffffffff)
			v &= ~(uint32_t)0x8 + 1; /* bar_mask: ~MTTY_IO_BAR_SIZE + 1 */
		v |= c[off] & 0x3;
		memcpy(&c[off], &v, 4);
		break;
	case 0x18:
	case 0x1c:
	case 0x20:
		memset(&c[off], 0, 4);
		break;
	default:
		break;
	}
}

/* Region access through the device fd (mtty_read/mtty_write +
 * mdev_access, contract 12.5): chunks of 4/2/1 bytes by alignment, a BAR
 * access uses the first byte of the chunk. */
ssize_t fake_dev_rw(struct fake_fd *f, void *buf, size_t len, uint64_t pos,
		      bool write)
{
	struct fake_dev *d = f->dev;
	bool mtty = d->cfg.personality == FAKE_MTTY;
	size_t done = 0;

	if (f->cdev && !f->bound)
		return -EINVAL;
	{
		ssize_t out;

		if (fake_region_rw(d, pos >> FAKE_REGION_SHIFT,
				   pos & ((1ULL << FAKE_REGION_SHIFT) - 1),
				   buf, len, write, &out))
			return out;
	}
	while (done < len) {
		uint64_t p = pos + done;
		unsigned int index = p >> FAKE_REGION_SHIFT;
		uint64_t off = p & ((1ULL << FAKE_REGION_SHIFT) - 1);
		size_t n = len - done;
		uint8_t *b = (uint8_t *)buf + done;

		n = (n >= 4 && !(p % 4)) ? 4 : (n >= 2 && !(p % 2)) ? 2 : 1;
		if (index == FAKE_VFIO_PCI_CONFIG_INDEX) {
			/* vfio_config_do_rw: an access reaching past
			 * cfg_size is EFAULT, the whole of it. */
			if (!mtty && off + (len - done) > 0x100)
				return -EFAULT;
			/* mtty's vconfig is 0xff bytes; past it the real
			 * sample reads and writes out of bounds. */
			if (off + n > 0x100)
				return done ? (ssize_t)done : -EINVAL;
			if (write)
				cfg_write(d, off, b, n);
			else
				memcpy(b, &d->config[off], n);
		} else if (!mtty && index < 6 && d->cfg.bar_size[index]) {
			/* vfio_pci_bar_rw: past the end EINVAL; the
			 * function's registers are not modelled. */
			if (off + n > d->cfg.bar_size[index])
				return done ? (ssize_t)done : -EINVAL;
			if (!write)
				memset(b, 0, n);
		} else if (mtty && index <= 1) {
			uint8_t byte = write ? b[0] : 0;

			if (off < 8)
				fake_hook_bar_access(d, index, off, &byte,
						     write);
			if (!write) {
				memset(b, 0, n);
				b[0] = byte;
			}
		} else if (index >= 2 && index <= 5) {
			/* The real mtty indexes s[index] out of bounds here
			 * (kernel memory access): tests must never do it. */
			return -EINVAL;
		} else {
			/* mdev_access returns -1: mtty_read -> EFAULT */
			return mtty ? -EFAULT : -EINVAL;
		}
		done += n;
	}
	return done;
}
