"""Exceptions raised by the NITRO client. One root, ``NitroError``:

    NitroError
    ├── SettingsError(ValueError)         invalid client settings (names the field)
    ├── InvalidRequest(ValueError)        a call the client refuses before sending anything
    ├── NitroTransportError               connection, TLS or timeout failure (no reply)
    └── NitroAPIError                     the appliance answered with an error
        ├── AuthenticationFailed          354 wrong username or password
        ├── NotAuthorized                 2138 user lacks the command policy
        ├── SessionExpired                444, 1026, 1027 (the client re-logs in once)
        ├── NotFound                      every "missing" code (258, 344, 351, 461, ...)
        ├── AlreadyExists                 273, 1335, 1642
        ├── InvalidArgument(ValueError)   278, 478, 1092-1097, 1232, 1233, 1240
        ├── ResourceInUse                 315, 1541, 3094 (still referenced or bound)
        ├── OperationInProgress           293 (retried by the client)
        ├── NotPermitted                  257
        ├── FeatureNotAvailable           356 not licensed, 1067 not enabled
        ├── CertificateError              1538, 1647, 3585
        ├── PolicyNotBound                2097, 3093
        └── BulkError                     1243 / HTTP 207: ``results`` per item

``error_for(errorcode, message, status, ...)`` picks the class for a code; unknown codes give a
plain ``NitroAPIError``. No message or repr carries a secret: echoed secret arguments are masked.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from adcml.nitro.redact import redact_text
from adcml.resources.errorcodes import MISSING_CODES, ErrorCode


class NitroError(Exception):
    """Root of every exception the NITRO client raises."""


class SettingsError(NitroError, ValueError):
    """Client settings are invalid; the message names the field and how to fix it."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")

    def __reduce__(self) -> Any:
        return (type(self), (self.field, self.problem))


class InvalidRequest(NitroError, ValueError):
    """A call the client rejects before sending it (bad resource name, bad onerror...)."""


class NitroTransportError(NitroError):
    """No usable reply: connection refused, TLS failure, timeout, broken connection."""

    def __init__(self, message: str, *, url: str, method: str | None = None) -> None:
        self.url = url
        self.method = method
        self.detail = message
        where = f"{method} {url}" if method else url
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), (self.detail,), {"url": self.url, "method": self.method}))


class NitroAPIError(NitroError):
    """The appliance answered with a NITRO error envelope (or an unreadable body)."""

    codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        errorcode: int | None,
        message: str,
        status: int | None = None,
        *,
        resource: str | None = None,
        name: str | None = None,
        severity: str | None = "ERROR",
    ) -> None:
        self.errorcode = errorcode
        self.message = redact_text(message)
        self.status = status
        self.resource = resource
        self.name = name
        self.severity = severity
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = ""
        if self.resource:
            where = self.resource + (f" {self.name!r}" if self.name is not None else "") + ": "
        elif self.name is not None:
            where = f"{self.name!r}: "
        code = f"[{self.errorcode}] " if self.errorcode is not None else ""
        http = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}{code}{self.message}{http}"

    def __str__(self) -> str:
        return self._describe()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(errorcode={self.errorcode!r}, message={self.message!r}, "
            f"status={self.status!r}, resource={self.resource!r}, name={self.name!r})"
        )

    def __reduce__(self) -> Any:
        kwargs = {"resource": self.resource, "name": self.name, "severity": self.severity}
        return (_rebuild, (type(self), (self.errorcode, self.message, self.status), kwargs))


