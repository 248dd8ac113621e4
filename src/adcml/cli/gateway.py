"""``adcml gateway plan|apply|render|gather``: the gateway engine from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from adcml.cli.errors import CommandError, ExitCode


@click.group()
def gateway() -> None:
    """Plan, apply, render or gather a gateway spec (connection from NETSCALER_* variables).

    `plan` exits 0 with no changes, 2 with changes pending, 1 on an error.
    """


SPEC_ARG = click.argument("spec_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
STATE_OPT = click.option("--state", type=click.Choice(["merged", "replaced", "overridden", "deleted"]),
                         default="merged", show_default=True)

# adcml.gateway and adcml.nitro are imported inside the commands, not here: together they cost
# about 0.3 s (python -X importtime), which `adcml --help`, `adcml lab ...` and `adcml serve`
# would pay for nothing.


def _load(spec_file: Path):
    from adcml.gateway import load_spec, resolve_endpoints
    from adcml.gateway.load import read_spec

    # a YAML or file error: SpecError naming the line
    return load_spec(resolve_endpoints(read_spec(spec_file), _endpoint_url))


def _endpoint_url(name: str, namespace: str | None) -> str:
    """An endpoint given by name, looked up through Hugging Face (HF_TOKEN, ADCML_HF_API_BASE):
    only a spec that names one pays for importing huggingface_hub and for the request."""
    from adcml.hf import HfConnection, HfError, endpoint_url

    try:
        return endpoint_url(HfConnection.from_env(), name, namespace)
    except HfError as exc:
        raise LookupError(f"cannot look it up: {exc}") from None


def _client():
    from adcml.nitro import NitroClient

    return NitroClient.from_env()


@gateway.command("plan")
@SPEC_ARG
@STATE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def gateway_plan(spec_file: Path, state: str, as_json: bool) -> None:
    """Show what applying SPEC_FILE would change.

    \b
    Exit codes (as terraform plan -detailed-exitcode):
      0  no changes
      1  an error (usage errors included)
      2  changes pending
    """
    from adcml.gateway import plan_gateway

    spec = _load(spec_file)
    with _client() as client:
        plan = plan_gateway(client, spec, state)
    click.echo(plan.to_json() if as_json else plan.render())
    if plan.changed:
        raise SystemExit(ExitCode.CHANGES)


@gateway.command("apply")
@SPEC_ARG
@STATE_OPT
@click.option("--save/--no-save", default=False, help="Save the ADC config after a change.")
def gateway_apply(spec_file: Path, state: str, save: bool) -> None:
    """Converge the ADC to SPEC_FILE.

    On an error (exit 1) it says what was applied before it; re-running completes the work.
    """
    from adcml.gateway import converge

    spec = _load(spec_file)

    def progress(done: int, total: int, step: str) -> None:
        click.echo(f"[{done}/{total}] {step}", err=True)

    with _client() as client:
        outcome = converge(client, spec, state, save=save, progress=progress)
    click.echo(outcome.plan.render())


@gateway.command("render")
@SPEC_ARG
def gateway_render(spec_file: Path) -> None:
    """Print the NITRO objects SPEC_FILE compiles to (offline; secrets masked)."""
    from adcml.gateway import render

    click.echo(json.dumps(render(_load(spec_file)), indent=2))


@gateway.command("gather")
@click.argument("name")
def gateway_gather(name: str) -> None:
    """Print the live gateway NAME as a spec (YAML)."""
    from adcml.gateway import gather

    with _client() as client:
        found = gather(client, name)
    if found is None:
        raise CommandError(f"no gateway named {name!r} on this ADC",
                           "check the name (the spec's name:) and NETSCALER_NSIP")
    click.echo(yaml.safe_dump(found, sort_keys=False))
