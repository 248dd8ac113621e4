"""``NitroClient``: the NITRO verbs (get, add, update, delete, bind, actions, files...).

Every verb builds a path and query with :mod:`adcml.nitro.encoding`, goes through the
session's layers (auth, retries, the one I/O seam) and decodes with
:mod:`adcml.nitro.envelope`. Writes send ``warning=yes`` so warnings come back as HTTP 209
and are collected in ``client.warnings``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from adcml.nitro.encoding import build_query, check_resource, resource_path
from adcml.nitro.envelope import Reply, object_name, records
from adcml.nitro.errors import AlreadyExists, InvalidRequest, NotFound
from adcml.nitro.session import NitroSession
from adcml.nitro.version import NsVersion

Obj = Mapping[str, Any]
Body = Obj | Sequence[Obj]


class OnError(StrEnum):
    """``X-NITRO-ONERROR`` for bulk requests (rollback only for add and bind)."""

    EXIT = "exit"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class NitroClient(NitroSession):
    """A NITRO REST client; see :class:`~adcml.nitro.settings.Settings` for the options.

    Use as a context manager to log out on exit. A list body is one bulk request; a partial
    failure raises :class:`~adcml.nitro.errors.BulkError` with a result per item.
    """

    # -- reads -----------------------------------------------------------------------------

    def get(
        self,
        resource: str,
        name: str | None = None,
        *,
        args: Mapping[str, Any] | None = None,
        filter: Mapping[str, Any] | None = None,
        attrs: Iterable[str] | None = None,
        pagesize: int | None = None,
        pageno: int | None = None,
        view: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of ``resource`` (one when ``name`` is given). Raises NotFound if missing."""
        query = build_query(
            args=args, filter=filter, attrs=attrs, pagesize=pagesize, pageno=pageno, view=view
        )
        reply = self._request(
            "GET", resource_path("config", resource, name), query=query,
            resource=resource, name=name,
        )
        return records(reply.body, resource)

    def find(self, resource: str, name: str, **kwargs: Any) -> dict[str, Any] | None:
        """The named object, or None when it does not exist."""
        try:
            found = self.get(resource, name, **kwargs)
        except NotFound:
            return None
        return found[0] if found else None

    def count(self, resource: str, filter: Mapping[str, Any] | None = None) -> int:
        """How many objects of ``resource`` exist (matching ``filter``)."""
        query = build_query(filter=filter, count="yes")
        reply = self._request(
            "GET", resource_path("config", resource), query=query, resource=resource
        )
        found = records(reply.body, resource)
        return int(found[0].get("__count", 0)) if found else 0

    def bindings(self, resource: str, name: str | None = None) -> list[dict[str, Any]]:
        """``<resource>_binding`` of one object, or of all objects (``bulkbindings=yes``).

        Each entry has the object's name and one list per binding type, e.g.
        ``{"name": "web", "lbvserver_servicegroup_binding": [...]}``.
        """
        key = resource if resource.endswith("_binding") else f"{resource}_binding"
        query = "" if name is not None else "bulkbindings=yes"
        reply = self._request(
            "GET", resource_path("config", key, name), query=query, resource=key, name=name
        )
        return records(reply.body, key)

    def stat(
        self, resource: str, name: str | None = None, *, args: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Statistics (``/nitro/v1/stat/...``) of ``resource``; ``args`` narrow them (e.g.
        ``stat("servicegroupmember", args={"servicegroupname": g, "servername": s, "port": p})``)."""
        reply = self._request(
            "GET", resource_path("stat", resource, name), query=build_query(args=args),
            resource=resource, name=name,
        )
        return records(reply.body, resource)

    # -- writes ----------------------------------------------------------------------------

    def add(
        self, resource: str, obj_or_list: Body, *, idempotent: bool = False,
        onerror: OnError | str | None = None,
    ) -> None:
        """Create one object, or several in one bulk request (``idempotent``: add-or-update)."""
        self._write("POST", resource, obj_or_list, onerror=onerror,
                    idempotent="yes" if idempotent else None)

    def update(
        self, resource: str, obj_or_list: Body, *, onerror: OnError | str | None = None
    ) -> None:
        """Change objects (``PUT /config/<resource>``, the name in the body)."""
        self._write("PUT", resource, obj_or_list, onerror=onerror)

    def delete(self, resource: str, name: str, *, args: Mapping[str, Any] | None = None) -> None:
        """Remove an object; ``args`` identify it further (e.g. ``{"type": "HTTP"}``)."""
        self._request(
            "DELETE", resource_path("config", resource, name),
            query=build_query(args=args, warning="yes"), resource=resource, name=name,
        )

    def bind(
        self, binding: str, obj_or_list: Body, *, onerror: OnError | str | None = None
    ) -> None:
        """Create bindings (``PUT /config/<parent>_<child>_binding``)."""
        self._write("PUT", _binding(binding), obj_or_list, onerror=onerror)

    def unbind(self, binding: str, name: str, *, args: Mapping[str, Any]) -> None:
        """Remove a binding of ``name``; ``args`` name the bound child (``{"policyname": p}``)."""
        self.delete(_binding(binding), name, args=args)

    def action(
        self, resource: str, action: str, obj_or_list: Body | None = None, *,
        onerror: OnError | str | None = None,
    ) -> list[dict[str, Any]]:
        """``POST /config/<resource>?action=<action>``; returns any objects in the reply."""
        reply = self._write(
            "POST", resource, {} if obj_or_list is None else obj_or_list,
            onerror=onerror, action=action,
        )
        return records(reply.body, resource) if reply is not None else []

    def _write(
        self, method: str, resource: str, obj_or_list: Body, *,
        onerror: OnError | str | None, **params: Any,
    ) -> Reply | None:
        check_resource(resource)
        headers = {"X-NITRO-ONERROR": _onerror(onerror).value} if onerror is not None else None
        adds = method == "POST" and "action" not in params
        if headers and headers["X-NITRO-ONERROR"] == OnError.ROLLBACK and not (
            adds or resource.endswith("_binding")
        ):
            # The appliance rolls back adds and binds only; elsewhere it would stop at the
            # first failure and keep what it applied, and BulkError would claim a rollback.
            raise InvalidRequest(
                f"{resource}: onerror='rollback' applies to add and bind only; "
                "use 'exit' or 'continue'"
            )
        if isinstance(obj_or_list, Mapping):
            items, payload, name = None, dict(obj_or_list), object_name(obj_or_list)
        elif isinstance(obj_or_list, Sequence) and not isinstance(obj_or_list, str | bytes):
            items = [_obj(resource, o) for o in obj_or_list]
            if not items:
                return None
            payload, name = items, None
        else:
            raise InvalidRequest(
                f"{resource}: expected an object (dict) or a list of them, "
                f"got {type(obj_or_list).__name__}"
            )
        return self._request(
            method, resource_path("config", resource), {resource: payload},
            query=build_query(**params, warning="yes"), headers=headers,
            resource=resource, name=name, items=items,
            onerror=headers["X-NITRO-ONERROR"] if headers else None,
        )

    # -- files -----------------------------------------------------------------------------

    def upload_file(
        self, filename: str, content: bytes | str, location: str = "/nsconfig/ssl/", *,
        overwrite: bool = False,
    ) -> None:
        """Store a file on the appliance; ``overwrite`` replaces an existing one."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        obj = {
            "filename": filename,
            "filelocation": location,
            "filecontent": base64.b64encode(data).decode("ascii"),
            "fileencoding": "BASE64",
        }
        try:
            self.add("systemfile", obj)
        except AlreadyExists:
            if not overwrite:
                raise
            self.delete_file(filename, location)  # systemfile has no update
            self.add("systemfile", obj)

    def get_file(self, filename: str, location: str) -> bytes | None:
        """The file's content, or None when it does not exist."""
        found = self.find("systemfile", filename, args={"filelocation": location})
        if not found or found.get("filecontent") is None:
            return None
        return base64.b64decode(found["filecontent"])

    def delete_file(self, filename: str, location: str) -> None:
        self.delete("systemfile", filename, args={"filelocation": location})

    # -- appliance -------------------------------------------------------------------------

    def save_config(self) -> None:
        """Persist the running configuration (a concurrent save, 293, is retried)."""
        self.action("nsconfig", "save", {})

    def version(self) -> NsVersion:
        found = self.get("nsversion")
        return NsVersion.parse(str(found[0].get("version", "")) if found else "")

    def features(self) -> set[str]:
        """Names of the enabled features, upper case (``{"LB", "SSL", ...}``)."""
        found = self.get("nsfeature")
        if not found:
            return set()
        obj = found[0]
        enabled = {str(f).upper() for f in obj.get("feature") or []}
        enabled |= {
            k.upper() for k, v in obj.items()
            if k != "feature" and (v is True or str(v).upper() in ("ON", "TRUE", "ENABLED"))
        }
        return enabled

    def enable_features(self, features: Iterable[str]) -> None:
        names = [str(f).upper() for f in features]
        if names:
            self.action("nsfeature", "enable", {"feature": names})


def _binding(binding: str) -> str:
    if not binding.endswith("_binding"):
        raise InvalidRequest(f"binding: expected '<parent>_<child>_binding', got {binding!r}")
    return binding


def _obj(resource: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise InvalidRequest(f"{resource}: list items must be objects, got {type(obj).__name__}")
    return dict(obj)


def _onerror(value: OnError | str) -> OnError:
    try:
        return OnError(str(value).lower())
    except ValueError:
        raise InvalidRequest(
            f"onerror: must be 'exit', 'continue' or 'rollback', got {value!r}"
        ) from None
