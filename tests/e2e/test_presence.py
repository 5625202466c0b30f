"""Presence (RFC 6121 §3-4): the subscription handshake and its states on both sides,
requests to offline users, pre-approval, unsubscribing and item removal, probes at login,
broadcasts, unavailable presence on logout and on a lost connection, directed presence."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import NS_CLIENT, q, to_str  # noqa: E402
from roster_util import (befriend, error_of, login, new_users, no_presence, online_pair,  # noqa: E402
                         roster_items, roster_of, roster_remove, roster_set, send_presence, sync,
                         wait_presence, wait_push, Watcher)
from xmpp_client import async_test  # noqa: E402


def bare(r):
    return r.jid.split("/")[0]


@async_test(timeout=60)
async def test_handshake_ends_in_both_with_slixmpp(server):
    a, b = new_users(server, 2)
    ja, jb = server.jid(a), server.jid(b)
    ca = await server.client(a, password=a)
    cb = await server.client(b, password=b)
    wa, wb = Watcher(ca), Watcher(cb)
    await roster_items(ca)
    await roster_items(cb)
    ca.send_presence(pstatus="a here")
    cb.send_presence(pstatus="b here")
    await wa.presence("available", ca.boundjid.full)
    await wb.presence("available", cb.boundjid.full)

    ca.send_presence(pto=jb, ptype="subscribe")
    req = await wb.presence("subscribe", ja)
    assert req["from"].full == ja and req["to"].bare == jb  # bare JIDs both ways
    item, _ = await wa.push(jb)
    assert (item["subscription"], item["ask"]) == ("none", "subscribe")

    cb.send_presence(pto=ja, ptype="subscribed")
    await wa.presence("subscribed", jb)
    item, _ = await wa.push(jb)
    assert (item["subscription"], item["ask"]) == ("to", "")
    item, _ = await wb.push(ja)
    assert item["subscription"] == "from"
    # once approved, the contact's presence comes at once (RFC 6121 §3.1.5)
    p = await wa.presence("available", cb.boundjid.full)
    assert p["status"] == "b here"

    cb.send_presence(pto=ja, ptype="subscribe")
    await wa.presence("subscribe", jb)
    ca.send_presence(pto=jb, ptype="subscribed")
    await wb.presence("subscribed", ja)
    assert (await wb.presence("available", ca.boundjid.full))["status"] == "a here"

    ra, rb = await roster_items(ca), await roster_items(cb)
    assert ra[jb]["subscription"] == "both" and rb[ja]["subscription"] == "both"
    assert not ra[jb]["ask"] and not rb[ja]["ask"]

    # and presence now flows both ways
    cb.send_presence(pshow="away", pstatus="gone fishing")
    p = await wa.presence("available", cb.boundjid.full)
    assert (p["show"], p["status"]) == ("away", "gone fishing")


def test_request_to_offline_user_waits_for_login(server):
    a, b = new_users(server, 2)
    ra = login(server, a, available=True)
    jb = server.jid(b)
    send_presence(ra, "subscribe", to=jb, status="let me in")
    assert wait_push(ra, jb)["ask"] == "subscribe"

    # b logs in: the request is not a roster item, but comes with the initial presence
    rb = login(server, b)
    assert roster_of(rb) == {}
    no_presence(rb, "subscribe", within=0.5)
    send_presence(rb)
    req = wait_presence(rb, "subscribe", frm=bare(ra))
    assert req.findtext(q(NS_CLIENT, "status")) == "let me in"
    assert req.get("to") == jb

    # unanswered, it comes again at the next login
    rb.close()
    rb = login(server, b, available=False)
    send_presence(rb)
    wait_presence(rb, "subscribe", frm=bare(ra))
    send_presence(rb, "subscribed", to=bare(ra))
    wait_presence(ra, "subscribed", frm=jb)
    wait_presence(ra, None, frm=rb.jid)  # b's presence follows the approval
    assert roster_of(ra)[jb]["subscription"] == "to"
    assert roster_of(rb)[bare(ra)]["subscription"] == "from"

    # answered: not again
    rb.close()
    rb = login(server, b, available=True)
    no_presence(rb, "subscribe")


def test_answers_to_an_offline_user_change_their_roster(server):
    a, b, ja, jb, ra, rb = online_pair(server)
    send_presence(ra, "subscribe", to=jb)
    wait_presence(rb, "subscribe", frm=ja)
    ra.close()  # a is offline when b answers
    sync(rb)
    send_presence(rb, "subscribed", to=ja)
    assert wait_push(rb, ja)["subscription"] == "from"
    ra = login(server, a)
    assert roster_of(ra)[jb]["subscription"] == "to"

    # and a cancellation while a is away takes effect too
    ra.close()
    sync(rb)
    send_presence(rb, "unsubscribed", to=ja)
    assert wait_push(rb, ja)["subscription"] == "none"
    ra = login(server, a)
    assert roster_of(ra)[jb]["subscription"] == "none"


def test_subscribed_pushed_to_all_interested_resources(server):
    a, b = new_users(server, 2)
    ja, jb = server.jid(a), server.jid(b)
    a1 = login(server, a, "one", available=True)
    a2 = login(server, a, "two")
    rb = login(server, b, available=True)
    send_presence(a1, "subscribe", to=jb)
    for r in (a1, a2):
        assert wait_push(r, jb)["ask"] == "subscribe"
    wait_presence(rb, "subscribe", frm=ja)
    send_presence(rb, "subscribed", to=ja)
    for r in (a1, a2):
        assert wait_push(r, jb)["subscription"] == "to"
    wait_presence(a1, "subscribed", frm=jb)
    no_presence(a2, "subscribed", within=0.5)  # a2 is not available: stanzas go to a1 only


def test_preapproval(server):
    a, b, ja, jb, ra, rb = online_pair(server)
    # b approves before a asks (RFC 6121 §3.4)
    send_presence(rb, "subscribed", to=ja)
    it = wait_push(rb, ja)
    assert (it["subscription"], it["approved"]) == ("none", "true")
    no_presence(ra, "subscribed")  # a pre-approval is not sent
    # a asks: approved at once, b sees no request
    send_presence(ra, "subscribe", to=jb)
    wait_presence(ra, "subscribed", frm=jb)
    wait_presence(ra, None, frm=rb.jid)
    it = wait_push(rb, ja)
    assert (it["subscription"], it["approved"]) == ("from", None)
    no_presence(rb, "subscribe")
    assert roster_of(ra)[jb]["subscription"] == "to"

    # a pre-approval can be cancelled with unsubscribed
    c, d = new_users(server, 2)
    rc = login(server, c, available=True)
    rd = login(server, d, available=True)
    send_presence(rd, "subscribed", to=server.jid(c))
    assert wait_push(rd, server.jid(c))["approved"] == "true"
    send_presence(rd, "unsubscribed", to=server.jid(c))
    it = wait_push(rd, server.jid(c))
    assert (it["subscription"], it["approved"]) == ("none", None)
    send_presence(rc, "subscribe", to=server.jid(d))
    wait_presence(rd, "subscribe", frm=server.jid(c))
    no_presence(rc, "subscribed")


def test_deny_request(server):
    a, b, ja, jb, ra, rb = online_pair(server)
    send_presence(ra, "subscribe", to=jb)
    wait_presence(rb, "subscribe", frm=ja)
    wait_push(ra, jb)
    send_presence(rb, "unsubscribed", to=ja)
    wait_presence(ra, "unsubscribed", frm=jb)
    it = wait_push(ra, jb)
    assert (it["subscription"], it["ask"]) == ("none", None)
    no_presence(ra, None, frm=jb)
    # the denied request is gone: not redelivered at b's next login
    rb.close()
    rb = login(server, b, available=True)
    no_presence(rb, "subscribe")


def test_unsubscribe_and_unsubscribed(server):
    a, b, ja, jb, ra, rb = online_pair(server)
    befriend(ra, rb)

    # a stops following b: b's resources go unavailable for a
    send_presence(ra, "unsubscribe", to=jb)
    assert wait_push(ra, jb)["subscription"] == "from"
    wait_presence(rb, "unsubscribe", frm=ja)
    assert wait_push(rb, ja)["subscription"] == "to"
    wait_presence(ra, "unavailable", frm=rb.jid)
    # b's updates no longer reach a, a's still reach b
    send_presence(rb, status="b again")
    no_presence(ra, None, frm=jb)
    send_presence(ra, status="a again")
    wait_presence(rb, None, frm=ra.jid)

    # a cancels b's subscription: a's resources go unavailable for b
    send_presence(ra, "unsubscribed", to=jb)
    assert wait_push(ra, jb)["subscription"] == "none"
    wait_presence(rb, "unsubscribed", frm=ja)
    assert wait_push(rb, ja)["subscription"] == "none"
    wait_presence(rb, "unavailable", frm=ra.jid)
    send_presence(ra, status="a alone")
    no_presence(rb, None, frm=ja)


def test_remove_item_unsubscribes_both_ways(server):
    a, b, ja, jb, ra, rb = online_pair(server)
    befriend(ra, rb)
    ans = roster_remove(ra, jb)
    assert ans.get("type") == "result", to_str(ans)
    assert wait_push(ra, jb)["subscription"] == "remove"
    wait_presence(rb, "unsubscribe", frm=ja)
    wait_presence(rb, "unsubscribed", frm=ja)
    wait_presence(rb, "unavailable", frm=ra.jid)
    assert roster_of(rb)[ja]["subscription"] == "none"
    assert jb not in roster_of(ra)
    send_presence(ra, status="nobody sees this")
    no_presence(rb, None, frm=ja)


def test_probes_at_login_show_contacts_online(server):
    a, b = new_users(server, 2)
    ra = login(server, a, available=True)
    rb1 = login(server, b, "one", available=True)
    befriend(ra, rb1)
    rb2 = login(server, b, "two")
    send_presence(rb1, status="first", priority=5)
    send_presence(rb2, status="second")
    wait_presence(ra, None, frm=rb2.jid)
    ra.close()

    ra = login(server, a)
    send_presence(ra)
    got = {}
    for _ in range(2):
        p = wait_presence(ra, None, frm=bare(rb1))
        got[p.get("from")] = p.findtext(q(NS_CLIENT, "status"))
        assert p.get("to") == ra.jid
    assert got == {rb1.jid: "first", rb2.jid: "second"}


def test_own_resources_see_each_other(server):
    (a,) = new_users(server, 1)
    r1 = login(server, a, "one", available=True)
    r2 = login(server, a, "two", roster=False)
    send_presence(r2, status="two here")
    p = wait_presence(r1, None, frm=r2.jid)
    assert p.findtext(q(NS_CLIENT, "status")) == "two here"
    wait_presence(r2, None, frm=r2.jid)
    wait_presence(r2, None, frm=r1.jid)  # the other resource's presence, like a probe answer


def test_broadcast_reaches_subscribers_only(server):
    a, b, c = new_users(server, 3)
    ra = login(server, a, available=True)
    rb = login(server, b, available=True)
    rc = login(server, c, available=True)
    befriend(ra, rb)
    send_presence(ra, status="busy", priority=3)
    p = wait_presence(rb, None, frm=ra.jid)
    assert p.findtext(q(NS_CLIENT, "status")) == "busy"
    assert p.get("to") == bare(rb)
    no_presence(rc, None, frm=bare(ra))
    # a bound resource that never sent presence gets none either
    rb2 = login(server, b, "quiet", roster=False)
    send_presence(ra, status="still busy")
    wait_presence(rb, None, frm=ra.jid)
    no_presence(rb2, None, frm=bare(ra))


def test_unavailable_on_logout_and_lost_connection(server):
    a, b, _, _, ra, rb = online_pair(server)
    befriend(ra, rb)
    # an explicit unavailable
    send_presence(rb, "unavailable", status="bye")
    p = wait_presence(ra, "unavailable", frm=rb.jid)
    assert p.findtext(q(NS_CLIENT, "status")) == "bye"
    send_presence(rb)
    wait_presence(ra, None, frm=rb.jid)
    # the TCP connection dies without </stream:stream>
    rb.sock.close()
    p = wait_presence(ra, "unavailable", frm=rb.jid, timeout=10)
    assert p.get("to") == bare(ra)
    # a clean logout of a session that was never available sends nothing
    rq = login(server, b, "quiet")
    rq.send("</stream:stream>")
    rq.wait_closed()
    no_presence(ra, "unavailable", frm=rq.jid)


def test_directed_presence_and_its_unavailable(server):
    a, b, c = new_users(server, 3)
    ra = login(server, a, available=True)
    rb = login(server, b, available=True)
    rc = login(server, c, available=True)
    # to a full JID, and to a bare JID (all available resources)
    send_presence(ra, to=rb.jid, status="just for b")
    p = wait_presence(rb, None, frm=ra.jid)
    assert p.findtext(q(NS_CLIENT, "status")) == "just for b"
    assert p.get("to") == rb.jid
    send_presence(ra, to=bare(rc), status="for c")
    assert wait_presence(rc, None, frm=ra.jid).get("to") == bare(rc)
    # directed presence does not make them subscribers
    send_presence(ra, status="broadcast")
    no_presence(rb, None, frm=bare(ra))
    no_presence(rc, None, frm=bare(ra))
    # at the end, both hear that a is gone
    ra.sock.close()
    wait_presence(rb, "unavailable", frm=ra.jid, timeout=10)
    wait_presence(rc, "unavailable", frm=ra.jid, timeout=10)


def test_directed_unavailable_takes_the_jid_off_the_list(server):
    a, b, _, _, ra, rb = online_pair(server)
    send_presence(ra, to=rb.jid)
    wait_presence(rb, None, frm=ra.jid)
    send_presence(ra, "unavailable", to=rb.jid)
    wait_presence(rb, "unavailable", frm=ra.jid)
    ra.send("</stream:stream>")
    ra.wait_closed()
    no_presence(rb, "unavailable", frm=ra.jid)


def test_client_probes(server):
    a, b, c = new_users(server, 3)
    ra = login(server, a, available=True)
    rb = login(server, b, available=True)
    rc = login(server, c, available=True)
    befriend(ra, rb)
    send_presence(rb, status="probe me")
    wait_presence(ra, None, frm=rb.jid)
    send_presence(ra, "probe", to=bare(rb))
    p = wait_presence(ra, None, frm=rb.jid)
    assert p.findtext(q(NS_CLIENT, "status")) == "probe me"
    # not subscribed: unsubscribed, and nothing about b
    send_presence(rc, "probe", to=bare(rb))
    wait_presence(rc, "unsubscribed", frm=bare(rb))
    no_presence(rc, None, frm=bare(rb))
    # subscribed but offline: unavailable
    rb.close()
    wait_presence(ra, "unavailable", frm=rb.jid)
    send_presence(ra, "probe", to=bare(rb))
    wait_presence(ra, "unavailable", frm=bare(rb))


def test_bad_type_and_strange_targets(server):
    a, b = new_users(server, 2)
    ra = login(server, a, available=True)
    ra.send(f"<presence type='bogus' to='{server.jid(b)}' id='p1'/>")
    err = ra.wait_stanza(lambda e: e.get("id") == "p1")
    assert error_of(err) == "bad-request"
    # subscriptions to oneself or to the server are ignored
    send_presence(ra, "subscribe", to=bare(ra))
    send_presence(ra, "subscribe", to=server.domain)
    sync(ra)
    assert roster_of(ra) == {}
    # to an account that does not exist: the item is made, nothing else happens
    send_presence(ra, "subscribe", to=server.jid("ghost"))
    assert wait_push(ra, server.jid("ghost"))["ask"] == "subscribe"


def test_other_domains(server):
    (a,) = new_users(server, 1)
    ra = login(server, a, available=True)
    ra.send("<presence type='subscribe' to='x@elsewhere.example' id='s1'/>")
    err = ra.wait_stanza(lambda e: e.get("id") == "s1")
    assert error_of(err) == "remote-server-not-found"
    assert "x@elsewhere.example" not in roster_of(ra)
    # items for other domains are kept; removing them sends nothing anywhere
    assert roster_set(ra, "x@elsewhere.example", name="X").get("type") == "result"
    assert roster_remove(ra, "x@elsewhere.example").get("type") == "result"


def test_new_subscriber_gets_the_last_pep_items(server):
    from pep_util import announce, notify_features, publish, wait_event
    nick_ns = "http://jabber.org/protocol/nick"
    a, b = new_users(server, 2)
    ja, jb = server.jid(a), server.jid(b)
    ra = login(server, a, available=True)
    ans = ra.iq("set", publish(nick_ns, f"<nick xmlns='{nick_ns}'>Ann</nick>"))
    assert ans.get("type") == "result", to_str(ans)
    rb = login(server, b)
    announce(rb, notify_features(nick_ns))  # available, interested in nicks
    no_presence(rb, None, frm=ja, within=0.3)
    send_presence(rb, "subscribe", to=ja)
    wait_presence(ra, "subscribe", frm=jb)
    send_presence(ra, "subscribed", to=jb)
    ev = wait_event(rb, nick_ns)
    assert ev.get("from") == ja
    assert "Ann" in to_str(ev)


def test_pending_requests_are_capped(make_server):
    # with roster.max_items=2 an account holds two items and at most two pending requests
    srv = make_server(overrides=["roster.max_items=2"])
    ja, jb = srv.jid("alice"), srv.jid("bob")
    ra = login(srv, "alice")
    for x in ("x1", "x2"):  # a full roster leaves the room for requests as it is
        assert roster_set(ra, srv.jid(x)).get("type") == "result"
    ra.close()
    rb, rc, rd = (login(srv, u, available=True) for u in ("bob", "carol", "dave"))
    for r in (rb, rc):
        send_presence(r, "subscribe", to=ja)
        assert wait_push(r, ja)["ask"] == "subscribe"
    rd.send(f"<presence type='subscribe' to='{ja}' id='full'/>")
    err = rd.wait_stanza(lambda e: e.get("id") == "full" or e.get("type") == "error")
    assert error_of(err) == "policy-violation", to_str(err)
    assert err.get("from") == ja
    assert ja not in roster_of(rd), "the refused request left an item behind"
    ra = login(srv, "alice", available=True)
    got = sorted(p.get("from") for p in (wait_presence(ra, "subscribe") for _ in range(2)))
    assert got == [jb, srv.jid("carol")]
    no_presence(ra, "subscribe", frm=srv.jid("dave"))
    # approving puts the contact in the roster: refused while it is full
    ra.send(f"<presence type='subscribed' to='{jb}' id='ok1'/>")
    err = ra.wait_stanza(lambda e: e.get("type") == "error")
    assert error_of(err) == "not-allowed"
    no_presence(rb, "subscribed", frm=ja)
    assert roster_remove(ra, srv.jid("x1")).get("type") == "result"
    send_presence(ra, "subscribed", to=jb)
    wait_presence(rb, "subscribed", frm=ja)
    assert roster_of(ra)[jb]["subscription"] == "from"


def test_large_request_kept_without_payload(server):
    a, b = new_users(server, 2)
    ra = login(server, a, available=True)
    send_presence(ra, "subscribe", to=server.jid(b), status="s" * 3000)
    wait_push(ra, server.jid(b))
    rb = login(server, b, available=True)
    req = wait_presence(rb, "subscribe", frm=bare(ra))
    assert req.find(q(NS_CLIENT, "status")) is None and req.get("to") == server.jid(b)


def test_directed_presence_list_is_capped(server):
    a, b = new_users(server, 2)
    ra = login(server, a, available=True)
    rb = login(server, b, available=True)
    for i in range(128):  # fills the list (PRESENCE_DIRECTED_MAX) with JIDs nobody uses
        send_presence(ra, to=server.jid(f"ghost{i}"))
    send_presence(ra, to=rb.jid)
    wait_presence(rb, None, frm=ra.jid)  # still delivered
    ra.send("</stream:stream>")
    ra.wait_closed()
    no_presence(rb, "unavailable", frm=ra.jid)  # but not remembered for the end
