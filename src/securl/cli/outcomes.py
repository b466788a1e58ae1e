"""What a ``securl`` subcommand's failure means: its exit code and a plain-words message.

The exit codes, one table for every subcommand (docs/cli.md, close to curl's habits of one
code per kind of failure):

====  ============================================================================
0     done; the server was verified
1     TLS verification failed (the server is not who it claims), or ``doctor``/
      ``check`` found a problem
2     usage or configuration error: a bad flag or value, a file that cannot be read
3     the server answered with an HTTP status of 400 or more (``get``; nothing written)
4     network error: cannot resolve, cannot connect, timed out, connection lost, the
      server broke HTTP, a redirect that cannot be followed, a body over ``--max-size``
5     refused by the admin policy (``/etc/securl/policy.toml``)
130   interrupted (Ctrl-C / SIGINT)
====  ============================================================================

Error messages name the host, the port and the cause in plain words: the wording securl's
transport errors inherit from urllib3 (``SecurlHTTPSConnection(host=..., port=...)``,
``<urllib3.connection.HTTPSConnection object at 0x...>``) is removed here, at the command's
boundary, so the person reading it sees no class names.
"""

from __future__ import annotations

import re

from ..exceptions import (
    ConfigurationError,
    InvalidRequest,
    PolicyError,
    RedirectError,
    SecurlError,
    TLSVerificationError,
    TransportError,
)

__all__ = [
    "EXIT_HTTP_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_NOT_VERIFIED",
    "EXIT_OK",
    "EXIT_POLICY",
    "EXIT_USAGE",
    "exit_code_for",
    "plain_error",
]

EXIT_OK = 0
EXIT_NOT_VERIFIED = 1
EXIT_USAGE = 2
EXIT_HTTP_ERROR = 3
EXIT_NETWORK = 4
EXIT_POLICY = 5
EXIT_INTERRUPTED = 130

# "SecurlHTTPSConnection(host='h', port=1): " and "<urllib3.connection.X object at 0x..>: "
_CONNECTION_REPR = re.compile(r"\b\w*Connection(?:Pool)?\(host=[^)]*\)(?::\s*)?")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>(?::\s*)?")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")


def plain_error(exc: BaseException) -> str:
    """``str(exc)`` without library class names or object addresses.

    ``cannot connect to 127.0.0.1:1: SecurlHTTPSConnection(host='127.0.0.1', port=1): Failed
    to establish a new connection: [Errno 111] Connection refused`` becomes ``cannot connect
    to 127.0.0.1:1: Failed to establish a new connection: Connection refused``.
    """
    text = _OBJECT_REPR.sub("", _CONNECTION_REPR.sub("", str(exc)))
    return _ERRNO.sub("", text)


def exit_code_for(exc: BaseException) -> int:
    """The exit code (see the module docstring) for an error a subcommand did not expect."""
    if isinstance(exc, TLSVerificationError):
        return EXIT_NOT_VERIFIED
    if isinstance(exc, PolicyError):
        return EXIT_POLICY
    if isinstance(exc, (TransportError, RedirectError)):
        return EXIT_NETWORK
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (ConfigurationError, InvalidRequest, SecurlError)):
        return EXIT_USAGE
    return EXIT_NETWORK if isinstance(exc, OSError) else EXIT_USAGE
