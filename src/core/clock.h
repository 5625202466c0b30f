/*
 * clock: monotonic milliseconds for timers and timeouts, wall seconds for
 * records. Both are plain syscalls (vDSO): cheap, any thread.
 */
#ifndef TERN_CORE_CLOCK_H
#define TERN_CORE_CLOCK_H

#include <stdint.h>

/** Returns monotonic time in ms (CLOCK_MONOTONIC). */
uint64_t clock_ms(void);
/** Returns wall-clock unix time in seconds. */
int64_t clock_unix(void);

#endif
