"""The appliance's software version, parsed from ``nsversion``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"NS(\d+\.\d+): Build (\d+\.\d+)")


@dataclass(frozen=True)
class NsVersion:
    """``release`` "14.1" and ``build`` "43.50" (None when unparseable); ``raw`` as sent."""

    raw: str
    release: str | None
    build: str | None

    @classmethod
    def parse(cls, raw: str) -> NsVersion:
        match = _VERSION.search(raw or "")
        if match is None:
            return cls(raw or "", None, None)
        return cls(raw, match.group(1), match.group(2))

    @property
    def as_tuple(self) -> tuple[int, ...]:
        """(14, 1, 43, 50) for ordering; () when the version could not be parsed."""
        if self.release is None or self.build is None:
            return ()
        return tuple(int(p) for p in f"{self.release}.{self.build}".split("."))

    def __str__(self) -> str:
        if self.release is None:
            return self.raw
        return f"NS{self.release} Build {self.build}"
