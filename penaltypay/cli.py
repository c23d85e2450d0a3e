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
    if argv in (["--version"], ["version"]):  # Django's own --version names Django's
        import django

        django.setup()
        from penaltypay.operations.release import expected_schema, release_name

        print(f"penaltypay {release_name()}")
        print("schema: " + ", ".join(f"{app} {name}" for app, name in expected_schema().items()))
        return
    if argv and not argv[0].startswith("-"):
        argv[0] = argv[0].replace("-", "_")
    execute_from_command_line(["penaltypay", *argv])


if __name__ == "__main__":
    main()
