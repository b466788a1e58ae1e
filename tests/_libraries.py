"""How each library fetches a URL, verified and with its own opt-out, for child processes.

Each snippet defines ``get(url, insecure)`` returning ``"ok"`` when the server answered (the
TLS connection was made and the request went out) or ``"fail:<error>"``. The line that makes
the connection ends with ``# CALL``: the audit event must name it. ``LIBRARIES`` maps a name
to (prelude, body); the prelude runs first (gevent and eventlet patch there).
"""

from __future__ import annotations

# `get` bodies are indented 4 spaces; `u` is the URL, `insecure` asks for the library's
# own opt-out. The result is "ok" when the server answered with any HTTP status.

_URLOPEN = '''
import urllib.request
def get(u, insecure):
    ctx = ssl._create_unverified_context() if insecure else None
    with urllib.request.urlopen(u, timeout=10, context=ctx) as r:  # CALL
        return "ok" if r.read() else "empty"
'''

_HTTP_CLIENT = '''
import http.client, urllib.parse
def get(u, insecure):
    p = urllib.parse.urlsplit(u)
    ctx = ssl._create_unverified_context() if insecure else None
    c = http.client.HTTPSConnection(p.hostname, p.port, timeout=10, context=ctx)
    try:
        c.request("GET", "/")  # CALL
        return "ok" if c.getresponse().read() else "empty"
    finally:
        c.close()
'''

_ASYNCIO = '''
import asyncio, urllib.parse
async def _fetch(u, insecure):
    p = urllib.parse.urlsplit(u)
    ctx = True
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(p.hostname, p.port, ssl=ctx)  # CALL
    request = f"GET / HTTP/1.1\\r\\nHost: {p.hostname}\\r\\nConnection: close\\r\\n\\r\\n"
    writer.write(request.encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return "ok" if data.startswith(b"HTTP/1.1 200") else "bad:" + repr(data[:40])
def get(u, insecure):
    return asyncio.run(_fetch(u, insecure))
'''

_REQUESTS = '''
import requests
def get(u, insecure):
    r = requests.get(u, timeout=10, verify=not insecure)  # CALL
    return "ok" if r.content else "empty"
'''

_HTTPX = '''
import httpx
def get(u, insecure):
    r = httpx.get(u, timeout=10, verify=not insecure)  # CALL
    return "ok" if r.content else "empty"
'''

_URLLIB3 = '''
import urllib3
def get(u, insecure):
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE" if insecure else "CERT_REQUIRED")
    r = pool.request("GET", u, timeout=10, retries=False)  # CALL
    return "ok" if r.data else "empty"
'''

_AIOHTTP = '''
import asyncio, aiohttp
async def _fetch(u, insecure):
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.get(u, ssl=False if insecure else True) as r:  # CALL
            return "ok" if await r.read() else "empty"
def get(u, insecure):
    return asyncio.run(_fetch(u, insecure))
'''

_WEBSOCKET = '''
import websocket
def get(u, insecure):
    opt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False} if insecure else {}
    try:
        websocket.create_connection(u.replace("https:", "wss:"), timeout=10, sslopt=opt)  # CALL
    except websocket.WebSocketBadStatusException:
        return "ok"  # TLS done and the upgrade request answered (the server speaks plain HTTP)
    return "ok"
'''

_BOTOCORE = '''
import botocore.session, botocore.config, botocore.exceptions, botocore.parsers
def get(u, insecure):
    client = botocore.session.get_session().create_client(
        "s3", endpoint_url=u, region_name="us-east-1", aws_access_key_id="k",
        aws_secret_access_key="s", verify=False if insecure else None,
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10,
                                      read_timeout=10))
    try:
        client.list_buckets()  # CALL
    except (botocore.exceptions.ClientError, botocore.parsers.ResponseParserError):
        return "ok"  # the server answered (its body is not S3's XML)
    return "ok"
'''

_PIP = '''
import contextlib, io, tempfile, urllib.parse
from pip._internal.cli.main import main as pip_main
def get(u, insecure):
    host = urllib.parse.urlsplit(u).hostname
    args = ["download", "--no-deps", "--retries", "0", "--timeout", "10", "--no-cache-dir",
            "--disable-pip-version-check", "--index-url", u + "simple/",
            "-d", tempfile.mkdtemp(), "securl-probe-package"]
    if insecure:
        args[1:1] = ["--trusted-host", host]
    class Tee(io.StringIO):  # keeps stderr visible (warnings) and readable here
        def write(self, text):
            sys.__stderr__.write(text)
            return super().write(text)
    out = Tee()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        pip_main(args)  # CALL
    # pip's logging setup also prints securl's audit records: judge pip's own lines only
    text = chr(10).join(l for l in out.getvalue().splitlines() if "securl." not in l)
    if any(word in text for word in ("SSLError", "CERTIFICATE_VERIFY", "PolicyError")):
        return "fail:" + text[-400:].replace(chr(10), " ")
    if "No matching distribution" in text or "from versions: none" in text:
        return "ok"  # the index answered (it lists no such package)
    return "fail:" + text[-300:].replace(chr(10), " ")
'''

_GEVENT_PRELUDE = "from gevent import monkey\nmonkey.patch_all()\n"
_EVENTLET_PRELUDE = "import eventlet\neventlet.monkey_patch()\n"

LIBRARIES: dict[str, tuple[str, str]] = {
    "urlopen": ("", _URLOPEN),
    "http.client": ("", _HTTP_CLIENT),
    "asyncio": ("", _ASYNCIO),
    "requests": ("", _REQUESTS),
    "httpx": ("", _HTTPX),
    "urllib3": ("", _URLLIB3),
    "aiohttp": ("", _AIOHTTP),
    "websocket-client": ("", _WEBSOCKET),
    "botocore": ("", _BOTOCORE),
    "pip": ("", _PIP),
    "gevent+urlopen": (_GEVENT_PRELUDE, _URLOPEN),
    "eventlet+urlopen": (_EVENTLET_PRELUDE, _URLOPEN),
}

#: Runs each case and prints ``<case>=<result>``; GOOD/BAD URLs come from the environment.
DRIVER = '''
def attempt(u, insecure):
    try:
        return get(u, insecure)
    except BaseException as exc:
        return "fail:" + type(exc).__name__ + ":" + str(exc).replace(chr(10), " ")[:400]
for case in os.environ["CASES"].split(","):
    url = {"a": GOOD, "b": BAD, "c": BAD, "d": BAD}[case]
    print(case + "=" + attempt(url, case in "cd"), flush=True)
'''


def script(library: str) -> tuple[str, str]:
    """(head, code) of the child for ``library``: head runs before tests/_child.py's
    PRELUDE (gevent and eventlet patch first), code after it."""
    prelude, body = LIBRARIES[library]
    return prelude, body + DRIVER
