"""Prometheus metrics of one server, in a registry of its own (``GET /metrics``).

    adcml_serve_requests_total{route,code}        requests answered, by route and HTTP status
    adcml_serve_request_duration_seconds{route}   time from body read to response, successful requests
    adcml_serve_inputs_total{route}               inputs accepted (a request may carry many)
    adcml_serve_batch_size                        inputs per forward pass
    adcml_serve_batch_duration_seconds            tokenize + forward + unbatch, per batch
    adcml_serve_queue_wait_seconds                time an input waits before its batch starts
    adcml_serve_queue_depth                       inputs waiting for a batch
    adcml_serve_requests_in_flight                requests accepted and not yet answered
    adcml_serve_ready                             1 once the model is loaded and warm, 0 otherwise
    adcml_serve_model_info{model,task,device,dtype}  always 1; the labels say what is served
    adcml_serve_gpu_memory_allocated_bytes{device}  } only when the model runs on CUDA
    adcml_serve_gpu_memory_reserved_bytes{device}   }
    adcml_serve_gpu_utilization_ratio{device}       } (needs NVML: the nvidia-ml-py package)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GpuCollector(Collector):
    """Reads CUDA memory (torch) and utilisation (NVML) at scrape time."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # Only on a CUDA server, where torch is loaded already; this module is also imported by
        # the batcher, which does not need torch.
        import torch

        name = str(self.device)
        allocated = GaugeMetricFamily("adcml_serve_gpu_memory_allocated_bytes",
                                      "GPU memory held by tensors", labels=["device"])
        allocated.add_metric([name], torch.cuda.memory_allocated(self.device))
        reserved = GaugeMetricFamily("adcml_serve_gpu_memory_reserved_bytes",
                                     "GPU memory reserved by torch's caching allocator", labels=["device"])
        reserved.add_metric([name], torch.cuda.memory_reserved(self.device))
        yield allocated
        yield reserved
        try:
            utilization = torch.cuda.utilization(self.device)
        except Exception:  # no NVML bindings: memory only
            return
        util = GaugeMetricFamily("adcml_serve_gpu_utilization_ratio",
                                 "Fraction of the last sample period the GPU was busy", labels=["device"])
        util.add_metric([name], utilization / 100.0)
        yield util


class Metrics:
    """The server's collectors; every server (and every test) gets its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("adcml_serve_requests", "Requests answered", ["route", "code"], registry=r)
        self.request_duration = Histogram("adcml_serve_request_duration_seconds",
                                          "Latency of successful requests", ["route"],
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self.inputs = Counter("adcml_serve_inputs", "Inputs accepted", ["route"], registry=r)
        self.batch_size = Histogram("adcml_serve_batch_size", "Inputs per forward pass",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.batch_duration = Histogram("adcml_serve_batch_duration_seconds",
                                        "Tokenize, forward pass and unbatch, per batch",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_wait = Histogram("adcml_serve_queue_wait_seconds", "Wait from enqueue to batch start",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("adcml_serve_queue_depth", "Inputs waiting for a batch", registry=r)
        self.in_flight = Gauge("adcml_serve_requests_in_flight", "Requests accepted, not yet answered",
                               registry=r)
        self.ready = Gauge("adcml_serve_ready", "1 once the model is loaded and warmed up", registry=r)
        self.model_info = Gauge("adcml_serve_model_info", "The served model",
                                ["model", "task", "device", "dtype"], registry=r)

    def describe_model(self, model_id: str, task: str, device: Any, dtype: str) -> None:
        self.model_info.labels(model_id, task, str(device), dtype).set(1)
        if getattr(device, "type", None) == "cuda":
            self.registry.register(GpuCollector(device))

    def render(self) -> bytes:
        return generate_latest(self.registry)
