"""One table of secret attribute names (adcml.resources.SECRET_ATTRS), read by the NITRO
client's redaction, the engine and the Ansible modules alike; and the modules' rules for what
to mask (module_utils/adcml_common.py: secret_strings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from adcml.lab.services.pki import KeyType, LabCA
from adcml.nitro.redact import redact, redact_text
from adcml.resources import RESOURCES, SECRET_ATTRS
from adcml.secret import MASK

COMMON = Path(__file__).resolve().parents[2] / "module_utils" / "adcml_common.py"


@pytest.fixture(scope="module")
def secret_strings():
    spec = importlib.util.spec_from_file_location("adcml_common_under_test", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.secret_strings


def test_the_table_holds_the_schema_secrets_in_lower_case():
    assert {a.name for r in RESOURCES for a in r.attrs if a.secret} <= SECRET_ATTRS
    assert {"password", "passplain", "clientsecret", "keyvalue", "sessionid", "filecontent",
            "stringbuilderexpr"} <= SECRET_ATTRS
    assert all(name == name.lower() for name in SECRET_ATTRS)


@pytest.mark.parametrize("name", sorted(SECRET_ATTRS))
def test_redaction_masks_every_name_of_the_table(name):
    assert redact({name: "s3cr3t", "name": "web"}) == {name: MASK, "name": "web"}
    assert redact({name.upper(): "s3cr3t"}) == {name.upper(): MASK}
    assert redact_text(f"Invalid argument value [{name}, s3cr3t]") == \
        f"Invalid argument value [{name}, {MASK}]"


def test_modules_mask_no_log_options_secret_names_and_key_text_at_any_depth(secret_strings):
    pem = LabCA().issue("x", key_type=KeyType.EC).key_pem.decode()
    spec = {"spec": {"type": "dict", "options": {
        "pools": {"type": "list", "elements": "dict", "options": {
            "name": {"type": "str"}, "backend_token": {"type": "str", "no_log": True}}}}}}
    params = {
        "spec": {"pools": [{"name": "chat", "backend_token": "tok-1"}, {"name": "embed"}]},
        "attributes": {"name": "idp", "ClientSecret": "cs-2", "nested": [{"passplain": 1234}]},
        # sslcertkey's "password" is a flag (the key is encrypted): never masked as a secret
        "flags": {"password": True, "other": None},
        "name": pem,
    }
    found = secret_strings(params, spec)
    assert {"tok-1", "cs-2", "1234", pem} <= found
    assert repr(pem)[1:-1] in found  # as the invocation log line (str of the options) shows it
    assert not {"chat", "embed", "idp", "True", "None"} & found
