"""``securl admin ...``: the sitecustomize hook and the effective policy, for administrators.

Commands (``admin_main(argv)``; the ``securl`` CLI delegates ``securl admin`` here, and
``python -m securl.cli.admin`` runs it directly):

* ``install-sitecustomize [--site-dir DIR] [--policy FILE]`` writes a marked block that calls
  ``securl.install()`` into ``DIR/sitecustomize.py`` (default: this interpreter's
  site-packages). An existing file keeps its content: the block is appended, or replaced if
  it is already there. ``--policy`` pins the policy file in the hook.
* ``uninstall-sitecustomize [--site-dir DIR]`` removes exactly that block (and the file, if
  securl's block was all it held).
* ``show-policy [--json]`` prints the effective policy and where each value came from.

Exit codes: 0 done, 1 refused or failed (message on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import fields

from .._fs import atomic_write
from .._policy import Policy, load_policy, policy_source
from ..admin.files import check_trusted_dir
from ..exceptions import ConfigurationError

__all__ = ["admin_main", "install_sitecustomize", "show_policy", "uninstall_sitecustomize"]

BEGIN = "# >>> securl: managed block, remove with `securl admin uninstall-sitecustomize` >>>"
END = "# <<< securl <<<"

_HOOK = """\
try:
    import sys as _securl_sys
    from importlib.machinery import ModuleSpec as _securl_Spec
    from importlib.machinery import SourceFileLoader as _securl_Loader
    _securl_pkg = None
    for _securl_finder in _securl_sys.meta_path:
        _securl_find = getattr(_securl_finder, "find_spec", None)
        _securl_pkg = _securl_find("securl", None) if _securl_find else None
        if _securl_pkg is not None:
            break
    if _securl_pkg is None or not _securl_pkg.submodule_search_locations:
        raise ImportError("securl is not installed for this interpreter")
    _securl_file = list(_securl_pkg.submodule_search_locations)[0] + "/_sitehook.py"
    _securl_load = _securl_Loader("_securl_sitehook", _securl_file)
    _securl_hook = type(_securl_sys)("_securl_sitehook")
    _securl_hook.__file__ = _securl_file
    _securl_hook.__loader__ = _securl_load
    _securl_hook.__spec__ = _securl_Spec("_securl_sitehook", _securl_load, origin=_securl_file)
    _securl_sys.modules["_securl_sitehook"] = _securl_hook
    _securl_load.exec_module(_securl_hook)
    _securl_hook.arm({args})
except Exception as _securl_error:
    print(
        f"securl: the sitecustomize hook in {{__file__}} failed; this interpreter runs "
        f"WITHOUT securl's guard: {{type(_securl_error).__name__}}: {{_securl_error}}",
        file=__import__("sys").stderr,
    )
"""


def default_site_dir() -> str:
    """This interpreter's site-packages (``sysconfig`` purelib)."""
    return sysconfig.get_paths()["purelib"]


def hook_block(policy: str | None = None) -> str:
    """The marked block written into sitecustomize.py.

    It loads ``securl/_sitehook.py`` by path (not the securl package) and arms it: securl is
    imported and ``install()`` runs when the interpreter first imports ssl (see _sitehook).
    """
    args = f"policy={os.path.abspath(policy)!r}" if policy else ""
    return f"{BEGIN}\n{_HOOK.format(args=args)}{END}\n"


