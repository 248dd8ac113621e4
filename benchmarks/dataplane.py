"""Data-plane benchmark: latency and throughput through the lab ADC vs. direct and vs. nginx.

    python benchmarks/dataplane.py [--seconds 5] [--requests 50000] [--concurrency 32] [--samples 1000]
                                   [--repeat 3] [--nginx-workers 1] [--no-nginx]

It starts, each in its own process, a small model-server stand-in (aiohttp, a JSON answer of
~80 bytes) on 127.0.5.1, ``adcml lab-adc --data-plane``, and (when installed) nginx; the lab IdP
(``adcml.lab.services.idp.LabIdP``) runs on a thread of this process and is idle once the lab has its
JWKS. The gateway converged onto the lab (``adcml.gateway.converge``) is the secure path:

- an HTTPS frontend (TLS 1.2/1.3, a lab-CA certificate, RSA 2048) on a CS vserver;
- bearer JWT validation (RS256, signature, ``iss``, ``aud``, ``exp``/``nbf``) against the IdP's JWKS;
- on the pool: a group requirement (a responder policy, 403 otherwise) and the backend token
  rewrite (the client's Authorization deleted, ``Authorization: Bearer <backend token>`` inserted);
- a per-user rate limit (a responder policy with ``SYS.CHECK_LIMIT``) set high enough never to
  trigger, audit messages, an HTTP monitor; the audit log written to ``<state-dir>/access.log``.

The backend answers 200 only when it receives the backend token, so every counted request
proves the path: direct requests carry the token themselves; nginx (a TLS reverse proxy, no JWT
validation: the reference for what TLS termination and proxying cost) inserts it with
``proxy_set_header``, one worker, upstream keep-alive; the lab ADC inserts it by its rewrite
policy after validating the client's JWT. Before measuring, the lab must answer 401 without a
token and 403 to a token without the group.

Each scenario (direct over HTTP, nginx over HTTPS, lab ADC over HTTPS) is measured by the same
client, in this process:

- latency: ``--samples`` sequential GETs over one kept-alive connection (after a warm-up);
  p50 and p99, and "added p50" = this scenario's p50 - direct's p50;
- throughput: ``--concurrency`` kept-alive connections (opened before the clock starts) sending
  GETs until ``--seconds`` have passed or ``--requests`` have completed; requests, seconds,
  req/s, p50/p99 under that load, and the CPU time the proxy's processes (nginx: master and
  workers) spent per request (from ``/proc``; what bounds req/s when the proxy has a core).

Each of ``--repeat`` runs measures every scenario once (interleaved); the table shows per
scenario the median of each figure (errors: their sum). The client shares the machine with
the servers, so on a small machine the figures are a floor. Without nginx installed its row is
left out, saying so. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import aiohttp
import httpx

from adcml.gateway import converge, load_spec
from adcml.lab.services.idp import LabIdP
from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroClient

VIP, NGINX_IP, BACKEND_IP = "127.0.0.50", "127.0.0.51", "127.0.5.1"
PATH = "/v1/embeddings"
AUDIENCE = "adcml-bench"
GROUP = "ml-bench"
BACKEND_TOKEN = "bench-model-server-key-5c1e"  # a lab value
WARMUP = 50
NGINX_SKIPPED = "nginx: skipped (not installed; make setup installs it)"
SCENARIOS = ("direct", "nginx", "lab")
LABELS = {"direct": "direct (HTTP)", "nginx": "nginx TLS proxy (no JWT)",
          "lab": "lab ADC TLS+JWT+policies"}
BACKEND = """
import sys
from aiohttp import web
BODY = b'{"model": "m", "embedding": [0.1, 0.2, 0.3, 0.4], "usage": {"tokens": 4}}'
EXPECTED = "Bearer " + sys.argv[3]
async def handle(request):
    await request.read()
    if request.path != "/health" and request.headers.get("Authorization") != EXPECTED:
        return web.Response(status=403, text="no backend token")
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), access_log=None, print=None)
"""
NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body_temp;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    keepalive_requests 1000000;
    upstream backend {{
        server {backend};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen {listen} ssl;
        ssl_certificate {dir}/nginx.crt;
        ssl_certificate_key {dir}/nginx.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {token}";
        }}
    }}
}}
"""


