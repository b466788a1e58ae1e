"""The in-process scenarios: each returns a Table of medians over interleaved rounds."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import ssl
import subprocess
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from _clients import (
    BASELINE,
    CLIENTS,
    EXTRA_CLIENTS,
    FACTORIES,
    RAW_SOCKET,
    Client,
    Env,
    Unavailable,
)
from _measure import (
    Measured,
    Row,
    Table,
    check,
    rate_loop,
    rounds,
    rounds2,
    threaded_rate,
    time_call,
)
from _server import LARGE_SIZE, SMALL_BODY

SMALL = len(SMALL_BODY)
MB = 1e6


@dataclass(frozen=True)
class Config:
    """How much work one run does (see run.py's --smoke / --quick / full)."""

    name: str
    rounds: int
    budget: float  # seconds per sample
    max_requests: int  # per sample, single-threaded request loops
    max_downloads: int  # per sample, 1 MiB downloads
    threads: int
    max_per_thread: int
    urlopen_n: int  # the "100 sequential GETs" scenario
    ctx_reps: int  # first-build timings
    lookup_loops: int  # cached-lookup timeit loops
    import_reps: int  # fresh interpreters per module
    rss_gets: int
    rss_clients: tuple[str, ...] | None  # None: every client
    rss_reps: int
    imports: tuple[str, ...] = ("urllib3", "securl", "securl.urllib.request", "requests", "httpx",
                                "urllib.request")


@contextlib.contextmanager
def environ(**values: str | None) -> Iterator[None]:
    """Set (or with None, unset) environment variables for the block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _build(env: Env, names: list[str] | None = None,
           extra: tuple[str, ...] = ()) -> tuple[dict[str, Client], list[Row]]:
    clients: dict[str, Client] = {}
    rows: list[Row] = []
    chosen = [(name, factory) for name, factory in EXTRA_CLIENTS if name in extra]
    for name, factory in CLIENTS + chosen:
        if names is not None and name not in names:
            continue
        try:
            clients[name] = factory(env)
            rows.append(Row(name))
        except Unavailable as exc:
            rows.append(Row(name, note=str(exc), available=False))
    return clients, rows


def _close(clients: dict[str, Client]) -> None:
    for client in clients.values():
        with contextlib.suppress(Exception):
            client.close()


def _single_threaded(env: Env, cfg: Config, key: str, title: str, path: str, close: bool,
                     expected: int, max_count: int, scale: float, unit: str,
                     description: str, fmt: str = "{:,.0f}", extra: tuple[str, ...] = ()
                     ) -> Table:
    clients, rows = _build(env, extra=extra)
    try:
        for name, client in clients.items():  # warm up: connect, build contexts, fill caches
            for _ in range(2):
                check(client.get(path, close), expected, name)

        def measure(name: str) -> Measured:
            client = clients[name]
            rate, cpu = rate_loop(lambda: client.get(path, close), expected, name, max_count,
                                  cfg.budget)
            return scale * rate, cpu

        samples, cpu = rounds2(list(clients), cfg.rounds, measure)
    finally:
        _close(clients)
    for row in rows:
        row.samples = samples.get(row.name, [])
        row.cpu = cpu.get(row.name, [])
        if row.name == "urllib.request.urlopen (stdlib)" and not close:
            row.note = "no keep-alive: a new connection per call"
    return Table(key, title, unit, True, rows, description, fmt=fmt)


def keepalive(env: Env, cfg: Config) -> Table:
    return _single_threaded(
        env, cfg, "keepalive", "Sequential keep-alive GETs (100-byte body)", "/small", False,
        SMALL, cfg.max_requests, 1.0, "requests/s",
        "One client, one connection reused, GET /small in a loop. The extra drop-in row passes "
        "the same `context=` (an `ssl.create_default_context(cafile=...)`) on every call.",
        extra=("securl.urllib.request.urlopen(context=)",))


def new_connection(env: Env, cfg: Config) -> Table:
    return _single_threaded(
        env, cfg, "newconn", "New-connection GETs (full TLS handshake each)", "/small", True,
        SMALL, cfg.max_requests, 1.0, "requests/s",
        "`Connection: close` on every request: TCP connect + full TLS 1.3 handshake + GET. "
        "The extra urllib3 row has securl's default timeouts (10 s connect, 30 s read): a "
        "socket with a timeout polls before each handshake step and read. securl resumes the "
        "TLS session of its previous connection to the host by default only where Python "
        "reads a session without leaking it (CPython 3.12.8+, 3.13.1+; see the Python "
        "version above): the `tls_session_cache=True` row asks for it, the `=False` row "
        "never resumes. The resuming raw-socket row is what resumption saves a client at "
        "best with this Python's `ssl`.",
        extra=("urllib3.PoolManager (raw) + securl's timeouts",
               "securl.Session(tls_session_cache=False)",
               "securl.Session(tls_session_cache=True)",
               "securl.urllib.request.urlopen(context=)",
               "raw TLS socket (reference), resuming its TLS session"))


def download(env: Env, cfg: Config) -> Table:
    return _single_threaded(
        env, cfg, "download", "1 MiB downloads (keep-alive)", "/1m", False, LARGE_SIZE,
        cfg.max_downloads, LARGE_SIZE / MB, "MB/s",
        "GET /1m (1,048,576 bytes), body read into memory.", fmt="{:,.1f}")


def threads(env: Env, cfg: Config) -> Table:
    clients, rows = _build(env)
    for row in rows:
        client = clients.get(row.name)
        if client is not None and not client.threadsafe:
            row.available = False
            row.note = "n/a (one connection object, not thread-safe)"
            clients.pop(row.name).close()
    try:
        for name, client in clients.items():
            threaded_rate(lambda c=client: c.get("/small"), SMALL, name, cfg.threads, 2, 30)

        def measure(name: str) -> Measured:
            client = clients[name]
            return threaded_rate(lambda: client.get("/small"), SMALL, name, cfg.threads,
                                 cfg.max_per_thread, cfg.budget)

        samples, cpu = rounds2(list(clients), cfg.rounds, measure)
    finally:
        _close(clients)
    for row in rows:
        row.samples = samples.get(row.name, row.samples)
        row.cpu = cpu.get(row.name, [])
    return Table("threads", f"{cfg.threads} threads sharing one client (keep-alive GETs)",
                 "requests/s (aggregate)", True, rows,
                 f"{cfg.threads} threads call the same client object concurrently.")


def urlopen_sequence(env: Env, cfg: Config) -> Table:
    names = ["securl.urllib.request.urlopen", "urllib.request.urlopen (stdlib)", BASELINE,
             "securl.Session"]
    clients, rows = _build(env, names)
    rows.sort(key=lambda r: names.index(r.name))
    n = cfg.urlopen_n
    try:
        for name, client in clients.items():
            check(client.get("/small"), SMALL, name)

        def measure(name: str) -> Measured:
            client = clients[name]
            return rate_loop(lambda: client.get("/small"), SMALL, name, n, 1e9)

        samples, cpu = rounds2(list(clients), cfg.rounds, measure)
    finally:
        _close(clients)
    for row in rows:
        row.samples = samples.get(row.name, [])
        row.cpu = cpu.get(row.name, [])
    return Table("urlopen", f"{n} sequential GETs to one host: urlopen drop-in vs stdlib",
                 "requests/s", True, rows,
                 f"{n} GETs of /small in a row, as code calling `urlopen(url)` does.")


# -- context cost ------------------------------------------------------------------------------

def _urllib3_default_context() -> ssl.SSLContext:
    from urllib3.util.ssl_ import create_urllib3_context

    ctx = create_urllib3_context()
    ctx.load_default_certs()
    return ctx


def context_cost(env: Env, cfg: Config) -> Table:
    """Microseconds to build a context the first time, and to fetch securl's cached one."""
    import truststore

    import securl
    import securl.tls.context as sctx

    ca_config = securl.TLSConfig(ca_certs=env.ca_file)

    def first(config: securl.TLSConfig | None) -> Callable[[], object]:
        def build() -> object:
            sctx.clear_cache()
            return securl.create_context(config)
        return build

    builders: dict[str, Callable[[], object]] = {
        "securl create_context() first build (system trust)": first(None),
        "securl create_context(TLSConfig(ca_certs=<1-CA file>)) first build": first(ca_config),
        "urllib3 default context (built per new connection without ssl_context=)":
            _urllib3_default_context,
        "ssl.create_default_context() (system bundle)": ssl.create_default_context,
        "truststore.SSLContext() (loads per connection)":
            lambda: truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
    }
    rows = [Row(name) for name in builders]
    with environ(SSL_CERT_FILE=None, SSL_CERT_DIR=None):
        samples = rounds(list(builders), cfg.ctx_reps,
                         lambda name: 1e6 * time_call(builders[name]))
        sctx.clear_cache()
        securl.create_context()
        securl.create_context(ca_config)
        loops = cfg.lookup_loops
        lookups: dict[str, Callable[[], object]] = {
            "securl create_context() cached lookup": securl.create_context,
            "securl create_context(config) cached lookup": lambda: securl.create_context(
                ca_config),
        }
        lookup_samples = rounds(
            list(lookups), max(3, cfg.rounds),
            lambda name: 1e6 * timeit.timeit(lookups[name], number=loops) / loops)
        sctx.clear_cache()
    for row in rows:
        row.samples = samples[row.name]
    rows.extend(Row(name, lookup_samples[name]) for name in lookups)
    return Table("context", "Context cost", "µs", False, rows,
                 "Wall time of one call, in microseconds (lower is better). The ratio is to "
                 "urllib3's own default context, which raw urllib3 builds for every new "
                 "connection when it is not given one.",
                 baseline="urllib3 default context (built per new connection without "
                          "ssl_context=)", fmt="{:,.1f}")


# -- trust store choice on Linux ---------------------------------------------------------------

_HASHED = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]+$")


