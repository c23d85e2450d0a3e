"""`penaltypay import-extract FILE...` / `penaltypay import-extract --drop-folder`.

Loads nightly ECS extracts into the local case store in sequence order
(docs/extract-import.md, docs/runbook.md). Exit status: 0 when every file was
applied or already loaded; 1 when a file was rejected whole (or failed); 2 when
another import is running or the command was misused.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from penaltypay.extract import importer
from penaltypay.extract.drop_folder import UnsafeDropFolder, import_drop_folder
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue

SHOWN_RECORDS = 20


class Command(BaseCommand):
    help = "Load nightly ECS extract files (or the drop folder) into the local case store."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", metavar="FILE", help="ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT files")
        parser.add_argument(
            "--drop-folder",
            nargs="?",
            const="",
            default=None,
            metavar="DIR",
            help="load what waits in the drop folder (default EXTRACT_DROP_DIR); the scheduled job",
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object a file, one a line")
        parser.add_argument(
            "--first-sequence",
            type=int,
            default=None,
            metavar="N",
            help="the sequence of the very first file (only before anything has been loaded)",
        )

    def handle(self, *args, files=(), drop_folder=None, as_json=False, first_sequence=None, **options):
        if bool(files) == (drop_folder is not None):
            raise CommandError("give FILE arguments or --drop-folder (one of them)", returncode=2)
        if first_sequence is not None and not 0 <= first_sequence <= 999_999:
            raise CommandError("--first-sequence must be between 0 and 999999", returncode=2)
        show = self._show_json if as_json else self._show_text
        try:
            importer.expected_sequence(first_sequence)
            if drop_folder is not None:
                results = import_drop_folder(drop_folder or None, first_sequence=first_sequence, on_result=show)
            else:
                results = importer.import_files(files, first_sequence=first_sequence, on_result=show)
        except importer.ImportBusy as busy:
            raise CommandError(f"{busy}; try again when it has finished", returncode=2) from None
        except (ValueError, UnsafeDropFolder) as error:
            raise CommandError(str(error), returncode=2) from None
        if not as_json and not results:
            self.stdout.write("nothing to load")
        bad = [r for r in results if r.outcome in (ExtractImport.REJECTED, ExtractImport.FAILED)]
        if bad:
            raise CommandError(f"{len(bad)} of {len(results)} file(s) not loaded", returncode=1)

    # --- output ----------------------------------------------------------------------

    @staticmethod
    def _issues(run_id, kind):
        if run_id is None:
            return iter(())
        return (
            ExtractRecordIssue.objects.filter(run_id=run_id, kind=kind)
            .order_by("line", "id")
            .values_list("line", "reference", "field", "reason")
            .iterator(chunk_size=5000)
        )

    def _show_json(self, result: importer.ImportResult) -> None:
        """Streams the record lists, so a file with many rejections does not fill memory."""
        head = json.dumps(result.summary())

        def write(piece: str) -> None:
            self.stdout.write(piece, ending="")

        write(head[:-1] + ', "rejected_records": [')
        for n, (line, reference, field, reason) in enumerate(self._issues(result.run_id, ExtractRecordIssue.REJECTED)):
            write(
                ("," if n else "")
                + json.dumps({"line": line, "reference": reference, "field": field, "reason": reason})
            )
        write('], "conflict_records": [')
        for n, (line, reference, _field, reason) in enumerate(self._issues(result.run_id, ExtractRecordIssue.CONFLICT)):
            write(("," if n else "") + json.dumps({"line": line, "reference": reference, "reason": reason}))
        write("]}\n")
        self.stdout.flush()

    def _show_text(self, result: importer.ImportResult) -> None:
        sequence = f"{result.sequence:06d}" if result.sequence is not None else "-"
        if result.outcome == ExtractImport.REJECTED:
            self.stdout.write(f"{result.file}  sequence {sequence}  REJECTED: {result.reason}")
            return
        if result.outcome != ExtractImport.APPLIED:
            self.stdout.write(f"{result.file}  sequence {sequence}  {result.outcome}  {result.reason}".rstrip())
            return
        self.stdout.write(
            f"{result.file}  sequence {sequence}  applied: read {result.read}, applied {result.applied}, "
            f"rejected {result.rejected}, conflicts {result.conflicts}  ({result.seconds:.2f} s, {result.method})"
        )
        for kind, count in (
            (ExtractRecordIssue.REJECTED, result.rejected),
            (ExtractRecordIssue.CONFLICT, result.conflicts),
        ):
            for n, (line, _reference, field, reason) in enumerate(self._issues(result.run_id, kind)):
                if n == SHOWN_RECORDS:
                    self.stdout.write(
                        f"  ... and {count - SHOWN_RECORDS} more: /staff/extract-imports/{result.run_id}/{kind}.csv"
                    )
                    break
                self.stdout.write(f"  line {line}: {kind} {field}: {reason}")
