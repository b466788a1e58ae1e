"""securl._fs: the one atomic file writer (pins files, sitecustomize.py, ``securl get -o``)."""

from __future__ import annotations

import os
import pathlib
import stat
import sys
import threading

import pytest

from securl._fs import atomic_write, atomic_writer


def names(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_new_file_gets_the_data_and_nothing_is_left_beside_it(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "out.bin"
    atomic_write(str(target), b"\x00new\xff")
    assert target.read_bytes() == b"\x00new\xff"
    assert names(tmp_path) == ["out.bin"]


def test_an_existing_file_is_replaced_by_a_new_inode(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "pins"
    target.write_bytes(b"old content, longer than the new one\n")
    before = target.stat().st_ino
    with open(target, "rb") as reader:  # a reader of the old file keeps reading the old file
        atomic_write(str(target), b"new\n")
        assert reader.read() == b"old content, longer than the new one\n"
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_ino != before  # renamed over, not rewritten in place
    assert names(tmp_path) == ["pins"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_an_existing_file_keeps_its_permission_bits(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "sitecustomize.py"
    target.write_text("x = 1\n")
    target.chmod(0o640)
    atomic_write(str(target), "x = 2\n", new_file_mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "x = 2\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_new_file_gets_new_file_mode_or_what_open_would_give(tmp_path: pathlib.Path) -> None:
    atomic_write(str(tmp_path / "a"), b"a", new_file_mode=0o604)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o604
    old_umask = os.umask(0o027)
    try:
        atomic_write(str(tmp_path / "b"), b"b")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o640  # 0o666 & ~0o027


def test_a_failure_midway_leaves_the_old_file_and_removes_the_temporary_one(
        tmp_path: pathlib.Path) -> None:
    target = tmp_path / "doc.txt"
    target.write_bytes(b"the old document")
    with pytest.raises(ConnectionResetError), atomic_writer(str(target), suffix=".part") as f:
        f.write(b"half of the new")
        f.flush()
        assert len(names(tmp_path)) == 2  # the temporary file exists while writing
        (temp,) = (n for n in names(tmp_path) if n != "doc.txt")
        assert temp.startswith(".doc.txt.") and temp.endswith(".part")
        raise ConnectionResetError("the download broke")
    assert target.read_bytes() == b"the old document"
    assert names(tmp_path) == ["doc.txt"]


def test_a_failing_rename_removes_the_temporary_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(OSError):  # IsADirectoryError; PermissionError on Windows
        atomic_write(str(target), b"data")
    assert target.is_dir()
    assert names(tmp_path) == ["taken"]


def test_a_missing_directory_fails_without_creating_anything(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(str(tmp_path / "no-such-dir" / "f"), b"data")
    assert names(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "O_DIRECTORY"), reason="directories are synced on POSIX")
def test_the_file_is_synced_before_the_rename_and_the_directory_after(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        steps.append(f"fsync {kind}")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        steps.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(str(target), b"durable")
    assert steps == ["fsync file", "replace", "fsync directory"]


def test_a_symlink_is_replaced_as_named(tmp_path: pathlib.Path) -> None:
    # Callers that want to write through a link pass os.path.realpath(path) (the pins file).
    real = tmp_path / "real"
    real.write_bytes(b"real")
    link = tmp_path / "link"
    try:
        link.symlink_to(real)
    except OSError:  # pragma: no cover - Windows without the privilege
        pytest.skip("cannot create symlinks here")
    atomic_write(str(link), b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert real.read_bytes() == b"real"


def test_text_is_written_as_text_mode_would_write_it(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "t.py"
    atomic_write(str(target), "é = 1\nb = 2\n")
    assert target.read_bytes() == "é = 1\nb = 2\n".replace("\n", os.linesep).encode("utf-8")


def test_concurrent_writers_never_leave_a_mixed_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "f"
    contents = [bytes([65 + i]) * 200_000 for i in range(4)]
    seen: list[bytes] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            try:
                seen.append(target.read_bytes())
            except FileNotFoundError:
                pass

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        writers = [threading.Thread(target=atomic_write, args=(str(target), data))
                   for data in contents * 3]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
    finally:
        stop.set()
        reader.join()
    assert target.read_bytes() in contents
    assert all(data in contents for data in seen)  # never empty, never half of one
    assert names(tmp_path) == ["f"]
