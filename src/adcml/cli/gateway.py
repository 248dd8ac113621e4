"""``adcml gateway plan|apply|render|gather``: the gateway engine from the command line."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def gateway() -> None:
    """Plan, apply, render or gather a gateway spec (connection from NETSCALER_* variables)."""


SPEC_ARG = click.argument("spec_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
STATE_OPT = click.option("--state", type=click.Choice(["merged", "replaced", "overridden", "deleted"]),
                         default="merged", show_default=True)


def _load(spec_file: Path):
    from adcml.gateway import SpecError, load_spec

    try:
        return load_spec(spec_file)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None


def _client():
    from adcml.nitro import NitroClient, SettingsError

    try:
        return NitroClient.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@gateway.command("plan")
@SPEC_ARG
@STATE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def gateway_plan(spec_file: Path, state: str, as_json: bool) -> None:
    """Show what applying SPEC_FILE would change; exit 2 when there are changes."""
    from adcml.gateway import plan_gateway

    spec = _load(spec_file)
    with _client() as client:
        plan = plan_gateway(client, spec, state)
    click.echo(plan.to_json() if as_json else plan.render())
    if plan.changed:
        raise SystemExit(2)


@gateway.command("apply")
@SPEC_ARG
@STATE_OPT
@click.option("--save/--no-save", default=False, help="Save the ADC config after a change.")
def gateway_apply(spec_file: Path, state: str, save: bool) -> None:
    """Converge the ADC to SPEC_FILE."""
    from adcml.gateway import ApplyError, converge

    spec = _load(spec_file)

    def progress(done: int, total: int, step: str) -> None:
        click.echo(f"[{done}/{total}] {step}", err=True)

    with _client() as client:
        try:
            outcome = converge(client, spec, state, save=save, progress=progress)
        except ApplyError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(outcome.plan.render())


@gateway.command("render")
@SPEC_ARG
def gateway_render(spec_file: Path) -> None:
    """Print the NITRO objects SPEC_FILE compiles to (offline; secrets masked)."""
    import json

    from adcml.gateway import render

    click.echo(json.dumps(render(_load(spec_file)), indent=2))


@gateway.command("gather")
@click.argument("name")
def gateway_gather(name: str) -> None:
    """Print the live gateway NAME as a spec (YAML)."""
    import yaml

    from adcml.gateway import gather

    with _client() as client:
        found = gather(client, name)
    if found is None:
        raise click.ClickException(f"no gateway named {name!r} on this ADC")
    click.echo(yaml.safe_dump(found, sort_keys=False))

