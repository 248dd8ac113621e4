"""The lab IdP over real HTTP: discovery, JWKS, tokens, registered clients, the code flow, logout.

Tokens are verified the way a relying party (the lab ADC) does: signature against the JWKS
fetched over HTTP, RS256 only, then iss/aud/exp/nbf. Hostile tokens are forged here with
joserfc (``forge_*``) to check that this recipe rejects them; the IdP never signs them. The
code flow is driven the way a relying party (NetScaler's OAuth action) drives it: ``RP`` below.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import KeySet, RSAKey

from adcml.lab.services.idp import LabIdP
from adcml.lab.services.idp_client import DEFAULT_AUDIENCE, IdPError, LabIdPClient, s256_challenge

# The provider runs authlib in this process: any deprecated API it reaches fails the request.
pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")

LIFETIME = 600


@pytest.fixture(scope="module")
def idp():
    with LabIdP(token_lifetime=LIFETIME) as running:
        yield running


def verify(idp: LabIdPClient, token: str, *, audience: str = DEFAULT_AUDIENCE,
           leeway: int = 0) -> dict:
    """Verify as the ADC does: JWKS over HTTP, RS256 only, essential iss/aud/sub/exp/iat."""
    keys = KeySet.import_key_set(idp.public_jwks())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": idp.issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


# --- hostile tokens, forged by the test -------------------------------------------------------
def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forge_alg_none(claims: dict) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def forge_hs256_with_public_key(claims: dict, jwks: dict) -> str:
    """The key-confusion attack: HMAC keyed with the IdP's public key (PEM).

    Signed by hand: joserfc itself refuses to use an RSA public key as an HMAC secret.
    """
    public_pem = RSAKey.import_key(jwks["keys"][0]).as_pem(private=False)
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def forge_foreign_rsa(claims: dict, kid: str) -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, RSAKey.generate_key(2048))


# --- discovery and keys -----------------------------------------------------------------------
def test_discovery_names_issuer_and_endpoints(idp):
    assert idp.issuer.startswith("http://127.0.0.1:")
    assert idp.discovery_url == f"{idp.issuer}/.well-known/openid-configuration"
    doc = httpx.get(idp.discovery_url).json()
    assert doc["issuer"] == idp.issuer
    assert doc["jwks_uri"] == idp.jwks_uri
    assert doc["token_endpoint"] == idp.token_endpoint
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_issuer_does_not_follow_the_host_header(idp):
    doc = httpx.get(idp.discovery_url, headers={"Host": "idp.example:1234"}).json()
    assert doc["issuer"] == idp.issuer
    assert doc["jwks_uri"] == idp.jwks_uri


def test_jwks_has_one_public_rsa_key(idp):
    (key,) = idp.public_jwks()["keys"]
    assert key["kty"] == "RSA" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private members published"


# --- tokens -----------------------------------------------------------------------------------
def test_token_for_alice_verifies_against_jwks(idp):
    token = idp.token("alice", groups=["ml-trusted"])
    claims = verify(idp, token)
    assert claims["sub"] == "alice"
    assert claims["groups"] == ["ml-trusted"]
    assert claims["aud"] == [DEFAULT_AUDIENCE]
    assert claims["iss"] == idp.issuer
    assert claims["nbf"] <= claims["iat"] <= time.time() < claims["exp"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256"


def test_two_users_get_their_own_sub_and_groups(idp):
    alice = verify(idp, idp.token("alice", groups=["ml-trusted"]))
    bob = verify(idp, idp.token("bob@example.com", groups=["ml-guest", "ops"]))
    assert (alice["sub"], alice["groups"]) == ("alice", ["ml-trusted"])
    assert (bob["sub"], bob["groups"]) == ("bob@example.com", ["ml-guest", "ops"])


def test_lifetime_default_and_per_token(idp):
    default = verify(idp, idp.token("alice"))
    # the provider reads the clock twice (exp, then iat): a second may tick in between
    assert default["exp"] - default["iat"] in (LIFETIME, LIFETIME - 1)
    short = verify(idp, idp.token("alice", lifetime=timedelta(minutes=5)))
    assert short["exp"] - short["iat"] == 300
    odd = verify(idp, idp.token("alice", lifetime=42.9))
    assert odd["exp"] - odd["iat"] == 42


def test_expired_and_not_yet_valid_tokens(idp):
    with pytest.raises(ExpiredTokenError):
        verify(idp, idp.token("alice", lifetime=-30))
    verify(idp, idp.token("alice", lifetime=-30), leeway=60)  # inside the skew allowance
    early = idp.token("alice", not_before_offset=120)
    with pytest.raises(InvalidClaimError, match="not yet valid"):
        verify(idp, early)
    assert verify(idp, early, leeway=180)["nbf"] - time.time() > 100


def test_audience_is_the_client_id_or_set_per_token(idp):
    assert verify(idp, idp.token("alice", audience="llama-api"), audience="llama-api")["aud"] == [
        "llama-api"]
    other = idp.token("alice", audience="llama-api", client_id="portal")
    assert verify(idp, other, audience="llama-api")["aud"] == ["llama-api"]
    with pytest.raises(InvalidClaimError):
        verify(idp, idp.token("alice", audience="someone-else"))


def test_extra_claims_are_signed_by_the_provider(idp):
    token = idp.token("alice", extra_claims={"iss": "https://evil.example", "tenant": "t1"})
    with pytest.raises(InvalidClaimError):
        verify(idp, token)  # properly signed, wrong issuer
    decoded = jwt.decode(token, KeySet.import_key_set(idp.public_jwks()), algorithms=["RS256"])
    assert decoded.claims["tenant"] == "t1"
    with pytest.raises(ValueError, match="sub"):
        idp.token("alice", extra_claims={"sub": "mallory"})


def test_token_response_also_has_an_opaque_access_token(idp):
    answer = idp.token_response("alice")
    assert answer["token_type"] == "Bearer"
    assert answer["access_token"].count(".") != 2, "the access token is not a JWT"
    assert verify(idp, answer["id_token"])["sub"] == "alice"


@pytest.mark.parametrize("forge", ["none", "hs256-public-key", "foreign-rsa"])
def test_forged_tokens_are_rejected(idp, forge):
    claims = verify(idp, idp.token("mallory", groups=["ml-trusted"]))
    jwks = idp.public_jwks()
    token = {
        "none": lambda: forge_alg_none(claims),
        "hs256-public-key": lambda: forge_hs256_with_public_key(claims, jwks),
        "foreign-rsa": lambda: forge_foreign_rsa(claims, jwks["keys"][0]["kid"]),
    }[forge]()
    with pytest.raises(JoseError):
        verify(idp, token)


# --- a relying party's side of the code flow ----------------------------------------------------
CALLBACK = "http://127.0.0.1:8765/callback"
BYE = "http://127.0.0.1:8765/bye"


@dataclass
class Authorization:
    """One authorization request, its answer, and what the relying party keeps for the exchange."""

    params: dict[str, str]
    response: httpx.Response
    state: str
    nonce: str
    verifier: str | None

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.response.headers.get("location", "")).query)

    @property
    def code(self) -> str:
        return self.query["code"][0]


@dataclass
class RP:
    """A relying party registered (or not) at the IdP: authorize, then exchange the code."""

    issuer: str
    client_id: str
    secret: str
    redirect_uri: str = CALLBACK

    def request(self, *, pkce: bool = True, **overrides: str) -> Authorization:
        """The authorization request's parameters (not sent yet)."""
        state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        verifier = secrets.token_urlsafe(48) if pkce else None
        params = {"client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "response_type": "code", "scope": "openid email groups", "state": state,
                  "nonce": nonce}
        if verifier:
            params |= {"code_challenge": s256_challenge(verifier), "code_challenge_method": "S256"}
        return Authorization(params | overrides, httpx.Response(0), state, nonce, verifier)

    def sign_in(self, sub: str, *, pkce: bool = True, form: dict[str, str] | None = None,
                **overrides: str) -> Authorization:
        """Authorize as ``sub`` non-interactively (what the login form posts)."""
        auth = self.request(pkce=pkce, **overrides)
        auth.response = httpx.post(f"{self.issuer}/oauth2/authorize", params=auth.params,
                                   data={"sub": sub, **(form or {})})
        return auth

    def exchange(self, code: str, verifier: str | None, *, secret: str | None = None,
                 method: str = "client_secret_basic") -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        if verifier:
            data["code_verifier"] = verifier
        secret = self.secret if secret is None else secret
        if method == "client_secret_post":
            data |= {"client_id": self.client_id, "client_secret": secret}
            return httpx.post(f"{self.issuer}/oauth2/token", data=data)
        return httpx.post(f"{self.issuer}/oauth2/token", data=data, auth=(self.client_id, secret))

    def token_status(self, secret: str, method: str = "client_secret_basic") -> int:
        auth = self.sign_in("carol")
        return self.exchange(auth.code, auth.verifier, secret=secret, method=method).status_code


