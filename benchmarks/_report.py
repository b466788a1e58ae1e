"""RESULTS.md: machine, versions, the targets, and one table per scenario."""

from __future__ import annotations

import math
import os
import platform
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from _clients import BASELINE
from _measure import Table
from _scenarios import AUDIT_INFO, AUDIT_JSON, AUDIT_OFF

HERE = os.path.dirname(os.path.abspath(__file__))
#: securl with TLS session resumption asked for (the default only on some Pythons).
RESUMING = "securl.Session(tls_session_cache=True)"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--", "../src"],
                               capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "load average (1/5/15 min)": " / ".join(f"{x:.2f}" for x in load),
    }


def versions(nginx_version: str) -> dict[str, str]:
    import securl

    return {
        "securl": f"{securl.__version__} (commit {_git_commit()})",
        "Python": platform.python_version() + f" ({platform.python_implementation()})",
        "OpenSSL (Python's)": ssl.OPENSSL_VERSION,
        "urllib3": _version("urllib3"),
        "requests": _version("requests"),
        "httpx": _version("httpx"),
        "truststore": _version("truststore"),
        "certifi": _version("certifi"),
        "nginx": nginx_version,
    }


@dataclass
class Target:
    text: str
    value: Callable[[dict[str, Table]], float | None]
    ok: Callable[[float], bool]
    shown: str  # format of the measured value


def _ratio(key: str, name: str,
           base: str | None = None) -> Callable[[dict[str, Table]], float | None]:
    def get(tables: dict[str, Table]) -> float | None:
        table = tables.get(key)
        return table.ratio(name, base) if table else None
    return get


def _median(key: str, name: str) -> Callable[[dict[str, Table]], float | None]:
    def get(tables: dict[str, Table]) -> float | None:
        table = tables.get(key)
        return table.median(name) if table else None
    return get


TARGETS = [
    Target("securl.Session keep-alive >= 0.95x raw urllib3",
           _ratio("keepalive", "securl.Session"), lambda v: v >= 0.95, "{:.2f}x"),
    Target("securl.Session keep-alive >= 1.5x requests",
           _ratio("keepalive", "securl.Session", "requests.Session"), lambda v: v >= 1.5,
           "{:.2f}x"),
    Target("securl.Session keep-alive >= 1.5x httpx",
           _ratio("keepalive", "securl.Session", "httpx.Client"), lambda v: v >= 1.5, "{:.2f}x"),
    Target("securl urlopen >= 5x stdlib urlopen (100 sequential GETs, one host)",
           _ratio("urlopen", "securl.urllib.request.urlopen", "urllib.request.urlopen (stdlib)"),
           lambda v: v >= 5, "{:.2f}x"),
    Target("securl.Session new-connection GETs >= 0.95x raw urllib3",
           _ratio("newconn", "securl.Session"), lambda v: v >= 0.95, "{:.2f}x"),
    Target("(supplementary) the same, against raw urllib3 given securl's timeouts",
           _ratio("newconn", "securl.Session", "urllib3.PoolManager (raw) + securl's timeouts"),
           lambda v: v >= 0.95, "{:.2f}x"),
    Target("cached context lookup < 5 µs",
           _median("context", "securl create_context() cached lookup"), lambda v: v < 5,
           "{:.2f} µs"),
    Target("import securl <= 1.3x import urllib3",
           _ratio("import", "import securl"), lambda v: v <= 1.3, "{:.2f}x"),
    Target("peak RSS securl.Session <= 1.1x raw urllib3",
           _ratio("rss", "securl.Session"), lambda v: v <= 1.1, "{:.2f}x"),
    Target("peak RSS securl urlopen <= 1.1x raw urllib3",
           _ratio("rss", "securl.urllib.request.urlopen"), lambda v: v <= 1.1, "{:.2f}x"),
    Target("audit at INFO, no handlers: < 5% slower (keep-alive loop)",
           _ratio("audit_keepalive", AUDIT_INFO, AUDIT_OFF), lambda v: v > 0.95, "{:.3f}x"),
    Target("audit JSON file outlet: < 15% slower (keep-alive loop)",
           _ratio("audit_keepalive", AUDIT_JSON, AUDIT_OFF), lambda v: v > 0.85, "{:.3f}x"),
    # The second round: the drop-in with context=, TLS session resumption, the hot path and
    # the footprint.
    Target("urlopen(context=) keep-alive >= 0.9x raw urllib3",
           _ratio("keepalive", "securl.urllib.request.urlopen(context=)"), lambda v: v >= 0.9,
           "{:.2f}x"),
    Target("urlopen keep-alive (no context=) >= 0.95x raw urllib3",
           _ratio("keepalive", "securl.urllib.request.urlopen"), lambda v: v >= 0.95,
           "{:.2f}x"),
    Target("new-connection GETs with TLS session resumption >= 1.2x raw urllib3",
           _ratio("newconn", RESUMING), lambda v: v >= 1.2, "{:.2f}x"),
    Target("securl.Session keep-alive >= 1.3x raw urllib3",
           _ratio("keepalive", "securl.Session"), lambda v: v >= 1.3, "{:.2f}x"),
    Target("4 threads sharing one securl.Session >= 1.2x raw urllib3",
           _ratio("threads", "securl.Session"), lambda v: v >= 1.2, "{:.2f}x"),
    Target("peak RSS securl.Session <= 1.0x raw urllib3",
           _ratio("rss", "securl.Session"), lambda v: v <= 1.0, "{:.2f}x"),
    Target("import securl.urllib.request <= 1.0x import urllib3",
           _ratio("import", "import securl.urllib.request"), lambda v: v <= 1.0, "{:.2f}x"),
]

