"""The gateway engine against a real lab ADC: converge, idempotence, gather, prune, delete,
and convergence after an apply killed at every write."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from adcml.gateway import ApplyError, State, converge, gather, load_spec
from adcml.gateway.members import MemberRef, member_status, set_member_state
from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroClient, NitroError


def make_spec(tmp_path, pools=2, members=2, name="gw", https=True, **extra):
    frontend = {"vip": "127.0.0.10", "port": 443 if https else 80, "protocol": "https" if https else "http"}
    if https:
        issued = LabCA().issue(f"{name}.lab.test", sans=(f"{name}.lab.test",))
        (tmp_path / "gw.crt").write_bytes(issued.cert_pem)
        (tmp_path / "gw.key").write_bytes(issued.key_pem)
        frontend["tls"] = {"cert_file": str(tmp_path / "gw.crt"), "key_file": str(tmp_path / "gw.key")}
    return load_spec({
        "name": name, "frontend": frontend,
        "pools": [{"name": f"m{i}", "match": {"path_prefix": f"/v1/models/m{i}"},
                   "members": [{"host": f"127.0.1.{j + 1}", "port": 8000 + i} for j in range(members)]}
                  for i in range(pools)],
        "default_pool": "m0", **extra,
    })


@pytest.fixture
def client(lab_adc):
    with NitroClient(nsip=lab_adc.nsip, protocol="http", username="nsroot", password="nsroot") as c:
        yield c


def running_config(lab_adc) -> dict:
    return httpx.get(f"{lab_adc.url}/lab/config").json()["partitions"]["default"]


def owned_names(lab_adc, gateway="gw") -> set[tuple[str, str]]:
    out = set()
    for resource, rows in running_config(lab_adc).items():
        for row in rows:
            for value in row.values():
                if isinstance(value, str) and value.startswith(f"{gateway}."):
                    out.add((resource, value))
                    break
    return out


def test_converge_is_idempotent_and_cheap_to_recheck(lab_adc, client, tmp_path):
    spec = make_spec(tmp_path, pools=3, members=2)
    first = converge(client, spec)
    assert first.changed and first.plan.summary()["create"] > 20
    lab_adc.reset_counters()
    second = converge(client, spec)
    assert not second.changed
    assert second.result.requests == 0
    per_type = Counter(k.split()[1] for k in lab_adc.counters()["requests"])
    assert all(n <= 2 for n in per_type.values()), per_type
    assert not any(k.startswith(("POST", "PUT", "DELETE")) and "login" not in k and "logout" not in k
                   for k in lab_adc.counters()["requests"])


def test_gathered_state_equals_the_spec(client, tmp_path):
    spec = make_spec(tmp_path, pools=2, members=2, https=False)
    converge(client, spec)
    expected = spec.model_dump(mode="json")
    expected["pools"].sort(key=lambda p: p["name"])
    assert gather(client, "gw") == expected
    assert gather(client, "other") is None


def test_check_mode_reports_and_changes_nothing(lab_adc, client, tmp_path):
    spec = make_spec(tmp_path)
    before = running_config(lab_adc)
    outcome = converge(client, spec, check=True)
    assert outcome.changed and outcome.result is None
    assert running_config(lab_adc) == before
    assert "+ csvserver gw.cs" in outcome.plan.render()


def test_overridden_prunes_only_owned_objects(lab_adc, client, tmp_path):
    converge(client, make_spec(tmp_path, pools=3, https=False))
    client.add("lbvserver", {"name": "gw.handmade", "servicetype": "HTTP"})  # no ownership mark
    client.add("lbvserver", {"name": "k8s-ingress-vs", "servicetype": "HTTP", "comment": "k8s"})
    smaller = make_spec(tmp_path, pools=1, https=False)
    outcome = converge(client, smaller, State.OVERRIDDEN)
    deleted = {(c.resource, c.name) for c in outcome.plan.changes if c.action == "delete"}
    assert ("lbvserver", "gw.m2") in deleted and ("lbvserver", "gw.handmade") not in deleted
    assert client.find("lbvserver", "gw.handmade") and client.find("lbvserver", "k8s-ingress-vs")
    assert client.find("lbvserver", "gw.m1") is None
    assert not converge(client, smaller, State.OVERRIDDEN).changed


def test_deleted_leaves_no_owned_object(lab_adc, client, tmp_path):
    spec = make_spec(tmp_path)
    converge(client, spec)
    client.add("lbvserver", {"name": "keep-me", "servicetype": "HTTP"})
    converge(client, spec, State.DELETED)
    assert owned_names(lab_adc) == set()
    assert client.find("lbvserver", "keep-me")


def test_changed_certificate_is_switched_in_place(client, tmp_path):
    spec = make_spec(tmp_path)
    converge(client, spec)
    serial = client.find("sslcertkey", "gw.cert")["serial"]
    rotated = make_spec(tmp_path)  # same paths, new certificate and key
    outcome = converge(client, rotated, State.OVERRIDDEN)
    actions = {(c.action, c.resource) for c in outcome.plan.changes}
    assert ("update", "sslcertkey") in actions and ("delete", "sslcertkey") not in actions
    assert client.find("sslcertkey", "gw.cert")["serial"] != serial
    assert client.bindings("sslvserver", "gw.cs")[0]["sslvserver_sslcertkey_binding"][0][
        "certkeyname"] == "gw.cert"
    assert not converge(client, rotated, State.OVERRIDDEN).changed


def test_immutable_change_is_a_replace(client, tmp_path):
    converge(client, make_spec(tmp_path, https=False))
    moved = load_spec({**make_spec(tmp_path, https=False).model_dump(mode="json"),
                       "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"}})
    outcome = converge(client, moved)
    replaced = {c.resource for c in outcome.plan.changes if c.action == "replace"}
    assert "csvserver" in replaced and "csvserver_cspolicy_binding" in replaced
    assert client.find("csvserver", "gw.cs")["port"] == 8080
    assert not converge(client, moved).changed


def test_bad_spec_touches_nothing(lab_adc):
    with pytest.raises(ValueError) as err:
        load_spec({"name": "gw", "frontend": {"vip": "not-an-ip"}, "pools": [{"name": "BAD"}]})
    assert "frontend.vip" in str(err.value) and "pools[0].name" in str(err.value)


def test_apply_killed_at_every_write_converges_on_rerun(lab_adc, client, tmp_path):
    spec = make_spec(tmp_path, pools=2, members=1)
    client.enable_features(["LB", "CS", "SSL"])  # appliance-wide, outside the loop below
    lab_adc.reset_counters()
    converge(client, spec)
    writes = sum(n for k, n in lab_adc.counters()["requests"].items()
                 if k.split()[0] in ("POST", "PUT", "DELETE") and k.split()[1] not in ("login", "logout"))
    desired = running_config(lab_adc)
    converge(client, spec, State.DELETED)
    assert writes > 5
    for nth in range(1, writes + 1):
        assert owned_names(lab_adc) == set()
        lab_adc.fault(method="WRITE", nth=nth, kind="drop")
        with NitroClient(nsip=lab_adc.nsip, protocol="http", username="nsroot", password="nsroot",
                         retries=0) as broken, pytest.raises((ApplyError, NitroError)):
            converge(broken, spec)
        lab_adc.control("DELETE", "faults")
        with NitroClient(nsip=lab_adc.nsip, protocol="http", username="nsroot", password="nsroot") as fresh:
            converge(fresh, spec, State.OVERRIDDEN)
            assert running_config(lab_adc) == desired, f"fault at write {nth}"
            assert not converge(fresh, spec, State.OVERRIDDEN).changed
            converge(fresh, spec, State.DELETED)


def test_adding_a_route_does_not_rebind_the_others(client, tmp_path):
    spec = make_spec(tmp_path, pools=2, https=False)
    converge(client, spec)
    data = spec.model_dump(mode="json")
    data["pools"].append({"name": "big", "match": {"path_prefix": "/v1/models/m0/big"},
                          "members": [{"host": "127.0.1.9", "port": 9000}]})
    data["pools"].append({"name": "host", "match": {"host": "m9.lab.test"},
                          "members": [{"host": "127.0.1.9", "port": 9001}]})
    outcome = converge(client, load_spec(data))
    touched = {(c.action, c.resource, c.name) for c in outcome.plan.changes}
    assert not [t for t in touched if t[0] in ("replace", "delete")], touched
    priorities = {b["policyname"]: int(b["priority"])
                  for b in client.bindings("csvserver", "gw.cs")[0]["csvserver_cspolicy_binding"]}
    assert priorities["gw.big"] < priorities["gw.m0"] < priorities["gw.host"]


def test_member_weight_change_is_applied(client, tmp_path):
    spec = make_spec(tmp_path, pools=1, members=1, https=False)
    converge(client, spec)
    data = spec.model_dump(mode="json")
    data["pools"][0]["members"][0]["weight"] = 7
    converge(client, load_spec(data))
    member = client.get("servicegroup_servicegroupmember_binding", "gw.m0")[0]
    assert member["weight"] == "7"
    assert not converge(client, load_spec(data)).changed


@pytest.mark.parametrize("state", [State.MERGED, State.REPLACED, State.OVERRIDDEN])
def test_converge_leaves_a_drained_member_out_of_service(client, tmp_path, state):
    """A scheduled converge during a rolling update must not put the host being updated back."""
    spec = make_spec(tmp_path, pools=1, members=2, https=False)
    converge(client, spec)
    host = spec.pools[0].members[0]
    ref = MemberRef.of_pool("gw", "m0", host=host.host, port=host.port)
    set_member_state(client, ref, enabled=False, graceful=False)
    assert not converge(client, spec, state).changed
    assert member_status(client, ref).state == "DISABLED"
    data = spec.model_dump(mode="json")
    data["pools"][0]["members"][0]["weight"] = 3  # unbind + bind
    assert converge(client, load_spec(data), state).changed
    rows = {r["servername"]: r for r in client.get("servicegroup_servicegroupmember_binding", "gw.m0")}
    assert rows[host.host]["weight"] == "3" and rows[host.host]["state"] == "DISABLED"
    assert rows[spec.pools[0].members[1].host]["state"] == "ENABLED"
    assert not converge(client, load_spec(data), state).changed


def test_converge_enables_the_features_it_needs(client, tmp_path):
    assert client.features() == set()
    converge(client, make_spec(tmp_path))
    assert {"LB", "CS", "SSL"} <= client.features()


SECURE = {
    "auth": {"oidc": {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
                      "token_endpoint": "http://127.0.0.1:5556/token", "audience": "adcml-lab"}},
    "rate_limit": {"requests": 20, "per_ms": 1000},
    "audit": {},
}


def test_secure_gateway_converges_idempotently_and_prunes_back(lab_adc, client, tmp_path):
    plain = make_spec(tmp_path, pools=2, https=False)
    data = plain.model_dump(mode="json")
    data["pools"][0]["require_groups"] = ["ml-trusted"]
    data["pools"][0]["backend_token"] = "hf_s3cr3t-token"
    secure = load_spec({**data, **SECURE})
    outcome = converge(client, secure)
    text = outcome.plan.render() + outcome.plan.to_json()
    assert "hf_s3cr3t-token" not in text and "*** (sha256:" in text
    assert client.find("csvserver", "gw.cs")["authnvsname"] == "gw.auth"
    assert client.find("rewriteaction", "gw.m0.cred")["stringbuilderexpr"] == '"Bearer hf_s3cr3t-token"'
    assert {"AAA", "REWRITE", "RESPONDER"} <= client.features()
    assert not converge(client, secure, State.OVERRIDDEN).changed
    converge(client, plain, State.OVERRIDDEN)
    config = running_config(lab_adc)
    for resource in ("authenticationvserver", "authenticationoauthaction", "rewritepolicy",
                     "responderpolicy", "nslimitidentifier", "streamselector", "auditmessageaction"):
        assert not config.get(resource), resource
    assert client.find("csvserver", "gw.cs").get("authnvsname") is None
    assert not converge(client, plain, State.OVERRIDDEN).changed


def test_cache_section_converges_changes_in_place_and_prunes_back(lab_adc, client, tmp_path):
    plain = make_spec(tmp_path, pools=2, https=False)
    data = plain.model_dump(mode="json")
    data["pools"][0]["cache"] = {"ttl_seconds": 60, "paths": ["/v1/models/m0/info"]}
    cached = load_spec(data)
    outcome = converge(client, cached)
    created = {c.resource for c in outcome.plan.changes if c.action == "create"}
    assert {"cachecontentgroup", "cachepolicy", "lbvserver_cachepolicy_binding"} <= created
    assert "IC" in client.features()
    assert client.bindings("lbvserver", "gw.m0")[0]["lbvserver_cachepolicy_binding"][0][
        "policyname"] == "gw.m0"
    assert not converge(client, cached, State.OVERRIDDEN).changed
    assert gather(client, "gw")["pools"][0]["cache"] == data["pools"][0]["cache"] | {
        "max_object_kb": 80, "memory_mb": 64, "post_paths": [], "max_body_bytes": 8192}

    data["pools"][0]["cache"]["ttl_seconds"] = 300
    longer = load_spec(data)
    outcome = converge(client, longer, State.OVERRIDDEN)
    assert [(c.action, c.resource) for c in outcome.plan.changes] == [("update", "cachecontentgroup")]
    assert client.find("cachecontentgroup", "gw.m0")["relexpiry"] == "300"
    assert not converge(client, longer, State.OVERRIDDEN).changed

    converge(client, plain, State.OVERRIDDEN)
    config = running_config(lab_adc)
    assert not config.get("cachepolicy") and not config.get("lbvserver_cachepolicy_binding")
    assert {r["name"] for r in config["cachecontentgroup"]} == {"DEFAULT", "BASEFILE", "DELTAJS"}
    assert not converge(client, plain, State.OVERRIDDEN).changed


def test_a_bad_cache_section_names_its_fields():
    spec = {"name": "gw", "frontend": {"vip": "127.0.0.10", "port": 80, "protocol": "http"},
            "pools": [{"name": "m", "cache": {"ttl_seconds": 0, "paths": ["v1/models"]}},
                      {"name": "n", "match": {"host": "n.test"},
                       "cache": {"max_object_kb": 4096, "memory_mb": 2}}],
            "default_pool": "m"}
    with pytest.raises(ValueError) as err:
        load_spec(spec)
    text = str(err.value)
    assert "pools[0].cache.ttl_seconds" in text and "pools[0].cache.paths[0]" in text
    assert "pools[1].cache.max_object_kb: must fit in memory_mb" in text