@pytest.fixture
def rp(idp, request) -> RP:
    """A client registered for this test only: secret ``s1``, CALLBACK, logout to BYE."""
    client_id = f"gw-{request.node.name[:40]}-{secrets.token_hex(3)}"
    idp.register_client(client_id, ["s1"], [CALLBACK], post_logout_redirect_uris=[BYE])
    return RP(idp.issuer, client_id, "s1")


def id_token_of(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return answer.json()["id_token"]


def test_discovery_names_the_code_flow_endpoints(idp):
    doc = idp.discovery()
    assert doc["authorization_endpoint"] == idp.authorization_endpoint
    assert doc["userinfo_endpoint"] == idp.userinfo_endpoint
    assert doc["end_session_endpoint"] == idp.end_session_endpoint
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert sorted(doc["token_endpoint_auth_methods_supported"]) == ["client_secret_basic",
                                                                     "client_secret_post"]
    assert doc["response_types_supported"] == ["code"]


def test_issuer_ignores_forwarded_headers(idp):
    forwarded = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Port": "443"}
    doc = httpx.get(idp.discovery_url, headers=forwarded).json()
    assert (doc["issuer"], doc["token_endpoint"]) == (idp.issuer, idp.token_endpoint)


# --- registered clients -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_registered_client_with_its_secret_gets_tokens(idp, rp, method):
    auth = rp.sign_in("alice")
    claims = verify(idp, id_token_of(rp.exchange(auth.code, auth.verifier, method=method)),
                    audience=rp.client_id)
    assert (claims["sub"], claims["aud"]) == ("alice", [rp.client_id])


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_wrong_secret_is_refused_and_logged_without_it(rp, method, caplog):
    caplog.set_level(logging.WARNING, logger="adcml.lab.idp")
    auth = rp.sign_in("alice")
    refused = rp.exchange(auth.code, auth.verifier, secret="not-the-secret", method=method)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    logged = [r.getMessage() for r in caplog.records if r.name == "adcml.lab.idp"]
    assert any(rp.client_id in line and method in line for line in logged), logged
    assert not any("not-the-secret" in line for line in logged)
    # a refused client does not spend the code
    assert rp.exchange(auth.code, auth.verifier, method=method).status_code == 200


def test_missing_secret_is_refused(idp, rp):
    auth = rp.sign_in("alice")
    refused = httpx.post(idp.token_endpoint, data={
        "grant_type": "authorization_code", "code": auth.code, "redirect_uri": CALLBACK,
        "client_id": rp.client_id, "code_verifier": auth.verifier})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_secret_rotation_overlaps_then_retires(idp, rp):
    idp.rotate_secret(rp.client_id, "s2")
    assert rp.token_status("s1") == 200
    assert rp.token_status("s2", "client_secret_post") == 200
    registration = idp.client_registration(rp.client_id)
    assert registration["secret_count"] == 2 and "secrets" not in registration
    idp.retire_secrets(rp.client_id, keep=["s2"])
    assert rp.token_status("s1") == 401
    assert rp.token_status("s1", "client_secret_post") == 401
    assert rp.token_status("s2") == 200


def test_lab_api_refuses_bad_registrations(idp):
    bad = {
        "secrets": lambda: idp.register_client("x", [], [CALLBACK]),
        "secrets: give a list": lambda: idp.register_client("x", "s1", [CALLBACK]),
        "redirect_uris": lambda: idp.register_client("x", ["s"], ["/relative"]),
        "without a fragment": lambda: idp.register_client("x", ["s"], [f"{CALLBACK}#here"]),
        "post_logout_redirect_uris": lambda: idp.register_client("x", ["s"], [CALLBACK], ["ftp://h/"]),
    }
    for message, call in bad.items():
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(KeyError, match="not registered"):
        idp.rotate_secret("never-registered", "s")
    idp.register_client("x", ["s1"], [CALLBACK])
    with pytest.raises(ValueError, match="keep"):
        idp.retire_secrets("x", keep=["not-a-secret-of-x"])
    with pytest.raises(ValueError, match="keep"):
        idp.retire_secrets("x", keep=[])


def test_token_helper_for_a_registered_client(idp, rp):
    with pytest.raises(IdPError, match="authorize: HTTP 400"):  # LabIdPClient's URI is not registered
        idp.token("alice", audience=rp.client_id)
    with pytest.raises(IdPError, match="exchange code: HTTP 401"):
        idp.token("alice", audience=rp.client_id, redirect_uri=CALLBACK)
    token = idp.token("alice", groups=["ml-trusted"], audience=rp.client_id, client_secret="s1",
                      redirect_uri=CALLBACK)
    assert verify(idp, token, audience=rp.client_id)["groups"] == ["ml-trusted"]


# --- the authorization-code flow ----------------------------------------------------------------
def test_code_flow_passes_state_and_nonce_and_signs_with_the_jwks_key(idp, rp):
    idp.set_user("carol", {"groups": ["ml-trusted"], "email": "carol@lab.test"})
    auth = rp.sign_in("carol")
    assert auth.response.status_code == 302
    assert auth.response.headers["location"].startswith(f"{CALLBACK}?")
    assert auth.query["state"] == [auth.state]
    answer = rp.exchange(auth.code, auth.verifier).json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == LIFETIME
    claims = verify(idp, answer["id_token"], audience=rp.client_id)
    assert claims["nonce"] == auth.nonce
    assert (claims["sub"], claims["groups"], claims["email"]) == ("carol", ["ml-trusted"], "carol@lab.test")
    assert claims["exp"] - claims["iat"] == LIFETIME
    (key,) = idp.public_jwks()["keys"]
    header = jwt.decode(answer["id_token"], KeySet.import_key_set(idp.public_jwks()), ["RS256"]).header
    assert (header["alg"], header["kid"]) == ("RS256", key["kid"])


def test_login_form_and_what_it_sets(idp, rp):
    page = httpx.get(idp.authorization_endpoint, params=rp.request().params)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for field in ('name="sub"', 'id="groups"', 'id="email"', 'id="authorize"', 'id="deny"', rp.client_id):
        assert field in page.text
    auth = rp.sign_in("dave", form={"groups": "ml-users, ops", "email": "dave@lab.test"})
    claims = verify(idp, id_token_of(rp.exchange(auth.code, auth.verifier)), audience=rp.client_id)
    assert (claims["groups"], claims["email"]) == (["ml-users", "ops"], "dave@lab.test")
    auth = rp.sign_in("dave", form={"groups": "", "email": ""})  # empty fields: as set before
    claims = verify(idp, id_token_of(rp.exchange(auth.code, auth.verifier)), audience=rp.client_id)
    assert claims["groups"] == ["ml-users", "ops"]
    missing = httpx.post(idp.authorization_endpoint, params=rp.request().params, data={"sub": " "})
    assert missing.status_code == 400 and "location" not in missing.headers


def test_login_page_escapes_what_the_request_names(idp):
    page = httpx.get(idp.authorization_endpoint, params=RP(idp.issuer, "<b>x</b>", "s").request().params)
    assert page.status_code == 200
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


def test_deny_returns_access_denied_with_state(rp):
    auth = rp.sign_in("alice", form={"action": "deny"})
    assert auth.query["error"] == ["access_denied"] and auth.query["state"] == [auth.state]
    assert "code" not in auth.query


def test_pkce_wrong_verifier_is_refused(rp):
    auth = rp.sign_in("alice")
    refused = rp.exchange(auth.code, secrets.token_urlsafe(48))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_pkce_missing_verifier_is_refused(rp):
    auth = rp.sign_in("alice")
    refused = rp.exchange(auth.code, None)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


def test_pkce_is_optional_unless_the_client_requires_it(idp, rp):
    auth = rp.sign_in("alice", pkce=False)
    assert rp.exchange(auth.code, None).status_code == 200
    idp.register_client("strict", ["x"], [CALLBACK], require_pkce=True)
    strict = RP(idp.issuer, "strict", "x")
    auth = strict.sign_in("alice", pkce=False)
    assert auth.response.status_code == 302 and "code" not in auth.query
    assert auth.query["error"] == ["invalid_request"] and auth.query["state"] == [auth.state]
    auth = strict.sign_in("alice")
    assert strict.exchange(auth.code, auth.verifier).status_code == 200
    plain = strict.sign_in("alice", pkce=False, code_challenge="a" * 43, code_challenge_method="plain")
    assert plain.query["error"] == ["invalid_request"]


def test_a_replayed_code_is_refused_and_its_access_token_revoked(idp, rp):
    auth = rp.sign_in("alice")
    first = rp.exchange(auth.code, auth.verifier)
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert httpx.get(idp.userinfo_endpoint, headers=bearer).status_code == 200
    replay = rp.exchange(auth.code, auth.verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert httpx.get(idp.userinfo_endpoint, headers=bearer).status_code == 401


def test_a_code_is_short_lived_and_bound_to_its_client_and_redirect_uri(idp, rp, monkeypatch):
    monkeypatch.setattr(idp.store, "code_lifetime", 0.2)
    auth = rp.sign_in("alice")
    time.sleep(0.4)
    assert rp.exchange(auth.code, auth.verifier).json()["error"] == "invalid_grant"
    monkeypatch.undo()
    idp.register_client("other", ["o"], [CALLBACK])
    auth = rp.sign_in("alice")
    stolen = RP(idp.issuer, "other", "o").exchange(auth.code, auth.verifier)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    idp.register_client(rp.client_id, ["s1"], [CALLBACK, BYE])
    auth = rp.sign_in("alice")
    elsewhere = RP(idp.issuer, rp.client_id, "s1", redirect_uri=BYE).exchange(auth.code, auth.verifier)
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(idp, rp):
    params = rp.request(redirect_uri="http://127.0.0.1:9/elsewhere").params
    for answer in (httpx.get(idp.authorization_endpoint, params=params),
                   httpx.post(idp.authorization_endpoint, params=params, data={"sub": "alice"})):
        assert answer.status_code == 400 and "location" not in answer.headers
        assert answer.headers["content-type"].startswith("text/html")


def test_userinfo_answers_for_the_access_token(idp, rp):
    idp.set_user("erin", {"groups": ["ops"], "email": "erin@lab.test", "nbf": 1})
    auth = rp.sign_in("erin")
    access = rp.exchange(auth.code, auth.verifier).json()["access_token"]
    info = httpx.get(idp.userinfo_endpoint, headers={"Authorization": f"Bearer {access}"})
    assert info.json() == {"sub": "erin", "groups": ["ops"], "email": "erin@lab.test"}
    anonymous = httpx.get(idp.userinfo_endpoint)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].lower().startswith("bearer")  # the scheme is case-blind


# --- open clients -------------------------------------------------------------------------------
def test_open_clients_take_any_secret_but_only_loopback_redirects(idp):
    remote = RP(idp.issuer, "some-open-client", "whatever", redirect_uri="https://gateway.example/cb")
    refused = remote.sign_in("alice")
    assert refused.response.status_code == 400 and "location" not in refused.response.headers
    local = RP(idp.issuer, "some-open-client", "whatever")
    auth = local.sign_in("alice")
    assert verify(idp, id_token_of(local.exchange(auth.code, auth.verifier)),
                  audience="some-open-client")["sub"] == "alice"
    auth = local.sign_in("alice")
    assert local.exchange(auth.code, auth.verifier, secret="").status_code == 401


def test_a_closed_provider_refuses_unregistered_clients():
    with LabIdP(open_clients=False) as closed:
        refused = RP(closed.issuer, "stranger", "x").sign_in("alice")
        assert refused.response.status_code == 400 and "location" not in refused.response.headers
        with pytest.raises(IdPError, match="authorize"):
            closed.token("alice")
        closed.register_client(DEFAULT_AUDIENCE, ["s"], [CALLBACK])
        token = closed.token("alice", client_secret="s", redirect_uri=CALLBACK)
        assert verify(closed, token)["sub"] == "alice"


# --- logout -------------------------------------------------------------------------------------
def test_logout_redirects_to_a_registered_uri_with_state(idp, rp):
    auth = rp.sign_in("alice")
    id_token = id_token_of(rp.exchange(auth.code, auth.verifier))
    before = len(idp.logouts())
    bye = httpx.get(idp.end_session_endpoint, params={
        "id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "st9"})
    assert bye.status_code == 302 and bye.headers["location"] == f"{BYE}?state=st9"
    by_client_id = httpx.get(idp.end_session_endpoint, params={
        "client_id": rp.client_id, "post_logout_redirect_uri": BYE})
    assert by_client_id.status_code == 302 and by_client_id.headers["location"] == BYE
    expired = idp.token("alice", audience=rp.client_id, client_secret="s1", redirect_uri=CALLBACK,
                        lifetime=-60)
    assert httpx.get(idp.end_session_endpoint, params={
        "id_token_hint": expired, "post_logout_redirect_uri": BYE}).status_code == 302
    logouts = idp.logouts()[before:]
    assert [(x["client_id"], x["sub"]) for x in logouts] == [
        (rp.client_id, "alice"), (rp.client_id, None), (rp.client_id, "alice")]
    assert logouts[0]["redirected_to"] == f"{BYE}?state=st9"


def test_logout_refuses_what_is_not_registered(idp, rp):
    auth = rp.sign_in("alice")
    id_token = id_token_of(rp.exchange(auth.code, auth.verifier))
    before = len(idp.logouts())
    refused = [
        {"client_id": rp.client_id, "post_logout_redirect_uri": "http://127.0.0.1:9/elsewhere"},
        {"id_token_hint": id_token, "post_logout_redirect_uri": "http://127.0.0.1:9/elsewhere"},
        {"post_logout_redirect_uri": BYE},  # no client named: nothing to check the URI against
        {"id_token_hint": "not.a.token", "post_logout_redirect_uri": BYE},
        {"id_token_hint": forge_foreign_rsa({"sub": "alice", "aud": [rp.client_id]}, "k"),
         "post_logout_redirect_uri": BYE},
        {"id_token_hint": id_token, "client_id": "someone-else", "post_logout_redirect_uri": BYE},
    ]
    for params in refused:
        answer = httpx.get(idp.end_session_endpoint, params=params)
        assert answer.status_code == 400 and "location" not in answer.headers, params
    assert len(idp.logouts()) == before


def test_logout_without_a_redirect_shows_a_page(idp):
    before = len(idp.logouts())
    page = httpx.get(idp.end_session_endpoint)
    assert page.status_code == 200 and "signed out" in page.text
    assert len(idp.logouts()) == before + 1


# --- lifecycle --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_given_port_and_clean_stop():
    port = _free_port()
    idp = LabIdP(port=port)
    with idp:
        assert idp.issuer == f"http://127.0.0.1:{port}"
        assert httpx.get(idp.discovery_url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/jwks", timeout=2)
    idp.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        _ = idp.issuer


def test_keys_are_new_on_each_start():
    with LabIdP() as first:
        one = first.public_jwks()
    with LabIdP() as second:
        assert second.public_jwks() != one


def test_refuses_non_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        LabIdP(host="0.0.0.0")


def test_module_runs_in_the_foreground():
    proc = subprocess.Popen(
        [sys.executable, "-m", "adcml.lab.services.idp", "--listen", "127.0.0.1:0", "--token-lifetime", "90"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        issuer = proc.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:")
        client = LabIdPClient(issuer)
        assert client.discovery()["issuer"] == issuer
        claims = verify(client, client.token("alice", groups=["ml-trusted"]))
        assert claims["groups"] == ["ml-trusted"] and claims["exp"] - claims["iat"] in (90, 89)
    finally:
        proc.terminate()
        assert proc.wait(10) is not None


def test_module_serves_the_lab_api_and_the_code_flow_over_http():
    proc = subprocess.Popen(
        [sys.executable, "-m", "adcml.lab.services.idp", "--listen", f"127.0.0.1:{_free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        issuer = proc.stdout.readline().strip()
        client = LabIdPClient(issuer)
        assert client.discovery()["end_session_endpoint"] == client.end_session_endpoint
        client.register_client("gw", ["a1"], [CALLBACK], [BYE], require_pkce=True)
        assert client.client_registration("gw") == {
            "client_id": "gw", "redirect_uris": [CALLBACK], "post_logout_redirect_uris": [BYE],
            "require_pkce": True, "secret_count": 1}
        client.set_user("alice", {"groups": ["ml-trusted"]})
        rp = RP(issuer, "gw", "a1")
        assert rp.token_status("wrong-one") == 401
        auth = rp.sign_in("alice")
        id_token = id_token_of(rp.exchange(auth.code, auth.verifier, method="client_secret_post"))
        claims = verify(client, id_token, audience="gw")
        assert (claims["nonce"], claims["groups"]) == (auth.nonce, ["ml-trusted"])
        assert rp.sign_in("alice", pkce=False).query["error"] == ["invalid_request"]
        client.rotate_secret("gw", "a2")
        assert (rp.token_status("a1"), rp.token_status("a2")) == (200, 200)
        client.retire_secrets("gw", keep=["a2"])
        assert (rp.token_status("a1"), rp.token_status("a2")) == (401, 200)
        with pytest.raises(ValueError, match="keep"):
            client.retire_secrets("gw", keep=["a1"])
        with pytest.raises(KeyError, match="not registered"):
            client.rotate_secret("nobody", "x")
        bye = httpx.get(client.end_session_endpoint, params={
            "id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s"})
        assert bye.headers["location"] == f"{BYE}?state=s"
        assert [x["sub"] for x in client.logouts()] == ["alice"]
    finally:
        proc.terminate()
        assert proc.wait(10) is not None
    stderr = proc.stderr.read()
    assert "client 'gw' refused" in stderr and "wrong-one" not in stderr