#: The second round's starting point: (scenario, figure before it, this run's figure).
#: "Before" is what the round started from (measured side by side on this machine).
BEFORE = [
    ("keep-alive GETs, securl.Session (wall ratio to raw urllib3)", "1.04-1.08x",
     _ratio("keepalive", "securl.Session")),
    ("keep-alive GETs, urlopen(url, context=ctx)", "0.52x",
     _ratio("keepalive", "securl.urllib.request.urlopen(context=)")),
    ("keep-alive GETs, urlopen(url)", "0.98x",
     _ratio("keepalive", "securl.urllib.request.urlopen")),
    ("new connection per request, securl.Session (default)", "0.97-1.01x",
     _ratio("newconn", "securl.Session")),
    ("new connection per request, with TLS session resumption", "(none)",
     _ratio("newconn", RESUMING)),
    ("4 threads sharing one securl.Session", "1.00-1.09x", _ratio("threads", "securl.Session")),
    ("peak RSS after 1,000 GETs, securl.Session", "1.04-1.06x", _ratio("rss", "securl.Session")),
    ("import securl.urllib.request (ratio to import urllib3)", "1.36-1.65x",
     _ratio("import", "import securl.urllib.request")),
    ("import securl (ratio to import urllib3)", "0.74-0.89x", _ratio("import", "import securl")),
]


def before_table(tables: dict[str, Table]) -> list[str]:
    lines = ["| scenario | before the second round | this run |", "|---|---|---|"]
    for what, before, now in BEFORE:
        value = now(tables)
        lines.append(f"| {what} | {before} | {'n/a' if value is None else f'{value:.2f}x'} |")
    return lines


def targets_table(tables: dict[str, Table]) -> tuple[list[str], int]:
    lines = ["| target | measured | result |", "|---|---|---|"]
    missed = 0
    for t in TARGETS:
        value = t.value(tables)
        if value is None:
            lines.append(f"| {t.text} | n/a | not measured in this build |")
            continue
        ok = t.ok(value)
        missed += not ok
        lines.append(f"| {t.text} | {t.shown.format(value)} | {'met' if ok else '**missed**'} |")
    return lines, missed


