"""RequestContext and its header mapping."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from adcml.policy import Headers, RequestContext, evaluate, parse_rule


def test_headers_are_case_insensitive_and_multi_valued():
    h = Headers([("Accept", "a"), ("X-One", "1"), ("accept", "b")])
    assert h["ACCEPT"] == "a, b" and h.get("accept") == "a, b"
    assert h.get_all("Accept") == ("a", "b")
    assert h.get_all("missing") == () and h.get("missing") is None
    assert "x-one" in h and "x-two" not in h and 3 not in h
    assert len(h) == 2 and list(h) == ["accept", "x-one"]
    assert h.multi_items() == (("Accept", "a"), ("X-One", "1"), ("accept", "b"))
    with pytest.raises(KeyError):
        h["missing"]
    assert "Accept" in repr(h)


@pytest.mark.parametrize("source", [
    {"Host": "h", "X-A": "1"},
    [("Host", "h"), ("X-A", "1")],
    httpx.Headers([("Host", "h"), ("X-A", "1")]),
    Headers({"Host": "h", "X-A": "1"}),
])
def test_headers_accept_dicts_pairs_and_client_types(source):
    ctx = RequestContext(headers=source)
    assert isinstance(ctx.headers, Headers)
    assert ctx.headers.get_all("x-a") == ("1",) and ctx.hostname == "h"


@pytest.mark.parametrize("make", [
    lambda pairs: httpx.Headers(pairs),
    lambda pairs: CIMultiDictProxy(CIMultiDict(pairs)),   # aiohttp's request.headers
])
def test_repeated_headers_of_client_and_server_types_stay_separate(make):
    h = Headers(make([("Accept", "a"), ("accept", "b")]))
    assert h.get_all("ACCEPT") == ("a", "b")


def test_header_names_and_values_must_be_text():
    with pytest.raises(TypeError):
        Headers({"X": 1})  # type: ignore[dict-item]


@pytest.mark.parametrize(("host", "hostname"), [
    ("api.example.com", "api.example.com"),
    ("api.example.com:8443", "api.example.com"),
    ("[2001:db8::1]:443", "[2001:db8::1]"),
    ("[2001:db8::1]", "[2001:db8::1]"),
    (" spaced.example ", "spaced.example"),
])
def test_hostname_defaults_to_the_host_header_without_port(host, hostname):
    assert RequestContext(headers={"Host": host}).hostname == hostname


def test_an_explicit_hostname_wins():
    assert RequestContext(hostname="given", headers={"Host": "other"}).hostname == "given"


def test_the_context_is_immutable_and_has_defaults():
    ctx = RequestContext()
    assert (ctx.method, ctx.url, ctx.hostname, ctx.client_ip, ctx.body) == ("GET", "/", "", "", b"")
    assert ctx.authenticated_user is None and ctx.check_limit is None and len(ctx.headers) == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.url = "/x"  # type: ignore[misc]


def test_user_attribute_lookup():
    ctx = RequestContext(user_attributes={"groups": ["a", "b"], "Groups": "upper", "email": "e"})
    assert ctx.attribute("groups") == ("a", "b")
    assert ctx.attribute("Groups") == ("upper",)
    assert ctx.attribute("EMAIL") == ("e",)
    assert ctx.attribute("missing") == ()


def test_evaluation_is_fast_enough_for_the_data_plane():
    rule = parse_rule('HTTP.REQ.URL.PATH.STARTSWITH("/v1/models/x") && HTTP.REQ.METHOD.EQ(POST) && '
                      'HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("ml-trusted") && '
                      'CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8) && SYS.CHECK_LIMIT("tenant")')
    ctx = RequestContext(method="POST", url="/v1/models/x/infer", client_ip="10.1.1.1",
                         user_attributes={"groups": ["ml-users", "ml-trusted"]}, check_limit=lambda n: False)
    assert evaluate(rule, ctx) is False
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        evaluate(rule, ctx)
    per_rule = (time.perf_counter() - start) / n
    assert per_rule < 200e-6, f"{per_rule * 1e6:.1f} µs per evaluation"
