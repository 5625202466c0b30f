/*
 * vcard: vcard-temp (XEP-0054). A user stores one vCard and anyone may read
 * it (vCards are public profiles: clients fetch their contacts' and
 * strangers' alike). The vCard is kept as the XML the client sent, at most
 * vcard.max_size bytes serialized; bigger ones are refused with
 * not-acceptable.
 *
 * XEP-0153: the SHA-1 of the decoded photo (PHOTO/BINVAL) is computed at
 * set time and stored with the vCard. Adding it to the user's outgoing
 * presence (<x xmlns='vcard-temp:x:update'/>) needs a hook into presence
 * broadcast that does not exist yet, so it is not done here.
 */
#include "conf/conf.h"
#include "core/alloc.h"
#include "store/store_blob.h"
#include "xmpp/c2s.h"
#include "xmpp/mod.h"
#include "xmpp/mod/iqjob.h"
#include "xmpp/mod/modules.h"
#include "xmpp/sasl.h"
#include "xmpp/stanza.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_VCARD "vcard-temp"

struct vcard_job {
    struct iqjob j;
    char user[STORE_USER_MAX + 1];
    bool set;
    bool peer;
    char *xml; /* set: what to store; get: what was found (NULL: none) */
    char hash[STORE_PHOTO_HASH + 1];
};

static void vcard_fini(struct iqjob *j)
{
    free(((struct vcard_job *)j)->xml);
}

static int vcard_run(struct store_db *db, struct store_req *r)
{
    struct vcard_job *v = (struct vcard_job *)r;
    if (v->set)
        return store_vcard_set(db, v->user, v->xml, v->hash);
    int err = v->peer ? iqjob_blocked(db, v->user, v->j.to) : 0;
    if (err)
        return err < 0 ? err : -ESRCH; /* blocked: as if there were no such account */
    err = store_vcard_get(db, v->user, &v->xml, NULL);
    if (err == -ENOENT && v->peer) {
        /* someone else's: an empty vCard if the account exists */
        struct store_account *a = xmalloc(sizeof(*a));
        err = store_account_get(db, v->user, a);
        free(a);
        return err == 0 ? -ENOENT : err == -ENOENT ? -ESRCH : err;
    }
    return err;
}

static void vcard_done(struct c2s *s, struct iqjob *j)
{
    struct vcard_job *v = (struct vcard_job *)j;
    int st = j->r.status;
    if (st == -ESRCH) {
        iqjob_error(s, j, "cancel", "service-unavailable", NULL, NULL);
    } else if (st < 0 && st != -ENOENT) {
        iqjob_fail(s, j, st);
    } else if (v->set) {
        iqjob_result(s, j);
    } else {
        struct buf *b = iqjob_begin(s, j);
        buf_puts(b, v->xml ? v->xml : "<vCard xmlns=\"" NS_VCARD "\"/>");
        iqjob_end(s, b);
    }
}

/*
 * The XEP-0153 photo hash: SHA-1 of the base64-decoded BINVAL (whitespace
 * in the base64 is ignored, as vCards wrap it), "" without a photo.
 * Returns 0 or -EINVAL for base64 that does not decode.
 */
static int photo_hash(struct arena *a, const struct xml_node *vcard, char *out)
{
    out[0] = '\0';
    const struct xml_node *bin = xml_child(xml_child(vcard, NS_VCARD, "PHOTO"), NS_VCARD, "BINVAL");
    if (!bin)
        return 0;
    const char *t = xml_text(a, bin);
    size_t n = strlen(t), len = 0;
    char *clean = arena_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++)
        if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
            clean[len++] = t[i];
    clean[len] = '\0';
    if (len == 0)
        return 0;
    unsigned char *raw = arena_alloc(a, len);
    int rl = sasl_b64_decode(clean, len, raw, len);
    if (rl < 0)
        return -EINVAL;
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(raw, (size_t)rl, md);
    for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static void vcard_iq(struct mod_iq *q)
{
    bool set = strcmp(xml_attr(q->iq, "type"), "set") == 0;
    if (!xml_is(q->payload, NS_VCARD, "vCard")) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "bad-request"));
        return;
    }
    if (set && q->peer) {
        c2s_send_node(q->s, stanza_error(q->a, q->iq, "auth", "forbidden"));
        return;
    }
    struct vcard_job *v;
    XNEW(v);
    v->j.fini = vcard_fini;
    v->set = set;
    v->peer = q->peer;
    snprintf(v->user, sizeof(v->user), "%s", jid_local(q->to));
    if (set) {
        if (iqjob_xml(q->payload, q->s->w->srv->conf->vcard.max_size, &v->xml) < 0 ||
            photo_hash(q->a, q->payload, v->hash) < 0) {
            free(v->xml);
            free(v);
            c2s_send_node(q->s, stanza_error(q->a, q->iq, "modify", "not-acceptable"));
            return;
        }
    }
    iqjob_submit(q->s, q->iq, &v->j, vcard_run, vcard_done);
}

void mod_vcard_init(void)
{
    mod_iq_register(NS_VCARD, MOD_ACCOUNT | MOD_PEER, vcard_iq);
    mod_feature(NS_VCARD, MOD_BOTH);
}
