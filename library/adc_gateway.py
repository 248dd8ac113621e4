#!/usr/bin/python
"""Ansible module adc_gateway: converge an AI inference gateway on a NetScaler (adcml.gateway)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: adc_gateway
short_description: Provision an AI inference gateway on NetScaler (Citrix ADC) from one spec
description:
  - Turns a gateway spec (a TLS or HTTP frontend, pools of model servers with health checks,
    routes by path prefix or host) into NetScaler objects, plans the changes against the live
    ADC and applies them in bulk, in dependency order.
  - Every object it creates is named C(<name>.<...>) and marked as owned (C(adcml:<name>) in its
    comment); states that remove objects only ever remove owned ones.
  - The spec is validated before the ADC is contacted; each problem is reported with its field
    path, for example C(spec.pools[0].members[0].port).
  - The spec format is described in docs/gateway.md of the adcml repository.
author: adcml maintainers
extends_documentation_fragment:
  - adcml
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Plans only; RV(changed) says whether the plan has changes.
  diff_mode:
    support: full
    details: The plan as a human diff (secrets masked) in C(diff.prepared).
  platform:
    platforms: netscaler
options:
  spec:
    description:
      - The gateway spec, with keys C(name), C(frontend), C(pools) and optionally
        C(default_pool), C(auth), C(rate_limit) and C(audit) (and per pool C(cache), a cache
        for its GET requests); see the examples and docs/gateway.md.
      - For O(state=gathered) and O(state=deleted) a spec holding only C(name) is enough.
      - C(frontend.tls.key_passphrase), C(auth.oidc.client_secret) and each pool's
        C(backend_token) are treated as no_log (masked in every output), but prefer
        Ansible Vault for them; the certificate and key come from files
        (C(frontend.tls.cert_file), C(frontend.tls.key_file)) on the controller, never
        from inline text.
      - Relative file paths are relative to the directory ansible-playbook runs in; prefer
        C({{ inventory_dir }}/...) or absolute paths.
    type: dict
    required: true
  state:
    description:
      - V(merged) creates what is missing and changes what differs; it never removes anything.
      - V(replaced) makes each object of the spec exactly as specified (attributes left out go
        back to their defaults; bindings of those objects that the spec does not list are
        removed).
      - V(overridden) is V(replaced), and also removes owned objects that the spec no longer
        wants (a pool taken out of the spec, for example).
      - V(deleted) removes every object the gateway owns. Objects made by hand stay.
      - V(gathered) reads the live gateway and returns it as a spec in RV(gathered).
      - V(rendered) returns the NetScaler objects of the spec in RV(rendered), offline; it needs
        no O(nsip).
    type: str
    choices: [merged, replaced, overridden, deleted, gathered, rendered]
    default: merged
  save_config:
    description:
      - Save the running configuration after a change (no save when nothing changed).
    type: bool
    default: false
seealso:
  - module: adc_resource
  - module: adc_save_config
  - module: adc_facts
"""

EXAMPLES = r"""
- name: Converge the inference gateway (lab ADC, plain HTTP management)
  adc_gateway:
    nsip: 127.0.0.1:9080
    nitro_protocol: http
    nitro_user: nsroot
    nitro_pass: "{{ netscaler_nitro_pass }}"
    save_config: true
    spec:
      name: llm
      frontend:
        vip: 127.0.0.10
        port: 8080
        protocol: http
      pools:
        - name: chat
          match: {path_prefix: /v1/chat}
          members:
            - {host: 127.0.0.1, port: 9001}
            - {host: 127.0.0.1, port: 9002, weight: 2}
          health: {path: /health, interval: 5, timeout: 2}
        - name: embed
          members:
            - {host: 127.0.0.1, port: 9003}
      default_pool: embed

- name: HTTPS frontend with a certificate uploaded from files (connection from NETSCALER_*)
  adc_gateway:
    spec:
      name: llm
      frontend:
        vip: 10.0.0.10
        protocol: https
        tls:
          cert_file: "{{ inventory_dir }}/files/llm.crt"
          key_file: "{{ inventory_dir }}/files/llm.key"
          key_passphrase: "{{ vault_llm_key_passphrase }}"
      pools:
        - name: chat
          members: [{host: 10.0.1.11, port: 8000}]
      default_pool: chat

- name: Show what would change, without changing anything
  adc_gateway:
    spec: "{{ adc_gateway_spec }}"
    state: overridden
  check_mode: true
  diff: true
  register: preview

- name: Read the live gateway back as a spec
  adc_gateway:
    spec: {name: llm}
    state: gathered
  register: live

- name: The NetScaler objects of a spec, offline
  adc_gateway:
    spec: "{{ adc_gateway_spec }}"
    state: rendered
  register: objects

- name: Remove the gateway (objects made by hand stay)
  adc_gateway:
    spec: {name: llm}
    state: deleted
"""

