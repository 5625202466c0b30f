/*
 * parser: the XMPP stream parser on top of expat.
 *
 * One expat parser (namespace processing on, separator NS_SEP, which no XML
 * document can contain) parses the whole stream as one document:
 *
 *   fresh --(xml decl)--> prolog --root start: stream_open--> open
 *   open --depth-1 start--> stanza --(children, text)--> stanza
 *   stanza --depth-1 end: stanza cb, arena reset--> open
 *   open --root end: stream_close--> CLOSED (expat is stopped: bytes after
 *                                            the close are not looked at)
 *   any --DOCTYPE, comment, PI, bad XML, limit--> FAILED (sticky)
 *   any --xml_parser_reset()--> fresh (expat freed, a new one on next feed)
 *
 * Who owns what: the root element lives in root_arena until the next reset;
 * a stanza lives in stanza_arena until its callback returns. Expat owns the
 * bytes it has not parsed yet (they are copied in with XML_GetBuffer), which
 * is what makes suspend/resume work: XML_StopParser(resumable) leaves them in
 * expat's buffer and XML_ResumeParser picks up after the stanza.
 *
 * Callbacks run with expat on the stack, so nothing a callback asks for may
 * free expat there: reset only sets reset_pending and aborts the parse; the
 * work is done once XML_ParseBuffer has returned (finish()). After an abort
 * expat may still call a handler or two ("halted"): they return at once.
 *
 * Limits. max_depth and max_attrs are checked in the start handler (xmlns
 * declarations counted through the namespace-declaration handler). The byte
 * cap is kept in three places, all on offsets in the document
 * (XML_GetCurrentByteIndex): each event of a stanza checks its end against
 * the stanza's start tag, a tag outside stanzas (stream header, its end tag,
 * XML declaration) checks its own length, and after every parse call the bytes expat holds
 * without having reported them (an unfinished start tag, attribute value,
 * root header...) are measured from the open stanza's start, or from the end
 * of the last event outside a stanza. Input is handed to expat in chunks of
 * at most FEED_CHUNK, so expat's buffer never grows much past the cap.
 *
 * Reparse deferral (expat 2.6, backported by distributions into older
 * version numbers): expat may wait for much more data before retrying an
 * unfinished token, which would leave a complete stanza undelivered until
 * the peer sends more. So it is off, and each read retries the unfinished
 * token at once. That retry re-reads the token from its start, which a peer
 * trickling a big tag byte by byte could make quadratic; the bytes re-read
 * are therefore counted, and a stream that has made expat re-read more than
 * REPARSE_BASE + REPARSE_FACTOR times what it sent gets expat's deferral
 * back (its own stanzas may then wait for more input; nobody else's do). A
 * parse is forced before a cap is declared exceeded under deferral.
 */
#include "xml/parser.h"
#include "core/alloc.h"
#include "core/buf.h"

#include <expat.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Looked up weakly: older expat has no deferral, so nothing to turn off. */
XMLPARSEAPI(XML_Bool) XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled);
#pragma weak XML_SetReparseDeferralEnabled

#define NS_SEP         '\x01'
#define FEED_CHUNK     65536     /* bytes per expat call */
#define REPARSE_BASE   (1 << 20) /* bytes re-read for free */
#define REPARSE_FACTOR 64        /* then bytes re-read per byte fed */

#define DEFAULT_MAX_STANZA 262144
#define DEFAULT_MAX_DEPTH  32
#define DEFAULT_MAX_ATTRS  64

/* Internal result of a parse step: the stream was reset under us. */
#define RC_RESET 100

struct xml_parser {
    XML_Parser xp; /* NULL until the first feed after new/reset */
    struct xml_limits lim;
    struct xml_parser_cb cb;
    void *arg;

    struct arena root_arena;                   /* the stream header, until reset */
    struct arena stanza_arena;                 /* the stanza being built */
    struct xml_node *root;                     /* NULL until the root start tag */
    struct xml_attr *root_decls, **decls_tail; /* root's xmlns, before it opens */
    struct xml_node *cur;                      /* innermost open element below the root */
    unsigned depth;                            /* open elements below the root */
    unsigned ns_decls;                         /* xmlns declarations of the coming start tag */
    struct buf text;                           /* character data not yet made a node */
    struct buf held;                           /* bytes fed while suspended, for resume */

    uint64_t fed;          /* bytes given to expat in this document */
    uint64_t rescanned;    /* bytes of unfinished tokens expat was made to re-read */
    uint64_t event_end;    /* document offset just past the last event */
    uint64_t stanza_start; /* document offset of the open stanza */
    bool stanza_open;

