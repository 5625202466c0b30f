"""Authentication: STARTTLS and direct TLS, SASL SCRAM-SHA-256 / SCRAM-SHA-1 / PLAIN, refusals
that do not tell unknown users from wrong passwords, PLAIN only over TLS, and no stanza before
authentication."""

import base64
import os
import socket
import ssl
import warnings

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import (NS_SASL, NS_STREAM, NS_TLS, mechanisms, q,  # noqa: E402
                        stream_error_condition, to_str)
from xmpp_client import AuthFailed, async_test, in_thread  # noqa: E402

MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("user", ["alice", "carol"])
@pytest.mark.parametrize("mech", MECHS)
@async_test(timeout=40)
async def test_starttls_login(server, mech, user):
    c = await server.client(user, mech=mech)
    assert c.tls_version in TLS_VERSIONS, f"session not over TLS: {c.tls_version}"
    assert c.mech_used == mech
    assert c.boundjid.bare == server.jid(user)
    await c.ping_server()


@pytest.mark.parametrize("mech", MECHS)
@async_test(timeout=40)
async def test_direct_tls_login(server, mech):
    c = await server.client("alice", mech=mech, direct_tls=True)
    assert c.tls_version in TLS_VERSIONS
    assert c.mech_used == mech
    assert c.boundjid.bare == server.jid("alice")
    await c.ping_server()


def test_direct_tls_features(server):
    r = server.raw(direct_tls=True)
    assert r.tls_version in TLS_VERSIONS
    feats = r.open_stream()
    assert feats.find(q(NS_TLS, "starttls")) is None, \
        "STARTTLS offered on a connection that is already TLS: " + to_str(feats)
    mechs = mechanisms(feats)
    for m in MECHS:
        assert m in mechs, f"{m} not offered on direct TLS: {mechs}"
    # And a full login works on it.
    ans = r.auth_plain("alice", server.password("alice"))
    assert ans.tag == q(NS_SASL, "success"), to_str(ans)


def test_features_before_and_after_starttls(server):
    r = server.raw()
    feats = r.open_stream()
    assert r.stream_attrs.get("from") == server.domain
    assert r.stream_attrs.get("id"), "stream header without id"
    assert feats.find(q(NS_TLS, "starttls")) is not None, "no STARTTLS: " + to_str(feats)
    assert "PLAIN" not in mechanisms(feats), "PLAIN offered before TLS"
    r.starttls()
    assert r.tls_version in TLS_VERSIONS
    feats = r.open_stream()
    assert feats.find(q(NS_TLS, "starttls")) is None, "STARTTLS offered again after TLS"
    mechs = mechanisms(feats)
    for m in MECHS:
        assert m in mechs, f"{m} not offered after STARTTLS: {mechs}"


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct-tls"])
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_below_1_2_refused(server, version, direct):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        v = getattr(ssl.TLSVersion, version)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = v
        ctx.maximum_version = v
    r = server.raw()
    if not direct:
        r.open_stream()
        r.send(f"<starttls xmlns='{NS_TLS}'/>")
        r.wait_tag(q(NS_TLS, "proceed"))
    sock = r.sock if not direct else socket.create_connection(("127.0.0.1", server.tls_port),
                                                              timeout=5)
    with pytest.raises(ssl.SSLError) as ei:
        ctx.wrap_socket(sock, server_hostname=server.domain)
    if "NO_PROTOCOLS_AVAILABLE" in str(ei.value) or "UNSUPPORTED_PROTOCOL" in str(ei.value):
        pytest.skip(f"this OpenSSL client cannot even try {version}")
    # The alert came from the server: it refused the old version.
    assert "ALERT_PROTOCOL_VERSION" in str(ei.value), str(ei.value)
    sock.close()


@pytest.mark.parametrize("mech", MECHS)
@async_test(timeout=40)
async def test_wrong_password_refused(server, mech):
    with pytest.raises(AuthFailed) as ei:
        await server.client("alice", mech=mech, password="not-the-password")
    assert ei.value.condition == "not-authorized"
    # The right password still works (and resets the server's per-IP failure delay, which
    # doubles with every failure and would slow the following tests down).
    await server.client("alice", mech=mech)


@pytest.mark.parametrize("mech", MECHS)
@async_test(timeout=40)
async def test_unknown_user_refused(server, mech):
    with pytest.raises(AuthFailed) as ei:
        await server.client("nobody", mech=mech, password="whatever")
    assert ei.value.condition == "not-authorized"
    await server.client("alice", mech=mech)  # resets the per-IP failure delay


