"""A Hugging Face Inference Endpoint as a pool's backend, spillover from a local pool to it, and
the caller's identity forwarded: what the spec accepts, what it refuses (at the field), what it
compiles to, and the front-ends' lookup of an endpoint given by name — all offline."""

from __future__ import annotations

import pytest

from adcml.gateway import SpecError, compile_gateway, load_spec, render, resolve_endpoints

URL = "https://embedder-lab.us-east-1.aws.endpoints.hf.test:9443"
TOKEN = "hf_gateway_token_0123456789"
OIDC = {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
        "token_endpoint": "http://127.0.0.1:5556/token", "audience": "lab"}


def hybrid(**endpoint_pool) -> dict:
    """A local pool that spills over to an endpoint pool: the issue's pattern."""
    return {
        "name": "gw", "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
        "auth": {"oidc": OIDC},
        "pools": [
            {"name": "embed", "match": {"path_prefix": "/embed"},
             "members": [{"host": "127.0.0.1", "port": 9001}],
             "spillover": {"to": "embed-hf", "connections_over": 8}},
            {"name": "embed-hf", "endpoint": {"url": URL, "ca_certkey": "hf-ca"},
             "backend_token": TOKEN} | endpoint_pool,
        ],
    }


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        load_spec(data)
    return err.value.problems


KEYS = ("name", "servicegroupname", "monitorname", "policyname", "limitidentifier", "selectorname")


def objects(data) -> dict[tuple[str, str], dict]:
    found = {}
    for obj in compile_gateway(load_spec(data)):
        key = next((v for k, v in obj.attrs.items() if k in KEYS), "")
        child = obj.attrs.get("policyname", obj.attrs.get("certkeyname", ""))
        found[obj.resource, f"{key}/{child}" if obj.resource.endswith("_binding") else str(key)] = obj.attrs
    return found


def test_an_endpoint_pool_compiles_to_an_fqdn_server_over_tls_with_sni_a_verified_certificate_and_host():
    built = objects(hybrid())
    assert built["server", "gw.embed-hf"]["domain"] == "embedder-lab.us-east-1.aws.endpoints.hf.test"
    assert built["servicegroup", "gw.embed-hf"]["servicetype"] == "SSL"
    assert built["sslservicegroup", "gw.embed-hf"].items() >= {
        "snienable": "ENABLED", "commonname": "embedder-lab.us-east-1.aws.endpoints.hf.test",
        "serverauth": "ENABLED"}.items()
    assert built["sslservicegroup_sslcertkey_binding", "gw.embed-hf/hf-ca"]["ca"] is True
    member = built["servicegroup_servicegroupmember_binding", "gw.embed-hf/"]
    assert (member["servername"], member["port"]) == ("gw.embed-hf", 9443) and "ip" not in member
    assert built["lbmonitor", "gw.embed-hf"].items() >= {"type": "TCP", "secure": "YES"}.items()
    assert "httprequest" not in built["lbmonitor", "gw.embed-hf"]  # no HTTP probe: it would wake it
    host = built["rewriteaction", "gw.embed-hf.host"]
    assert (host["type"], host["target"], host["stringbuilderexpr"]) == (
        "replace", 'HTTP.REQ.HEADER("Host")', '"embedder-lab.us-east-1.aws.endpoints.hf.test:9443"')
    assert built["rewriteaction", "gw.embed-hf.wake"]["stringbuilderexpr"] == '"120"'
    assert built["rewriteaction", "gw.embed-hf.nowake"]["target"] == "X-Scale-Up-Timeout"
    assert "gw.embed-hf.cred" in {k[1] for k in built}  # the token, as every backend_token


def test_the_local_pool_spills_over_to_the_endpoint_when_down_or_over_its_connections():
    local = objects(hybrid())["lbvserver", "gw.embed"]
    assert local.items() >= {"backupvserver": "gw.embed-hf", "somethod": "CONNECTION", "sothreshold": 8,
                          "sobackupaction": "ACCEPT"}.items()
    only_when_down = hybrid()
    del only_when_down["pools"][0]["spillover"]["connections_over"]
    local = objects(only_when_down)["lbvserver", "gw.embed"]
    assert local["backupvserver"] == "gw.embed-hf" and "somethod" not in local


