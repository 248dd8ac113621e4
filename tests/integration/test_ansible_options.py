"""The modules' options: what ansible-doc documents is what each module takes (the argument
spec its main() builds), option by option down to the spec's suboptions; the connection
options come from one table; and the gateway spec is checked as written, not as Ansible
converted it."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible_harness import REPO, AnsibleProject
from pydantic import BaseModel, SecretStr

from adcml.gateway.spec import SECRET_FIELDS, GatewaySpec
from adcml.nitro.settings import CONNECTION_OPTIONS, ENV, Settings

MODULES = ("adc_gateway", "adc_resource", "adc_save_config", "adc_facts", "adc_servicegroup_member",
           "hf_endpoint")
# The documented mark of a no_log option (the docs have no key for it).
SECRET_MARK = "Never logged or returned."


class _Built(Exception):
    def __init__(self, argument_spec: dict[str, Any], kwargs: dict[str, Any]):
        self.argument_spec, self.kwargs = argument_spec, kwargs


@pytest.fixture(scope="module")
def common() -> Iterator[ModuleType]:
    """module_utils/adcml_common.py, importable as the modules import it."""
    name = "ansible.module_utils.adcml_common"
    spec = importlib.util.spec_from_file_location(name, REPO / "module_utils" / "adcml_common.py")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    if previous is None:
        del sys.modules[name]
    else:
        sys.modules[name] = previous


def argument_spec_of(common: ModuleType, module_name: str, monkeypatch) -> dict[str, Any]:
    """The argument spec ``main()`` of library/<module_name>.py hands AnsibleModule (as
    ansible-test's validate-modules reads it: by running main up to the constructor)."""
    spec = importlib.util.spec_from_file_location(f"adcml_test_{module_name}",
                                                  REPO / "library" / f"{module_name}.py")
    library_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(library_module)

    def build(argument_spec, **kwargs):
        raise _Built(argument_spec, kwargs)

    monkeypatch.setattr(common, "AdcmlModule", build)
    with pytest.raises(_Built) as built:
        library_module.main()
    return built.value.argument_spec


@pytest.fixture(scope="module")
def documented(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Each module's options as ansible-doc reads them (doc fragment merged in)."""
    project = AnsibleProject(tmp_path_factory.mktemp("ansible-doc"), nsip=None)
    done = project.command("ansible-doc", "-M", "library", "--json", *MODULES)
    assert done.returncode == 0, done.stderr
    return {name: doc["doc"]["options"] for name, doc in json.loads(done.stdout).items()}


def _text(description: str | list[str]) -> str:
    return " ".join([description] if isinstance(description, str) else description)


def mismatches(docs: dict[str, Any], spec: dict[str, Any], path: str = "") -> list[str]:
    """Where the documented options and the argument spec differ: names, type, elements,
    choices, required, default, no_log (documented by SECRET_MARK), and suboptions."""
    out = [f"{path}{name}: documented, not taken" for name in sorted(set(docs) - set(spec))]
    out += [f"{path}{name}: taken, not documented" for name in sorted(set(spec) - set(docs))]
    for name in sorted(set(docs) & set(spec)):
        doc, arg, where = docs[name], spec[name], f"{path}{name}"
        for key, fallback in (("type", "str"), ("elements", None), ("choices", None),
                              ("required", False), ("default", None)):
            if doc.get(key, fallback) != arg.get(key, fallback):
                out.append(f"{where}: {key} documented {doc.get(key)!r}, taken {arg.get(key)!r}")
        if (SECRET_MARK in _text(doc.get("description", ""))) != bool(arg.get("no_log")):
            out.append(f"{where}: no_log {bool(arg.get('no_log'))}, description says "
                       f"{_text(doc.get('description', ''))!r}")
        out += mismatches(doc.get("suboptions", {}), arg.get("options", {}), f"{where}.")
    return out


@pytest.mark.parametrize("module_name", MODULES)
def test_documented_options_are_the_options_taken(module_name, common, documented, monkeypatch):
    taken = argument_spec_of(common, module_name, monkeypatch)
    assert mismatches(documented[module_name], taken) == []


def test_gateway_spec_options_mirror_the_spec_model(common, documented, monkeypatch):
    spec_options = argument_spec_of(common, "adc_gateway", monkeypatch)["spec"]["options"]
    assert "suboptions" in documented["adc_gateway"]["spec"]

    def fields(model: type[BaseModel]) -> dict[str, Any]:
        out = {}
        for name, field in model.model_fields.items():
            nested = [t for t in _types(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
            out[name] = fields(nested[0]) if nested else SecretStr in _types(field.annotation)
        return out

    def options(tree: dict[str, Any]) -> dict[str, Any]:
        return {name: options(o["options"]) if "options" in o else bool(o.get("no_log"))
                for name, o in tree.items()}

    # every field, nested as in the model; no_log exactly on the SecretStr fields
    assert options(spec_options) == fields(GatewaySpec)
    assert {n for n, o in _flat(spec_options) if o.get("no_log")} == set(SECRET_FIELDS)
    # the model fills defaults and says what is required (a spec may hold only a name)
    assert not [n for n, o in _flat(spec_options) if "default" in o or "required" in o]


def test_hf_endpoint_options_mirror_the_endpoint_spec_model(common, documented, monkeypatch):
    """hf_endpoint takes the spec's fields as options of its own, generated from the model: every
    field, no_log on the secrets, no default or required (the model's), beside the module's
    own options."""
    from adcml.hf import EndpointSpec

    taken = argument_spec_of(common, "hf_endpoint", monkeypatch)
    own = {"state", "wait", "wait_timeout", "hf_token", "api_base", "hub_endpoint", "ca_file"}
    assert set(taken) == set(EndpointSpec.model_fields) | own
    spec_options = {name: option for name, option in taken.items() if name not in own}
    assert {name: set(option.get("options", {})) for name, option in spec_options.items()} == {
        name: set(getattr(field.annotation, "model_fields", {}))
        for name, field in EndpointSpec.model_fields.items()}
    assert {n for n, o in _flat(spec_options) if o.get("no_log")} == {"secrets"}
    assert not [n for n, o in _flat(spec_options) if "default" in o or "required" in o]
    assert {n for n, o in taken.items() if o.get("no_log")} == {"secrets", "hf_token"}
    assert {n: o["fallback"][1] for n, o in taken.items() if "fallback" in o} == {
        "hf_token": ["HF_TOKEN"], "api_base": ["ADCML_HF_API_BASE"], "hub_endpoint": ["HF_ENDPOINT"],
        "ca_file": ["ADCML_HF_CA_FILE"]}


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    return [annotation] if not args else [t for a in args for t in _types(a)]


def _flat(tree: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, option in tree.items():
        yield name, option
        yield from _flat(option.get("options", {}))


def test_doc_fragment_documents_the_connection_options_with_their_environment(common):
    fragment = importlib.util.spec_from_file_location("adcml_doc_fragment",
                                                      REPO / "doc_fragments" / "adcml.py")
    module = importlib.util.module_from_spec(fragment)
    fragment.loader.exec_module(module)
    options = yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]
    table = {o.option: o for o in CONNECTION_OPTIONS}
    assert set(options) == set(table)
    for name, doc in options.items():
        o = table[name]
        assert doc["type"] == o.type, name
        assert doc.get("default") == o.default, name
        assert doc.get("choices", []) == list(o.choices), name
        assert f"E({o.env})" in _text(doc["description"]), name
        assert (SECRET_MARK in _text(doc["description"])) == o.secret, name
    # the modules take the table's options, with the table's environment fallbacks
    args = common.connection_args()
    assert {name: arg["fallback"][1] for name, arg in args.items()} == {o.option: [o.env] for o in
                                                                         CONNECTION_OPTIONS}
    # the client reads the same variables (Settings.from_env), named as the vendor's collection
    # names them, so one environment drives both
    assert {o.field for o in CONNECTION_OPTIONS} <= set(Settings.__dataclass_fields__)
    assert set(ENV.values()) == {"NETSCALER_NSIP", "NETSCALER_NITRO_USER", "NETSCALER_NITRO_PASS",
                                 "NETSCALER_NITRO_PROTOCOL", "NETSCALER_VALIDATE_CERTS",
                                 "NETSCALER_CA_BUNDLE", "NETSCALER_PARTITION"}


# -- the spec is checked as written ---------------------------------------------------------------

SPEC = {"name": "llm", "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
        "pools": [{"name": "chat", "members": [{"host": "127.0.0.1", "port": 9001}]}],
        "default_pool": "chat"}
OIDC = {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
        "token_endpoint": "http://127.0.0.1:5556/token", "audience": "adcml-lab"}


def with_(change: dict[str, Any]) -> dict[str, Any]:
    """SPEC with ``change`` merged in (nested dicts merged, the first pool's keys under pool)."""
    spec = json.loads(json.dumps(SPEC))
    for key, value in change.items():
        if key == "pool":
            spec["pools"][0].update(value)
        elif key == "frontend":
            spec["frontend"] = {**spec["frontend"], **value} if isinstance(value, dict) else value
        else:
            spec[key] = value
    return spec


# Each of these is refused by the spec, and each one Ansible's own conversion would accept or
# change (a number made a string, a YAML boolean made "True", a comma-separated string made a
# list, k=v text made a dict), or refuse with a message of its own, without the field's path.
REFUSED = {
    "a number for a name": (with_({"name": 123}), {"spec.name"}),
    "a boolean for a string": (with_({"auth": {"oidc": {**OIDC, "audience": True}}}),
                               {"spec.auth.oidc.audience"}),
    "a comma-separated string for a list": (with_({"pool": {"health": {"expect_status": "200,204"}}}),
                                            {"spec.pools[0].health.expect_status"}),
    "k=v text for a mapping": (with_({"frontend": "vip=127.0.0.10 protocol=http"}), {"spec.frontend"}),
    "text for a number": (with_({"frontend": {"port": "eighty"}}), {"spec.frontend.port"}),
    "unknown key, wrong choice, wrong case": (
        with_({"pool": {"lb_metod": "ROUNDROBIN", "lb_method": "roundrobin"},
               "frontend": {"protocol": "HTTP"}}),
        {"spec.pools[0].lb_metod", "spec.pools[0].lb_method", "spec.frontend.protocol"}),
}


def render_each(tmp_path: Path, specs: dict[str, dict[str, Any]]) -> Any:
    """Render each spec (offline) in one playbook run; the run."""
    project = AnsibleProject(tmp_path, nsip=None)
    playbook = project.write_playbook("render.yml", [
        {"name": name, "adc_gateway": {"spec": f"{{{{ specs[{name!r}] }}}}", "state": "rendered"},
         "ignore_errors": True} for name in specs])
    run = project.playbook(playbook, extra_vars={"specs": specs})
    assert run.rc == 0, run.explain()
    return run


@pytest.mark.slow
def test_the_spec_is_checked_as_written_not_as_ansible_converts_it(tmp_path):
    run = render_each(tmp_path, {name: spec for name, (spec, _) in REFUSED.items()})
    for name, (_, paths) in REFUSED.items():
        failure = run.result(name)
        assert failure["_status"] == "ignored", (name, failure)
        assert failure["msg"].startswith("invalid gateway spec (nothing was sent to the ADC):"), failure
        assert {p["path"] for p in failure["problems"]} == paths, (name, failure["problems"])
        for path in paths:
            assert path in failure["msg"], (name, failure["msg"])


@pytest.mark.slow
def test_a_boolean_is_not_a_port(tmp_path):
    # Ansible's int check lets True through unchanged (bool is an int in Python); the module
    # hands the spec's model the value as written, so only the model decides.
    run = render_each(tmp_path, {"true for a port": with_({"frontend": {"port": True}})})
    failure = run.result("true for a port")
    assert failure["_status"] == "ignored", failure
    assert [p["path"] for p in failure["problems"]] == ["spec.frontend.port"]
    assert "spec.frontend.port" in failure["msg"]
