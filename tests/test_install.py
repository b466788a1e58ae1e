"""securl.install() from sitecustomize, proven in real child interpreters against real servers.

Each test starts a fresh Python with its own sitecustomize.py, environment and policy file,
and uses plain stdlib ``urllib.request.urlopen`` against local TLS servers: one signed by the
test CA (which SSL_CERT_FILE names) and one self-signed.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys

import pytest

from _child import EAGER_HOOK, HOOK, child_env, run_python, urls
from _servers import LocalServer, RawServer, server_context


@pytest.fixture
def env(ca_file: str, https_server: LocalServer,
        self_signed_server: LocalServer) -> dict[str, str]:
    return {"SSL_CERT_FILE": ca_file, **urls(https_server, self_signed_server)}


def test_hook_makes_stdlib_urlopen_verify_with_securl(tmp_path: pathlib.Path,
                                                      env: dict[str, str]) -> None:
    r = run_python(tmp_path, """
ctx = ssl._create_default_https_context()  # the first TLS use installs securl
print("factory=" + ssl._create_default_https_context.__module__)
print("strict=" + str(bool(ctx.verify_flags & ssl.VERIFY_X509_STRICT)))
print("good=" + fetch(GOOD))
print("bad=" + fetch(BAD))
""", env=env)
    assert r.returncode == 0, r.stderr
    assert r.out("factory") == "securl.admin.install"
    assert r.out("strict") == "True"
    assert r.out("good") == "ok:hello"
    assert r.out("bad").startswith("fail:SSLCertVerificationError")
    assert "self-signed" in r.out("bad") or "self signed" in r.out("bad")
    (installed,) = r.named("securl.installed")
    assert installed["on_process_wide_unverified"] == "refuse"
    assert installed["https_context"] == "securl.admin.install.https_context"
    assert r.stderr == ""


def test_stdlib_urlopen_uses_securls_context_not_the_stdlib_one(
        tmp_path: pathlib.Path, leaf: object, ca_file: str) -> None:
    # Policy demands TLS 1.3; the server stops at 1.2. Only securl's context refuses it, so
    # this tells the hook's context apart from the stdlib default (both trust SSL_CERT_FILE).
    (tmp_path / "hooked").mkdir()
    (tmp_path / "plain").mkdir()
    with LocalServer(server_context(leaf, maximum=ssl.TLSVersion.TLSv1_2)) as old:
        extra = {"SSL_CERT_FILE": ca_file, "GOOD_URL": old.url("/", host="127.0.0.1")}
        code = 'print("good=" + fetch(GOOD))\n'
        hooked = run_python(tmp_path / "hooked", code, policy='minimum_tls_version = "1.3"\n',
                            env=extra)
        plain = run_python(tmp_path / "plain", code, sitecustomize="", env=extra)
    assert plain.out("good") == "ok:hello"
    assert hooked.out("good").startswith("fail:SSLError"), hooked.out("good")


def test_each_call_gets_a_fresh_context_that_its_caller_may_configure(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, """
a = ssl._create_default_https_context()
b = ssl._create_default_https_context()
print("distinct=" + str(a is not b))
a.check_hostname = False          # the caller's own business, for its own connection
a.verify_mode = ssl.CERT_NONE
print("b_verifies=" + str(b.verify_mode == ssl.CERT_REQUIRED and b.check_hostname))
c = ssl._create_default_https_context()
print("c_verifies=" + str(c.verify_mode == ssl.CERT_REQUIRED and c.check_hostname))
print("good=" + fetch(GOOD))
print("bad=" + fetch(BAD))
""", env=env)
    assert r.out("distinct") == "True"
    assert r.out("b_verifies") == "True"
    assert r.out("c_verifies") == "True"
    assert r.out("good") == "ok:hello"
    assert r.out("bad").startswith("fail:SSLCertVerificationError")


# --- application code patching after install() ----------------------------------------------

PATCH = "ssl._create_default_https_context = ssl._create_unverified_context  # PATCH\n"


def test_refuse_ignores_the_patch_with_a_warning_and_stdlib_keeps_verifying(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, f"""
import securl
{PATCH.strip()}
print("patched=yes")  # never raised into the program
print("factory=" + ssl._create_default_https_context.__module__)
print("bad=" + fetch(BAD))
print("good=" + fetch(GOOD))
""", env=env)
    assert r.returncode == 0, r.stderr
    line = r.line_of("# PATCH")
    assert r.out("patched") == "yes"
    assert f"app.py:{line}: SecurityWarning: securl ignored `ssl._create_default_https_context" \
        " = ssl._create_unverified_context`" in r.stderr
    assert r.stderr.count(f"app.py:{line}") == 1  # named once, not twice
    assert "sitecustomize" in r.stderr and "on_process_wide_unverified" in r.stderr
    assert "securl.get(" not in r.stderr  # advice for an admin's machine, not a code change
    assert r.out("factory") == "securl.admin.install"
    assert r.out("bad").startswith("fail:SSLCertVerificationError")
    assert r.out("good") == "ok:hello"
    (event,) = r.named("securl.monkeypatch")
    assert event["action"] == "refused"
    assert event["target"] == "ssl._create_default_https_context"
    assert event["caller"].endswith(f"app.py:{line}")


def test_warn_allows_with_a_warning_naming_file_and_line_and_an_audit_event(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, f"""
import securl
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    {PATCH.strip()}
    {PATCH.strip().replace("# PATCH", "# SECOND")}
