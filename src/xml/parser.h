/*
 * parser: the XMPP stream parser, built on expat. The stream is one XML
 * document: the root element (the stream header) is reported on its own,
 * then each child of the root (a stanza, or a stream-level element such as
 * <auth/> or <starttls/>) is built into a tree in a per-stanza arena and
 * handed over when its end tag arrives; the root's end tag reports the
 * stream close. Bytes may be fed split at any point.
 *
 * Encoding (RFC 6120 §11.6): the stream is UTF-8, whatever its XML
 * declaration says; a document that starts like UTF-16 (a byte-order mark FE FF
 * or FF FE, or a NUL among its first two bytes) is refused with
 * XML_PARSE_ENCODING before expat, which would switch to UTF-16, sees it.
 *
 * Restricted XML (RFC 6120 §11.1): a DOCTYPE, entity declarations, comments
 * and processing instructions are refused with XML_PARSE_RESTRICTED; the XML
 * declaration itself is allowed. Malformed input, invalid UTF-8 and undefined
 * entities give XML_PARSE_MALFORMED. Caps from struct xml_limits give
 * XML_PARSE_POLICY. After an error the parser stays failed until reset.
 *
 * Whitespace between stanzas (keepalives) is ignored. Text directly inside
 * the root element that is not whitespace is malformed for XMPP.
 *
 * One parser belongs to one connection and one thread.
 */
#ifndef TERN_XML_PARSER_H
#define TERN_XML_PARSER_H

#include "core/arena.h"
#include "xml/xml.h"

#include <stddef.h>

enum xml_parse_rc {
    XML_PARSE_OK = 0,          /* all bytes consumed, more may come */
    XML_PARSE_SUSPENDED = 1,   /* a callback called xml_parser_suspend() */
    XML_PARSE_CLOSED = 2,      /* the stream's end tag was seen */
    XML_PARSE_MALFORMED = -1,  /* not well-formed XML or bad UTF-8 */
    XML_PARSE_RESTRICTED = -2, /* DOCTYPE, entity declaration, comment, PI */
    XML_PARSE_POLICY = -3,     /* a limit was exceeded */
    XML_PARSE_ENCODING = -4,   /* the stream is not UTF-8 (a UTF-16 BOM or NUL at its start) */
};

struct xml_limits {
    size_t max_stanza;  /* bytes of one depth-1 element, including its tags; also caps
                           the stream header and any one unfinished tag */
    unsigned max_depth; /* nesting below the root, the stanza itself is depth 1 */
    unsigned max_attrs; /* attributes (xmlns declarations included) per element */
};

struct xml_parser_cb {
    /**
     * The root element opened: root has its attributes (and no children),
     * among them its namespace declarations as attributes in XML_NS_XMLNS
     * (named "xmlns" for the default one, else by their prefix), so that the
     * stream layer can check the content namespace. root lives until reset.
     */
    void (*stream_open)(void *arg, struct xml_node *root);
    /**
     * A depth-1 element is complete. It lives in arena, which the parser
     * resets after the callback returns: copy what must outlive it.
     */
    void (*stanza)(void *arg, struct xml_node *stanza, struct arena *arena);
    /** The root's end tag arrived. */
    void (*stream_close)(void *arg);
};

struct xml_parser;

/**
 * Returns a new parser that reports to cb with arg; lim and cb are copied. A
 * zero field of lim takes a default (262144 bytes, depth 32, 64 attributes).
 * Callbacks may be NULL.
 */
struct xml_parser *xml_parser_new(const struct xml_limits *lim, const struct xml_parser_cb *cb,
                                  void *arg);
/** Frees the parser. NULL-safe. Must not be called from inside a callback. */
void xml_parser_free(struct xml_parser *p);
/**
 * Feeds len bytes (copied). Callbacks run from inside this call; they must
 * not call feed (refused with XML_PARSE_POLICY, parser untouched). Returns an
 * enum xml_parse_rc; an error or CLOSED is returned again by every later
 * call until reset. While suspended, feed only keeps the bytes for resume
 * (at most max_stanza of them, more is XML_PARSE_POLICY) and returns
 * XML_PARSE_SUSPENDED; a caller should rather stop reading.
 */
int xml_parser_feed(struct xml_parser *p, const char *data, size_t len);
/**
 * Called from a stanza callback: stops delivery after this stanza; the
 * bytes already fed but not parsed are kept. xml_parser_feed then returns
 * XML_PARSE_SUSPENDED.
 */
void xml_parser_suspend(struct xml_parser *p);
/**
 * Continues a suspended parse with the kept bytes; it may suspend again.
 * Returns like feed (just the current state when not suspended).
 */
int xml_parser_resume(struct xml_parser *p);
/**
 * Starts a new document (stream restart after STARTTLS or SASL): drops all
 * state and any bytes not yet parsed, including an error. May be called
 * from a callback; the current feed (or resume) then stops and returns
 * XML_PARSE_OK, and the next feed starts the new document.
 */
void xml_parser_reset(struct xml_parser *p);
/** Changes the arg passed to the callbacks (the stream changed owner). Not from a callback. */
void xml_parser_set_arg(struct xml_parser *p, void *arg);
/** Returns a short human-readable reason for the last error (for logs). */
const char *xml_parser_error(const struct xml_parser *p);
/**
 * Gives back buffers an idle connection does not need (shrink-on-idle): the
 * stanza arena when no stanza is half-parsed, empty byte buffers. Expat's own
 * state for the open stream stays. Not from a callback (then a no-op).
 */
void xml_parser_trim(struct xml_parser *p);

#endif
