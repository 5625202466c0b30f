/* Unit tests for xmpp/jid: splitting, normalization, limits, UTF-8, formatting, equality. */
#include "xmpp/jid.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

/* jid_parse on a NUL-terminated string. */
static int parse(struct jid *j, const char *s)
{
    return jid_parse(j, s, strlen(s));
}

static bool valid(const char *s)
{
    struct jid j;
    return parse(&j, s) == 0;
}

/* Full JID of s after parsing, or "(invalid)". */
static const char *full(const char *s)
{
    static char out[JID_BUF];
    struct jid j;
    if (parse(&j, s) < 0 || jid_full(&j, out, sizeof(out)) < 0)
        return "(invalid)";
    return out;
}

static void test_split(void)
{
    struct jid j;

    is_int(parse(&j, "juliet@example.com/balcony"), 0, "full JID parses");
    is_str(jid_local(&j), "juliet", "local part");
    is_str(jid_domain(&j), "example.com", "domain");
    is_str(jid_resource(&j), "balcony", "resource");
    ok(j.has_local && j.has_resource, "local and resource present");

    is_int(parse(&j, "example.com"), 0, "domain-only JID parses");
    ok(!j.has_local && !j.has_resource, "no local, no resource");
    is_str(jid_local(&j), "", "absent local is empty");
    is_str(jid_resource(&j), "", "absent resource is empty");

    is_int(parse(&j, "example.com/res"), 0, "domain/resource parses");
    ok(!j.has_local && j.has_resource, "resource without local");
    is_str(jid_resource(&j), "res", "resource of domain/resource");

    is_int(parse(&j, "a@b/c/d"), 0, "resource with a slash parses");
    is_str(jid_local(&j), "a", "local before the first slash");
    is_str(jid_resource(&j), "c/d", "first slash splits the resource");

    is_int(parse(&j, "example.com/x@y"), 0, "'@' after the slash belongs to the resource");
    ok(!j.has_local, "no local part when '@' is only in the resource");
    is_str(jid_domain(&j), "example.com", "domain before the slash");
    is_str(jid_resource(&j), "x@y", "resource keeps '@'");

    is_int(parse(&j, "u@d/a@b/c"), 0, "resource with '@' and '/'");
    is_str(jid_resource(&j), "a@b/c", "resource keeps both");

    is_int(parse(&j, "a@b@c"), -EINVAL, "two '@' before the slash");
    is_int(parse(&j, "@example.com"), -EINVAL, "empty local part");
    is_int(parse(&j, "user@example.com/"), -EINVAL, "empty resource");
    is_int(parse(&j, "user@/res"), -EINVAL, "empty domain with local");
    is_int(parse(&j, "/res"), -EINVAL, "empty domain");
    is_int(parse(&j, ""), -EINVAL, "empty string");
    is_int(parse(&j, "user@"), -EINVAL, "nothing after '@'");
}

