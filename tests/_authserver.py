"""Server-side HTTP authentication for LocalServer routes: Basic and RFC 7616 Digest.

Written independently of securl.http.auth (own parsing, own hashing) so that a test of securl
against it is a test against a second implementation of the RFC, not against itself.
The Digest side checks everything a strict server checks: realm, uri, algorithm, qop,
opaque, a strictly increasing nonce count per nonce, and the response hash; it issues
``stale=true`` for a nonce it has retired when the response was otherwise right.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from _servers import Handler, Reply

_PARAM = re.compile(r'\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def parse_authorization(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params[m.group(1).lower()] = v
    return scheme, params


@dataclass
class BasicRoute:
    """``Basic realm=...``; 200 for the right user and password."""

    user: str
    password: str
    realm: str = "basic@test"
    authorizations: list[str | None] = field(default_factory=list)

    def __call__(self, handler: Handler) -> Reply:
        got = handler.headers.get("Authorization")
        self.authorizations.append(got)
        if got and got.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(got[6:]).decode().partition(":")
            except ValueError:
                user, pw = "", ""
            if (user, pw) == (self.user, self.password):
                return 200, {"Content-Type": "text/plain"}, b"welcome " + user.encode()
        return 401, {"WWW-Authenticate": f'Basic realm="{self.realm}"'}, b"who are you?"


@dataclass
class DigestRoute:
    """RFC 7616 Digest with the given algorithms offered, strongest last or first as listed."""

    user: str
    password: str
    algorithms: tuple[str, ...] = ("SHA-256",)
    realm: str = "digest@test"
    extra_challenges: tuple[str, ...] = ()
    userhash: bool = False
    send_nextnonce: bool = False
    opaque: str = field(default_factory=lambda: secrets.token_hex(8))
    nonces: dict[str, int] = field(default_factory=dict)  # nonce -> last nc seen
    retired: set[str] = field(default_factory=set)
    log: list[dict[str, str]] = field(default_factory=list)  # accepted or refused answers
    outcomes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_request: Callable[[Handler], None] | None = None

    def new_nonce(self) -> str:
        nonce = base64.b64encode(secrets.token_bytes(24)).decode()
        self.nonces[nonce] = 0
        return nonce

    def retire_all_nonces(self) -> None:
        """Make every nonce issued so far stale (as a server does when nonces expire)."""
        with self.lock:
            self.retired.update(self.nonces)

    def _challenge(self, stale: bool = False) -> list[tuple[str, str]]:
        out = []
        for algorithm in self.algorithms:
            value = (f'Digest realm="{self.realm}", qop="auth, auth-int", '
                     f'algorithm={algorithm}, nonce="{self.new_nonce()}", '
                     f'opaque="{self.opaque}"')
            if self.userhash:
                value += ", charset=UTF-8, userhash=true"
            if stale:
                value += ", stale=true"
            out.append(("WWW-Authenticate", value))
        out += [("WWW-Authenticate", c) for c in self.extra_challenges]
        return out

    def _expected(self, p: dict[str, str], method: str) -> str | None:
        algorithm = p.get("algorithm", "MD5")
        sess = algorithm.lower().endswith("-sess")
        base = algorithm[:-5] if sess else algorithm
        if base not in _HASHES or base not in {a.removesuffix("-sess") for a in self.algorithms}:
            return None
        ha1 = _h(base, f"{self.user}:{self.realm}:{self.password}")
        if sess:
            ha1 = _h(base, f"{ha1}:{p['nonce']}:{p['cnonce']}")
        ha2 = _h(base, f"{method}:{p['uri']}")
        return _h(base, f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")

    def _user_ok(self, p: dict[str, str], algorithm: str) -> bool:
        if self.userhash:
            base = algorithm.removesuffix("-sess")
            return p.get("userhash") == "true" and p.get("username") == _h(
                base, f"{self.user}:{self.realm}")
        if "username*" in p:
            charset, _, rest = p["username*"].partition("''")
            return charset.upper() == "UTF-8" and urllib.parse.unquote(rest) == self.user
        return p.get("username") == self.user

    def check(self, handler: Handler) -> str:
        """'ok', 'stale' or the reason the answer is refused."""
        got = handler.headers.get("Authorization")
        if not got:
            return "no credentials"
        scheme, p = parse_authorization(got)
        self.log.append(p)
        if scheme.lower() != "digest":
            return f"scheme {scheme}"
        for key in ("realm", "uri", "nonce", "nc", "cnonce", "qop", "response"):
            if key not in p:
                return f"missing {key}"
        if p["realm"] != self.realm or p.get("opaque") != self.opaque or p["qop"] != "auth":
            return "realm/opaque/qop"
        if p["uri"] != handler.path:
            return "uri mismatch"
        expected = self._expected(p, handler.command)
        if expected is None:
            return "algorithm"
        if not self._user_ok(p, p.get("algorithm", "MD5")):
            return "user"
        if not secrets.compare_digest(expected, p["response"]):
            return "bad response"
        with self.lock:
            if p["nonce"] not in self.nonces:
                return "unknown nonce"
            if p["nonce"] in self.retired:
                return "stale"
            nc = int(p["nc"], 16)
            if nc <= self.nonces[p["nonce"]]:
                return "replayed nonce count"
            self.nonces[p["nonce"]] = nc
        return "ok"

    def __call__(self, handler: Handler) -> Reply:
        if self.on_request is not None:
            self.on_request(handler)
        outcome = self.check(handler)
        self.outcomes.append(outcome)
        if outcome == "ok":
            headers = {"Content-Type": "text/plain"}
            if self.send_nextnonce:
                headers["Authentication-Info"] = f'nextnonce="{self.new_nonce()}", qop=auth'
            return 200, headers, b"digest ok"
        challenges = self._challenge(stale=outcome == "stale")
        return 401, MultiHeaders(challenges), b"digest required"


class MultiHeaders(dict[str, str]):
    """A headers dict for LocalServer routes that can repeat a header name."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = pairs

    def items(self):  # type: ignore[override]
        return list(self.pairs)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.pairs)
