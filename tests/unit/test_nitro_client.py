"""Routing logic of NitroClient over httpx.MockTransport: what is awkward to provoke on a real
server (expired sessions, read errors, partial bulk failures). Behaviour against a NITRO server
is tested in tests/integration against the lab ADC."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import pytest

from adcml.nitro import (
    NOT_ATTEMPTED,
    AlreadyExists,
    AuthenticationFailed,
    BulkError,
    NitroAPIError,
    NitroClient,
    NitroTransportError,
    NotFound,
    OperationInProgress,
    SessionExpired,
)
from adcml.secret import Secret

PASSWORD = "pa55-w0rd"
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(status: int = 200, errorcode: int = 0, message: str = "Done", **extra):
    severity = "NONE" if errorcode == 0 else "ERROR"
    body = {"errorcode": errorcode, "message": message, "severity": severity, **extra}
    return httpx.Response(status, json=body)


class FakeADC:
    """Answers login/logout/switch itself; everything else goes to ``routes`` or ``handler``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.cookies: list[str | None] = []  # as sent (a replay re-sends the same Request)
        self.logins = 0
        self.token_seq = 0
        self.routes: dict[tuple[str, str], list[httpx.Response | Exception]] = {}
        self.handler: Handler = lambda r: envelope()

    def queue(self, method: str, path: str, *answers: httpx.Response | Exception) -> None:
        self.routes.setdefault((method, path), []).extend(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.cookies.append(request.headers.get("Cookie"))
        path = request.url.path
        if path == "/nitro/v1/config/login":
            self.logins += 1
            self.token_seq += 1
            token = f"tok{self.token_seq}"
            return httpx.Response(
                201, json={"errorcode": 0, "message": "Done", "severity": "NONE",
                           "sessionid": token},
                headers={"Set-Cookie": f"NITRO_AUTH_TOKEN={token}; path=/nitro/v1"},
            )
        queued = self.routes.get((request.method, path))
        if queued:
            answer = queued.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self.handler(request)

    def seen(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or r.url.path == path)]


@pytest.fixture
def adc() -> FakeADC:
    return FakeADC()


@pytest.fixture
def client(adc: FakeADC) -> NitroClient:
    c = NitroClient(nsip="adc.test", username="nsroot", password=PASSWORD,
                    transport=httpx.MockTransport(adc), backoff=0)
    c._sleep = lambda s: None
    return c


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


def test_lazy_login_then_cookie(client, adc):
    adc.handler = lambda r: envelope(lbvserver=[{"name": "web"}])
    assert client.get("lbvserver") == [{"name": "web"}]
    login, get = adc.requests
    assert login.method == "POST" and login.url.path == "/nitro/v1/config/login"
    assert body_of(login) == {"login": {"username": "nsroot", "password": PASSWORD,
                                        "timeout": 900}}
    assert get.headers["Cookie"] == "NITRO_AUTH_TOKEN=tok1"
    assert "x-nitro-pass" not in get.headers
    assert client.request_count == 2
    client.get("lbvserver")
    assert adc.logins == 1 and client.request_count == 3
    assert len(client._http.cookies.jar) == 0  # the token is ours to manage, not the jar's


def test_token_from_body_when_no_cookie(adc):
    def handler(request):
        if request.url.path.endswith("/login"):
            return envelope(201, sessionid="fromBody")
        return envelope()
    c = NitroClient(nsip="adc.test", username="u", password="p",
                    transport=httpx.MockTransport(handler))
    c.get("lbvserver")
    assert c._token == Secret("fromBody")


def test_session_expired_relogs_in_once_and_replays(client, adc):
    adc.queue("POST", "/nitro/v1/config/lbvserver",
              envelope(401, 444, "Session expired or killed. Please login again"))
    client.add("lbvserver", {"name": "web"})
    paths = [r.url.path.rsplit("/", 1)[1] for r in adc.requests]
    assert paths == ["login", "lbvserver", "login", "lbvserver"]
    assert adc.cookies[1] == "NITRO_AUTH_TOKEN=tok1"
    assert adc.cookies[3] == "NITRO_AUTH_TOKEN=tok2"
    assert body_of(adc.requests[3]) == {"lbvserver": {"name": "web"}}


def test_session_expired_twice_raises(client, adc):
    expired = envelope(401, 1027, "Not logged in")
    adc.queue("GET", "/nitro/v1/config/lbvserver", expired, expired, expired)
    with pytest.raises(SessionExpired):
        client.get("lbvserver")
    assert adc.logins == 2