static void test_normalize(void)
{
    struct jid j;

    is_str(full("JuLiEt@Example.COM/Balcony"), "juliet@example.com/Balcony",
           "local and domain folded, resource kept");
    is_str(full("example.com."), "example.com", "trailing dot removed");
    is_str(full("u@example.com./r"), "u@example.com/r", "trailing dot removed before resource");
    is_str(full("u@example.com../r"), "(invalid)", "only one trailing dot is removed");
    is_str(full("."), "(invalid)", "a lone dot is no domain");
    is_str(full("u@.example.com"), "(invalid)", "empty leading label");
    is_str(full("u@a..b"), "(invalid)", "empty inner label");
    is_str(full("\xc3\x84sa@example.com"), "\xc3\x84sa@example.com",
           "non-ASCII kept as is, ASCII folded");
    is_str(full("127.0.0.1"), "127.0.0.1", "IPv4 literal domain");
    is_str(full("u@[2001:DB8::1]/r"), "u@[2001:db8::1]/r", "IPv6 literal domain");
    is_str(full("[::1]"), "[::1]", "loopback IPv6 literal");
    is_str(full("[zz::1]"), "(invalid)", "bad IPv6 literal");
    is_str(full("[::1"), "(invalid)", "unclosed bracket");
    is_str(full("[]"), "(invalid)", "empty brackets");
    is_str(full("a[b]c"), "(invalid)", "brackets inside a name");

    char out[16];
    is_int(jid_normalize_local("AbC", 3, out, sizeof(out)), 3, "normalize_local returns length");
    is_str(out, "abc", "normalize_local folds");
    is_int(jid_normalize_local("a b", 3, out, sizeof(out)), -EINVAL, "normalize_local checks");
    is_int(jid_normalize_local("", 0, out, sizeof(out)), -EINVAL, "empty local part");
    is_int(jid_normalize_local("a/b", 3, out, sizeof(out)), -EINVAL, "'/' in a local part");
    is_int(jid_normalize_local("a@b", 3, out, sizeof(out)), -EINVAL, "'@' in a local part");
    is_int(jid_normalize_local("a\xc3", 2, out, sizeof(out)), -EINVAL, "bad UTF-8 in local");
    is_int(jid_normalize_local("abcd", 4, out, 4), -ENOBUFS, "room for the NUL is needed");
    is_int(jid_normalize_local("abcd", 4, out, 5), 4, "exact fit");

    is_int(jid_from_parts(&j, "Romeo", "Example.NET.", "Orchard"), 0, "from_parts");
    is_str(jid_local(&j), "romeo", "from_parts folds local");
    is_str(jid_domain(&j), "example.net", "from_parts folds domain and strips the dot");
    is_str(jid_resource(&j), "Orchard", "from_parts keeps resource");
    is_int(jid_from_parts(&j, NULL, "example.net", NULL), 0, "from_parts domain only");
    ok(!j.has_local && !j.has_resource, "absent parts stay absent");
    is_int(jid_from_parts(&j, "", "example.net", NULL), -EINVAL, "empty local in from_parts");
    is_int(jid_from_parts(&j, "a", "example.net", ""), -EINVAL, "empty resource in from_parts");
    is_int(jid_from_parts(&j, "a:b", "example.net", NULL), -EINVAL, "from_parts checks local");
    is_int(jid_from_parts(&j, "a", NULL, NULL), -EINVAL, "from_parts needs a domain");
}

static void test_forbidden(void)
{
    static const char *const local_bad[] = {"a\"b",
                                            "a&b",
                                            "a'b",
                                            "a:b",
                                            "a<b",
                                            "a>b",
                                            "a b",
                                            "a\tb",
                                            "a\x7f"
                                            "b",
                                            "a\x01"
                                            "b"};
    char s[64];
    for (size_t i = 0; i < sizeof(local_bad) / sizeof(local_bad[0]); i++) {
        snprintf(s, sizeof(s), "%s@example.com", local_bad[i]);
        ok(!valid(s), "local part rejects %zu (0x%02x)", i, (unsigned char)local_bad[i][1]);
        snprintf(s, sizeof(s), "x@example.com/%s", local_bad[i]);
        ok(valid(s) == (local_bad[i][1] >= 0x20 && local_bad[i][1] != 0x7f),
           "resource allows it unless a control (%zu)", i);
    }
    ok(!valid("a\xc2\xa0"
              "b@example.com"),
       "no-break space (Zs) in local");
    ok(!valid("a\xe3\x80\x80"
              "b@example.com"),
       "ideographic space (Zs) in local");
    ok(!valid("a\xe2\x80\x83"
              "b@example.com"),
       "em space (Zs) in local");
    ok(!valid("a\xc2\x85"
              "b@example.com"),
       "C1 control in local");
    ok(!valid("a@exa mple.com"), "space in domain");
    ok(!valid("a@exa\x01mple.com"), "control in domain");
    ok(!valid("a@exa\xc2\xa0mple.com"), "no-break space in domain");
    ok(valid("a@example.com/with space"), "space in resource is fine");
    ok(!valid("a@example.com/x\x01y"), "control in resource");
    ok(!valid("a@example.com/x\xc2\x9fy"), "C1 control in resource");
    ok(valid("a@exa&mple.com"), "'&' is only forbidden in the local part");

    /* Embedded NUL: the parser takes a length, so it sees it. */
    struct jid j;
    is_int(jid_parse(&j, "a\0b@example.com", 15), -EINVAL, "NUL in local");
    is_int(jid_parse(&j, "a@exa\0mple.com", 14), -EINVAL, "NUL in domain");
    is_int(jid_parse(&j, "a@example.com/r\0x", 17), -EINVAL, "NUL in resource");
}

