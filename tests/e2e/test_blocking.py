"""Blocking Command (XEP-0191, urn:xmpp:blocking): the block list, pushes, messages from and
to blocked JIDs (live and offline), unblocking one or all, the list surviving a restart."""

import os
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from msg_util import (MSG, NS_BLOCK_ERR, NS_BLOCKING, block, blocklist,  # noqa: E402
                      bodies, collect_msgs, online, send_msg, sync, unblock, wait_error,
                      wait_msg)
from raw_stream import NS_CLIENT, NS_DISCO_INFO, q, stanza_error_condition, to_str  # noqa: E402


def pushes(r, within=0.5):
    return [e for e in r.collect(within)
            if e.tag == q(NS_CLIENT, "iq") and e.get("type") == "set"
            and (e.find(q(NS_BLOCKING, "block")) is not None
                 or e.find(q(NS_BLOCKING, "unblock")) is not None)]


def test_server_advertises_blocking(server):
    r = server.raw_login("alice", "disco")
    ans = r.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.domain)
    assert NS_BLOCKING in {f.get("var") for f in ans.iter(q(NS_DISCO_INFO, "feature"))}


def test_block_and_unblock(make_server):
    srv = make_server()
    alice = online(srv, "alice", "main")
    other = online(srv, "alice", "other")  # asked for the list: gets pushes
    quiet = online(srv, "alice", "quiet")  # never asked: no pushes
    bob = online(srv, "bob", "b")
    carol = online(srv, "carol", "c")
    assert blocklist(alice) == []
    assert blocklist(other) == []

    block(alice, srv.jid("bob"))
    assert blocklist(alice) == [srv.jid("bob")]
    p = pushes(other)
    assert len(p) == 1 and p[0].get("to") == other.jid, [to_str(e) for e in p]
    items = [i.get("jid") for i in p[0].iter(q(NS_BLOCKING, "item"))]
    assert items == [srv.jid("bob")]
    assert pushes(quiet, 0.3) == []
    # the client acknowledges the push
    other.send(f"<iq type='result' id='{p[0].get('id')}'/>")

    # bob's messages never arrive; he is told service-unavailable
    i = send_msg(bob, srv.jid("alice"), "let me in")
    e = wait_error(bob, i)
    assert stanza_error_condition(e) == ("cancel", "service-unavailable"), to_str(e)
    send_msg(bob, alice.jid, "to the full jid")
    sync(bob)
    for r in (alice, other, quiet):
        got = [m for m in collect_msgs(r, 0.3) if m.get("type") != "error"]
        assert not got, [to_str(m) for m in got]
    # IQs both ways are answered as if nobody were there
    for frm, to in ((bob, alice.jid), (alice, bob.jid), (bob, srv.jid("alice"))):
        ans = frm.iq("get", "<query xmlns='jabber:iq:version'/>", to=to)
        assert stanza_error_condition(ans) == ("cancel", "service-unavailable"), to_str(ans)
    # carol is fine
    send_msg(carol, alice.jid, "hello from carol")
    wait_msg(alice, "hello from carol")

    # alice cannot write to bob
    i = send_msg(alice, bob.jid, "can you hear me")
    e = wait_error(alice, i)
    assert stanza_error_condition(e) == ("cancel", "not-acceptable"), to_str(e)
    assert e.find(f"{q(NS_CLIENT, 'error')}/{q(NS_BLOCK_ERR, 'blocked')}") is not None
    assert not [m for m in collect_msgs(bob, 0.3) if m.get("type") != "error"]

    # unblock restores
    unblock(alice, srv.jid("bob"))
    assert blocklist(alice) == []
    p = pushes(other)
    assert len(p) == 1 and p[0].find(q(NS_BLOCKING, "unblock")) is not None
    send_msg(bob, alice.jid, "back again")
    wait_msg(alice, "back again")
    send_msg(alice, bob.jid, "welcome back")
    wait_msg(bob, "welcome back")


def test_blocked_while_offline_and_after_restart(make_server):
    srv = make_server()
    alice = online(srv, "alice", "a")
    block(alice, srv.jid("bob"), "evil.example")
    alice.close()
    time.sleep(0.3)
    bob = online(srv, "bob", "b")
    carol = online(srv, "carol", "c")
    i = send_msg(bob, srv.jid("alice"), "stored?")
    e = wait_error(bob, i)
    assert stanza_error_condition(e)[1] == "service-unavailable", to_str(e)
    send_msg(carol, srv.jid("alice"), "stored for alice")
    sync(carol)
    bob.close()
    carol.close()
    srv.restart()
    alice = online(srv, "alice", "again")
    assert blocklist(alice) == sorted([srv.jid("bob"), "evil.example"])
    got = [m for m in collect_msgs(alice, 1.0) if m.tag == MSG and m.get("type") != "error"]
    assert bodies(got) == ["stored for alice"]
    bob = online(srv, "bob", "b2")
    i = send_msg(bob, alice.jid, "still blocked")
    wait_error(bob, i)
    # unblock everything
    unblock(alice)
    assert blocklist(alice) == []
    send_msg(bob, alice.jid, "free")
    wait_msg(alice, "free")


def test_full_jid_item_and_bad_requests(server):
    alice = online(server, "dave", "x")
    bob1 = online(server, "bob", "one")
    bob2 = online(server, "bob", "two")
    block(alice, bob1.jid)
    i = send_msg(bob1, alice.jid, "from one")
    wait_error(bob1, i)
    send_msg(bob2, alice.jid, "from two")
    wait_msg(alice, "from two")
    unblock(alice, bob1.jid)
    bad = alice.iq("set", f"<block xmlns='{NS_BLOCKING}'/>")
    assert stanza_error_condition(bad)[1] == "bad-request", to_str(bad)
    bad = alice.iq("set", f"<block xmlns='{NS_BLOCKING}'><item jid='a@b@c'/></block>")
    assert stanza_error_condition(bad)[1] == "jid-malformed", to_str(bad)
    bad = alice.iq("get", f"<block xmlns='{NS_BLOCKING}'/>")
    assert bad.get("type") == "error"


def test_presence_goes_unavailable_when_blocked(server):
    alice = online(server, "carol", "pres")
    bob = online(server, "bob", "pres")
    sync(bob)
    bob.collect(0.3)
    block(alice, server.jid("bob"))
    p = bob.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "presence")
                        and e.get("type") == "unavailable" and e.get("from") == alice.jid,
                        what="unavailable presence from the blocking account")
    assert p.get("to") == bob.jid
    unblock(alice, server.jid("bob"))
