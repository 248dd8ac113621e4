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


def _run_event_loop(coro) -> None:
    """Run on uvloop (a dependency: a faster event loop for the lab data plane); plain asyncio
    where it cannot be installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


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
@click.option("--test-hosts", "test_hosts", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="With --data-plane: also reach the network of the test hosts that are "
                                 "up in this directory (adcml lab hosts up --dir; docs/test-hosts.md).")
def lab_adc(listen: str, tls_listen: str | None, state_dir: Path | None,
            password_file: Path | None, data_plane: bool, test_hosts: Path | None) -> None:
    """Run the lab ADC (a NITRO-compatible stand-in for a NetScaler) in the foreground."""
    from adcml.lab.server import LabADC, LabServer, serve_forever

    policy = None
    if test_hosts is not None:
        if not data_plane:
            raise click.BadParameter("needs --data-plane (it widens where the data plane may connect)",
                                     param_hint="--test-hosts")
        from adcml.lab.dataplane import AddressPolicy
        from adcml.lab.hosts import TestHostsError, created_networks

        policy = AddressPolicy()
        try:
            for network in created_networks(test_hosts):
                policy.allow(network)
        except TestHostsError as exc:
            raise click.BadParameter(str(exc), param_hint="--test-hosts") from None
    password = "nsroot"
    if password_file is not None:
        password = password_file.read_text().splitlines()[0] if password_file.read_text() else ""
        if not password:
            raise click.BadParameter("the file is empty", param_hint="--password-file")
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = LabServer(LabADC(state_dir, password, data_plane=data_plane, policy=policy), listen,
                           tls_listen, cert_dir=state_dir / "mgmt" if state_dir else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        _run_event_loop(serve_forever(server))
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None


@main.group()
def lab() -> None:
    """The local lab in the background: lab ADC (data plane on), lab IdP, model-server hosts,
    demo chat backends, PKI.

    Addresses come from the options, else ADCML_LAB_* variables, else the layout the lab in
    --dir was last started with, else the defaults (docs/lab.md).
    """


LAB_DIR_OPT = click.option("--dir", "lab_dir", type=click.Path(file_okay=False, path_type=Path),
                           default=".lab", show_default=True, envvar="ADCML_LAB_DIR",
                           help="The lab's directory: pid files, logs, PKI, the ADC's state.")


def _lab(lab_dir: Path, **overrides):
    from adcml.lab.stack import Lab, LabError

    try:
        return Lab.open(lab_dir, **overrides)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


@lab.command("up")
@LAB_DIR_OPT
@click.option("--nitro", envvar="ADCML_LAB_NITRO", help="NITRO over HTTP  [default: 127.0.0.1:9080]")
@click.option("--nitro-tls", envvar="ADCML_LAB_NITRO_TLS",
              help="NITRO over HTTPS  [default: 127.0.0.1:9443]")
@click.option("--idp", envvar="ADCML_LAB_IDP", help="the lab IdP  [default: 127.0.0.1:5556]")
@click.option("--backend", "backends", multiple=True, envvar="ADCML_LAB_BACKENDS",
              help="a demo backend (repeat; the variable takes a space-separated list)  "
                   "[default: 127.0.0.21:8001 127.0.0.22:8001]")
@click.option("--gateway", envvar="ADCML_LAB_GATEWAY",
              help="the gateway's TLS frontend VIP:PORT, for its certificate and the smoke check "
                   "[default: 127.0.0.10:8443]")
@click.option("--gateway-name", envvar="ADCML_LAB_GATEWAY_NAME",
              help="DNS name in the gateway certificate  [default: gateway.lab.test]")
@click.option("--no-model-hosts", is_flag=True,
              help="Without the model-server hosts (they need root); playbooks/adc.yml still runs.")
@click.option("--timeout", type=float, default=30, show_default=True,
              help="Seconds to wait for each piece's health check.")
def lab_up(lab_dir: Path, nitro, nitro_tls, idp, backends, gateway, gateway_name, no_model_hosts,
           timeout) -> None:
    """Start the lab in the background (what already runs is left as it is), and, as root, the
    model-server hosts that playbooks/site.yml provisions."""
    from adcml.lab.stack import LabError, up

    the_lab = _lab(lab_dir, nitro=nitro, nitro_tls=nitro_tls, idp=idp, backends=backends,
                   gateway=gateway, gateway_name=gateway_name,
                   model_hosts=() if no_model_hosts else None)
    try:
        up(the_lab, echo=click.echo, timeout=timeout)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


@lab.command("down")
@LAB_DIR_OPT
def lab_down(lab_dir: Path) -> None:
    """Stop the processes `adcml lab up` started (and nothing else)."""
    from adcml.lab.stack import LabError, down

    try:
        down(_lab(lab_dir), echo=click.echo)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


@lab.command("status")
@LAB_DIR_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def lab_status(lab_dir: Path, as_json: bool) -> None:
    """What runs, pids, addresses, health; exit 1 unless all is up and healthy."""
    import json

    from adcml.lab.stack import LabError, render_status, status

    try:
        report = status(_lab(lab_dir))
    except LabError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))
    if not report["healthy"]:
        raise SystemExit(1)


@lab.command("token")
@LAB_DIR_OPT
@click.option("--user", default="ana", show_default=True, help="The subject (sub).")
@click.option("--group", "groups", multiple=True, help="A group claim (repeat).")
@click.option("--audience", default="adcml-lab", show_default=True)
def lab_token(lab_dir: Path, user: str, groups: tuple[str, ...], audience: str) -> None:
    """Print an ID token (JWT) for USER from the lab IdP."""
    from adcml.lab.stack import LabError, token

    try:
        click.echo(token(_lab(lab_dir), user, groups, audience))
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


@lab.command("smoke")
@LAB_DIR_OPT
@click.option("--url", default=None, help="The gateway  [default: https://<the lab's gateway>]")
@click.option("--ca", "ca_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="CA bundle to verify it with  [default: <dir>/pki/ca.pem]")
@click.option("--user", default="ana", show_default=True)
@click.option("--howto/--no-howto", default=True, help="Then print how to try the lab.")
def lab_smoke(lab_dir: Path, url: str | None, ca_file: Path | None, user: str, howto: bool) -> None:
    """Check the gateway end to end: 401 without a token, 200 with one, 403 without the group."""
    from adcml.lab import stack

    the_lab = _lab(lab_dir)
    try:
        stack.smoke(the_lab, url, ca_file, user, echo=click.echo)
    except stack.LabError as exc:
        raise click.ClickException(str(exc)) from None
    if howto:
        click.echo(stack.howto(the_lab, str(lab_dir)))


@lab.command("wheelhouse")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def lab_wheelhouse(directory: Path) -> None:
    """Fill DIRECTORY with the wheels of this checkout's adcml[serve] and its dependencies, for
    hosts that reach no package index (the dependencies are reused until pyproject.toml changes)."""
    from adcml.lab import wheelhouse
    from adcml.lab.stack import LabError

    try:
        wheelhouse.build(directory, echo=click.echo)
    except LabError as exc:
        raise click.ClickException(str(exc)) from None


@lab.group("hosts")
def lab_hosts() -> None:
    """Test hosts on this machine, for the roles: each a network namespace with its own address,
    sshd and private install paths, reached over ssh (root; docs/test-hosts.md)."""


HOSTS_DIR_OPT = click.option("--dir", "hosts_dir", type=click.Path(file_okay=False, path_type=Path),
                             default=".lab/hosts", show_default=True, envvar="ADCML_LAB_HOSTS_DIR",
                             help="Where the hosts' keys, inventory.yml and hosts.json live.")


def _test_hosts(hosts_dir: Path, **settings):
    from adcml.lab.hosts import TestHosts, TestHostsError

    try:
        return TestHosts(hosts_dir, **settings)
    except TestHostsError as exc:
        raise click.ClickException(str(exc)) from None


@lab_hosts.command("up")
@click.argument("names", nargs=-1, required=True)
@HOSTS_DIR_OPT
@click.option("--network", default=None,
              help="Private IPv4 network of the hosts (the bridge is .1, hosts .11, .12, …)  "
                   "[default: the running hosts', else 10.231.0.0/24]")
@click.option("--bridge", default=None,
              help="The bridge's name; namespaces are <bridge>-<name>  [default: adcmlbr0]")
@click.option("--group", default=None, help="Inventory group of the hosts  [default: model_servers]")
@click.option("--timeout", type=float, default=15, show_default=True,
              help="Seconds to wait for the hosts' sshd.")
def lab_hosts_up(names: tuple[str, ...], hosts_dir: Path, network: str | None, bridge: str | None,
                 group: str | None, timeout: float) -> None:
    """Start test hosts NAME... (those already running are left as they are)."""
    from adcml.lab.hosts import TestHostsError

    hosts = _test_hosts(hosts_dir, network=network, bridge=bridge, group=group)
    try:
        hosts.up(names, timeout=timeout, echo=click.echo)
    except TestHostsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"inventory: {hosts.inventory}")


@lab_hosts.command("down")
@HOSTS_DIR_OPT
def lab_hosts_down(hosts_dir: Path) -> None:
    """Remove the test hosts and everything `up` created for them (and nothing else)."""
    from adcml.lab.hosts import TestHostsError

    try:
        _test_hosts(hosts_dir).down(echo=click.echo)
    except TestHostsError as exc:
        raise click.ClickException(str(exc)) from None


@lab_hosts.command("status")
@HOSTS_DIR_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def lab_hosts_status(hosts_dir: Path, as_json: bool) -> None:
    """Each host, its address and sshd pid, and whether ssh answers; exit 1 unless all do."""
    import json

    from adcml.lab.hosts import TestHostsError, render_status

    try:
        report = _test_hosts(hosts_dir).status()
    except TestHostsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))
    if not report["healthy"]:
        raise SystemExit(1)


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


@main.command("serve")
@click.option("--model", required=True, help="Local model directory or Hugging Face hub id (read from the "
              "local cache when HF_HUB_OFFLINE=1).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--task", type=click.Choice(["auto", "embed", "classify"]), default="auto", show_default=True,
              help="auto: classify for *ForSequenceClassification models, else embed.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present), cpu, cuda, cuda:N.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default="auto",
              show_default=True, help="auto: float16 on CUDA, float32 on CPU.")
@click.option("--served-model-name", default=None, help="Name reported by /info and /v1/embeddings.")
@click.option("--max-batch-size", default=32, show_default=True, type=int,
              help="Most inputs per forward pass.")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=float,
              help="How long a batch that is not full waits for more inputs.")
@click.option("--max-client-batch-size", default=32, show_default=True, type=int,
              help="Most inputs in one request.")
@click.option("--max-input-length", default=None, type=int,
              help="Most tokens per input (default: the model's).")
@click.option("--max-input-chars", default=100_000, show_default=True, type=int,
              help="Most characters per input, even with truncate.")
@click.option("--payload-limit", default=2_000_000, show_default=True, type=int,
              help="Most bytes per request body.")
@click.option("--max-concurrent-requests", default=512, show_default=True, type=int,
              help="Requests in flight beyond this get 429.")
@click.option("--auto-truncate", is_flag=True, default=False, help="Truncate over-long inputs by default.")
@click.option("--api-key", envvar=["ADCML_SERVE_API_KEY", "API_KEY"], default=None, show_envvar=True,
              help="Require Authorization: Bearer KEY (prefer the environment variable to the option).")
@click.option("--threads", default=None, type=int,
              help="Torch threads per forward pass (default: see --streams).")
@click.option("--streams", default=None, type=int,
              help="Forward passes at once (default: one per core with one thread each on CPU, 1 on CUDA).")
@click.option("--padding-free", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Pack each batch's tokens instead of padding inputs to the longest (BERT encoders); "
              "auto: on CPU.")
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Run the model before /health says ready.")
@click.option("--drain-timeout", default=30.0, show_default=True, type=float,
              help="Seconds SIGTERM waits for in-flight requests.")
def serve(model: str, **options) -> None:
    """Serve a transformers model with the API of text-embeddings-inference."""
    from adcml.serve import ServeSettings, SettingsError

    try:
        settings = ServeSettings(model=model, **options)
    except SettingsError as exc:
        raise click.BadParameter(exc.problem, param_hint="--" + exc.option.replace("_", "-")) from None
    try:
        from adcml.serve.model import resolve_device
        from adcml.serve.server import serve as run_server
    except ImportError as exc:
        raise click.ClickException(f"the model server needs the serve extra ({exc.name} is missing). "
                                   "Hint: pip install 'adcml[serve]'") from None
    try:
        resolve_device(settings.device)  # a wrong --device fails here, not after the port is open
        code = run_server(settings)
    except SettingsError as exc:
        raise click.BadParameter(exc.problem, param_hint="--" + exc.option.replace("_", "-")) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None
    raise SystemExit(code)


if __name__ == "__main__":
    main()
