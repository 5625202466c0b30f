"""Message Archive Management (XEP-0313, urn:xmpp:mam:2 with #extended) with Result Set
Management paging (XEP-0059): archived for both parties, stanza-ids stable between live
delivery and the archive, filters, paging forward and backward, preferences, hints,
retention."""

import os
import sqlite3
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from msg_util import (NS_CHATSTATES, NS_HINTS, NS_MAM, mam_query,  # noqa: E402
                      online, rsm_of, send_msg, set_prefs, stanza_ids, sync, wait_msg)
from raw_stream import NS_DISCO_INFO, q, stanza_error_condition, to_str  # noqa: E402


def archive_bodies(results):
    return [m.findtext(q("jabber:client", "body")) for _id, m, _s in results]


def test_disco_features_on_the_account(server):
    r = server.raw_login("alice", "disco")
    ans = r.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.jid("alice"))
    feats = {f.get("var") for f in ans.iter(q(NS_DISCO_INFO, "feature"))}
    assert NS_MAM in feats and NS_MAM + "#extended" in feats, feats
    assert "urn:xmpp:sid:0" in feats, feats


def test_form(server):
    r = server.raw_login("alice", "form")
    ans = r.iq("get", f"<query xmlns='{NS_MAM}'/>")
    assert ans.get("type") == "result", to_str(ans)
    vars_ = {f.get("var") for f in ans.iter(q("jabber:x:data", "field"))}
    assert {"FORM_TYPE", "with", "start", "end", "before-id", "after-id"} <= vars_


def test_both_parties_and_stable_stanza_id(server):
    a = online(server, "alice", "sid")
    b = online(server, "bob", "sid")
    send_msg(a, b.jid, "archived for both")
    live = wait_msg(b, "archived for both")
    ours = [i for by, i in stanza_ids(live) if by == server.jid("bob")]
    assert len(ours) == 1, to_str(live)
    sync(a)
    time.sleep(0.3)  # the archive write commits
    _, res_b, fin = mam_query(b, {"with": server.jid("alice")}, {"before": ""})
    assert fin is not None
    match = [(i, m) for i, m, _ in res_b if m.findtext(q("jabber:client", "body"))
             == "archived for both"]
    assert match and match[-1][0] == ours[0], (ours, [i for i, _, _ in res_b])
    _, res_a, _ = mam_query(a, {"with": server.jid("bob")}, {"before": ""})
    assert [i for i, m, _ in res_a if m.findtext(q("jabber:client", "body"))
            == "archived for both"][-1] == ours[0]
    m = match[-1][1]
    assert m.get("from") == a.jid and m.get("to") == b.jid, to_str(m)


def test_paging_forward_and_backward_every_message_once(make_server):
    srv = make_server()
    a = online(srv, "alice", "p")
    b = online(srv, "bob", "p")
    n = 53
    for i in range(n):
        send_msg(a, b.jid, f"page #{i}")
    for i in range(n):
        wait_msg(b, f"page #{i}")
    sync(a)
    time.sleep(0.5)
    want = [f"page #{i}" for i in range(n)]

    # forward
    seen, after, pages = [], None, 0
    while True:
        rsm = {"max": 7}
        if after:
            rsm["after"] = after
        ans, res, fin = mam_query(a, rsm=rsm)
        assert fin is not None, to_str(ans)
        first, index, last, count = rsm_of(fin)
        assert count == n
        if res:
            assert first == res[0][0] and last == res[-1][0]
            assert index == len(seen)
        seen += archive_bodies(res)
        pages += 1
        if fin.get("complete") == "true":
            break
        assert res, "an empty page that is not complete"
        after = last
        assert pages < 20
    assert seen == want
    assert pages == 8

    # backward from the last page
    seen, before, pages = [], "", 0
    while True:
        ans, res, fin = mam_query(a, rsm={"max": 10, "before": before})
        first, index, last, count = rsm_of(fin)
        assert count == n
        seen = archive_bodies(res) + seen
        if res:
            assert index == n - len(seen)
        pages += 1
        if fin.get("complete") == "true":
            break
        before = first
        assert pages < 20
    assert seen == want
    assert pages == 6

    # the same for bob's archive, with a filter
    _, res, fin = mam_query(b, {"with": srv.jid("alice")}, {"max": 100})
    assert archive_bodies(res) == want and fin.get("complete") == "true"
    assert all(stamp for _, _, stamp in res)


