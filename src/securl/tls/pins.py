"""Pins files: SSH ``known_hosts`` for HTTPS public keys.

Format, one entry per line::

    # comments start with '#', anywhere on a line; blank lines are ignored
    device.lab.example            sha256/AAAA...=
    10.0.0.5:8443                 sha256/BBBB...= sha256/CCCC...=   # old and new key
    [fd00::5]:8443                sha256/DDDD...=

``host`` is a DNS name or IP address (IPv6 in brackets when a port follows), ``port``
defaults to 443, and one or more ``sha256/<base64>`` pins follow. A host may appear on
several lines; all its pins are accepted (that is how keys are rotated: add the new pin, let
the server switch, then delete the old one).

Rules this module follows:

* **Fail closed on bad input**: a line that does not parse raises
  `ConfigurationError` naming ``file:line``; nothing from a broken file is
  trusted or ignored.
* **Atomic writes** (`securl._fs.atomic_write`): a new pin is written to a temporary
  file in the same directory, synced, then renamed over the file (``os.replace``), so a
  reader sees either the old or the new file, never half of one; the directory is synced
  too. Comments and layout are kept. A symbolic link at the path is refused, never written
  through; a new file is 0o644 for root and 0o600 for other users (the umask applying), and
  no pins file securl writes is writable by group or others.
* **Trusted files only**: a pins file is read only when it and every directory above it
  are owned by root or this user and writable by no one else (sticky directories such as
  /tmp excepted; `securl.admin.files`). The lock file is opened without following
  links and must be a regular file of root's or this user's.
* **Serialised writes, across processes too**: a write re-reads the file and decides under a
  per-file thread lock *and* an exclusive OS lock on ``<file>.lock`` beside it (``flock`` on
  POSIX, ``msvcrt.locking`` on Windows), so two processes recording at the same instant
  both keep their lines, and two first contacts with different keys record one and refuse
  the other. The lock file stays (empty) after the first write. The OS lock is waited for
  at most 10 s, then the write fails closed (`ConfigurationError`); the OS
  releases it when its holder exits, however it exits.
* **Fresh reads**: the file is re-read when its size, mtime or inode changes, so an edit
  takes effect for the next request (see the pool-key note in `securl.tls.decision`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import ipaddress
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .._fs import atomic_write
from .._policy import get_policy
from ..admin.files import check_trusted_file
from ..exceptions import ConfigurationError, PinMismatchError

__all__ = [
    "HostPins",
    "PinsFile",
    "changed_key_error",
    "check_pin_syntax",
    "format_host",
    "open_pins_file",
    "parse_host",
    "parse_pins",
    "policy_pins_file",
]

DEFAULT_PORT = 443
_FORMAT = "expected 'host[:port] sha256/<base64> [sha256/...]'"
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


def check_pin_syntax(pin: str) -> str:
    """Return ``pin`` if it is ``sha256/<base64 of 32 bytes>``, else raise ConfigurationError."""
    if isinstance(pin, str) and pin.startswith("sha256/"):
        try:
            if len(base64.b64decode(pin[7:], validate=True)) == 32:
                return pin
        except (binascii.Error, ValueError):
            pass
    raise ConfigurationError(
        f"pin {pin!r} is not of the form 'sha256/<base64 SHA-256 of the public key>'; "
        "`securl pin URL` prints a server's pin"
    )


@dataclass(frozen=True)
class HostPins:
    """The pins one pins file lists for one ``host:port`` (hashable: part of the pool key)."""

    path: str
    origin: str  # "pins file" or "admin policy pins file"
    host: str
    port: int
    pins: tuple[str, ...]
    lines: tuple[int, ...]

    @property
    def where(self) -> str:
        """``file:line[,line...]`` of this host's entries."""
        return f"{self.path}:{','.join(str(n) for n in self.lines)}"


def canonical_host(host: str) -> str:
    """Lower-case, no trailing dot, no brackets, IP addresses in their compressed form."""
    host = host.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def format_host(host: str, port: int) -> str:
    """``host`` as written in a pins file: ``host``, ``host:port`` or ``[v6]:port``."""
    host = canonical_host(host)
    if ":" in host:
        host = f"[{host}]"
    return host if port == DEFAULT_PORT else f"{host}:{port}"


