"""Health monitors: probes as an appliance sends them, and the UP/DOWN state they drive.

One ``Prober`` task runs per (service group member, bound monitor). Semantics follow the
appliance's ``lbmonitor`` attributes:

- ``interval`` (``units3``) between probes; ``resptimeout`` (``units4``) per probe;
- ``retries``: consecutive failures that take an UP member DOWN (``failureretries``, when set,
  is how many of the last ``retries`` probes must fail);
- ``successretries``: consecutive successes that bring a DOWN member UP;
- ``downtime`` (``units2``): the wait before probing again a member marked DOWN.

Types: HTTP (``httprequest``, default ``HEAD /``, expecting a ``respcode`` list such as
``["200", "300-399"]``), HTTP-ECV (``send``, expecting ``recv`` in the response), TCP (connect),
TCP-ECV (``send``/``recv`` over TCP), PING (a TCP connect to the member's port: the lab sends no
ICMP). Other types are probed as TCP. ``secure YES`` probes over TLS as the member's SSL
service group says (``member_tls``: its SNI, and with ``serverauth`` its CA and common name, so
a member whose certificate fails verification is DOWN); members of other groups without
verifying the certificate. A member starts DOWN and is probed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from dataclasses import dataclass, field

from adcml.lab.emulators.adc.dataplane.member_tls import MemberTls
from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy, AddressRefused

log = logging.getLogger("adcml.lab.dataplane")
UNITS = {"SEC": 1.0, "MSEC": 0.001, "MIN": 60.0}
BUILTIN_REQUEST = "HEAD /"
READ_LIMIT = 65536
HTTP_TYPES = {"HTTP", "HTTP-ECV", "HTTP-INLINE", "HTTP2"}
UNVERIFIED = MemberTls()  # secure probes to members of groups that are not SSL


@dataclass(frozen=True)
class MonitorSpec:
    """One lbmonitor as the prober needs it (times in seconds)."""

    name: str
    type: str = "TCP"
    interval: float = 5.0
    resptimeout: float = 2.0
    downtime: float = 30.0
    retries: int = 3
    successretries: int = 1
    failureretries: int = 0
    httprequest: str | None = None
    respcodes: tuple[tuple[int, int], ...] = ((200, 200),)
    send: str | None = None
    recv: str | None = None
    customheaders: str | None = None
    secure: bool = False
    destport: int | None = None

    @classmethod
    def from_row(cls, row: dict) -> MonitorSpec:
        """From a stored ``lbmonitor`` row (canonical values; missing ones take defaults)."""
        def seconds(value_key: str, unit_key: str, default: float) -> float:
            value = row.get(value_key)
            return default if value is None else value * UNITS.get(row.get(unit_key, "SEC"), 1.0)

        return cls(
            name=row["monitorname"], type=row.get("type", "TCP"),
            interval=seconds("interval", "units3", 5.0),
            resptimeout=seconds("resptimeout", "units4", 2.0),
            downtime=seconds("downtime", "units2", 30.0),
            retries=row.get("retries", 3), successretries=row.get("successretries", 1),
            failureretries=row.get("failureretries", 0),
            httprequest=row.get("httprequest"), respcodes=parse_respcodes(row.get("respcode")),
            send=row.get("send"), recv=row.get("recv"), customheaders=row.get("customheaders"),
            secure=row.get("secure") == "YES", destport=row.get("destport") or None,
        )


def parse_respcodes(values: list[str] | None) -> tuple[tuple[int, int], ...]:
    """``["200", "300-399"]`` → ((200, 200), (300, 399)); nothing → 200 only."""
    out = []
    for value in values or ["200"]:
        low, _, high = str(value).partition("-")
        with contextlib.suppress(ValueError):
            out.append((int(low), int(high or low)))
    return tuple(out) or ((200, 200),)


@dataclass
class Probe:
    """The outcome of one probe, worded as an appliance's ``lastresponse``."""

    ok: bool
    response: str


async def probe(spec: MonitorSpec, ip: str, port: int, policy: AddressPolicy,
                tls: MemberTls | None = None) -> Probe:
    """Send one probe of ``spec`` to ip:port (destport overrides the port); ``tls``: the
    member's group's TLS settings, used when the monitor is secure."""
    port = spec.destport or port
    try:
        async with asyncio.timeout(spec.resptimeout):
            return await _probe(spec, ip, port, policy, tls or UNVERIFIED)
    except AddressRefused:
        return Probe(False, "Failure - address unreachable by policy; probe not sent.")
    except TimeoutError:
        return Probe(False, f"Failure - Time out during {spec.type} probe.")
    except ConnectionRefusedError:
        return Probe(False, "Failure - TCP syn sent, reset received.")
    except (OSError, ssl.SSLError, ValueError) as exc:
        return Probe(False, f"Failure - {type(exc).__name__}: {exc}")


