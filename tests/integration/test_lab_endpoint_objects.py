"""Lab ADC contract for what a Hugging Face endpoint pool needs beyond plain load balancing:
the ADC's own address records (dnsaddrec), CA cert-keys bound to an SSL service group
(sslservicegroup_sslcertkey_binding) and an LB vserver's spillover attributes."""

from __future__ import annotations

import pytest

HOST = "embedder-lab.us-east-1.aws.endpoints.hf.test"


# --- dnsaddrec ---------------------------------------------------------------------------------
def test_an_address_record_is_added_read_and_removed(api):
    api.must_add("dnsaddrec", {"hostname": HOST, "ipaddress": "127.0.7.1"})
    assert api.one("dnsaddrec", HOST) == {"hostname": HOST, "ipaddress": "127.0.7.1", "ttl": "3600"}
    api.fails(api.add("dnsaddrec", {"hostname": HOST, "ipaddress": "127.0.7.2"}), 409, 273, HOST)
    api.must_add("dnsaddrec", {"hostname": "v6.hf.test", "ipaddress": "::1", "ttl": 60})
    assert [r["hostname"] for r in api.all("dnsaddrec")] == [HOST, "v6.hf.test"]
    # delete args as NITRO has them: the address, which must be the record's
    api.fails(api.delete("dnsaddrec", HOST, ipaddress="127.0.7.9"), 599, 1097, "ipaddress")
    api.fails(api.delete("dnsaddrec", HOST, ttl=3600), 599, 278, "ttl")
    api.ok(api.delete("dnsaddrec", HOST, ipaddress="127.0.7.1"))
    api.ok(api.delete("dnsaddrec", "v6.hf.test"))
    api.fails(api.get("dnsaddrec", HOST), 404, 258, HOST)
    api.fails(api.delete("dnsaddrec", HOST), 404, 258, HOST)


def test_an_address_record_is_never_updated(api):
    api.must_add("dnsaddrec", {"hostname": HOST, "ipaddress": "127.0.7.1"})
    api.fails(api.update("dnsaddrec", {"hostname": HOST, "ipaddress": "127.0.7.2"}), 599, 257,
              "dnsaddrec")
    assert api.one("dnsaddrec", HOST)["ipaddress"] == "127.0.7.1"


@pytest.mark.parametrize("body, code, culprit", [
    ({"hostname": HOST, "ipaddress": "not-an-ip"}, 1097, "ipaddress"),
    ({"hostname": HOST}, 1095, "ipaddress"),
    ({"ipaddress": "127.0.0.1"}, 1095, "hostname"),
    ({"hostname": HOST, "ipaddress": "127.0.0.1", "ttl": -1}, 1097, "ttl"),
    ({"hostname": "x" * 256, "ipaddress": "127.0.0.1"}, 1097, "hostname"),
])
def test_bad_address_records_are_refused(api, body, code, culprit):
    api.fails(api.add("dnsaddrec", body), 599, code, culprit)


# --- sslservicegroup_sslcertkey_binding ----------------------------------------------------------
@pytest.fixture
def ssl_group(api, ca):
    api.must_add("servicegroup", {"servicegroupname": "hf", "servicetype": "SSL"})
    api.ok(api.upload("lab-ca.pem", ca.cert_pem), 201)
    api.must_add("sslcertkey", {"certkey": "lab-ca", "cert": "lab-ca.pem"})
    return "hf"


def test_a_ca_is_bound_to_an_ssl_service_group(api, ssl_group):
    api.ok(api.bind("sslservicegroup_sslcertkey_binding",
                    {"servicegroupname": ssl_group, "certkeyname": "lab-ca", "ca": True}))
    api.ok(api.update("sslservicegroup", {"servicegroupname": ssl_group, "snienable": "ENABLED",
                                          "commonname": HOST, "serverauth": "ENABLED"}))
    rows = api.ok(api.get("sslservicegroup_sslcertkey_binding", ssl_group))[
        "sslservicegroup_sslcertkey_binding"]
    assert rows == [{"servicegroupname": ssl_group, "certkeyname": "lab-ca", "ca": True,
                     "snicert": False}]
    aggregate = api.one("sslservicegroup_binding", ssl_group)
    assert aggregate["sslservicegroup_sslcertkey_binding"] == rows
    group = api.one("sslservicegroup", ssl_group)
    assert (group["snienable"], group["commonname"], group["serverauth"]) == (
        "ENABLED", HOST, "ENABLED")
    api.fails(api.bind("sslservicegroup_sslcertkey_binding",
                       {"servicegroupname": ssl_group, "certkeyname": "lab-ca", "ca": True}),
              409, 273)
    # a bound certificate cannot go; unbinding takes the binding's own arguments
    api.fails(api.delete("sslcertkey", "lab-ca"), 599, 1541, "sslservicegroup_sslcertkey_binding")
    api.ok(api.delete("sslservicegroup_sslcertkey_binding", ssl_group, certkeyname="lab-ca",
                      ca="true"))
    api.ok(api.delete("sslcertkey", "lab-ca"))


