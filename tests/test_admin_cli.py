"""``securl admin ...`` run as a real command (``python -m securl.cli.admin``) in subprocesses."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from _child import PRELUDE, child_env

POLICY_ENV = "SECURL_POLICY"


def admin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "securl.cli.admin", *args],
        env=child_env(env), capture_output=True, text=True, timeout=60, check=False,
    )


def test_install_creates_the_hook_and_a_child_interpreter_runs_it(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    r = admin("install-sitecustomize", "--site-dir", str(site))
    assert r.returncode == 0, r.stderr
    assert f"created {site / 'sitecustomize.py'}" in r.stdout
    text = (site / "sitecustomize.py").read_text()
    assert text.startswith("# >>> securl: managed block")
    assert text.endswith("# <<< securl <<<\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import securl.admin.install as i, ssl; print(i.status())"],
        env=child_env({POLICY_ENV: os.devnull}, site), capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert "'installed': True" in proc.stdout, proc.stderr
    assert f"'sitecustomize': '{site / 'sitecustomize.py'}'" in proc.stdout


def test_existing_content_is_kept_and_uninstall_removes_exactly_the_block(
        tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    original = "# corporate proxy settings\nimport os\nos.environ.setdefault('X', '1')\n"
    hook = site / "sitecustomize.py"
    hook.write_text(original)
    os.chmod(hook, 0o640)
    assert admin("install-sitecustomize", "--site-dir", str(site)).returncode == 0
    once = hook.read_text()
    assert once.startswith(original)
    assert once.count("# >>> securl") == 1
    r = admin("install-sitecustomize", "--site-dir", str(site))  # again: replaced, not doubled
    assert "updated securl's block" in r.stdout
    assert hook.read_text() == once
    assert oct(hook.stat().st_mode & 0o777) == oct(0o640)
    r = admin("uninstall-sitecustomize", "--site-dir", str(site))
    assert r.returncode == 0, r.stderr
    assert hook.read_text() == original


def test_block_in_the_middle_is_removed_with_what_follows_kept(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    hook = site / "sitecustomize.py"
    hook.write_text("a = 1\n")
    admin("install-sitecustomize", "--site-dir", str(site))
    hook.write_text(hook.read_text() + "b = 2\n")  # an admin added a line after the block
    assert admin("uninstall-sitecustomize", "--site-dir", str(site)).returncode == 0
    assert hook.read_text() == "a = 1\nb = 2\n"


def test_uninstall_deletes_a_file_that_held_only_the_block(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    admin("install-sitecustomize", "--site-dir", str(site))
    r = admin("uninstall-sitecustomize", "--site-dir", str(site))
    assert r.returncode == 0
    assert not (site / "sitecustomize.py").exists()
    r = admin("uninstall-sitecustomize", "--site-dir", str(site))
    assert r.returncode == 1
    assert "does not exist; nothing to remove" in r.stderr


def test_uninstall_without_a_block_changes_nothing(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("x = 1\n")
    r = admin("uninstall-sitecustomize", "--site-dir", str(site))
    assert r.returncode == 1
    assert "has no securl block" in r.stderr
    assert (site / "sitecustomize.py").read_text() == "x = 1\n"


def test_policy_is_pinned_in_the_hook_and_beats_securl_policy(
        tmp_path: pathlib.Path, ca_file: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pinned = tmp_path / "admin.toml"
    pinned.write_text('on_process_wide_unverified = "refuse"\nallow_unverified = false\n')
    lax = tmp_path / "lax.toml"
    lax.write_text('on_process_wide_unverified = "allow"\n')
    r = admin("install-sitecustomize", "--site-dir", str(site), "--policy", str(pinned))
    assert r.returncode == 0, r.stderr
    assert f"policy={str(pinned)!r}" in (site / "sitecustomize.py").read_text()
    code = PRELUDE + """
import securl, securl._policy
print("policy=" + securl._policy.get_policy().path)
ssl._create_default_https_context = ssl._create_unverified_context  # ignored under refuse
print("patch=" + ("allowed" if ssl._create_default_https_context is
                  ssl._create_unverified_context else "refused"))
