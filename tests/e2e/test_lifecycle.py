"""Process lifecycle: SIGTERM / SIGINT with clients connected (each gets </stream:stream>, the
server exits 0 promptly), `ternd --check`, a config holding only domain and data_dir (with a
self-signed ECDSA certificate made on first start and kept), restarts keeping accounts."""

import os
import signal
import subprocess
import ssl

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from conftest import TERND, free_port, port_accepts, san_env, sanitizer_lines  # noqa: E402
from raw_stream import NS_STREAM, q  # noqa: E402
from xmpp_client import async_test, in_thread  # noqa: E402

PROMPT_EXIT = 8.0  # seconds from the signal to the exit, with clients that never answer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@async_test(timeout=60)
async def test_signal_closes_every_stream_and_exits_0(make_server, sig):
    srv = make_server()
    alice = await srv.client("alice")
    bob = await srv.client("bob", direct_tls=True)
    logged = srv.raw()
    await in_thread(logged.login, "carol", srv.password("carol"), "raw")
    pre_auth = srv.raw()
    await in_thread(pre_auth.open_stream)
    pre_auth_tls = srv.raw()

    def tls_pre_auth():
        pre_auth_tls.open_stream()
        pre_auth_tls.starttls()
        pre_auth_tls.open_stream()
    await in_thread(tls_pre_auth)

    rc, elapsed = await in_thread(srv.terminate, sig, 15.0)
    assert rc == 0, f"ternd exited with {rc} after {sig.name}\n{srv.log_tail()}"
    assert elapsed <= PROMPT_EXIT, f"ternd took {elapsed:.1f} s to exit after {sig.name}"

    for name, r in (("logged-in", logged), ("pre-auth", pre_auth),
                    ("pre-auth TLS", pre_auth_tls)):
        await in_thread(r.wait_closed, 5.0)
        assert r.stream_closed, f"{name} raw client got no </stream:stream>" + r.context()
        errs = [e for e in r.stanzas if e.tag == q(NS_STREAM, "error")]
        for e in errs:
            cond = [c.tag for c in e]
            assert any(t.endswith("}system-shutdown") for t in cond), \
                f"{name}: unexpected stream error at shutdown: {cond}"
    for c in (alice, bob):
        await c.wait_ended(5.0)
        assert c.end_reason == "End of stream", \
            f"{c.boundjid} saw the stream end as {c.end_reason!r}, not </stream:stream>"
    assert not port_accepts(srv.port), "c2s port still accepting after exit"


def _check(path, *extra):
    cp = subprocess.run([TERND, "--check", "-c", str(path), *extra], capture_output=True,
                        text=True, timeout=15, env=san_env())
    assert not sanitizer_lines(cp.stderr), cp.stderr
    return cp


