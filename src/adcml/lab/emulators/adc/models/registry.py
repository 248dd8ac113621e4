"""Which behaviour each resource has (``"*"``: the default, for every other resource)."""

from __future__ import annotations

from adcml.lab.emulators.adc.models.behaviours import (
    Behaviour,
    GroupBinding,
    ImplicitSsl,
    Member,
    Monitor,
    NsConfig,
    NsFeature,
    NsPartition,
    NsVersion,
    Server,
    ServiceGroup,
    Vserver,
)
from adcml.lab.emulators.adc.models.caching import cache_behaviours
from adcml.lab.emulators.adc.models.certificates import CertKey, SystemFile
from adcml.lab.emulators.adc.models.policies import policy_behaviours


def behaviours() -> dict[str, Behaviour]:
    """A fresh set for one config store (some behaviours keep state, e.g. the last save)."""
    return {
        "*": Behaviour(),
        "lbvserver": Vserver("sslvserver"),
        "csvserver": Vserver("sslvserver"),
        "servicegroup": ServiceGroup("sslservicegroup"),
        "sslvserver": ImplicitSsl("sslvserver", ("lbvserver", "csvserver", "authenticationvserver")),
        "sslservicegroup": ImplicitSsl("sslservicegroup", ("servicegroup",)),
        "server": Server(),
        "servicegroup_servicegroupmember_binding": Member(),
        "lbvserver_servicegroup_binding": GroupBinding(),
        "lbmonitor": Monitor(),
        "nsconfig": NsConfig(),
        "nsversion": NsVersion(),
        "nsfeature": NsFeature(),
        "nspartition": NsPartition(),
        "systemfile": SystemFile(),
        "sslcertkey": CertKey(),
        **policy_behaviours(),
        **cache_behaviours(),
    }
