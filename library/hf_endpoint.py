#!/usr/bin/python
"""Ansible module hf_endpoint: converge one Hugging Face Inference Endpoint (adcml.hf)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: hf_endpoint
short_description: Converge a Hugging Face Inference Endpoint as code
description:
  - Creates, updates, pauses, resumes, scales to zero or deletes one Hugging Face Inference
    Endpoint so that it matches the options given, with C(huggingface_hub) underneath.
  - The options given are checked before the service is contacted; each problem is reported
    with its field, for example C(scaling.min_replica). Values are checked as written
    (C("2") is not a number here).
  - It compares every field given with the live endpoint; what is left out (no O(revision), no
    O(task), no O(tags)) is the service's choice and never a difference. O(type),
    O(compute.vendor) and O(compute.region) cannot change on a live endpoint; the module
    refuses, naming the field, rather than delete and re-create it.
  - With O(wait), O(state=present) returns once the endpoint runs and its URL answers its
    health route with 200.
  - The spec format is described in docs/hf-endpoints.md of the adcml repository; the role
    C(hf_endpoint) applies a list of endpoints.
author: adcml maintainers
extends_documentation_fragment:
  - adcml_hf
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Plans only (the service is read, never written); RV(changed) says whether the plan
      has steps.
  diff_mode:
    support: full
    details: The endpoint's state and the fields that differ, before and after (secrets by
      name only).
  platform:
    platforms: huggingface
options:
  name:
    description:
      - The endpoint's name; 4 to 32 lower-case letters, digits or C(-), a letter first.
    type: str
  namespace:
    description:
      - The user or organisation that owns the endpoint. Default the token's user (asked with
        C(whoami) at O(hub_endpoint)).
    type: str
  repository:
    description:
      - The model repository, C(owner/name), for example V(sentence-transformers/all-MiniLM-L6-v2).
      - Required unless O(state=absent).
    type: str
  revision:
    description: The model repository's revision. Default the service's choice.
    type: str
  task:
    description:
      - The task the endpoint serves, for example V(sentence-embeddings). Default the
        service's choice.
    type: str
  framework:
    description: The model's framework. Default V(pytorch).
    type: str
  compute:
    description:
      - Where the endpoint runs; a combination the service's hardware listing offers.
      - Required unless O(state=absent).
    type: dict
    suboptions:
      vendor:
        description: The cloud vendor, for example V(aws). Cannot change on a live endpoint.
        type: str
      region:
        description: The vendor's region, for example V(us-east-1). Cannot change on a live endpoint.
        type: str
      accelerator:
        description: V(cpu) or V(gpu).
        type: str
      instance_type:
        description: The kind of machine, for example V(intel-spr) or V(nvidia-l4).
        type: str
      instance_size:
        description: How many units of it, for example V(x2).
        type: str
  scaling:
    description: How many replicas run. Default one.
    type: dict
    suboptions:
      min_replica:
        description: The fewest replicas, 0 to 64; V(0) lets the endpoint scale to zero. Default V(1).
        type: int
      max_replica:
        description: The most replicas, 1 to 64, at least O(scaling.min_replica). Default V(1).
        type: int
      scale_to_zero_timeout:
        description:
          - Minutes without a request before the endpoint scales to zero; only with
            O(scaling.min_replica=0). Default the service's.
        type: int
  type:
    description:
      - Who may call the endpoint. V(authenticated) needs a token of the endpoint's namespace
        (older clients call it V(protected), taken as the same). Cannot change on a live
        endpoint. Default V(authenticated).
    type: str
    choices: [public, authenticated, private, protected]
  env:
    description: Environment variables of the model's container (not secret; see O(secrets)).
    type: dict
  secrets:
    description:
      - Secret environment variables of the model's container, name to value. The service
        never shows a value, so a changed value cannot be seen; see O(update_secrets).
      - Never logged or returned.
    type: dict
  update_secrets:
    description:
      - V(on_create) sends O(secrets) when the endpoint is created or their names change.
      - V(always) sends them on every run (a change each time), the way to roll a secret.
      - Default V(on_create).
    type: str
    choices: [on_create, always]
  custom_image:
    description:
      - "A container of one's own instead of the service's, for example
        C({url: registry/image:tag, health_route: /health, port: 80}); C(url) is required."
    type: dict
  tags:
    description: Tags of the endpoint. Default the service's (never a difference).
    type: list
    elements: str
  state:
    description:
      - V(present) leaves the endpoint running (one scaled to zero stays so; the first request
        wakes it); a paused or failed one is resumed.
      - V(paused) pauses it (not billed; requests get 503 until it is resumed).
      - V(scaled_to_zero) scales it to zero (not billed; the first request wakes it).
      - V(absent) deletes it; O(name) (and O(namespace)) is enough then.
      - An endpoint that does not exist is created first, except for V(absent).
    type: str
    choices: [present, paused, scaled_to_zero, absent]
    default: present
  wait:
    description:
      - For O(state=present), wait until the endpoint runs and its URL answers its health
        route. The other states always wait for the endpoint to settle where they need to.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait at most; then the module fails naming the endpoint's state (the
        service goes on by itself; a re-run waits again).
    type: int
    default: 900
notes:
  - "Runs on the controller (C(connection: local)) with a Python that has adcml installed."
seealso:
  - name: Inference Endpoints
    description: The service this module drives.
    link: https://huggingface.co/docs/inference-endpoints
"""

