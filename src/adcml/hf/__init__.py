"""Hugging Face Inference Endpoints as code, over ``huggingface_hub`` (0.x, 1.x and 2.x).

    from adcml.hf import HfConnection, converge_endpoint
    outcome = converge_endpoint(HfConnection.from_env(), {
        "name": "embedder", "namespace": "acme", "repository": "sentence-transformers/all-MiniLM-L6-v2",
        "task": "sentence-embeddings",
        "compute": {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu",
                    "instance_type": "intel-spr", "instance_size": "x2"},
    }, state="present", progress=print)
    print(outcome.plan.render(), outcome.endpoint["url"])

``spec`` (what is declared, checked before any request), ``plan`` (pure: the differences and
the steps), ``client`` (the one seam to the service), ``converge`` (plan, apply, wait). The token
is an ``adcml.secret.Secret``: it never reaches a message, a plan or a result.
"""

from __future__ import annotations

from adcml.hf.client import (
    API_BASE_ENV,
    CA_FILE_ENV,
    Endpoints,
    HfConnection,
    HfError,
    HfServiceError,
    HfTransportError,
)
from adcml.hf.converge import (
    DEFAULT_TIMEOUT,
    EndpointOutcome,
    HfWaitError,
    converge_endpoint,
    endpoint_status,
    endpoint_url,
    gateway_url,
    plan_endpoint,
)
from adcml.hf.plan import EndpointPlan, Live, Step
from adcml.hf.spec import DesiredState, EndpointSpec, EndpointSpecError, EndpointType, parse_spec

__all__ = [
    "API_BASE_ENV", "CA_FILE_ENV", "DEFAULT_TIMEOUT", "DesiredState", "EndpointOutcome",
    "EndpointPlan", "EndpointSpec", "EndpointSpecError", "EndpointType", "Endpoints",
    "HfConnection", "HfError", "HfServiceError", "HfTransportError", "HfWaitError", "Live", "Step",
    "converge_endpoint", "endpoint_status", "endpoint_url", "gateway_url", "parse_spec", "plan_endpoint",
]
