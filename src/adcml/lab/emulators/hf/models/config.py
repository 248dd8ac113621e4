"""What a create (POST) or update (PUT) body may say, read into an endpoint's configuration: the
raw JSON's settable parts (type, accountId, provider, compute, model, route, tags,
cacheHttpResponses, privateService), in the service's camelCase, with its defaults filled in.

Everything is checked here, before the backend changes anything; each problem names its field
by its path in the body (``compute.scaling.minReplica``).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Collection
from typing import Any

from adcml.lab.emulators.hf.exceptions import BadRequest, unparsable, wrong_shape
from adcml.lab.emulators.hf.hardware import Instance, find_instance

NAME = re.compile(r"[a-z][a-z0-9-]{2,30}[a-z0-9]")
# "protected" is the older name of "authenticated" (huggingface_hub 0.x sends it, 2.x refuses it):
# both are kept and reported as "authenticated".
TYPES = {"public": "public", "protected": "authenticated", "authenticated": "authenticated",
         "private": "private"}
IMAGE_VARIANTS = ("custom", "huggingface", "huggingfaceNeuron", "llamacpp", "sGLang", "tei", "tgi",
                  "tgiNeuron", "vLLM")
TASKS = ("audio-classification", "automatic-speech-recognition", "custom", "feature-extraction",
         "fill-mask", "image-classification", "image-segmentation", "image-to-text", "object-detection",
         "question-answering", "sentence-embeddings", "sentence-ranking", "sentence-similarity",
         "summarization", "table-question-answering", "text-classification", "text-generation",
         "text-to-image", "text2text-generation", "token-classification", "translation",
         "zero-shot-classification", "zero-shot-image-classification")
DEFAULT_TASK = "sentence-embeddings"  # what the model every replica serves does
DEFAULT_SCALE_TO_ZERO_MINUTES = 60  # the service's documented default
MASK = "********"
# In an update these replace what was there; every other map is merged key by key.
REPLACED_WHOLE = frozenset({"image", "env", "secrets", "measure", "command", "args", "tags"})
# What a replica is started from: a change to any of these restarts it.
RUNTIME_FIELDS = (("compute", "accelerator"), ("compute", "instanceType"), ("compute", "instanceSize"),
                  ("model",))

_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "floating point"), (str, "string"),
               (list, "sequence"), (dict, "map"))


def _unknown_variant(field: str, value: str, values: Collection[str]) -> Exception:
    listed = ", ".join(f"`{v}`" for v in values)
    return wrong_shape(field, f"unknown variant `{value}`, expected one of {listed}")


def _describe(value: Any) -> str:
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return f"{name} {value!r}" if kind in (bool, int, float, str) else name
    return "null"


class Fields:
    """One JSON object of a body, read field by field; each problem names the field's path."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise wrong_shape(path or "body", f"invalid type: {_describe(data)}, expected a map")
        self.data, self.path = data, path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, kind: type, expected: str, *, required: bool, nullable: bool) -> Any:
        if key not in self.data:
            if required:
                raise wrong_shape(self.path or "body", f"missing field `{key}`")
            return None
        value = self.data[key]
        if value is None:
            if nullable:
                return None
            raise unparsable(f"{self.at(key)}: expected value")
        # JSON booleans are not integers, though Python's are
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise wrong_shape(self.at(key), f"invalid type: {_describe(value)}, expected {expected}")
        return value

    def string(self, key: str, *, required: bool = True, nullable: bool = False) -> str | None:
        return self._get(key, str, "a string", required=required, nullable=nullable)

    def integer(self, key: str, *, required: bool = True, nullable: bool = False) -> int | None:
        value = self._get(key, int, "an unsigned integer", required=required, nullable=nullable)
        if value is not None and value < 0:
            raise wrong_shape(self.at(key), f"invalid value: integer `{value}`, expected an unsigned integer")
        return value

    def boolean(self, key: str) -> bool | None:
        return self._get(key, bool, "a boolean", required=False, nullable=True)

    def choice(self, key: str, values: Collection[str], *, required: bool = True) -> str | None:
        value = self.string(key, required=required)
        if value is not None and value not in values:
            raise _unknown_variant(self.at(key), value, values)
        return value

    def fields(self, key: str, *, required: bool = True) -> Fields | None:
        value = self._get(key, dict, "a map", required=required, nullable=False)
        return None if value is None else Fields(value, self.at(key))

    def string_map(self, key: str) -> dict[str, str]:
        inner = self.fields(key, required=False)
        if inner is None:
            return {}
        return {name: inner.string(name) for name in inner.data}

    def strings(self, key: str) -> list[str] | None:
        values = self._get(key, list, "a sequence", required=False, nullable=True)
        if values is None:
            return None
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise wrong_shape(f"{self.at(key)}[{i}]",
                                  f"invalid type: {_describe(value)}, expected a string")
        return list(values)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BadRequest(f"name: {name!r} is not a valid endpoint name: 4 to 32 lowercase letters, digits "
                         "and hyphens, starting with a letter and not ending with a hyphen")
    return name


def read_create(body: Any) -> tuple[str, dict]:
    """(name, configuration) of a create body."""
    fields = Fields(body, "")
    return check_name(fields.string("name")), _configuration(fields)


