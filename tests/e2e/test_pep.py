"""Personal Eventing (XEP-0163 on a XEP-0060 subset): publish with auto-create and
publish-options, access models, retract, items by count and id, node configuration and
deletion, the pep.* limits, the account's disco, and events: +notify through entity
capabilities (XEP-0115, the hash checked), live events to subscribed contacts only, the
newest item at login, retract events. The OMEMO, avatar, nick and bookmarks nodes clients use
are exercised the way those clients publish them."""

import asyncio
import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from pep_util import (NS_CAPS, NS_DATA, NS_DELAY, NS_EVENT, NS_OWNER, NS_PUBSUB,  # noqa: E402
                      announce, caps_ver, event_items, events, form, item_ids, item_payloads,
                      items, mutual, notify_features, publish, pubsub_error, retract, set_sub,
                      wait_event)
from raw_stream import (NS_CLIENT, NS_DISCO_INFO, NS_DISCO_ITEMS, q,  # noqa: E402
                        stanza_error_condition, to_str)
from xmpp_client import async_test, in_thread  # noqa: E402

MAX_ITEMS = 20
SERVER_OVERRIDES = [f"pep.max_items={MAX_ITEMS}", "pep.max_item_size=2048"]

OMEMO_LIST = "eu.siacs.conversations.axolotl.devicelist"
OMEMO2_LIST = "urn:xmpp:omemo:2:devices"
NICK = "http://jabber.org/protocol/nick"
AVATAR_META = "urn:xmpp:avatar:metadata"
BOOKMARKS = "urn:xmpp:bookmarks:1"


def devicelist(*ids):
    return ("<list xmlns='eu.siacs.conversations.axolotl'>"
            + "".join(f"<device id='{i}'/>" for i in ids) + "</list>")


def nick(name):
    return f"<nick xmlns='{NICK}'>{name}</nick>"


def ok(ans):
    assert ans.get("type") == "result", to_str(ans)
    return ans


# ---- storage and access -------------------------------------------------------------------

def test_omemo_devicelist_open_to_strangers(server):
    alice = server.raw_login("alice", "omemo")
    ans = ok(alice.iq("set", publish(OMEMO_LIST, devicelist(1234, 5678), "current",
                                     pubsub__access_model="open")))
    pub = ans.find(f"{q(NS_PUBSUB, 'pubsub')}/{q(NS_PUBSUB, 'publish')}")
    assert pub.get("node") == OMEMO_LIST and pub[0].get("id") == "current", to_str(ans)
    # the same for OMEMO 2 (urn:xmpp:omemo:2)
    ok(alice.iq("set", publish(OMEMO2_LIST, "<devices xmlns='urn:xmpp:omemo:2'><device id='9'/>"
                               "</devices>", "current", pubsub__access_model="open",
                               pubsub__max_items="max")))

    # dave has no subscription at all, and still reads it
    dave = server.raw_login("dave", "omemo")
    ans = ok(dave.iq("get", items(OMEMO_LIST), to=server.jid("alice")))
    assert ans.get("from") == server.jid("alice")
    assert item_ids(ans) == ["current"]
    ids = [d.get("id") for d in item_payloads(ans)[0]]
    assert ids == ["1234", "5678"], to_str(ans)
    ok(dave.iq("get", items(OMEMO2_LIST), to=server.jid("alice")))

    # a bundle node per device, also open
    bundle = f"eu.siacs.conversations.axolotl.bundles:1234"
    ok(alice.iq("set", publish(bundle, "<bundle xmlns='eu.siacs.conversations.axolotl'>"
                               "<signedPreKeyPublic signedPreKeyId='1'>AAAA</signedPreKeyPublic>"
                               "</bundle>", "current", pubsub__access_model="open")))
    assert item_ids(ok(dave.iq("get", items(bundle), to=server.jid("alice")))) == ["current"]

    # republishing with the same options is fine; conflicting ones are refused
    ok(alice.iq("set", publish(OMEMO_LIST, devicelist(1234), "current",
                               pubsub__access_model="open")))
    ans = alice.iq("set", publish(OMEMO_LIST, devicelist(1), "current",
                                  pubsub__access_model="presence"))
    assert pubsub_error(ans) == ("conflict", "precondition-not-met"), to_str(ans)
    ans = ok(dave.iq("get", items(OMEMO_LIST), to=server.jid("alice")))
    assert [d.get("id") for d in item_payloads(ans)[0]] == ["1234"], "the refused one was stored"


