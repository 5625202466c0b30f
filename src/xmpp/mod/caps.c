/*
 * caps: the XEP-0115 verification string and the shared cache (caps.h).
 *
 * The verification string (§5.1): identities sorted by category, type,
 * xml:lang, name, each as "category/type/lang/name<"; then features sorted,
 * each "var<"; then extended forms sorted by FORM_TYPE, each as
 * "FORM_TYPE<" followed by its other fields sorted by var, each "var<" and
 * its values sorted, each "value<". Sorting is by bytes (i;octet).
 */
#include "xmpp/mod/caps.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/map.h"
#include "xmpp/sasl.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DATA       "jabber:x:data"

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Identities as four strings each, compared field by field. */
static int cmp_ident(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    for (int i = 0; i < 4; i++) {
        int c = strcmp(x[i], y[i]);
        if (c)
            return c;
    }
    return 0;
}

/* A form: its FORM_TYPE and the element (fields are read from it). */
struct form {
    const char *type;
    const struct xml_node *x;
};

static int cmp_form(const void *a, const void *b)
{
    return strcmp(((const struct form *)a)->type, ((const struct form *)b)->type);
}

static size_t count(const struct xml_node *n, const char *ns, const char *name)
{
    size_t k = 0;
    for (const struct xml_node *c = xml_child(n, ns, name); c; c = xml_next(c, ns, name))
        k++;
    return k;
}

/* Appends the text children of n to out. */
static void text_of(const struct xml_node *n, struct buf *out)
{
    for (const struct xml_node *t = n->children; t; t = t->next)
        if (t->kind == XML_TEXT)
            buf_append(out, t->text, t->text_len);
}

/* Appends one form's part of the string. Returns 0 or -EINVAL. */
static int put_form(struct buf *s, const struct form *f)
{
    buf_puts(s, f->type);
    buf_puts(s, "<");
    size_t nf = count(f->x, NS_DATA, "field"), k = 0;
    const struct xml_node **fields = xcalloc(nf ? nf : 1, sizeof(*fields));
    for (const struct xml_node *c = xml_child(f->x, NS_DATA, "field"); c;
         c = xml_next(c, NS_DATA, "field"))
        if (strcmp(str_or_empty(xml_attr(c, "var")), "FORM_TYPE") != 0)
            fields[k++] = c;
    /* sort fields by var: a small insertion sort keeps the node pointers */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(str_or_empty(xml_attr(fields[j - 1], "var")),
                                           str_or_empty(xml_attr(fields[j], "var"))) > 0;
             j--) {
            const struct xml_node *t = fields[j];
            fields[j] = fields[j - 1];
            fields[j - 1] = t;
        }
    struct buf v;
    buf_init(&v, 0);
    for (size_t i = 0; i < k; i++) {
        buf_puts(s, str_or_empty(xml_attr(fields[i], "var")));
        buf_puts(s, "<");
        size_t nv = count(fields[i], NS_DATA, "value"), m = 0;
        char **vals = xcalloc(nv ? nv : 1, sizeof(*vals));
        for (const struct xml_node *c = xml_child(fields[i], NS_DATA, "value"); c;
             c = xml_next(c, NS_DATA, "value")) {
            buf_reset(&v);
            text_of(c, &v);
            vals[m++] = xstrndup(v.data ? v.data : "", v.len);
        }
        qsort(vals, m, sizeof(*vals), cmp_str);
        for (size_t j = 0; j < m; j++) {
            buf_puts(s, vals[j]);
            buf_puts(s, "<");
            free(vals[j]);
        }
        free(vals);
    }
    buf_fini(&v);
    free(fields);
    return 0;
}

/* The FORM_TYPE of an extended form (a new heap string), or NULL if it has none. */
static char *form_type(const struct xml_node *x)
{
    for (const struct xml_node *c = xml_child(x, NS_DATA, "field"); c;
         c = xml_next(c, NS_DATA, "field")) {
        if (strcmp(str_or_empty(xml_attr(c, "var")), "FORM_TYPE") != 0)
            continue;
        struct buf v;
        buf_init(&v, 0);
        text_of(xml_child(c, NS_DATA, "value") ? xml_child(c, NS_DATA, "value") : c, &v);
        char *t = xstrndup(v.data ? v.data : "", v.len);
        buf_fini(&v);
        return t;
    }
    return NULL;
}

