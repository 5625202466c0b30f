"""
Fixtures for tern's end-to-end tests: a real ternd per test module.

A `Server` is one ternd process with its own temp dir (config, data_dir, log), listening on
free loopback ports passed with -o, at log level debug, with users created through ternctl.
Every test module gets one through the module-scoped `server` fixture (a module may set
SERVER_OVERRIDES = [...] to change its settings); a test that needs other settings starts
extra servers with the `make_server` factory, which stops them when that test ends.

Invariants the fixtures enforce, so that a broken server fails a test instead of hanging it:
- every wait has a timeout (start 20 s, stop 15 s, ternctl 30 s);
- after each test every running server must still be alive, and its log must hold no
  sanitizer report (checked again on the whole log at stop);
- stopping is SIGTERM and the exit code must be 0.

The binaries come from TERND and TERNCTL (set by `make e2e`). Test modules skip themselves
at import when TERND is unset; this file must stay importable without it. TERND_WRAPPER, if
set, is a command line put in front of ternd (`make e2e-valgrind` runs it under valgrind), and
TERN_TIMEOUT_SCALE multiplies the server start, stop and ternctl timeouts for such slow runs.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import raw_stream
import xmpp_client

TERND = os.environ.get("TERND", "")
TERNCTL = os.environ.get("TERNCTL", "")

DOMAIN = "example.test"

# Users every server gets. carol's password is not ASCII on purpose (UTF-8 through stdin,
# SCRAM and PLAIN must agree on the bytes).
USERS = {
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "cärol-pässwörd-ça",
    "dave": "dave-secret",
}

TERND_WRAPPER = shlex.split(os.environ.get("TERND_WRAPPER", ""))
TIMEOUT_SCALE = float(os.environ.get("TERN_TIMEOUT_SCALE", "1"))

START_TIMEOUT = 20.0 * TIMEOUT_SCALE
STOP_TIMEOUT = 15.0 * TIMEOUT_SCALE
TERNCTL_TIMEOUT = 30.0 * TIMEOUT_SCALE

# Sanitizer reports, and valgrind's (memory errors and definite leaks) under TERND_WRAPPER.
SANITIZER_RX = re.compile(
    r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:|==\d+==ERROR: "
    r"|==\d+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param"
    r"|Mismatched free|Source and destination overlap)|==\d+== +definitely lost: [1-9]")

SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}


def free_port():
    """A loopback TCP port that was free a moment ago (bind to :0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def san_env():
    env = dict(os.environ)
    env.update(SAN_ENV)
    return env


def sanitizer_lines(text):
    """The lines of text that look like a sanitizer report (empty list if none)."""
    return [line for line in text.splitlines() if SANITIZER_RX.search(line)]


def tail(text, n=60):
    return "\n".join(text.splitlines()[-n:])


def run_ternctl(config, *args, password=None, stdin=None, timeout=TERNCTL_TIMEOUT):
    """Runs `ternctl -c config args...`; password (if given) goes to stdin with a newline,
    the way `echo pw | ternctl ...` sends it. Returns the CompletedProcess (text mode).
    Fails the test if ternctl printed a sanitizer report."""
    if password is not None:
        stdin = password + "\n"
    argv = [TERNCTL]
    if config is not None:
        argv += ["-c", str(config)]
    argv += [str(a) for a in args]
    try:
        cp = subprocess.run(argv, input=stdin if stdin is not None else "",
                            capture_output=True, text=True, timeout=timeout, env=san_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"ternctl {' '.join(map(str, args))} did not finish in {timeout} s")
    bad = sanitizer_lines(cp.stderr)
    if bad:
        pytest.fail(f"sanitizer report from ternctl {' '.join(map(str, args))}:\n{cp.stderr}")
    return cp


class Server:
    """One ternd process. The config file holds only domain and data_dir; everything else
    (loopback bind, ports, log level, workers, test-specific limits) goes through -o."""

    live = []  # started and not yet stopped, for the after-each-test checks

    def __init__(self, root, name="ternd", overrides=(), domain=DOMAIN, users=USERS,
                 tls_port=True, log_level="debug", workers=2, config_text=None,
                 defaults=True):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.domain = domain
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.config_path = self.dir / "tern.conf"
        if config_text is None:
            config_text = f"domain = {domain}\ndata_dir = {self.data_dir}\n"
        self.config_path.write_text(config_text)
        self.log_path = self.dir / "ternd.log"
        self.port = free_port()
        self.tls_port = free_port() if tls_port else 0
        self.users = dict(users)
        self.overrides = [
            "c2s.bind=127.0.0.1",
            f"c2s.port={self.port}",
            f"c2s.tls_port={self.tls_port}",
        ]
        if defaults:
            # Every test connects from 127.0.0.1, many times a minute: the per-address rate
            # limit is raised here and tested on its own (test_abuse.py).
            self.overrides += [f"log.level={log_level}", f"workers={workers}",
                               "limits.conn_rate_per_ip=100000"]
        self.overrides += list(overrides)
        self.proc = None
        self.logf = None
        self.scanned = 0      # log bytes already checked for sanitizer reports
        self.dead_reported = False
        self.stopped = False  # stopped on purpose (terminate)

    # ---- process ------------------------------------------------------------------------

    def argv(self):
        argv = TERND_WRAPPER + [TERND, "-c", str(self.config_path)]
        for o in self.overrides:
            argv += ["-o", o]
        return argv

    def start(self, create_users=True):
        """Creates the users (before ternd runs: the running case has its own tests), starts
        ternd and waits until its ports accept connections."""
        if create_users:
            for user, password in self.users.items():
                self.add_user(user, password)
        self.stopped = False
        self.dead_reported = False
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=san_env())
        Server.live.append(self)
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                Server.live.remove(self)
                self.dead_reported = True
                pytest.fail(f"ternd exited with {self.proc.returncode} while starting; "
                            f"argv: {self.argv()}\nlog tail:\n{self.log_tail()}")
            if all(port_accepts(p) for p in ports):
                return self
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"ternd did not accept connections on {ports} within "
                            f"{START_TIMEOUT} s\nlog tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def restart(self):
        """Stops (checked) and starts again with the same dir, ports and data."""
        problems = self.stop()
        if problems:
            pytest.fail("\n".join(problems))
        self.scanned = 0 if not self.log_path.exists() else self.log_path.stat().st_size
        return self.start(create_users=False)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit; returns the exit code or None on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self in Server.live:
            Server.live.remove(self)
        if self.logf:
            self.logf.close()
            self.logf = None

    def terminate(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits. Returns (exit code, seconds taken); the code is None when the
        process had to be killed after timeout. Afterwards the server counts as stopped on
        purpose: stop() only checks its log."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        rc = self.wait(timeout)
        elapsed = time.monotonic() - t0
        if rc is None:
            self.proc.send_signal(signal.SIGABRT)  # a backtrace is more useful than nothing
            if self.wait(5) is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.stopped = True
        self.kill()
        return rc, elapsed

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait. Returns a list of problems (empty when all is well): exit code
        not 0, no exit within timeout, sanitizer reports in the log."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            rc, _ = self.terminate(timeout=timeout)
            if rc is None:
                problems.append(f"ternd did not exit within {timeout} s of SIGTERM (killed)")
            elif rc != 0:
                problems.append(f"ternd exited with {rc} after SIGTERM (expected 0)")
        elif not self.stopped and not self.dead_reported:
            problems.append(f"ternd had already exited with {self.proc.returncode}")
        self.kill()
        problems += self.sanitizer_problems(whole=True)
        if problems:
            problems.append(f"log {self.log_path} tail:\n{self.log_tail()}")
        return problems

    # ---- log ----------------------------------------------------------------------------

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return tail(self.log_text(), n)

    def sanitizer_problems(self, whole=False):
        """Sanitizer lines in the log (since the last check, or the whole log)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        start = 0 if whole else self.scanned
        self.scanned = len(data)
        bad = sanitizer_lines(data[start:].decode(errors="replace"))
        if bad:
            return ["sanitizer report in the ternd log:\n" + "\n".join(bad[:20])]
        return []

    # ---- users and clients ----------------------------------------------------------------

    def ternctl(self, *args, password=None, stdin=None):
        return run_ternctl(self.config_path, *args, password=password, stdin=stdin)

    def add_user(self, user, password):
        cp = self.ternctl("user", "add", self.jid(user), password=password)
        assert cp.returncode == 0, (f"ternctl user add {self.jid(user)} failed with "
                                    f"{cp.returncode}: {cp.stderr}")
        self.users[user] = password

    def jid(self, user, resource=None):
        bare = f"{user}@{self.domain}"
        return f"{bare}/{resource}" if resource else bare

    def password(self, user):
        return self.users[user]

    def raw(self, direct_tls=False, timeout=10.0):
        """A raw_stream.Raw connected to the c2s port (or the direct TLS port)."""
        port = self.tls_port if direct_tls else self.port
        return raw_stream.Raw(port, domain=self.domain, direct_tls=direct_tls, timeout=timeout)

    def raw_login(self, user, resource=None, password=None):
        """A raw connection logged in (STARTTLS, PLAIN, bind) as user."""
        r = self.raw()
        r.login(user, self.password(user) if password is None else password, resource)
        return r

    async def client(self, user, resource=None, password=None, **kw):
        """A slixmpp client logged in as user (see xmpp_client.login)."""
        return await xmpp_client.login(self, user, resource=resource, password=password, **kw)


class ServerPool:
    """Servers started by one fixture; close() stops them all and reports problems."""

    def __init__(self, tmp_path_factory, prefix):
        self.tmp = tmp_path_factory
        self.prefix = prefix
        self.servers = []

    def start(self, name=None, overrides=(), start=True, **kw):
        name = name or f"{self.prefix}{len(self.servers)}"
        root = self.tmp.mktemp(name)
        srv = Server(root, name=name, overrides=overrides, **kw)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def close(self):
        problems = []
        for srv in self.servers:
            for p in srv.stop():
                problems.append(f"[{srv.name}] {p}")
        self.servers = []
        return problems


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """The module's ternd, with the module's SERVER_OVERRIDES."""
    pool = ServerPool(tmp_path_factory, "main")
    overrides = getattr(request.module, "SERVER_OVERRIDES", ())
    srv = pool.start(name="main", overrides=overrides)
    yield srv
    problems = pool.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory: make_server(overrides=[...], **Server kwargs) starts an extra ternd that is
    stopped (and checked) when the test ends. Pass start=False to only prepare it."""
    pool = ServerPool(tmp_path_factory, "extra")
    yield pool.start
    problems = pool.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _after_each_test():
    """After every test: close leftover raw connections, then every server still meant to
    run must be alive and its new log lines must hold no sanitizer report."""
    yield
    raw_stream.close_all()
    problems = []
    for srv in list(Server.live):
        if not srv.alive() and not srv.dead_reported:
            srv.dead_reported = True
            problems.append(f"[{srv.name}] ternd died during the test (exit code "
                            f"{srv.proc.returncode})\nlog tail:\n{srv.log_tail()}")
        for p in srv.sanitizer_problems():
            problems.append(f"[{srv.name}] {p}\nlog tail:\n{srv.log_tail()}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
