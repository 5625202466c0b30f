/*
 * jid: parsing, validation and normalization of XMPP addresses (RFC 7622).
 *
 * Splitting follows RFC 7622 section 3.1: the first '/' starts the resource
 * (so the resource may itself contain '/' and '@'), and an '@' before that
 * '/' ends the local part. Each part is then checked on its own:
 *
 *   local     1..1023 bytes of valid UTF-8, no " & ' / : < > @, no space
 *             (U+0020 or any other Unicode Zs) and no control (Cc);
 *             ASCII letters folded to lower case.
 *   domain    one trailing '.' stripped, then 1..1023 bytes of valid UTF-8,
 *             no space, control, '@', '/', no empty label ("a..b", ".a");
 *             ASCII letters folded; or a bracketed IPv6 literal "[::1]"
 *             that inet_pton() accepts. '[' and ']' appear nowhere else.
 *   resource  1..1023 bytes of valid UTF-8 without controls (RFC 7622's
 *             OpaqueString forbids them; a NUL would also cut the stored
 *             string short). Kept byte for byte.
 *
 * What it does not do: full PRECIS (Unicode case mapping, NFC, width
 * mapping) and IDNA. Non-ASCII text must already be in the form the peer
 * means; two JIDs that differ only in non-ASCII case are different here.
 *
 * Invariants of a struct jid filled by this file: buf holds
 * "local\0domain\0resource\0" (absent parts are empty strings), every part
 * passed the checks above, and the length and offset fields match buf, so equality
 * is a byte comparison.
 */
#include "xmpp/jid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

/* Which part a byte string is checked as. */
enum part { PART_LOCAL, PART_DOMAIN, PART_RESOURCE };

/*
 * Decodes one UTF-8 sequence at s (n bytes left). Returns its length and the
 * code point in *cp, or 0 for anything RFC 3629 forbids: stray continuation
 * bytes, truncated sequences, overlong forms, surrogates, > U+10FFFF.
 */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return need;
}

