"""Converge benchmark: the gateway engine vs. one request pair per object, on a lab ADC.

    python benchmarks/converge.py [--pools 50] [--members 4] [--ansible/--no-ansible] [--repeat 3]

For a gateway of N pools x M members it measures, on a lab ADC of its own on 127.0.0.1:

- first apply: ``converge`` (state merged) on an empty lab;
- no-op re-apply: the same spec again (0 changes; at most 2 requests per resource type);
- per-object baseline: what per-resource tools (the vendor's Ansible collection) do: for each
  desired object, in dependency order, a fresh login, one GET to check existence, one add or
  bind, and a logout;
- with ``--ansible``: ``ansible-playbook`` with one ``adc_gateway`` task vs. a loop of
  ``adc_resource`` over every desired object.

Requests are counted by the lab (``/lab/counters``), seconds are wall time; with ``--repeat``
each figure is the median. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import yaml

from adcml.engine import Desired
from adcml.gateway import GatewaySpec, compile_gateway, converge, load_spec
from adcml.nitro import NitroClient, NotFound
from adcml.resources import ResourceKind, level
from adcml.secret import Secret

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "library"
ANSIBLE_MODULES = ("adc_gateway", "adc_resource")
GATEWAY = "bench"
SSL_DIR = "/nsconfig/ssl/"
FEATURES = ("LB", "CS", "SSL")
ANSIBLE_TIMEOUT_S = 1200  # per playbook


def progress(message: str) -> None:
    print(f"[converge] {message}", file=sys.stderr, flush=True)


# --- the lab ADC ----------------------------------------------------------------------------


@dataclass
class Lab:
    """A running lab ADC, reached over HTTP at ``url``."""

    url: str

    @property
    def nsip(self) -> str:
        return self.url.split("://", 1)[1]

    def client(self) -> NitroClient:
        return NitroClient(nsip=self.nsip, protocol="http", username="nsroot", password="nsroot")

    def reset(self, gateway: str = GATEWAY) -> None:
        """A fresh appliance with the features a gateway uses enabled: running config and
        counters cleared, the gateway's files removed."""
        httpx.post(f"{self.url}/lab/reset").raise_for_status()
        with self.client() as client:
            client.enable_features(FEATURES)
            for row in client.get("systemfile", args={"filelocation": SSL_DIR}):
                if str(row.get("filename", "")).startswith(f"{gateway}."):
                    client.delete_file(row["filename"], SSL_DIR)
        self.reset_counters()

    def reset_counters(self) -> None:
        httpx.delete(f"{self.url}/lab/counters").raise_for_status()

    def counters(self) -> dict[str, int]:
        """``{"METHOD resource": n}`` since the last reset."""
        return httpx.get(f"{self.url}/lab/counters").json()["requests"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def lab_process(startup_s: float = 30.0) -> Iterator[Lab]:
    """``adcml lab-adc`` in a subprocess (its own GIL), on a free loopback port."""
    url = f"http://127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "adcml.cli", "lab-adc", "--listen", url.split("://")[1]],
            stdout=subprocess.DEVNULL, stderr=errors,
        )
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if proc.poll() is not None:
                    errors.seek(0)
                    raise RuntimeError(f"lab ADC exited: {errors.read().decode(errors='replace')}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/lab/health", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"lab ADC not up after {startup_s:.0f} s")
                time.sleep(0.1)
            yield Lab(url)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def lab_thread() -> Iterator[Lab]:
    """The lab ADC on a thread of this process (shares the GIL; for tests)."""
    from adcml.lab.emulators.adc.backend import LabADC
    from adcml.lab.emulators.adc.server import LabServer

    server = LabServer(LabADC(), "127.0.0.1:0").start()
    try:
        yield Lab(server.url)
    finally:
        server.stop()


LABS: dict[str, Callable[[], contextlib.AbstractContextManager[Lab]]] = {
    "process": lab_process, "thread": lab_thread,
}


# --- the gateway ----------------------------------------------------------------------------


def gateway_spec(pools: int, members: int, name: str = GATEWAY) -> GatewaySpec:
    """N pools x M members behind one HTTP frontend, one path prefix per pool."""
    return load_spec({
        "name": name,
        "frontend": {"vip": "127.0.0.10", "port": 80, "protocol": "http"},
        "pools": [{"name": f"m{i}", "match": {"path_prefix": f"/v1/models/m{i}"},
                   "members": [{"host": f"127.0.{1 + j // 250}.{1 + j % 250}", "port": 8000 + i}
                               for j in range(members)]}
                  for i in range(pools)],
        "default_pool": "m0",
    })


