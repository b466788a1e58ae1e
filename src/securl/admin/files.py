"""Files the administrator trusts: StrictModes for policy, CA, pins, audit log and sitecustomize.

securl runs as root on shared machines. Another local user must not be able to change what
root's securl trusts, so, as sshd's ``StrictModes`` does, a file securl trusts is used only
when **the file and every directory above it** are

* owned by root or by the user the process runs as (effective uid), and
* writable by no one else (no group or other write bit).

One exception, documented: a directory with the sticky bit (``/tmp``, mode 1777) may be
world-writable *above* the file, because there another user can create names but cannot
rename or remove the files and directories that belong to root or to this user; the checks
below it still apply. Where that is not enough for the directory itself (the site directory,
where any new file is code), callers pass ``allow_sticky=False``; sticky directories above it
are still accepted.

A refusal is a `ConfigurationError` naming the file or directory, the owner
and mode found, and the fix (``chown``/``chmod``). On Windows (no POSIX owners) the checks
are skipped.

``/dev/null`` (always empty) is accepted as it is. Paths named in the policy must be
absolute (`require_absolute`): a relative path would resolve against each process's
current directory.
"""

from __future__ import annotations

import os
import stat
import sys

from ..exceptions import ConfigurationError

__all__ = ["check_trusted_dir", "check_trusted_file", "describe_owner", "require_absolute",
           "setuid_process", "trusted_owner"]

_POSIX = hasattr(os, "geteuid")


def describe_owner(st: os.stat_result) -> str:
    """``owner alice (uid 1001), mode 0666`` for a message."""
    try:
        import pwd

        name = pwd.getpwuid(st.st_uid).pw_name
    except (ImportError, KeyError):
        name = "?"
    return f"owner {name} (uid {st.st_uid}), mode {stat.S_IMODE(st.st_mode):04o}"


def trusted_owner(uid: int) -> bool:
    """Root, or the user this process runs as."""
    return uid in (0, os.geteuid())


def _problem(st: os.stat_result, *, is_dir: bool, allow_sticky: bool) -> str | None:
    if not trusted_owner(st.st_uid):
        return f"is owned by another user (uid {st.st_uid})"
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        if is_dir and allow_sticky and mode & stat.S_ISVTX:
            return None
        who = "group and others" if mode & 0o022 == 0o022 else (
            "its group" if mode & 0o020 else "other users")
        return f"is writable by {who}"
    return None


def _fix(path: str, st: os.stat_result, is_dir: bool) -> str:
    mode = stat.S_IMODE(st.st_mode) & ~0o022
    owner = "root" if os.geteuid() == 0 else str(os.geteuid())
    return (f"`chown {owner} {path}` and `chmod {mode & 0o7777:04o} {path}`"
            + (" (or move the file to a directory only root can write)" if is_dir else ""))


def check_trusted_dir(path: str, *, what: str, allow_sticky: bool = True) -> None:
    """``path`` (a directory) and every directory above it pass the rule (module doc)."""
    if not _POSIX:  # pragma: no cover - Windows
        return
    current = os.path.abspath(path)
    while True:
        try:
            st = os.stat(current)
        except OSError as exc:
            raise ConfigurationError(
                f"{what}: directory {current} cannot be checked ({exc.strerror})") from None
        problem = _problem(st, is_dir=True,
                           allow_sticky=allow_sticky or current != os.path.abspath(path))
        if problem:
            raise ConfigurationError(
                f"{what}: directory {current} {problem} ({describe_owner(st)}), so another "
                f"user could replace what securl trusts there; securl refuses it, as sshd's "
                f"StrictModes does. Fix: {_fix(current, st, True)}"
            )
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


def check_trusted_file(path: str, *, what: str, allow_sticky: bool = True) -> None:
    """``path`` (which must exist) and every directory above it pass the rule (module doc).

    The file is judged as it is found (a symbolic link is followed, and the link's own
    directory is checked too, since whoever can rewrite the link chooses the file).
    """
    if not _POSIX:  # pragma: no cover - Windows
        return
    absolute = os.path.abspath(path)
    if os.path.islink(absolute):
        check_trusted_dir(os.path.dirname(absolute), what=what, allow_sticky=allow_sticky)
        absolute = os.path.realpath(absolute)
    try:
        st = os.stat(absolute)
    except FileNotFoundError:
        raise ConfigurationError(f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"{what}: {path} cannot be checked ({exc.strerror})") from None
    if stat.S_ISCHR(st.st_mode) and absolute == os.devnull:
        return  # always empty: nobody can put content there
    problem = _problem(st, is_dir=False, allow_sticky=False)
    if problem:
        raise ConfigurationError(
            f"{what}: {absolute} {problem} ({describe_owner(st)}); securl refuses to trust "
            f"it, as sshd's StrictModes does. Fix: {_fix(absolute, st, False)}"
        )
    check_trusted_dir(os.path.dirname(absolute), what=what, allow_sticky=allow_sticky)


def require_absolute(path: str, *, what: str) -> None:
    """Refuse a relative path (it would resolve against each process's working directory)."""
    if not os.path.isabs(path):
        raise ConfigurationError(
            f"{what}: {path!r} is a relative path, which would resolve against each "
            "process's current directory; write it as an absolute path"
        )


_secure: bool | None = None


def setuid_process() -> bool:
    """Whether this process runs with privileges its invoker lacks (AT_SECURE on Linux: a
    setuid/setgid or file-capability program), where the environment is the invoker's to
    choose. securl then ignores ``SSL_CERT_FILE``, ``SSL_CERT_DIR`` and ``SECURL_POLICY``,
    as OpenSSL's ``secure_getenv`` ignores its own variables."""
    global _secure
    if _secure is None:
        _secure = _at_secure()
    return _secure


def _at_secure() -> bool:
    try:
        with open("/proc/self/auxv", "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    size = 8 if sys.maxsize > 2**32 else 4
    for offset in range(0, len(data) - 2 * size + 1, 2 * size):
        key = int.from_bytes(data[offset:offset + size], sys.byteorder)
        if key == 23:  # AT_SECURE
            return int.from_bytes(data[offset + size:offset + 2 * size], sys.byteorder) != 0
        if key == 0:
            break
    if not _POSIX:  # pragma: no cover - Windows
        return False
    return os.getuid() != os.geteuid() or os.getgid() != os.getegid()
