"""Stream management (XEP-0198): enabling, counting and acknowledging stanzas both ways,
resumption after a dropped connection (on the same worker or handed to another), failures,
the end of a session that is not resumed in time, the unacked cap, and the promise that an
unacknowledged message is never dropped (it goes to offline storage)."""

import asyncio
import os
import re
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import NS_CLIENT, q, stream_error_condition, to_str  # noqa: E402
from sm_util import (NS_SM, Sm, auth_stream, body_of, failed_condition, log_count,  # noqa: E402
                     message, resume, sm_client, wait_log)
from xmpp_client import async_test, in_thread  # noqa: E402


def detached_rx(jid):
    return re.escape(jid) + r".*waiting \d+ s for the session to be resumed"


def login_sm(srv, user, resource, resume_=True, auto_ack=False):
    r = srv.raw()
    r.login(user, srv.password(user), resource)
    sm = Sm(r, auto_ack=auto_ack)
    sm.enable(resume=resume_)
    return sm


def bodies(msgs):
    return [body_of(m) for m in msgs]


def test_features_after_auth(server):
    r, feats = auth_stream(server, "alice")
    for ns, name in ((NS_SM, "sm"), ("urn:xmpp:csi:0", "csi"),
                     ("urn:xmpp:features:rosterver", "ver"),
                     ("urn:xmpp:features:pre-approval", "sub")):
        assert feats.find(q(ns, name)) is not None, f"no <{name}/> in " + to_str(feats)
    # not before authentication
    r2 = server.raw()
    feats = r2.open_stream()
    assert feats.find(q(NS_SM, "sm")) is None, to_str(feats)


def test_enable_rules(server):
    r, _ = auth_stream(server, "alice")
    sm = Sm(r)
    r.send(f"<enable xmlns='{NS_SM}'/>")
    el = sm.sm_element(["enabled", "failed"])
    assert el.tag == q(NS_SM, "failed") and failed_condition(el) == "unexpected-request", \
        "enable before bind: " + to_str(el)
    r.bind("rules")
    el = sm.enable(resume=True)
    assert el.get("resume") == "true" and el.get("id"), to_str(el)
    assert el.get("max") == "300", to_str(el)
    r.send(f"<enable xmlns='{NS_SM}'/>")
    el = sm.sm_element(["enabled", "failed"])
    assert failed_condition(el) == "unexpected-request", "second enable: " + to_str(el)
    # not resumable: no id
    sm2 = login_sm(server, "bob", "norez", resume_=False)
    assert sm2.id is None


def test_ack_counts_inbound(server):
    sm = login_sm(server, "alice", "count")
    assert sm.request() == 0
    for i in range(3):
        sm.raw.send(f"<iq type='get' id='p{i}' to='{server.domain}'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>")
    assert sm.request() == 3
    # stanzas the server answers with an error count too, and so do messages
    sm.raw.send("<iq type='get' id='bad'><nothing xmlns='urn:x-none'/></iq>")
    sm.raw.send(message(server.jid("dave"), "to an offline contact"))
    assert sm.request() == 5
    # every answer was counted by the client; acknowledging them all is accepted
    sm.stanza(lambda e: e.get("id") == "bad")
    sm.send_ack()
    assert sm.request() == 5  # still open: the ack was not too high


def test_server_requests_and_counts_outbound(server):
    sm = login_sm(server, "alice", "out")
    bob = server.raw_login("bob", "out")
    for i in range(3):
        bob.send(message(sm.raw.jid, f"m{i}"))
    assert bodies(sm.messages(3)) == ["m0", "m1", "m2"]
    sm.wait_request(since=0)  # the server asks for an acknowledgement after sending
    assert sm.h == 3
    sm.send_ack()
    # a correct count keeps the stream up: the next request comes after the next message
    n = sm.requests
    bob.send(message(sm.raw.jid, "m3"))
    sm.messages(1)
    sm.wait_request(since=n)
    sm.send_ack()
    assert sm.request() == 0


