"""The exceptions and warnings securl raises.

Every error is a `SecurlError`. Errors that happen while talking to a server are also
`urllib.error.URLError` (and so `OSError`), and an authentication failure is also a
`urllib.error.HTTPError`, so code written against ``urllib`` keeps catching them::

    SecurlError
    ├── ConfigurationError        bad certificate, key, CA or policy input (also ValueError)
    ├── PolicyError               the call or patch is forbidden by securl's rules or admin policy
    ├── InvalidRequest            a malformed URL, method or header, refused before sending
    ├── TransportError            talking to the server failed (also urllib.error.URLError)
    │   ├── TLSVerificationError  the server's certificate was not trusted; see .reason_code
    │   │   └── PinMismatchError  the server's key does not match a configured pin
    │   ├── ClientCertificateRequired  the server demanded a client certificate
    │   ├── Timeout               (also TimeoutError)
    │   │   ├── ConnectTimeout
    │   │   ├── ReadTimeout
    │   │   └── DeadlineExceeded  the whole call ran past its total deadline (Timeouts.total)
    │   ├── ConnectionError       (also builtins.ConnectionError)
    │   └── ProtocolError         the server broke HTTP (bad status line, headers too big, ...)
    │       └── ResponseTooLarge  the (decompressed) body exceeds max_body_size
    ├── RedirectError
    │   ├── InsecureRedirectError an https URL redirected to http (or another refused scheme)
    │   └── TooManyRedirects
    ├── AuthError                 401 after answering the challenge (also urllib.error.HTTPError)
    ├── HTTPStatusError           Response.raise_for_status() on a 4xx/5xx (also
    │                             urllib.error.HTTPError); .response is the Response
    └── JSONDecodeError           Response.json() on a body that is not JSON (also
                                  json.JSONDecodeError, and so ValueError)

    SecurityWarning (UserWarning)
    └── InsecureRequestWarning    a per-call opt-out of verification was used

The mapping from urllib3 and `ssl` errors to these classes lives in one place,
``securl.http.errors``; every mapped error is chained to its cause with ``raise ... from``.
"""

from __future__ import annotations

import builtins
import json
import urllib.error
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import email.message

    from .http.response import Response

__all__ = [
    "AuthError",
    "ClientCertificateRequired",
    "ConfigurationError",
    "ConnectTimeout",
    "ConnectionError",
    "DeadlineExceeded",
    "HTTPStatusError",
    "InsecureRedirectError",
    "InsecureRequestWarning",
    "InvalidRequest",
    "JSONDecodeError",
    "PinMismatchError",
    "PolicyError",
    "ProtocolError",
    "ReadTimeout",
    "RedirectError",
    "ResponseTooLarge",
    "SecurityWarning",
    "SecurlError",
    "TLSVerificationError",
    "Timeout",
    "TooManyRedirects",
    "TransportError",
]

#: The values `TLSVerificationError.reason_code` can take.
REASON_CODES: Final = frozenset(
    {
        "expired",
        "not-yet-valid",
        "hostname-mismatch",
        "no-subject-alt-name",
        "untrusted-issuer",
        "self-signed",
        "weak-key",
        "pin-mismatch",
        "other",
    }
)


class SecurlError(Exception):
    """Base class of every error securl raises."""


class ConfigurationError(SecurlError, ValueError):
    """Raised for bad input: a certificate, key, CA bundle or policy that cannot be used."""


class PolicyError(SecurlError):
    """Raised when a call or a process-wide patch is forbidden by securl's rules or admin policy."""


class InvalidRequest(SecurlError, ValueError):
    """Raised before anything is sent when the URL, method, headers or body are malformed."""


class TransportError(SecurlError, urllib.error.URLError):
    """Raised when talking to the server failed; also a `urllib.error.URLError`.

    ``str(err)`` is securl's explanation; ``err.reason`` is the lower-level cause where there is
    one (as with ``urllib``), else the same explanation.
    """

    def __init__(self, message: str, *, reason: object = None, host: str | None = None,
                 port: int | None = None) -> None:
        urllib.error.URLError.__init__(self, message if reason is None else reason)  # type: ignore[arg-type]
        self.args = (message,)
        self.message = message
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[TransportError], message: str, state: dict[str, object]) -> TransportError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class TLSVerificationError(TransportError):
    """Raised when the server's certificate chain or hostname could not be verified.

    ``reason_code`` is one of ``expired``, ``not-yet-valid``, ``hostname-mismatch``,
    ``no-subject-alt-name`` (the certificate names no host in a subjectAltName; a name only in
    the subject CN does not count), ``untrusted-issuer``, ``self-signed``, ``weak-key``,
    ``pin-mismatch`` or ``other``.
    """

    def __init__(self, message: str, *, reason_code: str, reason: object = None,
                 host: str | None = None, port: int | None = None) -> None:
        if reason_code not in REASON_CODES:
            raise ValueError(f"unknown reason_code {reason_code!r}")
        super().__init__(message, reason=reason, host=host, port=port)
        self.reason_code = reason_code


