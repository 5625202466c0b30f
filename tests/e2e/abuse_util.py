"""
A random stanza generator for the logged-in stanza fuzz test (test_abuse.py): well-formed
stanzas of every kind tern handles (IQs for each module, messages, presence, stream
management, CSI), with random addresses, types, ids, attribute values, children and nesting,
some of them nonsense on purpose. Deterministic for a seed.

`stanza(rng, ctx, n)` returns (xml text, id of an IQ the server must answer, or None). It
never changes the sender's password or removes its account, so that a run can log in again.
"""

import random
from xml.sax.saxutils import quoteattr

from raw_stream import xml_escape

NS = {
    "roster": "jabber:iq:roster",
    "mam": "urn:xmpp:mam:2",
    "rsm": "http://jabber.org/protocol/rsm",
    "xdata": "jabber:x:data",
    "private": "jabber:iq:private",
    "vcard": "vcard-temp",
    "pubsub": "http://jabber.org/protocol/pubsub",
    "owner": "http://jabber.org/protocol/pubsub#owner",
    "blocking": "urn:xmpp:blocking",
    "carbons": "urn:xmpp:carbons:2",
    "info": "http://jabber.org/protocol/disco#info",
    "items": "http://jabber.org/protocol/disco#items",
    "register": "jabber:iq:register",
    "version": "jabber:iq:version",
    "ping": "urn:xmpp:ping",
    "bind": "urn:ietf:params:xml:ns:xmpp-bind",
    "session": "urn:ietf:params:xml:ns:xmpp-session",
    "sm": "urn:xmpp:sm:3",
    "csi": "urn:xmpp:csi:0",
    "receipts": "urn:xmpp:receipts",
    "chatstates": "http://jabber.org/protocol/chatstates",
    "forward": "urn:xmpp:forward:0",
    "delay": "urn:xmpp:delay",
    "sid": "urn:xmpp:sid:0",
    "hints": "urn:xmpp:hints",
    "caps": "http://jabber.org/protocol/caps",
}

WEIRD = ["", "0", "-1", "4294967296", "99999999999999999999", "NaN", "\u00e9\u2603\U0001F600",
         "a" * 300, "&amp;&lt;&gt;", " ", "\t", "1e9", "true", "none", "both", "remove"]


class Ctx:
    """What the generator knows: the domain, the users, the sender's own full JID."""

    def __init__(self, domain, me, users):
        self.domain = domain
        self.me = me            # full JID
        self.users = users      # local parts
        self.sm = False         # stream management enabled on this stream


def _text(rng):
    if rng.random() < 0.3:
        return rng.choice(WEIRD)
    return "".join(rng.choice("abcXYZ019 -_.@/\u00e9") for _ in range(rng.randint(0, 20)))


def _jid(rng, ctx):
    r = rng.random()
    u = rng.choice(ctx.users)
    if r < 0.25:
        return f"{u}@{ctx.domain}"
    if r < 0.4:
        return f"{u}@{ctx.domain}/{_text(rng) or 'r'}"
    if r < 0.5:
        return ctx.me
    if r < 0.6:
        return ctx.me.split("/")[0]
    if r < 0.7:
        return ctx.domain
    if r < 0.8:
        return rng.choice(["other.example", "nobody@" + ctx.domain, "x@other.example/r",
                           ctx.domain + "/res", "@" + ctx.domain, "a@b@c", "/r", "",
                           "[::1]", "u@[zz]", "U\u00c9@" + ctx.domain.upper()])
    return _text(rng)


def _attr(name, value):
    return f" {name}={quoteattr(value)}"


def _junk(rng, depth=0):
    """A random element tree in a random namespace."""
    ns = rng.choice(list(NS.values()) + ["urn:x:" + _text(rng).replace(" ", "")])
    name = rng.choice(["x", "item", "query", "field", "value", "set", "max", "before", "after",
                       "body", "group", "publish", "retract", "configure", "options"])
    names = rng.sample(["node", "id", "jid", "var", "type", "h", "max", "name", "subscription",
                        "ask", "with"], rng.randint(0, 3))
    attrs = "".join(_attr(a, _text(rng)) for a in names)
    kids = ""
    if depth < 4:
        kids = "".join(_junk(rng, depth + 1) for _ in range(rng.randint(0, 2)))
    text = xml_escape(_text(rng)) if rng.random() < 0.5 else ""
    return f"<{name} xmlns='{ns}'{attrs}>{text}{kids}</{name}>"


def _form(rng, form_type, fields):
    out = [f"<x xmlns='{NS['xdata']}' type='{rng.choice(['submit', 'form', 'cancel', ''])}'>",
           f"<field var='FORM_TYPE'><value>{form_type}</value></field>"]
    for var in fields:
        out.append(f"<field var='{var}'><value>{xml_escape(_text(rng))}</value></field>")
    out.append("</x>")
    return "".join(out)


