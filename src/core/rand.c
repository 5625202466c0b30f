/* rand: getrandom(2) with EINTR handling; tokens by rejection sampling (no modulo bias). */
#include "core/rand.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void rand_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("getrandom: %s", strerror(errno));
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

void rand_token(char *out, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    unsigned char pool[64];
    while (i < len) {
        rand_bytes(pool, sizeof(pool));
        for (size_t k = 0; k < sizeof(pool) && i < len; k++)
            if (pool[k] < 248) /* 248 = 4 * 62: keeps the draw uniform */
                out[i++] = alphabet[pool[k] % 62];
    }
    out[len] = '\0';
}