def test_presence_access(server):
    bob = server.raw_login("bob", "access")
    ok(bob.iq("set", publish(NICK, nick("Bobby"))))  # default access model: presence
    carol = server.raw_login("carol", "access")
    ans = carol.iq("get", items(NICK), to=server.jid("bob"))
    assert pubsub_error(ans) == ("not-authorized", "presence-subscription-required"), to_str(ans)
    set_sub(server, "bob", "carol", "from")  # carol may see bob's presence
    ans = ok(carol.iq("get", items(NICK), to=server.jid("bob")))
    assert item_payloads(ans)[0].text == "Bobby"
    set_sub(server, "bob", "carol", "to")  # the other direction does not count
    assert pubsub_error(carol.iq("get", items(NICK), to=server.jid("bob")))[0] == \
        "not-authorized"
    # unknown node, unknown account
    ans = carol.iq("get", items("urn:nothing"), to=server.jid("bob"))
    assert pubsub_error(ans)[0] == "item-not-found", to_str(ans)
    ans = carol.iq("get", items(NICK), to=server.jid("nobody"))
    assert pubsub_error(ans)[0] == "item-not-found", to_str(ans)
    # nobody publishes on someone else's service
    ans = carol.iq("set", publish(NICK, nick("Mallory")), to=server.jid("bob"))
    assert stanza_error_condition(ans) == ("auth", "forbidden"), to_str(ans)
    set_sub(server, "bob", "carol", "none")


def test_bookmarks_whitelist(server):
    """XEP-0402 as Conversations publishes it; only the owner may read."""
    alice = server.raw_login("alice", "bm")
    conf = "<conference xmlns='urn:xmpp:bookmarks:1' name='Room' autojoin='true'><nick>al</nick>" \
           "</conference>"
    opts = dict(pubsub__persist_items="true", pubsub__access_model="whitelist",
                pubsub__send_last_published_item="never", pubsub__max_items="max")
    for room in ("a@conf.example.test", "b@conf.example.test", "c@conf.example.test"):
        ok(alice.iq("set", publish(BOOKMARKS, conf, room, **opts)))
    assert sorted(item_ids(ok(alice.iq("get", items(BOOKMARKS))))) == [
        "a@conf.example.test", "b@conf.example.test", "c@conf.example.test"]
    ans = ok(alice.iq("get", f"<pubsub xmlns='{NS_OWNER}'><configure node='{BOOKMARKS}'/>"
                             f"</pubsub>"))
    fields = {f.get("var"): f.findtext(q(NS_DATA, "value"))
              for f in ans.iter(q(NS_DATA, "field"))}
    assert fields["pubsub#access_model"] == "whitelist"
    assert fields["pubsub#max_items"] == str(MAX_ITEMS), "'max' is pep.max_items"
    assert fields["pubsub#send_last_published_item"] == "never"
    assert fields["pubsub#persist_items"] == "1"

    mutual(server, "alice", "bob")
    bob = server.raw_login("bob", "bm")
    ans = bob.iq("get", items(BOOKMARKS), to=server.jid("alice"))
    assert pubsub_error(ans) == ("not-allowed", "closed-node"), to_str(ans)
    # retract one (XEP-0402 removal)
    ok(alice.iq("set", retract(BOOKMARKS, "b@conf.example.test")))
    assert "b@conf.example.test" not in item_ids(ok(alice.iq("get", items(BOOKMARKS))))
    ans = alice.iq("set", retract(BOOKMARKS, "b@conf.example.test"))
    assert pubsub_error(ans)[0] == "item-not-found", to_str(ans)
    # XEP-0048 bookmarks through PEP: one item 'current' in storage:bookmarks
    ok(alice.iq("set", publish("storage:bookmarks", "<storage xmlns='storage:bookmarks'>"
                               "<conference jid='x@conf.example.test' autojoin='true'/></storage>",
                               "current", pubsub__persist_items="true",
                               pubsub__access_model="whitelist")))
    assert item_ids(ok(alice.iq("get", items("storage:bookmarks")))) == ["current"]


