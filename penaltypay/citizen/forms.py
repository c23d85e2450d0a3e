"""The keeper's forms. Field errors are specific and say how to put it right
(GOV.UK error message style)."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from penaltypay.cases.domain import (
    is_valid_reference,
    is_valid_vrm,
    normalise_reference,
    normalise_vrm,
)

MAX_FIELD_LENGTH = 50  # anything longer is not a reference or a registration


class FindPenaltyForm(forms.Form):
    reference = forms.CharField(required=False, max_length=1000, strip=True)
    registration = forms.CharField(required=False, max_length=1000, strip=True)

    def clean_reference(self) -> str:
        raw = self.cleaned_data.get("reference", "")
        if not raw:
            raise forms.ValidationError(_("Enter your penalty reference"))
        value = normalise_reference(raw)
        if len(raw) > MAX_FIELD_LENGTH or not value.isdigit() or not value.isascii():
            raise forms.ValidationError(_("Penalty reference must only include numbers 0 to 9"))
        if not is_valid_reference(value):
            raise forms.ValidationError(_("Penalty reference must be 8 numbers"))
        return value

    def clean_registration(self) -> str:
        raw = self.cleaned_data.get("registration", "")
        if not raw:
            raise forms.ValidationError(_("Enter the vehicle registration number"))
        value = normalise_vrm(raw)
        if len(raw) > MAX_FIELD_LENGTH or not value.isascii() or not value.isalnum():
            raise forms.ValidationError(_("Registration number must only include letters a to z and numbers"))
        if not is_valid_vrm(value):
            raise forms.ValidationError(_("Registration number must be 7 characters or fewer"))
        return value


class ConfirmRegistrationForm(forms.Form):
    """A payment link's one question: the vehicle's registration, as on the letter."""

    registration = forms.CharField(required=False, max_length=1000, strip=True)

    clean_registration = FindPenaltyForm.clean_registration


class ReceiptEmailForm(forms.Form):
    email = forms.CharField(required=False, max_length=1000, strip=True)

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "")
        if not value:
            return ""
        if len(value) > 254:
            raise forms.ValidationError(_("Email address must be 254 characters or fewer"))
        try:
            validate_email(value)
        except forms.ValidationError:
            raise forms.ValidationError(
                _("Enter an email address in the correct format, like name@example.com")
            ) from None
        return value


FEEDBACK_MAX = 1200


class FeedbackForm(forms.Form):
    rating = forms.ChoiceField(
        choices=[("5", "5"), ("4", "4"), ("3", "3"), ("2", "2"), ("1", "1")],
        error_messages={
            "required": _("Select how you feel about the service"),
            "invalid_choice": _("Select how you feel about the service"),
        },
    )
    comments = forms.CharField(
        required=False,
        max_length=FEEDBACK_MAX,
        strip=True,
        error_messages={"max_length": _("Your comments must be 1,200 characters or fewer")},
    )


class BasketPayForm(ReceiptEmailForm):
    """Paying several penalties: the receipt's address and, for a business, its own reference
    (a purchase order or cost centre), kept with the payment and printed on the receipt."""

    your_reference = forms.CharField(required=False, max_length=1000, strip=True)

    def clean_your_reference(self) -> str:
        value = " ".join(self.cleaned_data.get("your_reference", "").split())
        if len(value) > 50:
            raise forms.ValidationError(_("Your reference must be 50 characters or fewer"))
        if any(not character.isprintable() or character in "<>" for character in value):
            raise forms.ValidationError(_("Your reference must only include letters, numbers and punctuation"))
        return value


class ReminderForm(ReceiptEmailForm):
    """The address for a reminder (required here), and a UK mobile number where text
    messages are offered (optional)."""

    mobile = forms.CharField(required=False, max_length=100, strip=True)

    def clean_email(self) -> str:
        value = super().clean_email()
        if not value:
            raise forms.ValidationError(_("Enter your email address"))
        return value

    def clean_mobile(self) -> str:
        typed = self.cleaned_data.get("mobile", "")
        if not typed:
            return ""
        digits = re.sub(r"[\s()\-]", "", typed)
        match = re.fullmatch(r"(?:\+44|0044|0)(7\d{9})", digits)
        if match is None:
            raise forms.ValidationError(_("Enter a UK mobile number, like 07700 900 982"))
        return "+44" + match.group(1)
