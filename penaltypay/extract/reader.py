"""Reading an extract file as a stream of records: framing checks chunk by chunk
(ASCII, control characters, CRLF line ends, line length), header and trailer kept
aside, the SHA-256 of the bytes as they pass. Plain Python, no Django."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import BinaryIO

from penaltypay.extract.parser import CHUNK_BYTES, MAX_LINE_BYTES, FileRejected

_NOT_ASCII = re.compile(rb"[\x80-\xff]")


def _first(pattern: re.Pattern[bytes], segment: bytes) -> int:
    """Where `pattern` first matches (callers know it does)."""
    match = pattern.search(segment)
    return match.start() if match else 0


# Anything but printable ASCII and the CR/LF of line ends. (Non-ASCII is found first.)
# `translate` finds out whether there is any in C at memory speed; the regular
# expression (slow) only locates the first one in a file about to be rejected.
_PRINTABLE_AND_LINE_ENDS = bytes(range(0x20, 0x7F)) + b"\r\n"
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e\r\n]")


class ExtractReader:
    """Reads an extract in chunks, checking its framing as it goes.

    `header()` returns the first record; `batches()` then yields
    `(first_line_number, [detail records])` for the records between header and
    trailer; after it, `trailer` is the last record (None when the file ends after
    the header) and `detail_count` is how many details there were. Every byte read
    is hashed (`sha256`). Any framing fault raises `FileRejected`: the file is not
    ASCII, holds a control character, or a line does not end with CRLF.
    """

    def __init__(self, stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES):
        self._stream = stream
        self._chunk_bytes = chunk_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        self._tail = b""  # bytes after the last line end read so far
        self._lines_done = 0  # complete lines returned by _next_lines so far
        self._pending: list[bytes] = []
        self._header: bytes | None = None
        self._eof = False
        self.trailer: bytes | None = None
        self.detail_count = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _reject_at(self, segment: bytes, position: int, reason: str) -> FileRejected:
        line = self._lines_done + segment.count(b"\n", 0, position) + 1
        return FileRejected(reason.format(line=line))

    def _next_lines(self) -> list[bytes] | None:
        """The next complete lines (without CRLF), checked; None at the end of the file."""
        pieces = [self._tail] if self._tail else []  # a line still without its end
        pending = len(self._tail)
        while True:
            chunk = self._stream.read(self._chunk_bytes)
            if not chunk:
                if pending:
                    raise FileRejected(f"line {self._lines_done + 1} does not end with CRLF")
                return None
            self._hash.update(chunk)
            self.size += len(chunk)
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pieces.append(chunk)
                pending += len(chunk)
                if pending > MAX_LINE_BYTES:
                    raise FileRejected(f"line {self._lines_done + 1} has no line end within {MAX_LINE_BYTES} bytes")
                continue
            if pieces:
                pieces.append(chunk[:cut])
                segment = b"".join(pieces)
            else:
                segment = chunk[:cut] if cut < len(chunk) else chunk
            self._tail = chunk[cut:]
            self._check_characters(segment)
            lines = segment.split(b"\r\n")
            line_feeds = segment.count(b"\n")
            if len(lines) - 1 != line_feeds or segment.count(b"\r") != line_feeds:
                self._reject_bare_line_end(segment)
            lines.pop()  # the segment ends with CRLF: the last piece is empty
            self._lines_done += len(lines)
            if len(self._tail) > MAX_LINE_BYTES:
                raise FileRejected(f"line {self._lines_done + 1} has no line end within {MAX_LINE_BYTES} bytes")
            return lines

    def _check_characters(self, segment: bytes) -> None:
        if not segment.isascii():
            position = _first(_NOT_ASCII, segment)
            raise self._reject_at(segment, position, f"not ASCII: byte 0x{segment[position]:02X} at line {{line}}")
        if segment.translate(None, _PRINTABLE_AND_LINE_ENDS):
            position = _first(_NOT_PRINTABLE, segment)
            raise self._reject_at(segment, position, f"control character 0x{segment[position]:02X} at line {{line}}")

    def _reject_bare_line_end(self, segment: bytes) -> None:
        """A bare LF or a bare CR somewhere: reject at the first line not ended by CRLF."""
        start = 0
        while True:
            end = segment.index(b"\n", start)
            carriage = segment.find(b"\r", start, end)
            if end == start or carriage != end - 1:
                raise self._reject_at(segment, start, "line {line} does not end with CRLF")
            start = end + 1

    def header(self) -> bytes:
        if self._header is None:
            lines = self._next_lines()
            if lines is None:
                raise FileRejected("file is empty: missing header")
            self._header = lines[0]
            self._pending = lines[1:]
        return self._header

    def batches(self) -> Iterator[tuple[int, list[bytes]]]:
        self.header()
        carried = self._pending  # the last line read so far may be the trailer: hold it back
        self._pending = []
        next_line = 2
        while True:
            lines = self._next_lines()
            if lines is None:
                break
            if carried:
                lines[:0] = carried
            carried = lines[-1:]
            del lines[-1]
            if lines:
                self.detail_count += len(lines)
                yield next_line, lines
                next_line += len(lines)
        if len(carried) > 1:
            details = carried[:-1]
            self.detail_count += len(details)
            yield next_line, details
            next_line += len(details)
        self.trailer = carried[-1] if carried else None
        self._eof = True

    def hash_rest(self) -> str:
        """Read (and hash) the rest of the file without checking it; the file's sha256."""
        while True:
            chunk = self._stream.read(self._chunk_bytes)
            if not chunk:
                return self.sha256
            self._hash.update(chunk)
            self.size += len(chunk)