def test_max_items_and_ids(server):
    carol = server.raw_login("carol", "max")
    node = "urn:example:history"
    for i in range(1, 6):
        ok(carol.iq("set", publish(node, f"<e xmlns='urn:example'>{i}</e>", f"i{i}",
                                   pubsub__max_items="3")))
    assert item_ids(ok(carol.iq("get", items(node)))) == ["i3", "i4", "i5"], "oldest first"
    assert item_ids(ok(carol.iq("get", items(node, max_items=2)))) == ["i4", "i5"]
    assert item_ids(ok(carol.iq("get", items(node, ids=["i4", "i1", "i3"])))) == ["i4", "i3"]
    # republishing an id makes it the newest
    ok(carol.iq("set", publish(node, "<e xmlns='urn:example'>again</e>", "i3")))
    assert item_ids(ok(carol.iq("get", items(node)))) == ["i4", "i5", "i3"]
    # the default for a new node is one item
    ok(carol.iq("set", publish("urn:example:single", "<e xmlns='urn:example'/>", "a")))
    ok(carol.iq("set", publish("urn:example:single", "<e xmlns='urn:example'/>", "b")))
    assert item_ids(ok(carol.iq("get", items("urn:example:single")))) == ["b"]
    # a generated id when none is given
    ans = ok(carol.iq("set", publish("urn:example:single", "<e xmlns='urn:example'/>")))
    gen = ans.find(f"{q(NS_PUBSUB, 'pubsub')}/{q(NS_PUBSUB, 'publish')}/{q(NS_PUBSUB, 'item')}")
    assert gen is not None and gen.get("id"), to_str(ans)
    assert item_ids(ok(carol.iq("get", items("urn:example:single")))) == [gen.get("id")]
    # more than pep.max_items is refused
    ans = carol.iq("set", publish("urn:example:many", "<e xmlns='urn:example'/>",
                                  pubsub__max_items=str(MAX_ITEMS + 1)))
    assert stanza_error_condition(ans)[1] == "policy-violation", to_str(ans)
    ans = carol.iq("get", items("urn:example:many"))
    assert pubsub_error(ans)[0] == "item-not-found", "a refused publish created the node"


def test_item_size_and_bad_requests(server):
    dave = server.raw_login("dave", "size")
    ok(dave.iq("set", publish(AVATAR_META, "<metadata xmlns='urn:xmpp:avatar:metadata'>"
                              "<info bytes='1' id='x' type='image/png'/></metadata>", "x")))
    big = "<data xmlns='urn:xmpp:avatar:data'>" + "A" * 3000 + "</data>"
    ans = dave.iq("set", publish("urn:xmpp:avatar:data", big, "x"))
    assert pubsub_error(ans) == ("not-acceptable", "payload-too-big"), to_str(ans)
    assert pubsub_error(dave.iq("get", items("urn:xmpp:avatar:data")))[0] == "item-not-found"
    ans = dave.iq("set", f"<pubsub xmlns='{NS_PUBSUB}'><publish node='n'/></pubsub>")
    assert pubsub_error(ans) == ("bad-request", "item-required"), to_str(ans)
    ans = dave.iq("set", f"<pubsub xmlns='{NS_PUBSUB}'><publish node='n'><item/></publish>"
                         f"</pubsub>")
    assert pubsub_error(ans) == ("bad-request", "payload-required"), to_str(ans)
    ans = dave.iq("set", f"<pubsub xmlns='{NS_PUBSUB}'><publish node='n'><item><a xmlns='x'/>"
                         f"<b xmlns='x'/></item></publish></pubsub>")
    assert pubsub_error(ans) == ("bad-request", "invalid-payload"), to_str(ans)
    ans = dave.iq("set", f"<pubsub xmlns='{NS_PUBSUB}'><publish><item><a xmlns='x'/></item>"
                         f"</publish></pubsub>")
    assert pubsub_error(ans) == ("bad-request", "nodeid-required"), to_str(ans)
    ans = dave.iq("set", publish("n", "<a xmlns='x'/>", pubsub__access_model="everyone"))
    assert pubsub_error(ans) == ("bad-request", "invalid-options"), to_str(ans)
    ans = dave.iq("set", f"<pubsub xmlns='{NS_PUBSUB}'><subscribe node='n' jid='{dave.jid}'/>"
                         f"</pubsub>")
    assert pubsub_error(ans)[0] == "feature-not-implemented", to_str(ans)
    assert dave.ping().get("type") == "result"


