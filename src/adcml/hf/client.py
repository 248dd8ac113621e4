"""The one seam to the Inference Endpoints service: ``huggingface_hub``'s ``HfApi``, its
differences between versions smoothed, its errors turned into ours (never with the token).

Versions: the 0.x that transformers 4 pins, and the current 1.x and 2.x. What differs and is
handled here: the name of the authenticated type (``protected`` in 0.x, ``authenticated`` from
1.x, where 2.x refuses ``protected``), the hardware listing (from 1.x; with 0.x the service's own
400 is the only check), and the HTTP library underneath (requests, then httpx) whose transport
errors we catch.

The API base is the client's ``constants.INFERENCE_ENDPOINTS_ENDPOINT``; ``HfConnection`` sets it
for the duration of each call (``api_base``), so the lab stand-in (``adcml lab-hf``) or a proxy
can take the real service's place. ``hub_endpoint`` is where ``whoami`` goes, asked only when a
spec names no namespace.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from huggingface_hub import HfApi, InferenceEndpointType, constants
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

from adcml.secret import Secret

API_BASE_ENV = "ADCML_HF_API_BASE"
CA_FILE_ENV = "ADCML_HF_CA_FILE"
# The client reads the constant at each call; one lock keeps two connections with different
# bases (tests, a thread pool) from swapping it under each other.
_BASE_LOCK = threading.RLock()
AUTHENTICATED_TYPE = ("authenticated" if hasattr(InferenceEndpointType, "AUTHENTICATED")
                      else "protected")


class HfError(Exception):
    """A failure talking to the Inference Endpoints service."""


class HfServiceError(HfError):
    """The service refused a request: ``status`` is its HTTP status, ``detail`` its message."""

    def __init__(self, action: str, status: int, detail: str):
        self.action, self.status, self.detail = action, status, detail
        super().__init__(f"{action}: HTTP {status}: {detail}")


class HfTransportError(HfError):
    """The service did not answer (address, TLS, network)."""


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [httpx.TransportError, OSError]
    try:
        import requests  # 0.x talks over requests

        errors.append(requests.RequestException)
    except ImportError:
        pass
    with contextlib.suppress(ImportError):  # 2.x vendors its own httpx
        from huggingface_hub.utils._http import httpx2  # type: ignore[attr-defined]

        errors.append(httpx2.TransportError)
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


@dataclass(frozen=True)
class HfConnection:
    """How to reach the service. Every field falls back to the environment: ``HF_TOKEN`` (the
    client's own variable), ``ADCML_HF_API_BASE``, ``HF_ENDPOINT`` (the Hub, for whoami) and
    ``ADCML_HF_CA_FILE`` (a CA bundle for the endpoints' URLs, e.g. the lab's CA)."""

    token: Secret | None = None
    api_base: str | None = None
    hub_endpoint: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0
    _namespaces: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, token: str | Secret | None = None, api_base: str | None = None,
                 hub_endpoint: str | None = None, ca_file: str | None = None) -> HfConnection:
        token = token if token is not None else os.environ.get("HF_TOKEN") or None
        return cls(token=Secret.wrap(token),
                   api_base=(api_base or os.environ.get(API_BASE_ENV) or None),
                   hub_endpoint=hub_endpoint or os.environ.get("HF_ENDPOINT") or None,
                   ca_file=ca_file or os.environ.get(CA_FILE_ENV) or None)

    @property
    def base(self) -> str:
        return (self.api_base or constants.INFERENCE_ENDPOINTS_ENDPOINT).rstrip("/")


class Endpoints:
    """The service's calls for Inference Endpoints, each returning the endpoint's raw JSON."""

    def __init__(self, connection: HfConnection):
        self.connection = connection
        self._token = connection.token.reveal() if connection.token else None
        self._api = HfApi(endpoint=connection.hub_endpoint, token=self._token)

    @contextlib.contextmanager
    def _call(self, action: str, where: str | None = None) -> Iterator[None]:
        with _BASE_LOCK:
            saved = constants.INFERENCE_ENDPOINTS_ENDPOINT
            constants.INFERENCE_ENDPOINTS_ENDPOINT = self.connection.base
            try:
                yield
            except HfHubHTTPError as exc:
                raise HfServiceError(action, _status(exc), self._detail(exc)) from None
            except LocalTokenNotFoundError:
                raise HfError(f"{action}: no token: set HF_TOKEN (the module: hf_token)") from None
            except OfflineModeIsEnabled:  # an OSError: caught before the transport errors
                raise HfError(f"{action}: huggingface_hub is in offline mode (HF_HUB_OFFLINE or "
                              "TRANSFORMERS_OFFLINE is set) and sends no request; unset it, or set "
                              "it to 0, to manage Inference Endpoints") from None
            except _TRANSPORT_ERRORS as exc:
                if _status(exc):  # 0.x's whoami re-raises a 401 as requests' HTTPError
                    raise HfServiceError(action, _status(exc), self._detail(exc)) from None
                raise HfTransportError(f"{action}: cannot reach {where or self.connection.base}: "
                                       f"{self._scrub(str(exc))}") from None
            finally:
                constants.INFERENCE_ENDPOINTS_ENDPOINT = saved

    def namespace(self, given: str | None) -> str:
        """``given``, or the token's user (whoami, asked once per connection)."""
        if given:
            return given
        cache = self.connection._namespaces
        if "" not in cache:
            with self._call("whoami", self._api.endpoint):
                me = self._api.whoami(token=self._token)
            if me.get("type") != "user":
                raise HfError("the token belongs to an organisation, not a user: give the "
                              "endpoint's namespace")
            cache[""] = me["name"]
        return cache[""]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The endpoint's JSON, or None when there is none of that name."""
        try:
            with self._call(f"read {namespace}/{name}"):
                return self._api.get_inference_endpoint(name, namespace=namespace, token=self._token).raw
        except HfServiceError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, namespace: str, arguments: dict[str, Any]) -> dict[str, Any]:
        arguments = dict(arguments)
        if arguments.get("type") == "authenticated":
            arguments["type"] = AUTHENTICATED_TYPE
        with self._call(f"create {namespace}/{arguments['name']}"):
            name = arguments.pop("name")
            return self._api.create_inference_endpoint(name, namespace=namespace, token=self._token,
                                                       **arguments).raw

    def update(self, namespace: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        with self._call(f"update {namespace}/{name}"):
            return self._api.update_inference_endpoint(name, namespace=namespace, token=self._token,
                                                       **arguments).raw

    def pause(self, namespace: str, name: str) -> dict[str, Any]:
        with self._call(f"pause {namespace}/{name}"):
            return self._api.pause_inference_endpoint(name, namespace=namespace, token=self._token).raw

    def resume(self, namespace: str, name: str) -> dict[str, Any]:
        with self._call(f"resume {namespace}/{name}"):
            return self._api.resume_inference_endpoint(name, namespace=namespace,
                                                       token=self._token).raw

    def scale_to_zero(self, namespace: str, name: str) -> dict[str, Any]:
        with self._call(f"scale {namespace}/{name} to zero"):
            return self._api.scale_to_zero_inference_endpoint(name, namespace=namespace,
                                                              token=self._token).raw

    def delete(self, namespace: str, name: str) -> None:
        with self._call(f"delete {namespace}/{name}"):
            self._api.delete_inference_endpoint(name, namespace=namespace, token=self._token)

    def list(self, namespace: str) -> list[dict[str, Any]]:
        with self._call(f"list {namespace}"):
            return [endpoint.raw for endpoint in
                    self._api.list_inference_endpoints(namespace=namespace, token=self._token)]

    def hardware(self, namespace: str) -> list[dict[str, Any]] | None:
        """The hardware the namespace may deploy on (vendor, region, accelerator,
        instance_type, instance_size, status...); None with a client that cannot list it."""
        listing = getattr(self._api, "list_inference_endpoints_hardware", None)
        if listing is None:
            return None
        with self._call(f"list the hardware of {namespace}"):
            return [vars(item).copy() for item in listing(namespace=namespace, token=self._token)]

    def healthy(self, raw: dict[str, Any]) -> bool:
        """Whether the endpoint's URL answers its health route with 200, as the client's
        ``wait()`` asks it (with the token)."""
        url = (raw.get("status") or {}).get("url")
        if not url:
            return False
        route = raw.get("healthRoute") or "/health"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        verify: Any = (ssl.create_default_context(cafile=self.connection.ca_file)
                       if self.connection.ca_file else True)
        try:
            response = httpx.get(f"{url.rstrip('/')}/{route.lstrip('/')}", headers=headers,
                                 verify=verify, timeout=self.connection.timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _detail(self, exc: BaseException) -> str:
        detail = getattr(exc, "server_message", None) or str(exc).splitlines()[0]
        return self._scrub(detail.strip())

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", 0) or 0
