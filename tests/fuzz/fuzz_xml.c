/*
 * fuzz_xml: the XMPP stream parser (xml/parser.h) and the serializer.
 *
 * Input: byte 0 picks the limits and the callback behaviour, byte 1 seeds the
 * split points, the rest is the stream. The stream is parsed three times:
 *
 *   whole   one feed; the reference.
 *   split   fed in pieces of 1..64 bytes with xml_parser_trim between them.
 *           It must deliver the same events as whole, or (when expat's
 *           reparse deferral was switched on for a trickling peer) a prefix
 *           of them without an error; an error in one is an error in both.
 *   chaos   split again, with suspensions, resumes and a reset from inside
 *           the callbacks, as c2s does; only memory safety is checked.
 *
 * Every stanza delivered is serialized, parsed again and serialized again:
 * the serializer must write well-formed XML that means the same tree.
 */
#include "fuzz.h"

#include "core/buf.h"
#include "xml/parser.h"
#include "xml/xml.h"

#include <stdbool.h>
#include <string.h>

struct run {
    struct xml_parser *p;
    struct buf log;
    unsigned stanzas;
    bool roundtrip;     /* serialize and reparse every stanza */
    bool suspend_every; /* chaos: suspend in every stanza callback */
    unsigned reset_at;  /* chaos: reset in this stanza's callback (0: never) */
    bool reset_on_open; /* chaos: reset in the first stream_open */
    bool did_reset_on_open;
};

/* The second parser of the round trip: collects the one stanza's serialization. */
struct again {
    struct buf out;
    unsigned n;
};

static void again_stanza(void *arg, struct xml_node *st, struct arena *a)
{
    (void)a;
    struct again *g = arg;
    g->n++;
    FUZZ_CHECK(xml_serialize(&g->out, st, "") == 0, "serialize in round trip");
}

static const struct xml_parser_cb again_cb = {NULL, again_stanza, NULL};

static void roundtrip(const struct xml_node *st)
{
    struct buf first;
    buf_init(&first, 0);
    FUZZ_CHECK(xml_serialize(&first, st, "") == 0, "serialize");
    struct xml_limits big = {16777216, 256, 1024};
    struct again g = {0};
    buf_init(&g.out, 0);
    struct xml_parser *p = xml_parser_new(&big, &again_cb, &g);
    static const char head[] = "<r>", tail[] = "</r>";
    int rc = xml_parser_feed(p, head, sizeof(head) - 1);
    if (rc == XML_PARSE_OK)
        rc = xml_parser_feed(p, first.data, first.len);
    if (rc == XML_PARSE_OK)
        rc = xml_parser_feed(p, tail, sizeof(tail) - 1);
    FUZZ_CHECK(rc == XML_PARSE_CLOSED, "serialized stanza reparses (rc %d, %s): %.*s", rc,
               xml_parser_error(p), (int)first.len, first.data);
    FUZZ_CHECK(g.n == 1, "one stanza back, got %u", g.n);
    FUZZ_CHECK(g.out.len == first.len && memcmp(g.out.data, first.data, first.len) == 0,
               "round trip changed the stanza:\n%.*s\n%.*s", (int)first.len, first.data,
               (int)g.out.len, g.out.data);
    xml_parser_free(p);
    buf_fini(&g.out);
    buf_fini(&first);
}

static void on_open(void *arg, struct xml_node *root)
{
    struct run *r = arg;
    buf_printf(&r->log, "open{%s|%s", root->ns, root->name);
    for (const struct xml_attr *at = root->attrs; at; at = at->next)
        buf_printf(&r->log, " %s|%s=%s", at->ns ? at->ns : "", at->name, at->value);
    buf_puts(&r->log, "}");
    FUZZ_CHECK(root->children == NULL, "the root comes without children");
    if (r->reset_on_open && !r->did_reset_on_open) {
        r->did_reset_on_open = true;
        xml_parser_reset(r->p);
    }
}

static void on_stanza(void *arg, struct xml_node *st, struct arena *a)
{
    struct run *r = arg;
    r->stanzas++;
    FUZZ_CHECK(st->kind == XML_ELEM && st->parent == NULL, "a stanza is a detached element");
    arena_strdup(a, "the callback may use the arena");
    buf_puts(&r->log, "[");
    FUZZ_CHECK(xml_serialize(&r->log, st, "jabber:client") == 0, "serialize into the log");
    buf_puts(&r->log, "]");
    if (r->roundtrip)
        roundtrip(st);
    /* what c2s does with a stanza it answers: copy it elsewhere */
    struct arena other;
    arena_init(&other);
    struct xml_node *copy = xml_copy(&other, st);
    char *text = xml_text(&other, copy);
    FUZZ_CHECK(text != NULL, "xml_text");
    arena_fini(&other);
    if (r->suspend_every)
        xml_parser_suspend(r->p);
    if (r->reset_at && r->stanzas == r->reset_at)
        xml_parser_reset(r->p);
}