def test_max_nodes(make_server):
    srv = make_server(overrides=["pep.max_nodes=2"])
    r = srv.raw_login("alice", "nodes")
    ok(r.iq("set", publish("n1", "<a xmlns='x'/>")))
    ok(r.iq("set", publish("n2", "<a xmlns='x'/>")))
    ans = r.iq("set", publish("n3", "<a xmlns='x'/>"))
    assert pubsub_error(ans) == ("resource-constraint", "max-nodes-exceeded"), to_str(ans)
    ok(r.iq("set", publish("n2", "<b xmlns='x'/>")))  # existing nodes still take items
    ok(r.iq("set", f"<pubsub xmlns='{NS_OWNER}'><delete node='n1'/></pubsub>"))
    ok(r.iq("set", publish("n3", "<a xmlns='x'/>")))


def test_create_configure_delete(server):
    bob = server.raw_login("bob", "cfg")
    node = "urn:example:configured"
    create = (f"<pubsub xmlns='{NS_PUBSUB}'><create node='{node}'/><configure>"
              + form(NS_PUBSUB + "#node_config", pubsub__access_model="open",
                     pubsub__max_items="5") + "</configure></pubsub>")
    ok(bob.iq("set", create))
    ans = bob.iq("set", create)
    assert pubsub_error(ans)[0] == "conflict", to_str(ans)
    get_conf = f"<pubsub xmlns='{NS_OWNER}'><configure node='{node}'/></pubsub>"
    fields = {f.get("var"): f.findtext(q(NS_DATA, "value"))
              for f in ok(bob.iq("get", get_conf)).iter(q(NS_DATA, "field"))}
    assert (fields["pubsub#access_model"], fields["pubsub#max_items"]) == ("open", "5")
    for i in range(5):
        ok(bob.iq("set", publish(node, f"<e xmlns='urn:example'>{i}</e>", f"e{i}")))
    set_conf = (f"<pubsub xmlns='{NS_OWNER}'><configure node='{node}'>"
                + form(NS_PUBSUB + "#node_config", pubsub__max_items="2",
                       pubsub__access_model="whitelist") + "</configure></pubsub>")
    ok(bob.iq("set", set_conf))
    assert item_ids(ok(bob.iq("get", items(node)))) == ["e3", "e4"], "trimmed to the new max"
    alice = server.raw_login("alice", "cfg")
    assert pubsub_error(alice.iq("get", items(node), to=server.jid("bob")))[0] == "not-allowed"
    ans = alice.iq("get", get_conf, to=server.jid("bob"))
    assert stanza_error_condition(ans)[1] == "forbidden", to_str(ans)
    bad = (f"<pubsub xmlns='{NS_OWNER}'><configure node='{node}'>"
           + form(NS_PUBSUB + "#node_config", pubsub__max_items="0") + "</configure></pubsub>")
    assert pubsub_error(bob.iq("set", bad))[0] == "bad-request"
    ok(bob.iq("set", f"<pubsub xmlns='{NS_OWNER}'><delete node='{node}'/></pubsub>"))
    assert pubsub_error(bob.iq("get", items(node)))[0] == "item-not-found"
    ans = bob.iq("set", f"<pubsub xmlns='{NS_OWNER}'><delete node='{node}'/></pubsub>")
    assert pubsub_error(ans)[0] == "item-not-found"
    assert pubsub_error(bob.iq("get", get_conf))[0] == "item-not-found"


