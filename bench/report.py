"""The suite's report: the machine it ran on, the measures as JSON, a
Markdown table, and a plot of each figure against its target."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import Measure

REPO = Path(__file__).resolve().parent.parent


def _first_line(argv: Sequence[str]) -> str | None:
    """The first line a tool prints about itself, or None if it cannot run."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def _memory_gib() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return round(int(found.group(1)) / 2**20, 1) if found else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    now = dt.datetime.now(dt.UTC)
    return {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "meshq": _version("meshq"),
        # read-only: which commit the figures belong to (the tree may differ)
        "commit": _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "bash": _first_line(["bash", "--version"]),
        "gnu_parallel": _first_line(["parallel", "--version"]),
        "openssh": _first_line(["ssh", "-V"]),
    }


def fmt(value: float | None, unit: str) -> str:
    """A figure as a person reads it."""
    if value is None:
        return "-"
    if unit == "jobs/s":
        return f"{value:.0f} jobs/s"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "fraction":
        return f"{value:.2f}"
    # enough digits that a figure next to its target reads as met or not
    # (0.99 ms against < 1 ms; 89.7 against ≥ 90 %)
    if unit == "ms":
        return f"{value:.3g} ms" if value < 10 else f"{value:.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:.0f} {unit}"


def target_text(m: Measure) -> str:
    """The target as a person reads it (``>= 300 jobs/s``)."""
    op = {">=": "≥", "<": "<", "<=": "≤"}[m.op]
    return f"{op} {fmt(m.target, m.unit)}"


def verdict(m: Measure) -> str:
    """met / NOT met / skipped / error."""
    if m.error:
        return "error"
    if m.skipped:
        return "skipped"
    return "met" if m.met else "NOT met"


def report_data(
    measures: Sequence[Measure], mode: str, repeat: int, took_s: float, where: dict[str, Any]
) -> dict[str, Any]:
    """The whole report as JSON data; ``where`` is :func:`machine`'s answer."""
    verdicts = [verdict(m) for m in measures]
    return {
        "mode": mode,
        "repeat": repeat,
        "took_s": round(took_s, 1),
        "machine": where,
        "summary": {v: verdicts.count(v) for v in ("met", "NOT met", "skipped", "error")},
        "measures": [m.as_dict() for m in measures],
    }


def markdown(measures: Sequence[Measure]) -> str:
    """One table line per measure: figure, target, verdict."""
    lines = ["| measure | figure | target | |", "|---|---|---|---|"]
    for m in measures:
        why = m.skipped or (m.error.splitlines()[0] if m.error else "")
        lines.append(
            f"| {m.title} | {fmt(m.value, m.unit)} | {target_text(m)} | {verdict(m)}"
            f"{' (' + why + ')' if why else ''} |"
        )
    return "\n".join(lines) + "\n"


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write the report (indented, keys in the order given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def plot(data: dict[str, Any], measures: Sequence[Measure], path: Path) -> bool:
    """A bar per measure: its figure as a multiple of its target (log scale;
    1 is the target, right of it is better), green when met. False when
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return False
    shown = list(reversed(measures))  # first measure on top
    scores = [m.score if m.score is not None else 0.0 for m in shown]
    finite = [s for s in scores if 0 < s < float("inf")] or [1.0]
    low, high = min(min(finite), 0.5) / 1.5, max(max(finite), 2.0) * 3
    colors = []
    for m in shown:
        colors.append({"met": "#2e9e44", "NOT met": "#d0342c"}.get(verdict(m), "#9e9e9e"))
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(shown) + 1.6))
    bars = [min(max(s, low), high) if s else low for s in scores]
    ax.barh(range(len(shown)), [b - low for b in bars], color=colors, left=low)
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(shown)), [m.key for m in shown], fontsize=9)
    for y, (m, bar) in enumerate(zip(shown, bars, strict=True)):
        text = f"{fmt(m.value, m.unit)}  (target {target_text(m)})"
        if m.value is None:
            text = f"{verdict(m)}: {(m.skipped or m.error or '').splitlines()[0][:70]}"
        ax.text(bar * 1.05, y, text, va="center", fontsize=8)
    ax.set_xlabel("figure / target (log scale; the line is the target, right of it is better)")
    info = data["machine"]
    ax.set_title(
        f"meshq benchmarks ({data['mode']}, median of {data['repeat']}): {info['date']}, "
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
