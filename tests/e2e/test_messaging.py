"""Routing and the server's own IQ handlers: 1:1 messages to full and bare JIDs (bare ->
highest priority resource), XEP-0199 ping, XEP-0030 disco#info / disco#items, unhandled IQs
answered with service-unavailable, and error stanzas never answered with errors."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, q,  # noqa: E402
                        stanza_error_condition, to_str)
from xmpp_client import IqError, async_test  # noqa: E402


@async_test(timeout=40)
async def test_messages_both_ways_full_jid(server):
    alice = await server.client("alice", resource="a1")
    bob = await server.client("bob", resource="b1")
    body = "héllo bob ☃ <&> \"quoted\" 'single'"
    alice.send_message(mto=bob.boundjid.full, mbody=body, mtype="chat")
    m = await bob.next_message()
    assert m["body"] == body
    assert m["from"].full == alice.boundjid.full
    assert m["to"].full == bob.boundjid.full
    assert m["type"] == "chat"

    bob.send_message(mto=alice.boundjid.full, mbody="hi alice", mtype="chat")
    m = await alice.next_message()
    assert (m["body"], m["from"].full, m["to"].full) == ("hi alice", bob.boundjid.full,
                                                         alice.boundjid.full)


@async_test(timeout=40)
async def test_message_order_is_kept(server):
    alice = await server.client("alice")
    bob = await server.client("bob")
    n = 50
    for i in range(n):
        alice.send_message(mto=bob.boundjid.full, mbody=f"#{i}", mtype="chat")
        bob.send_message(mto=alice.boundjid.full, mbody=f"#{i}", mtype="chat")
    for c in (alice, bob):
        got = [(await c.next_message())["body"] for _ in range(n)]
        assert got == [f"#{i}" for i in range(n)]


async def _available(client, priority):
    """Sends presence with a priority; the ping round trip after it makes sure the server
    has processed it (stanzas of one connection are handled in order)."""
    client.send_presence(ppriority=priority)
    await client.ping_server()


@async_test(timeout=40)
async def test_message_to_bare_jid_goes_to_highest_priority(server):
    alice = await server.client("alice")
    low = await server.client("bob", resource="low")
    high = await server.client("bob", resource="high")
    await _available(low, 1)
    await _available(high, 5)

    alice.send_message(mto=server.jid("bob"), mbody="to the bare jid", mtype="chat")
    m = await high.next_message()
    assert m["body"] == "to the bare jid"
    assert m["from"].full == alice.boundjid.full
    await low.expect_no_message(within=0.7)

    # Priorities change with presence: now "low" wins.
    await _available(low, 10)
    alice.send_message(mto=server.jid("bob"), mbody="again", mtype="chat")
    m = await low.next_message()
    assert m["body"] == "again"
    await high.expect_no_message(within=0.7)

    # And a message to a full JID still goes to exactly that resource.
    alice.send_message(mto=high.boundjid.full, mbody="just high", mtype="chat")
    assert (await high.next_message())["body"] == "just high"
    await low.expect_no_message(within=0.5)


@async_test(timeout=30)
async def test_ping_server_slixmpp(server):
    c = await server.client("alice")
    rtt = await c.ping_server()
    assert rtt is not None


def test_ping_server_raw(server):
    r = server.raw_login("alice", "pinger")
    ans = r.iq("get", f"<ping xmlns='{NS_PING}'/>", to=server.domain, id_="ping-1")
    assert ans.get("type") == "result", to_str(ans)
    assert ans.get("id") == "ping-1"
    assert ans.get("from") in (server.domain, None), to_str(ans)
    assert ans.get("to") in (r.jid, None), to_str(ans)
    assert len(ans) == 0, "ping result with a payload: " + to_str(ans)


@async_test(timeout=30)
async def test_disco_info_server(server):
    c = await server.client("alice")
    iq = await c["xep_0030"].get_info(jid=server.domain, timeout=5)
    features = set(iq["disco_info"]["features"])
    for f in ("urn:xmpp:ping", NS_DISCO_INFO, NS_DISCO_ITEMS):
        assert f in features, f"{f} missing from the server's disco#info: {sorted(features)}"
    identities = {(cat, typ) for cat, typ, _lang, _name in iq["disco_info"]["identities"]}
    assert ("server", "im") in identities, identities


@async_test(timeout=30)
async def test_disco_items_server(server):
    c = await server.client("alice")
    iq = await c["xep_0030"].get_items(jid=server.domain, timeout=5)
    assert iq["type"] == "result"
    assert iq["from"].full == server.domain
    assert iq.xml.find(q(NS_DISCO_ITEMS, "query")) is not None


def test_disco_info_account_bare_jid(server):
    r = server.raw_login("alice", "discoverer")
    ans = r.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.jid("alice"))
    assert ans.get("type") == "result", to_str(ans)
    query = ans.find(q(NS_DISCO_INFO, "query"))
    assert query is not None, to_str(ans)
    idents = {(i.get("category"), i.get("type")) for i in query.findall(q(NS_DISCO_INFO,
                                                                           "identity"))}
    assert ("account", "registered") in idents, to_str(ans)
    feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
    assert NS_DISCO_INFO in feats, to_str(ans)
    ans = r.iq("get", f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=server.jid("alice"))
    assert ans.get("type") == "result", to_str(ans)
    assert ans.find(q(NS_DISCO_ITEMS, "query")) is not None, to_str(ans)


UNKNOWN = "<query xmlns='urn:example:tern:unknown'/>"


@pytest.mark.parametrize("type_", ["get", "set"])
@pytest.mark.parametrize("target", ["server", "own-bare-jid", "no-to"])
def test_unknown_iq_is_service_unavailable(server, type_, target):
    r = server.raw_login("alice", f"unknown-{type_}-{target}")
    to = {"server": server.domain, "own-bare-jid": server.jid("alice"), "no-to": None}[target]
    ans = r.iq(type_, UNKNOWN, to=to, id_="u1")
    assert ans.get("type") == "error", to_str(ans)
    assert ans.get("id") == "u1"
    err_type, cond = stanza_error_condition(ans)
    assert cond == "service-unavailable", to_str(ans)
    assert err_type == "cancel", to_str(ans)
    # The stream is fine afterwards.
    assert r.ping().get("type") == "result"


@async_test(timeout=30)
async def test_unknown_iq_slixmpp(server):
    c = await server.client("alice")
    iq = c.Iq(stype="get", sto=server.domain)
    iq.append(iq.xml.makeelement("{urn:example:tern:unknown}query", {}))
    with pytest.raises(IqError) as ei:
        await iq.send(timeout=5)
    assert ei.value.iq["error"]["condition"] == "service-unavailable"


def test_error_stanzas_are_never_answered_with_errors(server):
    r = server.raw_login("alice", "errors")
    d = server.domain
    err = ("<error type='cancel'><service-unavailable "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
    r.send(
        f"<iq type='error' id='e1' to='{d}'>{err}</iq>"
        f"<iq type='error' id='e2'>{err}</iq>"
        f"<iq type='result' id='e3' to='{d}'/>"
        f"<iq type='error' id='e4' to='nobody@{d}/gone'>{err}</iq>"
        f"<iq type='result' id='e5' to='nobody@{d}/gone'/>"
        f"<message type='error' id='e6' to='{d}'>{err}</message>"
        f"<message type='error' id='e7' to='nobody@{d}/gone'>{err}</message>"
        f"<message type='error' id='e8' to='nobody@{d}'>{err}</message>"
        f"<presence type='error' id='e9' to='nobody@{d}'>{err}</presence>"
    )
    ans = r.ping()  # processed after all of the above
    assert ans.get("type") == "result"
    stray = r.collect(1.0)
    stray = [to_str(e) for e in stray]
    assert not stray, f"error stanzas were answered: {stray}"
    assert not r.closed


@async_test(timeout=30)
async def test_message_error_is_routed_not_bounced(server):
    """An error message to an online user reaches that user and produces no error back."""
    alice = await server.client("alice")
    bob = await server.client("bob")
    msg = alice.make_message(mto=bob.boundjid.full, mbody="oops", mtype="error")
    msg["error"]["condition"] = "item-not-found"
    msg["error"]["type"] = "cancel"
    msg.send()
    got = await bob.next_message_error()
    assert got["from"].full == alice.boundjid.full
    assert got["error"]["condition"] == "item-not-found"
    await alice.ping_server()
    assert alice.message_errors.empty(), "the error message bounced back to its sender"
