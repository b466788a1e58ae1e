"""The policy's audit log: another local user can neither redirect, truncate nor forge it.

Real files and directories, real child processes for everything a policy file drives. As
root, a throwaway unprivileged user (made with useradd, removed with userdel) plays the
other local user: it plants links and files in a shared sticky directory, and tries to
change the log root's securl writes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pathlib
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import securl
import securl.audit
from _child import run_python
from securl import _audit

ORIGIN = "/etc/securl/policy.toml"
FAIL_CLOSED = "securl refuses to run requests without the audit log the policy asks for"
SRC = str(pathlib.Path(securl.__file__).resolve().parent.parent)
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"

# A child that loads its policy (SECURL_POLICY) twice and reports each refusal.
LOAD_TWICE = """
import securl
for attempt in (1, 2):
    try:
        securl.Session()
        print(f"loaded{attempt}=yes")
    except securl.ConfigurationError as exc:
        print(f"refused{attempt}=" + " ".join(str(exc).split()))
"""


@pytest.fixture(autouse=True)
def _detach_the_policy_log() -> Iterator[None]:
    logger = logging.getLogger("securl.audit")
    level = logger.level
    yield
    _audit._set_slot("policy", None)
    _audit._set_slot("application", None)
    logger.setLevel(level)


def refusal(path: pathlib.Path | str) -> str:
    """configure_from_policy(path) fails closed; its message."""
    with pytest.raises(securl.ConfigurationError) as info:
        _audit.configure_from_policy(str(path), "json", ORIGIN)
    assert "policy" not in _audit._slots
    message = str(info.value)
    assert ORIGIN in message and FAIL_CLOSED in message, message
    return message


def lines(path: pathlib.Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def shared_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A world-writable sticky directory (like /tmp), owned by root."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    return shared


# -- links and files planted at the path ---------------------------------------------------

def test_symlink_at_the_log_path_is_refused_and_its_target_is_unchanged(
        tmp_path: pathlib.Path) -> None:
    target = tmp_path / "passwd"
    target.write_text(PASSWD)
    log = tmp_path / "audit.jsonl"
    log.symlink_to(target)
    r = run_python(tmp_path, LOAD_TWICE, sitecustomize=None)
    assert r.returncode == 0, r.stderr
    for attempt in ("refused1", "refused2"):  # no request runs without the log
        message = r.out(attempt)
        assert "a symbolic link was found at " + str(log) in message
        assert str(tmp_path / "policy.toml") in message and FAIL_CLOSED in message
        assert f"`rm {log}`" in message
    assert target.read_text() == PASSWD
    assert log.is_symlink()


def test_dangling_symlink_is_refused_and_nothing_is_created_at_its_target(
        tmp_path: pathlib.Path) -> None:
    target = tmp_path / "created-by-root"
    log = tmp_path / "audit.jsonl"
    log.symlink_to(target)
    assert "a symbolic link was found at" in refusal(log)
    assert not target.exists()


def test_hard_link_to_another_file_is_refused(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "passwd"
    target.write_text(PASSWD)
    log = tmp_path / "audit.jsonl"
    os.link(target, log)
    assert "has 2 hard links" in refusal(log)
    assert target.read_text() == PASSWD


def test_named_pipe_at_the_log_path_is_refused_without_hanging(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.jsonl"
    os.mkfifo(log)
    code = ("import sys\nfrom securl import _audit\ntry:\n"
            f"    _audit.configure_from_policy({str(log)!r}, 'json', 'p.toml')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=30, check=False)
    assert r.stdout.startswith("ConfigurationError"), r.stdout + r.stderr
    assert "is not a regular file" in r.stdout


def test_log_owned_by_another_user_is_refused(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text("planted\n")
    os.chmod(log, 0o600)
    os.chown(log, 65534, 65534)
    message = refusal(log)
    assert "is owned by another user (uid 65534)" in message and str(log) in message
    assert log.read_text() == "planted\n"


def test_world_writable_log_owned_by_root_is_refused_with_its_mode(
        tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text("")
    os.chmod(log, 0o666)
    message = refusal(log)
    assert "mode 0666" in message and "writable by its group or other users" in message
    assert f"`chmod 0644 {log}`" in message
    assert log.read_text() == ""


# -- the directories above the log ----------------------------------------------------------

def test_group_writable_log_directory_is_refused(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "log"
    directory.mkdir()
    os.chmod(directory, 0o775)
    log = directory / "audit.jsonl"
    message = refusal(log)
    assert f"directory {directory} is writable by its group" in message
    assert "mode 0775" in message and "StrictModes" in message
    assert not log.exists()


def test_sticky_world_writable_directory_with_a_root_owned_0600_log_is_accepted(
        tmp_path: pathlib.Path) -> None:
    log = shared_dir(tmp_path) / "audit.jsonl"
    log.write_text('{"event":"earlier"}\n')
    os.chmod(log, 0o600)
    handler = _audit.configure_from_policy(str(log), "json", ORIGIN)
    assert _audit._slots["policy"] is handler
    _audit.emit("uninstalled", policy="p")
    assert [e["event"] for e in lines(log)] == ["earlier", "securl.uninstalled"]
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def test_the_application_log_uses_the_same_opener(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "passwd"
    target.write_text(PASSWD)
    log = tmp_path / "app.jsonl"
    log.symlink_to(target)
    with pytest.raises(securl.ConfigurationError, match="a symbolic link was found at"):
        securl.audit.configure(log_file=str(log))
    assert target.read_text() == PASSWD


# -- creating and appending ----------------------------------------------------------------

def test_new_log_is_created_0640_under_umask_000_and_processes_append(
        tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.jsonl"
    for _ in range(2):
        r = run_python(tmp_path, "import securl\nsecurl.Session()\nprint('ok=1')\n",
                       sitecustomize=None, head="import os\nos.umask(0)\n")
        assert r.out("ok") == "1", r.stderr
    st = os.stat(log)
    assert stat.S_IMODE(st.st_mode) == (0o640 if os.geteuid() == 0 else 0o600)
    assert st.st_uid == os.geteuid()
    # the second process appended: both processes' first lines are there
    assert [e["event"] for e in lines(log)].count("securl.policy_loaded") == 2


def test_two_handlers_on_one_log_both_keep_their_lines(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "audit.jsonl"
    first = _audit.make_handler(str(log))
    second = None
    try:
        first.handle(logging.makeLogRecord({"msg": "a1"}))
        second = _audit.make_handler(str(log))
        first.handle(logging.makeLogRecord({"msg": "a2"}))
        second.handle(logging.makeLogRecord({"msg": "b1"}))
        first.handle(logging.makeLogRecord({"msg": "a3"}))
        for handler in (first, second):
            assert isinstance(handler, logging.FileHandler) and handler.stream is not None
            flags = fcntl.fcntl(handler.stream.fileno(), fcntl.F_GETFL)
            assert flags & os.O_APPEND and not flags & os.O_NONBLOCK
    finally:
        first.close()
        if second is not None:
            second.close()
    assert [e["message"] for e in lines(log)] == ["a1", "a2", "b1", "a3"]


def test_a_reopened_log_is_checked_again(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "passwd"
    target.write_text(PASSWD)
    log = tmp_path / "audit.jsonl"
    handler = _audit.make_handler(str(log))
    handler.close()  # logging reopens a closed FileHandler at its next record
    log.unlink()
    log.symlink_to(target)
    with pytest.raises(securl.ConfigurationError, match="a symbolic link was found at"):
        handler.handle(logging.makeLogRecord({"msg": "after the swap"}))
    handler.close()
    assert target.read_text() == PASSWD


# -- another local user, for real ------------------------------------------------------------

@dataclass
class Attacker:
    name: str
    uid: int
    shared: pathlib.Path
    python: str
    runuser: str

    def run(self, code: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run ``code`` with Python as this unprivileged user."""
        return subprocess.run(
            [self.runuser, "-u", self.name, "--", self.python, "-c", code],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {})}, cwd="/",
            capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    """A throwaway system user and a shared 1777 directory it can write, both removed after."""
    name = f"securl-t-{secrets.token_hex(4)}"
    try:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        pytest.skip(f"useradd is unavailable ({exc}): no unprivileged user to attack with")
    if made.returncode != 0:
        pytest.skip(f"useradd failed ({made.stderr.strip()}): no unprivileged user to attack "
                    "with")
    shared = pathlib.Path(f"/tmp/securl-t-{secrets.token_hex(6)}")
    try:
        shared.mkdir()
        os.chmod(shared, 0o1777)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        python = next(p for p in ("/usr/bin/python3", sys.executable)
                      if os.access(p, os.X_OK) and subprocess.run(
                          [runuser, "-u", name, "--", p, "-c", "pass"], cwd="/",
                          capture_output=True, timeout=60, check=False).returncode == 0)
        yield Attacker(name, pwd.getpwnam(name).pw_uid, shared, python, runuser)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        subprocess.run(["userdel", name], capture_output=True, timeout=60, check=False)


