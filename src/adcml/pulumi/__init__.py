"""The Pulumi program's parts (``pulumi/`` is the program; docs/pulumi.md): dynamic providers
over adcml's engine — ``Gateway``, ``CertKey``, ``HfEndpoint`` — the ``InferenceGateway``
component that puts them together, and ``GpuModelServer`` (model servers on Kubernetes GPU
nodes, with pulumi-kubernetes).

The providers live in this installed package, not in the program's ``__main__``, so Pulumi's
serialization (dill) stores them by reference: no code and no secret in the state
(``adcml.pulumi.dynamic`` lists the pitfalls it avoids). Install with ``pip install adcml[pulumi]``.
"""

from __future__ import annotations

from adcml.pulumi.certkey import CertKey, CertKeyProvider
from adcml.pulumi.components import Certificate, EndpointArgs, InferenceGateway
from adcml.pulumi.endpoint import HfEndpoint, HfEndpointProvider
from adcml.pulumi.gateway import Gateway, GatewayProvider
from adcml.pulumi.model_server import GpuModelServer, GpuModelServerArgs

__all__ = ["CertKey", "CertKeyProvider", "Certificate", "EndpointArgs", "Gateway", "GatewayProvider",
           "GpuModelServer", "GpuModelServerArgs", "HfEndpoint", "HfEndpointProvider", "InferenceGateway"]
