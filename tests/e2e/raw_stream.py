"""
Raw XMPP over a blocking socket, for tests that need exact bytes.

A `Raw` sends whatever bytes it is given (whole, or split into small writes) and keeps two
views of what the server sends back:
- `received`: every byte of the connection, for exact-bytes checks (`read_until(regex)`);
- a queue of parsed depth-1 elements (xml.etree elements with {namespace}tags) from an
  XML parser over the bytes of the current stream. A stream restart (`restart_parser`, called
  by `open_stream`) starts a new document. A server that sends malformed XML makes the parse
  fail, and every later wait reports it.

Every wait takes a timeout and raises AssertionError (with what was received) when it runs
out, so a broken server fails the test rather than hanging it. EOF, a reset and a TLS EOF all
count as "closed". Direct TLS and STARTTLS use an ssl context that accepts the self-signed
certificate (no verification) and TLS 1.2 at least.

Blocking I/O: from an async test wrap calls in asyncio.to_thread so the event loop (and the
slixmpp clients on it) keep running.
"""

import base64
import itertools
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_CLIENT = "jabber:client"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"


def q(ns, name):
    return f"{{{ns}}}{name}"


def tls_context():
    """Client context for the server's self-signed certificate: no verification, TLS 1.2+."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def stream_header(to, xml_decl=True):
    decl = "<?xml version='1.0'?>" if xml_decl else ""
    return (f"{decl}<stream:stream xmlns='jabber:client' "
            f"xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>")


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;").replace('"', "&quot;"))


def to_str(el):
    return ET.tostring(el, encoding="unicode")


def stream_error_condition(el):
    """The condition name of a <stream:error/> element (None if it has none)."""
    for child in el:
        if child.tag.startswith("{" + NS_STREAMS_ERR + "}") and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


def stanza_error_condition(el):
    """(type, condition) of the <error/> child of a stanza, or (None, None)."""
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None, None
    for child in err:
        if child.tag.startswith("{" + NS_STANZA_ERR + "}") and not child.tag.endswith("}text"):
            return err.get("type"), child.tag.split("}", 1)[1]
    return err.get("type"), None


_open = []  # every Raw not yet closed, so the after-test fixture can close leftovers
_ids = itertools.count(1)


def close_all():
    for r in list(_open):
        r.close()


class Raw:
    def __init__(self, port, host="127.0.0.1", domain="example.test", direct_tls=False,
                 timeout=10.0):
        self.domain = domain
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = b""   # all bytes of this connection
        self.cursor = 0       # how far read_until has consumed `received`
        self.closed = False   # EOF (or reset) seen
        self.close_reason = "EOF"
        self.stanzas = []     # parsed depth-1 elements not yet taken
        self.stream_attrs = None  # attributes of the server's current stream header
        self.stream_closed = False  # the server's </stream:stream> arrived
        self.parse_error = None
        self.jid = None
        _open.append(self)
        self.restart_parser()
        if direct_tls:
            self.wrap_tls()

    # ---- transport ------------------------------------------------------------------------

    def wrap_tls(self):
        self.sock.settimeout(self.timeout)
        self.sock = tls_context().wrap_socket(self.sock, server_hostname=self.domain)

    @property
    def tls_version(self):
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_split(self, data, size=1, delay=0.0):
        """Sends data in writes of `size` bytes (TCP_NODELAY is on, so each write is its own
        segment; under TLS its own record)."""
        if isinstance(data, str):
            data = data.encode()
        for i in range(0, len(data), size):
            self.send(data[i:i + size])
            if delay:
                time.sleep(delay)

    def close(self):
        if self in _open:
            _open.remove(self)
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self, deadline):
        """Receives once. Returns False on timeout, True when something happened (data or
        close)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLWantReadError:
            return True
        except (ConnectionError, ssl.SSLError, OSError) as e:
            self.close_reason = repr(e)
            data = b""
        if not data:
            self.closed = True
            return True
        self.received += data
        self._feed(data)
        return True

    # ---- parsing --------------------------------------------------------------------------

    def restart_parser(self):
        """Starts a new stream (after STARTTLS / SASL success): what arrives from now on is
        parsed as a new document."""
        self.stream_bytes = b""  # bytes of the current stream
        self.n_seen = 0          # depth-1 elements of it already queued
        self.stream_attrs = None
        self.stream_closed = False

    def _feed(self, data):
        # The whole current stream is parsed again by a fresh parser on every read. libexpat
        # here defers re-parsing a partial token until twice as much data is buffered
        # ("reparse deferral", and pyexpat in this Python cannot turn it off), so a parser
        # fed the bytes as they come can sit on a complete element; a fresh parser fed
        # everything at once parses every complete token. Test streams are small.
        if self.parse_error:
            return
        self.stream_bytes += data
        parser = ET.XMLPullParser(events=("start", "end"))
        depth = n = 0
        try:
            parser.feed(self.stream_bytes)
            for event, el in parser.read_events():
                if event == "start":
                    if depth == 0:
                        self.stream_attrs = dict(el.attrib)
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        self.stream_closed = True
                    elif depth == 1:
                        n += 1
                        if n > self.n_seen:
                            self.n_seen = n
                            self.stanzas.append(el)
        except ET.ParseError as e:
            self.parse_error = f"server sent malformed XML: {e}"

    def context(self):
        state = f"closed ({self.close_reason})" if self.closed else "open"
        return (f"\n--- connection {state}; received ({len(self.received)} bytes, last 3000) ---\n"
                f"{self.received[-3000:].decode(errors='replace')}")

    def _check_parse(self):
        if self.parse_error:
            raise AssertionError(self.parse_error + self.context())

    # ---- waiting --------------------------------------------------------------------------

    def read_until(self, pattern, timeout=5.0):
        """Waits until the regex (bytes or str, DOTALL) matches the received bytes after the
        cursor; moves the cursor past the match and returns it."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.received, self.cursor)
            if m:
                self.cursor = m.end()
                return m
            if self.closed:
                raise AssertionError(f"connection closed while waiting for {pattern!r}"
                                     + self.context())
            if not self._recv(deadline):
                raise AssertionError(f"no {pattern!r} within {timeout} s" + self.context())

    def wait_stanza(self, pred=None, timeout=5.0, what="stanza"):
        """Waits for (and takes) the first parsed depth-1 element for which pred is true."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_parse()
            for i, el in enumerate(self.stanzas):
                if pred is None or pred(el):
                    return self.stanzas.pop(i)
            if self.closed:
                raise AssertionError(f"connection closed while waiting for {what}"
                                     + self.context())
            if not self._recv(deadline):
                raise AssertionError(f"no {what} within {timeout} s" + self.context())

    def wait_stanza_or_close(self, pred=None, timeout=5.0, what="stanza"):
        """Like wait_stanza, but returns None when the connection closes first."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_parse()
            for i, el in enumerate(self.stanzas):
                if pred is None or pred(el):
                    return self.stanzas.pop(i)
            if self.closed:
                return None
            if not self._recv(deadline):
                raise AssertionError(f"no {what} (nor a close) within {timeout} s"
                                     + self.context())

    def wait_tag(self, tag, timeout=5.0):
        return self.wait_stanza(lambda el: el.tag == tag, timeout, what=tag)

    def collect(self, seconds):
        """Reads for `seconds` (or until close) and returns the elements parsed meanwhile
        (taking them)."""
        deadline = time.monotonic() + seconds
        while not self.closed and time.monotonic() < deadline:
            self._recv(deadline)
        self._check_parse()
        got, self.stanzas = self.stanzas, []
        return got

    def wait_closed(self, timeout=5.0):
        """Waits for EOF; returns True, or raises on timeout."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self._recv(deadline):
                raise AssertionError(f"connection still open after {timeout} s"
                                     + self.context())
        return True

    def expect_stream_error(self, condition, timeout=5.0):
        """The server must send <stream:error><condition/></stream:error>, then
        </stream:stream>, then close the connection. Returns the error element."""
        self.wait_closed(timeout)
        self._check_parse()
        errs = [el for el in self.stanzas if el.tag == q(NS_STREAM, "error")]
        assert errs, f"no <stream:error/> before close (expected <{condition}/>)" + self.context()
        got = stream_error_condition(errs[0])
        assert got == condition, f"stream error <{got}/>, expected <{condition}/>" + self.context()
        assert self.stream_closed, "no </stream:stream> after the stream error" + self.context()
        self.stanzas.remove(errs[0])
        return errs[0]

    # ---- XMPP steps -----------------------------------------------------------------------

    def open_stream(self, to=None, timeout=5.0):
        """Sends a stream header (new parser: a stream restart), waits for the server's header
        and its <stream:features/>; returns the features element."""
        self.restart_parser()
        self.stanzas = []
        self.send(stream_header(to or self.domain))
        return self.wait_features(timeout)

    def wait_features(self, timeout=5.0):
        feats = self.wait_tag(q(NS_STREAM, "features"), timeout)
        assert self.stream_attrs is not None
        return feats

    def starttls(self, timeout=5.0):
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        el = self.wait_stanza(lambda e: e.tag in (q(NS_TLS, "proceed"), q(NS_TLS, "failure")),
                              timeout, what="<proceed/>")
        assert el.tag == q(NS_TLS, "proceed"), "STARTTLS refused: " + to_str(el)
        self.wrap_tls()

    def auth(self, mechanism, initial=None, timeout=10.0):
        """Sends <auth/> (initial: bytes, base64-encoded here; None: no initial response) and
        returns the first <success/>, <failure/> or <challenge/> element."""
        if initial is None:
            body = ""
        elif initial == b"":
            body = "="
        else:
            body = base64.b64encode(initial).decode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{body}</auth>")
        return self.wait_stanza(
            lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure"),
                                q(NS_SASL, "challenge")), timeout, what="SASL answer")

    def auth_plain(self, user, password, timeout=10.0):
        msg = b"\0" + user.encode() + b"\0" + password.encode()
        return self.auth("PLAIN", msg, timeout)

    def iq(self, type_, payload="", to=None, id_=None, timeout=5.0):
        """Sends an IQ and returns the answer with the same id (result or error)."""
        id_ = id_ or f"raw{next(_ids)}"
        to_attr = f" to='{to}'" if to else ""
        self.send(f"<iq type='{type_}' id='{id_}'{to_attr}>{payload}</iq>")
        return self.wait_iq(id_, timeout)

    def wait_iq(self, id_, timeout=5.0):
        return self.wait_stanza(
            lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == id_
            and e.get("type") in ("result", "error"), timeout, what=f"IQ answer id={id_}")

    def bind(self, resource=None, timeout=5.0):
        res = f"<resource>{xml_escape(resource)}</resource>" if resource else ""
        ans = self.iq("set", f"<bind xmlns='{NS_BIND}'>{res}</bind>", timeout=timeout)
        assert ans.get("type") == "result", "bind failed: " + to_str(ans)
        jid = ans.findtext(f"{q(NS_BIND, 'bind')}/{q(NS_BIND, 'jid')}")
        assert jid, "bind result without a JID: " + to_str(ans)
        self.jid = jid
        return jid

    def login(self, user, password, resource=None, tls=True):
        """Stream, STARTTLS (unless the connection is already TLS, or tls is False), PLAIN,
        restart, bind. Returns the bound JID."""
        feats = self.open_stream()
        if tls and self.tls_version is None:
            assert feats.find(q(NS_TLS, "starttls")) is not None, \
                "no STARTTLS offered: " + to_str(feats)
            self.starttls()
            self.open_stream()
        ans = self.auth_plain(user, password)
        assert ans.tag == q(NS_SASL, "success"), f"PLAIN login as {user} failed: " + to_str(ans)
        feats = self.open_stream()
        assert feats.find(q(NS_BIND, "bind")) is not None, "no bind offered: " + to_str(feats)
        return self.bind(resource)

    def ping(self, to=None, timeout=5.0):
        return self.iq("get", f"<ping xmlns='{NS_PING}'/>", to=to or self.domain,
                       timeout=timeout)


def mechanisms(features):
    """The SASL mechanism names advertised in a features element."""
    mechs = features.find(q(NS_SASL, "mechanisms"))
    if mechs is None:
        return []
    return [m.text.strip() for m in mechs.findall(q(NS_SASL, "mechanism")) if m.text]