def test_partition_switched_after_every_login(adc):
    c = NitroClient(nsip="adc.test", username="u", password="p", partition="tenant1",
                    transport=httpx.MockTransport(adc), backoff=0)
    adc.queue("GET", "/nitro/v1/config/lbvserver", envelope(401, 444, "expired"))
    c.get("lbvserver")
    order = [(r.method, r.url.path) for r in adc.requests]
    login, switch = ("POST", "/nitro/v1/config/login"), ("POST", "/nitro/v1/config/nspartition")
    get = ("GET", "/nitro/v1/config/lbvserver")
    assert order == [login, switch, get, login, switch, get]
    sw = adc.seen("POST", "/nitro/v1/config/nspartition")[0]
    assert sw.url.params["action"] == "switch"
    assert body_of(sw) == {"nspartition": {"partitionname": "tenant1"}}


def test_header_mode_never_logs_in(adc):
    c = NitroClient(nsip="adc.test", username="u", password=PASSWORD, auth_mode="header",
                    transport=httpx.MockTransport(adc))
    c.get("lbvserver")
    (req,) = adc.requests
    assert req.headers["X-NITRO-USER"] == "u" and req.headers["X-NITRO-PASS"] == PASSWORD
    assert "cookie" not in req.headers and adc.logins == 0


def test_wrong_password(adc):
    def handler(request):
        return envelope(401, 354, "Invalid username or password")
    c = NitroClient(nsip="adc.test", username="u", password=PASSWORD,
                    transport=httpx.MockTransport(handler))
    with pytest.raises(AuthenticationFailed) as info:
        c.get("lbvserver")
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)


def test_bulk_partial_failure(client, adc):
    adc.queue("POST", "/nitro/v1/config/server", httpx.Response(207, json={
        "errorcode": 1243, "message": "Bulk operation failed", "severity": "ERROR",
        "response": [
            {"errorcode": 0, "message": "Done", "severity": "NONE"},
            {"errorcode": 273, "message": "Resource already exists", "severity": "ERROR"},
        ]}))
    items = [{"name": "a", "ipaddress": "10.0.0.1"}, {"name": "b", "ipaddress": "10.0.0.2"},
             {"name": "c", "ipaddress": "10.0.0.3"}]
    with pytest.raises(BulkError) as info:
        client.add("server", items, onerror="exit")
    err = info.value
    assert err.results[0] is None
    assert isinstance(err.results[1], AlreadyExists)
    assert (err.results[1].resource, err.results[1].name) == ("server", "b")
    assert err.results[2] is NOT_ATTEMPTED and err.not_attempted == [2]
    (req,) = adc.seen("POST", "/nitro/v1/config/server")
    assert req.headers["X-NITRO-ONERROR"] == "exit"
    assert body_of(req) == {"server": items}


def test_post_not_retried_after_read_error_but_get_is(client, adc):
    adc.queue("POST", "/nitro/v1/config/lbvserver", httpx.ReadError("reset"))
    with pytest.raises(NitroTransportError) as info:
        client.add("lbvserver", {"name": "web"})
    assert len(adc.seen("POST", "/nitro/v1/config/lbvserver")) == 1
    assert info.value.url.startswith("https://adc.test/nitro/v1/config/lbvserver")
    adc.queue("GET", "/nitro/v1/config/lbvserver", httpx.ReadError("reset"),
              httpx.RemoteProtocolError("eof"))
    assert client.get("lbvserver") == []
    assert len(adc.seen("GET")) == 3


def test_connect_errors_retried_for_any_method_then_give_up(client, adc):
    adc.queue("POST", "/nitro/v1/config/lbvserver", httpx.ConnectError("refused"))
    client.add("lbvserver", {"name": "web"})
    assert len(adc.seen("POST", "/nitro/v1/config/lbvserver")) == 2
    adc.queue("GET", "/nitro/v1/config/lbvserver", *[httpx.ConnectTimeout("t")] * 4)
    with pytest.raises(NitroTransportError, match="timed out"):
        client.get("lbvserver")
    assert len(adc.seen("GET")) == 4  # 1 + retries


def test_tls_failure_not_retried_and_hints():
    def handler(request):
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    c = NitroClient(nsip="adc.test", username="u", password="p", backoff=0,
                    transport=httpx.MockTransport(handler))
    with pytest.raises(NitroTransportError, match="ca_bundle") as info:
        c.get("lbvserver")
    assert c.request_count == 1 and "Hint" in str(info.value)