EXAMPLES = r"""
- name: An embedding endpoint, running (waits until its URL answers)
  hf_endpoint:
    name: embedder
    namespace: acme
    repository: sentence-transformers/all-MiniLM-L6-v2
    task: sentence-embeddings
    compute:
      vendor: aws
      region: us-east-1
      accelerator: cpu
      instance_type: intel-spr
      instance_size: x2
    scaling: {min_replica: 1, max_replica: 2}
    secrets:
      API_KEY: "{{ vault_embedder_api_key }}"
    hf_token: "{{ vault_hf_token }}"
  register: embedder

- name: Show what would change, without changing anything
  hf_endpoint:
    name: embedder
    namespace: acme
    repository: sentence-transformers/all-MiniLM-L6-v2
    compute: {vendor: aws, region: us-east-1, accelerator: cpu, instance_type: intel-spr, instance_size: x4}
  check_mode: true
  diff: true

- name: Pause it overnight (token from HF_TOKEN)
  hf_endpoint:
    name: embedder
    namespace: acme
    repository: sentence-transformers/all-MiniLM-L6-v2
    compute: {vendor: aws, region: us-east-1, accelerator: cpu, instance_type: intel-spr, instance_size: x2}
    state: paused

- name: Delete it
  hf_endpoint:
    name: embedder
    namespace: acme
    state: absent

- name: Against the lab stand-in (adcml lab-hf)
  hf_endpoint:
    name: embedder
    namespace: lab
    repository: sentence-transformers/all-MiniLM-L6-v2
    compute: {vendor: aws, region: us-east-1, accelerator: cpu, instance_type: intel-spr, instance_size: x1}
    api_base: http://127.0.0.1:9190/v2
    ca_file: "{{ lab_dir }}/ca.pem"
"""

RETURN = r"""
endpoint:
  description:
    - The endpoint now (in check mode, as it was; after a failed wait, as it was left); null
      when there is none. Secret values never appear.
  returned: always
  type: dict
  contains:
    name:
      description: The endpoint's name.
      type: str
    namespace:
      description: Its namespace.
      type: str
    state:
      description:
        - The service's state, for example V(running), V(initializing), V(paused),
          V(scaledToZero), V(failed).
      type: str
    message:
      description: The service's message about the state.
      type: str
    url:
      description: The URL that serves requests (none while it does not run).
      type: str
    status:
      description: The service's whole status object.
      type: dict
    type:
      description: Who may call it (V(protected) is V(authenticated) with an older client).
      type: str
    repository:
      description: The model repository.
      type: str
    revision:
      description: The repository's revision.
      type: str
    task:
      description: The task it serves.
      type: str
    instance:
      description: vendor, region, accelerator, instanceType and instanceSize.
      type: dict
    scaling:
      description: minReplica, maxReplica and scaleToZeroTimeout, as the service has them.
      type: dict
  sample:
    name: embedder
    namespace: acme
    state: running
    url: https://embedder.us-east-1.aws.endpoints.huggingface.cloud
    type: authenticated
    repository: sentence-transformers/all-MiniLM-L6-v2
    instance: {vendor: aws, region: us-east-1, accelerator: cpu, instanceType: intel-spr, instanceSize: x2}
    scaling: {minReplica: 1, maxReplica: 2}
plan:
  description: What the run did (in check mode, would do).
  returned: when the spec is valid and the service answered
  type: dict
  contains:
    name:
      description: The endpoint's name.
      type: str
    namespace:
      description: Its namespace.
      type: str
    state:
      description: The desired state (O(state)).
      type: str
    live_state:
      description: The service's state before the run; null when there was no endpoint.
      type: str
    changed:
      description: Whether the plan has a step that changes something.
      type: bool
    steps:
      description:
        - In order; among create, update, resume, pause, scale to zero, wait until running,
          delete.
      type: list
      elements: str
    differences:
      description: Each differing field of the live JSON, with before and after (secrets by name).
      type: dict
    secrets_sent:
      description: Whether the secrets are sent to the service.
      type: bool
  sample:
    name: embedder
    namespace: acme
    state: present
    live_state: running
    changed: true
    steps: [update]
    differences:
      compute.scaling.maxReplica: {before: 1, after: 2}
    secrets_sent: false
problems:
  description: For invalid options, each problem with its field.
  returned: failed
  type: list
  elements: dict
  sample:
    - path: scaling
      message: min_replica (3) is above max_replica (2)
status:
  description: The HTTP status of the service's refusal.
  returned: failed
  type: int
  sample: 400
detail:
  description: The service's message with its refusal.
  returned: failed
  type: str
"""

