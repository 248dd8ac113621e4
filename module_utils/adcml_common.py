"""Shared by the adcml modules: the connection options, the NITRO client, secrets kept out of
every log and result, and failures reported the same way by every module (the field path for
bad input, the errorcode for NITRO errors).

    module = adcml_module({"resource": {"type": "str", "required": True}})
    with nitro_client(module) as client:
        ...
        module.exit_json(changed=..., requests=client.request_count)

    if __name__ == "__main__":
        run_module(main)

The connection options derive from ``adcml.nitro.settings.CONNECTION_OPTIONS`` (the one table,
which also names their environment variables); doc_fragments/adcml.py documents them, and a
test holds the two together.
"""

from __future__ import annotations

import copy
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

try:
    from adcml.nitro import (
        AuthenticationFailed,
        NitroAPIError,
        NitroClient,
        NitroError,
        NitroTransportError,
        SettingsError,
    )
    from adcml.nitro.settings import CONNECTION_OPTIONS
    from adcml.resources import SECRET_ATTRS
    from adcml.secret import MASK, looks_like_key_material
except ImportError:
    ADCML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    ADCML_IMPORT_ERROR = None

Problems = list[tuple[str, str]]
# A module's own check of its options as given: (title, problems), or None when it finds nothing.
Explain = Callable[[dict[str, Any]], tuple[str, Problems] | None]

_HINT = ("Hint: run the ADC hosts with the Python adcml is installed in, usually the "
         "controller's: ansible_python_interpreter: '{{ ansible_playbook_python }}'.")


def connection_args() -> dict[str, dict[str, Any]]:
    """The connection options of every adcml module, each with its environment fallback."""
    args: dict[str, dict[str, Any]] = {}
    for o in CONNECTION_OPTIONS:
        arg: dict[str, Any] = {"type": o.type, "fallback": (env_fallback, [o.env])}
        if o.secret:
            arg["no_log"] = True
        if o.default is not None:
            arg["default"] = o.default
        if o.choices:
            arg["choices"] = list(o.choices)
        args[o.option] = arg
    return args


def hf_connection_args() -> dict[str, dict[str, Any]]:
    """How a module reaches Hugging Face (the ``adcml_hf`` doc fragment): the token, the
    Inference Endpoints API base, the Hub and a CA bundle, each with the variable it falls back
    to."""
    return {
        "hf_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["HF_TOKEN"])},
        "api_base": {"type": "str", "fallback": (env_fallback, ["ADCML_HF_API_BASE"])},
        "hub_endpoint": {"type": "str", "fallback": (env_fallback, ["HF_ENDPOINT"])},
        "ca_file": {"type": "str", "fallback": (env_fallback, ["ADCML_HF_CA_FILE"])},
    }


def hf_connection(params: Mapping[str, Any]):
    """An ``adcml.hf.HfConnection`` from the options of ``hf_connection_args``."""
    from adcml.hf import HfConnection  # huggingface_hub: only for the modules that reach it

    return HfConnection.from_env(token=params["hf_token"] or None, api_base=params["api_base"],
                                 hub_endpoint=params["hub_endpoint"], ca_file=params["ca_file"])


def endpoint_url_of(params: Mapping[str, Any]) -> Callable[[str, str | None], str]:
    """The lookup a gateway spec's endpoints given by name need (``resolve_endpoints``): the
    endpoint's URL through Hugging Face with the module's ``hf_connection_args``. Every failure
    is a LookupError, reported at the endpoint's field; huggingface_hub is imported only when a
    spec names an endpoint."""

    def url_of(name: str, namespace: str | None) -> str:
        from adcml.hf import HfError, endpoint_url

        try:
            return endpoint_url(hf_connection(params), name, namespace)
        except HfError as exc:
            raise LookupError(f"cannot look it up: {exc}") from None

    return url_of


