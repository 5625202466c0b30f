/*
 * private: Private XML Storage (XEP-0049, jabber:iq:private). A user keeps
 * XML fragments on the server, one slot per namespace; only the user can
 * read or write them (anyone else gets forbidden).
 *
 * A set stores every child of <query/>, grouped by namespace (a set may
 * carry several elements of one namespace: they are kept together, as one
 * slot). A get names exactly one namespace and gets back what is stored, or
 * the empty element it asked with. Reserved namespaces (those starting with
 * "jabber:" or "http://jabber.org/", and "vcard-temp") and a query without
 * a child are refused with not-acceptable. A user holds at most
 * PRIVATE_MAX_NS namespaces (resource-constraint past that); each slot is
 * bounded by the stanza size limit.
 */
#include "core/alloc.h"
#include "store/store_blob.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/iqjob.h"
#include "xmpp/mod/modules.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PRIVATE     "jabber:iq:private"
#define PRIVATE_MAX_NS 64 /* namespaces one user may store */
#define PRIVATE_SETS   16 /* distinct namespaces in one set */

struct private_job {
    struct iqjob j;
    char user[STORE_USER_MAX + 1];
    bool set;
    size_t n;
    char *ns[PRIVATE_SETS];
    char *xml[PRIVATE_SETS]; /* set: to store; get: found (xml[0]), or NULL */
    char *empty;             /* get: the element asked with, answered when nothing is stored */
};

static void private_fini(struct iqjob *j)
{
    struct private_job *p = (struct private_job *)j;
    for (size_t i = 0; i < PRIVATE_SETS; i++) {
        free(p->ns[i]);
        free(p->xml[i]);
    }
    free(p->empty);
}

static int private_run(struct store_db *db, struct store_req *r)
{
    struct private_job *p = (struct private_job *)r;
    if (!p->set) {
        int err = store_private_get(db, p->user, p->ns[0], &p->xml[0]);
        return err == -ENOENT ? 0 : err;
    }
    for (size_t i = 0; i < p->n; i++) {
        char *old = NULL;
        int err = store_private_get(db, p->user, p->ns[i], &old);
        free(old);
        if (err == -ENOENT) {
            int count = store_private_count(db, p->user);
            if (count < 0)
                return count;
            if (count >= PRIVATE_MAX_NS)
                return -ENOSPC; /* the savepoint undoes the slots written before */
        } else if (err) {
            return err;
        }
        if ((err = store_private_set(db, p->user, p->ns[i], p->xml[i])))
            return err;
    }
    return 0;
}

static void private_done(struct c2s *s, struct iqjob *j)
{
    struct private_job *p = (struct private_job *)j;
    if (j->r.status == -ENOSPC) {
        iqjob_error(s, j, "wait", "resource-constraint", NULL, NULL);
    } else if (j->r.status < 0) {
        iqjob_fail(s, j, j->r.status);
    } else if (p->set) {
        iqjob_result(s, j);
    } else {
        struct buf *b = iqjob_begin(s, j);
        buf_puts(b, "<query xmlns=\"" NS_PRIVATE "\">");
        buf_puts(b, p->xml[0] ? p->xml[0] : p->empty);
        buf_puts(b, "</query>");
        iqjob_end(s, b);
    }
}

static bool reserved(const char *ns)
{
    return ns[0] == '\0' || strncmp(ns, "jabber:", 7) == 0 ||
           strncmp(ns, "http://jabber.org/", 18) == 0 || strcmp(ns, "vcard-temp") == 0;
}

/* Returns the index of ns among the job's namespaces, adding it if new; -1 when full. */
static int slot_of(struct private_job *p, const char *ns)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->ns[i], ns) == 0)
            return (int)i;
    if (p->n == PRIVATE_SETS)
        return -1;
    p->ns[p->n] = xstrdup(ns);
    return (int)p->n++;
}

/* Appends the serialized element to slot i. Returns 0 or -ENOBUFS. */
static int add_element(struct private_job *p, int i, const struct xml_node *el)
{
    char *xml;
    if (iqjob_xml(el, 0, &xml) < 0)
        return -ENOBUFS;
    if (!p->xml[i]) {
        p->xml[i] = xml;
        return 0;
    }
    size_t a = strlen(p->xml[i]), b = strlen(xml);
    p->xml[i] = xrealloc(p->xml[i], a + b + 1);
    memcpy(p->xml[i] + a, xml, b + 1);
    free(xml);
    return 0;
}

static void private_iq(struct mod_iq *q)
{
    if (q->peer) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "cancel", "forbidden"));
        return;
    }
    bool set = strcmp(xml_attr(q->iq, "type"), "set") == 0;
    struct xml_node *first = xml_child(q->payload, NULL, NULL);
    if (!xml_is(q->payload, NS_PRIVATE, "query") || !first) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "not-acceptable"));
        return;
    }
    if (!set && xml_next(first, NULL, NULL)) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
        return;
    }
    for (struct xml_node *c = first; c; c = xml_next(c, NULL, NULL)) {
        if (reserved(c->ns)) {
            c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "not-acceptable"));
            return;
        }
    }
    struct private_job *p;
    XNEW(p);
    p->j.fini = private_fini;
    p->set = set;
    snprintf(p->user, sizeof(p->user), "%s", jid_local(q->to));
    if (!set) {
        p->ns[0] = xstrdup(first->ns);
        p->n = 1;
        iqjob_xml(first, 0, &p->empty);
    }
    for (struct xml_node *c = first; set && c; c = xml_next(c, NULL, NULL)) {
        int i = slot_of(p, c->ns);
        if (i < 0 || add_element(p, i, c) < 0) {
            private_fini(&p->j);
            free(p);
            c2s_send_node(q->s, stanza_error(q->a, q->iq, "wait", "resource-constraint"));
            return;
        }
    }
    iqjob_submit(q->s, q->iq, &p->j, private_run, private_done);
}

void mod_private_init(void)
{
    mod_iq_register(NS_PRIVATE, MOD_ACCOUNT | MOD_PEER, private_iq);
}
