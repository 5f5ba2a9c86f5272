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
from .conftest import PASSWORD, make_site
from .test_cli_web import _free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("served")
    site = make_site(folder)
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


def test_enter_a_form_in_the_browser(driver, server: str, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    driver.get(f"{server}/subjects")
    assert driver.current_url.startswith(f"{server}/login")
    driver.find_element(By.NAME, "username").send_keys("ana")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    assert driver.current_url == f"{server}/subjects"
    cells = driver.find_elements(By.CSS_SELECTOR, "td.status.empty a")
    assert cells, driver.page_source[:2000]
    driver.find_element(
        By.CSS_SELECTOR, 'a[href="/subjects/1/forms/enrolment?visit=baseline"]'
    ).click()
    age = driver.find_element(By.ID, "f_age")
    age.send_keys("17")
    driver.find_element(By.ID, "f_sex").click()  # leave the field
    check = age.find_element(By.XPATH, "following-sibling::span[@class='check']")
    assert check.text == "below 18: will be refused"
    age.clear()
    age.send_keys("61")
    driver.find_element(By.ID, "f_sex").click()
    assert check.text == ""
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    assert "Saved (version 1)" in driver.page_source
    driver.save_screenshot(str(tmp_path / "form.png"))
    driver.find_element(By.LINK_TEXT, "History of this form").click()
    assert "form entry" in driver.page_source and "ana" in driver.page_source
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
