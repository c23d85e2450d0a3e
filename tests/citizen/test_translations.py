"""Every string the keeper's pages, emails and messages use has its Welsh: a new English
string without Welsh fails here (run `make messages`, then translate it)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "penaltypay/locale/cy/LC_MESSAGES/django.po"


def strings_in_the_code() -> set[str]:
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "gettext_noop": None, "gettext_lazy": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def welsh_catalogue():
    with open(CATALOGUE, "rb") as po:
        return read_po(po, locale="cy")


def test_every_string_in_the_code_has_a_welsh_translation():
    catalogue = welsh_catalogue()
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalogue
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    code = strings_in_the_code()
    assert len(code) > 250  # the extraction found the pages (not an empty walk)
    assert sorted(code - translated) == []


def test_the_welsh_keeps_every_placeholder():
    """A missing %(amount)s would break the page; Babel's checkers compare them."""
    problems = [(m.id, [str(e) for e in errors]) for m, errors in welsh_catalogue().check()]
    assert problems == []


def test_no_welsh_is_a_copy_of_the_english():
    same = [m.id for m in welsh_catalogue() if m.id and m.string == m.id]
    assert sorted(same) == ["%(wallet)s (%(card)s)", "Beta"]
