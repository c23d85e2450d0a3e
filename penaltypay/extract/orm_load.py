"""Applying an extract through the ORM (SQLite, any database): bulk upserts, one transaction."""

from __future__ import annotations

from datetime import datetime

from penaltypay.cases.store import store_extract_cases
from penaltypay.extract import parser
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.extract.reader import ExtractReader
from penaltypay.extract.rules import (
    CASE_COLUMNS,
    CONFLICT_REASON,
    conflict_references,
    finish_details,
)


class OrmLoad:
    BATCH = 2000

    def __init__(self, run: ExtractImport, cut: datetime):
        self.run = run
        self.conflicts = conflict_references(cut)

    def load(self, reader: ExtractReader) -> tuple[int, int, int, int]:
        applied = rejected = conflicts = 0
        total = 0
        update_fields = [name for name in CASE_COLUMNS if name != "reference"]
        issues: list[ExtractRecordIssue] = []
        for first, lines in reader.batches():
            records = []
            for line_no, line in enumerate(lines, first):
                fields = parser.parse_detail(line)
                if fields is None:
                    total += parser.penalty_of(line)
                    field_name, reason = parser.explain_detail(line) or ("record", "record breaks a field rule")
                    issues.append(
                        ExtractRecordIssue(
                            run=self.run,
                            kind=ExtractRecordIssue.REJECTED,
                            line=line_no,
                            reference=parser.reference_of(line),
                            field=field_name,
                            reason=reason,
                        )
                    )
                    rejected += 1
                    continue
                total += int(fields[6])
                case = parser.fields_to_case(fields)
                if case.reference in self.conflicts:
                    issues.append(
                        ExtractRecordIssue(
                            run=self.run,
                            kind=ExtractRecordIssue.CONFLICT,
                            line=line_no,
                            reference=case.reference,
                            field="reference",
                            reason=CONFLICT_REASON,
                        )
                    )
                    conflicts += 1
                    continue
                records.append(case)
                if len(records) >= self.BATCH:
                    applied += self._upsert(records, update_fields)
            applied += self._upsert(records, update_fields)
            if len(issues) >= self.BATCH:
                ExtractRecordIssue.objects.bulk_create(issues)
                issues = []
        ExtractRecordIssue.objects.bulk_create(issues)
        finish_details(reader, total)
        return reader.detail_count, applied, rejected, conflicts

    @staticmethod
    def _upsert(records: list, update_fields: list[str]) -> int:
        if not records:
            return 0
        count = store_extract_cases(records, update_fields)
        records.clear()
        return count
