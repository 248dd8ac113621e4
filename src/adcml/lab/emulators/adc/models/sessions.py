"""NITRO sessions: ``login`` gives a token that later requests carry (cookie or header), or a
request names user and password itself (``X-NITRO-USER``/``X-NITRO-PASS``, no session).

A session expires after its ``timeout`` seconds without a request; each request it carries
starts the count again. The admin partition a session works in is part of it
(``nspartition?action=switch``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.resources import ErrorCode

E = ErrorCode
ADMIN_USER = "nsroot"
DEFAULT_TIMEOUT = 1800


@dataclass
class Session:
    """One caller's session (``token`` empty: credentials on the request itself)."""

    token: str
    username: str
    timeout: int
    expires: float
    partition: str = "default"


class Sessions:
    """The live sessions of one lab ADC, whose only user is ``nsroot`` with ``password``.
    Iterating yields their tokens."""

    def __init__(self, password: str = "nsroot"):
        self._password = password
        self._live: dict[str, Session] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._live))

    def __len__(self) -> int:
        return len(self._live)

    def check_password(self, username: str, password: str) -> bool:
        return hmac.compare_digest(username.encode(), ADMIN_USER.encode()) and hmac.compare_digest(
            password.encode(), self._password.encode())

    def login(self, data: Any) -> Session:
        """A new session from the body of ``POST /login`` (``{"username", "password",
        "timeout"?}``)."""
        if not isinstance(data, dict):
            raise NitroFault(E.INVALID_JSON, "login", status=400)
        for field in ("username", "password"):
            if data.get(field) is None:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, field)
            if not isinstance(data[field], str):
                raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{field}, expected a string")
        username, password = data["username"], data["password"]
        if not self.check_password(username, password):
            raise NitroFault(E.INVALID_CREDENTIALS)
        timeout = data.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, str) and timeout.isdigit():
            timeout = int(timeout)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"timeout, {timeout}")
        token = "##" + secrets.token_hex(24).upper()
        session = self._live[token] = Session(token, username, timeout, time.monotonic() + timeout)
        return session

    def authenticate(self, user: str | None, password: str | None, token: str | None) -> Session:
        """The session a request belongs to: its own credentials (``user``), else its token."""
        now = time.monotonic()
        self._live = {t: s for t, s in self._live.items() if s.expires > now}
        if user is not None:
            if not self.check_password(user, password or ""):
                raise NitroFault(E.INVALID_CREDENTIALS)
            return Session("", user, 0, now)
        if not token:
            raise NitroFault(E.NOT_LOGGED_IN_AUTH)
        session = self._live.get(token)
        if session is None:
            raise NitroFault(E.SESSION_EXPIRED)
        session.expires = now + session.timeout
        return session

    def logout(self, session: Session) -> None:
        self._live.pop(session.token, None)

    def expire_all(self) -> int:
        """End every session (their callers see 444 next); how many there were."""
        count = len(self._live)
        self._live.clear()
        return count
