"""NITRO error codes known to adcml, with the message text and HTTP status a real appliance uses.

One table serves the lab ADC (to answer like an appliance) and the NITRO client (to map a
code to an exception class). Where nitro-facts.md marks a code as uncertain, the choice made
here is documented in docs/nitro-facts.md.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Error codes returned in the ``errorcode`` field of a NITRO envelope."""

    DONE = 0
    NOT_PERMITTED = 257
    NO_SUCH_RESOURCE = 258
    ALREADY_EXISTS = 273
    INVALID_ARGUMENT = 278
    IN_PROGRESS = 293
    RESOURCE_IN_USE = 315
    NO_SUCH_SERVICE = 344
    NO_SUCH_SERVER = 351
    INVALID_CREDENTIALS = 354
    FEATURE_NOT_LICENSED = 356
    SESSION_EXPIRED = 444
    NO_SUCH_SSL_VSERVER = 461
    NO_SUCH_SERVICE_OR_GROUP = 463
    VSERVER_TYPE_MISMATCH = 478
    NO_SUCH_REWRITE_ACTION = 538
    NOT_LOGGED_IN = 1026
    NOT_LOGGED_IN_AUTH = 1027
    FEATURE_NOT_ENABLED = 1067
    BOTH_SPECIFIED = 1092
    PREREQUISITE_MISSING = 1093
    TOO_FEW_ARGUMENTS = 1094
    REQUIRED_ARGUMENT_MISSING = 1095
    INVALID_ARGUMENT_VALUE = 1097
    INVALID_OBJECT_NAME = 1232
    INVALID_JSON = 1233
    INVALID_ACTION = 1240
    BULK_FAILED = 1243
    SERVER_IP_EXISTS = 1335
    CERT_KEY_MISMATCH = 1538
    CERT_DOES_NOT_EXIST = 1540
    CERT_REFERENCED = 1541
    FILE_ALREADY_EXISTS = 1642
    INPUT_FILE_NOT_PRESENT = 1647
    POLICY_NOT_BOUND = 2097
    NO_SUCH_POLICY = 2054
    PATSET_MISSING = 2823
    POLICY_LABEL_MISSING = 3087
    POLICY_NOT_BOUND_LABEL = 3093
    POLICY_NAME_IN_USE = 3094
    SSLPROFILE_MISSING = 3248
    SYSTEMFILE_MISSING = 3441
    CERT_DOMAIN_MISMATCH = 3585
    NOT_AUTHORIZED = 2138

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 599)


_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.DONE: "Done",
    ErrorCode.NOT_PERMITTED: "Operation not permitted",
    ErrorCode.NO_SUCH_RESOURCE: "No such resource",
    ErrorCode.ALREADY_EXISTS: "Resource already exists",
    ErrorCode.INVALID_ARGUMENT: "Invalid argument",
    ErrorCode.IN_PROGRESS: "Operation already in progress",
    ErrorCode.RESOURCE_IN_USE: "Resource in use",
    ErrorCode.NO_SUCH_SERVICE: "No such service",
    ErrorCode.NO_SUCH_SERVER: "No such server",
    ErrorCode.INVALID_CREDENTIALS: "Invalid username or password",
    ErrorCode.FEATURE_NOT_LICENSED: "Feature(s) not licensed",
    ErrorCode.SESSION_EXPIRED: "Session expired or killed. Please login again",
    ErrorCode.NO_SUCH_SSL_VSERVER: "No such SSL vserver",
    ErrorCode.NO_SUCH_SERVICE_OR_GROUP: "No such service/serviceGroup",
    ErrorCode.VSERVER_TYPE_MISMATCH: "Vserver type mismatch",
    ErrorCode.NO_SUCH_REWRITE_ACTION: "No such action",
    ErrorCode.NOT_LOGGED_IN: "Not logged in",
    ErrorCode.NOT_LOGGED_IN_AUTH: "Not logged in. Please login",
    ErrorCode.FEATURE_NOT_ENABLED: "Feature(s) not enabled",
    ErrorCode.BOTH_SPECIFIED: "Arguments cannot both be specified",
    ErrorCode.PREREQUISITE_MISSING: "Argument pre-requisite missing",
    ErrorCode.TOO_FEW_ARGUMENTS: "Too few arguments",
    ErrorCode.REQUIRED_ARGUMENT_MISSING: "Required argument missing",
    ErrorCode.INVALID_ARGUMENT_VALUE: "Invalid argument value",
    ErrorCode.INVALID_OBJECT_NAME: "Invalid object name",
    ErrorCode.INVALID_JSON: "Invalid JSON input",
    ErrorCode.INVALID_ACTION: "Invalid action",
    ErrorCode.BULK_FAILED: "Bulk operation failed",
    ErrorCode.SERVER_IP_EXISTS: "Server already exists",
    ErrorCode.CERT_KEY_MISMATCH: "Certificate and private key do not match",
    ErrorCode.CERT_DOES_NOT_EXIST: "Certificate does not exist",
    ErrorCode.CERT_REFERENCED: "Certificate is referenced",
    ErrorCode.FILE_ALREADY_EXISTS: "File already exists",
    ErrorCode.INPUT_FILE_NOT_PRESENT: "Input file(s) not present",
    ErrorCode.POLICY_NOT_BOUND: "Policy is not bound",
    ErrorCode.NO_SUCH_POLICY: "No such policy exists",
    ErrorCode.PATSET_MISSING: "No such patset",
    ErrorCode.POLICY_LABEL_MISSING: "No such policy label",
    ErrorCode.POLICY_NOT_BOUND_LABEL: "Policy not bound",
    ErrorCode.POLICY_NAME_IN_USE: "Policy name in use",
    ErrorCode.SSLPROFILE_MISSING: "No such SSL profile",
    ErrorCode.SYSTEMFILE_MISSING: "No such file",
    ErrorCode.CERT_DOMAIN_MISMATCH: "Certificate is registered to a different domain",
    ErrorCode.NOT_AUTHORIZED: "Not authorized to execute this command",
}

_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.DONE: 200,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.SESSION_EXPIRED: 401,
    ErrorCode.NOT_LOGGED_IN: 401,
    ErrorCode.NOT_LOGGED_IN_AUTH: 401,
    ErrorCode.NOT_AUTHORIZED: 401,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.SERVER_IP_EXISTS: 409,
    ErrorCode.FILE_ALREADY_EXISTS: 409,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_ACTION: 400,
    ErrorCode.BULK_FAILED: 207,
}

# Codes that mean "the object does not exist": answered with 404 when the object itself is
# the target of the request (GET, PUT, DELETE of it), 599 when it is only referenced.
MISSING_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.NO_SUCH_RESOURCE,
        ErrorCode.NO_SUCH_SERVICE,
        ErrorCode.NO_SUCH_SERVER,
        ErrorCode.NO_SUCH_SSL_VSERVER,
        ErrorCode.NO_SUCH_SERVICE_OR_GROUP,
        ErrorCode.NO_SUCH_REWRITE_ACTION,
        ErrorCode.NO_SUCH_POLICY,
        ErrorCode.SSLPROFILE_MISSING,
        ErrorCode.POLICY_LABEL_MISSING,
        ErrorCode.SYSTEMFILE_MISSING,
        ErrorCode.PATSET_MISSING,
        ErrorCode.CERT_DOES_NOT_EXIST,
    }
)
