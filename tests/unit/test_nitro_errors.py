import pickle

import pytest

from adcml.nitro import errors
from adcml.nitro.errors import (
    NOT_ATTEMPTED,
    AlreadyExists,
    BulkError,
    InvalidArgument,
    NitroAPIError,
    NitroError,
    NotFound,
    SessionExpired,
    error_for,
)
from adcml.resources.errorcodes import MISSING_CODES, ErrorCode


@pytest.mark.parametrize("code", [c for c in ErrorCode if c is not ErrorCode.DONE])
def test_every_known_code_maps_to_a_specific_class(code):
    err = error_for(code, code.message, code.http_status)
    assert type(err) is not NitroAPIError, f"{code!r} has no exception class"
    assert code in type(err).codes


def test_no_code_is_claimed_by_two_classes():
    claimed = [int(c) for cls in errors._MAPPED for c in cls.codes]
    assert len(claimed) == len(set(claimed))


def test_every_mapped_code_is_known():
    known = {int(c) for c in ErrorCode}
    assert set(errors.CLASS_FOR_CODE) <= known


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (354, errors.AuthenticationFailed),
        (2138, errors.NotAuthorized),
        (444, SessionExpired),
        (1026, SessionExpired),
        (1027, SessionExpired),
        (273, AlreadyExists),
        (1335, AlreadyExists),
        (1642, AlreadyExists),
        (1092, InvalidArgument),
        (478, InvalidArgument),
        (315, errors.ResourceInUse),
        (1541, errors.ResourceInUse),
        (3094, errors.ResourceInUse),
        (293, errors.OperationInProgress),
        (257, errors.NotPermitted),
        (1067, errors.FeatureNotAvailable),
        (356, errors.FeatureNotAvailable),
        (1538, errors.CertificateError),
        (3585, errors.CertificateError),
        (2097, errors.PolicyNotBound),
        (3093, errors.PolicyNotBound),
        (1243, BulkError),
    ],
)
def test_mapping(code, cls):
    assert type(error_for(code, "m", 599)) is cls


@pytest.mark.parametrize("code", sorted(MISSING_CODES))
def test_missing_codes_are_not_found(code):
    assert isinstance(error_for(code, "No such resource", 404), NotFound)


def test_unknown_code_is_plain_api_error():
    err = error_for(99999, "strange", 599)
    assert type(err) is NitroAPIError
    assert isinstance(err, NitroError)


def test_invalid_argument_is_a_value_error():
    with pytest.raises(ValueError):
        raise error_for(1097, "Invalid argument value [port, x]", 599)


def test_str_and_attributes():
    err = error_for(273, "Resource already exists [name, web]", 409, "lbvserver", "web")
    assert str(err) == "lbvserver 'web': [273] Resource already exists [name, web] (HTTP 409)"
    assert (err.errorcode, err.status, err.resource, err.name) == (273, 409, "lbvserver", "web")
    assert str(error_for(258, "No such resource", 404, "lbvserver")) == (
        "lbvserver: [258] No such resource (HTTP 404)"
    )
    assert "AlreadyExists(errorcode=273" in repr(err)


def test_echoed_secret_arguments_are_masked():
    err = error_for(1097, "Invalid argument value [clientsecret, s3cr3t]", 599,
                    "authenticationoauthaction", "idp")
    assert "s3cr3t" not in str(err) and "s3cr3t" not in repr(err)
    assert "s3cr3t" not in str(err.args) and "[clientsecret, ***]" in str(err)
    plain = error_for(1097, "Invalid argument value [port, 99999]", 599)
    assert "[port, 99999]" in str(plain)


def test_errors_pickle_with_their_attributes():
    err = error_for(273, "exists", 409, "lbvserver", "web")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is AlreadyExists and back.name == "web" and str(back) == str(err)
    bulk = BulkError(1243, "Bulk operation failed", 207, resource="server",
                     results=[None, err, NOT_ATTEMPTED])
    back = pickle.loads(pickle.dumps(bulk))
    assert back.results[2] is NOT_ATTEMPTED and back.failed[0][0] == 1


def test_bulk_error_views():
    fail = error_for(273, "exists", None, "server", "b")
    bulk = BulkError(1243, "Bulk operation failed", 207, resource="server",
                     results=[None, fail, NOT_ATTEMPTED], onerror="exit")
    assert bulk.succeeded == [0]
    assert bulk.failed == [(1, fail)]
    assert bulk.not_attempted == [2]
    assert not bulk.rolled_back
    assert "1 of 3 failed, 1 not attempted" in str(bulk)
    assert "#1 server 'b': [273] exists" in str(bulk)


def test_transport_error_carries_url():
    err = errors.NitroTransportError("refused", url="https://10.0.0.1/nitro/v1/config/login",
                                     method="POST")
    assert err.url.endswith("/login") and str(err).startswith("POST https://10.0.0.1")
    assert isinstance(err, NitroError)
    assert pickle.loads(pickle.dumps(err)).url == err.url


def test_settings_error_is_value_error():
    err = errors.SettingsError("protocol", "must be 'http' or 'https', got 'ftp'")
    assert isinstance(err, ValueError) and isinstance(err, NitroError)
    assert str(err) == "protocol: must be 'http' or 'https', got 'ftp'"


def test_docstring_draws_every_class():
    doc = errors.__doc__ or ""
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, NitroError):
            assert obj.__name__ in doc, f"{obj.__name__} missing from the tree in the docstring"
