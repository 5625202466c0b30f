/*
 * xml: the arena element tree and its serializer.
 *
 * Nodes and every string they point to come from the arena the caller names;
 * nothing here frees memory, the arena does that all at once. Functions that
 * link nodes (xml_append, xml_remove) never copy, so a tree may borrow
 * subtrees from another arena; xml_copy is the way to make a tree
 * independent. Children form a singly linked list with a last_child pointer
 * so that appending (what the parser does for every node) is O(1).
 *
 * The serializer is the only writer of namespace syntax: the tree holds
 * resolved (namespace, local name) pairs, and xml_serialize declares a
 * default namespace only where an element's differs from its parent's, and a
 * generated prefix (ns0, ns1, ...) for namespaced attributes. Its recursion
 * depth is the tree's depth, which the stream parser caps for trees built
 * from peer input. On -ENOBUFS the output buffer is rolled back, so a caller
 * never sends half an element.
 */
#include "xml/xml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct xml_node *xml_elem_new(struct arena *a, const char *ns, const char *name)
{
    struct xml_node *n = arena_zalloc(a, sizeof(*n));
    n->kind = XML_ELEM;
    n->ns = arena_strdup(a, ns ? ns : "");
    n->name = arena_strdup(a, name);
    return n;
}

/* Links n as the last child of parent; n must have no parent. */
static void link_child(struct xml_node *parent, struct xml_node *n)
{
    n->parent = parent;
    n->next = NULL;
    if (parent->last_child)
        parent->last_child->next = n;
    else
        parent->children = n;
    parent->last_child = n;
}

struct xml_node *xml_add_child(struct arena *a, struct xml_node *parent, const char *ns,
                               const char *name)
{
    struct xml_node *n = xml_elem_new(a, ns ? ns : parent->ns, name);
    link_child(parent, n);
    return n;
}

struct xml_node *xml_add_text(struct arena *a, struct xml_node *parent, const char *text,
                              size_t len)
{
    struct xml_node *n = arena_zalloc(a, sizeof(*n));
    n->kind = XML_TEXT;
    n->text = arena_strndup(a, text, len);
    n->text_len = len;
    link_child(parent, n);
    return n;
}

void xml_append(struct xml_node *parent, struct xml_node *child)
{
    xml_remove(child);
    link_child(parent, child);
}

void xml_remove(struct xml_node *child)
{
    struct xml_node *parent = child->parent;
    if (!parent)
        return;
    struct xml_node *prev = NULL;
    for (struct xml_node *c = parent->children; c; prev = c, c = c->next) {
        if (c != child)
            continue;
        if (prev)
            prev->next = c->next;
        else
            parent->children = c->next;
        if (parent->last_child == c)
            parent->last_child = prev;
        break;
    }
    child->parent = NULL;
    child->next = NULL;
}

/* Copies n under parent (NULL for the top). A child in its parent's
 * namespace shares the parent's copied string instead of a copy of its own. */
static struct xml_node *copy_node(struct arena *a, const struct xml_node *n,
                                  struct xml_node *parent)
{
    struct xml_node *c = arena_zalloc(a, sizeof(*c));
    c->kind = n->kind;
    if (n->kind == XML_TEXT) {
        c->text = arena_strndup(a, n->text, n->text_len);
        c->text_len = n->text_len;
    } else {
        if (parent && strcmp(n->ns, parent->ns) == 0)
            c->ns = parent->ns;
        else
            c->ns = arena_strdup(a, n->ns);
        c->name = arena_strdup(a, n->name);
        struct xml_attr **tail = &c->attrs;
        for (const struct xml_attr *at = n->attrs; at; at = at->next) {
            struct xml_attr *ca = arena_zalloc(a, sizeof(*ca));
            ca->ns = arena_strdup(a, at->ns);
            ca->name = arena_strdup(a, at->name);
            ca->value = arena_strdup(a, at->value);
            *tail = ca;
            tail = &ca->next;
        }
        for (const struct xml_node *ch = n->children; ch; ch = ch->next)
            copy_node(a, ch, c);
    }
    if (parent)
        link_child(parent, c);
    return c;
}

struct xml_node *xml_copy(struct arena *a, const struct xml_node *n)
{
    return copy_node(a, n, NULL);
}

static bool ns_empty(const char *ns)
{
    return !ns || !*ns;
}

const char *xml_attr(const struct xml_node *n, const char *name)
{
    return xml_attr_ns(n, NULL, name);
}

const char *xml_attr_ns(const struct xml_node *n, const char *ns, const char *name)
{
    if (!n || n->kind != XML_ELEM)
        return NULL;
    for (const struct xml_attr *at = n->attrs; at; at = at->next) {
        if (strcmp(at->name, name) != 0)
            continue;
        if (ns_empty(ns) ? ns_empty(at->ns) : (!ns_empty(at->ns) && strcmp(at->ns, ns) == 0))
            return at->value;
    }
    return NULL;
}

void xml_set_attr(struct arena *a, struct xml_node *n, const char *name, const char *value)
{
    struct xml_attr **pp = &n->attrs;
    for (; *pp; pp = &(*pp)->next) {
        struct xml_attr *at = *pp;
        if (!ns_empty(at->ns) || strcmp(at->name, name) != 0)
            continue;
        if (value)
            at->value = arena_strdup(a, value);
        else
            *pp = at->next;
        return;
    }
    if (!value)
        return;
    struct xml_attr *at = arena_zalloc(a, sizeof(*at));
    at->name = arena_strdup(a, name);
    at->value = arena_strdup(a, value);
    *pp = at; /* pp is the tail: document order is kept */
}