def _rsm(rng):
    parts = [f"<max>{rng.choice(['0', '1', '5', '-3', '100000', 'x'])}</max>"]
    if rng.random() < 0.5:
        tag = rng.choice(["before", "after"])
        parts.append(f"<{tag}>{xml_escape(_text(rng))}</{tag}>")
    return f"<set xmlns='{NS['rsm']}'>{''.join(parts)}</set>"


def _iq_payload(rng, ctx):
    k = rng.randrange(16)
    if k == 0:
        items = "".join(f"<item{_attr('jid', _jid(rng, ctx))}{_attr('name', _text(rng))}"
                        f"{_attr('subscription', rng.choice(WEIRD))}><group>{xml_escape(_text(rng))}"
                        f"</group></item>" for _ in range(rng.randint(0, 3)))
        return f"<query xmlns='{NS['roster']}'{_attr('ver', _text(rng))}>{items}</query>"
    if k == 1:
        form = _form(rng, NS["mam"], ["with", "start", "end", "before-id", "after-id", "ids"])
        return (f"<query xmlns='{NS['mam']}'{_attr('queryid', _text(rng))}>"
                f"{form if rng.random() < 0.7 else ''}{_rsm(rng) if rng.random() < 0.7 else ''}"
                f"</query>")
    if k == 2:
        return (f"<prefs xmlns='{NS['mam']}'{_attr('default', rng.choice(['always', 'never', 'roster', _text(rng)]))}>"
                f"<always><jid>{xml_escape(_jid(rng, ctx))}</jid></always><never/></prefs>")
    if k == 3:
        return f"<query xmlns='{NS['private']}'>{_junk(rng)}</query>"
    if k == 4:
        photo = f"<PHOTO><TYPE>image/png</TYPE><BINVAL>{_text(rng)}</BINVAL></PHOTO>"
        return f"<vCard xmlns='{NS['vcard']}'><FN>{xml_escape(_text(rng))}</FN>{photo}</vCard>"
    if k == 5:
        node = rng.choice(["urn:xmpp:avatar:metadata", "eu.siacs.conversations.axolotl.devicelist",
                           "urn:xmpp:bookmarks:1", "storage:bookmarks", _text(rng)])
        verb = rng.choice(["publish", "items", "retract", "create", "subscribe", "unsubscribe"])
        item = f"<item{_attr('id', _text(rng))}>{_junk(rng)}</item>" if rng.random() < 0.8 else ""
        opts = ""
        if rng.random() < 0.3:
            opts = ("<publish-options>" + _form(rng, NS["pubsub"] + "#publish-options",
                                                ["pubsub#access_model", "pubsub#max_items",
                                                 "pubsub#persist_items"]) + "</publish-options>")
        return (f"<pubsub xmlns='{NS['pubsub']}'><{verb}{_attr('node', node)}"
                f"{_attr('max_items', rng.choice(WEIRD)) if verb == 'items' else ''}>{item}"
                f"</{verb}>{opts}</pubsub>")
    if k == 6:
        verb = rng.choice(["configure", "delete", "purge", "default"])
        form = _form(rng, NS["pubsub"] + "#node_config", ["pubsub#access_model", "pubsub#max_items"])
        return (f"<pubsub xmlns='{NS['owner']}'><{verb}{_attr('node', _text(rng))}>"
                f"{form if rng.random() < 0.5 else ''}</{verb}></pubsub>")
    if k == 7:
        verb = rng.choice(["block", "unblock", "blocklist"])
        items = "".join(f"<item{_attr('jid', _jid(rng, ctx))}/>" for _ in range(rng.randint(0, 3)))
        return f"<{verb} xmlns='{NS['blocking']}'>{items}</{verb}>"
    if k == 8:
        return f"<{rng.choice(['enable', 'disable'])} xmlns='{NS['carbons']}'/>"
    if k == 9:
        return (f"<query xmlns='{NS[rng.choice(['info', 'items'])]}'"
                f"{_attr('node', _text(rng)) if rng.random() < 0.3 else ''}/>")
    if k == 10:
        fields = "".join(f"<{f}>{xml_escape(_text(rng))}</{f}>"
                         for f in rng.sample(["username", "email", "name", "x"], 2))
        return f"<query xmlns='{NS['register']}'>{fields}</query>"
    if k == 11:
        return f"<query xmlns='{NS['version']}'/>"
    if k == 12:
        return f"<ping xmlns='{NS['ping']}'/>"
    if k == 13:
        return f"<bind xmlns='{NS['bind']}'><resource>{xml_escape(_text(rng))}</resource></bind>"
    if k == 14:
        return f"<session xmlns='{NS['session']}'/>"
    return _junk(rng)


