"""Dashboard benchmark: time to render a 10,000-trial study's page once its data is loaded, and
where the first paint of the demo study's page goes in a real headless Chromium.

Prints the analysis time (hpsearch.analysis, not the dashboard), the page render time (building
every figure and serialising the page as Dash sends it; target ≤ 0.5 s), a ratio against a naive
baseline measured in the same run (one scatter of all trials serialised), and the size of the
self-contained HTML report (target ≤ 8 MB). The page is rendered three times: the first in the
process pays one-time imports, the others are what a filter change or another study pays.

With `--browser`, it serves a demo-shaped study (or `--storage URL --study NAME`, e.g. the real
demo's database) with `hpsearch dashboard`, opens its page in Debian's chromium a few times and
prints, per load, the phases of the first paint: the page's scripts, each Dash callback's round
trip, plotly.js arriving, and the moment the first screen is drawn (target ≤ 3 s; a figure
below the fold is drawn when it comes near the view), then scrolls down to each further figure
as a reader does and times its drawing, then the time a filter change takes to be answered
(target ≤ 1 s): unticking three optimizers one by one (selections the server analyses afresh),
then ticking them again (pages it cached), with the machine's load average (a loaded
machine stretches every phase alike; compare the shares, not seconds).
The first visit comes as soon as the server answers, while `hpsearch dashboard` may still be
analysing the first study at start-up; `--first-visit-after S` waits S seconds more, as a user who
opens the printed URL a little later.

    .venv/bin/python benchmarks/dashboard.py [--trials-scale 1.0] [--bootstrap 2000]
    .venv/bin/python benchmarks/dashboard.py --browser [--storage URL --study NAME] [--loads 3]
        [--first-visit-after 0]
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import plotly.graph_objects as go
from plotly.io.json import to_json_plotly

from dashboards.components import render_sections, render_verdicts
from dashboards.page import build_page
from dashboards.report import write_report
from hpsearch.analysis import analyze
from hpsearch.analysis.synthetic import lr_one_study, store_study
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


# Installed by the page before any of its scripts: each figure's own first-draw moment (ms
# since navigation start), and the moment the first screen is drawn: the page's last answer in
# (the trial table), the page's first figure (the lr = 1 answer, under the claim board, drawn
# at once wherever it is) and every figure whose top is on the screen drawn. The app draws a figure
# below the fold when it comes near the view (dashboards/assets/lazy.js); `_scroll_through`
# then scrolls to each, as a reader does, and times it.
DRAW_PROBE = """
window.__figures = {};
new MutationObserver(() => {
  const all = document.querySelectorAll('.figure');
  let fresh = false;
  for (const f of all) if (!(f.id in window.__figures) && f.querySelector('.main-svg')) {
    window.__figures[f.id] = performance.now();
    fresh = true;
  }
  if (!window.__drawn && (fresh || all.length) && document.getElementById('trial-table')) {
    const seen = [...all].filter(f => f.offsetParent !== null
      && f.getBoundingClientRect().top < window.innerHeight);
    if (all.length && all[0].id in window.__figures && seen.every(f => f.id in window.__figures))
      window.__drawn = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
// Each figure's own drawing time: plotly.js's react / newPlot, wrapped as soon as it loads.
window.__plots = [];
let plotly;
Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: (p) => {
  for (const name of ['react', 'newPlot']) {
    const inner = p[name];
    p[name] = function (gd, ...rest) {
      const el = typeof gd === 'string' ? document.getElementById(gd) : gd;
      const box = el && el.closest ? el.closest('.figure') : null;
      const start = performance.now();
      const done = inner.call(this, gd, ...rest);
      const sync = performance.now() - start;
      Promise.resolve(done).then(() => window.__plots.push(
        {id: box ? box.id : String(el && el.id), start: start, sync: sync,
         end: performance.now()}));
      return done;
    };
  }
  plotly = p;
}});
"""
PHASES = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource').map(e => ({
  name: e.name, start: e.startTime, end: e.responseEnd, bytes: e.encodedBodySize}));
return {dom: nav.domContentLoadedEventEnd, drawn: window.__drawn || null,
        figures: window.__figures, res: res, plots: window.__plots,
        n_figures: document.querySelectorAll('.figure').length};
"""


def _serve(storage: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    hpsearch = str(Path(sys.executable).with_name("hpsearch"))
    process = subprocess.Popen(
        [hpsearch, "dashboard", "--storage", storage, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()
            return process, base
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the dashboard did not start") from None
            time.sleep(0.5)


def _chromium() -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DRAW_PROBE})
    return driver


def _load(driver: object, url: str, timeout: float = 120) -> dict[str, object]:
    """One fresh load of `url` (cache off, as a first visit): the first paint's phases."""
    driver.get("about:blank")  # type: ignore[attr-defined]
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # type: ignore[attr-defined]
    driver.get(url)  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script("return window.__drawn || null"):  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    return dict(driver.execute_script(PHASES))  # type: ignore[attr-defined]


def _print_load(phases: dict[str, object], label: str) -> float:
    """One load's phases, in seconds since navigation started; returns the first screen's."""
    drawn = phases["drawn"]
    res, figures, plots = phases["res"], phases["figures"], phases.get("plots") or []
    assert isinstance(res, list) and isinstance(figures, dict) and isinstance(plots, list)
    total = float(drawn) if isinstance(drawn, int | float) else math.nan
    first = float(figures.get("fig-lr-one", math.nan))
    print(
        f"{label}: the lr = 1 answer drawn at {first / 1000:.2f} s, the first screen with it "
        f"at {total / 1000:.2f} s ({len(figures)} of {phases['n_figures']} figures drawn by then)"
    )
    scripts = [r for r in res if r["name"].split("?")[0].endswith(".js")]
    js_end = max((float(r["end"]) for r in scripts), default=0.0)
    print(
        f"  scripts: {len(scripts)} files, {sum(r['bytes'] for r in scripts) / 1e6:.2f} MB, "
        f"the last in at {js_end / 1000:.2f} s"
    )
    for r in res:
        if "plotly" in r["name"].rsplit("/", 1)[-1]:
            print(f"  plotly.js: {r['bytes'] / 1e6:.2f} MB in at {r['end'] / 1000:.2f} s")
    answers = [r for r in res if "_dash-update-component" in r["name"] and r["bytes"] > 10_000]
    for r in answers:
        print(
            f"  figures' answer: {r['bytes'] / 1e3:.0f} kB, asked at {r['start'] / 1000:.2f} s, "
            f"in at {r['end'] / 1000:.2f} s"
        )
    if plots and math.isfinite(total):
        busy = sum(float(p["sync"]) for p in plots)
        heavy = sorted(plots, key=lambda p: -float(p["sync"]))[:4]
        print(
            f"  plotly.js drawing: {busy / 1000:.2f} s of synchronous work for {len(plots)} "
            f"plots ({busy / total:.0%} of the time to the first screen); the heaviest: "
            + ", ".join(f"{p['id']} {float(p['sync']) / 1000:.2f} s" for p in heavy)
        )
    return total


SCROLL_TO = """
const f = document.getElementById(arguments[0]);
f.scrollIntoView({block: 'center'});
return performance.now();
"""


def _scroll_through(driver: object, timeout: float = 60) -> list[tuple[str, float]]:
    """Scroll to each figure not drawn yet, in page order, as a reader does; per figure, the
    seconds from reaching it to its being drawn."""
    anchors = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('.figure')].map(f => f.id)"
    )
    out = []
    for anchor in anchors:
        if driver.execute_script("return arguments[0] in window.__figures", anchor):  # type: ignore[attr-defined]
            continue
        start = float(driver.execute_script(SCROLL_TO, anchor))  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        drawn = None
        while drawn is None and time.monotonic() < deadline:
            drawn = driver.execute_script("return window.__figures[arguments[0]]", anchor)  # type: ignore[attr-defined]
            time.sleep(0.02)
        out.append((anchor, (float(drawn) - start) / 1000 if drawn is not None else math.nan))
    driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    return out


