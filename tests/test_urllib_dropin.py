"""``from securl import urllib`` as a drop-in for the stdlib's urllib, against real servers.

Every test that takes ``urllib_impl`` runs twice: once with the stdlib's ``urllib`` and once
with ``securl.urllib``, with the same code. Where the two must behave the same, the test
asserts one expected result for both; where securl is deliberately stricter, the test asserts
urllib's behaviour for the stdlib run and the stricter one for securl's.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from types import ModuleType
from typing import Any

import pytest
import trustme

import securl
import securl._policy
from _certs import self_signed
from _proxy import ForwardProxy
from _servers import Handler, LocalServer, RawServer, Reply, server_context
from securl import urllib as securl_urllib

REALM = "securl-test"
USER, PASSWORD = "alice", "s3cret-pw"
NONCE = "dcd98b7102dd2f0e8b11d0f600bfb0c093"


# --- the two implementations ------------------------------------------------------------------

@dataclass
class Impl:
    name: str
    request: ModuleType
    error: ModuleType
    parse: ModuleType

    @property
    def is_securl(self) -> bool:
        return self.name == "securl"


@pytest.fixture(params=["stdlib", "securl"])
def urllib_impl(request: pytest.FixtureRequest) -> Iterator[Impl]:
    if request.param == "stdlib":
        impl = Impl("stdlib", urllib.request, urllib.error, urllib.parse)
    else:
        impl = Impl("securl", securl_urllib.request, securl_urllib.error, securl_urllib.parse)
    yield impl
    impl.request.urlcleanup()  # forget installed openers; securl: close pooled connections


@pytest.fixture
def tls_context(ca_file: str) -> ssl.SSLContext:
    """The verifying context both runs use for TLS: trusts the test CA only."""
    return ssl.create_default_context(cafile=ca_file)




# --- server routes --------------------------------------------------------------------------

def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def basic_route(h: Handler) -> Reply:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if h.headers.get("Authorization") == f"Basic {token}":
        return 200, {"Content-Type": "text/plain"}, b"basic ok"
    return 401, {"WWW-Authenticate": f'Basic realm="{REALM}"'}, b"basic required"


def digest_route(h: Handler) -> Reply:
    """Checks an RFC 7616 MD5 Digest response (qop=auth) computed from the shared secret."""
    auth = h.headers.get("Authorization", "")
    if auth.startswith("Digest "):
        f = urllib.request.parse_keqv_list(urllib.request.parse_http_list(auth[7:]))
        ha1 = _md5(f"{USER}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"{h.command}:{f.get('uri')}")
        expected = _md5(f"{ha1}:{NONCE}:{f.get('nc')}:{f.get('cnonce')}:{f.get('qop')}:{ha2}")
        if f.get("username") == USER and f.get("nonce") == NONCE and \
                f.get("response") == expected and f.get("uri") == h.path:
            return 200, {"Content-Type": "text/plain"}, b"digest ok"
    challenge = f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth", algorithm=MD5'
    return 401, {"WWW-Authenticate": challenge}, b"digest required"


def goto_route(h: Handler) -> Reply:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
    code = int(query.get("code", ["302"])[0])
    return code, {"Location": query["url"][0]}, b"moved"


def install_routes(server: LocalServer) -> LocalServer:
    server.routes.update({
        "/lines": lambda h: (200, {"Content-Type": "text/plain", "X-Multi": "a"},
                             b"one\ntwo\nthree\n"),
        "/notfound": lambda h: (404, {"X-Why": "missing"}, b"no such page"),
        "/boom": lambda h: (500, {"Content-Type": "text/plain"}, b"server exploded"),
        "/redir": lambda h: (302, {"Location": "/echo?from=redir"}, b"moved"),
        "/no-location": lambda h: (302, {}, b"nowhere"),
        "/set-cookie": lambda h: (200, {"Set-Cookie": "flavour=oatmeal; Path=/"}, b"set"),
        "/goto": goto_route,
        "/basic": basic_route,
        "/digest": digest_route,
    })
    return server


@pytest.fixture
def web(http_server: LocalServer) -> LocalServer:
    return install_routes(http_server)


@pytest.fixture
def tls_web(https_server: LocalServer) -> LocalServer:
    return install_routes(https_server)


@pytest.fixture
def untrusted_web(other_ca: trustme.CA) -> Iterator[LocalServer]:
    """A TLS server whose certificate comes from a CA the tests' contexts do not trust."""
    with LocalServer(server_context(other_ca.issue_cert("localhost", "127.0.0.1"))) as s:
        yield install_routes(s)


