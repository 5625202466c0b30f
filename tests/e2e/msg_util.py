"""
Helpers for the message tests (routing, offline, MAM, carbons, blocking) over raw streams:
exact stanzas out, parsed elements in, every wait bounded.
"""

import itertools

from raw_stream import NS_CLIENT, q, to_str, xml_escape

NS_SID = "urn:xmpp:sid:0"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCK_ERR = "urn:xmpp:blocking:errors"
NS_HINTS = "urn:xmpp:hints"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_XDATA = "jabber:x:data"

_ids = itertools.count(1)
MSG = q(NS_CLIENT, "message")


def online(server, user, resource=None, priority=None):
    """A raw session logged in as user that sent initial presence (with priority if given);
    the ping after it makes sure the server handled the presence."""
    r = server.raw_login(user, resource)
    prio = f"<priority>{priority}</priority>" if priority is not None else ""
    r.send(f"<presence>{prio}</presence>")
    r.ping()
    return r


def send_msg(r, to, body=None, type_="chat", extra="", id_=None):
    """Sends a message; returns its id."""
    id_ = id_ or f"m{next(_ids)}"
    t = f" type='{type_}'" if type_ else ""
    b = f"<body>{xml_escape(body)}</body>" if body is not None else ""
    r.send(f"<message to='{to}' id='{id_}'{t}>{b}{extra}</message>")
    return id_


def is_msg(el, body=None):
    if el.tag != MSG or el.get("type") == "error":
        return False
    return body is None or el.findtext(q(NS_CLIENT, "body")) == body


def wait_msg(r, body=None, timeout=5.0):
    """The next non-error message (with that body, if given)."""
    return r.wait_stanza(lambda e: is_msg(e, body), timeout, what=f"message {body!r}")


def wait_error(r, id_, timeout=5.0):
    """The error message answering the message with id id_."""
    return r.wait_stanza(lambda e: e.tag == MSG and e.get("type") == "error"
                         and e.get("id") == id_, timeout, what=f"error for {id_}")


def collect_msgs(r, seconds):
    """Every message (errors included) received within seconds; other stanzas are dropped."""
    return [e for e in r.collect(seconds) if e.tag == MSG]


def bodies(msgs):
    return [m.findtext(q(NS_CLIENT, "body")) for m in msgs]


def sync(r):
    """A ping round trip: what the server sent before it has been read."""
    r.ping()


def stanza_ids(msg):
    return [(s.get("by"), s.get("id")) for s in msg.findall(q(NS_SID, "stanza-id"))]


# ---- MAM ----------------------------------------------------------------------------------

def mam_query(r, fields=None, rsm=None, queryid=None, timeout=10.0):
    """Runs one archive query. fields: {var: value} for the form; rsm: {max, after, before}
    (before "" = the last page). Returns (iq answer, [(result id, forwarded message, stamp)],
    fin element or None)."""
    qid = queryid or f"q{next(_ids)}"
    form = ""
    if fields:
        form = (f"<x xmlns='{NS_XDATA}' type='submit'><field var='FORM_TYPE' type='hidden'>"
                f"<value>{NS_MAM}</value></field>")
        for var, val in fields.items():
            form += f"<field var='{var}'><value>{xml_escape(val)}</value></field>"
        form += "</x>"
    s = ""
    if rsm:
        s = f"<set xmlns='{NS_RSM}'>"
        if "max" in rsm:
            s += f"<max>{rsm['max']}</max>"
        if "after" in rsm:
            s += f"<after>{rsm['after']}</after>"
        if "before" in rsm:
            s += f"<before>{rsm['before']}</before>" if rsm["before"] else "<before/>"
        s += "</set>"
    ans = r.iq("set", f"<query xmlns='{NS_MAM}' queryid='{qid}'>{form}{s}</query>",
               timeout=timeout)
    results = []
    # results arrive before the answer: they are already parsed and waiting
    keep = []
    for el in r.stanzas:
        res = el.find(q(NS_MAM, "result")) if el.tag == MSG else None
        if res is not None and res.get("queryid") == qid:
            fwd = res.find(q(NS_FORWARD, "forwarded"))
            m = fwd.find(MSG) if fwd is not None else None
            d = fwd.find(q(NS_DELAY, "delay")) if fwd is not None else None
            results.append((res.get("id"), m, d.get("stamp") if d is not None else None))
        else:
            keep.append(el)
    r.stanzas = keep
    fin = ans.find(q(NS_MAM, "fin")) if ans.get("type") == "result" else None
    return ans, results, fin


def rsm_of(fin):
    """(first, first index, last, count) of a <fin/>'s <set/>; missing parts are None."""
    s = fin.find(q(NS_RSM, "set"))
    first = s.find(q(NS_RSM, "first"))
    count = s.findtext(q(NS_RSM, "count"))
    return (first.text if first is not None else None,
            int(first.get("index")) if first is not None and first.get("index") else None,
            s.findtext(q(NS_RSM, "last")),
            int(count) if count is not None else None)


def set_prefs(r, default, always=(), never=()):
    a = "".join(f"<jid>{j}</jid>" for j in always)
    n = "".join(f"<jid>{j}</jid>" for j in never)
    ans = r.iq("set", f"<prefs xmlns='{NS_MAM}' default='{default}'><always>{a}</always>"
                      f"<never>{n}</never></prefs>")
    assert ans.get("type") == "result", to_str(ans)
    return ans


# ---- carbons and blocking -----------------------------------------------------------------

def enable_carbons(r, on=True):
    ans = r.iq("set", f"<{'enable' if on else 'disable'} xmlns='{NS_CARBONS}'/>")
    assert ans.get("type") == "result", to_str(ans)


def carbon_of(el, kind):
    """The forwarded message inside a carbon of kind ('received'/'sent'), or None."""
    if el.tag != MSG:
        return None
    c = el.find(q(NS_CARBONS, kind))
    if c is None:
        return None
    return c.find(f"{q(NS_FORWARD, 'forwarded')}/{MSG}")


def blocklist(r):
    ans = r.iq("get", f"<blocklist xmlns='{NS_BLOCKING}'/>")
    assert ans.get("type") == "result", to_str(ans)
    bl = ans.find(q(NS_BLOCKING, "blocklist"))
    return sorted(i.get("jid") for i in bl.findall(q(NS_BLOCKING, "item")))


def block(r, *jids, expect="result"):
    items = "".join(f"<item jid='{j}'/>" for j in jids)
    ans = r.iq("set", f"<block xmlns='{NS_BLOCKING}'>{items}</block>")
    assert ans.get("type") == expect, to_str(ans)
    return ans


def unblock(r, *jids):
    items = "".join(f"<item jid='{j}'/>" for j in jids)
    ans = r.iq("set", f"<unblock xmlns='{NS_BLOCKING}'>{items}</unblock>")
    assert ans.get("type") == "result", to_str(ans)
    return ans
