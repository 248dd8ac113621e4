"""The record of data-plane requests (``GET /lab/requests``): who asked which endpoint what,
by which name, and what it was answered; an Authorization header only by its fingerprint."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import asdict, dataclass

KEPT = 10_000  # the most recent requests; older ones are dropped


def fingerprint(authorization: str | None) -> str | None:
    """The first 16 hex digits of the SHA-256 of the whole header value (``Bearer hf_...``)."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:16] if authorization else None


@dataclass(frozen=True)
class RequestRecord:
    time: str
    namespace: str
    name: str
    sni: str | None
    host: str | None
    method: str
    path: str
    authorization: str | None  # fingerprint()
    status: int


class RequestLog:
    def __init__(self, kept: int = KEPT):
        self._records: deque[RequestRecord] = deque(maxlen=kept)

    def add(self, record: RequestRecord) -> None:
        self._records.append(record)

    def select(self, namespace: str | None = None, name: str | None = None) -> list[dict]:
        return [asdict(r) for r in self._records
                if namespace in (None, r.namespace) and name in (None, r.name)]


__all__ = ["RequestLog", "RequestRecord", "fingerprint"]
