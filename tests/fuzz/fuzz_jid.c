/*
 * fuzz_jid: JID parsing and normalization (xmpp/jid.h).
 *
 * Properties checked for any input that parses: the formatted full JID
 * parses again to an equal JID and formats to the same bytes (normalization
 * is idempotent); building it from its parts gives the same JID; the bare JID
 * is a prefix of the full one; local part and domain hold no ASCII capitals.
 * The input is also tried as a local part alone (jid_normalize_local, which
 * must agree with the local part of "input@example.com"), and split at NULs
 * into the three arguments of jid_from_parts.
 */
#include "fuzz.h"

#include "xmpp/jid.h"

#include <errno.h>
#include <string.h>

static char full[JID_BUF], again[JID_BUF], bare[JID_BUF];

static bool has_capital(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            return true;
    return false;
}

static void check_jid(const struct jid *j)
{
    struct jid k, p;
    int n = jid_full(j, full, sizeof(full));
    FUZZ_CHECK(n > 0 && (size_t)n == strlen(full), "jid_full length %d", n);
    FUZZ_CHECK(jid_parse(&k, full, (size_t)n) == 0, "the full JID parses again: %s", full);
    FUZZ_CHECK(jid_eq(j, &k) && jid_bare_eq(j, &k), "reparsed JID is equal: %s", full);
    int m = jid_full(&k, again, sizeof(again));
    FUZZ_CHECK(m == n && memcmp(full, again, (size_t)n) == 0, "idempotent: %s vs %s", full, again);
    FUZZ_CHECK(jid_full(j, full, (size_t)n) == -ENOBUFS, "no room for the NUL is ENOBUFS");
    n = jid_full(j, full, sizeof(full));
    int b = jid_bare(j, bare, sizeof(bare));
    FUZZ_CHECK(b > 0 && b <= n && memcmp(bare, full, (size_t)b) == 0, "bare is a prefix");
    FUZZ_CHECK(!has_capital(jid_local(j)) && !has_capital(jid_domain(j)), "folded: %s", full);
    FUZZ_CHECK(strlen(jid_local(j)) == j->local_len && strlen(jid_domain(j)) == j->domain_len &&
                   strlen(jid_resource(j)) == j->resource_len,
               "lengths match the strings: %s", full);
    FUZZ_CHECK(jid_from_parts(&p, j->has_local ? jid_local(j) : NULL, jid_domain(j),
                              j->has_resource ? jid_resource(j) : NULL) == 0,
               "from its own parts: %s", full);
    FUZZ_CHECK(jid_eq(j, &p), "parts give the same JID: %s", full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct jid j;
    if (jid_parse(&j, s, size) == 0)
        check_jid(&j);

    /* as a local part: jid_normalize_local agrees with parsing "input@example.com" */
    char out[JID_PART_MAX + 1];
    int n = jid_normalize_local(s, size, out, sizeof(out));
    if (size <= JID_PART_MAX && !memchr(s, '/', size) && !memchr(s, '@', size)) {
        char *with = malloc(size + 13);
        memcpy(with, s, size);
        memcpy(with + size, "@example.com", 12);
        struct jid w;
        int rc = jid_parse(&w, with, size + 12);
        FUZZ_CHECK((rc == 0) == (n >= 0), "normalize_local %d vs parse %d", n, rc);
        if (rc == 0)
            FUZZ_CHECK((size_t)n == w.local_len && memcmp(out, jid_local(&w), (size_t)n) == 0,
                       "same folded local part");
        free(with);
    }
    if (n >= 0) {
        char twice[JID_PART_MAX + 1];
        FUZZ_CHECK(jid_normalize_local(out, (size_t)n, twice, sizeof(twice)) == n &&
                       memcmp(out, twice, (size_t)n) == 0,
                   "normalize_local is idempotent");
        FUZZ_CHECK(jid_normalize_local(s, size, out, (size_t)n) == -ENOBUFS, "small cap");
    }

    /* NUL-separated parts for jid_from_parts: "local\0domain\0resource" */
    char *copy = malloc(size + 1);
    memcpy(copy, s, size);
    copy[size] = '\0';
    char *p1 = memchr(copy, '\0', size);
    const char *local = NULL, *domain = copy, *resource = NULL;
    if (p1 && (size_t)(p1 - copy) < size) {
        local = copy;
        domain = p1 + 1;
        char *p2 = memchr(domain, '\0', size - (size_t)(domain - copy));
        if (p2 && (size_t)(p2 - copy) < size)
            resource = p2 + 1;
    }
    if (jid_from_parts(&j, local, domain, resource) == 0)
        check_jid(&j);
    free(copy);
    return 0;
}
