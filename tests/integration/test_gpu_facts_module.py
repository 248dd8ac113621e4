"""gpu_facts through ansible-playbook, the way the gpu_host role runs it: on a host without
nvidia-smi (this machine) the fact says no GPU and the CPU build; with an nvidia-smi that
answers what a real H100 host's answered (nvidia-smi is not ours and needs a GPU: a stand-in
script replays the captured output) the fact has the GPU, driver 580.159.04, CUDA 13.0, cu130;
check mode reports the same; a bad variant fails with the option's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_harness import HOST, AnsibleProject

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "nvidia_smi" / "h100-580.159.04"


def stand_in(tmp_path: Path) -> Path:
    script = tmp_path / "nvidia-smi"
    script.write_text(f"""#!/bin/sh
case "$1" in
  --query-gpu=*) cat {SAMPLES / 'query-gpu.csv'} ;;
  --version) cat {SAMPLES / 'version.txt'} ;;
  "") cat {SAMPLES / 'nvidia-smi.txt'} ;;
  *) echo "Unknown option $1" >&2; exit 2 ;;
esac
""")
    script.chmod(0o755)
    return script


def test_gpu_facts_absent_and_an_h100(tmp_path):
    project = AnsibleProject(tmp_path, nsip=None)
    smi = stand_in(tmp_path)
    playbook = project.write_playbook("gpu.yml", [
        {"name": "absent", "gpu_facts": {"nvidia_smi": str(tmp_path / "no-such-nvidia-smi")},
         "register": "absent"},
        {"name": "h100", "gpu_facts": {"nvidia_smi": str(smi)}},
        {"name": "fact", "ansible.builtin.debug": {"var": "ansible_facts.adcml_gpu"}},
        {"name": "h100 in check mode", "gpu_facts": {"nvidia_smi": str(smi)}, "check_mode": True},
        {"name": "old variants only", "gpu_facts": {"nvidia_smi": str(smi),
                                                    "torch_cuda_variants": ["cu118", "cu121"]}},
        {"name": "bad variant", "gpu_facts": {"torch_cuda_variants": ["rocm6"]}, "ignore_errors": True},
    ])
    run = project.playbook(playbook)
    assert run.rc == 0, run.explain()
    assert run.recap[HOST]["changed"] == 0 and run.recap[HOST]["ignored"] == 1, run.explain()
    absent = run.result("absent")["ansible_facts"]["adcml_gpu"]
    assert absent["present"] is False and absent["torch_variant"] == "cpu"
    assert absent["reason"].startswith("nvidia-smi found no GPU:"), absent
    h100 = run.result("h100")["ansible_facts"]["adcml_gpu"]
    assert h100 == {"present": True, "count": 1, "driver_version": "580.159.04", "cuda_version": "13.0",
                    "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}],
                    "torch_variant": "cu130", "reason": None}
    assert run.result("fact")["ansible_facts.adcml_gpu"] == h100  # set as a fact of the host
    assert run.result("h100 in check mode")["ansible_facts"]["adcml_gpu"] == h100
    assert run.result("old variants only")["ansible_facts"]["adcml_gpu"]["torch_variant"] == "cu121"
    assert run.result("bad variant")["msg"] == "torch_cuda_variants: 'rocm6' is not a CUDA variant like cu128"


def test_gpu_facts_documentation(tmp_path):
    done = AnsibleProject(tmp_path, nsip=None).command("ansible-doc", "-M", "library", "--json", "gpu_facts")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["gpu_facts"]
    assert set(doc["doc"]["options"]) == {"nvidia_smi", "torch_cuda_variants", "timeout"}
    assert doc["examples"] and "adcml_gpu" in doc["return"]["ansible_facts"]["contains"]
