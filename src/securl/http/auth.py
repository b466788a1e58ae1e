"""HTTP authentication: answering a server's 401 challenge with Basic or Digest.

The server decides the scheme; ``auth=`` only prepares securl to answer. The rules, each in
one place:

* **Parsing** (:func:`parse_challenges`): ``WWW-Authenticate`` as RFC 9110 section 11.6.1
  defines it: several challenges per header, several headers, quoted strings with escapes.
* **Choice** (:meth:`Auth.choose`): of the challenges the credentials can answer, the
  strongest wins, as RFC 7235 section 2.1 asks: Digest SHA-512-256 > Digest SHA-256 >
  Digest MD5 > Basic (``-sess`` forms rank with their hash). Challenges with characters that
  cannot go back into a header, or with only ``qop=auth-int``, are not answered.
* **When to send** (:class:`AuthFlow`): credentials go only to the origin the caller named, and
  only until the first redirect leaves it. Basic is sent before a challenge only with
  ``preemptive=True``; Digest reuses a nonce the server issued (nonce counting). A 401 is
  answered once; a second 401 is an :class:`~securl.AuthError`, except a Digest
  ``stale=true`` challenge (the password was right, the nonce old), answered once more.
* **Transport** (:meth:`AuthFlow.check_transport`): Basic over plain http is refused with
  :class:`~securl.PolicyError` unless the call passes ``allow_insecure_auth=True`` or admin
  policy sets ``allow_basic_auth_over_http = true``; either way it is audited. Digest is not
  refused: it never sends the password.
* **Secrets**: no repr, message, log line or audit event contains a password or an
  ``Authorization`` value; the ``securl.auth_challenge`` event carries the scheme, realm and
  the schemes offered, never the user name or credentials.
"""

from __future__ import annotations

import base64
import email.message
import hashlib
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from .._audit import emit, redact_url
from .._caller import caller_location
from .._policy import get_policy
from ..exceptions import AuthError, ClientCertificateRequired, ConfigurationError, PolicyError
from .errors import client_cert_required
from .response import Response

if TYPE_CHECKING:
    from .target import Target

__all__ = [
    "Auth",
    "AuthFlow",
    "BasicAuth",
    "Challenge",
    "DigestAuth",
    "client_cert_demand_response",
    "coerce_auth",
    "is_client_cert_challenge",
    "parse_auth_params",
    "parse_challenges",
]

# -- parsing ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_WS = " \t"
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # cannot be echoed back into a header
_CTL = re.compile(r"[\x00-\x1f\x7f]")  # RFC 7617 forbids these in user names and passwords


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


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- credentials ------------------------------------------------------------------------------

class Answer(NamedTuple):
    """What to put in ``Authorization``, and which scheme that is (lower-case)."""

    scheme: str
    value: str


_RANK_BASIC = 0


def _check_credential(value: object, what: str, *, colon_ok: bool) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"the {what} must be a str, got {type(value).__name__}")
    if _CTL.search(value):
        raise ConfigurationError(f"the {what} contains control characters (RFC 7617 forbids them)")
    if not colon_ok and ":" in value:
        raise ConfigurationError(f"the {what} contains ':', which Basic and Digest cannot carry")
    return value


class Auth:
    """Credentials securl can answer a 401 with. Use :class:`BasicAuth` or :class:`DigestAuth`.

    Subclasses say which challenges they can answer (:meth:`rank`) and how (:meth:`answer`);
    :class:`AuthFlow` decides when. Instances are safe to share between threads.
    """

    username: str

    def rank(self, challenge: Challenge) -> int | None:
        """How strong answering ``challenge`` is (higher is stronger); None: cannot answer."""
        raise NotImplementedError

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        """The ``Authorization`` value answering ``challenge`` for this request."""
        raise NotImplementedError

    def preemptive(self, method: str, target: Target) -> Answer | None:
        """An ``Authorization`` value to send before any challenge, or None."""
        return None

    def on_response(self, target: Target, headers: Mapping[str, str]) -> None:
        """Learn from a response of ``target``'s origin (Digest: ``nextnonce``)."""

    def forget(self, target: Target) -> None:
        """Drop what was learnt about ``target``'s origin (after credentials were refused)."""

    def choose(self, challenges: Iterable[Challenge]) -> Challenge | None:
        """The strongest challenge these credentials can answer (first one on a tie)."""
        best: tuple[int, Challenge] | None = None
        for challenge in challenges:
            if any(_UNSAFE.search(v) for v in challenge.params.values()):
                continue
            rank = self.rank(challenge)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, challenge)
        return best[1] if best else None

    def describe(self) -> str:
        """The schemes these credentials answer, for error messages."""
        raise NotImplementedError