RETURN = r"""
plan:
  description:
    - The changes, in order, each with action (create, update, delete, replace), resource,
      name, before, after and the reason. Secret values show as C(*** (sha256:<fingerprint>)).
  returned: when state is merged, replaced, overridden or deleted
  type: dict
  contains:
    changes:
      description: One entry per changed object.
      type: list
      elements: dict
      sample:
        - action: create
          resource: lbvserver
          name: llm.chat
          before: null
          after: {name: llm.chat, servicetype: HTTP, ipv46: 0.0.0.0, port: 0}
          reason: missing
    summary:
      description: Counts per action, and of objects already up to date.
      type: dict
summary:
  description: Counts per action, and of objects already up to date.
  returned: when state is merged, replaced, overridden or deleted
  type: dict
  sample: {create: 17, update: 0, delete: 0, replace: 0, unchanged: 0}
requests:
  description: The number of NITRO requests made (login included).
  returned: always
  type: int
  sample: 18
saved:
  description: Whether the configuration was saved.
  returned: when state is merged, replaced, overridden or deleted
  type: bool
applied:
  description: The changes applied before a failed request (in a failure only).
  returned: failed
  type: list
  elements: dict
problems:
  description: For an invalid spec, each problem with its field path.
  returned: failed
  type: list
  elements: dict
  sample:
    - path: spec.pools[0].members[0].port
      message: Input should be less than or equal to 65535
errorcode:
  description: The NITRO errorcode of a failed request.
  returned: failed
  type: int
  sample: 273
gathered:
  description: The live gateway as a spec; empty when the gateway does not exist.
  returned: when state is gathered
  type: dict
rendered:
  description: The NetScaler objects of the spec (resource and attributes), secrets masked.
  returned: when state is rendered
  type: list
  elements: dict
  sample: [{resource: csvserver, attributes: {name: llm.cs, servicetype: HTTP, ipv46: 127.0.0.10}}]
"""

import re  # noqa: E402  (Ansible's documentation blocks come first)

from ansible.module_utils.adcml_common import (  # noqa: E402
    adcml_module,
    fail_problems,
    hide,
    nitro_client,
    nitro_failure,
)


def main() -> None:
    module = adcml_module(
        {
            "spec": {"type": "dict", "required": True},
            "state": {"type": "str", "default": "merged",
                      "choices": ["merged", "replaced", "overridden", "deleted", "gathered", "rendered"]},
            "save_config": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    from adcml.gateway.spec import SECRET_FIELDS

    hide(module, _secrets(module.params["spec"], SECRET_FIELDS))
    from adcml.gateway import ApplyError, SpecError, converge, delete_gateway, load_spec, render
    from adcml.gateway.spec import SLUG

    p = module.params
    state = p["state"]
    spec = None
    name = p["spec"].get("name")
    if state not in ("gathered", "deleted") or set(p["spec"]) - {"name"}:
        try:
            spec = load_spec(p["spec"])
        except SpecError as exc:
            fail_problems(module, "invalid gateway spec (nothing was sent to the ADC)",
                          [(_spec_path(path), message) for path, message in exc.problems])
        name = spec.name
    elif not isinstance(name, str) or not re.match(SLUG, name):
        fail_problems(module, "invalid gateway spec (nothing was sent to the ADC)",
                      [("spec.name", "a gateway name: lower-case letters, digits and '-'")])

    if state == "rendered":
        module.exit_json(changed=False, rendered=render(spec), requests=0)

    with nitro_client(module) as client:
        if state == "gathered":
            from adcml.gateway import gather

            module.exit_json(changed=False, gathered=gather(client, name) or {},
                             requests=client.request_count)
        try:
            if spec is None:
                outcome = delete_gateway(client, name, check=module.check_mode, save=p["save_config"])
            else:
                outcome = converge(client, spec, state, check=module.check_mode, save=p["save_config"])
        except ApplyError as exc:
            module.fail_json(msg=f"the apply stopped part-way: {exc}",
                             applied=[c.to_dict() for c in exc.done],
                             failed=[c.to_dict() for c in exc.failed],
                             requests=client.request_count,
                             **{k: v for k, v in nitro_failure(exc.cause).items() if k != "msg"})
        plan = outcome.plan
        result = {
            "changed": plan.changed,
            "plan": plan.to_dict(),
            "summary": plan.summary(),
            "saved": bool(outcome.result and outcome.result.saved),
            "requests": client.request_count,
        }
        if module._diff:
            result["diff"] = {"prepared": plan.render()}
        module.exit_json(**result)


def _secrets(value, keys: frozenset[str]) -> list:
    """Values under secret keys anywhere in the spec (key_passphrase, backend_token...)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys and isinstance(item, str | int):
                found.append(item)
            else:
                found.extend(_secrets(item, keys))
    elif isinstance(value, list):
        for item in value:
            found.extend(_secrets(item, keys))
    return found


def _spec_path(path: str) -> str:
    return "spec" if path == "(top)" else f"spec.{path}"


if __name__ == "__main__":
    main()
