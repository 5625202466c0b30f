"""Message Carbons (XEP-0280, urn:xmpp:carbons:2): received and sent copies reach the other
devices that enabled carbons; private messages and no-copy hints are left out; disable
stops them."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from msg_util import (NS_CARBONS, NS_HINTS, carbon_of, collect_msgs,  # noqa: E402
                      enable_carbons, online, send_msg, sync, wait_msg)
from raw_stream import NS_DISCO_INFO, q, to_str  # noqa: E402


def wait_carbon(r, kind, body, timeout=5.0):
    el = r.wait_stanza(lambda e: (lambda m: m is not None and
                                  m.findtext(q("jabber:client", "body")) == body)
                       (carbon_of(e, kind)), timeout, what=f"{kind} carbon of {body!r}")
    return el


def no_carbons(r, within=0.6):
    got = [to_str(m) for m in collect_msgs(r, within)
           if carbon_of(m, "received") is not None or carbon_of(m, "sent") is not None]
    assert not got, got


def test_server_advertises_carbons(server):
    r = server.raw_login("alice", "disco")
    ans = r.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.domain)
    assert NS_CARBONS in {f.get("var") for f in ans.iter(q(NS_DISCO_INFO, "feature"))}


def test_received_and_sent_carbons(server):
    phone = online(server, "alice", "phone")
    laptop = online(server, "alice", "laptop")
    plain = online(server, "alice", "old-client")
    bob = online(server, "bob", "b")
    enable_carbons(phone)
    enable_carbons(laptop)

    send_msg(bob, phone.jid, "hi phone")
    wait_msg(phone, "hi phone")
    c = wait_carbon(laptop, "received", "hi phone")
    assert c.get("from") == server.jid("alice"), to_str(c)
    fwd = carbon_of(c, "received")
    assert fwd.get("from") == bob.jid and fwd.get("to") == phone.jid
    no_carbons(phone, 0.3)
    no_carbons(plain, 0.3)

    send_msg(laptop, bob.jid, "from my laptop")
    wait_msg(bob, "from my laptop")
    c = wait_carbon(phone, "sent", "from my laptop")
    assert c.get("from") == server.jid("alice")
    fwd = carbon_of(c, "sent")
    assert fwd.get("from") == laptop.jid and fwd.get("to") == bob.jid
    no_carbons(laptop, 0.3)
    no_carbons(plain, 0.3)


def test_bare_jid_message_copies_the_other_resources(server):
    top = online(server, "carol", "top", priority=10)
    low = online(server, "carol", "low", priority=1)
    enable_carbons(top)
    enable_carbons(low)
    bob = online(server, "bob", "bare")
    send_msg(bob, server.jid("carol"), "to the bare jid")
    wait_msg(top, "to the bare jid")
    wait_carbon(low, "received", "to the bare jid")
    no_carbons(top, 0.3)


def test_private_and_no_copy_are_not_copied(server):
    a1 = online(server, "dave", "one")
    a2 = online(server, "dave", "two")
    enable_carbons(a1)
    enable_carbons(a2)
    bob = online(server, "bob", "p")
    send_msg(a1, bob.jid, "private", extra=f"<private xmlns='{NS_CARBONS}'/>"
                                            f"<no-copy xmlns='{NS_HINTS}'/>")
    send_msg(bob, a1.jid, "no copy please", extra=f"<no-copy xmlns='{NS_HINTS}'/>")
    send_msg(bob, a1.jid, "headline", type_="headline")
    wait_msg(bob, "private")
    wait_msg(a1, "no copy please")
    wait_msg(a1, "headline")
    no_carbons(a2)
    # and a normal one still is
    send_msg(bob, a1.jid, "normal")
    wait_carbon(a2, "received", "normal")


def test_disable(server):
    a1 = online(server, "alice", "d1")
    a2 = online(server, "alice", "d2")
    enable_carbons(a1)
    enable_carbons(a2)
    enable_carbons(a2, on=False)
    bob = online(server, "bob", "d")
    send_msg(bob, a1.jid, "after disable")
    wait_msg(a1, "after disable")
    sync(bob)
    no_carbons(a2)
    bad = a1.iq("get", f"<enable xmlns='{NS_CARBONS}'/>")
    assert bad.get("type") == "error"
