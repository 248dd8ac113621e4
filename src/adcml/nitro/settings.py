"""Connection settings for one NITRO endpoint, validated on construction.

``Settings.from_env()`` reads the variables of the vendor's Ansible collection
(``NETSCALER_NSIP``, ``NETSCALER_NITRO_USER``, ...) so one environment drives both.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from adcml.nitro.errors import SettingsError
from adcml.secret import Secret


class AuthMode(StrEnum):
    """How requests authenticate."""

    SESSION = "session"  # login once, send the NITRO_AUTH_TOKEN cookie
    HEADER = "header"  # X-NITRO-USER / X-NITRO-PASS on every request, no session


@dataclass(frozen=True)
class ConnectionOption:
    """One connection setting as every front-end spells it: the :class:`Settings` field, the
    Ansible module option, and the environment variable (the name the vendor's NetScaler
    collection reads), with the option's type as Ansible names it (str, bool, path)."""

    field: str
    option: str
    env: str
    type: str = "str"
    secret: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


# The one table of connection options: Settings.from_env reads ENV, the Ansible modules derive
# their options (module_utils/adcml_common.py) and doc_fragments/adcml.py documents them.
CONNECTION_OPTIONS: tuple[ConnectionOption, ...] = (
    ConnectionOption("nsip", "nsip", "NETSCALER_NSIP"),
    ConnectionOption("username", "nitro_user", "NETSCALER_NITRO_USER"),
    ConnectionOption("password", "nitro_pass", "NETSCALER_NITRO_PASS", secret=True),
    ConnectionOption("protocol", "nitro_protocol", "NETSCALER_NITRO_PROTOCOL", default="https",
                     choices=("http", "https")),
    ConnectionOption("validate_certs", "validate_certs", "NETSCALER_VALIDATE_CERTS", type="bool",
                     default=True),
    ConnectionOption("ca_bundle", "ca_bundle", "NETSCALER_CA_BUNDLE", type="path"),
    ConnectionOption("partition", "partition", "NETSCALER_PARTITION"),
)

ENV: dict[str, str] = {o.field: o.env for o in CONNECTION_OPTIONS}
"""Settings field -> environment variable."""

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


@dataclass(frozen=True)
class Settings:
    """Where and how to reach one appliance (or the lab ADC).

    ``nsip`` is ``host``, ``host:port``, an IPv6 address, or ``[v6]:port``. ``password`` is
    stored as a :class:`~adcml.secret.Secret` and prints masked. ``timeout`` is the per-request
    timeout in seconds; ``session_timeout`` the idle timeout asked for at login.
    """

    nsip: str = ""
    username: str = ""
    password: Secret = field(default=Secret(""))
    protocol: str = "https"
    validate_certs: bool = True
    ca_bundle: str | None = None
    timeout: float = 30.0
    partition: str | None = None
    auth_mode: AuthMode = AuthMode.SESSION
    retries: int = 3
    backoff: float = 0.2
    session_timeout: int = 900

    def __post_init__(self) -> None:
        object.__setattr__(self, "password", _secret(self.password))
        object.__setattr__(self, "protocol", _protocol(self.protocol))
        object.__setattr__(self, "auth_mode", _auth_mode(self.auth_mode))
        object.__setattr__(self, "validate_certs", _bool("validate_certs", self.validate_certs))
        if self.ca_bundle is not None:
            object.__setattr__(self, "ca_bundle", _ca_bundle(self.ca_bundle))
        _split_nsip(self.nsip)  # validates
        if not self.username:
            raise SettingsError("username", f"missing; set username or {ENV['username']}")
        if not self.password:
            raise SettingsError("password", f"missing; set password or {ENV['password']}")
        _number("timeout", self.timeout, minimum=0, exclusive=True)
        _number("backoff", self.backoff, minimum=0)
        _integer("retries", self.retries, minimum=0)
        _integer("session_timeout", self.session_timeout, minimum=1)
        if self.partition is not None and not self.partition:
            object.__setattr__(self, "partition", None)
        if self.partition and self.auth_mode is AuthMode.HEADER:
            raise SettingsError(
                "partition", "needs auth_mode 'session' (a partition is switched per session)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from NETSCALER_* variables; explicit non-None ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _bool(name, raw, source=var) if name == "validate_certs" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def host(self) -> str:
        return _split_nsip(self.nsip)[0]

    @property
    def port(self) -> int | None:
        return _split_nsip(self.nsip)[1]

    @property
    def base_url(self) -> str:
        """``https://host[:port]``, with IPv6 hosts in brackets."""
        host, port = _split_nsip(self.nsip)
        if ":" in host:
            host = f"[{host}]"
        return f"{self.protocol}://{host}" + (f":{port}" if port is not None else "")


def _split_nsip(nsip: str) -> tuple[str, int | None]:
    if not isinstance(nsip, str) or not nsip.strip():
        raise SettingsError("nsip", f"missing; set nsip or {ENV['nsip']}")
    text = nsip.strip()
    if "://" in text:
        raise SettingsError(
            "nsip", f"give host or host:port without a scheme (set protocol), got {nsip!r}"
        )
    port_text: str | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise SettingsError("nsip", f"expected [ipv6]:port, got {nsip!r}")
        port_text = rest[1:] if rest else None
        _ipv6(host, nsip)
    elif text.count(":") > 1:
        host = text
        _ipv6(host, nsip)
    else:
        host, sep, port_part = text.partition(":")
        port_text = port_part if sep else None
        if not _HOSTNAME.match(host):
            raise SettingsError("nsip", f"not a host name or IP address: {nsip!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingsError("nsip", f"port must be 1-65535, got {port_text!r} in {nsip!r}")
    return host, int(port_text)


def _ipv6(host: str, nsip: str) -> None:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        raise SettingsError("nsip", f"not a valid IPv6 address: {nsip!r}") from None


def _secret(value: Any) -> Secret:
    if value is None:
        return Secret("")
    if not isinstance(value, str | Secret):
        raise SettingsError("password", f"must be a string, got {type(value).__name__}")
    return Secret.wrap(value)


def _protocol(value: Any) -> str:
    text = str(value).lower() if isinstance(value, str) else value
    if text not in ("http", "https"):
        raise SettingsError("protocol", f"must be 'http' or 'https', got {value!r}")
    return text


def _auth_mode(value: Any) -> AuthMode:
    try:
        return AuthMode(str(value).lower())
    except ValueError:
        raise SettingsError(
            "auth_mode", f"must be 'session' or 'header', got {value!r}"
        ) from None


def _bool(name: str, value: Any, source: str | None = None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    where = f"{name} (from {source})" if source else name
    raise SettingsError(where, f"must be true/false/yes/no/1/0, got {value!r}")


def _ca_bundle(value: Any) -> str:
    path = Path(os.fspath(value)).expanduser()
    if not path.exists():
        raise SettingsError("ca_bundle", f"no such file or directory: {str(path)!r}")
    return str(path)


def _number(name: str, value: Any, *, minimum: float, exclusive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(name, f"must be a number, got {value!r}")
    if value < minimum or (exclusive and value == minimum):
        relation = ">" if exclusive else ">="
        raise SettingsError(name, f"must be {relation} {minimum}, got {value!r}")


def _integer(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(name, f"must be an integer, got {value!r}")
    if value < minimum:
        raise SettingsError(name, f"must be >= {minimum}, got {value!r}")
