"""The secure inference path through the lab's data plane: bearer JWTs against the IdP's JWKS,
group checks (responder), backend credential injection (rewrite), rate limits, goto
semantics and audit messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port  # noqa: F401
from joserfc import jwt
from joserfc.jwk import RSAKey

from adcml.gateway import converge, load_spec

VIP = "127.0.0.13"
ISSUER = "http://127.0.6.1/idp"
AUDIENCE = "adcml-api"
BACKEND_TOKEN = "model-server-key-123"


class Idp:
    """Signs tokens; its JWKS is served by a backend."""

    def __init__(self, backend):
        self.backend = backend
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.publish()

    def publish(self) -> None:
        jwks = {"keys": [k.as_dict(private=False) for k in self.keys]}
        self.backend.static["/jwks"] = json.dumps(jwks).encode()

    @property
    def jwks_url(self) -> str:
        return f"http://{self.backend.ip}:{self.backend.port}/jwks"

    def token(self, key: RSAKey | None = None, alg: str = "RS256", **claims) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "exp": now + 300, "iat": now,
                "groups": ["ml-trusted"], **claims}
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode({"alg": alg, "kid": key.kid}, body, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict, claims: dict, secret: bytes | None) -> str:
    """A token made by hand (what an attacker sends): ``none``, or HS256 with ``secret``."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest()) if secret else ""
    return f"{signing}.{signature}"


@pytest.fixture
def secured(dplab, backends):
    """Gateway: /v1/chat needs group ml-trusted and gets a backend token; the rest is open
    to any valid token; 5 requests per 5 seconds per client."""
    idp = Idp(backends.start("idp", "127.0.6.1"))
    chat, other = backends.start("chat", "127.0.6.2"), backends.start("other", "127.0.6.3")
    port = free_port(VIP)
    spec = load_spec({
        "name": "sec", "frontend": {"vip": VIP, "port": port, "protocol": "http"},
        "auth": {"oidc": {"issuer": ISSUER, "jwks_url": idp.jwks_url, "audience": AUDIENCE,
                          "token_endpoint": f"{ISSUER}/token", "algorithms": ["RS256", "HS256"],
                          "skew_minutes": 5}},
        "pools": [{"name": "chat", "match": {"path_prefix": "/v1/chat"}, "members": [chat.member],
                   "require_groups": ["ml-trusted"], "backend_token": BACKEND_TOKEN},
                  {"name": "other", "members": [other.member]}],
        "default_pool": "other",
        "rate_limit": {"requests": 5, "per_ms": 5000, "key": "client_ip"},
        "audit": {"enabled": True},
    })
    with dplab.client() as c:
        converge(c, spec)
    dplab.settle()
    dplab.plane.extras.authenticator.kid_refetch_min = 0.0
    return f"http://{VIP}:{port}", idp, chat


def call(base: str, path: str, token: str | None = None, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}{path}", headers=headers, timeout=5, **kw)


def test_tokens_groups_and_backend_credentials(secured, caplog):
    base, idp, chat = secured
    with caplog.at_level(logging.INFO, logger="adcml.lab.access"):
        missing = call(base, "/v1/chat")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        good = idp.token()
        ok = call(base, "/v1/chat/completions", good)
        assert ok.status_code == 200 and ok.json()["name"] == "chat"
        # The member sees the backend credential, never the caller's token.
        assert chat.seen[-1]["headers"]["Authorization"] == f"Bearer {BACKEND_TOKEN}"
        assert good not in json.dumps(chat.seen)
        outsider = idp.token(groups=["interns"])
        assert call(base, "/v1/chat", outsider).status_code == 403
        assert call(base, "/v1/embeddings", outsider).json()["name"] == "other"
    lines = [r.getMessage() for r in caplog.records if r.name == "adcml.lab.access"]
    assert any("user=ana" in line and "status=200" in line for line in lines)
    assert any("status=401" in line and "authentication: no bearer token" in line for line in lines)
    assert any(" audit " in line and "decision=refused" in line for line in lines)
    assert not any(good in line or outsider in line or BACKEND_TOKEN in line for line in lines)


