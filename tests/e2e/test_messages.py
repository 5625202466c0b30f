"""Message routing by RFC 6121 §8.5 (bare and full JIDs, each type), stanza-ids (XEP-0359),
and extensions that pass through untouched (chat states, receipts, corrections,
retractions)."""

import os
import xml.etree.ElementTree as ET

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from msg_util import (NS_CHATSTATES, NS_SID, bodies, collect_msgs, online,  # noqa: E402
                      send_msg, stanza_ids, sync, wait_error, wait_msg)
from raw_stream import NS_CLIENT, q, stanza_error_condition, to_str  # noqa: E402


def no_msgs(r, within=0.6):
    got = [to_str(m) for m in collect_msgs(r, within)]
    assert not got, f"{r.jid} got unexpected messages: {got}"


def test_equal_top_priority_all_get_it(server):
    a = online(server, "alice", "p")
    b1 = online(server, "bob", "one", priority=5)
    b2 = online(server, "bob", "two", priority=5)
    b3 = online(server, "bob", "low", priority=1)
    send_msg(a, server.jid("bob"), "to both")
    for r in (b1, b2):
        m = wait_msg(r, "to both")
        assert m.get("to") == server.jid("bob"), to_str(m)
        assert m.get("from") == a.jid
    no_msgs(b3)
    # normal type too
    send_msg(a, server.jid("bob"), "normal", type_=None)
    wait_msg(b1, "normal")
    wait_msg(b2, "normal")
    no_msgs(b3, 0.3)


def test_headline_to_all_non_negative(server):
    a = online(server, "alice", "h")
    b1 = online(server, "bob", "h1", priority=5)
    b2 = online(server, "bob", "h2", priority=0)
    neg = online(server, "bob", "h3", priority=-1)
    send_msg(a, server.jid("bob"), "news", type_="headline")
    wait_msg(b1, "news")
    wait_msg(b2, "news")
    no_msgs(neg)


def test_groupchat_to_bare_jid_is_an_error(server):
    a = online(server, "alice", "g")
    online(server, "bob", "g1")
    i = send_msg(a, server.jid("bob"), "room?", type_="groupchat")
    e = wait_error(a, i)
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)


def test_unbound_full_jid(server):
    a = online(server, "alice", "u")
    b = online(server, "bob", "here", priority=1)
    gone = server.jid("bob", "gone")
    send_msg(a, gone, "chat falls back to the bare jid")
    m = wait_msg(b, "chat falls back to the bare jid")
    assert m.get("to") == gone, to_str(m)
    send_msg(a, gone, "dropped", type_="headline")
    i = send_msg(a, gone, "error", type_="groupchat")
    e = wait_error(a, i)
    assert stanza_error_condition(e)[1] == "service-unavailable"
    no_msgs(b)


def test_full_jid_reaches_that_resource_even_at_negative_priority(server):
    a = online(server, "alice", "f")
    neg = online(server, "bob", "neg", priority=-5)
    send_msg(a, neg.jid, "direct")
    wait_msg(neg, "direct")


def test_messages_without_body_still_route(server):
    a = online(server, "alice", "s")
    b = online(server, "bob", "s")
    send_msg(a, b.jid, None, extra=f"<composing xmlns='{NS_CHATSTATES}'/>")
    m = wait_msg(b)
    assert m.find(q(NS_CHATSTATES, "composing")) is not None, to_str(m)
    assert m.find(q(NS_CLIENT, "body")) is None
    assert not stanza_ids(m), "a chat state is not archived, so it has no stanza-id"


def test_pass_through_extensions(server):
    a = online(server, "alice", "x")
    b = online(server, "bob", "x")
    cases = [
        "<request xmlns='urn:xmpp:receipts'/>",
        "<replace id='m-orig' xmlns='urn:xmpp:message-correct:0'/>",
        "<retract id='m-orig' xmlns='urn:xmpp:message-retract:1'/>"
        "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
        "<store xmlns='urn:xmpp:hints'/>",
        "<markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>",
    ]
    for i, extra in enumerate(cases):
        send_msg(a, b.jid, f"body {i}", extra=extra)
        m = wait_msg(b, f"body {i}")
        sent = {el.tag for el in ET.fromstring(f"<r xmlns='jabber:client'>{extra}</r>")}
        got = {el.tag for el in m}
        assert sent <= got, f"{sorted(sent - got)} lost: {to_str(m)}"
    # a receipt (no body) passes too
    send_msg(a, b.jid, None, extra="<received xmlns='urn:xmpp:receipts' id='m1'/>")
    m = wait_msg(b)
    assert m.find(q("urn:xmpp:receipts", "received")) is not None


def test_stanza_id_stamped_and_spoofs_stripped(server):
    a = online(server, "alice", "sid")
    b = online(server, "bob", "sid")
    extra = (f"<stanza-id xmlns='{NS_SID}' by='{server.jid('bob')}' id='forged'/>"
             f"<stanza-id xmlns='{NS_SID}' by='{server.domain}' id='forged2'/>"
             f"<stanza-id xmlns='{NS_SID}' by='muc.elsewhere.example' id='theirs'/>")
    send_msg(a, b.jid, "stamp me", extra=extra)
    m = wait_msg(b, "stamp me")
    ids = stanza_ids(m)
    ours = [i for by, i in ids if by == server.jid("bob")]
    assert len(ours) == 1 and ours[0] not in ("forged",), ids
    assert ("muc.elsewhere.example", "theirs") in ids, ids
    assert ("example.test", "forged2") not in ids, ids
    # every message gets its own
    send_msg(a, b.jid, "stamp me too")
    m2 = wait_msg(b, "stamp me too")
    ours2 = [i for by, i in stanza_ids(m2) if by == server.jid("bob")]
    assert ours2 and ours2 != ours


def test_error_messages_are_not_bounced(server):
    a = online(server, "alice", "e")
    err = ("<error type='cancel'><item-not-found "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
    send_msg(a, server.jid("nobody"), None, type_="error", extra=err)
    send_msg(a, server.jid("bob", "nowhere"), None, type_="error", extra=err)
    sync(a)
    assert not collect_msgs(a, 0.5)


def test_message_to_own_bare_jid(server):
    a1 = online(server, "alice", "self1", priority=3)
    a2 = online(server, "alice", "self2", priority=1)
    a1.send("<message type='chat' id='self'><body>note to self</body></message>")
    m = wait_msg(a1, "note to self")
    assert m.get("from") == a1.jid
    assert not [x for x in collect_msgs(a2, 0.5) if bodies([x]) == ["note to self"]]


def test_order_kept_across_workers(server):
    """Fifty messages from one sender arrive in order at a recipient on any worker."""
    a = online(server, "alice", "order")
    rs = [online(server, "bob", f"o{i}") for i in range(2)]
    for r in rs:
        for i in range(50):
            send_msg(a, r.jid, f"{r.jid}#{i}")
    for r in rs:
        got = [wait_msg(r) for _ in range(50)]
        assert bodies(got) == [f"{r.jid}#{i}" for i in range(50)]