class BasicAuth(Auth):
    """User name and password for HTTP Basic authentication (RFC 7617).

    Sent only in answer to a ``Basic`` challenge, unless ``preemptive=True`` (then with the
    first request, saving a round trip). Basic shows the password to anyone who can read the
    connection, so securl refuses it over plain http unless the call passes
    ``allow_insecure_auth=True`` or admin policy allows it.
    """

    def __init__(self, username: str, password: str, *, preemptive: bool = False) -> None:
        self.username = _check_credential(username, "user name", colon_ok=False)
        self._password = _check_credential(password, "password", colon_ok=True)
        self.preemptive_send = bool(preemptive)

    def __repr__(self) -> str:
        return (f"BasicAuth(username={self.username!r}, password='***', "
                f"preemptive={self.preemptive_send})")

    def rank(self, challenge: Challenge) -> int | None:
        return _RANK_BASIC if challenge.name == "basic" else None

    def _value(self) -> Answer:
        raw = f"{self.username}:{self._password}".encode()
        return Answer("basic", "Basic " + base64.b64encode(raw).decode("ascii"))

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        return self._value()

    def preemptive(self, method: str, target: Target) -> Answer | None:
        return self._value() if self.preemptive_send else None

    def describe(self) -> str:
        return "Basic"


# Digest algorithms securl answers (RFC 7616 section 3.2): name -> (hashlib name, rank).
_DIGEST_ALGORITHMS: dict[str, tuple[str, int]] = {
    "MD5": ("md5", 10),
    "SHA-256": ("sha256", 20),
    "SHA-512-256": ("sha512_256", 30),
}


def _digest_algorithm(challenge: Challenge) -> tuple[str, bool, str] | None:
    """(canonical name, is -sess, hashlib name) of a Digest challenge, if securl has it."""
    raw = challenge.params.get("algorithm", "MD5")
    base, sess = raw.upper(), False
    if base.endswith("-SESS"):
        base, sess = base[:-5], True
    entry = _DIGEST_ALGORITHMS.get(base)
    if entry is None:
        return None
    if entry[0] not in hashlib.algorithms_available:
        return None
    return (base + ("-sess" if sess else ""), sess, entry[0])


@dataclass
class _DigestState:
    """What one origin's last Digest challenge told us; reused with a growing nonce count."""

    challenge: Challenge
    algorithm: str
    sess: bool
    hash_name: str
    nonce: str
    nc: int = 0
    cnonce: str = ""


