"""Shared by the adcml modules: the connection options, the NITRO client, and failures reported
the same way by every module (the field path for bad input, the errorcode for NITRO errors).

    module = adcml_module({"resource": {"type": "str", "required": True}})
    with nitro_client(module) as client:
        ...
        module.exit_json(changed=..., requests=client.request_count)

The connection options are documented once, in doc_fragments/adcml.py; keep the two in step.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

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
except ImportError:
    ADCML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    ADCML_IMPORT_ERROR = None


def _env(var: str) -> tuple:
    return (env_fallback, [var])


CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "nsip": {"type": "str", "fallback": _env("NETSCALER_NSIP")},
    "nitro_user": {"type": "str", "fallback": _env("NETSCALER_NITRO_USER")},
    "nitro_pass": {"type": "str", "no_log": True, "fallback": _env("NETSCALER_NITRO_PASS")},
    "nitro_protocol": {"type": "str", "default": "https", "choices": ["http", "https"],
                       "fallback": _env("NETSCALER_NITRO_PROTOCOL")},
    "validate_certs": {"type": "bool", "default": True, "fallback": _env("NETSCALER_VALIDATE_CERTS")},
    "ca_bundle": {"type": "path", "fallback": _env("NETSCALER_CA_BUNDLE")},
    "partition": {"type": "str", "fallback": _env("NETSCALER_PARTITION")},
}

# Settings field -> (module option, environment variable): errors name what the user wrote.
_OPTION = {
    "nsip": ("nsip", "NETSCALER_NSIP"),
    "username": ("nitro_user", "NETSCALER_NITRO_USER"),
    "password": ("nitro_pass", "NETSCALER_NITRO_PASS"),
    "protocol": ("nitro_protocol", "NETSCALER_NITRO_PROTOCOL"),
    "validate_certs": ("validate_certs", "NETSCALER_VALIDATE_CERTS"),
    "ca_bundle": ("ca_bundle", "NETSCALER_CA_BUNDLE"),
    "partition": ("partition", "NETSCALER_PARTITION"),
}


def adcml_module(argument_spec: Mapping[str, Any], **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the connection options added; fails early when adcml is missing."""
    module = AnsibleModule(argument_spec={**argument_spec, **CONNECTION_ARGS}, **kwargs)
    if ADCML_IMPORT_ERROR is not None:
        hint = ("Hint: run the ADC hosts with the Python adcml is installed in, usually the "
                "controller's: ansible_python_interpreter: '{{ ansible_playbook_python }}'.")
        module.fail_json(msg=f"{missing_required_lib('adcml', reason='to talk to the ADC')}. {hint}",
                         exception=ADCML_IMPORT_ERROR)
    return module


def hide(module: AnsibleModule, values: Iterable[Any]) -> None:
    """Treat ``values`` as no_log: masked in every output, the invocation included."""
    module.no_log_values.update(str(v) for v in values if v not in (None, ""))


def fail_problems(module: AnsibleModule, title: str, problems: list[tuple[str, str]], **extra) -> None:
    """Fail with one line per problem, each naming its field path."""
    lines = "\n".join(f"  {path}: {message}" for path, message in problems)
    module.fail_json(msg=f"{title}:\n{lines}",
                     problems=[{"path": p, "message": m} for p, m in problems], **extra)


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
    missing = [f"{option} (or {var})" for option, var in
               (_OPTION["nsip"], _OPTION["username"], _OPTION["password"]) if not p.get(option)]
    if missing:
        module.fail_json(msg="missing connection options: " + ", ".join(missing))
    try:
        return NitroClient(
            nsip=p["nsip"], username=p["nitro_user"], password=p["nitro_pass"],
            protocol=p["nitro_protocol"], validate_certs=p["validate_certs"],
            ca_bundle=p["ca_bundle"], partition=p["partition"] or None,
        )
    except SettingsError as exc:
        option, var = _OPTION.get(exc.field, (exc.field, None))
        hint = f" (from the option or {var})" if var else ""
        module.fail_json(msg=f"{option}{hint}: {exc.problem}")
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
