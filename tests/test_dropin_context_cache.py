"""The drop-in with ``context=``: pooled connections and per-context work done once, and never a
stale judgement of a context changed after use.

Rules under test (``securl.tls.given_context``, ``securl.urllib.request._context_opener``):
a context's trust decision and opener are kept, keyed by the context's identity and a
fingerprint of its security-relevant state; a context changed after use is judged again and
gets other connections (and TLS sessions); an opt-out is judged, audited and warned on every
request; the caches hold the context weakly.
"""

from __future__ import annotations

import gc
import ssl
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.http.pool
from _servers import LocalServer, server_context
from securl.urllib import request
from securl.urllib.handlers import _pools

CLOSE = {"Connection": "close"}


ResumptionServer = LocalServer  # it records whether each handshake resumed (.reused)


@pytest.fixture
def server(leaf: trustme.LeafCert) -> Iterator[ResumptionServer]:
    with ResumptionServer(server_context(leaf)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _resuming_as_on_a_fixed_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """TLS sessions kept by default, as where Python reads them without leaking
    (securl.http.tls_sessions.session_reads_are_safe): the session rules are under test."""
    monkeypatch.setattr(securl.http.pool, "session_reads_are_safe", lambda: True)


@pytest.fixture(autouse=True)
def _fresh_dropin() -> Iterator[None]:
    request.urlcleanup()
    yield
    request.urlcleanup()


def get(url: str, ctx: ssl.SSLContext, *, close: bool = False) -> bytes:
    req = request.Request(url, headers=CLOSE if close else {})
    with request.urlopen(req, timeout=10, context=ctx) as r:
        return r.read()  # type: ignore[no-any-return]


def connections(events: list[securl.AuditEvent]) -> list[securl.AuditEvent]:
    return [e for e in events if e.name == "securl.connection"]


def test_urlopen_with_a_context_reuses_one_connection(
        server: ResumptionServer, ca_file: str, events: list[securl.AuditEvent]) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    for _ in range(5):
        assert get(server.url("/"), ctx) == b"hello"
    assert server.accepts == 1
    assert len(connections(events)) == 1


def test_build_opener_with_a_context_reuses_one_connection(
        server: ResumptionServer, ca_file: str) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    for _ in range(3):  # a new opener each time, as code written for urllib does
        opener = request.build_opener(request.HTTPSHandler(context=ctx))
        with opener.open(server.url("/"), timeout=10) as r:
            assert r.read() == b"hello"
    assert server.accepts == 1


def test_the_decision_for_a_context_is_made_once_per_state(ca_file: str) -> None:
    from securl.http.target import parse_target

    ctx = ssl.create_default_context(cafile=ca_file)
    target = parse_target("https://localhost:1/")
    trust = _pools.sender().trust
    first = trust.decide(target, context=ctx)
    assert trust.decide(target, context=ctx) is first
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    changed = trust.decide(target, context=ctx)
    assert changed is not first and changed != first  # another state: other pools
    assert changed.mode == "verified" and changed.ssl_context is ctx


def test_a_ca_loaded_after_use_gets_a_new_connection_not_an_old_session(
        server: ResumptionServer, ca_file: str, other_ca: trustme.CA, tmp_path: Any) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    get(server.url("/"), ctx, close=True)
    get(server.url("/"), ctx, close=True)
    other = tmp_path / "other-ca.pem"
    other_ca.cert_pem.write_to_path(str(other))
    ctx.load_verify_locations(str(other))  # the context now trusts more than it did
    get(server.url("/"), ctx)
    get(server.url("/"), ctx)
    assert server.reused == [False, True, False]  # judged again: its own pool, no old session
    assert server.accepts == 3


def test_verification_flags_changed_after_use_get_a_new_connection(
        server: ResumptionServer, ca_file: str) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    get(server.url("/"), ctx)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # stricter now: the kept connection must not do
    get(server.url("/"), ctx)
    assert server.accepts == 2
    assert server.reused == [False, False]


def test_a_context_that_stops_checking_host_names_is_an_opt_out_at_once(
        server: ResumptionServer, ca_file: str, events: list[securl.AuditEvent]) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    get(server.url("/"), ctx)
    ctx.check_hostname = False
    with pytest.warns(securl.InsecureRequestWarning, match="host name check is OFF"):
        get(server.url("/"), ctx)
    opt_outs = [e for e in events if e.name == "securl.unverified_request"]
    assert len(opt_outs) == 1
    assert [e.fields["mode"] for e in connections(events)] == ["verified", "chain-only"]


def test_an_unverified_context_is_audited_on_every_request(
        server: ResumptionServer, events: list[securl.AuditEvent]) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", securl.InsecureRequestWarning)
        for _ in range(3):
            get(server.url("/"), ctx)
    assert len([e for e in events if e.name == "securl.unverified_request"]) == 3
    assert server.accepts == 1


def test_the_opener_is_kept_per_context_and_rebuilt_when_proxies_change(
        ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    first = request._context_opener(ctx)
    assert request._context_opener(ctx) is first
    assert request._context_opener(ssl.create_default_context(cafile=ca_file)) is not first
    monkeypatch.setenv("NO_PROXY", "example.org")
    assert request._context_opener(ctx) is not first


def test_the_caches_do_not_keep_a_context_alive(server: ResumptionServer, ca_file: str) -> None:
    ctx = ssl.create_default_context(cafile=ca_file)
    get(server.url("/"), ctx, close=True)
    get(server.url("/"), ctx)
    ref = weakref.ref(ctx)
    del ctx
    request.urlcleanup()  # the pools hold their context until closed, as they must
    gc.collect()
    assert ref() is None
