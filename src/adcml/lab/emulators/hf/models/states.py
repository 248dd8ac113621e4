"""An endpoint's states, as the service names them, and which operation each one allows."""

from __future__ import annotations

from enum import StrEnum

from adcml.lab.emulators.hf.exceptions import BadRequest


class State(StrEnum):
    PENDING = "pending"
    INITIALIZING = "initializing"
    UPDATING = "updating"
    UPDATE_FAILED = "updateFailed"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    SCALED_TO_ZERO = "scaledToZero"


MESSAGES = {
    State.PENDING: "Endpoint waiting to be scheduled",
    State.INITIALIZING: "Endpoint is initializing",
    State.UPDATING: "Endpoint is updating",
    State.UPDATE_FAILED: "Endpoint failed to update",
    State.RUNNING: "Endpoint is ready",
    State.PAUSED: "Endpoint is paused",
    State.FAILED: "Endpoint failed to deploy",
    State.SCALED_TO_ZERO: "Endpoint is scaled to zero",
}

# A replica is wanted (starting or serving): a restart of the stand-in brings these back.
DEPLOYED = frozenset({State.PENDING, State.INITIALIZING, State.UPDATING, State.RUNNING})
# status.url is given in these only, as the service gives it once an endpoint has been deployed.
ADDRESSABLE = frozenset({State.RUNNING, State.SCALED_TO_ZERO, State.UPDATING})
# Where the quota is not held: nothing runs and nothing wakes by itself.
RELEASED = frozenset({State.PAUSED, State.FAILED, State.UPDATE_FAILED})


def replicas(state: State) -> tuple[int, int]:
    """(readyReplica, targetReplica): the stand-in runs one replica whatever the scaling says."""
    if state is State.RUNNING:
        return 1, 1
    if state in (State.PAUSED, State.SCALED_TO_ZERO):
        return 0, 0
    return 0, 1


def check_pause(name: str, state: State) -> None:
    if state is State.PAUSED:
        raise BadRequest(f"Endpoint {name} is already paused")


def check_resume(name: str, state: State) -> None:
    """The client's ``resume(running_ok=True)`` looks for "already running" in this 400."""
    if state is State.RUNNING:
        raise BadRequest(f"Endpoint {name} is already running")
    if state in DEPLOYED:
        raise BadRequest(f"Endpoint {name} is already running (state {state}): wait for it")


def check_scale_to_zero(name: str, state: State) -> None:
    if state is State.SCALED_TO_ZERO:
        raise BadRequest(f"Endpoint {name} is already scaled to zero")
    if state is State.PAUSED:
        raise BadRequest(f"Endpoint {name} is paused: resume it first")
    if state not in DEPLOYED:
        raise BadRequest(f"Endpoint {name} has no replica to scale down (state {state}): resume it first")


__all__ = ["ADDRESSABLE", "DEPLOYED", "MESSAGES", "RELEASED", "State", "check_pause", "check_resume",
           "check_scale_to_zero", "replicas"]
