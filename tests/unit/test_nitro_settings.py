import pytest

from adcml.nitro.errors import SettingsError
from adcml.nitro.settings import AuthMode, Settings
from adcml.secret import Secret

CREDS = {"username": "nsroot", "password": "hunter2"}


def test_defaults():
    s = Settings(nsip="10.0.0.1", **CREDS)
    assert s.protocol == "https" and s.validate_certs is True and s.ca_bundle is None
    assert (s.timeout, s.retries, s.backoff) == (30.0, 3, 0.2)
    assert s.auth_mode is AuthMode.SESSION and s.partition is None
    assert isinstance(s.password, Secret) and s.password.reveal() == "hunter2"


@pytest.mark.parametrize(
    ("nsip", "protocol", "url", "host", "port"),
    [
        ("10.0.0.1", "https", "https://10.0.0.1", "10.0.0.1", None),
        ("adc.example.com:8443", "https", "https://adc.example.com:8443", "adc.example.com", 8443),
        ("localhost:8080", "http", "http://localhost:8080", "localhost", 8080),
        ("[2001:db8::1]:443", "https", "https://[2001:db8::1]:443", "2001:db8::1", 443),
        ("2001:db8::1", "https", "https://[2001:db8::1]", "2001:db8::1", None),
        ("[::1]", "HTTP", "http://[::1]", "::1", None),
    ],
)
def test_base_url(nsip, protocol, url, host, port):
    s = Settings(nsip=nsip, protocol=protocol, **CREDS)
    assert (s.base_url, s.host, s.port) == (url, host, port)


def test_repr_masks_password():
    s = Settings(nsip="10.0.0.1", **CREDS)
    assert "hunter2" not in repr(s) and "Secret('***')" in repr(s)


ENV = {
    "NETSCALER_NSIP": "10.1.1.1:9443",
    "NETSCALER_NITRO_USER": "admin",
    "NETSCALER_NITRO_PASS": "envpass",
    "NETSCALER_NITRO_PROTOCOL": "http",
    "NETSCALER_VALIDATE_CERTS": "No",
    "NETSCALER_PARTITION": "p1",
}


def test_from_env():
    s = Settings.from_env(ENV)
    assert (s.nsip, s.username, s.protocol, s.validate_certs, s.partition) == (
        "10.1.1.1:9443", "admin", "http", False, "p1")
    assert s.password == Secret("envpass")


def test_explicit_arguments_win_over_env_and_none_does_not():
    s = Settings.from_env(ENV, nsip="10.9.9.9", protocol=None, validate_certs=True,
                          password="explicit")
    assert s.nsip == "10.9.9.9" and s.protocol == "http" and s.validate_certs is True
    assert s.password.reveal() == "explicit"


def test_from_env_reads_os_environ(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("NETSCALER_CA_BUNDLE", __file__)
    assert Settings.from_env().ca_bundle == __file__


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("yes", True), ("1", True), ("Yes", True),
     ("false", False), ("no", False), ("0", False), ("False", False)],
)
def test_validate_certs_spellings(raw, expected):
    env = {**ENV, "NETSCALER_VALIDATE_CERTS": raw}
    assert Settings.from_env(env).validate_certs is expected


def test_invalid_validate_certs_names_the_variable():
    with pytest.raises(SettingsError, match="NETSCALER_VALIDATE_CERTS.*'maybe'"):
        Settings.from_env({**ENV, "NETSCALER_VALIDATE_CERTS": "maybe"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "ftp"}, "protocol: must be 'http' or 'https', got 'ftp'"),
        ({"nsip": ""}, "nsip: missing; set nsip or NETSCALER_NSIP"),
        ({"nsip": "https://10.0.0.1"}, "nsip: give host or host:port without a scheme"),
        ({"nsip": "10.0.0.1:0"}, "nsip: port must be 1-65535"),
        ({"nsip": "10.0.0.1:http"}, "nsip: port must be 1-65535"),
        ({"nsip": "[zz::1]:443"}, "nsip: not a valid IPv6 address"),
        ({"nsip": "a b"}, "nsip: not a host name"),
        ({"username": ""}, "username: missing; set username or NETSCALER_NITRO_USER"),
        ({"password": ""}, "password: missing; set password or NETSCALER_NITRO_PASS"),
        ({"timeout": 0}, "timeout: must be > 0"),
        ({"retries": -1}, "retries: must be >= 0"),
        ({"retries": 1.5}, "retries: must be an integer"),
        ({"backoff": -0.1}, "backoff: must be >= 0"),
        ({"auth_mode": "basic"}, "auth_mode: must be 'session' or 'header'"),
        ({"ca_bundle": "/no/such/ca.pem"}, "ca_bundle: no such file"),
        ({"partition": "p1", "auth_mode": "header"}, "partition: needs auth_mode 'session'"),
    ],
)
def test_validation_messages(kwargs, message):
    values = {"nsip": "10.0.0.1", **CREDS, **kwargs}
    with pytest.raises(SettingsError) as info:
        Settings(**values)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)
    assert "hunter2" not in str(info.value)


def test_missing_nsip_from_env_says_how_to_fix():
    with pytest.raises(SettingsError, match="set nsip or NETSCALER_NSIP"):
        Settings.from_env({}, **CREDS)


def test_frozen_and_replace():
    s = Settings(nsip="10.0.0.1", **CREDS)
    with pytest.raises(AttributeError):
        s.nsip = "x"  # type: ignore[misc]
    t = s.replace(partition="p2", timeout=None)
    assert t.partition == "p2" and t.timeout == 30.0 and s.partition is None