def policy_child(tmp_path: pathlib.Path, log: pathlib.Path) -> tuple[str, str]:
    """Root's securl, in a child, with a policy naming ``log``: its two load results."""
    r = run_python(tmp_path, LOAD_TWICE, sitecustomize=None, audit=False,
                   policy=f"[audit]\nlog_file = {json.dumps(str(log))}\n")
    assert r.returncode == 0, r.stderr
    first, second = (line.split("=", 1) for line in r.stdout.splitlines()[:2])
    assert first[0] == "refused1" and second[0] == "refused2", r.stdout
    return first[1], second[1]


def test_another_user_symlink_in_a_shared_directory_is_refused(
        tmp_path: pathlib.Path, attacker: Attacker) -> None:
    target = tmp_path / "passwd"
    target.write_text(PASSWD)
    log = attacker.shared / "audit.jsonl"
    made = attacker.run(f"import os; os.symlink({str(target)!r}, {str(log)!r})")
    assert made.returncode == 0, made.stderr
    assert os.lstat(log).st_uid == attacker.uid
    message, again = policy_child(tmp_path, log)
    assert f"a symbolic link was found at {log}" in message and FAIL_CLOSED in message
    assert f"owner {attacker.name} (uid {attacker.uid})" in message
    assert "a symbolic link was found" in again
    assert target.read_text() == PASSWD