    bool in_parse;      /* expat is on the stack */
    bool halted;        /* expat was aborted: ignore late events */
    bool suspended;     /* XML_ResumeParser is owed */
    bool reset_pending; /* reset asked from a callback */
    bool closed;        /* the root's end tag was seen */
    int fail;           /* < 0: failed with this enum xml_parse_rc */
    char err[160];
};

static void set_deferral(struct xml_parser *p, bool on)
{
    if (XML_SetReparseDeferralEnabled)
        XML_SetReparseDeferralEnabled(p->xp, on ? XML_TRUE : XML_FALSE);
}

/* Aborts the parse from inside a handler with a sticky error. */
static void halt(struct xml_parser *p, int rc, const char *why)
{
    if (p->halted)
        return;
    p->halted = true;
    p->fail = rc;
    snprintf(p->err, sizeof(p->err), "%s", why);
    XML_StopParser(p->xp, XML_FALSE);
}

/* Records where the event being reported ends, for the byte caps. */
static void note_event(struct xml_parser *p)
{
    XML_Index i = XML_GetCurrentByteIndex(p->xp);
    if (i >= 0)
        p->event_end = (uint64_t)i + (uint64_t)XML_GetCurrentByteCount(p->xp);
}

/* For a tag outside any stanza (the stream header, its end tag, the XML
 * declaration), measured from `from`: the cap holds for it too, also when it
 * arrived in one read. Before the root, from is the end of the previous event,
 * so that whitespace in the prolog (which expat reports to nobody) counts as it
 * does for check_held. */
static bool tag_too_big(struct xml_parser *p, uint64_t from)
{
    if (p->event_end - from <= p->lim.max_stanza)
        return false;
    halt(p, XML_PARSE_POLICY, "tag larger than the stanza limit");
    return true;
}

static bool stanza_too_big(struct xml_parser *p)
{
    if (!p->stanza_open || p->event_end - p->stanza_start <= p->lim.max_stanza)
        return false;
    halt(p, XML_PARSE_POLICY, "stanza larger than the limit");
    return true;
}

/* Splits expat's "uri<NS_SEP>local" (or a bare "local") name. */
static const char *split_name(const char *qname, const char **uri, size_t *uri_len)
{
    const char *sep = strchr(qname, NS_SEP);
    if (!sep) {
        *uri = "";
        *uri_len = 0;
        return qname;
    }
    *uri = qname;
    *uri_len = (size_t)(sep - qname);
    return sep + 1;
}

static bool same_str(const char *s, const char *t, size_t t_len)
{
    return strlen(s) == t_len && memcmp(s, t, t_len) == 0;
}

/* Builds an element with its attributes in arena a, under parent if any.
 * A child in its parent's namespace shares the parent's string. */
static struct xml_node *make_elem(struct arena *a, struct xml_node *parent, const char *qname,
                                  const char **atts)
{
    const char *uri;
    size_t uri_len;
    const char *local = split_name(qname, &uri, &uri_len);
    struct xml_node *n = arena_zalloc(a, sizeof(*n));
    n->kind = XML_ELEM;
    n->ns =
        parent && same_str(parent->ns, uri, uri_len) ? parent->ns : arena_strndup(a, uri, uri_len);
    n->name = arena_strdup(a, local);
    struct xml_attr **tail = &n->attrs;
    for (; atts[0]; atts += 2) {
        struct xml_attr *at = arena_zalloc(a, sizeof(*at));
        local = split_name(atts[0], &uri, &uri_len);
        if (uri_len == 0)
            at->ns = NULL;
        else if (same_str(XML_NS_XML, uri, uri_len))
            at->ns = XML_NS_XML;
        else
            at->ns = arena_strndup(a, uri, uri_len);
        at->name = arena_strdup(a, local);
        at->value = arena_strdup(a, atts[1]);
        *tail = at;
        tail = &at->next;
    }
    if (parent)
        xml_append(parent, n);
    return n;
}

/* Turns the character data collected so far into a text node of cur. */
static void flush_text(struct xml_parser *p)
{
    if (p->text.len == 0)
        return;
    xml_add_text(&p->stanza_arena, p->cur, p->text.data, p->text.len);
    buf_reset(&p->text);
}

