"""What a user declares of one Hugging Face Inference Endpoint, validated before the service is
touched. Errors name the field (``scaling.min_replica``) and the problem; a secret's value is never
echoed.

Field names follow ``huggingface_hub.HfApi.create_inference_endpoint``; ``to_create_arguments``
and ``wanted`` turn a spec into that call's arguments and into the live shape to compare with.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from adcml.secret import looks_like_key_material

# The service's endpoint names: lower-case letters, digits and '-', 4 to 32, a letter first.
ENDPOINT_NAME = r"^[a-z][a-z0-9-]{2,30}[a-z0-9]$"
NAMESPACE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$"
REPOSITORY = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
WORD = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_PATTERN_HELP = {
    ENDPOINT_NAME: "4 to 32 lower-case letters, digits or '-', starting with a letter and not "
                   "ending with '-'",
    NAMESPACE: "a user or organisation name: letters, digits, '.', '_' or '-'",
    REPOSITORY: "a model repository id, 'owner/name' or 'name'",
    ENV_NAME: "an environment variable name: letters, digits and '_', not starting with a digit",
    WORD: "letters, digits, '.', '_' or '-' (at most 64)",
}
MAX_REPLICAS = 64


class DesiredState(StrEnum):
    """Where converge leaves the endpoint: running (``present``), ``paused`` (not billed; a
    request gets 503 until it is resumed), ``scaled_to_zero`` (not billed; the first request
    wakes it), or ``absent`` (deleted)."""

    PRESENT = "present"
    PAUSED = "paused"
    SCALED_TO_ZERO = "scaled_to_zero"
    ABSENT = "absent"


class EndpointType(StrEnum):
    """Who may call the endpoint. ``authenticated`` needs a token of the endpoint's namespace;
    older clients and services call it ``protected`` (the same type, accepted here as such)."""

    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PRIVATE = "private"


class UpdateSecrets(StrEnum):
    """The service never shows a secret's value, so a changed value cannot be seen: ``on_create``
    sends the secrets when the endpoint is created or their names change; ``always`` sends them
    on every converge (a change each time, as Ansible's ``update_password: always``)."""

    ON_CREATE = "on_create"
    ALWAYS = "always"


def Count(lo: int, hi: int) -> Any:  # noqa: N802  (a type, spelled like one)
    """A whole number from ``lo`` to ``hi``; true and false are not numbers."""
    return Annotated[int, Strict(), Field(ge=lo, le=hi)]


def Text(pattern: str) -> Any:  # noqa: N802
    return Annotated[str, Strict(), Field(pattern=pattern)]


class EndpointSpecError(ValueError):
    """The spec is invalid; ``problems`` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        text = "\n".join(f"  {field}: {message}" for field, message in problems)
        super().__init__(f"invalid Inference Endpoint spec:\n{text}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Compute(_Model):
    """Where it runs: the values ``list_inference_endpoints_hardware`` lists together."""

    vendor: Text(WORD)
    region: Text(WORD)
    accelerator: Text(WORD)
    instance_type: Text(WORD)
    instance_size: Text(WORD)


class Scaling(_Model):
    min_replica: Count(0, MAX_REPLICAS) = 1
    max_replica: Count(1, MAX_REPLICAS) = 1
    # Minutes without a request before a min_replica 0 endpoint scales to zero.
    scale_to_zero_timeout: Count(1, 60 * 24 * 7) | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scaling:
        if self.min_replica > self.max_replica:
            raise ValueError(f"min_replica ({self.min_replica}) is above max_replica "
                             f"({self.max_replica})")
        if self.scale_to_zero_timeout is not None and self.min_replica != 0:
            raise ValueError("scale_to_zero_timeout applies only with min_replica 0: set "
                             "min_replica to 0 or drop the timeout")
        return self


class EndpointSpec(_Model):
    """One Inference Endpoint as code."""

    name: Text(ENDPOINT_NAME)
    namespace: Text(NAMESPACE) | None = None  # None: the token's user (whoami)
    repository: Text(REPOSITORY)
    revision: Text(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$") | None = None  # None: the service's choice
    # Required: the service's model.task is not nullable, and 0.x sends null when none is given.
    task: Text(r"^[a-z0-9][a-z0-9-]{0,63}$")
    framework: Text(WORD) = "pytorch"
    compute: Compute
    scaling: Scaling = Scaling()
    type: EndpointType = EndpointType.AUTHENTICATED
    env: dict[Text(ENV_NAME), Annotated[str, Strict()]] = {}
    secrets: dict[Text(ENV_NAME), SecretStr] = {}
    update_secrets: UpdateSecrets = UpdateSecrets.ON_CREATE
    # A container of one's own: {"url": "registry/image:tag", "health_route": "/health", "port": 80}
    custom_image: dict[str, Any] | None = None
    tags: list[Text(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$")] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _protected_is_authenticated(cls, value: Any) -> Any:
        return EndpointType.AUTHENTICATED if value == "protected" else value

    @field_validator("env")
    @classmethod
    def _env_is_not_secret(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if looks_like_key_material(value):
                raise ValueError(f"{name}: looks like key material; put it under secrets, "
                                 "which the service keeps hidden")
        return env

    @field_validator("custom_image")
    @classmethod
    def _image_has_url(cls, image: dict[str, Any] | None) -> dict[str, Any] | None:
        if image is not None and not isinstance(image.get("url"), str):
            raise ValueError("a custom image needs its 'url' (registry/image:tag)")
        return image

    @model_validator(mode="after")
    def _disjoint_env(self) -> EndpointSpec:
        both = sorted(set(self.env) & set(self.secrets))
        if both:
            raise ValueError(f"{', '.join(both)} given both in env and in secrets: give each "
                             "variable once")
        return self

    @property
    def where(self) -> str:
        return f"{self.namespace or '(the token user)'}/{self.name}"


# What identifies an endpoint: all that state absent needs.
IDENTITY = ("name", "namespace")


def parse_spec(data: Any, state: DesiredState | str = DesiredState.PRESENT) -> EndpointSpec:
    """``data`` (a dict, e.g. from YAML or module options) as an EndpointSpec, or
    EndpointSpecError naming every bad field. For state ``absent`` the name (and namespace) is
    enough: required fields may be left out, and what is given is still checked."""
    if isinstance(data, EndpointSpec):
        return data
    try:
        return EndpointSpec.model_validate(data)
    except ValidationError as exc:
        problems = [(_field(error["loc"]), _message(error)) for error in exc.errors()]
    if DesiredState(state) is DesiredState.ABSENT and isinstance(data, dict):
        left_out = {field for field, info in EndpointSpec.model_fields.items()
                    if info.is_required() and field not in IDENTITY and field not in data}
        problems = [(field, message) for field, message in problems
                    if field.split(".")[0] not in left_out]
        if not problems:
            return EndpointSpec.model_construct(**{field: data.get(field) for field in IDENTITY})
    raise EndpointSpecError(problems) from None


def _field(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "int", "[key]") or str(part).startswith("function-"):
            continue  # pydantic's names of the value's type or of a validator, not fields
        else:
            path += ("." if path else "") + str(part)
    return path or "(spec)"


_PLAIN = {
    "missing": "required",
    "int_type": "expected a whole number (true and false are not numbers)",
    "string_type": "expected text",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
}


def _message(error: dict[str, Any]) -> str:
    message = _PLAIN.get(error["type"]) or error["msg"].removeprefix("Value error, ")
    pattern = (error.get("ctx") or {}).get("pattern")
    if pattern in _PATTERN_HELP:
        message = f"expected {_PATTERN_HELP[pattern]}"
    if error["type"] == "extra_forbidden":
        message = "not a field of an Inference Endpoint spec (check the spelling)"
    return message


# --- the spec in the service's shapes ----------------------------------------------------------

def secret_values(spec: EndpointSpec) -> dict[str, str]:
    """The secrets in clear: only for the request that sends them."""
    return {name: value.get_secret_value() for name, value in spec.secrets.items()}


def wanted(spec: EndpointSpec) -> dict[str, Any]:
    """What the spec fixes, as flat keys of the endpoint's live JSON (``model.repository``,
    ``compute.scaling.minReplica``); what the spec leaves open (no revision, no tags) is not
    there, so the service's choice is never a difference. Secrets appear by name only."""
    want: dict[str, Any] = {
        "type": str(spec.type),
        "provider.vendor": spec.compute.vendor,
        "provider.region": spec.compute.region,
        "compute.accelerator": spec.compute.accelerator,
        "compute.instanceType": spec.compute.instance_type,
        "compute.instanceSize": spec.compute.instance_size,
        "compute.scaling.minReplica": spec.scaling.min_replica,
        "compute.scaling.maxReplica": spec.scaling.max_replica,
        "model.repository": spec.repository,
        "model.framework": spec.framework,
        "model.env": dict(spec.env),
        "model.secrets": sorted(spec.secrets),
    }
    if spec.scaling.scale_to_zero_timeout is not None:
        want["compute.scaling.scaleToZeroTimeout"] = spec.scaling.scale_to_zero_timeout
    if spec.revision is not None:
        want["model.revision"] = spec.revision
    want["model.task"] = spec.task
    if spec.custom_image is not None:
        want["model.image"] = {"custom": dict(spec.custom_image)}
    if spec.tags is not None:
        want["tags"] = sorted(spec.tags)
    return want