def test_ack_too_high_is_a_stream_error(server):
    sm = login_sm(server, "alice", "high")
    sm.raw.send(f"<a xmlns='{NS_SM}' h='5'/>")
    err = sm.raw.expect_stream_error("undefined-condition")
    hi = err.find(q(NS_SM, "handled-count-too-high"))
    assert hi is not None and hi.get("h") == "5" and hi.get("send-count") == "0", to_str(err)


def test_r_without_enable_is_a_stream_error(server):
    r = server.raw_login("alice", "nosm")
    r.send(f"<r xmlns='{NS_SM}'/>")
    r.expect_stream_error("unsupported-stanza-type")


def test_resume_after_drop_loses_nothing(server):
    sm = login_sm(server, "alice", "drop")
    bob = server.raw_login("bob", "drop")
    bob.send(message(sm.raw.jid, "m1"))
    assert bodies(sm.messages(1)) == ["m1"]
    n = log_count(server, detached_rx(sm.raw.jid))
    sm.drop()
    wait_log(server, detached_rx(sm.raw.jid), n + 1)
    for b in ("m2", "m3", "m4"):
        bob.send(message(sm.raw.jid, b))
    bob.ping()  # bob's messages were routed
    sm2, el = resume(server, "alice", sm.id, sm.h)
    assert el.tag == q(NS_SM, "resumed"), to_str(el)
    assert el.get("previd") == sm.id and el.get("h") == "0", to_str(el)
    assert bodies(sm2.messages(3)) == ["m2", "m3", "m4"]
    sm2.drain(0.5)
    extra = [body_of(m) for m in sm2.inbox if m.tag == q(NS_CLIENT, "message")]
    assert extra == [], f"duplicates after resumption: {extra}"
    # the resumed session works both ways, under its old full JID
    sm2.raw.send(message(bob.jid, "back"))
    got = bob.wait_stanza(lambda e: body_of(e) == "back")
    assert got.get("from") == sm.raw.jid
    assert sm2.request() == 1


def test_resume_unacked_are_sent_again(server):
    sm = login_sm(server, "alice", "again")
    bob = server.raw_login("bob", "again")
    for b in ("a", "b", "c"):
        bob.send(message(sm.raw.jid, b))
    assert bodies(sm.messages(3)) == ["a", "b", "c"]
    sm.drop()
    # the client says it handled only the first one: the others come again, in order
    sm2, el = resume(server, "alice", sm.id, 1)
    assert el.tag == q(NS_SM, "resumed"), to_str(el)
    assert bodies(sm2.messages(2)) == ["b", "c"]


def test_resume_on_any_worker(server):
    """Resume again and again: the new connection lands on either worker (the kernel spreads
    them), and both the same-worker merge and the hand-over to the other worker must work,
    with input pipelined after <resume/> handled in order by the session's new owner."""
    sm = login_sm(server, "alice", "roam")
    bob = server.raw_login("bob", "roam")
    jid = sm.raw.jid
    handed0 = log_count(server, r"resumption handed to worker")
    resumed0 = log_count(server, re.escape(jid) + r".*session resumed")
    sent = 0
    for i in range(40):
        n = log_count(server, detached_rx(jid))
        sm.drop()
        wait_log(server, detached_rx(jid), n + 1)
        bob.send(message(jid, f"while away {i}"))
        bob.ping()
        pipelined = message(bob.jid, f"from alice {i}") + f"<r xmlns='{NS_SM}'/>"
        sm2, el = resume(server, "alice", sm.id, sm.h, extra=pipelined)
        assert el.tag == q(NS_SM, "resumed"), to_str(el)
        assert el.get("h") == str(sent), to_str(el)
        assert bodies(sm2.messages(1)) == [f"while away {i}"]
        sent += 1
        assert sm2.wait_ack(since=0) == sent  # the pipelined <r/>, answered after the message
        bob.wait_stanza(lambda e, i=i: body_of(e) == f"from alice {i}")
        sm = sm2
        handed = log_count(server, r"resumption handed to worker") - handed0
        resumed = log_count(server, re.escape(jid) + r".*session resumed") - resumed0
        assert resumed == i + 1
        if handed and resumed - handed and i >= 3:
            break
    assert handed > 0, "no resumption was handed to the other worker"
    assert resumed - handed > 0, "no resumption happened on the same worker"


