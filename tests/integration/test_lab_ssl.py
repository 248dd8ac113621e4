"""Lab ADC contract: systemfile uploads and sslcertkey objects made from them."""

from __future__ import annotations

import base64
import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adcml.lab.services.pki import LabCA, self_signed

SSL_ARGS = "?args=filelocation:%2Fnsconfig%2Fssl"
DOMAIN = "api.example.test"


@pytest.fixture(scope="module")
def web(ca: LabCA):
    return ca.issue(DOMAIN, sans=(DOMAIN, "10.0.0.10"))


def add_certkey(api, certkey: str, issued, *, passphrase: str | None = None, **extra) -> None:
    """Upload ``issued`` as <certkey>.pem/.key and add the sslcertkey."""
    api.ok(api.upload(f"{certkey}.pem", issued.cert_pem), 201)
    api.ok(api.upload(f"{certkey}.key", issued.key_pem), 201)
    body = {"certkey": certkey, "cert": f"{certkey}.pem", "key": f"{certkey}.key", **extra}
    if passphrase:
        body["passplain"] = passphrase
    api.must_add("sslcertkey", body)


def ssl_vserver(api, name: str = "api") -> None:
    api.must_add("lbvserver", {"name": name, "servicetype": "SSL", "ipv46": "10.0.0.10",
                               "port": 443})


# --- systemfile --------------------------------------------------------------------------------
def test_upload_and_read_back_a_file(api):
    data = b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"
    api.ok(api.upload("chain.pem", data), 201)
    got = api.one("systemfile", "chain.pem", SSL_ARGS)
    assert {k: got[k] for k in ("filename", "filelocation", "filecontent", "fileencoding")} == {
        "filename": "chain.pem", "filelocation": "/nsconfig/ssl",
        "filecontent": base64.b64encode(data).decode(), "fileencoding": "BASE64"}
    listing = api.all("systemfile", SSL_ARGS)
    assert [f["filename"] for f in listing] == ["chain.pem"]


def test_file_location_may_omit_the_trailing_slash(api):
    api.ok(api.upload("a.txt", b"a", "/nsconfig/ssl"), 201)
    api.fails(api.upload("a.txt", b"b", "/nsconfig/ssl/"), 409, 1642, "a.txt")
    assert base64.b64decode(api.one("systemfile", "a.txt", SSL_ARGS)["filecontent"]) == b"a"


def test_duplicate_upload_is_1642(api):
    api.ok(api.upload("x.pem", b"1"), 201)
    api.fails(api.upload("x.pem", b"2"), 409, 1642, "x.pem")


def test_get_and_delete_need_filelocation(api):
    api.ok(api.upload("x.pem", b"1"), 201)
    api.fails(api.get("systemfile", "x.pem"), 599, 1095, "filelocation")
    api.fails(api.get("systemfile"), 599, 1095, "filelocation")
    api.fails(api.delete("systemfile", "x.pem"), 599, 1095, "filelocation")
    api.ok(api.delete("systemfile", "x.pem", filelocation="/nsconfig/ssl"))
    api.fails(api.get("systemfile", "x.pem", SSL_ARGS), 404, 3441, "x.pem")
    api.fails(api.delete("systemfile", "x.pem", filelocation="/nsconfig/ssl"), 404, 3441)


def test_files_in_another_location_are_apart(api):
    api.ok(api.upload("x.pem", b"1", "/var/tmp/"), 201)
    api.fails(api.get("systemfile", "x.pem", SSL_ARGS), 404, 3441)
    assert api.one("systemfile", "x.pem", "?args=filelocation:%2Fvar%2Ftmp")["filelocation"] == (
        "/var/tmp")


def test_size_limit_is_two_mebibytes(api):
    api.ok(api.upload("max.bin", b"\0" * (2 * 1024 * 1024)), 201)
    api.fails(api.upload("big.bin", b"\0" * (2 * 1024 * 1024 + 1)), 599, 1097, "filecontent")
    api.fails(api.get("systemfile", "big.bin", SSL_ARGS), 404, 3441)