def test_the_binding_needs_an_ssl_group_and_an_existing_certificate(api, ssl_group):
    api.must_add("servicegroup", {"servicegroupname": "plain", "servicetype": "HTTP"})
    api.fails(api.bind("sslservicegroup_sslcertkey_binding",
                       {"servicegroupname": "plain", "certkeyname": "lab-ca", "ca": True}),
              599, 463, "plain")
    api.fails(api.bind("sslservicegroup_sslcertkey_binding",
                       {"servicegroupname": ssl_group, "certkeyname": "nope", "ca": True}),
              599, 1540, "nope")
    api.fails(api.bind("sslservicegroup_sslcertkey_binding",
                       {"servicegroupname": ssl_group, "certkeyname": "lab-ca", "crlcheck": "Always"}),
              599, 1097, "crlcheck")


def test_removing_the_group_removes_its_certificate_bindings(api, ssl_group):
    api.ok(api.bind("sslservicegroup_sslcertkey_binding",
                    {"servicegroupname": ssl_group, "certkeyname": "lab-ca", "ca": True,
                     "ocspcheck": "optional"}))
    assert api.one("sslservicegroup_binding", ssl_group)["sslservicegroup_sslcertkey_binding"][0][
        "ocspcheck"] == "Optional"
    api.ok(api.delete("servicegroup", ssl_group))
    api.ok(api.delete("sslcertkey", "lab-ca"))  # nothing binds it any more


# --- lbvserver spillover ----------------------------------------------------------------------
def test_spillover_attributes_read_back_with_their_defaults(api):
    api.must_add("lbvserver", {"name": "hf", "servicetype": "HTTP"})
    api.must_add("lbvserver", {"name": "gpu", "servicetype": "HTTP"})
    got = api.one("lbvserver", "gpu")
    assert {k: got.get(k) for k in ("somethod", "sopersistence", "sopersistencetimeout",
                                    "disableprimaryondown", "sothreshold", "sobackupaction")} == {
        "somethod": "NONE", "sopersistence": "DISABLED", "sopersistencetimeout": "2",
        "disableprimaryondown": "DISABLED", "sothreshold": None, "sobackupaction": None}
    api.ok(api.update("lbvserver", {
        "name": "gpu", "backupvserver": "hf", "somethod": "connection", "sothreshold": 8,
        "sopersistence": "ENABLED", "sopersistencetimeout": 1440, "sobackupaction": "accept",
        "disableprimaryondown": "ENABLED", "redirecturl": "https://status.example.test/busy"}))
    got = api.one("lbvserver", "gpu")
    assert {k: got[k] for k in ("backupvserver", "somethod", "sothreshold", "sopersistence",
                                "sopersistencetimeout", "sobackupaction", "disableprimaryondown",
                                "redirecturl")} == {
        "backupvserver": "hf", "somethod": "CONNECTION", "sothreshold": "8",
        "sopersistence": "ENABLED", "sopersistencetimeout": "1440", "sobackupaction": "ACCEPT",
        "disableprimaryondown": "ENABLED", "redirecturl": "https://status.example.test/busy"}
    base = str(api.http.base_url).rstrip("/").removesuffix("/config")  # .../nitro/v1
    [stat] = api.ok(api.http.get(f"{base}/stat/lbvserver/gpu"))["lbvserver"]
    assert {k: stat[k] for k in ("sothreshold", "totspillovers", "totvserverdownbackuphits")} == {
        "sothreshold": "8", "totspillovers": "0", "totvserverdownbackuphits": "0"}


@pytest.mark.parametrize("attr, value", [
    ("somethod", "LEASTSPILL"), ("sothreshold", 0), ("sothreshold", 4294967288),
    ("sopersistencetimeout", 1), ("sopersistencetimeout", 1441), ("sobackupaction", "QUEUE"),
    ("disableprimaryondown", "YES"), ("sopersistence", "ON"),
])
def test_spillover_values_out_of_range_are_1097(api, attr, value):
    api.fails(api.add("lbvserver", {"name": "gpu", "servicetype": "HTTP", attr: value}), 599, 1097,
              attr)
