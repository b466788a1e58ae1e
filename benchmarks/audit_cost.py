"""What auditing costs: a keep-alive GET loop with securl.Session, audit off vs on.

    PYTHONPATH=src python3 benchmarks/audit_cost.py [--server nginx|python] [--rounds 9]
        [--requests 300] [--write benchmarks/AUDIT_RESULTS.md]

Modes, run in interleaved rounds (every round runs every mode once, in a rotating order, so
drift in machine load hits all modes alike); medians over rounds, ratios against "disabled":

* ``disabled``: auditing disabled, defined as ``logging.getLogger("securl.audit").disabled =
  True`` and no hooks added. (``sys.audit`` is still called: it cannot be turned off, and
  with no PEP 578 hook installed it returns at once.)
* ``control``: the very same as ``disabled``, measured as if it were another mode: its ratio
  (ideally 1.00) shows how much of a difference this machine's noise alone produces.
* ``info``: the ``securl.audit`` logger at INFO with no handlers anywhere (records are built
  and dropped: the cost of an application that set the level but logs nowhere).
* ``json``: ``securl.audit.configure(log_file=..., format="json")``: every event is
  formatted and written to a file.

Scenarios: ``keep-alive`` (one connection serves every request: securl emits no event per
request, so the target is a ratio of ~1.00) and ``new-connection`` (``Connection: close``:
every request does a full TLS handshake and emits one ``securl.connection`` event: the
worst case for event volume). A third figure is the cost of one emit() call per mode.

The server runs in its own process (nginx when installed, else a stdlib TLS server in a
child process), so it never competes with the client for the GIL.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import trustme

import securl
import securl.audit
from securl import _audit

MODES = ("disabled", "control", "info", "json")
BODY = b"x" * 100


# -- servers ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_nginx(workdir: str, cert: str, key: str, port: int) -> subprocess.Popen[bytes]:
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
daemon off; master_process off; worker_processes 1;
error_log {workdir}/error.log; pid {workdir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {workdir}; proxy_temp_path {workdir}; fastcgi_temp_path {workdir};
  uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{ return 200 "{BODY.decode()}"; }}
  }}
}}
""")
    return subprocess.Popen(["nginx", "-c", conf, "-p", workdir])


def _python_server(cert: str, key: str, port: int) -> None:
    import http.server

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: Any) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


# -- modes -----------------------------------------------------------------------------------

def set_mode(mode: str, log_file: str) -> None:
    logger = logging.getLogger("securl.audit")
    _audit._set_slot("application", None)
    logger.disabled = mode in ("disabled", "control")
    logger.setLevel(logging.INFO if mode in ("info", "json") else logging.NOTSET)
    if mode == "json":
        securl.audit.configure(log_file=log_file, format="json")


