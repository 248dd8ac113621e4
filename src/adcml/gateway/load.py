"""Reading a spec: YAML text, a YAML file or a mapping → a validated GatewaySpec, or a
SpecError whose every problem names a field (or the file's line).

Validation is complete: besides the spec's own checks, every object the spec compiles to
passes the checks the appliance makes (``check_compiled``), so an accepted spec compiles,
renders and plans without an error, and no apply stops part-way on a value the appliance
refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adcml.engine import Desired
from adcml.gateway.compile import check_compiled, compile_gateway
from adcml.gateway.spec import GatewaySpec, SpecError, parse_spec


def load_spec(data: dict[str, Any] | str | Path) -> GatewaySpec:
    """Validate a spec given as a dict, YAML text or a YAML file path; raise SpecError."""
    spec = parse_spec(read_spec(data))
    compiled(spec)
    return spec


def compiled(spec: GatewaySpec) -> list[Desired]:
    """The objects ``spec`` compiles to, every one accepted by the schema's checks; SpecError
    for those an appliance would refuse. Done once per spec (``load_spec`` did it already for
    the planner), and certificate files are read once: what was checked is what is uploaded."""
    checked = spec._checked
    if checked.fields is not spec.__dict__:
        objects = compile_gateway(spec)
        problems = check_compiled(objects)
        if problems:
            raise SpecError(problems)
        checked.fields, checked.objects = spec.__dict__, objects
    return checked.objects


def read_spec(data: dict[str, Any] | str | Path) -> Any:
    """The mapping in ``data``: itself, parsed YAML text, or a parsed YAML file."""
    source = "the spec"
    is_path = isinstance(data, str) and "\n" not in data and data.endswith((".yml", ".yaml"))
    if isinstance(data, Path) or is_path:
        source = str(data)
        try:
            data = Path(data).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SpecError([("(file)", f"cannot read {source}: {why}")]) from None
    if isinstance(data, str):
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise SpecError([(_where(exc), f"{source} is not valid YAML: {_problem(exc)}")]) from None
    return data


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f"(line {mark.line + 1}, column {mark.column + 1})" if mark is not None else "(yaml)"


def _problem(exc: yaml.YAMLError) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    return ", ".join(p for p in parts if p) or type(exc).__name__
