"""Where the lab's pieces are: the addresses they listen on (``Layout``), the lab directory and
its files (``Lab``), and the processes that make up a lab (``Lab.services``).

- ``idp``: the lab IdP (``python -m adcml.lab.services.idp``), 127.0.0.1:5556;
- ``backend-1``, ``backend-2``: demo backends (``python -m adcml.lab.services.demo_backend``),
  the stand-in for a chat model (none ships offline), 127.0.0.21:8001 and 127.0.0.22:8001;
- ``hf``: the lab's Hugging Face Inference Endpoints (``adcml lab-hf``), its API on
  127.0.0.1:9190 (``/v2``), state (endpoints, their CA ``ca.pem``, replica logs) in ``<dir>/hf``;
  each endpoint's replica (an ``adcml serve``) is its child process;
- ``adc``: the lab ADC with its data plane (``adcml lab-adc --data-plane --test-hosts``), NITRO
  on 127.0.0.1:9080 and :9443, state in ``<dir>/adc``;
- the model-server hosts ``model-1`` and ``model-2`` (root only): test hosts in network
  namespaces (``hosts``, 10.231.0.11 and .12, under ``<dir>/hosts``).

Every address can be changed (options or ``ADCML_LAB_*``); the layout a lab was started with
is kept in ``<dir>/lab.json`` and reused by the other commands (and by the next ``up``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from adcml.lab.orchestrator.errors import LabError
from adcml.lab.orchestrator.hosts import TestHosts
from adcml.lab.orchestrator.processes import Service
from adcml.lab.services.demo_backend import API_KEY_ENV

# Lab value, never a real credential: the chat pool's backend_token in inventories/local, which
# the demo backends require on chat requests (so a 200 proves the ADC injected it).
LAB_BACKEND_TOKEN = "lab-only-chat-backend-key-not-a-secret"
BACKEND_TOKEN_ENV = "ADCML_LAB_BACKEND_TOKEN"
# Lab values, never real credentials: the namespace and token ``adcml lab-hf`` has without a
# tokens file (adcml.lab.emulators.hf.models.accounts.BUILT_IN), which inventories/local gives
# the hf_endpoint role, the adc_gateway module's lookup and the endpoint pool's backend_token.
LAB_HF_NAMESPACE = "lab"
LAB_HF_TOKEN = "hf_lab"


@dataclass(frozen=True)
class Layout:
    """Where the lab's pieces listen. Addresses are HOST:PORT on loopback."""

    nitro: str = "127.0.0.1:9080"
    nitro_tls: str = "127.0.0.1:9443"
    idp: str = "127.0.0.1:5556"
    hf: str = "127.0.0.1:9190"  # the Inference Endpoints stand-in's API; endpoints listen on its host
    backends: tuple[str, ...] = ("127.0.0.21:8001", "127.0.0.22:8001")
    gateway: str = "127.0.0.10:8443"  # the gateway spec's frontend: the certificate's SAN, smoke URL
    gateway_name: str = "gateway.lab.test"
    # Model-server hosts (test hosts, root only; () for none). Their addresses follow from the
    # network in order (.11, .12, ...): inventories/local names them.
    model_hosts: tuple[str, ...] = ("model-1", "model-2")
    hosts_network: str = "10.231.0.0/24"
    hosts_bridge: str = "adcmlbr0"
    model_port: int = 8080  # the model servers' port (model_server_port)

    def __post_init__(self) -> None:
        for label, address in [("nitro", self.nitro), ("nitro_tls", self.nitro_tls), ("idp", self.idp),
                               ("hf", self.hf), ("gateway", self.gateway),
                               *(("backend", b) for b in self.backends)]:
            split_address(address, label)
        if not self.backends:
            raise LabError("backends: give at least one demo backend address")
        addresses = [self.nitro, self.nitro_tls, self.idp, self.hf, self.gateway, *self.backends]
        if len(set(addresses)) != len(addresses):
            raise LabError(f"two of the lab's pieces share an address: {addresses}")

    @property
    def issuer(self) -> str:
        return f"http://{self.idp}"

    @property
    def hf_url(self) -> str:
        """The stand-in's base (whoami, ``/lab``); its Inference Endpoints API is ``/v2`` below."""
        return f"http://{self.hf}"

    @property
    def gateway_url(self) -> str:
        return f"https://{self.gateway}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"backends": list(self.backends), "model_hosts": list(self.model_hosts)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Layout:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("backends", "model_hosts"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def split_address(address: str, label: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` on IPv4 loopback → (host, port); LabError otherwise."""
    host, _, port = str(address).rpartition(":")
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not port.isdigit() or not 0 < int(port) < 65536:
        raise LabError(f"{label} {address!r}: give HOST:PORT with an IPv4 loopback host "
                       "(127.x.y.z) and a port from 1 to 65535")
    return host, int(port)


