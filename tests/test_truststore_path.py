"""The truststore path, run here on Linux: trust, pinning, opt-out and error-mapping tests
run a second time with system trust going through truststore (as on macOS and Windows).

On Linux truststore verifies with OpenSSL's default paths instead of a native verifier, so
this proves securl's integration with it (contexts, sealing, pool keys, reason codes, the
connection check's view of its inner contexts), not the native verifiers themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import securl
from _servers import LocalServer
from conftest import TRUSTSTORE_PASS

#: What the truststore pass runs.
FILES = ["tests/test_trust_rules.py", "tests/test_pinning.py", "tests/test_session.py",
         "tests/test_urllib_dropin.py", "tests/test_client_cert_tls.py",
         "tests/test_verifiers.py", "tests/test_faults.py", "tests/test_truststore_path.py"]
#: Not applicable there: on Linux, truststore itself falls back to the system bundle when
#: SSL_CERT_FILE vanishes (on macOS and Windows the variable is not a truststore input).
NOT_APPLICABLE = [
    "tests/test_faults.py::test_vanished_trust_file_is_a_clear_error_not_a_fallback"
    "[SSL_CERT_FILE]",
]


def test_sessions_trust_through_the_path_this_pass_is_for(
        session: securl.Session, https_server: LocalServer,
        events: list[securl.AuditEvent]) -> None:
    assert session.get(https_server.url("/")).status == 200
    (connection,) = [e for e in events if e.name == "securl.connection"]
    assert connection.fields["trust_source"] == ("truststore" if TRUSTSTORE_PASS
                                                 else "ca_certs")


def test_trust_pinning_optout_and_error_tests_pass_through_truststore() -> None:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *FILES,
            "-k", "not pass_through_truststore"]
    for node in NOT_APPLICABLE:
        args += ["--deselect", node]
    r = subprocess.run(args, env={**os.environ, "SECURL_TEST_TRUSTSTORE": "1"},
                       capture_output=True, text=True, timeout=600, check=False)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr
    assert r.returncode == 0, r.stdout[-4000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 230, summary
    assert "failed" not in summary and "error" not in summary, summary
    print(f"truststore pass: {summary}")
