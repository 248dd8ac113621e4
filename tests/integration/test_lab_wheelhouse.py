"""The lab wheelhouse's own wheel: a version that names its sources, so the lab's inventory can
pin it and a code change rolls out (inventories/local), and a build that leaves the checkout
alone. The dependencies' part is exercised by `make lab` (test_lab_e2e.py) and Molecule."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from adcml.lab.orchestrator import wheelhouse
from adcml.lab.orchestrator.errors import LabError

ROOT = wheelhouse.project_root()


def snapshot() -> tuple:
    """What a build in place would change: the files under src/ (and their times), pyproject.toml."""
    files = sorted((str(p.relative_to(ROOT)), p.stat().st_mtime_ns) for p in (ROOT / "src").rglob("*")
                   if "__pycache__" not in p.parts)
    return files, (ROOT / "pyproject.toml").read_bytes(), (ROOT / "build").exists()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the parts of the checkout the version is made of."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_version_names_the_sources(tree: Path) -> None:
    version = wheelhouse.source_version(tree)
    assert version.startswith("0.1.0+lab.") and len(version) == len("0.1.0+lab.") + 12
    assert wheelhouse.source_version(tree) == version  # the same sources, the same version
    packed = tree / "src" / "adcml" / "serve" / "packed.py"
    os.utime(packed, (1, 1))  # a touched file is not a changed one
    (tree / "src" / "adcml" / "__pycache__").mkdir(exist_ok=True)
    (tree / "src" / "adcml" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    assert wheelhouse.source_version(tree) == version
    packed.write_text(packed.read_text() + "\n# changed\n")
    changed = wheelhouse.source_version(tree)
    assert changed != version and changed.startswith("0.1.0+lab.")
    (tree / "src" / "adcml" / "new_module.py").write_text("")
    assert wheelhouse.source_version(tree) not in (version, changed)


def test_version_needs_a_static_version(tree: Path) -> None:
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'dynamic = ["version"]'))
    with pytest.raises(LabError, match="no static version"):
        wheelhouse.source_version(tree)


def test_own_wheel_carries_the_version_and_leaves_the_checkout_alone(tmp_path: Path) -> None:
    before = snapshot()
    version = wheelhouse.source_version(ROOT)
    wheelhouse._own_wheel(ROOT, tmp_path, version)
    [wheel] = tmp_path.glob("adcml-*.whl")
    assert wheel.name == f"adcml-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"adcml-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}\n" in metadata
    assert "adcml/serve/packed.py" in names and not [n for n in names if "__pycache__" in n]
    assert snapshot() == before