def _print_scroll(waits: list[tuple[str, float]]) -> float:
    """The figures drawn on the way down; returns the longest wait."""
    if not waits:
        print("  scrolling down: every figure was drawn already")
        return 0.0
    seconds = sorted(s for _, s in waits)
    slowest = max(waits, key=lambda w: w[1] if math.isfinite(w[1]) else math.inf)
    print(
        f"  scrolling down: {len(waits)} figures drawn as the reader reaches each, in "
        f"{seconds[len(seconds) // 2]:.2f} s (median), {slowest[1]:.2f} s at worst ({slowest[0]})"
    )
    return float(slowest[1])


# Watches one filter change inside the page: the moment of the click (a capturing listener, so
# the WebDriver's own round trips are not counted), then, every 10 ms, whether the change has
# been answered: no Dash callback in flight, the status line no longer the one before the
# change, and at least `expected` figures drawn.
WATCH_CHANGE = """
const before = arguments[0], expected = arguments[1];
const change = window.__change = {clicked: null, settled: null};
document.addEventListener('click', () => { change.clicked = performance.now(); },
                          {capture: true, once: true});
const timer = setInterval(() => {
  if (change.clicked === null) return;
  const status = document.getElementById('status');
  const busy = document.querySelector('[data-dash-is-loading="true"]');
  const drawn = [...document.querySelectorAll('.figure')].filter(f => f.querySelector('.main-svg'));
  if (!busy && status && status.textContent !== before && drawn.length >= expected) {
    change.settled = performance.now();
    clearInterval(timer);
  }
}, 10);
"""


