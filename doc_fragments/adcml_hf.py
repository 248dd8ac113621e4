"""How a module reaches Hugging Face (extends_documentation_fragment: adcml_hf): the options of
module_utils/adcml_common.py's hf_connection_args. An option whose description says "Never
logged or returned." is no_log.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  hf_token:
    description:
      - A Hugging Face token that may read (and, for hf_endpoint, manage) the namespace's
        Inference Endpoints. Never logged or returned.
      - Falls back to E(HF_TOKEN). Keep it in Ansible Vault.
    type: str
  api_base:
    description:
      - The Inference Endpoints API base. Default the client's,
        C(https://api.endpoints.huggingface.cloud/v2); for the lab stand-in (C(adcml lab-hf)),
        for example C(http://127.0.0.1:9190/v2).
      - Falls back to E(ADCML_HF_API_BASE).
    type: str
  hub_endpoint:
    description:
      - The Hub, asked who the token is when no namespace is given.
      - Falls back to E(HF_ENDPOINT).
    type: str
  ca_file:
    description:
      - A CA bundle for the endpoints' URLs (the lab's CA), used by hf_endpoint's wait.
      - Falls back to E(ADCML_HF_CA_FILE).
    type: str
"""