def adcml_module(argument_spec: Mapping[str, Any] | Callable[[], Mapping[str, Any]], *,
                 explain: Explain | None = None, nitro: bool = True, **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the connection options added, that masks adcml's secrets
    everywhere (see ``AdcmlModule``); fails early when adcml is missing.

    ``argument_spec`` may be a function, for specs built from adcml (called only when adcml
    imports). ``explain`` is the module's own check of its options as given; when Ansible's
    checks refuse the options, its problems (every one, with its field path) are the failure.
    ``nitro=False`` for a module that talks to something else than the ADC (its own connection
    options are then in ``argument_spec``).
    """
    if ADCML_IMPORT_ERROR is not None:
        # No argument spec to check against and no table of secrets: take the options
        # unchecked, log none of them, return none of them.
        reason = "to talk to the ADC" if nitro else "for this module"
        module = AdcmlModule({}, supports_check_mode=True)
        module.fail_json(msg=f"{missing_required_lib('adcml', reason=reason)}. {_HINT}",
                         exception=ADCML_IMPORT_ERROR, invocation={"module_args": {}})
    spec = argument_spec() if callable(argument_spec) else argument_spec
    return AdcmlModule({**spec, **(connection_args() if nitro else {})}, explain=explain, **kwargs)


class AdcmlModule(AnsibleModule):
    """AnsibleModule that knows adcml's secrets before anything is logged or returned.

    Beyond the options declared ``no_log``, these values are masked (``no_log_values``): the
    values under secret attribute names anywhere in the options (``adcml.resources.SECRET_ATTRS``:
    adc_resource's free-form ``attributes``, for one), and any string holding private key text
    (pasted where a file path or a name belongs). Strings in a result that still hold key text
    (an error message that quotes it, escaped or re-wrapped) lose it too.
    """

    def __init__(self, argument_spec: dict[str, Any], *, explain: Explain | None = None,
                 **kwargs: Any) -> None:
        global _RUNNING
        _RUNNING = self
        self._explain = explain
        self._checking_options = False
        self.raw_params: dict[str, Any] = {}
        super().__init__(argument_spec, **kwargs)
        self._checking_options = False

    # AnsibleModule.__init__ (ansible-core 2.19, pinned <2.20): no_log_values = set();
    # _check_locale(); _load_params(); check the options (a refusal goes out through
    # fail_json, echoing them as ``invocation``); _log_invocation() ("Invoked with ..." to
    # journald or syslog). A value is masked in that log line only if it is in no_log_values
    # by then: hidden after the constructor, it has already been written. _load_params is the
    # first step after no_log_values exists and the only one before the options are checked,
    # so the secrets are found there, in the options as given; _log_invocation finds them
    # again in the options as checked (a conversion may have made new strings: a list from a
    # comma-separated string, a dict from k=v text); and every result looks once more, so
    # results stay masked whatever the constructor's order. The syslog tests
    # (tests/integration/test_ansible_secrets.py) fail if a new ansible-core moves these steps.
    def _load_params(self) -> None:
        super()._load_params()
        given = {k: v for k, v in self.params.items() if not k.startswith("_ansible_")}
        self.raw_params = copy.deepcopy(given)
        if ADCML_IMPORT_ERROR is not None:
            self.params["_ansible_ignore_unknown_opts"] = True
            return
        self._mask_secrets_in(given)
        self._checking_options = True

    def _log_invocation(self) -> None:
        self._checking_options = False
        if ADCML_IMPORT_ERROR is not None:
            return  # nothing of the options is logged (see adcml_module)
        self._mask_secrets_in(self.params)
        super()._log_invocation()

    def fail_json(self, msg: str, **kwargs: Any) -> None:  # type: ignore[override]
        if self._checking_options and self._explain is not None and self.raw_params:
            self._checking_options = False
            explained = self._explain(self.raw_params)
            if explained:
                title, problems = explained
                msg, kwargs = _problems_result(title, problems)
        super().fail_json(_without_key_material(msg), **self._result(kwargs))

    def exit_json(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().exit_json(**self._result(kwargs))

    def _result(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = getattr(self, "params", {})
        self._mask_secrets_in(params)
        # The invocation as AnsibleModule would add it, but with key text cut out like the rest.
        kwargs.setdefault("invocation", {"module_args": params})
        return _without_key_material(kwargs)

    def _mask_secrets_in(self, params: Mapping[str, Any]) -> None:
        if ADCML_IMPORT_ERROR is None:
            self.no_log_values.update(secret_strings(params, self.argument_spec))


_RUNNING: AdcmlModule | None = None


def run_module(main: Callable[[], None]) -> None:
    """Run a module's ``main``. An exception it lets through fails the module like any other
    failure, secrets masked (the AnsiballZ wrapper would print its message as it is)."""
    try:
        main()
    except Exception as exc:
        if _RUNNING is None:
            raise
        _RUNNING.fail_json(msg=f"unexpected error: {type(exc).__name__}: {exc}",
                           exception=traceback.format_exc())


def secret_strings(params: Mapping[str, Any], argument_spec: Mapping[str, Any]) -> set[str]:
    """The strings to mask wherever they appear: values of no_log options, values under secret
    attribute names (at any depth), and text that holds private key material; each also as
    Python's repr writes it inside a dict or list (the invocation log line is ``str(params)``:
    newlines and quotes there are escaped)."""
    found: set[str] = set()
    _collect(params, argument_spec, False, found)
    escaped = {repr(s)[1:-1] for s in found}
    return {s for s in found | escaped if s}


def _collect(value: Any, options: Mapping[str, Any] | None, secret: bool, found: set[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            option = (options or {}).get(key) if isinstance(key, str) else None
            option = option if isinstance(option, Mapping) else {}
            under_secret = (secret or bool(option.get("no_log"))
                            or (isinstance(key, str) and key.lower() in SECRET_ATTRS))
            _collect(item, option.get("options"), under_secret, found)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _collect(item, options, secret, found)
    elif isinstance(value, bool) or value is None:
        return  # a flag, never a secret (sslcertkey's "password" says whether the key is encrypted)
    elif secret:
        found.add(str(value))
    elif looks_like_key_material(value):
        found.add(value.decode("latin-1") if isinstance(value, bytes) else value)


# From a PEM armour line to its end line, or to the end of the text (a message may cut it off;
# its newlines may be escaped or collapsed); PuTTY key files to the end.
_KEY_TEXT = re.compile(r"-----BEGIN [A-Z0-9 ]*-----.*?(?:-----END [A-Z0-9 ]*-----\s*|\Z)"
                       r"|PuTTY-User-Key-File-.*\Z", re.DOTALL)


def _without_key_material(value: Any) -> Any:
    """``value`` with key text cut out of every string in it."""
    if ADCML_IMPORT_ERROR is not None:
        return value  # nothing of the options is echoed then (see adcml_module)
    if isinstance(value, str):
        if not looks_like_key_material(value):
            return value
        value = _KEY_TEXT.sub(f"{MASK} (private key text)", value)
        return f"{MASK} (private key text)" if looks_like_key_material(value) else value
    if isinstance(value, Mapping):
        return {k: _without_key_material(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_key_material(v) for v in value]
    return value


def fail_problems(module: AnsibleModule, title: str, problems: Problems, **extra: Any) -> None:
    """Fail with one line per problem, each naming its field path."""
    msg, result = _problems_result(title, problems)
    module.fail_json(msg=msg, **result, **extra)


def _problems_result(title: str, problems: Problems) -> tuple[str, dict[str, Any]]:
    lines = "\n".join(f"  {path}: {message}" for path, message in problems)
    return f"{title}:\n{lines}", {"problems": [{"path": p, "message": m} for p, m in problems]}


# -- argument specs from pydantic models ---------------------------------------------------------

def options_of(model: Any) -> dict[str, dict[str, Any]]:
    """Ansible options mirroring a pydantic model: one per field, typed (str, int, bool, float;
    list with elements; dict with options for a nested model, a free-form dict for a ``dict``
    field), ``choices`` for a Literal or an Enum, and ``no_log`` for a SecretStr (or a dict of
    them).

    Never ``required`` or ``default``: the model says what is required and fills the defaults,
    and a spec may be partial (only a name, for some states). Paths are ``str``, not ``path``:
    the module hands the model the values as given, and ``path`` would promise a ``~``
    expansion that does not happen.
    """
    return {name: _option_of(field.annotation, f"{model.__name__}.{name}")
            for name, field in model.model_fields.items()}


def _option_of(annotation: Any, where: str) -> dict[str, Any]:
    from pathlib import PurePath

    from pydantic import BaseModel, SecretStr

    kind = _bare(annotation, where)
    origin = get_origin(kind)
    if origin is list:
        element = _option_of(get_args(kind)[0], f"{where}[]")
        if element["type"] == "list":
            raise TypeError(f"{where}: a list of lists has no Ansible type")
        option = {"type": "list", "elements": element.pop("type")}
        return option | element  # the element's options, choices or no_log
    if origin is dict:
        value_kind = _bare(get_args(kind)[1], f"{where}{{}}")
        secret_values = isinstance(value_kind, type) and issubclass(value_kind, SecretStr)
        return {"type": "dict", "no_log": True} if secret_values else {"type": "dict"}
    if origin is Literal:
        return _choices(list(get_args(kind)), where)
    if isinstance(kind, type):
        if issubclass(kind, Enum):
            return _choices([member.value for member in kind], where)
        if issubclass(kind, BaseModel):
            return {"type": "dict", "options": options_of(kind)}
        if issubclass(kind, SecretStr):
            return {"type": "str", "no_log": True}
        for python, ansible in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"),
                                (PurePath, "str")):
            if issubclass(kind, python):
                return {"type": ansible}
    raise TypeError(f"{where}: no Ansible type for {annotation!r}")


def _choices(values: list[Any], where: str) -> dict[str, Any]:
    types = {type(v) for v in values}
    if types == {str}:
        return {"type": "str", "choices": values}
    if types == {int}:
        return {"type": "int", "choices": values}
    raise TypeError(f"{where}: choices of {types} have no Ansible type")


def _bare(annotation: Any, where: str) -> Any:
    """The type without Annotated metadata and without ``| None``."""
    from types import UnionType
    from typing import Annotated

    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is UnionType:
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                raise TypeError(f"{where}: a union of {rest} has no Ansible type")
            annotation = rest[0]
        else:
            return annotation


# -- the NITRO client ----------------------------------------------------------------------------

@contextmanager
def nitro_client(module: AnsibleModule) -> Iterator[NitroClient]:
    """A NITRO client from the connection options; NITRO errors become ``fail_json``.

    The session is logged out on the way out, whether the module exits or fails.
    """
    client = _client(module)
    try:
        yield client
    except NitroError as exc:
        module.fail_json(**nitro_failure(exc), requests=client.request_count)
    finally:
        with suppress(NitroError):  # the result is already out; a failed logout changes nothing
            client.logout()
        client.close()


def _client(module: AnsibleModule) -> NitroClient:
    p = module.params
    option = {o.field: o for o in CONNECTION_OPTIONS}
    missing = [f"{option[f].option} (or {option[f].env})" for f in ("nsip", "username", "password")
               if not p.get(option[f].option)]
    if missing:
        module.fail_json(msg="missing connection options: " + ", ".join(missing))
    settings = {o.field: p[o.option] for o in CONNECTION_OPTIONS}
    settings["partition"] = settings["partition"] or None
    try:
        return NitroClient(**settings)
    except SettingsError as exc:
        known = option.get(exc.field)
        where = f"{known.option} (from the option or {known.env})" if known else exc.field
        module.fail_json(msg=f"{where}: {exc.problem}")
        raise  # unreachable: fail_json exits


def nitro_failure(exc: NitroError) -> dict[str, Any]:
    """``fail_json`` arguments for a NITRO error: the message, and the errorcode if any."""
    out: dict[str, Any] = {"msg": str(exc)}
    if isinstance(exc, NitroAPIError):
        out.update(errorcode=exc.errorcode, nitro_message=exc.message, http_status=exc.status)
        if exc.resource:
            out.update(resource=exc.resource, name=exc.name)
        if isinstance(exc, AuthenticationFailed):
            out["msg"] += " (check nitro_user and nitro_pass)"
    elif isinstance(exc, NitroTransportError):
        out["msg"] += " (check nsip, nitro_protocol, and validate_certs or ca_bundle)"
    return out
