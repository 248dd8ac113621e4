"""An offline wheelhouse of ``adcml[serve]`` for hosts that cannot reach a package index.

The lab's model-server hosts (and the Molecule scenario's) have no route beyond their own
network, so the ``gpu_host`` and ``model_server`` roles install from a directory of wheels
(``gpu_host_pip_no_index: true``, ``gpu_host_pip_find_links: [DIR]``) that this module fills on
the controller with pip itself: the project's own wheel and every dependency of its ``serve``
extra, torch included (pip takes it wherever the controller's pip configuration finds it).

Building the dependencies is slow the first time only: a stamp records the requirements they
were built for and they are reused until ``pyproject.toml`` changes. The project's own wheel is
rebuilt on every call (seconds) with a version that names its source: ``0.1.0+lab.<digest>``,
the digest of ``pyproject.toml`` and every file under ``src/``. ``VERSION`` in the wheelhouse
holds it, so an inventory can pin ``adcml[serve]==<VERSION>``: the same checkout gives the same
version (a re-run changes nothing), and a changed one a new version that the rolling update
of ``playbooks/gpu_hosts.yml`` takes to the hosts.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

from adcml.lab.orchestrator.errors import LabError

STAMP = ".built-for"
VERSION = "VERSION"
_SKIP = ("__pycache__", "*.pyc", "*.egg-info")  # never part of the wheel's sources


def project_root() -> Path:
    """The checkout this package runs from (an editable install); LabError otherwise."""
    root = Path(__file__).resolve().parents[4]
    if not (root / "pyproject.toml").is_file():
        raise LabError(f"no pyproject.toml in {root}: the wheelhouse is built from a checkout of "
                       "adcml installed in editable mode (make setup)")
    return root


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check",
                           "--quiet"], capture_output=True, text=True, check=False)
    if done.returncode:
        raise LabError(f"pip {args[0]} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")


def _sources(root: Path) -> list[Path]:
    """pyproject.toml and what the wheel is built from: src/, less what ``_SKIP`` leaves out."""
    files = [p for p in (root / "src").rglob("*") if p.is_file() and not any(
        fnmatch(part, pattern) for part in p.relative_to(root).parts for pattern in _SKIP)]
    return sorted([root / "pyproject.toml", *files])


def source_version(root: Path) -> str:
    """``<pyproject version>+lab.<digest of the sources>``: changes exactly when the code does."""
    digest = hashlib.sha256()
    for path in _sources(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    base = re.search(r'^version\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    if base is None:
        raise LabError(f"{root / 'pyproject.toml'}: no static version to build the lab wheel from")
    return f"{base.group(1)}+lab.{digest.hexdigest()[:12]}"


def _own_wheel(root: Path, dest: Path, version: str) -> None:
    """The project's wheel at ``version``, built from a copy so the checkout is left as it is."""
    with tempfile.TemporaryDirectory(prefix="adcml-wheel-") as tmp:
        copy = Path(tmp)
        shutil.copytree(root / "src", copy / "src", ignore=shutil.ignore_patterns(*_SKIP))
        shutil.copy2(root / "README.md", copy / "README.md")
        pyproject = (root / "pyproject.toml").read_text()
        (copy / "pyproject.toml").write_text(
            re.sub(r'^version\s*=\s*"[^"]+"', f'version = "{version}"', pyproject, count=1, flags=re.M))
        _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(copy))


def build(dest: Path | str, echo: Callable[[str], None] = print) -> Path:
    """Fill ``dest`` with the wheels of ``adcml[serve]``; returns ``dest``."""
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    root = project_root()
    wanted = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()
    stamp = dest / STAMP
    for old in dest.glob("adcml-*.whl"):
        old.unlink()
    version = source_version(root)
    _own_wheel(root, dest, version)
    if not stamp.is_file() or stamp.read_text().strip() != wanted:
        echo(f"wheelhouse {dest}: collecting adcml[serve] and its dependencies (the first time "
             "takes a minute or two)")
        _pip("wheel", "--wheel-dir", str(dest), "--find-links", str(dest), f"adcml[serve]=={version}")
        stamp.write_text(wanted + "\n")
    (dest / VERSION).write_text(version + "\n")
    return dest


__all__ = ["VERSION", "build", "project_root", "source_version"]
