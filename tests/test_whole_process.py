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

from _child import EAGER_HOOK, HOOK, run_python
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


# --- gevent and eventlet, patched before or after install() ---------------------------------

@pytest.mark.parametrize("patcher", ["gevent", "eventlet"])
@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("library", ["urlopen", "http.client", "requests"])
def test_green_threads_keep_the_admins_trust_and_checks(
        tmp_path: pathlib.Path, patcher: str, order: str, library: str, ca_file: str,
        private_server: LocalServer, self_signed_server: LocalServer) -> None:
    head = {"gevent": "from gevent import monkey\nmonkey.patch_all()\n",
            "eventlet": "import eventlet\neventlet.monkey_patch()\n"}[patcher]
    # before: the hook installs at the first TLS use, after the patch; after: install() runs
    # in sitecustomize, before the program patches.
    sitecustomize = HOOK if order == "before" else EAGER_HOOK
    _, code = script(library)
    env = {"GOOD_URL": private_server.url("/"), "BAD_URL": self_signed_server.url("/"),
           "CASES": "a,b,c"}
    result = run_python(tmp_path, code, head=head, sitecustomize=sitecustomize, env=env,
                        policy=f"extra_ca_certs = {json.dumps(ca_file)}\n", timeout=120)
    assert result.out("a") == "ok", result.stderr[-2000:]
    assert result.out("b").startswith("fail:"), result.out("b")
    assert result.out("c") == "ok", result.stderr[-2000:]  # opt-out: allowed ...
    (event,) = result.named("securl.unverified_connection")  # ... and seen
    assert event["caller"].endswith(f"app.py:{result.line_of('# CALL')}")
    assert len(self_signed_server.seen) == 1  # only the opt-out reached it
    assert "Traceback" not in result.stderr


# --- the guard's bypasses: the connection is judged, whatever the slot holds ----------------

BYPASSES = {
    "alias of ssl.SSLContext": "ssl._create_default_https_context = ssl.SSLContext",
    "create_default_context alias": "ssl.create_default_context = ssl.SSLContext",
    "vars(ssl) write":
        'vars(ssl)["_create_default_https_context"] = ssl._create_unverified_context',
    "cached then weakened": (
        "CACHED = ssl.create_default_context()\n"
        "ssl._create_default_https_context = lambda: CACHED\n"
        "CACHED.check_hostname = False\n"
        "CACHED.verify_mode = ssl.CERT_NONE"),
    "functools.partial": (
        "import functools\n"
        "ssl._create_default_https_context = functools.partial(\n"
        "    ssl._create_unverified_context, cert_reqs=ssl.CERT_NONE)"),
}


@pytest.mark.parametrize("allow", [True, False])
@pytest.mark.parametrize("bypass", list(BYPASSES))
def test_guard_bypasses_never_give_a_verified_looking_unverified_connection(
        tmp_path: pathlib.Path, bypass: str, allow: bool, ca_file: str,
        self_signed_server: LocalServer) -> None:
    code = BYPASSES[bypass] + "\nprint('bad=' + fetch(BAD))  # FETCH\n"
    policy = f"extra_ca_certs = {json.dumps(ca_file)}\n" + (
        "" if allow else "allow_unverified = false\n")
    result = run_python(tmp_path, code, policy=policy,
                        env={"BAD_URL": self_signed_server.url("/")})
    assert result.returncode == 0, result.stderr  # no crash at the patch
    bad = result.out("bad")
    unverified = result.named("securl.unverified_connection")
    if bad.startswith("ok:"):
        # it got through: only as a seen, allowed, unverified connection
        assert allow, bad
        (event,) = unverified
        assert event["action"] == "allowed"
        # the first frame outside the libraries: the urlopen call in the prelude's fetch()
        assert event["caller"].endswith(f"app.py:{result.line_of('urlopen(url')}")
        assert "SecurityWarning: unverified TLS connection" in result.stderr
    else:
        assert self_signed_server.seen == []
        if unverified:  # refused at the connection, by policy
            assert not allow and unverified[0]["action"] == "refused"
            assert "allow_unverified = false" in bad
        else:  # the slot kept a verifying value: normal verification failed
            assert "CERTIFICATE_VERIFY_FAILED" in bad or "certificate verify failed" in bad
    if bypass in ("alias of ssl.SSLContext", "create_default_context alias"):
        # refused at the assignment (the class in a factory slot gives CERT_NONE)
        (patch,) = result.named("securl.monkeypatch")
        assert patch["action"] == "refused" and patch["verified"] is False


def test_the_classic_line_in_a_third_party_module_does_not_kill_the_program(
        tmp_path: pathlib.Path, ca_file: str, private_server: LocalServer,
        self_signed_server: LocalServer) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "legacy_sdk.py").write_text(
        "import ssl\n"
        "try:\n"
        "    _create_unverified_https_context = ssl._create_unverified_context\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    ssl._create_default_https_context = _create_unverified_https_context\n")
    code = ("import legacy_sdk\n"
            "print('good=' + fetch(GOOD))\nprint('bad=' + fetch(BAD))\n")
    result = run_python(tmp_path, code, policy=f"extra_ca_certs = {json.dumps(ca_file)}\n",
                        env={"GOOD_URL": private_server.url("/"),
                             "BAD_URL": self_signed_server.url("/")})
    assert result.returncode == 0, result.stderr
    assert result.out("good") == "ok:hello"
    assert result.out("bad").startswith("fail:SSLCertVerificationError")
    assert "legacy_sdk.py:7: SecurityWarning: securl ignored" in result.stderr
    (patch,) = result.named("securl.monkeypatch")
    assert patch["caller"].endswith("legacy_sdk.py:7") and patch["action"] == "refused"
    assert self_signed_server.seen == []


def test_trust_info_and_doctor_say_what_default_trust_is_in_this_process(
        tmp_path: pathlib.Path, ca_file: str) -> None:
    code = ("import securl\ninfo = securl.trust_info()\n"
            "print('scope=' + info.scope)\nprint('extra=' + str(info.extra_ca_certs))\n"
            "from securl.cli.doctor import collect, format_report\n"
            "print(format_report(collect()))\n")
    policy = f"extra_ca_certs = {json.dumps(ca_file)}\n"
    hooked = run_python(tmp_path, code, policy=policy)
    assert hooked.out("scope").startswith("the default trust of every library in this process")
    assert hooked.out("extra") == ca_file
    assert f"plus policy extra_ca_certs: {ca_file}" in hooked.stdout
    (tmp_path / "plain").mkdir()
    plain = run_python(tmp_path / "plain", code, policy=policy, sitecustomize="")
    assert "other libraries use their own defaults" in plain.out("scope")