def desired_in_order(spec: GatewaySpec) -> list[Desired]:
    """The gateway's objects, parents before children (a stable sort by dependency level)."""
    return sorted(compile_gateway(spec), key=lambda d: level(d.resource))


def plain(value: Any) -> Any:
    """A value as a per-object tool would be given it (secrets revealed)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Measurement:
    scenario: str
    objects: int
    changes: int | None  # None: not measured (Ansible)
    requests: int
    max_per_type: int
    seconds: float
    baseline: str | None = None  # the scenario this one is compared with


def max_requests_per_type(counters: dict[str, int]) -> int:
    """The most requests any one resource type received (all methods together)."""
    per_type = Counter()
    for key, n in counters.items():
        per_type[key.split(" ", 1)[1]] += n
    return max(per_type.values(), default=0)


def timed_on(lab: Lab, work: Callable[[], tuple[int, int | None]], scenario: str,
             baseline: str | None = None) -> Measurement:
    """Run ``work`` (→ objects, changes) with the lab's counters reset; time and count it."""
    lab.reset_counters()
    start = time.perf_counter()
    objects, changes = work()
    seconds = time.perf_counter() - start
    counters = lab.counters()
    return Measurement(scenario, objects, changes, sum(counters.values()),
                       max_requests_per_type(counters), seconds, baseline)


def converge_once(lab: Lab, spec: GatewaySpec) -> tuple[int, int]:
    """One ``converge`` (merged) with a fresh client, as a front-end runs it."""
    with lab.client() as client:
        plan = converge(client, spec).plan
    return len(plan.changes) + plan.unchanged, len(plan.changes)


def measure_first_apply(lab: Lab, spec: GatewaySpec) -> Measurement:
    lab.reset()
    return timed_on(lab, lambda: converge_once(lab, spec), "first apply", "per-object baseline")


def measure_noop_reapply(lab: Lab, spec: GatewaySpec) -> Measurement:
    """Re-apply to a lab that already holds the gateway (measure_first_apply ran before)."""
    measured = timed_on(lab, lambda: converge_once(lab, spec), "no-op re-apply", "per-object baseline")
    if measured.changes:
        raise AssertionError(f"no-op re-apply planned {measured.changes} changes")
    if measured.max_per_type > 2:
        raise AssertionError(f"no-op re-apply sent {measured.max_per_type} requests to one type")
    return measured


def exists(client: NitroClient, desired: Desired) -> bool:
    """One GET: does the object (or this one binding of its parent) exist?"""
    res, attrs = desired.schema, desired.attrs
    if desired.resource == "systemfile":
        return client.get_file(attrs["filename"], attrs["filelocation"]) is not None
    try:
        rows = client.get(desired.resource, str(attrs[res.key]))
    except NotFound:
        return False
    return any(all(str(row.get(k)) == str(attrs.get(k)) for k in res.member_key) for row in rows)


def create(client: NitroClient, desired: Desired) -> None:
    """One write: add, bind, or (for an object that exists implicitly) update."""
    attrs = {k: plain(v) for k, v in desired.attrs.items()}
    res = desired.schema
    if res.is_binding:
        client.bind(desired.resource, attrs)
    elif res.kind is ResourceKind.IMPLICIT:
        client.update(desired.resource, attrs)
    else:
        client.add(desired.resource, attrs)


def apply_per_object(lab: Lab, spec: GatewaySpec) -> tuple[int, int]:
    """For each desired object: login, GET to check existence, add/bind if missing, logout."""
    desired = desired_in_order(spec)
    created = 0
    for n, item in enumerate(desired, 1):
        with lab.client() as client:
            if not exists(client, item):
                create(client, item)
                created += 1
        if n % 100 == 0:
            progress(f"  per-object baseline: {n}/{len(desired)} objects")
    return len(desired), created


def measure_per_object_baseline(lab: Lab, spec: GatewaySpec) -> Measurement:
    lab.reset()
    return timed_on(lab, lambda: apply_per_object(lab, spec), "per-object baseline")


# --- Ansible --------------------------------------------------------------------------------


