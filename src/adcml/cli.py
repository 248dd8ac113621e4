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
def lab_adc(listen: str, tls_listen: str | None, state_dir: Path | None,
            password_file: Path | None) -> None:
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
        server = LabServer(LabADC(state_dir, password), listen, tls_listen,
                           cert_dir=state_dir / "mgmt" if state_dir else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        asyncio.run(serve_forever(server))
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None


if __name__ == "__main__":
    main()
