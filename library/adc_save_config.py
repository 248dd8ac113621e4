#!/usr/bin/python
"""Ansible module adc_save_config: save the running configuration when it has changed."""

from __future__ import annotations

DOCUMENTATION = r"""
module: adc_save_config
short_description: Save the NetScaler's running configuration when it has unsaved changes
description:
  - Saves the running configuration (C(save ns config)) so it survives a reboot.
  - It is idempotent, saving only when the appliance reports unsaved changes (C(configchanged)),
    unless O(force) is set. RV(changed) is true exactly when a save happened (or, in check
    mode, would happen).
  - M(adc_gateway) saves by itself with O(adc_gateway#module:save_config=true); use this
    module after a series of M(adc_resource) tasks, typically in a handler.
author: adcml maintainers
extends_documentation_fragment:
  - adcml
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether a save would happen; saves nothing.
  diff_mode:
    support: none
  platform:
    platforms: netscaler
options:
  force:
    description:
      - Save even when the appliance reports no unsaved change.
    type: bool
    default: false
seealso:
  - module: adc_gateway
  - module: adc_resource
"""

EXAMPLES = r"""
- name: Save the configuration if anything changed it
  adc_save_config:

- name: Save unconditionally (for example before an upgrade)
  adc_save_config:
    force: true
"""

RETURN = r"""
configchanged:
  description: Whether the appliance reported unsaved changes before this task.
  returned: always
  type: bool
  sample: true
saved:
  description: Whether the configuration was saved by this task.
  returned: always
  type: bool
  sample: true
lastconfigsavetime:
  description: When the configuration was last saved, as the appliance reports it (after the save).
  returned: when the appliance reports it
  type: str
  sample: Mon Nov 23 22:43:25 2026
requests:
  description: The number of NITRO requests made (login included).
  returned: always
  type: int
  sample: 4
"""

from ansible.module_utils.adcml_common import adcml_module, nitro_client, run_module  # noqa: E402


def main() -> None:
    module = adcml_module({"force": {"type": "bool", "default": False}}, supports_check_mode=True)
    with nitro_client(module) as client:
        unsaved = _config(client).get("configchanged") in (True, "true", "TRUE", "YES")
        save = unsaved or module.params["force"]
        if save and not module.check_mode:
            client.save_config()
        result = {"changed": save, "configchanged": unsaved, "saved": save and not module.check_mode}
        last = _config(client).get("lastconfigsavetime")
        if last:
            result["lastconfigsavetime"] = last
        module.exit_json(**result, requests=client.request_count)


def _config(client) -> dict:
    found = client.get("nsconfig")
    return found[0] if found else {}


if __name__ == "__main__":
    run_module(main)
