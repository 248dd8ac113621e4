"""The secure inference path end to end, as a user meets it: a gateway converged by the engine
onto a lab ADC that carries traffic, a TLS frontend with a lab-CA certificate, bearer tokens
from the lab IdP (an OpenID provider on authlib), real HTTP clients."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, fast_monitor, free_port, wait_until  # noqa: F401
from joserfc.jwk import RSAKey

from adcml.gateway import converge, load_spec
from adcml.lab.services.idp import LabIdP
from adcml.lab.services.pki import LabCA

VIP = "127.0.7.10"
HOST = "api.lab.test"
AUDIENCE = "adcml-lab"
CHAT_KEY = "chat-model-server-key-7f3a"


@pytest.fixture(scope="module")
def idp():
    with LabIdP() as provider:
        yield provider


@pytest.fixture
def gateway(dplab, backends, idp, tmp_path):
    ca = LabCA()
    issued = ca.issue(HOST, sans=(HOST, VIP))
    issued.write(tmp_path / "gw.crt", tmp_path / "gw.key")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    chat = [backends.start("chat-1", "127.0.7.21"), backends.start("chat-2", "127.0.7.22")]
    embed = backends.start("embed", "127.0.7.23")
    port = free_port(VIP)
    discovery = idp.discovery()
    spec = load_spec({
        "name": "e2e",
        "frontend": {"vip": VIP, "port": port, "protocol": "https",
                     "tls": {"cert_file": str(tmp_path / "gw.crt"), "key_file": str(tmp_path / "gw.key")}},
        "auth": {"oidc": {"issuer": idp.issuer, "jwks_url": idp.jwks_uri, "audience": AUDIENCE,
                          "token_endpoint": discovery["token_endpoint"], "skew_minutes": 1}},
        "pools": [
            {"name": "chat", "match": {"path_prefix": "/v1/chat"}, "members": [b.member for b in chat],
             "lb_method": "ROUNDROBIN", "require_groups": ["ml-trusted"], "backend_token": CHAT_KEY},
            {"name": "embed", "match": {"path_prefix": "/v1/embeddings"}, "members": [embed.member]},
        ],
        "default_pool": "embed",
        "rate_limit": {"requests": 30, "per_ms": 60000},
        "audit": {},
    })
    with dplab.client() as client:
        converge(client, spec)
        fast_monitor(client, "e2e.chat")
    dplab.settle()
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    http = httpx.Client(base_url=f"https://{VIP}:{port}", verify=trust, timeout=5)
    yield http, chat, embed
    http.close()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_decide_who_reaches_which_pool(gateway, idp):
    http, chat, embed = gateway
    assert http.post("/v1/chat/completions").status_code == 401
    trusted = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    reply = http.post("/v1/chat/completions", json={"q": 1}, headers=bearer(trusted))
    assert reply.status_code == 200 and reply.json()["name"].startswith("chat-")
    assert http.post("/v1/embeddings", headers=bearer(trusted)).json()["name"] == "embed"
    intern = idp.token("ben", groups=["interns"], audience=AUDIENCE)
    assert http.post("/v1/chat/completions", headers=bearer(intern)).status_code == 403
    assert http.post("/v1/embeddings", headers=bearer(intern)).status_code == 200


def test_backend_gets_the_injected_credential_and_the_client_never_does(gateway, idp):
    http, chat, embed = gateway
    token = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    reply = http.post("/v1/chat/completions", headers=bearer(token))
    seen = [r for b in chat for r in b.seen][-1]
    assert seen["headers"]["Authorization"] == f"Bearer {CHAT_KEY}"
    assert token not in json.dumps([r for b in chat for r in b.seen])
    assert CHAT_KEY not in str(reply.headers)  # (the echo backend's body shows what it received)
    http.post("/v1/embeddings", headers=bearer(token))
    assert embed.seen[-1]["headers"]["Authorization"] == f"Bearer {token}"  # no injection there


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict, dict]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(head))), json.loads(base64.urlsafe_b64decode(pad(body)))


def _forge(header: dict, claims: dict, key: bytes | None) -> str:
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing}.{signature}"


def test_bad_tokens_are_refused(gateway, idp):
    http, _, _ = gateway
    good = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    header, claims = _parts(good)
    public_pem = RSAKey.import_key(idp.public_jwks()["keys"][0]).as_pem(private=False)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    cases = {
        "expired": idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE, lifetime=-600),
        "not yet valid": idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE, not_before_offset=600),
        "wrong audience": idp.token("ana", groups=["ml-trusted"], audience="someone-else"),
        "wrong issuer": idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE,
                                  extra_claims={"iss": "http://127.0.0.1:1/evil"}),
        "bad signature": tampered,
        "alg none": _forge({"alg": "none", "typ": "JWT"}, claims, None),
        "HS256 keyed with the public key": _forge({"alg": "HS256", "typ": "JWT"}, claims, public_pem),
    }
    assert http.post("/v1/embeddings", headers=bearer(good)).status_code == 200
    for case, token in cases.items():
        reply = http.post("/v1/embeddings", headers=bearer(token))
        assert reply.status_code == 401, case
    assert header["alg"] == "RS256"


def test_rate_limit_answers_429_over_the_limit(gateway, idp):
    http, _, _ = gateway
    token = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    codes = [http.post("/v1/embeddings", headers=bearer(token)).status_code for _ in range(40)]
    assert codes[:30] == [200] * 30
    assert set(codes[30:]) == {429}


def test_a_killed_member_is_taken_out_and_traffic_moves(gateway, idp, backends):
    http, chat, _ = gateway
    token = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    backends.kill(chat[0])
    started = time.monotonic()
    wait_until(lambda: all(http.post("/v1/chat/completions", headers=bearer(token)).json()["name"]
                           == "chat-2" for _ in range(4)), timeout=5)
    assert time.monotonic() - started < 5
    names = {http.post("/v1/chat/completions", headers=bearer(token)).json()["name"] for _ in range(10)}
    assert names == {"chat-2"}
