/* CRC-32 (IEEE 802.3, as zlib computes it). */
#ifndef UK_CRC_H
#define UK_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t uk_crc32(uint32_t crc, const void *buf, size_t len);

#endif
