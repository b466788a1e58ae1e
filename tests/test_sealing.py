"""A sealed securl context refuses every change that could widen its trust or leak secrets.

securl caches one ``ssl.SSLContext`` per configuration and shares it with every Session, pool
and thread, so it is sealed (``securl.tls.seal``): a change that would weaken it raises
``securl.PolicyError`` instead of weakening every other user of the same object. These tests
prove each refusal on the kinds of context securl seals (its own class over the stdlib's,
over a green-thread library's context class, and over truststore's), that re-asserting a
value or strengthening stays allowed, and -- by enumeration -- that every writable attribute
and public method of ``ssl.SSLContext`` has been judged: sealed, or harmless for a stated
reason. A Python that adds one fails here until someone classifies it.
"""

from __future__ import annotations

import _ssl
import inspect
import pathlib
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme

import securl
import securl.tls.context
from _servers import LocalServer, server_context
from conftest import expired_leaf
from securl.admin.stdlib_class import STDLIB_SSLCONTEXT

NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME: accept certificates whatever the date
LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)


@dataclass
class Files:
    ca: str  # a PEM CA bundle
    client: str  # a client certificate and its key, in one PEM file
    tmp: pathlib.Path


Weaken = Callable[[Any, Files], object]


def _set(name: str, value: object) -> Weaken:
    return lambda ctx, files: setattr(ctx, name, value)


def _add_flags(flags: int) -> Weaken:
    def weaken(ctx: Any, files: Files) -> None:
        ctx.verify_flags |= flags
    return weaken


def _clear_flags(flags: int) -> Weaken:
    def weaken(ctx: Any, files: Files) -> None:
        ctx.verify_flags &= ~flags
    return weaken


def _add_options(options: int) -> Weaken:
    def weaken(ctx: Any, files: Files) -> None:
        ctx.options |= options
    return weaken


def _clear_options(options: int) -> Weaken:
    def weaken(ctx: Any, files: Files) -> None:
        ctx.options &= ~options
    return weaken


def _call(name: str, *args: Callable[[Files], object]) -> Weaken:
    return lambda ctx, files: getattr(ctx, name)(*(arg(files) for arg in args))


def _value(value: object) -> Callable[[Files], object]:
    return lambda files: value


class _OtherSocket(ssl.SSLSocket):
    """A socket class a caller might try to put on a shared context."""


class _OtherObject(ssl.SSLObject):
    """An SSLObject class a caller might try to put on a shared context."""


def _callback(*args: object) -> None:
    return None


#: Every name a sealed context guards, and the ways of using it to weaken the context.
SEALED: dict[str, tuple[Weaken, ...]] = {
    "check_hostname": (_set("check_hostname", False),),
    "verify_mode": (_set("verify_mode", ssl.CERT_OPTIONAL), _set("verify_mode", ssl.CERT_NONE)),
    "hostname_checks_common_name": (_set("hostname_checks_common_name", True),),
    "verify_flags": (_add_flags(NO_CHECK_TIME), _add_flags(ssl.VERIFY_ALLOW_PROXY_CERTS),
                     _clear_flags(ssl.VERIFY_X509_STRICT),
                     _clear_flags(ssl.VERIFY_X509_PARTIAL_CHAIN),
                     _set("verify_flags", ssl.VERIFY_DEFAULT)),
    "options": (_add_options(LEGACY_SERVER_CONNECT), _add_options(ssl.OP_IGNORE_UNEXPECTED_EOF),
                _add_options(ssl.OP_NO_TLSv1_3), _clear_options(ssl.OP_NO_COMPRESSION),
                _clear_options(ssl.OP_NO_SSLv3)),
    "minimum_version": (_set("minimum_version", ssl.TLSVersion.TLSv1),
                        _set("minimum_version", ssl.TLSVersion.MINIMUM_SUPPORTED)),
    "maximum_version": (_set("maximum_version", ssl.TLSVersion.TLSv1_2),),
    "keylog_filename": (lambda ctx, files: setattr(ctx, "keylog_filename",
                                                   str(files.tmp / "keys.log")),),
    "post_handshake_auth": (_set("post_handshake_auth", True),),
    "sni_callback": (_set("sni_callback", _callback),),
    "_msg_callback": (_set("_msg_callback", _callback),),
    "sslsocket_class": (_set("sslsocket_class", _OtherSocket),),
    "sslobject_class": (_set("sslobject_class", _OtherObject),),
    "load_verify_locations": (_call("load_verify_locations", lambda f: f.ca),),
    "load_default_certs": (_call("load_default_certs"),),
    "set_default_verify_paths": (_call("set_default_verify_paths"),),
    "load_cert_chain": (_call("load_cert_chain", lambda f: f.client),),
    "set_ciphers": (_call("set_ciphers", _value("ALL:@SECLEVEL=0")),),
    "load_dh_params": (_call("load_dh_params", lambda f: str(f.tmp / "dh.pem")),),
    "set_ecdh_curve": (_call("set_ecdh_curve", _value("prime256v1")),),
    "set_servername_callback": (_call("set_servername_callback", _value(_callback)),),
    "set_psk_client_callback": (_call("set_psk_client_callback",
                                      _value(lambda hint: (None, b"k" * 16))),),
    "set_psk_server_callback": (_call("set_psk_server_callback",
                                      _value(lambda identity: b"k" * 16)),),
}

