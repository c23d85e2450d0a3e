"""Bar charts drawn on the server as SVG (no JavaScript): the geometry here, the markup in
staff/_bar_chart.html, and the same numbers in a table beneath every chart."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, GUTTER, AXIS = 640, 220, 4, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float
    shown: str


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT + AXIS
    maximum_shown: str = ""


def bar_chart(title: str, points: list[tuple[str, float, str]]) -> Chart:
    """`points`: (label, value, value as shown). One bar per point, scaled to the largest."""
    top = max((value for _, value, _ in points), default=0) or 1
    slot = WIDTH / max(1, len(points))
    bars = [
        Bar(
            x=index * slot + GUTTER / 2,
            y=HEIGHT - HEIGHT * value / top,
            width=max(1.0, slot - GUTTER),
            height=HEIGHT * value / top,
            label=label,
            value=value,
            shown=shown,
        )
        for index, (label, value, shown) in enumerate(points)
    ]
    if not points:
        description = "No data for this period."
    else:
        biggest = max(points, key=lambda point: point[1])
        description = (
            f"{len(points)} bars from {points[0][0]} to {points[-1][0]}; the highest is "
            f"{biggest[2]} ({biggest[0]}). The table below has every figure."
        )
    return Chart(title, description, bars, maximum_shown=max(points, key=lambda p: p[1])[2] if points else "0")
