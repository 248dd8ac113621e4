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
  - adcml_hf
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
      - The gateway spec; see the examples and docs/gateway.md of the adcml repository.
      - For O(state=gathered) and O(state=deleted) a spec holding only C(name) is enough.
      - The spec is checked as written (Ansible converts no value in it first); each problem is
        reported with its field path, for example C(spec.pools[0].members[0].port). Defaults
        are those of the spec, named below.
      - The secrets (C(frontend.tls.key_passphrase), C(auth.oidc.client_secret), each pool's
        C(backend_token)) are no_log options, masked in every output and never logged; prefer
        Ansible Vault for them. The certificate and key come from files on the controller,
        never from inline text; key text given by mistake is never echoed back.
      - Relative file paths are relative to the directory ansible-playbook runs in; prefer
        C({{ inventory_dir }}/...) or absolute paths.
    type: dict
    required: true
    suboptions:
      name:
        description:
          - The gateway's name; it prefixes every object it owns (C(<name>.<...>)) and marks
            them owned. Lower-case letters, digits and C(-), at most 24 characters.
        type: str
      frontend:
        description: The virtual IP clients call.
        type: dict
        suboptions:
          vip:
            description: The virtual IP address.
            type: str
          port:
            description: The port clients call. Default V(443).
            type: int
          protocol:
            description: V(https) (needs O(spec.frontend.tls)) or V(http). Default V(https).
            type: str
            choices: [https, http]
          tls:
            description:
              - The frontend certificate, for V(https) only; either O(spec.frontend.tls.certkey)
                (an existing cert-key) or O(spec.frontend.tls.cert_file) and
                O(spec.frontend.tls.key_file) (uploaded; the gateway owns the cert-key
                C(<name>.cert)).
            type: dict
            suboptions:
              certkey:
                description: The name of a cert-key already on the appliance.
                type: str
              cert_file:
                description: A PEM certificate file on the controller.
                type: str
              key_file:
                description:
                  - The PEM private key file on the controller (a path, never the key text).
                type: str
              key_passphrase:
                description:
                  - The passphrase of an encrypted O(spec.frontend.tls.key_file).
                  - Never logged or returned.
                type: str
          ssl_profile:
            description:
              - TLS settings of the frontend. Default TLS 1.2 and 1.3 only, session reuse on,
                session timeout 120 seconds.
            type: dict
            suboptions:
              tls1:
                description: Allow TLS 1.0. Default V(false).
                type: bool
              tls11:
                description: Allow TLS 1.1. Default V(false).
                type: bool
              tls12:
                description: Allow TLS 1.2. Default V(true).
                type: bool
              tls13:
                description: Allow TLS 1.3. Default V(true).
                type: bool
              session_reuse:
                description: Let clients resume TLS sessions. Default V(true).
                type: bool
              session_timeout:
                description: Seconds a TLS session may be resumed. Default V(120).
                type: int
          client_timeout:
            description: Seconds an idle client connection is kept. Default V(180).
            type: int
      pools:
        description: The pools of model servers, one per model route; at least one.
        type: list
        elements: dict
        suboptions:
          name:
            description: The pool's name (objects C(<gateway>.<pool>)); as O(spec.name).
            type: str
          match:
            description:
              - How requests pick this pool; a pool without it must be O(spec.default_pool).
            type: dict
            suboptions:
              path_prefix:
                description: A URL path prefix, for example V(/v1/chat).
                type: str
              host:
                description: A Host header, for example V(chat.example.test).
                type: str
          lb_method:
            description: How requests are spread over the members. Default V(LEASTCONNECTION).
            type: str
            choices: [LEASTCONNECTION, ROUNDROBIN, LEASTRESPONSETIME, URLHASH, SOURCEIPHASH]
          members:
            description: The model servers.
            type: list
            elements: dict
            suboptions:
              host:
                description: The model server's IP address.
                type: str
              port:
                description: The model server's port.
                type: int
              weight:
                description: Its load-balancing weight, 1 to 100. Default V(1).
                type: int
          health:
            description:
              - The HTTP health check of each member. Default C(GET /health) every 5 seconds,
                2 seconds timeout, 3 retries, status 200.
            type: dict
            suboptions:
              path:
                description: The health endpoint's path. Default V(/health).
                type: str
              interval:
                description: Seconds between two checks. Default V(5).
                type: int
              timeout:
                description: Seconds a check may take; less than the interval. Default V(2).
                type: int
              retries:
                description: Failed checks before a member is down. Default V(3).
                type: int
              expect_status:
                description: The HTTP statuses of a healthy member. Default V([200]).
                type: list
                elements: int
          max_clients:
            description: Most connections open to one member; V(0) for no limit. Default V(0).
            type: int
          surge_protection:
            description: Queue connections to a member beyond what it can take. Default V(false).
            type: bool
          require_groups:
            description:
              - Callers need one of these groups (from the token's groups claim), else 403;
                needs O(spec.auth).
            type: list
            elements: str
          backend_token:
            description:
              - "Sent to the members as C(Authorization: Bearer <token>), instead of the
                caller's own C(Authorization)."
              - Never logged or returned.
            type: str
          cache:
            description:
              - A cache for the pool's GET requests (status 200), served to GET and HEAD, and
                with O(spec.pools[].cache.post_paths) for its embedding requests, keyed by the
                body; behind authentication, the rate limit and
                O(spec.pools[].require_groups).
            type: dict
            suboptions:
              ttl_seconds:
                description: Seconds a response is served from the cache. Default V(60).
                type: int
              max_object_kb:
                description: Larger responses are not kept. Default V(80).
                type: int
              memory_mb:
                description: The memory of the pool's cache. Default V(64).
                type: int
              paths:
                description: Path prefixes to cache; every path of the pool when empty.
                type: list
                elements: str
              post_paths:
                description:
                  - Exact paths whose POST answers are cached, keyed by the URL and the request
                    body (for example V(/embed) and V(/v1/embeddings)). Only answers that are
                    the same for every caller.
                type: list
                elements: str
              max_body_bytes:
                description:
                  - POST bodies with a Content-Length up to this (1 to 65536) are cached; longer
                    or chunked ones always reach the members. Default V(8192).
                type: int
          endpoint:
            description:
              - A Hugging Face Inference Endpoint as the pool's backend, instead of
                O(spec.pools[].members). The ADC resolves its host name, connects over TLS with
                SNI and C(Host) set to it, verifies its certificate against
                O(spec.pools[].endpoint.ca_certkey), and checks it with a TLS handshake (an HTTP
                probe would wake an endpoint scaled to zero). Give the token as the pool's
                O(spec.pools[].backend_token).
            type: dict
            suboptions:
              url:
                description: The endpoint's URL, C(https://<host>[:<port>]).
                type: str
              name:
                description:
                  - The endpoint's name instead of O(spec.pools[].endpoint.url); the module looks
                    its URL up with O(hf_token) before anything else (the endpoint must have one).
                type: str
              namespace:
                description:
                  - The endpoint's namespace, with O(spec.pools[].endpoint.name); default the
                    token's user.
                type: str
              ca_certkey:
                description: The cert-key of the CA that signs the endpoint's certificate.
                type: str
              scale_up_timeout:
                description:
                  - "Seconds the service's proxy holds a request while the endpoint scales up
                    from zero (C(X-Scale-Up-Timeout)); V(0): it answers 503 at once. Default V(120)."
                type: int
          spillover:
            description:
              - Where this pool's requests go when every member is down or, with
                O(spec.pools[].spillover.connections_over), when it has that many connections
                already; they come back once the pool is up or under the threshold again.
            type: dict
            suboptions:
              to:
                description: Another pool of the gateway (often an endpoint pool, which then needs no match).
                type: str
              connections_over:
                description: Spill over beyond this many connections; only when down if left out.
                type: int
      default_pool:
        description: The pool for requests no pool's O(spec.pools[].match) matches.
        type: str
      auth:
        description: Every request needs a valid bearer token (else 401).
        type: dict
        suboptions:
          oidc:
            description: Bearer-token (JWT) validation against the IdP.
            type: dict
            suboptions:
              issuer:
                description: The IdP's issuer URL (the tokens' C(iss)).
                type: str
              jwks_url:
                description: The URL of the IdP's signing keys (JWKS).
                type: str
              token_endpoint:
                description: The IdP's token endpoint, from its discovery document.
                type: str
              audience:
                description: The audience the tokens must be issued for (C(aud)).
                type: str
              algorithms:
                description: The signature algorithms accepted. Default V([RS256]).
                type: list
                elements: str
                choices: [RS256, RS512, HS256]
              skew_minutes:
                description: Clock skew allowed, in minutes. Default V(5).
                type: int
              claims:
                description: Claims kept for policies; must include the groups claim. Default V([groups]).
                type: list
                elements: str
              groups_claim:
                description: The claim that lists the caller's groups. Default V(groups).
                type: str
              client_id:
                description: The gateway's client ID at the IdP. Default V(adcml-gateway).
                type: str
              client_secret:
                description:
                  - The gateway's client secret at the IdP, if it has one.
                  - Never logged or returned.
                type: str
              refresh_minutes:
                description: Minutes between two reads of the signing keys. Default V(1440).
                type: int
          identity_headers:
            description:
              - The caller's identity forwarded to every pool; copies a client sends are removed
                first. V(null) forwards nothing. Default C(X-Forwarded-User) and
                C(X-Forwarded-Groups).
            type: dict
            suboptions:
              user:
                description: The header carrying the token's subject. Default V(X-Forwarded-User).
                type: str
              groups:
                description: The header carrying the groups claim. Default V(X-Forwarded-Groups).
                type: str
      login:
        description:
          - People in browsers sign in at the ADC (the OIDC authorization-code flow against
            O(spec.auth.oidc)'s IdP), on a frontend of their own (a vserver answers bearer callers
            or browsers, not both). Needs O(spec.auth.oidc.client_secret) and an https frontend.
          - The redirect URI to register at the IdP is C(https://<host>:<port>/oauth/login); a
            session ends at C(/cgi/tmlogout).
        type: dict
        suboptions:
          host:
            description: The host name browsers use (and the session cookie's).
            type: str
          vip:
            description: The browsers' frontend address. Default O(spec.frontend.vip).
            type: str
          port:
            description: The browsers' frontend port; not the frontend's on the same VIP.
            type: int
          pools:
            description: The pools browsers reach, by their routes.
            type: list
            elements: str
          default_pool:
            description: Where the browsers' requests that match no route go.
            type: str
          authorization_endpoint:
            description: The IdP's authorization endpoint (from its discovery document).
            type: str
          username_claim:
            description: The claim that names the user. Default V(sub).
            type: str
          session_minutes:
            description: A session ends after this long without a request (1 to 1440). Default V(30).
            type: int
          cookie_domain:
            description: The session cookie's domain (default the host).
            type: str
      rate_limit:
        description: A per-client request rate; callers over it get 429.
        type: dict
        suboptions:
          requests:
            description: Requests allowed per O(spec.rate_limit.per_ms).
            type: int
          per_ms:
            description: The time slice in milliseconds, a multiple of 10. Default V(1000).
            type: int
          key:
            description:
              - Who is a client, by V(client_ip) or by V(user) (the token's subject; needs
                O(spec.auth)). Default V(client_ip).
            type: str
            choices: [client_ip, user]
          smooth:
            description: Spread the requests over the time slice rather than allow bursts. Default V(false).
            type: bool
      audit:
        description: Log every access decision (allowed, 401, 403, 429) as an audit message.
        type: dict
        suboptions:
          enabled:
            description: Default V(true).
            type: bool
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
    endpoint_url_of,
    fail_problems,
    hf_connection_args,
    nitro_client,
    nitro_failure,
    options_of,
    run_module,
)

INVALID = "invalid gateway spec (nothing was sent to the ADC)"
STATES = ["merged", "replaced", "overridden", "deleted", "gathered", "rendered"]


def argument_spec() -> dict:
    """The module's options; those of ``spec`` mirror the spec's model (adcml.gateway.spec)."""
    from adcml.gateway.spec import GatewaySpec

    return {
        "spec": {"type": "dict", "required": True, "options": options_of(GatewaySpec)},
        "state": {"type": "str", "default": "merged", "choices": STATES},
        "save_config": {"type": "bool", "default": False},
        **hf_connection_args(),
    }


def main() -> None:
    module = adcml_module(argument_spec, explain=explain_refusal, supports_check_mode=True)
    from adcml.gateway import ApplyError, GatherError, SpecError, converge, delete_gateway, render

    p = module.params
    state = p["state"]
    spec, name, problems = read_spec(module.raw_params, endpoint_url_of(p))
    if problems:
        fail_problems(module, INVALID, problems)

    if state == "rendered":
        module.exit_json(changed=False, rendered=render(spec), requests=0)

    with nitro_client(module) as client:
        if state == "gathered":
            from adcml.gateway import gather

            try:
                gathered = gather(client, name) or {}
            except GatherError as exc:
                module.fail_json(msg=str(exc), requests=client.request_count)
            module.exit_json(changed=False, gathered=gathered, requests=client.request_count)
        try:
            if spec is None:
                outcome = delete_gateway(client, name, check=module.check_mode, save=p["save_config"])
            else:
                outcome = converge(client, spec, state, check=module.check_mode, save=p["save_config"])
        except SpecError as exc:  # a kept secret with no live value to keep: found by the plan
            fail_problems(module, "invalid gateway spec (nothing was changed on the ADC)",
                          [(_spec_path(path), message) for path, message in exc.problems],
                          requests=client.request_count)
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


def read_spec(params: dict, endpoint_url=None) -> tuple:
    """``(spec, name, problems)`` from the options as given.

    The spec's model checks the values the user wrote, not Ansible's conversions of them
    (``"8080"`` made a number, ``123`` made a string, a comma-separated string made a list): the
    spec is as strict in a playbook as anywhere else. For gathered and deleted, a spec of only
    a name is enough (spec is then None). ``endpoint_url`` turns endpoints given by name into
    their URLs (without it, such a spec is refused at the name).
    """
    from adcml.gateway import SpecError, load_spec, resolve_endpoints
    from adcml.gateway.spec import SLUG

    raw = params.get("spec")
    if not isinstance(raw, dict):
        return None, None, [("spec", "expected a mapping with name, frontend and pools")]
    if params.get("state", "merged") in ("gathered", "deleted") and set(raw) <= {"name"}:
        name = raw.get("name")
        if not isinstance(name, str) or not re.match(SLUG, name):
            return None, None, [("spec.name", "a gateway name: lower-case letters, digits and '-'")]
        return None, name, []
    try:
        spec = load_spec(resolve_endpoints(raw, endpoint_url) if endpoint_url else raw)
    except SpecError as exc:
        return None, None, [(_spec_path(path), message) for path, message in exc.problems]
    return spec, spec.name, []


def explain_refusal(params: dict) -> tuple | None:
    """When Ansible's own checks refuse the options (an unknown key in the spec, a value not
    among the choices...), the spec's problems, each with its field path; None (Ansible's
    message stands) when the spec is not a mapping or its model finds nothing wrong."""
    if not isinstance(params.get("spec"), dict):
        return None
    problems = read_spec(params)[2]
    return (INVALID, problems) if problems else None


def _spec_path(path: str) -> str:
    return "spec" if path == "(top)" else f"spec.{path}"


if __name__ == "__main__":
    run_module(main)
