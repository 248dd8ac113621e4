"""NitroClient retries against the lab ADC's injected faults: what is replayed, what is not,
and that retries are bounded."""

from __future__ import annotations

import time

import pytest

from adcml.nitro import NitroAPIError, NitroClient, NitroTransportError, OperationInProgress

RETRIES = 2


def connect(lab_adc, **overrides) -> NitroClient:
    return lab_adc.client(**{"retries": RETRIES, **overrides})


@pytest.fixture
def adc(lab_adc):
    with connect(lab_adc) as client:
        client.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        lab_adc.reset_counters()
        yield client


def requests(lab_adc) -> dict[str, int]:
    return lab_adc.counters()["requests"]


def fired(lab_adc, rule_id: int) -> int:
    return next(r["fired"] for r in lab_adc.counters()["faults"] if r["id"] == rule_id)


def test_503_on_get_is_retried(lab_adc, adc):
    rule = lab_adc.fault(method="GET", resource="lbvserver", kind="error", status=503)
    assert adc.get("lbvserver", "web")[0]["name"] == "web"
    assert fired(lab_adc, rule) == 1
    assert requests(lab_adc)["GET lbvserver"] == 2


def test_save_retried_while_another_save_is_in_progress(lab_adc, adc):
    rule = lab_adc.fault(resource="nsconfig", method="POST", kind="error", status=599,
                         errorcode=293, message="Operation already in progress")
    adc.save_config()
    assert fired(lab_adc, rule) == 1
    assert requests(lab_adc)["POST nsconfig"] == 2
    assert adc.get("nsconfig")[0]["configchanged"] is False


def test_dropped_get_is_retried(lab_adc, adc):
    rule = lab_adc.fault(method="GET", resource="lbvserver", kind="drop")
    assert adc.get("lbvserver", "web")[0]["name"] == "web"
    assert fired(lab_adc, rule) == 1
    assert requests(lab_adc)["GET lbvserver"] == 2


def test_dropped_put_is_retried(lab_adc, adc):
    rule = lab_adc.fault(method="PUT", resource="lbvserver", kind="drop")
    adc.update("lbvserver", {"name": "web", "comment": "second try"})
    assert fired(lab_adc, rule) == 1
    assert requests(lab_adc)["PUT lbvserver"] == 2
    assert adc.get("lbvserver", "web")[0]["comment"] == "second try"


def test_post_dropped_after_it_was_applied_is_not_replayed(lab_adc, adc):
    rule = lab_adc.fault(method="POST", resource="lbvserver", kind="drop_after")
    with pytest.raises(NitroTransportError) as info:
        adc.add("lbvserver", {"name": "api", "servicetype": "HTTP"})
    err = info.value
    assert err.method == "POST"
    assert err.url.endswith("/nitro/v1/config/lbvserver?warning=yes")
    assert fired(lab_adc, rule) == 1
    assert requests(lab_adc)["POST lbvserver"] == 1  # not replayed
    # The add was applied before the connection broke: the caller can look and see.
    assert adc.find("lbvserver", "api")["name"] == "api"


def test_post_dropped_before_it_was_applied_is_not_replayed_either(lab_adc, adc):
    lab_adc.fault(method="POST", resource="lbvserver", kind="drop")
    with pytest.raises(NitroTransportError):
        adc.add("lbvserver", {"name": "api", "servicetype": "HTTP"})
    assert requests(lab_adc)["POST lbvserver"] == 1
    assert adc.find("lbvserver", "api") is None


def test_503_retries_are_bounded(lab_adc, adc):
    rule = lab_adc.fault(method="GET", resource="lbvserver", kind="error", status=503,
                         times=RETRIES + 5)
    with pytest.raises(NitroAPIError) as info:
        adc.get("lbvserver", "web")
    assert info.value.status == 503
    assert fired(lab_adc, rule) == RETRIES + 1
    assert requests(lab_adc)["GET lbvserver"] == RETRIES + 1


def test_in_progress_retries_are_bounded(lab_adc, adc):
    lab_adc.fault(resource="nsconfig", method="POST", kind="error", status=599, errorcode=293,
                  message="Operation already in progress", times=RETRIES + 5)
    with pytest.raises(OperationInProgress) as info:
        adc.save_config()
    assert info.value.errorcode == 293
    assert info.value.status == 599
    assert requests(lab_adc)["POST nsconfig"] == RETRIES + 1


def test_drop_retries_are_bounded(lab_adc, adc):
    lab_adc.fault(method="GET", resource="lbvserver", kind="drop", times=RETRIES + 5)
    with pytest.raises(NitroTransportError) as info:
        adc.get("lbvserver", "web")
    assert info.value.method == "GET"
    assert requests(lab_adc)["GET lbvserver"] == RETRIES + 1


def test_slow_get_times_out_and_is_retried(lab_adc):
    with connect(lab_adc, timeout=0.5) as adc:
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        lab_adc.reset_counters()
        lab_adc.fault(method="GET", resource="lbvserver", kind="latency", latency_ms=1500)
        assert adc.get("lbvserver", "web")[0]["name"] == "web"
    assert requests(lab_adc)["GET lbvserver"] == 2


def test_slow_post_times_out_and_is_not_replayed(lab_adc):
    with connect(lab_adc, timeout=0.5) as adc:
        adc.get("lbvserver")
        lab_adc.reset_counters()
        lab_adc.fault(method="POST", resource="lbvserver", kind="latency", latency_ms=1000)
        with pytest.raises(NitroTransportError) as info:
            adc.add("lbvserver", {"name": "slow", "servicetype": "HTTP"})
        assert "timed out after 0.5 s" in str(info.value)
        assert requests(lab_adc)["POST lbvserver"] == 1
        deadline = time.monotonic() + 3
        while adc.find("lbvserver", "slow") is None:  # the appliance finishes the add later
            assert time.monotonic() < deadline, "the slow add never landed"
            time.sleep(0.05)
    assert requests(lab_adc)["POST lbvserver"] == 1


def test_no_retries_when_disabled(lab_adc):
    with connect(lab_adc, retries=0) as adc:
        adc.get("lbvserver")
        lab_adc.reset_counters()
        lab_adc.fault(method="GET", resource="lbvserver", kind="error", status=503)
        with pytest.raises(NitroAPIError) as info:
            adc.get("lbvserver")
        assert info.value.status == 503
    assert requests(lab_adc)["GET lbvserver"] == 1


def test_refused_connection_raises_transport_error(lab_adc):
    nsip = lab_adc.nsip
    lab_adc.server.stop()
    adc = NitroClient(nsip=nsip, username="nsroot", password="nsroot", protocol="http",
                      backoff=0.001, retries=1, timeout=2)
    with pytest.raises(NitroTransportError) as info:
        adc.get("lbvserver")
    assert info.value.url.startswith(f"http://{nsip}/nitro/v1/config/login")
    adc.close()
