/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI,
 * ext4 and btrfs.  Slice-by-8 tables, portable C, byte-order independent.
 *
 * Streaming use: crc = crc32c(0, a, n); crc = crc32c(crc, b, m);
 * gives the CRC of a||b.  crc32c(0, "123456789", 9) == 0xE3069283.
 */
#ifndef VFM_CRC32C_H
#define VFM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
