#!/usr/bin/python
"""Ansible module gpu_facts: the NVIDIA GPUs of a host, its driver and CUDA versions (from
nvidia-smi), and the PyTorch build that fits them.

It runs on the GPU host, before adcml is installed there, so it is self-contained: the parsing
is plain functions of nvidia-smi's text (``parse_gpus``, ``parse_cuda_version``,
``torch_variant``), unit-tested against real nvidia-smi output.
"""

from __future__ import annotations

import re

DOCUMENTATION = r"""
module: gpu_facts
short_description: NVIDIA GPUs, driver and CUDA versions of a host, and the PyTorch build to install
description:
  - Runs C(nvidia-smi) on the host and returns, as the fact C(adcml_gpu), the GPUs (index,
    name, memory), the driver version, the highest CUDA version the driver supports, and the
    PyTorch build (wheel variant) that fits them, for example V(cu130) or V(cpu).
  - A host without C(nvidia-smi), or whose driver does not answer, or with no GPU, is not a
    failure; the fact says C(present=false) with the reason, and the variant is V(cpu). The
    C(gpu_host) role decides whether that is acceptable (C(gpu_host_require_gpu)).
  - Reads only; check mode runs it the same.
author: adcml maintainers
extends_documentation_fragment:
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
    platforms: posix
options:
  nvidia_smi:
    description:
      - The C(nvidia-smi) program; by default it is looked for on E(PATH) and in
        C(/usr/bin), C(/usr/local/nvidia/bin), C(/usr/local/cuda/bin).
    type: path
  torch_cuda_variants:
    description:
      - The CUDA builds of PyTorch to choose from (as download.pytorch.org names its
        indexes, C(cu) + major + minor). The highest one not newer than the driver's CUDA
        version is chosen; the list depends on the PyTorch release.
    type: list
    elements: str
    default: [cu130, cu128, cu126]
  timeout:
    description: Seconds to wait for C(nvidia-smi) (a hung driver must not hang the play).
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Detect the GPUs
  gpu_facts:
  register: detected

- name: Say what was found
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.adcml_gpu.count }} GPU(s), driver {{ ansible_facts.adcml_gpu.driver_version }},
      CUDA {{ ansible_facts.adcml_gpu.cuda_version }}: torch build {{ ansible_facts.adcml_gpu.torch_variant }}
"""

RETURN = r"""
ansible_facts:
  description: The fact C(adcml_gpu).
  returned: always
  type: dict
  contains:
    adcml_gpu:
      description: What nvidia-smi reported.
      type: dict
      contains:
        present:
          description: Whether at least one GPU answered.
          type: bool
        count:
          description: The number of GPUs.
          type: int
        gpus:
          description: One entry per GPU.
          type: list
          elements: dict
          sample: [{index: 0, name: NVIDIA H100 80GB HBM3, memory_mib: 81559}]
        driver_version:
          description: The NVIDIA driver version (null without a driver).
          type: str
          sample: 580.159.04
        cuda_version:
          description: The highest CUDA version the driver supports (null without a driver).
          type: str
          sample: "13.0"
        torch_variant:
          description:
            - The PyTorch wheel variant to install; V(cpu) without a GPU; null when there are
              GPUs but the driver is older than every variant in O(torch_cuda_variants).
          type: str
          sample: cu130
        reason:
          description: Why there is no GPU, or no fitting variant (null otherwise).
          type: str
          sample: "nvidia-smi not found (is the NVIDIA driver installed?)"
"""

QUERY = ["--query-gpu=index,name,memory.total,driver_version", "--format=csv,noheader,nounits"]
SEARCH_PATHS = ["/usr/bin", "/usr/local/nvidia/bin", "/usr/local/cuda/bin"]
_CUDA = re.compile(r"CUDA Version\s*:\s*(\d+)\.(\d+)")
_VARIANT = re.compile(r"^cu(\d+)(\d)$")