for w in caught:
    print("warning=" + json.dumps([w.category.__name__, os.path.basename(w.filename),
                                   w.lineno, str(w.message)]))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")   # silencing warnings never silences the audit trail
    ssl._create_default_https_context = ssl._create_unverified_context  # THIRD
print("bad=" + fetch(BAD))
""", policy='on_process_wide_unverified = "warn"\n', env=env)
    assert r.returncode == 0, r.stderr
    warned = [line.split("=", 1)[1] for line in r.stdout.splitlines()
              if line.startswith("warning=")]
    import json
    found = [json.loads(w) for w in warned]
    first, second = r.line_of("# PATCH"), r.line_of("# SECOND")
    assert [(c, f, n) for c, f, n, _ in found] == [
        ("SecurityWarning", "app.py", first), ("SecurityWarning", "app.py", second)
    ]  # every time, each at its own line
    assert f"app.py:{first}" not in found[0][3]  # the warning's location says it, once
    assert "turns off certificate verification" in found[0][3]
    events = r.named("securl.monkeypatch")
    assert [(e["action"], e["caller"].rsplit("/", 1)[-1]) for e in events] == [
        ("warned", f"app.py:{first}"), ("warned", f"app.py:{second}"),
        ("warned", f"app.py:{r.line_of('# THIRD')}"),
    ]
    assert r.out("bad") == "ok:hello"  # warn means the patch took effect


def test_allow_proceeds_silently_but_is_audited(tmp_path: pathlib.Path,
                                                env: dict[str, str]) -> None:
    r = run_python(tmp_path, f"""
{PATCH}
print("bad=" + fetch(BAD))
""", policy='on_process_wide_unverified = "allow"\n', env=env)
    assert r.returncode == 0, r.stderr
    assert "for this whole process" not in r.stderr  # the patch itself: silent
    assert r.out("bad") == "ok:hello"
    (event,) = r.named("securl.monkeypatch")
    assert event["action"] == "allowed"
    # ... but the unverified connection it made is still seen (allow_unverified = true)
    (conn,) = r.named("securl.unverified_connection")
    assert conn["action"] == "allowed" and conn["library"] == "urllib.request"
    assert event["caller"].endswith(f"app.py:{r.line_of('# PATCH')}")


def test_without_install_importing_securl_warns(tmp_path: pathlib.Path,
                                                env: dict[str, str]) -> None:
    r = run_python(tmp_path, f"""
