"""``python -m adcml.cli``: the ``adcml`` command."""

from adcml.cli import main

main()
