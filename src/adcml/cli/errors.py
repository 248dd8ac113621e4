"""How the ``adcml`` command fails: exit codes, and one mapping from the exceptions of the layers
below to what the user reads.

Exit codes (as ``terraform plan -detailed-exitcode``)::

    0  success; for ``adcml gateway plan``: no changes
    1  an error, usage errors included (a bad option, a missing file)
    2  ``adcml gateway plan``: changes pending

Every user or environment error becomes one message that names the problem, and a ``Hint:``
with what to do; ``-vv`` adds the traceback (with the exception chain) above it:

    exception                                  message starts with / hint
    yaml.YAMLError                             not valid YAML: <line> / fix the syntax there
    gateway.SpecError(ValueError)              invalid gateway spec: <field path, or the file's
                                               line>: ... / fix them (the YAML, the file)
    gateway.GatherError(ValueError)            its own message / re-run apply with the spec
    engine.ObjectError(ValueError)             invalid NITRO object: <field>: ...
    engine.KeptValueMissing(ValueError)        its own message / give the value itself
    engine.ApplyError                          apply stopped: ... + what was applied / the cause's
                                               hint, then re-run to complete
    policy.ExpressionError(ValueError)         an expression NetScaler would refuse / change the
                                               value it quotes
    nitro.SettingsError(ValueError)            NITRO connection settings / set NETSCALER_...
    nitro.NitroTransportError                  cannot reach the ADC / check NETSCALER_NSIP ...
    nitro.NitroAPIError, HTTP 503              the ADC is unavailable / wait and re-run
    nitro.AuthenticationFailed                 the ADC refused the login / check NETSCALER_NITRO_USER
                                               and NETSCALER_NITRO_PASS
    nitro.NitroAPIError (other classes)        the ADC refused a request / per class, see _NITRO_API
    nitro.NitroError                           NITRO: ...
    hf.EndpointSpecError(ValueError)           invalid Inference Endpoint spec: <field>: ...
    hf.HfServiceError                          the Inference Endpoints service refused: ... / per
                                               HTTP status (401 token, 403 namespace, 404, 409)
    hf.HfTransportError                        cannot reach the service / check ADCML_HF_API_BASE
    hf.HfWaitError                             the endpoint failed or the wait ran out / re-run
    lab.LabError(RuntimeError), TestHostsError the lab's own message (it says what to do)
    serve.SettingsError(ValueError)            --<option>: <problem> / adcml serve --help
    serve.ServeError                           the model server: <its own message>
    OSError                                    <path>: <reason> / per errno (check the path, ...)
    anything else                              a bug: the traceback, always, then "internal error"

A bug keeps its traceback without ``-vv``: the first occurrence is the one to report, and
re-running to see it is not free (a re-run apply takes another path: it completes the work).

No message carries a secret: the NITRO errors redact themselves, and everything printed here is
scrubbed once more of the secrets in the environment (NETSCALER_NITRO_PASS, ...) and of key
material (``adcml.secret.looks_like_key_material``).
"""

from __future__ import annotations

import errno
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import click

from adcml.secret import MASK, looks_like_key_material


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # `adcml gateway plan`: changes pending


@dataclass(frozen=True)
class Failure:
    """What the user reads for one exception: the problem, and what to do about it."""

    message: str
    hint: str | None = None


class CommandError(click.ClickException):
    """An error reported as ``Error: <message>`` and ``Hint: <hint>``; exit 1."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        return scrub(self.message + (f"\nHint: {self.hint}" if self.hint else ""))


# --- the mapping ----------------------------------------------------------------------------------
# Keyed by the exception class's module and name, looked up along the exception's MRO (the most
# specific class first), so that this module imports none of those packages: together they cost
# about 0.7 s, which `adcml --help` and every command that needs only one of them would pay
# (measured with `python -X importtime`). tests/unit/test_cli_errors.py checks that every key
# names a real exception class, so a moved module fails a test rather than the mapping.

Describe = Callable[[Any], Failure]


def describe(exc: BaseException) -> Failure | None:
    """What to tell the user about ``exc``; None when it is none of the errors a user or the
    environment causes (then it is a bug)."""
    describer = describer_for(type(exc))
    return describer(exc) if describer is not None else None


def describer_for(cls: type[BaseException]) -> Describe | None:
    """The describer of the most specific class in ``cls``'s MRO that has one."""
    for base in cls.__mro__:
        describer = _DESCRIBERS.get(f"{base.__module__}.{base.__qualname__}")
        if describer is not None:
            return describer
    return None


