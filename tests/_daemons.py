"""Real nginx and Apache httpd processes for the tests, on 127.0.0.1, from Debian packages.

Each daemon runs in the foreground as a child of the test process, with a configuration
generated into a temporary directory, on ports picked by binding port 0 first. The tests
fail (never skip) when a daemon is missing: .ci/run installs both.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

NGINX_PATHS = ("/usr/sbin/nginx", "/usr/bin/nginx")
APACHE_PATHS = ("/usr/sbin/apache2", "/usr/sbin/httpd")
APACHE_MODULES = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules",
                  "/usr/lib/httpd/modules")


def find_binary(name: str, candidates: tuple[str, ...]) -> str:
    """The daemon's path; an AssertionError (a failure, not a skip) when it is missing."""
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    raise AssertionError(
        f"{name} is not installed: the tests need a real {name} (Debian: apt-get install "
        f"{'nginx-light' if name == 'nginx' else 'apache2'}; .ci/run does this)"
    )


def free_port() -> int:
    """A port nothing listens on right now (the daemon binds it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssha_password(password: str) -> str:
    """An htpasswd ``{SSHA}`` entry (nginx reads it; no external tool needed)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def htdigest_line(user: str, realm: str, password: str) -> str:
    """One htdigest file line: ``user:realm:MD5(user:realm:password)``."""
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    return f"{user}:{realm}:{ha1}"


class Daemon:
    """A foreground server process; stopped by its PID, its stderr kept for failures."""

    def __init__(self, argv: list[str], directory: Path, ports: list[int],
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.directory = directory
        self.ports = ports
        self.env = env
        self.stderr_path = directory / "daemon.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> Daemon:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                cwd=self.directory, env=self.env,
                # Its own process group: Apache's prefork parent signals its whole group on
                # shutdown, which would otherwise include the test process.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.stderr()}"
                    )
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise AssertionError(
                            f"{self.argv[0]} did not listen on 127.0.0.1:{port} within "
                            f"{timeout}s:\n{self.stderr()}"
                        ) from None
                    time.sleep(0.05)
        return self

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # signals this child by its PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def nginx(directory: Path, http_body: str, ports: list[int]) -> Daemon:
    """nginx (master only, foreground) serving ``http_body`` inside its ``http {}`` block."""
    binary = find_binary("nginx", NGINX_PATHS)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (directory / sub).mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(
        "master_process off;\n"  # one process, whatever user runs the tests (root included)
        "events { worker_connections 64; }\n"
        "http {\n"
        f"  client_body_temp_path {directory}/body;\n"
        f"  proxy_temp_path {directory}/proxy;\n"
        f"  fastcgi_temp_path {directory}/fastcgi;\n"
        f"  uwsgi_temp_path {directory}/uwsgi;\n"
        f"  scgi_temp_path {directory}/scgi;\n"
        "  default_type text/plain;\n"
        f"{http_body}\n"
        "}\n"
    )
    argv = [binary, "-p", str(directory), "-c", str(conf),
            "-g", f"daemon off; pid {directory}/nginx.pid; error_log stderr;"]
    check = subprocess.run([*argv, "-t"], capture_output=True, timeout=30)
    if check.returncode != 0:
        raise AssertionError(f"nginx -t failed:\n{check.stderr.decode(errors='replace')}")
    return Daemon(argv, directory, ports)


def apache(directory: Path, body: str, ports: list[int]) -> Daemon:
    """Apache httpd in the foreground (``-DFOREGROUND``, prefork) serving ``body``.

    ``body`` may use ``LoadModule x_module {modules}/mod_x.so``. When the tests run as root,
    Apache's children drop to ``nobody``: ``directory`` and the files they serve or read per
    request must then be world-readable (see :func:`world_readable_dir`).
    """
    binary = find_binary("apache2", APACHE_PATHS)
    modules = next((m for m in APACHE_MODULES if os.path.isdir(m)), APACHE_MODULES[0])
    conf = directory / "httpd.conf"
    user = ""
    if os.geteuid() == 0:  # apache refuses to serve as root; its children drop to nobody
        user = "User nobody\nGroup nogroup\n" if _has_group("nogroup") else "User nobody\n"
    conf.write_text(
        f"ServerRoot {directory}\n"
        f"PidFile {directory}/httpd.pid\n"
        "ServerName 127.0.0.1\n"
        f"LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so\n"
        f"LoadModule authz_core_module {modules}/mod_authz_core.so\n"
        f"{user}"
        "StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nMaxRequestWorkers 4\n"
        "ErrorLog /dev/stderr\nLogLevel warn\n"
        f"Mutex file:{directory} default\n"
        + body.replace("{modules}", modules)
    )
    argv = [binary, "-f", str(conf), "-DFOREGROUND"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
    check = subprocess.run([binary, "-f", str(conf), "-t"], capture_output=True, timeout=30,
                           env=env)
    if check.returncode != 0:
        raise AssertionError(f"apache2 -t failed:\n{check.stderr.decode(errors='replace')}")
    return Daemon(argv, directory, ports, env=env)


def world_readable_dir(prefix: str) -> Path:
    """A fresh directory Apache's unprivileged children can read (pytest's tmp dirs are 0700)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def _has_group(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
