"""An offline wheelhouse of ``adcml[serve]`` for hosts that cannot reach a package index.

The lab's model-server hosts (and the Molecule scenario's) have no route beyond their own
network, so the ``gpu_host`` and ``model_server`` roles install from a directory of wheels
(``gpu_host_pip_no_index: true``, ``gpu_host_pip_find_links: [DIR]``) that this module fills on
the controller with pip itself: the project's own wheel and every dependency of its ``serve``
extra, torch included (pip takes it wherever the controller's pip configuration finds it).

Building the dependencies is slow the first time only: a stamp records the requirements they
were built for and they are reused until ``pyproject.toml`` changes. The project's own wheel is
rebuilt on every call (seconds), so hosts get the code of the checkout.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from adcml.lab.stack import LabError

STAMP = ".built-for"


def project_root() -> Path:
    """The checkout this package runs from (an editable install); LabError otherwise."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise LabError(f"no pyproject.toml in {root}: the wheelhouse is built from a checkout of "
                       "adcml installed in editable mode (make setup)")
    return root


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check",
                           "--quiet"], capture_output=True, text=True, check=False)
    if done.returncode:
        raise LabError(f"pip {args[0]} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")


def build(dest: Path | str, echo: Callable[[str], None] = print) -> Path:
    """Fill ``dest`` with the wheels of ``adcml[serve]``; returns ``dest``."""
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    root = project_root()
    wanted = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    stamp = dest / STAMP
    for old in dest.glob("adcml-*.whl"):
        old.unlink()
    if not stamp.is_file() or stamp.read_text().strip() != wanted:
        echo(f"wheelhouse {dest}: collecting adcml[serve] and its dependencies (the first time "
             "takes a minute or two)")
        _pip("wheel", "--wheel-dir", str(dest), "--find-links", str(dest), f"{root}[serve]")
        stamp.write_text(wanted + "\n")
    else:
        _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(root))
    return dest


__all__ = ["build", "project_root"]
