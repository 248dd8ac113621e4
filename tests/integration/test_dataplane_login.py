"""Browser sign-in at the lab ADC (AAA-TM forms mode, OIDC code flow), step by step through
real HTTP clients: a CS vserver ``gw.web`` with ``authentication ON`` and an authnprofile, the
authentication vserver reached through a CS policy with ``targetvserver``, the lab IdP with the
gateway registered as a client. Redirects are followed by hand to check each step. Then the
gateway's ``login`` section converged by the engine, through the same steps and in a real
browser (Debian's headless Chromium driven by Selenium, nothing downloaded at run time): open a
protected page, sign in on the IdP's form, see the page (a screenshot is kept), a person without
the pool's group refused, logout and sign-in asked again."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port  # noqa: F401

from adcml.lab.services.idp import LabIdP
from adcml.lab.services.pki import LabCA

VIP = "127.0.8.10"
HOST = "web.lab.test"
CLIENT_ID = "gw-web"
SECRET = "gw-web-secret-1"
AUTH_RULE = 'HTTP.REQ.URL.PATH.STARTSWITH("/cgi/tm") || HTTP.REQ.URL.PATH.STARTSWITH("/oauth/login")'


@pytest.fixture(scope="module")
def idp():
    with LabIdP() as provider:
        yield provider


class Clock:
    """The sign-in's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Browser:
    """A browser as far as the flow needs: cookies of the web host, the VIP for its name."""

    http: httpx.Client
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"https://{HOST}:{self.port}"

    def get(self, url: str) -> httpx.Response:
        """GET ``url`` (on the web host, or anywhere else such as the IdP), no redirects."""
        if not url.startswith("https://"):
            return httpx.get(url, follow_redirects=False)
        parts = urlsplit(url)
        assert parts.hostname == HOST, url
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Host": parts.netloc}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.http.cookies.clear()  # the client's jar is shared: this browser's cookies only
        response = self.http.get(f"https://{VIP}:{self.port}{target}", headers=headers)
        for raw in response.headers.get_list("set-cookie"):
            self.set_cookies.append(raw)
            for name, morsel in SimpleCookie(raw).items():
                if "1999" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


@dataclass
class Web:
    """The configured lab: the browser, the page backend, the sign-in's state and clock."""

    browser: Browser
    pages: object
    signins: object
    clock: Clock
    client: object
    dplab: object

    def new_browser(self) -> Browser:
        return Browser(self.browser.http, self.browser.port)


def configure(client, port: int, pages, idp: LabIdP, ca: LabCA, *, secret: str = SECRET,
              session: str | None = "ALLOW", pkce: str = "ENABLED",
              method: str = "client_secret_post") -> None:
    """Exactly the NITRO shape the engine compiles for a gateway's browsers (``gw.web``)."""
    client.enable_features(["LB", "CS", "SSL", "AAA", "REWRITE"])
    issued = ca.issue(HOST, sans=(HOST, VIP))
    client.upload_file("web.crt", issued.cert_pem)
    client.upload_file("web.key", issued.key_pem)
    client.add("sslcertkey", {"certkey": "web", "cert": "web.crt", "key": "web.key"})
    client.add("servicegroup", {"servicegroupname": "pages", "servicetype": "HTTP"})
    client.bind("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pages", "ip": pages.ip, "port": pages.port})
    client.add("lbvserver", {"name": "pages", "servicetype": "HTTP"})
    client.bind("lbvserver_servicegroup_binding", {"name": "pages", "servicegroupname": "pages"})
    client.add("authenticationvserver", {"name": "gw.web.auth", "servicetype": "SSL", "ipv46": "0.0.0.0",
                                         "port": 0, "authentication": "ON"})
    discovery = idp.discovery()
    client.add("authenticationoauthaction", {
        "name": "gw.web", "authorizationendpoint": discovery["authorization_endpoint"],
        "tokenendpoint": discovery["token_endpoint"], "clientid": CLIENT_ID, "clientsecret": secret,
        "certendpoint": idp.jwks_uri, "issuer": idp.issuer, "audience": CLIENT_ID,
        "usernamefield": "sub", "attributes": "groups", "granttype": "CODE", "pkce": pkce,
        "tokenendpointauthmethod": method, "skewtime": 1})
    client.add("authenticationpolicy", {"name": "gw.web", "rule": "true", "action": "gw.web"})
    client.bind("authenticationvserver_authenticationpolicy_binding",
                {"name": "gw.web.auth", "policy": "gw.web", "priority": 100})
    client.add("authenticationauthnprofile", {"name": "gw.web", "authnvsname": "gw.web.auth",
                                              "authenticationhost": HOST})
    if session is not None:
        client.add("tmsessionaction", {"name": "gw.web", "sesstimeout": 30,
                                       "defaultauthorizationaction": session})
        client.add("tmsessionpolicy", {"name": "gw.web", "rule": "true", "action": "gw.web"})
        client.bind("authenticationvserver_tmsessionpolicy_binding",
                    {"name": "gw.web.auth", "policy": "gw.web", "priority": 100})
    client.add("csvserver", {"name": "gw.web", "servicetype": "SSL", "ipv46": VIP, "port": port})
    client.bind("sslvserver_sslcertkey_binding", {"vservername": "gw.web", "certkeyname": "web"})
    client.add("csaction", {"name": "gw.web.auth", "targetvserver": "gw.web.auth"})
    client.add("cspolicy", {"policyname": "gw.web.auth", "rule": AUTH_RULE, "action": "gw.web.auth"})
    client.bind("csvserver_cspolicy_binding", {"name": "gw.web", "policyname": "gw.web.auth", "priority": 1})
    client.bind("csvserver_lbvserver_binding", {"name": "gw.web", "lbvserver": "pages"})
    client.update("csvserver", {"name": "gw.web", "authentication": "ON", "authnprofile": "gw.web"})
    for name, target, expr, priority in (("gw.user", "X-Forwarded-User", "HTTP.REQ.USER.NAME", 100),
                                         ("gw.groups", "X-Forwarded-Groups",
                                          'HTTP.REQ.USER.ATTRIBUTE("groups")', 110)):
        client.add("rewriteaction", {"name": name, "type": "insert_http_header", "target": target,
                                     "stringbuilderexpr": expr})
        client.add("rewritepolicy", {"name": name, "rule": "true", "action": name})
        client.bind("csvserver_rewritepolicy_binding", {"name": "gw.web", "policyname": name,
                                                        "priority": priority,
                                                        "gotopriorityexpression": "NEXT"})


