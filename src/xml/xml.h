/*
 * xml: the element tree a stanza is parsed into, and its serializer.
 *
 * A tree lives in one arena (core/arena.h): every node, name, attribute and
 * text is allocated there and dies with it. Names are namespace-resolved:
 * each element carries its namespace URI and local name; prefixes are not
 * kept (the serializer writes xmlns= declarations where needed).
 * Attributes carry a namespace only when they are prefixed in the source
 * (xml:lang has XML_NS_XML). Namespace declarations are not attributes,
 * except on a stream root (see parser.h), where they appear in XML_NS_XMLNS.
 * Nothing here is thread-safe; a tree belongs to the thread that owns its
 * arena.
 */
#ifndef TERN_XML_XML_H
#define TERN_XML_XML_H

#include "core/arena.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define XML_NS_XML    "http://www.w3.org/XML/1998/namespace"
#define XML_NS_XMLNS  "http://www.w3.org/2000/xmlns/"
#define XML_NS_STREAM "http://etherx.jabber.org/streams"
#define XML_NS_CLIENT "jabber:client"

enum xml_kind { XML_ELEM, XML_TEXT };

struct xml_attr {
    struct xml_attr *next;
    const char *ns; /* NULL for unprefixed attributes */
    const char *name;
    const char *value; /* unescaped, NUL-terminated */
};

struct xml_node {
    enum xml_kind kind;
    struct xml_node *parent;
    struct xml_node *next; /* next sibling */
    /* XML_ELEM */
    const char *ns;         /* namespace URI, "" if none */
    const char *name;       /* local name */
    struct xml_attr *attrs; /* in document order */
    struct xml_node *children, *last_child;
    /* XML_TEXT */
    const char *text; /* unescaped */
    size_t text_len;
};

/** Returns a new element in arena a (ns may be NULL for ""); strings are copied. */
struct xml_node *xml_elem_new(struct arena *a, const char *ns, const char *name);
/** Appends a new child element (namespace inherited from parent when ns is NULL). */
struct xml_node *xml_add_child(struct arena *a, struct xml_node *parent, const char *ns,
                               const char *name);
/** Appends a text node with a copy of len bytes (unescaped) to parent. */
struct xml_node *xml_add_text(struct arena *a, struct xml_node *parent, const char *text,
                              size_t len);
/**
 * Appends an existing node (and its subtree, any arena) as the last child of
 * parent, unlinking it first from a previous parent. The subtree is not
 * copied: it must live as long as parent's tree.
 */
void xml_append(struct xml_node *parent, struct xml_node *child);
/** Unlinks child from its parent (no-op without one); child stays valid. */
void xml_remove(struct xml_node *child);
/** Deep-copies node n into arena a (the copy has no parent). */
struct xml_node *xml_copy(struct arena *a, const struct xml_node *n);

/** Returns the value of the unprefixed attribute name, or NULL (also for n NULL). */
const char *xml_attr(const struct xml_node *n, const char *name);
/** Returns the value of the attribute (ns, name; ns NULL: unprefixed), or NULL. */
const char *xml_attr_ns(const struct xml_node *n, const char *ns, const char *name);
/** Sets (replacing) or, with value NULL, removes the unprefixed attribute name (copied). */
void xml_set_attr(struct arena *a, struct xml_node *n, const char *name, const char *value);

/**
 * Returns the first child element with namespace ns (NULL: any) and name
 * (NULL: any), or NULL; n may be NULL, so that lookups chain.
 */
struct xml_node *xml_child(const struct xml_node *n, const char *ns, const char *name);
/** Returns the next sibling element after c matching like xml_child (c NULL: NULL). */
struct xml_node *xml_next(const struct xml_node *c, const char *ns, const char *name);
/** Returns the concatenated text children of n as a new string in arena a ("" if none). */
char *xml_text(struct arena *a, const struct xml_node *n);
/** Returns whether n is an element with namespace ns and name (NULL: any, as xml_child). */
bool xml_is(const struct xml_node *n, const char *ns, const char *name);

/**
 * Serializes element n and its subtree to out. parent_ns is the default
 * namespace already in scope (e.g. "jabber:client" inside a c2s stream):
 * n gets an xmlns attribute only if its namespace differs, and each child
 * likewise compared with its parent. Attributes in XML_NS_XML are written as
 * xml:name, other namespaced ones with a generated prefix declared on the
 * same element; XML_NS_XMLNS attributes and unprefixed "xmlns" ones are
 * skipped (declarations are the serializer's business). Values use double
 * quotes; empty elements are <x/>. Returns 0, or -ENOBUFS when out's limit
 * is reached (out is then left as it was before the call).
 */
int xml_serialize(struct buf *out, const struct xml_node *n, const char *parent_ns);
/**
 * Appends text escaped for element content (&, <, >, and CR as &#13; so that
 * it survives line-end normalization). Returns 0 or -ENOBUFS.
 */
int xml_escape_text(struct buf *out, const char *s, size_t len);
/**
 * Appends text escaped for an attribute value in double quotes (&, <, >, ",
 * and TAB/LF/CR as character references so that they survive attribute
 * normalization). Returns 0 or -ENOBUFS.
 */
int xml_escape_attr(struct buf *out, const char *s, size_t len);

#endif
