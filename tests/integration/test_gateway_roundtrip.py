"""gather gives back what converge applied, for every section of the spec, against a lab ADC:
converge → gather → load_spec is the spec (certificate files as the owned cert-key's name,
secrets as the marker that keeps them), and applying the gathered spec back changes nothing
in any state — no authentication, group check, credential, rate limit, audit or certificate
is lost. Secrets never come back in clear."""

from __future__ import annotations

import base64
import copy

import httpx
import pytest
import yaml

from adcml.gateway import SECRET_KEPT, SpecError, State, converge, gather, load_spec, plan_gateway
from adcml.lab.services.pki import LabCA

TOKEN = "hf_" + "T0ken" * 120  # 603 characters: the credential spans three literals
CLIENT_SECRET = "0idc-Cl1ent-Secret"
PASSPHRASE = "key-Pa55phrase"


def full_spec(tmp_path) -> dict:
    issued = LabCA().issue("gw.lab.test", sans=("gw.lab.test",), passphrase=PASSPHRASE)
    (tmp_path / "gw.crt").write_bytes(issued.cert_pem)
    (tmp_path / "gw.key").write_bytes(issued.key_pem)
    return {
        "name": "gw",
        "frontend": {"vip": "127.0.0.10", "port": 8443, "protocol": "https", "client_timeout": 60,
                     "tls": {"cert_file": str(tmp_path / "gw.crt"), "key_file": str(tmp_path / "gw.key"),
                             "key_passphrase": PASSPHRASE},
                     "ssl_profile": {"tls12": True, "tls13": False, "session_reuse": False,
                                     "session_timeout": 30}},
        "pools": [
            {"name": "chat", "match": {"path_prefix": "/v1/chat", "host": "Chat.Lab.Test"},
             "lb_method": "ROUNDROBIN", "max_clients": 50, "surge_protection": True,
             "members": [{"host": "127.0.1.1", "port": 9001, "weight": 3},
                         {"host": "127.0.1.2", "port": 9001}],
             "health": {"path": "/healthz", "interval": 120, "timeout": 5, "retries": 2,
                        "expect_status": [200, 204]},
             "require_groups": ["ml-trusted", "ml-admins"], "backend_token": TOKEN,
             "spillover": {"to": "hf", "connections_over": 40}},
            {"name": "hf", "endpoint": {"url": "https://embedder-lab.us-east-1.aws.endpoints.hf.test:9443",
                                        "ca_certkey": "hf-ca", "scale_up_timeout": 600},
             "health": {"interval": 10, "timeout": 3, "retries": 2}, "backend_token": "hf_endpoint"},
            {"name": "embed", "match": {"host": "embed.lab.test"},
             "members": [{"host": "127.0.1.3", "port": 9002}],
             "cache": {"ttl_seconds": 30, "max_object_kb": 100, "memory_mb": 8,
                       "paths": ["/info", "/v1/models"], "post_paths": ["/embed", "/v1/embeddings"],
                       "max_body_bytes": 4096}},
            {"name": "models", "match": {"path_prefix": "/v1/models"}, "members": [],
             "cache": {}},
            {"name": "fallback", "members": [{"host": "127.0.1.4", "port": 9003}]},
        ],
        "default_pool": "fallback",
        "auth": {"oidc": {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
                          "token_endpoint": "http://127.0.0.1:5556/token", "audience": "adcml-lab",
                          "algorithms": ["RS256", "RS512"], "skew_minutes": 3, "claims": ["email", "groups"],
                          "groups_claim": "groups", "client_id": "gw-client", "client_secret": CLIENT_SECRET,
                          "refresh_minutes": 60},
                 "identity_headers": {"user": "X-Caller", "groups": "X-Caller-Groups"}},
        "rate_limit": {"requests": 20, "per_ms": 2000, "key": "user", "smooth": True},
        "audit": {"enabled": True},
        "login": {"host": "web.lab.test", "port": 9443, "pools": ["chat", "embed"],
                  "default_pool": "fallback",
                  "authorization_endpoint": "http://127.0.0.1:5556/oauth2/authorize",
                  "username_claim": "email", "session_minutes": 45, "cookie_domain": "lab.test",
                  "vip": "127.0.0.10"},
    }


def as_gathered(data: dict) -> dict:
    """What gather is documented to give back for ``data``: pools in name order and members in
    address order (neither order means anything), certificate files as the owned cert-key's
    name, secrets as the marker."""
    spec = load_spec(data).model_dump(mode="json")
    spec["pools"].sort(key=lambda pool: pool["name"])
    for pool in spec["pools"]:
        pool["members"].sort(key=lambda member: (member["host"], member["port"]))
    tls = spec["frontend"].get("tls")
    if tls and tls["cert_file"]:
        spec["frontend"]["tls"] = {"certkey": f"{spec['name']}.cert", "cert_file": None, "key_file": None,
                                   "key_passphrase": None}
    return spec


@pytest.fixture
def client(lab_adc):
    with lab_adc.client() as c:
        # the CA an endpoint pool's certificate is verified against: the ADC's, not the gateway's
        pem = base64.b64encode(LabCA().cert_pem).decode()
        c.add("systemfile", {"filename": "hf-ca.pem", "filelocation": "/nsconfig/ssl",
                             "fileencoding": "BASE64", "filecontent": pem})
        c.add("sslcertkey", {"certkey": "hf-ca", "cert": "hf-ca.pem"})
        yield c