class DigestAuth(Auth):
    """User name and password for HTTP Digest authentication (RFC 7616).

    Answers ``Digest`` challenges with MD5, SHA-256 or SHA-512-256 (and their ``-sess`` forms),
    ``qop=auth``, preferring the strongest algorithm the server offers. The password never
    crosses the wire: only a hash over it, the server's nonce and a client nonce. After one
    challenge, later requests to the same origin reuse the nonce with the next nonce count
    (no extra round trip); a ``stale=true`` answer makes securl retry once with the new nonce.
    ``userhash=true`` and non-ASCII user names (``username*``) are supported; ``qop=auth-int``
    and challenges without ``qop`` (RFC 2069) are not answered.
    """

    def __init__(self, username: str, password: str) -> None:
        self.username = _check_credential(username, "user name", colon_ok=False)
        self._password = _check_credential(password, "password", colon_ok=True)
        self._states: dict[tuple[str, str, int], _DigestState] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DigestAuth(username={self.username!r}, password='***')"

    def rank(self, challenge: Challenge) -> int | None:
        if challenge.name != "digest" or not challenge.params.get("nonce"):
            return None
        if "realm" not in challenge.params:
            return None
        qops = [q.strip().lower() for q in challenge.params.get("qop", "").split(",")]
        if "auth" not in qops:
            return None
        algorithm = _digest_algorithm(challenge)
        if algorithm is None:
            return None
        return _DIGEST_ALGORITHMS[algorithm[0].removesuffix("-sess")][1]

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        algorithm = _digest_algorithm(challenge)
        assert algorithm is not None, "answer() is only called for challenges rank() accepts"
        state = _DigestState(challenge, algorithm[0], algorithm[1], algorithm[2],
                             challenge.params["nonce"])
        with self._lock:
            self._states[target.origin] = state
            return self._authorize(state, method, target)

    def preemptive(self, method: str, target: Target) -> Answer | None:
        with self._lock:
            state = self._states.get(target.origin)
            return self._authorize(state, method, target) if state is not None else None

    def on_response(self, target: Target, headers: Mapping[str, str]) -> None:
        info = headers.get("Authentication-Info")
        if not info:
            return
        nextnonce = parse_auth_params(info).get("nextnonce")
        if not nextnonce or _UNSAFE.search(nextnonce):
            return
        with self._lock:
            state = self._states.get(target.origin)
            if state is not None and state.nonce != nextnonce:
                state.nonce, state.nc, state.cnonce = nextnonce, 0, ""

    def forget(self, target: Target) -> None:
        with self._lock:
            self._states.pop(target.origin, None)

    def describe(self) -> str:
        return "Digest"

    def _authorize(self, state: _DigestState, method: str, target: Target) -> Answer:
        """Next request with this nonce: count it, hash it (holding the lock)."""
        state.nc += 1
        if not state.sess or not state.cnonce:
            # -sess keys the session on the first cnonce, so it stays for this nonce.
            state.cnonce = secrets.token_hex(16)
        params = state.challenge.params
        realm = params["realm"]
        userhash = params.get("userhash", "").lower() == "true"
        response = digest_response(
            state.hash_name, self.username, realm, self._password, method,
            target.request_target, state.nonce, state.nc, state.cnonce, sess=state.sess,
        )
        parts: list[str] = []
        if userhash:
            parts.append(f"username={_quote(_h(state.hash_name, f'{self.username}:{realm}'))}")
        elif self.username.isascii():
            parts.append(f"username={_quote(self.username)}")
        else:
            parts.append("username*=UTF-8''" + urllib.parse.quote(self.username, safe=""))
        parts += [
            f"realm={_quote(realm)}",
            f"uri={_quote(target.request_target)}",
            f"algorithm={state.algorithm}",
            f"nonce={_quote(state.nonce)}",
            f"nc={state.nc:08x}",
            f"cnonce={_quote(state.cnonce)}",
            "qop=auth",
            f"response={_quote(response)}",
        ]
        if "opaque" in params:
            parts.append(f"opaque={_quote(params['opaque'])}")
        if userhash:
            parts.append("userhash=true")
        return Answer("digest", "Digest " + ", ".join(parts))


def _h(hash_name: str, data: str) -> str:
    return hashlib.new(hash_name, data.encode("utf-8")).hexdigest()


