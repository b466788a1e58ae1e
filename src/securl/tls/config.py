"""TLSConfig: the complete, hashable description of how one connection's TLS is set up.

A TLSConfig is the key of the context cache (``securl.tls.context``) and, through the context it
produces, part of the connection-pool key (``securl.http.pool``): two requests share a
connection only when their TLSConfig is equal. So every field that changes a trust decision
must live here, and nothing here may be mutable.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Union

from ..exceptions import ConfigurationError

__all__ = ["CAInput", "TLSConfig"]

#: What ``ca_certs=`` accepts: a path to a PEM file or hashed directory, or PEM text/bytes.
CAInput = Union[str, bytes, "os.PathLike[str]"]

_PEM_MARKER = "-----BEGIN "
_VERSIONS = {
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def parse_tls_version(value: object, *, what: str = "minimum_version") -> ssl.TLSVersion:
    """Turn ``"1.2"``, ``"1.3"`` or an `ssl.TLSVersion` into a TLSVersion >= 1.2.

    Rule: securl never negotiates below TLS 1.2, so anything lower is a ConfigurationError.
    """
    if isinstance(value, ssl.TLSVersion):
        version = value
    elif isinstance(value, str) and value in _VERSIONS:
        version = _VERSIONS[value]
    else:
        raise ConfigurationError(
            f"{what}={value!r} is not a TLS version securl accepts; use '1.2' or '1.3' "
            "(or ssl.TLSVersion.TLSv1_2 / TLSv1_3)"
        )
    if version < ssl.TLSVersion.TLSv1_2:
        raise ConfigurationError(
            f"{what}={value!r} is below TLS 1.2; securl never negotiates TLS 1.0 or 1.1"
        )
    return version


def _is_pem_text(value: str | bytes) -> bool:
    marker: str | bytes = _PEM_MARKER if isinstance(value, str) else _PEM_MARKER.encode()
    return marker in value  # type: ignore[operator]


def _path_or_none(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return path
    raise ConfigurationError(f"{name} must be a file path (str or os.PathLike), got {value!r}")


@dataclass(frozen=True)
class TLSConfig:
    """How to verify servers and which client certificate to offer.

    Every field is optional; ``TLSConfig()`` means "verify against the system trust store".

    Attributes:
        ca_certs: trust only these CAs: a PEM file, an OpenSSL hashed directory, or PEM
            text/bytes. An explicit value always wins over ``SSL_CERT_FILE``/``SSL_CERT_DIR``.
        client_cert: PEM file with the client certificate (and possibly its key), offered
            when a server asks for one (2-way TLS).
        client_key: PEM file with the client's private key, if not in ``client_cert``.
        client_key_password: password of an encrypted ``client_key``; never shown in repr.
        minimum_version: lowest TLS version, ``"1.2"`` (default) or ``"1.3"``.
        pins: SPKI SHA-256 pins (``"sha256/<base64>"``) checked in addition to the chain.
    """

    ca_certs: str | bytes | None = None
    client_cert: str | None = None
    client_key: str | None = None
    client_key_password: str | bytes | None = field(default=None, repr=False)
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    pins: tuple[str, ...] = ()
    # The hash of the fields, computed once: a config is hashed on every request (it is part
    # of the pool key) and on every context lookup. Same value as the generated hash would be.
    _hash: ClassVar[int]

    def __post_init__(self) -> None:
        ca = self.ca_certs
        if ca is not None:
            if isinstance(ca, os.PathLike):
                ca = os.fspath(ca)
            if not isinstance(ca, (str, bytes)) or not ca:
                raise ConfigurationError(
                    "ca_certs must be a path to a PEM file or hashed directory, or PEM "
                    f"text/bytes; got {type(self.ca_certs).__name__}"
                )
            if isinstance(ca, bytes) and not _is_pem_text(ca):
                try:
                    ca = ca.decode()  # a path given as bytes
                except UnicodeDecodeError:
                    raise ConfigurationError(
                        "ca_certs bytes hold neither PEM data nor a path"
                    ) from None
            object.__setattr__(self, "ca_certs", ca)
        object.__setattr__(self, "client_cert", _path_or_none(self.client_cert, "client_cert"))
        object.__setattr__(self, "client_key", _path_or_none(self.client_key, "client_key"))
        if self.client_key is not None and self.client_cert is None:
            raise ConfigurationError("client_key was given without client_cert")
        if self.client_key_password is not None and self.client_cert is None:
            raise ConfigurationError("client_key_password was given without client_cert")
        object.__setattr__(self, "minimum_version", parse_tls_version(self.minimum_version))
        pins = self.pins
        if isinstance(pins, str):
            pins = (pins,)
        object.__setattr__(self, "pins", tuple(pins))
        object.__setattr__(self, "_hash", hash((
            self.ca_certs, self.client_cert, self.client_key, self.client_key_password,
            self.minimum_version, self.pins,
        )))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__, so a copy or an unpickled config (another process has
        # another string-hash seed) gets its own cached hash.
        return (self.__class__, tuple(getattr(self, f.name) for f in fields(self)))

    @property
    def ca_certs_is_data(self) -> bool:
        """True when ``ca_certs`` holds PEM data rather than a path."""
        return self.ca_certs is not None and _is_pem_text(self.ca_certs)
