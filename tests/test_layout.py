"""The package's shape: no import cycles, small modules, and a cheap ``import securl``.

The import graph is read from the source (ast), so an import hidden inside a function counts
as much as one at the top: a cycle held apart by a function-level import is still a cycle.
Imports under ``if TYPE_CHECKING:`` are for annotations only and never run, so they do not.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import securl

PACKAGE = pathlib.Path(securl.__file__).parent
MAX_LINES = 500


def _module_name(path: pathlib.Path) -> str:
    parts = ["securl", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """securl module -> the securl modules it imports at run time."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle() -> None:
    # The checker itself can fail: a two-module loop and a longer one are found.
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    # securl.cli.main imports its subcommands inside functions (only the one that runs).
    assert "securl.cli.doctor" in graph["securl.cli.main"]
    assert "securl.tls.decision" in graph["securl.http.session"]


def test_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_is_over_500_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert sizes, "no modules found"
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def _loaded_by(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of ``prefixes`` that ``statement`` loads in a fresh
    interpreter (sitecustomize may import securl in every Python process)."""
    code = (f"import sys; {statement}; "
            f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    loaded = ast.literal_eval(out.stdout.strip())
    assert isinstance(loaded, list), out.stdout + out.stderr
    return loaded


def test_import_securl_loads_neither_urllib3_nor_the_request_layer_nor_the_cli() -> None:
    assert _loaded_by("import securl", ("urllib3", "securl.cli", "securl.http")) == []


def test_import_of_the_urllib_drop_in_loads_neither_urllib3_nor_the_transport() -> None:
    # As `import urllib.request` connects nowhere, the drop-in loads securl's pools, transport
    # and trust decisions (and urllib3) with the first request it sends; urlcleanup() before
    # that has nothing to close.
    statement = "import securl.urllib.request; securl.urllib.request.urlcleanup()"
    assert _loaded_by(statement, (
        "urllib3", "securl.urllib.sending", "securl.http.pool", "securl.http.transport",
        "securl.http.connection", "securl.http.timeouts", "securl.tls.decision", "securl.cli",
    )) == []


def test_lazy_names_load_their_modules() -> None:
    # The names `import securl` defers resolve to the classes the sub-packages define.
    code = ("import securl, sys; securl.Session; securl.Timeouts; securl.PeerInfo; "
            "print(securl.Session.__module__, securl.Timeouts.__module__, "
            "'urllib3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["securl.http.session", "securl.http.timeouts", "True"]
