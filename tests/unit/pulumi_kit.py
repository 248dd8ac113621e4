"""What the tests of the Pulumi program share: the SDK's mocks set up for one test (or module)
and Pulumi's global settings put back afterwards, so that modules using mocks do not disturb
each other, whatever runs before them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor

# Pulumi's runtime settings are process-wide: properties of one object, each over a ContextVar.
_CONTEXT_PROPERTY = type(vars(settings.Settings)["monitor"])
_SETTINGS_FIELDS = [name for name, attr in vars(settings.Settings).items()
                    if isinstance(attr, _CONTEXT_PROPERTY)]


@contextlib.contextmanager
def mocked(mocks: pulumi.runtime.Mocks, monitor: MockMonitor, **options) -> Iterator[None]:
    """``pulumi.runtime.set_mocks(mocks, monitor=monitor, ...)`` with a fresh root stack and an
    event loop of its own (a test that ran ``asyncio.run`` before leaves none); afterwards the
    settings, the root and the loop are as they were."""
    saved = {name: getattr(settings.SETTINGS, name) for name in _SETTINGS_FIELDS}
    saved_root = settings.get_root_resource()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    settings.ROOT.set(None)  # set_mocks registers a new root stack only when there is none
    pulumi.runtime.set_mocks(mocks, monitor=monitor, **{"preview": False, **options})
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings.SETTINGS, name, value)
        settings.ROOT.set(saved_root)
        asyncio.set_event_loop(None)
        loop.close()