def test_identity_headers_are_forwarded_to_every_pool_and_client_copies_dropped():
    built = objects(hybrid())
    bound = sorted((attrs["priority"], attrs["policyname"]) for (res, _), attrs in built.items()
                   if res == "csvserver_rewritepolicy_binding")
    assert [name for _, name in bound] == ["gw.id.nouser", "gw.id.nogroups", "gw.id.user", "gw.id.groups"]
    assert built["rewriteaction", "gw.id.user"]["stringbuilderexpr"] == "HTTP.REQ.USER.NAME"
    assert built["rewriteaction", "gw.id.groups"]["stringbuilderexpr"] == 'HTTP.REQ.USER.ATTRIBUTE("groups")'
    assert built["rewriteaction", "gw.id.nouser"].items() >= {"type": "delete_http_header",
                                                           "target": "X-Forwarded-User"}.items()
    off = hybrid()
    off["auth"] = {"oidc": OIDC, "identity_headers": None}
    assert not any(res == "csvserver_rewritepolicy_binding" for res, _ in objects(off))


def test_a_wait_longer_than_the_server_timeout_raises_it_and_zero_sends_no_header():
    built = objects(hybrid(endpoint={"url": URL, "ca_certkey": "hf-ca", "scale_up_timeout": 900}))
    assert built["servicegroup", "gw.embed-hf"]["svrtimeout"] == 960
    built = objects(hybrid(endpoint={"url": URL, "ca_certkey": "hf-ca", "scale_up_timeout": 0}))
    assert ("rewriteaction", "gw.embed-hf.wake") not in built
    assert "svrtimeout" not in built["servicegroup", "gw.embed-hf"]


def test_render_never_shows_the_token():
    assert TOKEN not in str(render(load_spec(hybrid())))


@pytest.mark.parametrize("change, field, words", [
    ({"endpoint": {"url": URL, "name": "embedder", "ca_certkey": "hf-ca"}}, "pools[1].endpoint", "not both"),
    ({"endpoint": {"ca_certkey": "hf-ca"}}, "pools[1].endpoint", "give url"),
    ({"endpoint": {"name": "embedder", "ca_certkey": "hf-ca"}}, "pools[1].endpoint.name", "resolve names"),
    ({"endpoint": {"url": "http://plain.example.test", "ca_certkey": "hf-ca"}}, "pools[1].endpoint.url",
     "https://"),
    ({"endpoint": {"url": URL + "/v1", "ca_certkey": "hf-ca"}}, "pools[1].endpoint.url", "nothing after"),
    ({"endpoint": {"url": "https://127.0.0.1:9443", "ca_certkey": "hf-ca"}}, "pools[1].endpoint.url",
     "host name"),
    ({"endpoint": {"url": URL}}, "pools[1].endpoint.ca_certkey", "required"),
    ({"members": [{"host": "127.0.0.1", "port": 9}]}, "pools[1].members", "not both"),
    ({"health": {"path": "/healthz"}}, "pools[1].health", "TLS handshake"),
    ({"endpoint": {"url": URL, "ca_certkey": "hf-ca", "scale_up_timeout": 7200}},
     "pools[1].endpoint.scale_up_timeout", "3600"),
])
def test_an_endpoint_pool_is_refused_at_the_field(change, field, words):
    found = problems(hybrid(**change))
    assert [p for p, _ in found] == [field], found
    assert words in found[0][1], found


@pytest.mark.parametrize("spill, field, words", [
    ({"to": "nowhere"}, "pools[0].spillover.to", "not one of the pools"),
    ({"to": "embed"}, "pools[0].spillover.to", "itself"),
    ({"to": "embed-hf", "connections_over": 0}, "pools[0].spillover.connections_over", "greater than"),
])
def test_spillover_is_refused_at_the_field(spill, field, words):
    data = hybrid()
    data["pools"][0]["spillover"] = spill
    found = [p for p in problems(data) if p[0] != "pools[1].match"]  # no pool spills to embed-hf now
    assert [p for p, _ in found] == [field], found
    assert words in found[0][1], found


def test_a_spillover_chain_that_comes_back_is_refused_and_a_target_needs_no_match():
    data = hybrid(spillover={"to": "embed"}, match={"path_prefix": "/hf"})
    assert [p for p, _ in problems(data)] == ["pools[0].spillover.to", "pools[1].spillover.to"]
    data = hybrid()
    data["pools"][0].pop("spillover")
    assert [p for p, _ in problems(data)] == ["pools[1].match"]  # reached by nothing


@pytest.mark.parametrize("headers, field", [
    ({"user": "X-Who", "groups": "x-who"}, "auth.identity_headers.groups"),
    ({"user": "Authorization"}, "auth.identity_headers"),
    ({"user": "X Who"}, "auth.identity_headers.user"),
])
def test_identity_headers_are_refused_at_the_field(headers, field):
    data = hybrid()
    data["auth"] = {"oidc": OIDC, "identity_headers": headers}
    assert [p for p, _ in problems(data)] == [field]


