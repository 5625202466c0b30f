"""Client state indication (XEP-0352): while a client says it is inactive, presence and
chat-state-only messages wait (the latest presence per sender), anything else flushes them
first, <active/> flushes them, and stream management counts them only once sent."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import NS_CLIENT, q, to_str  # noqa: E402
from sm_util import NS_CSI, NS_SM, Sm, body_of, message  # noqa: E402

NS_CHATSTATES = "http://jabber.org/protocol/chatstates"


def inactive_pair(srv, tag, sm=False):
    """alice (raw, inactive, optionally with stream management) and bob (raw)."""
    a = srv.raw_login("alice", f"csi-{tag}")
    s = Sm(a)
    if sm:
        s.enable(resume=False)
    a.send(f"<inactive xmlns='{NS_CSI}'/>")
    b = srv.raw_login("bob", f"csi-{tag}")
    return s, b


def presence(to, show):
    return f"<presence to='{to}'><show>{show}</show></presence>"


def chat_state(to):
    return f"<message to='{to}' type='chat'><composing xmlns='{NS_CHATSTATES}'/></message>"


def is_presence(el):
    return el.tag == q(NS_CLIENT, "presence")


def is_chat_state(el):
    return el.tag == q(NS_CLIENT, "message") and el.find(q(NS_CHATSTATES, "composing")) is not None


def test_active_inactive_are_accepted(server):
    a = server.raw_login("alice", "states")
    for state in ("inactive", "inactive", "active", "active", "inactive"):
        a.send(f"<{state} xmlns='{NS_CSI}'/>")
    assert a.ping().get("type") == "result"
    # an inactive client still gets what matters at once
    b = server.raw_login("bob", "states")
    b.send(message(a.jid, "now"))
    assert body_of(a.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "message"))) == "now"


def test_unknown_csi_element_is_a_stream_error(server):
    a = server.raw_login("alice", "bogus")
    a.send(f"<sleepy xmlns='{NS_CSI}'/>")
    a.expect_stream_error("unsupported-stanza-type")


def test_presence_held_until_active(server):
    s, b = inactive_pair(server, "hold")
    jid = s.raw.jid
    for show in ("away", "xa", "dnd"):
        b.send(presence(jid, show))
    b.ping()
    s.drain(1.0)
    assert not any(is_presence(e) for e in s.inbox), \
        "presence reached an inactive client: " + ", ".join(to_str(e) for e in s.inbox)
    s.raw.send(f"<active xmlns='{NS_CSI}'/>")
    p = s.stanza(is_presence, what="held presence")
    assert p.findtext(q(NS_CLIENT, "show")) == "dnd", "not the latest presence: " + to_str(p)
    s.drain(0.5)
    assert not any(is_presence(e) for e in s.inbox), "older presences were not dropped"


def test_message_flushes_held_in_order(server):
    s, b = inactive_pair(server, "flush")
    jid = s.raw.jid
    b.send(chat_state(jid))
    b.ping()
    s.drain(0.5)
    assert not s.inbox, "a chat state reached an inactive client"
    b.send(message(jid, "wake up"))
    first = s.stanza(what="first stanza")
    second = s.stanza(what="second stanza")
    assert is_chat_state(first), "held chat state did not come first: " + to_str(first)
    assert body_of(second) == "wake up", to_str(second)


def test_message_flushes_held_presence(server):
    s, b = inactive_pair(server, "flushp")
    jid = s.raw.jid
    b.send(presence(jid, "away"))
    b.ping()
    s.drain(0.5)
    assert not s.inbox
    b.send(message(jid, "wake up"))
    first = s.stanza(what="first stanza")
    assert is_presence(first), "held presence did not come first: " + to_str(first)
    assert body_of(s.stanza(what="second stanza")) == "wake up"


def test_chat_states_held_and_overflow_flushes(server):
    s, b = inactive_pair(server, "over")
    jid = s.raw.jid
    state = chat_state(jid)
    for _ in range(50):
        b.send(state)
    b.ping()
    s.drain(0.5)
    assert not s.inbox, "chat states reached an inactive client"
    for _ in range(60):  # past the cap of 100 held: everything comes, in order
        b.send(state)
    got = [s.stanza(what=f"chat state {i}") for i in range(101)]
    assert all(is_chat_state(e) for e in got)


def test_held_stanzas_count_when_sent(server):
    s, b = inactive_pair(server, "count", sm=True)
    b.send(chat_state(s.raw.jid))
    b.ping()
    s.drain(0.5)
    assert s.h == 0
    # nothing was sent yet: acknowledging one stanza would be too many
    s.send_ack(0)
    assert s.request() == 0
    s.raw.send(f"<active xmlns='{NS_CSI}'/>")
    s.stanza(is_chat_state, what="chat state after <active/>")
    assert s.h == 1
    s.send_ack()
    assert s.request() == 0  # the ack of 1 was accepted: the stream is still up
    s.raw.send(f"<a xmlns='{NS_SM}' h='2'/>")
    s.raw.expect_stream_error("undefined-condition")
