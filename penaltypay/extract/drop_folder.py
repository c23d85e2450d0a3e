"""The scheduled job: load what is waiting in the drop folder, in sequence order."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from penaltypay.extract.importer import (
    ImportResult,
    import_file,
    import_lock,
    sort_key,
    until_first_applied,
)
from penaltypay.extract.models import ExtractImport

_PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".partial")


class UnsafeDropFolder(Exception):
    """The drop folder is writable by every user: anyone on the machine could plant a file."""


def check_folder_is_safe(folder: Path) -> None:
    mode = folder.stat().st_mode
    if mode & stat.S_IWOTH:
        raise UnsafeDropFolder(
            f"the extract drop folder {folder} is writable by every user; "
            "make it writable by the transfer account only (e.g. chmod o-w)"
        )


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.name}.{n}"
        n += 1
    shutil.move(str(path), str(target))
    return target


def import_drop_folder(
    folder: str | os.PathLike | None = None,
    *,
    settle_seconds: float | None = None,
    first_sequence: int | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """The scheduled job: load what is waiting in the drop folder, in sequence order.

    Loaded (and already-loaded) files move to `loaded/`, rejected ones to `rejected/`
    with a `.reason.txt` beside them. A file whose sequence is ahead of the next
    expected stays where it is (it loads by itself once the missing file arrives),
    and so do the files after a rejected one. Hidden files, names ending in
    .part/.tmp/.filepart/.partial and files changed in the last `settle_seconds`
    (still being written) are left for the next run.
    """
    folder = Path(folder or settings.EXTRACT_DROP_DIR)
    settle = float(settings.EXTRACT_DROP_SETTLE_SECONDS if settle_seconds is None else settle_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    check_folder_is_safe(folder)
    now = time.time()
    candidates = [
        path
        for path in folder.iterdir()
        # A link could point anywhere on the machine: only regular files placed here are loaded.
        if not path.is_symlink()
        and path.is_file()
        and not path.name.startswith(".")
        and not path.name.lower().endswith(_PARTIAL_SUFFIXES)
        and not path.name.endswith(".reason.txt")
        and now - path.stat().st_mtime >= settle
    ]
    results = []
    with import_lock():
        for path in sorted(candidates, key=sort_key):
            result = import_file(path, first_sequence=until_first_applied(first_sequence))
            results.append(result)
            if on_result:
                on_result(result)
            if result.outcome in (ExtractImport.APPLIED, ExtractImport.ALREADY_LOADED):
                _move(path, folder / "loaded")
                continue
            if result.waiting:
                break
            moved = _move(path, folder / "rejected")
            moved.with_name(moved.name + ".reason.txt").write_text(result.reason + "\n", encoding="utf-8")
            if result.sequence is not None:
                break  # the later files cannot be next: leave them for after the fix
    return results