def _yaml_error(exc: Any) -> Failure:
    return Failure("not valid YAML:\n  " + str(exc).replace("\n", "\n  "),
                   "fix the YAML syntax there (indentation, a missing ':' or a closing quote or "
                   "bracket)")


def _spec_error(exc: Any) -> Failure:
    # adcml.gateway.load names a problem of the file itself "(file)", and one of its YAML
    # "(line L, column C)" (or "(yaml)"); the others are field paths.
    where = {path for path, _ in exc.problems}
    if any(path.startswith(("(line ", "(yaml)")) for path in where):
        hint = "fix the YAML syntax there (indentation, a missing ':', a closing quote or bracket)"
    elif "(file)" in where:
        hint = "check the file's path, that it can be read, and that it is UTF-8 text"
    else:
        hint = "fix the fields named above; docs/gateway.md describes each one"
    return Failure(str(exc), hint)


def _gather_error(exc: Any) -> Failure:
    return Failure(str(exc), "an apply that stopped part-way, or a change by hand, leaves a gateway "
                             "so: re-run `adcml gateway apply` with its spec to complete it "
                             "(`adcml gateway plan` shows what differs)")


def _object_error(exc: Any) -> Failure:
    return Failure(f"invalid NITRO object: {exc}", "fix the fields named above")


def _kept_value_missing(exc: Any) -> Failure:
    return Failure(str(exc), "give the value itself in place of the marker that keeps the live one")


def _apply_error(exc: Any) -> Failure:
    shown = 20
    done = [change.line() for change in exc.done]
    lines = [f"apply stopped: {exc}"]
    if done:
        lines.append("applied before it (nothing is rolled back):")
        lines += [f"  {line}" for line in done[:shown]]
        if len(done) > shown:
            lines.append(f"  ... and {len(done) - shown} more")
    cause = describe(exc.cause) if exc.cause is not None else None
    rerun = ("re-run the same apply: it completes the work, and a partial apply never routes "
             "to a half-built pool (docs/gateway.md, Failure semantics)")
    hint = f"{cause.hint}; then {rerun}" if cause and cause.hint else rerun
    return Failure("\n".join(lines), hint)


def _expression_error(exc: Any) -> Failure:
    return Failure(f"a policy expression NetScaler would refuse: {exc}",
                   "the expression quotes a value of the input (a path, a host, a group): shorten "
                   "or change that value")


def _nitro_settings_error(exc: Any) -> Failure:
    from adcml.nitro.settings import ENV  # loaded already: the exception came from there

    variable = ENV.get(exc.field)
    hint = (f"set {variable}; " if variable else "") + (
        "the command reads its connection from NETSCALER_NSIP, NETSCALER_NITRO_USER, "
        "NETSCALER_NITRO_PASS, NETSCALER_NITRO_PROTOCOL (https or http), NETSCALER_VALIDATE_CERTS, "
        "NETSCALER_CA_BUNDLE")
    return Failure(f"NITRO connection settings: {exc}", hint)


def _nitro_transport_error(exc: Any) -> Failure:
    if "Hint:" in exc.detail:  # a TLS failure: the client says what to set
        return Failure(f"cannot reach the ADC: {exc}")
    return Failure(f"cannot reach the ADC: {exc}",
                   "check NETSCALER_NSIP (host or host:port) and NETSCALER_NITRO_PROTOCOL (https "
                   "or http), and that the ADC's management address answers from this machine")


