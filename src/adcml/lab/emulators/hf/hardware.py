"""The hardware the stand-in offers: which vendor, region, accelerator, instance type and size go
together, their prices, and each namespace's quota (``GET /v2/provider/{namespace}``).

The catalog is smaller than the service's and its prices are illustrative (close to the public
price list when this was written); what matters is that a combination is either offered or
refused, naming the field, as the service does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adcml.lab.emulators.hf.exceptions import BadRequest


@dataclass(frozen=True)
class InstanceType:
    """One kind of machine; a size ``xN`` is N units of it."""

    name: str
    accelerator: str  # cpu | gpu
    architecture: str
    sizes: tuple[int, ...]
    cpus_per_unit: int
    memory_gb_per_unit: int
    gpu_memory_gb_per_unit: int | None
    price_per_unit_hour: float
    quota_units: int  # what one namespace may run at once, per region


INSTANCE_TYPES = {t.name: t for t in (
    InstanceType("intel-icl", "cpu", "Intel Ice Lake", (1, 2, 4, 8), 1, 2, None, 0.032, 32),
    InstanceType("intel-spr", "cpu", "Intel Sapphire Rapids", (1, 2, 4, 8), 1, 2, None, 0.033, 32),
    InstanceType("nvidia-t4", "gpu", "NVIDIA T4", (1, 4), 4, 15, 16, 0.5, 8),
    InstanceType("nvidia-l4", "gpu", "NVIDIA L4", (1, 4), 8, 30, 24, 0.8, 8),
    InstanceType("nvidia-a10g", "gpu", "NVIDIA A10G", (1, 4), 6, 30, 24, 1.0, 8),
    InstanceType("nvidia-a100", "gpu", "NVIDIA A100", (1, 2, 4, 8), 12, 142, 80, 2.5, 8),
)}

REGIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "aws": {
        "us-east-1": ("intel-icl", "intel-spr", "nvidia-t4", "nvidia-l4", "nvidia-a10g", "nvidia-a100"),
        "eu-west-1": ("intel-icl", "intel-spr", "nvidia-t4", "nvidia-l4", "nvidia-a10g"),
    },
    "gcp": {
        "us-east4": ("intel-spr", "nvidia-t4", "nvidia-l4", "nvidia-a100"),
    },
}


@dataclass(frozen=True)
class Instance:
    """One offered combination: ``vendor region accelerator instanceType instanceSize``."""

    vendor: str
    region: str
    type: InstanceType
    units: int

    @property
    def size(self) -> str:
        return f"x{self.units}"

    @property
    def id(self) -> str:
        return f"{self.vendor}-{self.region}-{self.type.name}-{self.size}"

    @property
    def quota_key(self) -> tuple[str, str, str]:
        return (self.vendor, self.region, self.type.name)

    def to_raw(self, used_units: int) -> dict:
        t = self.type
        gpu_memory = t.gpu_memory_gb_per_unit * self.units if t.gpu_memory_gb_per_unit else None
        return {
            "id": self.id, "accelerator": t.accelerator, "instanceType": t.name,
            "instanceSize": self.size, "architecture": t.architecture, "numAccelerators": self.units,
            "numCpus": t.cpus_per_unit * self.units, "memoryGb": t.memory_gb_per_unit * self.units,
            "gpuMemoryGb": gpu_memory, "pricePerHour": round(t.price_per_unit_hour * self.units, 3),
            "status": "available",
            "quota": {"maxAccelerators": t.quota_units, "usedAccelerators": used_units},
        }


def _choose(field: str, value: str, valid: Iterable[str], where: str = "") -> None:
    valid = sorted(valid)
    if value not in valid:
        raise BadRequest(f"{field}: {value!r} is not offered{where}; valid: {', '.join(valid)}")


def find_instance(vendor: str, region: str, accelerator: str, instance_type: str,
                  instance_size: str) -> Instance:
    """The offered combination, or a 400 naming the first field that does not fit and the values
    that would."""
    _choose("provider.vendor", vendor, REGIONS)
    _choose("provider.region", region, REGIONS[vendor], f" by {vendor}")
    types = [INSTANCE_TYPES[name] for name in REGIONS[vendor][region]]
    _choose("compute.accelerator", accelerator, {t.accelerator for t in types}, f" in {vendor} {region}")
    _choose("compute.instanceType", instance_type, {t.name for t in types if t.accelerator == accelerator},
            f" in {vendor} {region} for accelerator {accelerator}")
    kind = INSTANCE_TYPES[instance_type]
    _choose("compute.instanceSize", instance_size, {f"x{n}" for n in kind.sizes},
            f" for {instance_type}")
    return Instance(vendor, region, kind, int(instance_size[1:]))


def offered() -> list[Instance]:
    return [Instance(vendor, region, INSTANCE_TYPES[name], units)
            for vendor, regions in REGIONS.items()
            for region, names in regions.items()
            for name in names
            for units in INSTANCE_TYPES[name].sizes]


def check_quota(instance: Instance, replicas: int, used_units: int) -> None:
    """A 400 when ``replicas`` more of ``instance`` would pass the namespace's quota."""
    needed = instance.units * replicas
    allowed = instance.type.quota_units
    if used_units + needed > allowed:
        vendor, region, name = instance.quota_key
        raise BadRequest(f"compute: quota exceeded for {name} in {vendor} {region}: {allowed} accelerators "
                         f"allowed, {used_units} in use, this needs {needed} ({replicas} x {instance.size})")


def provider_listing(used_units: Mapping[tuple[str, str, str], int]) -> dict:
    """``GET /v2/provider/{namespace}``: every offered combination with the namespace's usage."""
    vendors = []
    for vendor, regions in REGIONS.items():
        listed = []
        for region in regions:
            computes = [i.to_raw(used_units.get(i.quota_key, 0)) for i in offered()
                        if (i.vendor, i.region) == (vendor, region)]
            listed.append({"name": region, "computes": computes})
        vendors.append({"name": vendor, "regions": listed})
    return {"vendors": vendors}


__all__ = ["INSTANCE_TYPES", "REGIONS", "Instance", "InstanceType", "check_quota", "find_instance",
           "offered", "provider_listing"]