def test_an_endpoint_given_by_name_is_looked_up_by_the_front_end_before_the_spec_is_read():
    asked = []

    def url_of(name: str, namespace: str | None) -> str:
        asked.append((name, namespace))
        return URL

    data = hybrid(endpoint={"name": "embedder", "namespace": "lab", "ca_certkey": "hf-ca"})
    spec = load_spec(resolve_endpoints(data, url_of))
    assert asked == [("embedder", "lab")]
    assert spec.pools[1].endpoint.url == URL
    assert resolve_endpoints(hybrid(), url_of) == hybrid() and len(asked) == 1  # a URL is not looked up


def test_a_lookup_that_fails_is_reported_at_the_endpoints_name():
    def url_of(name: str, namespace: str | None) -> str:
        raise LookupError(f"there is no Inference Endpoint lab/{name}")

    data = hybrid(endpoint={"name": "embedder", "namespace": "lab", "ca_certkey": "hf-ca"})
    with pytest.raises(SpecError) as err:
        resolve_endpoints(data, url_of)
    assert err.value.problems == [("pools[1].endpoint.name", "there is no Inference Endpoint lab/embedder")]


def test_a_spillover_target_is_written_before_the_pool_that_names_it_and_removed_after_it():
    """One bulk request per resource type would add the primary lbvserver together with its
    backup, and an appliance refuses a backupvserver that does not exist yet (258)."""
    from adcml.engine import State, make_plan
    from adcml.engine.plan import Phase
    from adcml.gateway.compile import gateway_owner

    spec = load_spec(hybrid())
    objects = compile_gateway(spec)
    steps = [(phase, c.name) for phase, c in make_plan(objects, {}, State.MERGED, gateway_owner(spec)).steps()
             if c.resource == "lbvserver"]
    assert steps == [(Phase.BUILD, "gw.embed-hf"), (Phase.BUILD, "gw.embed")]
    live = {"lbvserver": {("gw.embed",): {"name": "gw.embed", "backupvserver": "gw.embed-hf",
                                          "comment": "adcml:gw"},
                          ("gw.embed-hf",): {"name": "gw.embed-hf", "comment": "adcml:gw"}}}
    plan = make_plan([], live, State.OVERRIDDEN, gateway_owner(spec))
    steps = [(phase, c.name) for phase, c in plan.steps()]
    assert steps == [(Phase.PRUNE, "gw.embed"), (Phase.PRUNE, "gw.embed-hf")]


# --- the embedding routes cached by body --------------------------------------------------------
def test_embedding_routes_are_cached_keyed_by_url_and_body_for_bodies_the_key_reads_whole():
    built = objects(hybrid(cache={"paths": ["/info"], "post_paths": ["/embed", "/v1/embeddings"],
                                  "max_body_bytes": 4096}))
    assert built["cacheselector", "gw.embed-hf.post"]["rule"] == ["HTTP.REQ.URL", "HTTP.REQ.BODY(4096)"]
    assert built["cachecontentgroup", "gw.embed-hf.post"]["hitselector"] == "gw.embed-hf.post"
    assert "hitselector" not in built["cachecontentgroup", "gw.embed-hf"]  # GETs: by URL
    rule = built["cachepolicy", "gw.embed-hf.post"]["rule"]
    assert rule.startswith("HTTP.REQ.METHOD.EQ(POST)") and "CONTENT_LENGTH.LE(4096)" in rule
    assert 'HTTP.REQ.URL.PATH.EQ("/embed") || HTTP.REQ.URL.PATH.EQ("/v1/embeddings")' in rule
    assert built["lbvserver_cachepolicy_binding", "gw.embed-hf/gw.embed-hf.post"]["priority"] == 110
    assert not any(r == "cacheselector" for r, _ in objects(hybrid(cache={"paths": ["/info"]})))


@pytest.mark.parametrize("cache, at, fragment", [
    ({"post_paths": ["/embed", "/embed"]}, "post_paths[1]", "listed twice"),
    ({"post_paths": ["embed"]}, "post_paths[0]", "starting with '/'"),
    ({"post_paths": ["/embed"], "max_body_bytes": 0}, "max_body_bytes", ""),
    ({"post_paths": ["/embed"], "max_body_bytes": 65537}, "max_body_bytes", ""),
])
def test_bad_post_cache_settings_are_refused_at_the_field(cache, at, fragment):
    found = problems(hybrid(cache=cache))
    assert any(where == f"pools[1].cache.{at}" and fragment in what for where, what in found), found
