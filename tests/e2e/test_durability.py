"""
The durability promise (DESIGN.md, issue "IM core" and "hardening"): a message that the server
acknowledged to its sender with XEP-0198 <a h='N'/> is in storage, and survives kill -9.

Each cycle: alice (stream management on) sends messages as fast as she can, alternately to bob
(offline: offline storage) and to dave (online: delivered and archived), asking for acks as she
goes; at a random moment ternd is killed with SIGKILL and started again on the same data.
At the end every message acked to alice must be in bob's offline store exactly once (he gets
them at login) or in dave's archive exactly once (MAM query). Messages sent but not acked may
or may not be there: the promise is about acked ones.

DURABILITY_CYCLES (default 10) sets the number of kill/restart cycles.
"""

import os
import random
import re
import time

import pytest

from conftest import TERND

pytestmark = pytest.mark.skipif(not TERND, reason="TERND not set")

import raw_stream  # noqa: E402
from raw_stream import q, NS_CLIENT  # noqa: E402

NS_SM = "urn:xmpp:sm:3"
NS_MAM = "urn:xmpp:mam:2"
NS_FWD = "urn:xmpp:forward:0"
NS_RSM = "http://jabber.org/protocol/rsm"

CYCLES = int(os.environ.get("DURABILITY_CYCLES", "10"))
ACK_EVERY = 5  # <r/> after this many messages


def body_of(el):
    return el.findtext(q(NS_CLIENT, "body"))


def send_until_killed(srv, alice, cycle, rng):
    """Sends messages until the server dies; returns the bodies acked (in order)."""
    sent = []  # bodies, in stanza order: h counts them
    acked = 0
    kill_at = time.monotonic() + rng.uniform(0.3, 1.5)
    killed = False
    i = 0
    while True:
        if not killed and time.monotonic() >= kill_at:
            srv.proc.kill()  # SIGKILL: no flush, no goodbye
            killed = True
        if killed:
            # read what acks the dying server still wrote, then stop
            try:
                for el in alice.collect(0.5):
                    if el.tag == q(NS_SM, "a"):
                        acked = max(acked, int(el.get("h")))
            except (AssertionError, OSError):
                pass
            break
        to = "bob" if i % 2 == 0 else "dave"
        body = f"c{cycle}-m{i}-{to}"
        try:
            alice.send(f"<message to='{to}@{srv.domain}' type='chat' id='{body}'>"
                       f"<body>{body}</body></message>")
            sent.append(body)
            i += 1
            if i % ACK_EVERY == 0:
                alice.send(f"<r xmlns='{NS_SM}'/>")
            for el in alice.collect(0.001):
                if el.tag == q(NS_SM, "a"):
                    acked = max(acked, int(el.get("h")))
        except (AssertionError, OSError):
            killed = True
    assert acked <= len(sent), f"h={acked} but only {len(sent)} messages were sent"
    return sent[:acked], len(sent)


def mam_bodies(conn, with_jid):
    """Every archived message body exchanged with with_jid, paging forward 100 at a time."""
    bodies, after, page = [], None, 0
    while True:
        page += 1
        qid = f"q{page}"
        rsm = f"<set xmlns='{NS_RSM}'><max>100</max>" + \
              (f"<after>{after}</after>" if after else "") + "</set>"
        form = ("<x xmlns='jabber:x:data' type='submit'>"
                f"<field var='FORM_TYPE' type='hidden'><value>{NS_MAM}</value></field>"
                f"<field var='with'><value>{with_jid}</value></field></x>")
        iq_id = f"mam{page}"
        conn.send(f"<iq type='set' id='{iq_id}'><query xmlns='{NS_MAM}' queryid='{qid}'>"
                  f"{form}{rsm}</query></iq>")
        ans = conn.wait_iq(iq_id, timeout=30)
        assert ans.get("type") == "result", raw_stream.to_str(ans)
        for el in list(conn.stanzas):
            res = el.find(q(NS_MAM, "result"))
            if el.tag == q(NS_CLIENT, "message") and res is not None and res.get("queryid") == qid:
                conn.stanzas.remove(el)
                fwd = res.find(q(NS_FWD, "forwarded"))
                msg = fwd.find(q(NS_CLIENT, "message"))
                bodies.append(body_of(msg))
        fin = ans.find(q(NS_MAM, "fin"))
        assert fin is not None, raw_stream.to_str(ans)
        last = fin.findtext(f"{q(NS_RSM, 'set')}/{q(NS_RSM, 'last')}")
        if fin.get("complete") in ("true", "1") or not last:
            return bodies
        after = last


def test_acked_messages_survive_sigkill(make_server):
    rng = random.Random(int(os.environ.get("DURABILITY_SEED", str(int(time.time())))))
    srv = make_server(overrides=["offline.max_messages=100000", "sm.resume_timeout=5"])
    acked_bob, acked_dave, total_sent = [], [], 0
    for cycle in range(CYCLES):
        if cycle:
            srv.kill()
            srv.start(create_users=False)
        dave = srv.raw()
        dave.login("dave", srv.password("dave"), resource="phone")
        dave.send("<presence/>")
        alice = srv.raw()
        alice.login("alice", srv.password("alice"), resource="desk")
        alice.send(f"<enable xmlns='{NS_SM}'/>")
        enabled = alice.wait_stanza(lambda e: e.tag in (q(NS_SM, "enabled"), q(NS_SM, "failed")))
        assert enabled.tag == q(NS_SM, "enabled"), raw_stream.to_str(enabled)
        acked, n = send_until_killed(srv, alice, cycle, rng)
        total_sent += n
        acked_bob += [b for b in acked if b.endswith("-bob")]
        acked_dave += [b for b in acked if b.endswith("-dave")]
        alice.close()
        dave.close()
    srv.kill()
    srv.start(create_users=False)
    assert acked_bob and acked_dave, \
        f"nothing was acked in {CYCLES} cycles ({total_sent} sent): the test proves nothing"

    bob = srv.raw()
    bob.login("bob", srv.password("bob"), resource="laptop")
    bob.send("<presence/>")
    want = set(acked_bob)
    got = []
    deadline = time.monotonic() + 60
    while not want.issubset(got) and time.monotonic() < deadline:
        for el in bob.collect(1.0):
            if el.tag == q(NS_CLIENT, "message") and body_of(el):
                got.append(body_of(el))
    missing = [b for b in acked_bob if b not in got]
    assert not missing, f"{len(missing)} acked messages to bob lost, e.g. {missing[:5]}"
    dups = [b for b in want if got.count(b) > 1]
    assert not dups, f"delivered more than once from offline storage: {dups[:5]}"
    # the offline messages come in the order they were sent
    order = [b for b in got if b in want]
    key = [(int(re.match(r"c(\d+)-m(\d+)", b).group(1)),
            int(re.match(r"c(\d+)-m(\d+)", b).group(2))) for b in order]
    assert key == sorted(key), "offline messages out of order"

    dave = srv.raw()
    dave.login("dave", srv.password("dave"), resource="tablet")
    archived = mam_bodies(dave, f"alice@{srv.domain}")
    missing = [b for b in acked_dave if b not in archived]
    assert not missing, f"{len(missing)} acked messages to dave not archived, e.g. {missing[:5]}"
    dups = [b for b in set(acked_dave) if archived.count(b) > 1]
    assert not dups, f"archived more than once: {dups[:5]}"
