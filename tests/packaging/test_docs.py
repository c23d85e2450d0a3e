"""The README stays true: its layout names every package and top-level module of the
product, and its tests table every test folder. A new package that the README does not
mention fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_layout_names_every_package_and_top_level_module():
    layout = _section("Layout")
    packages = sorted(p.name for p in (ROOT / "penaltypay").iterdir() if (p / "__init__.py").exists())
    modules = sorted(p.name for p in (ROOT / "penaltypay").glob("*.py") if p.name != "__init__.py")
    missing = [f"{name}/" for name in packages if not re.search(rf"\b{name}/", layout)]
    missing += [name for name in modules if name not in layout]
    assert missing == [], f"README's layout does not name: {missing}"


def test_the_tests_table_names_every_test_folder():
    table = _section("Tests")
    folders = sorted(p.name for p in (ROOT / "tests").iterdir() if (p / "__init__.py").exists())
    missing = [name for name in folders if f"tests/{name}`" not in table]
    assert missing == [], f"README's tests table does not name: {missing}"
