"""NitroClient sessions against the lab ADC: lazy login, cookie reuse, logout, header auth,
wrong credentials, transparent re-login after expiry, partitions."""

from __future__ import annotations

import pytest

from adcml.nitro import AuthenticationFailed, NotFound
from adcml.secret import Secret

PASSWORD = "nsroot"


def requests(lab_adc) -> dict[str, int]:
    return lab_adc.counters()["requests"]


def test_login_is_lazy_and_one_session_serves_many_calls(lab_adc):
    lab_adc.reset_counters()
    with lab_adc.client() as adc:
        assert not adc.logged_in
        assert requests(lab_adc) == {}  # constructing a client sends nothing
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        assert adc.logged_in
        for _ in range(5):
            assert adc.get("lbvserver", "web")[0]["name"] == "web"
        assert adc.count("lbvserver") == 1
    counts = requests(lab_adc)
    assert counts == {"POST login": 1, "POST lbvserver": 1, "GET lbvserver": 6, "POST logout": 1}
    assert lab_adc.control("GET", "health")["sessions"] == 0  # logged out on exit


def test_logout_on_exit_even_after_an_error(lab_adc):
    with pytest.raises(NotFound), lab_adc.client() as adc:
        adc.get("lbvserver", "missing")
    assert not adc.logged_in
    assert requests(lab_adc)["POST logout"] == 1
    assert lab_adc.control("GET", "health")["sessions"] == 0


def test_exit_after_the_session_expired_is_quiet(lab_adc):
    with lab_adc.client() as adc:
        adc.get("lbvserver")
        lab_adc.expire_sessions()
    assert not adc.logged_in
    assert requests(lab_adc) == {"POST login": 1, "GET lbvserver": 1, "POST logout": 1}


def test_explicit_login_and_logout(lab_adc):
    adc = lab_adc.client()
    adc.login()
    assert adc.logged_in
    assert lab_adc.control("GET", "health")["sessions"] == 1
    adc.logout()
    adc.logout()  # a second logout is a no-op
    assert not adc.logged_in
    assert lab_adc.control("GET", "health")["sessions"] == 0
    assert requests(lab_adc) == {"POST login": 1, "POST logout": 1}
    adc.close()


def test_header_auth_never_logs_in(lab_adc):
    with lab_adc.client(auth_mode="header") as adc:
        adc.add("server", {"name": "s1", "ipaddress": "10.0.0.1"})
        assert adc.get("server", "s1")[0]["ipaddress"] == "10.0.0.1"
        assert not adc.logged_in
    counts = requests(lab_adc)
    assert counts == {"POST server": 1, "GET server": 1}
    assert lab_adc.control("GET", "health")["sessions"] == 0


@pytest.mark.parametrize("mode", ["session", "header"])
def test_wrong_password_raises_authentication_failed_without_the_password(lab_adc, mode):
    wrong = "Wr0ng-Passw0rd!"
    adc = lab_adc.client(password=wrong, auth_mode=mode)
    with pytest.raises(AuthenticationFailed) as info:
        adc.get("lbvserver")
    err = info.value
    assert err.errorcode == 354
    assert err.status == 401
    assert "Invalid username or password" in err.message
    for text in (str(err), repr(err), repr(adc), repr(adc.settings), str(err.args)):
        assert wrong not in text
    assert not adc.logged_in
    adc.close()


def test_password_given_as_secret(lab_adc):
    with lab_adc.client(password=Secret(PASSWORD)) as adc:
        assert adc.version().release == "14.1"


def test_expired_session_is_renewed_transparently(lab_adc):
    with lab_adc.client() as adc:
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        lab_adc.expire_sessions()
        assert adc.get("lbvserver", "web")[0]["name"] == "web"
        lab_adc.expire_sessions()
        adc.update("lbvserver", {"name": "web", "comment": "after expiry"})
        assert adc.get("lbvserver", "web")[0]["comment"] == "after expiry"
    counts = requests(lab_adc)
    assert counts["POST login"] == 3
    # The expired GET and PUT were each replayed once, after the new login.
    assert counts["GET lbvserver"] == 3
    assert counts["PUT lbvserver"] == 2


def test_two_logins_after_one_expiry(lab_adc):
    with lab_adc.client() as adc:
        adc.get("lbvserver")
        lab_adc.expire_sessions()
        assert adc.get("lbvserver") == []
        adc.get("lbvserver")
    counts = requests(lab_adc)
    assert counts["POST login"] == 2
    assert counts["GET lbvserver"] == 4


def test_partition_sees_only_its_objects_also_after_expiry(lab_adc):
    with lab_adc.client() as admin:
        admin.add("nspartition", {"partitionname": "tenant1"})
        admin.add("lbvserver", {"name": "in-default", "servicetype": "HTTP"})
    with lab_adc.client(partition="tenant1") as tenant:
        assert tenant.partition == "tenant1"
        assert tenant.get("lbvserver") == []
        tenant.add("lbvserver", {"name": "in-tenant", "servicetype": "HTTP"})
        assert [v["name"] for v in tenant.get("lbvserver")] == ["in-tenant"]
        with pytest.raises(NotFound):
            tenant.get("lbvserver", "in-default")
        lab_adc.expire_sessions()
        # Re-login must switch to the partition again before replaying.
        assert [v["name"] for v in tenant.get("lbvserver")] == ["in-tenant"]
    counts = requests(lab_adc)
    assert counts["POST nspartition"] == 1 + 2  # add, then a switch per login
    with lab_adc.client() as admin:
        assert [v["name"] for v in admin.get("lbvserver")] == ["in-default"]


def test_switch_partition_on_a_live_session(lab_adc):
    with lab_adc.client() as adc:
        adc.add("nspartition", {"partitionname": "p2"})
        adc.add("server", {"name": "s-default", "ipaddress": "10.0.0.1"})
        adc.switch_partition("p2")
        assert adc.partition == "p2"
        assert adc.get("server") == []
        adc.switch_partition("default")
        assert [s["name"] for s in adc.get("server")] == ["s-default"]


def test_unknown_partition_fails_login_and_leaves_no_session(lab_adc):
    adc = lab_adc.client(partition="nope")
    with pytest.raises(NotFound) as info:
        adc.get("lbvserver")
    assert info.value.errorcode == 258
    assert "nope" in str(info.value)
    assert not adc.logged_in
    assert lab_adc.control("GET", "health")["sessions"] == 0
    adc.close()