def parse_host(token: str) -> tuple[str, int]:
    """``host[:port]`` (or ``[v6][:port]``, or a bare IPv6 address) as (host, port)."""
    port_text = ""
    if token.startswith("["):
        host, sep, rest = token[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad bracketed host {token!r}")
        port_text = rest[1:]
        if rest and not port_text:
            raise ValueError(f"empty port in {token!r}")
        ipaddress.IPv6Address(host)
    elif token.count(":") > 1:
        host = token
        ipaddress.IPv6Address(host)
    else:
        host, sep, port_text = token.partition(":")
        if sep and not port_text:
            raise ValueError(f"empty port in {token!r}")
    host = canonical_host(host)
    if not host or not (set(host) <= _HOST_CHARS or ":" in host):
        raise ValueError(f"bad host name {token!r}")
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in {token!r}")
        port = int(port_text)
    return host, port


def parse_pins(text: str, path: str, origin: str = "pins file") -> dict[tuple[str, int], HostPins]:
    """Parse a pins file's text; any malformed line raises ConfigurationError with file:line."""
    pins: dict[tuple[str, int], list[str]] = {}
    lines: dict[tuple[str, int], list[int]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        where = f"{origin} {path}:{number}"
        if len(tokens) < 2:
            raise ConfigurationError(f"{where}: a host with no pin; {_FORMAT}")
        try:
            key = parse_host(tokens[0])
        except ValueError as exc:
            raise ConfigurationError(f"{where}: {exc}; {_FORMAT}") from None
        for token in tokens[1:]:
            try:
                check_pin_syntax(token)
            except ConfigurationError:
                raise ConfigurationError(
                    f"{where}: {token!r} is not a pin; {_FORMAT} (`securl pin URL` prints one)"
                ) from None
            if token not in pins.setdefault(key, []):
                pins[key].append(token)
        lines.setdefault(key, []).append(number)
    return {
        key: HostPins(path, origin, key[0], key[1], tuple(value), tuple(lines[key]))
        for key, value in pins.items()
    }


#: How long a write waits for another process's lock on the same pins file.
LOCK_TIMEOUT = 10.0

if sys.platform == "win32":  # pragma: no cover - CI runs on Linux
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _check_lock_file(fd: int, lock_path: str) -> None:
    """The lock file must be a regular file of root's or this user's (closes ``fd`` if not)."""
    st = os.fstat(fd)
    geteuid = getattr(os, "geteuid", None)
    if not stat.S_ISREG(st.st_mode) or (geteuid is not None and st.st_uid not in (0, geteuid())):
        os.close(fd)
        raise OSError(0, f"{lock_path} is not a regular file owned by root or this user "
                         f"(uid {st.st_uid})")


@contextlib.contextmanager
def _interprocess_lock(path: str, origin: str) -> Iterator[None]:
    """Hold the exclusive OS lock on ``<path>.lock`` (module rules); fails closed on timeout."""
    lock_path = path + ".lock"
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(lock_path, flags, 0o600)
        _check_lock_file(fd, lock_path)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {origin} {path}: its lock file {lock_path} cannot be opened "
            f"({exc.strerror}); the pin was not recorded (fail closed). The directory must "
            "be writable"
        ) from None
    try:
        give_up = time.monotonic() + LOCK_TIMEOUT
        while not _try_lock(fd):
            if time.monotonic() >= give_up:
                raise ConfigurationError(
                    f"another process has held the lock on {origin} {path} ({lock_path}) for "
                    f"more than {LOCK_TIMEOUT:g} s; the pin was not recorded (fail closed). "
                    "Check for a stuck securl process writing this file"
                )
            time.sleep(0.005)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


class PinsFile:
    """One pins file, re-read when it changes; shared per path within the process."""

    def __init__(self, path: str, origin: str = "pins file") -> None:
        self.path = path
        self.origin = origin
        self._lock = threading.RLock()
        self._stamp: tuple[int, int, int] | None = None
        self._text = ""
        self._entries: dict[tuple[str, int], HostPins] = {}

    def _refresh(self, required: bool) -> None:
        """Re-read the file if it changed since the last read (caller holds the lock)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if required:
                raise ConfigurationError(
                    f"{self.origin} {self.path} does not exist; create it (`securl pin URL "
                    f"--add {self.path}`) or fix the path"
                ) from None
            self._stamp, self._text, self._entries = None, "", {}
            return
        except OSError as exc:
            raise ConfigurationError(
                f"{self.origin} {self.path} cannot be read: {exc.strerror}"
            ) from None
        if (st.st_size, st.st_mtime_ns, st.st_ino) == self._stamp:
            return
        # Another user who can change the file (or a directory above it) could add a pin
        # for their own server: refuse it, as sshd's StrictModes does.
        check_trusted_file(self.path, what=f"{self.origin} {self.path}")
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except OSError as exc:
            raise ConfigurationError(
                f"{self.origin} {self.path} cannot be read: {exc.strerror}"
            ) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"{self.origin} {self.path}: not UTF-8 text") from None
        self._entries = parse_pins(text, self.path, self.origin)
        self._text = text
        self._stamp = (st.st_size, st.st_mtime_ns, st.st_ino)

    def load(self, *, required: bool = True) -> None:
        """Read (or re-read) the file now: fails on a malformed file, or a missing one if
        ``required``."""
        with self._lock:
            self._refresh(required)

    def lookup(self, host: str, port: int, *, required: bool = True) -> HostPins | None:
        """The pins listed for ``host:port`` (None if none). ``required``: missing file fails."""
        with self._lock:
            self._refresh(required)
            return self._entries.get((canonical_host(host), port))

    def add(self, host: str, port: int, pin: str, *, note: str = "") -> HostPins | None:
        """Append ``host:port pin`` unless that pin is already listed for it.

        Returns None when the line was written, else the existing entry (unchanged).
        """
        check_pin_syntax(pin)
        with self._writing():
            existing = self._entries.get((canonical_host(host), port))
            if existing is not None and pin in existing.pins:
                return existing
            self._append(host, port, pin, note)
            return None

    def record_first_use(self, host: str, port: int, pin: str) -> HostPins | None:
        """Trust on first use: record ``pin`` if the host has no entry yet.

        Atomic with respect to other threads and processes: if another connection recorded
        a pin for the host first, nothing is written and that entry is returned for the
        caller to check.
        """
        with self._writing():
            existing = self._entries.get((canonical_host(host), port))
            if existing is not None:
                return existing
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._append(host, port, pin, f"trust on first use, {stamp}")
            return None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Both locks held and the file freshly re-read: the state a write decides on."""
        with self._lock, _interprocess_lock(self.path, self.origin):
            self._stamp = None  # another process may have written since the last read
            self._refresh(required=False)
            yield

    def _append(self, host: str, port: int, pin: str, note: str) -> None:
        line = f"{format_host(host, port)} {pin}"
        if note:
            line += f"  # {note}"
        text = self._text
        if text and not text.endswith("\n"):
            text += "\n"
        self._write(text + line + "\n")

    def _write(self, text: str) -> None:
        if os.path.islink(self.path):
            raise ConfigurationError(
                f"cannot write {self.origin} {self.path}: it is a symbolic link (to "
                f"{os.readlink(self.path)}), and securl never writes through a link someone "
                "could have planted; point pins_file at the real file. The pin was not "
                "recorded and the connection was refused (fail closed)"
            )
        try:
            # A new file: 0o644 for root (pins are public, like /etc/ssh/ssh_known_hosts),
            # 0o600 for other users, the umask applying; never writable by group or others.
            atomic_write(self.path, text.encode("utf-8"), mode_mask=0o755,
                         new_file_mode=0o644 if _euid() == 0 else 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write {self.origin} {self.path}: {exc.strerror}; the pin was not "
                "recorded and the connection was refused (fail closed)"
            ) from None
        self._stamp = None  # force a re-read (and re-validation) on the next lookup
        self._refresh(required=True)


def _euid() -> int | None:
    geteuid = getattr(os, "geteuid", None)
    return geteuid() if geteuid is not None else None


_files: dict[tuple[str, str], PinsFile] = {}
_files_lock = threading.Lock()


def open_pins_file(path: str | os.PathLike[str], origin: str = "pins file") -> PinsFile:
    """The process-wide `PinsFile` for ``path`` (one object, one lock, per file).

    ``~`` is expanded; relative paths are made absolute now (messages show the full path).
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ConfigurationError(f"pins_file must be a path, got {path!r}")
    key = (os.path.abspath(os.path.expanduser(os.fspath(path))), origin)
    with _files_lock:
        pins_file = _files.get(key)
        if pins_file is None:
            pins_file = _files[key] = PinsFile(key[0], origin)
        return pins_file


def policy_pins_file() -> PinsFile | None:
    """The admin policy's ``pins_file`` (enforced for every request), if policy sets one.

    It is read-only for securl: trust on first use never writes to it, and a missing or
    malformed file fails every https request (the administrator asked for these pins).
    """
    path = get_policy().pins_file
    return open_pins_file(path, "admin policy pins file") if path else None


def changed_key_error(entry: HostPins, host: str, port: int, got: str) -> PinMismatchError:
    """The refusal when a host's key is not among the pins a file lists for it.

    States both pins, where they are, that no request was sent, and the two ways to accept
    the new key once it has been confirmed out of band (never automatically).
    """
    where = f"{host}:{port}"
    url = f"https://{format_host(host, port)}/"
    recorded = ", ".join(entry.pins)
    first_line = entry.lines[0]
    if entry.origin == "pins file":
        fix = (
            "If the server's operator confirms the new key, either edit line "
            f"{first_line} of {entry.path} to read:\n"
            f"    {format_host(host, port)} {got}\n"
            "or keep the old pin for a rotation period and add the new one with:\n"
            f"    securl pin {url} --add {entry.path}"
        )
    else:
        fix = (f"This pin is set by the administrator in {entry.path}:{first_line}; ask them "
               "to confirm the new key and update that file.")
    return PinMismatchError(
        f"{where} presented a public key that does not match the pin recorded for it in "
        f"{entry.origin} {entry.where}; no request was sent.\n"
        f"    recorded: {recorded}\n"
        f"    server:   {got}\n"
        "The connection may be intercepted, or the server's key was replaced. " + fix,
        host=host,
        port=port,
    )