def test_503_and_293_are_retried(client, adc):
    adc.queue("POST", "/nitro/v1/config/nsconfig",
              httpx.Response(503, text="busy"),
              envelope(599, 293, "Operation already in progress"))
    client.save_config()
    saves = adc.seen("POST", "/nitro/v1/config/nsconfig")
    assert len(saves) == 3
    assert saves[0].url.params["action"] == "save" and body_of(saves[0]) == {"nsconfig": {}}
    adc.queue("POST", "/nitro/v1/config/nsconfig",
              *[envelope(599, 293, "Operation already in progress")] * 4)
    with pytest.raises(OperationInProgress):
        client.save_config()


def test_retries_are_logged_without_secrets(client, adc, caplog):
    adc.queue("GET", "/nitro/v1/config/lbvserver", httpx.Response(503, text="busy"))
    with caplog.at_level(logging.WARNING, logger="adcml.nitro"):
        client.get("lbvserver")
    assert "retrying GET /nitro/v1/config/lbvserver after HTTP 503" in caplog.text
    assert PASSWORD not in caplog.text


def test_209_warnings_are_collected(client, adc, caplog):
    adc.queue("POST", "/nitro/v1/config/lbvserver", httpx.Response(
        209, json={"errorcode": 1067, "message": "Feature(s) not enabled [LB]",
                   "severity": "WARNING"},
        headers={"X-NITRO-WARNING": "1067 - Feature(s) not enabled [LB]"}))
    with caplog.at_level(logging.WARNING, logger="adcml.nitro"):
        client.add("lbvserver", {"name": "web"})
    assert [(w.errorcode, w.message) for w in client.warnings] == [
        (1067, "Feature(s) not enabled [LB]")]
    assert "Feature(s) not enabled [LB]" in caplog.text
    assert adc.seen("POST", "/nitro/v1/config/lbvserver")[0].url.params["warning"] == "yes"


def test_error_envelope_and_unreadable_body(client, adc):
    adc.queue("GET", "/nitro/v1/config/lbvserver/web",
              envelope(404, 258, "No such resource [name, web]"))
    with pytest.raises(NotFound) as info:
        client.get("lbvserver", "web")
    assert (info.value.resource, info.value.name, info.value.status) == ("lbvserver", "web", 404)
    assert client.find("lbvserver", "web") is None
    adc.queue("GET", "/nitro/v1/config/lbvserver", httpx.Response(502, text="<html>" + "x" * 500))
    with pytest.raises(NitroAPIError) as info:
        client.get("lbvserver")
    assert info.value.status == 502 and info.value.errorcode is None
    assert "<html>" in str(info.value) and "x" * 300 not in str(info.value)


def test_echoed_secrets_are_masked_in_errors(client, adc):
    adc.queue("POST", "/nitro/v1/config/authenticationoauthaction",
              envelope(599, 1097, "Invalid argument value [clientsecret, abc123xyz]"))
    with pytest.raises(ValueError) as info:
        client.add("authenticationoauthaction", {"name": "idp", "clientsecret": "abc123xyz"})
    assert "abc123xyz" not in str(info.value)
    assert info.value.name == "idp"


def test_singletons_absent_keys_and_counts(client, adc):
    adc.queue("GET", "/nitro/v1/config/nsversion", envelope(nsversion={
        "version": "NetScaler NS14.1: Build 43.50.nc, Date: Jan 1 2025"}))
    v = client.version()
    assert (v.release, v.build, v.as_tuple) == ("14.1", "43.50", (14, 1, 43, 50))
    assert v.raw.startswith("NetScaler")
    adc.queue("GET", "/nitro/v1/config/lbvserver_binding/web", envelope())
    assert client.bindings("lbvserver", "web") == []
    adc.queue("GET", "/nitro/v1/config/lbvserver", envelope(lbvserver=[{"__count": "7"}]))
    assert client.count("lbvserver") == 7
    assert adc.requests[-1].url.params["count"] == "yes"
    adc.queue("GET", "/nitro/v1/config/nsfeature",
              envelope(nsfeature={"lb": True, "cs": False, "feature": ["LB", "SSL"]}))
    assert client.features() == {"LB", "SSL"}