def _rebuild(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


class AuthenticationFailed(NitroAPIError):
    """Wrong username or password."""

    codes = frozenset({ErrorCode.INVALID_CREDENTIALS})


class NotAuthorized(NitroAPIError):
    """The user is logged in but its command policy forbids the operation."""

    codes = frozenset({ErrorCode.NOT_AUTHORIZED})


class SessionExpired(NitroAPIError):
    """The session token expired, was killed, or is missing."""

    codes = frozenset(
        {ErrorCode.SESSION_EXPIRED, ErrorCode.NOT_LOGGED_IN, ErrorCode.NOT_LOGGED_IN_AUTH}
    )


class NotFound(NitroAPIError):
    """The object (or one it references) does not exist; codes differ per resource."""

    codes = frozenset(MISSING_CODES)


class AlreadyExists(NitroAPIError):
    """An object with that name (or a server with that IP, or that file) already exists."""

    codes = frozenset(
        {ErrorCode.ALREADY_EXISTS, ErrorCode.SERVER_IP_EXISTS, ErrorCode.FILE_ALREADY_EXISTS}
    )


class InvalidArgument(NitroAPIError, ValueError):
    """The request's arguments were rejected (missing, conflicting, malformed).

    ``argument`` is the attribute the appliance named (``"lbmethod"`` for
    ``Invalid argument value [lbmethod, FASTEST]``), or None when the message names none.
    """

    codes = frozenset(
        {
            ErrorCode.INVALID_ARGUMENT,
            ErrorCode.VSERVER_TYPE_MISMATCH,
            ErrorCode.BOTH_SPECIFIED,
            ErrorCode.PREREQUISITE_MISSING,
            ErrorCode.TOO_FEW_ARGUMENTS,
            ErrorCode.REQUIRED_ARGUMENT_MISSING,
            ErrorCode.INVALID_ARGUMENT_VALUE,
            ErrorCode.INVALID_OBJECT_NAME,
            ErrorCode.INVALID_JSON,
            ErrorCode.INVALID_ACTION,
        }
    )

    @property
    def argument(self) -> str | None:
        match = _ARGUMENT.search(self.message)
        return match.group(1) if match else None


# The bracketed detail of a NITRO message starts with the argument's name: "[port, 70000]",
# "[colour]", "[ip, servername]".
_ARGUMENT = re.compile(r"\[\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:[,\]])")


class ResourceInUse(NitroAPIError):
    """The object is still referenced or bound; unbind or dereference it first."""

    codes = frozenset(
        {ErrorCode.RESOURCE_IN_USE, ErrorCode.CERT_REFERENCED, ErrorCode.POLICY_NAME_IN_USE}
    )


class OperationInProgress(NitroAPIError):
    """Another operation (typically a config save) is running; retry later."""

    codes = frozenset({ErrorCode.IN_PROGRESS})


class NotPermitted(NitroAPIError):
    """The appliance refuses the operation in the object's current state."""

    codes = frozenset({ErrorCode.NOT_PERMITTED})


class FeatureNotAvailable(NitroAPIError):
    """The feature is not enabled (enable it) or not licensed."""

    codes = frozenset({ErrorCode.FEATURE_NOT_ENABLED, ErrorCode.FEATURE_NOT_LICENSED})


class CertificateError(NitroAPIError):
    """Certificate and key mismatch, missing input file, or a domain check failure."""

    codes = frozenset(
        {
            ErrorCode.CERT_KEY_MISMATCH,
            ErrorCode.INPUT_FILE_NOT_PRESENT,
            ErrorCode.CERT_DOMAIN_MISMATCH,
        }
    )


class PolicyNotBound(NitroAPIError):
    """Unbinding a policy that is not bound there."""

    codes = frozenset({ErrorCode.POLICY_NOT_BOUND, ErrorCode.POLICY_NOT_BOUND_LABEL})


class NotAttempted(enum.Enum):
    """Marks a bulk item the appliance never reached (``onerror=exit`` stopped before it)."""

    NOT_ATTEMPTED = "not attempted"

    def __repr__(self) -> str:
        return "NOT_ATTEMPTED"


NOT_ATTEMPTED = NotAttempted.NOT_ATTEMPTED

BulkResult = NitroAPIError | NotAttempted | None


class BulkError(NitroAPIError):
    """Some items of a bulk request failed.

    ``results`` has one entry per item, in request order: ``None`` (applied), a
    ``NitroAPIError`` (rejected) or ``NOT_ATTEMPTED``. With ``onerror="rollback"`` the
    appliance undid the applied items too (``rolled_back`` is then True).
    """

    codes = frozenset({ErrorCode.BULK_FAILED})

    def __init__(
        self,
        errorcode: int | None,
        message: str,
        status: int | None = None,
        *,
        resource: str | None = None,
        name: str | None = None,
        severity: str | None = "ERROR",
        results: Sequence[BulkResult] = (),
        onerror: str | None = None,
    ) -> None:
        self.results: list[BulkResult] = list(results)
        self.onerror = onerror
        super().__init__(
            errorcode, message, status, resource=resource, name=name, severity=severity
        )

    @property
    def failed(self) -> list[tuple[int, NitroAPIError]]:
        """(index, error) of each rejected item."""
        return [(i, r) for i, r in enumerate(self.results) if isinstance(r, NitroAPIError)]

    @property
    def succeeded(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is None]

    @property
    def not_attempted(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is NOT_ATTEMPTED]

    @property
    def rolled_back(self) -> bool:
        return (self.onerror or "").lower() == "rollback"

    def _describe(self) -> str:
        base = super()._describe()
        if not self.results:
            return base
        failed = self.failed
        summary = f"{len(failed)} of {len(self.results)} failed"
        if self.not_attempted:
            summary += f", {len(self.not_attempted)} not attempted"
        if self.rolled_back:
            summary += ", all rolled back"
        details = "; ".join(f"#{i} {err}" for i, err in failed[:5])
        more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
        return f"{base}: {summary}: {details}{more}"

    def __reduce__(self) -> Any:
        kwargs = {
            "resource": self.resource,
            "name": self.name,
            "severity": self.severity,
            "results": self.results,
            "onerror": self.onerror,
        }
        return (_rebuild, (type(self), (self.errorcode, self.message, self.status), kwargs))


_MAPPED: tuple[type[NitroAPIError], ...] = (
    AuthenticationFailed,
    NotAuthorized,
    SessionExpired,
    NotFound,
    AlreadyExists,
    InvalidArgument,
    ResourceInUse,
    OperationInProgress,
    NotPermitted,
    FeatureNotAvailable,
    CertificateError,
    PolicyNotBound,
    BulkError,
)

CLASS_FOR_CODE: dict[int, type[NitroAPIError]] = {
    int(code): cls for cls in _MAPPED for code in cls.codes
}


def error_for(
    errorcode: int | None,
    message: str,
    status: int | None,
    resource: str | None = None,
    name: str | None = None,
    *,
    severity: str | None = "ERROR",
) -> NitroAPIError:
    """The exception for a NITRO errorcode; unknown codes give a plain ``NitroAPIError``."""
    cls = CLASS_FOR_CODE.get(errorcode, NitroAPIError) if errorcode is not None else NitroAPIError
    return cls(errorcode, message, status, resource=resource, name=name, severity=severity)
