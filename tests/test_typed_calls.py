"""Typed request keywords: a type checker catches a misspelt option in user code."""

from __future__ import annotations

import inspect
import os
import pathlib
import subprocess
import sys
import typing

import securl
from securl.http import api
from securl.http.options import BodyOptions, JsonOption, RequestMethods, RequestOptions

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"

RIGHT = """\
import securl

session = securl.Session(retries=securl.Retries(total=2), hooks={"response": [print]})
session.get("https://example.org/", timeout=5, params={"q": "1"}, retries=1)
session.post("https://example.org/", json={"a": 1}, headers={"X": "1"}, files=None)
session.put("https://example.org/", b"x", json=None, stream=True)
session.head("https://example.org/", allow_redirects=True, auth=("u", "p"))
securl.get("https://example.org/", auth=securl.BearerAuth("t"), proxies={"https": "http://p:1"})
securl.post("https://example.org/", data=b"x", cookies={"k": "v"}, max_body_size=None)
securl.request("DELETE", "https://example.org/", hooks={"request": [print]})
"""

WRONG = """\
import securl

securl.get("https://example.org/", timout=5)
securl.Session().post("https://example.org/", files_={"f": b"x"})
securl.Session().get("https://example.org/", allow_redirects="yes")
securl.put("https://example.org/", b"x", data=b"y")
"""


def test_mypy_catches_a_misspelt_keyword_and_passes_correct_calls(tmp_path: pathlib.Path
                                                                  ) -> None:
    (tmp_path / "right.py").write_text(RIGHT)
    (tmp_path / "wrong.py").write_text(WRONG)
    env = {**os.environ, "MYPYPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version",
         "3.11", "--cache-dir", str(tmp_path / "cache"), "right.py", "wrong.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = result.stdout + result.stderr
    assert "right.py" not in out, out  # the correct script type-checks
    errors = [line for line in out.splitlines() if line.startswith("wrong.py:")]
    assert any(line.startswith("wrong.py:3:") and '"timout"' in line for line in errors), out
    assert any(line.startswith("wrong.py:4:") and '"files_"' in line for line in errors), out
    assert any(line.startswith("wrong.py:5:") and "allow_redirects" in line
               for line in errors), out
    assert any(line.startswith("wrong.py:6:") and '"data"' in line for line in errors), out
    assert result.returncode == 1


def _keywords(fn: object) -> set[str]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    return {p.name for p in params if p.kind is p.KEYWORD_ONLY or p.default is not p.empty}


def keys(options: typing.Any) -> frozenset[str]:
    return frozenset(options.__required_keys__ | options.__optional_keys__)


def test_the_typed_options_are_exactly_the_keywords_of_session_request() -> None:
    request_keywords = _keywords(securl.Session.request)
    assert set(keys(BodyOptions)) == request_keywords
    assert set(keys(JsonOption)) == request_keywords - {"data"}
    assert set(keys(RequestOptions)) == request_keywords - {"data", "json"}
    assert securl.RequestOptions is RequestOptions


def test_no_verb_takes_untyped_keyword_arguments() -> None:
    for fn in [*(getattr(RequestMethods, n) for n in ("get", "head", "options", "post", "put",
                                                       "patch", "delete")),
               *(getattr(api, n) for n in ("request", "get", "head", "options", "post", "put",
                                           "patch", "delete"))]:
        (var_kw,) = [p for p in inspect.signature(fn).parameters.values()
                     if p.kind is p.VAR_KEYWORD]
        assert "Unpack[" in str(var_kw.annotation), fn


def test_typed_verbs_still_send(https_server: object, session: securl.Session) -> None:
    from _servers import LocalServer

    assert isinstance(https_server, LocalServer)
    r = session.head(https_server.url("/"))
    assert r.status == 200 and https_server.seen[-1].method == "HEAD"
    r = session.put(https_server.url("/echo"), b"x", headers={"X-A": "1"})
    assert r.json()["body"] == "x" and r.json()["method"] == "PUT"