import securl
{PATCH}
print("bad=" + fetch(BAD))
""", sitecustomize="", env=env)
    assert r.returncode == 0, r.stderr
    assert f"app.py:{r.line_of('# PATCH')}: SecurityWarning" in r.stderr
    assert "securl.install() was not called" in r.stderr
    assert r.out("bad") == "ok:hello"


# --- patches made before install() ----------------------------------------------------------

EARLY = ("import ssl\n"
         "ssl._create_default_https_context = ssl._create_unverified_context\n" + EAGER_HOOK)


@pytest.mark.parametrize(
    ("mode", "bad", "warned"),
    [("refuse", "fail:SSLCertVerificationError", True), ("warn", "ok:hello", True),
     ("allow", "ok:hello", False)],
)
def test_patch_made_before_install_is_handled_per_policy(
        tmp_path: pathlib.Path, env: dict[str, str], mode: str, bad: str,
        warned: bool) -> None:
    r = run_python(tmp_path, 'print("bad=" + fetch(BAD))\nprint("good=" + fetch(GOOD))\n',
                   sitecustomize=EARLY, policy=f'on_process_wide_unverified = "{mode}"\n',
                   env=env)
    assert r.returncode == 0, r.stderr
    assert r.out("bad").startswith(bad)
    assert r.out("good") == "ok:hello"
    assert ("SecurityWarning: `ssl." in r.stderr or "SecurityWarning: securl found" in r.stderr
            ) is warned
    (event,) = r.named("securl.monkeypatch")
    assert event["phase"] == "install"
    assert event["action"] == {"refuse": "reverted", "warn": "warned", "allow": "allowed"}[mode]
    (installed,) = r.named("securl.installed")
    assert installed["reverted"] == (["ssl._create_default_https_context"]
                                     if mode == "refuse" else [])


def test_default_policy_reverts_a_patch_made_before_install(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, 'print("bad=" + fetch(BAD))\n', sitecustomize=EARLY, env=env)
    assert r.out("bad").startswith("fail:SSLCertVerificationError")
    assert "put the verifying value back" in r.stderr


def test_patch_that_bypasses_the_guard_is_caught_by_the_per_request_check(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, """
import securl, securl.admin.guard
# Neither setattr nor the module class: straight into the module's dict.
vars(ssl)["SSLContext"] = type("Lax", (ssl.SSLContext,), {
    "__init__": lambda self, *a: setattr(self, "check_hostname", False)})
securl.admin.guard.check_process_wide()
print("restored=" + str(ssl.SSLContext.__module__ == "ssl"))
print("bad=" + fetch(BAD))
""", env=env)
    assert r.out("restored") == "True"
    assert r.out("bad").startswith("fail:SSLCertVerificationError")
    (event,) = r.named("securl.monkeypatch")
    assert (event["target"], event["action"], event["phase"]) == (
        "ssl.SSLContext", "reverted", "request")


def test_truststore_injection_is_a_verified_replacement(
        tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    r = run_python(tmp_path, """
import truststore
with warnings.catch_warnings():
    warnings.simplefilter("error", Warning)
    truststore.inject_into_ssl()
print("class=" + ssl.SSLContext.__module__)
print("good=" + fetch(GOOD))
print("bad=" + fetch(BAD))
""", env=env)
    assert r.returncode == 0, r.stderr
    assert r.out("class") == "truststore._api"
    assert r.out("good") == "ok:hello"  # securl's contexts still build (no recursion)
    assert r.out("bad").startswith("fail:SSLCertVerificationError")
    (event,) = r.named("securl.monkeypatch")
    assert (event["action"], event["verified"]) == ("accepted", True)


# --- failing closed ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("policy", "expect"),
    [
        ("allow_unverified = \n", "not valid TOML"),
        ('allow_unverified = "no"\n', "policy.toml:1: key 'allow_unverified' must be a boolean"),
        ("verify_everything = true\n", "policy.toml:1: unknown key 'verify_everything'"),
        ('on_process_wide_unverified = "ignore"\n',
         "key 'on_process_wide_unverified' must be one of"),
    ],
)
def test_malformed_policy_stops_install_with_nothing_half_installed(
        tmp_path: pathlib.Path, env: dict[str, str], policy: str, expect: str) -> None:
    r = run_python(tmp_path, """
