"""A replaced urllib3 (urllib3-future, installed with niquests) is named, not a stray ImportError.

The child gets a copy of the real urllib3 first on its path, altered as urllib3-future is
(no ``ProxyConfig`` in ``urllib3.connection`` once the package is imported), with
distribution metadata saying who provides it.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest
import urllib3

from _child import child_env


def _replaced_urllib3(root: pathlib.Path) -> pathlib.Path:
    site = root / "replaced"
    shutil.copytree(pathlib.Path(urllib3.__file__).parent, site / "urllib3")
    init = site / "urllib3" / "__init__.py"  # after urllib3's own imports: drop the name
    init.write_text(init.read_text() + "\nfrom . import connection as _c\ndel _c.ProxyConfig\n")
    info = site / "urllib3_future-2.12.900.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: urllib3-future\n"
                                   "Version: 2.12.900\n")
    (info / "top_level.txt").write_text("urllib3\n")
    (info / "RECORD").write_text("urllib3/__init__.py,,\n")
    return site


@pytest.mark.parametrize(("imports", "call"), [
    ("securl", "securl.get"),
    # The drop-in imports the transport with its first request, not with the module.
    ("securl.urllib.request", "securl.urllib.request.urlopen"),
])
def test_a_replaced_urllib3_is_a_configuration_error_naming_it(
        tmp_path: pathlib.Path, imports: str, call: str) -> None:
    site = _replaced_urllib3(tmp_path)
    code = (f"import {imports}\n"
            "try:\n"
            f"    {call}('https://127.0.0.1:9/')\n"
            "except securl.ConfigurationError as exc:\n"
            "    print('error=' + str(exc))\n")
    r = subprocess.run([sys.executable, "-c", code], env=child_env({}, site),
                       capture_output=True, text=True, timeout=60, check=False)
    assert "error=securl needs urllib3 2.x" in r.stdout, (r.stdout, r.stderr)
    assert "urllib3-future" in r.stdout and "pip install --force-reinstall" in r.stdout


def test_doctor_reports_a_replaced_urllib3(tmp_path: pathlib.Path) -> None:
    site = _replaced_urllib3(tmp_path)
    r = subprocess.run([sys.executable, "-m", "securl", "doctor"], env=child_env({}, site),
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode != 0
    assert "urllib3-future" in r.stdout, r.stdout
    assert "No problems found" not in r.stdout
    plain = subprocess.run([sys.executable, "-m", "securl", "doctor"], env=child_env({}),
                           capture_output=True, text=True, timeout=60, check=False)
    assert "urllib3-future" not in plain.stdout