def module_options(path: Path) -> dict[str, Any]:
    """The ``options`` of a module's DOCUMENTATION string."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION"
                                                  for t in node.targets)):
            return (yaml.safe_load(ast.literal_eval(node.value)) or {}).get("options") or {}
    raise ValueError(f"{path.name} has no DOCUMENTATION")


def ansible_playbook() -> str | None:
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.exists() else shutil.which("ansible-playbook")


def ansible_unavailable(library: Path = LIBRARY) -> str | None:
    """Why the Ansible step cannot run, or None when it can."""
    missing = [m for m in ANSIBLE_MODULES if not (library / f"{m}.py").exists()]
    if missing:
        return f"no {', '.join(f'library/{m}.py' for m in missing)}"
    if ansible_playbook() is None:
        return "ansible-playbook not found"
    return None


def connection_args(lab: Lab) -> dict[str, Any]:
    """The vendor collection's connection options (a doc fragment, so not in ``options``)."""
    return {"nsip": lab.nsip, "nitro_user": "nsroot", "nitro_pass": "nsroot",
            "nitro_protocol": "http", "validate_certs": False}


def gateway_task(lab: Lab, spec: GatewaySpec, options: dict[str, Any]) -> dict[str, Any]:
    """One ``adc_gateway`` task: the spec as one ``spec`` option, or as top-level options."""
    body = spec.model_dump(mode="json", exclude_none=True)
    args = {"spec": body} if "spec" in options else {k: v for k, v in body.items() if k in options}
    if "state" in options:
        args["state"] = "merged"
    return {"name": "gateway", "adc_gateway": {**connection_args(lab), **args}}


def resource_loop_task(lab: Lab, options: dict[str, Any]) -> dict[str, Any]:
    """``adc_resource`` looped over the ``objects`` variable, state present."""
    args = {**connection_args(lab), "resource": "{{ item.resource }}",
            "attributes": "{{ item.attributes }}"}
    if "state" in options:
        args["state"] = "present"
    return {"name": "objects", "adc_resource": args, "loop": "{{ objects }}",
            "loop_control": {"label": "{{ item.resource }}"}}


class AnsibleFailed(RuntimeError):
    """The Ansible step could not run (the reason is the message)."""


