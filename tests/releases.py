"""The release before this one, as a tree of its own that can run beside this one
(tests/operations/test_release.py, docs/runbook.md "Releases").

Which release: `PENALTYPAY_PREVIOUS_RELEASE` (a tag or commit) when set; otherwise the newest
tag `release/*` that HEAD contains and that is not HEAD itself — the release pipeline tags
each release as it is deployed, so this is what production runs now. A checkout without
that history (a shallow clone, an export) rolls this release over itself, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAGS = "release/*"


@dataclass(frozen=True)
class Release:
    name: str  # what the test prints
    commit: str  # "" for this checkout


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


def previous_release() -> Release:
    head = _git("rev-parse", "HEAD")
    asked = os.environ.get("PENALTYPAY_PREVIOUS_RELEASE", "")
    if asked:
        commit = _git("rev-parse", f"{asked}^{{commit}}")
        if not commit:
            raise AssertionError(f"PENALTYPAY_PREVIOUS_RELEASE={asked}: no such tag or commit here")
        return Release(asked, commit)
    for tag in _git("tag", "--list", TAGS, "--merged", "HEAD", "--sort=-creatordate").splitlines():
        commit = _git("rev-parse", f"{tag}^{{commit}}")
        if commit and commit != head:
            return Release(tag, commit)
    return Release("this release (no earlier release tag in this checkout)", "")


def tree_of(release: Release, into: Path) -> Path:
    """The release's files, ready to run: its code and translations; this checkout's installed
    packages, front-end files and compiled CSS (a release that changes those is run with the
    new ones, which the wheel test and the browser tests cover)."""
    if not release.commit:
        return ROOT
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", release.commit],
        capture_output=True,
        check=True,
        timeout=120,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True, timeout=120)
    for shared in ("node_modules", "build"):
        if (ROOT / shared).exists() and not (into / shared).exists():
            (into / shared).symlink_to(ROOT / shared)
    subprocess.run(
        [
            Path(sys.executable).with_name("pybabel"),
            "compile",
            "--domain",
            "django",
            "--directory",
            str(into / "penaltypay/locale"),
            "--locale",
            "cy",
            "--use-fuzzy",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return into
