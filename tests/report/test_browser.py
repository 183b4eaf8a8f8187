"""The report in a real browser: headless Chromium opens it from disk, as an analyst would.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``;
``.ci/run`` installs them). Without them the test is skipped with that message, never passed; set
``CHURNML_REQUIRE_BROWSER=1`` to make a missing browser a failure instead (CI does).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from report_run import HOSTILE_IDS

from churnml.report import SECTIONS, customer_page_path

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
MISSING = (
    "headless Chromium is not installed: install the Debian packages chromium and chromium-driver "
    "(apt-get install -y chromium chromium-driver) to run the browser test"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CHURNML_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CHURNML_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")  # session: set up before the (session) report run, so a skip is instant
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed: pip install -e '.[dev]'")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not CHROMEDRIVER.is_file() or chromium is None:
        _unavailable(MISSING)
    options = Options()
    for arg in BROWSER_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1300,1800")
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def severe(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def assert_no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    pytest.fail(f"a script from the data ran: alert({text!r})")


def broken_images(driver) -> list[str]:
    return driver.execute_script(
        "return Array.prototype.slice.call(document.images)"
        ".filter(function (i) { return !(i.complete && i.naturalWidth > 0); })"
        ".map(function (i) { return i.getAttribute('src'); });"
    )


def visible_rows(driver):
    from selenium.webdriver.common.by import By

    return [r for r in driver.find_elements(By.CSS_SELECTOR, "#flagged-table tbody tr") if r.is_displayed()]


def test_report_works_in_a_browser(browser, small_run, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    index = small_run.report_dir / "index.html"
    driver.get(index.resolve().as_uri())
    assert driver.title.startswith("Churn risk report")
    assert_no_alert(driver)
    assert severe(driver) == []

    # every section, with its pictures loaded
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section.block > h2")]
    assert headings == [title for _, title in SECTIONS]
    for sid, _ in SECTIONS:
        assert driver.find_elements(By.CSS_SELECTOR, f"section#{sid} img"), f"no picture in {sid}"
    assert driver.execute_script("return document.images.length") >= 10
    assert broken_images(driver) == []
    assert driver.execute_script("return document.scripts.length") == 1

    shot = tmp_path / "report-index.png"
    driver.save_screenshot(str(shot))
    print(f"\nscreenshot of the report: {shot}")

    # every flagged customer is in the table, a page of 50 at a time
    total = len(small_run.inputs.flagged_table)
    assert total == small_run.inputs.population["flagged"] > 50
    count = driver.find_element(By.ID, "flagged-count")
    info = driver.find_element(By.ID, "pg-info")
    assert count.text == f"{total} of {total} customers match"
    assert len(visible_rows(driver)) == 50 and info.text == f"rows 1–50 · page 1 of {-(-total // 50)}"
    next_page = driver.find_element(By.ID, "pg-next")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", next_page)
    next_page.click()
    ranks = [int(r.get_attribute("data-rank")) for r in visible_rows(driver)]
    assert ranks == sorted(small_run.inputs.flagged_table["risk_rank"])[50:100]
    Select(driver.find_element(By.ID, "pg-size")).select_by_value("500")
    assert len(visible_rows(driver)) == min(total, 500)
    Select(driver.find_element(By.ID, "pg-size")).select_by_value("50")
    assert driver.find_element(By.ID, "flagged-csv").get_attribute("href").endswith("/flagged.csv")

    # filter: free text finds the hostile id, shown as text, never run
    search = driver.find_element(By.ID, "flt-search")
    search.send_keys("<script>")
    rows = visible_rows(driver)
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, "a.customer-link").text == "<script>alert(1)</script>"
    assert count.text == f"1 of {total} customers match"
    search.clear()  # clear() fires no input event: send one, as typing would
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", search)
    assert len(visible_rows(driver)) == 50

    # filter by cause
    causes = small_run.inputs.flagged_table["primary_cause"]
    cause = causes.value_counts().index[0]
    Select(driver.find_element(By.ID, "flt-cause")).select_by_value(cause)
    rows = visible_rows(driver)
    assert len(rows) == min(50, int((causes == cause).sum()))
    assert {r.get_attribute("data-cause") for r in rows} == {cause}
    assert count.text == f"{int((causes == cause).sum())} of {total} customers match"
    Select(driver.find_element(By.ID, "flt-cause")).select_by_value("")
    assert len(visible_rows(driver)) == 50

    # sort by probability: ascending, then descending
    header = driver.find_element(By.XPATH, "//table[@id='flagged-table']/thead//th[normalize-space(.)='Probability']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
    header.click()
    values = [
        float(v)
        for v in driver.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('#flagged-table tbody tr'), function (r) { return r.cells[2].getAttribute('data-value'); });"
        )
    ]
    assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    values = [
        float(v)
        for v in driver.execute_script(
            "return Array.prototype.map.call(document.querySelectorAll('#flagged-table tbody tr'), function (r) { return r.cells[2].getAttribute('data-value'); });"
        )
    ]
    assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"

    # follow the hostile customer's link to their page
    target = "<script>alert(1)</script>"
    row = small_run.inputs.flagged_table.set_index("customer_id").loc[target]
    link = driver.find_element(By.LINK_TEXT, target)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    link.click()
    deadline = time.time() + 10
    while "/customers/" not in driver.current_url and time.time() < deadline:
        time.sleep(0.05)
    assert driver.current_url == (small_run.report_dir / customer_page_path(target)).resolve().as_uri()
    assert_no_alert(driver)
    assert severe(driver) == []
    assert driver.find_element(By.ID, "customer-id").text == target
    assert driver.find_element(By.ID, "probability").text == f"{row['churn_probability']:.1%}"
    assert driver.find_element(By.ID, "cause").text.lower() == row["primary_cause"]
    reasons = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#reasons li")]
    assert reasons == [r for r in (row["reason_1"], row["reason_2"], row["reason_3"]) if r]
    assert driver.find_element(By.ID, "action-name").text
    assert driver.find_element(By.ID, "action-why").text
    assert "What raises the risk" in driver.page_source
    assert broken_images(driver) == []
    assert driver.execute_script("return document.images[0].naturalWidth") > 300  # the waterfall
    assert driver.execute_script("return document.scripts.length") == 0

    shot = tmp_path / "report-customer.png"
    driver.save_screenshot(str(shot))
    print(f"screenshot of a customer page: {shot}")

    # back to the report, then every other hostile id's page opens without errors
    driver.find_element(By.PARTIAL_LINK_TEXT, "Back to the flagged customers").click()
    assert driver.current_url.startswith(index.resolve().as_uri())
    for cid in HOSTILE_IDS:
        driver.get((small_run.report_dir / customer_page_path(cid)).resolve().as_uri())
        assert_no_alert(driver)
        assert driver.find_element(By.ID, "customer-id").text == cid
        assert broken_images(driver) == []
    assert severe(driver) == []
