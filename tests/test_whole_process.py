"""Whole-process protection: under the admin's sitecustomize hook, every library's TLS
trusts what the admin trusts, and every unverified connection is seen at the connection.

Each library runs in a real child process with the hook ``securl admin install-sitecustomize``
writes and a policy of its own; the servers are real TLS servers on 127.0.0.1: one signed by
a private CA that only the policy's ``extra_ca_certs`` names, one self-signed.

Cases (the table in docs/admin.md):
(a) the extra_ca_certs server is accepted, no other trust configured;
(b) the self-signed server is refused, and the server parses no HTTP request;
(c) the library's own opt-out with allow_unverified = true: allowed, SecurityWarning, and a
    securl.unverified_connection event naming the application's file:line;
(d) the same with allow_unverified = false: refused before any HTTP byte.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator

import pytest
import trustme
from _child import run_python
from _libraries import LIBRARIES, script
from _servers import LocalServer, server_context

from securl.tls.judged import current_judgement


@pytest.fixture
def private_server(ca: trustme.CA) -> Iterator[LocalServer]:
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    with LocalServer(server_context(leaf)) as server:
        yield server


def _run(tmp_path: pathlib.Path, library: str, cases: str, policy: str,
         good: LocalServer, bad: LocalServer) -> tuple[dict[str, str], object]:
    head, code = script(library)
    env = {"GOOD_URL": good.url("/"), "BAD_URL": bad.url("/"), "CASES": cases,
           "PIP_CONFIG_FILE": os.devnull}  # no machine-wide pip `cert =`
    result = run_python(tmp_path, code, head=head, policy=policy, env=env, timeout=120)
    outcomes = {case: result.out(case) for case in cases.split(",")}
    return outcomes, result


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_allow_unverified_true(tmp_path: pathlib.Path, library: str, ca_file: str,
                               private_server: LocalServer,
                               self_signed_server: LocalServer) -> None:
    policy = f"extra_ca_certs = {json.dumps(ca_file)}\n"
    # (a) and (b) first: the self-signed server must have seen nothing before (c) runs.
    out, result = _run(tmp_path, library, "a,b", policy, private_server, self_signed_server)
    assert out["a"] == "ok", (out, result.stderr[-2000:])
    assert out["b"].startswith("fail:"), out
    assert self_signed_server.seen == [], "an HTTP request reached the self-signed server"
    assert len(private_server.seen) >= 1

    (tmp_path / "c").mkdir()
    out, result = _run(tmp_path / "c", library, "c", policy, private_server, self_signed_server)
    assert out["c"] == "ok", (out, result.stderr[-2000:])
    events = result.named("securl.unverified_connection")
    assert events, result.stderr[-2000:]
    line = result.line_of("# CALL")
    assert all(e["action"] == "allowed" for e in events)
    assert events[0]["caller"].endswith(f"app.py:{line}"), (events[0], line)
    assert events[0]["host"] in ("localhost", "127.0.0.1")
    assert events[0]["port"] == self_signed_server.port
    assert "SecurityWarning" in result.stderr and "unverified TLS connection" in result.stderr
    assert f"app.py:{line}" in result.stderr
    assert self_signed_server.seen, "the allowed opt-out never reached the server"


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_allow_unverified_false(tmp_path: pathlib.Path, library: str, ca_file: str,
                                private_server: LocalServer,
                                self_signed_server: LocalServer) -> None:
    policy = f"extra_ca_certs = {json.dumps(ca_file)}\nallow_unverified = false\n"
    out, result = _run(tmp_path, library, "d", policy, private_server, self_signed_server)
    assert out["d"].startswith("fail:"), out
    assert self_signed_server.seen == [], "an HTTP request reached the server"
    events = result.named("securl.unverified_connection")
    assert events and all(e["action"] == "refused" for e in events), result.stderr[-2000:]
    line = result.line_of("# CALL")
    assert events[0]["caller"].endswith(f"app.py:{line}"), (events[0], line)
    if library != "pip":  # pip reports the error in its own words
        assert "allow_unverified = false" in out["d"], out["d"]


def test_no_judgement_outside_securl() -> None:
    assert current_judgement() is None
