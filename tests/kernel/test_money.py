import pytest

from penaltypay.kernel.money import format_pence


@pytest.mark.parametrize("pence,text", [(4000, "£40"), (12375, "£123.75"), (5, "£0.05"), (123456789, "£1,234,567.89")])
def test_money_is_shown_gov_uk_style(pence, text):
    assert format_pence(pence) == text