bool xml_is(const struct xml_node *n, const char *ns, const char *name)
{
    return n && n->kind == XML_ELEM && (!ns || strcmp(n->ns, ns) == 0) &&
           (!name || strcmp(n->name, name) == 0);
}

static struct xml_node *find_from(struct xml_node *c, const char *ns, const char *name)
{
    for (; c; c = c->next)
        if (xml_is(c, ns, name))
            return c;
    return NULL;
}

struct xml_node *xml_child(const struct xml_node *n, const char *ns, const char *name)
{
    return n && n->kind == XML_ELEM ? find_from(n->children, ns, name) : NULL;
}

struct xml_node *xml_next(const struct xml_node *c, const char *ns, const char *name)
{
    return c ? find_from(c->next, ns, name) : NULL;
}

char *xml_text(struct arena *a, const struct xml_node *n)
{
    size_t len = 0;
    if (n->kind == XML_TEXT)
        return arena_strndup(a, n->text, n->text_len);
    for (const struct xml_node *c = n->children; c; c = c->next)
        if (c->kind == XML_TEXT)
            len += c->text_len;
    char *s = arena_alloc(a, len + 1), *p = s;
    for (const struct xml_node *c = n->children; c; c = c->next) {
        if (c->kind == XML_TEXT) {
            memcpy(p, c->text, c->text_len);
            p += c->text_len;
        }
    }
    *p = '\0';
    return s;
}

/* Appends s[0..len) with the characters for which ref() gives a reference
 * replaced by it; safe runs go out in one append. */
static int escape(struct buf *out, const char *s, size_t len, const char *(*ref)(char))
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *r = ref(s[i]);
        if (!r)
            continue;
        if (buf_append(out, s + run, i - run) < 0 || buf_puts(out, r) < 0)
            return -ENOBUFS;
        run = i + 1;
    }
    return buf_append(out, s + run, len - run);
}

static const char *text_ref(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '\r':
        return "&#13;";
    default:
        return NULL;
    }
}

static const char *attr_ref(char c)
{
    switch (c) {
    case '"':
        return "&quot;";
    case '\t':
        return "&#9;";
    case '\n':
        return "&#10;";
    default:
        return text_ref(c);
    }
}

int xml_escape_text(struct buf *out, const char *s, size_t len)
{
    return escape(out, s, len, text_ref);
}

int xml_escape_attr(struct buf *out, const char *s, size_t len)
{
    return escape(out, s, len, attr_ref);
}

/* Writes ` name="value"` with the value escaped. */
static int put_attr(struct buf *out, const char *prefix, const char *name, const char *value)
{
    if (buf_puts(out, " ") < 0 || (prefix && buf_printf(out, "%s:", prefix) < 0) ||
        buf_puts(out, name) < 0 || buf_puts(out, "=\"") < 0 ||
        xml_escape_attr(out, value, strlen(value)) < 0 || buf_puts(out, "\"") < 0)
        return -ENOBUFS;
    return 0;
}

/* Writes n's attributes. A namespaced attribute (other than xml:) gets the
 * prefix ns<i>, i being the index of the first attribute with that namespace,
 * declared once on this element. */
static int put_attrs(struct buf *out, const struct xml_node *n)
{
    unsigned i = 0;
    for (const struct xml_attr *at = n->attrs; at; at = at->next, i++) {
        if (ns_empty(at->ns)) {
            if (strcmp(at->name, "xmlns") == 0)
                continue; /* the element's namespace is n->ns, written above */
            if (put_attr(out, NULL, at->name, at->value) < 0)
                return -ENOBUFS;
            continue;
        }
        if (strcmp(at->ns, XML_NS_XMLNS) == 0)
            continue;
        if (strcmp(at->ns, XML_NS_XML) == 0) {
            if (put_attr(out, "xml", at->name, at->value) < 0)
                return -ENOBUFS;
            continue;
        }
        unsigned first = 0;
        const struct xml_attr *f = n->attrs;
        while (f != at && (ns_empty(f->ns) || strcmp(f->ns, at->ns) != 0)) {
            f = f->next;
            first++;
        }
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "ns%u", first);
        if (f == at &&
            (buf_printf(out, " xmlns:%s=\"", prefix) < 0 ||
             xml_escape_attr(out, at->ns, strlen(at->ns)) < 0 || buf_puts(out, "\"") < 0))
            return -ENOBUFS;
        if (put_attr(out, prefix, at->name, at->value) < 0)
            return -ENOBUFS;
    }
    return 0;
}

static int put_node(struct buf *out, const struct xml_node *n, const char *parent_ns)
{
    if (n->kind == XML_TEXT)
        return xml_escape_text(out, n->text, n->text_len);
    if (buf_printf(out, "<%s", n->name) < 0)
        return -ENOBUFS;
    if (strcmp(n->ns, parent_ns) != 0 &&
        (buf_puts(out, " xmlns=\"") < 0 || xml_escape_attr(out, n->ns, strlen(n->ns)) < 0 ||
         buf_puts(out, "\"") < 0))
        return -ENOBUFS;
    if (put_attrs(out, n) < 0)
        return -ENOBUFS;
    if (!n->children)
        return buf_puts(out, "/>");
    if (buf_puts(out, ">") < 0)
        return -ENOBUFS;
    for (const struct xml_node *c = n->children; c; c = c->next)
        if (put_node(out, c, n->ns) < 0)
            return -ENOBUFS;
    return buf_printf(out, "</%s>", n->name);
}

int xml_serialize(struct buf *out, const struct xml_node *n, const char *parent_ns)
{
    size_t start = out->len;
    if (put_node(out, n, parent_ns ? parent_ns : "") == 0)
        return 0;
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -ENOBUFS;
}
