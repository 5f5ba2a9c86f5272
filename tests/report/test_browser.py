"""Open report.html in headless Debian Chromium: everything renders, no console errors.

Needs selenium (dev extras) and Debian's ``chromium`` + ``chromium-driver``. Without them the
test skips saying why, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("XEROTRIAL_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("XEROTRIAL_CHROMEDRIVER", "/usr/bin/chromedriver"))
ELEMENTS = ("table1", "table2", "table3", "table4", "figure2", "consort")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            _unavailable(f"{exe} not found (apt-get install {pkg})")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    except Exception as exc:  # a broken install: say why
        _unavailable(f"cannot start {CHROMIUM} via {CHROMEDRIVER}: {exc}")
    yield drv
    drv.quit()


@pytest.fixture(params=["sample", "demo"])
def any_report_dir(request: pytest.FixtureRequest) -> Path:
    """The sample report of this folder, and the real synthetic demo trial's report."""
    return request.getfixturevalue("report_dir" if request.param == "sample" else "demo_output")


def test_report_renders_without_console_errors(driver, any_report_dir: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    report_dir = any_report_dir

    start = time.perf_counter()
    driver.get((report_dir / "report.html").resolve().as_uri())
    driver.execute_script("return document.readyState")
    for id_ in ELEMENTS:
        el = driver.find_element(By.ID, id_)
        size = el.size
        assert el.is_displayed(), id_
        assert size["width"] > 0 and size["height"] > 0, (id_, size)
    for id_ in ("figure2", "consort"):
        # the embedded SVG decoded and has a size of its own
        natural = driver.execute_script(
            "const i = document.querySelector('#' + arguments[0] + ' img');"
            "return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null;",
            id_,
        )
        assert natural and natural[0] > 0 and natural[1] > 0, (id_, natural)
    # a Table 3 row's lineage link opens its collapsed dataset block
    link = driver.find_element(By.CSS_SELECTOR, "#table3-uws_ml_min td.lin a")
    assert link.get_attribute("href").endswith("#data-adeff-uws_ml_min")
    link.click()
    block = driver.find_element(By.ID, "data-adeff-uws_ml_min")
    assert block.get_attribute("open") is not None
    assert block.find_element(By.TAG_NAME, "table").size["height"] > 0
    driver.get((report_dir / "report.html").resolve().as_uri())  # back to the top
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot))
    print(f"\nscreenshot: {shot} (page load and checks {time.perf_counter() - start:.2f} s)")
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, errors
