"""The report's pictures (SVG, matplotlib's Agg backend): every target, and the W3 growth curve.

matplotlib is imported only here and only when a chart is drawn, so the workloads run without
it; ``draw`` then says why there are no pictures.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.common import Row, Target, fmt

TARGETS_SVG = "performance-targets.svg"
GROWTH_SVG = "performance-w3-growth.svg"
MET, MISSED, REFERENCE, MINITORRENT = "#2a9d4b", "#c0392b", "#7f8c8d", "#1f5fa8"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    matplotlib.rcParams["svg.hashsalt"] = "minitorrent-bench"  # same figures, same file
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: Path) -> None:
    # No date in the file: a chart changes only when its figures do.
    metadata = {"Date": None} if path.suffix == ".svg" else {}
    fig.savefig(path, bbox_inches="tight", metadata=metadata)


def score(target: Target, figure: float) -> float:
    """The figure over its target, turned so that below 1 always meets it."""
    return figure / target.value if target.op == "≤" else target.value / figure


def targeted(rows: list[Row]) -> list[tuple[Row, Target, list[float]]]:
    """The rows that have a target and figures to compare with it."""
    out = []
    for row in rows:
        if row.target is None or row.error:
            continue
        figures = [f for f in row.target.figures(row) if f > 0]
        if figures and row.target.value > 0:
            out.append((row, row.target, figures))
    return out


def draw_targets(rows: list[Row], path: Path, note: str) -> bool:
    """One line per target: the figure (median, min-max over the runs) over the target, on a
    log scale where 1 is the target and left of it meets it.  False if nothing to draw."""
    entries = targeted(rows)
    if not entries:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.75 * len(entries) + 1.6))
    labels = []
    for y, (row, target, figures) in enumerate(reversed(entries)):
        med = statistics.median(figures)
        scores = [score(target, f) for f in figures]
        s_med = score(target, med)
        color = MET if target.met(med) else MISSED
        ax.errorbar(
            [s_med],
            [y],
            xerr=[[s_med - min(scores)], [max(scores) - s_med]],
            fmt="o",
            color=color,
            capsize=4,
            markersize=7,
        )
        what = "ratio" if target.on == "ratio" else "minitorrent"
        ax.annotate(
            f"{what} {fmt(med)}, target {target.op} {target.value:g}",
            (s_med, y),
            xytext=(8, 6),
            textcoords="offset points",
            fontsize=8,
            color=color,
        )
        metric = row.metric.rsplit(",", 1)[0]
        ref = f" vs {row.reference}" if target.on == "ratio" else ""
        labels.append(f"{row.workload}\n{metric}{ref}")
    ax.axvline(1.0, color=REFERENCE, linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(labels)), labels, fontsize=7.5)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, 0.3), max(hi, 3.0) * 4)  # room for the right-most note
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.text(1.0, len(labels) - 0.35, " target", color=REFERENCE, fontsize=8, va="top")
    ax.set_xlabel("figure / target, turned so that left of the dashed line (1) meets the target")
    ax.set_title(f"minitorrent against its targets (median, min-max over the runs){note}")
    ax.grid(axis="x", which="both", alpha=0.25)
    save(fig, path)
    plt.close(fig)
    return True


def draw_growth(growth: list[tuple[int, list[float], list[float]]], path: Path, note: str) -> bool:
    """time / T_min against the number of downloaders, both sides.  False if nothing to draw."""
    points = sorted((n, mine, ref) for n, mine, ref in growth if mine)
    if not points:
        return False
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for side, color, marker in (("minitorrent", MINITORRENT, "o"), ("libtorrent", REFERENCE, "s")):
        xs, meds, los, his = [], [], [], []
        for n, mine, ref in points:
            values = mine if side == "minitorrent" else ref
            if values:
                med = statistics.median(values)
                xs.append(n)
                meds.append(med)
                los.append(med - min(values))
                his.append(max(values) - med)
        if xs:
            ax.errorbar(
                xs, meds, yerr=[los, his], fmt=f"-{marker}", color=color, capsize=4, label=side
            )
    ax.axhline(1.0, color="black", linewidth=1, label="T_min (lower bound)")
    ax.axhline(1.25, color=MISSED, linestyle="--", linewidth=1, label="1.25 T_min (the W3s target)")
    ax.set_xscale("log", base=2)
    ax.set_xticks([n for n, _, _ in points], [str(n) for n, _, _ in points])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("downloaders N (1 seeder)")
    ax.set_ylabel("time until all hold the file / T_min")
    ax.set_title(f"W3 growth: does the swarm keep up as it grows?{note}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    save(fig, path)
    plt.close(fig)
    return True


def draw(
    rows: list[Row], growth: list[tuple[int, list[float], list[float]]], out: Path, quick: bool
) -> tuple[list[str], str]:
    """Write the charts into ``out``: (their file names, a sentence if none could be drawn)."""
    note = "\nSMOKE RUN (--quick): tiny sizes, not a measurement" if quick else ""
    try:
        names = []
        if draw_targets(rows, out / TARGETS_SVG, note):
            names.append(TARGETS_SVG)
        if draw_growth(growth, out / GROWTH_SVG, note):
            names.append(GROWTH_SVG)
    except ImportError:
        return [], "no charts: matplotlib is missing (pip install -e '.[test]')"
    return names, ""
