"""The back office's forms. Errors say what to do (GOV.UK style)."""

from __future__ import annotations

import re
from datetime import date

from django import forms
from django.core.validators import validate_email

from penaltypay.cases.domain import is_valid_reference, is_valid_vrm, normalise_reference, normalise_vrm
from penaltypay.payments.refund_rules import REASONS
from penaltypay.staff.roles import ROLE_NAMES, Role

ROLE_CHOICES = [(role.value, ROLE_NAMES[role]) for role in Role]
DATE_ERRORS = {"invalid": "Enter a real date in the format YYYY-MM-DD, for example 2026-11-28"}


class SignInForm(forms.Form):
    username = forms.CharField(max_length=150, required=False)
    password = forms.CharField(max_length=1000, required=False, strip=False)

    def clean(self):
        data = super().clean() or {}
        if not data.get("username") or not data.get("password"):
            raise forms.ValidationError("Enter your username and password")
        return data


class CodeForm(forms.Form):
    code = forms.CharField(max_length=20, required=False)

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data.get("code", "").split())
        if not code:
            raise forms.ValidationError("Enter the 6-digit security code from your authenticator app")
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError("The security code must be 6 numbers")
        return code


class SearchForm(forms.Form):
    q = forms.CharField(max_length=100, required=False, error_messages={"max_length": "Enter 100 characters or fewer"})
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)
    status = forms.CharField(max_length=100, required=False)

    def __init__(self, *args, statuses: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.statuses = statuses

    def clean_status(self) -> str:
        status = self.cleaned_data.get("status", "")
        if status and status not in self.statuses:
            raise forms.ValidationError("Choose a status from the list")
        return status

    def clean(self):
        data = super().clean() or {}
        if not self.errors and not any(data.get(name) for name in ("q", "date_from", "date_to", "status")):
            raise forms.ValidationError(
                "Enter a penalty reference, registration number, payment reference or provider payment ID, "
                "or choose dates or a status"
            )
        start, end = data.get("date_from"), data.get("date_to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            self.add_error("date_to", "The end date must be the same as or after the start date")
        return data


class NewAccountForm(forms.Form):
    """A new account: who, their work address (the set-up link goes there) and roles. No
    password: the person chooses their own."""

    username = forms.CharField(max_length=150, required=False)
    email = forms.CharField(max_length=254, required=False)
    roles = forms.MultipleChoiceField(choices=ROLE_CHOICES, required=False)

    def clean_username(self) -> str:
        value = self.cleaned_data.get("username", "").strip()
        if not value:
            raise forms.ValidationError("Enter a username")
        return value

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "").strip()
        if not value:
            raise forms.ValidationError("Enter their work email address")
        return value

    def clean_roles(self) -> list[Role]:
        roles = [Role(value) for value in self.cleaned_data.get("roles", [])]
        if not roles:
            raise forms.ValidationError("Choose at least one role")
        return roles


class EmailForm(forms.Form):
    email = forms.CharField(max_length=254, required=False)

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "").strip()
        if not value:
            raise forms.ValidationError("Enter their new work email address")
        return value


class NewPasswordForm(forms.Form):
    """The person's own new password, twice (Django's validators run in the view, which
    knows whose password it is)."""

    password = forms.CharField(max_length=1000, required=False, strip=False)
    confirm = forms.CharField(max_length=1000, required=False, strip=False)

    def clean(self):
        data = super().clean() or {}
        if not data.get("password"):
            self.add_error("password", "Enter a new password")
        elif data.get("password") != data.get("confirm"):
            self.add_error("confirm", "The passwords do not match")
        return data


class CurrentPasswordForm(forms.Form):
    password = forms.CharField(max_length=1000, required=False, strip=False)

    def clean_password(self) -> str:
        value = self.cleaned_data.get("password", "")
        if not value:
            raise forms.ValidationError("Enter your password")
        return value


class ChangePasswordForm(NewPasswordForm):
    current = forms.CharField(max_length=1000, required=False, strip=False)
    code = forms.CharField(max_length=20, required=False)

    def clean_current(self) -> str:
        value = self.cleaned_data.get("current", "")
        if not value:
            raise forms.ValidationError("Enter your current password")
        return value

    def clean_code(self) -> str:
        return CodeForm.clean_code(self)  # type: ignore[arg-type]  # the same rule, the same field name


class AccountDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], required=False)
    note = forms.CharField(max_length=500, required=False)

    def clean_decision(self) -> str:
        value = self.cleaned_data.get("decision", "")
        if not value:
            raise forms.ValidationError("Choose whether to approve or reject it")
        return value


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(choices=ROLE_CHOICES, required=False)

    def clean_roles(self) -> list[Role]:
        roles = [Role(value) for value in self.cleaned_data.get("roles", [])]
        if not roles:
            raise forms.ValidationError("Choose at least one role")
        return roles


class NoteForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)

    def clean_note(self) -> str:
        note = self.cleaned_data.get("note", "").strip()
        if not note:
            raise forms.ValidationError("Say what was done and why")
        return note


