"""The dashboard and the HTML report in a real headless Chromium.

Chromium and its driver come from Debian (`chromium`, `chromium-driver`); they are installed here
when missing (we run as root). A machine where that is impossible fails with a clear message
rather than skipping silently.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dashboards.samples import sample_study_data
from hpsearch.analysis.synthetic import store_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
STUDY = "browser-demo"
EVIL = "<script>window.__xss=1</script>evil"
GRIDS = {
    "adabound": {"lr": [1e-3, 1e-1, 1.0], "gamma": [1e-3, 1e-1]},
    "adam": {"lr": [1e-3, 1e-1, 1.0]},
    "sgd": {"lr": [1e-3, 1e-1, 1.0]},
}
HPSEARCH = str(Path(sys.executable).with_name("hpsearch"))


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} / {CHROMEDRIVER} are missing and cannot be installed here "
            "(needs root and apt-get): run `apt-get install chromium chromium-driver`."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` failed, so the browser tests cannot run:\n"
                f"{done.stderr[-2000:]}"
            )


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1800",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'studies.db'}"
    for name in (STUDY, EVIL):
        data = sample_study_data(name, grids=GRIDS, seeds=2, epochs=4)
        store_study(url, data, claims={"bootstrap": 200})
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(storage: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "dashboard.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [HPSEARCH, "dashboard", "--storage", storage, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _severe(driver: object) -> list[str]:
    return [
        e["message"]
        for e in driver.get_log("browser")  # type: ignore[attr-defined]
        if e["level"] == "SEVERE"
    ]


def _wait_for(driver: object, css: str, count: int = 1, timeout: float = 120) -> list[object]:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = driver.find_elements(By.CSS_SELECTOR, css)  # type: ignore[attr-defined]
        if len(found) >= count:
            return found
        time.sleep(0.5)
    pytest.fail(f"`{css}` did not appear {count} times within {timeout} s")


def test_dashboard_renders_verdicts_and_plots(browser: object, server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{server}/study/{quote(STUDY, safe='')}")  # type: ignore[attr-defined]
    cards = _wait_for(driver, ".card .result", 1)
    _wait_for(driver, ".js-plotly-plot .main-svg", 8)
    results = {c.text for c in cards}  # type: ignore[attr-defined]
    assert results <= {"SUPPORTED", "REFUTED", "INCONCLUSIVE"} and results
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "adabound is insensitive to lr" in body
    # The synthetic AdaBound diverges at lr = 1 with a small gamma.
    assert "at lr = 1: diverged in" in body
    # Diverged seeds are drawn: the sensitivity plot has × markers.
    assert driver.find_elements(  # type: ignore[attr-defined]
        By.CSS_SELECTOR, "#fig-sensitivity-lr .scatterlayer path.point"
    )
    driver.save_screenshot(str(tmp_path / "dashboard.png"))  # type: ignore[attr-defined]
    assert _severe(driver) == []
    # Everything came from our own server (no CDN).
    resources = driver.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources and all(r.startswith(server) for r in resources), resources


def test_study_name_with_script_renders_as_text(
    browser: object, server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{server}/study/{quote(EVIL, safe='')}")  # type: ignore[attr-defined]
    _wait_for(driver, ".card .result", 1)
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert EVIL in body  # shown literally, tags and all
    assert driver.execute_script("return window.__xss === undefined")  # type: ignore[attr-defined]
    driver.save_screenshot(str(tmp_path / "evil.png"))  # type: ignore[attr-defined]


def test_report_opens_offline_with_verdicts(
    browser: object, storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    from hpsearch.cli import main

    out = tmp_path / "report.html"
    # The `hpsearch report` entry point, in-process (a subprocess only adds import time).
    monkeypatch.setattr(
        sys, "argv", ["hpsearch", "report", EVIL, "--out", str(out), "--storage", storage]
    )
    try:
        main()
    except SystemExit as done:
        assert not done.code, done.code
    html = out.read_text()
    # plotly.js is inside the file (no <script src=...>); the name is escaped, never raw.
    assert "<script src" not in html and "plotly.js v" in html and EVIL not in html
    driver = browser
    driver.execute_cdp_cmd("Network.enable", {})  # type: ignore[attr-defined]
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {  # type: ignore[attr-defined]
            "offline": True,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": -1,
        },
    )
    try:
        driver.get(out.as_uri())  # type: ignore[attr-defined]
        _wait_for(driver, ".js-plotly-plot .main-svg", 8, timeout=60)
        body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        assert "Verdicts" in body and "adabound is insensitive to lr" in body
        assert EVIL in body
        assert driver.execute_script(  # type: ignore[attr-defined]
            "return window.__xss === undefined"
        )
        driver.save_screenshot(str(tmp_path / "report.png"))  # type: ignore[attr-defined]
        assert _severe(driver) == []
    finally:
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {  # type: ignore[attr-defined]
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": -1,
            },
        )
