"""The hosted card page: opening it, submitting a card, cancelling."""

from __future__ import annotations

import logging

from standins.pay import pages
from standins.pay.cards import check_card_form, wallet_card
from standins.pay.model import OUTCOME_LABELS, TEST_CARDS, Payment

log = logging.getLogger("standins.pay")


class CardPages:
    """Mixed into SandboxProvider."""

    def _page_payment(self, token: str) -> Payment | None:
        payment_id = self._tokens.get(token)
        payment = self._payments.get(payment_id) if payment_id else None
        if payment is not None:
            self._expire_if_due(payment)
        if payment is None or payment.finished or token not in (payment.issued_token, payment.page_token):
            return None
        return payment

    def _card_page(self, payment: Payment, token: str, errors=None, values=None) -> tuple[int, str, dict]:
        labels = pages.outcome_labels(payment.language) or OUTCOME_LABELS
        cards = [
            (number, f"{labels[o]} ({b} {t})" if o == "success" else labels[o])
            for number, (b, t, o) in TEST_CARDS.items()
        ]
        html = pages.card_page(
            language=payment.language,
            form_action=f"/secure/{token}",
            cancel_action=f"/secure/{token}/cancel",
            wallet_action=f"/secure/{token}/wallet",
            description=payment.description,
            amount=payment.amount,
            errors=errors,
            values=values,
            test_cards=cards,
        )
        return 200, html, {"Content-Security-Policy": pages.content_security_policy(payment.return_url)}

    @staticmethod
    def _expired_page(language: str | None = None) -> tuple[int, str, dict]:
        # Same answer for unknown, used and finished links: it says nothing about which.
        return 410, pages.expired_page(language=language), {"Content-Security-Policy": pages.content_security_policy()}

    def page_open(self, token: str):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None or token != payment.issued_token:
                return self._expired_page()
            self._open_page(payment, token)
            return self._card_page(payment, token)

    def page_submit(self, token: str, form: dict[str, str]):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None:
                return self._expired_page()
            self._open_page(payment, token)
            errors, card = check_card_form(form, self._now().date())
            if card is None:
                shown = {k: form.get(k, "") for k in ("expiry_month", "expiry_year", "cardholder_name")}
                return self._card_page(payment, token, errors, shown)
            if not self._authorise(payment, card):
                return self._challenge_page(payment, token)
            return 303, None, {"Location": payment.return_url}

    def _challenge_page(self, payment: Payment, token: str) -> tuple[int, str, dict]:
        html = pages.challenge_page(language=payment.language, action=f"/secure/{token}/3ds", amount=payment.amount)
        return 200, html, {"Content-Security-Policy": pages.content_security_policy(payment.return_url)}

    def page_challenge(self, token: str, answer: str):
        """The bank's 3-D Secure page: "Complete authentication" pays, "Fail" declines."""
        with self._lock:
            payment = self._page_payment(token)
            if payment is None or payment.challenge is None:
                return self._expired_page()
            if answer not in ("complete", "fail"):
                return self._challenge_page(payment, token)
            self._authorise(payment, payment.challenge, challenge_passed=answer == "complete")
            return 303, None, {"Location": payment.return_url}

    def page_wallet(self, token: str, wallet: str):
        """The test Apple Pay / Google Pay button: paid at once from the wallet's card."""
        with self._lock:
            payment = self._page_payment(token)
            if payment is None:
                return self._expired_page()
            self._open_page(payment, token)
            card = wallet_card(wallet, self._now().date())
            if card is None:
                return self._card_page(payment, token)
            self._authorise(payment, card)
            return 303, None, {"Location": payment.return_url}

    def page_cancel(self, token: str):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None:
                return self._expired_page()
            self._open_page(payment, token)
            self._finish(payment, "failed", "P0030")
            return 303, None, {"Location": payment.return_url}
