#!/usr/bin/python
"""Ansible module adc_facts: the NetScaler's version, features and chosen objects as facts."""

from __future__ import annotations

DOCUMENTATION = r"""
module: adc_facts
short_description: Gather facts about a NetScaler (version, features, objects)
description:
  - Reads the software version, the enabled features and whether the running configuration
    has unsaved changes, and optionally every object of the resources named in O(gather).
  - Returns them as facts under C(ansible_facts.adc) (available as C(adc) in later tasks).
  - Secret attributes are masked.
author: adcml maintainers
extends_documentation_fragment:
  - adcml
  - action_common_attributes
  - action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: netscaler
options:
  gather:
    description:
      - Resources whose objects to list, for example V([lbvserver, servicegroup]). Bindings are
        listed too (V(servicegroup_servicegroupmember_binding)).
      - An unknown resource fails with the list of known ones.
    type: list
    elements: str
    default: []
seealso:
  - module: adc_gateway
"""

EXAMPLES = r"""
- name: Version and features
  adc_facts:

- name: Fail early on an old firmware
  ansible.builtin.assert:
    that: adc.version_info.release is version('13.1', '>=')

- name: List the virtual servers and service groups
  adc_facts:
    gather: [lbvserver, servicegroup]

- name: Names of the virtual servers
  ansible.builtin.debug:
    msg: "{{ adc.resources.lbvserver | map(attribute='name') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    adc:
      description: What was gathered.
      type: dict
      contains:
        version:
          description: The version as the appliance reports it.
          type: str
          sample: "NetScaler NS14.1: Build 43.50.nc, Date: ..."
        version_info:
          description: The release and build, parsed (null when unparseable).
          type: dict
          sample: {release: "14.1", build: "43.50"}
        features:
          description: The enabled features, upper case, sorted.
          type: list
          elements: str
          sample: [CS, LB, SSL]
        configchanged:
          description: Whether the running configuration has unsaved changes.
          type: bool
        partition:
          description: The partition the session worked in (null for the default one).
          type: str
        resources:
          description: For each resource in O(gather), its objects (attributes as NITRO returns them).
          type: dict
          sample: {lbvserver: [{name: llm.chat, servicetype: HTTP, ipv46: 0.0.0.0, port: 0}]}
requests:
  description: The number of NITRO requests made (login included).
  returned: always
  type: int
"""

from ansible.module_utils.adcml_common import adcml_module, nitro_client, run_module  # noqa: E402


def main() -> None:
    module = adcml_module(
        {"gather": {"type": "list", "elements": "str", "default": []}},
        supports_check_mode=True,
    )
    from adcml.engine import masked, read_live
    from adcml.resources import SCHEMA, ResourceKind

    wanted = list(dict.fromkeys(module.params["gather"]))
    unknown = [r for r in wanted if r not in SCHEMA or SCHEMA[r].kind is ResourceKind.SINGLETON]
    if unknown:
        known = sorted(n for n, r in SCHEMA.items() if r.kind is not ResourceKind.SINGLETON)
        module.fail_json(msg=f"gather: unknown resource(s) {', '.join(unknown)}; "
                             f"known: {', '.join(known)}")
    with nitro_client(module) as client:
        version = client.version()
        config = client.get("nsconfig")
        facts = {
            "version": version.raw,
            "version_info": {"release": version.release, "build": version.build},
            "features": sorted(client.features()),
            "configchanged": bool(config and config[0].get("configchanged") in (True, "true")),
            "partition": client.partition,
            "resources": {},
        }
        if wanted:
            live = read_live(client, wanted)
            facts["resources"] = {r: [masked(row) for row in live.get(r, {}).values()] for r in wanted}
        module.exit_json(changed=False, ansible_facts={"adc": facts}, requests=client.request_count)


if __name__ == "__main__":
    run_module(main)