def test_paths_and_queries(client, adc):
    client.get("lbvserver", "a/b c", attrs=["name", "ipv46"], filter={"comment": "x,y:z"})
    req = adc.requests[-1]
    raw = req.url.raw_path.decode()
    assert raw.startswith("/nitro/v1/config/lbvserver/a%252Fb%2520c?")
    assert "filter=comment:x%2Cy%3Az" in raw and "attrs=name,ipv46" in raw
    client.delete("lbmonitor", "mon1", args={"type": "HTTP"})
    assert adc.requests[-1].url.raw_path.decode().startswith(
        "/nitro/v1/config/lbmonitor/mon1?args=type:HTTP")
    client.bindings("lbvserver")
    assert adc.requests[-1].url.params["bulkbindings"] == "yes"
    client.unbind("lbvserver_rewritepolicy_binding", "web", args={"policyname": "p"})
    req = adc.requests[-1]
    assert (req.method, req.url.path) == (
        "DELETE", "/nitro/v1/config/lbvserver_rewritepolicy_binding/web")
    client.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "sg"})
    assert adc.requests[-1].method == "PUT"
    client.stat("lbvserver", "web")
    assert adc.requests[-1].url.path == "/nitro/v1/stat/lbvserver/web"


def test_upload_file_overwrite_deletes_then_adds(client, adc):
    adc.queue("POST", "/nitro/v1/config/systemfile", envelope(409, 1642, "File already exists"))
    client.upload_file("k.pem", b"KEY", overwrite=True)
    calls = [(r.method, r.url.path) for r in adc.requests[1:]]
    assert calls == [("POST", "/nitro/v1/config/systemfile"),
                     ("DELETE", "/nitro/v1/config/systemfile/k.pem"),
                     ("POST", "/nitro/v1/config/systemfile")]
    assert "args=filelocation:%2Fnsconfig%2Fssl%2F" in adc.requests[2].url.raw_path.decode()
    assert body_of(adc.requests[-1])["systemfile"]["filecontent"] == "S0VZ"
    adc.queue("POST", "/nitro/v1/config/systemfile", envelope(409, 1642, "File already exists"))
    with pytest.raises(AlreadyExists):
        client.upload_file("k.pem", b"KEY")


def test_get_file(client, adc):
    adc.queue("GET", "/nitro/v1/config/systemfile/k.pem",
              envelope(systemfile=[{"filename": "k.pem", "filecontent": "S0VZ"}]),
              envelope(404, 3441, "No such file"))
    assert client.get_file("k.pem", "/nsconfig/ssl") == b"KEY"
    assert client.get_file("k.pem", "/nsconfig/ssl") is None


def test_context_manager_logs_out(adc):
    with NitroClient(nsip="adc.test", username="u", password="p",
                     transport=httpx.MockTransport(adc)) as c:
        c.get("lbvserver")
    (logout,) = adc.seen("POST", "/nitro/v1/config/logout")
    assert body_of(logout) == {"logout": {}} and logout.headers["Cookie"].endswith("tok1")
    assert not c.logged_in
    with NitroClient(nsip="adc.test", username="u", password="p",
                     transport=httpx.MockTransport(adc)):
        pass
    assert len(adc.seen("POST", "/nitro/v1/config/logout")) == 1


def test_debug_log_masks_every_secret(adc, caplog):
    adc.handler = lambda r: envelope(systemfile=[{"filename": "k", "filecontent": "UFJJVg=="}])
    c = NitroClient(nsip="adc.test", username="u", password=PASSWORD,
                    transport=httpx.MockTransport(adc))
    h = NitroClient(nsip="adc.test", username="u", password=PASSWORD, auth_mode="header",
                    transport=httpx.MockTransport(adc))
    with caplog.at_level(logging.DEBUG, logger="adcml.nitro"):
        c.add("authenticationoauthaction", {"name": "idp", "clientsecret": "cl13nt"})
        c.add("sslcertkey", [{"certkey": "c", "passplain": Secret("pp55")}])
        c.add("rewriteaction", {"name": "r", "stringbuilderexpr": '"Bearer t0k3n"'})
        c.upload_file("k.pem", b"PRIVATE KEY BYTES")
        c.get_file("k", "/nsconfig/ssl")
        h.get("lbvserver")
    text = caplog.text
    for secret in (PASSWORD, "cl13nt", "pp55", "t0k3n", "UFJJVg==", "UFJJVkFURSBLRVkgQllURVM=",
                   "tok1"):
        assert secret not in text, secret
    assert "POST /nitro/v1/config/authenticationoauthaction?warning=yes -> 200 in" in text
    assert '"clientsecret":"***"' in text and "'x-nitro-pass': '***'" in text
    # secrets were still sent
    sent = adc.seen("POST", "/nitro/v1/config/sslcertkey")[0]
    assert body_of(sent)["sslcertkey"][0]["passplain"] == "pp55"


def test_repr_hides_secrets(client, adc):
    client.get("lbvserver")
    assert PASSWORD not in repr(client) and "tok1" not in repr(client)
    assert PASSWORD not in repr(client.settings)
