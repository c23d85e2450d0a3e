"""The hot loop of the PostgreSQL import: each detail record checked exactly as
`parser.parse_detail` checks it and written as a row of COPY text. Plain Python, no Django."""

from __future__ import annotations

from penaltypay.extract import layout
from penaltypay.extract.parser import SPACES8, VALID_DATES, match_detail, penalty_of

COPY_NULL = b"\\N"
COPY_STATUS = {code.encode("ascii"): status.encode("ascii") for code, status in layout.STATUS_BY_CODE.items()}


def copy_escape(value: bytes) -> bytes:
    """COPY text format: printable ASCII only reaches here (the reader rejects
    anything else), so the backslash is the one character to escape."""
    return value.replace(b"\\", b"\\\\") if b"\\" in value else value


def copy_batch(
    lines: list[bytes], first_line_no: int, tail: bytes, known: bytearray | None = None, seen: bytearray | None = None
) -> tuple[list[bytes], list[bytes], list[tuple[int, bytes]], int]:
    """The hot loop of the PostgreSQL import: checks each record exactly as
    `parse_detail` does (tests hold the two to the same verdicts) and formats the
    accepted ones as COPY text rows: the FIELDS columns (status as its ECS name),
    then `tail` (the constant last columns and the line end).

    Without `known`: every accepted row goes to `rows`, prefixed with its line number.
    With `known`/`seen` (bitmaps over 8-digit references): a row whose reference is
    in neither goes to `rows` without a line number and is added to `seen`; the
    others go to `staged`, prefixed with the line number.

    Returns (rows, staged, rejected [(line number, record)], penalty total).
    """
    rows: list[bytes] = []
    staged: list[bytes] = []
    rejected: list[tuple[int, bytes]] = []
    add_row, add_staged = rows.append, staged.append
    total = 0
    fullmatch, valid, spaces, null, status_text = match_detail, VALID_DATES, SPACES8, COPY_NULL, COPY_STATUS
    join = b"\t".join
    line_no = first_line_no - 1
    for line in lines:
        line_no += 1
        match = fullmatch(line)
        if match is not None:
            (
                ref,
                case_type,
                vrm,
                make,
                colour,
                issue,
                penalty,
                reduced,
                deadline,
                arrears,
                a_from,
                a_to,
                pay_by,
                status,
                paid,
            ) = match.groups()
            if issue in valid and pay_by in valid and reduced <= penalty:
                if deadline == spaces:
                    deadline = null
                elif deadline not in valid or reduced == penalty:
                    match = None
                if a_from == spaces:
                    if a_to != spaces:
                        match = None
                    a_from = a_to = null
                elif a_to == spaces or a_from not in valid or a_to not in valid or a_from > a_to:
                    match = None
            else:
                match = None
        if match is None:
            rejected.append((line_no, line))
            total += penalty_of(line)
            continue
        total += int(penalty)
        make, colour = make.strip(), colour.strip()
        if b"\\" in line:  # only the free-text fields can hold one
            make, colour = copy_escape(make), copy_escape(colour)
        row = join(
            (
                ref,
                case_type.rstrip(),
                vrm.rstrip(),
                make,
                colour,
                issue,
                penalty,
                reduced,
                deadline,
                arrears,
                a_from,
                a_to,
                pay_by,
                status_text[status],
                paid,
                tail,
            )
        )
        if known is None or seen is None:
            add_row(b"%d\t" % line_no + row)
            continue
        number = int(ref)
        index, bit = number >> 3, 1 << (number & 7)
        if (known[index] | seen[index]) & bit:
            add_staged(b"%d\t" % line_no + row)
        else:
            seen[index] |= bit
            add_row(row)
    return rows, staged, rejected, total
