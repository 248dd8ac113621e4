"""Connection options shared by the adcml modules (extends_documentation_fragment: adcml).

They are those of adcml.nitro.settings.CONNECTION_OPTIONS, each with its environment variable;
tests/integration/test_ansible_options.py checks that this documents exactly those. An option
whose description says "Never logged or returned." is no_log.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  nsip:
    description:
      - The NetScaler's management address (NSIP, or a cluster's CLIP), C(host) or C(host:port).
      - An IPv6 address may be given bare or as C([address]:port).
      - Falls back to the E(NETSCALER_NSIP) environment variable.
      - Required by every state that talks to the appliance.
    type: str
  nitro_user:
    description:
      - The NITRO user name.
      - Falls back to E(NETSCALER_NITRO_USER).
    type: str
  nitro_pass:
    description:
      - The NITRO user's password. Never logged or returned.
      - Keep it in Ansible Vault, or leave it out and export E(NETSCALER_NITRO_PASS) (it falls
        back to that).
    type: str
  nitro_protocol:
    description:
      - Protocol of the NITRO API. Use V(http) only for the lab ADC.
      - Falls back to E(NETSCALER_NITRO_PROTOCOL).
    type: str
    choices: [http, https]
    default: https
  validate_certs:
    description:
      - Check the appliance's management certificate (HTTPS).
      - Turn it off only for the lab; for a private CA give O(ca_bundle) instead.
      - Falls back to E(NETSCALER_VALIDATE_CERTS).
    type: bool
    default: true
  ca_bundle:
    description:
      - A PEM file of the CA(s) that signed the appliance's management certificate.
      - Falls back to E(NETSCALER_CA_BUNDLE).
    type: path
  partition:
    description:
      - The admin partition to work in (the session switches to it after login).
      - Falls back to E(NETSCALER_PARTITION).
    type: str
requirements:
  - The C(adcml) Python package on the interpreter that runs the module (the controller's,
    since modules talk NITRO from there; set C(ansible_python_interpreter) to
    C({{ ansible_playbook_python }}) for the ADC hosts).
notes:
  - Run against the ADC hosts with C(ansible_connection=local); the module calls the NITRO
    REST API from the controller.
"""
