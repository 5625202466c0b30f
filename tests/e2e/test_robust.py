"""Robustness with raw bytes: malformed and restricted XML, size/depth/attribute caps, bytes
split across many writes, pipelined stanzas, a stalled half stanza, and the server's idle
ping. In every case the other clients must not notice."""

import base64
import os
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import (NS_BIND, NS_CLIENT, NS_PING, NS_SASL, NS_SESSION, NS_STREAM,  # noqa
                        q, stream_header, to_str)
from xmpp_client import async_test, in_thread  # noqa: E402

MAX_STANZA = 4096
SERVER_OVERRIDES = [f"limits.max_stanza={MAX_STANZA}"]


async def _pair(server):
    """Two logged-in slixmpp clients that must keep working while a raw peer misbehaves."""
    alice = await server.client("alice", resource="bystander")
    bob = await server.client("bob", resource="bystander")
    return alice, bob


async def _still_working(alice, bob, tag, ignore=()):
    """Messages both ways and a ping still work; bodies in ignore may arrive first."""
    alice.send_message(mto=bob.boundjid.full, mbody=f"still here {tag}", mtype="chat")
    m = await bob.next_message()
    while m["body"] in ignore:
        m = await bob.next_message()
    assert m["body"] == f"still here {tag}"
    bob.send_message(mto=alice.boundjid.full, mbody=f"me too {tag}", mtype="chat")
    m = await alice.next_message()
    assert m["body"] == f"me too {tag}"
    await alice.ping_server()
    assert alice.connected and bob.connected


def _peer(server, stage):
    """A raw connection at a stage: "open" (stream open, plain), "tls" (after STARTTLS),
    "login" (authenticated and bound as carol)."""
    r = server.raw()
    if stage == "login":
        r.login("carol", server.password("carol"), "raw")
        return r
    r.open_stream()
    if stage == "tls":
        r.starttls()
        r.open_stream()
    return r


MALFORMED = {
    "bad-end-tag": b"<message to='bob@example.test'><body>x</bdy></message>",
    "bad-utf8": b"<message to='bob@example.test'><body>\xff\xfe\xc3</body></message>",
    "undefined-entity": b"<message to='bob@example.test'><body>&nosuch;</body></message>",
    "text-at-top-level": b"this is not xml at all <",
    "lt-in-attr": b"<message to='a<b'/>",
}


