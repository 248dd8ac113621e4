"""The lab's Hugging Face Inference Endpoints: a stand-in for the service, driven by the real
huggingface_hub client, whose endpoints run real replicas (``adcml serve``) behind TLS
listeners of their own (docs/lab-hf.md).

- ``urls``: /v2/... (the Inference Endpoints API), /api/whoami-v2, /lab/... to ``responses``;
- ``responses``: the wire (token and namespace checked, JSON bodies, errors as the service's);
- ``backend``: ``LabHF``, the endpoints of every namespace and what happens to them (states,
  replicas, listeners, idle scale-to-zero, persistence); its records are in ``models``;
- ``hardware``: what can be deployed where, prices and quotas;
- ``replicas``: a replica, one ``adcml serve`` process;
- ``dataplane``: each endpoint's TLS listener (names, token, state) and its proxy to the replica;
- ``exceptions``: the service's errors;
- ``server``: ``HFServer``, serving one ``LabHF`` on a thread (tests) or in the foreground.
"""
