"""Start-up cost of ``securl.install()`` from sitecustomize: ``python -c pass`` with and without.

Usage: ``python benchmarks/startup.py [--runs 20] [--write]``

Three interpreters, each started ``--runs`` times (interleaved, after warm-up runs) with its
own ``sitecustomize.py`` first on PYTHONPATH and an empty policy file:

* ``baseline``: an empty sitecustomize.py (what an interpreter costs anyway);
* ``import securl``: a sitecustomize that only imports securl (the guard, warn mode);
* ``install()``: the hook ``securl admin install-sitecustomize`` writes.

It prints the medians and, with ``--write``, replaces the section "Start-up cost of install()"
in benchmarks/RESULTS.md (creating the file if needed). It also measures, inside one child,
how the hook's time splits between ``import securl`` and the ``install()`` call.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Start-up cost of install()"

VARIANTS = {
    "baseline": "",
    "import securl": "import securl\n",
    "install()": None,  # the real hook text, from securl._admin.hook_block()
}

SPLIT = """
import time
t0 = time.perf_counter()
import securl
t1 = time.perf_counter()
securl.install()
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.3f} {(t2 - t1) * 1000:.3f}")
"""


def _env(site: pathlib.Path, policy: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(site), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["SECURL_POLICY"] = str(policy)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONWARNINGS"):
        env.pop(name, None)
    return env


def _once(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True, timeout=60)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, list[float]]:
    sys.path.insert(0, str(ROOT / "src"))
    from securl._admin import hook_block

    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(tmp)
        policy = base / "policy.toml"
        policy.write_text("")
        envs = {}
        for name, text in VARIANTS.items():
            site = base / re.sub(r"\W+", "_", name)
            site.mkdir()
            (site / "sitecustomize.py").write_text(hook_block() if text is None else text)
            envs[name] = _env(site, policy)
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(3):  # warm the page cache and .pyc files
            for env in envs.values():
                _once(env)
        for _ in range(runs):
            for name, env in envs.items():
                times[name].append(_once(env))
        split = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", SPLIT], env=envs["baseline"], capture_output=True,
                text=True, check=True, timeout=60,
            ).stdout.split()
            split.append((float(out[0]), float(out[1])))
        times["_import_ms"] = [s[0] for s in split]
        times["_install_ms"] = [s[1] for s in split]
        return times


def report(times: dict[str, list[float]], runs: int) -> str:
    base = statistics.median(times["baseline"]) * 1000
    lines = [
        HEADING,
        "",
        f"`python -c pass`, median of {runs} runs each (interleaved, after 3 warm-up rounds), "
        f"measured by `benchmarks/startup.py` on {datetime.date.today().isoformat()}: "
        f"Python {platform.python_version()} ({sys.executable}), {platform.platform()}.",
        "",
        "| sitecustomize.py | median (ms) | min (ms) | added to start-up (ms) |",
        "|---|---:|---:|---:|",
    ]
    for name in VARIANTS:
        med = statistics.median(times[name]) * 1000
        low = min(times[name]) * 1000
        added = "-" if name == "baseline" else f"{med - base:+.1f}"
        lines.append(f"| {name if name != 'baseline' else 'empty (baseline)'} | {med:.1f} "
                     f"| {low:.1f} | {added} |")
    imp = statistics.median(times["_import_ms"])
    ins = statistics.median(times["_install_ms"])
    lines += [
        "",
        f"Inside the hook (median of {runs}): `import securl` {imp:.1f} ms, the `install()` call "
        f"itself {ins:.2f} ms. install() builds no context and reads only the policy file; "
        "the first HTTPS connection builds one fresh context per connection (see docs/admin.md).",
        "",
    ]
    return "\n".join(lines)


def write(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text.rstrip("\n") + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    section = report(measure(args.runs), args.runs)
    print(section)
    if args.write:
        write(section)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
