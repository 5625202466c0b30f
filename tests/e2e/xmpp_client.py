"""
slixmpp clients for the e2e tests, and the runner for async tests.

`async_test(timeout)` turns `async def test_x(fixtures...)` into a plain pytest test that runs
the coroutine in a fresh asyncio loop, with an overall timeout; at the end every client made
in that loop is disconnected and the loop is closed, so tests do not leak into each other.

`login(server, user, ...)` returns a connected, authenticated, bound `Client` or raises:
AuthFailed (SASL failure; .condition is the SASL condition), StreamFailed (a stream error or
the connection closed before the session started), asyncio.TimeoutError. The client:
- connects to 127.0.0.1 and the server's port; no DNS (get_dns_records is overridden);
- STARTTLS by default, direct TLS (XEP-0368) with direct_tls=True, plain with starttls=False;
  certificate verification is off (the server's cert is self-signed);
- uses exactly one SASL mechanism when mech is given (ClientXMPP's sasl_mech argument sets
  feature_mechanisms.use_mech, which limits the choice to it);
- answers pings (xep_0199) and disco (xep_0030); whitespace keepalives are off so that the
  server's idle handling sees real silence;
- queues received messages (`messages`), error messages (`message_errors`), and records
  stream errors and how the stream ended (`end_reason` is "End of stream" when the server
  sent </stream:stream>).
"""

import asyncio
import functools
import logging

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout  # noqa: F401 (re-exported for tests)

from raw_stream import tls_context

log = logging.getLogger("e2e.client")

LOGIN_TIMEOUT = 20.0


class AuthFailed(Exception):
    def __init__(self, condition):
        super().__init__(f"SASL failure: {condition}")
        self.condition = condition


class StreamFailed(Exception):
    pass


_clients = []  # clients made in the current test loop


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, host, port, domain, mech=None, direct_tls=False,
                 starttls=True):
        super().__init__(jid, password, sasl_mech=mech)
        self.ssl_context = tls_context()
        self.whitespace_keepalive = False
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self._target = (host, port)
        self._domain = domain
        self._direct_tls = direct_tls
        self._starttls = starttls
        # SNI name for direct TLS and STARTTLS; connect() keeps it for an IP address.
        self.default_domain = domain
        self.messages = asyncio.Queue()
        self.message_errors = asyncio.Queue()
        self.stream_errors = []
        self.auth_failures = []
        self.end_reason = None
        self.ended = asyncio.Event()
        self.tls_version = None
        self.mech_used = None
        self._ready = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.message_errors.put_nowait(m))
        _clients.append(self)

    # No DNS: the test always names the address.
    async def get_dns_records(self, domain, port=None):
        host, port = self._target
        return [(self._domain, host, port)]

    def _fail(self, exc):
        if not self._ready.done():
            self._ready.set_exception(exc)

    def _on_session_start(self, _):
        ssl_obj = self.transport.get_extra_info("ssl_object") if self.transport else None
        self.tls_version = ssl_obj.version() if ssl_obj is not None else None
        mech = self["feature_mechanisms"].mech
        self.mech_used = mech.name if mech is not None else None
        if not self._ready.done():
            self._ready.set_result(True)

    def _on_failed_auth(self, failure):
        self.auth_failures.append(failure["condition"])

    def _on_failed_all_auth(self, _):
        cond = self.auth_failures[-1] if self.auth_failures else "no-usable-mechanism"
        self._fail(AuthFailed(cond))

    def _on_stream_error(self, err):
        self.stream_errors.append(err["condition"])
        self._fail(StreamFailed(f"stream error <{err['condition']}/>: {err['text']}"))

    def _on_disconnected(self, reason):
        self.end_reason = reason
        self.ended.set()
        self._fail(StreamFailed(f"disconnected before the session started: {reason}"))

    def _on_connection_failed(self, err):
        self.cancel_connection_attempt()  # no reconnection loop
        self._fail(StreamFailed(f"connection failed: {err}"))

    def start(self):
        self.connect(self._target, use_ssl=self._direct_tls, force_starttls=self._starttls,
                     disable_starttls=not self._starttls)

    async def wait_ready(self, timeout=LOGIN_TIMEOUT):
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.requested_jid} not logged in within {timeout} s "
                                 f"(auth failures: {self.auth_failures}, stream errors: "
                                 f"{self.stream_errors})") from None

    # ---- helpers for tests ----------------------------------------------------------------

    @property
    def connected(self):
        return self.transport is not None and not self.ended.is_set()

    async def next_message(self, timeout=5.0):
        try:
            return await asyncio.wait_for(self.messages.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.boundjid} got no message within {timeout} s") from None

    async def next_message_error(self, timeout=5.0):
        try:
            return await asyncio.wait_for(self.message_errors.get(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"{self.boundjid} got no error message within {timeout} s") from None

    async def expect_no_message(self, within=1.0):
        await asyncio.sleep(within)
        got = []
        while not self.messages.empty():
            got.append(str(self.messages.get_nowait()))
        assert not got, f"{self.boundjid} got unexpected messages: {got}"

    async def wait_ended(self, timeout=5.0):
        try:
            await asyncio.wait_for(self.ended.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.boundjid} still connected after {timeout} s") from None

    async def ping_server(self, timeout=5.0):
        return await self["xep_0199"].ping(jid=self._domain, timeout=timeout)

    async def close(self):
        if self.transport is not None and not self.ended.is_set():
            try:
                await asyncio.wait_for(self.disconnect(wait=2.0), 5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 (best effort)
                pass
        if self.transport is not None:
            self.abort()


async def login(server, user, resource=None, password=None, mech=None, direct_tls=False,
                starttls=True, timeout=LOGIN_TIMEOUT, port=None):
    jid = server.jid(user, resource)
    pw = server.password(user) if password is None else password
    if port is None:
        port = server.tls_port if direct_tls else server.port
    c = Client(jid, pw, "127.0.0.1", port, server.domain, mech=mech,
               direct_tls=direct_tls, starttls=starttls)
    c.start()
    try:
        await c.wait_ready(timeout)
    except BaseException:
        await c.close()
        raise
    return c


async def _close_all():
    clients = list(_clients)
    _clients.clear()
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def run(coro, timeout):
    """Runs coro in a new event loop with an overall timeout; cleans up every client."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        async def main():
            task = asyncio.ensure_future(coro)
            try:
                done, _ = await asyncio.wait({task}, timeout=timeout)
                if not done:
                    task.cancel()
                    await asyncio.wait({task}, timeout=5)
                    raise AssertionError(f"test did not finish within {timeout} s")
                return task.result()
            finally:
                await _close_all()
        return loop.run_until_complete(main())
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def async_test(timeout=60):
    """Decorator: runs an `async def` test through run() (fixtures are passed as usual)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return run(fn(*args, **kwargs), timeout)
        return wrapper
    return deco


async def in_thread(fn, *args, **kwargs):
    """Runs a blocking (raw socket) call without stopping the loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)

