"""Run Python in a real child process with its own sitecustomize, environment and policy.

The child gets ``site/`` (holding the given ``sitecustomize.py``) first on its PYTHONPATH, a
policy file of its own through ``SECURL_POLICY`` (with an audit log appended, so every audit
event the child emits after ``install()`` can be read back), and a script file ``app.py``
so warnings name a real file and line.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from _servers import LocalServer
from securl.cli.admin import hook_block

#: The block `securl admin install-sitecustomize` writes (install() on the first import ssl).
HOOK = hook_block()
#: An eager hook: securl.install() right away.
EAGER_HOOK = "import securl\nsecurl.install()\n"

# Helpers every child script starts with. fetch() reports "ok:<body>" or "fail:<reason>".
PRELUDE = '''\
import json, os, ssl, sys, urllib.error, urllib.request, warnings
GOOD = os.environ.get("GOOD_URL", "")
BAD = os.environ.get("BAD_URL", "")
def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return "ok:" + resp.read().decode()
    except urllib.error.URLError as exc:
        return "fail:" + type(exc.reason).__name__ + ":" + str(exc.reason)
    except Exception as exc:
        return "error:" + type(exc).__name__ + ":" + str(exc)
'''


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    script: str
    audit_log: pathlib.Path
    lines: list[str] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    def line_of(self, marker: str) -> int:
        """1-based line of app.py holding ``marker``."""
        for number, line in enumerate(self.script.splitlines(), 1):
            if marker in line:
                return number
        raise AssertionError(f"{marker!r} not in the script")

    def out(self, key: str) -> str:
        """The value printed by the child as ``key=value``."""
        for line in self.stdout.splitlines():
            if line.startswith(key + "="):
                return line.split("=", 1)[1]
        raise AssertionError(f"child printed no {key}=...\nstdout:\n{self.stdout}\n"
                             f"stderr:\n{self.stderr}")


def child_env(extra: dict[str, str] | None = None, site: pathlib.Path | None = None
              ) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(site)] if site else []
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.pop("PYTHONWARNINGS", None)
    env.update(extra or {})
    return env


def run_python(tmp_path: pathlib.Path, code: str, *, sitecustomize: str | None = HOOK,
               policy: str = "", audit: bool = True, env: dict[str, str] | None = None,
               timeout: float = 60, head: str = "") -> Result:
    """Run ``head + PRELUDE + code`` as ``tmp_path/app.py`` in a fresh interpreter."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    if sitecustomize is not None:
        (site / "sitecustomize.py").write_text(sitecustomize)
    log = tmp_path / "audit.jsonl"
    policy_file = tmp_path / "policy.toml"
    text = policy
    if audit:
        text += f"\n[audit]\nlog_file = {json.dumps(str(log))}\n"
    policy_file.write_text(text)
    script = head + PRELUDE + code
    (tmp_path / "app.py").write_text(script)
    environment = child_env({"SECURL_POLICY": str(policy_file), **(env or {})}, site)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "app.py")], env=environment, cwd=tmp_path,
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, script, log)


def urls(good: LocalServer, bad: LocalServer) -> dict[str, str]:
    return {"GOOD_URL": good.url("/", host="127.0.0.1"),
            "BAD_URL": bad.url("/", host="127.0.0.1")}
