"""The lab ADC's data plane: it carries traffic the way the running config says.

    client ─TLS─▶ listener (csvserver/lbvserver VIP) ─▶ request policies (authentication,
    responder, rewrite) ─▶ content switch ─▶ LB vserver (its policies, then the integrated
    cache) ─▶ member (UP per its monitors) or backup vserver ─▶ response ─▶ audit line

Modules, one noun each: ``tables`` (running config → routing tables, pure), ``engine``
(reconcile and the request path), ``listeners``, ``tls``, ``balance``, ``health`` (monitors),
``proxy`` (forwarding), ``reach`` (where the lab may connect: loopback and what it allows),
``cache`` (integrated caching),
``state`` (monitored states in NITRO GETs and stat), ``access`` (audit log), ``control``
(``GET /lab/dataplane``). See docs/lab-dataplane.md.
"""

from adcml.lab.emulators.adc.dataplane.engine import DataPlane
from adcml.lab.emulators.adc.dataplane.reach import UNREACHABLE, AddressPolicy, AddressRefused

__all__ = ["UNREACHABLE", "AddressPolicy", "AddressRefused", "DataPlane"]