def read_update(name: str, current: dict, body: Any) -> dict:
    """The configuration an update body makes of ``current``: what it gives replaces or merges
    into what is there, and the whole is checked again."""
    patch = Fields(body, "").data
    if "name" in patch and patch["name"] != name:
        raise BadRequest(f"name: an endpoint cannot be renamed ({name!r} to {patch['name']!r})")
    if "provider" in patch and _merge(current["provider"], patch["provider"]) != current["provider"]:
        raise BadRequest("provider: the vendor and region of an existing endpoint cannot change")
    merged = _merge(current, {k: v for k, v in patch.items() if k != "name"})
    new_model, patched_model = merged.get("model"), patch.get("model")
    if (isinstance(new_model, dict) and isinstance(patched_model, dict) and "revision" not in patched_model
            and new_model.get("repository") != current["model"]["repository"]):
        new_model["revision"] = None  # a new repository is deployed at its default revision
    return _configuration(Fields(merged, ""))


def restarts(old: dict, new: dict) -> bool:
    """Whether going from ``old`` to ``new`` changes what the replica runs (compute or model)."""
    def pick(config: dict, path: tuple[str, ...]) -> Any:
        for key in path:
            config = config[key]
        return config

    return any(pick(old, path) != pick(new, path) for path in RUNTIME_FIELDS)


def instance_of(config: dict) -> Instance:
    provider, compute = config["provider"], config["compute"]
    return find_instance(provider["vendor"], provider["region"], compute["accelerator"],
                         compute["instanceType"], compute["instanceSize"])


def masked_model(model: dict) -> dict:
    """The model section as it is shown: secrets' values and registry passwords masked."""
    shown = copy.deepcopy(model)
    shown["secrets"] = {name: MASK for name in model["secrets"]}
    for variant in shown["image"].values():
        credentials = variant.get("credentials")
        if isinstance(credentials, dict) and "password" in credentials:
            credentials["password"] = MASK
    return shown


def _merge(current: dict, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    merged = copy.deepcopy(current)
    for key, value in patch.items():
        if key not in REPLACED_WHOLE and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _configuration(body: Fields) -> dict:
    config: dict[str, Any] = {
        "type": TYPES[body.choice("type", TYPES)],
        "accountId": body.string("accountId", required=False, nullable=True),
        "provider": _provider(body.fields("provider")),
        "compute": _compute(body.fields("compute")),
        "model": _model(body.fields("model")),
        "route": _route(body.fields("route", required=False)),
        "tags": body.strings("tags") or [],
        "cacheHttpResponses": bool(body.boolean("cacheHttpResponses")),
    }
    private_service = body.fields("privateService", required=False)
    if private_service is not None:
        config["privateService"] = {"accountId": private_service.string("accountId"),
                                    "region": private_service.string("region")}
    instance_of(config)  # the hardware combination, checked once everything else is well-formed
    return config


def _provider(provider: Fields) -> dict:
    return {"vendor": provider.string("vendor"), "region": provider.string("region")}


def _compute(compute: Fields) -> dict:
    scaling = compute.fields("scaling")
    low, high = scaling.integer("minReplica"), scaling.integer("maxReplica")
    timeout = scaling.integer("scaleToZeroTimeout", required=False, nullable=True)
    if high < 1:
        raise BadRequest(f"compute.scaling.maxReplica: must be at least 1, got {high}")
    if low > high:
        raise BadRequest(f"compute.scaling: minReplica ({low}) is greater than maxReplica ({high})")
    if timeout is not None and timeout < 1:
        raise BadRequest(f"compute.scaling.scaleToZeroTimeout: must be at least 1 minute, got {timeout}")
    if low == 0 and timeout is None:
        timeout = DEFAULT_SCALE_TO_ZERO_MINUTES
    section: dict[str, Any] = {"minReplica": low, "maxReplica": high, "scaleToZeroTimeout": timeout}
    measure = scaling.fields("measure", required=False)
    if measure is not None:
        section["measure"] = measure.data
    return {"accelerator": compute.string("accelerator"), "instanceType": compute.string("instanceType"),
            "instanceSize": compute.string("instanceSize"), "scaling": section}


def _model(model: Fields) -> dict:
    repository = model.string("repository")
    if not repository.strip():
        raise BadRequest("model.repository: must name a model repository")
    section = {
        "repository": repository,
        "revision": model.string("revision", required=False, nullable=True) or _resolved_revision(repository),
        # 1.x omits an unset task and the service fills it in; 0.x sends null, which the service
        # refuses (huggingface_hub PR 4701: "model.task: expected value")
        "task": model.choice("task", TASKS, required=False) or DEFAULT_TASK,
        "framework": model.string("framework"),
        "image": _image(model.fields("image")),
        "env": model.string_map("env"),
        "secrets": model.string_map("secrets"),
    }
    for key in ("command", "args"):
        values = model.strings(key)
        if values is not None:
            section[key] = values
    return section


def _image(image: Fields) -> dict:
    if len(image.data) != 1:
        raise wrong_shape(image.path, "expected a map with exactly one key, the image's kind: "
                          + ", ".join(IMAGE_VARIANTS))
    variant = next(iter(image.data))
    if variant not in IMAGE_VARIANTS:
        raise _unknown_variant(image.path, variant, IMAGE_VARIANTS)
    settings = image.fields(variant)
    if variant == "custom":
        settings.string("url")
    return {variant: copy.deepcopy(settings.data)}


def _route(route: Fields | None) -> dict:
    if route is None:
        return {}
    return {key: route.string(key, required=False, nullable=True) for key in ("domain", "path")
            if key in route.data}


def _resolved_revision(repository: str) -> str:
    """The service resolves an unset revision to the commit the repository's main points at; the
    stand-in, which reaches no Hub, makes up a stable 40-hex one."""
    return hashlib.sha1(f"{repository}@main".encode()).hexdigest()


__all__ = ["DEFAULT_SCALE_TO_ZERO_MINUTES", "DEFAULT_TASK", "MASK", "TYPES", "Fields", "check_name",
           "instance_of", "masked_model", "read_create", "read_update", "restarts"]
