"""The ``adcml`` command: one group, its subcommands in a module each; how it fails (exit codes,
messages) is ``adcml.cli.errors``."""

from __future__ import annotations

import logging

import click

from adcml import __version__
from adcml.cli.errors import ErrorReportingGroup
from adcml.cli.gateway import gateway
from adcml.cli.hf import hf
from adcml.cli.lab import lab, lab_adc, lab_hf
from adcml.serve.command import serve

EXIT_CODES = """\b
Exit codes:
  0  success (adcml gateway plan: no changes)
  1  an error, usage errors included (-vv adds the traceback)
  2  adcml gateway plan: changes pending"""


@click.group(cls=ErrorReportingGroup, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="adcml")
@click.option("-v", "--verbose", count=True,
              help="More log output (-v info, -vv debug, and the traceback of an error).")
def main(verbose: int) -> None:
    """Provision NetScaler (Citrix ADC) in front of AI inference."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (lab_adc, lab_hf, lab, gateway, hf, serve):
    main.add_command(command)

__all__ = ["main"]