def test_a_body_over_the_request_limit_is_refused_in_nitro_form(api):
    response = api.upload("huge.bin", b"\0" * (4 * 1024 * 1024))
    api.fails(response, 413, 1097)


@pytest.mark.parametrize("body, code, culprit", [
    ({"filename": "a/b.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "YQ=="}, 1097,
     "filename"),
    ({"filename": "b.pem", "filelocation": "nsconfig/ssl", "filecontent": "YQ=="}, 1097,
     "filelocation"),
    ({"filename": "b.pem", "filelocation": "/nsconfig/../etc", "filecontent": "YQ=="}, 1097,
     "filelocation"),
    ({"filename": "b.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "not base64!"}, 1097,
     "filecontent"),
    ({"filename": "b.pem", "filelocation": "/nsconfig/ssl/"}, 1095, "filecontent"),
    ({"filename": "b.pem", "filecontent": "YQ=="}, 1095, "filelocation"),
    ({"filename": "b.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "YQ==",
      "fileencoding": "HEX"}, 1097, "fileencoding"),
])
def test_bad_uploads_are_refused(api, body, code, culprit):
    api.fails(api.add("systemfile", body), 599, code, culprit)


def test_files_cannot_be_updated(api):
    api.ok(api.upload("x.pem", b"1"), 201)
    body = {"filename": "x.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "Mg=="}
    api.fails(api.update("systemfile", body), 599, 257, "systemfile")
    assert api.one("systemfile", "x.pem", SSL_ARGS)["filecontent"] == "MQ=="


def test_files_survive_a_restart_without_save(lab_adc, api, connect):
    api.ok(api.upload("kept.pem", b"kept"), 201)
    api.ok(api.upload("gone.pem", b"gone"), 201)
    api.ok(api.delete("systemfile", "gone.pem", filelocation="/nsconfig/ssl/"))
    fresh = connect(lab_adc.restart().url)
    assert fresh.one("systemfile", "kept.pem", SSL_ARGS)["filecontent"] == "a2VwdA=="
    fresh.fails(fresh.get("systemfile", "gone.pem", SSL_ARGS), 404, 3441)
    assert not list(lab_adc.state_dir.rglob("*.tmp"))


# --- sslcertkey --------------------------------------------------------------------------------
def test_certkey_shows_details_parsed_from_the_certificate(api, ca, web):
    add_certkey(api, "web", web)
    got = api.one("sslcertkey", "web")
    cert = web.certificate
    assert re.fullmatch(r"[0-9A-F]+", got["serial"])
    assert int(got["serial"], 16) == cert.serial_number
    assert "CN=api.example.test" in got["subject"]
    assert "CN=adcml lab CA" in got["issuer"]
    stamp = "%b %d %H:%M:%S %Y GMT"
    before = dt.datetime.strptime(got["clientcertnotbefore"], stamp).replace(tzinfo=dt.UTC)
    after = dt.datetime.strptime(got["clientcertnotafter"], stamp).replace(tzinfo=dt.UTC)
    assert (before, after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert type(got["daystoexpiration"]) is int and got["daystoexpiration"] in (363, 364)
    assert got["status"] == "Valid"
    assert (got["publickey"], got["publickeysize"]) == ("rsaEncryption", 2048)
    assert got["signaturealg"] == "ecdsa-with-SHA256"  # signed by the lab CA's EC key
    assert (got["cert"], got["key"], got["inform"], got["password"]) == (
        "web.pem", "web.key", "PEM", False)
    assert "passplain" not in got


def test_ec_and_self_signed_rsa_certificates(api, ca):
    add_certkey(api, "ec", ca.issue("ec.example.test", key_type="ec"))
    got = api.one("sslcertkey", "ec")
    assert (got["publickey"], got["publickeysize"]) == ("id-ecPublicKey", 256)
    add_certkey(api, "selfsigned", self_signed("self.example.test"))
    got = api.one("sslcertkey", "selfsigned")
    assert (got["publickey"], got["signaturealg"]) == ("rsaEncryption", "sha256WithRSAEncryption")
    assert got["subject"] == got["issuer"]


def test_expired_certificate(api, ca):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    add_certkey(api, "old", ca.issue("old.example.test", not_before=past, days=10))
    got = api.one("sslcertkey", "old")
    assert (got["status"], got["daystoexpiration"]) == ("Expired", 0)


def test_encrypted_key_with_passplain_which_is_never_returned(api, ca):
    add_certkey(api, "locked", ca.issue(DOMAIN, passphrase="s3cret"), passphrase="s3cret")
    got = api.one("sslcertkey", "locked")
    assert got["password"] is True
    assert "s3cret" not in api.get("sslcertkey").text
    assert "passplain" not in got


def test_encrypted_key_without_or_with_a_wrong_passphrase_is_refused(api, ca):
    issued = ca.issue(DOMAIN, passphrase="s3cret")
    api.ok(api.upload("l.pem", issued.cert_pem), 201)
    api.ok(api.upload("l.key", issued.key_pem), 201)
    body = {"certkey": "l", "cert": "l.pem", "key": "l.key"}
    api.fails(api.add("sslcertkey", body), 599, 1097, "l.key")
    response = api.add("sslcertkey", {**body, "passplain": "Tr0ub4dor"})
    api.fails(response, 599, 1097, "l.key")
    assert "Tr0ub4dor" not in response.text


def test_key_that_does_not_match_is_1538(api, ca, web):
    other = ca.issue(DOMAIN)
    api.ok(api.upload("web.pem", web.cert_pem), 201)
    api.ok(api.upload("other.key", other.key_pem), 201)
    body = {"certkey": "web", "cert": "web.pem", "key": "other.key"}
    api.fails(api.add("sslcertkey", body), 599, 1538, "web")
    api.fails(api.get("sslcertkey", "web"), 404, 1540, "web")


def test_missing_input_files_are_1647(api, web):
    api.fails(api.add("sslcertkey", {"certkey": "w", "cert": "nope.pem"}), 599, 1647, "nope.pem")
    api.ok(api.upload("web.pem", web.cert_pem), 201)
    api.fails(api.add("sslcertkey", {"certkey": "w", "cert": "web.pem", "key": "nope.key"}),
              599, 1647, "nope.key")
    api.fails(api.add("sslcertkey", {"certkey": "w", "cert": "/nsconfig/ssl/nope.pem"}), 599, 1647)


def test_a_file_that_is_not_a_certificate_is_1097(api):
    api.ok(api.upload("junk.pem", b"junk"), 201)
    api.fails(api.add("sslcertkey", {"certkey": "w", "cert": "junk.pem"}), 599, 1097, "junk.pem")


def test_der_certificate(api, web):
    der = web.certificate.public_bytes(serialization.Encoding.DER)
    api.ok(api.upload("web.der", der), 201)
    api.must_add("sslcertkey", {"certkey": "der", "cert": "web.der", "inform": "der"})
    got = api.one("sslcertkey", "der")
    assert (got["inform"], int(got["serial"], 16)) == ("DER", web.certificate.serial_number)


def test_absolute_cert_paths(api, web):
    api.ok(api.upload("web.pem", web.cert_pem, "/nsconfig/ssl/certs/"), 201)
    api.must_add("sslcertkey", {"certkey": "abs", "cert": "/nsconfig/ssl/certs/web.pem"})
    assert api.one("sslcertkey", "abs")["cert"] == "/nsconfig/ssl/certs/web.pem"


def test_missing_certkey_is_1540(api):
    api.fails(api.get("sslcertkey", "nope"), 404, 1540, "certkey, nope")
    api.fails(api.delete("sslcertkey", "nope"), 404, 1540)
    api.fails(api.act("sslcertkey", "update", {"certkey": "nope", "cert": "x.pem"}), 404, 1540)


def test_only_monitoring_attributes_change_with_put(api, web):
    add_certkey(api, "web", web)
    api.ok(api.update("sslcertkey", {"certkey": "web", "expirymonitor": "enabled",
                                     "notificationperiod": 30,
                                     "deletecertkeyfilesonremoval": "YES"}))
    got = api.one("sslcertkey", "web")
    assert (got["expirymonitor"], got["notificationperiod"], got["deletecertkeyfilesonremoval"]) \
        == ("ENABLED", "30", "YES")
    api.fails(api.update("sslcertkey", {"certkey": "web", "cert": "other.pem"}), 599, 278, "cert")
    api.fails(api.update("sslcertkey", {"certkey": "web", "key": "other.key"}), 599, 278, "key")
    api.fails(api.update("sslcertkey", {"certkey": "web", "notificationperiod": 5}), 599, 1097,
              "notificationperiod")
    assert api.one("sslcertkey", "web")["cert"] == "web.pem"


def test_update_action_rotates_in_place_and_keeps_bindings(api, ca, web):
    add_certkey(api, "web", web)
    ssl_vserver(api)
    api.ok(api.bind("sslvserver_sslcertkey_binding", {"vservername": "api", "certkeyname": "web"},
                    "POST"), 201)
    old_serial = api.one("sslcertkey", "web")["serial"]

    renewed = ca.issue(DOMAIN, days=730)
    api.ok(api.upload("web-2.pem", renewed.cert_pem), 201)
    api.ok(api.upload("web-2.key", renewed.key_pem), 201)
    api.ok(api.act("sslcertkey", "update", {"certkey": "web", "cert": "web-2.pem",
                                            "key": "web-2.key"}))
    got = api.one("sslcertkey", "web")
    assert got["serial"] != old_serial
    assert int(got["serial"], 16) == renewed.certificate.serial_number
    assert (got["cert"], got["key"]) == ("web-2.pem", "web-2.key")
    assert got["daystoexpiration"] in (728, 729)
    [binding] = api.ok(api.get("sslvserver_sslcertkey_binding", "api"))[
        "sslvserver_sslcertkey_binding"]
    assert (binding["vservername"], binding["certkeyname"]) == ("api", "web")


def test_update_action_with_a_key_that_does_not_match_changes_nothing(api, ca, web):
    add_certkey(api, "web", web)
    serial = api.one("sslcertkey", "web")["serial"]
    renewed = ca.issue(DOMAIN)
    api.ok(api.upload("web-2.pem", renewed.cert_pem), 201)
    api.fails(api.act("sslcertkey", "update", {"certkey": "web", "cert": "web-2.pem"}),
              599, 1538)
    assert api.one("sslcertkey", "web")["serial"] == serial


def test_update_to_another_domain_needs_nodomaincheck(api, ca, web):
    add_certkey(api, "web", web)
    other = ca.issue("other.example.test")
    api.ok(api.upload("other.pem", other.cert_pem), 201)
    api.ok(api.upload("other.key", other.key_pem), 201)
    body = {"certkey": "web", "cert": "other.pem", "key": "other.key"}
    api.fails(api.act("sslcertkey", "update", body), 599, 3585, "web")
    assert "api.example.test" in api.one("sslcertkey", "web")["subject"]
    api.ok(api.act("sslcertkey", "update", {**body, "nodomaincheck": True}))
    assert "other.example.test" in api.one("sslcertkey", "web")["subject"]
    assert "nodomaincheck" not in api.one("sslcertkey", "web")


def test_link_to_the_issuing_ca(api, ca, web):
    add_certkey(api, "web", web)
    api.ok(api.upload("labca.pem", ca.cert_pem), 201)
    api.must_add("sslcertkey", {"certkey": "labca", "cert": "labca.pem"})
    assert api.one("sslcertkey", "labca")["certificatetype"] == ["ROOT_CERT"]

    api.ok(api.act("sslcertkey", "link", {"certkey": "web", "linkcertkeyname": "labca"}))
    assert api.one("sslcertkey", "web")["linkcertkeyname"] == "labca"
    api.fails(api.act("sslcertkey", "link", {"certkey": "web", "linkcertkeyname": "labca"}),
              409, 273, "labca")
    api.fails(api.delete("sslcertkey", "labca"), 599, 1541, "labca")
    api.ok(api.act("sslcertkey", "unlink", {"certkey": "web"}))
    assert "linkcertkeyname" not in api.one("sslcertkey", "web")
    api.fails(api.act("sslcertkey", "unlink", {"certkey": "web"}), 599, 278, "web")
    api.ok(api.delete("sslcertkey", "labca"))


def test_link_to_a_certificate_that_did_not_issue_it_is_refused(api, web):
    add_certkey(api, "web", web)
    stranger = self_signed("stranger")
    api.ok(api.upload("stranger.pem", stranger.cert_pem), 201)
    api.must_add("sslcertkey", {"certkey": "stranger", "cert": "stranger.pem"})
    api.fails(api.act("sslcertkey", "link", {"certkey": "web", "linkcertkeyname": "stranger"}),
              599, 1097, "stranger")
    api.fails(api.act("sslcertkey", "link", {"certkey": "web", "linkcertkeyname": "nope"}),
              599, 1540, "nope")
    api.fails(api.act("sslcertkey", "link", {"certkey": "web"}), 599, 1095, "linkcertkeyname")


def test_bound_certificate_cannot_be_removed(api, web):
    add_certkey(api, "web", web)
    ssl_vserver(api)
    api.ok(api.bind("sslvserver_sslcertkey_binding", {"vservername": "api", "certkeyname": "web"}),
           200)
    api.fails(api.bind("sslvserver_sslcertkey_binding", {"vservername": "api",
                                                         "certkeyname": "web"}), 409, 273)
    api.fails(api.delete("sslcertkey", "web"), 599, 1541, "web")
    api.ok(api.delete("sslvserver_sslcertkey_binding", "api", certkeyname="web"))
    api.ok(api.delete("sslcertkey", "web"))


def test_deleting_the_vserver_unbinds_its_certificates(api, web):
    add_certkey(api, "web", web)
    ssl_vserver(api)
    api.ok(api.bind("sslvserver_sslcertkey_binding", {"vservername": "api", "certkeyname": "web"}),
           200)
    api.ok(api.delete("lbvserver", "api"))
    api.ok(api.delete("sslcertkey", "web"))


def test_cert_binding_to_missing_vserver_or_certkey(api, web):
    add_certkey(api, "web", web)
    ssl_vserver(api)
    api.must_add("lbvserver", {"name": "plain", "servicetype": "HTTP"})
    api.fails(api.bind("sslvserver_sslcertkey_binding", {"vservername": "nope",
                                                         "certkeyname": "web"}), 599, 461, "nope")
    api.fails(api.bind("sslvserver_sslcertkey_binding", {"vservername": "plain",
                                                         "certkeyname": "web"}), 599, 461, "plain")
    api.fails(api.bind("sslvserver_sslcertkey_binding", {"vservername": "api",
                                                         "certkeyname": "nope"}), 599, 1540, "nope")
    api.fails(api.get("sslvserver_sslcertkey_binding", "nope"), 404, 461)


def test_removal_can_delete_the_files(api, web):
    add_certkey(api, "web", web, deletecertkeyfilesonremoval="YES")
    add_certkey(api, "keep", web)
    api.ok(api.delete("sslcertkey", "web"))
    api.ok(api.delete("sslcertkey", "keep"))
    api.fails(api.get("systemfile", "web.pem", SSL_ARGS), 404, 3441)
    api.fails(api.get("systemfile", "web.key", SSL_ARGS), 404, 3441)
    assert api.one("systemfile", "keep.pem", SSL_ARGS)["filename"] == "keep.pem"


def test_certkey_names_are_at_most_31_characters(api, web):
    api.ok(api.upload("web.pem", web.cert_pem), 201)
    api.fails(api.add("sslcertkey", {"certkey": "c" * 32, "cert": "web.pem"}), 599, 1097,
              "certkey")
    api.must_add("sslcertkey", {"certkey": "c" * 31, "cert": "web.pem"})


def test_pki_material_is_consistent(ca, web):
    cert = web.certificate
    assert cert.issuer == ca.certificate.subject
    key = serialization.load_pem_private_key(web.key_pem, None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.10"]
