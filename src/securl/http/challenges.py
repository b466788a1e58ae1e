"""What a server asks for before it answers: a password (401 challenges) or a client certificate.

* **Parsing** (`parse_challenges`): ``WWW-Authenticate`` as RFC 9110 section 11.6.1
  defines it: several challenges per header, several headers, quoted strings with escapes.
* **A demand for a client certificate** made over HTTP rather than as a TLS alert
  (`client_cert_demand_response`): ``401 WWW-Authenticate: Transport
  mode="tls-client-certificate"`` and nginx's own 400 pages. The TLS alerts are read in
  ``securl.http.errors``.

Answering a password challenge is ``securl.http.auth``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..exceptions import ClientCertificateRequired
from .errors import client_cert_required
from .response import Response

__all__ = ["UNSAFE", "Challenge", "client_cert_demand_response", "is_client_cert_challenge",
           "parse_auth_params", "parse_challenges"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WS = " \t"
#: Characters that cannot be echoed back into a header.
UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Challenge:
    """One challenge from ``WWW-Authenticate``: ``scheme`` as the server spelled it."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    token68: str | None = None

    @property
    def name(self) -> str:
        """The scheme, lower-cased (schemes are case-insensitive)."""
        return self.scheme.lower()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        start = self.pos
        while self.peek() and self.peek() in _WS:
            self.pos += 1
        return self.pos > start

    def skip_separators(self) -> None:
        while self.peek() and self.peek() in _WS + ",":
            self.pos += 1

    def match(self, pattern: re.Pattern[str]) -> str:
        m = pattern.match(self.text, self.pos)
        if not m:
            return ""
        self.pos = m.end()
        return m.group()

    def value(self) -> str | None:
        """A token or a quoted-string (unescaped); None if neither is here."""
        if self.peek() != '"':
            return self.match(_TOKEN) or None
        out: list[str] = []
        i = self.pos + 1
        while i < len(self.text):
            ch = self.text[i]
            if ch == "\\" and i + 1 < len(self.text):
                out.append(self.text[i + 1])
                i += 2
            elif ch == '"':
                self.pos = i + 1
                return "".join(out)
            else:
                out.append(ch)
                i += 1
        return None  # unterminated

    def skip_to_comma(self) -> None:
        while self.peek() and self.peek() != ",":
            if self.peek() == '"' and self.value() is not None:
                continue
            self.pos += 1


def _read_params(scan: _Scanner, params: dict[str, str], *, stop_at_new_scheme: bool) -> None:
    """Read ``name=value`` pairs; with ``stop_at_new_scheme``, stop before a bare token."""
    while True:
        scan.skip_separators()
        if scan.at_end():
            return
        start = scan.pos
        name = scan.match(_TOKEN)
        scan.skip_ws()
        if not name or scan.peek() != "=":
            if stop_at_new_scheme and name:
                scan.pos = start
                return
            scan.skip_to_comma()  # malformed element: skip it
            continue
        scan.pos += 1
        scan.skip_ws()
        value = scan.value()
        if value is None:
            scan.skip_to_comma()
            continue
        params.setdefault(name.lower(), value)  # a repeated parameter: the first one counts


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` header values, in order.

    Malformed elements are skipped rather than guessed at; a challenge is never merged with
    the parameters of another.
    """
    out: list[Challenge] = []
    for value in values:
        scan = _Scanner(value)
        while True:
            scan.skip_separators()
            if scan.at_end():
                break
            scheme = scan.match(_TOKEN)
            if not scheme:
                scan.skip_to_comma()
                continue
            had_space = scan.skip_ws()
            token68 = None
            if had_space and scan.peek() not in ("", ","):
                start = scan.pos
                candidate = scan.match(_TOKEN68)
                scan.skip_ws()
                if candidate and scan.peek() in ("", ","):
                    token68 = candidate
                else:
                    scan.pos = start
            params: dict[str, str] = {}
            if token68 is None and had_space:
                _read_params(scan, params, stop_at_new_scheme=True)
            out.append(Challenge(scheme, params, token68))
    return out


def parse_auth_params(value: str) -> dict[str, str]:
    """The ``name=value`` list of an ``Authentication-Info`` header."""
    params: dict[str, str] = {}
    _read_params(_Scanner(value), params, stop_at_new_scheme=False)
    return params


def is_client_cert_challenge(challenge: Challenge) -> bool:
    """``Transport mode="tls-client-certificate"``: the server wants a client certificate."""
    return (challenge.name == "transport"
            and challenge.params.get("mode", "").lower() == "tls-client-certificate")


# nginx answers ``ssl_verify_client on|optional`` failures over HTTP, not with a TLS alert:
# 400 with one of these fixed pages (codes 495/496 inside nginx). Operators can turn them into
# ``401 WWW-Authenticate: Transport mode="tls-client-certificate"`` with error_page; both are
# recognised. The page titles are nginx's own, unchanged since nginx 0.7.
_NGINX_CERT_PAGES = {
    b"<title>400 No required SSL certificate was sent</title>":
        "asked for a client certificate and none was sent",
    b"<title>400 The SSL certificate error</title>":
        "could not verify the client certificate (nginx: \"The SSL certificate error\")",
}


def client_cert_demand_response(response: Response, host: str, port: int,
                                cert_given: bool) -> ClientCertificateRequired | None:
    """A ClientCertificateRequired when an HTTP response says the certificate is the problem.

    Recognised: ``401`` with ``WWW-Authenticate: Transport mode="tls-client-certificate"``,
    and nginx's own ``400`` pages for a missing or unverifiable client certificate (read only
    when the response is a small HTML page from a server that calls itself nginx).
    """
    headers = response.headers
    if response.status == 401:
        challenges = parse_challenges(headers.getlist("WWW-Authenticate"))
        if any(is_client_cert_challenge(c) for c in challenges):
            response.content  # noqa: B018 - release the connection
            meaning = ("refused the client certificate (401 Transport "
                       'mode="tls-client-certificate")' if cert_given else
                       'answered 401 Transport mode="tls-client-certificate"')
            return client_cert_required(meaning, host, port, cert_given)
        return None
    if response.status != 400 or not headers.get("Server", "").lower().startswith("nginx"):
        return None
    try:
        length = int(headers.get("Content-Length", "-1"))
    except ValueError:
        return None
    if not 0 < length <= 1024 or "html" not in headers.get("Content-Type", ""):
        return None
    body = response.content
    for title, meaning in _NGINX_CERT_PAGES.items():
        if title in body:
            return client_cert_required(meaning, host, port, cert_given)
    return None