# --- the response object ----------------------------------------------------------------------

def test_response_interface_is_urllibs(urllib_impl: Impl, web: LocalServer) -> None:
    url = web.url("/lines")
    with urllib_impl.request.urlopen(url, timeout=10) as r:
        assert (r.status, r.code, r.getcode(), r.reason, r.msg) == (200, 200, 200, "OK", "OK")
        assert isinstance(r.headers, http.client.HTTPMessage)
        assert r.info() is r.headers
        assert r.geturl() == r.url == url
        assert r.getheader("content-type") == "text/plain"
        assert r.getheader("X-Absent", "fallback") == "fallback"
        assert ("Content-Length", "14") in r.getheaders()
        assert r.headers["X-Multi"] == "a"
        assert r.read(4) == b"one\n"
        assert r.readline() == b"two\n"
        assert r.readlines() == [b"three\n"]
        assert r.read() == b""
    assert r.closed
    with urllib_impl.request.urlopen(url) as r:
        assert list(r) == [b"one\n", b"two\n", b"three\n"]
    r = urllib_impl.request.urlopen(url)
    assert r.read() == b"one\ntwo\nthree\n"
    r.close()


def test_request_object_method_headers_and_data(urllib_impl: Impl, web: LocalServer) -> None:
    import json

    req = urllib_impl.request.Request(web.url("/echo?q=1"), data=b"a=1&b=2",
                                      headers={"X-Test": "yes"}, method="PUT")
    assert req.get_full_url() == web.url("/echo?q=1")
    assert req.get_method() == "PUT" and not req.unverifiable
    with urllib_impl.request.urlopen(req) as r:
        seen = json.loads(r.read())
    assert seen["method"] == "PUT" and seen["path"] == "/echo?q=1"
    assert seen["body"] == "a=1&b=2"
    assert seen["headers"]["X-Test"] == "yes"
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen["headers"]["Content-Length"] == "7"
    assert seen["headers"]["Accept-Encoding"] == "identity"
    assert seen["headers"]["User-Agent"].startswith("Python-urllib/")
    # urlopen(url, data) is a POST
    with urllib_impl.request.urlopen(web.url("/echo"), b"x=1") as r:
        assert json.loads(r.read())["method"] == "POST"
    # str data is refused by urllib's own check
    with pytest.raises(TypeError):
        urllib_impl.request.urlopen(web.url("/echo"), "x=1")


def test_head_request_has_no_body_and_keeps_working(urllib_impl: Impl, web: LocalServer) -> None:
    req = urllib_impl.request.Request(web.url("/lines"), method="HEAD")
    with urllib_impl.request.urlopen(req) as r:
        assert r.status == 200 and r.headers["Content-Length"] == "14"
        assert r.read() == b""


# --- HTTP errors --------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "code", "reason", "body"), [
    ("/notfound", 404, "Not Found", b"no such page"),
    ("/boom", 500, "Internal Server Error", b"server exploded"),
    ("/no-location", 302, "Found", b"nowhere"),  # a 3xx without Location raises too
])
def test_http_error_status_raises_httperror_with_readable_body(
    urllib_impl: Impl, web: LocalServer, path: str, code: int, reason: str, body: bytes
) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib_impl.request.urlopen(web.url(path))
    err = info.value
    assert isinstance(err, urllib_impl.error.HTTPError)
    assert (err.code, err.reason, err.status) == (code, reason, code)
    assert str(err) == f"HTTP Error {code}: {reason}"
    assert err.url == err.geturl() == web.url(path)
    assert err.read() == body
    if code == 404:
        assert err.headers["X-Why"] == "missing"
    err.close()


