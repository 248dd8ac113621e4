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
      - Secret attributes (C(passplain), ...) are masked in every output.
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
    hide,
    nitro_client,
    nitro_failure,
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
    from adcml.gateway import ApplyError, Desired, State, apply_plan, make_plan
    from adcml.gateway.live import read_live
    from adcml.resources import SCHEMA, SECRET_ATTRS, ResourceKind, identity
    from adcml.resources.values import BadValue, canonical
    from adcml.secret import Secret

    p = module.params
    name, attrs, present = p["resource"], p["attributes"], p["state"] == "present"
    hide(module, [v for k, v in attrs.items() if _is_secret(SCHEMA.get(name), k, SECRET_ATTRS)])
    res = SCHEMA.get(name)
    if res is None:
        known = sorted(n for n, r in SCHEMA.items()
                       if r.kind is not ResourceKind.SINGLETON or r.actions & {"enable"})
        module.fail_json(msg=f"resource: unknown resource {name!r}; known: {', '.join(known)}")
    if res.kind is ResourceKind.SINGLETON and (not present or not res.actions & {"enable"}):
        module.fail_json(msg=f"resource: {name} is appliance-wide, not an object"
                             + ("; it cannot be removed" if not present else
                                "; use adc_save_config or adc_facts"))
    if res.kind is ResourceKind.IMPLICIT and not present:
        module.fail_json(msg=f"resource: a {name} cannot be removed; it goes with its "
                             f"{' or '.join(res.implied_by)}")

    problems = []
    clean = {}
    for key, value in attrs.items():
        attr = res.attr(key)
        if attr is None:
            valid = ", ".join(a.name for a in res.attrs if not a.readonly)
            problems.append((f"attributes.{key}", f"unknown attribute of {name} (valid: {valid})"))
        elif attr.readonly:
            problems.append((f"attributes.{key}", "read-only: the appliance reports it"))
        else:
            try:
                canonical(attr, value)
            except BadValue as exc:
                problems.append((f"attributes.{key}", str(exc)))
            clean[attr.name] = Secret(str(value)) if _is_secret(res, key, SECRET_ATTRS) else value
    ident = identity(res, clean)
    if res.kind is not ResourceKind.SINGLETON:
        problems += [(f"attributes.{key}", "required: it identifies the object")
                     for key, value in zip(res.identity, ident, strict=True) if value is None]
    if problems:
        fail_problems(module, f"invalid attributes for {name} (nothing was sent to the ADC)", problems)

    wanted = Desired(name, clean)
    mine = tuple(str(v) for v in wanted.identity)

    def is_mine(resource: str, row: dict) -> bool:
        return tuple(str(v) for v in identity(res, row)) == mine

    with nitro_client(module) as client:
        live = read_live(client, [name])
        if present:
            plan = make_plan([wanted], live, State.MERGED, is_mine)
            missing = [a.name for a in res.attrs if a.required and a.name not in clean]
            if any(c.action == "create" for c in plan.changes) and missing:
                module.fail_json(msg=f"attributes: {name} {wanted.identity[0]!r} does not exist, "
                                     f"and creating it needs: {', '.join(missing)}",
                                 requests=client.request_count)
            if any(c.action == "replace" for c in plan.changes):
                # Recreated from scratch: it keeps the live attributes that were not given.
                row = next(r for r in live[name].values() if is_mine(name, r))
                wanted = Desired(name, {**_settable(res, row, canonical, BadValue), **clean})
                plan = make_plan([wanted], live, State.MERGED, is_mine)
        else:
            plan = make_plan([], live, State.DELETED, is_mine)
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


def _settable(res, row: dict, canonical, bad_value) -> dict:
    """The attributes of a live object that can be sent back when it is created again."""
    out = {}
    for key, value in row.items():
        attr = res.attr(key)
        if attr is None or value is None or attr.readonly or attr.write_only or attr.secret:
            continue
        try:
            out[attr.name] = canonical(attr, value)
        except bad_value:
            continue
    return out


def _is_secret(res, key: str, secret_attrs) -> bool:
    attr = res.attr(key) if res is not None else None
    return key in secret_attrs or bool(attr and (attr.secret or attr.name in secret_attrs))


if __name__ == "__main__":
    main()