def timed(fn: Callable[[], None], n: int) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) per call of ``fn``, over ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def count_lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def run(args: argparse.Namespace) -> str:
    load_start = os.getloadavg()[0]
    workdir = tempfile.mkdtemp(prefix="securl-audit-bench-")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = (os.path.join(workdir, n) for n in ("cert.pem", "key.pem", "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    ca.cert_pem.write_to_path(ca_file)
    port = free_port()
    use_nginx = args.server == "nginx" or (args.server == "auto" and shutil.which("nginx"))
    proc: Any
    if use_nginx:
        proc = start_nginx(workdir, cert, key, port)
        server_name = "nginx " + subprocess.run(
            ["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    else:
        proc = multiprocessing.Process(target=_python_server, args=(cert, key, port),
                                       daemon=True)
        proc.start()
        server_name = "stdlib ThreadingHTTPServer (child process)"
    log_file = os.path.join(workdir, "audit.jsonl")
    url = f"https://localhost:{port}/"
    scenarios = ("keep-alive", "new-connection", "emit")
    results: dict[str, dict[str, list[tuple[float, float]]]] = {
        s: {m: [] for m in MODES} for s in scenarios}
    json_lines = dict.fromkeys(scenarios, 0)
    calls = dict.fromkeys(scenarios, 0)
    try:
        wait_for(port)
        keep = securl.Session(ca_certs=ca_file)
        close = securl.Session(ca_certs=ca_file, headers={"Connection": "close"})

        def get_keep() -> None:
            if keep.get(url).content != BODY:
                raise SystemExit("wrong body")

        def get_close() -> None:
            if close.get(url).content != BODY:
                raise SystemExit("wrong body")

        def one_emit() -> None:
            _audit.emit("connection", host="localhost", port=port, verified=True,
                        tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                        subject="O=x", issuer="O=y", not_after="Jan  1 00:00:00 3000 GMT",
                        spki_sha256="sha256/" + "A" * 43 + "=", trust_source="ca_certs")

        for fn, n in ((get_keep, 50), (get_close, 5), (one_emit, 100)):  # warm up
            timed(fn, n)
        plan = (("keep-alive", get_keep, args.requests),
                ("new-connection", get_close, max(10, args.requests // 10)),
                ("emit", one_emit, 2000))
        for r in range(args.rounds):
            order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
            for mode in order:
                set_mode(mode, log_file)
                for scenario, fn, n in plan:
                    before = count_lines(log_file)
                    results[scenario][mode].append(timed(fn, n))
                    if mode == "json":
                        json_lines[scenario] += count_lines(log_file) - before
                        calls[scenario] += n
        set_mode("disabled", log_file)
        keep.close()
        close.close()
        per_call = {s: json_lines[s] / calls[s] for s in scenarios}
    finally:
        if use_nginx:
            proc.terminate()
            proc.wait(10)
        else:
            proc.terminate()
            proc.join(10)
        shutil.rmtree(workdir, ignore_errors=True)
        logging.getLogger("securl.audit").disabled = False
    return report(results, args, server_name, per_call, (load_start, os.getloadavg()[0]))


def report(results: dict[str, dict[str, list[tuple[float, float]]]],
           args: argparse.Namespace, server: str, per_call: dict[str, float],
           load: tuple[float, float]) -> str:
    out = [
        "# Audit cost (benchmarks/audit_cost.py)",
        "",
        f"Python {sys.version.split()[0]}, securl {securl.__version__}, server: {server}, "
        f"{os.cpu_count()} CPUs shared with other work, {args.rounds} interleaved rounds; per "
        f"round and mode: keep-alive {args.requests} GETs, new-connection "
        f"{max(10, args.requests // 10)} GETs, emit 2000 calls. Load average (1 min) at "
        f"start and end: {load[0]:.1f}, {load[1]:.1f}.",
        "",
        "Modes: `disabled` = `logging.getLogger(\"securl.audit\").disabled = True` and no "
        "hooks; `control` = the same as `disabled` again (an A/A control: its ratio is the "
        "noise floor); `info` = that logger at INFO, no handlers anywhere; `json` = "
        "`securl.audit.configure(log_file=..., format=\"json\")`.",
        "",
        "*wall* and *CPU* are medians over rounds of the time per call (CPU = this client "
        "process only; the server is another process). *ratio* is the median over rounds of "
        "(mode / disabled in the same round), for wall and CPU time; *spread* is the range of "
        "the per-round wall ratios. *events/call* is counted from the JSON file. *derived* "
        "is 1 + events/call x (CPU of one emit() in this mode - in disabled mode) / wall "
        "time per call with auditing disabled: the cost auditing adds, computed from the "
        "quiet emit() micro-benchmark instead of the noisy end-to-end difference.",
        "",
        "| scenario | mode | events/call | wall | CPU | ratio wall | ratio CPU | derived "
        "| spread |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    emit_cpu = {m: statistics.median(c for _, c in results["emit"][m]) for m in MODES}
    for scenario, by_mode in results.items():
        base = by_mode["disabled"]
        for mode in MODES:
            rows = by_mode[mode]
            wall = statistics.median(w for w, _ in rows)
            cpu = statistics.median(c for _, c in rows)
            r_wall = [m[0] / d[0] for m, d in zip(rows, base, strict=True)]
            r_cpu = [m[1] / d[1] for m, d in zip(rows, base, strict=True) if d[1] > 0]
            scale, unit = (1e6, "µs") if scenario == "emit" else (1e3, "ms")
            base_wall = statistics.median(w for w, _ in base)
            added = per_call[scenario] * (emit_cpu[mode] - emit_cpu["disabled"]) / base_wall
            derived = "-" if scenario == "emit" else f"{1 + added:.3f}"
            out.append(
                f"| {scenario} | {mode} | {per_call[scenario]:.2f} | "
                f"{wall * scale:.3f} {unit} | {cpu * scale:.3f} {unit} | "
                f"{statistics.median(r_wall):.3f} | "
                f"{statistics.median(r_cpu) if r_cpu else float('nan'):.3f} | {derived} | "
                f"{min(r_wall):.2f}-{max(r_wall):.2f} |")
    out += ["", "## Reading", ""]
    ka = results["keep-alive"]
    control_rounds = [m[0] / d[0] for m, d in zip(ka["control"], ka["disabled"], strict=True)]
    control = statistics.median(control_rounds)
    for mode, target in (("info", 1.05), ("json", 1.15)):
        added = per_call["keep-alive"] * (emit_cpu[mode] - emit_cpu["disabled"])
        wall = statistics.median(m[0] / d[0] for m, d in zip(ka[mode], ka["disabled"],
                                                               strict=True))
        derived = 1 + added / statistics.median(w for w, _ in ka["disabled"])
        verdict = "meets" if derived < target else "MISSES"
        out.append(
            f"* keep-alive, `{mode}` (target < {target:.2f}): {per_call['keep-alive']:.4f} "
            f"events per request, so auditing adds {added * 1e6:.2f} µs of work per request: "
            f"derived ratio {derived:.3f}, {verdict} the target. End-to-end median ratio "
            f"{wall:.3f}; the A/A control (identical code) measured {control:.3f} with "
            f"per-round ratios from {min(control_rounds):.2f} to {max(control_rounds):.2f}: "
            "end-to-end differences of that size are this machine's noise, not auditing.")
    nc = per_call["new-connection"]
    nc_wall = statistics.median(w for w, _ in results["new-connection"]["disabled"])
    out.append(
        f"* Worst case, a new TLS connection per request ({nc:.2f} events per request): one "
        f"event costs {(emit_cpu['json'] - emit_cpu['disabled']) * 1e6:.1f} µs more with the "
        f"JSON file than with auditing disabled, against {nc_wall * 1e3:.2f} ms for the request"
        f" and its handshake ({(emit_cpu['json'] - emit_cpu['disabled']) * nc / nc_wall:.1%}).")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--write", metavar="FILE", help="also write the Markdown table here")
    args = parser.parse_args()
    text = run(args)
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
