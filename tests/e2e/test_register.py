"""In-band registration (XEP-0077): account creation before authentication only when
[register] enabled and only over TLS, conflict on a taken name, not-acceptable for a bad one,
a per-address cap; password change and account removal for logged-in users whether or not
registration is enabled."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

import xmpp_client  # noqa: E402
from raw_stream import NS_SASL, q, stanza_error_condition, to_str  # noqa: E402
from xmpp_client import IqError, async_test, in_thread  # noqa: E402

NS = "jabber:iq:register"
NS_FEATURE = "http://jabber.org/features/iq-register"
ENABLED = ["register.enabled=true"]


def reg_query(user=None, password=None, extra=""):
    u = f"<username>{user}</username>" if user is not None else ""
    p = f"<password>{password}</password>" if password is not None else ""
    return f"<query xmlns='{NS}'>{u}{p}{extra}</query>"


def tls_stream(server):
    """A raw stream after STARTTLS, not authenticated; returns (raw, features)."""
    r = server.raw()
    r.open_stream()
    r.starttls()
    return r, r.open_stream()


def can_login(server, user, password):
    r = server.raw()
    r.open_stream()
    r.starttls()
    r.open_stream()
    ans = r.auth_plain(user, password)
    r.close()
    return ans.tag == q(NS_SASL, "success")


def register(server, user, password):
    r, feats = tls_stream(server)
    assert feats.find(q(NS_FEATURE, "register")) is not None, to_str(feats)
    ans = r.iq("set", reg_query(user, password))
    r.close()
    return ans


def test_register_and_login(make_server):
    srv = make_server(overrides=ENABLED)
    r, feats = tls_stream(srv)
    assert feats.find(q(NS_FEATURE, "register")) is not None, to_str(feats)
    form = r.iq("get", reg_query())
    assert form.get("type") == "result", to_str(form)
    fq = form.find(q(NS, "query"))
    assert fq.find(q(NS, "username")) is not None and fq.find(q(NS, "password")) is not None
    ans = r.iq("set", reg_query("NewUser", "new-pässword"))
    assert ans.get("type") == "result", to_str(ans)
    # the same stream goes on to log in with the new account (stored normalized)
    assert r.auth_plain("newuser", "new-pässword").tag == q(NS_SASL, "success")
    r.close()
    assert not can_login(srv, "newuser", "wrong")
    cp = srv.ternctl("user", "list")
    assert srv.jid("newuser") in cp.stdout.split()

    ans = register(srv, "alice", "x")
    assert stanza_error_condition(ans) == ("cancel", "conflict"), to_str(ans)
    assert can_login(srv, "alice", srv.password("alice")), "conflict changed the password"
    for bad in ("a b", "x@y", "with/slash", ""):
        ans = register(srv, bad, "pw")
        assert stanza_error_condition(ans) == ("modify", "not-acceptable"), (bad, to_str(ans))
    ans = register(srv, "emptypw", "")
    assert stanza_error_condition(ans) == ("modify", "not-acceptable"), to_str(ans)


def test_only_over_tls(make_server):
    srv = make_server(overrides=ENABLED)
    r = srv.raw()
    feats = r.open_stream()
    assert feats.find(q(NS_FEATURE, "register")) is None, "offered in clear: " + to_str(feats)
    r.send(f"<iq type='set' id='r1'>{reg_query('plainuser', 'pw')}</iq>")
    r.expect_stream_error("not-authorized")
    assert srv.jid("plainuser") not in srv.ternctl("user", "list").stdout.split()


def test_disabled(server):
    r, feats = tls_stream(server)
    assert feats.find(q(NS_FEATURE, "register")) is None, to_str(feats)
    r.send(f"<iq type='set' id='r1'>{reg_query('someone', 'pw')}</iq>")
    r.expect_stream_error("not-authorized")
    assert server.jid("someone") not in server.ternctl("user", "list").stdout.split()


def test_rate_limit_per_address(make_server):
    srv = make_server(overrides=ENABLED)
    for i in range(5):
        ans = register(srv, f"u{i}", "pw")
        assert ans.get("type") == "result", to_str(ans)
    ans = register(srv, "u5", "pw")
    assert stanza_error_condition(ans) == ("wait", "policy-violation"), to_str(ans)
    assert not can_login(srv, "u5", "pw")


@pytest.mark.parametrize("enabled", [False, True])
def test_change_password(make_server, enabled):
    srv = make_server(overrides=ENABLED if enabled else [])
    r = srv.raw_login("bob", "pw")
    form = r.iq("get", reg_query())
    assert form.find(q(NS, "query")).find(q(NS, "registered")) is not None, to_str(form)
    assert form.find(q(NS, "query")).findtext(q(NS, "username")) == "bob"
    ans = r.iq("set", reg_query("alice", "stolen"))
    assert stanza_error_condition(ans)[0] == "modify", "changed someone else's: " + to_str(ans)
    ans = r.iq("set", reg_query("bob", "bob-new-secret"))
    assert ans.get("type") == "result", to_str(ans)
    assert can_login(srv, "bob", "bob-new-secret")
    assert not can_login(srv, "bob", srv.password("bob"))
    assert can_login(srv, "alice", srv.password("alice"))
    # the SCRAM credentials were both set: ternctl checks SHA-256, slixmpp picks SCRAM
    cp = srv.ternctl("user", "check", srv.jid("bob"), password="bob-new-secret")
    assert cp.returncode == 0, cp.stderr


def test_remove_account(make_server):
    srv = make_server()
    other = srv.raw_login("carol", "other")
    r = srv.raw_login("carol", "me")
    ans = r.iq("set", reg_query(extra="<remove/>"))
    assert ans.get("type") == "result", to_str(ans)
    r.expect_stream_error("not-authorized")
    other.wait_closed()
    assert not can_login(srv, "carol", srv.password("carol"))
    assert srv.jid("carol") not in srv.ternctl("user", "list").stdout.split()
    # before authentication, removal is not a thing
    srv2 = make_server(overrides=ENABLED)
    r, _ = tls_stream(srv2)
    ans = r.iq("set", reg_query(extra="<remove/>"))
    assert stanza_error_condition(ans) == ("auth", "not-authorized"), to_str(ans)


@async_test(timeout=60)
async def test_slixmpp_registers_then_logs_in(make_server):
    """slixmpp's XEP-0077 plugin: it sees the stream feature, fills the form in its
    'register' handler, then logs in with the new account; later it changes its password."""
    srv = make_server(overrides=ENABLED)
    srv.users["slix"] = "slix-pass"
    c = xmpp_client.Client(srv.jid("slix"), "slix-pass", "127.0.0.1", srv.port, srv.domain)
    c.register_plugin("xep_0077")
    # slixmpp 1.8 holds back every IQ until the session starts, its own registration IQs too
    c._always_send_everything = True
    registered = []

    async def on_register(form):
        resp = c.Iq()
        resp["type"] = "set"
        resp["register"]["username"] = "slix"
        resp["register"]["password"] = "slix-pass"
        await resp.send(timeout=10)
        registered.append(True)

    c.add_event_handler("register", on_register)
    c.start()
    await c.wait_ready()
    assert registered, "the register feature was not offered or not used"
    assert c.boundjid.bare == srv.jid("slix")
    await c["xep_0077"].change_password("slix-new", timeout=10)
    await c.close()
    assert await in_thread(can_login, srv, "slix", "slix-new")
    assert not await in_thread(can_login, srv, "slix", "slix-pass")
    again = await srv.client("slix", password="slix-new")
    with pytest.raises(IqError) as ei:  # registering again over the session: not a thing
        iq = again.Iq(stype="set")
        iq["register"]["username"] = "other"
        iq["register"]["password"] = "x"
        again.register_plugin("xep_0077")
        await iq.send(timeout=5)
    assert ei.value.iq["error"]["condition"] == "bad-request"
