"""c2s admission: at most limits.max_unauth connections may be authenticating at once (from
all addresses together); one that authenticates stops counting, and so does one that closes."""

import os
import time

import pytest

if not os.environ.get("TERND"):
    pytest.skip("TERND is not set: run the e2e tests through `make e2e`", allow_module_level=True)

from sm_util import wait_log  # noqa: E402


def refused(srv):
    """A new connection that the server closes at once, without a stream header."""
    r = srv.raw()
    r.wait_closed(timeout=5)
    assert b"<stream:stream" not in r.received, r.context()


def test_max_unauth(make_server):
    srv = make_server(overrides=["limits.max_unauth=2"])
    a = srv.raw()
    a.open_stream()
    b = srv.raw()
    b.open_stream()
    refused(srv)
    wait_log(srv, r"refused: 2 connections are authenticating already")
    # one of them logs in: a place is free again, and the logged-in session works
    a.starttls()
    a.open_stream()
    assert a.auth_plain("alice", srv.password("alice")).tag.endswith("success")
    c = srv.raw()
    c.open_stream()
    refused(srv)
    # one that gives up frees its place too
    c.close()
    b.close()
    deadline = time.monotonic() + 5
    while True:  # the server notices the closes within a loop iteration or two
        d = srv.raw()
        try:
            d.open_stream()
            break
        except AssertionError:
            d.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