def test_persistence(server):
    carol = server.raw_login("carol", "persist")
    ok(carol.iq("set", publish("urn:example:kept", "<k xmlns='urn:example'>v</k>", "k1",
                               pubsub__access_model="open")))
    carol.close()
    server.restart()
    dave = server.raw_login("dave", "persist")
    ans = ok(dave.iq("get", items("urn:example:kept"), to=server.jid("carol")))
    assert item_ids(ans) == ["k1"]


def test_disco(server):
    alice = server.raw_login("alice", "disco")
    ok(alice.iq("set", publish("urn:example:open-node", "<a xmlns='x'/>",
                               pubsub__access_model="open")))
    ok(alice.iq("set", publish("urn:example:private-node", "<a xmlns='x'/>",
                               pubsub__access_model="whitelist")))
    for asker in ("alice", "dave"):
        r = alice if asker == "alice" else server.raw_login("dave", "disco")
        ans = ok(r.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.jid("alice")))
        query = ans.find(q(NS_DISCO_INFO, "query"))
        idents = {(i.get("category"), i.get("type"))
                  for i in query.findall(q(NS_DISCO_INFO, "identity"))}
        assert {("account", "registered"), ("pubsub", "pep")} <= idents, to_str(ans)
        feats = {f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))}
        for f in ("#publish", "#publish-options", "#auto-create", "#last-published",
                  "#access-open", "#retrieve-items"):
            assert NS_PUBSUB + f in feats, f
        ans = ok(r.iq("get", f"<query xmlns='{NS_DISCO_ITEMS}'/>", to=server.jid("alice")))
        nodes = {i.get("node") for i in ans.iter(q(NS_DISCO_ITEMS, "item"))}
        assert "urn:example:open-node" in nodes
        assert ("urn:example:private-node" in nodes) == (asker == "alice"), (asker, nodes)
        ans = r.iq("get", f"<query xmlns='{NS_DISCO_INFO}' node='urn:example:private-node'/>",
                   to=server.jid("alice"))
        assert ans.get("type") == ("result" if asker == "alice" else "error"), to_str(ans)
    ans = alice.iq("get", f"<query xmlns='{NS_DISCO_INFO}'/>", to=server.jid("nobody"))
    assert stanza_error_condition(ans)[1] == "service-unavailable", to_str(ans)


# ---- events -------------------------------------------------------------------------------

def test_caps_verified_and_cached(server):
    feats = notify_features("urn:example:cached")
    a = server.raw_login("carol", "c1")
    iq = announce(a, feats)
    assert iq is not None and iq.get("from") == server.domain
    node = iq.find(q(NS_DISCO_INFO, "query")).get("node")
    assert node.endswith("#" + caps_ver(feats)), node
    # the same ver again: known, not asked
    b = server.raw_login("carol", "c2")
    assert announce(b, feats) is None, "asked again for a verified ver"
    # a ver that does not match what the client answers is used for that session only
    bogus = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    c = server.raw_login("carol", "c3")
    assert announce(c, feats, ver=bogus) is not None
    d = server.raw_login("carol", "c4")
    assert announce(d, feats, ver=bogus) is not None, "an unverified ver was cached"


