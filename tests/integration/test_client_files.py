"""Files, certificates, saving and the version, through NitroClient against the lab ADC."""

from __future__ import annotations

import os

import pytest
from cryptography import x509

from adcml.lab.services.pki import LabCA
from adcml.nitro import (
    AlreadyExists,
    CertificateError,
    NitroClient,
    NotFound,
    ResourceInUse,
)

SSL = "/nsconfig/ssl/"



@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA()


@pytest.fixture
def adc(lab_adc):
    with lab_adc.client() as client:
        client.enable_features(["LB", "SSL"])
        yield client


def serial_of(pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(pem).serial_number, "X")


def install(adc: NitroClient, certkey: str, issued, stem: str) -> None:
    adc.upload_file(f"{stem}.crt", issued.cert_pem)
    adc.upload_file(f"{stem}.key", issued.key_pem)
    adc.add("sslcertkey", {"certkey": certkey, "cert": f"{stem}.crt", "key": f"{stem}.key"})


def test_file_round_trip_overwrite_and_delete(adc):
    data = os.urandom(3000) + b"\x00\xff end"
    adc.upload_file("blob.bin", data)
    assert adc.get_file("blob.bin", SSL) == data
    assert adc.get_file("blob.bin", "/nsconfig/ssl") == data  # trailing slash optional
    with pytest.raises(AlreadyExists) as info:
        adc.upload_file("blob.bin", b"other")
    assert info.value.errorcode == 1642
    assert adc.get_file("blob.bin", SSL) == data
    adc.upload_file("blob.bin", "replaced, as text", overwrite=True)
    assert adc.get_file("blob.bin", SSL) == b"replaced, as text"
    adc.delete_file("blob.bin", SSL)
    assert adc.get_file("blob.bin", SSL) is None
    with pytest.raises(NotFound) as info:
        adc.delete_file("blob.bin", SSL)
    assert info.value.errorcode == 3441


@pytest.mark.parametrize("spelling", ["/nsconfig/ssl", "/nsconfig/ssl/"])
def test_systemfile_location_with_or_without_trailing_slash(adc, spelling):
    # nitro-facts.md spells the location "/nsconfig/ssl/" in bodies and "/nsconfig/ssl" in
    # args; an appliance names the same directory either way, for GET and DELETE alike.
    adc.upload_file("f.txt", b"x", spelling)
    args = {"filelocation": spelling}
    assert [f["filename"] for f in adc.get("systemfile", "f.txt", args=args)] == ["f.txt"]
    assert [f["filename"] for f in adc.get("systemfile", args=args)] == ["f.txt"]
    adc.delete("systemfile", "f.txt", args=args)
    assert adc.get_file("f.txt", spelling) is None


def test_overwrite_of_a_new_file_just_adds(lab_adc, adc):
    lab_adc.reset_counters()
    adc.upload_file("new.txt", b"hello", "/var/tmp/", overwrite=True)
    assert lab_adc.counters()["requests"] == {"POST systemfile": 1}
    assert adc.get_file("new.txt", "/var/tmp/") == b"hello"
    assert adc.get_file("new.txt", SSL) is None


def test_certificate_install_rotate_and_remove(adc, ca):
    first = ca.issue("api.example.test", sans=("api.example.test",))
    install(adc, "api-cert", first, "api-2025")
    got = adc.get("sslcertkey", "api-cert")[0]
    assert got["serial"] == serial_of(first.cert_pem)
    assert got["status"] == "Valid"
    assert "CN=api.example.test" in got["subject"]
    assert "CN=adcml lab CA" in got["issuer"]
    assert 360 <= int(got["daystoexpiration"]) <= 365

    adc.add("lbvserver", {"name": "api", "servicetype": "SSL", "ipv46": "10.0.0.20", "port": 443})
    adc.bind("sslvserver_sslcertkey_binding", {"vservername": "api", "certkeyname": "api-cert"})

    second = ca.issue("api.example.test", sans=("api.example.test",))
    adc.upload_file("api-2026.crt", second.cert_pem)
    adc.upload_file("api-2026.key", second.key_pem)
    adc.action("sslcertkey", "update", {"certkey": "api-cert", "cert": "api-2026.crt",
                                         "key": "api-2026.key", "nodomaincheck": True})
    got = adc.get("sslcertkey", "api-cert")[0]
    assert got["serial"] == serial_of(second.cert_pem) != serial_of(first.cert_pem)
    assert (got["cert"], got["key"]) == ("api-2026.crt", "api-2026.key")
    bound = adc.get("sslvserver_sslcertkey_binding", "api")
    assert [b["certkeyname"] for b in bound] == ["api-cert"]  # the binding stayed

    with pytest.raises(ResourceInUse) as info:
        adc.delete("sslcertkey", "api-cert")
    assert info.value.errorcode == 1541
    adc.unbind("sslvserver_sslcertkey_binding", "api", args={"certkeyname": "api-cert"})
    adc.delete("sslcertkey", "api-cert")
    assert adc.find("sslcertkey", "api-cert") is None


