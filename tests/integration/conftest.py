"""Helpers for the lab ADC contract tests: NITRO verbs spelled out over the raw ``nitro``
client, exact envelope checks, and a lab PKI.

Requests are built by hand (names double-URL-encoded, ``args`` values percent-encoded) so the
tests send exactly what a NITRO client sends. Helpers come as fixtures (``api``, ``ca``)
because two conftest modules make ``import conftest`` ambiguous.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from adcml.lab.services.pki import LabCA

JSON_TYPE = "application/json; charset=utf-8"
SSL_DIR = "/nsconfig/ssl/"


class Api:
    """NITRO verbs over a logged-in httpx client whose base URL is .../nitro/v1/config."""

    def __init__(self, http: httpx.Client):
        self.http = http

    # --- encoding ---------------------------------------------------------------------------
    @staticmethod
    def segment(name: str) -> str:
        """A name as a path segment: URL-encoded twice, as NITRO clients send it."""
        return quote(quote(name, safe=""), safe="")

    @staticmethod
    def pairs(values: dict[str, Any]) -> str:
        """``k:v,k2:v2`` for ``args=`` / ``filter=``, each value percent-encoded."""
        return ",".join(f"{k}:{quote(str(v), safe='')}" for k, v in values.items())

    # --- envelope checks --------------------------------------------------------------------
    @staticmethod
    def ok(response: httpx.Response, status: int = 200) -> dict:
        """Assert a success envelope with ``status``; return the body."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == JSON_TYPE
        body = response.json()
        assert (body["errorcode"], body["message"], body["severity"]) == (0, "Done", "NONE"), body
        return body

    @staticmethod
    def fails(response: httpx.Response, status: int, code: int, *fragments: str) -> dict:
        """Assert an error envelope: status, errorcode, and a message naming ``fragments``."""
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == JSON_TYPE
        body = response.json()
        assert set(body) == {"errorcode", "message", "severity"}, body
        assert body["errorcode"] == code, body
        assert body["severity"] == "ERROR"
        for fragment in fragments:
            assert fragment in body["message"], (fragment, body["message"])
        return body

    # --- verbs ------------------------------------------------------------------------------
    def path(self, resource: str, name: str | None = None) -> str:
        return f"/{resource}" + (f"/{self.segment(name)}" if name is not None else "")

    def add(self, resource: str, obj: Any, query: str = "", **kw) -> httpx.Response:
        return self.http.post(f"/{resource}{query}", json={resource: obj}, **kw)

    def bind(self, resource: str, obj: Any, method: str = "PUT") -> httpx.Response:
        return self.http.request(method, f"/{resource}", json={resource: obj})

    def get(self, resource: str, name: str | None = None, query: str = "") -> httpx.Response:
        return self.http.get(self.path(resource, name) + query)

    def one(self, resource: str, name: str, query: str = "") -> dict:
        """GET one object that must exist; return it (checking the one-item list)."""
        rows = self.ok(self.get(resource, name, query))[resource]
        assert isinstance(rows, list) and len(rows) == 1, rows
        return rows[0]

    def all(self, resource: str, query: str = "") -> list[dict]:
        """GET every object of a resource (a list, possibly empty)."""
        return self.ok(self.get(resource, query=query)).get(resource, [])

    def update(self, resource: str, obj: Any, name: str | None = None) -> httpx.Response:
        return self.http.put(self.path(resource, name), json={resource: obj})

    def delete(self, resource: str, name: str, **args: Any) -> httpx.Response:
        query = f"?args={self.pairs(args)}" if args else ""
        return self.http.delete(self.path(resource, name) + query)

    def act(self, resource: str, action: str, obj: Any) -> httpx.Response:
        return self.http.post(f"/{resource}?action={action}", json={resource: obj})

    def upload(self, filename: str, data: bytes, location: str = SSL_DIR) -> httpx.Response:
        return self.add("systemfile", {
            "filename": filename, "filelocation": location,
            "filecontent": base64.b64encode(data).decode(), "fileencoding": "BASE64",
        })

    def enable(self, *features: str) -> None:
        self.ok(self.act("nsfeature", "enable", {"feature": list(features)}))

    def must_add(self, resource: str, obj: dict) -> None:
        """Add (or bind) ``obj``; fail the test unless the lab answers 201."""
        self.ok(self.add(resource, obj), 201)


@pytest.fixture
def api(nitro: httpx.Client) -> Api:
    return Api(nitro)


@pytest.fixture
def connect() -> Iterator[Callable[..., Api]]:
    """Log in to a lab ADC at a base URL (after a restart, or to a second lab) as a new Api."""
    clients: list[httpx.Client] = []

    def connect(url: str, password: str = "nsroot") -> Api:
        client = httpx.Client(base_url=f"{url}/nitro/v1/config", timeout=10)
        clients.append(client)
        api = Api(client)
        login = {"login": {"username": "nsroot", "password": password}}
        api.ok(client.post("/login", json=login), 201)
        return api

    yield connect
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def ca() -> LabCA:
    return LabCA()