def test_events_to_interested_contacts(server):
    node = "urn:example:mood"
    mutual(server, "alice", "bob")
    mutual(server, "alice", "carol")
    set_sub(server, "dave", "alice", "to")  # dave asked, alice never approved: not a subscriber
    alice = server.raw_login("alice", "pub")
    announce(alice, notify_features(node))
    bob = server.raw_login("bob", "interested")
    announce(bob, notify_features(node))
    carol = server.raw_login("carol", "not-interested")
    announce(carol, notify_features("urn:example:other"))
    dave = server.raw_login("dave", "stranger")
    announce(dave, notify_features(node))

    ok(alice.iq("set", publish(node, "<m xmlns='urn:example'>happy</m>", "m1")))
    for r in (bob, alice):  # the owner's own interested resources get it too
        msg = wait_event(r, node)
        assert msg.get("type") == "headline" and msg.get("from") == server.jid("alice")
        assert event_items(msg) == (node, ["m1"], [])
        assert msg.find(f".//{q('urn:example', 'm')}").text == "happy"
    assert not events(carol, 0.7), "an event to a resource without +notify"
    assert not events(dave, 0.2), "an event to someone without a subscription"

    ok(alice.iq("set", retract(node, "m1", notify=True)))
    assert event_items(wait_event(bob, node)) == (node, [], ["m1"])
    ok(alice.iq("set", retract(node, "m1", notify=False)) if False else
       alice.iq("set", publish(node, "<m xmlns='urn:example'>x</m>", "m2")))
    wait_event(bob, node)
    ok(alice.iq("set", retract(node, "m2", notify=False)))
    assert not events(bob, 0.7), "a retract event without notify"

    # whitelist nodes tell nobody but the owner
    wl = "urn:example:secret"
    announce(bob, notify_features(node, wl))
    announce(alice, notify_features(node, wl))
    ok(alice.iq("set", publish(wl, "<s xmlns='urn:example'/>", "s", pubsub__access_model="whitelist")))
    wait_event(alice, wl)
    assert not events(bob, 0.7), "a whitelist event to a contact"

    # unavailable resources get nothing
    bob.send("<presence type='unavailable'/>")
    bob.ping()
    ok(alice.iq("set", publish(node, "<m xmlns='urn:example'>sad</m>", "m3")))
    assert not events(bob, 0.7), "an event to an unavailable resource"


def test_last_item_at_login(server):
    node = "urn:example:status"
    mutual(server, "dave", "carol")
    dave = server.raw_login("dave", "pub2")
    ok(dave.iq("set", publish(node, "<s xmlns='urn:example'>old</s>", "s1")))
    ok(dave.iq("set", publish(node, "<s xmlns='urn:example'>new</s>", "s2")))
    ok(dave.iq("set", publish("urn:example:quiet", "<s xmlns='urn:example'/>", "q",
                              pubsub__send_last_published_item="never")))
    carol = server.raw_login("carol", "late")
    announce(carol, notify_features(node, "urn:example:quiet"))
    msg = wait_event(carol, node)
    assert event_items(msg) == (node, ["s2"], []), "not just the newest item: " + to_str(msg)
    assert msg.get("from") == server.jid("dave")
    assert msg.find(q(NS_DELAY, "delay")) is not None, "no delay stamp on an old item"
    assert not [e for e in events(carol, 0.7) if event_items(e)[0] == "urn:example:quiet"]
    # the same presence again does not resend; coming back does
    announce(carol, notify_features(node, "urn:example:quiet"))
    assert not [e for e in events(carol, 0.5) if event_items(e)[0] == node]
    carol.send("<presence type='unavailable'/>")
    announce(carol, notify_features(node, "urn:example:quiet"))
    assert event_items(wait_event(carol, node))[1] == ["s2"]


@async_test(timeout=60)
async def test_slixmpp_nick_notify(server):
    """slixmpp's own XEP-0115 and XEP-0163 plugins: bob's client says +notify for the nick,
    carol's does not; only bob gets alice's new nick."""
    import xmpp_client
    mutual(server, "alice", "bob")
    mutual(server, "alice", "carol")

    async def client(user, interests):
        c = xmpp_client.Client(server.jid(user, "slix"), server.password(user), "127.0.0.1",
                               server.port, server.domain)
        for p in ("xep_0060", "xep_0115", "xep_0163"):
            c.register_plugin(p)
        got = asyncio.Queue()
        c.add_event_handler("pubsub_publish", lambda m: got.put_nowait(m))
        c.start()
        await c.wait_ready()
        for ns in interests:
            c["xep_0163"].add_interest(ns)
        await c["xep_0115"].update_caps(broadcast=False)
        c.send_presence()
        await asyncio.sleep(0.5)  # caps discovery: the server asks, slixmpp answers
        await c.ping_server()
        return c, got

    bob, bob_got = await client("bob", [NICK])
    carol, carol_got = await client("carol", ["urn:example:unrelated"])
    alice = await server.client("alice")
    alice.register_plugin("xep_0060")
    payload = alice["xep_0060"].stanza.Item()
    payload.xml.append(payload.xml.makeelement(f"{{{NICK}}}nick", {}))
    payload.xml[0].text = "Alice in PEP"
    await alice["xep_0060"].publish(server.jid("alice"), NICK, id="n1", payload=payload.xml[0],
                                    timeout=5)
    while True:  # bob's own nick (published earlier) may come first, at his login
        msg = await asyncio.wait_for(bob_got.get(), 5)
        assert msg["pubsub_event"]["items"]["node"] == NICK
        if msg["from"].bare == server.jid("alice"):
            break
    assert msg["pubsub_event"]["items"]["item"]["id"] == "n1"
    await asyncio.sleep(0.7)
    assert carol_got.empty(), "carol's client did not ask for nick events"