def _scram_first(server, user):
    r = server.raw()
    r.open_stream()
    r.starttls()
    r.open_stream()
    ans = r.auth("SCRAM-SHA-256", f"n,,n={user},r=clientnonce0123456789".encode())
    assert ans.tag == q(NS_SASL, "challenge"), \
        f"no SCRAM challenge for {user}: " + to_str(ans)
    fields = dict(kv.split("=", 1) for kv in base64.b64decode(ans.text).decode().split(","))
    r.close()
    return fields


def test_unknown_user_gets_a_scram_challenge_like_a_known_one(server):
    """Nothing before the final step may tell an unknown user from a known one."""
    known = _scram_first(server, "alice")
    unknown = _scram_first(server, "nobody")
    for f in (known, unknown):
        assert f["r"].startswith("clientnonce0123456789") and len(f["r"]) > 21
        assert base64.b64decode(f["s"]), "empty salt"
        assert int(f["i"]) >= 4096
    assert known["i"] == unknown["i"]
    assert len(base64.b64decode(known["s"])) == len(base64.b64decode(unknown["s"]))


def test_tls_required_by_default(server):
    """With require_tls (the default) no SASL succeeds on a plain connection."""
    for mech, initial in (("PLAIN", b"\0alice\0" + server.password("alice").encode()),
                          ("SCRAM-SHA-256", b"n,,n=alice,r=abcdefghijklmnop")):
        r = server.raw()
        r.open_stream()
        r.send(f"<auth xmlns='{NS_SASL}' mechanism='{mech}'>"
               f"{base64.b64encode(initial).decode()}</auth>")
        el = r.wait_stanza_or_close(
            lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "challenge"),
                                q(NS_SASL, "failure"), q(NS_STREAM, "error")),
            what="an answer to <auth/> before TLS")
        assert el is None or el.tag in (q(NS_SASL, "failure"), q(NS_STREAM, "error")), \
            f"{mech} went ahead on a plain connection with require_tls: " + to_str(el)
        r.close()


@async_test(timeout=60)
async def test_plain_only_over_tls_when_tls_optional(make_server):
    srv = make_server(overrides=["c2s.require_tls=false"])

    def raw_checks():
        r = srv.raw()
        feats = r.open_stream()
        assert feats.find(q(NS_TLS, "starttls")) is not None, "STARTTLS not offered"
        mechs = mechanisms(feats)
        assert "PLAIN" not in mechs, f"PLAIN offered on a plain connection: {mechs}"
        assert "SCRAM-SHA-256" in mechs and "SCRAM-SHA-1" in mechs, mechs
        # Asking for PLAIN anyway must not log in.
        r.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>"
               + base64.b64encode(b"\0alice\0" + srv.password("alice").encode()).decode()
               + "</auth>")
        el = r.wait_stanza_or_close(
            lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure"),
                                q(NS_SASL, "challenge"), q(NS_STREAM, "error")),
            what="an answer to PLAIN without TLS")
        assert el is None or el.tag != q(NS_SASL, "success"), "PLAIN accepted without TLS"
        assert el is None or el.tag != q(NS_SASL, "challenge"), to_str(el)
        r.close()
        # After STARTTLS the same server offers PLAIN.
        r = srv.raw()
        r.open_stream()
        r.starttls()
        mechs = mechanisms(r.open_stream())
        assert "PLAIN" in mechs, f"PLAIN not offered over TLS: {mechs}"
        r.close()

    await in_thread(raw_checks)
    # SCRAM over the plain connection logs in (TLS is optional here).
    c = await srv.client("alice", mech="SCRAM-SHA-256", starttls=False)
    assert c.tls_version is None
    await c.ping_server()


STANZAS_BEFORE_AUTH = {
    "message": "<message to='{to}' type='chat'><body>sneaky</body></message>",
    "iq": "<iq type='get' id='early1' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>",
    "presence": "<presence/>",
}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("kind", sorted(STANZAS_BEFORE_AUTH))
@async_test(timeout=40)
async def test_stanza_before_auth_is_not_authorized(server, kind, tls):
    bob = await server.client("bob", resource="victim")
    r = server.raw()

    def talk():
        r.open_stream()
        if tls:
            r.starttls()
            r.open_stream()
        r.send(STANZAS_BEFORE_AUTH[kind].format(to=bob.boundjid.full, domain=server.domain))
        err = r.expect_stream_error("not-authorized")
        assert stream_error_condition(err) == "not-authorized"
        # Nothing but the error came back (no ping answer, no routed echo).
        stray = [to_str(e) for e in r.stanzas if e.tag != q(NS_STREAM, "features")]
        assert not stray, f"stanzas besides the stream error: {stray}"

    await in_thread(talk)
    await bob.expect_no_message(within=0.5)
    await bob.ping_server()

