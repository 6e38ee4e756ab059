/* text.h — error messages hold names and values read from files (config keys, tensor names): a
 * message is one line whatever those held. */
#ifndef PLDR_UTIL_TEXT_H
#define PLDR_UTIL_TEXT_H

#include <stddef.h>
#include <string.h>

/* src into dst (cap bytes, NUL-terminated, cut when full) with control characters written as
 * \n, \r, \t or \xHH */
static inline void copy_one_line(char *dst, size_t cap, const char *src) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!cap) return;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        char esc[4];
        size_t k = 0;
        if (*p >= 0x20 && *p != 0x7f) {
            esc[k++] = (char)*p;
        } else {
            esc[k++] = '\\';
            if (*p == '\n' || *p == '\r' || *p == '\t') esc[k++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
            else { esc[k++] = 'x'; esc[k++] = hex[*p >> 4]; esc[k++] = hex[*p & 15]; }
        }
        if (o + k >= cap) break;
        memcpy(dst + o, esc, k);
        o += k;
    }
    dst[o] = 0;
}

#endif
