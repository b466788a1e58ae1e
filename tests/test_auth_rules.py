"""The rules of securl.http.auth that need no network: parsing, choice, hashing, secrecy."""

from __future__ import annotations

import pytest

import securl
from securl.http.auth import (
    BasicAuth,
    DigestAuth,
    coerce_auth,
    digest_response,
)
from securl.http.challenges import (
    Challenge,
    is_client_cert_challenge,
    parse_auth_params,
    parse_challenges,
)
from securl.http.target import parse_target

SECRET = "s3cr3t-Pa55"


# -- RFC 7616 section 3.9 test vectors --------------------------------------------------------

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize(("hash_name", "expected"), [
    ("md5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("sha256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_digest_response_matches_rfc7616_section_3_9_1(hash_name: str, expected: str) -> None:
    got = digest_response(hash_name, "Mufasa", "http-auth@example.org", "Circle of Life", "GET",
                          "/dir/index.html", RFC_NONCE, 1, RFC_CNONCE)
    assert got == expected


def test_digest_response_matches_rfc2617_md5_example() -> None:
    got = digest_response("md5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                          "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", 1, "0a4f113b")
    assert got == "6629fae49393a05397450978507c4ef1"


def test_digest_sha512_256_userhash_matches_rfc7616_3_9_2_as_corrected_by_erratum_4897() -> None:
    # The RFC prints values computed with truncated SHA-512 (erratum 4897); these are the
    # SHA-512/256 values its inputs really give.
    challenge = parse_challenges([
        'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
        'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
        'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'
    ])[0]
    auth = DigestAuth("J\u00e4s\u00f8n Doe", "Secret, or not?")
    value = auth.answer(challenge, "GET", parse_target("https://api.example.org/doe.json")).value
    params = parse_auth_params(value.removeprefix("Digest "))
    assert params["username"] == "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    assert params["userhash"] == "true"
    expected = digest_response("sha512_256", "J\u00e4s\u00f8n Doe", "api@example.org",
                               "Secret, or not?", "GET", "/doe.json",
                               "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", 1,
                               "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v")
    assert expected == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"


def test_digest_answer_carries_every_rfc7616_field_for_the_rfc_challenge() -> None:
    challenge = parse_challenges([
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        f'nonce="{RFC_NONCE}", opaque="{RFC_OPAQUE}"'
    ])[0]
    target = parse_target("https://example.org/dir/index.html")
    value = DigestAuth("Mufasa", "Circle of Life").answer(challenge, "GET", target).value
    p = parse_auth_params(value.removeprefix("Digest "))
    assert p["username"] == "Mufasa" and p["realm"] == "http-auth@example.org"
    assert p["uri"] == "/dir/index.html" and p["algorithm"] == "SHA-256"
    assert p["nonce"] == RFC_NONCE and p["nc"] == "00000001" and p["qop"] == "auth"
    assert p["opaque"] == RFC_OPAQUE
    assert p["response"] == digest_response("sha256", "Mufasa", "http-auth@example.org",
                                             "Circle of Life", "GET", "/dir/index.html",
                                             RFC_NONCE, 1, p["cnonce"])


# -- parsing ----------------------------------------------------------------------------------

def test_parse_splits_several_challenges_in_one_header_and_across_headers() -> None:
    got = parse_challenges([
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        "Bearer, Negotiate abc123==",
    ])
    assert [c.scheme for c in got] == ["Newauth", "Basic", "Bearer", "Negotiate"]
    assert got[0].params == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert got[1].params == {"realm": "simple"}
    assert got[2].params == {} and got[3].token68 == "abc123=="


def test_parse_keeps_commas_inside_quoted_strings_and_lowercases_param_names() -> None:
    (c,) = parse_challenges(['DIGEST Realm="a, b", QOP="auth,auth-int", nonce=abc'])
    assert c.name == "digest" and c.params == {"realm": "a, b", "qop": "auth,auth-int",
                                               "nonce": "abc"}


def test_parse_skips_malformed_elements_instead_of_guessing() -> None:
    got = parse_challenges(['Basic realm="unterminated', ', ,', 'Digest =x, realm="r"'])
    assert [c.scheme for c in got] == ["Basic", "Digest"]
    assert got[1].params == {"realm": "r"}


def test_a_repeated_parameter_keeps_its_first_value() -> None:
    (c,) = parse_challenges(['Basic realm="first", realm="second"'])
    assert c.params["realm"] == "first"


def test_transport_challenge_means_client_certificate() -> None:
    (c,) = parse_challenges(['Transport mode="tls-client-certificate"'])
    assert is_client_cert_challenge(c)
    (other,) = parse_challenges(['Transport mode="something-else"'])
    assert not is_client_cert_challenge(other)


# -- choosing the strongest challenge (RFC 7235 section 2.1) ----------------------------------

OFFERS = [
    'Basic realm="r"',
    'Digest realm="r", qop="auth", algorithm=MD5, nonce="n1"',
    'Digest realm="r", qop="auth", algorithm=SHA-256, nonce="n2"',
    'Negotiate',
]


@pytest.mark.parametrize("order", [OFFERS, OFFERS[::-1]])
def test_password_tuple_chooses_strongest_offered_digest_sha256_over_md5_over_basic(
        order: list[str]) -> None:
    auth = coerce_auth(("u", "p"))
    assert auth is not None
    best = auth.choose(parse_challenges(order))
    assert best is not None and best.params.get("algorithm") == "SHA-256"
    best = auth.choose(parse_challenges([o for o in order if "SHA-256" not in o]))
    assert best is not None and best.params.get("algorithm") == "MD5"
    best = auth.choose(parse_challenges(['Negotiate', 'Basic realm="r"']))
    assert best is not None and best.name == "basic"


def test_basic_auth_answers_only_basic_and_digest_auth_only_digest() -> None:
    challenges = parse_challenges(OFFERS)
    basic = BasicAuth("u", "p").choose(challenges)
    digest = DigestAuth("u", "p").choose(challenges)
    assert basic is not None and basic.name == "basic"
    assert digest is not None and digest.params["algorithm"] == "SHA-256"
    assert DigestAuth("u", "p").choose(parse_challenges(['Basic realm="r"'])) is None


@pytest.mark.parametrize("challenge", [
    'Digest realm="r", nonce="n"',  # no qop: RFC 2069, refused
    'Digest realm="r", qop="auth-int", nonce="n"',  # auth-int only
    'Digest realm="r", qop="auth", algorithm=SHA-1, nonce="n"',  # unknown algorithm
    'Digest qop="auth", nonce="n"',  # no realm
    'Digest realm="r", qop="auth"',  # no nonce
    'Digest realm="r\x01", qop="auth", nonce="n"',  # cannot be echoed into a header
])
def test_digest_does_not_answer_challenges_it_cannot_answer_safely(challenge: str) -> None:
    assert DigestAuth("u", "p").choose(parse_challenges([challenge])) is None


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess", "md5", "sha-256"])
def test_digest_answers_sess_forms_and_any_case(algorithm: str) -> None:
    (c,) = parse_challenges([f'Digest realm="r", qop="auth", algorithm={algorithm}, nonce="n"'])
    assert DigestAuth("u", "p").rank(c) is not None


def test_digest_nonce_count_grows_and_sess_keeps_its_cnonce_for_the_nonce() -> None:
    (c,) = parse_challenges(['Digest realm="r", qop="auth", algorithm=SHA-256-sess, nonce="n"'])
    auth = DigestAuth("u", "p")
    target = parse_target("https://h.example/a")
    first = parse_auth_params(auth.answer(c, "GET", target).value[7:])
    again = auth.preemptive("GET", parse_target("https://h.example/b"))
    assert again is not None
    second = parse_auth_params(again.value[7:])
    assert (first["nc"], second["nc"]) == ("00000001", "00000002")
    assert first["cnonce"] == second["cnonce"] and second["uri"] == "/b"
    assert auth.preemptive("GET", parse_target("https://other.example/")) is None


def test_nextnonce_from_authentication_info_replaces_the_nonce_and_restarts_the_count() -> None:
    (c,) = parse_challenges(['Digest realm="r", qop="auth", nonce="old"'])
    auth = DigestAuth("u", "p")
    target = parse_target("https://h.example/")
    auth.answer(c, "GET", target)
    auth.on_response(target, {"Authentication-Info": 'nextnonce="new", qop=auth'})
    nxt = auth.preemptive("GET", target)
    assert nxt is not None
    p = parse_auth_params(nxt.value[7:])
    assert (p["nonce"], p["nc"]) == ("new", "00000001")


def test_non_ascii_user_name_goes_in_username_star() -> None:
    (c,) = parse_challenges(['Digest realm="r", qop="auth", nonce="n"'])
    value = DigestAuth("J\u00e4s\u00f8n", "p").answer(c, "GET", parse_target("https://h/")).value
    assert "username*=UTF-8''J%C3%A4s%C3%B8n" in value and 'username="' not in value


# -- credentials objects ----------------------------------------------------------------------

def test_credentials_repr_never_shows_the_password() -> None:
    for auth in (BasicAuth("alice", SECRET), DigestAuth("alice", SECRET),
                 BasicAuth("alice", SECRET, preemptive=True), coerce_auth(("alice", SECRET))):
        assert SECRET not in repr(auth) and SECRET not in str(auth)
        assert "alice" in repr(auth)


def test_basic_answer_is_base64_of_utf8_user_colon_password() -> None:
    answer = BasicAuth("Aladdin", "open sesame").answer(Challenge("Basic"), "GET",
                                                        parse_target("https://h/"))
    assert answer.value == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


@pytest.mark.parametrize(("user", "password"), [("a:b", "p"), ("a\nb", "p"), ("a", "p\r\nX: y"),
                                                 (b"a", "p")])
def test_unusable_credentials_are_refused_without_echoing_the_password(
        user: object, password: str) -> None:
    with pytest.raises(securl.ConfigurationError) as info:
        BasicAuth(user, password)  # type: ignore[arg-type]
    assert password not in str(info.value) or password == "p"


@pytest.mark.parametrize("bad", [["u", "p"], "u:p", ("u",), 42])
def test_auth_argument_must_be_a_pair_or_an_auth_object(bad: object) -> None:
    with pytest.raises(securl.ConfigurationError, match="auth="):
        coerce_auth(bad)


def test_public_names_are_exported() -> None:
    assert securl.BasicAuth is BasicAuth and securl.DigestAuth is DigestAuth
    assert issubclass(securl.AuthError, __import__("urllib.error").error.HTTPError)
