"""NITRO REST client for NetScaler (Citrix ADC).

    from adcml.nitro import NitroClient

    with NitroClient.from_env() as adc:          # NETSCALER_NSIP, NETSCALER_NITRO_USER, ...
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        adc.get("lbvserver", "web")

Exceptions all derive from :class:`NitroError`; the tree is in :mod:`adcml.nitro.errors`.
"""

from adcml.nitro.client import NitroClient, OnError
from adcml.nitro.envelope import NitroWarning
from adcml.nitro.errors import (
    NOT_ATTEMPTED,
    AlreadyExists,
    AuthenticationFailed,
    BulkError,
    CertificateError,
    FeatureNotAvailable,
    InvalidArgument,
    InvalidRequest,
    NitroAPIError,
    NitroError,
    NitroTransportError,
    NotAttempted,
    NotAuthorized,
    NotFound,
    NotPermitted,
    OperationInProgress,
    PolicyNotBound,
    ResourceInUse,
    SessionExpired,
    SettingsError,
    error_for,
)
from adcml.nitro.settings import AuthMode, Settings
from adcml.nitro.version import NsVersion

__all__ = [
    "NOT_ATTEMPTED",
    "AlreadyExists",
    "AuthMode",
    "AuthenticationFailed",
    "BulkError",
    "CertificateError",
    "FeatureNotAvailable",
    "InvalidArgument",
    "InvalidRequest",
    "NitroAPIError",
    "NitroClient",
    "NitroError",
    "NitroTransportError",
    "NitroWarning",
    "NotAttempted",
    "NotAuthorized",
    "NotFound",
    "NotPermitted",
    "NsVersion",
    "OnError",
    "OperationInProgress",
    "PolicyNotBound",
    "ResourceInUse",
    "SessionExpired",
    "Settings",
    "SettingsError",
    "error_for",
]
