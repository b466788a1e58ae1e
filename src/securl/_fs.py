"""Replacing a file atomically: the one writer for pins files, sitecustomize.py and ``get -o``.

The rule, every step in this order:

1. the data goes to a new temporary file in the *same directory* as ``path`` (so the rename
   in step 4 stays on one filesystem, where it is atomic), named ``.<name>.<random><suffix>``;
2. it is written, flushed and ``fsync``-ed: its bytes are on disk before any name points at
   them;
3. it is given permission bits (`_mode_for`): those of the regular file being replaced
   when this user owns it, *without* the setuid, setgid and sticky bits; otherwise (no file
   yet, a file another user owns, a symbolic link, anything else) ``new_file_mode``, by
   default what ``open()`` creates: 0o666 minus the umask. For a new file the umask applies, so a
   ``new_file_mode`` never grants more than the user's umask allows; ``mode_mask`` (e.g.
   0o755 for files other users must not change) clears bits in either case. The old file is
   looked at with ``lstat``: a link planted at ``path`` lends it nothing;
4. ``os.replace`` puts it at ``path``: a reader sees the old file or the new one, never part
   of either, and never a missing file;
5. the directory is ``fsync``-ed, so the rename itself survives a crash (POSIX only: Windows
   cannot open a directory; and best effort: a filesystem that refuses is not an error).

If anything fails before step 4, the temporary file is removed, ``path`` is left as it was,
and the exception propagates. ``path`` is replaced as named, never written through: a
symbolic link there becomes a regular file, and the temporary file is created with
``O_EXCL`` (``tempfile.mkstemp``), so nothing planted in the directory is ever opened.

Why the mode rule: root running ``securl get https://host/tool -o /tmp/x/tool`` over a file
an unprivileged user made ``-rwsr-xr-x`` must not produce a root-owned setuid binary (``cp``
without ``-p`` and ``install(1)`` never carry those bits to a new owner either).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_writer"]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _mode_for(path: str, new_file_mode: int | None, mode_mask: int) -> int:
    """Step 3: the permission bits the new file gets (rule in the module docstring)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        geteuid = getattr(os, "geteuid", None)
        if stat.S_ISREG(st.st_mode) and (geteuid is None or st.st_uid == geteuid()):
            return stat.S_IMODE(st.st_mode) & 0o777 & mode_mask
    mode = 0o666 if new_file_mode is None else new_file_mode
    return mode & 0o777 & ~_umask() & mode_mask


def _sync_directory(directory: str) -> None:
    """Step 5: make the rename durable (POSIX; best effort)."""
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover - best effort
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse; best effort
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str, *, new_file_mode: int | None = None, suffix: str = ".tmp",
                  mode_mask: int = 0o777) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` when the block ends without error.

    For data that arrives in pieces (a download). The rule is in the module docstring; an
    exception inside the block leaves ``path`` untouched and removes the temporary file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path, new_file_mode, mode_mask))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(directory)


def atomic_write(path: str, data: bytes | str, *, new_file_mode: int | None = None,
                 suffix: str = ".tmp", encoding: str = "utf-8", mode_mask: int = 0o777) -> None:
    """Replace ``path`` with ``data`` atomically and durably (rule in the module docstring).

    ``str`` data is written as ``open(path, "w", encoding=encoding)`` would write it:
    encoded, with each ``"\\n"`` as ``os.linesep``.
    """
    if isinstance(data, str):
        data = (data if os.linesep == "\n" else data.replace("\n", os.linesep)).encode(encoding)
    with atomic_writer(path, new_file_mode=new_file_mode, suffix=suffix,
                       mode_mask=mode_mask) as f:
        f.write(data)
