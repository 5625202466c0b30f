"""Sessions: resource binding (server-chosen and requested), the legacy session IQ, a second
login with the same full JID replacing the first (<conflict/>), and `from` stamped by the
server whatever the client wrote."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import (NS_BIND, NS_CLIENT, NS_PING, NS_SESSION, q,  # noqa: E402
                        to_str)
from xmpp_client import async_test, in_thread  # noqa: E402


@async_test(timeout=40)
async def test_server_chosen_resource(server):
    a1 = await server.client("alice")
    a2 = await server.client("alice")
    for c in (a1, a2):
        assert c.boundjid.bare == server.jid("alice")
        assert c.boundjid.resource, f"no resource in {c.boundjid.full}"
    assert a1.boundjid.resource != a2.boundjid.resource, "two sessions got the same resource"
    # Both sessions are live and reachable on their own full JID.
    bob = await server.client("bob")
    for c in (a1, a2):
        bob.send_message(mto=c.boundjid.full, mbody=f"to {c.boundjid.resource}", mtype="chat")
    for c in (a1, a2):
        m = await c.next_message()
        assert m["body"] == f"to {c.boundjid.resource}"


def test_server_chosen_resource_raw(server):
    r = server.raw()
    jid = r.login("alice", server.password("alice"))
    bare, _, resource = jid.partition("/")
    assert bare == server.jid("alice") and resource, jid


@pytest.mark.parametrize("resource", ["laptop", "tëléphone ☎"])
@async_test(timeout=30)
async def test_requested_resource_honoured(server, resource):
    c = await server.client("alice", resource=resource)
    assert c.boundjid.full == server.jid("alice", resource)
    await c.ping_server()


def test_legacy_session_iq(server):
    r = server.raw()
    feats = r.open_stream()
    r.starttls()
    r.open_stream()
    r.auth_plain("bob", server.password("bob"))
    feats = r.open_stream()
    assert feats.find(q(NS_BIND, "bind")) is not None
    sess = feats.find(q(NS_SESSION, "session"))
    if sess is not None:
        # RFC 6121 clients may skip it only when the server says so.
        assert sess.find(q(NS_SESSION, "optional")) is not None, \
            "session feature advertised as mandatory: " + to_str(feats)
    jid = r.bind("legacy")
    ans = r.iq("set", f"<session xmlns='{NS_SESSION}'/>", id_="sess1")
    assert ans.get("type") == "result", "legacy session IQ not answered: " + to_str(ans)
    assert ans.get("id") == "sess1"
    assert ans.get("to") in (None, jid), to_str(ans)
    assert r.ping().get("type") == "result"


@async_test(timeout=40)
async def test_resource_conflict_replaces_old_session(server):
    first = server.raw()
    await in_thread(first.login, "alice", server.password("alice"), "dup")
    assert first.jid == server.jid("alice", "dup")
    second = await server.client("alice", resource="dup")
    assert second.boundjid.full == server.jid("alice", "dup")
    await in_thread(first.expect_stream_error, "conflict", 5.0)
    # The new session owns the full JID now.
    bob = await server.client("bob")
    bob.send_message(mto=server.jid("alice", "dup"), mbody="for the new one", mtype="chat")
    m = await second.next_message()
    assert m["body"] == "for the new one"
    await second.ping_server()


@async_test(timeout=40)
async def test_resource_conflict_slixmpp_both_sides(server):
    first = await server.client("dave", resource="same")
    second = await server.client("dave", resource="same")
    await first.wait_ended(5.0)
    assert "conflict" in first.stream_errors, first.stream_errors
    assert second.connected
    await second.ping_server()


@async_test(timeout=40)
async def test_from_is_stamped_by_server(server):
    bob = await server.client("bob", resource="inbox")
    alice = server.raw()
    await in_thread(alice.login, "alice", server.password("alice"), "desk")
    spoofs = [
        None,
        "mallory@example.test/evil",
        server.jid("bob", "inbox"),
        server.jid("alice"),
        server.jid("alice", "other"),
        server.domain,
    ]
    for i, spoof in enumerate(spoofs):
        from_attr = f" from='{spoof}'" if spoof else ""
        alice.send(f"<message to='{bob.boundjid.full}' type='chat'{from_attr}>"
                   f"<body>n{i}</body></message>")
    for i, spoof in enumerate(spoofs):
        m = await bob.next_message()
        assert m["body"] == f"n{i}"
        assert m["from"].full == server.jid("alice", "desk"), \
            f"from {spoof!r} arrived as {m['from']}"
    # An IQ with a forged from is answered to the real sender.
    alice.send(f"<iq type='get' id='forged2' to='{server.domain}' "
               f"from='{server.jid('bob', 'inbox')}'><ping xmlns='{NS_PING}'/></iq>")
    ans = await in_thread(alice.wait_iq, "forged2")
    assert ans.get("type") == "result", to_str(ans)
    assert ans.get("to") == server.jid("alice", "desk"), to_str(ans)
    assert ans.tag == q(NS_CLIENT, "iq")
