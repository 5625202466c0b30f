"""
Helpers for the roster and presence tests (test_roster.py, test_presence.py).

- `new_users(server, n)`: n fresh accounts with unique names, so that the tests of one module
  (one ternd) never see each other's rosters.
- Raw-stream helpers (blocking, see raw_stream.py): roster get/set/remove, waiting for pushes
  and presence stanzas of a given type and sender.
- `Watcher`: records what a slixmpp client receives (presence stanzas, roster pushes) and lets
  a test wait for one that matches. Subscription requests are never answered automatically.
"""

import asyncio
import itertools
import xml.etree.ElementTree as ET

from raw_stream import NS_CLIENT, q, stanza_error_condition, to_str, xml_escape

NS_ROSTER = "jabber:iq:roster"
PRESENCE = q(NS_CLIENT, "presence")
IQ = q(NS_CLIENT, "iq")

_seq = itertools.count(1)


def new_users(server, n, prefix="r"):
    """Creates n accounts named <prefix><seq> (password = name) and returns their names."""
    names = []
    for _ in range(n):
        name = f"{prefix}{next(_seq)}x"
        server.add_user(name, name)
        names.append(name)
    return names


def login(server, user, resource=None, roster=True, available=False):
    """A raw connection logged in as user; requests the roster (to get pushes) and sends
    initial presence when asked. Returns the Raw."""
    r = server.raw_login(user, resource=resource)
    if roster:
        ans = roster_get(r)
        assert ans.get("type") == "result", to_str(ans)
    if available:
        r.send("<presence/>")
        wait_presence(r, frm=r.jid)  # our own presence comes back (RFC 6121 §4.2.2)
    return r


def online_pair(server):
    """Two new accounts, each logged in (raw) with its roster requested and available:
    (a, b, bare JID of a, bare JID of b, Raw of a, Raw of b)."""
    a, b = new_users(server, 2)
    return (a, b, server.jid(a), server.jid(b), login(server, a, available=True),
            login(server, b, available=True))


# ---- roster IQs -------------------------------------------------------------------------------

def roster_get(r, ver=None, to=None):
    attr = "" if ver is None else f" ver='{xml_escape(ver)}'"
    return r.iq("get", f"<query xmlns='{NS_ROSTER}'{attr}/>", to=to)


def item_xml(jid, name=None, groups=(), subscription=None, extra=""):
    attrs = f" jid='{xml_escape(jid)}'" if jid is not None else ""
    if name is not None:
        attrs += f" name='{xml_escape(name)}'"
    if subscription is not None:
        attrs += f" subscription='{subscription}'"
    inner = "".join(f"<group>{xml_escape(g)}</group>" for g in groups)
    return f"<item{attrs}>{inner}{extra}</item>"


def roster_set(r, jid, name=None, groups=(), subscription=None, to=None):
    return r.iq("set", f"<query xmlns='{NS_ROSTER}'>"
                f"{item_xml(jid, name, groups, subscription)}</query>", to=to)


def roster_set_raw(r, inner):
    """A roster set with the query's children as given (for malformed items)."""
    return r.iq("set", f"<query xmlns='{NS_ROSTER}'>{inner}</query>")


def roster_remove(r, jid):
    return roster_set(r, jid, subscription="remove")


def items(el):
    """{jid: {'name', 'subscription', 'ask', 'approved', 'groups'}} of a roster result/push."""
    out = {}
    query = el.find(q(NS_ROSTER, "query"))
    if query is None:
        return out
    for it in query.findall(q(NS_ROSTER, "item")):
        out[it.get("jid")] = {
            "name": it.get("name"),
            "subscription": it.get("subscription"),
            "ask": it.get("ask"),
            "approved": it.get("approved"),
            "groups": sorted(g.text or "" for g in it.findall(q(NS_ROSTER, "group"))),
        }
    return out


def ver_of(el):
    query = el.find(q(NS_ROSTER, "query"))
    return None if query is None else query.get("ver")


def roster_of(r):
    """The items of a fresh roster get (asserting it succeeded)."""
    ans = roster_get(r)
    assert ans.get("type") == "result", to_str(ans)
    return items(ans)


def error_of(el):
    assert el.get("type") == "error", "expected an error, got " + to_str(el)
    return stanza_error_condition(el)[1]


def is_push(el, jid=None):
    if el.tag != IQ or el.get("type") != "set" or el.find(q(NS_ROSTER, "query")) is None:
        return False
    return jid is None or jid in items(el)