#: Names that cannot weaken a context, each with the reason.
HARMLESS: dict[str, str] = {
    "wrap_socket": "uses the context for one connection; changes nothing in it",
    "wrap_bio": "uses the context for one connection; changes nothing in it",
    "get_ca_certs": "only reads the loaded CA certificates",
    "get_ciphers": "only reads the enabled cipher suites",
    "cert_store_stats": "only reads counts of loaded certificates",
    "session_stats": "only reads session counters",
    "set_alpn_protocols": "which application protocol to offer (urllib3 sets it on every "
                          "connection); no certificate check or secret depends on it",
    "set_npn_protocols": "the same for NPN (deprecated; OpenSSL 3 builds have no NPN at all)",
    "num_tickets": "how many TLS 1.3 tickets a server sends: a client context refuses it",
}


def _first_definition(cls: type, name: str) -> object:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AttributeError(name)  # pragma: no cover


def _writable(name: str) -> bool:
    """Whether ``name`` (a data descriptor of the stdlib class) accepts a value."""
    attr = _first_definition(STDLIB_SSLCONTEXT, name)
    if isinstance(attr, property):
        return attr.fset is not None
    probe = STDLIB_SSLCONTEXT(ssl.PROTOCOL_TLS_SERVER)  # sni_callback, num_tickets: server only
    try:
        attr.__set__(probe, attr.__get__(probe))  # type: ignore[attr-defined]
    except AttributeError:
        return False  # read-only (protocol, security_level)
    return True


def sslcontext_names() -> set[str]:
    """The public writable attributes and public methods of ``ssl.SSLContext``, plus
    ``_msg_callback``."""
    names = set()
    for name in dir(STDLIB_SSLCONTEXT):
        if name.startswith("_") and name != "_msg_callback":
            continue
        attr = _first_definition(STDLIB_SSLCONTEXT, name)
        if inspect.isdatadescriptor(attr):
            if _writable(name):
                names.add(name)
        elif callable(attr) or callable(getattr(STDLIB_SSLCONTEXT, name)):
            names.add(name)
    return names


def test_every_writable_attribute_and_public_method_of_sslcontext_is_classified() -> None:
    names = sslcontext_names()
    assert {"verify_flags", "keylog_filename", "set_default_verify_paths", "wrap_socket",
            "_msg_callback"} <= names  # the enumeration itself finds what it must
    assert "protocol" not in names and "security_level" not in names  # read-only
    unclassified = names - SEALED.keys() - HARMLESS.keys()
    assert not unclassified, (
        f"ssl.SSLContext has {sorted(unclassified)}: add each to securl.tls.seal (and SEALED "
        "here) if it can widen trust or leak secrets, else to HARMLESS with the reason")
    assert not SEALED.keys() & HARMLESS.keys()
    assert all(reason.strip() for reason in HARMLESS.values())


# --- the kinds of sealed context ----------------------------------------------------------

@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp("sealing")
    ca_path = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    client = tmp / "client.pem"
    ca.issue_cert("client@example.test").private_key_and_cert_chain_pem.write_to_path(
        str(client))
    return Files(str(ca_path), str(client), tmp)


def _stdlib_based(files: Files) -> ssl.SSLContext:
    return securl.create_context(securl.TLSConfig(ca_certs=files.ca))


def _gevent_based(files: Files) -> ssl.SSLContext:
    import gevent.ssl  # its context class, without monkey-patching anything

    return securl.tls.context.build_context(securl.TLSConfig(ca_certs=files.ca),
                                            base=gevent.ssl.SSLContext)


