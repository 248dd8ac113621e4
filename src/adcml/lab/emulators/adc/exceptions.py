"""NITRO faults raised inside the lab ADC and turned into error envelopes by the API layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adcml.resources import ErrorCode
from adcml.resources.check import SchemaViolation


class NitroFault(Exception):
    """An error the lab ADC answers with, exactly as an appliance would.

    ``detail`` is the bracketed part of NITRO's message (``"name, web"`` in
    ``"Resource already exists [name, web]"``); ``status`` overrides the code's usual HTTP
    status (a missing object is 404 when it is the request's target, 599 when referenced).
    """

    def __init__(self, code: ErrorCode, detail: str | None = None, *, status: int | None = None):
        self.code = ErrorCode(code)
        self.detail = detail
        self.status = status or self.code.http_status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.code.message
        return f"{text} [{self.detail}]" if self.detail else text

    def envelope(self) -> dict:
        return {"errorcode": int(self.code), "message": self.message, "severity": "ERROR"}


@contextmanager
def schema_faults() -> Iterator[None]:
    """A failed schema check (``adcml.resources.check``) answered as the appliance's error."""
    try:
        yield
    except SchemaViolation as exc:
        raise NitroFault(exc.code, exc.detail, status=exc.status) from None
