"""Client certificates for the 2-way TLS tests: valid, from a wrong CA, expired."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass
class ClientCerts:
    ca: trustme.CA  # the CA servers trust for client certificates
    ca_file: str
    valid: str  # PEM files holding key + certificate chain
    wrong_ca: str
    expired: str

    def path(self, kind: str) -> str | None:
        """``none`` -> None, else the file of that kind (valid, wrong_ca, expired)."""
        return None if kind == "none" else str(getattr(self, kind))


def make_client_certs(directory: Path) -> ClientCerts:
    ca, stranger = trustme.CA(), trustme.CA()
    now = datetime.datetime.now(datetime.timezone.utc)
    files = {
        "valid": ca.issue_cert("alice@example.org", common_name="alice"),
        "wrong_ca": stranger.issue_cert("alice@example.org", common_name="alice"),
        "expired": ca.issue_cert("alice@example.org", common_name="alice",
                                 not_before=now - datetime.timedelta(days=30),
                                 not_after=now - datetime.timedelta(days=1)),
    }
    paths = {}
    for kind, leaf in files.items():
        paths[kind] = str(directory / f"client-{kind}.pem")
        leaf.private_key_and_cert_chain_pem.write_to_path(paths[kind])
    ca_file = str(directory / "client-ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    return ClientCerts(ca, ca_file, **paths)
