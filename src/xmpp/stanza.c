/* stanza: reply builders. Errors reuse the stanza in place: no copy of its payload. */
#include "xmpp/stanza.h"
#include "xmpp/c2s.h"

#include <string.h>

bool stanza_is(const struct xml_node *st)
{
    return st->kind == XML_ELEM && strcmp(st->ns, XML_NS_CLIENT) == 0 &&
           (strcmp(st->name, "message") == 0 || strcmp(st->name, "presence") == 0 ||
            strcmp(st->name, "iq") == 0);
}

bool stanza_is_error(const struct xml_node *st)
{
    const char *type = xml_attr(st, "type");
    return type && strcmp(type, "error") == 0;
}

struct xml_node *stanza_result(struct arena *a, const struct xml_node *iq)
{
    struct xml_node *r = xml_elem_new(a, XML_NS_CLIENT, "iq");
    xml_set_attr(a, r, "type", "result");
    const char *id = xml_attr(iq, "id");
    if (id)
        xml_set_attr(a, r, "id", id);
    const char *from = xml_attr(iq, "from");
    if (from)
        xml_set_attr(a, r, "to", from);
    const char *to = xml_attr(iq, "to");
    if (to)
        xml_set_attr(a, r, "from", to);
    return r;
}

struct xml_node *stanza_error(struct arena *a, struct xml_node *st, const char *type,
                              const char *cond)
{
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    from = from ? arena_strdup(a, from) : NULL;
    to = to ? arena_strdup(a, to) : NULL;
    xml_set_attr(a, st, "to", from);
    xml_set_attr(a, st, "from", to);
    xml_set_attr(a, st, "type", "error");
    struct xml_node *e = xml_add_child(a, st, XML_NS_CLIENT, "error");
    xml_set_attr(a, e, "type", type);
    xml_add_child(a, e, XMPP_NS_STANZAS, cond);
    return st;
}