def test_rotation_to_another_domain_needs_nodomaincheck(adc, ca):
    install(adc, "c", ca.issue("a.example.test"), "a")
    other = ca.issue("b.example.test")
    adc.upload_file("b.crt", other.cert_pem)
    adc.upload_file("b.key", other.key_pem)
    with pytest.raises(CertificateError) as info:
        adc.action("sslcertkey", "update", {"certkey": "c", "cert": "b.crt", "key": "b.key"})
    assert info.value.errorcode == 3585
    adc.action("sslcertkey", "update",
               {"certkey": "c", "cert": "b.crt", "key": "b.key", "nodomaincheck": True})
    assert adc.get("sslcertkey", "c")[0]["serial"] == serial_of(other.cert_pem)


def test_mismatched_key_is_a_certificate_error(adc, ca):
    one, two = ca.issue("one.example.test"), ca.issue("two.example.test")
    adc.upload_file("one.crt", one.cert_pem)
    adc.upload_file("two.key", two.key_pem)
    with pytest.raises(CertificateError) as info:
        adc.add("sslcertkey", {"certkey": "bad", "cert": "one.crt", "key": "two.key"})
    assert (info.value.errorcode, info.value.name) == (1538, "bad")
    assert adc.find("sslcertkey", "bad") is None


def test_missing_input_file_is_a_certificate_error(adc):
    with pytest.raises(CertificateError) as info:
        adc.add("sslcertkey", {"certkey": "nofile", "cert": "absent.crt"})
    assert info.value.errorcode == 1647


def test_encrypted_key_with_passplain(adc, ca):
    issued = ca.issue("enc.example.test", passphrase="k3y-Passphrase")
    adc.upload_file("enc.crt", issued.cert_pem)
    adc.upload_file("enc.key", issued.key_pem)
    adc.add("sslcertkey", {"certkey": "enc", "cert": "enc.crt", "key": "enc.key",
                           "passplain": "k3y-Passphrase"})
    got = adc.get("sslcertkey", "enc")[0]
    assert got["password"] is True
    assert "passplain" not in got


def test_saved_config_survives_a_restart(lab_adc, adc, ca):
    install(adc, "kept", ca.issue("kept.example.test"), "kept")
    adc.add("lbvserver", {"name": "saved", "servicetype": "HTTP", "comment": "keep me"})
    adc.save_config()
    assert adc.get("nsconfig")[0]["configchanged"] is False
    adc.add("lbvserver", {"name": "unsaved", "servicetype": "HTTP"})
    assert adc.get("nsconfig")[0]["configchanged"] is True

    lab_adc.restart()
    with lab_adc.client() as fresh:
        assert fresh.get("lbvserver", "saved")[0]["comment"] == "keep me"
        assert fresh.find("lbvserver", "unsaved") is None
        assert fresh.get("sslcertkey", "kept")[0]["status"] == "Valid"
        assert fresh.get_file("kept.crt", SSL) is not None
        assert {"LB", "SSL"} <= fresh.features()


def test_version(adc):
    version = adc.version()
    assert (version.release, version.build) == ("14.1", "43.50")
    assert version.as_tuple == (14, 1, 43, 50)
    assert version.raw.startswith("NetScaler NS14.1: Build 43.50")
    assert str(version) == "NS14.1 Build 43.50"
