"""The README stays true: its layout names every package and top-level module of the
product, and its tests table every test folder. A new package that the README does not
mention fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_import_graph_and_the_worker_jobs_in_the_docs_are_the_codes():
    """docs/architecture.md's import graph and the worker's parts in the README and the
    architecture doc are written by scripts/docs-from-code; this fails when they drift."""
    checked = subprocess.run(
        [sys.executable, "scripts/docs-from-code", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("module", ["standins.pay", "standins.ecs"])
def test_each_stand_in_names_itself_in_its_help(module):
    shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.stdout.startswith(f"usage: python -m {module} ")