def _truststore_based(files: Files) -> ssl.SSLContext:
    # On Linux securl only uses truststore when told to; the class is the one it would use.
    from securl.tls.seal import truststore_context_class

    ctx: Any = truststore_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what build_context sets for truststore
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.hostname_checks_common_name = False
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.seal()
    return ctx  # type: ignore[no-any-return]


KINDS = {"stdlib": _stdlib_based, "gevent": _gevent_based, "truststore": _truststore_based}


@pytest.fixture(params=sorted(KINDS))
def sealed(request: pytest.FixtureRequest, files: Files) -> ssl.SSLContext:
    return KINDS[request.param](files)


def state(ctx: Any) -> dict[str, object]:
    """Everything a weakening would change, read back from the context."""
    out: dict[str, object] = {"class": type(ctx), "sealed": ctx._securl_sealed}
    for name in ("verify_mode", "check_hostname", "hostname_checks_common_name", "verify_flags",
                 "options", "minimum_version", "maximum_version", "keylog_filename",
                 "post_handshake_auth", "_msg_callback", "_host_flags", "sslsocket_class",
                 "sslobject_class", "wrap_socket", "load_verify_locations"):
        out[name] = getattr(ctx, name)
    try:
        out["cas"] = ctx.cert_store_stats()
        out["ciphers"] = [c["name"] for c in ctx.get_ciphers()]
    except NotImplementedError:  # truststore's context cannot list them
        pass
    return out


def _sealed_cases() -> Iterator[Any]:
    for name, ways in sorted(SEALED.items()):
        if not hasattr(STDLIB_SSLCONTEXT, name):
            continue  # e.g. set_psk_client_callback before Python 3.13
        for index, weaken in enumerate(ways):
            yield pytest.param(weaken, id=f"{name}-{index}")


@pytest.mark.parametrize("weaken", list(_sealed_cases()))
def test_sealed_context_refuses_every_weakening(sealed: ssl.SSLContext, files: Files,
                                                weaken: Weaken) -> None:
    before = state(sealed)
    with pytest.raises(securl.PolicyError, match="shared, verified securl context"):
        weaken(sealed, files)
    assert state(sealed) == before
    assert not (files.tmp / "keys.log").exists()


@pytest.mark.parametrize("attack", ["host-flags-always-cn", "host-flags-clear",
                                    "unseal-attribute", "delete-seal", "replace-class",
                                    "replace-dict", "shadow-method", "shadow-raw-method"])
def test_sealed_context_refuses_the_back_doors(sealed: Any, attack: str) -> None:
    before = state(sealed)
    with pytest.raises(securl.PolicyError):
        if attack == "host-flags-always-cn":
            sealed._host_flags |= _ssl.HOSTFLAG_ALWAYS_CHECK_SUBJECT
        elif attack == "host-flags-clear":
            sealed._host_flags = 0
        elif attack == "unseal-attribute":
            sealed._securl_sealed = False
        elif attack == "delete-seal":
            del sealed._securl_sealed
        elif attack == "replace-class":
            sealed.__class__ = STDLIB_SSLCONTEXT
        elif attack == "replace-dict":
            sealed.__dict__ = {}
        elif attack == "shadow-method":
            sealed.wrap_socket = ssl._create_unverified_context().wrap_socket
        else:
            sealed._wrap_socket = ssl._create_unverified_context()._wrap_socket
    assert state(sealed) == before


# --- what stays allowed ---------------------------------------------------------------------

def test_sealed_context_accepts_every_value_it_already_has(sealed: Any) -> None:
    before = state(sealed)
    for name in ("verify_mode", "check_hostname", "hostname_checks_common_name",
                 "verify_flags", "options", "minimum_version", "maximum_version",
                 "keylog_filename", "post_handshake_auth", "_msg_callback", "_host_flags"):
        setattr(sealed, name, getattr(sealed, name))
    sealed.verify_mode = ssl.CERT_REQUIRED  # what urllib3 does on every connection
    sealed.check_hostname = True
    sealed.hostname_checks_common_name = False
    sealed.seal()  # idempotent
    assert state(sealed) == before


def test_sealed_context_accepts_strengthening(sealed: Any) -> None:
    sealed.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF | ssl.VERIFY_X509_STRICT
    sealed.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION
    sealed.minimum_version = ssl.TLSVersion.TLSv1_3
    sealed.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    sealed._host_flags |= _ssl.HOSTFLAG_NO_WILDCARDS
    sealed.set_alpn_protocols(["http/1.1"])
    assert sealed.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    assert sealed.options & ssl.OP_NO_TICKET and sealed.options & ssl.OP_NO_RENEGOTIATION
    assert sealed.minimum_version == ssl.TLSVersion.TLSv1_3
    assert sealed._host_flags & _ssl.HOSTFLAG_NO_WILDCARDS