def _message(rng, ctx):
    carbon = rng.choice(["sent", "received"])
    typ = rng.choice(["chat", "normal", "headline", "groupchat", "error", "", _text(rng)])
    kids = []
    if rng.random() < 0.8:
        kids.append(f"<body>{xml_escape(_text(rng))}</body>")
    extras = [
        f"<request xmlns='{NS['receipts']}'/>",
        f"<received xmlns='{NS['receipts']}'{_attr('id', _text(rng))}/>",
        f"<{rng.choice(['active', 'composing', 'paused', 'inactive', 'gone'])} "
        f"xmlns='{NS['chatstates']}'/>",
        f"<no-store xmlns='{NS['hints']}'/>", f"<no-permanent-store xmlns='{NS['hints']}'/>",
        f"<private xmlns='{NS['carbons']}'/>",
        f"<stanza-id xmlns='{NS['sid']}'{_attr('id', _text(rng))}{_attr('by', _jid(rng, ctx))}/>",
        (f"<{carbon} xmlns='{NS['carbons']}'><forwarded xmlns='{NS['forward']}'>"
         f"<message xmlns='jabber:client'{_attr('from', _jid(rng, ctx))}"
         f"{_attr('to', _jid(rng, ctx))}><body>forged</body></message></forwarded></{carbon}>"),
        f"<delay xmlns='{NS['delay']}'{_attr('stamp', _text(rng))}/>",
        "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error>",
        "<subject>" + xml_escape(_text(rng)) + "</subject>",
        "<thread>" + xml_escape(_text(rng)) + "</thread>",
        _junk(rng),
    ]
    kids += rng.sample(extras, rng.randint(0, 3))
    attrs = _attr("to", _jid(rng, ctx)) if rng.random() < 0.95 else ""
    attrs += _attr("type", typ) if typ else ""
    attrs += _attr("id", _text(rng)) if rng.random() < 0.7 else ""
    attrs += _attr("from", _jid(rng, ctx)) if rng.random() < 0.1 else ""
    return f"<message{attrs}>{''.join(kids)}</message>"


def _presence(rng, ctx):
    typ = rng.choice(["", "", "unavailable", "subscribe", "subscribed", "unsubscribe",
                      "unsubscribed", "probe", "error", _text(rng)])
    kids = []
    if rng.random() < 0.5:
        kids.append(f"<show>{rng.choice(['away', 'chat', 'dnd', 'xa', _text(rng)])}</show>")
    if rng.random() < 0.5:
        kids.append(f"<priority>{rng.choice(['0', '5', '-128', '127', '128', '-129', 'x'])}"
                    f"</priority>")
    if rng.random() < 0.3:
        kids.append(f"<status>{xml_escape(_text(rng))}</status>")
    if rng.random() < 0.3:
        kids.append(f"<c xmlns='{NS['caps']}' hash='sha-1' node='n'{_attr('ver', _text(rng))}/>")
    attrs = _attr("to", _jid(rng, ctx)) if rng.random() < 0.5 else ""
    attrs += _attr("type", typ) if typ else ""
    return f"<presence{attrs}>{''.join(kids)}</presence>"


def _nonza(rng, ctx):
    """Stream management and CSI. Mostly valid for the stream's state (SM on or off), so that
    a run is not all stream errors; now and then an h the server must reject."""
    if rng.random() < 0.1:
        return f"<a xmlns='{NS['sm']}'{_attr('h', rng.choice(['4294967295', '-1', 'x']))}/>"
    if not ctx.sm or rng.random() < 0.2:
        ctx.sm = True
        return rng.choice([f"<enable xmlns='{NS['sm']}' resume='true'/>",
                           f"<{rng.choice(['active', 'inactive'])} xmlns='{NS['csi']}'/>"])
    return rng.choice([f"<r xmlns='{NS['sm']}'/>", f"<a xmlns='{NS['sm']}' h='0'/>",
                       f"<{rng.choice(['active', 'inactive'])} xmlns='{NS['csi']}'/>"])


def stanza(rng, ctx, n):
    """The n-th stanza: (text, id of an IQ get/set that the server itself must answer)."""
    r = rng.random()
    if r < 0.45:
        typ = rng.choice(["get", "set", "get", "set", "result", "error", "", _text(rng)])
        to_kind = rng.random()
        if to_kind < 0.3:
            to = ""                                   # the server answers for the account
        elif to_kind < 0.45:
            to = ctx.domain
        elif to_kind < 0.6:
            to = ctx.me.split("/")[0]
        else:
            to = _jid(rng, ctx)
        iq_id = f"fz{n}"
        payload = _iq_payload(rng, ctx)
        if rng.random() < 0.05:
            payload += _iq_payload(rng, ctx)          # two payloads: bad-request
        attrs = _attr("type", typ) if typ else ""
        attrs += _attr("to", to) if to else ""
        attrs += _attr("id", iq_id)
        must = iq_id if typ in ("get", "set") and to in ("", ctx.domain,
                                                         ctx.me.split("/")[0]) else None
        return f"<iq{attrs}>{payload}</iq>", must
    if r < 0.75:
        return _message(rng, ctx), None
    if r < 0.95:
        return _presence(rng, ctx), None
    return _nonza(rng, ctx), None


def new_rng(seed):
    return random.Random(seed)
