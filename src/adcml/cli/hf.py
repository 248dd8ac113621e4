"""``adcml hf plan|apply|status|list|hardware|pause|resume|scale-to-zero|delete``: Hugging Face
Inference Endpoints from the command line. The token comes from HF_TOKEN only (an option would
show it in the process list and the shell's history)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from adcml.cli.errors import CommandError, ExitCode

# adcml.hf is imported inside the commands: huggingface_hub costs about 0.4 s to import, which
# `adcml --help` and the other commands would pay for nothing.

STATES = ["present", "paused", "scaled_to_zero", "absent"]


def _connection_options(command):
    options = [
        click.option("--api-base", envvar="ADCML_HF_API_BASE", default=None, show_envvar=True,
                     help="The Inference Endpoints API base (default: the client's, "
                          "https://api.endpoints.huggingface.cloud/v2; the lab: "
                          "http://127.0.0.1:9190/v2)."),
        click.option("--hub-endpoint", envvar="HF_ENDPOINT", default=None, show_envvar=True,
                     help="The Hub, asked who the token is when no namespace is given."),
        click.option("--ca-file", envvar="ADCML_HF_CA_FILE", default=None, show_envvar=True,
                     type=click.Path(dir_okay=False, exists=True),
                     help="CA bundle for the endpoints' URLs (the lab's CA)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _connection(api_base: str | None, hub_endpoint: str | None, ca_file: str | None):
    from adcml.hf import HfConnection

    return HfConnection.from_env(api_base=api_base, hub_endpoint=hub_endpoint, ca_file=ca_file)


def _load(spec_file: Path) -> dict[str, Any]:
    from adcml.hf import EndpointSpecError

    try:
        data = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EndpointSpecError([("(yaml)", str(exc).replace("\n", " "))]) from None
    if not isinstance(data, dict):
        raise EndpointSpecError([("(spec)", "expected a mapping of the endpoint's fields")])
    return data


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group("hf")
def hf() -> None:
    """Hugging Face Inference Endpoints as code (token from HF_TOKEN).

    `plan` exits 0 with no changes, 2 with changes pending, 1 on an error.
    """


SPEC_ARG = click.argument("spec_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
STATE_OPT = click.option("--state", type=click.Choice(STATES), default="present", show_default=True,
                         help="present: running (the first request wakes one scaled to zero); "
                              "paused; scaled_to_zero; absent: deleted.")


@hf.command("plan")
@SPEC_ARG
@STATE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@_connection_options
def hf_plan(spec_file: Path, state: str, as_json: bool, **connection: Any) -> None:
    """Show what applying SPEC_FILE would change (exit 2: changes pending)."""
    from adcml.hf import converge_endpoint

    outcome = converge_endpoint(_connection(**connection), _load(spec_file), state, check=True)
    if as_json:
        _echo_json(outcome.plan.to_dict())
    else:
        click.echo(outcome.plan.render())
    if outcome.plan.changed:
        raise SystemExit(ExitCode.CHANGES)


@hf.command("apply")
@SPEC_ARG
@STATE_OPT
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the endpoint runs and its URL answers (state present).")
@click.option("--timeout", type=click.FloatRange(min=1), default=900, show_default=True,
              help="Seconds to wait at most.")
@_connection_options
def hf_apply(spec_file: Path, state: str, wait: bool, timeout: float, **connection: Any) -> None:
    """Converge the endpoint to SPEC_FILE and STATE; print the plan, then the endpoint."""
    from adcml.hf import converge_endpoint

    outcome = converge_endpoint(_connection(**connection), _load(spec_file), state, wait=wait,
                                timeout=timeout, progress=_progress)
    click.echo(outcome.plan.render())
    endpoint = outcome.endpoint
    if endpoint is not None:
        click.echo(f"state: {endpoint['state']}\nurl: {endpoint['url'] or '(none yet)'}")


@hf.command("status")
@click.argument("name")
@click.option("--namespace", default=None, help="Default: the token's user.")
@_connection_options
def hf_status(name: str, namespace: str | None, **connection: Any) -> None:
    """Print the endpoint's state, URL and settings as JSON (exit 1 when there is none)."""
    from adcml.hf import endpoint_status

    endpoint = endpoint_status(_connection(**connection), name, namespace)
    if endpoint is None:
        raise CommandError(f"no Inference Endpoint {name!r} in {namespace or 'the token user'}'s "
                           "namespace", "adcml hf list shows the endpoints there")
    _echo_json(endpoint)


@hf.command("list")
@click.option("--namespace", default=None, help="Default: the token's user.")
@_connection_options
def hf_list(namespace: str | None, **connection: Any) -> None:
    """One line per endpoint: name, state, URL."""
    from adcml.hf import Endpoints

    endpoints = Endpoints(_connection(**connection))
    for raw in endpoints.list(endpoints.namespace(namespace)):
        status = raw.get("status") or {}
        click.echo(f"{raw.get('name')}\t{status.get('state')}\t{status.get('url') or '-'}")


@hf.command("hardware")
@click.option("--namespace", default=None, help="Default: the token's user.")
@_connection_options
def hf_hardware(namespace: str | None, **connection: Any) -> None:
    """The vendor, region, accelerator, instance type and size combinations on offer."""
    from adcml.hf import Endpoints

    endpoints = Endpoints(_connection(**connection))
    listing = endpoints.hardware(endpoints.namespace(namespace))
    if listing is None:
        raise CommandError("this huggingface_hub cannot list hardware (0.x)",
                           "install huggingface_hub 1.x or later to list it")
    for item in listing:
        click.echo("\t".join(str(item.get(key)) for key in
                             ("vendor", "region", "accelerator", "instance_type", "instance_size",
                              "status")))


def _action(command_name: str, method: str, summary: str):
    @hf.command(command_name, help=summary)
    @click.argument("name")
    @click.option("--namespace", default=None, help="Default: the token's user.")
    @_connection_options
    def command(name: str, namespace: str | None, **connection: Any) -> None:
        from adcml.hf import Endpoints

        endpoints = Endpoints(_connection(**connection))
        raw = getattr(endpoints, method)(endpoints.namespace(namespace), name)
        state = (raw or {}).get("status", {}).get("state", "deleted")
        click.echo(f"{name}: {state}")

    return command


_action("pause", "pause", "Pause the endpoint (not billed; requests get 503 until resumed).")
_action("resume", "resume", "Resume a paused or failed endpoint.")
_action("scale-to-zero", "scale_to_zero", "Scale the endpoint to zero (the first request wakes it).")
_action("delete", "delete", "Delete the endpoint.")
