#!/usr/bin/python
"""Ansible module adc_servicegroup_member: take one pool member out of service (draining it) or
put it back."""

from __future__ import annotations

DOCUMENTATION = r"""
module: adc_servicegroup_member
short_description: Enable, or disable and drain, one member of a NetScaler service group
description:
  - Takes one member of a service group out of service, or puts it back, with the service
    group's own C(enable)/C(disable) action naming the member; the rest of the group keeps
    serving. This is the ADC half of a rolling update of model servers (see
    C(playbooks/gpu_hosts.yml)).
  - Disabling is graceful by default; the appliance sends no new request to the member and
    lets the requests in flight finish. With O(drain_timeout), the module then waits until
    none is left (the member's C(curclntconnections) in C(stat/servicegroupmember) is 0),
    and fails if some still are after that many seconds.
  - Name the member either as a gateway's pool member, with O(gateway), O(pool) and O(host)
    (the service group C(<gateway>.<pool>) and the server named after the member's IP, as the
    M(adc_gateway) module binds it), or as NITRO names it, with O(servicegroup) and
    O(servername).
  - Nothing is written when the member already is in the wanted state.
author: adcml maintainers
extends_documentation_fragment:
  - adcml
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the member's state and reports the change; neither writes nor waits.
  diff_mode:
    support: full
  platform:
    platforms: netscaler
options:
  gateway:
    description:
      - The gateway (its spec's C(name)) whose pool the member is in. Use with O(pool).
    type: str
  pool:
    description:
      - The pool (its spec's C(name)) the member is in. Use with O(gateway).
    type: str
  servicegroup:
    description:
      - The service group, when the member is not in a gateway's pool (instead of
        O(gateway) and O(pool)).
    type: str
  host:
    description:
      - The member's IP address as written in the gateway spec (C(members[].host)); its
        server name on the appliance is the same IP.
    type: str
  servername:
    description:
      - The member's server name on the appliance (instead of O(host)).
    type: str
  port:
    description: The member's port.
    type: int
    required: true
  state:
    description:
      - V(disabled) takes the member out of service (new requests go to the other members);
        V(enabled) puts it back.
    type: str
    choices: [enabled, disabled]
    required: true
  graceful:
    description:
      - When disabling, let the requests in flight finish (NITRO C(graceful YES)).
    type: bool
    default: true
  delay:
    description:
      - When disabling, seconds the appliance still lets persistent clients reach the
        member before it is out of service (NITRO C(delay)).
    type: int
  drain_timeout:
    description:
      - When disabling, wait at most this many seconds for the requests in flight to the
        member to reach 0; fail if they have not. V(0) does not wait.
      - Waits also when the member was already disabled (a re-run after an interrupted drain).
    type: int
    default: 0
  up_timeout:
    description:
      - When enabling, wait at most this many seconds for the appliance's monitor to see the
        member UP, and fail if it does not; V(0) does not wait.
      - In a rolling update the next member may be taken out only once this one carries
        traffic again.
    type: int
    default: 0
  drain_poll:
    description: Seconds between two looks at the member's statistics while draining or
      waiting for it to be UP.
    type: float
    default: 0.5
seealso:
  - module: adc_gateway
"""

EXAMPLES = r"""
- name: Take this host's model server out of the embed pool, draining it
  adc_servicegroup_member:
    gateway: llm
    pool: embed
    host: "{{ ansible_host }}"
    port: 8000
    state: disabled
    drain_timeout: 60
  delegate_to: "{{ groups['adc'][0] }}"

- name: Put it back
  adc_servicegroup_member:
    gateway: llm
    pool: embed
    host: "{{ ansible_host }}"
    port: 8000
    state: enabled
  delegate_to: "{{ groups['adc'][0] }}"

- name: A member of a service group made by hand
  adc_servicegroup_member:
    servicegroup: web-sg
    servername: web-3
    port: 80
    state: disabled
    graceful: false
"""

