"""Dynamic batching: inputs from concurrent requests wait in one queue; each stream (a thread)
takes up to ``max_batch_size`` of them and runs the hooks ``batch`` -> ``predict`` ->
``unbatch`` on them as one forward pass.

A stream starts a batch as soon as it is full, or ``max_wait`` after its oldest input was
queued, whichever comes first; an input that already waited (because every stream was busy)
starts the next batch at once. Several streams overlap one batch's Python work with another's
forward pass and, on CPU, use one core each; streams that are idle together split the queue
between them rather than one taking it all.

Failures stay with the input that caused them: ``batch`` reports per-input errors, and if a
hook raises for the whole batch the batcher runs each input alone, so only the inputs that fail
on their own get an error. Results go back to the event loop with one call per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from adcml.serve.api import Item, ModelAPI, Output
from adcml.serve.errors import BackendError, NotReady, RequestError
from adcml.serve.metrics import Metrics

log = logging.getLogger(__name__)

Result = Output | RequestError


@dataclass
class _Ticket:
    """One request's share of the queue: its future and the results gathered so far."""

    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    results: list[Result | None]
    remaining: int


@dataclass
class _Entry:
    item: Item
    ticket: _Ticket
    queued: float = field(default_factory=time.monotonic)


class Batcher:
    """Queue plus ``streams`` worker threads over one ``ModelAPI`` whose ``setup`` has run."""

    def __init__(self, api: ModelAPI, *, max_batch_size: int, max_wait: float, streams: int,
                 metrics: Metrics) -> None:
        self.api = api
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.streams = streams
        self.metrics = metrics
        self._pending: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._idle = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.streams):
            thread = threading.Thread(target=self._run, name=f"adcml-serve-batch-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Finish what is queued, then end the streams."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def submit(self, items: list[Item]) -> list[Result]:
        """Queue a request's inputs together; return one result per input, in order."""
        loop = asyncio.get_running_loop()
        ticket = _Ticket(loop.create_future(), loop, [None] * len(items), len(items))
        now = time.monotonic()
        with self._cond:
            if self._closing:
                raise NotReady("the server is shutting down", hint="send the request to another server")
            self._pending.extend(_Entry(item, ticket, now) for item in items)
            self.metrics.queue_depth.set(len(self._pending))
            self._cond.notify_all()
        return await ticket.future

    # --- streams ------------------------------------------------------------------------------
    def _run(self) -> None:
        while (entries := self._take()) is not None:
            try:
                self._process(entries)
            except Exception:  # never lose a stream: fail its inputs and go on
                log.exception("batch failed outside the hooks")
                self._deliver(entries, [BackendError("internal error while batching",
                                                     hint="retry; the server log has the traceback")]
                              * len(entries))

    def _take(self) -> list[_Entry] | None:
        """Wait for a batch: full, or its oldest input ``max_wait`` old. Idle streams share what is
        queued (each takes its part, up to the max batch size) so no core idles while another
        stream runs everything."""
        pending = self._pending
        with self._cond:
            self._idle += 1
            try:
                while True:
                    while pending and pending[0].ticket.future.cancelled():
                        pending.popleft()  # the client went away before its turn
                    if pending:
                        if len(pending) >= self.max_batch_size or self._closing:
                            break
                        remaining = pending[0].queued + self.max_wait - time.monotonic()
                        if remaining <= 0:
                            break
                        self._cond.wait(remaining)
                    elif self._closing:
                        return None
                    else:
                        self._cond.wait()
                share = -(-len(pending) // self._idle)
            finally:
                self._idle -= 1
            entries = [pending.popleft() for _ in range(min(self.max_batch_size, share))]
            self.metrics.queue_depth.set(len(pending))
            if pending:
                self._cond.notify()
        return entries

    def _process(self, entries: list[_Entry]) -> None:
        started = time.monotonic()
        for entry in entries:
            self.metrics.queue_wait.observe(started - entry.queued)
        items = [entry.item for entry in entries]
        try:
            results = self._hooks(items)
        except Exception as exc:
            if len(items) == 1:
                log.exception("forward pass failed for one input")
                results = [_backend_error(exc)]
            else:
                log.warning("batch of %d failed (%s); running its inputs one by one", len(items), exc)
                results = [self._alone(item) for item in items]
        self.metrics.batch_size.observe(len(items))
        self.metrics.batch_duration.observe(time.monotonic() - started)
        self._deliver(entries, results)

    def _hooks(self, items: list[Item]) -> list[Result]:
        api = self.api
        batch = api.batch(items)
        return api.unbatch(batch, api.predict(batch))

    def _alone(self, item: Item) -> Result:
        try:
            return self._hooks([item])[0]
        except Exception as exc:
            log.exception("forward pass failed for one input")
            return _backend_error(exc)

    def _deliver(self, entries: list[_Entry], results: list[Result]) -> None:
        by_loop: dict[Any, list[tuple[_Entry, Result]]] = {}
        for entry, result in zip(entries, results, strict=True):
            by_loop.setdefault(entry.ticket.loop, []).append((entry, result))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[_Entry, Result]]) -> None:
    """On the event loop: store each result, complete each request whose inputs are all done."""
    for entry, result in pairs:
        ticket = entry.ticket
        ticket.results[entry.item.index] = result
        ticket.remaining -= 1
        if ticket.remaining == 0 and not ticket.future.done():
            ticket.future.set_result(ticket.results)


def _backend_error(exc: Exception) -> BackendError:
    return BackendError(f"the forward pass failed: {type(exc).__name__}: {exc}",
                        hint="retry; if it fails again, the input triggers a model or device error "
                        "(see the server log)")
