"""The lab IdP over real HTTP: discovery, JWKS, tokens from the provider's flow, lifecycle.

Tokens are verified the way a relying party (the lab ADC) does: signature against the JWKS
fetched over HTTP, RS256 only, then iss/aud/exp/nbf. Hostile tokens are forged here with
joserfc (``forge_*``) to check that this recipe rejects them; the IdP never signs them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import KeySet, RSAKey

from adcml.lab.services.idp import LabIdP
from adcml.lab.services.idp_client import DEFAULT_AUDIENCE, LabIdPClient

# authlib (inside the provider) warns about its own deprecated APIs from the server thread.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

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