RETURN = r"""
member:
  description: The member as NITRO identifies it.
  returned: success
  type: dict
  sample: {servicegroup: llm.embed, servername: 10.0.1.21, port: 8000}
before:
  description:
    - The member before the module ran; C(state) as configured (ENABLED/DISABLED),
      C(svrstate) as the appliance sees it (UP, DOWN, GOING OUT OF SERVICE, OUT OF SERVICE),
      C(connections) in flight.
  returned: success
  type: dict
  sample: {state: ENABLED, svrstate: UP, connections: 3}
after:
  description: The member when the module finished (the same as O(before) in check mode).
  returned: success
  type: dict
  sample: {state: DISABLED, svrstate: OUT OF SERVICE, connections: 0}
up:
  description: The wait for the member to be UP, when O(up_timeout) was given.
  returned: when enabling with up_timeout, not in check mode
  type: dict
  sample: {up: true, waited: 2.0, state: UP}
drain:
  description: The wait for the requests in flight, when O(drain_timeout) was given.
  returned: when disabling with drain_timeout, not in check mode
  type: dict
  sample: {drained: true, waited: 1.5, connections: 0}
requests:
  description: The number of NITRO requests made (login included).
  returned: always
  type: int
errorcode:
  description: The NITRO errorcode of a failed request.
  returned: failed
  type: int
"""

from ansible.module_utils.adcml_common import adcml_module, nitro_client, run_module  # noqa: E402


def main() -> None:
    module = adcml_module(
        {
            "gateway": {"type": "str"},
            "pool": {"type": "str"},
            "servicegroup": {"type": "str"},
            "host": {"type": "str"},
            "servername": {"type": "str"},
            "port": {"type": "int", "required": True},
            "state": {"type": "str", "required": True, "choices": ["enabled", "disabled"]},
            "graceful": {"type": "bool", "default": True},
            "delay": {"type": "int"},
            "drain_timeout": {"type": "int", "default": 0},
            "up_timeout": {"type": "int", "default": 0},
            "drain_poll": {"type": "float", "default": 0.5},
        },
        mutually_exclusive=[("servicegroup", "gateway"), ("servicegroup", "pool"),
                            ("host", "servername")],
        required_together=[("gateway", "pool")],
        required_one_of=[("servicegroup", "gateway"), ("host", "servername")],
        supports_check_mode=True,
    )
    from adcml.gateway.members import (
        MemberNotFound,
        MemberRef,
        drain,
        member_status,
        set_member_state,
        wait_up,
    )

    p = module.params
    for option in ("drain_timeout", "up_timeout"):
        if p[option] < 0:
            module.fail_json(msg=f"{option}: must be 0 or more seconds, got {p[option]}")
    try:
        if p["gateway"] is not None:
            ref = MemberRef.of_pool(p["gateway"], p["pool"], p["host"] or p["servername"], p["port"])
        else:
            ref = MemberRef(p["servicegroup"], p["servername"] or p["host"], p["port"])
    except ValueError as exc:
        module.fail_json(msg=f"invalid member (nothing was sent to the ADC): {exc}")
    enabled = p["state"] == "enabled"
    with nitro_client(module) as client:
        try:
            change = set_member_state(client, ref, enabled=enabled, graceful=p["graceful"],
                                      delay=p["delay"], check=module.check_mode)
        except MemberNotFound as exc:
            module.fail_json(msg=str(exc), requests=client.request_count)
        result = {
            "changed": change.changed,
            "member": {"servicegroup": ref.servicegroup, "servername": ref.servername,
                       "port": ref.port},
            "before": change.before.to_dict(),
        }
        if module._diff:
            result["diff"] = {"before": f"{ref}: {change.before.state}\n",
                              "after": f"{ref}: {change.wanted}\n",
                              "prepared": change.render()}
        if module.check_mode:
            module.exit_json(**result, after=change.before.to_dict(), requests=client.request_count)
        waited = None
        if not enabled and p["drain_timeout"] > 0:
            waited = drain(client, ref, p["drain_timeout"], interval=p["drain_poll"])
            result["drain"] = waited.to_dict()
        up = None
        if enabled and p["up_timeout"] > 0:
            is_up, seconds, state = wait_up(client, ref, p["up_timeout"], interval=p["drain_poll"])
            up = result["up"] = {"up": is_up, "waited": seconds, "state": state}
        result["after"] = member_status(client, ref).to_dict()
        result["requests"] = client.request_count
        if waited is not None and not waited.drained:
            module.fail_json(msg=f"{ref}: {waited.connections} request(s) still in flight after "
                                 f"drain_timeout={p['drain_timeout']} s; the member stays disabled. "
                                 "Hint: raise drain_timeout, or look for long-running requests",
                             **result)
        if up is not None and not up["up"]:
            module.fail_json(msg=f"{ref}: enabled, but still {up['state']} after "
                                 f"up_timeout={p['up_timeout']} s (the monitor does not see it "
                                 "healthy). Hint: check the server's /health from the ADC",
                             **result)
        module.exit_json(**result)


if __name__ == "__main__":
    run_module(main)
