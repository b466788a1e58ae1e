"""The documentation site builds, and its API page renders docstrings as Markdown.

mkdocstrings renders Markdown, not reST: a ``:meth:`...``` role in a docstring shows up
raw on the page. The site is built for real (``mkdocs build --strict``) and the API page's
HTML is checked for leftover roles and for the public attributes of Response and Session.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROLES = re.compile(r":(meth|class|func|data|attr|mod|exc|obj|const):`")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                        str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       check=False, env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_the_api_page_shows_no_raw_rest_roles(site: pathlib.Path) -> None:
    html = (site / "api" / "index.html").read_text()
    found = sorted({m.group(0) for m in ROLES.finditer(html)})
    assert found == [], found


def test_no_docstring_in_the_package_uses_rest_roles() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in (ROOT / "src").rglob("*.py")
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if ROLES.search(line)]
    assert offenders == []


@pytest.mark.parametrize("name", [
    "status", "status_code", "headers", "url", "history", "content", "text", "json",
    "iter_bytes", "iter_content", "iter_lines", "elapsed", "request", "cookies", "links",
    "encoding", "raise_for_status",
])
def test_every_public_response_attribute_is_documented(site: pathlib.Path, name: str) -> None:
    assert re.search(rf"\b{name}\b", _section(site, "securl.Response")), name


@pytest.mark.parametrize("name", [
    "request", "get", "post", "cookies", "headers", "auth", "timeout", "retries", "hooks",
    "proxies", "close",
])
def test_every_public_session_attribute_is_documented(site: pathlib.Path, name: str) -> None:
    assert re.search(rf"\b{name}\b", _section(site, "securl.Session")), name


def _section(site: pathlib.Path, object_id: str) -> str:
    """The rendered text of one documented object: from its anchor to the next object's."""
    html = (site / "api" / "index.html").read_text()
    start = html.index(f'id="{object_id}"')
    following = re.compile(r'<h2 id="securl\.[A-Za-z_]+"')
    nxt = following.search(html, start + 1)
    text = html[start:nxt.start() if nxt else len(html)]
    return re.sub(r"<[^>]+>", " ", text)
