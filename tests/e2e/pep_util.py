"""
Helpers for the PEP tests (XEP-0163 over XEP-0060): pubsub IQ payloads, data forms,
XEP-0115 caps hashes computed here (so a raw stream can announce +notify interests and answer
the server's disco#info query itself), and presence subscriptions written straight into the
roster table (PEP reads subscriptions from storage; the roster protocol is not the subject).
"""

import base64
import hashlib
import sqlite3
import time
from xml.sax.saxutils import escape, quoteattr

from raw_stream import NS_CLIENT, NS_DISCO_INFO, q, to_str

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_OWNER = NS_PUBSUB + "#owner"
NS_EVENT = NS_PUBSUB + "#event"
NS_ERRORS = NS_PUBSUB + "#errors"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"

SUB = {"none": 0, "to": 1, "from": 2, "both": 3}


def form(form_type, **fields):
    """A submitted data form; field names use '__' for '#' (pubsub__access_model)."""
    out = [f"<x xmlns='{NS_DATA}' type='submit'>",
           f"<field var='FORM_TYPE' type='hidden'><value>{form_type}</value></field>"]
    for k, v in fields.items():
        out.append(f"<field var={quoteattr(k.replace('__', '#'))}><value>{escape(str(v))}"
                   f"</value></field>")
    out.append("</x>")
    return "".join(out)


def publish(node, payload, item_id=None, **options):
    """<pubsub><publish/> with publish-options when options are given."""
    iid = f" id={quoteattr(item_id)}" if item_id is not None else ""
    opts = ""
    if options:
        opts = ("<publish-options>" + form(NS_PUBSUB + "#publish-options", **options)
                + "</publish-options>")
    return (f"<pubsub xmlns='{NS_PUBSUB}'><publish node={quoteattr(node)}><item{iid}>{payload}"
            f"</item></publish>{opts}</pubsub>")


def items(node, max_items=None, ids=()):
    mi = f" max_items='{max_items}'" if max_items is not None else ""
    inner = "".join(f"<item id={quoteattr(i)}/>" for i in ids)
    return f"<pubsub xmlns='{NS_PUBSUB}'><items node={quoteattr(node)}{mi}>{inner}</items></pubsub>"


def retract(node, item_id, notify=True):
    n = " notify='true'" if notify else ""
    return (f"<pubsub xmlns='{NS_PUBSUB}'><retract node={quoteattr(node)}{n}>"
            f"<item id={quoteattr(item_id)}/></retract></pubsub>")


def item_ids(ans):
    """Item ids of an items result, in order."""
    its = ans.find(f"{q(NS_PUBSUB, 'pubsub')}/{q(NS_PUBSUB, 'items')}")
    assert its is not None, "no <items/> in " + to_str(ans)
    return [i.get("id") for i in its.findall(q(NS_PUBSUB, "item"))]


def item_payloads(ans):
    its = ans.find(f"{q(NS_PUBSUB, 'pubsub')}/{q(NS_PUBSUB, 'items')}")
    return [list(i)[0] for i in its.findall(q(NS_PUBSUB, "item"))]


def pubsub_error(ans):
    """(stanza error condition, pubsub#errors condition or None) of an error answer."""
    err = ans.find(q(NS_CLIENT, "error"))
    assert ans.get("type") == "error" and err is not None, "not an error: " + to_str(ans)
    cond = app = None
    for c in err:
        ns, _, name = c.tag[1:].partition("}")
        if ns == "urn:ietf:params:xml:ns:xmpp-stanzas" and name != "text":
            cond = name
        elif ns == NS_ERRORS:
            app = name
    return cond, app


# ---- subscriptions -----------------------------------------------------------------------

def set_sub(server, user, contact_user, sub):
    """Writes user's roster row for contact_user (a local user) with subscription sub."""
    db = sqlite3.connect(server.data_dir / "tern.db", timeout=10)
    try:
        db.execute("INSERT OR REPLACE INTO roster (user, contact, sub) VALUES (?, ?, ?)",
                   (user, server.jid(contact_user), SUB[sub]))
        db.commit()
    finally:
        db.close()


def mutual(server, a, b):
    """a and b see each other's presence (both)."""
    set_sub(server, a, b, "both")
    set_sub(server, b, a, "both")


# ---- entity capabilities (XEP-0115) ------------------------------------------------------

CAPS_NODE = "https://tern.test/caps"


def disco_info(features, identities=(("client", "pc", "", "tern-test"),)):
    idents = "".join(
        f"<identity category={quoteattr(c)} type={quoteattr(t)}"
        + (f" xml:lang={quoteattr(lang)}" if lang else "") + f" name={quoteattr(n)}/>"
        for c, t, lang, n in identities)
    feats = "".join(f"<feature var={quoteattr(f)}/>" for f in features)
    return idents + feats


def caps_ver(features, identities=(("client", "pc", "", "tern-test"),), algo="sha1"):
    """The XEP-0115 §5.1 verification string hash (no extended forms)."""
    s = "".join(f"{c}/{t}/{lang}/{n}<" for c, t, lang, n in sorted(identities))
    s += "".join(f"{f}<" for f in sorted(features))
    return base64.b64encode(hashlib.new(algo, s.encode()).digest()).decode()


def notify_features(*nodes):
    return [NS_DISCO_INFO, NS_CAPS] + [n + "+notify" for n in nodes]


def announce(raw, features, ver=None, answer=True):
    """Sends available presence with caps for features (ver: a wrong one on purpose, when
    given). The server asks for an unknown ver's disco#info while handling the presence, so
    the query (if any) has arrived by the time a ping sent after it is answered. Answers the
    query (when answer) and returns it, or None when the server did not ask. A second ping
    makes sure the server has handled the answer."""
    ver = ver or caps_ver(features)
    raw.send(f"<presence><c xmlns='{NS_CAPS}' hash='sha-1' node='{CAPS_NODE}' ver='{ver}'/>"
             f"</presence>")
    raw.ping()
    found = [e for e in raw.stanzas if e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get"
             and e.find(q(NS_DISCO_INFO, "query")) is not None]
    if not found:
        return None
    iq = found[0]
    raw.stanzas.remove(iq)
    node = iq.find(q(NS_DISCO_INFO, "query")).get("node")
    if answer:
        raw.send(f"<iq type='result' id={quoteattr(iq.get('id'))} to={quoteattr(iq.get('from'))}>"
                 f"<query xmlns='{NS_DISCO_INFO}' node={quoteattr(node)}>"
                 f"{disco_info(features)}</query></iq>")
        raw.ping()
    return iq


def events(raw, seconds=1.0):
    """Headline pubsub event messages received within seconds, as elements."""
    got = raw.collect(seconds)
    return [e for e in got if e.tag == q(NS_CLIENT, "message")
            and e.find(q(NS_EVENT, "event")) is not None]


def wait_event(raw, node, timeout=5.0):
    return raw.wait_stanza(
        lambda e: e.tag == q(NS_CLIENT, "message")
        and e.find(f"{q(NS_EVENT, 'event')}/*[@node='{node}']") is not None,
        timeout=timeout, what=f"event for {node}")


def event_items(msg):
    """(node, [item ids], [retract ids]) of an event message."""
    its = msg.find(f"{q(NS_EVENT, 'event')}/{q(NS_EVENT, 'items')}")
    if its is None:
        return None, [], []
    return (its.get("node"), [i.get("id") for i in its.findall(q(NS_EVENT, "item"))],
            [r.get("id") for r in its.findall(q(NS_EVENT, "retract"))])


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