def run_playbook(workdir: Path, name: str, tasks: list[dict], variables: dict | None = None,
                 library: Path = LIBRARY) -> None:
    """Write and run a one-play playbook on localhost; AnsibleFailed with its output's tail."""
    play = {"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}
    if variables:
        (workdir / f"{name}.vars.json").write_text(json.dumps(variables))
        play["vars_files"] = [f"{name}.vars.json"]
    (workdir / f"{name}.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    (workdir / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LIBRARY": str(library),
           "ANSIBLE_MODULE_UTILS": str(ROOT / "module_utils"),
           "ANSIBLE_DOC_FRAGMENT_PLUGINS": str(ROOT / "doc_fragments"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_LOCALHOST_WARNING": "0"}
    try:
        done = subprocess.run([ansible_playbook(), "-i", "inventory.yml", f"{name}.yml"],
                              cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=ANSIBLE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AnsibleFailed(f"{name}.yml ran past {ANSIBLE_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise AnsibleFailed(f"{name}.yml failed: " + " | ".join(tail[-3:])[-400:])


def measure_ansible(lab: Lab, spec: GatewaySpec, library: Path = LIBRARY) -> list[Measurement]:
    """``adc_gateway`` (one task) vs. ``adc_resource`` looped over every object, each on a
    fresh lab."""
    desired = desired_in_order(spec)
    objects = [{"resource": d.resource, "attributes": {k: plain(v) for k, v in d.attrs.items()}}
               for d in desired]
    try:
        gateway_opts = module_options(library / "adc_gateway.py")
        resource_opts = module_options(library / "adc_resource.py")
    except (OSError, SyntaxError, ValueError, yaml.YAMLError) as exc:
        raise AnsibleFailed(f"cannot read the modules' options: {exc}") from exc
    plays = [
        ("gateway", [gateway_task(lab, spec, gateway_opts)], None,
         "ansible adc_gateway", "ansible adc_resource loop"),
        ("resources", [resource_loop_task(lab, resource_opts)], {"objects": objects},
         "ansible adc_resource loop", None),
    ]
    out = []
    with tempfile.TemporaryDirectory(prefix="adcml-bench-") as tmp:
        for name, tasks, variables, scenario, baseline in plays:
            lab.reset()
            progress(f"  {scenario}: {len(objects) if variables else 1} task(s)")

            def play(name=name, tasks=tasks, variables=variables) -> tuple[int, None]:
                run_playbook(Path(tmp), name, tasks, variables, library)
                return len(desired), None

            out.append(timed_on(lab, play, scenario, baseline))
            left = pending_changes(lab, spec)
            if left:
                raise AnsibleFailed(f"{name}.yml left {left} of {len(desired)} objects to change")
    return out


def pending_changes(lab: Lab, spec: GatewaySpec) -> int:
    """How many changes a converge would still make (a check: nothing is applied)."""
    with lab.client() as client:
        return len(converge(client, spec, check=True).plan.changes)


# --- the run and the table -----------------------------------------------------------------


def measure_engine_and_baseline(lab: Lab, spec: GatewaySpec) -> list[Measurement]:
    out = []
    for label, measure in (("first apply", measure_first_apply), ("no-op re-apply", measure_noop_reapply),
                           ("per-object baseline", measure_per_object_baseline)):
        out.append(measure(lab, spec))
        progress(f"  {label}: {out[-1].seconds:.3f} s, {out[-1].requests} requests")
    return out


def median_of(runs: list[list[Measurement]]) -> list[Measurement]:
    """Per scenario, the median seconds and requests over the runs."""
    return [replace(first, seconds=statistics.median(r[i].seconds for r in runs),
                    requests=round(statistics.median(r[i].requests for r in runs)))
            for i, first in enumerate(runs[0])]


def benchmark(pools: int, members: int, *, repeat: int = 3, ansible: bool = False,
              ansible_repeat: int = 1, lab: str = "process",
              library: Path = LIBRARY) -> tuple[list[Measurement], str | None]:
    """Medians of every scenario, and why the Ansible step was skipped (None if it ran or was
    not asked for)."""
    spec = gateway_spec(pools, members)
    skipped = ansible_unavailable(library) if ansible else None
    engine_runs: list[list[Measurement]] = []
    ansible_runs: list[list[Measurement]] = []
    with LABS[lab]() as adc:
        for n in range(repeat):
            progress(f"run {n + 1}/{repeat}: {pools} pools x {members} members, lab at {adc.url}")
            engine_runs.append(measure_engine_and_baseline(adc, spec))
        for n in range(ansible_repeat if ansible and skipped is None else 0):
            progress(f"ansible run {n + 1}/{ansible_repeat}")
            try:
                ansible_runs.append(measure_ansible(adc, spec, library))
            except AnsibleFailed as exc:
                skipped, ansible_runs = str(exc), []
                break
    rows = median_of(engine_runs) + (median_of(ansible_runs) if ansible_runs else [])
    return rows, skipped


def table(rows: list[Measurement]) -> str:
    """Aligned plain text; the ratios are the compared scenario's figure / this one's."""
    by_name = {m.scenario: m for m in rows}

    def ratio(m: Measurement, attr: str) -> str:
        base = by_name.get(m.baseline) if m.baseline else None
        mine = getattr(m, attr)
        return f"{getattr(base, attr) / mine:.1f}x" if base is not None and mine else "-"

    header = ("scenario", "objects", "changes", "requests", "max req/type", "seconds",
              "x time", "x requests", "ratio vs")
    lines = [header] + [
        (m.scenario, str(m.objects), "-" if m.changes is None else str(m.changes), str(m.requests),
         str(m.max_per_type), f"{m.seconds:.3f}", ratio(m, "seconds"), ratio(m, "requests"),
         m.baseline or "")
        for m in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    left = {0, len(header) - 1}
    return "\n".join(
        "  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", type=int, default=50)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--ansible", action=argparse.BooleanOptionalAction, default=True,
                        help="also time ansible-playbook (skipped, saying why, when library/ lacks "
                             "the modules or they fail)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the table shows medians")
    parser.add_argument("--ansible-repeat", type=int, default=1,
                        help="runs of the (minutes-long) Ansible step")
    parser.add_argument("--lab", choices=sorted(LABS), default="process",
                        help="lab ADC in a subprocess (default) or on a thread of this process")
    args = parser.parse_args(argv)
    if min(args.pools, args.members, args.repeat, args.ansible_repeat) < 1:
        parser.error("--pools, --members, --repeat and --ansible-repeat must be at least 1")
    rows, skipped = benchmark(args.pools, args.members, repeat=args.repeat, ansible=args.ansible,
                              ansible_repeat=args.ansible_repeat, lab=args.lab)
    runs = f"median of {args.repeat} runs"
    if args.ansible and skipped is None:
        runs += f" (ansible: {args.ansible_repeat})"
    print(f"gateway: {args.pools} pools x {args.members} members; {runs}")
    print(table(rows))
    if args.ansible and skipped is not None:
        print(f"ansible: skipped ({skipped})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
