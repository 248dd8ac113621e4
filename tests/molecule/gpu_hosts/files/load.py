"""A bounded load loop through the gateway's VIP, for the rolling update of the gpu_hosts
scenario: ``--concurrency`` clients POST /embed until the stop file appears, ``--max-requests``
have been sent or ``--max-seconds`` have passed, whichever comes first; then the counts (and
the first failures) go to ``--out`` as JSON. A request fails unless it answers 200 with one
embedding of ``--dim`` floats."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.05,
                        help="seconds each client waits between requests (a steady load, not a flood)")
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()

    lock = threading.Lock()
    counts: Counter = Counter()
    failures: list[dict] = []
    sent = 0
    start = time.monotonic()
    deadline = start + args.max_seconds

    def take() -> int | None:
        nonlocal sent
        with lock:
            if sent >= args.max_requests or time.monotonic() > deadline or args.stop_file.exists():
                return None
            sent += 1
            return sent

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while (n := take()) is not None:
                at = round(time.monotonic() - start, 3)
                try:
                    response = http.post(args.url, json={"inputs": f"request {n} through the ADC"})
                    body = response.json() if response.status_code == 200 else None
                    ok = (isinstance(body, list) and len(body) == 1 and len(body[0]) == args.dim)
                    detail = f"HTTP {response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                with lock:
                    counts["ok" if ok else "failed"] += 1
                    if not ok and len(failures) < 20:
                        failures.append({"n": n, "at": at, "detail": detail})
                time.sleep(args.pause)

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {"ok": counts["ok"], "failed": counts["failed"], "sent": sent,
              "seconds": round(time.monotonic() - start, 3),
              "stopped_by": "stop file" if args.stop_file.exists() else "limit", "failures": failures}
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
