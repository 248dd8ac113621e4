import copy
import json
import logging
import pickle

import pytest

from adcml.secret import Secret


def test_every_textual_form_is_masked():
    s = Secret("hunter2")
    assert repr(s) == "Secret('***')"
    assert str(s) == "***"
    assert f"{s}" == "***"
    assert f"{s:>5}" == "  ***"
    assert "%s %r" % (s, s) == "*** Secret('***')"  # noqa: UP031 (testing %-formatting)
    assert "hunter2" not in repr({"password": s, "list": [s]})


def test_reveal_and_fingerprint():
    s = Secret("hunter2")
    assert s.reveal() == "hunter2"
    assert len(s.fingerprint()) == 12
    assert s.fingerprint() == Secret("hunter2").fingerprint() != Secret("other").fingerprint()
    assert "hunter2" not in s.fingerprint()


def test_equality_hash_and_truth():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"  # never equal to the clear text
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert not Secret("")
    assert Secret("x")


def test_wrap_is_idempotent():
    s = Secret("x")
    assert Secret.wrap(s) is s
    assert Secret.wrap("x") == s
    assert Secret.wrap(None) is None
    assert Secret(Secret("x")) == s
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_immutable_and_no_dict():
    s = Secret("x")
    with pytest.raises(AttributeError):
        s._value = "y"  # type: ignore[misc]
    assert not hasattr(s, "__dict__")


def test_not_json_serialisable_by_accident():
    with pytest.raises(TypeError):
        json.dumps({"password": Secret("x")})


def test_deliberate_copy_and_pickle_keep_the_value():
    s = Secret("x")
    assert copy.deepcopy(s).reveal() == "x"
    assert pickle.loads(pickle.dumps(s)).reveal() == "x"


def test_logging_and_exception_args_are_masked(caplog):
    s = Secret("hunter2")
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("password is %s (%r)", s, s)
    err = ValueError("bad", s)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in str(err) and "hunter2" not in repr(err)
