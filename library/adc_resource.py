#!/usr/bin/python
"""Ansible module adc_resource: one NITRO object, present or absent, planned like a gateway."""

from __future__ import annotations

DOCUMENTATION = r"""
module: adc_resource
short_description: Make one NetScaler object present or absent, idempotently
description:
  - Manages one object of any resource in adcml's NITRO schema (lbvserver, servicegroup, a
    binding such as servicegroup_servicegroupmember_binding, sslcertkey, ...).
  - It is planned by the same engine as M(adc_gateway), so it compares values the way the
    appliance stores them (case of enums, numbers returned as strings), changes only the
    attributes that differ, replaces the object when an attribute that cannot change in place
    differs, and masks secret attributes in every output.
  - Attributes are checked against the schema before the ADC is contacted; an unknown or
    read-only attribute, or a value that does not fit, fails with its path.
author: adcml maintainers
extends_documentation_fragment:
  - adcml
  - action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: netscaler
options:
  resource:
    description:
      - The NITRO resource type, for example V(lbvserver) or
        V(servicegroup_servicegroupmember_binding).
      - An unknown resource fails with the list of known ones. V(nsfeature) with
        O(state=present) enables the listed features (never disables any); the other
        appliance-wide singletons (nsconfig, nsversion) are not managed here; see
        M(adc_save_config) and M(adc_facts).
    type: str
    required: true
  attributes:
    description:
      - The object's attributes as NITRO names them. They must include the key that
        identifies the object (C(name), C(servicegroupname), ...; for a binding the parent's
        key and the bound member's).
      - With O(state=present), attributes left out are left as they are.
      - With O(state=absent), only the identifying attributes are used.
      - Values of secret attributes (C(password), C(passplain), C(clientsecret), C(keyvalue)
        and the others of C(adcml.resources.SECRET_ATTRS)) are masked in every output and never
        logged, as is any value that holds private key text; prefer Ansible Vault for them.
    type: dict
    required: true
  state:
    description:
      - V(present) creates the object or changes the attributes that differ.
      - V(absent) removes it if it exists.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: adc_gateway
"""

EXAMPLES = r"""
- name: A load-balancing virtual server made outside any gateway
  adc_resource:
    resource: lbvserver
    attributes:
      name: web
      servicetype: HTTP
      ipv46: 127.0.0.30
      port: 80
      lbmethod: ROUNDROBIN

- name: A member of a service group
  adc_resource:
    resource: servicegroup_servicegroupmember_binding
    attributes:
      servicegroupname: llm.chat
      ip: 10.0.1.12
      port: 8000
      weight: 2

- name: Remove the virtual server
  adc_resource:
    resource: lbvserver
    attributes:
      name: web
    state: absent
"""

RETURN = r"""
plan:
  description:
    - The changes (none, one create/update/delete, or a replace), as M(adc_gateway) returns
      them. Secret values show as C(*** (sha256:<fingerprint>)).
  returned: always
  type: dict
  contains:
    changes:
      description: One entry per changed object.
      type: list
      elements: dict
    summary:
      description: Counts per action, and of objects already up to date.
      type: dict
summary:
  description: Counts per action, and of objects already up to date.
  returned: always
  type: dict
  sample: {create: 1, update: 0, delete: 0, replace: 0, unchanged: 0}
before:
  description: The attributes that changed, as they were (null when created).
  returned: when changed
  type: dict
after:
  description: The attributes that changed, as they are now (null when removed).
  returned: when changed
  type: dict
requests:
  description: The number of NITRO requests made (login included).
  returned: always
  type: int
  sample: 4
problems:
  description: For invalid attributes, each problem with its path.
  returned: failed
  type: list
  elements: dict
  sample:
    - path: attributes.port
      message: must be at most 65535, got 70000
errorcode:
  description: The NITRO errorcode of a failed request.
  returned: failed
  type: int
  sample: 1093
"""

from ansible.module_utils.adcml_common import (  # noqa: E402  (documentation comes first)
    adcml_module,
    fail_problems,
    nitro_client,
    nitro_failure,
    run_module,
)


def main() -> None:
    module = adcml_module(
        {
            "resource": {"type": "str", "required": True},
            "attributes": {"type": "dict", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        },
        supports_check_mode=True,
    )
    from adcml.engine import ApplyError, ObjectError, apply_plan, desired_object, plan_object

    p = module.params
    present = p["state"] == "present"
    try:
        wanted = desired_object(p["resource"], p["attributes"], present=present)
    except ObjectError as exc:
        fail_problems(module, f"invalid attributes for {p['resource']} (nothing was sent to the ADC)",
                      exc.problems)
    with nitro_client(module) as client:
        try:
            plan = plan_object(client, wanted, present=present)
        except ObjectError as exc:
            module.fail_json(msg=str(exc), requests=client.request_count)
        if plan.changed and not module.check_mode:
            try:
                apply_plan(client, plan)
            except ApplyError as exc:
                module.fail_json(**nitro_failure(exc.cause), requests=client.request_count)
        change = plan.changes[0].to_dict() if plan.changes else {}
        result = {
            "changed": plan.changed,
            "plan": plan.to_dict(),
            "summary": plan.summary(),
            "requests": client.request_count,
        }
        if change:
            result.update(before=change["before"], after=change["after"])
        if module._diff:
            result["diff"] = {"prepared": plan.render()}
        module.exit_json(**result)


if __name__ == "__main__":
    run_module(main)
