"""Integrated caching through the lab's data plane, as a gateway user meets it: a pool with a
``cache`` section converged by the engine, bearer tokens from the lab IdP, backends that count
what reaches them, and ``stat cachecontentgroup`` / ``stat cache`` counting hits and misses."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port  # noqa: F401

from adcml.gateway import converge, load_spec
from adcml.lab.services.idp import LabIdP

VIP = "127.0.8.10"
AUDIENCE = "adcml-lab"
CATALOG = json.dumps({"data": [{"id": "llama-3-8b"}, {"id": "e5-large"}]}).encode()
BIG = json.dumps({"blob": "x" * 600 * 1024}).encode()  # 600 KB


@pytest.fixture(scope="module")
def idp():
    with LabIdP() as provider:
        yield provider


@pytest.fixture
def gateway(dplab, backends, idp):
    """Pool ``models`` (/v1/models, group ml-trusted) caches GET/HEAD on /v1/models/catalog for
    30 s, and POSTs to /v1/models/embed with bodies up to 64 bytes, keyed by the body; pool
    ``embed`` (the default) has no cache section."""
    models = backends.start("models", "127.0.8.21")
    embed = backends.start("embed", "127.0.8.22")
    for path, body in (("/v1/models/catalog", CATALOG), ("/v1/models/catalog/private", CATALOG),
                       ("/v1/models/catalog/big", BIG), ("/v1/models/catalog/other", CATALOG)):
        models.static[path] = body
    models.reply_headers["/v1/models/catalog/private"] = {"Cache-Control": "private, max-age=60"}
    port = free_port(VIP)
    discovery = idp.discovery()
    spec = load_spec({
        "name": "ic", "frontend": {"vip": VIP, "port": port, "protocol": "http"},
        "auth": {"oidc": {"issuer": idp.issuer, "jwks_url": idp.jwks_uri, "audience": AUDIENCE,
                          "token_endpoint": discovery["token_endpoint"]}},
        "pools": [
            {"name": "models", "match": {"path_prefix": "/v1/models"}, "members": [models.member],
             "require_groups": ["ml-trusted"],
             "cache": {"ttl_seconds": 30, "paths": ["/v1/models/catalog"], "max_object_kb": 1024,
                       "memory_mb": 1, "post_paths": ["/v1/models/embed"], "max_body_bytes": 64}},
            {"name": "embed", "members": [embed.member]},
        ],
        "default_pool": "embed",
    })
    client = dplab.client()
    client.__enter__()
    converge(client, spec)
    dplab.settle()
    trusted = idp.token("ana", groups=["ml-trusted"], audience=AUDIENCE)
    http = httpx.Client(base_url=f"http://{VIP}:{port}", timeout=5,
                        headers={"Authorization": f"Bearer {trusted}"})
    yield http, models, embed, client
    http.close()
    client.__exit__(None, None, None)


def group_stat(client) -> dict:
    return client.stat("cachecontentgroup", "ic.models")[0]


def test_a_get_reaches_the_backend_once_within_the_ttl(gateway):
    http, models, _, client = gateway
    first = http.get("/v1/models/catalog")
    second = http.get("/v1/models/catalog")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == CATALOG
    assert models.hits == 1
    assert "Age" not in first.headers and int(second.headers["Age"]) <= 1
    assert second.headers["Content-Type"].startswith("application/json")
    head = http.head("/v1/models/catalog")  # served from the stored GET
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(CATALOG))
    assert models.hits == 1
    stat = group_stat(client)
    assert (stat["groupnon304hit"], stat["totcell"]) == ("2", "1")
    assert 0 < int(stat["totmemory"]) <= 2 and stat["maxmemory"] == "1024"
    totals = client.stat("cache")[0]
    assert (totals["cachetothits"], totals["cachetotmisses"], totals["cachetotstoreablemisses"]) == (
        "2", "1", "1")


def test_an_object_expires_and_the_backend_is_asked_again(gateway, dplab):
    http, models, _, client = gateway
    http.get("/v1/models/catalog")
    client.update("cachecontentgroup", {"name": "ic.models", "relexpirymillisec": 300})
    dplab.settle()
    assert "relexpiry" not in client.get("cachecontentgroup", "ic.models")[0]
    time.sleep(0.4)  # the stored object is now older than the new expiry
    http.get("/v1/models/catalog")
    assert models.hits == 2
    assert "Age" in http.get("/v1/models/catalog").headers and models.hits == 2
    time.sleep(0.4)
    assert "Age" not in http.get("/v1/models/catalog").headers and models.hits == 3


def test_posts_and_other_paths_are_never_cached(gateway, backends):
    http, models, _, client = gateway
    for _ in range(2):
        assert http.post("/v1/models/catalog", json={"q": 1}).status_code == 200
    assert models.hits == 2
    for _ in range(2):
        assert "Age" not in http.get("/v1/models").headers  # a path outside the cache's paths
    assert models.seen[-1]["path"] == "/v1/models" and len(models.seen) == 2
    assert group_stat(client)["totcell"] == "0"


def test_a_repeated_post_body_is_served_from_the_cache_and_another_body_is_not(gateway):
    http, models, _, client = gateway
    first = http.post("/v1/models/embed", json={"inputs": "a cat"})
    again = http.post("/v1/models/embed", json={"inputs": "a cat"})
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert models.hits == 1 and "Age" not in first.headers and "Age" in again.headers
    other = http.post("/v1/models/embed", json={"inputs": "a dog"})  # same length, other text
    assert other.status_code == 200 and "Age" not in other.headers and models.hits == 2
    assert "Age" in http.post("/v1/models/embed", json={"inputs": "a dog"}).headers
    assert http.post("/v1/models/embed?v=2", json={"inputs": "a cat"}).headers.get("Age") is None
    assert models.hits == 3  # the URL is part of the key
    assert "Age" not in http.get("/v1/models/embed").headers  # a GET is not a POST's answer
    assert client.stat("cachecontentgroup", "ic.models.post")[0]["totcell"] == "3"
    assert group_stat(client)["totcell"] == "0"  # the GET group keeps only GETs


def test_post_bodies_the_key_cannot_read_whole_are_never_cached(gateway):
    """Longer than max_body_bytes (the selector would read only a prefix), or chunked (no
    Content-Length to check): every one goes to the backend."""
    http, models, _, _ = gateway
    long = {"inputs": "x" * 64}
    for _ in range(2):
        assert "Age" not in http.post("/v1/models/embed", json=long).headers
    for _ in range(2):
        chunked = http.post("/v1/models/embed", content=iter([b'{"inputs": ', b'"a cat"}']))
        assert chunked.status_code == 200 and "Age" not in chunked.headers
        assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert models.hits == 4


def test_refused_callers_never_get_the_cached_body(gateway, idp):
    http, models, _, _ = gateway
    assert http.get("/v1/models/catalog").content == CATALOG  # stored now
    url = f"{str(http.base_url).rstrip('/')}/v1/models/catalog"
    anonymous = httpx.get(url, timeout=5)
    assert anonymous.status_code == 401 and CATALOG not in anonymous.content
    intern = idp.token("ben", groups=["interns"], audience=AUDIENCE)
    refused = httpx.get(url, timeout=5,
                        headers={"Authorization": f"Bearer {intern}"})
    assert refused.status_code == 403 and CATALOG not in refused.content
    assert "Age" not in refused.headers
    assert http.get("/v1/models/catalog").headers["Age"] and models.hits == 1


def test_a_pool_without_a_cache_section_is_unaffected(gateway):
    http, _, embed, client = gateway
    replies = [http.get("/v1/embeddings") for _ in range(2)]
    assert [r.status_code for r in replies] == [200, 200]
    assert embed.hits == 2 and all("Age" not in r.headers for r in replies)
    assert client.stat("cache")[0]["cachetotrequests"] == "0"


def test_private_and_oversized_responses_are_not_kept(gateway):
    http, models, _, client = gateway
    for path in ("/v1/models/catalog/private", "/v1/models/catalog/private"):
        assert http.get(path).headers["Cache-Control"] == "private, max-age=60"
    assert models.hits == 2
    client.update("cachecontentgroup", {"name": "ic.models", "maxressize": 512})
    for _ in range(2):
        assert len(http.get("/v1/models/catalog/big").content) == len(BIG)
    assert models.hits == 4 and group_stat(client)["totcell"] == "0"


def test_memory_limit_keeps_the_most_recently_used(gateway):
    http, models, _, client = gateway
    http.get("/v1/models/catalog/big")  # 600 KB of the 1 MB group
    http.get("/v1/models/catalog")
    http.get("/v1/models/catalog/big")  # a hit: the big one is now the most recent
    assert models.hits == 2
    http.get("/v1/models/catalog/other")
    assert group_stat(client)["totcell"] == "3"
    big_again = json.dumps({"blob": "y" * 600 * 1024}).encode()
    models.static["/v1/models/catalog/big2"] = big_again
    http.get("/v1/models/catalog/big2")  # 1.2 MB would not fit: the least recent go first
    stat = group_stat(client)
    assert int(stat["totmemory"]) <= 1024
    hits = models.hits
    http.get("/v1/models/catalog/big")  # evicted
    assert models.hits == hits + 1


def test_no_caching_while_feature_ic_is_off(gateway, dplab):
    http, models, _, client = gateway
    client.action("nsfeature", "disable", {"feature": ["IC"]})
    dplab.settle()
    for _ in range(2):
        assert "Age" not in http.get("/v1/models/catalog").headers
    assert models.hits == 2
    client.enable_features(["IC"])
    dplab.settle()
    http.get("/v1/models/catalog")
    assert http.get("/v1/models/catalog").headers["Age"] and models.hits == 3


def test_flush_empties_the_group(gateway):
    http, models, _, client = gateway
    http.get("/v1/models/catalog")
    client.action("cachecontentgroup", "flush", {"name": "ic.models"})
    assert "Age" not in http.get("/v1/models/catalog").headers and models.hits == 2
    assert group_stat(client)["timesflushed"] == "1"


def test_a_hit_is_audited_without_secrets(gateway, caplog):
    http, _, _, _ = gateway
    with caplog.at_level(logging.INFO, logger="adcml.lab.access"):
        http.get("/v1/models/catalog?page=1")
        http.get("/v1/models/catalog?page=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "adcml.lab.access"]
    assert "member=cache:ic.models" in lines[-1] and "status=200" in lines[-1]
    assert "member=127.0.8.21" in lines[-2]
    token = http.headers["Authorization"].split()[1]
    assert not any(token in line or "page=1" in line for line in lines)
