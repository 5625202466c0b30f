/*
 * log: leveled logging to stderr, one write(2) per line so lines from
 * different threads never interleave. A line carries an optional context
 * (a connection's "c2s#12 127.0.0.1:5000 alice@example.org/phone") so an
 * operator can follow one peer. Never log passwords or message bodies at
 * info level or above.
 */
#ifndef TERN_CORE_LOG_H
#define TERN_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/** Sets the most verbose level written. Call before threads start. */
void log_set_level(enum log_level level);
/** Parses "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/** Returns whether a line at level would be written. */
bool log_enabled(enum log_level level);
/** Writes one line; ctx may be NULL. Any thread. */
void log_write(enum log_level level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, NULL, __VA_ARGS__);                                               \
    } while (0)

#endif