/* Builds the verification string into s. Returns 0 or -EINVAL. */
static int ver_string(const struct xml_node *query, struct buf *s)
{
    int rc = -EINVAL;
    size_t ni = count(query, NS_DISCO_INFO, "identity");
    size_t nf = count(query, NS_DISCO_INFO, "feature");
    size_t nx = count(query, NS_DATA, "x"), k = 0;
    const char **ids = xcalloc(4 * (ni ? ni : 1), sizeof(*ids));
    const char **feats = xcalloc(nf ? nf : 1, sizeof(*feats));
    struct form *forms = xcalloc(nx ? nx : 1, sizeof(*forms));
    for (const struct xml_node *c = xml_child(query, NS_DISCO_INFO, "identity"); c;
         c = xml_next(c, NS_DISCO_INFO, "identity"), k++) {
        ids[4 * k] = str_or_empty(xml_attr(c, "category"));
        ids[4 * k + 1] = str_or_empty(xml_attr(c, "type"));
        ids[4 * k + 2] = str_or_empty(xml_attr_ns(c, XML_NS_XML, "lang"));
        ids[4 * k + 3] = str_or_empty(xml_attr(c, "name"));
    }
    k = 0;
    for (const struct xml_node *c = xml_child(query, NS_DISCO_INFO, "feature"); c;
         c = xml_next(c, NS_DISCO_INFO, "feature"))
        feats[k++] = str_or_empty(xml_attr(c, "var"));
    size_t nforms = 0;
    for (const struct xml_node *c = xml_child(query, NS_DATA, "x"); c;
         c = xml_next(c, NS_DATA, "x")) {
        char *t = form_type(c);
        if (!t)
            continue; /* §5.4: a form without FORM_TYPE is ignored */
        forms[nforms].type = t;
        forms[nforms++].x = c;
    }
    qsort(ids, ni, 4 * sizeof(*ids), cmp_ident);
    qsort(feats, nf, sizeof(*feats), cmp_str);
    qsort(forms, nforms, sizeof(*forms), cmp_form);
    for (size_t i = 1; i < ni; i++)
        if (cmp_ident(&ids[4 * (i - 1)], &ids[4 * i]) == 0)
            goto out;
    for (size_t i = 1; i < nf; i++)
        if (strcmp(feats[i - 1], feats[i]) == 0)
            goto out;
    for (size_t i = 1; i < nforms; i++)
        if (strcmp(forms[i - 1].type, forms[i].type) == 0)
            goto out;
    for (size_t i = 0; i < ni; i++) {
        for (int j = 0; j < 4; j++) {
            buf_puts(s, ids[4 * i + j]);
            buf_puts(s, j < 3 ? "/" : "<");
        }
    }
    for (size_t i = 0; i < nf; i++) {
        buf_puts(s, feats[i]);
        buf_puts(s, "<");
    }
    for (size_t i = 0; i < nforms; i++)
        put_form(s, &forms[i]);
    rc = 0;
out:
    for (size_t i = 0; i < nforms; i++)
        free((char *)forms[i].type);
    free(forms);
    free(feats);
    free(ids);
    return rc;
}

static const EVP_MD *md_of(const char *hash)
{
    static const struct {
        const char *name;
        const EVP_MD *(*md)(void);
    } mds[] = {{"sha-1", EVP_sha1},
               {"sha-224", EVP_sha224},
               {"sha-256", EVP_sha256},
               {"sha-384", EVP_sha384},
               {"sha-512", EVP_sha512}};
    for (size_t i = 0; hash && i < sizeof(mds) / sizeof(mds[0]); i++)
        if (strcmp(hash, mds[i].name) == 0)
            return mds[i].md();
    return NULL;
}

bool caps_hash_known(const char *hash)
{
    return md_of(hash) != NULL;
}

int caps_ver(const struct xml_node *query, const char *hash, char *out, size_t cap)
{
    const EVP_MD *md = md_of(hash);
    if (!md)
        return -ENOTSUP;
    struct buf s;
    buf_init(&s, 0);
    int rc = ver_string(query, &s);
    if (rc == 0) {
        unsigned char dig[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        if (EVP_Digest(s.data ? s.data : "", s.len, dig, &dlen, md, NULL) != 1)
            rc = -EINVAL;
        else
            rc = sasl_b64_encode(dig, dlen, out, cap);
    }
    buf_fini(&s);
    return rc;
}

/* ---- the shared cache ------------------------------------------------------------------- */

struct entry {
    size_t len;
    char val[]; /* len bytes and a NUL */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct map cache; /* "hash ver" -> struct entry * */

/* Writes the key "hash ver" into out. Returns its length or -1 if too long. */
static int key_of(const char *hash, const char *ver, char *out, size_t cap)
{
    size_t hl = strlen(hash), vl = strlen(ver);
    if (hl + vl + 2 > cap)
        return -1;
    memcpy(out, hash, hl);
    out[hl] = ' ';
    memcpy(out + hl + 1, ver, vl + 1);
    return (int)(hl + vl + 1);
}

bool caps_cache_get(const char *hash, const char *ver, char **val, size_t *len)
{
    char key[2 * CAPS_VER_MAX];
    int kl = key_of(hash, ver, key, sizeof(key));
    if (kl < 0)
        return false;
    pthread_mutex_lock(&cache_lock);
    struct entry *e = map_get(&cache, key, (size_t)kl);
    if (e) {
        *val = xmalloc(e->len + 1);
        memcpy(*val, e->val, e->len + 1);
        *len = e->len;
    }
    pthread_mutex_unlock(&cache_lock);
    return e != NULL;
}

static void free_entry(void *arg, const void *key, size_t len, void *value)
{
    (void)arg;
    (void)key;
    (void)len;
    free(value);
}

/* Under the lock. */
static void clear_locked(void)
{
    map_each(&cache, free_entry, NULL);
    map_fini(&cache);
    map_init(&cache);
}

void caps_cache_put(const char *hash, const char *ver, const char *val, size_t len)
{
    char key[2 * CAPS_VER_MAX];
    int kl = key_of(hash, ver, key, sizeof(key));
    if (kl < 0)
        return;
    struct entry *e = xmalloc(sizeof(*e) + len + 1);
    e->len = len;
    memcpy(e->val, val, len);
    e->val[len] = '\0';
    pthread_mutex_lock(&cache_lock);
    if (cache.n >= CAPS_CACHE_MAX && !map_get(&cache, key, (size_t)kl))
        clear_locked();
    free(map_put(&cache, key, (size_t)kl, e));
    pthread_mutex_unlock(&cache_lock);
}

void caps_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    clear_locked();
    pthread_mutex_unlock(&cache_lock);
}