class AuditFilterForm(forms.Form):
    actor = forms.CharField(max_length=150, required=False)
    action = forms.CharField(max_length=60, required=False)
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)


_POUNDS = re.compile(r"(\d{1,7})(?:\.(\d{1,2}))?")


def pounds_to_pence(text: str) -> int | None:
    """'12', '12.5', '£1,234.56' -> pence; None when it is not an amount of money."""
    cleaned = text.strip().removeprefix("£").replace(",", "").strip()
    match = _POUNDS.fullmatch(cleaned)
    if not match:
        return None
    pounds, pence = match.groups()
    return int(pounds) * 100 + int((pence or "0").ljust(2, "0"))


class RefundForm(forms.Form):
    """`penalties`: the payment's lines to choose from (a payment for several penalties must
    say which one the refund is for; with one, it is that one)."""

    amount = forms.CharField(max_length=20, required=False)
    reason = forms.ChoiceField(choices=list(REASONS.items()), required=False)
    detail = forms.CharField(max_length=500, required=False)
    penalty = forms.CharField(max_length=8, required=False)

    def __init__(self, *args, penalties: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.penalties = penalties or []

    def clean_penalty(self) -> str:
        chosen = self.cleaned_data.get("penalty", "")
        if len(self.penalties) <= 1:
            return self.penalties[0] if self.penalties else ""
        if chosen not in self.penalties:
            raise forms.ValidationError("Choose which penalty the refund is for")
        return chosen

    def clean_amount(self) -> int:
        raw = self.cleaned_data.get("amount", "")
        if not raw.strip():
            raise forms.ValidationError("Enter the amount to refund")
        pence = pounds_to_pence(raw)
        if pence is None:
            raise forms.ValidationError("Enter an amount in pounds and pence, for example 12.50")
        if pence < 1:
            raise forms.ValidationError("Enter an amount of at least 1p")
        return pence

    def clean_reason(self) -> str:
        reason = self.cleaned_data.get("reason", "")
        if not reason:
            raise forms.ValidationError("Choose a reason for the refund")
        return reason

    def clean(self):
        data = super().clean() or {}
        if data.get("reason") == "other" and not (data.get("detail") or "").strip():
            self.add_error("detail", "Say why the keeper is owed this refund")
        return data


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], required=False)
    note = forms.CharField(max_length=500, required=False)

    def clean_decision(self) -> str:
        decision = self.cleaned_data.get("decision", "")
        if not decision:
            raise forms.ValidationError("Choose whether to approve or reject the refund")
        return decision

    def clean(self):
        data = super().clean() or {}
        if data.get("decision") == "reject" and not (data.get("note") or "").strip():
            self.add_error("note", "Say why the refund is rejected")
        return data


class PhoneFindForm(forms.Form):
    reference = forms.CharField(max_length=20, required=False)
    registration = forms.CharField(max_length=20, required=False)

    def clean_reference(self) -> str:
        value = normalise_reference(self.cleaned_data.get("reference", ""))
        if not value:
            raise forms.ValidationError("Enter the penalty reference")
        if not is_valid_reference(value):
            raise forms.ValidationError("The penalty reference is 8 numbers, for example 1234 5678")
        return value

    def clean_registration(self) -> str:
        value = normalise_vrm(self.cleaned_data.get("registration", ""))
        if not value:
            raise forms.ValidationError("Enter the vehicle registration number")
        if not is_valid_vrm(value):
            raise forms.ValidationError("Enter the registration as it is on the letter, for example CU57 ABC")
        return value


class PaymentLinkForm(PhoneFindForm):
    """Where to send a payment link: an email address, or a mobile number (text message,
    where Notify has a template for it), and the keeper's language."""

    link_email = forms.CharField(max_length=254, required=False)
    mobile = forms.CharField(max_length=20, required=False)
    language = forms.ChoiceField(choices=[("en", "English"), ("cy", "Welsh")], required=False)

    def clean_link_email(self) -> str:
        value = self.cleaned_data.get("link_email", "").strip()
        if value:
            try:
                validate_email(value)
            except forms.ValidationError:
                raise forms.ValidationError(
                    "Enter the email address in the correct format, like name@example.com"
                ) from None
        return value

    def clean_mobile(self) -> str:
        value = re.sub(r"[\s()-]", "", self.cleaned_data.get("mobile", ""))
        if value and not re.fullmatch(r"(\+44|0)7[0-9]{9}", value):
            raise forms.ValidationError("Enter a UK mobile number, like 07700 900982")
        return value

    def clean_language(self) -> str:
        return self.cleaned_data.get("language") or "en"

    def clean(self):
        data = super().clean() or {}
        if not self.errors and not data.get("link_email") and not data.get("mobile"):
            self.add_error("link_email", "Enter the keeper's email address")
        return data


class PhoneTakeForm(PhoneFindForm):
    email = forms.EmailField(
        max_length=254,
        required=False,
        error_messages={"invalid": "Enter the email address in the correct format, like name@example.com"},
    )