@pytest.mark.parametrize("stage", ["open", "login"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
@async_test(timeout=40)
async def test_malformed_xml_is_not_well_formed(server, case, stage):
    alice, bob = await _pair(server)

    def misbehave():
        r = _peer(server, stage)
        r.send(MALFORMED[case])
        r.expect_stream_error("not-well-formed")

    await in_thread(misbehave)
    await bob.expect_no_message(within=0.3)
    await _still_working(alice, bob, case)


RESTRICTED = {
    # Before the stream header: the prolog.
    "doctype": ("pre", "<?xml version='1.0'?><!DOCTYPE stream:stream ["
                       "<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"),
    "comment-in-prolog": ("pre", "<?xml version='1.0'?><!-- hello -->"),
    "pi-in-prolog": ("pre", "<?xml version='1.0'?><?tern poke?>"),
    # After the stream header.
    "comment": ("post", "<!-- a comment -->"),
    "pi": ("post", "<?tern poke?>"),
    "comment-in-stanza": ("post", "<message to='bob@example.test'><!-- c --><body>x</body>"
                                  "</message>"),
    "pi-in-stanza": ("post", "<message to='bob@example.test'><?pi x?><body>x</body>"
                             "</message>"),
}


@pytest.mark.parametrize("case", sorted(RESTRICTED))
@async_test(timeout=40)
async def test_restricted_xml(server, case):
    alice, bob = await _pair(server)
    where, data = RESTRICTED[case]

    def misbehave():
        r = server.raw()
        if where == "pre":
            header = stream_header(server.domain, xml_decl=False)
            r.send(data + header)
        else:
            r.open_stream()
            r.send(data)
        r.expect_stream_error("restricted-xml")

    await in_thread(misbehave)
    await _still_working(alice, bob, case)


@async_test(timeout=40)
async def test_restricted_xml_after_login(server):
    alice, bob = await _pair(server)

    def misbehave():
        r = _peer(server, "login")
        r.send(f"<message to='{bob.boundjid.full}'><body>a</body></message><!-- sneaky -->")
        r.expect_stream_error("restricted-xml")

    await in_thread(misbehave)
    # The complete stanza before the comment may or may not have been delivered.
    await _still_working(alice, bob, "after-login", ignore={"a"})


def _big_message(to, body_len):
    return f"<message to='{to}' type='chat'><body>{'x' * body_len}</body></message>"


@async_test(timeout=40)
async def test_stanza_over_max_stanza_is_policy_violation(server):
    alice, bob = await _pair(server)

    def misbehave():
        r = _peer(server, "login")
        r.send(_big_message(bob.boundjid.full, MAX_STANZA + 1000))
        r.expect_stream_error("policy-violation")

    await in_thread(misbehave)
    await bob.expect_no_message(within=0.3)
    await _still_working(alice, bob, "big")

    # A stanza under the cap goes through whole.
    def under_cap():
        r = _peer(server, "login")
        r.send(_big_message(bob.boundjid.full, MAX_STANZA - 1000))
        assert r.ping().get("type") == "result"

    await in_thread(under_cap)
    m = await bob.next_message()
    assert m["body"] == "x" * (MAX_STANZA - 1000)


@pytest.mark.parametrize("stage", ["open", "login"])
@async_test(timeout=40)
async def test_unterminated_stanza_over_cap_is_cut_off(server, stage):
    """The server must not buffer an endless stanza while waiting for its end tag."""
    alice, bob = await _pair(server)

    def misbehave():
        r = _peer(server, stage)
        # One write a bit over the cap and then silence: the server has read everything
        # when it closes, so its error is not lost to a reset.
        r.send(f"<message to='{bob.boundjid.full}'><body>" + "y" * (MAX_STANZA + 1000))
        r.expect_stream_error("policy-violation")

    await in_thread(misbehave)
    await _still_working(alice, bob, "unterminated")


@async_test(timeout=40)
async def test_too_deep_and_too_many_attributes(server):
    alice, bob = await _pair(server)

    def deep():
        r = _peer(server, "login")
        depth = 100  # default max_depth is 32
        r.send("<message to='bob@example.test'>" + "<x xmlns='urn:e'>" * depth
               + "</x>" * depth + "</message>")
        r.expect_stream_error("policy-violation")

    def attrs():
        r = _peer(server, "login")
        many = " ".join(f"a{i}='{i}'" for i in range(200))  # default max_attrs is 64
        r.send(f"<message to='bob@example.test'><x xmlns='urn:e' {many}/></message>")
        r.expect_stream_error("policy-violation")

    await in_thread(deep)
    await in_thread(attrs)
    await _still_working(alice, bob, "caps")


@async_test(timeout=60)
async def test_bytes_split_across_many_writes(server):
    bob = await server.client("bob", resource="split")
    body = "split ✂ ünïcödé 🎉 across writes"

    def slow_client():
        r = server.raw()
        # The whole login, one byte per write.
        r.restart_parser()
        r.send_split(stream_header(server.domain), 1)
        r.wait_features()
        r.send_split("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", 1)
        r.wait_tag("{urn:ietf:params:xml:ns:xmpp-tls}proceed")
        r.wrap_tls()
        r.restart_parser()
        r.send_split(stream_header(server.domain), 1)
        r.wait_features()
        cred = base64.b64encode(b"\0dave\0" + server.password("dave").encode()).decode()
        r.send_split(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{cred}</auth>", 1)
        ok = r.wait_stanza(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")))
        assert ok.tag == q(NS_SASL, "success"), to_str(ok)
        r.restart_parser()
        r.send_split(stream_header(server.domain), 1)
        r.wait_features()
        r.send_split(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'><resource>slow"
                     f"</resource></bind></iq>", 1)
        ans = r.wait_iq("b1")
        assert ans.get("type") == "result", to_str(ans)
        # A message with multi-byte characters, one byte per write with pauses, so that
        # UTF-8 sequences are cut across reads on the server.
        r.send_split(f"<message to='{bob.boundjid.full}' type='chat'><body>{body}</body>"
                     f"</message>", 1, delay=0.002)
        assert r.ping().get("type") == "result"

    await in_thread(slow_client)
    m = await bob.next_message()
    assert m["body"] == body
    assert m["from"].full == server.jid("dave", "slow")


@async_test(timeout=40)
async def test_pipelined_stanzas(server):
    bob = await server.client("bob", resource="pipe")

    def pipelined():
        r = server.raw()
        r.open_stream()
        r.starttls()
        r.open_stream()
        ok = r.auth_plain("dave", server.password("dave"))
        assert ok.tag == q(NS_SASL, "success")
        # Restart, bind, session, pings and messages in one write.
        r.restart_parser()
        ping = f"<ping xmlns='{NS_PING}'/>"
        r.send(stream_header(server.domain)
               + f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'><resource>pipe</resource>"
                 f"</bind></iq>"
               + f"<iq type='set' id='sess'><session xmlns='{NS_SESSION}'/></iq>"
               + "".join(f"<iq type='get' id='p{i}' to='{server.domain}'>{ping}</iq>"
                         for i in range(5))
               + "".join(f"<message to='{bob.boundjid.full}' type='chat'><body>m{i}</body>"
                         f"</message>" for i in range(5))
               + f"<iq type='get' id='last' to='{server.domain}'>{ping}</iq>")
        r.wait_features()
        ids = []
        while "last" not in ids:
            el = r.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "iq"))
            assert el.get("type") == "result", to_str(el)
            ids.append(el.get("id"))
        assert ids == ["bind", "sess"] + [f"p{i}" for i in range(5)] + ["last"], ids

    await in_thread(pipelined)
    got = [(await bob.next_message())["body"] for _ in range(5)]
    assert got == [f"m{i}" for i in range(5)]


@async_test(timeout=60)
async def test_stalled_half_stanza_does_not_delay_others(server):
    alice, bob = await _pair(server)
    staller = server.raw()
    await in_thread(staller.login, "carol", server.password("carol"), "staller")
    staller.send(f"<message to='{bob.boundjid.full}' type='chat'><body>par")
    header_staller = server.raw()
    header_staller.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:st")

    worst = 0.0
    for i in range(10):
        t0 = time.monotonic()
        alice.send_message(mto=bob.boundjid.full, mbody=f"q{i}", mtype="chat")
        m = await bob.next_message(timeout=3)
        assert m["body"] == f"q{i}"
        bob.send_message(mto=alice.boundjid.full, mbody=f"a{i}", mtype="chat")
        m = await alice.next_message(timeout=3)
        assert m["body"] == f"a{i}"
        worst = max(worst, time.monotonic() - t0)
    assert worst < 2.0, f"a round trip took {worst:.2f} s next to a stalled peer"

    # The stalled stanza was kept: finishing it delivers it whole.
    staller.send("tial</body></message>")
    m = await bob.next_message()
    assert m["body"] == "partial"
    assert m["from"].full == server.jid("carol", "staller")


@async_test(timeout=60)
async def test_idle_client_is_pinged_and_dropped(make_server):
    srv = make_server(overrides=["limits.idle_timeout=10", "limits.ping_timeout=5"])
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import StanzaPath

    responsive = await srv.client("bob", resource="awake")
    pings_seen = []
    responsive.register_handler(Callback("count pings", StanzaPath("iq@type=get/ping"),
                                         lambda iq: pings_seen.append(iq["from"].full)))
    silent = srv.raw()
    await in_thread(silent.login, "alice", srv.password("alice"), "asleep")
    t0 = time.monotonic()

    def sleeper():
        ping = silent.wait_stanza(
            lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get"
            and e.find(q(NS_PING, "ping")) is not None, timeout=16, what="server ping")
        t_ping = time.monotonic() - t0
        silent.wait_closed(timeout=12)
        return ping, t_ping, time.monotonic() - t0

    ping, t_ping, t_closed = await in_thread(sleeper)
    assert ping.get("from") in (srv.domain, None), to_str(ping)
    assert 8 <= t_ping <= 15, f"server pinged after {t_ping:.1f} s (idle_timeout=10)"
    assert t_closed - t_ping <= 9, \
        f"closed {t_closed - t_ping:.1f} s after the ping (ping_timeout=5)"
    assert t_closed <= 22, f"silent client dropped only after {t_closed:.1f} s"
    # The responsive client was pinged too, answered, and is still here.
    assert pings_seen, "the responsive client was never pinged"
    assert responsive.connected
    await responsive.ping_server()
    stream_errs = [to_str(e) for e in silent.stanzas if e.tag == q(NS_STREAM, "error")]
    assert all("connection-timeout" in e for e in stream_errs), stream_errs


def test_handshake_timeout_drops_unauthenticated_connections(make_server):
    srv = make_server(overrides=["limits.handshake_timeout=2"])
    silent = srv.raw()                 # never sends a byte
    opened = srv.raw()
    opened.open_stream()               # opens the stream, never authenticates
    tls = srv.raw()
    tls.open_stream()
    tls.starttls()
    tls.open_stream()                  # TLS up, never authenticates
    t0 = time.monotonic()
    done = srv.raw()
    done.login("alice", srv.password("alice"), "in-time")
    for r in (silent, opened, tls):
        r.wait_closed(timeout=8)
    assert time.monotonic() - t0 <= 8
    # A connection that logged in within the limit is not touched by it.
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
    assert done.ping().get("type") == "result"
    assert not done.closed