@dataclass
class TrustFiles:
    bundle: str  # the system bundle + the benchmark CA
    hashed_dir: str | None  # the system hashed directory + the benchmark CA
    system_bundle: str
    system_dir: str


def make_trust_files(env: Env, workdir: str) -> TrustFiles:
    """Copies of the system trust store with the benchmark CA added, in both layouts."""
    with environ(SSL_CERT_FILE=None, SSL_CERT_DIR=None):  # the system's, not the harness's
        paths = ssl.get_default_verify_paths()
    system_bundle = next(p for p in (paths.cafile, "/etc/ssl/certs/ca-certificates.crt",
                                     "/etc/ssl/cert.pem") if p and os.path.isfile(p))
    system_dir = paths.capath or "/etc/ssl/certs"
    bundle = os.path.join(workdir, "system-plus-bench-ca.pem")
    with open(bundle, "wb") as out:
        for src in (system_bundle, env.ca_file):
            with open(src, "rb") as f:
                out.write(f.read().rstrip(b"\n") + b"\n")
    hashed: str | None = os.path.join(workdir, "hashed")
    assert hashed is not None
    os.makedirs(hashed, exist_ok=True)
    for entry in os.scandir(system_dir):
        if _HASHED.match(entry.name):
            os.symlink(os.path.realpath(entry.path), os.path.join(hashed, entry.name))
    openssl = shutil.which("openssl")
    if openssl is None:
        hashed = None
    else:
        digest = subprocess.run([openssl, "x509", "-subject_hash", "-noout", "-in", env.ca_file],
                                capture_output=True, text=True, timeout=30, check=True)
        stem = digest.stdout.strip()
        n = 0
        while os.path.exists(os.path.join(hashed, f"{stem}.{n}")):
            n += 1
        shutil.copy(env.ca_file, os.path.join(hashed, f"{stem}.{n}"))
    return TrustFiles(bundle, hashed, system_bundle, system_dir)


