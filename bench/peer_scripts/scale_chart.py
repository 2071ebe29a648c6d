"""Draw the scale curve (run by the tools venv's python, where matplotlib is installed).

    python scale_chart.py POINTS.json OUT.png

POINTS: {"title": …, "series": {label: [[rows, seconds], …]}}. Log-log axes: a
line of slope 1 is linear scaling; the gap between weir and its floor is the ratio.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        points = json.load(handle)
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for label, pairs in points["series"].items():
        if not pairs:
            continue
        rows, seconds = zip(*sorted(pairs), strict=True)
        dashed = label.startswith("floor")
        axes.plot(rows, seconds, marker="o", linestyle="--" if dashed else "-", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("POS rows")
    axes.set_ylabel("seconds (wall clock)")
    axes.set_title(points["title"], fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(sys.argv[2])


if __name__ == "__main__":
    main()
