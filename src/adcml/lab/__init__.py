"""The lab: everything adcml needs to run against on one machine, in three parts.

- ``emulators``: stand-ins for the remote services adcml provisions, each speaking the real
  service's API: the lab ADC (NITRO, and a data plane that carries traffic as configured).
- ``services``: what the lab's traffic needs around them: the IdP, the demo backends, the PKI.
- ``orchestrator``: ``adcml lab up | down | status | token | smoke | wheelhouse | hosts``: the
  layout, the processes it supervises, the test hosts.

Emulators and services never import the orchestrator; nothing here imports adcml's engine,
gateway or NITRO client (the lab speaks NITRO, it does not use ours).
"""