@dataclass(frozen=True)
class Lab:
    """A lab directory and the layout of the lab in it."""

    dir: Path
    layout: Layout = field(default_factory=Layout)

    @classmethod
    def open(cls, directory: Path | str, **overrides: Any) -> Lab:
        """The lab in ``directory``: its saved layout (or the defaults), with ``overrides``
        (those that are not None) applied."""
        directory = Path(directory).absolute()
        layout = Layout()
        saved = directory / "lab.json"
        if saved.is_file():
            with contextlib.suppress(ValueError, TypeError, LabError):
                layout = Layout.from_json(json.loads(saved.read_text()))
        changes = {k: (tuple(v) if k in ("backends", "model_hosts") else v)
                   for k, v in overrides.items() if v is not None and (v != () or k == "model_hosts")}
        return cls(directory, replace(layout, **changes) if changes else layout)

    # paths
    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.pem"

    @property
    def hf_dir(self) -> Path:
        """The stand-in's state: endpoints.json, the endpoints' CA (ca.pem), replica logs."""
        return self.dir / "hf"

    @property
    def hf_ca_file(self) -> Path:
        return self.hf_dir / "ca.pem"

    @property
    def hosts_dir(self) -> Path:
        return self.dir / "hosts"

    @property
    def wheelhouse_dir(self) -> Path:
        return self.dir / "wheelhouse"

    def test_hosts(self) -> TestHosts:
        """The model-server hosts, in inventory group gpu_hosts."""
        layout = self.layout
        return TestHosts(self.hosts_dir, network=layout.hosts_network, bridge=layout.hosts_bridge,
                         group="gpu_hosts")

    def model_servers(self) -> list[tuple[str, str]]:
        """(host name, base URL) of each model server, as the playbook provisions them."""
        net = ipaddress.IPv4Network(self.layout.hosts_network)
        return [(name, f"http://{net.network_address + 11 + i}:{self.layout.model_port}")
                for i, name in enumerate(self.layout.model_hosts)]

    def services(self) -> list[Service]:
        """The lab's processes, in start order (the ADC last: it fetches keys from the IdP and
        probes the backends and the endpoints)."""
        py = sys.executable
        layout = self.layout
        # The demo backends' API key comes from the lab, never from this process's environment.
        clean = (API_KEY_ENV,)
        out = [Service("idp", (py, "-m", "adcml.lab.services.idp", "--listen", layout.idp), (layout.idp,),
                       f"{layout.issuer}/.well-known/openid-configuration", unset_env=clean)]
        token = os.environ.get(BACKEND_TOKEN_ENV) or LAB_BACKEND_TOKEN
        for i, address in enumerate(layout.backends, 1):
            name = f"backend-{i}"
            out.append(Service(name, (py, "-m", "adcml.lab.services.demo_backend", "--listen", address,
                                      "--name", name),
                               (address,), f"http://{address}/health", {API_KEY_ENV: token},
                               unset_env=clean))
        # No tokens file: namespace ``lab``, token ``hf_lab`` (LAB_HF_NAMESPACE, LAB_HF_TOKEN).
        # Each endpoint's replica is a child of it: ``down`` stops it, and it stops them.
        out.append(Service("hf", (py, "-m", "adcml.cli", "lab-hf", "--listen", layout.hf,
                                  "--state-dir", str(self.hf_dir)),
                           (layout.hf,), f"{layout.hf_url}/lab/health", unset_env=clean,
                           stop_timeout=30.0))  # its replicas drain, 10 s each at most
        reach = ("--test-hosts", str(self.hosts_dir)) if layout.model_hosts else ()
        out.append(Service("adc", (py, "-m", "adcml.cli", "lab-adc", "--listen", layout.nitro,
                                   "--tls-listen", layout.nitro_tls, "--state-dir", str(self.dir / "adc"),
                                   "--data-plane", *reach),
                           (layout.nitro, layout.nitro_tls), f"http://{layout.nitro}/lab/health",
                           binds=(layout.gateway,), unset_env=clean))
        return out

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"
