"""Plan tests as data: each case in plan_cases/*.yml is {state, desired, live, expect}, run
by this one runner with no server. ``expect`` lists [action, resource, name, reason?, after?] in
plan order (execution order is Plan.steps()); ``after``: attributes the change must write;
``write_secrets: true`` plans as for a changed secret the appliance never shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from adcml.engine import KEEP_LIVE, KeptValueMissing
from adcml.engine.diff import Desired, index_live, make_plan
from adcml.gateway.names import owner
from adcml.resources import SCHEMA
from adcml.secret import Secret

CASES = Path(__file__).parent / "plan_cases"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!secret", lambda loader, node: Secret(loader.construct_scalar(node)))
_Loader.add_constructor("!keep", lambda loader, node: KEEP_LIVE)


def _cases():
    return [
        pytest.param(case, id=f"{path.stem}: {case['name']}")
        for path in sorted(CASES.glob("*.yml"))
        for case in yaml.load(path.read_text(), Loader=_Loader)
    ]


@pytest.mark.parametrize("case", _cases())
def test_plan_case(case):
    desired = [Desired(d["resource"], d["attrs"]) for d in case["desired"]]
    live = {res: index_live(res, rows) for res, rows in (case["live"] or {}).items()}
    if "raises" in case:
        with pytest.raises(KeptValueMissing, match=case["raises"]):
            make_plan(desired, live, case["state"], owner("gw"))
        return
    plan = make_plan(desired, live, case["state"], owner("gw"),
                     write_secrets=case.get("write_secrets", False))
    ordered = list({id(c): c for _, c in plan.steps()}.values())  # execution order, once each
    got = [[c.action.value, c.resource, c.name] for c in ordered]
    assert got == [e[:3] for e in case["expect"]], plan.render()
    for change, expected in zip(ordered, case["expect"], strict=True):
        if len(expected) > 3:
            assert change.reason == expected[3]
        if len(expected) > 4:  # attributes the change writes
            assert expected[4].items() <= (change.after or {}).items(), change.after
    text = plan.render() + plan.to_json()
    for secret in case.get("masked", []):
        assert secret not in text
    json.loads(plan.to_json())


def test_every_managed_resource_has_an_idempotent_case():
    from adcml.gateway.compile import RESOURCES

    cases = yaml.load((CASES / "idempotent.yml").read_text(), Loader=_Loader)
    covered = {d["resource"] for case in cases for d in case["desired"]}
    assert set(RESOURCES) - covered == set()
    assert covered <= set(SCHEMA)