def test_connection_refused_raises_urlerror(urllib_impl: Impl) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(urllib.error.URLError) as info:
        urllib_impl.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert isinstance(info.value, OSError)


def test_read_timeout_is_a_timeout_error(urllib_impl: Impl) -> None:
    def silent(sock: socket.socket) -> None:
        server.wait_stop(10)

    with RawServer(silent) as server:
        with pytest.raises((TimeoutError, urllib.error.URLError)) as info:
            urllib_impl.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=0.5)
    err = info.value
    # urllib lets the socket's TimeoutError through; securl's ReadTimeout is both.
    assert isinstance(err, TimeoutError)
    if urllib_impl.is_securl:
        assert isinstance(err, urllib.error.URLError)


def test_streaming_read_n_returns_before_the_body_is_complete(urllib_impl: Impl) -> None:
    first, rest = b"a" * 1000, b"b" * 5000
    release = threading.Event()

    def slow(sock: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(4096)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(first + rest))
                     + first)
        release.wait(10)
        sock.sendall(rest)

    with RawServer(slow) as server:
        r = urllib_impl.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10)
        assert r.read(1000) == first  # returns while the server still holds the rest
        release.set()
        assert r.read() == rest
        r.close()


# --- TLS ------------------------------------------------------------------------------------

def test_https_with_verifying_context_for_private_ca(urllib_impl: Impl, tls_web: LocalServer,
                                                     tls_context: ssl.SSLContext) -> None:
    with urllib_impl.request.urlopen(tls_web.url("/lines"), context=tls_context) as r:
        assert r.read() == b"one\ntwo\nthree\n"


def test_https_untrusted_raises_urlerror_with_ssl_reason(
    urllib_impl: Impl, untrusted_web: LocalServer, tls_context: ssl.SSLContext
) -> None:
    with pytest.raises(urllib.error.URLError) as info:
        urllib_impl.request.urlopen(untrusted_web.url("/"), context=tls_context)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
    if urllib_impl.is_securl:
        assert isinstance(info.value, securl.TLSVerificationError)
        assert info.value.reason_code == "untrusted-issuer"
    assert untrusted_web.seen == []


