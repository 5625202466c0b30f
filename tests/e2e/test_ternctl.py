"""ternctl user management, run while ternd is running: add / duplicate / list / check /
passwd / del, exit codes (0 ok, 1 usage, 2 config, 3 not found or exists, 4 wrong password),
and XMPP logins that follow every change at once."""

import os

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from conftest import run_ternctl  # noqa: E402
from xmpp_client import AuthFailed, async_test  # noqa: E402

OK, USAGE, CONFIG, NOT_FOUND, WRONG_PW = 0, 1, 2, 3, 4
ALL_MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]


def _add(server, user, password):
    cp = server.ternctl("user", "add", server.jid(user), password=password)
    assert cp.returncode == OK, f"add {user}: {cp.returncode} {cp.stderr}"
    server.users[user] = password
    return cp


def _list(server):
    cp = server.ternctl("user", "list")
    assert cp.returncode == OK, cp.stderr
    return cp.stdout.splitlines()


def test_help_exits_0(server):
    cp = run_ternctl(None, "--help")
    assert cp.returncode == OK, cp.stderr
    assert "user" in (cp.stdout + cp.stderr)


def test_usage_errors_exit_1(server):
    for args in (["user"], ["user", "add"], ["user", "frobnicate", server.jid("alice")],
                 ["nosuchcommand"]):
        cp = server.ternctl(*args)
        assert cp.returncode == USAGE, f"{args}: exit {cp.returncode} {cp.stderr}"
    cp = run_ternctl(None)
    assert cp.returncode == USAGE, cp.stderr


def test_config_errors_exit_2(server, tmp_path):
    cp = run_ternctl(tmp_path / "missing.conf", "user", "list")
    assert cp.returncode == CONFIG, cp.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text(f"domain = {server.domain}\ndata_dir = {server.data_dir}\nbogus = 1\n")
    cp = run_ternctl(bad, "user", "list")
    assert cp.returncode == CONFIG, cp.stderr
    assert f"{bad}:3:" in cp.stderr, cp.stderr


def test_list_prints_one_jid_per_line(server):
    assert sorted(_list(server)) == sorted(server.jid(u) for u in server.users)


@async_test(timeout=60)
async def test_add_while_running_then_login(server):
    _add(server, "frank", "frank-pw")
    assert server.jid("frank") in _list(server)
    for mech in ALL_MECHS:
        c = await server.client("frank", mech=mech)
        await c.ping_server()
        await c.close()


def test_duplicate_add_exits_3_and_keeps_password(server):
    _add(server, "gina", "gina-pw")
    cp = server.ternctl("user", "add", server.jid("gina"), password="other-pw")
    assert cp.returncode == NOT_FOUND, f"duplicate add: exit {cp.returncode} {cp.stderr}"
    assert server.ternctl("user", "check", server.jid("gina"),
                          password="gina-pw").returncode == OK
    assert server.ternctl("user", "check", server.jid("gina"),
                          password="other-pw").returncode == WRONG_PW
    assert _list(server).count(server.jid("gina")) == 1


def test_check_right_wrong_unknown(server):
    jid = server.jid("alice")
    assert server.ternctl("user", "check", jid, password=server.password("alice")
                          ).returncode == OK
    assert server.ternctl("user", "check", jid, password="wrong").returncode == WRONG_PW
    assert server.ternctl("user", "check", server.jid("nosuchuser"),
                          password="x").returncode == NOT_FOUND


def test_password_without_trailing_newline(server):
    jid = server.jid("hank")
    cp = server.ternctl("user", "add", jid, stdin="hank-pw")  # printf, not echo
    assert cp.returncode == OK, cp.stderr
    server.users["hank"] = "hank-pw"
    assert server.ternctl("user", "check", jid, password="hank-pw").returncode == OK
    assert server.ternctl("user", "check", jid, stdin="hank-pw").returncode == OK


@async_test(timeout=90)
async def test_passwd_then_login_with_new_password(server):
    _add(server, "ivan", "old-pw")
    c = await server.client("ivan")
    await c.close()
    cp = server.ternctl("user", "passwd", server.jid("ivan"), password="new-pw ✓")
    assert cp.returncode == OK, cp.stderr
    server.users["ivan"] = "new-pw ✓"
    assert server.ternctl("user", "check", server.jid("ivan"),
                          password="new-pw ✓").returncode == OK
    assert server.ternctl("user", "check", server.jid("ivan"),
                          password="old-pw").returncode == WRONG_PW
    for mech in ALL_MECHS:  # both SCRAM credentials were replaced, not just one
        c = await server.client("ivan", mech=mech)
        await c.ping_server()
        await c.close()
        with pytest.raises(AuthFailed) as ei:
            await server.client("ivan", mech=mech, password="old-pw")
        assert ei.value.condition == "not-authorized"
    cp = server.ternctl("user", "passwd", server.jid("nosuchuser"), password="x")
    assert cp.returncode == NOT_FOUND, cp.stderr


@async_test(timeout=90)
async def test_del_then_login_fails(server):
    _add(server, "jane", "jane-pw")
    c = await server.client("jane")
    await c.close()
    cp = server.ternctl("user", "del", server.jid("jane"))
    assert cp.returncode == OK, cp.stderr
    del server.users["jane"]
    assert server.jid("jane") not in _list(server)
    for mech in ALL_MECHS:
        with pytest.raises(AuthFailed) as ei:
            await server.client("jane", mech=mech, password="jane-pw")
        assert ei.value.condition == "not-authorized"
    assert server.ternctl("user", "check", server.jid("jane"),
                          password="jane-pw").returncode == NOT_FOUND
    assert server.ternctl("user", "del", server.jid("jane")).returncode == NOT_FOUND
    # The name can be taken again, with a new password.
    _add(server, "jane", "jane-pw-2")
    c = await server.client("jane")
    await c.ping_server()


def test_list_after_changes(server):
    """Runs after the tests above (file order): the list follows every add and del."""
    assert sorted(_list(server)) == sorted(server.jid(u) for u in server.users)
