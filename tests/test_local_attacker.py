"""Another local user attacks root's securl: each finding reproduced, and refused.

These run as root with a throwaway unprivileged user (created and removed here). The attacker
acts only through /bin/sh (mkdir, ln, chmod, cp): that is all such a user needs, and the
test Python lives under a directory they may not read. Root's side is securl itself, in real
subprocesses. Where a user cannot be created (not root, no useradd) the tests are skipped
with that reason.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import securl
from _child import HOOK, child_env
from _servers import LocalServer
from securl import _policy
from securl.admin import files as admin_files
from securl.cli.admin import install_sitecustomize


@dataclass(frozen=True)
class Attacker:
    name: str
    uid: int
    gid: int

    def sh(self, script: str) -> None:
        """Run ``script`` with /bin/sh as the attacker; it must succeed."""
        r = subprocess.run(["runuser", "-u", self.name, "--", "/bin/sh", "-ec", script],
                           capture_output=True, text=True, timeout=30, check=False)
        assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the attack is another local user against root's securl")
    if shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("useradd/runuser not available: no throwaway user can be created")
    name = f"securl-t-{secrets.token_hex(3)}"
    r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name],
                       capture_output=True, text=True, timeout=30, check=False)
    if r.returncode != 0:
        pytest.skip(f"useradd failed, so no throwaway user: {r.stderr.strip()}")
    import pwd

    entry = pwd.getpwnam(name)
    try:
        yield Attacker(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30, check=False)


@pytest.fixture
def shared() -> Iterator[pathlib.Path]:
    """A world-writable sticky directory, like /tmp, that both users can reach."""
    path = pathlib.Path(f"/tmp/securl-shared-{secrets.token_hex(4)}")
    path.mkdir()
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def securl_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "securl", *args], capture_output=True,
                          text=True, timeout=60, check=False, env=env)


# --- High 1: no setuid binaries from `get -o` or the writers --------------------------------

@pytest.mark.parametrize("planted", ["setuid file", "link to a setuid file"])
def test_get_output_over_a_planted_setuid_file_gives_no_setuid_root_binary(
        attacker: Attacker, shared: pathlib.Path, https_server: LocalServer, ca_file: str,
        planted: str) -> None:
    home = shared / "x"
    target = home / "id"
    attacker.sh(f"mkdir {home} && chmod 755 {home} && cp /bin/true {home}/own && "
                f"chmod 6777 {home}/own && "
                + (f"cp /bin/true {target} && chmod 4755 {target}" if planted == "setuid file"
                   else f"ln -s {home}/own {target}"))
    r = securl_cli("get", https_server.url("/"), "--ca-certs", ca_file, "-o", str(target))
    assert r.returncode == 0, r.stderr
    st = os.lstat(target)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0
    assert not st.st_mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), oct(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o666 & ~current_umask()  # a new file's mode
    assert stat.S_IMODE(os.stat(home / "own").st_mode) == 0o6777  # the link's target untouched


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_sitecustomize_writer_drops_setuid_and_group_write(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    existing = site / "sitecustomize.py"
    existing.write_text("x = 1\n")
    existing.chmod(0o6777)
    install_sitecustomize(str(site))
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # no setuid/setgid, no g/o write
    assert "x = 1" in existing.read_text()


def test_sitecustomize_refuses_a_world_writable_site_dir_and_writes_through_a_link(
        tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    site.chmod(0o1777)
    with pytest.raises(securl.ConfigurationError, match=r"site directory.*mode 1777"):
        install_sitecustomize(str(site))
    assert not (site / "sitecustomize.py").exists()
    site.chmod(0o755)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "sitecustomize.py").write_text("# the distribution's file\n")
    (site / "sitecustomize.py").symlink_to(etc / "sitecustomize.py")
    report = install_sitecustomize(str(site))
    assert str(etc / "sitecustomize.py") in report
    assert (site / "sitecustomize.py").is_symlink()  # the link stays a link
    assert "securl: managed block" in (etc / "sitecustomize.py").read_text()


# --- High 2: StrictModes for the policy and the files it names ------------------------------

def test_a_policy_another_user_can_edit_is_refused(
        attacker: Attacker, tmp_path: pathlib.Path, shared: pathlib.Path) -> None:
    policy = shared / "policy.toml"
    attacker.sh(f"printf 'allow_unverified = false\\n' > {policy} && chmod 666 {policy}")
    r = subprocess.run([sys.executable, "-m", "securl.cli.admin", "install-sitecustomize",
                        "--site-dir", str(tmp_path), "--policy", str(policy)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1
    assert f"uid {attacker.uid}" in r.stderr and "StrictModes" in r.stderr
    assert not (tmp_path / "sitecustomize.py").exists()


def test_a_root_policy_in_a_directory_another_user_owns_is_refused(
        attacker: Attacker, shared: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attacker.sh(f"mkdir {shared}/etc && chmod 755 {shared}/etc")
    policy = shared / "etc" / "policy.toml"
    policy.write_text("allow_unverified = false\n")  # root-owned 0644, but in their dir
    monkeypatch.setenv("SECURL_POLICY", str(policy))
    _policy._reset_for_tests()
    try:
        with pytest.raises(securl.ConfigurationError,
                           match=rf"directory {shared}/etc is owned by another user"):
            _policy.get_policy()
    finally:
        _policy._reset_for_tests()


@pytest.mark.parametrize("key", ["extra_ca_certs", "pins_file"])
def test_files_the_policy_names_must_not_be_another_users(
        attacker: Attacker, shared: pathlib.Path, tmp_path: pathlib.Path, ca_file: str,
        https_server: LocalServer, key: str) -> None:
    planted = shared / f"{key}.pem"
    planted.write_bytes(pathlib.Path(ca_file).read_bytes())
    os.chown(planted, attacker.uid, attacker.gid)  # the attacker's file, mode 0644
    policy = tmp_path / "policy.toml"
    policy.write_text(f"{key} = {json.dumps(str(planted))}\n")
    code = ("import securl\ntry:\n"
            f"    securl.Session(ca_certs={ca_file!r}).get({https_server.url('/')!r})\n"
            "    print('result=fetched')\n"
            "except securl.ConfigurationError as exc:\n"
            "    print('result=refused:' + str(exc))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=False,
                       env=child_env({"SECURL_POLICY": str(policy)}))
    out = r.stdout.strip()
    assert out.startswith("result=refused:"), (out, r.stderr)
    assert f"uid {attacker.uid}" in out
    assert https_server.seen == []


def test_relative_paths_in_the_policy_are_refused(tmp_path: pathlib.Path) -> None:
    for key in ("extra_ca_certs", "pins_file"):
        with pytest.raises(securl.ConfigurationError, match="relative path"):
            _policy.parse_policy(f'{key} = "corp-ca.pem"\n', str(tmp_path / "p.toml"))
    with pytest.raises(securl.ConfigurationError, match="relative path"):
        _policy.parse_policy('[audit]\nlog_file = "audit.log"\n', str(tmp_path / "p.toml"))


# --- High 3: the pinned policy fails closed ---------------------------------------------------

def test_the_pinned_policy_fails_closed_after_the_attackers_mkdir(
        attacker: Attacker, shared: pathlib.Path, tmp_path: pathlib.Path, ca_file: str,
        self_signed_server: LocalServer) -> None:
    log = shared / "audit.jsonl"
    pinned = tmp_path / "admin.toml"
    pinned.write_text(f'allow_unverified = false\n[audit]\nlog_file = "{log}"\n')
    lax = shared / "lax.toml"
    attacker.sh(f"printf 'allow_unverified = true\\n' > {lax} && mkdir {log}")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOOK.replace("arm()", f"arm(policy={str(pinned)!r})"))
    code = ("import securl, urllib.request\n"
            "try:\n"
            f"    securl.get({self_signed_server.url('/')!r}, "
            "tls=securl.unverified(reason='lab'))\n"
            "    print('optout=allowed')\n"
            "except securl.SecurlError as exc:\n"
            "    print('optout=refused:' + type(exc).__name__)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=False,
                       env=child_env({"SECURL_POLICY": str(lax)}, site))
    assert "optout=refused" in r.stdout, (r.stdout, r.stderr)
    assert str(log) in r.stderr  # the failure is named
    assert self_signed_server.seen == []


# --- Medium 5: pins-file writes never follow planted links ----------------------------------

@pytest.mark.parametrize("where", ["pins file", "lock file"])
@pytest.mark.parametrize("place", ["attacker's link, shared sticky dir", "link, private dir"])
def test_pin_add_never_writes_through_a_planted_link(
        attacker: Attacker, shared: pathlib.Path, tmp_path: pathlib.Path,
        https_server: LocalServer, ca_file: str, where: str, place: str) -> None:
    directory = shared if place.startswith("attacker") else tmp_path
    victim = directory / "nologin"  # stands for /etc/nologin: must not be created
    pins = directory / "pins"
    link = pins if where == "pins file" else pathlib.Path(f"{pins}.lock")
    if place.startswith("attacker"):
        attacker.sh(f"ln -s {victim} {link}")
    else:  # no kernel symlink protection here: securl's own O_NOFOLLOW / link check acts
        link.symlink_to(victim)
    r = securl_cli("pin", https_server.url("/"), "--ca-certs", ca_file, "--add", str(pins))
    assert r.returncode != 0
    assert not victim.exists()
    assert link.is_symlink()
    if place == "link, private dir":
        assert ("symbolic link" in r.stderr if where == "pins file"
                else "Too many levels of symbolic links" in r.stderr), r.stderr


def test_a_new_pins_file_follows_the_umask(tmp_path: pathlib.Path, https_server: LocalServer,
                                           ca_file: str) -> None:
    pins = tmp_path / "pins"
    r = subprocess.run(
        ["/bin/sh", "-c", f"umask 077 && {sys.executable} -m securl pin {https_server.url('/')} "
                          f"--ca-certs {ca_file} --add {pins}"],
        capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(pins.stat().st_mode) == 0o600


# --- Low 9: a setuid process ignores the invoker's environment ------------------------------

def test_a_setuid_process_ignores_trust_and_policy_variables(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, ca_file: str,
        events: list[securl.AuditEvent]) -> None:
    evil = tmp_path / "evil.toml"
    evil.write_text("allow_unverified = true\n")
    monkeypatch.setenv("SECURL_POLICY", str(evil))
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    monkeypatch.setattr(admin_files, "_secure", True)  # as AT_SECURE makes it
    _policy._reset_for_tests()
    try:
        path, why = _policy.policy_source()
        assert path != str(evil) and why == "the default location"
        info = securl.trust_info()
        assert info.source != "environment"
    finally:
        _policy._reset_for_tests()
    ignored = {e.fields["variable"] for e in events if e.name == "securl.insecure_environment"}
    assert {"SECURL_POLICY", "SSL_CERT_FILE"} <= ignored

