"""The syslog outlet: each audit event as one RFC 5424 message (policy ``[audit] syslog``).

Rules, and why:

* ``syslog = true`` sends to the local syslog socket (``/dev/log``, or ``/var/run/syslog``
  where that is the one present), ``syslog = "/path/to/socket"`` to that Unix datagram
  socket, ``syslog = "host:port"`` to that UDP address (``[v6-address]:port`` for IPv6).
* One datagram per event, RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
  [SD] MSG`` with APP-NAME ``securl`` (so ``journalctl -t securl`` finds it), PROCID the pid,
  MSGID the event name, the structured-data element ``securl@32473`` holding every field of
  the event (32473 is the enterprise number RFC 5612 reserves for examples; securl has none
  of its own), and MSG the readable one-line summary, UTF-8 with a BOM.
* The facility is ``authpriv`` unless ``syslog_facility`` names another; the severity is
  ``warning`` for refusals and failed verifications, ``notice`` for opt-outs that were
  allowed, ``info`` for the rest.
* Like every outlet, a syslog that cannot be reached never breaks a request: the first
  failure is reported once on the ``securl`` logger, later ones are not, and sending is
  tried again for each event (the daemon may come back).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from ._audit import _report_once, _set_slot

__all__ = ["FACILITIES", "RFC5424Handler", "configure_syslog", "format_rfc5424",
           "parse_syslog_address"]

#: RFC 5424 facility names and codes.
FACILITIES: Mapping[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}
_WARNING, _NOTICE, _INFO = 4, 5, 6
_WARNING_EVENTS = frozenset({"securl.verification_failed", "securl.pin_mismatch"})
_OPT_OUT_EVENTS = frozenset({
    "securl.unverified_request", "securl.unverified_connection", "securl.insecure_auth",
    "securl.insecure_environment", "securl.monkeypatch", "securl.pinned_request",
})
_SD_ID = "securl@32473"
_LOCAL_SOCKETS = ("/dev/log", "/var/run/syslog")


def parse_syslog_address(value: bool | str) -> str | tuple[str, int] | None:
    """The policy's ``syslog`` value as a socket path, a ``(host, port)``, or None (off).

    Raises ValueError naming what is wrong (the policy adds its file and line)."""
    if value is False:
        return None
    if value is True:
        return next((p for p in _LOCAL_SOCKETS if os.path.exists(p)), _LOCAL_SOCKETS[0])
    if value.startswith("/"):
        return value
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("true, an absolute socket path, or \"host:port\" (UDP)")
    return host, int(port)


def _severity(data: Mapping[str, Any]) -> int:
    if data["event"] in _WARNING_EVENTS or data.get("action") == "refused":
        return _WARNING
    return _NOTICE if data["event"] in _OPT_OUT_EVENTS else _INFO


def _sd_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_rfc5424(data: Mapping[str, Any], summary: str, facility: int) -> bytes:
    """One RFC 5424 message for the event ``data`` (``AuditEvent.to_dict()``)."""
    params = " ".join(f'{key}="{_sd_value(value)}"' for key, value in data.items()
                      if key not in ("time", "event", "pid", "machine") and value is not None)
    head = (f"<{facility * 8 + _severity(data)}>1 {data['time']} {data['machine'] or '-'} "
            f"securl {data['pid']} {data['event']} [{_SD_ID} {params}] ")
    return head.encode("utf-8", "replace") + b"\xef\xbb\xbf" + summary.encode("utf-8",
                                                                              "replace")


class RFC5424Handler(logging.Handler):
    """Sends audit events (records carrying ``securl_event``) to syslog; see module rules."""

    def __init__(self, address: str | tuple[str, int], facility: str = "authpriv") -> None:
        super().__init__(logging.INFO)
        self.address = address
        self.facility = FACILITIES[facility]
        self._sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            else:
                family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def emit(self, record: logging.LogRecord) -> None:
        data = getattr(record, "securl_event", None)
        if not isinstance(data, dict):
            return
        message = format_rfc5424(data, record.getMessage(), self.facility)
        try:
            self._socket().send(message)
        except OSError:
            self.close_socket()
            _report_once(("syslog", str(self.address)),
                         "securl: the audit syslog outlet %s failed", self.address)

    def close_socket(self) -> None:
        """Drop the socket; the next event connects again."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.close_socket()
        super().close()


def configure_syslog(value: bool | str | None, facility: str = "authpriv") -> None:
    """Make the policy's syslog outlet the one of the ``syslog`` slot (None: none)."""
    address = parse_syslog_address(value) if value is not None else None
    _set_slot("syslog", RFC5424Handler(address, facility) if address is not None else None)
