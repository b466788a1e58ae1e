"""Composable checks on a server, run before any request byte is sent.

A verifier is any callable ``fn(info: securl.PeerInfo) -> None`` that raises to reject the
server; pass them as ``verifiers=[...]`` to a `securl.Session` (every request) or to one
call (added to the Session's). They run on each new connection after certificate
verification and pin checks. A rejection closes the connection and surfaces as
`securl.TLSVerificationError` (``reason_code == "other"``) naming the verifier, chained
from the verifier's own exception::

    from securl import verifiers as v

    session = securl.Session(verifiers=[
        v.all_of(v.require_issuer("CN=Example Issuing CA 2"), v.require_san("api.example.com")),
    ])

Verifiers are part of the connection-pool key (a connection checked by one set of verifiers
is never reused for a request with another). The helpers here are frozen values, equal when
their arguments are equal, so building them per call is fine. A plain function is keyed by
identity: define it once (module level), not as a new lambda per call, or every call opens a
new pool and connection.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from .tls.peer import PeerInfo

__all__ = ["Rejected", "Verifier", "all_of", "any_of", "require_issuer", "require_san"]

#: The type of a verifier.
Verifier = Callable[[PeerInfo], object]


class Rejected(Exception):
    """Raised by the helpers here when the server does not satisfy them."""


@dataclass(frozen=True)
class _AllOf:
    checks: tuple[Verifier, ...]

    def __call__(self, info: PeerInfo) -> None:
        for check in self.checks:
            check(info)

    def __repr__(self) -> str:
        return f"all_of({', '.join(map(repr, self.checks))})"


@dataclass(frozen=True)
class _AnyOf:
    checks: tuple[Verifier, ...]

    def __call__(self, info: PeerInfo) -> None:
        errors = []
        for check in self.checks:
            try:
                check(info)
            except Exception as exc:
                errors.append(f"{check!r}: {exc}")
            else:
                return
        raise Rejected("none of the alternatives accepted the server: " + "; ".join(errors))

    def __repr__(self) -> str:
        return f"any_of({', '.join(map(repr, self.checks))})"


def _checked(checks: tuple[Verifier, ...], what: str) -> tuple[Verifier, ...]:
    if not checks:
        raise ValueError(f"{what}() needs at least one verifier")
    for check in checks:
        if not callable(check):
            raise TypeError(f"{what}(): {check!r} is not callable")
    return checks


def all_of(*checks: Verifier) -> Verifier:
    """A verifier that passes when every one of ``checks`` passes (in order)."""
    return _AllOf(_checked(checks, "all_of"))


def any_of(*checks: Verifier) -> Verifier:
    """A verifier that passes when at least one of ``checks`` passes."""
    return _AnyOf(_checked(checks, "any_of"))


def _normal_san(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name.lower().rstrip(".")


@dataclass(frozen=True)
class _RequireSAN:
    name: str

    def __call__(self, info: PeerInfo) -> None:
        wanted = _normal_san(self.name)
        if wanted not in {_normal_san(s) for s in info.leaf_sans}:
            raise Rejected(
                f"the certificate's subjectAltName does not list {self.name!r} "
                f"(it lists: {', '.join(info.leaf_sans) or 'nothing'})"
            )

    def __repr__(self) -> str:
        return f"require_san({self.name!r})"


def require_san(name: str) -> Verifier:
    """The leaf's subjectAltName must list ``name`` itself (a DNS name or IP address).

    This compares entries, it does not match host names: ``require_san("*.example.com")``
    requires that very wildcard entry. DNS names compare case-insensitively.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("require_san() needs a non-empty name")
    return _RequireSAN(name)


@dataclass(frozen=True)
class _RequireIssuer:
    text: str

    def __call__(self, info: PeerInfo) -> None:
        issuer = info.issuer
        if self.text not in issuer:
            raise Rejected(f"the certificate was issued by {issuer!r}, not {self.text!r}")

    def __repr__(self) -> str:
        return f"require_issuer({self.text!r})"


def require_issuer(text: str) -> Verifier:
    """The leaf's issuer must contain ``text`` (case-sensitive), e.g. ``"CN=Corp CA 2"``.

    The issuer reads like ``"CN=Corp Issuing CA 2, O=Corp"`` (in certificate order), so a
    bare common name (``"Corp Issuing CA 2"``) or a whole attribute both work.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("require_issuer() needs a non-empty text")
    return _RequireIssuer(text)