static void XMLCALL on_ns_decl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_parser *p = ud;
    if (p->halted)
        return;
    p->ns_decls++;
    if (p->root)
        return;
    /* the stream header's declarations are data for the stream layer
     * (jabber:client or jabber:server), so the root keeps them */
    struct xml_attr *at = arena_zalloc(&p->root_arena, sizeof(*at));
    at->ns = XML_NS_XMLNS;
    at->name = arena_strdup(&p->root_arena, prefix ? prefix : "xmlns");
    at->value = arena_strdup(&p->root_arena, uri ? uri : "");
    *p->decls_tail = at;
    p->decls_tail = &at->next;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_parser *p = ud;
    if (p->halted)
        return;
    uint64_t before = p->event_end;
    note_event(p);
    unsigned n = p->ns_decls;
    p->ns_decls = 0;
    for (const XML_Char **a = atts; *a; a += 2)
        n++;
    if (n > p->lim.max_attrs) {
        halt(p, XML_PARSE_POLICY, "too many attributes");
        return;
    }
    if (!p->root) {
        if (tag_too_big(p, before))
            return;
        struct xml_node *r = make_elem(&p->root_arena, NULL, name, atts);
        struct xml_attr **tail = &r->attrs;
        while (*tail)
            tail = &(*tail)->next;
        *tail = p->root_decls;
        p->root_decls = NULL;
        p->root = r;
        if (p->cb.stream_open)
            p->cb.stream_open(p->arg, r);
        return;
    }
    if (p->depth >= p->lim.max_depth) {
        halt(p, XML_PARSE_POLICY, "elements nested too deeply");
        return;
    }
    if (p->depth == 0) {
        XML_Index i = XML_GetCurrentByteIndex(p->xp);
        p->stanza_open = true;
        p->stanza_start = i >= 0 ? (uint64_t)i : p->event_end;
    } else {
        flush_text(p);
    }
    if (stanza_too_big(p))
        return;
    p->cur = make_elem(&p->stanza_arena, p->depth ? p->cur : NULL, name, atts);
    p->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_parser *p = ud;
    (void)name; /* expat has matched it against the start tag */
    if (p->halted)
        return;
    note_event(p);
    if (p->depth == 0) {
        XML_Index i = XML_GetCurrentByteIndex(p->xp);
        if (i >= 0 && tag_too_big(p, (uint64_t)i))
            return;
        p->closed = true;
        if (p->cb.stream_close)
            p->cb.stream_close(p->arg);
        /* whatever follows the close is not ours to parse */
        if (!p->halted) {
            p->halted = true;
            XML_StopParser(p->xp, XML_FALSE);
        }
        return;
    }
    flush_text(p);
    if (stanza_too_big(p))
        return;
    struct xml_node *n = p->cur;
    p->cur = n->parent;
    if (--p->depth)
        return;
    p->stanza_open = false;
    if (p->cb.stanza)
        p->cb.stanza(p->arg, n, &p->stanza_arena);
    arena_reset(&p->stanza_arena);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_parser *p = ud;
    if (p->halted)
        return;
    note_event(p);
    if (p->depth == 0) {
        /* between stanzas only whitespace (keepalives) is allowed */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
                halt(p, XML_PARSE_MALFORMED, "text outside of a stanza");
                return;
            }
        }
        return;
    }
    if (buf_append(&p->text, s, (size_t)len) < 0) {
        halt(p, XML_PARSE_POLICY, "stanza larger than the limit");
        return;
    }
    stanza_too_big(p);
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    struct xml_parser *p = ud;
    (void)version;
    (void)encoding; /* the parser is created for UTF-8, which overrides it */
    (void)standalone;
    if (p->halted)
        return;
    uint64_t before = p->event_end;
    note_event(p);
    tag_too_big(p, before);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    halt(ud, XML_PARSE_RESTRICTED, "DOCTYPE is not allowed");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    halt(ud, XML_PARSE_RESTRICTED, "entity declarations are not allowed");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    halt(ud, XML_PARSE_RESTRICTED, "comments are not allowed");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    halt(ud, XML_PARSE_RESTRICTED, "processing instructions are not allowed");
}

static void start_document(struct xml_parser *p)
{
    /* the protocol encoding wins over any encoding= in the XML declaration */
    p->xp = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p->xp)
        abort(); /* out of memory, as in core/alloc.h */
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetStartNamespaceDeclHandler(p->xp, on_ns_decl);
    XML_SetXmlDeclHandler(p->xp, on_xml_decl);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity_decl);
    XML_SetCommentHandler(p->xp, on_comment);
    XML_SetProcessingInstructionHandler(p->xp, on_pi);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
}