def digest_response(hash_name: str, username: str, realm: str, password: str, method: str,
                    uri: str, nonce: str, nc: int, cnonce: str, *, sess: bool = False) -> str:
    """The ``response`` value of RFC 7616 section 3.4.1 for ``qop=auth``."""
    ha1 = _h(hash_name, f"{username}:{realm}:{password}")
    if sess:
        ha1 = _h(hash_name, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(hash_name, f"{method}:{uri}")
    return _h(hash_name, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")


class _Password(Auth):
    """``auth=(user, password)``: answers Digest or Basic, whichever is strongest on offer.

    Basic is never sent before a challenge, and over plain http only as the transport rule
    allows; so a server (or an attacker on plain http) offering Basic instead of Digest gets
    a PolicyError, not the password.
    """

    def __init__(self, username: str, password: str) -> None:
        self._digest = DigestAuth(username, password)
        self._basic = BasicAuth(username, password)
        self.username = self._digest.username

    def __repr__(self) -> str:
        return f"auth=({self.username!r}, '***')"

    def _pick(self, challenge: Challenge) -> Auth:
        return self._digest if challenge.name == "digest" else self._basic

    def rank(self, challenge: Challenge) -> int | None:
        return self._pick(challenge).rank(challenge)

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        return self._pick(challenge).answer(challenge, method, target)

    def preemptive(self, method: str, target: Target) -> Answer | None:
        return self._digest.preemptive(method, target)

    def on_response(self, target: Target, headers: Mapping[str, str]) -> None:
        self._digest.on_response(target, headers)

    def forget(self, target: Target) -> None:
        self._digest.forget(target)

    def describe(self) -> str:
        return "Digest or Basic"


def coerce_auth(auth: object) -> Auth | None:
    """``auth=`` as an :class:`Auth`: None, an Auth, or a ``(user, password)`` tuple."""
    if auth is None or isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return _Password(auth[0], auth[1])
    raise ConfigurationError(
        "auth= must be (user, password), securl.BasicAuth(user, password) or "
        f"securl.DigestAuth(user, password), not {type(auth).__name__}"
    )


# -- one request's conversation ---------------------------------------------------------------

def _message_headers(headers: Mapping[str, str]) -> email.message.Message:
    msg = email.message.Message()
    items = headers.items()
    for name, value in items:
        msg[name] = value
    return msg


class AuthFlow:
    """The credentials side of one request, across its retries and redirects.

    The session asks :meth:`authorization` before each send and hands every 401 to
    :meth:`on_401`, which says whether to resend (see the module docstring for the rules).
    """

    def __init__(self, auth: Auth, target: Target, *, allow_insecure: bool = False) -> None:
        self.auth = auth
        self.origin = target.origin
        self.allow_insecure = allow_insecure
        self._left_origin = False
        self._pending: Answer | None = None
        self._sent: Literal["none", "preemptive", "answer"] = "none"
        self._sent_scheme: str | None = None
        self._stale_retried = False

    def _applies(self, target: Target) -> bool:
        if target.origin != self.origin:
            self._left_origin = True
        return not self._left_origin

    def authorization(self, method: str, target: Target) -> str | None:
        """The ``Authorization`` value for the next send to ``target``, or None."""
        if not self._applies(target):
            return None
        answer, self._pending = self._pending, None
        if answer is not None:
            self._sent, self._sent_scheme = "answer", answer.scheme
            return answer.value
        answer = self.auth.preemptive(method, target)
        if answer is None:
            self._sent, self._sent_scheme = "none", None
            return None
        self.check_transport(answer.scheme, target)
        self._sent, self._sent_scheme = "preemptive", answer.scheme
        return answer.value

    def on_redirect(self) -> None:
        """A new hop: a challenge there may be answered afresh."""
        self._pending, self._sent, self._sent_scheme = None, "none", None
        self._stale_retried = False

    def on_response(self, response: Response, target: Target) -> None:
        """Every response of the named origin may carry Digest's ``Authentication-Info``."""
        if self._applies(target):
            self.auth.on_response(target, response.headers)

    def check_transport(self, scheme: str, target: Target) -> None:
        """Refuse Basic over plain http unless the call or admin policy allows it (audited)."""
        if scheme != "basic" or target.scheme == "https":
            return
        policy = get_policy()
        allowed_by = ("call" if self.allow_insecure
                      else "policy" if policy.allow_basic_auth_over_http else None)
        emit("insecure_auth", host=target.host, port=target.port, scheme="Basic",
             url=redact_url(target.url), caller=caller_location(),
             action="allowed" if allowed_by else "refused", allowed_by=allowed_by)
        if allowed_by is None:
            raise PolicyError(
                f"refusing to send a password with Basic authentication over plain http to "
                f"{target.host}:{target.port}: anyone on the network path could read it. Use "
                "https, or Digest; if this network is trusted, pass allow_insecure_auth=True "
                "to this call (it is audited), or an admin may set "
                f"allow_basic_auth_over_http = true in the securl policy ({policy.path})"
            )

    def on_401(self, response: Response, method: str, target: Target) -> bool:
        """True: resend with the answer now pending. False: not this flow's to answer.

        Raises :class:`~securl.AuthError` when the credentials were refused or cannot answer
        any challenge offered (unless a client certificate is what the server asks for:
        then False, so the caller can raise ClientCertificateRequired), and PolicyError when
        the only answer would be Basic over plain http.
        """
        if not self._applies(target):
            return False
        challenges = parse_challenges(response.headers.getlist("WWW-Authenticate"))
        offered = tuple(dict.fromkeys(c.scheme for c in challenges))
        best = self.auth.choose(challenges)
        stale = best is not None and best.params.get("stale", "").lower() == "true"
        if best is None:
            wants_cert = any(is_client_cert_challenge(c) for c in challenges)
            self._event(target, None, offered, "client-certificate" if wants_cert
                        else "unsupported")
            if wants_cert:
                return False
            raise self._error(response, target, offered, (
                f"{target.host}:{target.port} asks for authentication (401) with "
                f"{', '.join(offered) or 'no WWW-Authenticate challenge'}; the credentials "
                f"given with auth= answer only {self.auth.describe()}"
            ))
        fresh_digest = best.name == "digest"
        if self._sent == "none":
            action = "answered"
        elif self._sent == "preemptive" and (fresh_digest or best.name != self._sent_scheme):
            # A reused Digest nonce, or another scheme, was refused: answer this challenge once.
            action = "answered"
        elif self._sent == "answer" and fresh_digest and stale and not self._stale_retried:
            self._stale_retried = True
            action = "stale-retry"
        else:
            self._event(target, best, offered, "refused")
            self.auth.forget(target)
            realm = best.params.get("realm")
            raise self._error(response, target, offered, (
                f"{target.host}:{target.port} refused the credentials given with auth= "
                f"({best.scheme} authentication"
                + (f", realm {realm!r}" if realm is not None else "")
                + "): it answered 401 again. Check the user name and password"
            ))
        try:
            self.check_transport(best.name, target)
        except PolicyError:
            self._event(target, best, offered, "refused-insecure")
            raise
        self._pending = self.auth.answer(best, method, target)
        self._event(target, best, offered, action)
        return True

    def _event(self, target: Target, chosen: Challenge | None, offered: tuple[str, ...],
               action: str) -> None:
        algorithm = None
        if chosen is not None and chosen.name == "digest":
            found = _digest_algorithm(chosen)
            algorithm = found[0] if found else None
        emit("auth_challenge", host=target.host, port=target.port,
             url=redact_url(target.url), offered=list(offered),
             scheme=chosen.scheme if chosen is not None else None, algorithm=algorithm,
             realm=chosen.params.get("realm") if chosen is not None else None, action=action)

    def _error(self, response: Response, target: Target, offered: tuple[str, ...],
               message: str) -> AuthError:
        suffix = f"; the server offered: {', '.join(offered)}" if offered else ""
        return AuthError(redact_url(target.url), message + suffix,
                         _message_headers(response.headers), offered)

    def cannot_replay(self, response: Response, target: Target) -> AuthError:
        """The error for a challenge that would need a streamed body sent again."""
        offered = tuple(dict.fromkeys(
            c.scheme for c in parse_challenges(response.headers.getlist("WWW-Authenticate"))))
        return self._error(response, target, offered, (
            f"{target.host}:{target.port} asked for credentials (401) after the request body "
            "was sent as a stream, which cannot be sent again; pass data= as bytes, or (over "
            "https) use securl.BasicAuth(user, password, preemptive=True) so the first "
            "request carries the credentials"
        ))

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
