"""httpx, aiohttp, asyncio streams and websockets with securl.create_context(): each verifies
against securl's trust (a private CA here) and refuses a self-signed server."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import httpx
import pytest
import trustme
import websockets.asyncio.client
import websockets.asyncio.server

import securl
from _certs import self_signed
from _child import EAGER_HOOK, run_python
from _servers import LocalServer, server_context

TIMEOUT = 10


@pytest.fixture
def context(ca_file: str) -> ssl.SSLContext:
    return securl.create_context(securl.TLSConfig(ca_certs=ca_file))


def test_httpx_client_and_async_client_verify_with_a_securl_context(
        context: ssl.SSLContext, https_server: LocalServer,
        self_signed_server: LocalServer) -> None:
    with httpx.Client(verify=context, timeout=TIMEOUT) as client:
        assert client.get(https_server.url()).text == "hello"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(self_signed_server.url())

    async def run() -> str:
        async with httpx.AsyncClient(verify=context, timeout=TIMEOUT) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(self_signed_server.url())
            return (await client.get(https_server.url())).text

    assert asyncio.run(run()) == "hello"
    _still_sealed(context)


def test_aiohttp_connector_verifies_with_a_securl_context(
        context: ssl.SSLContext, https_server: LocalServer,
        self_signed_server: LocalServer) -> None:
    async def run() -> str:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(self_signed_server.url())
            async with session.get(https_server.url()) as response:
                return await response.text()

    assert asyncio.run(run()) == "hello"
    _still_sealed(context)


def test_asyncio_open_connection_verifies_with_a_securl_context(
        context: ssl.SSLContext, https_server: LocalServer,
        self_signed_server: LocalServer) -> None:
    async def get(server: LocalServer) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "localhost", server.port, ssl=context), TIMEOUT)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return await asyncio.wait_for(reader.read(), TIMEOUT)
        finally:
            writer.close()

    assert asyncio.run(get(https_server)).endswith(b"\r\n\r\nhello")
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed"):
        asyncio.run(get(self_signed_server))


async def _echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def _ws_roundtrip(server_cert: Any, context: ssl.SSLContext) -> str:
    async def run() -> str:
        async with websockets.asyncio.server.serve(
                _echo, "127.0.0.1", 0, ssl=server_context(server_cert)) as server:
            port = server.sockets[0].getsockname()[1]
            async with websockets.asyncio.client.connect(
                    f"wss://localhost:{port}/", ssl=context, open_timeout=TIMEOUT) as ws:
                await ws.send("ping")
                return str(await asyncio.wait_for(ws.recv(), TIMEOUT))

    return asyncio.run(run())


def test_websockets_connect_verifies_with_a_securl_context(
        context: ssl.SSLContext, leaf: trustme.LeafCert) -> None:
    assert _ws_roundtrip(leaf, context) == "ping"
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed"):
        _ws_roundtrip(self_signed(), context)


def _still_sealed(context: ssl.SSLContext) -> None:
    """The library used the sealed context as it is: still verifying, names checked."""
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_under_install_their_unverified_connections_are_audited(
        tmp_path: Any, self_signed_server: LocalServer) -> None:
    bad = self_signed_server
    code = f'''
import asyncio, ssl, httpx, aiohttp
url = "{bad.url()}"
with httpx.Client(verify=False, timeout=10) as c:
    print("httpx", c.get(url).status_code)
async def aio():
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as s:
        async with s.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
            print("aiohttp", r.status)
asyncio.run(aio())
'''
    result = run_python(tmp_path, code, sitecustomize=EAGER_HOOK)
    assert result.returncode == 0, result.stderr
    assert "httpx 200" in result.stdout and "aiohttp 200" in result.stdout
    events = result.named("securl.unverified_connection")
    assert len(events) == 2, result.events
    assert {e["host"] for e in events} == {"localhost"}
    assert all(e["port"] == bad.port and e["action"] == "allowed" for e in events)
    assert [e["library"] for e in events] == ["httpx", "aiohttp"], events
    assert all(e["caller"].endswith("app.py:" + e["caller"].rsplit(":", 1)[1])
               for e in events)
