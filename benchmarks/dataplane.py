"""Data-plane benchmark: requests per second and added latency of the lab ADC's data plane.

    python benchmarks/dataplane.py [--seconds 5] [--concurrency 32] [--samples 1000]

It starts, each in its own process, ``adcml lab-adc --data-plane`` and a small model-server
stand-in (aiohttp, a JSON answer of ~100 bytes) on 127.0.5.1, converges an HTTPS gateway onto
the lab (TLS 1.2/1.3 with a lab CA certificate, one pool, HTTP monitor; the audit log written to
``<state-dir>/access.log``), then measures from this process:

- latency: ``--samples`` sequential small GETs over one kept-alive TLS connection through the
  lab, and over one kept-alive plain connection straight to the backend; "added" is the
  difference of the medians (what the lab costs a request: TLS, routing, proxying);
- throughput: ``--concurrency`` kept-alive TLS connections sending GETs for ``--seconds``;
- handshakes: new TLS connections per second (one GET each), ``--concurrency`` at a time.

The client shares the machine with the lab and the backend, so on a small machine the figures
are a floor. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from adcml.gateway import converge, load_spec
from adcml.lab.pki import LabCA
from adcml.nitro import NitroClient

VIP, BACKEND_IP = "127.0.0.50", "127.0.5.1"
BACKEND = """
import sys
from aiohttp import web
BODY = b'{"model": "m", "embedding": [0.1, 0.2, 0.3, 0.4], "usage": {"tokens": 4}}'
async def handle(request):
    await request.read()
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), access_log=None, print=None)
"""


def progress(message: str) -> None:
    print(f"[dataplane] {message}", file=sys.stderr, flush=True)


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1, verify=False)
            return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


async def latency(url: str, samples: int, ctx: ssl.SSLContext | None) -> list[float]:
    connector = aiohttp.TCPConnector(limit=1, ssl=ctx if ctx else False)
    out = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(samples + 50):
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200, response.status
            if i >= 50:  # warm-up
                out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(url: str, seconds: float, concurrency: int, ctx: ssl.SSLContext,
                     reuse: bool) -> tuple[int, int]:
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=ctx, force_close=not reuse)
    done = errors = 0
    stop = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            try:
                async with session.get(url) as response:
                    await response.read()
                    if response.status == 200:
                        done += 1
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    adcml = Path(sys.executable).with_name("adcml")
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            nitro_port, backend_port, vip_port = (free_port("127.0.0.1"), free_port(BACKEND_IP),
                                                  free_port(VIP))
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            procs.append(subprocess.Popen(
                [str(adcml), "lab-adc", "--listen", f"127.0.0.1:{nitro_port}", "--data-plane",
                 "--state-dir", str(Path(tmp) / "lab")], env=env, stdout=subprocess.DEVNULL))
            procs.append(subprocess.Popen([sys.executable, "-c", BACKEND, BACKEND_IP, str(backend_port)]))
            wait_for(f"http://127.0.0.1:{nitro_port}/lab/health")
            wait_for(f"http://{BACKEND_IP}:{backend_port}/health")
            ca = LabCA()
            issued = ca.issue("bench.lab.test", sans=("bench.lab.test", VIP))
            (Path(tmp) / "c.crt").write_bytes(issued.cert_pem)
            (Path(tmp) / "c.key").write_bytes(issued.key_pem)
            spec = load_spec({
                "name": "bench",
                "frontend": {"vip": VIP, "port": vip_port, "protocol": "https",
                             "tls": {"cert_file": str(Path(tmp) / "c.crt"),
                                     "key_file": str(Path(tmp) / "c.key")}},
                "pools": [{"name": "m", "match": {"path_prefix": "/v1/embeddings"},
                           "members": [{"host": BACKEND_IP, "port": backend_port}]}],
                "default_pool": "m",
            })
            with NitroClient(nsip=f"127.0.0.1:{nitro_port}", protocol="http", username="nsroot",
                             password="nsroot") as client:
                converge(client, spec)
            ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
            lab_url = f"https://{VIP}:{vip_port}/v1/embeddings"
            direct_url = f"http://{BACKEND_IP}:{backend_port}/v1/embeddings"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(lab_url, verify=ctx, timeout=2).status_code == 200:
                        break
                time.sleep(0.1)
            progress("latency")
            via = asyncio.run(latency(lab_url, args.samples, ctx))
            direct = asyncio.run(latency(direct_url, args.samples, None))
            progress("throughput (kept-alive TLS connections)")
            done, errors = asyncio.run(throughput(lab_url, args.seconds, args.concurrency, ctx, True))
            progress("throughput (a new TLS connection per request)")
            new_done, new_errors = asyncio.run(
                throughput(lab_url, args.seconds, args.concurrency, ctx, False))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    print(f"data plane: 1 HTTPS CS vserver -> 1 pool x 1 member; {os.cpu_count()} CPUs; "
          f"client, lab and backend on this machine")
    print(f"{'measure':44} {'value':>10}")
    print(f"{'p50 latency via lab (TLS, kept-alive), ms':44} {statistics.median(via):10.2f}")
    print(f"{'p95 latency via lab, ms':44} {pct(via, 95):10.2f}")
    print(f"{'p50 latency direct to backend (HTTP), ms':44} {statistics.median(direct):10.2f}")
    print(f"{'added by the lab at p50, ms':44} {statistics.median(via) - statistics.median(direct):10.2f}")
    print(f"{f'req/s, {args.concurrency} kept-alive TLS connections':44} {done / args.seconds:10.0f}")
    print(f"{'req/s, a new TLS connection per request':44} {new_done / args.seconds:10.0f}")
    print(f"{'errors':44} {errors + new_errors:10d}")


if __name__ == "__main__":
    main()
