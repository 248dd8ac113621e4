"""How the lab's modules may depend on each other, read from their source (every import, those
under ``if TYPE_CHECKING`` and inside functions included).

- the lab speaks NITRO but never uses adcml's client, engine, gateway or command line;
- emulators and services never import the orchestrator, and services no emulator;
- an emulator's models have no HTTP in them and know nothing of the wire, the server or the
  data plane (the data plane reads the models, not the other way round);
- no module imports one that imports it back, however far round.
"""

from __future__ import annotations

import ast
from pathlib import Path

import adcml.lab

LAB = Path(adcml.lab.__file__).parent
FORBIDDEN_EVERYWHERE = ("adcml.engine", "adcml.gateway", "adcml.nitro", "adcml.cli")
ADC = "adcml.lab.emulators.adc"


def module_name(path: Path) -> str:
    parts = path.relative_to(LAB.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, by absolute name (``from pkg import mod`` gives pkg.mod
    when that is a module of the lab)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in MODULES)
    return found


MODULES = {module_name(p): p for p in LAB.rglob("*.py")}
GRAPH = {name: {i for i in imports_of(path) if i in MODULES and i != name}
         for name, path in MODULES.items()}


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_lab_never_uses_adcml_client_engine_gateway_or_cli():
    offending = {name: sorted(i for i in imports_of(path) if under(i, *FORBIDDEN_EVERYWHERE))
                 for name, path in MODULES.items()}
    assert {k: v for k, v in offending.items() if v} == {}


def test_emulators_and_services_never_import_the_orchestrator():
    offending = {name: sorted(i for i in deps if under(i, "adcml.lab.orchestrator"))
                 for name, deps in GRAPH.items()
                 if under(name, "adcml.lab.emulators", "adcml.lab.services")}
    offending.update({name: sorted(i for i in deps if under(i, "adcml.lab.emulators"))
                      for name, deps in GRAPH.items() if under(name, "adcml.lab.services")})
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_lab_adc_models_have_no_http_and_no_wire():
    wire = [f"{ADC}.{m}" for m in ("urls", "responses", "control_responses", "server", "backend",
                                   "dataplane")]
    offending = {}
    for name, path in MODULES.items():
        if under(name, f"{ADC}.models"):
            bad = [i for i in imports_of(path) if under(i, "aiohttp", "httpx", *wire)]
            if bad:
                offending[name] = sorted(bad)
    assert offending == {}


def test_no_import_cycles_in_the_lab():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert cycles == []