/* Drops the document: expat, both arenas' contents, all counters. */
static void drop_document(struct xml_parser *p)
{
    if (p->xp)
        XML_ParserFree(p->xp);
    p->xp = NULL;
    arena_reset(&p->root_arena);
    arena_reset(&p->stanza_arena);
    p->root = NULL;
    p->root_decls = NULL;
    p->decls_tail = &p->root_decls;
    p->cur = NULL;
    p->depth = 0;
    p->ns_decls = 0;
    buf_reset(&p->text);
    buf_reset(&p->held);
    p->fed = 0;
    p->rescanned = 0;
    p->event_end = 0;
    p->stanza_start = 0;
    p->stanza_open = false;
    p->halted = false;
    p->suspended = false;
    p->reset_pending = false;
    p->closed = false;
    p->fail = 0;
    p->err[0] = '\0';
}

struct xml_parser *xml_parser_new(const struct xml_limits *lim, const struct xml_parser_cb *cb,
                                  void *arg)
{
    struct xml_parser *p;
    XNEW(p);
    p->lim = *lim;
    if (!p->lim.max_stanza)
        p->lim.max_stanza = DEFAULT_MAX_STANZA;
    if (!p->lim.max_depth)
        p->lim.max_depth = DEFAULT_MAX_DEPTH;
    if (!p->lim.max_attrs)
        p->lim.max_attrs = DEFAULT_MAX_ATTRS;
    p->cb = *cb;
    p->arg = arg;
    arena_init(&p->root_arena);
    arena_init(&p->stanza_arena);
    buf_init(&p->text, p->lim.max_stanza);
    buf_init(&p->held, 0);
    drop_document(p);
    return p;
}

void xml_parser_free(struct xml_parser *p)
{
    if (!p)
        return;
    if (p->xp)
        XML_ParserFree(p->xp);
    arena_fini(&p->root_arena);
    arena_fini(&p->stanza_arena);
    buf_fini(&p->text);
    buf_fini(&p->held);
    free(p);
}

static int sticky_rc(const struct xml_parser *p)
{
    if (p->fail)
        return p->fail;
    if (p->closed)
        return XML_PARSE_CLOSED;
    if (p->suspended)
        return XML_PARSE_SUSPENDED;
    return XML_PARSE_OK;
}

/* Turns what expat returned into our result, doing a deferred reset. */
static int finish(struct xml_parser *p, enum XML_Status st)
{
    p->in_parse = false;
    if (p->reset_pending) {
        drop_document(p);
        return RC_RESET;
    }
    if (p->fail || p->closed)
        return sticky_rc(p);
    if (st == XML_STATUS_SUSPENDED) {
        p->suspended = true;
        return XML_PARSE_SUSPENDED;
    }
    if (st == XML_STATUS_ERROR) {
        enum XML_Error e = XML_GetErrorCode(p->xp);
        p->fail = e == XML_ERROR_NO_MEMORY ? XML_PARSE_POLICY : XML_PARSE_MALFORMED;
        snprintf(p->err, sizeof(p->err), "line %lu column %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(p->xp),
                 (unsigned long)XML_GetCurrentColumnNumber(p->xp), XML_ErrorString(e));
        return p->fail;
    }
    return XML_PARSE_OK;
}

/* After a parse that consumed what it could: are the bytes expat holds
 * unreported within the cap? deferred says expat may have skipped work. */
static int check_held(struct xml_parser *p, bool deferred)
{
    uint64_t from = p->stanza_open ? p->stanza_start : p->event_end;
    if (p->fed - from <= p->lim.max_stanza)
        return XML_PARSE_OK;
    if (deferred) {
        /* judge only what expat really could not parse */
        set_deferral(p, false);
        p->in_parse = true;
        int rc = finish(p, XML_ParseBuffer(p->xp, 0, XML_FALSE));
        return rc == XML_PARSE_OK ? check_held(p, false) : rc;
    }
    p->fail = XML_PARSE_POLICY;
    snprintf(p->err, sizeof(p->err), "%s",
             p->stanza_open ? "stanza larger than the limit"
                            : "unfinished tag larger than the stanza limit");
    return p->fail;
}

/*
 * Whether the document starts like UTF-16 (fed: bytes of it given to expat so
 * far; data continues them). Expat picks UTF-16 from a byte-order mark or a
 * NUL among the first two bytes even when it was created for UTF-8, so these
 * are refused before it sees them. NUL is never valid in UTF-8 XML anyway.
 */
static bool utf16_start(uint64_t fed, const char *data, size_t len)
{
    for (size_t i = 0; i < len && fed + i < 2; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == 0 || (fed + i == 0 && (c == 0xfe || c == 0xff)))
            return true;
    }
    return false;
}

