"""The audit trail: one line per request on logger ``adcml.lab.access``.

A line says when, who (client address, and the authenticated user if any), which vserver, the
routing decision (CS policy or ``default``/``backup``, responder/authentication outcomes), the
LB vserver and member that served it, the status and the latency. It never carries a header
value (an Authorization header least of all), a query string or a body.

With a state directory, lines also go to ``<state-dir>/access.log``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

ACCESS_LOGGER = "adcml.lab.access"
log = logging.getLogger(ACCESS_LOGGER)


@dataclass(slots=True)
class AccessRecord:
    """What the data plane decided for one request (filled in as it goes)."""

    started: float
    client: str
    vserver: str
    method: str
    path: str
    route: str = "-"
    target: str = "-"
    member: str = "-"
    user: str = "-"
    status: int = 0
    note: str = ""

    def line(self, latency_ms: float) -> str:
        when = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        text = (f"{when} client={self.client} user={self.user} vserver={self.vserver} "
                f"method={self.method} path={_safe(self.path)} route={self.route} "
                f"target={self.target} member={self.member} status={self.status} "
                f"latency_ms={latency_ms:.2f}")
        return f'{text} note="{_quoted(self.note)}"' if self.note else text


def _safe(text: str) -> str:
    """No spaces or control characters (one record, one line); the path only, no query."""
    text = text.split("?", 1)[0]
    return "".join(c if c.isprintable() and c != " " else f"%{ord(c):02X}" for c in text[:512])


def _quoted(text: str) -> str:
    return "".join(c if c.isprintable() and c not in '"\\' else f"%{ord(c):02X}" for c in text[:512])


class _OnlyFrom(logging.Filter):
    def __init__(self, owner: int):
        super().__init__()
        self.owner = owner

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "lab", None) == self.owner


class AccessLog:
    """Writes access records of one data plane (to the logger, and to a file if asked)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.handler: logging.Handler | None = None
        self.extra = {"lab": id(self)}

    def open(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(_OnlyFrom(id(self)))
        log.addHandler(handler)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)
        self.handler = handler

    def close(self) -> None:
        if self.handler is not None:
            log.removeHandler(self.handler)
            self.handler.close()
            self.handler = None

    def write(self, record: AccessRecord, latency_ms: float) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s", record.line(latency_ms), extra=self.extra)

    def message(self, text: str) -> None:
        """A policy's audit message (its ``logaction``), on its own line."""
        if log.isEnabledFor(logging.INFO):
            when = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            log.info("%s audit %s", when, _safe_line(text), extra=self.extra)


def _safe_line(text: str) -> str:
    return "".join(c if c.isprintable() else f"%{ord(c):02X}" for c in text[:2048])
