"""When credentials are sent: the auth side of one request, across its retries and redirects.

The rules (the answers themselves are ``securl.http.auth``'s):

* **Where**: credentials go only to the origin the caller named, and only until the first
  redirect leaves it.
* **When**: Basic is sent before a challenge by ``auth=(user, password)`` over https and by
  ``BasicAuth(..., preemptive=True)``; a Bearer token always; Digest reuses a nonce the
  server issued (nonce counting); `ChallengeAuth` waits for the 401. A 401 is
  answered once; a second 401 is an `AuthError`, except a Digest
  ``stale=true`` challenge (the password was right, the nonce old), answered once more. A
  custom auth (`Auth.apply <securl.http.auth.Auth.apply>`) edits each request to the
  origin and leaves a 401 to the caller.
* **Transport** (`AuthFlow.check_transport`): Basic, and a Bearer token, over plain
  http are refused with `PolicyError` unless the call passes
  ``allow_insecure_auth=True`` or admin policy sets ``allow_basic_auth_over_http = true``;
  either way it is audited. Digest is not refused: it never sends the password.
* **Audit**: the ``securl.auth_challenge`` event carries the scheme, realm and the schemes
  offered, never the user name or credentials.
"""

from __future__ import annotations

import email.message
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from .._audit import emit
from .._caller import caller_location
from .._policy import get_policy
from .._redact import redact_url
from ..exceptions import AuthError, PolicyError
from .auth import Answer, Auth, digest_algorithm
from .challenges import (
    Challenge,
    client_cert_demand_response,
    is_client_cert_challenge,
    parse_challenges,
)
from .response import Response

if TYPE_CHECKING:
    from .hooks import PreparedRequest
    from .target import Target

__all__ = ["AuthFlow", "challenged"]

def _message_headers(headers: Mapping[str, str]) -> email.message.Message:
    msg = email.message.Message()
    items = headers.items()
    for name, value in items:
        msg[name] = value
    return msg


class AuthFlow:
    """The credentials side of one request, across its retries and redirects.

    The session asks `authorization` before each send and hands every 401 to
    `on_401`, which says whether to resend (see the module docstring for the rules).
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
        #: Whether the auth edits requests itself (`Auth.apply` overridden).
        self.edits_request = type(auth).apply is not Auth.apply

    def apply(self, request: PreparedRequest, target: Target) -> None:
        """Let a custom auth edit ``request``, if it goes to the origin the call named."""
        if self._applies(target):
            self.auth.apply(request)

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
        """Refuse Basic (or a Bearer token) over plain http unless the call or admin policy
        allows it (audited)."""
        if scheme not in ("basic", "bearer") or target.scheme == "https":
            return
        policy = get_policy()
        allowed_by = ("call" if self.allow_insecure
                      else "policy" if policy.allow_basic_auth_over_http else None)
        emit("insecure_auth", host=target.host, port=target.port, scheme=scheme.title(),
             url=redact_url(target.url), caller=caller_location(),
             action="allowed" if allowed_by else "refused", allowed_by=allowed_by)
        if allowed_by is None:
            secret = ("a bearer token" if scheme == "bearer"
                      else "a password with Basic authentication")
            raise PolicyError(
                f"refusing to send {secret} over plain http to "
                f"{target.host}:{target.port}: anyone on the network path could read it. Use "
                "https, or Digest; if this network is trusted, pass allow_insecure_auth=True "
                "to this call (it is audited), or an admin may set "
                f"allow_basic_auth_over_http = true in the securl policy ({policy.path})"
            )

    def on_401(self, response: Response, method: str, target: Target) -> bool:
        """True: resend with the answer now pending. False: not this flow's to answer.

        Raises `AuthError` when the credentials were refused or cannot answer
        any challenge offered (unless a client certificate is what the server asks for:
        then False, so the caller can raise ClientCertificateRequired), and PolicyError when
        the only answer would be Basic over plain http.
        """
        if not self.auth.challenge_based or not self._applies(target):
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
            found = digest_algorithm(chosen)
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
            "https) use auth=(user, password) or securl.BasicAuth(user, password, "
            "preemptive=True) so the first request carries the credentials"
        ))


def challenged(response: Response, flow: AuthFlow | None, method: str, target: Target, *,
               streamed: bool, cert_given: bool) -> bool:
    """True to resend after a 401 the auth flow answered; raises for what cannot be.

    ``streamed``: the request body was a stream (it cannot be sent again); ``cert_given``:
    the request had a client certificate to offer.

    Rule, in order: a password challenge the credentials can answer is answered (the
    flow's rules: once, plus one Digest stale retry; never another origin; never Basic
    over http unless allowed); a demand for a client certificate raises
    ClientCertificateRequired; a 401 the credentials cannot answer raises AuthError
    (inside the flow); anything else is returned to the caller as a response.
    """
    if response.status == 401 and flow is not None:
        response.content  # noqa: B018 - release the connection whatever happens next
        if flow.on_401(response, method, target):
            if streamed:
                raise flow.cannot_replay(response, target)
            return True
    demand = client_cert_demand_response(response, target.host, target.port, cert_given)
    if demand is not None:
        raise demand
    return False
