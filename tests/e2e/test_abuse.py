"""Abuse resistance: connection caps and rates per address, slow-loris handshakes, caps on
unauthenticated input, a sender faster than limits.read_rate, a recipient that stops reading.
Every case checks that a logged-in bystander keeps working. (Malformed and restricted XML and
the stanza caps after login are in test_robust.py.)"""

import os
import socket
import threading
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

import abuse_util  # noqa: E402
from raw_stream import NS_CLIENT, q, stream_header, to_str  # noqa: E402

MAX_STANZA = 4096
# the condition c2s sends for a stream that is not UTF-8
CONDITION_ENCODING = "not-well-formed"
SERVER_OVERRIDES = [f"limits.max_stanza={MAX_STANZA}"]


def _bystander(srv, user="alice"):
    """A raw session logged in before the abuse starts; must still answer pings after it."""
    r = srv.raw()
    r.login(user, srv.password(user), "bystander")
    return r


def _still_fine(r):
    t0 = time.monotonic()
    assert r.ping().get("type") == "result"
    assert not r.closed
    return time.monotonic() - t0


def _refused_at_once(r, timeout=5.0):
    """The server closed the connection without sending a byte, even after a stream header."""
    try:
        r.send(stream_header(r.domain))
    except OSError:
        pass  # already reset
    r.wait_closed(timeout)
    assert r.received == b"", "a refused connection got bytes: " + r.received[:200].decode(
        errors="replace")


