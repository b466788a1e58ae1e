"""Measurements that need a fresh interpreter: import time, install() cost, peak RSS."""

from __future__ import annotations

import math
import os
import subprocess
import sys

from _clients import BASELINE, CLIENTS, Env
from _measure import Row, Table, rounds, rounds2
from _scenarios import Config

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "_child.py")


_PYCACHE: list[str] = []


def use_bytecode_cache(directory: str, env: Env) -> None:
    """Give the children a bytecode cache, as an installed package has.

    Without one (PYTHONDONTWRITEBYTECODE=1, or a source checkout never imported before) every
    import compiles securl from source, which is what the import-time figure would then
    measure, while urllib3, requests and httpx load the .pyc files pip wrote. The cache lives
    in ``directory`` (PYTHONPYCACHEPREFIX) so nothing is written into the checkout; a warm-up
    child fills it before anything is measured.
    """
    _PYCACHE[:] = [directory]
    _child("warm", env.base_url, env.ca_file)


def _child(*args: str, timeout: float = 120) -> str:
    env = dict(os.environ)
    if _PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE[0]
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, CHILD, *args], capture_output=True, text=True,
                         timeout=timeout, cwd=HERE, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    return out.stdout.strip()


def import_time(cfg: Config) -> Table:
    """Median import time (ms) of each module in fresh interpreters, interleaved."""
    modules = list(cfg.imports)
    missing: set[str] = set()

    def measure(module: str) -> tuple[float, float]:
        out = _child("import", module)
        if out == "n/a":
            missing.add(module)
            return math.nan, math.nan
        wall, cpu = map(float, out.split())
        return 1e3 * wall, 1e3 * cpu

    samples, cpu = rounds2(modules, cfg.import_reps, measure)
    rows = [Row(f"import {m}", note="n/a (not installed)", available=False) if m in missing
            else Row(f"import {m}", samples[m], cpu[m]) for m in modules]
    # install(): import securl + securl.install(), interleaved with the imports above would
    # double the cost of this step; it is measured in its own fresh interpreters.
    first = _child("install")
    if first == "n/a":
        rows.append(Row("import securl + securl.install()", available=False,
                        note="n/a (not available in this build)"))
        rows.append(Row("securl.install() alone", available=False,
                        note="n/a (not available in this build)"))
    else:
        totals: list[float] = []
        alone: list[float] = []
        for _ in range(cfg.import_reps):
            total, inst = map(float, _child("install").split())
            totals.append(1e3 * total)
            alone.append(1e3 * inst)
        rows.append(Row("import securl + securl.install()", totals))
        rows.append(Row("securl.install() alone", alone))
    return Table("import", "Import and start-up time (fresh interpreters)", "ms", False, rows,
                 "Wall time inside a fresh interpreter, interpreter start-up excluded (lower "
                 "is better; ratio to `import urllib3`). Every interpreter loads bytecode from "
                 "a cache filled beforehand, as an installed package does.",
                 baseline="import urllib3", fmt="{:,.1f}", cpu_unit="ms")


def peak_rss(env: Env, cfg: Config) -> Table:
    """Peak RSS (MiB) of a fresh interpreter after N GETs with each client."""
    names = [n for n, _ in CLIENTS if cfg.rss_clients is None or n in cfg.rss_clients]
    notes: dict[str, str] = {}

    def measure(name: str) -> float:
        out = _child("rss", name, env.base_url, env.ca_file, str(cfg.rss_gets), timeout=300)
        if out.startswith("n/a"):
            notes[name] = out
            return float("nan")
        return int(out) / 1024

    samples = rounds(names, cfg.rss_reps, measure)
    rows = []
    for name in names:
        if name in notes:
            rows.append(Row(name, note=notes[name], available=False))
        else:
            rows.append(Row(name, samples[name]))
    return Table("rss", f"Peak RSS after {cfg.rss_gets:,} GETs (fresh interpreter per client)",
                 "MiB", False, rows,
                 "Peak resident memory of the child at the end of its run: `VmHWM` from "
                 "/proc/self/status (`getrusage(RUSAGE_SELF).ru_maxrss` would report the "
                 "harness's own peak, inherited across fork and exec on Linux). Lower is "
                 "better.", baseline=BASELINE, fmt="{:,.1f}")