/* Gives len (<= FEED_CHUNK) bytes to expat. */
static int parse_chunk(struct xml_parser *p, const char *data, size_t len)
{
    if (p->fed < 2 && utf16_start(p->fed, data, len)) {
        p->fail = XML_PARSE_ENCODING;
        snprintf(p->err, sizeof(p->err), "the stream is not UTF-8");
        return p->fail;
    }
    void *dst = XML_GetBuffer(p->xp, (int)len);
    if (!dst) {
        p->fail = XML_PARSE_POLICY;
        snprintf(p->err, sizeof(p->err), "expat: %s", XML_ErrorString(XML_GetErrorCode(p->xp)));
        return p->fail;
    }
    memcpy(dst, data, len);
    bool defer = p->rescanned > REPARSE_BASE + REPARSE_FACTOR * p->fed;
    if (!defer)
        p->rescanned += p->fed - p->event_end;
    p->fed += len;
    set_deferral(p, defer);
    p->in_parse = true;
    int rc = finish(p, XML_ParseBuffer(p->xp, (int)len, XML_FALSE));
    return rc == XML_PARSE_OK ? check_held(p, defer) : rc;
}

/* Feeds data in chunks; bytes left when a callback suspends are held. */
static int feed_all(struct xml_parser *p, const char *data, size_t len)
{
    if (!p->xp)
        start_document(p);
    while (len > 0) {
        size_t n = len < FEED_CHUNK ? len : FEED_CHUNK;
        /* a document's first byte goes alone, so that expat judges it before the encoding
           check judges the second, as when the peer's bytes come one at a time */
        if (p->fed == 0)
            n = 1;
        int rc = parse_chunk(p, data, n);
        data += n;
        len -= n;
        if (rc == XML_PARSE_SUSPENDED && len > 0) {
            /* the caller's own chunk: no cap beyond the one it read with */
            buf_append(&p->held, data, len);
            return rc;
        }
        if (rc != XML_PARSE_OK)
            return rc;
    }
    return XML_PARSE_OK;
}

int xml_parser_feed(struct xml_parser *p, const char *data, size_t len)
{
    if (p->in_parse)
        return XML_PARSE_POLICY; /* from a callback: refused, state untouched */
    if (p->fail || p->closed)
        return sticky_rc(p);
    if (p->suspended) {
        if (p->held.len + len > p->lim.max_stanza) {
            p->fail = XML_PARSE_POLICY;
            snprintf(p->err, sizeof(p->err), "too much input while suspended");
            return p->fail;
        }
        buf_append(&p->held, data, len);
        return XML_PARSE_SUSPENDED;
    }
    int rc = feed_all(p, data, len);
    return rc == RC_RESET ? XML_PARSE_OK : rc;
}

void xml_parser_suspend(struct xml_parser *p)
{
    if (!p->in_parse || p->halted)
        return;
    XML_StopParser(p->xp, XML_TRUE);
}

int xml_parser_resume(struct xml_parser *p)
{
    if (p->in_parse || !p->suspended)
        return p->in_parse ? XML_PARSE_POLICY : sticky_rc(p);
    p->suspended = false;
    set_deferral(p, false);
    p->in_parse = true;
    int rc = finish(p, XML_ResumeParser(p->xp));
    if (rc == XML_PARSE_OK)
        rc = check_held(p, false);
    if (rc == XML_PARSE_OK && p->held.len > 0) {
        /* take the held bytes out first: a new suspension holds anew */
        struct buf h = p->held;
        buf_init(&p->held, 0);
        rc = feed_all(p, h.data, h.len);
        buf_fini(&h);
    }
    return rc == RC_RESET ? XML_PARSE_OK : rc;
}

void xml_parser_reset(struct xml_parser *p)
{
    if (!p->in_parse) {
        drop_document(p);
        return;
    }
    /* expat is on the stack: stop it, finish() frees it */
    p->reset_pending = true;
    if (!p->halted) {
        p->halted = true;
        XML_StopParser(p->xp, XML_FALSE);
    }
}

void xml_parser_set_arg(struct xml_parser *p, void *arg)
{
    p->arg = arg;
}

const char *xml_parser_error(const struct xml_parser *p)
{
    return p->err[0] ? p->err : "no error";
}

void xml_parser_trim(struct xml_parser *p)
{
    if (p->in_parse)
        return;
    if (!p->stanza_open)
        arena_fini(&p->stanza_arena);
    if (p->text.len == 0)
        buf_shrink(&p->text);
    if (p->held.len == 0)
        buf_shrink(&p->held);
}
