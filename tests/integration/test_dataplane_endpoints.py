"""A Hugging Face Inference Endpoint as a pool member, through the lab's data plane: its host
name resolved only through the ADC's own address records (dnsaddrec, loopback only), TLS to it
with SNI and server authentication against a bound CA (requests and secure monitors alike), the
Host header replaced with the endpoint's, and the caller's identity in headers the client
cannot forge. Every write goes through the lab's NITRO API; the endpoints are real servers."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, fast_monitor, free_port, lb_pool  # noqa: F401
from joserfc import jwt
from joserfc.jwk import RSAKey

from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroError

VIP = "127.0.0.14"
HOST = "embedder-lab.us-east-1.aws.endpoints.hf.test"
ISSUER, AUDIENCE = "http://127.0.9.100/idp", "adcml-api"


@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA()


def endpoint_pool(client, backend, *, servicetype: str = "HTTP") -> str:
    """Server ``ep`` (domain HOST) as the one member of pool ``ep``, served on VIP; its URL."""
    client.enable_features(["LB", "SSL", "REWRITE", "AAA"])
    client.add("server", {"name": "ep", "domain": HOST})
    port = free_port(VIP)
    lb_pool(client, "ep", [{"servername": "ep", "port": backend.port}], servicetype=servicetype,
            address=(VIP, port))
    return f"http://{VIP}:{port}"


def member(dplab) -> dict:
    return next(m for m in dplab.status()["members"] if m["server"] == "ep")


def who(url: str, **kw) -> str:
    response = httpx.get(url, timeout=5, **kw)
    assert response.status_code == 200, response.text
    return response.json()["name"]


# --- names ------------------------------------------------------------------------------------
def test_the_endpoint_name_resolves_only_through_address_records(dplab, backends):
    first = backends.start("hf", "127.0.9.1")
    # the same port on another address: a changed record is all that moves the member
    second = backends.start("hf2", "127.0.9.2", first.port)
    with dplab.client() as c:
        base = endpoint_pool(c, first)
        dplab.settle()
        assert "no dnsaddrec record" in member(dplab)["unreachable"]
        assert httpx.get(f"{base}/v1/x", timeout=5).status_code == 503
        # names compare as DNS compares them: case and a trailing dot do not matter
        c.add("dnsaddrec", {"hostname": HOST.upper() + ".", "ipaddress": first.ip})
        dplab.settle()
        got = member(dplab)
        assert (got["ip"], got["unreachable"], got["state"]) == (first.ip, None, "UP")
        assert who(f"{base}/v1/x") == "hf"
        [stat] = c.stat("servicegroupmember", args={"servicegroupname": "ep"})
        assert stat["primaryipaddress"] == first.ip
        # re-resolved on every config change: a new record moves the member
        c.delete("dnsaddrec", HOST.upper() + ".")
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": second.ip})
        dplab.settle()
        assert who(f"{base}/v1/x") == "hf2"
        c.delete("dnsaddrec", HOST)
        dplab.settle()
        assert httpx.get(f"{base}/v1/x", timeout=5).status_code == 503
        # a record off loopback: never contacted, never probed
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": "192.0.2.10"})
        dplab.settle()
        got = member(dplab)
        assert "192.0.2.10" in got["unreachable"] and "not a loopback address" in got["unreachable"]
        assert got["state"] == "DOWN" and got["lastresponse"].endswith("never probed.")
        assert httpx.get(f"{base}/v1/x", timeout=5).status_code == 503
    assert first.hits + second.hits == 2


def test_a_wildcard_record_answers_every_name_below_its_domain_unless_one_has_its_own(dplab, backends):
    first = backends.start("hf", "127.0.9.1")
    second = backends.start("hf2", "127.0.9.2", first.port)
    domain = HOST.split(".", 1)[1]
    with dplab.client() as c:
        base = endpoint_pool(c, first)
        c.add("dnsaddrec", {"hostname": f"*.{domain}", "ipaddress": first.ip})
        dplab.settle()
        assert who(f"{base}/v1/x") == "hf"
        assert c.get("dnsaddrec", f"*.{domain}")[0]["ipaddress"] == first.ip
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": second.ip})  # a closer name wins
        dplab.settle()
        assert who(f"{base}/v1/x") == "hf2"
        with pytest.raises(NitroError) as refused:
            c.add("dnsaddrec", {"hostname": "a.*.example.test", "ipaddress": first.ip})
        assert refused.value.errorcode == 1097


# --- TLS to the endpoint ----------------------------------------------------------------------
TLS_CASES = {
    # case: (snienable, commonname, serverauth, CA bound, served, SNI the endpoint sees)
    "verified, with SNI": ("ENABLED", HOST, "ENABLED", "lab", True, HOST),
    "verified, no SNI": ("DISABLED", HOST, "ENABLED", "lab", True, None),
    "not verified": ("ENABLED", HOST, "DISABLED", "other", True, HOST),
    "another CA": ("ENABLED", HOST, "ENABLED", "other", False, None),
    "another name": ("ENABLED", "other.hf.test", "ENABLED", "lab", False, None),
    "another name, no SNI": ("DISABLED", "other.hf.test", "ENABLED", "lab", False, None),
    "no CA bound": ("ENABLED", HOST, "ENABLED", None, False, None),
}


@pytest.mark.parametrize("case", TLS_CASES)
def test_tls_to_the_endpoint(dplab, backends, ca, case):
    snienable, commonname, serverauth, bound, served, sni = TLS_CASES[case]
    backend = backends.start("hf", "127.0.9.5", tls=ca.issue(HOST, sans=(HOST,)))
    with dplab.client() as c:
        base = endpoint_pool(c, backend, servicetype="SSL")
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": backend.ip})
        for name, authority in (("lab", ca), ("other", LabCA("another CA"))):
            c.upload_file(f"{name}-ca.pem", authority.cert_pem)
            c.add("sslcertkey", {"certkey": f"{name}-ca", "cert": f"{name}-ca.pem"})
        if bound:
            c.bind("sslservicegroup_sslcertkey_binding",
                   {"servicegroupname": "ep", "certkeyname": f"{bound}-ca", "ca": True})
        c.update("sslservicegroup", {"servicegroupname": "ep", "snienable": snienable,
                                     "commonname": commonname, "serverauth": serverauth})
        dplab.settle()
        response = httpx.get(f"{base}/v1/x", timeout=5)
        if served:
            assert response.status_code == 200 and response.json()["name"] == "hf"
            assert backend.snis and set(backend.snis) == {sni}
        else:
            assert response.status_code == 503 and backend.hits == 0
            assert "certificate verify failed" in member(dplab)["last_failure"]
        # a secure monitor of the group checks the same way (a TLS handshake, as the gateway's)
        c.add("lbmonitor", {"monitorname": "ep", "type": "TCP", "secure": "YES"})
        fast_monitor(c, "ep", kind="TCP")
        c.bind("servicegroup_lbmonitor_binding", {"servicegroupname": "ep", "monitor_name": "ep"})
        dplab.settle()
        got = member(dplab)
        assert got["state"] == ("UP" if served else "DOWN"), got
        if not served:
            assert "certificate verify failed" in got["lastresponse"]


# --- Host and identity headers ----------------------------------------------------------------
def test_the_host_header_becomes_the_endpoints(dplab, backends):
    backend = backends.start("hf", "127.0.9.3")
    with dplab.client() as c:
        base = endpoint_pool(c, backend)
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": backend.ip})
        c.add("rewriteaction", {"name": "ep.host", "type": "replace", "target": "HTTP.REQ.HOSTNAME",
                                "stringbuilderexpr": f'"{HOST}"'})
        c.add("rewritepolicy", {"name": "ep.host", "rule": "true", "action": "ep.host"})
        c.bind("lbvserver_rewritepolicy_binding", {"name": "ep", "policyname": "ep.host",
                                                   "priority": 100, "bindpoint": "REQUEST"})
        dplab.settle()
    port = base.rsplit(":", 1)[1]

    def host_seen(**headers: str) -> str:
        return httpx.get(f"{base}/v1/x", headers=headers, timeout=5).json()["headers"]["Host"]

    assert host_seen(Host="gw.lab.test") == HOST
    assert host_seen(Host="gw.lab.test:8443") == f"{HOST}:8443"  # the client's port is kept
    assert host_seen() == f"{HOST}:{port}"


class Idp:
    """Signs tokens; its JWKS is served by a backend."""

    def __init__(self, backend):
        self.backend, self.key = backend, RSAKey.generate_key(2048, parameters={"kid": "k1"})
        backend.static["/jwks"] = json.dumps({"keys": [self.key.as_dict(private=False)]}).encode()

    def token(self, **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "exp": now + 300, **claims}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, body, self.key)


def bearer_auth(client, idp: Idp, vserver: str) -> None:
    """LB vserver ``vserver`` answers 401 itself and validates bearer JWTs against ``idp``,
    keeping the ``groups`` claim."""
    jwks = f"http://{idp.backend.ip}:{idp.backend.port}/jwks"
    client.add("authenticationvserver", {"name": "ep.auth", "servicetype": "SSL",
                                         "authentication": "ON"})
    client.add("authenticationoauthaction", {
        "name": "ep.oidc", "certendpoint": jwks, "issuer": ISSUER, "audience": AUDIENCE,
        "tokenendpoint": f"{ISSUER}/token", "allowedalgorithms": ["RS256"], "attributes": "groups"})
    client.add("authenticationpolicy", {"name": "ep.oidc", "rule": "true", "action": "ep.oidc"})
    client.bind("authenticationvserver_authenticationpolicy_binding",
                {"name": "ep.auth", "policy": "ep.oidc", "priority": 100})
    client.update("lbvserver", {"name": vserver, "authentication": "ON", "authn401": "ON",
                                "authnvsname": "ep.auth"})


IDENTITY = [  # (name, type, target, stringbuilderexpr, priority): inserts first on purpose
    ("ep.user", "insert_http_header", "X-Forwarded-User", "HTTP.REQ.USER.NAME", 100),
    ("ep.groups", "insert_http_header", "X-Forwarded-Groups", 'HTTP.REQ.USER.ATTRIBUTE("groups")', 110),
    ("ep.scale", "insert_http_header", "X-Scale-Up-Timeout", '"300"', 120),
    ("ep.nouser", "delete_http_header", "X-Forwarded-User", None, 130),
    ("ep.nogroups", "delete_http_header", "X-Forwarded-Groups", None, 140),
]


def test_identity_headers_replace_the_clients_copies(dplab, backends):
    backend = backends.start("hf", "127.0.9.4")
    idp = Idp(backends.start("idp", "127.0.9.100"))
    with dplab.client() as c:
        base = endpoint_pool(c, backend)
        c.add("dnsaddrec", {"hostname": HOST, "ipaddress": backend.ip})
        bearer_auth(c, idp, "ep")
        for name, kind, target, value, priority in IDENTITY:
            c.add("rewriteaction", {"name": name, "type": kind, "target": target,
                                    **({"stringbuilderexpr": value} if value else {})})
            c.add("rewritepolicy", {"name": name, "rule": "true", "action": name})
            c.bind("lbvserver_rewritepolicy_binding", {
                "name": "ep", "policyname": name, "priority": priority,
                "gotopriorityexpression": "NEXT", "bindpoint": "REQUEST"})
        dplab.settle()

    def seen(token: str) -> dict[str, list[str]]:
        forged = [("Authorization", f"Bearer {token}"), ("X-Forwarded-User", "mallory"),
                  ("X-Forwarded-Groups", "admins"), ("x-forwarded-groups", "root")]
        response = httpx.get(f"{base}/v1/embed", headers=forged, timeout=5)
        assert response.status_code == 200, response.text
        out: dict[str, list[str]] = {}
        for name, header in response.json()["header_items"]:
            out.setdefault(name.lower(), []).append(header)
        return out

    headers = seen(idp.token(groups=["ml-trusted", "interns"]))
    assert headers["x-forwarded-user"] == ["ana"]
    assert headers["x-forwarded-groups"] == ["ml-trusted,interns"]  # a list claim, comma-joined
    assert headers["x-scale-up-timeout"] == ["300"]
    assert seen(idp.token(sub="bo", groups="solo"))["x-forwarded-groups"] == ["solo"]
    assert httpx.get(f"{base}/v1/embed", timeout=5).status_code == 401
