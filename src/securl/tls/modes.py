"""Per-call TLS modes: the tokens a caller passes as ``tls=``, and the refusal of ``verify=``.

Opting out is possible only per call, with ``tls=securl.unverified(reason=...)``. There is no
session-wide or process-wide switch, and ``verify=False`` is refused with a message showing
this form and the safer alternatives. ``tls=securl.pinned(...)`` is not an opt-out: it swaps
the CA chain for a key the caller trusts and keeps protection against interception.

What a token then means for one request (with the admin policy, pins files and the rest) is
decided in `securl.tls.decision`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigurationError, PolicyError

__all__ = ["OPT_OUT_HELP", "Pinned", "Unverified", "Verifier", "pinned",
           "reject_verify_argument", "unverified"]

#: A verifier: called with a `securl.PeerInfo` before a request is sent; raises to reject.
Verifier = Callable[[Any], object]

OPT_OUT_HELP = (
    "Verification can only be turned off per call, with a stated reason, and every such call "
    "is audited:\n"
    "    securl.get(url, tls=securl.unverified(reason=\"lab switch, self-signed, INC-4711\"))\n"
    "Safer alternatives that keep protection against interception:\n"
    "  * trust the server's private CA:   securl.Session(ca_certs=\"ca.pem\")\n"
    "  * pin the server's public key:     pins=[\"sha256/...\"]  (see `securl pin URL`)"
)


@dataclass(frozen=True)
class Unverified:
    """A per-call opt-out of certificate verification; make it with `unverified`.

    ``what`` names the opt-out in a refusal (the urllib drop-in's opt-outs are contexts and
    handler settings, not this token). ``keeps_chain`` is for an opt-out of the host name
    check alone (the urllib drop-in's ``check_hostname=False``): the certificate chain is
    still verified, only the name is not (mode ``chain-only``).
    """

    reason: str
    what: str = field(default="tls=securl.unverified()", compare=False, repr=False)
    keeps_chain: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ConfigurationError(
                "securl.unverified() needs a non-empty reason= saying why verification is "
                "skipped (it is written to the audit log)"
            )


def unverified(reason: str) -> Unverified:
    """Opt this one call out of certificate and hostname verification.

    ``reason`` is required and goes into the ``securl.unverified_request`` audit event with
    the calling file and line. Admin policy may forbid opt-outs (``allow_unverified = false``).
    """
    return Unverified(reason)


@dataclass(frozen=True)
class Pinned:
    """Trust a public key instead of a CA chain for one call; make it with `pinned`."""

    pins: tuple[str, ...]
    reason: str
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ConfigurationError(
                "securl.pinned() needs a non-empty reason= saying why this server is trusted "
                "by its key rather than by a CA (it is written to the audit log)"
            )
        # The pins module (pins files, their locking) is loaded by the first pinned call,
        # not by `import securl`.
        from .pins import check_pin_syntax

        pins = self.pins
        if isinstance(pins, str):
            pins = (pins,)
        object.__setattr__(self, "pins", tuple(check_pin_syntax(p) for p in pins))
        if not isinstance(self.check_hostname, bool):
            raise ConfigurationError("securl.pinned(check_hostname=) must be True or False")


def pinned(*pins: str | tuple[str, ...] | list[str], reason: str,
           check_hostname: bool = True) -> Pinned:
    """Trust the server of this one call by its public key (SSH-style), not by a CA.

    For devices with self-signed certificates: the certificate chain is *not* validated;
    instead the server's SubjectPublicKeyInfo must match one of ``pins``
    (``"sha256/<base64>"``, printed by ``securl pin URL``) and, unless
    ``check_hostname=False``, the host name must be one the certificate's subjectAltName
    lists. Certificate dates are ignored, as SSH ignores them: the key is what is trusted.

    With no pins here, the host's pins come from the Session's ``pins_file=`` (or the admin
    policy's), and with ``Session(trust_on_first_use=True)`` the first key seen is recorded.
    ``reason`` is required and goes into the ``securl.pinned_request`` audit event. This is
    not an opt-out of verification, so ``allow_unverified = false`` in admin policy does not
    forbid it (it does forbid accepting a first key unseen, see trust on first use).
    """
    flat: list[str] = []
    for pin in pins:
        flat.extend([pin] if isinstance(pin, str) else pin)
    return Pinned(tuple(flat), reason, check_hostname)



def reject_verify_argument(verify: object, where: str) -> None:
    """Refuse ``verify=False`` (and other requests-style values) with guidance.

    ``verify=True`` is accepted as a no-op, so code migrating from requests keeps working.
    """
    if verify is True:
        return
    if verify is False:
        raise PolicyError(f"verify=False is not accepted by {where}.\n{OPT_OUT_HELP}")
    raise ConfigurationError(
        f"verify={verify!r} is not accepted by {where}: to trust a CA bundle, pass "
        "ca_certs=<path or PEM> instead"
    )