def metadata(r):
    ans = r.iq("get", f"<metadata xmlns='{NS_MAM}'/>")
    assert ans.get("type") == "result", to_str(ans)
    md = ans.find(q(NS_MAM, "metadata"))
    ends = [md.find(q(NS_MAM, n)) for n in ("start", "end")]
    return [(e.get("id"), e.get("timestamp")) if e is not None else None for e in ends]


def test_ids_and_time_filters(make_server):
    srv = make_server()
    a = online(srv, "alice", "f")
    b = online(srv, "bob", "f")
    c = online(srv, "carol", "f")
    assert metadata(a) == [None, None], "an empty archive"
    for i in range(6):
        send_msg(a, b.jid if i % 2 == 0 else c.jid, f"f{i}")
    sync(a)
    time.sleep(0.4)
    _, res, fin = mam_query(a)
    ids = [i for i, _, _ in res]
    assert archive_bodies(res) == [f"f{i}" for i in range(6)]
    (first, t0), (last, t1) = metadata(a)
    assert (first, last) == (ids[0], ids[5]) and t0 <= t1, metadata(a)
    _, res, _ = mam_query(a, {"after-id": ids[1], "before-id": ids[5]})
    assert archive_bodies(res) == ["f2", "f3", "f4"]
    _, res, _ = mam_query(a, {"with": srv.jid("carol")})
    assert archive_bodies(res) == ["f1", "f3", "f5"]
    _, res, _ = mam_query(a, {"with": c.jid})
    assert archive_bodies(res) == ["f1", "f3", "f5"], "with a full JID"
    _, res, _ = mam_query(a, {"with": srv.jid("carol", "other")})
    assert res == []
    _, res, _ = mam_query(a, {"start": "2000-01-01T00:00:00Z", "end": "2001-01-01T00:00:00Z"})
    assert res == []
    _, res, _ = mam_query(a, {"start": "2000-01-01T00:00:00Z"})
    assert len(res) == 6
    for bad in ({"after-id": "no-such-id"}, None):
        ans, _, _ = mam_query(a, bad, {"after": "no-such-id"} if bad is None else None)
        assert stanza_error_condition(ans)[1] == "item-not-found", to_str(ans)
    ans, _, _ = mam_query(a, {"start": "yesterday"})
    assert stanza_error_condition(ans)[1] == "bad-request", to_str(ans)
    # max=0 counts only
    ans, res, fin = mam_query(a, rsm={"max": 0})
    assert res == [] and rsm_of(fin)[3] == 6
    # page size is capped
    ans, res, fin = mam_query(a, rsm={"max": 100000})
    assert len(res) == 6 and fin.get("complete") == "true"


def test_what_is_not_archived(make_server):
    srv = make_server()
    a = online(srv, "alice", "h")
    b = online(srv, "bob", "h")
    send_msg(a, b.jid, "kept")
    send_msg(a, b.jid, "not kept", extra=f"<no-permanent-store xmlns='{NS_HINTS}'/>")
    send_msg(a, b.jid, "not kept either", extra=f"<no-store xmlns='{NS_HINTS}'/>")
    send_msg(a, b.jid, None, extra=f"<active xmlns='{NS_CHATSTATES}'/>")
    send_msg(a, b.jid, None, extra="<received xmlns='urn:xmpp:receipts' id='x'/>")
    send_msg(a, b.jid, "corrected", extra="<replace id='x' xmlns='urn:xmpp:message-correct:0'/>")
    send_msg(a, b.jid, "headline", type_="headline")
    send_msg(a, b.jid, None, extra=f"<store xmlns='{NS_HINTS}'/><retract "
                                   "xmlns='urn:xmpp:message-retract:1' id='x'/>")
    send_msg(a, b.jid, None, extra="<retract xmlns='urn:xmpp:message-retract:1' id='y'/>")
    send_msg(a, b.jid, None, extra="<reactions xmlns='urn:xmpp:reactions:0' id='x'>"
                                   "<reaction>\U0001F44D</reaction></reactions>")
    for _ in range(10):
        wait_msg(b)
    sync(a)
    time.sleep(0.4)
    _, res, _ = mam_query(a)
    assert archive_bodies(res) == ["kept", "corrected", None, None, None], \
        [to_str(m) for _, m, _ in res]
    assert res[2][1].find(q("urn:xmpp:message-retract:1", "retract")) is not None
    assert res[3][1].find(q("urn:xmpp:message-retract:1", "retract")).get("id") == "y"
    assert res[4][1].find(q("urn:xmpp:reactions:0", "reactions")) is not None