def test_another_user_file_in_a_shared_directory_is_refused(
        tmp_path: pathlib.Path, attacker: Attacker) -> None:
    log = attacker.shared / "audit.jsonl"
    forged = '{"event":"securl.policy_loaded","path":"forged"}\n'
    made = attacker.run(f"import os\nos.umask(0o077)\nopen({str(log)!r}, 'w').write({forged!r})")
    assert made.returncode == 0, made.stderr
    message, _ = policy_child(tmp_path, log)
    assert f"is owned by another user (uid {attacker.uid})" in message, message
    assert log.read_text() == forged  # root wrote nothing into it


def test_another_user_cannot_append_truncate_or_remove_the_log_root_created(
        attacker: Attacker) -> None:
    log = attacker.shared / "audit.jsonl"
    _audit.configure_from_policy(str(log), "json", ORIGIN)
    _audit.emit("uninstalled", policy="p")
    before = log.read_text()
    assert before and os.stat(log).st_uid == 0
    tries = attacker.run(
        "import os\n"
        f"path = {str(log)!r}\n"
        "for name, act in [('append', lambda: open(path, 'a').write('forged\\n')),\n"
        "                  ('truncate', lambda: open(path, 'w')),\n"
        "                  ('remove', lambda: os.unlink(path)),\n"
        "                  ('rename', lambda: os.rename(path, path + '.old'))]:\n"
        "    try:\n"
        "        act()\n"
        "        print(name, 'done')\n"
        "    except OSError as exc:\n"
        "        print(name, type(exc).__name__)\n")
    assert tries.stdout.split("\n")[:4] == [
        "append PermissionError", "truncate PermissionError", "remove PermissionError",
        "rename PermissionError"], tries.stdout + tries.stderr
    assert log.read_text() == before


def test_an_unprivileged_users_securl_creates_its_log_0600_and_root_refuses_it(
        tmp_path: pathlib.Path, attacker: Attacker) -> None:
    log = attacker.shared / "user.jsonl"
    # A copy of the package the user can read wherever the checkout lives (it may sit in a
    # directory only root can enter).
    readable = attacker.shared / "src"
    shutil.copytree(pathlib.Path(SRC) / "securl", readable / "securl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in [readable, *readable.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    made = attacker.run(
        "import os\nos.umask(0)\nfrom securl import _audit\n"
        f"_audit.configure_from_policy({str(log)!r}, 'json', 'p.toml')\n"
        "_audit.emit('uninstalled', policy='p')\n", env={"PYTHONPATH": str(readable)})
    assert made.returncode == 0, made.stderr
    st = os.stat(log)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (attacker.uid, 0o600)
    assert [e["event"] for e in lines(log)] == ["securl.uninstalled"]
    assert f"is owned by another user (uid {attacker.uid})" in refusal(log)
