/*
 * Unit tests for caps (XEP-0115): the verification string hashes of the
 * XEP's own examples (§5.2 simple, §5.3 complex with an extended form),
 * order independence, the §5.4 refusals, and the shared cache.
 */
#include "core/arena.h"
#include "xml/parser.h"
#include "xmpp/mod/caps.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct got {
    struct arena a;
    struct xml_node *el;
};

static void on_stanza(void *arg, struct xml_node *st, struct arena *a)
{
    (void)a;
    struct got *g = arg;
    g->el = xml_copy(&g->a, st);
}

/* Parses one element (wrapped in a dummy root) into g's arena. */
static struct xml_node *parse(struct got *g, const char *xml)
{
    static const struct xml_parser_cb cb = {NULL, on_stanza, NULL};
    static const struct xml_limits lim = {0, 0, 0};
    struct xml_parser *p = xml_parser_new(&lim, &cb, g);
    g->el = NULL;
    xml_parser_feed(p, "<r>", 3);
    xml_parser_feed(p, xml, strlen(xml));
    xml_parser_free(p);
    return g->el;
}

#define Q "<query xmlns='http://jabber.org/protocol/disco#info'>"

static const char simple[] = Q "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
                               "<feature var='http://jabber.org/protocol/caps'/>"
                               "<feature var='http://jabber.org/protocol/disco#info'/>"
                               "<feature var='http://jabber.org/protocol/disco#items'/>"
                               "<feature var='http://jabber.org/protocol/muc'/></query>";

/* the same, in another order */
static const char shuffled[] = Q "<feature var='http://jabber.org/protocol/muc'/>"
                                 "<feature var='http://jabber.org/protocol/disco#items'/>"
                                 "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
                                 "<feature var='http://jabber.org/protocol/disco#info'/>"
                                 "<feature var='http://jabber.org/protocol/caps'/></query>";

static const char complex_q[] =
    Q "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
      "<identity xml:lang='el' category='client' name='\xce\xa8 0.11' type='pc'/>"
      "<feature var='http://jabber.org/protocol/caps'/>"
      "<feature var='http://jabber.org/protocol/disco#info'/>"
      "<feature var='http://jabber.org/protocol/disco#items'/>"
      "<feature var='http://jabber.org/protocol/muc'/>"
      "<x xmlns='jabber:x:data' type='result'>"
      "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
      "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
      "<field var='os'><value>Mac</value></field>"
      "<field var='os_version'><value>10.5.1</value></field>"
      "<field var='software'><value>Psi</value></field>"
      "<field var='software_version'><value>0.11</value></field>"
      "</x>"
      /* a form without FORM_TYPE is left out */
      "<x xmlns='jabber:x:data' type='result'><field var='junk'><value>1</value></field></x>"
      "</query>";

static void test_examples(void)
{
    struct got g;
    arena_init(&g.a);
    char ver[CAPS_VER_MAX];
    struct xml_node *n = parse(&g, simple);
    ok(n != NULL, "parsed");
    is_int(caps_ver(n, "sha-1", ver, sizeof(ver)), 28, "simple: length");
    is_str(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=", "XEP-0115 §5.2 example");
    caps_ver(parse(&g, shuffled), "sha-1", ver, sizeof(ver));
    is_str(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=", "order does not matter");
    caps_ver(parse(&g, complex_q), "sha-1", ver, sizeof(ver));
    is_str(ver, "q07IKJEyjvHSyhy//CH0CxmKi8w=", "XEP-0115 §5.3 example with a form");
    ok(caps_ver(n, "sha-256", ver, sizeof(ver)) == 44, "sha-256 is 44 characters");
    ok(strcmp(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=") != 0, "and differs");
    is_int(caps_ver(n, "md5", ver, sizeof(ver)), -ENOTSUP, "md5 is not accepted");
    is_int(caps_ver(n, NULL, ver, sizeof(ver)), -ENOTSUP, "no hash");
    is_int(caps_ver(n, "sha-1", ver, 10), -ENOBUFS, "short buffer");
    arena_fini(&g.a);
}

static void test_refusals(void)
{
    struct got g;
    arena_init(&g.a);
    char ver[CAPS_VER_MAX];
    is_int(caps_ver(parse(&g, Q "<identity category='client' type='pc'/>"
                                "<identity category='client' type='pc'/></query>"),
                    "sha-1", ver, sizeof(ver)),
           -EINVAL, "duplicate identity");
    is_int(caps_ver(parse(&g, Q "<feature var='a'/><feature var='a'/></query>"), "sha-1", ver,
                    sizeof(ver)),
           -EINVAL, "duplicate feature");
    is_int(caps_ver(parse(&g, Q "<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>t</value>"
                                "</field></x><x xmlns='jabber:x:data'><field var='FORM_TYPE'>"
                                "<value>t</value></field></x></query>"),
                    "sha-1", ver, sizeof(ver)),
           -EINVAL, "two forms of one FORM_TYPE");
    ok(caps_ver(parse(&g, Q "</query>"), "sha-1", ver, sizeof(ver)) > 0, "empty query hashes");
    /* different languages are different identities */
    ok(caps_ver(parse(&g, Q "<identity category='client' type='pc' xml:lang='en'/>"
                            "<identity category='client' type='pc' xml:lang='de'/></query>"),
                "sha-1", ver, sizeof(ver)) > 0,
       "same identity in two languages");
    arena_fini(&g.a);
}

static void test_cache(void)
{
    char *v = NULL;
    size_t len = 0;
    ok(!caps_cache_get("sha-1", "abc=", &v, &len), "miss");
    caps_cache_put("sha-1", "abc=", "x\0y", 3);
    ok(caps_cache_get("sha-1", "abc=", &v, &len), "hit");
    is_int(len, 3, "length kept");
    ok(v && memcmp(v, "x\0y", 4) == 0, "bytes kept, NUL after");
    free(v);
    ok(!caps_cache_get("sha-256", "abc=", &v, &len), "the hash is part of the key");
    caps_cache_put("sha-1", "abc=", "z", 1);
    ok(caps_cache_get("sha-1", "abc=", &v, &len) && len == 1 && v[0] == 'z', "replaced");
    free(v);
    char big[CAPS_VER_MAX * 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    caps_cache_put("sha-1", big, "q", 1);
    ok(!caps_cache_get("sha-1", big, &v, &len), "an overlong ver is not kept");
    /* past the cap the cache starts over instead of growing */
    for (int i = 0; i < CAPS_CACHE_MAX + 5; i++) {
        char ver[32];
        snprintf(ver, sizeof(ver), "v%d", i);
        caps_cache_put("sha-1", ver, "", 0);
    }
    ok(caps_cache_get("sha-1", "v1028", &v, &len), "the newest is there");
    free(v);
    ok(!caps_cache_get("sha-1", "v0", &v, &len), "the oldest went");
    caps_cache_clear();
    ok(!caps_cache_get("sha-1", "v1028", &v, &len), "cleared");
}

int main(void)
{
    test_examples();
    test_refusals();
    test_cache();
    return tap_done();
}