def _write(tmp_path, text, name="tern.conf"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_check_accepts_good_configs(tmp_path):
    minimal = _write(tmp_path, f"domain = example.test\ndata_dir = {tmp_path}/d\n", "min.conf")
    cp = _check(minimal)
    assert cp.returncode == 0, cp.stderr
    full = _write(tmp_path, "\n".join([
        "; a comment",
        "domain = example.test",
        f"data_dir = {tmp_path}/d",
        "workers = 2",
        "",
        "[c2s]",
        "bind = 127.0.0.1",
        f"port = {free_port()}",
        "tls_port = 0",
        "require_tls = false",
        "",
        "[limits]",
        "max_stanza = 65536",
        "max_depth = 16",
        "max_attrs = 32",
        "handshake_timeout = 30",
        "idle_timeout = 120",
        "ping_timeout = 30",
        "",
        "[log]",
        "level = warn",
        "",
    ]), "full.conf")
    cp = _check(full)
    assert cp.returncode == 0, cp.stderr


BAD = {
    # name: (text, line of the error)
    "unknown-top-level-key": ("domain = example.test\ndata_dir = {d}\nfrobnicate = 1\n", 3),
    "unknown-key-in-section": ("domain = example.test\ndata_dir = {d}\n\n[c2s]\n"
                               "port = 5222\nfrobnicate = yes\n", 6),
    # The section header or its first key: either names the problem.
    "unknown-section": ("domain = example.test\ndata_dir = {d}\n[nosuch]\nkey = 1\n", (3, 4)),
    "port-not-a-number": ("domain = example.test\ndata_dir = {d}\n[c2s]\nport = http\n", 4),
    "port-out-of-range": ("domain = example.test\ndata_dir = {d}\n[c2s]\nport = 70000\n", 4),
    "bad-bool": ("domain = example.test\ndata_dir = {d}\n[c2s]\nrequire_tls = maybe\n", 4),
    "bad-level": ("domain = example.test\ndata_dir = {d}\n[log]\nlevel = loud\n", 4),
    "max-stanza-below-min": ("domain = example.test\ndata_dir = {d}\n[limits]\n"
                             "max_stanza = 100\n", 4),
    "idle-timeout-below-min": ("domain = example.test\ndata_dir = {d}\n\n[limits]\n"
                               "idle_timeout = 3\n", 5),
    "ping-timeout-below-min": ("domain = example.test\ndata_dir = {d}\n[limits]\n"
                               "ping_timeout = 1\n", 4),
    "negative-number": ("domain = example.test\ndata_dir = {d}\n[limits]\n"
                        "max_depth = -1\n", 4),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_rejects_bad_config_with_file_and_line(tmp_path, case):
    text, lines = BAD[case]
    lines = lines if isinstance(lines, tuple) else (lines,)
    cfg = _write(tmp_path, text.format(d=tmp_path / "d"))
    cp = _check(cfg)
    assert cp.returncode != 0, f"--check accepted {case}:\n{text}"
    assert any(f"{cfg}:{line}: " in cp.stderr for line in lines), \
        f"expected '{cfg}:{lines[0]}: message' on stderr, got:\n{cp.stderr}"


def test_check_rejects_config_without_domain(tmp_path):
    cfg = _write(tmp_path, f"data_dir = {tmp_path}/d\n")
    cp = _check(cfg)
    assert cp.returncode != 0
    assert cp.stderr.strip(), "no message for a missing domain"


def test_ternd_refuses_to_start_with_bad_config(tmp_path):
    cfg = _write(tmp_path, f"domain = example.test\ndata_dir = {tmp_path}/d\nbogus = 1\n")
    cp = subprocess.run([TERND, "-c", str(cfg), "-o", "c2s.bind=127.0.0.1", "-o",
                         f"c2s.port={free_port()}", "-o", "c2s.tls_port=0"],
                        capture_output=True, text=True, timeout=15, env=san_env())
    assert cp.returncode != 0
    assert f"{cfg}:3:" in cp.stderr, cp.stderr


def _served_cert(srv, direct_tls=False):
    r = srv.raw(direct_tls=direct_tls)
    if not direct_tls:
        r.open_stream()
        r.starttls()
    der = r.sock.getpeercert(binary_form=True)
    r.close()
    return der


def _cert_files(data_dir):
    found = {}
    for p in sorted(data_dir.rglob("*")):
        if p.is_file():
            try:
                text = p.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            if "-----BEGIN CERTIFICATE-----" in text:
                found[p] = ssl.PEM_cert_to_DER_cert(
                    text[text.index("-----BEGIN CERTIFICATE-----"):])
    return found


@async_test(timeout=90)
async def test_minimal_config_starts_with_self_signed_ecdsa_cert(make_server):
    # The config file holds only domain and data_dir; -o keeps it on loopback ports.
    srv = make_server(defaults=False)
    text = srv.config_path.read_text().strip().splitlines()
    assert [line.split("=")[0].strip() for line in text] == ["domain", "data_dir"]

    served = await in_thread(_served_cert, srv)
    assert served == await in_thread(_served_cert, srv, True), \
        "STARTTLS and direct TLS serve different certificates"
    certs = _cert_files(srv.data_dir)
    assert served in certs.values(), \
        f"served certificate not found in data_dir (certificate files: {list(certs)})"
    cert_path = next(p for p, der in certs.items() if der == served)
    out = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-text"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "id-ecPublicKey" in out.stdout, "self-signed certificate is not ECDSA"

    c = await srv.client("alice", mech="SCRAM-SHA-256")
    await c.ping_server()
    await c.close()

    # The certificate is kept across a restart, and so are the accounts.
    await in_thread(srv.restart)
    assert await in_thread(_served_cert, srv) == served, "certificate changed on restart"
    c = await srv.client("alice", mech="SCRAM-SHA-1")
    await c.ping_server()


@async_test(timeout=90)
async def test_accounts_added_while_running_survive_restart(make_server):
    srv = make_server()
    cp = srv.ternctl("user", "add", srv.jid("erin"), password="erin-pw")
    assert cp.returncode == 0, cp.stderr
    srv.users["erin"] = "erin-pw"
    c = await srv.client("erin")
    await c.close()
    await in_thread(srv.restart)
    c = await srv.client("erin", mech="PLAIN")
    await c.ping_server()