from ansible.module_utils.adcml_common import (  # noqa: E402  (Ansible's documentation blocks come first)
    adcml_module,
    fail_problems,
    hf_connection,
    hf_connection_args,
    options_of,
    run_module,
)
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

INVALID = "invalid Inference Endpoint spec (nothing was sent to the service)"
UNFIT = "the Inference Endpoint spec does not fit the service (nothing was changed)"
# Why the service refuses, by HTTP status, where the status alone says what to check.
SERVICE_HINTS = {
    401: "check hf_token (or HF_TOKEN)",
    403: "the token may not manage endpoints in this namespace",
    409: "an endpoint of that name exists and is being deleted or was made otherwise",
}


def argument_spec() -> dict:
    """The spec's fields (generated from adcml.hf.spec.EndpointSpec), then the module's own
    options: how to converge, and how to reach the service."""
    spec_options, own = endpoint_options(), own_options()
    clash = set(spec_options) & set(own)
    if clash:
        raise TypeError(f"EndpointSpec fields clash with hf_endpoint's own options: {sorted(clash)}")
    return spec_options | own


def endpoint_options() -> dict:
    from adcml.hf import EndpointSpec

    options = options_of(EndpointSpec)
    options["type"]["choices"].append("protected")  # the spec takes the older name too
    return options


def own_options() -> dict:
    from adcml.hf import DEFAULT_TIMEOUT, DesiredState

    return {
        "state": {"type": "str", "default": "present", "choices": [str(s) for s in DesiredState]},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "int", "default": int(DEFAULT_TIMEOUT)},
        **hf_connection_args(),
    }


def main() -> None:
    module = adcml_module(argument_spec, explain=explain_refusal, nitro=False,
                          supports_check_mode=True)
    from adcml.hf import (
        Endpoints,
        EndpointSpecError,
        HfError,
        HfServiceError,
        HfTransportError,
        HfWaitError,
        converge_endpoint,
    )
    from adcml.hf.converge import summary

    p = module.params
    spec, problems = read_spec(module.raw_params)
    if p["wait_timeout"] < 1:
        problems.append(("wait_timeout", "at least 1 second"))
    if problems:
        fail_problems(module, INVALID, problems)

    connection = hf_connection(p)
    try:
        outcome = converge_endpoint(connection, spec, p["state"], check=module.check_mode,
                                    wait=p["wait"], timeout=p["wait_timeout"])
    except EndpointSpecError as exc:  # found by the plan: hardware not offered, a fixed field
        fail_problems(module, UNFIT, exc.problems)
    except HfServiceError as exc:
        hint = SERVICE_HINTS.get(exc.status)
        module.fail_json(msg=f"the Inference Endpoints service refused: {exc}"
                             + (f" ({hint})" if hint else ""),
                         status=exc.status, detail=exc.detail)
    except HfTransportError as exc:
        module.fail_json(msg=f"{exc} (check api_base or ADCML_HF_API_BASE)")
    except HfWaitError as exc:
        namespace = Endpoints(connection).namespace(spec.namespace)  # known by now: no request
        module.fail_json(msg=str(exc), endpoint=summary(exc.raw, namespace))
    except HfError as exc:
        module.fail_json(msg=str(exc))

    plan = outcome.plan
    result = {"changed": outcome.changed, "endpoint": outcome.endpoint, "plan": plan.to_dict()}
    if module._diff:
        where = f"{plan.namespace}/{spec.name}"
        # Ansible shows a missing side as an empty mapping; the plan says None for "no endpoint".
        result["diff"] = {side: value or {} for side, value in plan.diff().items()} | {
            "before_header": where, "after_header": where}
    module.exit_json(**result)


def read_spec(params: dict) -> tuple:
    """``(spec, problems)`` from the options as given.

    The spec's model checks the values the user wrote, not Ansible's conversions of them (a
    string made a number, k=v text made a dict). For state absent, the name and namespace are
    enough (adcml.hf.parse_spec).
    """
    from adcml.hf import EndpointSpec, EndpointSpecError, parse_spec

    given = {field: params[field] for field in EndpointSpec.model_fields
             if params.get(field) is not None}
    try:
        return parse_spec(given, params.get("state") or "present"), []
    except EndpointSpecError as exc:
        return None, exc.problems


def explain_refusal(params: dict) -> tuple | None:
    """When Ansible's own checks refuse the options, every problem with its field: the spec's
    (as its model finds them), the module's own options' (as Ansible's checks find them, one
    option at a time) and unknown options; None (Ansible's message stands) when none is found
    here."""
    from adcml.hf import EndpointSpec

    problems = read_spec(params)[1]
    own = own_options()
    for name, value in params.items():
        if name in EndpointSpec.model_fields:
            continue
        if name not in own:
            problems.append((name, "not an option of hf_endpoint (check the spelling)"))
            continue
        checked = ArgumentSpecValidator({name: own[name]}).validate({name: value})
        problems += [(name, error.msg) for error in checked.errors]
    return (INVALID, problems) if problems else None


if __name__ == "__main__":
    run_module(main)
