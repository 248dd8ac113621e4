"""Lab ADC contract: login, tokens, logout, expiry, per-request auth, TLS, passwords."""

from __future__ import annotations

import re
import ssl
import time
from pathlib import Path

import httpx
import pytest

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer

LOGIN = {"login": {"username": "nsroot", "password": "nsroot"}}


def config_url(base: str) -> str:
    return f"{base}/nitro/v1/config"


def login(base: str, body=LOGIN, **kw) -> httpx.Response:
    return httpx.post(f"{config_url(base)}/login", json=body, timeout=10, **kw)


def token_of(response: httpx.Response) -> str:
    body = response.json()
    assert response.status_code == 201, body
    assert (body["errorcode"], body["message"]) == (0, "Done")
    assert isinstance(body["sessionid"], str) and body["sessionid"]
    return body["sessionid"]


def test_login_answers_201_with_sessionid_and_cookie(lab_adc):
    response = login(lab_adc.url)
    token = token_of(response)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"NITRO_AUTH_TOKEN={token}; path=/nitro/v1"), cookie
    assert re.fullmatch(r"[#0-9A-F]+", token)


def test_token_is_accepted_as_cookie_and_as_a_set_cookie_request_header(lab_adc, api):
    token = token_of(login(lab_adc.url))
    url = f"{config_url(lab_adc.url)}/nsversion"
    by_cookie = httpx.get(url, headers={"Cookie": f"NITRO_AUTH_TOKEN={token}"})
    by_set_cookie = httpx.get(url, headers={"Set-Cookie": f"NITRO_AUTH_TOKEN={token}"})
    assert api.ok(by_cookie)["nsversion"] == api.ok(by_set_cookie)["nsversion"]


def test_wrong_password_is_354_and_no_auth_is_1027(lab_adc, api):
    bad = {"login": {"username": "nsroot", "password": "wrong"}}
    api.fails(login(lab_adc.url, bad), 401, 354, "Invalid username or password")
    api.fails(httpx.get(f"{config_url(lab_adc.url)}/lbvserver"), 401, 1027)
    unknown_token = {"Cookie": "NITRO_AUTH_TOKEN=##NOSUCHTOKEN"}
    api.fails(httpx.get(f"{config_url(lab_adc.url)}/lbvserver", headers=unknown_token), 401, 444)


@pytest.mark.parametrize("body, status, code, culprit", [
    ({}, 400, 1233, "login"),
    ({"login": "nsroot"}, 400, 1233, "login"),
    ({"login": {"username": "nsroot"}}, 599, 1095, "password"),
    ({"login": {"password": "nsroot"}}, 599, 1095, "username"),
    ({"login": {"username": "nsroot", "password": 5}}, 599, 1097, "password"),
    ({"login": {"username": ["nsroot"], "password": "nsroot"}}, 599, 1097, "username"),
])
def test_malformed_login_is_refused_in_nitro_form(lab_adc, api, body, status, code, culprit):
    api.fails(login(lab_adc.url, body), status, code, culprit)


def test_logout_kills_the_token(lab_adc, api):
    token = token_of(login(lab_adc.url))
    cookies = {"NITRO_AUTH_TOKEN": token}
    with httpx.Client(base_url=config_url(lab_adc.url), cookies=cookies) as client:
        api.ok(client.get("/lbvserver"))
        api.ok(client.post("/logout", json={"logout": {}}))
        api.fails(client.get("/lbvserver"), 401, 444, "Session expired or killed")


def test_lab_control_expires_every_session(lab_adc, nitro, api):
    api.ok(nitro.get("/nsconfig"))
    lab_adc.expire_sessions()
    api.fails(nitro.get("/nsconfig"), 401, 444)
    relogin = nitro.post("/login", json=LOGIN)
    token_of(relogin)
    api.ok(nitro.get("/nsconfig"))


def test_per_request_auth_headers(lab_adc, api):
    url = f"{config_url(lab_adc.url)}/nsversion"
    good = {"X-NITRO-USER": "nsroot", "X-NITRO-PASS": "nsroot"}
    assert "nsversion" in api.ok(httpx.get(url, headers=good))
    api.fails(httpx.get(url, headers={**good, "X-NITRO-PASS": "nope"}), 401, 354)
    api.fails(httpx.get(url, headers={"X-NITRO-USER": "nsroot"}), 401, 354)


def test_sessions_time_out_when_idle(lab_adc, api):
    token = token_of(login(lab_adc.url, {"login": {**LOGIN["login"], "timeout": 1}}))
    headers = {"Cookie": f"NITRO_AUTH_TOKEN={token}"}
    url = f"{config_url(lab_adc.url)}/nsversion"
    api.ok(httpx.get(url, headers=headers))
    time.sleep(1.5)
    api.fails(httpx.get(url, headers=headers), 401, 444)


def test_a_session_in_use_does_not_time_out(lab_adc, api):
    token = token_of(login(lab_adc.url, {"login": {**LOGIN["login"], "timeout": 1}}))
    headers = {"Cookie": f"NITRO_AUTH_TOKEN={token}"}
    url = f"{config_url(lab_adc.url)}/nsversion"
    for _ in range(4):
        time.sleep(0.4)
        api.ok(httpx.get(url, headers=headers))


@pytest.mark.parametrize("timeout", [0, -5, "soon", True, 1.5])
def test_login_timeout_must_be_a_positive_integer(lab_adc, timeout, api):
    body = {"login": {**LOGIN["login"], "timeout": timeout}}
    api.fails(login(lab_adc.url, body), 599, 1097, "timeout")


def test_configured_password_replaces_the_default(tmp_path: Path, api):
    with LabServer(LabADC(tmp_path, password="s3cret pass")) as server:
        api.fails(login(server.url), 401, 354)
        good = {"login": {"username": "nsroot", "password": "s3cret pass"}}
        token_of(login(server.url, good))
        wrong_user = {"login": {"username": "admin", "password": "s3cret pass"}}
        api.fails(login(server.url, wrong_user), 401, 354)


def test_nitro_over_tls_with_the_management_ca(lab_adc, api):
    assert lab_adc.tls_url is not None and lab_adc.ca_file is not None
    trust = ssl.create_default_context(cafile=str(lab_adc.ca_file))
    token = token_of(login(lab_adc.tls_url, verify=trust))
    got = httpx.get(f"{config_url(lab_adc.tls_url)}/nsversion", verify=trust,
                    headers={"Cookie": f"NITRO_AUTH_TOKEN={token}"})
    assert api.ok(got)["nsversion"]["version"].startswith("NetScaler NS")
    with pytest.raises(httpx.ConnectError):
        login(lab_adc.tls_url)  # not trusted by the system store
