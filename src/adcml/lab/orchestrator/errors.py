"""What the orchestrator raises: ``LabError``, and ``TestHostsError`` for the test hosts.

    LabError                a lab command could not do what it was asked
    └── TestHostsError      test hosts could not be brought up, down or read

Each message says why and what to do.
"""

from __future__ import annotations


class LabError(RuntimeError):
    """A lab command could not do what it was asked (the message says why and what to do)."""


class TestHostsError(LabError):
    """Test hosts could not be brought up, down or read (the message says why and what to do)."""

    __test__ = False  # not a pytest test class
