"""Smoke test of benchmarks/converge.py at a tiny size (2 pools x 1 member), lab on a thread.

No timing thresholds: only the table's rows and the figures that do not depend on speed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "converge.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_converge", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_tiny_run_gives_the_expected_rows(bench):
    rows, skipped = bench.benchmark(2, 1, repeat=2, ansible=False, lab="thread")
    assert skipped is None
    by_name = {m.scenario: m for m in rows}
    assert list(by_name) == ["first apply", "no-op re-apply", "per-object baseline"]
    objects = len(bench.compile_gateway(bench.gateway_spec(2, 1)))
    first, noop, baseline = by_name.values()
    assert first.objects == noop.objects == baseline.objects == objects
    # the lab reset enables the features, so nsfeature needs no change
    assert first.changes == baseline.changes == objects - 1 and noop.changes == 0
    assert noop.max_per_type <= 2
    # per object: login, GET, add/bind (not for nsfeature), logout
    assert baseline.requests == 4 * objects - 1
    assert first.requests < baseline.requests


def test_table_is_aligned_with_ratios(bench):
    M = bench.Measurement
    rows = [M("first apply", 10, 10, 5, 2, 0.5, "per-object baseline"),
            M("per-object baseline", 10, 10, 40, 10, 5.0)]
    lines = bench.table(rows).splitlines()
    assert [line.split()[0] for line in lines] == ["scenario", "first", "per-object"]
    assert "10.0x" in lines[1] and "8.0x" in lines[1]
    assert lines[1].index("0.500") + len("0.500") == lines[2].index("5.000") + len("5.000")


def test_ansible_is_skipped_with_a_reason_when_modules_are_missing(bench, tmp_path):
    rows, skipped = bench.benchmark(1, 1, repeat=1, ansible=True, lab="thread", library=tmp_path)
    assert "adc_gateway" in skipped
    assert [m.scenario for m in rows] == ["first apply", "no-op re-apply", "per-object baseline"]


def test_cli_prints_the_table(bench, capsys):
    assert bench.main(["--pools", "1", "--members", "2", "--repeat", "1", "--no-ansible",
                       "--lab", "thread"]) == 0
    out = capsys.readouterr().out
    assert "per-object baseline" in out and "max req/type" in out and "ansible" not in out
