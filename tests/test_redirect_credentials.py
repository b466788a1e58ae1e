"""Credentials of every kind stay with the origin the call named.

A per-call client certificate (``cert=``) is presented only to the origin the call named,
like ``auth=``: a redirect to another origin that asks for a certificate gets none. A
certificate set on the Session is the Session's identity and goes to every host.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest
import trustme

import securl
from _clientcerts import ClientCerts, make_client_certs
from _servers import LocalServer, Reply, server_context


@pytest.fixture
def client_certs(tmp_path: pathlib.Path) -> ClientCerts:
    return make_client_certs(tmp_path)


@pytest.fixture
def asking_server(leaf: trustme.LeafCert, client_certs: ClientCerts) -> Iterator[LocalServer]:
    """Another origin (its own port) that asks for a client certificate, optionally."""
    ctx = server_context(leaf, client_ca=client_certs.ca, client_cert_mode="optional")
    with LocalServer(ctx) as server:
        yield server


def _redirecting_to(target: str) -> Callable[..., Reply]:
    return lambda handler: (302, {"Location": target}, b"")


def test_a_per_call_client_certificate_is_not_presented_to_another_origin(
        make_session: Callable[..., securl.Session], https_server: LocalServer,
        asking_server: LocalServer, client_certs: ClientCerts) -> None:
    https_server.routes["/go"] = _redirecting_to(asking_server.url("/landing"))
    response = make_session().get(https_server.url("/go"), cert=client_certs.valid)
    assert response.status == 200
    (seen,) = asking_server.seen
    assert seen.path == "/landing"
    assert seen.client_cert is None  # the other origin never saw the caller's certificate


def test_a_per_call_client_certificate_follows_a_redirect_within_its_origin(
        make_session: Callable[..., securl.Session], asking_server: LocalServer,
        client_certs: ClientCerts) -> None:
    asking_server.routes["/go"] = _redirecting_to(asking_server.url("/landing"))
    response = make_session().get(asking_server.url("/go"), cert=client_certs.valid)
    assert response.status == 200
    assert [s.client_cert is not None for s in asking_server.seen] == [True, True]


def test_a_session_client_certificate_goes_to_every_host(
        make_session: Callable[..., securl.Session], https_server: LocalServer,
        asking_server: LocalServer, client_certs: ClientCerts) -> None:
    https_server.routes["/go"] = _redirecting_to(asking_server.url("/landing"))
    response = make_session(cert=client_certs.valid).get(https_server.url("/go"))
    assert response.status == 200
    (seen,) = asking_server.seen
    assert seen.client_cert is not None
