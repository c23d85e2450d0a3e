"""Searching payments and refunds: the query parameters, their checks, and the pages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from standins.pay.model import MAX_DISPLAY_SIZE, ApiError


@dataclass(frozen=True)
class Query:
    params: dict[str, str]
    page: int
    size: int

    def text(self, name: str) -> str | None:
        return self.params.get(name) or None

    def moment(self, name: str) -> datetime | None:
        text = self.params.get(name)
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise invalid(name, "Must be an ISO 8601 date and time") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def day(self, name: str) -> date | None:
        text = self.params.get(name)
        if not text:
            return None
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise invalid(name, "Must be an ISO 8601 date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise invalid(name, "Must be an ISO 8601 date (YYYY-MM-DD)") from None


def settled_between(settled_on: date | None, start: date | None, end: date | None, today: date) -> bool:
    """A settled-date filter: with either bound, only what has settled by today, in [start, end)."""
    if start is None and end is None:
        return True
    if settled_on is None or settled_on > today:
        return False
    return (start is None or settled_on >= start) and (end is None or settled_on < end)


def invalid(name: str, what: str) -> ApiError:
    return ApiError(422, "P0401", f"Invalid parameters: {name}. {what}", name)


def _whole(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text in (None, ""):
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise invalid(name, f"Must be a whole number from {low} to {high}")
    return int(text)


def parse(query: str) -> Query:
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return Query(
        params=params,
        page=_whole(params, "page", 1, 1, 10**9),
        size=_whole(params, "display_size", MAX_DISPLAY_SIZE, 1, MAX_DISPLAY_SIZE),
    )


def page_of(
    query: Query,
    matches: Sequence[Any],
    render: Callable[[Any], dict],
    base: str,
    path: str,
    *,
    links_key: str = "_links",
) -> dict:
    """One page of results. A page past the last one is an empty page, not an error: the
    published API documents no 404 for a search (docs/adr/0009). The dispute search's
    schema names its links `links`, the others `_links`."""
    pages_total = max(1, math.ceil(len(matches) / query.size))
    chosen = matches[(query.page - 1) * query.size : query.page * query.size]

    def link(number: int) -> dict:
        wanted = {k: v for k, v in query.params.items() if k != "page"}
        wanted["page"] = str(number)
        return {"href": f"{base}{path}?{urlencode(wanted)}"}

    links = {"self": link(query.page), "first_page": link(1), "last_page": link(pages_total)}
    if 1 < query.page <= pages_total + 1:
        links["prev_page"] = link(query.page - 1)
    if query.page < pages_total:
        links["next_page"] = link(query.page + 1)
    results = [render(item) for item in chosen]
    return {"total": len(matches), "count": len(results), "page": query.page, "results": results, links_key: links}