import securl, securl.admin.install
try:
    securl.install()
    print("installed=yes")
except securl.ConfigurationError as exc:
    print("error=" + str(exc))
print("is_installed=" + str(securl.admin.install.is_installed()))
print("factory=" + ssl._create_default_https_context.__qualname__)
""", sitecustomize="", policy=policy, audit=False, env=env)
    assert r.returncode == 0, r.stderr
    assert expect in r.out("error")
    assert str(tmp_path / "policy.toml") in r.out("error")
    assert r.out("is_installed") == "False"
    assert r.out("factory") == "create_default_context"


def test_malformed_policy_in_the_hook_says_so_on_stderr(tmp_path: pathlib.Path,
                                                        env: dict[str, str]) -> None:
    from securl.cli.admin import hook_block

    r = run_python(tmp_path, 'print("good=" + fetch(GOOD))\nprint("again=" + fetch(GOOD))\n',
                   sitecustomize=hook_block(), policy="x509_strict = 1\n", audit=False, env=env)
    assert r.returncode == 0
    assert r.stderr.count("securl: install() from sitecustomize failed") == 1, r.stderr
    assert "key 'x509_strict' must be a boolean" in r.stderr
    # fails closed: no TLS connection from this process until the policy is fixed
    for key in ("good", "again"):
        assert r.out(key).startswith("error:PolicyError:securl refuses this TLS connection")
        assert "x509_strict" in r.out(key)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PYTHONHTTPSVERIFY", "0"), ("REQUESTS_CA_BUNDLE", ""), ("CURL_CA_BUNDLE", "")],
)
def test_environment_disables_are_reported_at_install(
        tmp_path: pathlib.Path, env: dict[str, str], variable: str, value: str) -> None:
    r = run_python(tmp_path, 'print("bad=" + fetch(BAD))\n', env={**env, variable: value})
    assert f"SecurityWarning: {variable}={value!r}" in r.stderr
    (event,) = r.named("securl.insecure_environment")
    assert (event["variable"], event["value"]) == (variable, value)
    assert r.out("bad").startswith("fail:SSLCertVerificationError")


@pytest.mark.parametrize("kind", ["missing", "empty-file", "empty-variable", "no-pem"])
def test_broken_ssl_cert_file_fails_closed_with_a_clear_error(
        tmp_path: pathlib.Path, env: dict[str, str], kind: str) -> None:
    target = tmp_path / "bundle.pem"
    if kind == "empty-file":
        target.write_text("")
    elif kind == "no-pem":
        target.write_text("not a certificate\n")
    value = "" if kind == "empty-variable" else str(target)
    r = run_python(tmp_path, 'print("good=" + fetch(GOOD))\n',
                   env={**env, "SSL_CERT_FILE": value})
    assert "SecurityWarning: SSL_CERT_FILE=" in r.stderr
    assert "fails closed" in r.stderr
    (event,) = r.named("securl.insecure_environment")
    assert event["variable"] == "SSL_CERT_FILE"
    # Every stdlib HTTPS connection now fails with an error that names the cause.
    good = r.out("good")
    assert good.startswith("error:ConfigurationError:SSL_CERT_FILE"), good


# --- lifecycle --------------------------------------------------------------------------------

def test_install_is_idempotent_and_uninstall_restores(tmp_path: pathlib.Path,
                                                      env: dict[str, str]) -> None:
    r = run_python(tmp_path, """
