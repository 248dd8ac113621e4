"""Smoke test of benchmarks/dataplane.py at a tiny size: backend, lab ADC (and nginx when it is
installed) in their own processes, a few requests each.

No timing thresholds: only the table's rows and the figures that do not depend on speed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "dataplane.py"
TINY = ["--seconds", "60", "--requests", "40", "--concurrency", "4", "--samples", "10", "--repeat", "2"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_dataplane", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_table_rows_and_added_latency(bench):
    rows = [bench.Row("direct", p50=0.30, p99=0.50, requests=100, errors=0, seconds=1.0, rate=100.0,
                      load_p50=5.0, load_p99=9.0),
            bench.Row("lab", p50=1.30, p99=2.00, requests=50, errors=1, seconds=0.5, rate=100.0,
                      load_p50=20.0, load_p99=30.0, proxy_cpu=0.1)]
    lines = bench.table(rows).splitlines()
    assert lines[0].split()[:2] == ["scenario", "requests"]
    direct, lab = lines[1].split(), lines[2].split()
    assert lines[1].startswith("direct (HTTP)") and direct[-4] == "-" and direct[-1] == "-"
    assert lines[2].startswith("lab ADC TLS+JWT+policies")
    assert lab[-4] == "+1.00"  # added p50: 1.30 - 0.30
    assert lab[-7] == "100"  # req/s
    assert lab[-1] == "2.000"  # proxy CPU ms per request: 0.1 s / 50



def test_median_of_runs(bench):
    def row(p50, errors, cpu):
        return bench.Row("lab", p50=p50, p99=2.0, requests=10, errors=errors, seconds=1.0, rate=10.0,
                         load_p50=1.0, load_p99=1.0, proxy_cpu=cpu)

    (merged,) = bench.median_of([[row(1.0, 0, 0.1)], [row(3.0, 2, 0.3)], [row(2.0, 1, 0.2)]])
    assert (merged.p50, merged.errors, merged.proxy_cpu, merged.requests) == (2.0, 3, 0.2, 10)
    (no_cpu,) = bench.median_of([[row(1.0, 0, 0.1)], [row(1.0, 0, None)]])
    assert no_cpu.proxy_cpu is None


@pytest.mark.slow
def test_tiny_run_prints_one_row_per_scenario(bench, capsys):
    assert bench.main(TINY) == 0
    out = capsys.readouterr().out.splitlines()
    expected = ["direct (HTTP)", "lab ADC TLS+JWT+policies"]
    if bench.nginx_binary() is not None:
        expected.insert(1, "nginx TLS proxy (no JWT)")
    else:
        assert bench.NGINX_SKIPPED in out
    header = next(i for i, line in enumerate(out) if line.startswith("scenario"))
    rows = out[header + 1:header + 1 + len(expected)]
    assert [next(label for label in expected if row.startswith(label)) for row in rows] == expected
    for row in rows:
        cells = row.split()
        label_words = len(next(label for label in expected if row.startswith(label)).split())
        requests, errors = int(cells[label_words]), int(cells[label_words + 1])
        assert requests == 40 and errors == 0  # the request budget (not the 60 s) ends the run
    assert rows[0].split()[-4] == "-"  # direct adds nothing to itself


@pytest.mark.slow
def test_without_nginx_the_row_is_skipped_saying_why(bench, capsys, monkeypatch):
    monkeypatch.setattr(bench, "nginx_binary", lambda: None)
    assert bench.main(TINY) == 0
    out = capsys.readouterr().out.splitlines()
    assert bench.NGINX_SKIPPED in out and not any(line.startswith("nginx TLS") for line in out)
    assert any(line.startswith("lab ADC TLS+JWT+policies") for line in out)
