/*
 * rand: random bytes and identifiers from the kernel CSPRNG (getrandom).
 * Good for nonces, resource names and stanza ids. Any thread.
 */
#ifndef TERN_CORE_RAND_H
#define TERN_CORE_RAND_H

#include <stddef.h>

/** Fills buf with len random bytes; aborts if the kernel cannot provide them. */
void rand_bytes(void *buf, size_t len);
/**
 * Writes len random characters from [A-Za-z0-9] and a NUL to out (cap >= len + 1).
 * Suitable for SCRAM nonces and server-chosen resources.
 */
void rand_token(char *out, size_t len);

#endif