def test_prefs(make_server):
    srv = make_server()
    a = online(srv, "alice", "prefs")
    b = online(srv, "bob", "prefs")
    c = online(srv, "carol", "prefs")
    ans = a.iq("get", f"<prefs xmlns='{NS_MAM}'/>")
    p = ans.find(q(NS_MAM, "prefs"))
    assert p is not None and p.get("default") == "always", to_str(ans)

    ans = set_prefs(a, "never", always=[srv.jid("carol")])
    p = ans.find(q(NS_MAM, "prefs"))
    assert p.get("default") == "never"
    assert [j.text for j in p.iter(q(NS_MAM, "jid"))] == [srv.jid("carol")]
    send_msg(a, b.jid, "to bob, never")
    send_msg(a, c.jid, "to carol, always")
    wait_msg(b)
    wait_msg(c)
    set_prefs(a, "roster")  # neither is in alice's roster
    send_msg(a, b.jid, "to bob, roster")
    wait_msg(b)
    set_prefs(a, "always", never=[srv.jid("bob")])
    send_msg(a, b.jid, "to bob, never list")
    send_msg(a, c.jid, "to carol, default")
    wait_msg(b)
    wait_msg(c)
    sync(a)
    time.sleep(0.4)
    _, res, _ = mam_query(a)
    assert archive_bodies(res) == ["to carol, always", "to carol, default"]
    # bob's own archive keeps what he received: his prefs are his
    _, res, _ = mam_query(b)
    assert archive_bodies(res) == ["to bob, never", "to bob, roster", "to bob, never list"]
    bad = a.iq("set", f"<prefs xmlns='{NS_MAM}' default='sometimes'/>")
    assert stanza_error_condition(bad)[1] == "bad-request"


def test_offline_messages_are_archived_with_their_stanza_id(make_server):
    srv = make_server()
    a = online(srv, "alice", "off")
    send_msg(a, srv.jid("bob"), "while you were away")
    sync(a)
    time.sleep(0.3)
    b = online(srv, "bob", "back")
    m = wait_msg(b, "while you were away")
    ours = [i for by, i in stanza_ids(m) if by == srv.jid("bob")]
    _, res, _ = mam_query(b)
    assert [i for i, _, _ in res] == ours


def test_retention(make_server):
    srv = make_server(overrides=["archive.retention_days=1"], start=False)
    srv.start()
    a = online(srv, "alice", "ret")
    b = online(srv, "bob", "ret")
    send_msg(a, b.jid, "recent")
    wait_msg(b)
    sync(a)
    time.sleep(0.3)
    a.close()
    b.close()
    # age alice's rows by two days directly in the database, then let expiry run at start
    assert not srv.stop()
    db = sqlite3.connect(srv.data_dir / "tern.db")
    db.execute("UPDATE archive SET stamp = stamp - 2 * 86400 * 1000000 WHERE user = 'alice'")
    db.commit()
    db.close()
    srv.start(create_users=False)
    a = online(srv, "alice", "ret2")
    b = online(srv, "bob", "ret2")
    time.sleep(0.5)
    _, res, _ = mam_query(a)
    assert res == []
    _, res, _ = mam_query(b)
    assert archive_bodies(res) == ["recent"]


def test_prefs_roster_follows_subscriptions(make_server):
    srv = make_server()
    a = online(srv, "alice", "r")
    b = online(srv, "bob", "r")
    c = online(srv, "carol", "r")
    # alice subscribes to bob's presence and bob approves: bob is in alice's roster
    a.send(f"<presence type='subscribe' to='{srv.jid('bob')}'/>")
    b.wait_stanza(lambda e: e.tag == q("jabber:client", "presence")
                  and e.get("type") == "subscribe", what="subscription request")
    b.send(f"<presence type='subscribed' to='{srv.jid('alice')}'/>")
    sync(b)
    time.sleep(0.5)
    set_prefs(a, "roster")
    send_msg(a, b.jid, "to a contact")
    send_msg(a, c.jid, "to a stranger")
    wait_msg(b, "to a contact")
    wait_msg(c, "to a stranger")
    sync(a)
    time.sleep(0.4)
    _, res, _ = mam_query(a)
    assert archive_bodies(res) == ["to a contact"]
