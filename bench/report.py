"""Figures, targets and the Markdown table every benchmark reports into."""

from __future__ import annotations

import math
import operator
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Target:
    """A bound a figure must hold: ``value <comparator> bound``."""

    comparator: str
    bound: float

    def holds(self, value: float) -> bool:
        return _COMPARATORS[self.comparator](value, self.bound)


@dataclass(frozen=True)
class Figure:
    """One measured number, with the target it is held to (if any)."""

    benchmark: str
    name: str
    value: float
    unit: str
    target: Target | None = None
    # Context a reader needs to trust the value: medians behind a p95, counts behind a share.
    detail: str = ""

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return math.isfinite(self.value) and self.target.holds(self.value)


def at_most(bound: float) -> Target:
    return Target("<=", bound)


def at_least(bound: float) -> Target:
    return Target(">=", bound)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.5 = median, 0.95 = p95) of at least one sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def spread(ratios: Sequence[float]) -> str:
    """How the per-round ratios of a comparison spread: count, extremes and quartiles."""
    quartiles = f"{percentile(ratios, 0.25):.1f}〜{percentile(ratios, 0.75):.1f}"
    return f"{len(ratios)} ラウンドの比: 最小 {min(ratios):.1f}、四分位 {quartiles}、最大 {max(ratios):.1f}"


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _verdict(figure: Figure) -> str:
    return {True: "合格 (pass)", False: "**不合格 (FAIL)**", None: "—"}[figure.passed]


def table(figures: Sequence[Figure]) -> str:
    """The figures as one Markdown table: benchmark, figure, value, target, verdict, detail."""
    lines = ["| ベンチマーク | 項目 | 値 | 目標 | 判定 | 詳細 |", "|---|---|---:|---:|---|---|"]
    for figure in figures:
        target = f"{figure.target.comparator} {_number(figure.target.bound)} {figure.unit}" if figure.target else "—"
        value = f"{_number(figure.value)} {figure.unit}"
        lines.append(
            f"| {figure.benchmark} | {figure.name} | {value} | {target} | {_verdict(figure)} | {figure.detail} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """A one-line description of this machine: CPU, cores, memory, OS, Python, databases are added by callers."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{model}, {os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
