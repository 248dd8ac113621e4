"""Properties of validation over thousands of generated and mutated specs (offline, bounded):

- ``load_spec`` returns a spec or raises SpecError, every problem naming a field, and no
  message quotes a secret or key material;
- an accepted spec compiles, renders and plans offline without an exception, and every
  object it compiles to passes the schema's checks (those the lab ADC makes);
- planning an accepted spec against the live state it would leave finds nothing to change.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcml.engine import State, check_desired, make_plan
from adcml.engine.diff import index_live
from adcml.gateway import SpecError, compile_gateway, load_spec, render
from adcml.gateway.compile import gateway_owner
from adcml.resources import SCHEMA
from adcml.secret import Secret, looks_like_key_material

SECRETS = ("tok3n-VALUE", "cl13nt-s3cret", "pa55phrase")
KEY_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p\n"
OIDC = {"issuer": "https://idp.example.test", "jwks_url": "https://idp.example.test/jwks",
        "token_endpoint": "https://idp.example.test/token", "audience": "gw", "client_secret": SECRETS[1]}
NASTY = [
    None, True, False, 0, -1, 1, 65536, 2**40, 1.5, "", " ", "x" * 300, "/" + "p" * 400, "\x00", "/a\x1b",
    "\ud800", "UPPER.Example.TEST", "a b", '"quoted"', "back\\slash", "/ok", "127.0.0.1", "::1", [], {},
    ["x"], [None], {"x": 1}, KEY_PEM, "g" * 128, "é", "https://idp.example.test/" + "u" * 300,
]

slugs = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
paths = st.from_regex(r"/[a-z0-9/_.-]{0,20}", fullmatch=True)
hosts = st.from_regex(r"[a-zA-Z0-9]{1,8}(\.[a-zA-Z0-9]{1,8}){0,2}", fullmatch=True)
groups = st.from_regex(r"[a-z0-9_.:-]{1,12}", fullmatch=True)
endpoint_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z0-9]{1,8}){1,4}", fullmatch=True)
ips = st.sampled_from(["127.0.0.1", "127.0.1.2", "10.231.0.11", "::1", "fd00::5"])


@st.composite
def pools(draw, index: int) -> dict[str, Any]:
    pool: dict[str, Any] = {"name": f"p{index}-{draw(slugs)}"[:20]}
    pool["match"] = draw(st.one_of(
        st.fixed_dictionaries({"path_prefix": paths}), st.fixed_dictionaries({"host": hosts}),
        st.fixed_dictionaries({"path_prefix": paths, "host": hosts})))
    endpoint = draw(st.booleans())
    if endpoint:
        pool["endpoint"] = {"url": f"https://{draw(endpoint_hosts)}" + draw(st.sampled_from(["", ":9443"])),
                            "ca_certkey": "hf-ca", "scale_up_timeout": draw(st.integers(0, 3600))}
    else:
        pool["members"] = draw(st.lists(st.fixed_dictionaries(
            {"host": ips, "port": st.integers(1, 65535), "weight": st.integers(1, 100)}),
            max_size=4, unique_by=lambda m: (m["host"], m["port"])))
    if draw(st.booleans()):
        pool["health"] = {"interval": draw(st.sampled_from([5, 30, 60, 120])), "timeout": 2,
                          "retries": draw(st.integers(1, 127))}
        if not endpoint:
            pool["health"] |= {"path": draw(paths), "expect_status": draw(
                st.lists(st.integers(100, 599), min_size=1, max_size=3))}
    pool["lb_method"] = draw(st.sampled_from(["LEASTCONNECTION", "ROUNDROBIN", "URLHASH"]))
    if draw(st.booleans()):
        pool["require_groups"] = draw(st.lists(groups, min_size=1, max_size=4))
    if draw(st.booleans()):
        pool["backend_token"] = SECRETS[0] + "x" * draw(st.integers(0, 600))
    if draw(st.booleans()):
        pool["cache"] = {"ttl_seconds": draw(st.integers(1, 3600)),
                         "paths": draw(st.lists(paths, max_size=3, unique=True))}
        if draw(st.booleans()):
            pool["cache"] |= {"post_paths": draw(st.lists(paths, min_size=1, max_size=3, unique=True)),
                              "max_body_bytes": draw(st.integers(1, 65536))}
    return pool


@st.composite
def specs(draw) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    data: dict[str, Any] = {
        "name": draw(slugs),
        "frontend": {"vip": draw(ips), "port": draw(st.integers(1, 65535)), "protocol": "http"},
        "pools": [draw(pools(i)) for i in range(count)],
    }
    if draw(st.booleans()):
        data["frontend"] = {"vip": data["frontend"]["vip"], "protocol": "https",
                            "tls": {"certkey": "lab-cert"},
                            "ssl_profile": {"tls13": draw(st.booleans()), "session_timeout": 60}}
    data["auth"] = {"oidc": dict(OIDC)}
    if draw(st.booleans()):
        data["auth"]["identity_headers"] = draw(st.sampled_from(
            [None, {"user": "X-Who"}, {"user": "X-User", "groups": "X-Groups"}]))
    if count > 1 and draw(st.booleans()):  # the first pool spills over to the last
        data["pools"][0]["spillover"] = {"to": data["pools"][-1]["name"],
                                         "connections_over": draw(st.none() | st.integers(1, 10**6))}
    if draw(st.booleans()):
        data["rate_limit"] = {"requests": draw(st.integers(1, 1000)),
                              "key": draw(st.sampled_from(["client_ip", "user"]))}
    if draw(st.booleans()):
        data["audit"] = {}
    if draw(st.booleans()):
        data["default_pool"] = data["pools"][0]["name"]
    if data["frontend"]["protocol"] == "https" and draw(st.booleans()):  # browsers sign in too
        data["login"] = {"host": "web.lab.test", "port": data["frontend"].get("port", 443) % 65535 + 1,
                         "pools": [p["name"] for p in data["pools"][:draw(st.integers(1, count))]],
                         "authorization_endpoint": "http://127.0.0.1:5556/oauth2/authorize",
                         "session_minutes": draw(st.integers(1, 1440))}
    return data


def _places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a nested dict/list value."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _places(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _places(item, (*path, i))
    return out


@st.composite
def like(draw, old: Any) -> Any:
    """A value that is like ``old`` but for one thing: longer, differently cased, with a
    control character, a quote, the wrong type, or one of the NASTY values."""
    if isinstance(old, str):
        grown = (old or "a") * (draw(st.integers(200, 9000)) // max(len(old), 1) + 1)
        return draw(st.sampled_from([
            grown, old.upper(), old + "\x00", old + "\x1b", old + '"', old + " x", old + "\ud800",
            old[:1] + "é" + old[1:], "", KEY_PEM])) if draw(st.booleans()) else draw(st.sampled_from(NASTY))
    if isinstance(old, bool | int):
        return draw(st.sampled_from([0, -1, 2**32, 2**63, True, False, "80", 80.5, None, old + 1, str(old)]))
    return draw(st.sampled_from(NASTY))


@st.composite
def mutated(draw) -> dict[str, Any]:
    data = copy.deepcopy(draw(specs()))
    pick = draw(st.randoms(use_true_random=False)).choice  # uniform (sampled_from favours the first)
    for _ in range(draw(st.integers(1, 2))):
        places = _places(data)[1:]
        leaves = [p for p in places if not isinstance(_at(data, p), dict | list)]
        place = pick(leaves if leaves and draw(st.integers(0, 3)) else places)
        parent = _at(data, place[:-1])
        how = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown", "duplicate"]))
        if how == "replace":
            parent[place[-1]] = copy.deepcopy(draw(like(parent[place[-1]])))
        elif how == "delete" and isinstance(parent, dict):
            del parent[place[-1]]
        elif how == "unknown" and isinstance(parent, dict):
            parent["unknwon_field"] = 1
        elif how == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[place[-1]]))
    return data


def _at(data: Any, place: tuple) -> Any:
    for step in place:
        data = data[step]
    return data


def _check(data: dict[str, Any]) -> None:
    try:
        spec = load_spec(data)
    except SpecError as exc:
        assert exc.problems
        for path, message in exc.problems:
            assert path and path != "(top)", exc.problems  # the top is a mapping: a field is to blame
            assert not looks_like_key_material(message) and "MIIBOgIBAAJB" not in message
            assert not any(secret in message for secret in SECRETS), message
            message.encode("utf-8")
        return
    objects = compile_gateway(spec)
    for obj in objects:
        assert check_desired(obj) is None, obj
    text = json.dumps(render(spec))
    assert not any(secret in text for secret in SECRETS)
    owned = gateway_owner(spec)
    for state in State:
        make_plan(objects, {}, state, owned)
    plan = make_plan(objects, _live_after(objects), State.OVERRIDDEN, owned)
    assert not plan.changed, plan.render()


def _live_after(objects) -> dict:
    """The live state a successful apply of ``objects`` leaves (as an appliance shows it: no
    secret attribute returned)."""
    rows: dict[str, list[dict]] = {}
    for obj in objects:
        res = SCHEMA[obj.resource]
        row = {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in obj.attrs.items()
               if not (res.attr(k) and (res.attr(k).secret or res.attr(k).write_only))}
        rows.setdefault(obj.resource, []).append(row)
    return {resource: index_live(resource, found) for resource, found in rows.items()}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_generated_specs_are_accepted_whole_and_plan_cleanly(data):
    _check(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_are_refused_at_a_field_or_accepted_whole(data):
    _check(data)
