"""Keeps benchmarks/ from rotting: a bounded smoke run, and the harness's server rules.

No timing is asserted here (benchmarks are not tests); only that the harness runs every
scenario, reports figures, binds nothing but 127.0.0.1 and leaves no nginx behind.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_benchmark_smoke_run_reports_every_scenario_and_leaves_no_nginx(
        tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--smoke", "--output", str(report)],
        capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"nginx pid (\d+) on https://127\.0\.0\.1:\d+", done.stdout)
    assert match, done.stdout
    assert not _alive(int(match.group(1)))
    text = report.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Versions", "## Targets",
                    "Sequential keep-alive GETs", "New-connection GETs", "1 MiB downloads",
                    "4 threads sharing one client", "sequential GETs to one host",
                    "Context cost", "Trust store on Linux", "Audit cost",
                    "Import and start-up time", "Peak RSS"):
        assert heading in text, heading
    # A figure and a ratio for securl and the physical-limit reference.
    assert re.search(r"^\| securl\.Session \| [\d,.]+ \| [\d.]+x \|", text, re.M)
    assert re.search(r"^\| raw TLS socket \(reference\) \| [\d,.]+ \| [\d.]+x \|", text, re.M)


def test_benchmark_nginx_listens_on_127_0_0_1_only_and_stops_by_pid() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from _server import Nginx
    finally:
        sys.path.remove(str(BENCH))
    with Nginx() as server:
        pid = server.pid
        assert pid is not None and _alive(pid)
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        # Another loopback address: refused unless nginx had bound a wildcard address.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", server.port), timeout=5).close()
    assert not _alive(pid)
    assert not os.path.exists(server.dir)
