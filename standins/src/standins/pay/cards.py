"""The hosted card form: which test card was typed, and what happens to it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from standins.pay.model import TEST_CARDS

log = logging.getLogger("standins.pay")


# --- the card form ---------------------------------------------------------


@dataclass(frozen=True)
class CardOutcome:
    """What is kept of a card once checked: never the full number or security code."""

    brand: str
    card_type: str
    last_four: str
    expiry: str  # MM/YY
    cardholder_name: str
    outcome: str  # success | declined | expired_card | incorrect_cvc | provider_error
    wallet_type: str | None = None  # "Apple Pay" | "Google Pay": paid from a digital wallet


# The test wallets: a tap pays with the wallet's own (test) card, no details typed.
WALLETS = {"apple-pay": "Apple Pay", "google-pay": "Google Pay"}


def wallet_card(wallet: str, today: date) -> CardOutcome | None:
    if wallet not in WALLETS:
        return None
    return CardOutcome("Visa", "debit", "4242", f"12/{(today.year + 3) % 100:02d}", "", "success", WALLETS[wallet])


def check_card_form(form: dict[str, str], today: date) -> tuple[dict[str, str], CardOutcome | None]:
    """Check the card page's fields. Returns (errors by field, None) or ({}, outcome)."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not number:
        errors["card_number"] = "card_number_missing"
    elif not re.fullmatch(r"[0-9]{12,19}", number):
        errors["card_number"] = "card_number_invalid"
    elif number not in TEST_CARDS:
        errors["card_number"] = "card_number_unknown"

    month_text = form.get("expiry_month", "").strip()
    year_text = form.get("expiry_year", "").strip()
    expiry = ""
    if not month_text and not year_text:
        errors["expiry"] = "expiry_missing"
    elif (
        not re.fullmatch(r"[0-9]{1,2}", month_text)
        or not re.fullmatch(r"[0-9]{2}|[0-9]{4}", year_text)
        or not 1 <= int(month_text) <= 12
    ):
        errors["expiry"] = "expiry_invalid"
    else:
        month = int(month_text)
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        # A card is good until the end of its expiry month.
        if (year, month) < (today.year, today.month):
            errors["expiry"] = "expiry_past"
        expiry = f"{month:02d}/{year % 100:02d}"

    name = form.get("cardholder_name", "").strip()
    if not name:
        errors["cardholder_name"] = "name_missing"
    elif len(name) > 200:
        errors["cardholder_name"] = "name_too_long"

    code = form.get("security_code", "").strip()
    is_amex = number.startswith(("34", "37"))
    if not code:
        errors["security_code"] = "security_code_missing"
    elif not re.fullmatch(r"[0-9]{4}" if is_amex else r"[0-9]{3}", code):
        errors["security_code"] = "security_code_invalid"

    if errors:
        return errors, None
    brand, card_type, outcome = TEST_CARDS[number]
    return {}, CardOutcome(brand, card_type, number[-4:], expiry, name, outcome)


def card_from_number(card_number: str, cardholder_name: str, today: date) -> CardOutcome:
    number = re.sub(r"[\s-]", "", str(card_number))
    if number not in TEST_CARDS:
        raise ValueError("not a sandbox test card number")
    brand, card_type, outcome = TEST_CARDS[number]
    expiry = f"12/{(today.year + 3) % 100:02d}"
    return CardOutcome(brand, card_type, number[-4:], expiry, cardholder_name, outcome)
