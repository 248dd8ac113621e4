"""library/gpu_facts.py's parsing of nvidia-smi output: real output of an H100 host (driver
580.159.04, CUDA 13.0), other drivers' header lines, the absent and broken-driver paths, and
the choice of the PyTorch build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "nvidia_smi"
H100 = SAMPLES / "h100-580.159.04"
_spec = importlib.util.spec_from_file_location("gpu_facts", REPO / "library" / "gpu_facts.py")
gpu_facts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_facts)
VARIANTS = ["cu130", "cu128", "cu126"]


def sample(name: str) -> str:
    return (H100 / name).read_text()


def test_query_of_a_real_h100():
    assert gpu_facts.parse_gpus(sample("query-gpu.csv")) == [
        {"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559,
         "driver_version": "580.159.04"}]


def test_cuda_version_from_version_and_from_the_table_header():
    assert gpu_facts.parse_cuda_version(sample("version.txt")) == "13.0"
    assert gpu_facts.parse_cuda_version(sample("nvidia-smi.txt")) == "13.0"
    # the header line of older drivers (one space fewer, the same key)
    old = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2     |"
    assert gpu_facts.parse_cuda_version(old) == "12.2"
    assert gpu_facts.parse_cuda_version("NVIDIA-SMI version  : 580.159.04\n") is None


def test_several_gpus_and_lines_that_are_not_gpus():
    text = ("0, NVIDIA A100-SXM4-80GB, 81920, 550.54.15\n1, NVIDIA A100-SXM4-80GB, 81920, 550.54.15\n"
            "\n2, NVIDIA L4, [N/A], 550.54.15\n")
    gpus = gpu_facts.parse_gpus(text)
    assert [g["index"] for g in gpus] == [0, 1, 2]
    assert gpus[2]["memory_mib"] is None and gpus[1]["name"] == "NVIDIA A100-SXM4-80GB"
    assert gpu_facts.parse_gpus("No devices were found\n") == []
    assert gpu_facts.parse_gpus("") == []


@pytest.mark.parametrize("cuda, expected", [
    ("13.0", "cu130"), ("13.2", "cu130"), ("12.9", "cu128"), ("12.8", "cu128"), ("12.6", "cu126"),
    ("12.4", None), ("11.8", None), (None, "cpu"),
])
def test_torch_variant_is_the_newest_the_driver_runs(cuda, expected):
    assert gpu_facts.torch_variant(cuda, VARIANTS) == expected


def test_variant_names_are_checked():
    assert gpu_facts.variant_version("cu118") == (11, 8)
    with pytest.raises(ValueError, match="not a CUDA variant"):
        gpu_facts.variant_version("rocm6.2")


class NvidiaSmi:
    """What run() sees: answers per argv, as nvidia-smi would."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]):
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        key = argv[1] if len(argv) > 1 else ""
        return self.answers.get(key.split("=")[0], (2, "", f"Unknown option {key}"))


def test_detect_an_h100():
    smi = NvidiaSmi({"--query-gpu": (0, sample("query-gpu.csv"), ""),
                     "--version": (0, sample("version.txt"), "")})
    fact = gpu_facts.detect(smi, "/usr/bin/nvidia-smi", VARIANTS)
    assert fact == {"present": True, "count": 1, "driver_version": "580.159.04", "cuda_version": "13.0",
                    "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}],
                    "torch_variant": "cu130", "reason": None}
    assert smi.calls[0] == ["/usr/bin/nvidia-smi", *gpu_facts.QUERY]


def test_detect_falls_back_to_the_table_header_without_version_option():
    smi = NvidiaSmi({"--query-gpu": (0, sample("query-gpu.csv"), ""), "": (0, sample("nvidia-smi.txt"), "")})
    fact = gpu_facts.detect(smi, "nvidia-smi", VARIANTS)
    assert fact["cuda_version"] == "13.0" and fact["torch_variant"] == "cu130"
    assert [c[1:] for c in smi.calls] == [gpu_facts.QUERY, ["--version"], []]


def test_absent_program_no_device_broken_driver_and_old_driver():
    absent = gpu_facts.detect(NvidiaSmi({}), None, VARIANTS)
    assert absent == {"present": False, "count": 0, "gpus": [], "driver_version": None,
                      "cuda_version": None, "torch_variant": "cpu",
                      "reason": "nvidia-smi not found (is the NVIDIA driver installed?)"}
    none = gpu_facts.detect(NvidiaSmi({"--query-gpu": (6, "No devices were found\n", "")}), "x", VARIANTS)
    assert not none["present"] and none["reason"] == "nvidia-smi found no GPU: No devices were found"
    broken = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.\n")
    fact = gpu_facts.detect(NvidiaSmi({"--query-gpu": (9, broken, "")}), "x", VARIANTS)
    assert not fact["present"] and "couldn't communicate with the NVIDIA driver" in fact["reason"]
    old = gpu_facts.detect(NvidiaSmi({
        "--query-gpu": (0, "0, Tesla T4, 15360, 470.256.02\n", ""),
        "--version": (0, "CUDA Version : 11.4\n", "")}), "x", VARIANTS)
    assert old["present"] and old["torch_variant"] is None
    assert old["reason"] == ("the driver supports CUDA 11.4, older than every CUDA build in "
                             "torch_cuda_variants (cu130, cu128, cu126)")
