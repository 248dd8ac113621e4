"""Validation is complete: what the spec accepts compiles into objects an appliance accepts,
and what it refuses is refused with the field to blame — the cases mutation fuzzing found."""

from __future__ import annotations

import pytest

from adcml.gateway import SpecError, compile_gateway, load_spec, render
from adcml.gateway.compile import check_compiled
from adcml.secret import looks_like_key_material

KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
OIDC = {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
        "token_endpoint": "http://127.0.0.1:5556/token", "audience": "lab"}


def spec(**changes) -> dict:
    base = {"name": "gw", "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
            "pools": [{"name": "chat", "match": {"path_prefix": "/v1/chat"},
                       "members": [{"host": "127.0.0.1", "port": 9001}]},
                      {"name": "embed", "members": [{"host": "127.0.0.1", "port": 9002}]}],
            "default_pool": "embed"}
    return base | changes


def pools(**chat) -> list[dict]:
    return [spec()["pools"][0] | chat, spec()["pools"][1]]


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        load_spec(data)
    return err.value.problems


def paths(data) -> list[str]:
    return [path for path, _ in problems(data)]


@pytest.mark.parametrize("data, field", [
    (spec(pools=pools(match={"path_prefix": "/" + "p" * 255})), "pools[0].match.path_prefix"),
    (spec(auth={"oidc": OIDC}, pools=pools(require_groups=[f"g{i:04d}-" + "g" * 100 for i in range(80)])),
     "pools[0].require_groups"),
    (spec(pools=pools(backend_token="t" * 8200)), "pools[0].backend_token"),
    (spec(auth={"oidc": OIDC | {"claims": ["groups"] + [f"claim{i:03d}" + "c" * 30 for i in range(40)]}}),
     "auth.oidc.claims"),
])
def test_a_spec_that_would_compile_to_what_netscaler_refuses_is_refused_at_its_field(data, field):
    found = problems(data)
    assert [p for p, _ in found] == [field], found


def test_a_lone_surrogate_in_a_secret_is_refused_without_showing_it():
    tls = {"cert_file": __file__, "key_file": __file__, "key_passphrase": "pw\ud800"}
    found = problems(spec(frontend={"vip": "127.0.0.10", "tls": tls}))
    assert [p for p, _ in found] == ["frontend.tls.key_passphrase"]
    assert "pw" not in found[0][1]


def test_hosts_that_differ_only_in_case_are_the_same_route():
    data = spec(pools=[{"name": "a", "match": {"host": "API.example.test"}},
                       {"name": "b", "match": {"host": "api.EXAMPLE.test"}}], default_pool=None)
    assert paths(data) == ["pools[1].match"]
    kept = load_spec(spec(pools=pools(match={"host": "Chat.Example.TEST"})))
    assert kept.pools[0].match.host == "chat.example.test"


@pytest.mark.parametrize("where", ["frontend.port", "pools[0].members[0].port", "pools[0].members[0].weight",
                                   "pools[0].health.retries"])
def test_booleans_are_not_numbers(where):
    data = spec(pools=pools(health={"retries": 3}))
    parent, field = where.rsplit(".", 1)
    target = data
    for part in parent.replace("]", "").replace("[", ".").split("."):
        target = target[int(part)] if part.isdigit() else target[part]
    target[field] = True
    assert paths(data) == [where]


@pytest.mark.parametrize("text", ["/v1\x00", "/v1\x1b[2J", "/v1\x7f"])
@pytest.mark.parametrize("where", ["path_prefix", "health", "require_groups", "issuer"])
def test_control_characters_are_refused_where_a_name_or_expression_takes_the_value(text, where):
    changes = {"path_prefix": ({}, {"match": {"path_prefix": text}}, "pools[0].match.path_prefix"),
               "health": ({}, {"health": {"path": text}}, "pools[0].health.path"),
               "require_groups": ({"auth": {"oidc": OIDC}}, {"require_groups": ["ml", "g" + text[3:]]},
                                  "pools[0].require_groups[1]"),
               "issuer": ({"auth": {"oidc": OIDC | {"issuer": "http://idp" + text}}}, {}, "auth.oidc.issuer")}
    top, chat, field = changes[where]
    assert paths(spec(**top, pools=pools(**chat))) == [field]


def test_yaml_errors_are_spec_errors_with_the_line():
    assert problems("a: [") == [("(line 1, column 5)", "the spec is not valid YAML: while parsing a flow "
                                                        "node, expected the node content, but found "
                                                        "'<stream end>'")]
    found = problems("name: gw\nfrontend:\n  vip: 127.0.0.1\n   port: 80\n")
    assert found[0][0].startswith("(line 4,")


def test_an_unreadable_file_is_a_spec_error(tmp_path):
    assert paths(tmp_path / "missing.yml") == ["(file)"]
    too_long = {"cert_file": "c" * 5000, "key_file": "k" * 5000}
    assert paths(spec(frontend={"vip": "127.0.0.10", "tls": too_long})) == [
        "frontend.tls.cert_file", "frontend.tls.key_file"]


def test_key_material_given_for_a_path_is_refused_and_never_echoed():
    tls = {"cert_file": "/etc/x.crt", "key_file": KEY_PEM}
    found = problems(spec(frontend={"vip": "127.0.0.10", "tls": tls}))
    assert [p for p, _ in found] == ["frontend.tls.key_file"]
    assert "key material" in found[0][1]
    assert not any(looks_like_key_material(m) or "MIIEvQ" in m for _, m in found)


@pytest.mark.parametrize("data, field", [
    (spec(pools=pools(name="embed")), "pools[1].name"),
    (spec(pools=[pools()[0], pools()[0] | {"name": "chat2"}], default_pool=None), "pools[1].match"),
    (spec(pools=pools(match=None), default_pool="chat"), "pools[1].match"),
    (spec(pools=pools(match=None), default_pool="nope"), "pools[0].match pools[1].match default_pool"),
    (spec(pools=pools(require_groups=["ml"])), "pools[0].require_groups"),
    (spec(rate_limit={"requests": 10, "key": "user"}), "rate_limit.key"),
])
def test_cross_field_errors_name_the_field(data, field):
    assert paths(data) == field.split()


def test_an_accepted_spec_compiles_into_objects_the_schema_accepts():
    data = spec(auth={"oidc": OIDC | {"client_secret": "s3cret"}}, rate_limit={"requests": 5, "key": "user"},
                audit={}, pools=pools(require_groups=["ml"], backend_token="x" * 1000,
                                      cache={"paths": ["/v1/chat/models"]}))
    accepted = load_spec(data)
    objects = compile_gateway(accepted)
    assert check_compiled(objects) == []
    cred = next(o for o in objects if o.resource == "rewriteaction" and o.attrs["name"].endswith(".cred"))
    text = cred.attrs["stringbuilderexpr"].reveal()
    assert text.count('" + "') == 3  # "Bearer " + 1000 characters: 4 literals of at most 255 bytes
    assert "x" * 1000 not in str(render(accepted))