def _split(text: str) -> tuple[str, str | None, str]:
    """(before, block, after) around securl's block; block is None when absent."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN)
        end = next(i for i in range(start, len(lines)) if lines[i].rstrip("\r\n") == END)
    except StopIteration:
        return text, None, ""
    return "".join(lines[:start]), "".join(lines[start:end + 1]), "".join(lines[end + 1:])


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _shadowing_note(site_dir: str, path: str) -> str:
    """A note when another sitecustomize would run instead of ``path`` in this interpreter."""
    if os.path.realpath(site_dir) not in {os.path.realpath(p or ".") for p in sys.path}:
        return (f"note: {site_dir} is not on this interpreter's sys.path; the hook runs only "
                "for interpreters that have it there\n")
    spec = importlib.util.find_spec("sitecustomize") if "sitecustomize" not in sys.modules \
        else getattr(sys.modules["sitecustomize"], "__spec__", None)
    origin = getattr(spec, "origin", None)
    if origin and os.path.realpath(origin) != os.path.realpath(path):
        return (f"warning: {origin} comes first on sys.path and is the sitecustomize that "
                f"runs; only the first one runs, so {path} will not. Add the block there.\n")
    return ""


def install_sitecustomize(site_dir: str | None = None, policy: str | None = None) -> str:
    """Write (or refresh) securl's block in ``site_dir/sitecustomize.py``; returns a report.

    Rules: content outside the block is never changed; the file is replaced atomically
    (`securl._fs.atomic_write`), keeping its mode without setuid/setgid bits and without
    group or other write; a policy file named with ``policy`` must exist, be valid and pass
    the StrictModes check (ConfigurationError otherwise), so the hook never points at a file
    that would stop every interpreter's install() or that another user could edit. The site
    directory must be writable by no one but root or this user (no sticky exception: any file
    there is code every interpreter runs). A ``sitecustomize.py`` that is a symbolic link
    (Debian links it to ``/etc/python3.X``) is written at its target, which must pass the
    same check.
    """
    site_dir = site_dir or default_site_dir()
    if policy is not None:
        # fail now, not in every interpreter later
        load_policy(os.path.abspath(policy), named_by="--policy")
    if not os.path.isdir(site_dir):
        raise ConfigurationError(f"site directory {site_dir!r} does not exist")
    check_trusted_dir(site_dir, what="site directory", allow_sticky=False)
    path = _real_target(os.path.join(site_dir, "sitecustomize.py"))
    text = _read(path)
    block = hook_block(policy)
    if text is None:
        new, verb = block, "created"
    else:
        before, old, after = _split(text)
        if old is not None:
            new, verb = before + block + after, "updated securl's block in"
        else:
            sep = "" if not text or text.endswith("\n") else "\n"
            new, verb = text + sep + block, "appended securl's block to"
    atomic_write(path, new, new_file_mode=0o644, mode_mask=0o755)
    return f"{verb} {path}\n" + _shadowing_note(site_dir, path)


def _real_target(path: str) -> str:
    """``path``, or the file a symbolic link there names (checked like the site directory)."""
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    if not os.path.isfile(target):
        raise ConfigurationError(
            f"{path} is a symbolic link to {target}, which is not a regular file; create "
            "that file or remove the link, then run this again")
    check_trusted_dir(os.path.dirname(target), what="sitecustomize target",
                      allow_sticky=False)
    return target


def uninstall_sitecustomize(site_dir: str | None = None) -> tuple[int, str]:
    """Remove securl's block from ``site_dir/sitecustomize.py``; ``(exit code, report)``.

    Only the marked block goes; the file is deleted only when nothing else is left in it.
    No file or no block: exit code 1 and a message saying so (nothing is changed).
    """
    site_dir = site_dir or default_site_dir()
    path = _real_target(os.path.join(site_dir, "sitecustomize.py"))
    text = _read(path)
    if text is None:
        return 1, f"{path} does not exist; nothing to remove\n"
    before, old, after = _split(text)
    if old is None:
        return 1, f"{path} has no securl block; nothing to remove\n"
    rest = before + after
    if rest.strip():
        atomic_write(path, rest, new_file_mode=0o644, mode_mask=0o755)
        return 0, f"removed securl's block from {path}\n"
    os.unlink(path)
    return 0, f"removed {path} (it held only securl's block)\n"


_MEANING = {
    "allow_unverified": "per-call opt-outs (tls=securl.unverified(...)) are allowed",
    "on_process_wide_unverified": "what the guard does about a process-wide disable",
    "minimum_tls_version": "lowest TLS version any securl context accepts",
    "extra_ca_certs": "CA file added to the system/environment trust",
    "allow_basic_auth_over_http": "Basic auth may be sent over plain http",
    "x509_strict": "VERIFY_X509_STRICT on every context",
    "pins_file": "known_hosts-style SPKI pins file",
    "audit_log_file": "file receiving audit events (audit.log_file)",
    "audit_format": "audit log format (audit.format)",
    "verify_stdlib_clients": "install() makes smtplib/imaplib/poplib/ftplib verify",
}


def show_policy(as_json: bool = False, path: str | None = None) -> str:
    """The effective policy, one line per key: value and where it came from.

    Reads the file exactly like a process would (``path``, else ``$SECURL_POLICY``, else the
    default location); a malformed file raises ConfigurationError.
    """
    if path is not None:
        source_path, why = os.path.abspath(path), "named by --policy"
        policy = load_policy(source_path, named_by="--policy")
    else:
        source_path, why = policy_source()
        policy = load_policy()
    exists = policy.path is not None
    rows = []
    for f in fields(Policy):
        if f.name in ("path", "origins"):
            continue
        value = policy.to_dict()[f.name]
        origin = policy.origin_of(f.name)
        if f.name == "on_process_wide_unverified" and value is None:
            value = "(unset: warn without install(), refuse after install())"
        rows.append({"key": f.name, "value": value, "source": origin,
                     "meaning": _MEANING.get(f.name, "")})
    if as_json:
        return json.dumps({"file": source_path, "file_exists": exists, "file_source": why,
                           "values": rows}, indent=2) + "\n"
    state = "" if exists else " (does not exist: all values are defaults)"
    lines = [f"policy file: {source_path} ({why}){state}"]
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        value = r["value"]
        shown = ("(not set)" if value is None else value if isinstance(value, str)
                 else json.dumps(value))
        lines.append(f"  {r['key']:<{width}}  {shown}   [{r['source']}]")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="securl admin",
                                     description="securl administration commands")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install-sitecustomize",
                       help="write securl's install() hook into sitecustomize.py")
    p.add_argument("--site-dir", help="directory of sitecustomize.py (default: site-packages)")
    p.add_argument("--policy", help="pin this policy file in the hook")
    p = sub.add_parser("uninstall-sitecustomize", help="remove securl's hook block")
    p.add_argument("--site-dir", help="directory of sitecustomize.py (default: site-packages)")
    p = sub.add_parser("show-policy", help="print the effective policy and its sources")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--policy", help="read this policy file instead")
    return parser


def admin_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``securl admin``; returns the exit code."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        if args.command == "install-sitecustomize":
            sys.stdout.write(install_sitecustomize(args.site_dir, args.policy))
            return 0
        if args.command == "uninstall-sitecustomize":
            code, text = uninstall_sitecustomize(args.site_dir)
            (sys.stdout if code == 0 else sys.stderr).write(text)
            return code
        sys.stdout.write(show_policy(args.json, args.policy))
        return 0
    except (ConfigurationError, OSError) as exc:
        sys.stderr.write(f"securl admin {args.command}: error: {exc}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    sys.exit(admin_main())