# NITRO error class → (what happened, what to do). Classes not listed: "the ADC refused a
# request", and the appliance's own message, which names the argument or object.
_NITRO_API: dict[str, tuple[str, str | None]] = {
    "AuthenticationFailed": ("the ADC refused the login",
                             "check NETSCALER_NITRO_USER and NETSCALER_NITRO_PASS"),
    "NotAuthorized": ("the ADC refused the request: the user may not do this",
                      "use a NITRO user (NETSCALER_NITRO_USER) whose command policy allows it, "
                      "e.g. superuser"),
    "SessionExpired": ("the ADC ended the session again after a fresh login",
                       "re-run; if it persists, check the appliance's session limits"),
    "NotFound": ("the ADC lacks an object", "create it first, or fix the name that refers to "
                 "it (e.g. frontend.tls.certkey)"),
    "AlreadyExists": ("an object of that name already exists on the ADC",
                      "objects adcml does not own are never changed: remove or rename that "
                      "object, or choose another name"),
    "ResourceInUse": ("the ADC refused: the object is still in use",
                      "unbind or remove what refers to it first"),
    "OperationInProgress": ("the ADC is busy with another operation (often a config save)",
                            "wait for it to finish and re-run"),
    "FeatureNotAvailable": ("a feature the request needs is not enabled or not licensed",
                            "enable (or license) the feature the message names on the ADC"),
    "CertificateError": ("the ADC refused the certificate",
                         "check that the certificate and key files match and are PEM"),
}


def _nitro_api_error(exc: Any) -> Failure:
    if exc.status == 503:  # the client retried; every try answered 503
        return Failure(f"the ADC is unavailable (HTTP 503 to every retry): {exc}",
                       "the appliance is busy, starting up or failing over; wait a minute and "
                       "re-run")
    lead, hint = _NITRO_API.get(type(exc).__name__, ("the ADC refused a request", None))
    return Failure(f"{lead}: {exc}", hint)


def _nitro_error(exc: Any) -> Failure:
    return Failure(f"NITRO: {exc}")


def _endpoint_spec_error(exc: Any) -> Failure:
    return Failure(str(exc), "fix the fields named above; docs/hf-endpoints.md describes each one")


_HF_STATUS_HINTS = {
    400: "the service refused a value: fix the field its message names (`adcml hf hardware` "
         "lists the vendor, region, accelerator, instance type and size combinations)",
    401: "the token is missing or not valid: set HF_TOKEN to a valid token",
    403: "the token may not manage endpoints of that namespace: use a token of the namespace, "
         "or fix the namespace",
    404: "no such endpoint: check its name and namespace",
    409: "an endpoint of that name already exists in the namespace: choose another name",
}


def _hf_service_error(exc: Any) -> Failure:
    return Failure(f"the Inference Endpoints service refused: {exc}", _HF_STATUS_HINTS.get(exc.status))


def _hf_transport_error(exc: Any) -> Failure:
    return Failure(str(exc), "check ADCML_HF_API_BASE (or --api-base) and that this machine can "
                             "reach it; for the lab: adcml lab-hf")


def _hf_wait_error(exc: Any) -> Failure:
    return Failure(str(exc), "`adcml hf status NAME` shows the endpoint's state and message; a "
                             "re-run picks up where this one stopped")


def _hf_error(exc: Any) -> Failure:
    return Failure(f"Inference Endpoints: {exc}")


def _lab_error(exc: Any) -> Failure:
    return Failure(str(exc))  # the lab's messages say what to do


def _serve_settings_error(exc: Any) -> Failure:
    return Failure(f"--{exc.option.replace('_', '-')}: {exc.problem}",
                   "adcml serve --help lists the options and their values")


def _serve_error(exc: Any) -> Failure:
    return Failure(f"the model server: {exc}")


_OS_HINTS = {
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EISDIR: "give a file, not a directory",
    errno.EACCES: "check the permissions of the path",
    errno.EPERM: "check the permissions of the path",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOSPC: "free some disk space",
    errno.EADDRINUSE: "another process uses that address: stop it, or choose another address "
                      "or port",
    errno.EADDRNOTAVAIL: "that address is not on this machine: choose one that is",
}