import securl
before = ssl._create_default_https_context
securl.install()          # second call (the hook made the first): no-op
securl.install()
print("same=" + str(ssl._create_default_https_context is before))
securl.uninstall()
print("restored=" + str(ssl._create_default_https_context is ssl.create_default_context))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ssl._create_default_https_context = ssl._create_unverified_context
print("after_uninstall=" + ",".join(w.category.__name__ for w in caught))
securl.uninstall()        # idempotent too
""", env=env)
    assert r.returncode == 0, r.stderr
    assert r.out("same") == "True"
    assert r.out("restored") == "True"
    assert r.out("after_uninstall") == "SecurityWarning"  # back to the import-time default
    assert len(r.named("securl.installed")) == 1
    assert len(r.named("securl.uninstalled")) == 1


def test_python_dash_S_skips_the_hook(tmp_path: pathlib.Path, env: dict[str, str]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOOK)
    code = ("import ssl; ssl.create_default_context(); "
            "print(ssl._create_default_https_context.__module__)")
    out = {}
    for flag in ("", "-S"):
        args = [sys.executable] + ([flag] if flag else []) + ["-c", code]
        proc = subprocess.run(args, env=child_env({**env, "SECURL_POLICY": os.devnull}, site),
                              capture_output=True, text=True, timeout=60, check=False)
        out[flag] = proc.stdout.strip()
    assert out == {"": "securl.admin.install", "-S": "ssl"}


# --- mail and FTP clients (ssl._create_stdlib_context) -------------------------------------

def smtp_over_tls(cert: object) -> RawServer:
    """A minimal SMTPS server: TLS from the first byte, greeting, 250 to all, 221 to QUIT."""
    ctx = server_context(cert)

    def behaviour(sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            tls = ctx.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            tls.sendall(b"220 localhost ESMTP test\r\n")
            reader = tls.makefile("rb")
            for line in reader:
                if line.upper().startswith(b"QUIT"):
                    tls.sendall(b"221 bye\r\n")
                    return
                tls.sendall(b"250 ok\r\n")

    return RawServer(behaviour)


SMTP = """
import smtplib
def smtp(port):
    try:
        with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10) as s:
            return "ok:" + str(s.noop()[0])
    except ssl.SSLCertVerificationError as exc:
        return "fail:" + exc.verify_message + ":" + str(exc)
print("good=" + smtp(int(os.environ["GOOD_PORT"])))
print("bad=" + smtp(int(os.environ["BAD_PORT"])))
print("factory=" + ssl._create_stdlib_context.__qualname__)
"""


@pytest.mark.parametrize(("policy", "bad"), [("", "ok:250"), ("verify_stdlib_clients = true\n",
                                                                "fail:self")])
def test_mail_clients_verify_only_when_policy_says_so(
        tmp_path: pathlib.Path, leaf: object, ca_file: str, policy: str, bad: str) -> None:
    from _certs import self_signed

    with smtp_over_tls(leaf) as good, smtp_over_tls(self_signed()) as evil:
        r = run_python(tmp_path, SMTP, policy=policy, env={
            "SSL_CERT_FILE": ca_file, "GOOD_PORT": str(good.port), "BAD_PORT": str(evil.port)})
    assert r.returncode == 0, r.stderr
    assert r.out("good") == "ok:250"
    assert r.out("bad").startswith(bad), r.out("bad")
    expected = "stdlib_client_context" if policy else "_create_unverified_context"
    assert r.out("factory") == expected
    if policy:  # the error says who checks and why: securl's policy key
        assert "verify_stdlib_clients = true" in r.out("bad"), r.out("bad")
    else:  # unverified by the stdlib's default: seen at the connection, allowed, audited
        events = r.named("securl.unverified_connection")
        assert [e["action"] for e in events] == ["allowed", "allowed"]
        assert events[0]["library"] == "smtplib"


# --- the deferred sitecustomize hook -------------------------------------------------------

def run_c(tmp_path: pathlib.Path, code: str, hook: str = HOOK,
          extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(hook)
    return subprocess.run([sys.executable, "-c", code], env=child_env(
        {"SECURL_POLICY": os.devnull, **(extra or {})}, site), capture_output=True, text=True,
        timeout=60, check=False)


def test_hook_costs_nothing_until_ssl_is_imported(tmp_path: pathlib.Path) -> None:
    r = run_c(tmp_path, "import sys; print(sorted(m for m in ('ssl', 'securl', "
                        "'_securl_sitehook') if m in sys.modules))")
    assert r.stdout.strip() == "['_securl_sitehook']", r.stderr


def test_hook_installs_on_first_import_ssl_and_restores_the_real_loader(
        tmp_path: pathlib.Path) -> None:
    r = run_c(tmp_path, """
