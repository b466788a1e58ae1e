"""``securl check URL``: one TLS handshake, explained.

Rules this module follows:

* The verdict comes from the same verified context every securl request uses
  (`securl.create_context`, so the same trust source, policy and X.509 flags) and the
  failure is explained by the same mapping (`securl.http.errors.tls_verification_error`):
  ``check`` can never disagree with what ``securl.get`` would decide.
* When verification fails, a *second* handshake with verification off reads the certificate
  chain the server sends, only so that it can be shown. No HTTP request is sent on either
  connection, and nothing from the unverified handshake feeds the verdict.
* Proxies from the environment are not used: the check is about the server's own TLS.
* Exit codes: 0 verified, 1 not verified (any TLS failure), 2 usage or network error.
"""

from __future__ import annotations

import _ssl
import datetime
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import SecurlError
from ..http.errors import client_cert_required, is_client_cert_demand, tls_verification_error
from ..http.target import parse_target
from ..tls.certinfo import CertInfo, describe_certificate
from ..tls.config import TLSConfig
from ..tls.context import create_context, create_unverified_context
from ..tls.judged import judged_by_securl
from ..tls.trust import TrustInfo, resolve_trust
from .outcomes import plain_error
from .safe_text import printable

__all__ = ["CheckError", "CheckResult", "check", "format_result"]

VERIFIED, NOT_VERIFIED, USAGE_OR_NETWORK, NETWORK = 0, 1, 2, 4
_ENCODING_DER = getattr(_ssl, "ENCODING_DER", 2)


class CheckError(Exception):
    """The check could not be made: ``exit_code`` is 2 for bad input, 4 for the network."""

    def __init__(self, message: str, *, exit_code: int = USAGE_OR_NETWORK) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CheckResult:
    """Everything ``securl check`` found out about one server."""

    url: str
    host: str
    port: int
    trust: TrustInfo
    verified: bool = False
    reason_code: str | None = None
    message: str | None = None
    advice: list[str] = field(default_factory=list)
    address: str | None = None
    tls_version: str | None = None
    cipher: str | None = None
    chain: list[CertInfo] = field(default_factory=list)
    chain_source: str = "none"  # "verified", "sent by the server" or "none"

    @property
    def exit_code(self) -> int:
        """0 when verified, 1 otherwise."""
        return VERIFIED if self.verified else NOT_VERIFIED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data for ``securl check --json``."""
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "verified": self.verified,
            "reason_code": self.reason_code,
            "message": self.message,
            "advice": self.advice,
            "address": self.address,
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "trust": {"source": self.trust.source, "location": self.trust.location,
                      "reason": self.trust.reason},
            "chain_source": self.chain_source,
            "chain": [cert.to_dict() for cert in self.chain],
        }


def normalize_url(text: str) -> str:
    """Accept ``host``, ``host:port`` or an ``https://`` URL; refuse other schemes."""
    if "://" not in text:
        text = f"https://{text}"
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme != "https":
        raise CheckError(f"securl check inspects TLS, so it needs an https:// URL, not {text!r}")
    return text


def _chain(sock: ssl.SSLSocket, verified: bool) -> list[bytes]:
    """The DER chain: as verified (leaf to anchor) or as the server sent it.

    Python 3.13 has public ``get_verified_chain``/``get_unverified_chain``; 3.10-3.12 have the
    same methods on the internal ``_sslobj``; failing both, the leaf alone.
    """
    name = "get_verified_chain" if verified else "get_unverified_chain"
    getter = getattr(sock, name, None) or getattr(getattr(sock, "_sslobj", None), name, None)
    certs: list[bytes] = []
    if getter is not None:
        for cert in getter() or ():
            certs.append(cert if isinstance(cert, bytes) else cert.public_bytes(_ENCODING_DER))
    if not certs:
        leaf = sock.getpeercert(binary_form=True)
        certs = [leaf] if leaf else []
    return certs


