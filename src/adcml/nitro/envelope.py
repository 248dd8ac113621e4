"""Decoding of NITRO reply envelopes into records, warnings and exceptions (no I/O).

Success: ``{"errorcode":0,"message":"Done","severity":"NONE","<res>":[...]}`` (a singleton
resource may come as an object). Error: ``{"errorcode":N,"message":..,"severity":"ERROR"}``.
Bulk partial failure: HTTP 207 / errorcode 1243 with ``response``: one entry per item.
Warnings: HTTP 209 with ``X-NITRO-WARNING`` (and possibly severity WARNING in the body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from adcml.nitro.errors import (
    NOT_ATTEMPTED,
    BulkError,
    BulkResult,
    NitroAPIError,
    error_for,
)
from adcml.nitro.redact import redact_text
from adcml.resources.errorcodes import ErrorCode

# Keys that name an object, in the order tried (bindings: the parent's name comes first).
NAME_KEYS = (
    "name",
    "servicegroupname",
    "monitorname",
    "certkey",
    "vservername",
    "policyname",
    "labelname",
    "limitidentifier",
    "filename",
    "servername",
    "partitionname",
)


@dataclass(frozen=True)
class NitroWarning:
    """One NITRO warning (HTTP 209), e.g. ``1067 - Feature(s) not enabled [LB]``."""

    errorcode: int | None
    message: str
    resource: str | None = None

    def __str__(self) -> str:
        code = f"{self.errorcode} - " if self.errorcode is not None else ""
        where = f"{self.resource}: " if self.resource else ""
        return f"{where}{code}{self.message}"


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange's response with its JSON body decoded (None when not JSON)."""

    response: httpx.Response
    body: dict[str, Any] | None

    @classmethod
    def from_response(cls, response: httpx.Response) -> Reply:
        content = response.content
        if not content.strip():
            return cls(response, {})
        try:
            body = json.loads(content)
        except ValueError:
            return cls(response, None)
        return cls(response, body if isinstance(body, dict) else None)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def errorcode(self) -> int:
        code = (self.body or {}).get("errorcode", 0)
        try:
            return int(code)
        except (TypeError, ValueError):
            return 0

    @property
    def severity(self) -> str:
        return str((self.body or {}).get("severity", "") or "").upper()

    @property
    def message(self) -> str:
        return str((self.body or {}).get("message", "") or "")


def object_name(obj: Any) -> str | None:
    """The name of an object body, by the usual NITRO key names."""
    if isinstance(obj, Mapping):
        for key in NAME_KEYS:
            value = obj.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None


def records(body: Mapping[str, Any] | None, key: str) -> list[dict[str, Any]]:
    """The objects under ``key``: a list, a singleton object as one item, absent as []."""
    value = (body or {}).get(key)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list):
        return [dict(v) for v in value if isinstance(v, Mapping)]
    return []


def parse_warnings(reply: Reply, resource: str | None = None) -> list[NitroWarning]:
    """Warnings carried by a 209 reply (header first; the body when the header is absent)."""
    found: list[NitroWarning] = []
    for raw in reply.response.headers.get_list("x-nitro-warning"):
        found.extend(_parse_warning_header(raw, resource))
    if not found and (reply.status == 209 or reply.severity == "WARNING") and reply.errorcode:
        found.append(NitroWarning(reply.errorcode, redact_text(reply.message), resource))
    return found


_WARNING = re.compile(r"^\s*(\d+)\s*-\s*(.*)$", re.DOTALL)


def _parse_warning_header(raw: str, resource: str | None) -> Iterable[NitroWarning]:
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if data is not None:
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, Mapping):
                    code = item.get("errorcode")
                    msg = redact_text(str(item.get("message", "")))
                    yield NitroWarning(int(code) if code is not None else None, msg, resource)
            return
    match = _WARNING.match(text)
    if match:
        yield NitroWarning(int(match.group(1)), redact_text(match.group(2).strip()), resource)
    elif text:
        yield NitroWarning(None, redact_text(text), resource)


def is_warning(reply: Reply) -> bool:
    return reply.status < 400 and (reply.status == 209 or reply.severity == "WARNING")


def raise_for_reply(
    reply: Reply,
    *,
    resource: str | None,
    name: str | None = None,
    items: Sequence[Any] | None = None,
    onerror: str | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Raise the NitroError a reply stands for; return quietly on success or warning."""
    secrets = tuple(secrets)
    status = reply.status
    if reply.body is None:
        text = redact_text(reply.response.text[:200], secrets)
        raise NitroAPIError(
            None, f"unreadable reply (not a JSON object): {text!r}", status,
            resource=resource, name=name,
        )
    code = reply.errorcode
    if code == ErrorCode.BULK_FAILED or status == 207:
        raise bulk_error(reply, resource=resource, items=items, onerror=onerror, secrets=secrets)
    if is_warning(reply):
        return
    if code != 0 or status >= 400:
        message = reply.message or httpx.codes.get_reason_phrase(status) or "error"
        raise error_for(
            code or None, redact_text(message, secrets), status, resource, name,
            severity=reply.severity or "ERROR",
        )


def bulk_error(
    reply: Reply,
    *,
    resource: str | None,
    items: Sequence[Any] | None,
    onerror: str | None,
    secrets: Sequence[str] = (),
) -> BulkError:
    """A BulkError with one result per item: None, the item's error, or NOT_ATTEMPTED."""
    entries = (reply.body or {}).get("response")
    entries = entries if isinstance(entries, list) else []
    count = len(items) if items is not None else len(entries)
    results: list[BulkResult] = []
    for index in range(count):
        item = items[index] if items is not None else None
        if index >= len(entries):
            results.append(NOT_ATTEMPTED)
            continue
        entry = entries[index] if isinstance(entries[index], Mapping) else {}
        try:
            code = int(entry.get("errorcode", 0))
        except (TypeError, ValueError):
            code = None
        if code == 0:
            results.append(None)
            continue
        message = redact_text(str(entry.get("message", "") or "error"), secrets)
        results.append(
            error_for(code, message, None, resource, object_name(item),
                      severity=str(entry.get("severity", "ERROR")))
        )
    return BulkError(
        reply.errorcode or ErrorCode.BULK_FAILED,
        redact_text(reply.message or "Bulk operation failed", secrets),
        reply.status,
        resource=resource,
        results=results,
        onerror=onerror,
    )
