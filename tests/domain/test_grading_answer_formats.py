import math

import pytest
from grading_support import COURSE, COURSE_VARIANT, RIGHT
from hypothesis import given
from hypothesis import strategies as st

from app.domain.grading import AnswerFormatError, grade, parse_number

# --- parse_number -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.0268", 0.0268),
        ("2.68e-2", 0.0268),
        ("2.68E-2", 0.0268),
        ("+0.5", 0.5),
        ("\u22120.5", -0.5),  # the Unicode minus sign
        ("-0.5", -0.5),
        ("0,0268", 0.0268),
        ("  0,0268 ", 0.0268),
        ("\t0.0268\n", 0.0268),
        (".5", 0.5),
        ("3.", 3.0),
        ("12", 12.0),
        ("1e3", 1000.0),
        ("inf", math.inf),
        ("+inf", math.inf),
        ("INF", math.inf),
        ("infinity", math.inf),
        ("Infinity", math.inf),
        ("∞", math.inf),
        ("+∞", math.inf),
        ("-inf", -math.inf),
    ],
)
def test_parse_number_accepts(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "is empty: enter a number"),
        ("   ", "is empty: enter a number"),
        ("nan", "'nan' means 'not a number'"),
        ("NaN", "'NaN' means 'not a number'"),
        ("abc", "'abc' is not a number; write it like 0.0268 or 2.68e-2"),
        ("1/2", "'1/2' is a fraction; write it as a decimal"),
        ("0.1.2", "'0.1.2' has more than one decimal point"),
        ("1,000.5", "'1,000.5' has both a comma and a dot"),
        ("1,000,5", "has more than one comma"),
        ("2.68%", "is a percentage"),
        ("0. 0268", "has a space inside it"),
        ("1_000", "'1_000' is not a number"),
        ("0x1f", "'0x1f' is not a number"),
        ("1e400", "is too large to be a number; write inf"),
        ("e5", "'e5' is not a number"),
    ],
)
def test_parse_number_refuses_with_a_message_and_an_example(raw, says):
    with pytest.raises(ValueError) as caught:
        parse_number(raw)
    message = str(caught.value)
    assert says in message
    assert any(example in message for example in ("0.0268", "0.5", "1000.5", "inf")), message


@given(st.floats(allow_nan=False))
def test_parse_number_reads_back_every_float_repr(x):
    assert parse_number(repr(x)) == x


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_number_reads_a_decimal_comma(x):
    assert parse_number(repr(x).replace(".", ",")) == x


# --- format errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("loss_a", "abc", "'abc' is not a number; write it like 0.0268 or 2.68e-2"),
        ("loss_a", "", "is empty: enter a number"),
        ("loss_a", "  ", "is empty: enter a number"),
        ("loss_a", None, "is empty: enter a number"),
        ("loss_b", "1/2", "is a fraction"),
        ("loss_b", "0.1.2", "more than one decimal point"),
        ("loss_b", "1,000.5", "both a comma and a dot"),
        ("loss_b", "nan", "not a number"),
        ("loss_b", float("nan"), "not a number"),
        ("loss_b", True, "is not a number"),
        ("loss_b", [0.0452], "is not a number but a list"),
        ("better", "Student C", "'Student C' is not one of the options"),
        ("better", ["Student A"], "must be one of the options as text"),
        ("reasoning", 42, "must be text"),
        ("x", "1", "no part named 'x' on this card"),
    ],
)
def test_format_errors_name_the_part_and_grade_nothing(key, value, says):
    with pytest.raises(AnswerFormatError) as caught:
        grade(COURSE, COURSE_VARIANT, {**RIGHT, key: value})
    assert list(caught.value.errors) == [key]
    assert says in caught.value.errors[key]
    assert f"{key}: " in str(caught.value)


def test_a_missing_numeric_answer_is_a_format_error():
    with pytest.raises(AnswerFormatError) as caught:
        grade(COURSE, COURSE_VARIANT, {"better": "Student A"})
    assert set(caught.value.errors) == {"loss_a", "loss_b"}


def test_every_format_error_is_reported_at_once():
    with pytest.raises(AnswerFormatError) as caught:
        grade(COURSE, COURSE_VARIANT, {"loss_a": "abc", "loss_b": "", "better": "C", "typo": "1"})
    assert set(caught.value.errors) == {"loss_a", "loss_b", "better", "typo"}
