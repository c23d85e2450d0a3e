"""Which release this is, and which schema it expects: `penaltypay --version` and /healthz
name both, so an operator can tell during a rollout which pods run which release and whether
its migrations are in (runbook: "Releasing")."""

from __future__ import annotations

import functools
import os
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def release_name() -> str:
    """`PENALTYPAY_RELEASE` (the image's build argument: the commit it was built from), else
    this checkout's commit, else the package's version."""
    if named := os.environ.get("PENALTYPAY_RELEASE", "").strip():
        return named
    version = metadata.version("penaltypay")
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--exclude", "*"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}" if commit else version


@functools.cache
def expected_schema() -> dict[str, str]:
    """The newest migration of each of our apps in this release (read from its files, not the
    database: the liveness probe asks nothing of the database)."""
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    ours = {config.label for config in apps.get_app_configs() if config.name.startswith("penaltypay.")}
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {app: name for app, name in sorted(loader.graph.leaf_nodes()) if app in ours}
