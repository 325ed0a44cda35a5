"""One-click unsubscribe as a person does it, in headless Chromium driven by Debian's
chromedriver through Selenium: the link from a real digest, the button, the confirmation,
and the next run sends that person nothing and everyone else their digest. Screenshots of
each page at 375 and 1024 px go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import ROOT
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, endpoint, web_config

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
DAY1 = "2025-09-15T07:30:00+00:00"
DAY2 = "2025-09-16T07:30:00+00:00"


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium through chromedriver (Debian's packages; nothing is downloaded)."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver are missing; .ci/run installs them")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: object, name: str) -> None:
    """Screenshots of the current page at phone and desktop widths; the page never needs
    sideways scrolling."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (375, 1024):
        driver.set_window_size(width, 900)  # type: ignore[attr-defined]
        scroll = driver.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert scroll <= width, (name, width, scroll)
        driver.save_screenshot(str(ARTIFACTS / f"web-{name}-{width}.png"))  # type: ignore[attr-defined]


def test_a_person_unsubscribes_with_one_click_in_a_real_browser(
    tmp_path: Path,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    browser: object,
) -> None:
    """The footer's Unsubscribe link of the received digest opens a page with the address
    and one button; clicking it shows the confirmation; the next run sends Ada nothing and
    Bob his digest."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    config = web_config(tmp_path, smtp_server.port)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    message = next(r for r in smtp_server.received if r.rcpt_tos == ["ada@example.org"]).message
    html = message.get_body(("html",))
    assert html is not None
    found = re.search(r'href="([^"]+/u/[^"]+)"', str(html.get_content()))
    assert found is not None, "the digest has an Unsubscribe link"
    driver = browser
    with endpoint(config):
        driver.get(found.group(1))  # type: ignore[attr-defined]
        page = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        assert "ada@example.org" in page and "Stop sending" in page
        _shot(driver, "unsubscribe")
        driver.find_element(By.ID, "unsubscribe").click()  # type: ignore[attr-defined]
        # the click posts the form: wait for the answer page, not a fixed time
        WebDriverWait(driver, 10).until(  # type: ignore[arg-type]
            expected_conditions.presence_of_element_located((By.ID, "confirmation"))
        )
        confirmation = driver.find_element(By.ID, "confirmation").text  # type: ignore[attr-defined]
        assert "ada@example.org is unsubscribed" in confirmation
        _shot(driver, "unsubscribed")
        assert driver.find_element(By.ID, "resubscribe").is_displayed()  # type: ignore[attr-defined]
    config.write_text(config.read_text().replace("day1.xml", "day2.xml"))
    second = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert second.code == 0, second.out + second.err
    assert [r.rcpt_tos for r in smtp_server.received[2:]] == [["bob@example.org"]]