async def _probe(spec: MonitorSpec, ip: str, port: int, policy: AddressPolicy,
                 tls: MemberTls) -> Probe:
    context = tls.context() if spec.secure else None
    reader, writer = await policy.open_connection(ip, port, tls=context, server_hostname=tls.sni)
    try:
        kind = spec.type
        if kind in HTTP_TYPES and kind != "HTTP-ECV":
            method, _, path = (spec.httprequest or BUILTIN_REQUEST).strip().partition(" ")
            writer.write(_http_request(method, path.strip() or "/", ip, port, spec.customheaders))
            status_line = await reader.readline()
            code = _status(status_line)
            if code is None:
                return Probe(False, "Failure - Invalid HTTP response received.")
            ok = any(low <= code <= high for low, high in spec.respcodes)
            word = "Success" if ok else "Failure"
            return Probe(ok, f"{word} - HTTP response code {code} received.")
        if kind in ("HTTP-ECV", "TCP-ECV") and (spec.send or spec.recv):
            if spec.send:
                if kind == "HTTP-ECV":
                    method, _, path = spec.send.strip().partition(" ")
                    writer.write(_http_request(method, path.strip() or "/", ip, port,
                                               spec.customheaders))
                else:
                    writer.write(spec.send.encode())
                await writer.drain()
            if not spec.recv:
                return Probe(True, "Success - Probe succeeded.")
            data = await reader.read(READ_LIMIT)
            while data and spec.recv.encode() not in data and len(data) < READ_LIMIT:
                more = await reader.read(READ_LIMIT - len(data))
                if not more:
                    break
                data += more
            ok = spec.recv.encode() in data
            return Probe(ok, "Success - Pattern found in response." if ok
                         else "Failure - Pattern not found in response.")
        return Probe(True, "Success - TCP syn sent, ack received.")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _http_request(method: str, path: str, ip: str, port: int, custom: str | None) -> bytes:
    host = f"[{ip}]" if ":" in ip else ip
    extra = ""
    if custom:
        extra = "".join(line.strip() + "\r\n" for line in custom.replace("\\r\\n", "\r\n")
                        .split("\r\n") if line.strip())
    return (f"{method.upper()} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"User-Agent: NetScaler-Monitor\r\n{extra}\r\n").encode()


def _status(line: bytes) -> int | None:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


@dataclass
class MonitorState:
    """What one monitor concluded about one member."""

    up: bool = False
    probed: bool = False
    marked_down: bool = False  # went DOWN after being UP: probe again after ``downtime``
    lastresponse: str = "Probe not yet sent."
    changed_at: float = field(default_factory=time.monotonic)
    window: list[bool] = field(default_factory=list)  # results since the last transition
    successes: int = 0

    def record(self, spec: MonitorSpec, ok: bool, response: str) -> bool:
        """Fold one probe result in; returns whether UP/DOWN changed."""
        self.lastresponse, self.probed = response, True
        if ok:
            self.successes += 1
            if not self.up and self.successes >= spec.successretries:
                return self._flip(True)
        else:
            self.successes = 0
        if self.up:
            self.window = (self.window + [ok])[-spec.retries:]
            needed = spec.failureretries if 0 < spec.failureretries <= spec.retries else spec.retries
            if self.window.count(False) >= needed:
                return self._flip(False)
        return False

    def _flip(self, up: bool) -> bool:
        self.up, self.marked_down = up, not up
        self.window, self.successes = [], 0
        self.changed_at = time.monotonic()
        return True


class Prober:
    """Probes one member with one monitor until stopped; ``on_change`` hears transitions."""

    def __init__(self, spec: MonitorSpec, ip: str, port: int, policy: AddressPolicy, on_change,
                 tls: MemberTls | None = None):
        self.spec = spec
        self.tls = tls
        self.ip, self.port = ip, port
        self.policy = policy
        self.state = MonitorState()
        self.on_change = on_change
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"monitor {self}")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def update(self, spec: MonitorSpec, tls: MemberTls | None = None) -> None:
        """A monitor (or its group's TLS) changed in place: probe with the new settings now
        (state is kept)."""
        if spec != self.spec or tls != self.tls:
            self.spec, self.tls = spec, tls
            self.stop()
            self.start()

    def __str__(self) -> str:
        return f"{self.spec.name}@{self.ip}:{self.port}"

    async def _run(self) -> None:
        while True:
            spec = self.spec  # a monitor updated in place applies from the next probe
            result = await probe(spec, self.ip, self.port, self.policy, self.tls)
            before = self.state.lastresponse
            if self.state.record(spec, result.ok, result.response):
                log.info("monitor %s: member %s:%s is now %s (%s)", spec.name, self.ip, self.port,
                         "UP" if self.state.up else "DOWN", result.response)
                self.on_change()
            elif result.response != before:
                self.on_change()
            wait = max(spec.downtime, spec.interval) if self.state.marked_down else spec.interval
            await asyncio.sleep(wait)
