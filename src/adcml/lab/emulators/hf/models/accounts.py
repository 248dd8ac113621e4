"""Who a token is: the tokens file (``NAMESPACE TOKEN`` a line), re-read when it changes, and
whoami's answer.

A token listed under several namespaces belongs to a user (the first namespace) who is a member
of the organizations named after it. Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from adcml.lab.emulators.hf.exceptions import Forbidden, Unauthorized

log = logging.getLogger("adcml.lab.hf")
NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
BUILT_IN = "lab hf_lab"  # the tokens without a tokens file


class TokensError(ValueError):
    """A tokens file that cannot be read; the message names the file and the line."""


def user_id(name: str) -> str:
    """A stable 24-hex id, shaped like the Hub's."""
    return hashlib.sha256(f"user:{name}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Account:
    token: str
    user: str
    orgs: tuple[str, ...]

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.user, *self.orgs)

    @property
    def identity(self) -> dict:
        """``createdBy`` / ``updatedBy`` of what this account does."""
        return {"id": user_id(self.user), "name": self.user}

    def whoami(self) -> dict:
        """``GET /api/whoami-v2``: what the client's ``whoami`` and ``_get_namespace`` read."""
        orgs = [{"type": "org", "id": user_id(org), "name": org, "fullname": org, "roleInOrg": "admin",
                 "canPay": True} for org in self.orgs]
        token = {"displayName": "adcml lab", "role": "write"}
        return {"type": "user", "id": user_id(self.user), "name": self.user, "fullname": self.user,
                "canPay": True, "isPro": False, "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": token}}


def parse_tokens(text: str, source: str) -> dict[str, Account]:
    namespaces: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 2:
            raise TokensError(f"{source}, line {number}: expected 'NAMESPACE TOKEN', "
                              f"found {len(words)} words")
        namespace, token = words
        if not NAMESPACE.fullmatch(namespace):
            raise TokensError(f"{source}, line {number}: {namespace!r} is not a namespace "
                              "(letters, digits, '.', '_' and '-')")
        listed = namespaces.setdefault(token, [])
        if namespace not in listed:
            listed.append(namespace)
    return {token: Account(token, names[0], tuple(names[1:])) for token, names in namespaces.items()}


def bearer_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer TOKEN``, else None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Tokens:
    """The tokens the stand-in accepts: fixed, or from a file that is re-read when its size,
    modification time or inode changes (one stat per look-up). A file that turns unreadable or
    malformed keeps the tokens read last, with a warning."""

    def __init__(self, accounts: dict[str, Account], path: Path | None = None):
        self._accounts = accounts
        self.path = path
        self._stamp = self._stat() if path else None

    @classmethod
    def from_file(cls, path: Path) -> Tokens:
        path = Path(path)
        return cls(parse_tokens(path.read_text(), str(path)), path)

    @classmethod
    def built_in(cls) -> Tokens:
        return cls(parse_tokens(BUILT_IN, "built-in tokens"))

    def lookup(self, token: str | None) -> Account | None:
        if self.path is not None:
            self._refresh()
        return self._accounts.get(token) if token else None

    def authorize(self, authorization: str | None, namespace: str) -> Account:
        """The account of an ``Authorization`` header that may act in ``namespace``: 401 without
        a known token, 403 with a token of other namespaces."""
        token = bearer_token(authorization)
        if token is None:
            raise Unauthorized("Authorization header missing: send Authorization: Bearer <token>")
        account = self.lookup(token)
        if account is None:
            raise Unauthorized("Invalid credentials in Authorization header")
        if namespace not in account.namespaces:
            raise Forbidden(f"user {account.user} has no access to namespace {namespace}")
        return account

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)  # type: ignore[arg-type]
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._accounts = parse_tokens(self.path.read_text(), str(self.path))  # type: ignore[union-attr]
        except (OSError, TokensError) as exc:
            log.warning("tokens file unchanged in effect (%s): %s", self.path, exc)


__all__ = ["BUILT_IN", "Account", "Tokens", "TokensError", "bearer_token", "parse_tokens", "user_id"]
