"""The operator's entry point: `penaltypay SUBCOMMAND ...`.

Subcommands are Django management commands; dashes become underscores
(`penaltypay import-extract` runs `import_extract`). `penaltypay help` lists them.
"""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penaltypay.settings")
    if argv and not argv[0].startswith("-"):
        argv[0] = argv[0].replace("-", "_")
    execute_from_command_line(["penaltypay", *argv])


if __name__ == "__main__":
    main()
