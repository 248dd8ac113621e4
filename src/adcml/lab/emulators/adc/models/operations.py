"""What a NITRO request asks of the lab ADC, as plain data the wire layer fills in: ``Query``
(a GET's options) and ``Change`` (a POST's or PUT's), with what a change came to (``Outcome``),
and how a GET narrows its rows (``read``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.partition import Partition
from adcml.lab.emulators.adc.models.store import ConfigStore, resource_for
from adcml.resources import SCHEMA, ErrorCode, ResourceKind

E = ErrorCode


@dataclass(frozen=True)
class Query:
    """A GET's options: ``args``, ``filter``, ``attrs``, ``count=yes``, ``pagesize``/``pageno``,
    ``bulkbindings=yes`` (values as the request spelled them)."""

    args: dict[str, str] = field(default_factory=dict)
    filter: dict[str, str] = field(default_factory=dict)
    attrs: str | None = None
    count: bool = False
    pagesize: str | None = None
    pageno: str | None = None
    bulkbindings: bool = False


class Verb(StrEnum):
    ADD = "add"  # POST
    UPDATE = "update"  # PUT


@dataclass(frozen=True)
class Change:
    """A POST or PUT of one resource: add or update, or the ``action``; ``name`` from the path
    fills the key when a body lacks it; ``idempotent=yes`` makes an add of an existing object
    an update."""

    verb: Verb
    action: str | None = None
    name: str | None = None
    idempotent: bool = False

    def adds(self, is_binding: bool) -> bool:
        """Whether it creates objects (what ``X-NITRO-ONERROR: rollback`` can undo)."""
        return self.action is None and (self.verb is Verb.ADD or is_binding)


class Outcome(StrEnum):
    ADDED = "added"
    BOUND = "bound"
    UPDATED = "updated"  # an update, or an idempotent add of an existing object
    DONE = "done"  # an action


def read(store: ConfigStore, part: Partition, resource: str, name: str | None,
         query: Query) -> list[dict]:
    """The rows a GET answers with: the ``<parent>_binding`` aggregate, or ``resource``'s objects
    filtered, paged and narrowed to ``attrs`` (with ``count``: filtered only). A singleton
    answers its one row."""
    parent = resource.removesuffix("_binding")
    if resource not in SCHEMA and parent != resource and parent in SCHEMA:
        if name is None and not query.bulkbindings:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "name (or bulkbindings=yes)")
        return store.bindings(part, SCHEMA[parent], name)
    res = resource_for(resource)
    if res.is_binding and name is None and not query.bulkbindings:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, f"{res.key} (or bulkbindings=yes)")
    rows = store.get(part, res, name, query.args)
    if res.kind is ResourceKind.SINGLETON:
        return rows
    rows = [r for r in rows if _matches(r, query.filter)]
    if query.count:
        return rows
    rows = _page(rows, query)
    if query.attrs is not None:
        wanted = set(query.attrs.split(",")) | set(res.identity)
        rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
    return rows


def _matches(row: dict, wanted: dict[str, str]) -> bool:
    for key, value in wanted.items():
        have = row.get(key)
        if have is None or str(have).lower() != value.lower():
            return False
    return True


def _page(rows: list, query: Query) -> list:
    if query.pagesize is None:
        return rows
    try:
        size = int(query.pagesize)
        page = int(query.pageno or "1")
    except ValueError:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, "pagesize/pageno, not a number") from None
    if size < 1 or page < 1:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, "pagesize/pageno, must be at least 1")
    return rows[(page - 1) * size : page * size]
