"""What the gateway's sections share: object names, the ownership mark, how a section adds an
object (``Add``), and the live objects a section gathers from (``LiveGateway``).

Names: ``<gateway>.cs`` for the content-switching vserver (the VIP), ``<gateway>.<pool>`` for
each pool's objects, ``<gateway>.<what>`` for the gateway-wide ones. Objects that have a
``comment`` carry ``adcml:<gateway>`` in it; ownership of the others follows from the
``<gateway>.`` prefix, which gateway names (no dots) cannot collide on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from adcml.engine import LiveState
from adcml.resources import SCHEMA
from adcml.resources.values import BadValue, canonical


class GatherError(ValueError):
    """A live object of the gateway is not in a form adcml writes (it was changed by hand)."""


class Add(Protocol):
    """How a section declares one object: ``add(resource, at, **attributes)``; ``at`` is the
    spec field the object comes from, or a mapping attribute → field (key ``""``: the rest), so
    that a value an appliance would refuse is reported at the field that caused it."""

    def __call__(self, resource: str, at: str | dict[str, str], **attrs: Any) -> None: ...


def mark(gateway: str) -> str:
    return f"adcml:{gateway}"


def cs_name(gateway: str) -> str:
    return f"{gateway}.cs"


def pool_object_name(gateway: str, pool: str) -> str:
    """The name of a pool's lbvserver, service group, monitor, CS action and CS policy."""
    return f"{gateway}.{pool}"


def certkey_name(gateway: str) -> str:
    """The cert-key a gateway owns when its certificate is uploaded from files."""
    return f"{gateway}.cert"


def owner(gateway: str, *, keep_certificate: bool = False) -> Callable[[str, dict[str, Any]], bool]:
    """The ownership predicate for ``gateway``: (resource, live attributes) → owned?

    ``keep_certificate``: the spec names the gateway's own uploaded cert-key rather than its
    files (as a gathered spec does), so that cert-key and its files are left as they are."""
    prefix, comment, cert = f"{gateway}.", mark(gateway), certkey_name(gateway)

    def owned(resource: str, row: dict[str, Any]) -> bool:
        res = SCHEMA[resource]
        name = str(row.get(res.key, ""))
        if not name.startswith(prefix):
            return False
        if keep_certificate and (name == cert if resource == "sslcertkey" else
                                 resource == "systemfile" and name.startswith(f"{cert}.")):
            return False
        if res.is_binding or res.attr("comment") is None:
            return True
        return row.get("comment") == comment

    return owned


@dataclass
class LiveGateway:
    """The live objects of one gateway, for its sections' gather halves: ``obj`` finds an
    owned object by name, ``bound`` the bindings of a parent (owned or not)."""

    name: str
    live: LiveState
    owned: Callable[[str, dict[str, Any]], bool]

    def obj(self, resource: str, name: str) -> dict[str, Any] | None:
        key = SCHEMA[resource].key
        for row in self.live.get(resource, {}).values():
            if str(row.get(key)) == name and self.owned(resource, row):
                return row
        return None

    def names(self, resource: str) -> list[str]:
        """Names of the owned objects of ``resource``, sorted."""
        key = SCHEMA[resource].key
        return sorted(str(row[key]) for row in self.live.get(resource, {}).values()
                      if self.owned(resource, row))

    def bound(self, resource: str, parent: str) -> list[dict[str, Any]]:
        """The ``resource`` bindings of the object named ``parent``."""
        key = SCHEMA[resource].key
        return [row for row in self.live.get(resource, {}).values() if str(row.get(key)) == parent]

    @staticmethod
    def value(resource: str, row: dict[str, Any], attr: str, default: Any = None) -> Any:
        """The canonical value of ``attr`` in a live ``row`` (an appliance returns most numbers
        as strings), else the appliance's default for it, else ``default``."""
        spec = SCHEMA[resource].attr(attr)
        raw = row.get(attr)
        if spec is None:
            return raw if raw is not None else default
        if raw is None:
            raw = spec.default
        if raw is None:
            return default
        try:
            return canonical(spec, raw)
        except BadValue:
            return raw
