/*
 * iqjob: answering an IQ after work on the storage thread.
 *
 * A module that needs the database to answer an IQ embeds struct iqjob at
 * the start of its own request struct, fills its inputs, and submits it
 * with a run function (STORE_RUN, store.h). The completion runs on the
 * asking session's worker and finds the session by connection id (it may
 * have gone: then done is not called). The job remembers what the answer
 * needs (id, the asker's JID, the address the IQ was sent to), so the
 * stanza's arena need not outlive the handler.
 *
 * Answers are written as text: stored XML (vCards, items) goes out as it
 * was stored, without being parsed again.
 */
#ifndef TERN_XMPP_MOD_IQJOB_H
#define TERN_XMPP_MOD_IQJOB_H

#include "core/buf.h"
#include "store/store.h"
#include "xml/xml.h"

#include <stdbool.h>
#include <stdint.h>

struct c2s;
struct iqjob;
struct worker;

/** Runs on the asking session's worker when the job is back and the session still exists. */
typedef void iqjob_done_fn(struct c2s *s, struct iqjob *j);

struct iqjob {
    struct store_req r; /* first: the completion casts back */
    uint64_t conn_id;
    char *id;   /* the IQ's id */
    char *to;   /* the asker (the IQ's from), NULL before authentication */
    char *from; /* the address the IQ was sent to (the answer's from), or NULL */
    iqjob_done_fn *done;
    /* optional: frees what the embedding struct owns (the job itself is freed after) */
    void (*fini)(struct iqjob *j);
    /* optional: runs instead of done when the session is gone (work that must finish anyway) */
    void (*orphan)(struct worker *w, struct iqjob *j);
    bool again; /* set by iqjob_again: submitted once more instead of freed */
};

/**
 * Fills j's answer fields from iq (copied; with iq NULL they are left as
 * the caller set them: work that answers no IQ) and s, sets run and done,
 * and submits it. j must be heap memory of the embedding struct's size, zeroed
 * where not set (XNEW); the job owns itself from here on and is freed after
 * done (or when the session is gone).
 */
void iqjob_submit(struct c2s *s, const struct xml_node *iq, struct iqjob *j,
                  int (*run)(struct store_db *db, struct store_req *r), iqjob_done_fn *done);

/**
 * Submits work that belongs to no session: the completion runs j->orphan
 * (which must be set) on w. Answer fields stay as the caller set them.
 */
void iqjob_submit_worker(struct worker *w, struct iqjob *j,
                         int (*run)(struct store_db *db, struct store_req *r));

/**
 * From inside done: submits j once more, with new run and done functions
 * (and no after), for work in two steps (e.g. a CPU-heavy after() step, then a write). The
 * job is not freed this time.
 */
void iqjob_again(struct iqjob *j, int (*run)(struct store_db *db, struct store_req *r),
                 iqjob_done_fn *done);

/** Starts the answer <iq type='result' ...> in the worker's scratch buffer and returns it. */
struct buf *iqjob_begin(struct c2s *s, const struct iqjob *j);
/** Closes the answer begun with iqjob_begin (appending "</iq>") and sends it. */
void iqjob_end(struct c2s *s, struct buf *b);
/** Sends an empty result. */
void iqjob_result(struct c2s *s, const struct iqjob *j);
/**
 * Sends an error answer with condition cond (RFC 6120 §8.3) and, when app is
 * given, an application condition element <app xmlns='app_ns'/>.
 */
void iqjob_error(struct c2s *s, const struct iqjob *j, const char *type, const char *cond,
                 const char *app_ns, const char *app);
/** Maps a storage status to an error answer: -ENOENT item-not-found, else internal-server-error. */
void iqjob_fail(struct c2s *s, const struct iqjob *j, int status);

/**
 * Serializes element n to a new heap string (*out, caller frees) with its
 * namespace always declared on the root, so that it can be stored and later
 * sent inside any parent. Returns its length, or -ENOBUFS if it would exceed
 * max bytes (then *out is NULL).
 */
int iqjob_xml(const struct xml_node *n, size_t max, char **out);

/**
 * Storage thread: whether user (a local part) blocks the JID jid (XEP-0191,
 * any of its forms: full, bare, domain/resource, domain). For answers given
 * on a user's behalf (vCard, PEP) to someone the user may have blocked.
 * Returns 1, 0, or -EIO; an unparsable jid is 0.
 */
int iqjob_blocked(struct store_db *db, const char *user, const char *jid);

/** Appends the attribute ' name="value"' (escaped) to b. */
void iqjob_attr(struct buf *b, const char *name, const char *value);

#endif
