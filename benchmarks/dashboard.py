"""Dashboard benchmark: time to render a 10,000-trial study's page once its data is loaded.

Prints the analysis time (hpsearch.analysis, not the dashboard), the page render time (building
every figure and serialising the page as Dash sends it; target ≤ 3 s), a ratio against a naive
baseline measured in the same run (one scatter of all trials serialised), and the size of the
self-contained HTML report (target ≤ 8 MB).

    .venv/bin/python benchmarks/dashboard.py [--trials-scale 1.0] [--bootstrap 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

from dashboards.app import render_sections, render_verdicts
from dashboards.page import build_page
from dashboards.report import write_report
from hpsearch.analysis import analyze
from hpsearch.analysis.synthetic import lr_one_study
from hpsearch.claims import ClaimsSpec


def grids(scale: float) -> dict[str, dict[str, list[float]]]:
    """10,000 trials at scale 1 with 5 seeds: 1,000 + 500 + 500 configurations."""
    n = max(2, round(10 * scale ** (1 / 3)))
    m = max(2, round(np.sqrt(500 * scale)))
    k = max(2, round(500 * scale / m))
    return {
        "adabound": {
            "lr": list(np.logspace(-4, 0, n)),
            "final_lr": list(np.logspace(-3, 0, n)),
            "gamma": list(np.logspace(-4, -1, n)),
        },
        "adam": {"lr": list(np.logspace(-5, 0, m)), "eps": list(np.logspace(-10, -4, k))},
        "sgd": {
            "lr": list(np.logspace(-4, 0.5, m)),
            "momentum": list(np.linspace(0.0, 0.95, k)),
        },
    }


# The shape of studies/demo.toml: 65 configurations x 5 seeds = 325 cells, 30 epochs.
DEMO_LR = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
DEMO_GRIDS = {
    "adabound": {"lr": DEMO_LR, "final_lr": [0.01, 0.1, 1.0], "gamma": [1e-3, 1e-2, 1e-1]},
    "amsbound": {"lr": DEMO_LR},
    "adam": {"lr": DEMO_LR},
    "amsgrad": {"lr": DEMO_LR},
    "sgd": {"lr": DEMO_LR},
}


def demo_report_size() -> int:
    """Bytes of the report of a demo-sized study (B does not change the size; 200 is enough)."""
    data = lr_one_study("demo", grids=DEMO_GRIDS, seeds=5, epochs=30)
    page = build_page(analyze(data, ClaimsSpec(bootstrap=200)), data.curves)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        write_report(page, out)
        return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-scale", type=float, default=1.0)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    data = lr_one_study("bench", grids=grids(args.trials_scale), seeds=5, epochs=args.epochs)
    print(
        f"study: {len(data.trials)} trials, {len(data.curves)} curve points, "
        f"{int((data.trials['outcome'] == 'diverged').sum())} diverged"
    )

    start = time.perf_counter()
    analysis = analyze(data, ClaimsSpec(bootstrap=args.bootstrap))
    analysis_s = time.perf_counter() - start
    print(f"analysis (B = {args.bootstrap}): {analysis_s:.2f} s  [hpsearch.analysis]")

    cpu = time.process_time()
    start = time.perf_counter()
    page = build_page(analysis, data.curves)
    figures_s = time.perf_counter() - start
    start = time.perf_counter()
    payload = to_json_plotly([render_verdicts(page), render_sections(page)])
    serialise_s = time.perf_counter() - start
    render_s = figures_s + serialise_s
    render_cpu_s = time.process_time() - cpu
    n_figures = sum(len(s.figures) for s in page.sections)
    print(
        f"page render: {render_s:.2f} s ({n_figures} figures built in {figures_s:.2f} s, "
        f"serialised in {serialise_s:.2f} s, {len(payload) / 1e6:.2f} MB JSON; CPU time "
        f"{render_cpu_s:.2f} s: wall >> CPU means a loaded machine); "
        f"target <= 3 s: {'met' if render_s <= 3 else 'MISSED'}"
    )

    # Baseline: the cheapest possible "page", one scatter of every trial, serialised.
    cpu = time.process_time()
    start = time.perf_counter()
    naive = go.Figure(go.Scatter(x=data.trials["lr"], y=data.trials["value"], mode="markers"))
    to_json_plotly(naive)
    baseline_s = time.perf_counter() - start
    baseline_cpu_s = time.process_time() - cpu
    print(
        f"baseline (one scatter of all trials): {baseline_s:.3f} s; page / baseline = "
        f"{render_s / baseline_s:.1f}x wall, {render_cpu_s / baseline_cpu_s:.1f}x CPU"
    )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        start = time.perf_counter()
        write_report(page, out)
        report_s = time.perf_counter() - start
        size = out.stat().st_size
    print(
        f"report: {size / 1e6:.2f} MB in {report_s:.2f} s; target <= 8 MB: "
        f"{'met' if size <= 8e6 else 'MISSED'}"
    )

    demo = demo_report_size()
    print(
        f"report of a demo-sized study (325 cells, 30 epochs): {demo / 1e6:.2f} MB; "
        f"target <= 8 MB: {'met' if demo <= 8e6 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