def test_resume_while_old_connection_is_open(server):
    sm = login_sm(server, "alice", "twice")
    bob = server.raw_login("bob", "twice")
    bob.send(message(sm.raw.jid, "x"))
    sm.messages(1)
    # the client lost the connection, the server did not notice yet
    sm2, el = resume(server, "alice", sm.id, sm.h)
    assert el.tag == q(NS_SM, "resumed"), to_str(el)
    sm.raw.wait_closed()
    bob.send(message(sm.raw.jid, "y"))
    assert bodies(sm2.messages(1)) == ["y"]


def test_resume_failures(server):
    sm = login_sm(server, "alice", "fail")
    for previd in ("nonsense", "0-999999-abc", "1-1-x", sm.id + "x", "7-" + sm.id, "-1-1-x",
                   "0-" * 100, sm.id + "x" * 300):
        s2, el = resume(server, "alice", previd, 0)
        assert el.tag == q(NS_SM, "failed") and failed_condition(el) == "item-not-found", \
            f"{previd}: " + to_str(el)
        # the stream goes on: a fresh session can be bound on it
        assert s2.raw.bind("after-fail")
    for h in ("-1", "abc", "4294967296", ""):
        s2, el = resume(server, "alice", sm.id, h)
        assert failed_condition(el) == "bad-request", f"h={h!r}: " + to_str(el)
    # another account cannot take the session over, even with the right id
    s3, el = resume(server, "bob", sm.id, 0)
    assert failed_condition(el) == "item-not-found", to_str(el)
    # and the session was not disturbed
    assert sm.request() == 0
    # a bound stream cannot resume
    sm.raw.send(f"<resume xmlns='{NS_SM}' previd='{sm.id}' h='0'/>")
    el = sm.sm_element(["resumed", "failed"])
    assert failed_condition(el) == "unexpected-request", to_str(el)


def test_clean_close_is_not_resumable(server):
    sm = login_sm(server, "alice", "bye")
    sm.raw.send("</stream:stream>")
    sm.raw.wait_closed()
    s2, el = resume(server, "alice", sm.id, 0)
    assert failed_condition(el) == "item-not-found", to_str(el)


def test_resume_timeout_ends_the_session(make_server):
    srv = make_server(overrides=["sm.resume_timeout=1"])
    sm = login_sm(srv, "alice", "late")
    assert sm.id
    bob = srv.raw_login("bob", "late")
    sm.drop()
    wait_log(srv, re.escape(sm.raw.jid) + r".*not resumed in time", timeout=10)
    s2, el = resume(srv, "alice", sm.id, 0)
    assert failed_condition(el) == "item-not-found", to_str(el)
    # the full JID is gone from the registry: an IQ to it bounces
    ans = bob.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=sm.raw.jid)
    assert ans.get("type") == "error", to_str(ans)


def test_max_unacked_disconnects(make_server):
    srv = make_server(overrides=["sm.max_unacked=10"])
    sm = login_sm(srv, "alice", "slow")
    bob = srv.raw_login("bob", "slow")
    for i in range(11):
        bob.send(message(sm.raw.jid, f"n{i}"))
    err = sm.raw.expect_stream_error("policy-violation", timeout=10)
    assert stream_error_condition(err) == "policy-violation"
    # the session ended for good: it cannot be resumed
    s2, el = resume(srv, "alice", sm.id, 0)
    assert failed_condition(el) == "item-not-found", to_str(el)


