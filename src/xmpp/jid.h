/*
 * jid: parsing and normalization of XMPP addresses (RFC 7622).
 *
 * A JID is [local@]domain[/resource]. Normalization: the local part and the
 * domain are case-folded (ASCII letters; other characters must be valid
 * UTF-8 and are kept as they are), a trailing dot on the domain is removed,
 * and the resource is kept as is. Each part is 1..1023 bytes when present
 * (an empty local part before '@' or resource after '/' is invalid). The
 * first '/' starts the resource, which may contain '/' and '@'. The local
 * part may not contain " & ' / : < > @ or any space or control character;
 * the domain may not contain spaces, controls, '@', '/' or empty labels; the
 * resource may not contain controls; no part may contain invalid UTF-8.
 * IPv6 literals in brackets ("[::1]") are allowed as domains. No full PRECIS
 * or IDNA: non-ASCII characters are compared byte for byte.
 *
 * struct jid holds its parts in one inline buffer, so it can be copied with
 * memcpy/assignment and needs no free.
 */
#ifndef TERN_XMPP_JID_H
#define TERN_XMPP_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023
/* local@domain/resource plus NULs, with room to spare */
#define JID_BUF (3 * (JID_PART_MAX + 1) + 2)

struct jid {
    /* "local\0domain\0resource\0" — empty strings for absent parts */
    char buf[JID_BUF];
    unsigned short local_len, domain_len, resource_len;
    unsigned short domain_off, resource_off;
    bool has_local, has_resource;
};

/** Parses and normalizes len bytes at s into j. Returns 0 or -EINVAL (j untouched). */
int jid_parse(struct jid *j, const char *s, size_t len);
/**
 * Builds j from NUL-terminated parts, checked and normalized as by jid_parse.
 * local and resource may be NULL (absent); "" is invalid. Returns 0 or -EINVAL.
 */
int jid_from_parts(struct jid *j, const char *local, const char *domain, const char *resource);
/** Returns the local part ("" if none), NUL-terminated, inside j. */
const char *jid_local(const struct jid *j);
/** Returns the domain, NUL-terminated, inside j. */
const char *jid_domain(const struct jid *j);
/** Returns the resource ("" if none), NUL-terminated, inside j. */
const char *jid_resource(const struct jid *j);
/** Writes the bare JID (local@domain or domain) to out; returns its length or -ENOBUFS. */
int jid_bare(const struct jid *j, char *out, size_t cap);
/** Writes the full JID to out; returns its length or -ENOBUFS. */
int jid_full(const struct jid *j, char *out, size_t cap);
/** Returns whether a and b have the same bare JID. */
bool jid_bare_eq(const struct jid *a, const struct jid *b);
/** Returns whether a and b are the same full JID. */
bool jid_eq(const struct jid *a, const struct jid *b);
/**
 * Checks the local part (len bytes at in) and writes its folded copy, NUL-terminated, to out.
 * Returns its length, -EINVAL if it is not a valid local part, or -ENOBUFS if cap < len + 1.
 */
int jid_normalize_local(const char *in, size_t len, char *out, size_t cap);

#endif
