"""Charts with matplotlib (the ``reports`` extra): bars, stacked by series, drawn off-screen.

Figures are made with ``matplotlib.figure.Figure`` and never through pyplot, so no display, no
backend state and no global figure registry are involved (Agg draws the PNG; the SVG writer its own).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from opswarden.reports.model import Chart, Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def figure(chart: Chart) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(chart.categories)))
    bottom = [0.0] * len(positions)
    for i, (label, values) in enumerate(chart.series.items()):
        ax.bar(positions, values, bottom=bottom, label=label, color=_COLOURS[i % len(_COLOURS)], width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlim(-0.6, max(len(positions), 6) - 0.4)  # one bar is a bar, not the whole width
    ax.set_title(chart.title, loc="left", fontsize=11)
    ax.set_ylabel(chart.ylabel)
    ax.set_xticks(positions, [_label(c) for c in chart.categories], rotation=45 if len(positions) > 8 else 0)
    ax.tick_params(axis="x", labelsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    if len(chart.series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    if not positions:
        ax.text(0.5, 0.5, "nothing in this period", ha="center", va="center", transform=ax.transAxes)
    return fig


def _label(category: str) -> str:
    """``2026-11-26`` → ``11-26``: the year is in the report's title."""
    return category[5:] if len(category) == 10 and category[4] == "-" else category


def png(chart: Chart) -> bytes:
    buffer = io.BytesIO()
    figure(chart).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def svg(chart: Chart) -> str:
    buffer = io.StringIO()
    figure(chart).savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def write_charts(report: Report, folder: Path) -> list[Path]:
    """Each chart of the report as ``<name>.png`` and ``<name>.svg`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in report.charts:
        fig = figure(chart)
        for fmt in ("png", "svg"):
            path = folder / f"{chart.name}.{fmt}"
            fig.savefig(path, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
            written.append(path)
    return written
