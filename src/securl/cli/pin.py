"""``securl pin URL``: show a server's public-key pin and certificate, optionally record it.

It connects and completes a TLS handshake *without* verifying, only to read the certificate
the server presents; no HTTP request is sent (the output says so). A second handshake then
reports whether the chain verifies against the trust securl would use (the system store, or
``--ca-certs``), so the user sees whether pinning is needed at all.

``--add FILE`` appends ``host[:port] sha256/...`` to a pins file (atomically; an existing
identical entry is left alone). A pin read this way is only as trustworthy as the network
path it was read over: the output asks the user to confirm it out of band, as SSH does with
a new host key.

The certificate's names, the host and every error message are printed through
`securl.cli.safe_text.printable` (control characters escaped); ``--json`` is left to
`json.dumps`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import ssl
import sys
from typing import Any

from .._audit import emit
from .._redact import redact_url
from ..exceptions import ConfigurationError, InvalidRequest
from ..http.errors import tls_verification_error
from ..http.target import parse_target
from ..tls.config import TLSConfig
from ..tls.context import create_context, create_unverified_context
from ..tls.judged import judged_by_securl
from ..tls.peer import peer_chain
from ..tls.pins import format_host, open_pins_file
from ..tls.x509 import CertSummary, hostname_matches, parse_certificate
from .safe_text import printable

__all__ = ["pin_main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="securl pin",
        description="Print a server's public-key pin (sha256/...) and certificate summary. "
        "Only a TLS handshake is made; no HTTP request is sent.",
    )
    parser.add_argument("url", help="https://host[:port]/... or host[:port]")
    parser.add_argument("--port", type=int, help="port (default: from the URL, else 443)")
    parser.add_argument("--add", metavar="FILE", help="append the pin to this pins file")
    parser.add_argument("--ca-certs", metavar="PEM",
                        help="check the chain against these CAs instead of the system store")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _target(url: str, port: int | None) -> tuple[str, int]:
    """(host, port) from ``url`` as securl's requests read it: IDNA A-labels (so the pin is
    recorded under the name requests look up), messages with the URL redacted."""
    if "://" not in url:
        url = "https://" + url
    try:
        target = parse_target(url)
    except InvalidRequest as exc:
        raise ValueError(str(exc)) from None
    if target.scheme != "https":
        raise ValueError(f"{redact_url(url)!r}: only https servers have a certificate to pin")
    port = port or target.port
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return target.host, port


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _handshake(ctx: ssl.SSLContext, host: str, port: int,
               timeout: float) -> tuple[bytes, tuple[bytes, ...], str | None, str | None]:
    """One TLS handshake; returns (leaf DER, presented chain, version, cipher). No request.

    An IP address is passed as the server name only when the context checks it (``ssl``
    then matches it against the certificate's IP addresses; no SNI is sent for an IP).
    """
    name = host if ctx.check_hostname or not _is_ip(host) else None
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            judged_by_securl("diagnostic handshake (securl pin)"), ctx.wrap_socket(
            raw, server_hostname=name) as tls:
        leaf = tls.getpeercert(binary_form=True) or b""
        chain, _ = peer_chain(tls, leaf, verified=False)
        return leaf, chain, tls.version(), (tls.cipher() or (None,))[0]


def _verify(host: str, port: int, ca_certs: str | None, timeout: float) -> dict[str, Any]:
    """Whether a verified handshake succeeds, and against which trust."""
    ctx = create_context(TLSConfig(ca_certs=ca_certs))
    trust = getattr(ctx, "trust", None)
    where = f"{trust.location} ({trust.source})" if trust is not None else "system trust"
    try:
        _handshake(ctx, host, port, timeout)
    except ssl.SSLCertVerificationError as exc:
        err = tls_verification_error(exc, host, port, trust)
        return {"verified": False, "against": where, "reason": err.reason_code,
                "message": str(err)}
    return {"verified": True, "against": where, "reason": None, "message": None}


def _validity(cert: CertSummary) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    note = ""
    if now > cert.not_after:
        note = "  (EXPIRED)"
    elif now < cert.not_before:
        note = "  (NOT YET VALID)"
    return f"{cert.not_before:%Y-%m-%d %H:%M:%SZ} .. {cert.not_after:%Y-%m-%d %H:%M:%SZ}{note}"


def pin_main(argv: list[str]) -> int:
    """Run ``securl pin``; returns the exit status (0 ok, 1 failure, 2 bad usage)."""
    args = _parser().parse_args(argv)
    try:
        host, port = _target(args.url, args.port)
    except ValueError as exc:
        print(f"securl pin: {printable(exc)}", file=sys.stderr)
        return 2
    try:
        leaf, chain, version, cipher = _handshake(
            create_unverified_context(TLSConfig()), host, port, args.timeout)
        cert = parse_certificate(leaf)
        check = _verify(host, port, args.ca_certs, args.timeout)
    except (OSError, ValueError, ConfigurationError) as exc:
        print(f"securl pin: cannot read the certificate of {printable(host)}:{port}: "
              f"{printable(exc)}", file=sys.stderr)
        return 1
    entry = format_host(host, port)
    added: str | None = None
    if args.add:
        try:
            existing = open_pins_file(args.add).add(host, port, cert.pin, note="securl pin --add")
        except ConfigurationError as exc:
            print(f"securl pin: {printable(exc)}", file=sys.stderr)
            return 1
        if existing is None:
            added = f"added '{entry} {cert.pin}' to {args.add}"
            emit("pin_recorded", host=host, port=port, pin=cert.pin, file=args.add,
                 mode="securl pin --add", chain_verified=check["verified"])
        else:
            added = f"already in {existing.where}; nothing written"
    if args.json:
        out = {"host": host, "port": port, "request_sent": False, "tls_version": version,
               "cipher": cipher, "hostname_matches": hostname_matches(cert, host),
               "chain_length": len(chain), "chain": check, "pins_file_line": f"{entry} "
               f"{cert.pin}", "added": added, **cert.to_dict()}
        print(json.dumps(out, indent=2))
        return 0
    p = printable
    sans = [f"DNS:{p(n)}" for n in cert.dns_names] + [f"IP:{a}" for a in cert.ip_addresses]
    against = p(check["against"])
    lines = [
        f"{p(host)}:{port}  (TLS handshake only, certificate not verified to read it; no HTTP "
        "request was sent)",
        f"  pin:        {cert.pin}",
        f"  subject:    {p(cert.subject) or '(empty)'}",
        f"  issuer:     {p(cert.issuer) or '(empty)'}",
        f"  SANs:       {', '.join(sans) or '(none)'}"
        + ("" if hostname_matches(cert, host) else f"   [does not name {p(host)}]"),
        f"  valid:      {_validity(cert)}",
        f"  TLS:        {p(version)} {p(cipher)}",
        "  chain:      " + (f"verifies against {against}" if check["verified"]
                            else f"does NOT verify against {against}: {p(check['reason'])}"),
        "",
        f"pins file line:  {p(entry)} {cert.pin}",
        f"per call:        tls=securl.pinned({cert.pin!r}, reason=...)",
    ]
    if added:
        lines.append(p(added))
    lines.append("Confirm this pin out of band (device console, operator) before trusting it.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    sys.exit(pin_main(sys.argv[1:]))