@pytest.mark.parametrize("case", ["expired", "not yet valid", "audience", "issuer", "no exp"])
def test_bad_claims_are_refused(secured, case):
    base, idp, _ = secured
    now = int(time.time())
    claims = {"expired": {"exp": now - 600}, "not yet valid": {"nbf": now + 600},
              "audience": {"aud": "someone-else"}, "issuer": {"iss": "http://evil"},
              "no exp": {"exp": None}}[case]
    response = call(base, "/v1/chat", idp.token(**claims))
    assert response.status_code == 401 and "invalid_token" in response.headers["WWW-Authenticate"]


def test_skew_time_is_honoured(secured):
    base, idp, _ = secured
    assert call(base, "/v1/chat", idp.token(exp=int(time.time()) - 120)).status_code == 200


def test_a_token_verified_before_is_refused_once_it_expires(dplab, secured):
    """Signatures are cached; the claims are not: expiry still applies to a cached token."""
    base, idp, _ = secured
    with dplab.client() as client:
        client.update("authenticationoauthaction", {"name": "sec.oidc", "skewtime": 0})
    dplab.settle()
    token = idp.token(exp=int(time.time()) + 2)
    assert call(base, "/v1/chat", token).status_code == 200
    assert call(base, "/v1/chat", token).status_code == 200  # from the cache
    time.sleep(3)
    assert call(base, "/v1/chat", token).status_code == 401


def test_forged_tokens_are_refused(secured):
    base, idp, _ = secured
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 300,
              "groups": ["ml-trusted"]}
    assert call(base, "/v1/chat", forged({"alg": "none", "kid": "k1"}, claims, None)).status_code == 401
    # Key confusion: HS256 "signed" with the RSA public key the JWKS publishes.
    public_pem = idp.keys[0].as_pem(private=False)
    confused = forged({"alg": "HS256", "kid": "k1"}, claims, public_pem)
    assert call(base, "/v1/chat", confused).status_code == 401
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, other key
    assert call(base, "/v1/chat", idp.token(key=stranger)).status_code == 401
    assert call(base, "/v1/chat", "not.a.token").status_code == 401


def test_hs256_uses_the_client_secret(dplab, secured):
    base, idp, _ = secured
    secret = "a-shared-secret-of-at-least-32-bytes!"
    with dplab.client() as c:
        c.update("authenticationoauthaction", {"name": "sec.oidc", "clientsecret": secret})
    dplab.settle()
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "svc", "exp": int(time.time()) + 300,
              "groups": ["ml-trusted"]}
    assert call(base, "/v1/chat", forged({"alg": "HS256"}, claims, secret.encode())).status_code == 200
    assert call(base, "/v1/chat", forged({"alg": "HS256"}, claims, b"wrong")).status_code == 401
    assert call(base, "/v1/chat", idp.token()).status_code == 200  # RS256 still works


def test_a_new_signing_key_is_fetched_on_unknown_kid(secured):
    base, idp, _ = secured
    assert call(base, "/v1/chat", idp.token()).status_code == 200
    fetches = idp.backend.hits
    new = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    idp.keys.append(new)
    idp.publish()
    assert call(base, "/v1/chat", idp.token(key=new)).status_code == 200
    assert idp.backend.hits == fetches + 1
    assert call(base, "/v1/chat", idp.token(key=new)).status_code == 200
    assert idp.backend.hits == fetches + 1  # cached


