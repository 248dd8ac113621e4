"""The schema's checks (shared by the lab ADC and the engine) never repeat a secret value."""

from __future__ import annotations

import pytest

from adcml.resources.check import SchemaViolation, check_values
from adcml.resources.model import Attr, Kind, Resource
from adcml.secret import Secret

TABLE = Resource("thing", key="name", attrs=(Attr("name"), Attr("pin", Kind.INT, secret=True),
                                             Attr("note", Kind.INT)))


@pytest.mark.parametrize("body", [{"name": "a", "pin": "s3cret-pin"},
                                  {"name": "a", "note": Secret("s3cret-pin")}])
def test_a_refused_secret_is_not_quoted(body):
    with pytest.raises(SchemaViolation) as err:
        check_values(TABLE, body, adding=True)
    assert "s3cret-pin" not in str(err.value) + err.value.reason
    assert "expected an integer" in err.value.reason


def test_a_refused_plain_value_is_quoted():
    with pytest.raises(SchemaViolation) as err:
        check_values(TABLE, {"name": "a", "note": "seven"}, adding=True)
    assert "'seven'" in err.value.reason
