"""The Jinja2 environment: GOV.UK Frontend macros, Django's URL reversing and gettext."""

from __future__ import annotations

from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext
from jinja2 import (
    ChoiceLoader,
    Environment,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)

from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.money import format_pence


def _url(name: str, *args, **kwargs) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def _london_date(value) -> str:
    """'14 December 2026' — GOV.UK style, no leading zero."""
    if value is None:
        return ""
    months = [
        gettext("January"),
        gettext("February"),
        gettext("March"),
        gettext("April"),
        gettext("May"),
        gettext("June"),
        gettext("July"),
        gettext("August"),
        gettext("September"),
        gettext("October"),
        gettext("November"),
        gettext("December"),
    ]
    return f"{value.day} {months[value.month - 1]} {value.year}"


def _london_time(value) -> str:
    """An instant as staff read it: '28 Nov 2026 14:05:09' in Europe/London."""
    if value is None:
        return ""
    return value.astimezone(LONDON).strftime("%-d %b %Y %H:%M:%S")


def environment(**options) -> Environment:
    django_loader = options.pop("loader", None)
    # HTML is escaped; the plain-text email templates are not.
    options["autoescape"] = select_autoescape(["html", "xml"], default_for_string=True, default=False)
    options["extensions"] = list(options.get("extensions", [])) + ["jinja2.ext.i18n", "jinja2.ext.do"]
    env = Environment(**options)  # noqa: S701 - autoescape is set just above (HTML on, text off)
    # Django's Jinja2 backend hands us its app-directory loader; keep it and add
    # the GOV.UK Frontend macros under their documented prefix.
    loaders = [env.loader] if env.loader else []
    if django_loader:
        loaders.insert(0, django_loader)
    loaders.append(PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja", "templates")}))
    env.loader = ChoiceLoader(loaders)
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
    env.globals.update(
        {
            "url": _url,
            "static": static,
            "get_language": translation.get_language,
        }
    )
    env.filters["pence"] = format_pence
    env.filters["long_date"] = _london_date
    env.filters["london_time"] = _london_time
    return env