def test_rate_limit_per_client(secured):
    base, idp, _ = secured
    token = idp.token()
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
        codes = [http.get(f"{base}/v1/chat").status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        time.sleep(1.05)  # 5 per 5 s: a token back every second
        assert http.get(f"{base}/v1/chat").status_code == 200


def test_responder_and_rewrite_with_goto(dplab, backends):
    """Direct NITRO config: goto NEXT / END / a priority, redirect, respondwith, replace."""
    echo = backends.start("echo", "127.0.6.4")
    port = free_port(VIP)
    with dplab.client() as c:
        c.enable_features(["LB", "REWRITE", "RESPONDER"])
        c.add("lbvserver", {"name": "api", "servicetype": "HTTP", "ipv46": VIP, "port": port})
        c.add("servicegroup", {"servicegroupname": "api", "servicetype": "HTTP"})
        c.bind("servicegroup_servicegroupmember_binding",
               {"servicegroupname": "api", "ip": echo.ip, "port": echo.port})
        c.bind("lbvserver_servicegroup_binding", {"name": "api", "servicegroupname": "api"})
        c.add("responderaction", [
            {"name": "moved", "type": "redirect", "target": '"https://new.example" + HTTP.REQ.URL.PATH',
             "responsestatuscode": 301},
            {"name": "teapot", "type": "respondwith",
             "target": '"HTTP/1.1 418 Teapot\\r\\nX-Why: policy\\r\\n\\r\\nshort and stout"'},
        ])
        c.add("responderpolicy", [
            {"name": "old", "rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/old")', "action": "moved"},
            {"name": "pot", "rule": 'HTTP.REQ.HEADER("X-Tea").EXISTS', "action": "teapot"},
            {"name": "skip", "rule": 'HTTP.REQ.HEADER("X-Skip").EXISTS', "action": "NOOP"},
        ])
        c.bind("lbvserver_responderpolicy_binding", [
            {"name": "api", "policyname": "skip", "priority": 10, "gotopriorityexpression": "30"},
            {"name": "api", "policyname": "old", "priority": 20, "gotopriorityexpression": "END"},
            {"name": "api", "policyname": "pot", "priority": 30, "gotopriorityexpression": "END"},
        ])
        c.add("rewriteaction", [
            {"name": "tag", "type": "insert_http_header", "target": "X-Via",
             "stringbuilderexpr": '"lab " + CLIENT.IP.SRC'},
            {"name": "strip", "type": "delete_http_header", "target": "X-Internal"},
            {"name": "v2", "type": "replace", "target": "HTTP.REQ.URL.PATH",
             "stringbuilderexpr": '"/v2" + HTTP.REQ.URL.PATH.AFTER_STR("/v1")'},
        ])
        c.add("rewritepolicy", [
            {"name": "tag", "rule": "true", "action": "tag"},
            {"name": "strip", "rule": "true", "action": "strip"},
            {"name": "v2", "rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/v1/")', "action": "v2"},
        ])
        c.bind("lbvserver_rewritepolicy_binding", [
            {"name": "api", "policyname": "tag", "priority": 10, "gotopriorityexpression": "NEXT",
             "bindpoint": "REQUEST"},
            {"name": "api", "policyname": "strip", "priority": 20, "gotopriorityexpression": "NEXT",
             "bindpoint": "REQUEST"},
            {"name": "api", "policyname": "v2", "priority": 30, "gotopriorityexpression": "END",
             "bindpoint": "REQUEST"},
        ])
    dplab.settle()
    base = f"http://{VIP}:{port}"
    moved = httpx.get(f"{base}/old/page")
    assert (moved.status_code, moved.headers["Location"]) == (301, "https://new.example/old/page")
    tea = httpx.get(f"{base}/x", headers={"X-Tea": "1"})
    assert (tea.status_code, tea.headers["X-Why"], tea.text) == (418, "policy", "short and stout")
    # goto 30 from "skip" jumps over "old" straight to "pot".
    assert httpx.get(f"{base}/old/page", headers={"X-Skip": "1"}).status_code == 200
    assert httpx.get(f"{base}/old/page", headers={"X-Skip": "1", "X-Tea": "1"}).status_code == 418
    seen = httpx.get(f"{base}/v1/models?x=1", headers={"X-Internal": "secret"}).json()
    assert seen["path"] == "/v2/models" and seen["query"] == "x=1"
    assert seen["headers"]["X-Via"] == "lab 127.0.0.1" and "X-Internal" not in seen["headers"]