def test_every_section_round_trips_and_applies_back_as_a_no_op(lab_adc, client, tmp_path):
    data = full_spec(tmp_path)
    assert converge(client, load_spec(data)).changed

    gathered = gather(client, "gw")
    assert load_spec(gathered).model_dump(mode="json") == as_gathered(data)
    assert gathered["pools"][0]["backend_token"] == SECRET_KEPT
    assert gathered["auth"]["oidc"]["client_secret"] == SECRET_KEPT
    text = yaml.safe_dump(gathered)
    for secret in (TOKEN[:40], CLIENT_SECRET, PASSPHRASE, "PRIVATE KEY"):
        assert secret not in text

    for state in (State.MERGED, State.REPLACED, State.OVERRIDDEN):
        plan = plan_gateway(client, load_spec(gathered), state)
        assert not plan.changed, plan.render()
    assert not converge(client, load_spec(gathered), State.OVERRIDDEN).changed
    # nothing the original made was lost: it still plans as a no-op, token and certificate included
    assert not plan_gateway(client, load_spec(data), State.OVERRIDDEN).changed


def test_a_plain_http_gateway_round_trips(lab_adc, client):
    data = {"name": "web", "frontend": {"vip": "127.0.0.11", "port": 8080, "protocol": "http"},
            "pools": [{"name": "only", "match": {"host": "A.Example.TEST"},
                       "members": [{"host": "::1", "port": 80}]}]}
    converge(client, load_spec(data))
    gathered = gather(client, "web")
    assert gathered == as_gathered(data)
    assert gathered["pools"][0]["match"] == {"path_prefix": None, "host": "a.example.test"}
    assert not plan_gateway(client, load_spec(gathered), State.OVERRIDDEN).changed


def test_without_a_client_secret_the_marker_keeps_none(lab_adc, client, tmp_path):
    data = full_spec(tmp_path)
    del data["auth"]["oidc"]["client_secret"]
    del data["login"]  # which needs the secret
    converge(client, load_spec(data))
    gathered = gather(client, "gw")
    assert gathered["auth"]["oidc"]["client_secret"] == SECRET_KEPT
    assert not plan_gateway(client, load_spec(gathered), State.OVERRIDDEN).changed


def test_a_gathered_spec_cannot_create_what_it_does_not_know(lab_adc, client, tmp_path):
    converge(client, load_spec(full_spec(tmp_path)))
    gathered = gather(client, "gw")
    other = copy.deepcopy(gathered) | {"name": "gw2"}
    other["frontend"] |= {"vip": "127.0.0.12", "tls": {"certkey": "gw.cert"}}
    lab_adc.reset_counters()
    with pytest.raises(SpecError) as err:
        plan_gateway(client, load_spec(other))
    assert [path for path, _ in err.value.problems] == [
        "auth.oidc.client_secret", "pools[0].backend_token", "pools[3].backend_token"]
    assert "there is none to keep" in err.value.problems[0][1]
    assert not any(k.startswith(("POST", "PUT", "DELETE")) and "login" not in k
                   for k in lab_adc.counters()["requests"])


def test_a_changed_real_secret_is_written_and_the_marker_keeps_it(lab_adc, client, tmp_path):
    data = full_spec(tmp_path)
    converge(client, load_spec(data))
    data["pools"][0]["backend_token"] = "hf_rotated"
    plan = plan_gateway(client, load_spec(data))
    assert [(c.resource, c.name) for c in plan.changes] == [("rewriteaction", "gw.chat.cred")]
    assert "hf_rotated" not in plan.render() + plan.to_json()
    converge(client, load_spec(data))
    cred = httpx.get(f"{lab_adc.url}/lab/config").json()["partitions"]["default"]["rewriteaction"]
    assert [a["stringbuilderexpr"] for a in cred if a["name"] == "gw.chat.cred"] == ['"Bearer hf_rotated"']
    assert not plan_gateway(client, load_spec(gather(client, "gw")), State.OVERRIDDEN).changed


def test_gather_of_a_gateway_changed_by_hand_says_so(lab_adc, client):
    data = {"name": "web", "frontend": {"vip": "127.0.0.11", "port": 8080, "protocol": "http"},
            "pools": [{"name": "only", "match": {"path_prefix": "/x"}, "members": []}]}
    converge(client, load_spec(data))
    client.update("cspolicy", {"policyname": "web.only", "rule": 'HTTP.REQ.URL.PATH.CONTAINS("x")'})
    with pytest.raises(ValueError, match="cspolicy web.only: its rule is not one adcml writes"):
        gather(client, "web")


def test_gather_of_an_endpoint_wait_changed_by_hand_says_so(lab_adc, client, tmp_path):
    converge(client, load_spec(full_spec(tmp_path)))
    client.update("rewriteaction", {"name": "gw.hf.wake", "stringbuilderexpr": '"soon"'})
    with pytest.raises(ValueError, match="rewriteaction gw.hf.wake: its value is not one adcml writes"):
        gather(client, "gw")
