"""Offline messages (XEP-0160): stored while the account has no available resource,
delivered in order with a delay stamp (XEP-0203) at the next initial presence, then gone;
the quota, storage off, hints (XEP-0334), negative priority."""

import os
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from msg_util import (NS_CHATSTATES, NS_DELAY, NS_HINTS, bodies, carbon_of,  # noqa: E402
                      collect_msgs, enable_carbons, online, send_msg, sync, wait_error,
                      wait_msg)
from raw_stream import q, stanza_error_condition, to_str  # noqa: E402
from sm_util import Sm, body_of  # noqa: E402

SERVER_OVERRIDES = ["offline.max_messages=500"]


def test_200_messages_in_order_at_login(server):
    bob = online(server, "bob", "sender")
    for i in range(200):
        send_msg(bob, server.jid("carol"), f"offline #{i}")
    sync(bob)
    assert not [m for m in collect_msgs(bob, 0.3) if m.get("type") == "error"]

    carol = server.raw_login("carol", "phone")
    # nothing before initial presence
    assert not collect_msgs(carol, 0.5)
    carol.send("<presence/>")
    got = [wait_msg(carol, timeout=10) for _ in range(200)]
    assert bodies(got) == [f"offline #{i}" for i in range(200)]
    for m in got:
        assert m.get("from") == bob.jid, to_str(m)
        d = m.find(q(NS_DELAY, "delay"))
        assert d is not None and d.get("from") == server.domain and d.get("stamp"), to_str(m)
    carol.close()

    # delivered once: a new session finds nothing
    again = online(server, "carol", "laptop")
    assert not [m for m in collect_msgs(again, 1.0) if m.get("type") != "error"]


def test_no_body_and_no_store_are_not_stored(server):
    bob = online(server, "bob", "hints")
    i1 = send_msg(bob, server.jid("dave"), "do not keep", extra=f"<no-store xmlns='{NS_HINTS}'/>")
    e = wait_error(bob, i1)
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)
    i2 = send_msg(bob, server.jid("dave"), None, extra=f"<composing xmlns='{NS_CHATSTATES}'/>")
    e = wait_error(bob, i2)
    assert stanza_error_condition(e)[1] == "service-unavailable", to_str(e)
    send_msg(bob, server.jid("dave"), None, type_="headline",
             extra="<subject>news</subject>")
    send_msg(bob, server.jid("dave"), "kept")
    sync(bob)
    dave = online(server, "dave", "d")
    got = [m for m in collect_msgs(dave, 1.0) if m.get("type") != "error"]
    assert bodies(got) == ["kept"], [to_str(m) for m in got]


def test_unknown_user_is_service_unavailable(server):
    bob = online(server, "bob", "unknown")
    i = send_msg(bob, server.jid("nobody"), "hello?")
    e = wait_error(bob, i)
    assert e.get("from") == server.jid("nobody"), to_str(e)
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)


def test_negative_priority_gets_no_offline_messages(server):
    bob = online(server, "bob", "neg")
    send_msg(bob, server.jid("alice"), "wait for a real client")
    sync(bob)
    neg = online(server, "alice", "bot", priority=-1)
    assert not [m for m in collect_msgs(neg, 0.8) if m.get("type") != "error"]
    # a message to the bare JID while only a negative-priority resource is online is stored
    send_msg(bob, server.jid("alice"), "second")
    sync(bob)
    assert not [m for m in collect_msgs(neg, 0.5) if m.get("type") != "error"]
    real = online(server, "alice", "phone")
    got = [wait_msg(real) for _ in range(2)]
    assert bodies(got) == ["wait for a real client", "second"]


def test_quota(make_server):
    srv = make_server(overrides=["offline.max_messages=3"])
    bob = online(srv, "bob", "q")
    ids = [send_msg(bob, srv.jid("alice"), f"q{i}") for i in range(4)]
    e = wait_error(bob, ids[3])
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)
    errs = [m for m in collect_msgs(bob, 0.5) if m.get("type") == "error"]
    assert not errs, [to_str(m) for m in errs]
    alice = online(srv, "alice", "a")
    got = [wait_msg(alice) for _ in range(3)]
    assert bodies(got) == ["q0", "q1", "q2"]
    # the delivered ones are gone, so there is room again
    alice.close()
    i = send_msg(bob, srv.jid("alice"), "room again")
    sync(bob)
    assert not [m for m in collect_msgs(bob, 0.5) if m.get("id") == i]


def test_storage_off(make_server):
    srv = make_server(overrides=["offline.max_messages=0"])
    bob = online(srv, "bob", "off")
    i = send_msg(bob, srv.jid("alice"), "nobody keeps this")
    e = wait_error(bob, i)
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)


def test_unacked_messages_of_a_dropped_session_are_kept(server):
    """A session that ends with messages it never acknowledged: without stream management
    nothing is unacknowledged, so this checks the plain case — a message sent to a resource
    that is gone by then falls back to the bare JID and is stored."""
    bob = online(server, "bob", "late")
    carol = online(server, "carol", "gone")
    jid = carol.jid
    carol.close()
    time.sleep(0.5)  # the server sees the close
    sync(bob)
    send_msg(bob, jid, "after you left")
    sync(bob)
    back = online(server, "carol", "back")
    assert bodies([wait_msg(back)]) == ["after you left"]


def sm_session(srv, user, resource, priority):
    """A raw session with stream management on (no resumption) and initial presence."""
    r = srv.raw()
    r.login(user, srv.password(user), resource)
    sm = Sm(r)
    sm.enable(resume=False)
    r.send(f"<presence><priority>{priority}</priority></presence>")
    return sm


def test_unacked_messages_go_to_other_resources_or_offline(make_server):
    srv = make_server()
    bob = online(srv, "bob", "b")
    # another resource without carbons gets what the dropped session never acknowledged
    phone = sm_session(srv, "carol", "phone", 5)
    laptop = online(srv, "carol", "laptop", priority=1)
    sync(phone.raw)
    send_msg(bob, srv.jid("carol"), "first")
    assert [body_of(m) for m in phone.messages(1)] == ["first"]
    no_first = [m for m in collect_msgs(laptop, 0.3) if bodies([m]) == ["first"]]
    assert not no_first, "the lower priority resource got the bare-JID message at once"
    phone.drop()
    wait_msg(laptop, "first", timeout=10)

    # one with carbons had a copy already: it does not get the message twice
    enable_carbons(laptop)
    phone = sm_session(srv, "carol", "phone2", 5)
    sync(phone.raw)
    send_msg(bob, srv.jid("carol"), "second")
    assert [body_of(m) for m in phone.messages(1)] == ["second"]
    c = laptop.wait_stanza(lambda e: carbon_of(e, "received") is not None, what="carbon")
    assert bodies([carbon_of(c, "received")]) == ["second"]
    phone.drop()
    assert not [m for m in collect_msgs(laptop, 1.5) if bodies([m]) == ["second"]]

    # with nobody else online it is stored
    laptop.close()
    phone = sm_session(srv, "carol", "phone3", 5)
    sync(phone.raw)
    send_msg(bob, phone.raw.jid, "third")
    assert [body_of(m) for m in phone.messages(1)] == ["third"]
    phone.drop()
    time.sleep(1.0)
    back = online(srv, "carol", "back")
    assert bodies([wait_msg(back)]) == ["third"]
