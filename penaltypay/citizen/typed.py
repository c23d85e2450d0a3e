"""What the keeper typed survives a change of language: the page's script sends the form
with `switch_language` (shown again, unchecked); without JavaScript the switch is a link,
and the page shows again what was last sent from it."""

from __future__ import annotations

from django import forms

from penaltypay.web.language import SWITCHED_KEY

SWITCH = "switch_language"


def as_typed(form_class: type[forms.Form], data) -> forms.Form:
    """The form showing `data` unchecked: no error messages for what was not sent yet."""
    form = form_class()
    form.data = {name: data.get(name, "") for name in form.fields}
    return form


def remember(request, page: str, form_class: type[forms.Form]) -> None:
    """Keep what was sent from this page (for this session only)."""
    request.session[f"typed:{page}"] = {name: request.POST.get(name, "")[:2000] for name in form_class.base_fields}


def after_switch(request, page: str, form_class: type[forms.Form]) -> forms.Form | None:
    """The form as last sent, when this page was just reached by the language switch."""
    if request.session.get(SWITCHED_KEY) != request.path:
        return None
    del request.session[SWITCHED_KEY]
    data = request.session.get(f"typed:{page}")
    return as_typed(form_class, data) if data else None


def switched(request, page: str, form_class: type[forms.Form]) -> forms.Form | None:
    """The form to show without acting on it, if the language switch brought us here."""
    if request.method == "POST" and SWITCH in request.POST:
        return as_typed(form_class, request.POST)
    if request.method == "GET":
        return after_switch(request, page, form_class)
    return None
