"""Exceptions of the model server. One root, ``ServeError``:

    ServeError
    ├── SettingsError(ValueError)     invalid server settings (names the option)
    ├── ModelLoadError                the model cannot be found, read or run (setup)
    └── RequestError                  a request the server refuses: HTTP status, error type,
        │                             field path, message and a "Hint:" with the fix
        ├── MalformedRequest(ValueError)  400 the body is not JSON
        ├── ValidationError(ValueError)   422 wrong JSON shape or types, too many inputs
        ├── EmptyInput(ValueError)        400 an empty input string or list
        ├── InputTooLarge(ValueError)     413 a body, an input or a token count over a limit
        ├── Unauthorized                  401 missing or wrong API key
        ├── Overloaded                    429 the queue is full
        ├── NotReady                      503 the model is still loading or warming up,
        │                                     or the server is draining
        └── BackendError                  500 the forward pass failed for this request

A ``RequestError`` renders as the JSON body text-embeddings-inference sends
(``{"error": ..., "error_type": ...}``) plus ``field`` and ``hint``; ``/v1/*`` routes get the
OpenAI-compatible shape that TEI uses there (``message``, ``code``, ``error_type``).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServeError(Exception):
    """Root of every exception the model server raises."""


class SettingsError(ServeError, ValueError):
    """Server settings are invalid; the message names the option and how to fix it."""

    def __init__(self, option: str, problem: str) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}")

    def __reduce__(self) -> Any:
        return (type(self), (self.option, self.problem))


class ModelLoadError(ServeError):
    """The model could not be loaded or warmed up."""


class RequestError(ServeError):
    """A request the server refuses with a 4xx/5xx JSON error that says what and how to fix."""

    status: ClassVar[int] = 400
    error_type: ClassVar[str] = "validation"

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.field = field
        self.hint = hint
        text = f"{field}: {message}" if field else message
        super().__init__(f"{text}. Hint: {hint}" if hint else text)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.field, self.hint))

    def body(self, openai: bool = False) -> dict[str, Any]:
        """The JSON error body: TEI's shape, or TEI's OpenAI-compatible shape for ``/v1``."""
        text = f"{self.field}: {self.message}" if self.field else self.message
        body: dict[str, Any] = (
            {"message": text, "code": self.status, "error_type": self.error_type} if openai
            else {"error": text, "error_type": self.error_type}
        )
        if self.field:
            body["field"] = self.field
        if self.hint:
            body["hint"] = f"Hint: {self.hint}"
        return body


def _rebuild(cls: type[RequestError], message: str, field: str | None, hint: str | None) -> RequestError:
    return cls(message, field=field, hint=hint)


class MalformedRequest(RequestError, ValueError):
    status = 400
    error_type = "validation"


class ValidationError(RequestError, ValueError):
    status = 422
    error_type = "validation"


class EmptyInput(RequestError, ValueError):
    status = 400
    error_type = "empty"


class InputTooLarge(RequestError, ValueError):
    status = 413
    error_type = "validation"


class Unauthorized(RequestError):
    status = 401
    error_type = "unauthorized"


class Overloaded(RequestError):
    status = 429
    error_type = "overloaded"


class NotReady(RequestError):
    status = 503
    error_type = "unhealthy"


class BackendError(RequestError):
    status = 500
    error_type = "backend"
