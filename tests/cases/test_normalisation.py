import pytest
from hypothesis import given
from hypothesis import strategies as st

from penaltypay.cases.domain import (
    is_valid_reference,
    is_valid_vrm,
    normalise_reference,
    normalise_vrm,
)


@pytest.mark.parametrize(
    "typed,expected",
    [("12345678", "12345678"), ("1234 5678", "12345678"), ("1234-5678", "12345678"), (" 12 34-56 78 ", "12345678")],
)
def test_reference_spaces_and_hyphens_are_removed(typed, expected):
    assert normalise_reference(typed) == expected
    assert is_valid_reference(normalise_reference(typed))


@pytest.mark.parametrize("typed", ["1234567", "123456789", "1234567A", "", "١٢٣٤٥٦٧٨"])
def test_malformed_references_are_invalid(typed):
    assert not is_valid_reference(normalise_reference(typed))


@pytest.mark.parametrize("typed,expected", [("ab12 cde", "AB12CDE"), ("AB12CDE", "AB12CDE"), (" k 1 ", "K1")])
def test_registration_is_upper_case_without_spaces(typed, expected):
    assert normalise_vrm(typed) == expected


@pytest.mark.parametrize("typed", ["AB12CDEF", "AB-12", "", "ÄB12"])
def test_malformed_registrations_are_invalid(typed):
    assert not is_valid_vrm(normalise_vrm(typed))


@given(st.text(alphabet="0123456789 -", max_size=30))
def test_normalised_reference_never_has_separators(text):
    assert not set(normalise_reference(text)) & {" ", "-"}