@pytest.fixture
def web(dplab, backends, idp, tmp_path, request):
    options = getattr(request, "param", {})
    ca = LabCA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    pages = backends.start("pages", "127.0.8.21")
    port = free_port(VIP)
    idp.register_client(CLIENT_ID, [SECRET], [f"https://{HOST}:{port}/oauth/login"])
    with dplab.client() as client:
        configure(client, port, pages, idp, ca, **options)
    dplab.settle()
    signins = dplab.plane.extras.signins
    clock = Clock()
    signins.clock = clock
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    http = httpx.Client(verify=trust, timeout=5)  # the certificate names the VIP too
    yield Web(Browser(http, port), pages, signins, clock, None, dplab)
    http.close()


# --- the steps ----------------------------------------------------------------------------
def start(browser: Browser, path: str = "/app/page?x=1") -> tuple[str, dict[str, str]]:
    """Ask for a protected page up to the IdP: the authorize URL and its query."""
    first = browser.get(f"{browser.origin}{path}")
    assert first.status_code == 302, first.text
    tm = first.headers["location"]
    assert tm.startswith(f"{browser.origin}/cgi/tm?")
    to_idp = browser.get(tm)
    assert to_idp.status_code == 302, to_idp.text
    authorize = to_idp.headers["location"]
    return authorize, {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}


