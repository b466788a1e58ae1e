"""``securl get URL``: a verified download, curl-like, with nothing secret printed.

Rules:

* Always verified: the CLI has no opt-out flag. ``--ca-certs``, ``--pin`` and ``--cert`` only
  make trust narrower or answer a client-certificate request.
* ``-o FILE`` is atomic (`securl._fs.atomic_writer`): the body goes to a temporary
  file in the same directory, which replaces FILE only after the whole body arrived and was
  synced to disk. A failed or refused download leaves an existing FILE untouched.
* A status of 400 or more writes no body (like ``curl --fail``): an error page never lands
  where the caller expected the document. Exit codes: the table of
  `securl.cli.outcomes` (0 done, 1 not verified, 2 usage, 3 HTTP error, 4 network,
  5 policy refusal, 130 interrupted).
* ``--max-size`` caps the body (default 100 MiB, ``none`` for no cap) and ``--deadline`` the
  whole download (default 300 s); ``--timeout`` is each connect and each wait for bytes.
* Ctrl-C (SIGINT) stops the download with one line and exit code 130; with ``-o`` nothing is
  written (the temporary file is removed).
* A plain ``http://`` URL works, with a warning line on stderr: nothing protects it.
* ``Accept-Encoding: identity`` is sent unless ``-H`` says otherwise, so the bytes written
  are the bytes the server sent (curl does the same without ``--compressed``).
* ``-v`` shows the TLS connection, the request line, the request and the response headers
  on stderr with the values of ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and
  ``Set-Cookie`` replaced by ``[REDACTED]``.
* A progress bar is drawn on stderr only when stderr is a terminal and the body is over
  1 MiB; scripts and logs never see one.
* Everything written to stderr that holds text from the server (reason phrase, headers,
  certificate names, URLs it redirected to) or an error message goes through
  `securl.cli.safe_text.printable`: control characters are shown escaped. The body is
  the download and is written as received.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from .._audit import AuditEvent, add_audit_hook, remove_audit_hook
from .._fs import atomic_writer
from .._redact import REDACTED, redact_url
from ..exceptions import SecurlError, TLSVerificationError
from ..http.target import HeadersInput
from .outcomes import (
    EXIT_HTTP_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_VERIFIED,
    EXIT_OK,
    EXIT_USAGE,
    exit_code_for,
    plain_error,
)
from .safe_text import printable

__all__ = ["EXIT_HTTP_ERROR", "FetchOptions", "fetch", "parse_header", "parse_size"]

DEFAULT_MAX_SIZE = 100 * 1024 * 1024  # the library's default body limit
DEFAULT_DEADLINE = 300.0
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
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
    max_size: int | None = DEFAULT_MAX_SIZE
    deadline: float = DEFAULT_DEADLINE


def parse_size(text: str) -> int | None:
    """``--max-size``: bytes (``1048576``), a binary multiple (``300M``, ``2G``, ``512K``,
    ``1T``; ``MiB``/``MB`` spellings too) or ``none`` for no limit (None).

    Raises ValueError for anything else, zero and negative sizes included.
    """
    word = text.strip().upper()
    if word == "NONE":
        return None
    for suffix in ("IB", "B"):
        if len(word) > 1 and word.endswith(suffix) and word[-len(suffix) - 1] in "KMGT":
            word = word[: -len(suffix)]
            break
    number, unit = (word[:-1], word[-1]) if word[-1:] in ("K", "M", "G", "T") else (word, "")
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a size: give bytes or a number followed by K, M, "
                         "G or T (e.g. 300M, 2G), or none for no limit")
    return int(number) * _UNITS[unit]


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


def _request_line(url: str) -> tuple[str, str]:
    """``GET /path?query HTTP/1.1`` and the Host value, as ``-v`` shows them (redacted)."""
    parts = urllib.parse.urlsplit(redact_url(url))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"GET {target} HTTP/1.1", parts.netloc.rpartition("@")[2]


_SELF_SIGNED_HINT = (
    "securl get: to trust this one server, save its certificate as server.pem (compare its "
    "key with `securl pin {url}` first) and run: securl get --ca-certs server.pem {url}\n")


def _not_verified(exc: TLSVerificationError, url: str, stderr: IO[str]) -> None:
    text = plain_error(exc)
    if exc.reason_code == "self-signed":
        from ..http.errors import _FIX  # the library's advice names Python arguments

        text = text.replace(" " + _FIX["self-signed"], "")
    stderr.write(f"securl get: not verified ({printable(exc.reason_code)}): "
                 f"{printable(text)}\n")
    if exc.reason_code == "self-signed":
        stderr.write(_SELF_SIGNED_HINT.format(url=printable(redact_url(url))))


def fetch(options: FetchOptions, stdout: IO[bytes], stderr: IO[str]) -> int:
    """Run ``securl get``; returns the exit code (see the module docstring)."""
    try:
        return _fetch(options, stdout, stderr)
    except KeyboardInterrupt:
        where = f"; {options.output} was not written" if options.output not in (None, "-") else ""
        stderr.write(f"securl get: interrupted{printable(where)}\n")
        return EXIT_INTERRUPTED


def _fetch(options: FetchOptions, stdout: IO[bytes], stderr: IO[str]) -> int:
    from ..http.session import Session
    from ..http.timeouts import Timeouts

    headers: list[tuple[str, str | None]] = [("Accept-Encoding", "identity")]
    headers.extend(options.headers)
    cert: Any = (options.cert, options.key) if options.key else options.cert
    if options.key and not options.cert:
        stderr.write("securl get: --key needs --cert\n")
        return EXIT_USAGE
    if options.url[:7].lower() == "http://":
        stderr.write("securl get: warning: plain http:// is neither encrypted nor verified; "
                     "anyone on the network path can read and change it\n")
    hook = _on_connection(stderr) if options.verbose else None
    if hook is not None:
        add_audit_hook(hook)
    try:
        timeouts = Timeouts(connect=options.timeout, read=options.timeout,
                            total=options.deadline)
        with Session(ca_certs=options.ca_certs, cert=cert, pins=options.pins or None,
                     timeout=timeouts, max_redirects=options.max_redirects,
                     max_body_size=options.max_size,
                     headers=cast(HeadersInput, headers)) as session:
            if options.verbose:
                line, host = _request_line(options.url)
                stderr.write(f"> {printable(line)}\n> Host: {printable(host)}\n")
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
        _not_verified(exc, options.url, stderr)
        return EXIT_NOT_VERIFIED
    except SecurlError as exc:
        stderr.write(f"securl get: {printable(plain_error(exc))}\n")
        return exit_code_for(exc)
    except OSError as exc:  # writing the output file
        stderr.write(f"securl get: cannot write {printable(options.output or 'stdout')}: "
                     f"{printable(exc)}\n")
        return EXIT_USAGE
    finally:
        if hook is not None:
            remove_audit_hook(hook)
    return EXIT_OK