def test_newest_items_when_subscription_approved(make_server):
    """XEP-0163 §4.3: when alice approves bob's subscription through the roster protocol,
    bob's interested resource gets alice's newest items at once."""
    srv = make_server()
    alice = srv.raw_login("alice", "owner")
    ok(alice.iq("set", publish(NICK, nick("Alice A"), "n1")))
    ok(alice.iq("set", publish("urn:example:hidden", "<h xmlns='urn:example'/>", "h",
                               pubsub__access_model="whitelist")))
    announce(alice, notify_features())
    bob = srv.raw_login("bob", "fan")
    announce(bob, notify_features(NICK, "urn:example:hidden"))
    assert not events(bob, 0.5), "events before any subscription"
    bob.send(f"<presence to='{srv.jid('alice')}' type='subscribe'/>")
    alice.wait_stanza(lambda e: e.tag == q(NS_CLIENT, "presence")
                      and e.get("type") == "subscribe", what="subscription request")
    alice.send(f"<presence to='{srv.jid('bob')}' type='subscribed'/>")
    msg = wait_event(bob, NICK)
    assert msg.get("from") == srv.jid("alice")
    assert event_items(msg) == (NICK, ["n1"], [])
    got = events(bob, 0.7)
    assert not [e for e in got if event_items(e)[0] == "urn:example:hidden"], \
        "a whitelist item went to a new subscriber"


def test_blocked_contact_sees_nothing(make_server):
    """XEP-0191: someone the owner blocks reads no items, vCard or disco on the owner's
    behalf (as if there were no such account) and gets no events, not even at login."""
    srv = make_server()
    mutual(srv, "alice", "dave")
    alice = srv.raw_login("alice", "blocker")
    ok(alice.iq("set", publish(OMEMO_LIST, devicelist(1), "current",
                               pubsub__access_model="open")))
    ok(alice.iq("set", publish(NICK, nick("A"), "n1")))
    ok(alice.iq("set", "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>"))
    announce(alice, notify_features())
    ok(alice.iq("set", f"<block xmlns='urn:xmpp:blocking'><item jid='{srv.jid('dave')}'/>"
                       "</block>"))
    dave = srv.raw_login("dave", "blocked")
    announce(dave, notify_features(NICK))
    for payload in (items(OMEMO_LIST), items(NICK), "<vCard xmlns='vcard-temp'/>",
                    f"<query xmlns='{NS_DISCO_INFO}'/>", f"<query xmlns='{NS_DISCO_ITEMS}'/>"):
        ans = dave.iq("get", payload, to=srv.jid("alice"))
        assert stanza_error_condition(ans)[1] == "service-unavailable", to_str(ans)
    assert not [e for e in events(dave, 0.5) if event_items(e)[0] == NICK], "newest at login"
    ok(alice.iq("set", publish(NICK, nick("A2"), "n2")))
    assert not [e for e in events(dave, 0.7) if event_items(e)[0] == NICK], "a live event"
    # carol, not blocked, still reads
    carol = srv.raw_login("carol", "other")
    assert item_ids(ok(carol.iq("get", items(OMEMO_LIST), to=srv.jid("alice")))) == ["current"]