def idp_sign_in(authorize: str, sub: str = "ana", groups: str = "ml-trusted") -> str:
    """Sign in on the IdP's form: the callback URL (code and state) it sends the browser to."""
    answer = httpx.post(authorize, data={"sub": sub, "groups": groups}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(browser: Browser, path: str = "/app/page?x=1", sub: str = "ana") -> httpx.Response:
    """The whole flow; the answer to the page first asked for."""
    authorize, _ = start(browser, path)
    callback = browser.get(idp_sign_in(authorize, sub))
    assert callback.status_code == 302, callback.text
    selfauth = browser.get(callback.headers["location"])
    assert selfauth.status_code == 302, selfauth.text
    assert selfauth.headers["location"] == path
    return browser.get(f"{browser.origin}{path}")


def no_session(web: Web) -> bool:
    return not web.signins.sessions


def access_log(web: Web) -> str:
    return (web.dplab.state_dir / "access.log").read_text()


# --- the flow ---------------------------------------------------------------------------
def test_the_whole_flow_signs_the_user_in(web, idp):
    browser = web.browser
    authorize, query = start(browser)
    assert authorize.startswith(idp.discovery()["authorization_endpoint"])
    assert (query["response_type"], query["client_id"]) == ("code", CLIENT_ID)
    assert query["redirect_uri"] == f"{browser.origin}/oauth/login"
    assert query["scope"] == "openid groups"
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]
    callback = idp_sign_in(authorize)
    assert callback.startswith(f"{browser.origin}/oauth/login?")
    to_selfauth = browser.get(callback)
    assert to_selfauth.status_code == 302 and "set-cookie" not in to_selfauth.headers
    assert to_selfauth.headers["location"].startswith(f"{browser.origin}/cgi/selfauth?")
    to_page = browser.get(to_selfauth.headers["location"])
    assert to_page.status_code == 302 and to_page.headers["location"] == "/app/page?x=1"
    cookie = to_page.headers["set-cookie"]
    assert cookie.startswith("NSC_TMAS=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "Path=/" in cookie and "expires" not in cookie.lower() and "Domain" not in cookie
    assert len(browser.cookies["NSC_TMAS"]) == 32 and int(browser.cookies["NSC_TMAS"], 16) >= 0
    page = browser.get(f"{browser.origin}/app/page?x=1")
    assert page.status_code == 200
    seen = page.json()
    assert (seen["path"], seen["query"]) == ("/app/page", "x=1")
    assert seen["headers"]["X-Forwarded-User"] == "ana"
    assert seen["headers"]["X-Forwarded-Groups"] == "ml-trusted"
    assert "NSC_TMAS" in seen["headers"]["Cookie"]
    log = access_log(web)
    assert re.search(r"user=ana vserver=gw.web method=GET path=/app/page .* status=200", log)
    assert "session of ana started" in log
    for secret in (SECRET, parse_qs(urlsplit(callback).query)["code"][0], query["state"]):
        assert secret not in log


def test_a_second_browser_needs_its_own_sign_in(web):
    assert sign_in(web.browser).status_code == 200
    other = web.new_browser()
    assert other.get(f"{other.origin}/app/page").status_code == 302


# --- refusals -------------------------------------------------------------------------------
def test_a_forged_state_is_refused(web):
    authorize, _ = start(web.browser)
    callback = idp_sign_in(authorize)
    forged = callback.replace("state=", "state=forged")
    answer = web.browser.get(forged)
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    assert no_session(web)
    assert "sign-in refused: /oauth/login: unknown state" in access_log(web)


def test_a_replayed_callback_is_refused(web):
    authorize, _ = start(web.browser)
    callback = idp_sign_in(authorize)
    assert web.browser.get(callback).status_code == 302
    sessions = dict(web.signins.sessions)
    again = web.browser.get(callback)
    assert again.status_code == 400
    assert web.signins.sessions == sessions
    assert "state already used" in access_log(web)


def test_an_expired_state_is_refused(web):
    authorize, _ = start(web.browser)
    callback = idp_sign_in(authorize)
    web.clock.now += web.signins.login_ttl_s + 1
    assert web.browser.get(callback).status_code == 400
    assert no_session(web)
    log = access_log(web)
    assert "state expired" in log or "unknown state" in log


@pytest.mark.parametrize("web", [{"pkce": "DISABLED"}], indirect=True)
def test_a_code_from_another_login_fails_the_nonce_check(web):
    """Code injection: login B's code presented with login A's state. Without PKCE the IdP
    exchanges it; the ID token carries B's nonce, not A's."""
    authorize_a, query_a = start(web.browser)
    authorize_b, query_b = start(web.new_browser())
    assert "code_challenge" not in query_a
    callback_b = idp_sign_in(authorize_b, sub="mallory")
    code_b = parse_qs(urlsplit(callback_b).query)["code"][0]
    injected = f"{web.browser.origin}/oauth/login?code={code_b}&state={query_a['state']}"
    answer = web.browser.get(injected)
    assert answer.status_code == 401
    assert no_session(web)
    assert "nonce does not match" in access_log(web)


@pytest.mark.parametrize("web", [{"secret": "not-the-secret"},
                                 {"secret": "not-the-secret", "method": "client_secret_basic"}],
                         indirect=True, ids=["post", "basic"])
def test_a_wrong_client_secret_is_refused_by_the_idp(web):
    authorize, _ = start(web.browser)
    answer = web.browser.get(idp_sign_in(authorize))
    assert answer.status_code == 401
    assert no_session(web)
    log = access_log(web)
    assert "token endpoint refused the code (HTTP 401, invalid_client)" in log
    assert "not-the-secret" not in log


@pytest.mark.parametrize("web", [{"method": "client_secret_basic"}], indirect=True)
def test_client_secret_basic_signs_in(web):
    assert sign_in(web.browser).status_code == 200


def test_a_tampered_cookie_is_no_session(web):
    assert sign_in(web.browser).status_code == 200
    sid = web.browser.cookies["NSC_TMAS"]
    web.browser.cookies["NSC_TMAS"] = sid[:-1] + ("0" if sid[-1] != "0" else "1")
    answer = web.browser.get(f"{web.browser.origin}/app/page")
    assert answer.status_code == 302 and "/cgi/tm?" in answer.headers["location"]
    assert "session cookie unknown" in access_log(web)


def test_a_one_time_token_works_once(web):
    authorize, _ = start(web.browser)
    selfauth = web.browser.get(web.browser.get(idp_sign_in(authorize)).headers["location"]).request
    assert selfauth is not None
    url = f"{web.browser.origin}{selfauth.url.raw_path.decode()}"
    assert web.new_browser().get(url).status_code == 400


# --- the session ----------------------------------------------------------------------------
def test_an_idle_session_times_out_and_traffic_keeps_it(web):
    assert sign_in(web.browser).status_code == 200
    page = f"{web.browser.origin}/app/page"
    web.clock.now += 29 * 60
    assert web.browser.get(page).status_code == 200  # refreshed
    web.clock.now += 29 * 60
    assert web.browser.get(page).status_code == 200
    web.clock.now += 31 * 60
    answer = web.browser.get(page)
    assert answer.status_code == 302 and "/cgi/tm?" in answer.headers["location"]
    assert "idle timeout" in access_log(web)


def test_logout_ends_the_session(web):
    assert sign_in(web.browser).status_code == 200
    sid = web.browser.cookies["NSC_TMAS"]
    bye = web.browser.get(f"{web.browser.origin}/cgi/tmlogout")
    assert bye.status_code == 200 and "logged out" in bye.text.lower()
    assert "NSC_TMAS=xyz; expires=Wed, 09-Nov-1999" in bye.headers["set-cookie"]
    assert "NSC_TMAS" not in web.browser.cookies and sid not in web.signins.sessions
    answer = web.browser.get(f"{web.browser.origin}/app/page")
    assert answer.status_code == 302 and "/cgi/tm?" in answer.headers["location"]
    web.browser.cookies["NSC_TMAS"] = sid  # the old cookie is worth nothing now
    assert web.browser.get(f"{web.browser.origin}/app/page").status_code == 302


@pytest.mark.parametrize("web", [{"session": None}], indirect=True)
def test_without_a_session_action_the_default_authorization_denies(web):
    assert sign_in(web.browser).status_code == 403
    assert "authorization: DENY" in access_log(web)
    with web.dplab.client() as client:
        client.update("tmsessionparameter", {"defaultauthorizationaction": "ALLOW"})
    web.dplab.settle()
    assert sign_in(web.new_browser()).status_code == 200


def test_a_post_without_a_session_is_sent_to_sign_in(web):
    answer = web.browser.http.post(f"https://{VIP}:{web.browser.port}/app/form",
                                   headers={"Host": f"{HOST}:{web.browser.port}"}, content=b"x=1")
    assert answer.status_code == 302 and "/cgi/tm?" in answer.headers["location"]
    assert web.pages.hits == 0


# --- the gateway's login section, converged by the engine ------------------------------------
@pytest.fixture
def gateway_web(dplab, backends, idp, tmp_path):
    """A gateway spec with ``login`` converged by the engine: pool ``ui`` (ml-trusted only) for
    browsers on their own frontend, the API frontend beside it with bearer tokens."""
    from adcml.gateway import converge, load_spec

    ca = LabCA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    issued = ca.issue(HOST, sans=(HOST, VIP))
    (tmp_path / "gw.crt").write_bytes(issued.cert_pem)
    (tmp_path / "gw.key").write_bytes(issued.key_pem)
    pages = backends.start("pages", "127.0.8.21")
    api_port, web_port = free_port(VIP), free_port(VIP)
    idp.register_client(CLIENT_ID, [SECRET], [f"https://{HOST}:{web_port}/oauth/login"])
    discovery = idp.discovery()
    spec = load_spec({
        "name": "gw",
        "frontend": {"vip": VIP, "port": api_port, "protocol": "https",
                     "tls": {"cert_file": str(tmp_path / "gw.crt"), "key_file": str(tmp_path / "gw.key")}},
        "auth": {"oidc": {"issuer": idp.issuer, "jwks_url": idp.jwks_uri, "audience": "adcml-lab",
                          "token_endpoint": discovery["token_endpoint"], "client_id": CLIENT_ID,
                          "client_secret": SECRET, "skew_minutes": 1}},
        "pools": [{"name": "ui", "match": {"path_prefix": "/ui"}, "members": [pages.member],
                   "require_groups": ["ml-trusted"]}],
        "login": {"host": HOST, "port": web_port, "pools": ["ui"],
                  "authorization_endpoint": discovery["authorization_endpoint"]},
    })
    with dplab.client() as client:
        converge(client, spec)
    dplab.settle()
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    http = httpx.Client(verify=trust, timeout=5)
    yield Browser(http, web_port), api_port, pages
    http.close()


def test_the_engine_compiled_login_signs_people_in_and_keeps_the_group_check(gateway_web, idp):
    browser, api_port, pages = gateway_web
    page = sign_in(browser, "/ui/index.html?tab=1")
    assert page.status_code == 200 and page.json()["headers"]["X-Forwarded-User"] == "ana"
    outsider = Browser(browser.http, browser.port)
    authorize, _ = start(outsider, "/ui/index.html")
    outsider.get(outsider.get(idp_sign_in(authorize, "eve", groups="interns")).headers["location"])
    refused = outsider.get(f"{outsider.origin}/ui/index.html")
    assert refused.status_code == 403 and "NSC_TMAS" in outsider.cookies  # signed in, not allowed
    # the API frontend still wants a bearer token, and takes one
    api = f"https://{VIP}:{api_port}/ui/index.html"
    assert browser.http.get(api, headers={"Host": HOST}).status_code == 401
    token = idp.token("ana", groups=["ml-trusted"], audience="adcml-lab")
    assert browser.http.get(api, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # logout ends the session; the page asks for sign-in again
    assert browser.get(f"{browser.origin}/cgi/tmlogout").status_code == 200
    assert browser.get(f"{browser.origin}/ui/index.html").status_code == 302


# --- in a real browser: Debian's headless Chromium, through Selenium and its chromedriver --------
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

NO_BROWSER = pytest.mark.skipif(not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
                                reason="Debian's chromium and chromium-driver are not installed (make setup)")


@pytest.fixture
def chromium():
    """A headless Chromium that resolves the gateway's host name to its VIP."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1024,768",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-default-apps", f"--host-resolver-rules=MAP {HOST} {VIP}",
                     # the lab CA is not in the browser's trust store; the httpx tests verify TLS
                     "--ignore-certificate-errors"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def sign_in_on_the_form(driver, user: str, groups: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "sub").send_keys(user)
    driver.find_element(By.ID, "groups").send_keys(groups)
    driver.find_element(By.ID, "authorize").click()


@NO_BROWSER
def test_a_person_signs_in_uses_the_page_and_logs_out(gateway_web, idp, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    browser, _api_port, _pages = gateway_web
    page = f"https://{HOST}:{browser.port}/ui/index.html"
    chromium.get(page)
    assert chromium.current_url.startswith(idp.discovery()["authorization_endpoint"])  # at the IdP
    sign_in_on_the_form(chromium, "ana", "ml-trusted")
    assert chromium.current_url == page  # back where we began, signed in
    seen = json.loads(chromium.find_element(By.TAG_NAME, "body").text)
    assert seen["path"] == "/ui/index.html" and seen["headers"]["X-Forwarded-User"] == "ana"
    cookie = chromium.get_cookie("NSC_TMAS")
    assert cookie and cookie["secure"] and cookie["httpOnly"] and "expiry" not in cookie
    shot = tmp_path / "signed-in.png"
    assert chromium.save_screenshot(str(shot)) and shot.stat().st_size > 1000

    chromium.get(f"https://{HOST}:{browser.port}/cgi/tmlogout")
    assert chromium.get_cookie("NSC_TMAS") is None
    chromium.get(page)  # signed out: the page asks for sign-in again
    assert chromium.current_url.startswith(idp.discovery()["authorization_endpoint"])


@NO_BROWSER
def test_a_person_without_the_group_is_refused(gateway_web, idp, chromium):
    from selenium.webdriver.common.by import By

    browser, _api_port, pages = gateway_web
    chromium.get(f"https://{HOST}:{browser.port}/ui/index.html")
    sign_in_on_the_form(chromium, "eve", "interns")
    assert json.loads(chromium.find_element(By.TAG_NAME, "body").text) == {"error": "forbidden"}
    assert chromium.get_cookie("NSC_TMAS")  # signed in, yet not in ml-trusted: the gateway's 403
    assert pages.hits == 0
