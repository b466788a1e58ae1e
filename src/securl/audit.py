"""securl's audit trail: a structured event for every trust decision.

Events reach three outlets, all fed by the same internal emit(): the ``securl.audit``
logger, ``sys.audit("securl.<name>", event_dict)`` (PEP 578), and hooks added with
`add_audit_hook`. `EVENTS` lists every event and its fields; see docs/audit.md.

    import securl.audit
    securl.audit.configure(log_file="/var/log/myapp/securl-audit.jsonl", format="json")
"""

from __future__ import annotations

from ._audit import (
    COMMON_FIELDS,
    EVENTS,
    AuditEvent,
    JSONFormatter,
    add_audit_hook,
    configure,
    remove_audit_hook,
)

__all__ = [
    "COMMON_FIELDS",
    "EVENTS",
    "AuditEvent",
    "JSONFormatter",
    "add_audit_hook",
    "configure",
    "remove_audit_hook",
]
