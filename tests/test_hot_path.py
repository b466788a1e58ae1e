"""The rules the request hot path must keep while it is made cheaper (see benchmarks/NOTES.md).

Each optimisation (memoised URL checks, copy-on-write headers, one shared no-retry policy,
cached hashes of TLSConfig/TrustDecision) is pinned here by the behaviour it must not change.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest
import urllib3

import securl
from _hostile import read_head
from _servers import LocalServer, RawServer, server_context
from securl.http.target import check_method, parse_target
from securl.tls.decision import TrustDecision

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def test_refused_urls_are_refused_every_time_even_when_checks_are_memoised() -> None:
    for _ in range(3):
        with pytest.raises(securl.InvalidRequest):
            parse_target("https://exa mple.com/")
        with pytest.raises(securl.InvalidRequest):
            parse_target("https://user:pw@example.com/")
    first = parse_target("https://Example.com:8443/a?b=1")
    again = parse_target("https://Example.com:8443/a?b=1")
    assert first == again == ("https://Example.com:8443/a?b=1", "https", "example.com", 8443,
                              "/a?b=1")


def test_memoised_url_check_returns_a_plain_str_url_for_str_subclasses() -> None:
    class Url(str):
        pass

    target = parse_target(Url("https://example.com/x"))
    assert type(target.url) is str
    assert target.host == "example.com"


def test_method_names_are_checked_and_uppercased() -> None:
    assert check_method("GET") == "GET"
    assert check_method("get") == "GET"
    assert check_method("PROPFIND") == "PROPFIND"
    with pytest.raises(securl.InvalidRequest):
        check_method("GET /evil")
    with pytest.raises(securl.InvalidRequest):
        check_method(b"GET")


def test_per_call_headers_never_change_the_session_headers(
        https_server: LocalServer, ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file, headers={"X-Team": "blue"}) as s:
        before = dict(s.headers.items())
        s.get(https_server.url("/echo"), headers={"X-Call": "1", "X-Team": None})
        s.get(https_server.url("/echo"))
        assert dict(s.headers.items()) == before
    first, second = https_server.seen[-2:]
    assert first.headers.get("X-Call") == "1" and "X-Team" not in first.headers
    assert second.headers.get("X-Team") == "blue" and "X-Call" not in second.headers


def _redirecting_pair(leaf: Any) -> tuple[LocalServer, LocalServer]:
    return LocalServer(server_context(leaf)), LocalServer(server_context(leaf))


def test_cross_origin_redirect_drops_session_authorization_but_keeps_it_in_the_session(
        leaf: Any, ca_file: str) -> None:
    a, b = _redirecting_pair(leaf)
    with a, b:
        a.routes["/go"] = lambda h: (302, {"Location": b.url("/landed")}, b"")
        with securl.Session(ca_certs=ca_file, headers={"Authorization": "Bearer t0ken"}) as s:
            assert s.get(a.url("/go")).status == 200
            assert s.headers["Authorization"] == "Bearer t0ken"
            s.get(a.url("/again"))
    assert a.seen[0].headers.get("Authorization") == "Bearer t0ken"
    assert "Authorization" not in b.seen[0].headers
    assert a.seen[1].headers.get("Authorization") == "Bearer t0ken"


def test_same_origin_redirect_keeps_session_authorization(leaf: Any, ca_file: str) -> None:
    with LocalServer(server_context(leaf)) as a:
        a.routes["/go"] = lambda h: (302, {"Location": "/landed"}, b"")
        with securl.Session(ca_certs=ca_file, headers={"Authorization": "Bearer t0ken"}) as s:
            assert s.get(a.url("/go")).status == 200
    assert [seen.path for seen in a.seen] == ["/go", "/landed"]
    assert all(seen.headers.get("Authorization") == "Bearer t0ken" for seen in a.seen)


def _hang_up(sock: socket.socket) -> None:
    sock.close()


def test_securl_never_retries_a_failed_connection() -> None:
    with RawServer(_hang_up) as server, securl.Session() as s:
        with pytest.raises(securl.SecurlError):
            s.get(f"https://127.0.0.1:{server.port}/", timeout=5)
        assert len(server.accepted) == 1


def test_urllib3_default_retries_would_reconnect_on_the_same_failure() -> None:
    # The twin of the test above: proves the accept count does see retries.
    with RawServer(_hang_up) as server:
        pm = urllib3.PoolManager(retries=urllib3.Retry(2, backoff_factor=0), timeout=5)
        with pytest.raises(urllib3.exceptions.HTTPError):
            pm.request("GET", f"https://127.0.0.1:{server.port}/")
        pm.clear()
        assert len(server.accepted) == 3


def test_equal_configs_and_policies_hash_equal(ca_file: str) -> None:
    a = securl.TLSConfig(ca_certs=ca_file, pins=("sha256/" + "A" * 43 + "=",))
    b = securl.TLSConfig(ca_certs=ca_file, pins=("sha256/" + "A" * 43 + "=",))
    assert a == b and hash(a) == hash(b)
    assert hash(TrustDecision("verified", a)) == hash(TrustDecision("verified", b))
    assert TrustDecision("verified", a) != TrustDecision("unverified", a)
    assert securl.TLSConfig(ca_certs=ca_file) != a


def test_a_config_unpickled_in_another_process_hashes_like_a_fresh_one(
        tmp_path: Any, ca_file: str) -> None:
    # String hashes differ between processes: a cached hash must not travel with the object.
    pickled = tmp_path / "config.pickle"
    config = securl.TLSConfig(ca_certs=ca_file)
    pickled.write_bytes(pickle.dumps((config, TrustDecision("verified", config))))
    code = (
        "import pickle, sys, securl\n"
        "from securl.tls.decision import TrustDecision\n"
        "config, policy = pickle.load(open(sys.argv[1], 'rb'))\n"
        "fresh = securl.TLSConfig(ca_certs=sys.argv[2])\n"
        "assert hash(config) == hash(fresh), 'config hash'\n"
        "assert hash(policy) == hash(TrustDecision('verified', fresh)), 'policy hash'\n"
        "assert {fresh: 1}[config] == 1\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code, str(pickled), ca_file], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_securl_stays_cheap_without_urllib3_or_the_toml_parser() -> None:
    # sitecustomize may import securl in every interpreter (see benchmarks/RESULTS.md).
    loaded = _modules_after("import securl")
    assert not {"urllib3", "securl.http.session", "securl.http.api", "tomllib", "securl.tls.x509",
                "securl.verifiers"} & loaded


def test_the_request_layer_loads_on_first_use_of_its_names() -> None:
    loaded = _modules_after("import securl\nsecurl.Session\nfrom securl import get")
    assert {"urllib3", "securl.http.session", "securl.http.api"} <= loaded


def test_verifiers_and_peer_info_load_on_first_use() -> None:
    loaded = _modules_after("import securl\nsecurl.verifiers.require_san\nsecurl.PeerInfo")
    assert {"securl.verifiers", "securl.tls.peer", "securl.tls.x509"} <= loaded


def test_multi_valued_session_headers_are_sent_as_separate_lines(
        https_server: LocalServer, ca_file: str) -> None:
    lines: list[list[str]] = []

    def capture(handler: Any) -> tuple[int, dict[str, str], bytes]:
        lines.append(handler.headers.get_all("X-Multi") or [])
        return 200, {}, b"ok"

    https_server.routes["/capture"] = capture
    with securl.Session(ca_certs=ca_file) as s:
        s.headers.add("X-Multi", "a")
        s.get(https_server.url("/capture"))
        s.headers.add("X-Multi", "b")
        s.get(https_server.url("/capture"))
    assert lines == [["a"], ["a", "b"]]


def _connection_events(fn: Any) -> list[securl.AuditEvent]:
    events: list[securl.AuditEvent] = []

    def hook(event: securl.AuditEvent) -> None:
        if event.event == "securl.connection":
            events.append(event)

    securl.add_audit_hook(hook)
    try:
        fn()
    finally:
        securl.remove_audit_hook(hook)
    return events


def test_every_new_connection_event_names_the_peer_certificate(
        https_server: LocalServer, ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        events = _connection_events(lambda: [
            s.get(https_server.url("/"), headers={"Connection": "close"}) for _ in range(3)])
    assert len(events) == 3
    facts = {(e.fields["subject"], e.fields["issuer"], e.fields["not_after"],
              e.fields["spki_sha256"]) for e in events}
    assert len(facts) == 1
    _subject, issuer, not_after, pin = facts.pop()
    assert issuer and not_after and pin.startswith("sha256/")
    assert all(e.fields["verified"] is True for e in events)


def test_unverified_connection_event_carries_no_peer_names_after_a_verified_one(
        https_server: LocalServer, ca_file: str) -> None:
    opt_out = securl.unverified(reason="test: same certificate seen verified first")
    def both() -> None:
        s.get(https_server.url("/"))
        with warnings.catch_warnings():
            # urllib3 adds its own warning for the unverified pool; not what is tested here
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            with pytest.warns(securl.InsecureRequestWarning):
                s.get(https_server.url("/"), tls=opt_out)

    with securl.Session(ca_certs=ca_file) as s:
        events = _connection_events(both)
    assert [e.fields["verified"] for e in events] == [True, False]
    assert events[0].fields["issuer"] and events[1].fields["issuer"] is None
    assert events[0].fields["spki_sha256"] == events[1].fields["spki_sha256"]


def test_pin_mismatch_is_refused_even_for_a_certificate_seen_before(
        https_server: LocalServer, ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file) as s:  # the certificate is now seen and cached
        assert len(_connection_events(lambda: s.get(https_server.url("/")))) == 1
    wrong = "sha256/" + "A" * 43 + "="
    with securl.Session(ca_certs=ca_file, pins=[wrong]) as s:
        with pytest.raises(securl.PinMismatchError):
            s.get(https_server.url("/"))


def test_the_right_pin_is_accepted_for_a_certificate_seen_before(
        https_server: LocalServer, ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file) as s:
        (event,) = _connection_events(lambda: s.get(https_server.url("/")))
    with securl.Session(ca_certs=ca_file, pins=[event.fields["spki_sha256"]]) as s:
        assert s.get(https_server.url("/")).status == 200


def test_securls_getresponse_builds_the_response_urllib3_would() -> None:
    """securl.http.getresponse skips urllib3's detours, not anything the response carries:
    the same head (repeated fields, a folded line, odd case) read by both ways compares equal,
    and each connection goes on to the next request."""
    from urllib3.connection import HTTPConnection as StockConnection

    from securl.http.connection import SecurlHTTPConnection
    from securl.http.head import StrictFramingResponse

    class Stock(StockConnection):
        response_class = StrictFramingResponse  # the same head reader: only getresponse differs

    head = (b"HTTP/1.1 201 Created Here\r\nX-Dup: a\r\nx-dup: b\r\nSet-Cookie: s=1\r\n"
            b"Set-Cookie: t=2\r\nX-Fold: one\r\n two\r\nCONTENT-length: 5\r\n\r\nhello")

    def serve(sock: socket.socket) -> None:
        sock.settimeout(10)
        for _ in range(2):
            if read_head(sock) is None:
                return
            sock.sendall(head)

    def facts(cls: Any, port: int) -> list[tuple[object, ...]]:
        conn = cls("127.0.0.1", port, timeout=5)
        seen = []
        try:
            for method in ("GET", "HEAD"):
                conn.request(method, "/x", headers={"X-A": "1"}, preload_content=False,
                             decode_content=False)
                r = conn.getresponse()
                seen.append((type(r), r.status, r.version, r.version_string, r.reason,
                             list(r.headers.items()), r.headers.getlist("x-dup"),
                             r.length_remaining, r.chunked, r.url, r.read(), r.data,
                             r.headers.get("set-cookie")))
        finally:
            conn.close()
        return seen

    results = []
    for cls in (SecurlHTTPConnection, Stock):
        with RawServer(serve) as srv:
            results.append(facts(cls, srv.port))
    assert results[0] == results[1]
    assert results[0][0][1] == 201 and results[0][0][10] == b"hello"
    assert results[0][1][10] == b""  # HEAD: no body read


WIRE_SHAPES = [
    ("GET", "/a?b=1", None, {"User-Agent": "ua", "Accept": "*/*", "X-Int": 7}),
    ("POST", "/p", b"body bytes", {"Content-Type": "text/plain"}),
    ("POST", "/empty", b"", {}),
    ("PUT", "/no-body", None, {"User-Agent": "ua"}),
    ("DELETE", "/d", None, {}),
    ("HEAD", "/h", None, {"Host": "example.test", "Accept-Encoding": "gzip"}),
    ("OPTIONS", "*", None, {"X-B": "b", "x-a": "a"}),
    ("PATCH", "/given-length", b"12345", {"Content-Length": "5"}),
    ("POST", "/te", b"chunk", {"Transfer-Encoding": "chunked"}),  # urllib3's own writer
    ("GET", "/skip", None, {"User-Agent": urllib3.util.SKIP_HEADER}),  # urllib3's own writer
    ("POST", "/bytes-name", b"x", {b"X-Bytes": "1"}),  # urllib3's own writer
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), WIRE_SHAPES)
def test_securls_request_writer_writes_what_urllib3_writes(
        method: str, path: str, body: bytes | None, headers: dict[Any, Any]) -> None:
    """securl.http.wire writes common requests itself: byte for byte urllib3's, for every
    shape it takes on and every one it hands back to urllib3."""
    from urllib3.connection import HTTPConnection as StockConnection

    from securl.http.connection import SecurlHTTPConnection

    got: list[bytes] = []

    def record(sock: socket.socket) -> None:
        sock.settimeout(10)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
        got.append(data)

    with RawServer(record) as srv:  # one server: the Host field names the same port
        for n, cls in enumerate((SecurlHTTPConnection, StockConnection), start=1):
            conn = cls("127.0.0.1", srv.port, timeout=5)
            conn.request(method, path, body=body, headers=dict(headers))
            conn.close()
            deadline = time.monotonic() + 5
            while len(got) < n and time.monotonic() < deadline:
                time.sleep(0.01)
    ours, stock = got
    assert ours == stock
    assert ours.startswith(f"{method} {path} HTTP/1.1\r\n".encode())


def test_the_short_paths_are_in_use_with_the_urllib3_under_test() -> None:
    """The kept-alive path, the request writer and the one-read body use urllib3 2.x
    internals and step aside (to urllib3's public path) where they are missing. With the
    urllib3 the suite runs on they must all be in use: an upgrade that turns one off shows
    up here, not only as a slower benchmark."""
    import urllib3.response

    from securl.http import kept_alive, wire

    assert kept_alive.AVAILABLE and wire.AVAILABLE
    for name in ("_fp", "_fp_bytes_read", "length_remaining"):
        assert name in vars(urllib3.response.HTTPResponse(body=b"", preload_content=False))
    assert callable(getattr(urllib3.response.HTTPResponse, "_error_catcher", None))