def progress(message: str) -> None:
    print(f"[dataplane] {message}", file=sys.stderr, flush=True)


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def wait_for(url: str, *, verify: ssl.SSLContext | bool = False, headers: dict | None = None,
             proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Until ``url`` answers 200 (a process that exits first, or the timeout: SystemExit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, verify=verify, headers=headers).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within {timeout} s")


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str  # a key of LABELS
    p50: float  # ms, sequential requests on one kept-alive connection
    p99: float
    requests: int  # completed (200) under load
    errors: int
    seconds: float
    rate: float  # requests / seconds
    load_p50: float  # ms, under --concurrency connections
    load_p99: float
    proxy_cpu: float | None = None  # CPU seconds of the proxy's processes during the load phase

    @property
    def proxy_ms_per_request(self) -> float | None:
        return self.proxy_cpu * 1000 / self.requests if self.proxy_cpu is not None and self.requests else None


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU seconds of these processes and their children (None without /proc)."""
    total = 0
    try:
        for pid in pids:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for each in [pid, *map(int, children)]:
                fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method; a single value is its own percentile)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def sequential(url: str, samples: int, ctx: ssl.SSLContext | None, headers: dict) -> list[float]:
    """Milliseconds per GET, one kept-alive connection, after WARMUP requests."""
    connector = aiohttp.TCPConnector(limit=1, ssl=ctx if ctx else False)
    out = []
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for i in range(samples + WARMUP):
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    raise SystemExit(f"{url}: {response.status} during the latency run")
            if i >= WARMUP:
                out.append((time.perf_counter() - start) * 1000)
    return out


async def loaded(url: str, seconds: float, max_requests: int, concurrency: int,
                 ctx: ssl.SSLContext | None, headers: dict,
                 cpu: Callable[[], float | None]) -> tuple[list[float], int, float, float | None]:
    """``concurrency`` workers on kept-alive connections until the time or the request budget
    is spent: (milliseconds of each 200, errors, wall seconds, ``cpu()`` spent meanwhile)."""
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ctx if ctx else False)
    times: list[float] = []
    errors = started = 0

    async def worker(session: aiohttp.ClientSession, stop: float) -> None:
        nonlocal errors, started
        while time.monotonic() < stop and started < max_requests:
            started += 1
            begin = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    if response.status == 200:
                        times.append((time.perf_counter() - begin) * 1000)
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1

    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        # open the connections (and their TLS handshakes) before the clock starts
        await asyncio.gather(*(_get(session, url) for _ in range(concurrency)))
        cpu_before, begin = cpu(), time.perf_counter()
        stop = time.monotonic() + seconds
        await asyncio.gather(*(worker(session, stop) for _ in range(concurrency)))
        wall, cpu_after = time.perf_counter() - begin, cpu()
    spent = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return times, errors, wall, spent


async def _get(session: aiohttp.ClientSession, url: str) -> None:
    async with session.get(url) as response:
        await response.read()


def measure(scenario: str, url: str, ctx: ssl.SSLContext | None, headers: dict, proxy_pids: list[int],
            args: argparse.Namespace) -> Row:
    progress(f"{LABELS[scenario]}: {args.samples} sequential requests")
    seq = asyncio.run(sequential(url, args.samples, ctx, headers))
    progress(f"{LABELS[scenario]}: {args.concurrency} connections, up to {args.seconds:g} s "
             f"or {args.requests} requests")
    cpu = (lambda: cpu_seconds(proxy_pids)) if proxy_pids else (lambda: None)
    times, errors, wall, proxy_cpu = asyncio.run(
        loaded(url, args.seconds, args.requests, args.concurrency, ctx, headers, cpu))
    return Row(scenario, p50=statistics.median(seq), p99=percentile(seq, 99), requests=len(times),
               errors=errors, seconds=wall, rate=len(times) / wall,
               load_p50=statistics.median(times) if times else float("nan"),
               load_p99=percentile(times, 99), proxy_cpu=proxy_cpu)


# --- the servers ----------------------------------------------------------------------------


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen]]:
    """A list to start processes into; each is terminated (then killed) at the end."""
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_backend(procs: list[subprocess.Popen]) -> str:
    port = free_port(BACKEND_IP)
    procs.append(subprocess.Popen([sys.executable, "-c", BACKEND, BACKEND_IP, str(port), BACKEND_TOKEN]))
    wait_for(f"http://{BACKEND_IP}:{port}/health", proc=procs[-1])
    return f"{BACKEND_IP}:{port}"


def start_nginx(procs: list[subprocess.Popen], binary: str, tmp: Path, backend: str, ca: LabCA,
                trust: ssl.SSLContext, workers: int) -> str:
    """nginx as a TLS reverse proxy to ``backend`` (everything under ``tmp/nginx``); its URL."""
    home = tmp / "nginx"
    home.mkdir()
    issued = ca.issue("nginx.lab.test", sans=("nginx.lab.test", NGINX_IP))
    (home / "nginx.crt").write_bytes(issued.cert_pem)
    (home / "nginx.key").write_bytes(issued.key_pem)
    listen = f"{NGINX_IP}:{free_port(NGINX_IP)}"
    (home / "nginx.conf").write_text(NGINX_CONF.format(
        user="user root;\n" if os.geteuid() == 0 else "", workers=workers, dir=home,
        backend=backend, listen=listen, token=BACKEND_TOKEN))
    procs.append(subprocess.Popen([binary, "-c", str(home / "nginx.conf"), "-p", str(home),
                                   "-e", str(home / "error.log")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    url = f"https://{listen}{PATH}"
    try:
        wait_for(url, verify=trust, proc=procs[-1])
    except SystemExit:
        log = home / "error.log"
        raise SystemExit(f"nginx did not serve {url}: "
                         f"{log.read_text()[-400:] if log.exists() else 'no error.log'}") from None
    return url


def start_lab(procs: list[subprocess.Popen], tmp: Path) -> str:
    """``adcml lab-adc --data-plane``; its log (the access lines too) goes to ``tmp/lab.log``."""
    nitro = f"127.0.0.1:{free_port('127.0.0.1')}"
    with open(tmp / "lab.log", "wb") as log:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "adcml.cli", "lab-adc", "--listen", nitro, "--data-plane",
             "--state-dir", str(tmp / "lab")],
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=log))
    try:
        wait_for(f"http://{nitro}/lab/health", proc=procs[-1])
    except SystemExit as exc:
        raise SystemExit(f"{exc}: {(tmp / 'lab.log').read_text(errors='replace')[-400:]}") from None
    return nitro


def converge_gateway(nitro: str, tmp: Path, backend: str, idp: LabIdP, ca: LabCA) -> str:
    """The secure gateway onto the lab; its URL."""
    issued = ca.issue("bench.lab.test", sans=("bench.lab.test", VIP))
    (tmp / "gw.crt").write_bytes(issued.cert_pem)
    (tmp / "gw.key").write_bytes(issued.key_pem)
    port = free_port(VIP)
    host, member_port = backend.split(":")
    spec = load_spec({
        "name": "bench",
        "frontend": {"vip": VIP, "port": port, "protocol": "https",
                     "tls": {"cert_file": str(tmp / "gw.crt"), "key_file": str(tmp / "gw.key")}},
        "auth": {"oidc": {"issuer": idp.issuer, "jwks_url": idp.jwks_uri, "audience": AUDIENCE,
                          "token_endpoint": idp.discovery()["token_endpoint"]}},
        "pools": [{"name": "m", "match": {"path_prefix": PATH},
                   "members": [{"host": host, "port": int(member_port)}],
                   "require_groups": [GROUP], "backend_token": BACKEND_TOKEN}],
        "default_pool": "m",
        "rate_limit": {"requests": 1_000_000, "per_ms": 1000, "key": "user"},
        "audit": {},
    })
    with NitroClient(nsip=nitro, protocol="http", username="nsroot", password="nsroot") as client:
        converge(client, spec)
    return f"https://{VIP}:{port}{PATH}"


def check_lab_refuses(url: str, trust: ssl.SSLContext, outsider: str) -> None:
    """The lab must validate: 401 without a token, 403 for a token without the group."""
    for label, headers, expected in (("no token", {}, 401),
                                     ("a token without the group", bearer(outsider), 403)):
        status = httpx.get(url, verify=trust, headers=headers, timeout=5).status_code
        if status != expected:
            raise SystemExit(f"lab ADC answered {status} to {label} (expected {expected})")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the run and the table -----------------------------------------------------------------


def median_of(runs: list[list[Row]]) -> list[Row]:
    """Per scenario, the median of each figure over the runs (errors: their sum)."""
    out = []
    for i, first in enumerate(runs[0]):
        same = [run[i] for run in runs]
        values = {f.name: statistics.median(getattr(r, f.name) for r in same)
                  for f in fields(Row) if f.name not in ("scenario", "errors", "proxy_cpu")}
        cpu = [r.proxy_cpu for r in same if r.proxy_cpu is not None]
        values["requests"] = round(values["requests"])
        out.append(replace(first, **values, errors=sum(r.errors for r in same),
                           proxy_cpu=statistics.median(cpu) if len(cpu) == len(same) else None))
    return out


def benchmark(args: argparse.Namespace) -> tuple[list[Row], str | None]:
    """Median rows (SCENARIOS order) of ``args.repeat`` runs, each scenario once per run, and
    why nginx was skipped (None when it ran)."""
    binary = None if args.no_nginx else nginx_binary()
    skipped = None if binary else ("nginx: skipped (--no-nginx)" if args.no_nginx else NGINX_SKIPPED)
    runs: list[list[Row]] = []
    ca = LabCA()
    trust = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with tempfile.TemporaryDirectory(prefix="adcml-dataplane-") as tmp_name, \
            processes() as procs, LabIdP() as idp:
        tmp = Path(tmp_name)
        progress("starting the backend, the lab ADC" + ("" if skipped else " and nginx"))
        backend = start_backend(procs)
        nitro = start_lab(procs, tmp)
        lab = procs[-1]
        nginx_url = None if skipped else start_nginx(procs, binary, tmp, backend, ca, trust,
                                                      args.nginx_workers)
        lab_url = converge_gateway(nitro, tmp, backend, idp, ca)
        token = idp.token("ana", groups=[GROUP], audience=AUDIENCE)
        wait_for(lab_url, verify=trust, headers=bearer(token), proc=lab)  # monitor UP, JWKS fetched
        check_lab_refuses(lab_url, trust, idp.token("ben", groups=["others"], audience=AUDIENCE))
        targets = {"direct": (f"http://{backend}{PATH}", None, bearer(BACKEND_TOKEN), []),
                   "nginx": (nginx_url, trust, {}, [] if skipped else [procs[-1].pid]),
                   "lab": (lab_url, trust, bearer(token), [lab.pid])}
        for n in range(args.repeat):
            progress(f"run {n + 1}/{args.repeat}")
            runs.append([measure(scenario, *targets[scenario], args)
                         for scenario in SCENARIOS if targets[scenario][0] is not None])
    return median_of(runs), skipped


def table(rows: list[Row]) -> str:
    """Aligned plain text; "added p50" is the scenario's sequential p50 minus direct's."""
    direct = next((r for r in rows if r.scenario == "direct"), None)
    header = ("scenario", "requests", "errors", "seconds", "req/s", "p50 ms", "p99 ms",
              "added p50 ms", "load p50 ms", "load p99 ms", "proxy CPU ms/req")
    lines = [header] + [
        (LABELS[r.scenario], str(r.requests), str(r.errors), f"{r.seconds:.2f}", f"{r.rate:.0f}",
         f"{r.p50:.2f}", f"{r.p99:.2f}",
         "-" if direct is None or r is direct else f"{r.p50 - direct.p50:+.2f}",
         f"{r.load_p50:.2f}", f"{r.load_p99:.2f}",
         "-" if r.proxy_ms_per_request is None else f"{r.proxy_ms_per_request:.3f}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load phase: at most this long")
    parser.add_argument("--requests", type=int, default=50_000,
                        help="load phase: at most this many requests")
    parser.add_argument("--concurrency", type=int, default=32, help="load phase: kept-alive connections")
    parser.add_argument("--samples", type=int, default=1000, help="latency phase: sequential requests")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the table shows medians")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--no-nginx", action="store_true", help="leave nginx out")
    args = parser.parse_args(argv)
    rows, skipped = benchmark(args)
    nginx = "" if skipped else f"nginx ({args.nginx_workers} worker), "
    print(f"data plane: 1 HTTPS CS vserver -> 1 pool x 1 member; {os.cpu_count()} CPUs; client, "
          f"lab ADC, {nginx}backend each a process on this machine, loopback")
    print(f"latency: {args.samples} sequential GETs on one kept-alive connection; load: {args.concurrency} "
          f"kept-alive connections, at most {args.seconds:g} s or {args.requests} requests")
    print(table(rows))
    if skipped:
        print(skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
