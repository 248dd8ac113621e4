"""A pool whose backend is a Hugging Face Inference Endpoint (``pools[].endpoint``), compiled,
and gathered back; and the front-ends' step that turns an endpoint's name into its URL.

Per endpoint pool (``<lb>`` = ``<gw>.<pool>``, the pool's own objects otherwise as in
``pools``):

- server ``<lb>`` with ``domain`` = the endpoint's host name: the ADC resolves it (its name
  servers, or its own ``dnsaddrec`` records), so the member follows the service's addresses;
- service group ``<lb>`` of type SSL, the server bound at the URL's port; its SSL settings
  (``sslservicegroup``): SNI on with ``commonname`` = the host name, server authentication on,
  and the CA cert-key bound with ``ca`` — the certificate is verified as a client verifies it;
- monitor ``<lb>``: TCP over TLS (``secure YES``). The service's proxy answers for the endpoint
  in every state; an HTTP probe would need the token and would wake an endpoint scaled to zero
  (and keep it from ever scaling down);
- rewrite ``<lb>.host`` (the ``Host`` header replaced by the URL's host and port: replacing
  ``HTTP.REQ.HOSTNAME`` would keep the port the client called the VIP on), and with
  ``scale_up_timeout``, ``<lb>.nowake`` + ``<lb>.wake``: the client's ``X-Scale-Up-Timeout``
  removed and ours inserted, so the service's proxy holds a request while the endpoint wakes
  rather than answering 503; the service group's ``svrtimeout`` is raised above it when
  needed. Bound on the pool's LB vserver before the pool's credential policies (``security``),
  which insert the Hugging Face token as ``Authorization: Bearer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adcml.gateway.names import Add, GatherError, LiveGateway
from adcml.gateway.spec import Endpoint, SpecError
from adcml.policy.nodes import quote

HOST_PRIORITY, NOWAKE_PRIORITY, WAKE_PRIORITY = 80, 90, 91
SCALE_UP_HEADER = "X-Scale-Up-Timeout"
DEFAULT_SERVER_TIMEOUT = 360  # servicegroup svrtimeout, seconds
WAIT_MARGIN = 60


def compile_endpoint(add: Add, lb: str, endpoint: Endpoint, at: str) -> dict[str, Any]:
    """The endpoint's own objects; returns the service group attributes it needs."""
    at = f"{at}.endpoint"
    add("server", {"": at, "domain": f"{at}.url"}, name=lb, domain=endpoint.host)
    add("sslservicegroup", at, servicegroupname=lb, snienable="ENABLED", commonname=endpoint.host,
        serverauth="ENABLED")
    add("sslservicegroup_sslcertkey_binding", f"{at}.ca_certkey", servicegroupname=lb,
        certkeyname=endpoint.ca_certkey, ca=True)
    add("servicegroup_servicegroupmember_binding", f"{at}.url", servicegroupname=lb, servername=lb,
        port=endpoint.port)
    host = endpoint.host if endpoint.port == 443 else f"{endpoint.host}:{endpoint.port}"
    _rewrite(add, lb, "host", at, HOST_PRIORITY, type="replace", target='HTTP.REQ.HEADER("Host")',
             stringbuilderexpr=quote(host))
    if endpoint.scale_up_timeout:
        _rewrite(add, lb, "nowake", at, NOWAKE_PRIORITY, type="delete_http_header", target=SCALE_UP_HEADER)
        _rewrite(add, lb, "wake", f"{at}.scale_up_timeout", WAKE_PRIORITY, type="insert_http_header",
                 target=SCALE_UP_HEADER, stringbuilderexpr=quote(str(endpoint.scale_up_timeout)))
    wait = endpoint.scale_up_timeout + WAIT_MARGIN
    return {"servicetype": "SSL", "svrtimeout": wait if wait > DEFAULT_SERVER_TIMEOUT else None}


def endpoint_monitor(lb: str) -> dict[str, Any]:
    """The monitor's attributes besides timing: a TLS handshake with the service's proxy."""
    return {"monitorname": lb, "type": "TCP", "secure": "YES"}


def _rewrite(add: Add, lb: str, what: str, at: str, priority: int, **action: Any) -> None:
    name = f"{lb}.{what}"
    add("rewriteaction", at, name=name, **action)
    add("rewritepolicy", at, name=name, rule="true", action=name)
    add("lbvserver_rewritepolicy_binding", at, name=lb, policyname=name, priority=priority,
        gotopriorityexpression="NEXT", bindpoint="REQUEST")


def gather_endpoint(live: LiveGateway, lb: str) -> dict[str, Any] | None:
    """The ``endpoint`` of the pool whose objects are named ``lb``, or None for a pool of
    members."""
    server = live.obj("server", lb)
    if server is None or not server.get("domain"):
        return None
    members = live.bound("servicegroup_servicegroupmember_binding", lb)
    cas = [b for b in live.bound("sslservicegroup_sslcertkey_binding", lb) if b.get("ca") in (True, "true")]
    if len(members) != 1 or len(cas) != 1:
        raise GatherError(f"servicegroup {lb}: an endpoint pool has one member and one CA, not "
                          f"{len(members)} and {len(cas)} (changed by hand?)")
    port = live.value("servicegroup_servicegroupmember_binding", members[0], "port")
    host = str(server["domain"]).lower()
    endpoint: dict[str, Any] = {"url": f"https://{host}" + ("" if port == 443 else f":{port}"),
                                "ca_certkey": cas[0]["certkeyname"], "scale_up_timeout": 0}
    wake = live.obj("rewriteaction", f"{lb}.wake")
    if wake is not None:
        value = str(wake.get("stringbuilderexpr", "")).strip('"')
        if not value.isdigit():
            raise GatherError(f"rewriteaction {lb}.wake: its value is not one adcml writes (changed by "
                              f"hand?): {wake.get('stringbuilderexpr')}")
        endpoint["scale_up_timeout"] = int(value)
    return endpoint


EndpointUrl = Callable[[str, "str | None"], str]


def resolve_endpoints(data: Any, url_of: EndpointUrl) -> Any:
    """``data`` (a spec mapping) with every endpoint given by name replaced by its URL,
    ``url_of(name, namespace)`` — the front-end's lookup (``adcml.hf``), so that compile,
    render and plan need no Hugging Face. Its errors are reported at the endpoint's field."""
    if not isinstance(data, dict) or not isinstance(data.get("pools"), list):
        return data
    pools, problems = [], []
    for i, pool in enumerate(data["pools"]):
        endpoint = pool.get("endpoint") if isinstance(pool, dict) else None
        if isinstance(endpoint, dict) and endpoint.get("name") and not endpoint.get("url"):
            try:
                url = url_of(endpoint["name"], endpoint.get("namespace"))
            except LookupError as exc:
                problems.append((f"pools[{i}].endpoint.name", str(exc)))
                url = None
            rest = {k: v for k, v in endpoint.items() if k not in ("name", "namespace")}
            pool = {**pool, "endpoint": {**rest, "url": url}}
        pools.append(pool)
    if problems:
        raise SpecError(problems)
    return {**data, "pools": pools}
