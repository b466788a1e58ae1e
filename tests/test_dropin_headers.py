"""Header checks of the urllib drop-in: the same rule as securl.Session, before anything is sent.

A header value with CR, LF or NUL (a token read from a file with its newline) or a name that
is not an HTTP token is refused with ``securl.InvalidRequest`` (a ``ValueError``, as an
invalid URL is), naming the header and never showing its value, however the header was
added: ``Request(headers=)``, ``add_header()``, ``add_unredirected_header()`` or an opener's
``addheaders``. ``http.client`` would raise ``ValueError("Invalid header value b'...'")``,
secret included. Every test runs against a real local server that must see no connection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

import securl
import securl.urllib.request as dropin
from _open_url import OpenURL
from _secrets import TEST_BEARER
from _servers import LocalServer

BAD_VALUES = {
    "trailing-newline": f"Bearer {TEST_BEARER}\n",
    "crlf-injection": f"Bearer {TEST_BEARER}\r\nX-Injected: 1",
    "bare-cr": f"Bearer {TEST_BEARER}\rX",
    "nul": f"Bearer {TEST_BEARER}\0",
}


def _texts(exc: BaseException) -> Iterator[str]:
    """``str`` and ``repr`` of ``exc`` and of every exception in its cause/context chain."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        yield str(current)
        yield repr(current)
        todo += [current.__cause__, current.__context__]


def _assert_refused_without_the_value(exc: BaseException, name: str) -> None:
    assert isinstance(exc, securl.InvalidRequest)
    assert isinstance(exc, ValueError)  # what urllib code catches for bad request input
    assert name in str(exc)
    for text in _texts(exc):
        assert TEST_BEARER not in text


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_header_value_is_refused_without_showing_it(
        open_url: OpenURL, http_server: LocalServer, value: str) -> None:
    with pytest.raises(securl.InvalidRequest) as info:
        open_url(http_server.url("/"), headers={"Authorization": value}, timeout=5)
    _assert_refused_without_the_value(info.value, "Authorization")
    assert http_server.accepts == 0


Build = Callable[[str, str, str], tuple[dropin.Request, dropin.OpenerDirector]]


def _in_constructor(url: str, name: str, value: str
                    ) -> tuple[dropin.Request, dropin.OpenerDirector]:
    return dropin.Request(url, headers={name: value}), dropin.build_opener()


def _add_header(url: str, name: str, value: str) -> tuple[dropin.Request, dropin.OpenerDirector]:
    req = dropin.Request(url)
    req.add_header(name, value)
    return req, dropin.build_opener()


def _add_unredirected_header(url: str, name: str, value: str
                             ) -> tuple[dropin.Request, dropin.OpenerDirector]:
    req = dropin.Request(url)
    req.add_unredirected_header(name, value)
    return req, dropin.build_opener()


def _opener_addheaders(url: str, name: str, value: str
                       ) -> tuple[dropin.Request, dropin.OpenerDirector]:
    opener = dropin.build_opener()
    opener.addheaders = [(name, value)]
    return dropin.Request(url), opener


WAYS: dict[str, Build] = {
    "Request(headers=)": _in_constructor,
    "add_header": _add_header,
    "add_unredirected_header": _add_unredirected_header,
    "opener.addheaders": _opener_addheaders,
}


@pytest.fixture
def dropin_pools() -> Iterator[None]:
    yield
    dropin._pools.clear()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("dropin_pools")
@pytest.mark.parametrize("way", WAYS.values(), ids=WAYS.keys())
@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_headers_added_any_urllib_way_are_checked_before_sending(
        http_server: LocalServer, way: Build, value: str) -> None:
    req, opener = way(http_server.url("/"), "Authorization", value)
    with pytest.raises(securl.InvalidRequest) as info:
        opener.open(req, timeout=5)
    _assert_refused_without_the_value(info.value, "Authorization")
    assert http_server.accepts == 0


@pytest.mark.usefixtures("dropin_pools")
@pytest.mark.parametrize("way", WAYS.values(), ids=WAYS.keys())
@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "X-A\r\nX-Injected"])
def test_a_header_name_that_is_not_a_token_is_refused_before_sending(
        http_server: LocalServer, way: Build, name: str) -> None:
    req, opener = way(http_server.url("/"), name, "1")
    with pytest.raises(securl.InvalidRequest, match="invalid header name"):
        opener.open(req, timeout=5)
    assert http_server.accepts == 0


@pytest.mark.usefixtures("dropin_pools")
def test_int_and_bytes_header_values_are_still_sent_as_urllib_sends_them(
        http_server: LocalServer) -> None:
    req = dropin.Request(http_server.url("/echo"))
    req.add_header("X-Count", 5)  # type: ignore[arg-type]  # http.client sends an int's digits
    req.add_header("X-Raw", b"caf\xe9")  # type: ignore[arg-type]  # and bytes as they are
    with dropin.urlopen(req, timeout=5) as response:
        seen = json.loads(response.read())["headers"]
    assert seen["X-Count"] == "5"
    assert seen["X-Raw"] == "caf\xe9"
