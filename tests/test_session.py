"""securl.Session against real local servers: pooling, opt-outs, redirects, timeouts, input.

The opt-out and redirect *rules* (tests taking ``open_url``) run through the urllib drop-in
too; tests/test_trust_rules.py lists where every trust rule is tested.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import threading
import time
import urllib.error
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

import securl
import securl.urllib.error
from _certs import self_signed
from _open_url import OpenURL
from _servers import Handler, LocalServer, RawServer, Reply, server_context

# --- pooling -------------------------------------------------------------------------------

def test_keep_alive_100_gets_use_one_connection(session_5s: securl.Session,
                                                https_server: LocalServer) -> None:
    for _ in range(100):
        assert session_5s.get(https_server.url("/")).content == b"hello"
    assert https_server.accepts == 1
    assert len(https_server.seen) == 100


def test_unverified_connection_is_never_reused_by_verified_request(
    session_5s: securl.Session, https_server: LocalServer
) -> None:
    with pytest.warns(securl.InsecureRequestWarning):
        session_5s.get(https_server.url("/"), tls=securl.unverified(reason="pool test"))
    session_5s.get(https_server.url("/"))
    # Same host and port, different trust decision: a second TCP connection.
    assert https_server.accepts == 2


def test_verified_and_unverified_calls_interleaved_to_self_signed_host(
    session_5s: securl.Session, self_signed_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    url = self_signed_server.url("/")
    for i in range(3):
        with pytest.raises(securl.TLSVerificationError) as info:
            session_5s.get(url)
        assert info.value.reason_code == "self-signed"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = session_5s.get(url, tls=securl.unverified(reason=f"lab device {i}"))
        assert r.status == 200
        assert [w.category for w in caught] == [securl.InsecureRequestWarning]
        assert caught[0].filename == __file__  # the warning points at the caller
    opt_outs = [e for e in events if e.event == "securl.unverified_request"]
    assert [e.fields["reason"] for e in opt_outs] == ["lab device 0", "lab device 1",
                                                       "lab device 2"]
    assert all(e.fields["caller"].startswith(__file__ + ":") for e in opt_outs)
    assert all(e.host == "localhost" and e.port == self_signed_server.port for e in opt_outs)


def test_opt_out_is_audited_even_when_warnings_are_silenced(
    self_signed_server: LocalServer, events: list[securl.AuditEvent]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        securl.get(self_signed_server.url("/"), tls=securl.unverified(reason="silenced"))
    assert any(e.event == "securl.unverified_request" and e.fields["reason"] == "silenced"
               for e in events)


# --- no session-wide or process-wide opt-out -----------------------------------------------

def test_verify_false_is_refused_with_the_per_call_form_and_alternatives() -> None:
    for call in (lambda: securl.Session(verify=False),
                 lambda: securl.get("https://localhost/", verify=False)):
        with pytest.raises(securl.PolicyError) as info:
            call()
        message = str(info.value)
        assert "tls=securl.unverified(reason=" in message
        assert "ca_certs=" in message
        assert "sha256/" in message


def test_verify_true_is_accepted_for_requests_compatibility(https_server: LocalServer,
                                                            ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file, verify=True) as s:
        assert s.get(https_server.url("/"), verify=True).status == 200


def test_verify_path_points_to_ca_certs() -> None:
    with pytest.raises(securl.ConfigurationError, match="ca_certs="):
        securl.Session(verify="/etc/ssl/certs/ca.pem")


def test_session_cannot_be_made_unverified() -> None:
    with pytest.raises(securl.PolicyError, match="Session cannot be made unverified"):
        securl.Session(tls=securl.unverified(reason="everything"))


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_unverified_requires_a_reason(reason: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="reason"):
        securl.unverified(reason=reason)  # type: ignore[arg-type]


def test_unverified_is_refused_when_policy_forbids_it(
    open_url: OpenURL, self_signed_server: LocalServer, set_policy: Any,
    events: list[securl.AuditEvent]
) -> None:
    """Rule: admin policy ``allow_unverified = false`` refuses every per-call opt-out
    (``tls=securl.unverified(...)``, or urlopen's ``context=`` that does not verify) with
    PolicyError, before connecting, and audits the refusal."""
    set_policy("allow_unverified = false\n")
    with pytest.raises(securl.PolicyError, match="forbids unverified"):
        open_url(self_signed_server.url("/"), opt_out="x")
    assert self_signed_server.accepts == 0  # refused before connecting
    assert self_signed_server.seen == []
    assert events[-1].fields["action"] == "refused"


# --- redirects -------------------------------------------------------------------------------

def redirect_to(location: str, status: int = 302):  # type: ignore[no-untyped-def]
    def route(handler: Handler) -> Reply:
        return status, {"Location": location}, b""
    return route


@pytest.mark.parametrize(("status", "method", "expected"), [
    (301, "POST", "GET"), (302, "POST", "GET"), (303, "POST", "GET"), (303, "PUT", "GET"),
    (307, "POST", "POST"), (308, "POST", "POST"), (302, "PUT", "PUT"),
])
def test_redirect_method_rewrite(session_5s: securl.Session, https_server: LocalServer,
                                 status: int, method: str, expected: str) -> None:
    https_server.routes["/from"] = redirect_to("/echo", status)
    r = session_5s.request(method, https_server.url("/from"), data=b"payload")
    assert r.json()["method"] == expected
    assert r.json()["body"] == ("payload" if expected != "GET" else "")
    assert [h.status for h in r.history] == [status]
    assert r.url == https_server.url("/echo")


def test_cross_origin_redirect_strips_authorization_cookie_proxy_auth(
    open_url: OpenURL, ca: trustme.CA
) -> None:
    """Rule: a redirect to another origin (here another port) drops Authorization, Cookie and
    Proxy-Authorization; other headers go on."""
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    with LocalServer(server_context(leaf)) as a, LocalServer(server_context(leaf)) as b:
        a.routes["/go"] = redirect_to(b.url("/echo"))
        body = open_url(a.url("/go"), headers={
            "Authorization": "Bearer secret-token", "Cookie": "s=1",
            "Proxy-Authorization": "Basic eA==", "X-Keep": "yes"})
        assert [s.path for s in b.seen] == ["/echo"]  # the redirect was followed
    sent = json.loads(body)["headers"]
    assert "Authorization" not in sent and "Cookie" not in sent
    assert "Proxy-Authorization" not in sent
    assert sent["X-Keep"] == "yes"


def test_same_origin_redirect_keeps_authorization(open_url: OpenURL,
                                                  https_server: LocalServer) -> None:
    """Rule: a redirect within the origin keeps Authorization and Cookie (the twin of the
    cross-origin rule above)."""
    https_server.routes["/go"] = redirect_to("/echo")
    body = open_url(https_server.url("/go"), headers={"Authorization": "Bearer t",
                                                      "Cookie": "s=1"})
    sent = json.loads(body)["headers"]
    assert (sent["Authorization"], sent["Cookie"]) == ("Bearer t", "s=1")
    assert [s.path for s in https_server.seen] == ["/go", "/echo"]


def test_https_to_http_redirect_is_refused(open_url: OpenURL, https_server: LocalServer,
                                           http_server: LocalServer) -> None:
    """Rule: a redirect from https to http is refused (InsecureRedirectError; the drop-in
    raises its InsecureRedirectHTTPError, also an HTTPError) and the http URL is not fetched."""
    https_server.routes["/down"] = redirect_to(http_server.url("/"))
    with pytest.raises(securl.InsecureRedirectError, match="https to http") as info:
        open_url(https_server.url("/down"))
    if open_url.flavour == "urlopen":  # type: ignore[attr-defined]
        assert isinstance(info.value, securl.urllib.error.InsecureRedirectHTTPError)
        assert info.value.code == 302
    assert http_server.accepts == 0


def test_http_to_https_redirect_is_followed(session_5s: securl.Session, https_server: LocalServer,
                                            http_server: LocalServer) -> None:
    http_server.routes["/up"] = redirect_to(https_server.url("/"))
    assert session_5s.get(http_server.url("/up")).text == "hello"


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://localhost/x",
                                      "https://user:pw@localhost/"])
def test_redirect_to_refused_targets(open_url: OpenURL, https_server: LocalServer,
                                     location: str) -> None:
    """Rule: a redirect to a scheme other than http(s), or to a URL with credentials in it,
    is refused with InsecureRedirectError (the drop-in documents InsecureRedirectHTTPError
    for these too, see securl/urllib/error.py)."""
    https_server.routes["/bad"] = redirect_to(location)
    with pytest.raises(securl.InsecureRedirectError):
        open_url(https_server.url("/bad"))


def test_too_many_redirects(https_server: LocalServer, ca_file: str) -> None:
    https_server.routes["/loop"] = redirect_to("/loop")
    with securl.Session(ca_certs=ca_file, max_redirects=3) as s:
        with pytest.raises(securl.TooManyRedirects, match="more than 3"):
            s.get(https_server.url("/loop"))
    assert len(https_server.seen) == 4


def test_redirects_not_followed_when_disabled(session_5s: securl.Session,
                                              https_server: LocalServer) -> None:
    https_server.routes["/go"] = redirect_to("/echo")
    r = session_5s.get(https_server.url("/go"), allow_redirects=False)
    assert r.status == 302
    assert r.headers["Location"] == "/echo"


def test_opt_out_does_not_follow_a_redirect_to_another_origin(
    self_signed_server: LocalServer
) -> None:
    with LocalServer(server_context(self_signed())) as other:
        self_signed_server.routes["/go"] = redirect_to(other.url("/"))
        with pytest.warns(securl.InsecureRequestWarning), \
                pytest.raises(securl.TLSVerificationError):
            securl.get(self_signed_server.url("/go"), tls=securl.unverified(reason="one host"))


# --- timeouts ------------------------------------------------------------------------------

def test_server_that_never_completes_tls_times_out(ca_file: str) -> None:
    def silent(conn: socket.socket) -> None:
        server.wait_stop(30)

    with RawServer(silent) as server, securl.Session(ca_certs=ca_file, timeout=1) as s:
        start = time.monotonic()
        with pytest.raises(securl.ConnectTimeout) as info:
            s.get(f"https://localhost:{server.port}/")
        assert time.monotonic() - start < 5
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, urllib.error.URLError)


def test_server_that_never_responds_times_out(https_server: LocalServer, ca_file: str) -> None:
    stop = threading.Event()

    def hang(handler: Handler) -> Reply:
        stop.wait(30)
        return 200, {}, b""

    https_server.routes["/hang"] = hang
    try:
        with securl.Session(ca_certs=ca_file, timeout=(5, 1)) as s:
            start = time.monotonic()
            with pytest.raises(securl.ReadTimeout):
                s.get(https_server.url("/hang"))
            assert time.monotonic() - start < 5
    finally:
        stop.set()


@pytest.mark.parametrize("timeout", [None, 0, -1, (None, 5), "10"])
def test_infinite_or_invalid_timeouts_are_refused(timeout: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="timeout"):
        securl.Session(timeout=timeout)  # type: ignore[arg-type]


def test_connection_refused_is_a_connection_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(securl.ConnectionError, match=f"127.0.0.1:{port}"):
        securl.get(f"http://127.0.0.1:{port}/", timeout=2)


# --- threads ---------------------------------------------------------------------------------

def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_eight_threads_share_one_session_without_errors_or_leaks(
    https_server: LocalServer, ca_file: str
) -> None:
    https_server.request_queue_size = 64
    before = _open_fds()
    errors: list[BaseException] = []
    bodies = 0
    lock = threading.Lock()

    def worker(s: securl.Session) -> None:
        nonlocal bodies
        try:
            for _ in range(250):
                assert s.get(https_server.url("/")).content == b"hello"
                with lock:
                    bodies += 1
        except BaseException as exc:
            errors.append(exc)

    with securl.Session(ca_certs=ca_file, timeout=20) as s:
        threads = [threading.Thread(target=worker, args=(s,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == []
    assert bodies == 2000
    assert https_server.accepts <= 10 + 8  # pooled (maxsize 10), not one per request
    gc.collect()
    # The server runs in this process too: give its threads a moment to see EOF and close.
    deadline = time.monotonic() + 10
    while _open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() <= before


# --- bad input is refused before anything is sent ---------------------------------------

@pytest.mark.parametrize("url", [
    "ftp://localhost/", "file:///etc/passwd", "localhost/path", "https://", "https:///path",
    "https://localhost/a b", "https://localhost/\r\nX: y", "https://localhost/\x00",
    "https://localhost:99999/", "https://localhost:0/", "https://u:p@localhost/",
])
def test_bad_urls_are_refused(url: str, https_server: LocalServer) -> None:
    with pytest.raises(securl.InvalidRequest):
        securl.get(url)


@pytest.mark.parametrize("headers", [
    {"X-A": "ok\r\nInjected: 1"}, {"X-A": "a\nb"}, {"X-A": "nul\x00"}, {"Bad Name": "v"},
    {"X:A": "v"}, {b"X-Bytes": "v"}, {1: "v"}, {"X-A": 5},
])
def test_bad_headers_are_refused_before_sending(headers: dict[object, object],
                                                session_5s: securl.Session,
                                                https_server: LocalServer) -> None:
    with pytest.raises(securl.InvalidRequest):
        session_5s.get(https_server.url("/"), headers=headers)  # type: ignore[arg-type]
    assert https_server.accepts == 0


def test_data_and_json_together_are_refused(session_5s: securl.Session,
                                            https_server: LocalServer) -> None:
    with pytest.raises(securl.InvalidRequest, match="not both"):
        session_5s.post(https_server.url("/echo"), data=b"x", json={"a": 1})
    assert https_server.accepts == 0


def test_invalid_request_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        securl.get("gopher://localhost/")


# --- request and response API -------------------------------------------------------------

def test_params_headers_json_and_form(session_5s: securl.Session,
                                      https_server: LocalServer) -> None:
    r = session_5s.post(https_server.url("/echo"), json={"k": [1, 2]}, params={"q": "a b"},
                     headers={"X-Test": "1", "User-Agent": None})
    echoed = r.json()
    assert echoed["path"] == "/echo?q=a+b"
    assert echoed["body"] == '{"k":[1,2]}'
    assert echoed["headers"]["Content-Type"] == "application/json"
    assert echoed["headers"]["X-Test"] == "1"
    assert "User-Agent" not in echoed["headers"]
    form = session_5s.post(https_server.url("/echo"), data={"a": "1", "b": "x y"}).json()
    assert form["body"] == "a=1&b=x+y"
    assert form["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_streaming_body_is_sent_chunked(session_5s: securl.Session,
                                        https_server: LocalServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"ab"
        yield b"cd"

    seen_before = len(https_server.seen)
    session_5s.put(https_server.url("/echo"), data=chunks())
    assert https_server.seen[seen_before].headers.get("Transfer-Encoding") == "chunked"


def test_response_text_charset_and_fallback(session_5s: securl.Session,
                                            https_server: LocalServer) -> None:
    https_server.routes["/latin"] = lambda h: (200, {"Content-Type": "text/plain; charset=latin-1"},
                                                "café".encode("latin-1"))
    https_server.routes["/none"] = lambda h: (200, {"Content-Type": "text/plain"},
                                               "café".encode())
    assert session_5s.get(https_server.url("/latin")).text == "café"
    assert session_5s.get(https_server.url("/none")).text == "café"


def test_multi_valued_case_insensitive_headers(session_5s: securl.Session,
                                               https_server: LocalServer) -> None:
    class Multi(Handler):
        pass

    def route(handler: Handler) -> Reply:
        handler.send_response(200)
        handler.send_header("Set-Cookie", "a=1")
        handler.send_header("Set-Cookie", "b=2")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        raise _AlreadySent

    https_server.routes["/multi"] = _sent_guard(route)
    r = session_5s.get(https_server.url("/multi"))
    assert r.headers.getlist("set-cookie") == ["a=1", "b=2"]
    assert r.headers["CONTENT-LENGTH"] == "0"
    assert Multi is not None


class _AlreadySent(Exception):
    pass


def _sent_guard(route):  # type: ignore[no-untyped-def]
    def wrapped(handler: Handler) -> Reply:
        try:
            return route(handler)  # type: ignore[no-any-return]
        except _AlreadySent:
            handler.close_connection = True
            raise ConnectionAbortedError from None
    return wrapped


def test_stream_iter_bytes_and_release(session_5s: securl.Session,
                                       https_server: LocalServer) -> None:
    body = os.urandom(300_000)
    https_server.routes["/big"] = lambda h: (200, {"Content-Type": "application/octet-stream"},
                                              body)
    with session_5s.get(https_server.url("/big"), stream=True) as r:
        got = b"".join(r.iter_bytes(65536))
    assert got == body
    session_5s.get(https_server.url("/"))
    assert https_server.accepts == 1  # the streamed connection went back to the pool


def test_raise_for_status_raises_urllib_http_error(session_5s: securl.Session,
                                                   https_server: LocalServer) -> None:
    https_server.routes["/missing"] = lambda h: (404, {}, b"no such thing")
    r = session_5s.get(https_server.url("/missing"))
    assert r.status == 404
    assert not r.ok
    with pytest.raises(urllib.error.HTTPError) as info:
        r.raise_for_status()
    assert info.value.code == 404
    assert info.value.read() == b"no such thing"


def test_module_level_functions_use_one_default_session() -> None:
    from securl.http.api import default_session

    assert default_session() is default_session()


def test_policy_forbidding_opt_outs_refuses_unverified_in_a_fresh_process(
    self_signed_server: LocalServer, tmp_path: object
) -> None:
    import subprocess
    import sys

    policy = os.path.join(str(tmp_path), "policy.toml")
    with open(policy, "w") as f:
        f.write("allow_unverified = false\n")
    child = (
        "import sys, securl\n"
        "try:\n"
        "    securl.get(sys.argv[1], tls=securl.unverified(reason='lab'))\n"
        "except securl.PolicyError as exc:\n"
        "    print('REFUSED', exc)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "SECURL_POLICY": policy}
    result = subprocess.run([sys.executable, "-c", child, self_signed_server.url("/")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "allow_unverified = false" in result.stdout
    assert policy in result.stdout
    assert self_signed_server.accepts == 0
