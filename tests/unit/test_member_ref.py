"""A pool member as NITRO names it is what the gateway engine binds: the same service group
name and the member's IP as its server name (an appliance names the implicit server after it)."""

from __future__ import annotations

import pytest

from adcml.gateway import compile_gateway, load_spec
from adcml.gateway.members import MemberRef


def test_member_ref_matches_what_the_engine_binds():
    spec = load_spec({"name": "llm", "frontend": {"vip": "10.0.0.10", "port": 80, "protocol": "http"},
                      "pools": [{"name": "embed", "members": [{"host": "10.0.1.21", "port": 8000},
                                                               {"host": "2001:db8::0:1", "port": 8001}]}],
                      "default_pool": "embed"})
    bound = {(d.attrs["servicegroupname"], d.attrs["ip"], d.attrs["port"]) for d in compile_gateway(spec)
             if d.resource == "servicegroup_servicegroupmember_binding"}
    refs = {MemberRef.of_pool("llm", "embed", "10.0.1.21", 8000),
            MemberRef.of_pool("llm", "embed", "2001:db8:0::1", 8001)}  # written differently
    assert {(r.servicegroup, r.servername, r.port) for r in refs} == bound
    assert str(MemberRef("llm.embed", "10.0.1.21", 8000)) == "service group llm.embed member 10.0.1.21:8000"


@pytest.mark.parametrize("host, port, message", [
    ("gpu-1.example.com", 8000, "host: Value error, 'gpu-1.example.com' is not an IP address"),
    ("10.0.1.21", 70000, "port: Input should be less than or equal to 65535"),
])
def test_a_bad_member_names_the_field(host, port, message):
    with pytest.raises(ValueError) as caught:
        MemberRef.of_pool("llm", "embed", host, port)
    assert str(caught.value) == message
