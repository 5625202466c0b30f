"""Private XML storage (XEP-0049, jabber:iq:private): set and get per namespace, the empty
element back when nothing is stored, several elements of one namespace kept together,
reserved namespaces and empty queries refused, other users' storage forbidden."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import q, stanza_error_condition, to_str  # noqa: E402

NS = "jabber:iq:private"


def query(inner):
    return f"<query xmlns='{NS}'>{inner}</query>"


def test_set_get(server):
    r = server.raw_login("alice", "priv")
    ans = r.iq("get", query("<prefs xmlns='urn:example:prefs'/>"))
    assert ans.get("type") == "result", to_str(ans)
    el = ans.find(q(NS, "query")).find(q("urn:example:prefs", "prefs"))
    assert el is not None and len(el) == 0, "not the empty element back: " + to_str(ans)

    ans = r.iq("set", query("<prefs xmlns='urn:example:prefs'><a>1 &amp; 2</a></prefs>"
                            "<storage xmlns='storage:bookmarks'><url name='x' url='http://x'/>"
                            "</storage>"))
    assert ans.get("type") == "result", to_str(ans)
    ans = r.iq("get", query("<prefs xmlns='urn:example:prefs'/>"))
    el = ans.find(q(NS, "query")).find(q("urn:example:prefs", "prefs"))
    assert el.findtext(q("urn:example:prefs", "a")) == "1 & 2", to_str(ans)
    ans = r.iq("get", query("<storage xmlns='storage:bookmarks'/>"))
    st = ans.find(q(NS, "query")).find(q("storage:bookmarks", "storage"))
    assert st.find(q("storage:bookmarks", "url")).get("name") == "x", to_str(ans)

    # replaced as a whole; two elements of one namespace stay together
    r.iq("set", query("<prefs xmlns='urn:example:prefs'><b/></prefs>"
                      "<prefs xmlns='urn:example:prefs'><c/></prefs>"))
    ans = r.iq("get", query("<prefs xmlns='urn:example:prefs'/>"))
    got = ans.find(q(NS, "query")).findall(q("urn:example:prefs", "prefs"))
    assert [len(g) for g in got] == [1, 1], to_str(ans)
    assert got[0].find(q("urn:example:prefs", "b")) is not None

    # another user's storage is separate
    b = server.raw_login("bob", "priv")
    ans = b.iq("get", query("<prefs xmlns='urn:example:prefs'/>"))
    assert len(ans.find(q(NS, "query")).find(q("urn:example:prefs", "prefs"))) == 0


@pytest.mark.parametrize("ns", ["jabber:iq:roster", "jabber:iq:private", "vcard-temp",
                                "http://jabber.org/protocol/disco#info"])
def test_reserved_namespaces(server, ns):
    r = server.raw_login("carol", "priv")
    for type_ in ("get", "set"):
        ans = r.iq(type_, query(f"<x xmlns='{ns}'/>"))
        assert stanza_error_condition(ans) == ("modify", "not-acceptable"), to_str(ans)


def test_refusals(server):
    r = server.raw_login("dave", "priv")
    assert stanza_error_condition(r.iq("get", query("")))[1] == "not-acceptable"
    assert stanza_error_condition(r.iq("set", query("")))[1] == "not-acceptable"
    ans = r.iq("get", query("<a xmlns='urn:a'/><b xmlns='urn:b'/>"))
    assert stanza_error_condition(ans) == ("modify", "bad-request"), to_str(ans)
    for type_ in ("get", "set"):
        ans = r.iq(type_, query("<a xmlns='urn:a'/>"), to=server.jid("alice"))
        assert stanza_error_condition(ans) == ("cancel", "forbidden"), to_str(ans)
    assert r.ping().get("type") == "result"


def test_namespace_cap(server):
    r = server.raw_login("bob", "cap")
    for i in range(64):
        ans = r.iq("set", query(f"<a xmlns='urn:cap:{i}'/>"))
        assert ans.get("type") == "result", to_str(ans)
    ans = r.iq("set", query("<a xmlns='urn:cap:one-too-many'/>"))
    assert stanza_error_condition(ans) == ("wait", "resource-constraint"), to_str(ans)
    # replacing one that exists is still fine
    assert r.iq("set", query("<a xmlns='urn:cap:0'><z/></a>")).get("type") == "result"
