"""adcml.hf's spec and plan, offline: every bad field is named, the live JSON the service
returns compares equal to the spec it came from, and the steps lead to the desired state from
every state the service reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adcml.hf.plan import Live, Step, make_plan, next_step
from adcml.hf.spec import DesiredState, EndpointSpecError, create_arguments, parse_spec

SPEC: dict[str, Any] = {
    "name": "embedder",
    "namespace": "acme",
    "repository": "sentence-transformers/all-MiniLM-L6-v2",
    "task": "sentence-embeddings",
    "compute": {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu",
                "instance_type": "intel-spr", "instance_size": "x2"},
    "scaling": {"min_replica": 0, "max_replica": 2, "scale_to_zero_timeout": 15},
    "env": {"MAX_BATCH": "32"},
    "secrets": {"API_KEY": "s3cr3t-value"},
    "tags": ["prod", "embed"],
}


def live(state: str = "running", **changes: Any) -> dict[str, Any]:
    """The JSON the service answers for SPEC (as huggingface_hub's tests record it), with
    ``changes`` at dotted keys."""
    raw: dict[str, Any] = {
        "name": "embedder", "type": "protected", "accountId": None,
        "provider": {"vendor": "aws", "region": "us-east-1"},
        "compute": {"accelerator": "cpu", "instanceType": "intel-spr", "instanceSize": "x2",
                    "scaling": {"minReplica": 0, "maxReplica": 2, "scaleToZeroTimeout": 15}},
        "model": {"repository": "sentence-transformers/all-MiniLM-L6-v2",
                  "revision": "a0b1c2d3", "task": "sentence-embeddings", "framework": "pytorch",
                  "image": {"huggingface": {}}, "env": {"MAX_BATCH": "32"},
                  "secrets": {"API_KEY": "***"}},
        "status": {"state": state, "url": "https://127.0.0.1:4443"},
        "healthRoute": "/health", "tags": ["embed", "prod"],
    }
    for key, value in changes.items():
        node = raw
        *parents, last = key.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return raw


def test_the_live_json_of_the_spec_is_no_change() -> None:
    plan = make_plan(parse_spec(SPEC), "acme", DesiredState.PRESENT, live())
    assert plan.differences == {} and plan.steps == [] and not plan.changed
    assert "No changes" in plan.render()


def test_a_changed_field_is_an_update_with_only_that_argument() -> None:
    plan = make_plan(parse_spec(SPEC), "acme", DesiredState.PRESENT,
                     live(compute__scaling={"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 15}))
    assert plan.differences == {"compute.scaling.maxReplica": (1, 2)}
    assert plan.steps == [Step.UPDATE, Step.WAIT]
    assert plan.update_arguments({"API_KEY": "s3cr3t-value"}) == {"max_replica": 2}


def test_secrets_are_compared_by_name_and_sent_only_when_the_names_change_or_always() -> None:
    spec = parse_spec(SPEC)
    assert make_plan(spec, "acme", DesiredState.PRESENT, live()).steps == []
    renamed = make_plan(spec, "acme", DesiredState.PRESENT, live(model__secrets={"OLD": "***"}))
    assert renamed.differences == {"model.secrets": (["OLD"], ["API_KEY"])}
    assert renamed.update_arguments({"API_KEY": "v"}) == {"secrets": {"API_KEY": "v"}}
    always = make_plan(parse_spec(SPEC | {"update_secrets": "always"}), "acme", DesiredState.PRESENT,
                       live())
    assert always.changed and always.update_arguments({"API_KEY": "v"}) == {"secrets": {"API_KEY": "v"}}


def test_no_secret_value_in_the_plan_its_rendering_or_its_diff() -> None:
    for raw in (None, live(model__secrets={"OLD": "***"})):
        plan = make_plan(parse_spec(SPEC | {"update_secrets": "always"}), "acme", DesiredState.PRESENT, raw)
        for shown in (plan.render(), repr(plan.to_dict()), repr(plan.diff())):
            assert "s3cr3t-value" not in shown


def test_what_the_spec_leaves_open_is_the_services_choice() -> None:
    spec = parse_spec({k: v for k, v in SPEC.items() if k != "tags"})
    assert make_plan(spec, "acme", DesiredState.PRESENT,
                     live(model__revision="ffff0000", tags=["x"])).steps == []


def test_protected_and_authenticated_are_the_same_type() -> None:
    for given in ("protected", "authenticated"):
        assert make_plan(parse_spec(SPEC | {"type": given}), "acme", DesiredState.PRESENT,
                         live()).steps == []


def test_a_custom_image_matches_when_the_service_adds_defaults() -> None:
    spec = parse_spec(SPEC | {"custom_image": {"url": "ghcr.io/acme/tei:1", "health_route": "/health"}})
    filled = {"custom": {"url": "ghcr.io/acme/tei:1", "health_route": "/health", "port": 80}}
    assert make_plan(spec, "acme", DesiredState.PRESENT, live(model__image=filled)).steps == []
    other = {"custom": {"url": "ghcr.io/acme/tei:2", "health_route": "/health", "port": 80}}
    plan = make_plan(spec, "acme", DesiredState.PRESENT, live(model__image=other))
    assert plan.update_arguments({})["custom_image"] == {"url": "ghcr.io/acme/tei:1",
                                                         "health_route": "/health"}


@pytest.mark.parametrize(("key", "field"), [("provider__region", "compute.region"),
                                            ("type", "type")])
def test_a_field_the_service_cannot_update_is_refused_before_any_write(key: str, field: str) -> None:
    with pytest.raises(EndpointSpecError) as caught:
        make_plan(parse_spec(SPEC), "acme", DesiredState.PRESENT,
                  live(**{key: "eu-west-1" if "region" in key else "public"}))
    assert caught.value.problems[0][0] == field and "delete the endpoint first" in str(caught.value)


@pytest.mark.parametrize("target", list(DesiredState))
@pytest.mark.parametrize("state", [None, *Live])
def test_the_steps_lead_to_the_target_from_every_state(state: str | None, target: DesiredState) -> None:
    plan = make_plan(parse_spec(SPEC), "acme", target, None if state is None else live(state))
    expected = {DesiredState.PRESENT: {"running", "scaledToZero"}, DesiredState.PAUSED: {"paused"},
                DesiredState.SCALED_TO_ZERO: {"scaledToZero"}, DesiredState.ABSENT: {None}}[target]
    assert plan.expected_state() in expected
    assert next_step(plan.expected_state(), target) is None


def test_create_sends_every_field_and_the_secret_only_there() -> None:
    arguments = create_arguments(parse_spec(SPEC))
    assert arguments["secrets"] == {"API_KEY": "s3cr3t-value"}
    assert (arguments["vendor"], arguments["instance_size"], arguments["min_replica"]) == ("aws", "x2", 0)
    plan = make_plan(parse_spec(SPEC), "acme", DesiredState.PRESENT, None)
    assert plan.steps == [Step.CREATE, Step.WAIT] and plan.diff()["before"] is None


def test_absent_needs_only_the_name_and_still_checks_what_is_given() -> None:
    spec = parse_spec({"name": "embedder", "namespace": "acme"}, "absent")
    plan = make_plan(spec, "acme", DesiredState.ABSENT, live())
    assert plan.steps == [Step.DELETE] and plan.diff() == {"before": {"state": "running"}, "after": None}
    with pytest.raises(EndpointSpecError) as caught:
        parse_spec({"name": "embedder", "scaling": {"max_replica": 0}}, "absent")
    assert [field for field, _ in caught.value.problems] == ["scaling.max_replica"]
    with pytest.raises(EndpointSpecError):
        parse_spec({"name": "embedder"}, "present")


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"task": None}, "task", "expected text"),
    ({"name": "Embedder"}, "name", "lower-case"),
    ({"name": "ab"}, "name", "4 to 32"),
    ({"scaling": {"min_replica": 3, "max_replica": 2}}, "scaling", "above max_replica"),
    ({"scaling": {"min_replica": True}}, "scaling.min_replica", "whole number"),
    ({"scaling": {"min_replica": 1, "scale_to_zero_timeout": 5}}, "scaling", "min_replica 0"),
    ({"compute": {"vendor": "aws"}}, "compute.region", "required"),
    ({"type": "secret"}, "type", "public"),
    ({"env": {"1BAD": "x"}}, "env.1BAD", "environment variable name"),
    ({"env": {"API_KEY": "x"}}, "(spec)", "both in env and in secrets"),
    ({"custom_image": {"health_route": "/h"}}, "custom_image", "url"),
    ({"instance": "x2"}, "instance", "not a field"),
])
def test_every_bad_field_is_named(change: dict[str, Any], field: str, words: str) -> None:
    data = copy.deepcopy(SPEC) | change
    with pytest.raises(EndpointSpecError) as caught:
        parse_spec(data)
    problems = dict(caught.value.problems)
    assert field in problems, caught.value.problems
    assert words in problems[field]
    assert "s3cr3t-value" not in str(caught.value)
