"""How the Pulumi providers reach the ADC and Hugging Face: the stack's configuration, an
input of the resource, or the environment — in that order of precedence, input first.

Stack configuration (namespace ``adcml``), named after the Ansible options of the one table of
connection options (``adcml.nitro.settings.CONNECTION_OPTIONS``) in Pulumi's camelCase:

    pulumi config set adcml:nsip 192.0.2.10
    pulumi config set adcml:nitroUser nsroot
    pulumi config set --secret adcml:nitroPass ...
    pulumi config set adcml:validateCerts false        # also nitroProtocol, caBundle, partition
    pulumi config set --secret adcml:hfToken hf_...    # also hfApiBase, hfHubEndpoint, hfCaFile

A dynamic provider gets the configuration in ``configure``, after Pulumi has deserialized it,
so the credentials are never part of the serialized provider kept in the state. Unset keys
fall back to the vendor collection's variables (NETSCALER_NSIP, NETSCALER_NITRO_USER,
NETSCALER_NITRO_PASS ...) and to huggingface_hub's (HF_TOKEN).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adcml.nitro import NitroClient
from adcml.nitro.settings import CONNECTION_OPTIONS, Settings, SettingsError

NAMESPACE = "adcml"
# Hugging Face: config key -> HfConnection.from_env argument
HF_KEYS = {"hfToken": "token", "hfApiBase": "api_base", "hfHubEndpoint": "hub_endpoint",
           "hfCaFile": "ca_file"}


class ConnectionSettingError(ValueError):
    """A connection setting is missing or wrong; the message names the config key."""


def camel(option: str) -> str:
    head, *rest = option.split("_")
    return head + "".join(part.capitalize() for part in rest)


CONFIG_KEYS: dict[str, str] = {o.field: camel(o.option) for o in CONNECTION_OPTIONS}
"""Settings field -> config key (without the namespace): nsip, nitroUser, nitroPass ..."""


def from_config(config: Any) -> dict[str, Any]:
    """The ``adcml:*`` values of a Pulumi configuration (``pulumi.dynamic.Config`` or a mapping
    of full keys), without the namespace; unset keys left out."""
    found = {key: config.get(f"{NAMESPACE}:{key}") for key in [*CONFIG_KEYS.values(), *HF_KEYS]}
    return {key: value for key, value in found.items() if value not in (None, "")}


def nitro_settings(configured: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> Settings:
    """Settings from a resource's ``connection`` input (``given``, keys as in the config),
    else the stack's configuration, else the environment."""
    values = _merged(configured, given)
    overrides = {field: values.get(key) for field, key in CONFIG_KEYS.items()}
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        key = CONFIG_KEYS.get(exc.field, exc.field)
        env = next((o.env for o in CONNECTION_OPTIONS if o.field == exc.field), None)
        source = f"{NAMESPACE}:{key}" + (f" (or {env})" if env else "")
        raise ConnectionSettingError(f"{source}: {exc.problem}") from None


def nitro_client(configured: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> NitroClient:
    return NitroClient(nitro_settings(configured, given))


def hf_connection(configured: Mapping[str, Any], given: Mapping[str, Any] | None = None):
    """An ``adcml.hf.HfConnection`` (imported here: huggingface_hub only for the providers that
    reach the service)."""
    from adcml.hf import HfConnection

    values = _merged(configured, given)
    return HfConnection.from_env(**{arg: values.get(key) for key, arg in HF_KEYS.items()})


def _merged(configured: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stack's configuration, with what a resource's ``connection`` input sets on top."""
    return {**configured, **{k: v for k, v in (given or {}).items() if v not in (None, "")}}


__all__ = ["CONFIG_KEYS", "HF_KEYS", "NAMESPACE", "ConnectionSettingError", "from_config", "hf_connection",
           "nitro_client", "nitro_settings"]