def render_table(table: Table) -> list[str]:
    direction = "higher is better" if table.higher_is_better else "lower is better"
    base_label = "urllib3" if table.baseline == BASELINE else "baseline"
    has_cpu = any(row.cpu for row in table.rows)
    cpu_head = f" CPU ({table.cpu_unit}) | CPU ratio |" if has_cpu else ""
    lines = [f"### {table.title}", "", table.description, "",
             f"| client | median ({table.unit}) | ratio to {base_label} | rounds | min – max |"
             + cpu_head,
             "|---|---:|---:|---:|---|" + ("---:|---:|" if has_cpu else "")]
    for row in table.rows:
        name = f"**{row.name}**" if row.name == table.baseline else row.name
        if not row.available or row.median is None:
            lines.append(f"| {name} | {row.note or 'n/a'} | – | – | – |"
                         + (" – | – |" if has_cpu else ""))
            continue
        ratio = table.ratio(row.name)
        r = f"{ratio:.2f}x" if ratio is not None else "–"
        spread = f"{table.fmt.format(min(row.samples))} – {table.fmt.format(max(row.samples))}"
        note = f" ({row.note})" if row.note else ""
        cpu_cells = ""
        if has_cpu:
            cpu, cr = row.cpu_median, table.cpu_ratio(row.name)
            cpu_cells = (f" {cpu:,.1f} |" if cpu is not None else " – |") + (
                f" {cr:.2f}x |" if cr is not None else " – |")
        lines.append(f"| {name}{note} | {table.fmt.format(row.median)} | {r} | "
                     f"{len(row.samples)} | {spread} |" + cpu_cells)
    cpu_note = ("; CPU: this process's CPU time per operation (lower is better), which the "
                "neighbours' load moves far less than wall time") if has_cpu else ""
    lines.append(f"\n*{direction}; baseline: {table.baseline}{cpu_note}*\n")
    return lines


def render(tables: list[Table], *, date: str, mode: str, mode_detail: str,
           machine_start: dict[str, str], machine_end: dict[str, str],
           version_info: dict[str, str], elapsed: float, notes_file: str | None) -> str:
    by_key = {t.key: t for t in tables}
    out = ["# securl benchmark results", "",
           f"Generated by `python benchmarks/run.py{'' if mode == 'full' else ' --' + mode}` "
           f"on {date}, in {elapsed:.0f} s. Mode: **{mode}** ({mode_detail}).", "",
           "Every figure is the median of interleaved rounds (clients measured A, B, C, ... "
           "with the order rotated every round) against a real nginx with TLS on 127.0.0.1. "
           "Ratios are to raw urllib3 (a `urllib3.PoolManager` given the same securl "
           "context) from the same run unless a table says otherwise; a ratio is the median "
           "of the per-round ratios (each client against the baseline of the same round, "
           "which cancels slow swings of load), so it can differ slightly from the quotient "
           "of the two medians.", "",
           "## Machine", ""]
    for k, v in machine_start.items():
        if k.startswith("load"):
            v = f"{v} at start, {machine_end.get(k, '?')} at end"
        out.append(f"- {k}: {v}")
    out += ["", "## Versions", "", "| component | version |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in version_info.items()]
    lines, missed = targets_table(by_key)
    out += ["", "## Targets", "", *lines, "",
            f"{missed} target(s) missed in this run." if missed else "Every measured target met.",
            "", "## Before and after the second round", "",
            "Ratios to raw urllib3 (higher is faster; for RSS and imports lower is better). "
            "The before figures are the ranges measured when the round began, in side-by-side "
            "runs on this machine; the resumption row had no counterpart then.", "",
            *before_table(by_key), "", "## Results", ""]
    for table in tables:
        out += render_table(table)
    if notes_file and os.path.exists(notes_file):
        with open(notes_file, encoding="utf-8") as f:
            out += ["", f.read().rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"


__all__ = ["machine_info", "render", "versions"]