def _hello(srv, source_ip):
    """Connects from source_ip (any 127.0.0.0/8 address), sends a stream header; returns True
    when the server answers with its own, False when it closes without a byte."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5,
                                  source_address=(source_ip, 0)) as s:
        try:
            s.sendall(stream_header(srv.domain).encode())
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        assert data == b"" or b"<stream:stream" in data, data
        return data != b""


def test_connections_per_address_are_capped(make_server):
    srv = make_server(overrides=["limits.max_conns_per_ip=4"])
    alice = _bystander(srv)
    others = [srv.raw() for _ in range(3)]
    for r in others:
        r.open_stream()
    extra = srv.raw()
    _refused_at_once(extra)
    assert _hello(srv, "127.0.0.2"), "another address is counted on its own"
    # a closed connection frees its place
    others[0].close()
    time.sleep(0.3)
    again = srv.raw()
    again.open_stream()
    _still_fine(alice)


def test_new_connections_per_minute_are_capped(make_server):
    srv = make_server(overrides=["limits.conn_rate_per_ip=6"])
    alice = _bystander(srv)
    # 127.0.0.4 is used by nothing else (the fixture's readiness probes use 127.0.0.1)
    got = [_hello(srv, "127.0.0.4") for _ in range(8)]
    assert got == [True] * 6 + [False] * 2, "six a minute, each closed at once, then refused"
    assert _hello(srv, "127.0.0.5"), "another address is not limited"
    _still_fine(alice)
    assert "limits.conn_rate_per_ip" in srv.log_text() or "refused" in srv.log_text()


def test_slow_loris_trickle_is_cut_at_handshake_timeout(make_server):
    """Bytes that keep coming do not extend the time to authenticate."""
    srv = make_server(overrides=["limits.handshake_timeout=3"])
    alice = _bystander(srv)
    header = stream_header(srv.domain).encode()
    trick = [srv.raw() for _ in range(10)]
    stop = threading.Event()

    def trickle(r, payload):
        for i in range(len(payload)):
            if stop.is_set():
                return
            try:
                r.sock.sendall(payload[i:i + 1])
            except OSError:
                return
            time.sleep(0.2)

    # half of them never finish the header, half open the stream and trickle a stanza
    payloads = [header[:-1] + b" x='" + b"a" * 200 if i % 2 == 0
                else header + b"<iq type='get' id='x'><query xmlns='" + b"u" * 200
                for i in range(len(trick))]
    threads = [threading.Thread(target=trickle, args=(r, p), daemon=True)
               for r, p in zip(trick, payloads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        worst = max(_still_fine(alice) for _ in range(5))
        assert worst < 1.0, f"a ping took {worst:.2f} s next to slow-loris peers"
        for r in trick:
            r.wait_closed(timeout=10)
        elapsed = time.monotonic() - t0
        assert elapsed < 9, f"trickling peers were cut only after {elapsed:.1f} s"
    finally:
        stop.set()
    for r in trick[1::2]:
        errs = [to_str(e) for e in r.stanzas if "error" in e.tag]
        assert any("connection-timeout" in e for e in errs), \
            "an open stream is told why it is closed" + r.context()
    _still_fine(alice)


@pytest.mark.parametrize("case", ["deep", "attrs", "long-header", "long-tag"])
def test_caps_hold_before_authentication(server, case):
    """The XML caps apply from the first byte: no login needed to be stopped."""
    alice = _bystander(server)
    r = server.raw()
    if case == "long-header":
        # the whole header in one write, longer than max_stanza
        r.send(stream_header(server.domain)[:-1] + " pad='" + "p" * (MAX_STANZA + 100) + "'>")
    else:
        r.open_stream()
        if case == "deep":
            r.send("<x>" * 100 + "</x>" * 100)
        elif case == "attrs":
            r.send("<x " + " ".join(f"a{i}='{i}'" for i in range(200)) + "/>")
        else:
            r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls' p='" + "q" * MAX_STANZA)
    r.expect_stream_error("policy-violation")
    _still_fine(alice)


@pytest.mark.parametrize("bom", [b"", b"\xff\xfe"])
def test_utf16_stream_is_refused(server, bom):
    """RFC 6120 §11.6: the stream is UTF-8. Expat would happily switch to UTF-16 on the
    first bytes; tern refuses such a stream before any of it is parsed."""
    alice = _bystander(server)
    r = server.raw()
    r.send(bom + stream_header(server.domain).encode("utf-16-le"))
    r.expect_stream_error(CONDITION_ENCODING)
    _still_fine(alice)


def test_billion_laughs_after_the_header(server):
    """Entities cannot be declared anywhere: after the stream header a DOCTYPE is not even
    well-formed (test_robust.py has it in the prolog, where it is restricted-xml). Nothing
    is ever expanded."""
    alice = _bystander(server)
    r = server.raw()
    r.open_stream()
    r.send("<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]>"
           "<message><body>&b;</body></message>")
    r.expect_stream_error("not-well-formed")
    assert b"aaaaaaaaaa" not in r.received
    _still_fine(alice)


def test_fast_sender_is_slowed_not_dropped(make_server):
    rate = 16384
    srv = make_server(overrides=[f"limits.read_rate={rate}", f"limits.max_stanza={MAX_STANZA}"])
    alice = _bystander(srv)
    bob = srv.raw()
    bob_jid = bob.login("bob", srv.password("bob"), "sink")
    carol = srv.raw()
    carol.login("carol", srv.password("carol"), "fast")
    n, body = 96, "z" * 900
    flood = "".join(f"<message to='{bob_jid}' type='chat' id='f{i}'><body>{i} {body}</body>"
                    f"</message>" for i in range(n)).encode()
    done = {}

    def send_all():
        t0 = time.monotonic()
        carol.send(flood)
        done["sent"] = time.monotonic() - t0

    sender = threading.Thread(target=send_all, daemon=True)
    t0 = time.monotonic()
    sender.start()
    # while the sender is held back, everyone else is served at once
    time.sleep(1.0)
    worst = max(_still_fine(alice) for _ in range(3))
    assert worst < 1.0, f"a ping took {worst:.2f} s next to a throttled sender"
    got = []
    while len(got) < n:
        el = bob.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=30,
                             what=f"message {len(got)} of {n}")
        got.append(el.get("id"))
    elapsed = time.monotonic() - t0
    sender.join(10)
    assert got == [f"f{i}" for i in range(n)], "every message arrives, in order"
    # the burst is max(max_stanza, rate) = rate bytes; the rest comes at `rate` per second
    expect = (len(flood) - rate) / rate
    assert elapsed >= expect * 0.6, \
        f"{len(flood)} bytes at {rate} B/s passed in {elapsed:.1f} s (expected ~{expect:.1f} s)"
    _still_fine(carol)  # slowed, never disconnected
    _still_fine(alice)


def test_recipient_that_does_not_read_is_disconnected(make_server):
    srv = make_server(overrides=["limits.max_out=65536", f"limits.max_stanza={MAX_STANZA}",
                                 "limits.read_rate=0"])
    alice = _bystander(srv)
    bob = srv.raw()
    bob_jid = bob.login("bob", srv.password("bob"), "stuck")
    carol = srv.raw()
    carol.login("carol", srv.password("carol"), "talker")
    batch = "".join(f"<message to='{bob_jid}' type='chat'><body>{'w' * 3000}</body></message>"
                    for _ in range(64)).encode()
    sent = 0
    deadline = time.monotonic() + 30
    while "stuck] disconnected: output queue full" not in srv.log_text():
        assert time.monotonic() < deadline, \
            f"bob never read and is still connected after {sent} bytes\n" + srv.log_tail()
        assert sent < 64 << 20, "64 MiB sent and bob's queue never passed its cap"
        carol.send(batch)
        sent += len(batch)
        carol.ping(timeout=10)  # paces the writer by the server's progress
    # bob's socket ends once what the kernel buffered is drained
    bob.sock.settimeout(10)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            if not bob.sock.recv(1 << 20):
                break
        except OSError:
            break
    else:
        pytest.fail("bob's connection was not closed")
    _still_fine(carol)
    _still_fine(alice)


@pytest.mark.parametrize("payload", [
    "<query xmlns='urn:xmpp:mam:2'/>",
    "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>",
])
def test_another_accounts_archive_and_private_data_are_out_of_reach(server, payload):
    """RFC 6121 §11 / XEP-0313 §9: only the owner reads an archive or private storage. A
    query to another account's bare JID gets an error and no data."""
    alice = server.raw()
    alice.login("alice", server.password("alice"), "owner")
    alice.send(f"<message to='{server.jid('bob')}' type='chat'><body>secret-1</body></message>")
    assert alice.ping().get("type") == "result"
    mallory = server.raw()
    mallory.login("dave", server.password("dave"), "snoop")
    ans = mallory.iq("get", payload, to=server.jid("alice"))
    assert ans.get("type") == "error", to_str(ans)
    seen = mallory.collect(1.0)
    leaked = [to_str(e) for e in seen if "secret-1" in to_str(e)]
    assert not leaked, leaked
    assert b"secret-1" not in mallory.received


