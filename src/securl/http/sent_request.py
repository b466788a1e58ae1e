"""`SentRequest`: what was sent for a response (``Response.request``), read-only, with a
``repr`` that hides credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from urllib3 import HTTPHeaderDict

from .._redact import REDACTED, clean_field, redact_url

__all__ = ["SentRequest"]

#: Header names whose values a repr hides besides those clean_field hides (X-Api-Key, ...).
_CREDENTIAL_HEADER = re.compile(r"key|auth|session|sig", re.IGNORECASE)


class _ReadOnlyHeaders(Mapping[str, str]):
    """Request headers, case-insensitive and read-only; ``repr`` hides credentials."""

    __slots__ = ("_headers",)

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = HTTPHeaderDict(headers)

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def getlist(self, name: str) -> list[str]:
        """Every value of a repeated header."""
        return self._headers.getlist(name)

    def __repr__(self) -> str:
        shown = {name: REDACTED if _CREDENTIAL_HEADER.search(name) else clean_field(name, value)
                 for name, value in self._headers.items()}
        return f"{type(self).__name__}({shown!r})"


@dataclass(frozen=True, repr=False)
class SentRequest:
    """What was sent for a response (`Response.request`): ``method``, ``url`` and
    ``headers`` (read-only, case-insensitive). ``repr`` shows the URL redacted and no
    credential header values."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.headers, _ReadOnlyHeaders):
            object.__setattr__(self, "headers", _ReadOnlyHeaders(self.headers))

    def __repr__(self) -> str:
        return f"<SentRequest {self.method} {redact_url(self.url)} headers={self.headers!r}>"