def parse_gpus(text: str) -> list[dict]:
    """``--query-gpu=index,name,memory.total,driver_version --format=csv,noheader,nounits``
    → ``[{"index", "name", "memory_mib", "driver_version"}]``; lines that are not GPU rows
    (nvidia-smi's "No devices were found") are skipped."""
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 4 or not fields[0].isdigit():
            continue
        memory = fields[-2]
        gpus.append({
            "index": int(fields[0]),
            # A name never holds a comma in practice; join anyway, the numbers are at the end.
            "name": ", ".join(fields[1:-2]),
            "memory_mib": int(memory) if memory.isdigit() else None,
            "driver_version": fields[-1],
        })
    return gpus


def parse_cuda_version(text: str) -> str | None:
    """The ``CUDA Version`` of ``nvidia-smi --version`` (``CUDA Version : 13.0``) or of the
    table header of plain ``nvidia-smi`` (``CUDA Version: 13.0``), as ``"13.0"``."""
    found = _CUDA.search(text)
    return f"{int(found.group(1))}.{int(found.group(2))}" if found else None


def variant_version(variant: str) -> tuple[int, int]:
    """``cu128`` → (12, 8); ``cu130`` → (13, 0). Raises ValueError for anything else."""
    found = _VARIANT.match(variant)
    if not found:
        raise ValueError(f"{variant!r} is not a CUDA variant like cu128")
    return int(found.group(1)), int(found.group(2))


def torch_variant(cuda_version: str | None, variants: list[str]) -> str | None:
    """The newest of ``variants`` that the driver's CUDA version can run; ``cpu`` without a
    driver; None when the driver is older than all of them."""
    if cuda_version is None:
        return "cpu"
    major, minor = (int(p) for p in cuda_version.split(".")[:2])
    fitting = [v for v in variants if variant_version(v) <= (major, minor)]
    return max(fitting, key=variant_version) if fitting else None


def detect(run, nvidia_smi: str | None, variants: list[str]) -> dict:
    """The fact, given ``run(argv) -> (rc, stdout, stderr)`` and the program's path."""
    fact = {"present": False, "count": 0, "gpus": [], "driver_version": None, "cuda_version": None,
            "torch_variant": "cpu", "reason": None}
    if nvidia_smi is None:
        fact["reason"] = "nvidia-smi not found (is the NVIDIA driver installed?)"
        return fact
    rc, out, err = run([nvidia_smi, *QUERY])
    gpus = parse_gpus(out) if rc == 0 else []
    if not gpus:
        message = " ".join((out + " " + err).split()) or f"exit status {rc}"
        fact["reason"] = f"nvidia-smi found no GPU: {message}"
        return fact
    rc, out, err = run([nvidia_smi, "--version"])
    cuda = parse_cuda_version(out) if rc == 0 else None
    if cuda is None:  # an nvidia-smi without --version: the table header has it
        rc, out, err = run([nvidia_smi])
        cuda = parse_cuda_version(out)
    fact.update(present=True, count=len(gpus), driver_version=gpus[0]["driver_version"],
                cuda_version=cuda, gpus=[{k: g[k] for k in ("index", "name", "memory_mib")} for g in gpus])
    fact["torch_variant"] = torch_variant(cuda, variants) if cuda else None
    if fact["torch_variant"] is None:
        fact["reason"] = (f"the driver supports CUDA {cuda or '(unknown)'}, older than every CUDA "
                          f"build in torch_cuda_variants ({', '.join(variants)})")
    return fact


def main() -> None:
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "nvidia_smi": {"type": "path"},
            "torch_cuda_variants": {"type": "list", "elements": "str",
                                    "default": ["cu130", "cu128", "cu126"]},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    for variant in p["torch_cuda_variants"]:
        try:
            variant_version(variant)
        except ValueError as exc:
            module.fail_json(msg=f"torch_cuda_variants: {exc}")
    program = p["nvidia_smi"] or module.get_bin_path("nvidia-smi", opt_dirs=SEARCH_PATHS)

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            return module.run_command(["timeout", str(p["timeout"]), *argv])
        except OSError as exc:
            return 127, "", str(exc)

    fact = detect(run, program, p["torch_cuda_variants"])
    module.exit_json(changed=False, ansible_facts={"adcml_gpu": fact})


if __name__ == "__main__":
    main()
