"""What the dynamic providers share: the stack configuration they are given, the unknown
values of a preview, and secret inputs marked the Pulumi way.

Pulumi serializes a Python dynamic provider with dill into the state (``__provider``), and
runs it in a separate process that deserializes it. The pitfalls, and what these providers do
about them (docs/pulumi.md has the whole story):

- A provider defined in ``__main__`` is pickled by value, with whatever its code reaches —
  a secret read at module level included. These live in an installed package, so dill
  pickles them by reference (module and class name); an instance holds no attribute when it
  is serialized, and the serialized provider is marked non-secret (``serialize_as_secret_always
  = False``) because nothing in it is (tests/integration/test_pulumi_providers.py decodes it).
- Credentials captured in a provider instance would be in every state file. They come from
  ``configure`` instead (called after deserialization, with the stack's config: never
  serialized), or from a resource input marked secret.
- A dynamic provider gets secret inputs in clear and writes its outputs itself: an output
  holding a secret would be stored in clear. The outputs hold fingerprints
  (``adcml.pulumi.fingerprints``) and masked plans, and the resources list
  ``additional_secret_outputs`` for the inputs they echo.
- During a preview, inputs computed by other resources are unknown (a sentinel string): the
  providers check and plan only what is known, and report "changes" otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, ConfigureRequest, ResourceProvider
from pulumi.runtime import rpc

from adcml.pulumi.connection import from_config


def has_unknown(value: Any) -> bool:
    """Whether ``value`` holds a value a preview does not know yet."""
    if isinstance(value, str):
        return value == rpc.UNKNOWN
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknown(v) for v in value)
    return False


class ConfiguredProvider(ResourceProvider):
    """A provider that reads the ``adcml:*`` stack configuration in ``configure``."""

    serialize_as_secret_always = False  # nothing secret is in it when Pulumi serializes it
    _config: Mapping[str, Any] = {}  # set by configure, in the provider's own process

    def configure(self, req: ConfigureRequest) -> None:
        self._config = from_config(req.config)

    def __getstate__(self) -> dict[str, Any]:
        """Serialized without its configuration (the credentials), whenever it is pickled."""
        return {k: v for k, v in self.__dict__.items() if k != "_config"}


def mark_secrets(value: Any, keys: Iterable[str]) -> Any:
    """``value`` (a plain mapping that may hold Outputs) with the values of ``keys`` wrapped in
    ``pulumi.Output.secret``, so they stay encrypted in the state's inputs; an Output as a
    whole (its keys cannot be seen before it resolves) becomes secret as a whole."""
    if isinstance(value, pulumi.Output):
        return pulumi.Output.secret(value)
    keys = frozenset(keys)

    def walk(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {k: pulumi.Output.secret(v) if k in keys and v is not None else walk(v)
                    for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value)


def state_failures(state: str, states: Iterable[str]) -> list[CheckFailure]:
    """A failure of the input ``state`` when it is not one of ``states``."""
    states = list(states)
    return [] if state in states else [CheckFailure("state", f"one of {', '.join(states)}, not {state!r}")]


def spec_failures(problems: Iterable[tuple[str, str]]) -> list[CheckFailure]:
    """A spec's problems (field, message) as Pulumi check failures of the input ``spec``."""
    return [CheckFailure("spec", f"spec.{where}: {problem}") for where, problem in problems]


def secret(value: Any) -> Any:
    """``value`` as a secret Output (None stays None: an input left out)."""
    return None if value is None else pulumi.Output.secret(value)


def with_secret_outputs(opts: pulumi.ResourceOptions | None, names: Iterable[str]) -> pulumi.ResourceOptions:
    """``opts`` with ``names`` among the outputs Pulumi keeps secret whatever the provider returns."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(names)))


__all__ = ["ConfiguredProvider", "has_unknown", "mark_secrets", "secret", "spec_failures", "state_failures",
           "with_secret_outputs"]