"""
    proc = subprocess.run([sys.executable, "-c", code],
                          env=child_env({POLICY_ENV: str(lax), "SSL_CERT_FILE": ca_file}, site),
                          capture_output=True, text=True, timeout=60, check=False)
    assert f"policy={pinned}" in proc.stdout, proc.stderr
    assert "patch=refused" in proc.stdout


def test_install_refuses_a_malformed_policy_and_writes_nothing(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    bad = tmp_path / "bad.toml"
    bad.write_text("allow_unverified = 'sometimes'\n")
    r = admin("install-sitecustomize", "--site-dir", str(site), "--policy", str(bad))
    assert r.returncode == 1
    assert f"{bad}:1: key 'allow_unverified' must be a boolean" in r.stderr
    assert not (site / "sitecustomize.py").exists()
    r = admin("install-sitecustomize", "--site-dir", str(site), "--policy",
              str(tmp_path / "missing.toml"))
    assert r.returncode == 1
    assert "does not exist (named by --policy)" in r.stderr


def test_missing_site_dir_is_an_error(tmp_path: pathlib.Path) -> None:
    r = admin("install-sitecustomize", "--site-dir", str(tmp_path / "nope"))
    assert r.returncode == 1
    assert "does not exist" in r.stderr


def test_show_policy_prints_values_and_their_sources(tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('# ours\nminimum_tls_version = "1.3"\n[audit]\nformat = "text"\n')
    r = admin("show-policy", env={POLICY_ENV: str(policy)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"policy file: {policy} (named by $SECURL_POLICY)"
    row = {line.split()[0]: line for line in lines[1:]}
    assert "1.3" in row["minimum_tls_version"]
    assert f"[{policy}:2]" in row["minimum_tls_version"]
    assert f"[{policy}:4]" in row["audit_format"]
    assert "[default]" in row["allow_unverified"]
    assert "refuse after install()" in row["on_process_wide_unverified"]
    assert set(row) >= {"verify_stdlib_clients", "x509_strict", "pins_file", "extra_ca_certs",
                        "allow_basic_auth_over_http", "audit_log_file"}


def test_show_policy_json_and_missing_default_file(tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("x509_strict = false\n")
    r = admin("show-policy", "--json", "--policy", str(policy))
    data = json.loads(r.stdout)
    values = {row["key"]: row for row in data["values"]}
    assert values["x509_strict"]["value"] is False
    assert values["x509_strict"]["source"] == f"{policy}:1"
    assert data["file_source"] == "named by --policy"


def test_show_policy_malformed_fails_closed(tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[audit]\nformat = 'xml'\n")
    r = admin("show-policy", env={POLICY_ENV: str(policy)})
    assert r.returncode == 1
    assert f"{policy}:2: key 'audit.format'" in r.stderr


def test_usage_errors_exit_2() -> None:
    r = admin("frobnicate")
    assert r.returncode == 2
    assert "usage: securl admin" in r.stderr


def test_install_warns_when_another_sitecustomize_runs_first(tmp_path: pathlib.Path) -> None:
    first, target = tmp_path / "first", tmp_path / "target"
    first.mkdir()
    target.mkdir()
    (first / "sitecustomize.py").write_text("# the distribution's own\n")
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(first), str(target)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    r = subprocess.run(
        [sys.executable, "-m", "securl.cli.admin", "install-sitecustomize", "--site-dir",
         str(target)], env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert r.returncode == 0, r.stderr
    assert f"warning: {first / 'sitecustomize.py'} comes first on sys.path" in r.stdout


def test_show_policy_and_doctor_show_the_policy_the_hook_pins(tmp_path: pathlib.Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pinned = tmp_path / "admin.toml"
    pinned.write_text("allow_unverified = false\n")
    other = tmp_path / "other.toml"
    other.write_text("allow_unverified = true\n")
    assert admin("install-sitecustomize", "--site-dir", str(site), "--policy",
                 str(pinned)).returncode == 0
    env = child_env({POLICY_ENV: str(other)}, site)
    shown = subprocess.run([sys.executable, "-m", "securl.cli.admin", "show-policy", "--json"],
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(shown.stdout)
    assert report["file"] == str(pinned), shown.stderr
    values = {row["key"]: row["value"] for row in report["values"]}
    assert values["allow_unverified"] is False
    doctor = subprocess.run([sys.executable, "-m", "securl", "doctor"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert f"policy file:   {pinned}" in doctor.stdout, doctor.stdout
    assert "allow_unverified = False" in doctor.stdout
