"""The web application in headless Chromium, under the real server (``xerotrial serve``):
log in, the grid, a form whose checks run as a field is left, a save, the history; and no
console error (a Content-Security-Policy violation would be one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..report.test_browser import driver  # noqa: F401 - the shared Chromium fixture
from .conftest import PASSWORD, copy_site
from .test_cli_web import _free_port


@pytest.fixture(scope="module")
def server(template_site, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001
    folder = tmp_path_factory.mktemp("served")
    site = copy_site(template_site, folder)
    site.engine.dispose()
    port = _free_port()
    log = open(folder / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "xerotrial", "serve", "--db", site.db, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/login", timeout=2).read()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.terminate()
        pytest.fail((folder / "serve.log").read_text())
    yield base
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _shots(tmp_path: Path) -> Path:
    """Screenshots go to ``$XEROTRIAL_SCREENSHOTS`` when set (kept), else the test's folder."""
    folder = Path(os.environ.get("XEROTRIAL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _submit(drv, how: str, what: str) -> None:  # noqa: ANN001
    """Click a submit button and wait for the next page (a click does not wait for it)."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = drv.find_element("tag name", "html")
    drv.find_element(how, what).click()
    WebDriverWait(drv, 30).until(ec.staleness_of(old))


def _login(drv, server: str, name: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    drv.delete_all_cookies()
    drv.get(f"{server}/login")
    drv.find_element(By.NAME, "username").send_keys(name)
    drv.find_element(By.NAME, "password").send_keys(PASSWORD)
    _submit(drv, By.CSS_SELECTOR, "form.login button")


def _until(browser, condition) -> None:  # noqa: ANN001
    """Wait (up to 10 s) for the page's script to answer."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda _: condition())


def test_each_role_walks_a_visit(driver, server: str, tmp_path: Path) -> None:  # noqa: F811
    """Data entry enters (a check fires, is corrected), the monitor queries and verifies,
    the site answers, the investigator signs, the data manager locks, the statistician
    reads, the administrator unlocks; a screenshot of each."""
    from selenium.webdriver.common.by import By

    shots = _shots(tmp_path)
    form = f"{server}/subjects/1/forms/enrolment?visit=baseline"
    driver.get(f"{server}/subjects")
    assert driver.current_url.startswith(f"{server}/login")

    _login(driver, server, "ana")  # data entry: enter, see the check fire, correct, save
    assert driver.current_url == f"{server}/subjects", driver.page_source
    assert driver.find_elements(By.CSS_SELECTOR, "td.status.empty a")
    driver.get(form)
    pain = driver.find_element(By.CSS_SELECTOR, ".field[data-field=pain_detail]")
    _until(driver, lambda: not pain.is_displayed())  # the branching asks it only with pain
    age = driver.find_element(By.ID, "f_age")
    age.send_keys("17")
    driver.find_element(By.ID, "f_sex").click()  # leave the field: the server's rules apply
    check = age.find_element(By.XPATH, "following-sibling::span[@class='check']")
    _until(driver, lambda: check.text == "must be >= 18")
    driver.find_element(By.CSS_SELECTOR, "input[name=symptoms][value='2']").click()
    _until(driver, pain.is_displayed)
    driver.save_screenshot(str(shots / "1-data-entry-check.png"))
    age.clear()
    age.send_keys("61")
    driver.find_element(By.ID, "f_sex").click()
    _until(driver, lambda: check.text == "")
    driver.find_element(By.CSS_SELECTOR, "#f_status option[value='2']").click()
    _submit(driver, By.CSS_SELECTOR, "main form button[type=submit]")
    assert "Saved (version 1)" in driver.page_source
    driver.save_screenshot(str(shots / "2-data-entry-saved.png"))

    _login(driver, server, "mo")  # monitor: raise a query
    driver.get(form)
    driver.find_element(By.NAME, "question").send_keys("Age 61 or 62 on the ID card?")
    _submit(driver, By.XPATH, "//button[text()='Raise']")
    assert "Query Q1 raised." in driver.page_source
    driver.save_screenshot(str(shots / "3-monitor-query.png"))

    _login(driver, server, "ana")  # the site answers
    driver.get(form)
    driver.find_element(
        By.CSS_SELECTOR, "form[action='/queries/Q1/answer'] input[name=text]"
    ).send_keys("61, checked")
    _submit(driver, By.CSS_SELECTOR, "form[action='/queries/Q1/answer'] button")
    assert "Query Q1: answer done." in driver.page_source
    driver.save_screenshot(str(shots / "4-data-entry-answer.png"))

    _login(driver, server, "mo")  # the monitor closes it and verifies the source data
    driver.get(form)
    driver.find_element(
        By.CSS_SELECTOR, "form[action='/queries/Q1/close'] input[name=text]"
    ).send_keys("agreed")
    _submit(driver, By.CSS_SELECTOR, "form[action='/queries/Q1/close'] button")
    _submit(driver, By.XPATH, "//button[starts-with(text(), 'Mark source data verified')]")
    assert "Source data verified at version 1." in driver.page_source
    driver.save_screenshot(str(shots / "5-monitor-verified.png"))

    _login(driver, server, "ivy")  # the investigator signs after the password
    driver.get(f"{server}/subjects/1/sign")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    _submit(driver, By.XPATH, "//button[text()='Sign']")
    assert "This casebook is signed by ivy" in driver.page_source
    driver.save_screenshot(str(shots / "6-investigator-signed.png"))

    _login(driver, server, "dm")  # the data manager locks
    driver.get(f"{server}/lock")
    assert "Lock the database" in driver.page_source, driver.page_source
    _submit(driver, By.XPATH, "//button[text()='Lock the database']")
    assert "The database is locked." in driver.page_source
    driver.save_screenshot(str(shots / "7-data-manager-locked.png"))

    _login(driver, server, "stat")  # the statistician reads the locked grid
    assert "The database is locked" in driver.page_source
    assert driver.find_elements(By.CSS_SELECTOR, "td.status.locked a")
    driver.save_screenshot(str(shots / "8-statistician-grid.png"))

    _login(driver, server, "root")  # the administrator unlocks with a reason
    driver.get(f"{server}/lock")
    driver.find_element(By.NAME, "reason").send_keys("a late adverse event report")
    _submit(driver, By.XPATH, "//button[text()='Unlock the database']")
    assert "The database is unlocked." in driver.page_source
    driver.save_screenshot(str(shots / "9-admin-unlocked.png"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