def test_stored_messages_are_counted(server):
    """Messages to an offline contact are stored (or bounced): either way each one counts, and
    the <a/> that covers them comes once they are handled."""
    sm = login_sm(server, "alice", "store")
    for i in range(4):
        sm.raw.send(message(server.jid("dave"), f"for later {i}"))
    assert sm.request() == 4
    # a request in the middle of a burst covers at least what came before it
    burst = "".join(message(server.jid("dave"), f"burst {i}") for i in range(10))
    sm.raw.send(burst + f"<r xmlns='{NS_SM}'/>" + burst + f"<r xmlns='{NS_SM}'/>")
    n = len(sm.acks)
    first = sm.wait_ack(since=n)
    assert 14 <= first <= 24, first
    assert sm.wait_ack(since=n + 1) == 24


# ---- nothing unacknowledged is lost: it goes to offline storage ------------------------------

def offline_bodies(srv, user, resource, want, timeout=10.0):
    """Logs in, sends initial presence and collects message bodies until want are all seen."""
    r = srv.raw_login(user, resource)
    r.send("<presence/>")
    got = []
    deadline = time.monotonic() + timeout
    while not set(want) <= set(got):
        el = r.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "message"),
                           timeout=max(0.1, deadline - time.monotonic()), what="offline message")
        got.append(body_of(el))
    return got


def test_drop_without_resumption_goes_offline(server):
    sm = login_sm(server, "carol", "nores", resume_=False)
    bob = server.raw_login("bob", "nores")
    bob.send(message(sm.raw.jid, "keep me"))
    sm.messages(1)  # received, never acknowledged
    sm.drop()
    wait_log(server, re.escape(sm.raw.jid) + r".*unacknowledged stanzas handed on")
    assert "keep me" in offline_bodies(server, "carol", "later", ["keep me"])


def test_resume_timeout_goes_offline(make_server):
    srv = make_server(overrides=["sm.resume_timeout=1"])
    sm = login_sm(srv, "carol", "gone")
    bob = srv.raw_login("bob", "gone")
    sm.drop()
    wait_log(srv, detached_rx(sm.raw.jid))
    bob.send(message(sm.raw.jid, "while detached"))
    wait_log(srv, re.escape(sm.raw.jid) + r".*not resumed in time", timeout=10)
    assert "while detached" in offline_bodies(srv, "carol", "back", ["while detached"])


def test_max_unacked_goes_offline(make_server):
    srv = make_server(overrides=["sm.max_unacked=10"])
    sm = login_sm(srv, "carol", "slow")
    bob = srv.raw_login("bob", "slow")
    want = [f"n{i}" for i in range(11)]
    for b in want:
        bob.send(message(sm.raw.jid, b))
    sm.raw.expect_stream_error("policy-violation", timeout=10)
    assert set(want) <= set(offline_bodies(srv, "carol", "fast", want))


def live_and_detached(srv):
    """carol (live) and dave (detached) each have one unacknowledged message from bob.
    Returns their full JIDs."""
    live = login_sm(srv, "carol", "live")
    gone = login_sm(srv, "dave", "gone")
    bob = srv.raw_login("bob", "term")
    bob.send(message(live.raw.jid, "to live"))
    live.messages(1)
    gone.drop()
    wait_log(srv, detached_rx(gone.raw.jid))
    bob.send(message(gone.raw.jid, "to detached"))
    bob.ping()
    return live.raw.jid, gone.raw.jid


def test_unacked_survive_sigterm(make_server):
    srv = make_server()
    live_and_detached(srv)
    srv.restart()
    assert "to live" in offline_bodies(srv, "carol", "after", ["to live"])
    assert "to detached" in offline_bodies(srv, "dave", "after", ["to detached"])


