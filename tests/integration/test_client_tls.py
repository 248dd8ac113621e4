"""NitroClient over HTTPS to the lab ADC's management certificate, and settings from the
environment (the variables of the vendor's Ansible collection)."""

from __future__ import annotations

import pytest

from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroClient, NitroTransportError, Settings, SettingsError


def tls_nsip(lab_adc) -> str:
    return lab_adc.tls_url.removeprefix("https://")


def client(lab_adc, **overrides) -> NitroClient:
    settings = {"nsip": tls_nsip(lab_adc), "username": "nsroot", "password": "nsroot",
                "backoff": 0.001, **overrides}
    return NitroClient(**settings)


def test_protocol_defaults_to_https_with_validation():
    settings = Settings(nsip="10.0.0.1", username="nsroot", password="x")
    assert settings.protocol == "https"
    assert settings.validate_certs is True
    assert settings.base_url == "https://10.0.0.1"


def test_https_with_the_management_cert_as_ca_bundle(lab_adc):
    with client(lab_adc, ca_bundle=lab_adc.ca_file) as adc:  # a Path is fine too
        assert adc.settings.base_url == lab_adc.tls_url
        adc.add("lbvserver", {"name": "over-tls", "servicetype": "HTTP"})
        assert adc.get("lbvserver", "over-tls")[0]["name"] == "over-tls"
        assert adc.version().release == "14.1"
    requests = lab_adc.counters()["requests"]
    assert (requests["POST login"], requests["POST logout"]) == (1, 1)


def test_unknown_certificate_is_refused_with_a_hint_and_not_retried(lab_adc):
    adc = client(lab_adc, retries=3)
    with pytest.raises(NitroTransportError) as info:
        adc.get("lbvserver")
    text = str(info.value)
    assert "certificate verify failed" in text.lower()
    assert "ca_bundle" in text  # the hint says how to fix it
    assert info.value.url.startswith(lab_adc.tls_url)
    assert lab_adc.counters()["total"] == 0  # nothing reached NITRO, nothing retried
    adc.close()


def test_a_ca_that_did_not_sign_the_cert_is_refused(lab_adc, tmp_path):
    other = tmp_path / "other-ca.pem"
    other.write_bytes(LabCA("someone else").cert_pem)
    adc = client(lab_adc, ca_bundle=str(other))
    with pytest.raises(NitroTransportError) as info:
        adc.get("lbvserver")
    assert "certificate verify failed" in str(info.value).lower()
    adc.close()


def test_validate_certs_false_accepts_any_certificate(lab_adc):
    with client(lab_adc, validate_certs=False) as adc:
        assert adc.get("lbvserver") == []


def test_http_client_against_the_tls_port_fails_cleanly(lab_adc):
    adc = client(lab_adc, protocol="http", retries=0, timeout=5)
    with pytest.raises(NitroTransportError):
        adc.get("lbvserver")
    adc.close()


# -- settings from the environment -------------------------------------------------------------

ENV_VARS = ("NETSCALER_NSIP", "NETSCALER_NITRO_USER", "NETSCALER_NITRO_PASS",
            "NETSCALER_NITRO_PROTOCOL", "NETSCALER_VALIDATE_CERTS", "NETSCALER_CA_BUNDLE",
            "NETSCALER_PARTITION")


@pytest.fixture
def env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_env_drives_a_client_over_http(lab_adc, env):
    env.setenv("NETSCALER_NSIP", lab_adc.nsip)
    env.setenv("NETSCALER_NITRO_USER", "nsroot")
    env.setenv("NETSCALER_NITRO_PASS", "nsroot")
    env.setenv("NETSCALER_NITRO_PROTOCOL", "HTTP")
    env.setenv("NETSCALER_VALIDATE_CERTS", "no")
    with NitroClient.from_env(backoff=0.001) as adc:
        assert adc.settings.base_url == lab_adc.url
        assert adc.settings.validate_certs is False
        adc.add("server", {"name": "from-env", "ipaddress": "10.0.0.7"})
    with NitroClient.from_env() as adc:
        assert adc.get("server", "from-env")[0]["ipaddress"] == "10.0.0.7"


def test_env_drives_a_client_over_https_without_validation(lab_adc, env):
    env.setenv("NETSCALER_NSIP", tls_nsip(lab_adc))
    env.setenv("NETSCALER_NITRO_USER", "nsroot")
    env.setenv("NETSCALER_NITRO_PASS", "nsroot")
    env.setenv("NETSCALER_VALIDATE_CERTS", "false")
    with NitroClient.from_env() as adc:
        assert adc.settings.protocol == "https"
        assert adc.get("lbvserver") == []


def test_env_ca_bundle_and_partition(lab_adc, env):
    with client(lab_adc, ca_bundle=str(lab_adc.ca_file)) as admin:
        admin.add("nspartition", {"partitionname": "envpart"})
        admin.add("server", {"name": "in-default", "ipaddress": "10.0.0.1"})
    env.setenv("NETSCALER_NSIP", tls_nsip(lab_adc))
    env.setenv("NETSCALER_NITRO_USER", "nsroot")
    env.setenv("NETSCALER_NITRO_PASS", "nsroot")
    env.setenv("NETSCALER_VALIDATE_CERTS", "true")
    env.setenv("NETSCALER_CA_BUNDLE", str(lab_adc.ca_file))
    env.setenv("NETSCALER_PARTITION", "envpart")
    with NitroClient.from_env() as adc:
        assert adc.partition == "envpart"
        assert adc.get("server") == []


def test_env_with_validation_and_no_ca_fails_verification(lab_adc, env):
    env.setenv("NETSCALER_NSIP", tls_nsip(lab_adc))
    env.setenv("NETSCALER_NITRO_USER", "nsroot")
    env.setenv("NETSCALER_NITRO_PASS", "nsroot")
    adc = NitroClient.from_env()
    with pytest.raises(NitroTransportError) as info:
        adc.get("lbvserver")
    assert "certificate verify failed" in str(info.value).lower()
    adc.close()


def test_env_wrong_values_name_the_variable(lab_adc, env):
    env.setenv("NETSCALER_NSIP", lab_adc.nsip)
    env.setenv("NETSCALER_NITRO_USER", "nsroot")
    env.setenv("NETSCALER_NITRO_PASS", "nsroot")
    env.setenv("NETSCALER_VALIDATE_CERTS", "maybe")
    with pytest.raises(SettingsError) as info:
        NitroClient.from_env()
    assert "NETSCALER_VALIDATE_CERTS" in str(info.value)
    env.delenv("NETSCALER_VALIDATE_CERTS")
    env.delenv("NETSCALER_NITRO_PASS")
    with pytest.raises(SettingsError) as info:
        NitroClient.from_env()
    assert info.value.field == "password"
    assert "NETSCALER_NITRO_PASS" in str(info.value)