import ssl, sys, inspect, importlib.machinery
import securl.admin.install
print(securl.admin.install.is_installed(), type(ssl.__loader__).__name__,
      ssl.__spec__.loader is ssl.__loader__, len(inspect.getsource(ssl.create_default_context)) > 0,
      any(type(f).__name__ == "SSLImportHook" for f in sys.meta_path))
""")
    assert r.stdout.split() == ["True", "SourceFileLoader", "True", "True", "False"], r.stderr


def test_hook_when_securl_itself_imports_ssl_first(tmp_path: pathlib.Path) -> None:
    r = run_c(tmp_path, "import securl, securl.admin.install, ssl; "
                        "print(securl.admin.install.is_installed(), "
                        "ssl._create_default_https_context.__qualname__)")
    assert r.stdout.split() == ["True", "https_context"], r.stderr
    assert r.stderr == ""


def test_hook_when_ssl_was_imported_before_sitecustomize(tmp_path: pathlib.Path) -> None:
    r = run_c(tmp_path, "import securl.admin.install; print(securl.admin.install.is_installed())",
              hook="import ssl\n" + HOOK)
    assert r.stdout.strip() == "True", r.stderr


def test_hook_failure_never_breaks_import_ssl(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("allow_unverified = maybe\n")
    r = run_c(tmp_path, "import ssl; print(ssl.create_default_context().verify_mode == 2)",
              extra={"SECURL_POLICY": str(bad)})
    assert r.returncode == 0
    assert r.stdout.strip() == "True"
    assert "install() from sitecustomize failed: ConfigurationError: securl policy" in r.stderr


def test_warnings_as_errors_never_stop_install(tmp_path: pathlib.Path) -> None:
    # An install-time warning raised as an exception would leave the process unguarded.
    r = run_c(tmp_path, "import ssl, securl.admin.install as i; print(i.is_installed())",
              extra={"PYTHONWARNINGS": "error", "PYTHONHTTPSVERIFY": "0"})
    assert r.stdout.strip() == "True", r.stderr
    assert "SecurityWarning: PYTHONHTTPSVERIFY='0'" in r.stderr


@pytest.mark.parametrize("args", [
    ["-c", "import ssl, sys; print('securl' in sys.modules)"],
    ["-c", "import ssl, urllib.request, http.client, sys; print('securl' in sys.modules)"],
    ["-m", "pip", "--version"],
])
def test_the_hook_writes_no_event_and_imports_nothing_without_a_tls_connection(
        tmp_path: pathlib.Path, args: list[str]) -> None:
    log = tmp_path / "audit.jsonl"
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[audit]\nlog_file = "{log}"\n')
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOOK)
    r = subprocess.run([sys.executable, *args], env=child_env(
        {"SECURL_POLICY": str(policy), "PIP_CONFIG_FILE": os.devnull}, site),
        capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    if args[0] == "-c":
        assert r.stdout.strip() == "False"  # securl was never imported
    assert not log.exists() or log.read_text() == ""


def test_the_first_tls_connection_releases_the_install_events(
        tmp_path: pathlib.Path, https_server: LocalServer, ca_file: str) -> None:
    log = tmp_path / "audit.jsonl"
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[audit]\nlog_file = "{log}"\n')
    code = ("import ssl, urllib.request\n"
            f"ctx = ssl.create_default_context(cafile={ca_file!r})\n"
            "print(urllib.request.urlopen("
            f"{https_server.url('/')!r}, context=ctx, timeout=10).read())\n")
    r = run_c(tmp_path, code, extra={"SECURL_POLICY": str(policy)})
    assert r.returncode == 0, r.stderr
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[:2] == ["securl.policy_loaded", "securl.installed"], events
