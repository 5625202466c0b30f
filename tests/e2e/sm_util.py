"""
Helpers for stream management (XEP-0198) and client state indication (XEP-0352) tests over
raw streams, where every byte and every count is under the test's control.

`Sm` wraps a logged-in raw_stream.Raw and keeps the client's side of the bookkeeping: it
counts every stanza the server sends (h), records the server's <r/> requests and <a/>
answers, and can answer <r/> by itself (auto_ack) or leave that to the test.
"""

import re
import time

import raw_stream
from raw_stream import NS_CLIENT, q

NS_SM = "urn:xmpp:sm:3"
NS_CSI = "urn:xmpp:csi:0"
NS_STANZAS = raw_stream.NS_STANZA_ERR

STANZA_TAGS = {q(NS_CLIENT, "message"), q(NS_CLIENT, "presence"), q(NS_CLIENT, "iq")}


def is_stanza(el):
    return el.tag in STANZA_TAGS


def auth_stream(srv, user, password=None):
    """A raw connection that is authenticated (STARTTLS, PLAIN) with its post-auth stream open
    but no resource bound. Returns (raw, features)."""
    r = srv.raw()
    r.open_stream()
    r.starttls()
    r.open_stream()
    ans = r.auth_plain(user, srv.password(user) if password is None else password)
    assert ans.tag == q(raw_stream.NS_SASL, "success"), "login failed: " + raw_stream.to_str(ans)
    feats = r.open_stream()
    return r, feats


def message(to, body, id_=None, type_="chat"):
    id_attr = f" id='{id_}'" if id_ else ""
    return (f"<message to='{to}' type='{type_}'{id_attr}>"
            f"<body>{raw_stream.xml_escape(body)}</body></message>")


def body_of(el):
    return el.findtext(q(NS_CLIENT, "body"))


