/*
 * list: an intrusive circular doubly linked list (the Linux kernel's shape).
 * Embed struct list in an object, recover the object with LIST_ENTRY.
 */
#ifndef TERN_CORE_LIST_H
#define TERN_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

#define LIST_ENTRY(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/** Makes l an empty list head (or an unlinked node). */
static inline void list_init(struct list *l)
{
    l->prev = l->next = l;
}

/** Returns whether the head has no entries (or the node is unlinked). */
static inline bool list_empty(const struct list *l)
{
    return l->next == l;
}

/** Links n at the tail of head. */
static inline void list_push(struct list *head, struct list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/** Unlinks n (if linked) and leaves it as an empty node. */
static inline void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

#endif
