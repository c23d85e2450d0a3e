"""What every back-office page does alike: audit the action, answer "not found", read the
page number, stream a CSV download."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from penaltypay.audit.log import record
from penaltypay.security import client_address

PAGE_SIZE = 25


def audit(
    request: HttpRequest,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    detail: str = "",
    outcome: str = "success",
) -> None:
    record(
        request.user.get_username(),
        action,
        object_type=object_type,
        object_id=object_id,
        address=client_address(request),
        detail=detail,
        outcome=outcome,
    )


def not_found(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "staff/not_found.html", {"message": message}, status=404)


def page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    """A spreadsheet must not take a cell for a formula (CSV injection). A number is written
    as a number (a refund's -4000 pence stays a number finance can add up); only text that
    starts like a formula is quoted."""
    text = str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(header: list[str], rows: Iterator[list[object]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    safe = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in filename)
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response