def _filter_change(driver: object, optimizer: str, expected: int, timeout: float = 60) -> float:
    """Seconds from the click that (un)ticks `optimizer` to the page answering it (see
    WATCH_CHANGE), timed by the page's own clock."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f"#optimizers input[value='{optimizer}']")  # type: ignore[attr-defined]
    before = driver.find_element(By.ID, "status").text  # type: ignore[attr-defined]
    driver.execute_script(WATCH_CHANGE, before, expected)  # type: ignore[attr-defined]
    box.click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        change = driver.execute_script("return window.__change")  # type: ignore[attr-defined]
        if change["settled"] is not None:
            return (float(change["settled"]) - float(change["clicked"])) / 1000
        time.sleep(0.05)
    return math.nan


def browser(storage: str | None, study: str | None, loads: int, first_after: float = 0.0) -> None:
    """Serve a study and time its page's first paint in headless Chromium (see the docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        if storage is None:
            storage = f"sqlite:///{Path(tmp) / 'demo.db'}"
            study = "demo-shaped"
            data = lr_one_study(study, grids=DEMO_GRIDS, seeds=5, epochs=30)
            store_study(storage, data, task="mnist1d-mlp")
        assert study is not None
        process, base = _serve(storage)
        answered = time.monotonic()
        driver = _chromium()
        try:
            url = f"{base}/study/{quote(study, safe='')}"
            time.sleep(max(0.0, answered + first_after - time.monotonic()))
            after = time.monotonic() - answered
            load = os.getloadavg()[0]
            label = f"first visit, {after:.1f} s after the server answered (load avg {load:.2f})"
            _print_load(_load(driver, url), label)
            _print_scroll(_scroll_through(driver))
            times, waits = [], []
            for i in range(loads):
                load = os.getloadavg()[0]
                times.append(_print_load(_load(driver, url), f"load {i + 1} (load avg {load:.2f})"))
                waits.append(_print_scroll(_scroll_through(driver)))
            best = min(times)
            print(
                f"best of {loads}: {best:.0f} ms to draw the first screen; target <= 3 s: "
                f"{'met' if best <= 3000 else 'MISSED'}; a figure below it drawn at worst "
                f"{min(waits):.2f} s after the reader reaches it (best of {loads}); "
                f"`uptime` load {os.getloadavg()}"
            )
            # Filter changes: untick the last three optimizers one by one (each a selection
            # the server has not analysed yet), then tick them again (pages it analysed before,
            # answered from its cache). The target is judged on the first kind, the harder.
            from selenium.webdriver.common.by import By

            boxes = driver.find_elements(By.CSS_SELECTOR, "#optimizers input")  # type: ignore[attr-defined]
            names = [b.get_attribute("value") for b in boxes][-3:]
            fresh: list[float] = []
            cached: list[float] = []
            for what, order, out in (("untick", names, fresh), ("tick", names[::-1], cached)):
                for name in order:
                    load = os.getloadavg()[0]
                    seconds = _filter_change(driver, name, 1)
                    out.append(seconds)
                    print(f"filter change ({what} {name}; load avg {load:.2f}): {seconds:.2f} s")
            print(
                f"a filter change answered in {min(fresh):.2f} s best of {len(fresh)} for a "
                f"selection not analysed before (target <= 1 s: "
                f"{'met' if min(fresh) <= 1 else 'MISSED'}; worst {max(fresh):.2f} s), "
                f"{min(cached):.2f} s for one analysed before; `uptime` load {os.getloadavg()}"
            )
        finally:
            driver.quit()  # type: ignore[attr-defined]
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-scale", type=float, default=1.0)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--browser", action="store_true", help="time the page in Chromium")
    parser.add_argument("--storage", help="with --browser: a storage URL (default: synthetic)")
    parser.add_argument("--study", help="with --browser and --storage: the study to open")
    parser.add_argument("--loads", type=int, default=3, help="with --browser: timed loads")
    parser.add_argument(
        "--first-visit-after",
        type=float,
        default=0.0,
        help="with --browser: seconds between the server answering and the first visit",
    )
    args = parser.parse_args()
    if args.browser:
        browser(args.storage, args.study, args.loads, args.first_visit_after)
        return

    data = lr_one_study("bench", grids=grids(args.trials_scale), seeds=5, epochs=args.epochs)
    print(
        f"study: {len(data.trials)} trials, {len(data.curves)} curve points, "
        f"{int((data.trials['outcome'] == 'diverged').sum())} diverged"
    )

    start = time.perf_counter()
    analysis = analyze(data, ClaimsSpec(bootstrap=args.bootstrap))
    analysis_s = time.perf_counter() - start
    print(f"analysis (B = {args.bootstrap}): {analysis_s:.2f} s  [hpsearch.analysis]")

    # The first render of the process pays one-time costs too (plotly's trace classes are
    # imported on first use); the next ones are what a filter change or another study pays.
    renders = []
    for run in range(3):
        cpu = time.process_time()
        start = time.perf_counter()
        page = build_page(analysis, data.curves)
        figures_s = time.perf_counter() - start
        start = time.perf_counter()
        payload = to_json_plotly([render_verdicts(page), render_sections(page)])
        serialise_s = time.perf_counter() - start
        render_s = figures_s + serialise_s
        render_cpu_s = time.process_time() - cpu
        renders.append(render_s)
        n_figures = sum(len(s.figures) for s in page.sections)
        print(
            f"page render {run + 1} of 3{' (the first in this process)' if run == 0 else ''}: "
            f"{render_s:.2f} s ({n_figures} figures built in {figures_s:.2f} s, serialised in "
            f"{serialise_s:.2f} s, {len(payload) / 1e6:.2f} MB JSON; CPU time "
            f"{render_cpu_s:.2f} s: wall >> CPU means a loaded machine; load avg "
            f"{os.getloadavg()[0]:.2f})"
        )
    render_s = min(renders)
    print(
        f"page render: {renders[0]:.2f} s the first, {render_s:.2f} s best of 3; target <= 0.5 s: "
        f"{'met' if renders[0] <= 0.5 else 'MISSED'} (first), "
        f"{'met' if render_s <= 0.5 else 'MISSED'} (best)"
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