def test_securl_verifies_from_the_trust_store_without_context(
    tls_web: LocalServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(securl.TLSVerificationError) as info:
        securl_urllib.request.urlopen(tls_web.url("/"))  # test CA is not in the system store
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
    securl_urllib.request.urlcleanup()
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    with securl_urllib.request.urlopen(tls_web.url("/")) as r:
        assert r.read() == b"hello"


def test_unverified_context_is_an_audited_opt_out(
    urllib_impl: Impl, untrusted_web: LocalServer, events: list[securl.AuditEvent]
) -> None:
    ctx = ssl._create_unverified_context()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        with urllib_impl.request.urlopen(untrusted_web.url("/"), context=ctx) as r:
            assert r.read() == b"hello"
    warned = [w for w in caught if issubclass(w.category, securl.InsecureRequestWarning)]
    opt_outs = [e for e in events if e.event == "securl.unverified_request"]
    if urllib_impl.is_securl:
        assert len(warned) == 1 and warned[0].filename == __file__
        assert len(opt_outs) == 1
        assert opt_outs[0].fields["caller"] == f"{__file__}:{line}"
        assert opt_outs[0].fields["action"] == "allowed"
        assert "CERT_NONE" in opt_outs[0].fields["reason"]
    else:
        assert warned == [] and opt_outs == []


def test_check_hostname_false_context_is_an_opt_out_without_name_check(
    urllib_impl: Impl, events: list[securl.AuditEvent], other_ca: trustme.CA
) -> None:
    ctx = ssl.create_default_context()
    other_ca.configure_trust(ctx)
    leaf = other_ca.issue_cert("elsewhere.example")  # trusted chain, wrong name
    with LocalServer(server_context(leaf)) as server:
        with pytest.raises(urllib.error.URLError) as info:  # the negative twin: name checked
            urllib_impl.request.urlopen(server.url("/"), context=ctx)
        assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
        ctx.check_hostname = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with urllib_impl.request.urlopen(server.url("/"), context=ctx) as r:
                assert r.read() == b"hello"  # as urllib: the chain is checked, the name not
            untrusting = ssl.create_default_context()
            untrusting.check_hostname = False
            with pytest.raises(urllib.error.URLError) as chain:  # ... and the chain still is
                urllib_impl.request.urlopen(server.url("/"), context=untrusting)
            assert isinstance(chain.value.reason, ssl.SSLCertVerificationError)
    warned = [str(w.message) for w in caught
              if issubclass(w.category, securl.InsecureRequestWarning)]
    actions = [e.fields["action"] for e in events if e.event == "securl.unverified_request"]
    if urllib_impl.is_securl:
        assert len(warned) == 2 and actions == ["allowed", "allowed"]
        assert info.value.reason_code == "hostname-mismatch"
    else:
        assert warned == [] and actions == []


def test_unverified_context_refused_when_policy_forbids_opt_outs(
    untrusted_web: LocalServer, set_policy: Any, events: list[securl.AuditEvent]
) -> None:
    set_policy("allow_unverified = false\n")
    with pytest.raises(securl.PolicyError, match="forbids unverified"):
        securl_urllib.request.urlopen(untrusted_web.url("/"),
                                      context=ssl._create_unverified_context())
    assert untrusted_web.accepts == 0
    assert [e.fields["action"] for e in events if e.event == "securl.unverified_request"] \
        == ["refused"]


def test_opt_out_connection_is_never_reused_by_a_verified_call(
    untrusted_web: LocalServer, tls_context: ssl.SSLContext
) -> None:
    with pytest.warns(securl.InsecureRequestWarning):
        securl_urllib.request.urlopen(untrusted_web.url("/"),
                                      context=ssl._create_unverified_context()).read()
    for ctx in (None, tls_context):
        with pytest.raises(securl.TLSVerificationError):
            securl_urllib.request.urlopen(untrusted_web.url("/"), context=ctx)
    assert untrusted_web.accepts == 3


def test_context_below_policy_minimum_tls_is_refused(tls_web: LocalServer,
                                                     tls_context: ssl.SSLContext) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 itself is deprecated
        tls_context.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(securl.PolicyError, match="minimum TLS version"):
        securl_urllib.request.urlopen(tls_web.url("/"), context=tls_context)
    tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
    with securl_urllib.request.urlopen(tls_web.url("/"), context=tls_context) as r:
        assert r.status == 200


# --- keep-alive -----------------------------------------------------------------------------

def test_100_urlopens_reuse_one_connection(urllib_impl: Impl, web: LocalServer) -> None:
    for i in range(100):
        with urllib_impl.request.urlopen(web.url(f"/lines?i={i}")) as r:
            assert r.read() == b"one\ntwo\nthree\n"
    assert len(web.seen) == 100
    assert web.accepts == (1 if urllib_impl.is_securl else 100)


def test_tls_urlopens_reuse_one_connection(urllib_impl: Impl, tls_web: LocalServer,
                                           tls_context: ssl.SSLContext) -> None:
    opener = urllib_impl.request.build_opener(
        urllib_impl.request.HTTPSHandler(context=tls_context))
    for _ in range(20):
        with opener.open(tls_web.url("/")) as r:
            assert r.read() == b"hello"
    assert tls_web.accepts == (1 if urllib_impl.is_securl else 20)


def test_error_and_redirect_responses_free_their_connection(urllib_impl: Impl,
                                                            web: LocalServer) -> None:
    for _ in range(5):
        with pytest.raises(urllib.error.HTTPError):
            urllib_impl.request.urlopen(web.url("/notfound"))  # HTTPError never read/closed
        urllib_impl.request.urlopen(web.url("/redir")).read()
    assert web.accepts == (1 if urllib_impl.is_securl else 15)


# --- redirects -------------------------------------------------------------------------------

def test_redirect_is_followed_and_post_becomes_get(urllib_impl: Impl, web: LocalServer) -> None:
    import json

    with urllib_impl.request.urlopen(web.url("/redir")) as r:
        assert r.geturl() == web.url("/echo?from=redir")
        assert json.loads(r.read())["method"] == "GET"
    to = urllib.parse.quote(web.url("/echo"), safe="")
    with urllib_impl.request.urlopen(web.url(f"/goto?code=303&url={to}"), b"x=1") as r:
        seen = json.loads(r.read())
    assert (seen["method"], seen["body"]) == ("GET", "")
    # urllib does not redirect a POST on 307: HTTPError, in both
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib_impl.request.urlopen(web.url(f"/goto?code=307&url={to}"), b"x=1")
    assert info.value.code == 307
    info.value.close()


def test_https_to_http_redirect_is_refused(urllib_impl: Impl, tls_web: LocalServer,
                                           web: LocalServer,
                                           tls_context: ssl.SSLContext) -> None:
    to = urllib.parse.quote(web.url("/echo"), safe="")
    url = tls_web.url(f"/goto?url={to}")
    if not urllib_impl.is_securl:
        with urllib_impl.request.urlopen(url, context=tls_context) as r:
            assert r.geturl() == web.url("/echo")  # urllib downgrades silently
        return
    with pytest.raises(securl.InsecureRedirectError) as info:
        urllib_impl.request.urlopen(url, context=tls_context)
    err = info.value
    assert isinstance(err, urllib.error.HTTPError) and err.code == 302
    assert "https to http" in str(err)
    assert err.read() == b"moved"
    err.close()
    assert web.seen == []


def test_redirect_to_other_scheme_is_refused(urllib_impl: Impl, web: LocalServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib_impl.request.urlopen(web.url("/goto?url=file:///etc/passwd"))
    assert info.value.code == 302
    info.value.close()


def test_cross_origin_redirect_drops_authorization_and_cookie(
    urllib_impl: Impl, web: LocalServer
) -> None:
    with install_routes(LocalServer()) as other:
        to = urllib.parse.quote(other.url("/echo"), safe="")
        req = urllib_impl.request.Request(
            web.url(f"/goto?url={to}"),
            headers={"Authorization": "Bearer t0ken", "Cookie": "sid=1", "X-Keep": "kept"})
        urllib_impl.request.urlopen(req).read()
        headers = other.seen[0].headers
    assert headers["X-Keep"] == "kept"
    if urllib_impl.is_securl:
        assert "Authorization" not in headers and "Cookie" not in headers
    else:
        assert headers["Authorization"] == "Bearer t0ken"  # urllib's leak


def test_same_origin_redirect_keeps_authorization(urllib_impl: Impl, web: LocalServer) -> None:
    req = urllib_impl.request.Request(web.url("/redir"), headers={"Authorization": "Bearer x"})
    urllib_impl.request.urlopen(req).read()
    assert web.seen[-1].headers["Authorization"] == "Bearer x"


# --- schemes ------------------------------------------------------------------------------------

def test_non_http_schemes_are_refused(urllib_impl: Impl, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "secret.txt")
    with open(path, "w") as f:
        f.write("local secret")
    urls = [f"file://{path}", "data:text/plain,hello"]
    if urllib_impl.is_securl:
        urls.append("ftp://127.0.0.1:9/x")  # never contacted by securl
    for url in urls:
        if urllib_impl.is_securl:
            with pytest.raises(urllib.error.URLError, match=r"refuses .* by design"):
                urllib_impl.request.urlopen(url)
            with pytest.raises(urllib.error.URLError, match="by design"):
                urllib_impl.request.urlretrieve(url)
        else:
            with urllib_impl.request.urlopen(url) as r:
                assert r.read() in (b"local secret", b"hello")


def test_explicit_file_handler_still_cannot_open_files(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "x")
    open(path, "w").close()
    opener = securl_urllib.request.build_opener(securl_urllib.request.FileHandler())
    with pytest.raises(urllib.error.URLError, match="by design"):
        opener.open(f"file://{path}")


# --- auth, cookies, proxies -------------------------------------------------------------------

def _password_manager(impl: Impl, url: str) -> object:
    mgr = impl.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, url, USER, PASSWORD)
    return mgr


def test_basic_auth_over_https(urllib_impl: Impl, tls_web: LocalServer,
                               tls_context: ssl.SSLContext) -> None:
    r = urllib_impl.request
    opener = r.build_opener(r.HTTPSHandler(context=tls_context),
                            r.HTTPBasicAuthHandler(_password_manager(urllib_impl, tls_web.base)))
    with opener.open(tls_web.url("/basic")) as resp:
        assert resp.read() == b"basic ok"
    wrong = r.HTTPPasswordMgrWithDefaultRealm()
    wrong.add_password(None, tls_web.base, USER, "wrong")
    opener = r.build_opener(r.HTTPSHandler(context=tls_context), r.HTTPBasicAuthHandler(wrong))
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(tls_web.url("/basic"))
    assert info.value.code == 401 and info.value.read() == b"basic required"
    info.value.close()


def test_basic_credentials_are_not_sent_over_plain_http(urllib_impl: Impl,
                                                        web: LocalServer) -> None:
    r = urllib_impl.request
    opener = r.build_opener(r.HTTPBasicAuthHandler(_password_manager(urllib_impl, web.base)))
    if not urllib_impl.is_securl:
        assert opener.open(web.url("/basic")).read() == b"basic ok"
        return
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(web.url("/basic"))
    assert isinstance(info.value, securl.AuthError) and info.value.code == 401
    assert "plain http" in str(info.value) and PASSWORD not in str(info.value)
    assert all("Authorization" not in s.headers for s in web.seen)
    prior = r.HTTPPasswordMgrWithPriorAuth()
    prior.add_password(None, web.base, USER, PASSWORD, is_authenticated=True)
    with pytest.raises(securl.PolicyError, match="plain http"):
        r.build_opener(r.HTTPBasicAuthHandler(prior)).open(web.url("/basic"))


def test_digest_auth(urllib_impl: Impl, web: LocalServer) -> None:
    r = urllib_impl.request
    opener = r.build_opener(r.HTTPDigestAuthHandler(_password_manager(urllib_impl, web.base)))
    with opener.open(web.url("/digest")) as resp:
        assert resp.read() == b"digest ok"
    assert [s.path for s in web.seen] == ["/digest", "/digest"]
    assert "Authorization" not in web.seen[0].headers
    assert web.seen[1].headers["Authorization"].startswith("Digest ")


def test_cookie_processor(urllib_impl: Impl, web: LocalServer) -> None:
    import json

    jar = CookieJar()
    opener = urllib_impl.request.build_opener(urllib_impl.request.HTTPCookieProcessor(jar))
    opener.open(web.url("/set-cookie")).read()
    with opener.open(web.url("/echo")) as resp:
        assert json.loads(resp.read())["headers"]["Cookie"] == "flavour=oatmeal"
    assert [c.name for c in jar] == ["flavour"]


def test_plain_http_through_proxy(urllib_impl: Impl, web: LocalServer) -> None:
    with ForwardProxy() as proxy:
        opener = urllib_impl.request.build_opener(
            urllib_impl.request.ProxyHandler({"http": proxy.url}))
        for _ in range(3):
            with opener.open(web.url("/lines")) as resp:
                assert resp.read() == b"one\ntwo\nthree\n"
        assert [s.target for s in proxy.seen] == [web.url("/lines")] * 3
        assert proxy.accepts == (1 if urllib_impl.is_securl else 3)


def test_https_through_authenticating_proxy_tunnel(urllib_impl: Impl, tls_web: LocalServer,
                                                   tls_context: ssl.SSLContext) -> None:
    with ForwardProxy(auth=("proxyuser", "proxy-pw")) as proxy:
        r = urllib_impl.request
        opener = r.build_opener(
            r.ProxyHandler({"https": proxy.url_with_auth("proxyuser", "proxy-pw")}),
            r.HTTPSHandler(context=tls_context))
        for _ in range(2):
            with opener.open(tls_web.url("/echo")) as resp:
                assert resp.status == 200
        connects = [s for s in proxy.seen if s.method == "CONNECT"]
        assert connects and connects[0].target == f"localhost:{tls_web.port}"
        assert connects[0].headers["Proxy-Authorization"].startswith("Basic ")
        assert len(connects) == (1 if urllib_impl.is_securl else 2)
    # the proxy's credentials never reach the origin server
    assert all("Proxy-Authorization" not in s.headers for s in tls_web.seen)


def test_tunnel_with_wrong_proxy_credentials_fails(urllib_impl: Impl, tls_web: LocalServer,
                                                   tls_context: ssl.SSLContext) -> None:
    with ForwardProxy(auth=("proxyuser", "proxy-pw")) as proxy:
        r = urllib_impl.request
        opener = r.build_opener(r.ProxyHandler({"https": proxy.url_with_auth("x", "y")}),
                                r.HTTPSHandler(context=tls_context))
        with pytest.raises(OSError) as info:
            opener.open(tls_web.url("/"))
        assert "407" in str(info.value)
    assert tls_web.seen == []


# --- openers and module functions ---------------------------------------------------------------

def test_install_opener_is_used_by_urlopen(urllib_impl: Impl, tls_web: LocalServer,
                                           tls_context: ssl.SSLContext) -> None:
    r = urllib_impl.request
    r.install_opener(r.build_opener(r.HTTPSHandler(context=tls_context)))
    with r.urlopen(tls_web.url("/")) as resp:
        assert resp.read() == b"hello"


def test_install_opener_refuses_a_stdlib_opener() -> None:
    with pytest.raises(TypeError, match="bypass"):
        securl_urllib.request.install_opener(urllib.request.build_opener())


def test_stdlib_https_handler_instance_gets_securl_transport(tls_web: LocalServer,
                                                             tls_context: ssl.SSLContext,
                                                             untrusted_web: LocalServer) -> None:
    opener = securl_urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls_context))
    for _ in range(3):
        assert opener.open(tls_web.url("/")).read() == b"hello"
    assert tls_web.accepts == 1  # pooled: securl's transport, with the given context
    with pytest.raises(securl.TLSVerificationError):
        opener.open(untrusted_web.url("/"))