static void test_utf8(void)
{
    ok(valid("\xe2\x98\x83@example.com"), "3-byte sequence (snowman)");
    ok(valid("\xf0\x9f\x90\xa6@example.com"), "4-byte sequence (bird)");
    ok(valid("u@\xc3\xa9t\xc3\xa9.example/\xf0\x9f\x90\xa6"), "UTF-8 in every part");
    ok(!valid("\xc0\xaf@example.com"), "overlong 2-byte '/'");
    ok(!valid("\xe0\x80\xaf@example.com"), "overlong 3-byte");
    ok(!valid("\xf0\x80\x80\xaf@example.com"), "overlong 4-byte");
    /* overlong forms of 'a' (not of a forbidden character, which would fail anyway) */
    ok(!valid("u@example.com/\xc1\xa1"), "overlong 2-byte 'a'");
    ok(!valid("u@example.com/\xe0\x81\xa1"), "overlong 3-byte 'a'");
    ok(!valid("u@example.com/\xf0\x80\x81\xa1"), "overlong 4-byte 'a'");
    ok(valid("u@example.com/\xe0\xa0\x80"), "smallest 3-byte sequence U+0800");
    ok(valid("u@example.com/\xf4\x8f\xbf\xbf"), "largest code point U+10FFFF");
    ok(!valid("\xc3@example.com"), "truncated 2-byte sequence");
    ok(!valid("u@example.com/\xe2\x98"), "truncated 3-byte sequence at the end");
    ok(!valid("u@ex\xf0\x9f\x90.com"), "truncated 4-byte sequence in domain");
    ok(!valid("\x80@example.com"), "stray continuation byte");
    ok(!valid("\xed\xa0\x80@example.com"), "UTF-16 surrogate");
    ok(!valid("\xf4\x90\x80\x80@example.com"), "above U+10FFFF");
    ok(!valid("\xff@example.com"), "0xFF byte");

    /* a sequence cut off by the end of the input: no byte past len is read (ASan) */
    static const char cut[] = "u@example.com/\xf0\x9f\x90";
    char *heap = malloc(sizeof(cut) - 1);
    memcpy(heap, cut, sizeof(cut) - 1);
    struct jid j;
    is_int(jid_parse(&j, heap, sizeof(cut) - 1), -EINVAL, "truncated at the very end");
    free(heap);
    ok(!valid("u@example.com/\xfe"), "0xFE byte in resource");
}

