/* Byte reader shared by the fuzz targets: the first bytes of an input pick shapes and
   parameters, the rest fill arrays. Reads past the end give 0. */
#ifndef MEDKERN_FUZZ_BYTES_H
#define MEDKERN_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n;
} fz_bytes;

static inline uint8_t fz_u8(fz_bytes *b) {
    if (!b->n) return 0;
    b->n--;
    return *b->p++;
}

static inline uint16_t fz_u16(fz_bytes *b) {
    uint16_t lo = fz_u8(b);
    return (uint16_t)(lo | (uint16_t)fz_u8(b) << 8);
}

/* Fills dst from the bytes left, cycling through them (zeros when none are left); does
   not consume them, so every array sees the same data. */
static inline void fz_fill(const fz_bytes *b, void *dst, size_t bytes, size_t *pos) {
    uint8_t *d = dst;
    if (!b->n) {
        memset(d, 0, bytes);
        return;
    }
    for (size_t i = 0; i < bytes; i++) {
        d[i] = b->p[*pos % b->n];
        ++*pos;
    }
}

#endif
