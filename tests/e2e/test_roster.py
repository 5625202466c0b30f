"""Rosters (RFC 6121 §2) and roster versions (XEP-0237): get, set, remove, pushes to every
resource that requested the roster, item validation, the item cap, versions."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import to_str  # noqa: E402
from roster_util import (error_of, items, login, new_users, roster_get, roster_items,  # noqa: E402
                         roster_of, roster_remove, roster_set, roster_set_raw, sync, ver_of,
                         wait_push, Watcher)
from xmpp_client import IqError, async_test  # noqa: E402


@async_test(timeout=60)
async def test_set_get_push_remove_with_slixmpp(server):
    (u,) = new_users(server, 1)
    other = server.jid("somebody")
    r1 = await server.client(u, resource="one", password=u)
    r2 = await server.client(u, resource="two", password=u)
    w1, w2 = Watcher(r1), Watcher(r2)
    assert await roster_items(r1) == {}
    await roster_items(r2)

    await r1.update_roster(other, name="Some Body", groups=["Work", "Friends"])
    for w in (w1, w2):
        item, ver = await w.push(other)
        assert item["name"] == "Some Body"
        assert sorted(item["groups"]) == ["Friends", "Work"]
        assert item["subscription"] == "none"
        assert ver
    got = await roster_items(r2)
    assert list(got) == [other]
    assert got[other]["name"] == "Some Body"
    assert sorted(got[other]["groups"]) == ["Friends", "Work"]

    # An update replaces name and groups.
    await r2.update_roster(other, name="Renamed", groups=["Solo"])
    for w in (w1, w2):
        item, _ = await w.push(other)
        assert (item["name"], list(item["groups"])) == ("Renamed", ["Solo"])

    # slixmpp asks with the version it holds (the server offers rosterver): nothing new
    res = await r2.get_roster()
    assert not res["roster"]["items"], str(res)
    assert r2.client_roster[other]["name"] == "Renamed"

    await r1.del_roster_item(other)
    for w in (w1, w2):
        item, _ = await w.push(other)
        assert item["subscription"] == "remove"
    assert await roster_items(r1) == {}


def test_push_only_to_resources_that_asked(server):
    (u,) = new_users(server, 1)
    asked = login(server, u, "asked")
    silent = login(server, u, "silent", roster=False)
    ans = roster_set(asked, server.jid("friend"), name="F")
    assert ans.get("type") == "result", to_str(ans)
    assert ans.find("*") is None, "a roster set result carries no payload"
    assert wait_push(asked, server.jid("friend"))["name"] == "F"
    got = silent.collect(0.8)
    assert not [to_str(e) for e in got if e.find("{jabber:iq:roster}query") is not None]


def test_items_are_sorted_bare_and_normalized(server):
    (u,) = new_users(server, 1)
    r = login(server, u)
    assert roster_set(r, "Zed@Example.Test").get("type") == "result"
    assert roster_set(r, "amy@example.test").get("type") == "result"
    assert roster_set(r, "remote@elsewhere.example").get("type") == "result"
    got = roster_of(r)
    assert sorted(got) == ["amy@example.test", "remote@elsewhere.example", "zed@example.test"]
    # 'subscription' other than remove, 'ask' and 'approved' from a client are ignored
    ans = roster_set_raw(r, "<item jid='amy@example.test' subscription='both' ask='subscribe'"
                            " approved='true'/>")
    assert ans.get("type") == "result", to_str(ans)
    amy = roster_of(r)["amy@example.test"]
    assert (amy["subscription"], amy["ask"], amy["approved"]) == ("none", None, None)


def test_versions(server):
    (u,) = new_users(server, 1)
    r = login(server, u, roster=False)
    first = roster_get(r, ver="")
    v0 = ver_of(first)
    assert v0 is not None and items(first) == {}
    same = roster_get(r, ver=v0)
    assert same.get("type") == "result" and same.find("*") is None, to_str(same)

    assert roster_set(r, server.jid("v1")).get("type") == "result"
    push = wait_push(r, server.jid("v1"))
    v1 = push["ver"]
    assert v1 and v1 != v0
    # the old version gets the whole roster with the new version; the new one nothing
    full = roster_get(r, ver=v0)
    assert ver_of(full) == v1 and list(items(full)) == [server.jid("v1")]
    assert roster_get(r, ver=v1).find("*") is None
    # removal moves the version on as well
    assert roster_remove(r, server.jid("v1")).get("type") == "result"
    v2 = wait_push(r, server.jid("v1"))["ver"]
    assert v2 not in (v0, v1)
    again = roster_get(r, ver=v1)
    assert ver_of(again) == v2 and items(again) == {}
    # a client without versioning gets no ver attribute
    assert ver_of(roster_get(r)) is None


def test_max_items(make_server):
    srv = make_server(overrides=["roster.max_items=2"])
    r = login(srv, "alice")
    assert roster_set(r, srv.jid("one")).get("type") == "result"
    assert roster_set(r, srv.jid("two")).get("type") == "result"
    ans = roster_set(r, srv.jid("three"))
    assert error_of(ans) == "not-allowed"
    assert ans.find("{jabber:client}error").get("type") == "cancel"
    # changing an item that is there is still fine, and removing makes room
    assert roster_set(r, srv.jid("two"), name="Two").get("type") == "result"
    assert roster_remove(r, srv.jid("one")).get("type") == "result"
    assert roster_set(r, srv.jid("three")).get("type") == "result"
    assert sorted(roster_of(r)) == [srv.jid("three"), srv.jid("two")]
    # a subscription request is also an item (RFC 6121 §3.1.2): refused past the cap
    r.send(f"<presence type='subscribe' to='{srv.jid('bob')}'/>")
    err = r.wait_stanza(lambda e: e.get("type") == "error" and e.tag.endswith("presence"))
    assert error_of(err) == "not-allowed"
    assert srv.jid("bob") not in roster_of(r)


@pytest.mark.parametrize("inner, cond", [
    ("<item jid='a@example.test'/><item jid='b@example.test'/>", "bad-request"),
    ("", "bad-request"),
    ("<item/>", "bad-request"),
    ("<item jid='a@example.test/res'/>", "bad-request"),
    ("<item jid='a@b@example.test'/>", "bad-request"),
    ("<item jid=''/>", "bad-request"),
    ("<item jid='a@example.test'><group>G</group><group>G</group></item>", "bad-request"),
    ("<item jid='a@example.test'><group></group></item>", "not-acceptable"),
    ("<item jid='a@example.test'><group>" + "g" * 513 + "</group></item>", "not-acceptable"),
    ("<item jid='a@example.test' name='" + "n" * 513 + "'/>", "not-acceptable"),
    ("<item jid='a@example.test'>" + "".join(f"<group>g{i}</group>" for i in range(33))
     + "</item>", "not-acceptable"),
    ("<other xmlns='urn:x'/>", "bad-request"),
])
def test_bad_items(server, inner, cond):
    (u,) = new_users(server, 1)
    r = login(server, u)
    ans = roster_set_raw(r, inner)
    assert error_of(ans) == cond, to_str(ans)
    assert roster_of(r) == {}


def test_limits_are_inclusive(server):
    (u,) = new_users(server, 1)
    r = login(server, u)
    groups = [f"{i:02d}" + "g" * 510 for i in range(32)]
    ans = roster_set(r, "a@example.test", name="n" * 512, groups=groups)
    assert ans.get("type") == "result", to_str(ans)
    got = roster_of(r)["a@example.test"]
    assert got["name"] == "n" * 512 and got["groups"] == sorted(groups)


def test_remove_missing_item(server):
    (u,) = new_users(server, 1)
    r = login(server, u)
    assert error_of(roster_remove(r, server.jid("nobody"))) == "item-not-found"


def test_other_accounts_roster_is_forbidden(server):
    (u, v) = new_users(server, 2)
    r = login(server, u)
    assert error_of(roster_get(r, to=server.jid(v))) == "forbidden"
    assert error_of(roster_set(r, server.jid("x"), to=server.jid(v))) == "forbidden"
    # addressed to the own bare JID it is the own roster
    ans = roster_get(r, to=server.jid(u))
    assert ans.get("type") == "result" and ans.get("from") == server.jid(u)


@async_test(timeout=40)
async def test_slixmpp_sees_errors(server):
    (u,) = new_users(server, 1)
    c = await server.client(u, password=u)
    iq = c.Iq()
    iq["type"] = "set"
    iq["roster"]["items"] = {server.jid("a"): {"name": "x" * 600}}
    with pytest.raises(IqError) as e:
        await iq.send()
    assert e.value.iq["error"]["condition"] == "not-acceptable"


def test_roster_survives_restart(make_server):
    srv = make_server()
    r = login(srv, "alice")
    assert roster_set(r, srv.jid("kept"), name="K", groups=["G"]).get("type") == "result"
    sync(r)
    r.close()
    srv.restart()
    r = login(srv, "alice", roster=False)
    got = roster_of(r)
    assert got[srv.jid("kept")]["name"] == "K" and got[srv.jid("kept")]["groups"] == ["G"]