def _handshake(host: str, port: int, ctx: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise CheckError(f"cannot connect to {host}:{port}: {plain_error(exc)}",
                         exit_code=NETWORK) from exc
    try:
        with judged_by_securl("diagnostic handshake (securl check)"):
            return ctx.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def check(url: str, *, ca_certs: str | None = None, timeout: float = 10.0) -> CheckResult:
    """Connect to ``url``'s host, verify it as securl would, and describe what was seen.

    Raises `CheckError` for bad input (exit code 2) and network errors (4).
    """
    try:
        target = parse_target(normalize_url(url))
        config = TLSConfig(ca_certs=ca_certs)
        trust = resolve_trust(config)
        ctx = create_context(config)
    except SecurlError as exc:
        raise CheckError(str(exc)) from exc
    result = CheckResult(url=target.url, host=target.host, port=target.port, trust=trust)
    try:
        sock = _handshake(target.host, target.port, ctx, timeout)
    except ssl.SSLCertVerificationError as exc:
        error = tls_verification_error(exc, target.host, target.port, trust)
        result.reason_code, result.message = error.reason_code, error.message
    except ssl.SSLError as exc:
        if is_client_cert_demand(exc):
            result.reason_code = "client-certificate-required"
            result.message = str(client_cert_required(exc, target.host, target.port, False))
        else:
            result.reason_code = "handshake-failed"
            result.message = f"TLS handshake with {target.host}:{target.port} failed: {exc}"
    except OSError as exc:  # timeouts, resets: the network, not the certificate
        raise CheckError(f"TLS handshake with {target.host}:{target.port} failed: "
                         f"{plain_error(exc)}", exit_code=NETWORK) from exc
    else:
        with sock:
            result.verified = True
            _describe(result, sock, verified=True)
        return result
    # Not verified: look at what the server sends, for display only (see module docstring).
    try:
        with _handshake(target.host, target.port, create_unverified_context(), timeout) as sock:
            _describe(result, sock, verified=False)
    except (OSError, CheckError):
        pass  # the handshake itself fails (protocol, client certificate): nothing to show
    result.advice = advice_for(result)
    return result


def _describe(result: CheckResult, sock: ssl.SSLSocket, *, verified: bool) -> None:
    result.address = str(sock.getpeername()[0])
    result.tls_version = sock.version()
    result.cipher = (sock.cipher() or (None,))[0]
    result.chain = [describe_certificate(der) for der in _chain(sock, verified)]
    result.chain_source = ("verified" if verified else "sent by the server") if result.chain \
        else "none"


def _fmt_time(value: datetime.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "unknown"


def advice_for(result: CheckResult, now: datetime.datetime | None = None) -> list[str]:
    """Concrete next steps for a failed check, using what the chain shows."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    leaf = result.chain[0] if result.chain else None
    code = result.reason_code
    url = f"https://{result.host}:{result.port}/"
    if code == "expired":
        when = f" on {_fmt_time(leaf.not_after)}" if leaf and leaf.not_after else ""
        return [
            f"The certificate expired{when}; this machine's clock says {_fmt_time(now)}.",
            "The server's operator must renew the certificate. Do not work around it on the "
            "client: an expired certificate is no longer vouched for by its CA.",
        ]
    if code == "not-yet-valid":
        when = f" {_fmt_time(leaf.not_before)}" if leaf and leaf.not_before else " later"
        return [
            f"The certificate becomes valid{when}; this machine's clock says {_fmt_time(now)}.",
            "If the clock is wrong, fix it (NTP); otherwise the operator must fix the dates.",
        ]
    if code == "hostname-mismatch":
        names = ", ".join(leaf.sans) if leaf and leaf.sans else "no subject alternative names"
        out = [f"The certificate is valid for: {names}; you asked for {result.host}."]
        dns = [n[4:] for n in (leaf.sans if leaf else ()) if n.startswith("DNS:")
               and "*" not in n]
        if dns:
            out.append(f"Use a listed name: securl check https://{dns[0]}:{result.port}/")
        out.append(f"Or ask the operator to add {result.host} to the certificate.")
        return out
    if code == "no-subject-alt-name":
        subject = f" (its subject is '{leaf.subject}')" if leaf else ""
        return [
            f"The certificate lists no subjectAltName at all{subject}, so it names no host: "
            "the subject's CN is never used for host names (RFC 6125, browsers, urllib3 2).",
            f"The server's operator must reissue it with a subjectAltName for {result.host} "
            f"(e.g. openssl's -addext 'subjectAltName=DNS:{result.host}').",
        ]
    if code == "self-signed":
        pin = leaf.spki_sha256 if leaf else "sha256/..."
        return [
            "Keep verification on. For a device you control, trust this one certificate: "
            "save it as server.pem and pass --ca-certs server.pem (securl get, securl check; "
            "ca_certs= in code),",
            f"or, in code, pin its key: tls=securl.pinned('{pin}', reason=...) "
            f"(`securl pin {url}` prints the pin; the command's --pin adds to verification, "
            "it does not replace it).",
        ]
    if code == "untrusted-issuer":
        top = result.chain[-1] if result.chain else None
        out = []
        if top is not None and not top.self_issued:
            out.append(
                f"The server sent no root: its chain ends at a certificate issued by "
                f"'{top.issuer}'. If that is a public CA, the server is missing an "
                "intermediate certificate and its operator must send the full chain."
            )
        issuer = top.issuer if top is not None else "the issuing CA"
        out.append(
            f"If '{issuer}' is your organisation's private CA, get its certificate and "
            f"retry with: securl check {url} --ca-certs ca.pem"
        )
        out.append(f"Then trust it in code with securl.Session(ca_certs='ca.pem'); it was "
                   f"checked against {result.trust.location}.")
        return out
    if code == "weak-key":
        key = leaf.key_description if leaf else "its key"
        return [f"The certificate uses {key}; the operator must reissue it with RSA >= 2048 "
                "bits or an EC P-256/P-384 key and a SHA-256 (or better) signature."]
    if code == "client-certificate-required":
        return ["The server asks for a client certificate (2-way TLS): securl get URL "
                "--cert client.pem --key client.key"]
    if code == "handshake-failed":
        return ["The server and securl share no TLS version or cipher (securl requires TLS "
                "1.2 or newer), or the service on this port does not speak TLS."]
    return ["See the message above; `securl doctor` shows the trust source and policy."]


def _days(delta: datetime.timedelta) -> str:
    return "1 day" if delta.days == 1 else f"{delta.days} days"


def _validity(cert: CertInfo, now: datetime.datetime) -> str:
    span = f"{_fmt_time(cert.not_before)} to {_fmt_time(cert.not_after)}"
    if cert.not_after is not None and cert.not_after < now:
        return f"{span} (EXPIRED {_days(now - cert.not_after)} ago)"
    if cert.not_before is not None and cert.not_before > now:
        return f"{span} (NOT YET VALID, starts in {_days(cert.not_before - now)})"
    if cert.not_after is not None:
        return f"{span} (expires in {_days(cert.not_after - now)})"
    return span


def format_result(result: CheckResult, now: datetime.datetime | None = None) -> str:
    """The readable report ``securl check`` prints.

    Every value that came from the server, its certificates, the network or the caller goes
    through `printable`, advice and messages included: a certificate cannot move the
    cursor, retitle the window or hide the verdict.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    p = printable
    host = p(result.host)
    lines = [f"securl check {p(result.url)}"]
    if result.tls_version:
        lines.append(f"  connected:    {host}:{result.port} ({p(result.address)}), "
                     f"{p(result.tls_version)}, {p(result.cipher)}")
    lines.append(f"  trust source: {p(result.trust.source)} ({p(result.trust.location)}): "
                 f"{p(result.trust.reason)}")
    if result.chain:
        lines.append("")
        lines.append(f"Certificate chain ({result.chain_source}):")
        for index, cert in enumerate(result.chain):
            lines.append(f"  [{index}] subject: {p(cert.subject)}")
            lines.append(f"      issuer:  {p(cert.issuer)}")
            if cert.sans:
                lines.append(f"      SANs:    {', '.join(p(name) for name in cert.sans)}")
            lines.append(f"      valid:   {_validity(cert, now)}")
            lines.append(f"      key:     {p(cert.key_description)}, signed with "
                         f"{p(cert.signature_algorithm)}{', CA' if cert.is_ca else ''}")
            lines.append(f"      pin:     {p(cert.spki_sha256)}")
            for problem in cert.problems:
                lines.append(f"      note:    {p(problem)}")
    lines.append("")
    if result.verified:
        lines.append(f"Verdict: VERIFIED. {host} presented a chain valid now and for "
                     f"this host name, anchored in {p(result.trust.location)}.")
    else:
        lines.append(f"Verdict: NOT VERIFIED ({p(result.reason_code)})")
        lines.append(f"  {p(result.message)}")
        if result.advice:
            lines.append("What to do:")
            lines.extend(f"  - {p(item)}" for item in result.advice)
    return "\n".join(lines)
