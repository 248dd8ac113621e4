"""The gateway as one Pulumi resource, over the engine: its diff is the engine's plan, create
and update converge, delete removes the objects the gateway owns, read gathers (so
``pulumi refresh`` and ``pulumi import`` work).

Inputs: ``spec`` (the gateway spec of docs/gateway.md, as a mapping; its secrets —
``backend_token``, ``client_secret``, ``key_passphrase`` — are marked secret), ``state``
(``overridden`` by default: the stack owns the gateway, so objects of it that the spec no
longer has are removed; ``merged`` and ``replaced`` as in adc_gateway), ``save`` (write the
ADC's config after a change) and ``connection`` (optional, secret; else the stack's ``adcml:*``
configuration, else the NETSCALER_* variables). The resource's id is the gateway's name.

Outputs: ``name``, ``url`` (the frontend), ``spec`` (the spec with every secret replaced by a
fingerprint), ``plan`` (the last plan applied, rendered as ``adc_gateway --diff`` shows it,
secrets masked). A spec that changes only a secret is an update: the fingerprint differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi import dynamic

from adcml.engine import Plan
from adcml.gateway import (
    GatewaySpec,
    SpecError,
    State,
    converge,
    delete_gateway,
    gather,
    load_spec,
    plan_gateway,
    resolve_endpoints,
)
from adcml.gateway.spec import SECRET_FIELDS
from adcml.pulumi.connection import hf_connection, nitro_client
from adcml.pulumi.dynamic import (
    ConfiguredProvider,
    has_unknown,
    mark_secrets,
    secret,
    spec_failures,
    state_failures,
    with_secret_outputs,
)
from adcml.pulumi.fingerprints import salt_of, scrub, secrets_in

STATES = ("merged", "replaced", "overridden")
DEFAULT_STATE = "overridden"
# check runs offline: an endpoint given by name is looked up only when the plan is made
_OFFLINE_URL = "https://{name}.endpoints.invalid"


class GatewayProvider(ConfiguredProvider):
    """CRUD of one gateway (``adcml.gateway``) for Pulumi."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        if has_unknown(news.get("spec")):
            return dynamic.CheckResult(news, [])
        failures = state_failures(news.get("state") or DEFAULT_STATE, STATES)
        try:
            self.spec_of(news, lambda name, _namespace: _OFFLINE_URL.format(name=name))
        except SpecError as exc:
            failures += spec_failures(exc.problems)
        return dynamic.CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        if has_unknown(news):
            return dynamic.DiffResult(changes=True)
        spec = self.spec_of(news)
        if id_ and spec.name != id_:  # another gateway: the old one goes first (its VIP is taken)
            return dynamic.DiffResult(changes=True, replaces=["spec"], delete_before_replace=True)
        plan = self.preview(news, spec)
        if plan.changed:
            pulumi.log.info(f"gateway {spec.name}:\n{plan.render()}")
        return dynamic.DiffResult(changes=plan.changed or self._outputs_changed(olds, news))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        spec = self.spec_of(props)
        return dynamic.CreateResult(spec.name, self._apply(props, spec, salt=None))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        """Converge; when a secret's fingerprint changed, the secrets the ADC never shows (the
        OIDC client secret) are written again too: the plan alone could not see the change."""
        salt = salt_of(olds.get("spec"))
        rotated = secrets_in(_scrubbed(news["spec"], salt), SECRET_FIELDS) != secrets_in(
            olds.get("spec"), SECRET_FIELDS)
        return dynamic.UpdateResult(self._apply(news, self.spec_of(news), salt=salt, write_secrets=rotated))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with nitro_client(self._config, props.get("connection")) as client:
            delete_gateway(client, id_, save=bool(props.get("save")))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        """Refresh: is the gateway still there (drift in its objects shows in the next
        preview's plan). Import (no inputs yet): the gathered spec becomes the inputs, and it
        applies back as a no-op (its secrets are the marker that keeps the live value)."""
        with nitro_client(self._config, props.get("connection")) as client:
            gathered = gather(client, id_)
        if not gathered:
            return dynamic.ReadResult(None, {})
        state = props.get("state") or DEFAULT_STATE
        applied = props.get("spec") if isinstance(props.get("spec"), Mapping) else None
        # the outputs of a refresh, or the program's inputs (an import with the import option):
        # scrubbed either way
        spec = _scrubbed(applied, salt_of(applied)) if applied is not None else gathered
        outs = {"name": id_, "state": state, "save": bool(props.get("save")), "url": _url(gathered),
                "spec": spec, "plan": props.get("plan") or ""}
        inputs = None if applied is not None else {"spec": gathered, "state": state, "save": False}
        return dynamic.ReadResult(id_, outs, inputs)

    # --- the engine's side ------------------------------------------------------------------
    def spec_of(self, props: Mapping[str, Any],
                url_of: Callable[[str, str | None], str] | None = None) -> GatewaySpec:
        """The spec of ``props``, endpoints given by name looked up (through Hugging Face with
        the provider's configuration unless ``url_of`` is given)."""
        data = props.get("spec")
        if not isinstance(data, Mapping):
            raise SpecError([("spec", "expected a mapping with name, frontend and pools")])
        return load_spec(resolve_endpoints(dict(data), url_of or self._endpoint_url(props)))

    def preview(self, props: Mapping[str, Any], spec: GatewaySpec | None = None) -> Plan:
        """The plan an update would apply now, as ``adc_gateway --check --diff`` makes it."""
        spec = spec or self.spec_of(props)
        with nitro_client(self._config, props.get("connection")) as client:
            return plan_gateway(client, spec, State(props.get("state") or DEFAULT_STATE))

    def _apply(self, props: Mapping[str, Any], spec: GatewaySpec, salt: str | None,
               write_secrets: bool = False) -> dict[str, Any]:
        with nitro_client(self._config, props.get("connection")) as client:
            outcome = converge(client, spec, State(props.get("state") or DEFAULT_STATE),
                               save=bool(props.get("save")), write_secrets=write_secrets)
        return {"name": spec.name, "state": props.get("state") or DEFAULT_STATE,
                "save": bool(props.get("save")), "url": _url(props["spec"]),
                "spec": _scrubbed(props["spec"], salt), "plan": outcome.plan.render()}

    def _endpoint_url(self, props: Mapping[str, Any]) -> Callable[[str, str | None], str]:
        def url_of(name: str, namespace: str | None) -> str:
            from adcml.hf import HfError, endpoint_url

            try:
                return endpoint_url(hf_connection(self._config, props.get("connection")), name, namespace)
            except HfError as exc:
                raise LookupError(f"cannot look it up: {exc}") from None

        return url_of

    @staticmethod
    def _outputs_changed(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        """Inputs the ADC cannot show changed: a secret (its fingerprint), state or save."""
        if (olds.get("state") or DEFAULT_STATE) != (news.get("state") or DEFAULT_STATE):
            return True
        if bool(olds.get("save")) != bool(news.get("save")):
            return True
        kept = olds.get("spec")
        return _scrubbed(news["spec"], salt_of(kept)) != kept


def _scrubbed(spec: Mapping[str, Any], salt: str | None) -> dict[str, Any]:
    return scrub(dict(spec), SECRET_FIELDS, salt)


def _url(spec: Mapping[str, Any]) -> str:
    frontend = spec.get("frontend") or {}
    return f"{frontend.get('protocol', 'https')}://{frontend.get('vip')}:{frontend.get('port')}"


class Gateway(dynamic.Resource, module="adcml", name="Gateway"):
    """One gateway on an ADC (``GatewayProvider``)."""

    name: pulumi.Output[str]
    url: pulumi.Output[str]
    spec: pulumi.Output[dict]
    plan: pulumi.Output[str]

    def __init__(self, resource_name: str, spec: pulumi.Input[Mapping[str, Any]], *,
                 state: str = DEFAULT_STATE, save: bool = False,
                 connection: pulumi.Input[Mapping[str, Any]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"spec": mark_secrets(spec, SECRET_FIELDS), "state": state, "save": save,
                 "connection": secret(connection),
                 "name": None, "url": None, "plan": None}
        opts = with_secret_outputs(opts, ["connection"])
        super().__init__(GatewayProvider(), resource_name, props, opts)


__all__ = ["DEFAULT_STATE", "STATES", "Gateway", "GatewayProvider"]