def test_shutdown_with_detached_sessions_is_clean(make_server):
    """SIGTERM with live and detached SM sessions: exit code 0, no sanitizer report (checked
    by the fixture), and the unacknowledged stanzas are handed on (logged)."""
    srv = make_server()
    jids = live_and_detached(srv)
    rc, _ = srv.terminate()
    assert rc == 0
    text = srv.log_text()
    for jid in jids:
        assert re.search(re.escape(jid) + r".*1 unacknowledged stanzas handed on", text), \
            f"{jid}: nothing handed on\n" + srv.log_tail()


# ---- a real client library ------------------------------------------------------------------

@async_test(timeout=60)
async def test_slixmpp_stream_management_and_resumption(server):
    alice = await sm_client(server, "alice", "slix")
    plugin = alice["xep_0198"]
    assert plugin.sm_id, "no resumption id"
    bob = await server.client("bob", "slix")
    for i in range(7):
        bob.send_message(mto=alice.boundjid.full, mbody=f"in {i}", mtype="chat")
    for i in range(7):
        assert (await alice.next_message())["body"] == f"in {i}"
    # slixmpp asks for an ack every 5 stanzas it sends (just before the 5th goes out); the
    # server's h must match its count, and nothing may be acknowledged twice or skipped
    for i in range(10):
        alice.send_message(mto=bob.boundjid.full, mbody=f"out {i}", mtype="chat")
    for i in range(10):
        assert (await bob.next_message())["body"] == f"out {i}"
    plugin.request_ack()
    for _ in range(100):
        if plugin.last_ack == 10:
            break
        await asyncio.sleep(0.05)
    assert plugin.last_ack == 10, f"server acknowledged {plugin.last_ack} of 10"
    # the connection drops; slixmpp resumes on a new one and gets what came meanwhile
    resumed = asyncio.Event()
    alice.add_event_handler("session_resumed", lambda _: resumed.set())
    n = log_count(server, detached_rx(alice.boundjid.full))
    alice.transport.abort()
    await alice.wait_ended()
    await in_thread(wait_log, server, detached_rx(alice.boundjid.full), n + 1)
    bob.send_message(mto=alice.boundjid.full, mbody="while away", mtype="chat")
    await bob.ping_server()
    alice.ended.clear()
    alice.start()
    await asyncio.wait_for(resumed.wait(), 15)
    assert (await alice.next_message())["body"] == "while away"
    await alice.expect_no_message(0.5)


def subscribe_both(a, b, a_bare, b_bare):
    """Mutual presence subscription between raw streams a and b (RFC 6121 §3)."""
    a.send(f"<presence to='{b_bare}' type='subscribe'/>")
    b.send(f"<presence to='{a_bare}' type='subscribed'/>")
    b.send(f"<presence to='{a_bare}' type='subscribe'/>")
    a.send(f"<presence to='{b_bare}' type='subscribed'/>")
    a.ping()
    b.ping()


def test_contacts_see_unavailable_only_when_the_session_ends(make_server):
    srv = make_server(overrides=["sm.resume_timeout=2"])
    sm = login_sm(srv, "alice", "phone", auto_ack=True)
    bob = srv.raw_login("bob", "desk")
    subscribe_both(sm.raw, bob, srv.jid("alice"), srv.jid("bob"))
    bob.send("<presence/>")
    sm.raw.send("<presence/>")

    def from_alice(unavailable):
        def pred(e):
            return (e.tag == q(NS_CLIENT, "presence") and e.get("from") == sm.raw.jid
                    and (e.get("type") == "unavailable") == unavailable)
        return pred
    bob.wait_stanza(from_alice(False), what="alice available")
    sm.drop()
    wait_log(srv, detached_rx(sm.raw.jid))
    # detached is still online for everyone else
    assert not any(from_alice(True)(e) for e in bob.collect(1.0)), "unavailable while detached"
    bob.wait_stanza(from_alice(True), timeout=10, what="alice unavailable after the timeout")