# Keys the update call cannot change: a new value means a new endpoint.
IMMUTABLE = ("type", "provider.vendor", "provider.region")
NAME_PATTERN = re.compile(ENDPOINT_NAME)


def create_arguments(spec: EndpointSpec) -> dict[str, Any]:
    """``HfApi.create_inference_endpoint``'s arguments for ``spec`` (its secrets in clear: only
    for the request)."""
    arguments: dict[str, Any] = {
        "name": spec.name,
        "repository": spec.repository,
        "framework": spec.framework,
        "accelerator": spec.compute.accelerator,
        "instance_size": spec.compute.instance_size,
        "instance_type": spec.compute.instance_type,
        "region": spec.compute.region,
        "vendor": spec.compute.vendor,
        "min_replica": spec.scaling.min_replica,
        "max_replica": spec.scaling.max_replica,
        "scale_to_zero_timeout": spec.scaling.scale_to_zero_timeout,
        "revision": spec.revision,
        "task": spec.task,
        "type": str(spec.type),
    }
    if spec.custom_image is not None:
        arguments["custom_image"] = dict(spec.custom_image)
    if spec.env:
        arguments["env"] = dict(spec.env)
    if spec.secrets:
        arguments["secrets"] = secret_values(spec)
    if spec.tags is not None:
        arguments["tags"] = list(spec.tags)
    return arguments