STANZA_COUNT = int(os.environ.get("TERN_STANZA_COUNT", "400"))
STANZA_SEED = int(os.environ.get("TERN_STANZA_SEED", "20261123"))
PER_CONNECTION = 100


def test_random_stanzas_after_login(make_server):
    """A logged-in session fed random (well-formed) stanzas for every module: the server
    answers every IQ get/set addressed to itself or the account, ends a stream only with a
    proper stream error, never crashes (a sanitizer report fails the test), and the bystander
    keeps working. TERN_STANZA_COUNT and TERN_STANZA_SEED widen the run (`make fuzz-stanzas`)."""
    srv = make_server(overrides=["limits.stanza_rate=0", "limits.read_rate=0"])
    alice = _bystander(srv)
    rng = abuse_util.new_rng(STANZA_SEED)
    sent = unanswered = 0
    stream_errors = []
    while sent < STANZA_COUNT:
        r = srv.raw()
        me = r.login("dave", srv.password("dave"), f"fz{sent}")
        ctx = abuse_util.Ctx(srv.domain, me, list(srv.users))
        pending = {}
        for _ in range(min(PER_CONNECTION, STANZA_COUNT - sent) // 20):
            batch = []
            for _ in range(20):
                text, must = abuse_util.stanza(rng, ctx, sent)
                sent += 1
                batch.append(text)
                if must:
                    pending[must] = text
            try:
                r.send("".join(batch))
            except OSError:
                break
            if r.closed:
                break
        deadline = time.monotonic() + 10
        while pending and not r.closed and time.monotonic() < deadline:
            el = r.wait_stanza_or_close(
                lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") in pending,
                timeout=max(0.1, deadline - time.monotonic()), what="IQ answers")
            if el is not None:
                assert el.get("type") in ("result", "error"), to_str(el)
                del pending[el.get("id")]
        errs = [e for e in r.stanzas if e.tag == "{http://etherx.jabber.org/streams}error"]
        if r.closed:
            assert errs, "the server closed a stream without a stream error" + r.context()
            stream_errors += [to_str(e) for e in errs]
        else:
            unanswered += len(pending)
            assert not pending, f"IQs never answered: {list(pending.values())[:5]}"
            # end the stream: a resumable session (the fuzzer may enable SM) would otherwise
            # wait sm.resume_timeout and count against the account's sessions
            try:
                r.send("</stream:stream>")
                r.wait_closed(timeout=5)
            except (OSError, AssertionError):
                pass
        r.close()
        _still_fine(alice)
    print(f"\nrandom stanzas: seed {STANZA_SEED}, {sent} sent, {len(stream_errors)} streams "
          f"ended by a stream error")
    assert not any("internal-server-error" in e for e in stream_errors), stream_errors
    assert unanswered == 0
