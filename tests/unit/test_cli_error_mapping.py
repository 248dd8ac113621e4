"""adcml.cli.errors: the mapping is complete (every error of the layers below has a message, and
every name in the table is a real class), a bug keeps its traceback, and nothing printed holds a
secret."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import adcml.hf.client as hf_client
import adcml.nitro.errors as nitro_errors
import adcml.serve.errors as serve_errors
from adcml.cli import errors
from adcml.cli.errors import ErrorReportingGroup, describer_for, scrub
from adcml.engine import ApplyError, KeptValueMissing, ObjectError
from adcml.gateway import GatherError, SpecError
from adcml.hf import EndpointSpecError, HfWaitError
from adcml.lab.orchestrator.errors import LabError, TestHostsError
from adcml.policy import ExpressionError


def _classes(module, root: type) -> list[type]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, root) and c.__module__ == module.__name__]


USER_AND_ENVIRONMENT_ERRORS = [
    *_classes(nitro_errors, nitro_errors.NitroError),
    *_classes(serve_errors, serve_errors.ServeError),
    *_classes(hf_client, hf_client.HfError), EndpointSpecError, HfWaitError,
    SpecError, GatherError, ObjectError, KeptValueMissing, ApplyError, ExpressionError, LabError,
    TestHostsError,
    yaml.YAMLError, yaml.scanner.ScannerError, OSError, FileNotFoundError, NotADirectoryError,
]


def test_every_name_in_the_mapping_is_an_exception_class():
    for name in errors._DESCRIBERS:
        module, _, attr = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attr)
        assert issubclass(cls, BaseException), name


@pytest.mark.parametrize("cls", USER_AND_ENVIRONMENT_ERRORS, ids=lambda c: c.__qualname__)
def test_every_error_of_the_layers_below_has_a_message(cls):
    assert describer_for(cls) is not None


def test_a_refusal_of_the_endpoints_service_says_what_to_fix_by_its_status():
    forbidden = errors.describe(hf_client.HfServiceError("create acme/embedder", 403, "no access"))
    assert "create acme/embedder: HTTP 403: no access" in forbidden.message
    assert "namespace" in forbidden.hint
    assert "HF_TOKEN" in errors.describe(hf_client.HfServiceError("read a/b", 401, "x")).hint


def test_every_nitro_class_given_its_own_words_exists():
    for name in errors._NITRO_API:
        assert issubclass(getattr(nitro_errors, name), nitro_errors.NitroAPIError), name


def test_the_two_settings_errors_are_told_apart():
    nitro = errors.describe(nitro_errors.SettingsError("password", "missing"))
    serve = errors.describe(serve_errors.SettingsError("max_batch_size", "must be at least 1"))
    assert nitro.hint.startswith("set NETSCALER_NITRO_PASS;")
    assert serve.message == "--max-batch-size: must be at least 1"


@click.group(cls=ErrorReportingGroup)
@click.option("-v", "--verbose", count=True)
def cli(verbose: int) -> None:
    """A root group like adcml's, with one command that has a bug and one that meets a user error."""


@cli.command()
def buggy() -> None:
    {}["missing"]  # noqa: B018 — a KeyError nobody maps: a bug


@cli.command()
@click.argument("path", type=Path)
def read(path: Path) -> None:
    path.read_text()


def test_a_bug_shows_its_traceback_without_vv_and_says_it_is_a_bug():
    result = CliRunner().invoke(cli, ["buggy"])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "KeyError: 'missing'" in result.output
    assert "Error: internal error: KeyError: 'missing'" in result.output
    assert "Hint: this is a bug in adcml" in result.output


def test_a_user_error_shows_its_traceback_only_with_vv(tmp_path):
    missing = tmp_path / "nowhere.txt"
    plain = CliRunner().invoke(cli, ["read", str(missing)])
    assert plain.exit_code == 1 and "Traceback" not in plain.output
    assert f"Error: {missing}: No such file or directory\nHint: check the path" in plain.output
    detailed = CliRunner().invoke(cli, ["-vv", "read", str(missing)])
    assert detailed.exit_code == 1 and "Traceback" in detailed.output
    assert "FileNotFoundError" in detailed.output


def test_scrub_masks_the_environments_secrets(monkeypatch):
    monkeypatch.setenv("NETSCALER_NITRO_PASS", "hunter22")
    assert scrub("login with hunter22 failed") == "login with *** failed"


def test_scrub_masks_private_key_blocks_and_keeps_the_rest():
    text = ("key_file: -----BEGIN RSA PRIVATE KEY----- MIIEow -----END RSA PRIVATE KEY----- "
            "is not a readable file")
    assert scrub(text) == "key_file: *** is not a readable file"


def test_scrub_withholds_a_message_with_key_material_it_cannot_cut_out():
    assert "AAAA" not in scrub("key: PuTTY-User-Key-File-3: ssh-ed25519 AAAA")