static void on_close(void *arg)
{
    struct run *r = arg;
    buf_puts(&r->log, "close");
}

static const struct xml_parser_cb run_cb = {on_open, on_stanza, on_close};

static void run_init(struct run *r, const struct xml_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->p = xml_parser_new(lim, &run_cb, r);
    buf_init(&r->log, 0);
}

static void run_fini(struct run *r)
{
    xml_parser_free(r->p);
    buf_fini(&r->log);
}

/* Feeds in random pieces; resumes whenever a callback suspended. Returns the last rc. */
static int feed_split(struct run *r, const uint8_t *s, size_t len, uint32_t seed)
{
    int rc = XML_PARSE_OK;
    size_t off = 0;
    while (off < len) {
        size_t n = 1 + fuzz_rand(&seed) % 64;
        if (n > len - off)
            n = len - off;
        rc = xml_parser_feed(r->p, (const char *)s + off, n);
        off += n;
        while (rc == XML_PARSE_SUSPENDED)
            rc = xml_parser_resume(r->p);
        if (rc < 0 || rc == XML_PARSE_CLOSED)
            break;
        if (fuzz_rand(&seed) % 4 == 0)
            xml_parser_trim(r->p);
    }
    return rc;
}

static bool is_prefix(const struct buf *a, const struct buf *b)
{
    return a->len <= b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0];
    uint32_t seed = data[1] * 0x01010101u + 1;
    const uint8_t *s = data + 2;
    size_t len = size - 2;
    /* small limits, so that a few kilobytes of input reach them */
    struct xml_limits lim = {
        .max_stanza = (size_t)256 << (mode & 3),
        .max_depth = mode & 4 ? 4 : 32,
        .max_attrs = mode & 8 ? 4 : 64,
    };

    struct run whole, split, chaos;
    run_init(&whole, &lim);
    whole.roundtrip = true;
    int rc_whole = xml_parser_feed(whole.p, (const char *)s, len);

    run_init(&split, &lim);
    int rc_split = feed_split(&split, s, len, seed);
    bool whole_err = rc_whole < 0, split_err = rc_split < 0;
    FUZZ_CHECK(whole_err == split_err, "whole rc %d (%s), split rc %d (%s)", rc_whole,
               xml_parser_error(whole.p), rc_split, xml_parser_error(split.p));
    if (whole_err) {
        /* the byte cap on an unfinished token is checked where a read ends, so whether it
           or an error later in the same token comes first depends on the split */
        bool cap = rc_whole == XML_PARSE_POLICY || rc_split == XML_PARSE_POLICY;
        FUZZ_CHECK(rc_whole == rc_split || cap, "same error: whole %d (%s), split %d (%s)",
                   rc_whole, xml_parser_error(whole.p), rc_split, xml_parser_error(split.p));
        FUZZ_CHECK(
            whole.log.len == split.log.len &&
                (whole.log.len == 0 || memcmp(whole.log.data, split.log.data, whole.log.len) == 0),
            "same events before the error:\n%.*s\n%.*s", (int)whole.log.len, whole.log.data,
            (int)split.log.len, split.log.data);
    } else {
        FUZZ_CHECK(is_prefix(&split.log, &whole.log), "split events are whole's:\n%.*s\n%.*s",
                   (int)whole.log.len, whole.log.data, (int)split.log.len, split.log.data);
    }
    FUZZ_CHECK(xml_parser_feed(whole.p, "<x/>", 4) == rc_whole || rc_whole == XML_PARSE_OK,
               "errors and close are sticky");
    run_fini(&whole);
    run_fini(&split);

    run_init(&chaos, &lim);
    chaos.suspend_every = mode & 16;
    chaos.reset_at = mode & 32 ? 2 : 0;
    chaos.reset_on_open = mode & 64;
    feed_split(&chaos, s, len, seed ^ 0x5bd1e995u);
    if (mode & 128) {
        /* a stream restart after the whole input, then the input again */
        xml_parser_reset(chaos.p);
        feed_split(&chaos, s, len, seed);
    }
    run_fini(&chaos);
    return 0;
}