def test_urlretrieve(urllib_impl: Impl, web: LocalServer, tmp_path: object) -> None:
    target = os.path.join(str(tmp_path), "out.txt")
    hooks: list[tuple[int, int, int]] = []
    path, headers = urllib_impl.request.urlretrieve(
        web.url("/lines"), target, lambda *a: hooks.append(a))
    assert path == target and headers["Content-Length"] == "14"
    with open(target, "rb") as f:
        assert f.read() == b"one\ntwo\nthree\n"
    assert hooks == [(0, 8192, 14), (1, 8192, 14)]
    tmp, _ = urllib_impl.request.urlretrieve(web.url("/"))
    with open(tmp, "rb") as f:
        assert f.read() == b"hello"
    urllib_impl.request.urlcleanup()
    assert not os.path.exists(tmp)


def test_urlretrieve_short_body_raises_content_too_short(urllib_impl: Impl) -> None:
    def short(sock: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(4096)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        sock.close()

    with RawServer(short) as server:
        with pytest.raises(urllib_impl.error.ContentTooShortError) as info:
            urllib_impl.request.urlretrieve(f"http://127.0.0.1:{server.port}/")
    assert "got only 10 out of 100 bytes" in str(info.value)


# --- the module's shape -------------------------------------------------------------------------

def test_error_classes_and_parse_are_the_stdlibs() -> None:
    assert securl_urllib.error.HTTPError is urllib.error.HTTPError
    assert securl_urllib.error.URLError is urllib.error.URLError
    assert securl_urllib.error.ContentTooShortError is urllib.error.ContentTooShortError
    assert securl_urllib.parse is urllib.parse
    assert securl_urllib.request.Request is urllib.request.Request
    assert issubclass(securl.TLSVerificationError, urllib.error.URLError)
    assert securl_urllib.error.TLSVerificationError is securl.TLSVerificationError
    assert securl_urllib.response.addinfourl is urllib.response.addinfourl


def test_every_stdlib_request_name_resolves() -> None:
    overridden = {"urlopen", "build_opener", "install_opener", "urlretrieve", "urlcleanup",
                  "OpenerDirector", "HTTPHandler", "HTTPSHandler", "HTTPRedirectHandler",
                  "HTTPBasicAuthHandler", "URLopener", "FancyURLopener"}
    for name in dir(urllib.request):
        if name.startswith("__") or name.startswith("_url_tempfiles") or name == "_opener":
            continue
        ours = getattr(securl_urllib.request, name)
        if name in overridden:
            assert ours is not getattr(urllib.request, name), name
        else:
            assert ours is getattr(urllib.request, name), name
    from securl.urllib.request import getproxies_environment, parse_http_list  # noqa: F401
    assert set(urllib.request.__all__) <= set(dir(securl_urllib.request))
    with pytest.raises(AttributeError):
        securl_urllib.request.no_such_name  # noqa: B018


def test_legacy_urlopener_is_refused() -> None:
    for cls in (securl_urllib.request.URLopener, securl_urllib.request.FancyURLopener):
        with pytest.raises(securl.PolicyError, match="urlopen"):
            cls()


def test_subpackage_does_not_shadow_stdlib_urllib_inside_securl() -> None:
    import securl.exceptions
    import securl.http.session

    assert securl.http.session.urllib is sys.modules["urllib"]
    assert securl.exceptions.urllib.error is urllib.error
    assert securl.urllib is securl_urllib and securl_urllib is not sys.modules["urllib"]


def test_timeouts_are_never_infinite(web: LocalServer) -> None:
    from securl.http.timeouts import DEFAULT_TIMEOUT
    from securl.urllib.sending import timeouts_for as _timeout

    assert _timeout(socket._GLOBAL_DEFAULT_TIMEOUT) is DEFAULT_TIMEOUT  # type: ignore[attr-defined]
    assert _timeout(None) is DEFAULT_TIMEOUT
    assert _timeout(2.5).read == 2.5
    assert _timeout(2.5).total == 300  # the default total deadline of the head
    # A per-operation timeout is never undercut by the total deadline...
    assert (_timeout(600).read, _timeout(600).total) == (600, 1200)
    assert _timeout((100, 250)).total == 350
    # ...but an explicit total is the caller's.
    assert _timeout((1, 2, 3)).total == 3
    assert _timeout(securl.Timeouts(connect=200, read=200, total=10)).total == 10
    with pytest.raises(ValueError, match="timeout"):
        securl_urllib.request.urlopen(web.url("/"), timeout=0)


def test_cafile_argument_trusts_only_that_ca(tls_web: LocalServer, ca_file: str,
                                             untrusted_web: LocalServer) -> None:
    with pytest.warns(DeprecationWarning, match="cafile"):
        assert securl_urllib.request.urlopen(tls_web.url("/"), cafile=ca_file).read() \
            == b"hello"
    with pytest.warns(DeprecationWarning, match="cafile"), \
            pytest.raises(securl.TLSVerificationError):
        securl_urllib.request.urlopen(untrusted_web.url("/"), cafile=ca_file)


def test_self_signed_server_fails_with_default_context() -> None:
    with LocalServer(server_context(self_signed())) as server:
        with pytest.raises(securl.TLSVerificationError) as info:
            securl_urllib.request.urlopen(server.url("/"))
    assert info.value.reason_code == "self-signed"
