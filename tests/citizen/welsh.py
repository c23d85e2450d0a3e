"""Reading a page's words, to find English left on a Welsh page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Words that are the same in both languages: names, brands, codes (the cookies' names), the
# choice of language.
SAME_IN_BOTH = {
    "GOV.UK",
    "Beta",
    "English",
    "Cymraeg",
    "GOV.UK Pay",
    "GOV.UK Notify",
    "sessionid",
    "csrftoken",
    "language",
    "receipt",
}


class _Texts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip: list[str] = []  # open elements whose text is not prose (scripts, other-language bits)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style", "svg") or (tag != "html" and attributes.get("lang") == "en"):
            self._skip.append(tag)
        elif self._skip and tag == self._skip[-1]:
            self._skip.append(tag)

    def handle_endtag(self, tag):
        if self._skip and tag == self._skip[-1]:
            self._skip.pop()

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self._skip:
            self.texts.append(text)


def visible_texts(html: str) -> list[str]:
    parser = _Texts()
    parser.feed(html)
    texts = parser.texts
    title = re.search(r"<title[^>]*>(.*?)</title>", html, re.S)
    return texts + ([" ".join(title.group(1).split())] if title else [])


def is_prose(text: str) -> bool:
    """Words a keeper reads (not a reference, an amount, a registration or a name)."""
    if text in SAME_IN_BOTH:
        return False
    return len(re.findall(r"[a-z]{3,}", text)) >= 1 and not re.fullmatch(r"[A-Z0-9 £.,:–-]+", text)


def english_left(welsh_html: str, english_html: str) -> list[str]:
    """Prose on the Welsh page that is word for word on the English page."""
    english = {t for t in visible_texts(english_html) if is_prose(t)}
    return sorted({t for t in visible_texts(welsh_html) if t in english})