class PinMismatchError(TLSVerificationError):
    """Raised when the server's public key matches none of the configured pins."""

    def __init__(self, message: str, *, reason: object = None, host: str | None = None,
                 port: int | None = None) -> None:
        super().__init__(message, reason_code="pin-mismatch", reason=reason, host=host, port=port)


class ClientCertificateRequired(TransportError):
    """Raised when the server demanded a client certificate that was not given or was refused."""


class Timeout(TransportError, builtins.TimeoutError):
    """Raised when a network wait ran past its timeout."""


class ConnectTimeout(Timeout):
    """Raised when the TCP connection or the TLS handshake did not finish in time."""


class ReadTimeout(Timeout):
    """Raised when the server did not send (all of) its response in time."""


class DeadlineExceeded(Timeout):
    """Raised when a whole call (connect, TLS, request, headers, body, redirects) ran past its
    total deadline, ``Timeouts.total``, however steadily the server kept sending."""


class ConnectionError(TransportError, builtins.ConnectionError):
    """Raised when the connection could not be made or was lost."""


class ProtocolError(TransportError):
    """Raised when the server's response breaks HTTP (bad status line, oversized headers...)."""


class ResponseTooLarge(ProtocolError):
    """Raised when a response body, after decompression, is larger than ``max_body_size``.

    The connection is closed, not reused. ``limit`` is the limit in bytes.
    """

    def __init__(self, message: str, *, limit: int, host: str | None = None,
                 port: int | None = None) -> None:
        super().__init__(message, host=host, port=port)
        self.limit = limit


class RedirectError(SecurlError):
    """Base class of redirect errors."""


class InsecureRedirectError(RedirectError):
    """Raised when a redirect would leave https for http or go to a scheme securl refuses."""


class TooManyRedirects(RedirectError):
    """Raised when more than ``max_redirects`` redirects were followed."""


class AuthError(SecurlError, urllib.error.HTTPError):
    """Raised on a 401 that answering the server's challenge did not resolve.

    Also a `urllib.error.HTTPError` with ``code`` 401. ``offered`` lists the
    authentication schemes the server offered.
    """

    def __init__(self, url: str, message: str, headers: email.message.Message,
                 offered: tuple[str, ...] = ()) -> None:
        urllib.error.HTTPError.__init__(self, url, 401, message, headers, None)
        self.offered = offered
        self.message = message

    def __str__(self) -> str:
        return self.message


class HTTPStatusError(SecurlError, urllib.error.HTTPError):
    """Raised by `Response.raise_for_status() <securl.Response.raise_for_status>` for a
    4xx or 5xx status.

    Also a `urllib.error.HTTPError`, so ``except urllib.error.HTTPError`` catches it:
    ``code`` and ``status`` are the status, ``reason`` the reason phrase, ``headers`` the
    response headers, and ``read()`` returns the body. ``response`` is the
    `Response`; reading the body through the error does not consume it, so
    ``err.response.json()`` works too. The message (``"404 Not Found for https://..."``) and
    ``url`` carry the URL redacted.
    """

    def __init__(self, message: str, *, url: str, status: int, reason: str,
                 headers: Any, body: IO[bytes] | None,
                 response: Response | None = None) -> None:
        urllib.error.HTTPError.__init__(self, url, status, reason, headers, body)
        self.message = message
        self.response = response

    def __str__(self) -> str:
        return self.message


class JSONDecodeError(SecurlError, json.JSONDecodeError):
    """Raised by `Response.json() <securl.Response.json>` when the body is not JSON:
    invalid JSON, bytes that are not valid in the body's encoding, or an empty body.

    Also a `json.JSONDecodeError` (and so a `ValueError`), with ``msg``,
    ``pos``, ``lineno`` and ``colno``. The message says what was wrong, where, and the
    response's media type; it never quotes the body.
    """


class SecurityWarning(UserWarning):
    """Base class of securl's warnings about weakened security."""


class InsecureRequestWarning(SecurityWarning):
    """Warned for every request made with a per-call opt-out of certificate verification."""