def test_allowed_setters_work_while_ssl_sslcontext_is_replaced(files: Files,
                                                              monkeypatch: Any) -> None:
    # truststore.inject_into_ssl() makes ssl.SSLContext's own Python setters recurse forever;
    # a sealed context's setters must still reach OpenSSL.
    import truststore

    ctx: Any = _stdlib_based(files)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setattr(ssl, "SSLContext", truststore.SSLContext)
    ctx.options |= ssl.OP_NO_TICKET
    ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.hostname_checks_common_name = False
    assert ctx.options & ssl.OP_NO_TICKET and ctx.minimum_version == ssl.TLSVersion.TLSv1_3


def test_unsealed_context_from_build_context_can_still_be_configured(files: Files) -> None:
    # securl.install()'s stdlib factories hand out fresh, unsealed contexts their callers own.
    ctx = securl.tls.context.build_context(securl.TLSConfig(), seal=False)
    ctx.load_cert_chain(files.client)
    ctx.post_handshake_auth = True
    ctx.check_hostname = False
    assert ctx.post_handshake_auth and not ctx.check_hostname


def test_chainless_contexts_are_sealed_too(files: Files) -> None:
    # Shared by every pinned and unverified pool of the process: a key log or extra CA put on
    # one would reach all of them.
    ctx: Any = securl.tls.context.create_unverified_context()
    ctx.verify_mode = ssl.CERT_NONE  # urllib3 re-asserts its own value
    ctx.check_hostname = False
    with pytest.raises(securl.PolicyError):
        ctx.keylog_filename = str(files.tmp / "keys.log")
    with pytest.raises(securl.PolicyError):
        ctx.load_verify_locations(files.ca)
    assert ctx.keylog_filename is None and ctx.cert_store_stats()["x509_ca"] == 0


# --- the three weakenings found in review, proven with real connections -----------------------

@pytest.fixture
def corp_ca(tmp_path: pathlib.Path) -> str:
    """A private CA bundle that did not issue the test servers' certificates."""
    path = tmp_path / "corp.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def test_set_default_verify_paths_cannot_widen_a_private_ca_context(
        corp_ca: str, ca_file: str, https_server: LocalServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The "system store" here is SSL_CERT_FILE, which OpenSSL's default paths read: it holds
    # the CA that issued the server's certificate, which corp_ca did not.
    with securl.Session(ca_certs=corp_ca) as session:
        shared = securl.create_context(session.config)
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        with pytest.raises(securl.PolicyError, match="shared, verified securl context"):
            shared.set_default_verify_paths()
        monkeypatch.delenv("SSL_CERT_FILE")
        assert securl.create_context(session.config) is shared
        with pytest.raises(securl.TLSVerificationError) as info:
            session.get(https_server.url())
    assert info.value.reason_code == "untrusted-issuer"


def test_verify_flags_cannot_gain_no_check_time_to_accept_expired_certificates(
        ca: trustme.CA, ca_file: str) -> None:
    with securl.Session(ca_certs=ca_file) as session, \
            LocalServer(server_context(expired_leaf(ca))) as server:
        shared = securl.create_context(session.config)
        with pytest.raises(securl.PolicyError, match="verify_flags"):
            shared.verify_flags |= NO_CHECK_TIME
        assert not shared.verify_flags & NO_CHECK_TIME
        with pytest.raises(securl.TLSVerificationError) as info:
            session.get(server.url())
    assert info.value.reason_code == "expired"


def test_keylog_filename_cannot_be_set_to_record_other_sessions_secrets(
        ca_file: str, https_server: LocalServer, tmp_path: pathlib.Path) -> None:
    keys = tmp_path / "keys.log"
    with securl.Session(ca_certs=ca_file) as session:
        shared = securl.create_context(session.config)
        with pytest.raises(securl.PolicyError, match="keylog_filename"):
            shared.keylog_filename = str(keys)
        assert session.get(https_server.url()).status == 200
    assert shared.keylog_filename is None
    assert not keys.exists()


def test_sealed_context_still_verifies_through_a_raw_handshake(files: Files,
                                                              https_server: LocalServer) -> None:
    # The socket class securl's sealed contexts use is a plain verifying TLS socket.
    ctx = _stdlib_based(files)
    with socket.create_connection(("127.0.0.1", https_server.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert isinstance(tls, ssl.SSLSocket)
