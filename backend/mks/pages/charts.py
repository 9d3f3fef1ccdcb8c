"""Small charts (sparklines) drawn on the server as inline SVG: the pages' CSP lets no script draw them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

WIDTH = 160
HEIGHT = 40
# Keeps the stroke (and the round cap of a lone point) inside the view box on every side.
MARGIN = 2.0

Point = tuple[float, float]  # (time, value), as mks.services.trends reads them


def _coordinate(value: float) -> str:
    # One decimal is finer than a pixel at this size; adding 0.0 turns -0.0 into 0.0.
    return f"{round(value, 1) + 0.0:g}"


def sparkline_path(points: Sequence[Point], start: float, end: float, step: float) -> str:
    """The `d` of an SVG path through the points in a WIDTH × HEIGHT view box.

    x is the time over [start, end] (clamped to it); y runs from 0 (or the lowest value, if below 0) at the
    bottom to the highest value at the top, so a flat series lies at the top, or on the bottom when it is 0.
    A value that is not finite (NaN: a quantile without requests) or a step without a point breaks the line,
    as Grafana draws it; a point alone becomes a dot. Empty when there is no finite value.
    """
    runs: list[list[Point]] = []
    previous: float | None = None
    for at, value in points:
        if not math.isfinite(value):
            previous = None
            continue
        if previous is None or at - previous > 1.5 * step:
            runs.append([])
        runs[-1].append((at, value))
        previous = at
    values = [value for run in runs for _, value in run]
    if not values:
        return ""
    low, high = min(0.0, *values), max(values)
    duration = end - start

    def x(at: float) -> float:
        share = min(max((at - start) / duration, 0.0), 1.0) if duration > 0 else 1.0
        return MARGIN + share * (WIDTH - 2 * MARGIN)

    def y(value: float) -> float:
        share = (value - low) / (high - low) if high > low else 0.0
        return HEIGHT - MARGIN - share * (HEIGHT - 2 * MARGIN)

    parts = []
    for run in runs:
        moves = [f"{_coordinate(x(at))},{_coordinate(y(value))}" for at, value in run]
        # A zero-length segment with round caps is how SVG draws a dot on a path.
        parts.append(f"M{moves[0]} " + (" ".join(f"L{move}" for move in moves[1:]) if len(moves) > 1 else "h0"))
    return " ".join(parts)


@dataclass(frozen=True)
class Sparkline:
    """One chart as the page shows it: its name, the latest value written out, and the path."""

    title: str
    latest: str | None  # None without data
    path: str

    width: ClassVar[int] = WIDTH
    height: ClassVar[int] = HEIGHT

    @property
    def label(self) -> str:
        """What a screen reader says for the chart."""
        return f"過去1時間の{self.title}。" + (f"最新 {self.latest}" if self.latest is not None else "データなし")


def sparkline(
    title: str, points: Sequence[Point], start: float, end: float, step: float, written: Callable[[float], str]
) -> Sparkline:
    """The chart of the points; the latest finite value written with `written`."""
    latest = next((value for _, value in reversed(points) if math.isfinite(value)), None)
    return Sparkline(title, written(latest) if latest is not None else None, sparkline_path(points, start, end, step))
