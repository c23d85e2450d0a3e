"""The confirmation page is shown once, then the session ends. Its language switch carries
a short-lived signed proof that this browser was just shown it, so the keeper can read it
in the other language without the page staying open to whoever comes next."""

from __future__ import annotations

from django.core import signing

SALT = "penaltypay.citizen.confirmation"
VALID_SECONDS = 10 * 60


def confirmation_proof(payment) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(payment.id))


def confirmation_shown(proof: str, payment) -> bool:
    try:
        return signing.TimestampSigner(salt=SALT).unsign(proof, max_age=VALID_SECONDS) == str(payment.id)
    except signing.BadSignature:
        return False