def _os_error(exc: OSError) -> Failure:
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f"{exc.filename}: " if exc.filename is not None else ""
    return Failure(f"{where}{reason}", _OS_HINTS.get(exc.errno or 0))


_DESCRIBERS: dict[str, Describe] = {
    "yaml.error.YAMLError": _yaml_error,
    "adcml.gateway.spec.SpecError": _spec_error,
    "adcml.gateway.names.GatherError": _gather_error,
    "adcml.engine.objects.ObjectError": _object_error,
    "adcml.engine.objects.KeptValueMissing": _kept_value_missing,
    "adcml.engine.apply.ApplyError": _apply_error,
    "adcml.policy.errors.ExpressionError": _expression_error,
    "adcml.nitro.errors.SettingsError": _nitro_settings_error,
    "adcml.nitro.errors.NitroTransportError": _nitro_transport_error,
    "adcml.nitro.errors.NitroAPIError": _nitro_api_error,
    "adcml.nitro.errors.NitroError": _nitro_error,
    "adcml.hf.spec.EndpointSpecError": _endpoint_spec_error,
    "adcml.hf.client.HfServiceError": _hf_service_error,
    "adcml.hf.client.HfTransportError": _hf_transport_error,
    "adcml.hf.converge.HfWaitError": _hf_wait_error,
    "adcml.hf.client.HfError": _hf_error,
    "adcml.lab.orchestrator.errors.LabError": _lab_error,
    "adcml.serve.errors.SettingsError": _serve_settings_error,
    "adcml.serve.errors.ServeError": _serve_error,
    "builtins.OSError": _os_error,
}


# --- secrets ------------------------------------------------------------------------------------
# Secrets the command may hold in its environment: never printed, whatever message carries them.
SECRET_VARIABLES = ("NETSCALER_NITRO_PASS", "ADCML_SERVE_API_KEY", "API_KEY", "HF_TOKEN")
# Shorter values would garble messages (a one-letter "password" matches everywhere).
_MIN_SECRET_LEN = 3
_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*KEY[A-Z0-9 ]*-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)",
                        re.DOTALL)


def scrub(text: str) -> str:
    """``text`` without the environment's secrets and without key material."""
    for variable in SECRET_VARIABLES:
        value = os.environ.get(variable, "")
        if len(value) >= _MIN_SECRET_LEN:
            text = text.replace(value, MASK)
    if looks_like_key_material(text):
        text = _KEY_BLOCK.sub(MASK, text)
        if looks_like_key_material(text):  # a form the pattern does not cover: show none of it
            return "(a message that held key material, not shown)"
    return text


# --- the boundary -------------------------------------------------------------------------------
def _echo_traceback(exc: BaseException) -> None:
    click.echo(scrub("".join(traceback.format_exception(exc))).rstrip(), err=True)


def error_for(exc: Exception, verbosity: int = 0) -> CommandError:
    """The CommandError to report ``exc`` with; echoes the traceback first for a bug (always)
    and for any error at ``-vv``."""
    failure = describe(exc)
    if failure is None:
        _echo_traceback(exc)
        return CommandError(f"internal error: {type(exc).__name__}: {exc}",
                            "this is a bug in adcml, not a problem with the input or the ADC: "
                            "please report it with the traceback above and the command you ran")
    if verbosity >= 2:
        _echo_traceback(exc)
    return CommandError(failure.message, failure.hint)


class ErrorReportingGroup(click.Group):
    """The root group: turns every exception of a subcommand into a CommandError (exit 1, no
    traceback unless -vv or a bug), and makes usage errors exit 1, so that 2 only ever means
    "changes pending"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = ExitCode.ERROR
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's options or arguments
            exc.exit_code = ExitCode.ERROR
            raise
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            raise error_for(exc, ctx.params.get("verbose") or 0) from exc
