"""``securl get URL``: a verified download, curl-like, with nothing secret printed.

Rules:

* Always verified: the CLI has no opt-out flag. ``--ca-certs``, ``--pin`` and ``--cert`` only
  make trust narrower or answer a client-certificate request.
* ``-o FILE`` is atomic (:func:`securl._fs.atomic_writer`): the body goes to a temporary
  file in the same directory, which replaces FILE only after the whole body arrived and was
  synced to disk. A failed or refused download leaves an existing FILE untouched.
* A status of 400 or more writes no body (like ``curl --fail``): an error page never lands
  where the caller expected the document. Exit codes: 0 done, 1 TLS verification failed
  (the server is not who it claims), 2 usage, configuration or network error, 3 HTTP error.
* ``Accept-Encoding: identity`` is sent unless ``-H`` says otherwise, so the bytes written
  are the bytes the server sent (curl does the same without ``--compressed``).
* ``-v`` shows the TLS connection, the request and the response headers on stderr with the
  values of ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie``
  replaced by ``[REDACTED]``.
* A progress bar is drawn on stderr only when stderr is a terminal and the body is over
  1 MiB; scripts and logs never see one.
* Everything written to stderr that holds text from the server (reason phrase, headers,
  certificate names, URLs it redirected to) or an error message goes through
  :func:`securl.cli.safe_text.printable`: control characters are shown escaped. The body is
  the download and is written as received.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from .._audit import AuditEvent, add_audit_hook, remove_audit_hook
from .._fs import atomic_writer
from .._redact import REDACTED, redact_url
from ..exceptions import (
    ConfigurationError,
    InvalidRequest,
    PolicyError,
    SecurlError,
    TLSVerificationError,
)
from ..http.target import HeadersInput
from .safe_text import printable

__all__ = ["EXIT_HTTP_ERROR", "FetchOptions", "fetch", "parse_header"]

EXIT_OK, EXIT_NOT_VERIFIED, EXIT_USAGE_OR_NETWORK, EXIT_HTTP_ERROR = 0, 1, 2, 3
PROGRESS_THRESHOLD = 1 << 20  # 1 MiB
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_CHUNK = 64 * 1024


@dataclass
class FetchOptions:
    """The parsed ``securl get`` arguments."""

    url: str
    output: str | None = None
    headers: list[tuple[str, str | None]] = field(default_factory=list)
    ca_certs: str | None = None
    cert: str | None = None
    key: str | None = None
    pins: list[str] = field(default_factory=list)
    timeout: float = 30.0
    max_redirects: int = 10
    verbose: bool = False


def parse_header(text: str) -> tuple[str, str | None]:
    """``'Name: value'`` -> (name, value); ``'Name:'`` -> (name, None), which removes a default.

    Raises ValueError for text without a colon (the message never repeats the value).
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError("a header must look like 'Name: value' (or 'Name:' to remove one)")
    value = value.strip()
    return name.strip(), value or None


def _show(name: str, value: str) -> str:
    shown = REDACTED if name.lower() in _SECRET_HEADERS else printable(value)
    return f"{printable(name)}: {shown}"


class _Progress:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: IO[str], total: int | None) -> None:
        self.stream, self.total = stream, total
        self.done = 0
        self.started = self.last = time.monotonic()
        self.visible = False

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        big = (self.total or self.done) > PROGRESS_THRESHOLD
        if not big or (now - self.last < 0.1 and self.done != self.total):
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-6)
        mib = 1 << 20
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = (f"\r{share:4.0%} [{bar:<30}] {self.done / mib:.1f}/{self.total / mib:.1f} "
                    f"MiB {rate / mib:.1f} MiB/s")
        else:
            text = f"\r{self.done / mib:.1f} MiB {rate / mib:.1f} MiB/s"
        self.stream.write(text)
        self.stream.flush()
        self.visible = True

    def finish(self) -> None:
        if self.visible:
            self.stream.write("\n")
            self.stream.flush()


def _write_body(chunks: Iterator[bytes], output: str | None, stdout: IO[bytes],
                progress: _Progress | None) -> None:
    if output is None or output == "-":
        for chunk in chunks:
            stdout.write(chunk)
            if progress:
                progress.update(len(chunk))
        stdout.flush()
        return
    with atomic_writer(output, suffix=".part") as f:
        for chunk in chunks:
            f.write(chunk)
            if progress:
                progress.update(len(chunk))


def _on_connection(stderr: IO[str]) -> Any:
    def hook(event: AuditEvent) -> None:
        if event.event != "securl.connection":
            return
        f = {name: printable(value) for name, value in event.fields.items()}
        stderr.write(f"* connected to {printable(event.host)}:{printable(event.port)} with "
                     f"{f.get('tls_version')}, {f.get('cipher')}\n")
        stderr.write(f"* verified against {f.get('trust_source')}: subject {f.get('subject')}, "
                     f"issuer {f.get('issuer')}, expires {f.get('not_after')}\n")
        stderr.write(f"* server key {f.get('spki_sha256')}\n")
    return hook


def fetch(options: FetchOptions, stdout: IO[bytes], stderr: IO[str]) -> int:
    """Run ``securl get``; returns the exit code (see the module docstring)."""
    from ..http.session import Session

    headers: list[tuple[str, str | None]] = [("Accept-Encoding", "identity")]
    headers.extend(options.headers)
    cert: Any = (options.cert, options.key) if options.key else options.cert
    if options.key and not options.cert:
        stderr.write("securl get: --key needs --cert\n")
        return EXIT_USAGE_OR_NETWORK
    hook = _on_connection(stderr) if options.verbose else None
    if hook is not None:
        add_audit_hook(hook)
    try:
        with Session(ca_certs=options.ca_certs, cert=cert, pins=options.pins or None,
                     timeout=options.timeout, max_redirects=options.max_redirects,
                     headers=cast(HeadersInput, headers)) as session:
            if options.verbose:
                for name, value in session.headers.items():
                    stderr.write(f"> {_show(name, value)}\n")
            with session.get(options.url, stream=True) as response:
                if options.verbose:
                    stderr.write(f"< {response.status} {printable(response.reason)}\n")
                    for name, value in response.headers.items():
                        stderr.write(f"< {_show(name, value)}\n")
                if response.status >= 400:
                    stderr.write(f"securl get: HTTP {response.status} "
                                 f"{printable(response.reason)} from "
                                 f"{printable(redact_url(response.url))}; nothing written\n")
                    return EXIT_HTTP_ERROR
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                progress = _Progress(stderr, total) if stderr.isatty() else None
                try:
                    _write_body(response.iter_bytes(_CHUNK), options.output, stdout, progress)
                finally:
                    if progress:
                        progress.finish()
    except TLSVerificationError as exc:
        stderr.write(f"securl get: not verified ({printable(exc.reason_code)}): "
                     f"{printable(exc)}\n")
        return EXIT_NOT_VERIFIED
    except (ConfigurationError, InvalidRequest, PolicyError) as exc:
        stderr.write(f"securl get: {printable(exc)}\n")
        return EXIT_USAGE_OR_NETWORK
    except SecurlError as exc:
        stderr.write(f"securl get: {printable(exc)}\n")
        return EXIT_USAGE_OR_NETWORK
    except OSError as exc:  # writing the output file
        stderr.write(f"securl get: cannot write {printable(options.output or 'stdout')}: "
                     f"{printable(exc)}\n")
        return EXIT_USAGE_OR_NETWORK
    finally:
        if hook is not None:
            remove_audit_hook(hook)
    return EXIT_OK
