"""The Jinja2 environment: GOV.UK Frontend macros, Django's URL reversing and gettext."""

from __future__ import annotations

from django.core.signals import setting_changed
from django.dispatch import receiver
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
from markupsafe import Markup

from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.money import format_pence
from penaltypay.web.formats import long_date
from penaltypay.web.language import language_url


def _url(name: str, *args, **kwargs) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def _london_clock(value) -> str:
    """'06:00': the time of an instant in Europe/London, 24-hour (the same in Welsh)."""
    return value.astimezone(LONDON).strftime("%H:%M") if value else ""


def _london_time(value) -> str:
    """An instant as staff read it: '28 Nov 2026 14:05:09' in Europe/London."""
    if value is None:
        return ""
    return value.astimezone(LONDON).strftime("%-d %b %Y %H:%M:%S")


# Fragments the same for every request in one language, rendered once per process: the
# Design System's header, footer and phase banner were a large share of every page's CPU.
_FRAGMENTS: dict[tuple[str, str], Markup] = {}


def _fragments_of(env: Environment):
    def fragment(name: str) -> Markup:
        """A template with no request in it (only the language, URLs and static paths),
        rendered once per language and kept."""
        key = (name, translation.get_language() or "")
        html = _FRAGMENTS.get(key)
        if html is None:
            html = _FRAGMENTS[key] = Markup(env.get_template(name).render())  # noqa: S704 - our template's output
        return html

    return fragment


@receiver(setting_changed)
def _forget_fragments(**kwargs) -> None:
    """A setting that URLs or static paths hang on changed (tests): render them afresh."""
    _FRAGMENTS.clear()


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
            "language_url": language_url,
            "fragment": _fragments_of(env),
        }
    )
    env.filters["pence"] = format_pence
    env.filters["long_date"] = long_date
    env.filters["london_time"] = _london_time
    env.filters["london_clock"] = _london_clock
    return env
