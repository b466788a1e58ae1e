"""Start-up cost of ``securl.install()`` from sitecustomize: ``python -c pass`` with and without.

Usage: ``python benchmarks/startup.py [--runs 20] [--write]``

Each case starts a fresh interpreter ``--runs`` times (cases interleaved, after warm-up
rounds) with its own ``sitecustomize.py`` first on PYTHONPATH and an empty policy file:

* ``-c pass`` with an empty sitecustomize.py (the baseline), with the hook
  ``securl admin install-sitecustomize`` writes (it arms install() for the first
  ``import ssl``), and with an eager hook (``import securl; securl.install()``);
* ``-c "import ssl"`` with an empty sitecustomize.py and with the hook: what a process that
  imports ssl but makes no connection pays (the hook puts its stand-ins on ssl; securl is
  not imported);
* ``-c "import ssl; ssl.create_default_context()"``: the first TLS use, where the hook
  imports securl and runs ``install()``.

It prints the medians and, with ``--write``, replaces the section "Start-up cost of install()"
in benchmarks/RESULTS.md (creating the file if needed). It also measures, inside one child,
how an eager install splits between ``import securl`` and the ``install()`` call.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Start-up cost of install()"

HOOK = None  # the real hook text, from securl.cli.admin.hook_block()
EAGER = "import securl\nsecurl.install()\n"
FIRST_USE = "import ssl; ssl.create_default_context()"
#: (label, sitecustomize text, -c code)
CASES = [
    ("`-c pass`, empty sitecustomize (baseline)", "", "pass"),
    ("`-c pass`, securl hook (admin install-sitecustomize)", HOOK, "pass"),
    ("`-c pass`, eager `import securl; securl.install()`", EAGER, "pass"),
    ("`-c 'import ssl'`, empty sitecustomize", "", "import ssl"),
    ("`-c 'import ssl'`, securl hook (stand-ins only)", HOOK, "import ssl"),
    ("`-c 'import ssl; ssl.create_default_context()'`, empty sitecustomize", "", FIRST_USE),
    ("`-c 'import ssl; ssl.create_default_context()'`, securl hook (install() runs)", HOOK,
     FIRST_USE),
]
BASELINES = {"pass": 0, "import ssl": 3, FIRST_USE: 5}

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
    # Like a real installation, run from bytecode: cache it (in a temp dir, not the tree)
    # even where PYTHONDONTWRITEBYTECODE is set; the warm-up rounds fill the cache.
    env["PYTHONPYCACHEPREFIX"] = str(policy.parent / "pycache")
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def _once(env: dict[str, str], code: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one child interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(runs: int) -> dict[str, list[float]]:
    sys.path.insert(0, str(ROOT / "src"))
    from securl.cli.admin import hook_block

    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(tmp)
        policy = base / "policy.toml"
        policy.write_text("")
        envs = []
        for number, (_, text, _code) in enumerate(CASES):
            site = base / f"site{number}"
            site.mkdir()
            (site / "sitecustomize.py").write_text(hook_block() if text is None else text)
            envs.append(_env(site, policy))
        times: dict[str, list[float]] = {label: [] for label, _, _ in CASES}
        times.update({label + "/cpu": [] for label, _, _ in CASES})
        for _ in range(3):  # warm the page cache and .pyc files
            for env, (_, _, code) in zip(envs, CASES, strict=True):
                _once(env, code)
        for _ in range(runs):
            for env, (label, _, code) in zip(envs, CASES, strict=True):
                wall, cpu = _once(env, code)
                times[label].append(wall)
                times[label + "/cpu"].append(cpu)
        split = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", SPLIT], env=envs[0], capture_output=True,
                text=True, check=True, timeout=60,
            ).stdout.split()
            split.append((float(out[0]), float(out[1])))
        times["_import_ms"] = [s[0] for s in split]
        times["_install_ms"] = [s[1] for s in split]
        return times


def report(times: dict[str, list[float]], runs: int) -> str:
    lines = [
        HEADING,
        "",
        f"Wall time of a fresh interpreter running from cached bytecode, median of {runs} runs "
        f"per case (interleaved, after 3 warm-up rounds), measured by "
        f"`python benchmarks/startup.py --runs {runs} --write` "
        f"on {datetime.date.today().isoformat()}: Python {platform.python_version()} "
        f"({sys.executable}), {platform.platform()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} when it finished. On a busy machine wall time mostly "
        "measures waiting for a CPU; read the CPU columns (user+sys time of the child, from "
        "getrusage), which count only the work the interpreter did.",
        "",
        "| case | wall median (ms) | wall min (ms) | wall vs. baseline | "
        "CPU median (ms) | CPU vs. baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, _, code in CASES:
        base_label = CASES[BASELINES[code]][0]
        base = statistics.median(times[base_label]) * 1000
        base_cpu = statistics.median(times[base_label + "/cpu"]) * 1000
        med = statistics.median(times[label]) * 1000
        cpu = statistics.median(times[label + "/cpu"]) * 1000
        low = min(times[label]) * 1000
        same = label == base_label
        added = "-" if same else f"{med - base:+.1f}"
        added_cpu = "-" if same else f"{cpu - base_cpu:+.1f}"
        lines.append(f"| {label} | {med:.1f} | {low:.1f} | {added} | {cpu:.1f} | {added_cpu} |")
    imp = statistics.median(times["_import_ms"])
    ins = statistics.median(times["_install_ms"])
    lines += [
        "",
        f"Eager install split (median of {runs}): `import securl` {imp:.1f} ms, the "
        f"`install()` call itself {ins:.2f} ms. install() builds no context and reads only the "
        "policy file; stdlib HTTPS then builds one fresh context per connection "
        "(see docs/admin.md). The hook `securl admin install-sitecustomize` writes loads one "
        "small file; at `import ssl` it puts stand-ins on the ssl module and its SSLContext "
        "class, and only the first TLS use (a connection, a request for default trust, a "
        "patch of ssl) imports securl and runs `install()`. So a process that never uses TLS "
        "pays (almost) nothing, and one that does pays the cost of importing securl once.",
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