def trust_store(env: Env, cfg: Config, workdir: str) -> tuple[Table, Table]:
    """truststore vs plain OpenSSL with the hashed directory vs with the bundle file."""
    import truststore
    import urllib3

    files = make_trust_files(env, workdir)

    def plain(**where: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(**where)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def via_truststore() -> ssl.SSLContext:
        ctx = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    builders: dict[str, Callable[[], ssl.SSLContext]] = {
        "truststore.SSLContext (re-applies system paths per connection)": via_truststore,
        "OpenSSL + system hashed directory (securl today)":
            lambda: plain(capath=files.hashed_dir or ""),
        "OpenSSL + system bundle file": lambda: plain(cafile=files.bundle),
    }
    if files.hashed_dir is None:
        builders.pop("OpenSSL + system hashed directory (securl today)")
    # truststore on Linux finds the system store through OpenSSL's default paths, which these
    # variables override: point them at the same copies the plain contexts load.
    with environ(SSL_CERT_FILE=files.bundle, SSL_CERT_DIR=files.hashed_dir or files.system_dir):
        names = list(builders)
        build = rounds(names, cfg.ctx_reps, lambda name: 1e6 * time_call(builders[name]))
        pools = {name: urllib3.PoolManager(ssl_context=builders[name]()) for name in names}
        base = env.base_url + "/small"
        close = {"Connection": "close"}
        try:
            for name, pm in pools.items():
                check(pm.request("GET", base, headers=close).data, SMALL, name)

            def measure(name: str) -> Measured:
                pm = pools[name]
                return rate_loop(lambda: pm.request("GET", base, headers=close).data, SMALL,
                                 name, cfg.max_requests, cfg.budget)

            rates, rate_cpu = rounds2(names, cfg.rounds, measure)
        finally:
            for pm in pools.values():
                pm.clear()
    ref = "OpenSSL + system hashed directory (securl today)"
    if ref not in names:
        ref = names[-1]
    build_table = Table(
        "trust_build", "Trust store on Linux: first build of the context", "µs", False,
        [Row(n, build[n]) for n in names],
        f"Building the context once (ratio to {ref}; lower is better). The stores are copies "
        f"of the system's ({files.system_bundle}, {files.system_dir}) plus the benchmark CA.",
        baseline=ref, fmt="{:,.0f}")
    rate_table = Table(
        "trust_rate", "Trust store on Linux: new-connection GETs", "requests/s", True,
        [Row(n, rates[n], rate_cpu[n]) for n in names],
        f"urllib3 PoolManager with each context, `Connection: close` on every GET (ratio to "
        f"{ref}; higher is better).", baseline=ref)
    return build_table, rate_table


# -- audit cost --------------------------------------------------------------------------------

AUDIT_OFF = "audit off (default: securl.audit not enabled for INFO)"
AUDIT_INFO = "securl.audit at INFO, no handlers"
AUDIT_JSON = "JSON file outlet (_audit.configure(log_file=..., format='json'))"


def audit_cost(env: Env, cfg: Config, workdir: str) -> tuple[Table, Table]:
    """securl.Session GET loops with auditing off, logger at INFO, and the JSON file outlet."""
    import securl
    from securl import _audit

    logger = logging.getLogger("securl.audit")
    log_file = os.path.join(workdir, "audit.jsonl")
    initial_handlers, initial_level = list(logger.handlers), logger.level
    configure = getattr(_audit, "configure", None)

    def reset() -> None:
        """Back to how the run found the logger: handlers added by configure() removed."""
        for handler in list(logger.handlers):
            if handler not in initial_handlers:
                logger.removeHandler(handler)
                handler.close()
        if hasattr(_audit, "_configured_handler"):
            _audit._configured_handler = None
        logger.setLevel(initial_level)

    def set_mode(mode: str) -> None:
        reset()
        if mode == AUDIT_INFO:
            logger.setLevel(logging.INFO)
        elif mode == AUDIT_JSON and configure is not None:
            configure(log_file=log_file, format="json")

    modes = [AUDIT_OFF, AUDIT_INFO] + ([AUDIT_JSON] if configure is not None else [])
    session = securl.Session(ca_certs=env.ca_file)
    url = env.base_url + "/small"
    close = {"Connection": "close"}
    tables = []
    try:
        for key, headers, title in (
            ("audit_keepalive", None, "Audit cost: securl.Session keep-alive GETs"),
            ("audit_newconn", close, "Audit cost: securl.Session new-connection GETs"),
        ):
            for mode in modes:
                set_mode(mode)
                check(session.get(url, headers=headers).content, SMALL, mode)

            def measure(mode: str, headers: dict[str, str] | None = headers) -> Measured:
                set_mode(mode)
                try:
                    return rate_loop(lambda: session.get(url, headers=headers).content, SMALL,
                                     mode, cfg.max_requests, cfg.budget)
                finally:
                    reset()

            samples, cpu = rounds2(modes, cfg.rounds, measure)
            tables.append(Table(
                key, title, "requests/s", True, [Row(m, samples[m], cpu[m]) for m in modes],
                "Ratio to auditing off (higher is better; 0.95 = 5% slower). A "
                "`securl.connection` event is emitted per new TLS connection.",
                baseline=AUDIT_OFF))
    finally:
        reset()
        session.close()
    return tables[0], tables[1]


__all__ = ["FACTORIES", "RAW_SOCKET", "Config", "audit_cost", "context_cost", "download",
           "environ", "keepalive", "new_connection", "threads", "trust_store", "urlopen_sequence"]