/* Unicode Cc: C0, DEL and C1. */
static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Unicode Zs (space separators). */
static bool is_space(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static bool local_forbidden(uint32_t cp)
{
    return cp == '"' || cp == '&' || cp == '\'' || cp == '/' || cp == ':' || cp == '<' ||
           cp == '>' || cp == '@';
}

/*
 * Checks one part (len bytes at s) and copies it to out, folding ASCII
 * letters for local and domain. out has room for len + 1 bytes.
 */
static int check_part(enum part kind, const char *s, size_t len, char *out)
{
    const unsigned char *u = (const unsigned char *)s;

    if (len == 0 || len > JID_PART_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(u + i, len - i, &cp);
        if (n == 0 || is_control(cp))
            return -EINVAL;
        if (kind == PART_LOCAL && (is_space(cp) || local_forbidden(cp)))
            return -EINVAL;
        if (kind == PART_DOMAIN && (is_space(cp) || cp == '@' || cp == '/'))
            return -EINVAL;
        i += n;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (kind != PART_RESOURCE && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

/* Domain: strips one trailing dot, then checks names or an IPv6 literal. */
static int check_domain(const char *s, size_t len, char *out, size_t *out_len)
{
    if (len > 1 && s[len - 1] == '.')
        len--;
    int rc = check_part(PART_DOMAIN, s, len, out);
    if (rc < 0)
        return rc;
    if (out[0] == '[') {
        /* "[" addr "]": inet_pton() is the authority on what an IPv6 address is. */
        char addr[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        size_t alen = len - 2;
        if (len < 3 || out[len - 1] != ']' || alen >= sizeof(addr))
            return -EINVAL;
        memcpy(addr, out + 1, alen);
        addr[alen] = '\0';
        if (inet_pton(AF_INET6, addr, &a6) != 1)
            return -EINVAL;
    } else {
        if (memchr(out, '[', len) || memchr(out, ']', len))
            return -EINVAL;
        /* No empty labels: ".a", "a..b" (the one trailing dot is gone already). */
        if (out[0] == '.' || out[len - 1] == '.' || strstr(out, ".."))
            return -EINVAL;
    }
    *out_len = len;
    return 0;
}

/* Fills j from the three parts; local/resource may be absent (NULL). */
static int jid_build(struct jid *j, const char *local, size_t local_len, const char *domain,
                     size_t domain_len, const char *resource, size_t resource_len)
{
    struct jid t;
    size_t dlen;
    int rc;

    memset(&t, 0, sizeof(t));
    if (local) {
        rc = check_part(PART_LOCAL, local, local_len, t.buf);
        if (rc < 0)
            return rc;
        t.has_local = true;
        t.local_len = (unsigned short)local_len;
    }
    t.domain_off = (unsigned short)(t.local_len + 1);
    rc = check_domain(domain, domain_len, t.buf + t.domain_off, &dlen);
    if (rc < 0)
        return rc;
    t.domain_len = (unsigned short)dlen;
    t.resource_off = (unsigned short)(t.domain_off + t.domain_len + 1);
    if (resource) {
        rc = check_part(PART_RESOURCE, resource, resource_len, t.buf + t.resource_off);
        if (rc < 0)
            return rc;
        t.has_resource = true;
        t.resource_len = (unsigned short)resource_len;
    }
    *j = t;
    return 0;
}

int jid_parse(struct jid *j, const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    size_t head = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', head);
    const char *local = NULL, *domain = s, *resource = NULL;
    size_t local_len = 0, domain_len = head, resource_len = 0;

    if (at) {
        local = s;
        local_len = (size_t)(at - s);
        domain = at + 1;
        domain_len = head - local_len - 1;
    }
    if (slash) {
        resource = slash + 1;
        resource_len = len - head - 1;
    }
    /* An empty local part before '@' or resource after '/' is an error, not absence. */
    return jid_build(j, local, local_len, domain, domain_len, resource, resource_len);
}

int jid_from_parts(struct jid *j, const char *local, const char *domain, const char *resource)
{
    if (!domain)
        return -EINVAL;
    /* strnlen: a part longer than the limit is rejected without reading all of it. */
    return jid_build(j, local, local ? strnlen(local, JID_PART_MAX + 1) : 0, domain,
                     strnlen(domain, JID_PART_MAX + 2), resource,
                     resource ? strnlen(resource, JID_PART_MAX + 1) : 0);
}

const char *jid_local(const struct jid *j)
{
    return j->buf;
}

const char *jid_domain(const struct jid *j)
{
    return j->buf + j->domain_off;
}

const char *jid_resource(const struct jid *j)
{
    return j->buf + j->resource_off;
}

static int format(const struct jid *j, bool full, char *out, size_t cap)
{
    size_t n = j->domain_len;
    if (j->has_local)
        n += j->local_len + 1u;
    if (full && j->has_resource)
        n += j->resource_len + 1u;
    if (n + 1 > cap)
        return -ENOBUFS;

    char *p = out;
    if (j->has_local) {
        memcpy(p, j->buf, j->local_len);
        p += j->local_len;
        *p++ = '@';
    }
    memcpy(p, jid_domain(j), j->domain_len);
    p += j->domain_len;
    if (full && j->has_resource) {
        *p++ = '/';
        memcpy(p, jid_resource(j), j->resource_len);
        p += j->resource_len;
    }
    *p = '\0';
    return (int)n;
}

int jid_bare(const struct jid *j, char *out, size_t cap)
{
    return format(j, false, out, cap);
}

int jid_full(const struct jid *j, char *out, size_t cap)
{
    return format(j, true, out, cap);
}

bool jid_bare_eq(const struct jid *a, const struct jid *b)
{
    return a->has_local == b->has_local && a->local_len == b->local_len &&
           a->domain_len == b->domain_len && memcmp(a->buf, b->buf, a->local_len) == 0 &&
           memcmp(jid_domain(a), jid_domain(b), a->domain_len) == 0;
}

bool jid_eq(const struct jid *a, const struct jid *b)
{
    return jid_bare_eq(a, b) && a->has_resource == b->has_resource &&
           a->resource_len == b->resource_len &&
           memcmp(jid_resource(a), jid_resource(b), a->resource_len) == 0;
}

int jid_normalize_local(const char *in, size_t len, char *out, size_t cap)
{
    char tmp[JID_PART_MAX + 1];
    int rc = check_part(PART_LOCAL, in, len, tmp);
    if (rc < 0)
        return rc;
    if (len + 1 > cap)
        return -ENOBUFS;
    memcpy(out, tmp, len + 1);
    return (int)len;
}
