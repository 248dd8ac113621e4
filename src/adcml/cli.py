"""The ``adcml`` command."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from adcml import __version__


@click.group()
@click.version_option(__version__, prog_name="adcml")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Provision NetScaler (Citrix ADC) in front of AI inference."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command("lab-adc")
@click.option("--listen", default="127.0.0.1:9080", show_default=True,
              help="HOST:PORT for NITRO over plain HTTP.")
@click.option("--tls-listen", default=None, help="HOST:PORT for NITRO over HTTPS.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the saved config, uploaded files and the management certificate "
                   "live. Without it, nothing survives a restart.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="File whose first line is nsroot's password (default nsroot).")
@click.option("--data-plane", is_flag=True, default=False,
              help="Carry traffic: serve each addressable vserver on its VIP (loopback only), "
                   "run its monitors, balance over its members.")
def lab_adc(listen: str, tls_listen: str | None, state_dir: Path | None,
            password_file: Path | None, data_plane: bool) -> None:
    """Run the lab ADC (a NITRO-compatible stand-in for a NetScaler) in the foreground."""
    from adcml.lab.server import LabADC, LabServer, serve_forever

    password = "nsroot"
    if password_file is not None:
        password = password_file.read_text().splitlines()[0] if password_file.read_text() else ""
        if not password:
            raise click.BadParameter("the file is empty", param_hint="--password-file")
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = LabServer(LabADC(state_dir, password, data_plane=data_plane), listen, tls_listen,
                           cert_dir=state_dir / "mgmt" if state_dir else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        asyncio.run(serve_forever(server))
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None


@main.group()
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


if __name__ == "__main__":
    main()
