"""HTTP authentication: credentials sent with the first request, or in answer to a 401.

``auth=(user, password)`` sends Basic with the first request over https (as requests does)
and answers Digest when the server asks for it; `ChallengeAuth` waits for the 401 and
answers the strongest scheme offered; `BearerAuth` sends a token with the first
request; a subclass of `Auth` overriding `Auth.apply`, or a plain callable, edits
each request itself. The rules, each in one place:

* **Parsing** (``securl.http.challenges``): ``WWW-Authenticate`` as RFC 9110 section
  11.6.1 defines it.
* **Choice** (`Auth.choose`): of the challenges the credentials can answer, the
  strongest wins, as RFC 7235 section 2.1 asks: Digest SHA-512-256 > Digest SHA-256 >
  Digest MD5 > Basic (``-sess`` forms rank with their hash). Challenges with characters that
  cannot go back into a header, or with only ``qop=auth-int``, are not answered.
* **When to send, and over what** (``securl.http.authflow``): only to the origin named,
  once per challenge, never Basic (or a Bearer token) over plain http unless allowed.
* **Secrets**: no repr, message, log line or audit event contains a password or an
  ``Authorization`` value.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..exceptions import ConfigurationError
from .challenges import (
    UNSAFE,
    Challenge,
    parse_auth_params,
)

#: RFC 7617 forbids these in user names and passwords.
_CTL = re.compile(r"[\x00-\x1f\x7f]")

if TYPE_CHECKING:
    from .hooks import PreparedRequest
    from .target import Target

__all__ = ["Auth", "AuthInput", "BasicAuth", "BearerAuth", "ChallengeAuth", "DigestAuth",
           "coerce_auth", "digest_response"]


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
    """Credentials for ``auth=``; the base class of every kind securl knows.

    For your own scheme (an API key header, a request signature), subclass it and override
    `apply`, which gets each request sent to the origin the call named (never one after
    a redirect to another origin) and may add or change its headers::

        class ApiKey(securl.Auth):
            def __init__(self, key: str) -> None:
                self.key = key

            def apply(self, request: securl.PreparedRequest) -> None:
                request.headers["X-Api-Key"] = self.key

    A plain callable taking the `PreparedRequest` works the same way.

    The challenge-answering kinds (`BasicAuth`, `DigestAuth`,
    `ChallengeAuth`, `BearerAuth`) say which challenges they can answer
    (`rank`) and how (`answer`); `AuthFlow` decides when. Instances are
    safe to share between threads.
    """

    username: str = ""
    #: Whether a 401 is this auth's to answer (a custom `apply` leaves it to the
    #: caller: the 401 is returned as a response).
    challenge_based: bool = False

    def apply(self, request: PreparedRequest) -> None:
        """Edit ``request`` (its ``headers``) before it is sent to the call's origin."""

    def rank(self, challenge: Challenge) -> int | None:
        """How strong answering ``challenge`` is (higher is stronger); None: cannot answer."""
        return None

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
            if any(UNSAFE.search(v) for v in challenge.params.values()):
                continue
            rank = self.rank(challenge)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, challenge)
        return best[1] if best else None

    def describe(self) -> str:
        """The schemes these credentials answer, for error messages."""
        return type(self).__name__


class BasicAuth(Auth):
    """User name and password for HTTP Basic authentication (RFC 7617).

    Sent only in answer to a ``Basic`` challenge, unless ``preemptive=True`` (then with the
    first request, saving a round trip; ``auth=(user, password)`` does that over https).
    Basic shows the password to anyone who can read the connection, so securl refuses it over
    plain http unless the call passes ``allow_insecure_auth=True`` or admin policy allows it.
    """

    challenge_based = True

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


def digest_algorithm(challenge: Challenge) -> tuple[str, bool, str] | None:
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

    challenge_based = True

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
        algorithm = digest_algorithm(challenge)
        if algorithm is None:
            return None
        return _DIGEST_ALGORITHMS[algorithm[0].removesuffix("-sess")][1]

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        algorithm = digest_algorithm(challenge)
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
        if not nextnonce or UNSAFE.search(nextnonce):
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


class ChallengeAuth(Auth):
    """User name and password sent only when the server asks: Digest or Basic, whichever is
    strongest on offer.

    Nothing is sent before a 401 (Digest then reuses its nonce). Basic goes over plain http
    only as the transport rule allows; so a server (or an attacker on plain http) offering
    Basic instead of Digest gets a PolicyError, not the password.
    """

    challenge_based = True

    def __init__(self, username: str, password: str) -> None:
        self._digest = DigestAuth(username, password)
        self._basic = BasicAuth(username, password)
        self.username = self._digest.username

    def __repr__(self) -> str:
        return f"ChallengeAuth(username={self.username!r}, password='***')"

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


class _Password(ChallengeAuth):
    """``auth=(user, password)``: Basic with the first request over https, as requests does.

    Over plain http nothing is sent before a challenge (then Digest, or Basic only where the
    transport rule allows it). After a Digest challenge from an origin, its nonce is reused
    there instead of Basic. A 401 offering Digest after the first Basic is answered once.
    """

    def __repr__(self) -> str:
        return f"auth=({self.username!r}, '***')"

    def preemptive(self, method: str, target: Target) -> Answer | None:
        answer = self._digest.preemptive(method, target)
        if answer is None and target.scheme == "https":
            answer = self._basic._value()
        return answer


class BearerAuth(Auth):
    """A bearer token (RFC 6750): ``Authorization: Bearer <token>`` with the first request.

    Sent only to the origin the call named, and, like a password, never over plain http
    unless the call passes ``allow_insecure_auth=True`` or admin policy allows Basic there.
    A 401 after the token was sent is an `AuthError`.
    """

    challenge_based = True

    def __init__(self, token: str) -> None:
        token = _check_credential(token, "token", colon_ok=True)
        if not token or token != token.strip():
            raise ConfigurationError("the bearer token must not be empty or padded with spaces")
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"

    def rank(self, challenge: Challenge) -> int | None:
        return _RANK_BASIC if challenge.name == "bearer" else None

    def answer(self, challenge: Challenge, method: str, target: Target) -> Answer:
        return Answer("bearer", "Bearer " + self._token)

    def preemptive(self, method: str, target: Target) -> Answer | None:
        return Answer("bearer", "Bearer " + self._token)

    def describe(self) -> str:
        return "Bearer"


class _CallableAuth(Auth):
    """A plain callable given as ``auth=``: called with each prepared request."""

    def __init__(self, fn: Callable[[PreparedRequest], object]) -> None:
        self._fn = fn

    def __repr__(self) -> str:
        return f"auth={self._fn!r}"

    def apply(self, request: PreparedRequest) -> None:
        self._fn(request)


AuthInput = Auth | tuple[str, str] | Callable[["PreparedRequest"], object] | None


def coerce_auth(auth: object) -> Auth | None:
    """``auth=`` as an `Auth`: None, an Auth, a ``(user, password)`` tuple, or a
    callable taking the prepared request."""
    if auth is None or isinstance(auth, Auth):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2:
        return _Password(auth[0], auth[1])
    if callable(auth):
        return _CallableAuth(auth)
    raise ConfigurationError(
        "auth= must be (user, password), securl.BasicAuth(user, password), "
        "securl.DigestAuth(user, password), securl.ChallengeAuth(user, password), "
        "securl.BearerAuth(token), a securl.Auth subclass or a callable taking the request, "
        f"not {type(auth).__name__}"
    )
