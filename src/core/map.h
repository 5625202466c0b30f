/*
 * map: a hash map from byte-string keys to pointers, open addressing with
 * linear probing and tombstones, grown at 70% load. The map owns copies of
 * its keys; values are borrowed. Not thread-safe: one owner, or a lock.
 */
#ifndef TERN_CORE_MAP_H
#define TERN_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_slot;

struct map {
    struct map_slot *slots;
    size_t cap;  /* slots, a power of two (0 when empty) */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
};

/** Initializes an empty map (no memory until the first put). */
void map_init(struct map *m);
/** Frees the map's memory (not the values). NULL-safe. */
void map_fini(struct map *m);
/** Returns the value for key, or NULL. */
void *map_get(const struct map *m, const void *key, size_t len);
/** Sets key to value (non-NULL); returns the previous value or NULL. */
void *map_put(struct map *m, const void *key, size_t len, void *value);
/** Removes key; returns its value or NULL. */
void *map_del(struct map *m, const void *key, size_t len);
/** Calls fn for every entry; fn must not change the map. */
void map_each(const struct map *m, void (*fn)(void *arg, const void *key, size_t len, void *value),
              void *arg);
/** Returns the 64-bit hash used by the map (FNV-1a), for sharding. */
uint64_t map_hash(const void *key, size_t len);

#endif
