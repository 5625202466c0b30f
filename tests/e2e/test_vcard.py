"""vcard-temp (XEP-0054) with the XEP-0153 photo hash: set and get one's own vCard, get
another user's (anyone may), an empty vCard for a user who set none, service-unavailable for
no such account, vcard.max_size, and that nobody can set someone else's vCard."""

import base64
import hashlib
import os
import sqlite3

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from raw_stream import q, stanza_error_condition, to_str  # noqa: E402

NS = "vcard-temp"
MAX = 4096
SERVER_OVERRIDES = [f"vcard.max_size={MAX}"]


def vcard(fn, photo=None):
    body = f"<FN>{fn}</FN><NICKNAME>n-{fn}</NICKNAME>"
    if photo is not None:
        b64 = base64.b64encode(photo).decode()
        # wrapped the way clients wrap it: whitespace inside BINVAL is not part of the data
        wrapped = "\n".join(b64[i:i + 20] for i in range(0, len(b64), 20))
        body += f"<PHOTO><TYPE>image/png</TYPE><BINVAL>\n{wrapped}\n</BINVAL></PHOTO>"
    return f"<vCard xmlns='{NS}'>{body}</vCard>"


def photo_hash_in_db(server, user):
    db = sqlite3.connect(server.data_dir / "tern.db")
    try:
        row = db.execute("SELECT photo_hash FROM vcard WHERE user = ?", (user,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_set_get_own_and_peer(server):
    alice = server.raw_login("alice", "vc")
    photo = bytes(range(256)) * 3
    ans = alice.iq("set", vcard("Alice Á", photo))
    assert ans.get("type") == "result", to_str(ans)
    ans = alice.iq("get", f"<vCard xmlns='{NS}'/>")
    assert ans.get("type") == "result", to_str(ans)
    v = ans.find(q(NS, "vCard"))
    assert v is not None, to_str(ans)
    assert v.findtext(q(NS, "FN")) == "Alice Á"
    got = "".join(v.find(q(NS, "PHOTO")).findtext(q(NS, "BINVAL")).split())
    assert base64.b64decode(got) == photo
    assert photo_hash_in_db(server, "alice") == hashlib.sha1(photo).hexdigest()

    bob = server.raw_login("bob", "vc")
    ans = bob.iq("get", f"<vCard xmlns='{NS}'/>", to=server.jid("alice"))
    assert ans.get("type") == "result", to_str(ans)
    assert ans.get("from") == server.jid("alice")
    assert ans.find(q(NS, "vCard")).findtext(q(NS, "NICKNAME")) == "n-Alice Á"

    # replacing it: the newest wins, and no photo means no hash
    assert alice.iq("set", vcard("Alice 2")).get("type") == "result"
    ans = bob.iq("get", f"<vCard xmlns='{NS}'/>", to=server.jid("alice"))
    assert ans.find(q(NS, "vCard")).findtext(q(NS, "FN")) == "Alice 2"
    assert photo_hash_in_db(server, "alice") == ""


def test_empty_and_unknown(server):
    carol = server.raw_login("carol", "vc")
    ans = carol.iq("get", f"<vCard xmlns='{NS}'/>")
    assert ans.get("type") == "result", to_str(ans)
    v = ans.find(q(NS, "vCard"))
    assert v is not None and len(v) == 0, to_str(ans)
    ans = carol.iq("get", f"<vCard xmlns='{NS}'/>", to=server.jid("dave"))
    assert ans.get("type") == "result", to_str(ans)
    assert len(ans.find(q(NS, "vCard"))) == 0
    ans = carol.iq("get", f"<vCard xmlns='{NS}'/>", to=server.jid("nobody"))
    assert stanza_error_condition(ans) == ("cancel", "service-unavailable"), to_str(ans)


def test_limits_and_permissions(server):
    dave = server.raw_login("dave", "vc")
    big = vcard("x" * (MAX + 10))
    ans = dave.iq("set", big)
    assert stanza_error_condition(ans) == ("modify", "not-acceptable"), to_str(ans)
    just = f"<vCard xmlns='{NS}'><FN>{'y' * (MAX - 200)}</FN></vCard>"
    assert dave.iq("set", just).get("type") == "result"
    bad = f"<vCard xmlns='{NS}'><PHOTO><BINVAL>!!not base64!!</BINVAL></PHOTO></vCard>"
    assert stanza_error_condition(dave.iq("set", bad))[1] == "not-acceptable"
    ans = dave.iq("set", vcard("Mallory"), to=server.jid("bob"))
    assert stanza_error_condition(ans) == ("auth", "forbidden"), to_str(ans)
    ans = dave.iq("get", f"<vCard xmlns='{NS}'/>")
    assert ans.find(q(NS, "vCard")).findtext(q(NS, "FN")) == "y" * (MAX - 200)
    assert dave.ping().get("type") == "result"


def test_survives_restart(server):
    bob = server.raw_login("bob", "vc")
    assert bob.iq("set", vcard("Bob")).get("type") == "result"
    bob.close()
    server.restart()
    bob = server.raw_login("bob", "vc2")
    ans = bob.iq("get", f"<vCard xmlns='{NS}'/>")
    assert ans.find(q(NS, "vCard")).findtext(q(NS, "FN")) == "Bob"
