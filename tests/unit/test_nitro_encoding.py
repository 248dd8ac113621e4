from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adcml.nitro.encoding import (
    build_query,
    decode_pairs,
    encode_attrs,
    encode_pairs,
    quote_name,
    resource_path,
    unquote_name,
)
from adcml.nitro.errors import InvalidRequest
from adcml.secret import Secret

names = st.text(min_size=1)
keys = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z")


def server_args(raw_query: str, param: str) -> dict[str, str]:
    """How a NITRO server reads args=/filter=: raw query, split on ',' then first ':'."""
    for part in raw_query.split("&"):
        key, _, value = part.partition("=")
        if key == param:
            out = {}
            for pair in value.split(","):
                k, _, v = pair.partition(":")
                out[unquote(k)] = unquote(v)
            return out
    raise AssertionError(f"{param} not in {raw_query}")


def test_examples():
    assert quote_name("a/b c") == "a%252Fb%2520c"
    assert encode_pairs({"filelocation": "/nsconfig/ssl"}) == "filelocation:%2Fnsconfig%2Fssl"
    assert encode_pairs({"type": "HTTP", "snicert": True}) == "type:HTTP,snicert:true"
    assert encode_attrs(["name", "ipv46"]) == "name,ipv46"
    assert build_query(args={"a": "x,y"}, attrs=["n"], pagesize=10, view=None) == (
        "args=a:x%2Cy&attrs=n&pagesize=10"
    )
    assert build_query() == ""


@given(names)
def test_name_round_trips_through_double_decoding(name):
    assert unquote_name(quote_name(name)) == name
    assert "/" not in quote_name(name) and "?" not in quote_name(name)


@given(names)
def test_name_survives_httpx_url_handling(name):
    path = resource_path("config", "lbvserver", name)
    url = httpx.URL("https://adc" + path + "?" + build_query(args={"k": name}))
    raw = url.raw_path.decode("ascii")
    segment = raw.split("?")[0].rsplit("/", 1)[1]
    assert unquote_name(segment) == name
    assert server_args(raw.split("?", 1)[1], "args") == {"k": name}


@given(st.dictionaries(keys, st.text() | st.integers(), min_size=1, max_size=6))
def test_args_round_trip(pairs):
    text = encode_pairs(pairs)
    expected = {k: str(v) for k, v in pairs.items()}
    assert decode_pairs(text) == expected
    assert server_args("filter=" + text, "filter") == expected


@given(st.lists(st.sampled_from(",:/%&=? é€"), max_size=12).map("".join))
def test_separators_never_leak_into_values(value):
    text = encode_pairs({"k": value})
    assert text.count(",") == 0 and text.count(":") == 1 and "&" not in text


def test_secrets_never_go_into_urls():
    with pytest.raises(TypeError):
        encode_pairs({"password": Secret("x")})


@pytest.mark.parametrize("resource", ["", "LbVserver", "lbvserver/../x", "a?b", "1abc"])
def test_resource_names_are_checked(resource):
    with pytest.raises(InvalidRequest):
        resource_path("config", resource)


def test_empty_object_name_is_refused():
    with pytest.raises(InvalidRequest):
        resource_path("config", "lbvserver", "")