class Sm:
    """The client side of stream management on a raw stream."""

    def __init__(self, raw, auto_ack=False):
        self.raw = raw
        self.auto_ack = auto_ack
        self.h = 0          # stanzas received since <enable/> (or since the resumed h)
        self.requests = 0   # <r/> from the server
        self.acks = []      # h of each <a/> from the server
        self.inbox = []     # stanzas received and not yet taken
        self.other = []     # SM elements other than <r/> and <a/> (enabled, resumed, failed)
        self.id = None

    # ---- reading ------------------------------------------------------------------------

    def _sort(self):
        for el in self.raw.stanzas:
            if is_stanza(el):
                self.h += 1
                self.inbox.append(el)
            elif el.tag == q(NS_SM, "r"):
                self.requests += 1
                if self.auto_ack:
                    self.send_ack()
            elif el.tag == q(NS_SM, "a"):
                self.acks.append(int(el.get("h")))
            else:
                self.other.append(el)
        self.raw.stanzas = []

    def _wait(self, found, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            self.raw._check_parse()
            self._sort()
            got = found()
            if got is not None:
                return got
            if self.raw.closed:
                raise AssertionError(f"connection closed while waiting for {what}"
                                     + self.raw.context())
            if not self.raw._recv(deadline):
                raise AssertionError(f"no {what} within {timeout} s" + self.raw.context())

    def stanza(self, pred=None, timeout=5.0, what="stanza"):
        """Takes the first received stanza for which pred is true (waiting for it)."""
        def found():
            for i, el in enumerate(self.inbox):
                if pred is None or pred(el):
                    return self.inbox.pop(i)
            return None
        return self._wait(found, timeout, what)

    def messages(self, n, timeout=5.0):
        """Takes the next n messages (in order)."""
        return [self.stanza(lambda e: e.tag == q(NS_CLIENT, "message"), timeout,
                            what=f"message {i + 1} of {n}") for i in range(n)]

    def sm_element(self, names, timeout=5.0):
        """Takes the first SM element (enabled, resumed, failed...) named in names."""
        tags = {q(NS_SM, n) for n in names}

        def found():
            for i, el in enumerate(self.other):
                if el.tag in tags:
                    return self.other.pop(i)
            return None
        return self._wait(found, timeout, "/".join(names))

    def wait_ack(self, since=None, timeout=5.0):
        """Waits for an <a/> from the server after the first `since` (default: after those seen
        so far); returns its h."""
        n = len(self.acks) if since is None else since
        return self._wait(lambda: self.acks[n] if len(self.acks) > n else None, timeout, "<a/>")

    def wait_request(self, since=None, timeout=5.0):
        """Waits until the server sent more <r/> than `since` (default: than so far)."""
        n = self.requests if since is None else since
        return self._wait(lambda: True if self.requests > n else None, timeout, "<r/>")

    def drain(self, seconds):
        """Reads for `seconds` (or until close), sorting what came."""
        deadline = time.monotonic() + seconds
        while not self.raw.closed and time.monotonic() < deadline:
            self.raw._recv(deadline)
        self.raw._check_parse()
        self._sort()

    # ---- writing ------------------------------------------------------------------------

    def enable(self, resume=True):
        """Sends <enable/>; returns <enabled/> (asserted)."""
        attr = " resume='true'" if resume else ""
        self.raw.send(f"<enable xmlns='{NS_SM}'{attr}/>")
        el = self.sm_element(["enabled", "failed"])
        assert el.tag == q(NS_SM, "enabled"), "enable failed: " + raw_stream.to_str(el)
        self.id = el.get("id")
        self.h = 0
        return el

    def send_ack(self, h=None):
        self.raw.send(f"<a xmlns='{NS_SM}' h='{self.h if h is None else h}'/>")

    def request(self):
        """Sends <r/> and returns the h of the server's <a/>."""
        n = len(self.acks)
        self.raw.send(f"<r xmlns='{NS_SM}'/>")
        return self._wait(lambda: self.acks[n] if len(self.acks) > n else None, 5.0, "<a/>")

    def drop(self):
        """Drops the TCP connection without closing the stream (a network loss)."""
        self.raw.close()


def resume(srv, user, previd, h, extra=""):
    """A new authenticated stream that sends <resume/> (plus extra bytes in the same write).
    Returns (Sm on the new stream, <resumed/> or <failed/>)."""
    r, feats = auth_stream(srv, user)
    assert feats.find(q(NS_SM, "sm")) is not None, "no <sm/> feature after auth"
    sm = Sm(r)
    sm.h = h if isinstance(h, int) else 0  # the count goes on from what the client had
    r.send(f"<resume xmlns='{NS_SM}' previd='{previd}' h='{h}'/>{extra}")
    el = sm.sm_element(["resumed", "failed"])
    sm.id = previd
    return sm, el


def wait_log(srv, pattern, count=1, timeout=5.0):
    """Waits until the server log matches pattern (a regex) at least count times."""
    deadline = time.monotonic() + timeout
    while log_count(srv, pattern) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} (x{count}) in the log within {timeout} s\n"
                                 + srv.log_tail())
        time.sleep(0.02)


def failed_condition(el):
    """The condition name inside <failed/> (None if none)."""
    for child in el:
        if child.tag.startswith("{" + NS_STANZAS + "}"):
            return child.tag.split("}", 1)[1]
    return None


def log_count(srv, pattern):
    return len(re.findall(pattern, srv.log_text()))


async def sm_client(srv, user, resource):
    """A slixmpp client with its own XEP-0198 plugin, logged in, stream management enabled."""
    import asyncio

    import xmpp_client
    c = xmpp_client.Client(srv.jid(user, resource), srv.password(user), "127.0.0.1", srv.port,
                           srv.domain)
    c.register_plugin("xep_0198")
    enabled = asyncio.Event()
    c.add_event_handler("sm_enabled", lambda _: enabled.set())
    c.start()
    await c.wait_ready()
    await asyncio.wait_for(enabled.wait(), 10)
    return c
