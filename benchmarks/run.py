"""securl benchmarks: securl against raw urllib3, requests, httpx and stdlib urllib, in one run.

    python benchmarks/run.py            full run (a few minutes), writes benchmarks/RESULTS.md
    python benchmarks/run.py --quick    under a minute, prints the report
    python benchmarks/run.py --smoke    a few iterations each, to check the harness works

Starts a real nginx with TLS on 127.0.0.1 (stopped by PID at exit, whatever happens), runs
every scenario with the clients interleaved in rounds, and reports medians and ratios to raw
urllib3 from the same run. The securl measured is the one in this checkout's ``src/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, HERE)
if os.path.isdir(os.path.join(SRC, "securl")):
    # Measure this checkout, in this process and in every child interpreter.
    sys.path.insert(0, SRC)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (SRC, os.environ.get("PYTHONPATH")) if p)

import _probes  # noqa: E402
import _report  # noqa: E402
import _scenarios as sc  # noqa: E402
from _clients import Env  # noqa: E402
from _measure import Table  # noqa: E402
from _server import Nginx, NginxMissing  # noqa: E402

MODES = {
    "smoke": sc.Config("smoke", rounds=1, budget=0.05, max_requests=20, max_downloads=2,
                       threads=4, max_per_thread=5, urlopen_n=10, ctx_reps=3,
                       lookup_loops=2000, import_reps=1, rss_gets=20,
                       rss_clients=("securl.Session", "urllib3.PoolManager (raw)"), rss_reps=1,
                       imports=("urllib3", "securl")),
    "quick": sc.Config("quick", rounds=5, budget=0.15, max_requests=5000, max_downloads=200,
                       threads=4, max_per_thread=5000, urlopen_n=100, ctx_reps=9,
                       lookup_loops=20000, import_reps=5, rss_gets=300, rss_clients=None,
                       rss_reps=1),
    "full": sc.Config("full", rounds=15, budget=0.25, max_requests=100000, max_downloads=2000,
                      threads=4, max_per_thread=100000, urlopen_n=100, ctx_reps=25,
                      lookup_loops=100000, import_reps=15, rss_gets=1000, rss_clients=None,
                      rss_reps=3),
}
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy",
              "all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "SSL_CERT_DIR", "SECURL_POLICY")


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop nginx


def _detail(cfg: sc.Config) -> str:
    return (f"{cfg.rounds} rounds of up to {cfg.budget:g} s per client per scenario; "
            f"imports x{cfg.import_reps}; peak RSS after {cfg.rss_gets} GETs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="under a minute")
    group.add_argument("--smoke", action="store_true", help="a few iterations, harness check")
    parser.add_argument("--output", help="write the Markdown report here (full run default: "
                        "benchmarks/RESULTS.md; otherwise printed)")
    parser.add_argument("--json", help="also write every sample as JSON here")
    parser.add_argument("--only", help="comma-separated scenario keys to run (for profiling)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = MODES[mode]
    output = args.output or (os.path.join(HERE, "RESULTS.md") if mode == "full" else None)

    for name in PROXY_VARS:  # talk to 127.0.0.1 directly, with only the benchmark CA
        os.environ.pop(name, None)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine_start = _report.machine_info()

    try:
        server = Nginx()
    except NginxMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tables: list[Table] = []
    try:
        server.start()
        print(f"nginx pid {server.pid} on {server.base_url}", flush=True)
        assert server.certs is not None
        env = Env(server.base_url, "127.0.0.1", server.port, server.certs.ca_file)
        # The two urlopen functions are called without a context, as applications call them:
        # they find the benchmark CA here (see _clients.py).
        os.environ["SSL_CERT_FILE"] = env.ca_file
        workdir = tempfile.mkdtemp(prefix="work-", dir=server.dir)
        steps: list[tuple[str, Callable[[], Table | tuple[Table, ...]]]] = [
            ("keepalive", lambda: sc.keepalive(env, cfg)),
            ("newconn", lambda: sc.new_connection(env, cfg)),
            ("download", lambda: sc.download(env, cfg)),
            ("threads", lambda: sc.threads(env, cfg)),
            ("urlopen", lambda: sc.urlopen_sequence(env, cfg)),
            ("context", lambda: sc.context_cost(env, cfg)),
            ("trust", lambda: sc.trust_store(env, cfg, workdir)),
            ("audit", lambda: sc.audit_cost(env, cfg, workdir)),
            ("import", lambda: _probes.import_time(cfg)),
            ("rss", lambda: _probes.peak_rss(env, cfg)),
        ]
        only = set(args.only.split(",")) if args.only else None
        # (--smoke checks the harness, not the figures: it skips filling the bytecode cache)
        if mode != "smoke" and (only is None or only & {"import", "rss"}):
            t0 = time.monotonic()
            _probes.use_bytecode_cache(os.path.join(workdir, "pycache"), env)
            print(f"  {'warm-up':10s} {time.monotonic() - t0:5.1f} s", flush=True)
        for key, step in steps:
            if only is not None and key not in only:
                continue
            t0 = time.monotonic()
            result = step()
            produced = result if isinstance(result, tuple) else (result,)
            tables.extend(produced)
            if produced:
                print(f"  {key:10s} {time.monotonic() - t0:5.1f} s", flush=True)
        nginx_version = server.version()
    except KeyboardInterrupt:
        print("interrupted; nginx stopped", file=sys.stderr)
        return 130
    finally:
        server.stop()

    report = _report.render(
        tables, date=date, mode=mode, mode_detail=_detail(cfg), machine_start=machine_start,
        machine_end=_report.machine_info(), version_info=_report.versions(nginx_version),
        elapsed=time.monotonic() - started,
        notes_file=os.path.join(HERE, "NOTES.md") if mode == "full" else None,
    )
    if output:
        report += _kept_startup_section(output)
        with open(output, "w", encoding="utf-8") as f:
            f.write(report)
        print(f"wrote {output}")
    else:
        print(report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([asdict(t) for t in tables], f, indent=1)
    return 0


def _kept_startup_section(path: str) -> str:
    """The "Start-up cost of install()" section benchmarks/startup.py wrote, kept on rewrite."""
    heading = "## Start-up cost of install()"
    try:
        with open(path, encoding="utf-8") as f:
            old = f.read()
    except OSError:
        return ""
    start = old.find(heading)
    if start < 0:
        return ""
    end = old.find("\n## ", start + len(heading))
    return "\n" + (old[start:] if end < 0 else old[start:end + 1])


if __name__ == "__main__":
    sys.exit(main())
