"""The nightly ECS extract (ICD section 2): reading, checking, loading and generating it.

- `layout`: the fixed-width layout and how to write records (no Django).
- `parser`: the streaming reader, whole-file and record rules (no Django).
- `loader`: the import into the local case store (Django; PostgreSQL COPY, or any
  other database through the ORM), the run records and the drop folder.
- `generator`: realistic extracts of any size, with a share of bad records on request.

Decisions where the ICD is silent: docs/adr/0008-extract-import.md.
"""
