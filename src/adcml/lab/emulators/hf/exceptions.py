"""Errors of the stand-in, answered as the service answers them: a status and ``{"error": "..."}``.

The control API looks like an axum (Rust) service from the outside (messages seen from the real
one: ``Failed to parse the request body as JSON: model.task: expected value ...`` with 400, an
unknown enum value with 422), so a body that is not JSON, or a field of the wrong JSON type, is
answered with those two statuses and axum's wording; a value the service refuses on its merits
(a bad name, hardware it does not offer, min above max) is a 400 naming the field.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error the stand-in answers with; ``status`` is the HTTP status."""

    status = 500

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def body(self) -> dict[str, str]:
        return {"error": self.message}


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class UnsupportedMediaType(ServiceError):
    status = 415


class MisdirectedRequest(ServiceError):
    status = 421


class Unprocessable(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


class BadGateway(ServiceError):
    status = 502


def unparsable(detail: str) -> BadRequest:
    """A body that is not JSON, or a ``null`` where the service wants a value."""
    return BadRequest(f"Failed to parse the request body as JSON: {detail}")


def wrong_shape(field: str, problem: str) -> Unprocessable:
    """A field missing, of the wrong JSON type, or not one of an enum's values."""
    return Unprocessable(f"Failed to deserialize the JSON body into the target type: {field}: {problem}")


__all__ = ["BadGateway", "BadRequest", "Conflict", "Forbidden", "MisdirectedRequest", "NotFound",
           "ServiceError", "Unauthorized", "Unavailable", "Unprocessable", "UnsupportedMediaType",
           "unparsable", "wrong_shape"]
