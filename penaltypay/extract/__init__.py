"""The nightly ECS extract (ICD section 2): reading, checking, loading and generating it.

- `layout`: the fixed-width layout and how to write records (no Django).
- `parser`: the streaming reader, whole-file and record rules (no Django).
- `rules`: when an extract counts as cut, and the cases it must not overwrite.
- `importer`: one run (run records, one import at a time, the method for the database);
  `orm_load` (SQLite, any database) and `postgres_load` (COPY and a set-based merge)
  apply a file; `drop_folder` is the scheduled job.
- `generator`: realistic extracts of any size, with a share of bad records on request.

The rules: docs/extract-import.md; decisions where the ICD is silent:
docs/adr/0007-extract-import.md.
"""
