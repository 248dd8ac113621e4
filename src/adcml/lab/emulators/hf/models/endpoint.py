"""One endpoint: its configuration, state and data-plane port, its raw JSON as the client reads
it, and its saved form."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from adcml.lab.emulators.hf.models.config import masked_model
from adcml.lab.emulators.hf.models.states import ADDRESSABLE, MESSAGES, State, replicas

HEALTH_ROUTE = "/health"  # what every replica (adcml serve, TEI's API) answers
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def timestamp() -> str:
    """The service's timestamps: UTC, fractional seconds, ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def endpoint_id(namespace: str, name: str) -> str:
    """16 lowercase letters and digits, like the first label of the service's endpoint host
    names, stable for a namespace and name."""
    number = int.from_bytes(hashlib.sha256(f"{namespace}/{name}".encode()).digest(), "big")
    digits = []
    for _ in range(16):
        number, digit = divmod(number, len(_ID_ALPHABET))
        digits.append(_ID_ALPHABET[digit])
    return "".join(digits)


@dataclass
class Endpoint:
    namespace: str
    name: str
    config: dict
    created_by: dict  # {"id": ..., "name": ...}
    port: int = 0  # the data plane's, chosen at creation and kept
    state: State = State.PENDING
    message: str = MESSAGES[State.PENDING]
    created_at: str = field(default_factory=timestamp)
    updated_at: str = ""
    updated_by: dict = field(default_factory=dict)
    # Not saved: when the endpoint last served a request or came up (time.monotonic()).
    last_activity: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at
        self.updated_by = self.updated_by or self.created_by

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def type(self) -> str:
        return self.config["type"]

    def host_name(self, domain: str) -> str:
        """``{id}.{region}.{vendor}.{domain}``, as the service's URLs are named."""
        provider = self.config["provider"]
        return f"{endpoint_id(self.namespace, self.name)}.{provider['region']}.{provider['vendor']}.{domain}"

    def set_state(self, state: State, detail: str | None = None) -> None:
        self.state = state
        self.message = f"{MESSAGES[state]}: {detail}" if detail else MESSAGES[state]

    def changed_by(self, who: dict) -> None:
        self.updated_at, self.updated_by = timestamp(), who

    def to_raw(self, url: str, host_name: str) -> dict:
        """The endpoint as the service returns it. ``status.url`` and ``status.hostName`` once it
        is deployed; ``hostName`` is the stand-in's one addition (docs/lab-hf.md)."""
        ready, target = replicas(self.state)
        status = {
            "createdAt": self.created_at, "createdBy": self.created_by,
            "updatedAt": self.updated_at, "updatedBy": self.updated_by,
            "private": None, "state": str(self.state), "message": self.message,
            "readyReplica": ready, "targetReplica": target,
        }
        if self.state in ADDRESSABLE:
            status |= {"url": url, "hostName": host_name}
        return {"name": self.name, **self.config, "model": masked_model(self.config["model"]),
                "status": status, "healthRoute": HEALTH_ROUTE}

    def to_record(self) -> dict:
        return {"namespace": self.namespace, "name": self.name, "config": self.config, "port": self.port,
                "state": str(self.state), "message": self.message, "createdAt": self.created_at,
                "createdBy": self.created_by, "updatedAt": self.updated_at, "updatedBy": self.updated_by}

    @classmethod
    def from_record(cls, record: dict) -> Endpoint:
        return cls(namespace=record["namespace"], name=record["name"], config=record["config"],
                   created_by=record["createdBy"], port=record["port"], state=State(record["state"]),
                   message=record["message"], created_at=record["createdAt"],
                   updated_at=record["updatedAt"], updated_by=record["updatedBy"])


__all__ = ["HEALTH_ROUTE", "Endpoint", "endpoint_id", "timestamp"]