def wait_push(r, jid=None, timeout=5.0):
    """Waits for a roster push (about jid, if given), answers it, and returns its item dict
    (with the push's 'ver' added)."""
    el = r.wait_stanza(lambda e: is_push(e, jid), timeout, what=f"roster push for {jid}")
    assert el.get("from") in (None, r.jid.split("/")[0]), "push from elsewhere: " + to_str(el)
    r.send(f"<iq type='result' id='{xml_escape(el.get('id'))}'/>")
    it = items(el)
    got = it[jid] if jid else next(iter(it.values()))
    got = dict(got)
    got["ver"] = ver_of(el)
    return got


def is_presence(el, type_=None, frm=None):
    """type_ None means available; frm matches a bare JID against any of its resources."""
    if el.tag != PRESENCE or el.get("type") != type_:
        return False
    if frm is None:
        return True
    got = el.get("from") or ""
    return got == frm or ("/" not in frm and got.split("/")[0] == frm)


def wait_presence(r, type_=None, frm=None, timeout=5.0):
    return r.wait_stanza(lambda e: is_presence(e, type_, frm), timeout,
                         what=f"presence type={type_} from={frm}")


def no_presence(r, type_=None, frm=None, within=0.8):
    """Asserts that no matching presence arrives within the time given (others are kept)."""
    got = r.collect(within)
    bad = [to_str(e) for e in got if is_presence(e, type_, frm)]
    r.stanzas = [e for e in got if not is_presence(e, type_, frm)] + r.stanzas
    assert not bad, f"unexpected presence: {bad}"


def send_presence(r, type_=None, to=None, status=None, priority=None):
    attrs = ""
    if type_:
        attrs += f" type='{type_}'"
    if to:
        attrs += f" to='{xml_escape(to)}'"
    inner = ""
    if status is not None:
        inner += f"<status>{xml_escape(status)}</status>"
    if priority is not None:
        inner += f"<priority>{priority}</priority>"
    r.send(f"<presence{attrs}>{inner}</presence>")


def sync(r):
    """A server ping: when it is answered, everything r sent before has been handled (and any
    storage round trip started by it has at least been queued)."""
    ans = r.ping()
    assert ans.get("type") == "result"


def befriend(a, b):
    """Makes a and b (logged in raw, roster requested, available) subscribed both ways."""
    ja, jb = a.jid.split("/")[0], b.jid.split("/")[0]
    for x, y, jy, jx in ((a, b, jb, ja), (b, a, ja, jb)):
        send_presence(x, "subscribe", to=jy)
        wait_presence(y, "subscribe", frm=jx)
        send_presence(y, "subscribed", to=jx)
        wait_presence(x, "subscribed", frm=jy)
    assert roster_of(a)[jb]["subscription"] == "both"
    assert roster_of(b)[ja]["subscription"] == "both"
    for x in (a, b):
        x.stanzas = []


# ---- slixmpp ----------------------------------------------------------------------------------

# slixmpp reports available presence with a <show/> as that show value
AVAILABLE_TYPES = ("available", "away", "chat", "dnd", "xa")


class Watcher:
    """Records presence stanzas and roster pushes a slixmpp client receives."""

    def __init__(self, client):
        self.client = client
        self.presences = []
        self.pushes = []
        self.changed = asyncio.Event()
        client.auto_authorize = None   # leave every subscription decision to the test
        client.auto_subscribe = False
        client.add_event_handler("presence", self._on_presence)
        client.add_event_handler("roster_update", self._on_roster)

    def _on_presence(self, p):
        self.presences.append(p)
        self.changed.set()

    def _on_roster(self, iq):
        if iq["type"] == "set":
            self.pushes.append(iq)
            self.changed.set()

    async def _wait(self, box, pred, what, timeout):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, x in enumerate(box):
                if pred(x):
                    return box.pop(i)
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{self.client.boundjid} got no {what} within {timeout} s; "
                                     f"got: {[str(x) for x in box]}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def presence(self, type_="available", frm=None, timeout=5.0):
        types = AVAILABLE_TYPES if type_ == "available" else (type_,)

        def pred(p):
            return p["type"] in types and (frm is None or p["from"].bare == frm
                                           or p["from"].full == frm)
        return await self._wait(self.presences, pred, f"presence {type_} from {frm}", timeout)

    async def push(self, jid, timeout=5.0):
        """The next roster push about jid, as its item (a slixmpp RosterItem stanza)."""
        def pred(iq):
            return jid in iq["roster"]["items"]
        iq = await self._wait(self.pushes, pred, f"roster push for {jid}", timeout)
        return iq["roster"]["items"][jid], iq["roster"]["ver"]


async def roster_items(client):
    """A roster get through slixmpp without a version (so the whole roster comes back):
    {jid: item dict}. The resource becomes interested (gets pushes)."""
    iq = client.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    res = await iq.send()
    return {str(j): dict(v) for j, v in res["roster"]["items"].items()}


def parse(xml_text):
    return ET.fromstring(xml_text)