static void test_limits(void)
{
    char *s = malloc(4 * JID_BUF);
    char out[JID_BUF];
    struct jid j;

    /* local part at 1023 and 1024 bytes */
    memset(s, 'a', 1023);
    strcpy(s + 1023, "@example.com");
    is_int(parse(&j, s), 0, "1023-byte local part");
    is_int(j.local_len, 1023, "local length kept");
    memset(s, 'a', 1024);
    strcpy(s + 1024, "@example.com");
    is_int(parse(&j, s), -EINVAL, "1024-byte local part");

    /* domain at 1023 and 1024 bytes (labels separated by dots to stay a name) */
    memset(s, 'd', 1023);
    for (int i = 50; i < 1023; i += 50)
        s[i] = '.';
    s[1023] = '\0';
    is_int(parse(&j, s), 0, "1023-byte domain");
    is_int(j.domain_len, 1023, "domain length kept");
    s[1023] = '.';
    s[1024] = '\0';
    is_int(parse(&j, s), 0, "1023 bytes plus a trailing dot");
    is_int(j.domain_len, 1023, "the stripped dot does not count");
    s[1023] = 'd';
    is_int(parse(&j, s), -EINVAL, "1024-byte domain");

    /* resource at 1023 and 1024 bytes */
    strcpy(s, "u@example.com/");
    size_t off = strlen(s);
    memset(s + off, 'r', 1023);
    s[off + 1023] = '\0';
    is_int(parse(&j, s), 0, "1023-byte resource");
    is_int(j.resource_len, 1023, "resource length kept");
    s[off + 1023] = 'r';
    s[off + 1024] = '\0';
    is_int(parse(&j, s), -EINVAL, "1024-byte resource");

    /* all three parts at the limit: fits the inline buffer, formats back */
    memset(s, 'a', 1023);
    s[1023] = '@';
    memset(s + 1024, 'b', 1023);
    s[2047] = '/';
    memset(s + 2048, 'c', 1023);
    s[3071] = '\0';
    is_int(parse(&j, s), 0, "every part at the limit");
    is_int(jid_full(&j, out, sizeof(out)), 3071, "full JID length");
    ok(strcmp(out, s) == 0, "full JID round-trips");
    is_int(jid_bare(&j, out, sizeof(out)), 2047, "bare JID length");
    ok(strncmp(out, s, 2047) == 0 && out[2047] == '\0', "bare JID is the prefix");
    is_int(jid_full(&j, out, 3071), -ENOBUFS, "no room for the NUL");
    is_int(jid_full(&j, out, 3072), 3071, "exact room");
    free(s);
}

static void test_format_eq(void)
{
    struct jid a, b, c, d;
    char out[64];

    parse(&a, "Juliet@Example.com/Balcony");
    parse(&b, "juliet@example.com./balcony");
    parse(&c, "juliet@example.com");
    parse(&d, "example.com/Balcony");

    is_int(jid_bare(&a, out, sizeof(out)), 18, "bare length");
    is_str(out, "juliet@example.com", "bare JID");
    is_int(jid_full(&a, out, sizeof(out)), 26, "full length");
    is_str(out, "juliet@example.com/Balcony", "full JID");
    is_int(jid_full(&c, out, sizeof(out)), 18, "full of a bare JID is the bare JID");
    is_str(out, "juliet@example.com", "no trailing slash");
    is_int(jid_bare(&d, out, sizeof(out)), 11, "bare of domain/resource");
    is_str(out, "example.com", "bare of domain/resource is the domain");
    is_int(jid_full(&d, out, sizeof(out)), 19, "full of domain/resource");
    is_str(out, "example.com/Balcony", "no '@' without local");
    is_int(jid_bare(&a, out, 18), -ENOBUFS, "bare needs room for the NUL");
    is_int(jid_full(&a, out, 5), -ENOBUFS, "full too small");

    ok(jid_bare_eq(&a, &b), "same bare JID after normalization");
    ok(!jid_eq(&a, &b), "resources differ in case: different full JIDs");
    ok(jid_bare_eq(&a, &c), "bare equality ignores the resource");
    ok(!jid_eq(&a, &c), "resource vs none");
    ok(!jid_bare_eq(&a, &d), "local vs none");

    struct jid e, f;
    parse(&e, "JULIET@EXAMPLE.COM/Balcony");
    ok(jid_eq(&a, &e), "full equality after folding");
    f = e; /* copyable by assignment */
    ok(jid_eq(&f, &a), "a copy compares equal");

    struct jid g, h;
    parse(&g, "example.com");
    parse(&h, "example.co");
    ok(!jid_bare_eq(&g, &h), "different domain lengths");
    parse(&h, "example.org");
    ok(!jid_bare_eq(&g, &h), "different domains");
    parse(&g, "a@x/r1");
    parse(&h, "a@x/r2");
    ok(jid_bare_eq(&g, &h) && !jid_eq(&g, &h), "same bare, different resources");

    /* a failed parse leaves the old value in place */
    struct jid k;
    parse(&k, "keep@example.com");
    ok(parse(&k, "bad@@example.com") < 0 && strcmp(jid_local(&k), "keep") == 0,
       "failed parse leaves j untouched");
}

int main(void)
{
    test_split();
    test_normalize();
    test_forbidden();
    test_utf8();
    test_limits();
    test_format_eq();
    return tap_done();
}
