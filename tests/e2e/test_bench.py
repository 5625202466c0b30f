"""tern-bench against a real ternd, small enough for CI: accounts from `ternctl user import`
(with and without a shared salt), then the login, chat and idle scenarios over STARTTLS with
SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN. Asserts what the JSON line reports: every session bound,
every message delivered, latency and server readings present. The numbers are printed, never
compared with a threshold (benchmarks print numbers; they do not assert speed)."""

import json
import os
import subprocess

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from conftest import san_env, sanitizer_lines  # noqa: E402

TERN_BENCH = os.environ.get("TERN_BENCH", "")
BENCH_TIMEOUT = 60
PASSWORD = "bench pass ü"  # a blank and UTF-8: the import takes the rest of the line
N_USERS = 40

pytestmark = pytest.mark.skipif(not TERN_BENCH, reason="TERN_BENCH is not set")


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory):
    """A ternd whose accounts b1..b40 come from one import with a shared salt and r1..r4
    from one without."""
    from conftest import ServerPool
    pool = ServerPool(tmp_path_factory, "bench")
    srv = pool.start(name="bench", start=False,
                     overrides=["limits.max_conns_per_ip=1000", "limits.conn_rate_per_ip=0"])
    lines = "".join(f"b{i} {PASSWORD}\n" for i in range(1, N_USERS + 1))
    listing = srv.dir / "users.txt"
    listing.write_text("# benchmark accounts\n\n" + lines)
    cp = srv.ternctl("user", "import", "--salt", "tern-bench-salt", str(listing))
    assert cp.returncode == 0, cp.stderr
    assert f"{N_USERS} accounts imported" in cp.stderr
    cp = srv.ternctl("user", "import",
                     stdin="".join(f"r{i}@{srv.domain} {PASSWORD}\n" for i in range(1, 5)))
    assert cp.returncode == 0, cp.stderr
    srv.start()
    yield srv
    problems = pool.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def run_bench(srv, scenario, *args, prefix="b", password=PASSWORD, expect_rc=0):
    argv = [TERN_BENCH, "--port", str(srv.port), "--domain", srv.domain, "--prefix", prefix,
            "--password", password, "--pid", str(srv.proc.pid), "--label", "tern",
            *map(str, args), scenario]
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=BENCH_TIMEOUT,
                        env=san_env())
    print(cp.stdout)
    assert not sanitizer_lines(cp.stderr), cp.stderr
    assert cp.returncode == expect_rc, f"exit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    last = cp.stdout.strip().splitlines()[-1]
    return json.loads(last), cp.stdout


def test_chat_delivers_every_message(bench_server):
    res, out = run_bench(bench_server, "chat", "--pairs", 10, "--rate", 200, "--seconds", 2)
    assert res["scenario"] == "chat" and res["bound"] == 20 and res["failed"] == 0
    step = res["result"]
    assert 300 <= step["sent"] <= 420, step
    assert step["delivered"] == step["sent"] and step["lost"] == 0 and step["bounced"] == 0
    lat = step["latency_us"]
    assert lat["n"] == step["delivered"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert step["server_cpu_pct"] >= 0 and step["server_cpu_us_per_msg"] > 0
    assert "delivered" in out and "p99" in out  # the human-readable lines


def test_chat_flat_out_and_scram_sha256(bench_server):
    res, _ = run_bench(bench_server, "chat", "--pairs", 5, "--rate", 0, "--window", 2,
                       "--seconds", 1, "--mech", "SCRAM-SHA-256")
    step = res["result"]
    assert res["bound"] == 10 and step["rate"] == 0
    assert step["sent"] >= 20 and step["delivered"] == step["sent"], step


def test_login_plain_and_per_account_salts(bench_server):
    res, _ = run_bench(bench_server, "login", "--count", 30, "--concurrency", 8,
                       "--mech", "PLAIN")
    assert res["bound"] == 30 and res["failed"] == 0 and res["logins_per_s"] > 0
    assert res["login_us"]["n"] == 30
    # accounts with their own salts: one key derivation per login on the bench side
    res, _ = run_bench(bench_server, "login", "--count", 4, "--prefix", "r")
    assert res["bound"] == 4 and res["failed"] == 0


def test_idle_reads_server_rss(bench_server):
    res, out = run_bench(bench_server, "idle", "--count", 20, "--seconds", 1)
    assert res["bound"] == 20 and res["disconnects"] == 0
    assert res["rss_kb"] > 0 and res["rss_before_kb"] > 0
    assert "KB per session" in out


def test_wrong_password_counts_failures(bench_server):
    res, out = run_bench(bench_server, "login", "--count", 3, password="wrong", expect_rc=2)
    assert res["bound"] == 0 and res["failed"] == 3
    assert "authentication failed" in out


def test_import_is_all_or_nothing(bench_server):
    srv = bench_server
    before = srv.ternctl("user", "list").stdout.splitlines()
    # the second line repeats an existing account: nothing of this file may be created
    cp = srv.ternctl("user", "import", stdin=f"n1 {PASSWORD}\nb1 {PASSWORD}\n")
    assert cp.returncode == 3, cp.stderr
    assert "line 2" in cp.stderr
    for bad in ("lonely-user\n", "x@elsewhere.test pw\n", "bad/name pw\n"):
        cp = srv.ternctl("user", "import", stdin=bad)
        assert cp.returncode == 1, (bad, cp.stderr)
    cp = srv.ternctl("user", "import", "--salt", "", stdin=f"n2 {PASSWORD}\n")
    assert cp.returncode == 1, cp.stderr
    assert srv.ternctl("user", "list").stdout.splitlines() == before
    cp = srv.ternctl("user", "import", "--help")
    assert cp.returncode == 0 and "BENCHMARK ACCOUNTS ONLY" in cp.stdout
