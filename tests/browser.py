"""Debian's chromium, headless, through Selenium and chromium-driver: for tests/shell/test_browser.py and
docs/screenshot.py (the report's screenshot in docs/report.md).

Any request is made to fail loudly: a proxy on a closed loopback port, and a resolver that resolves
nothing.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

INSTALL = "apt-get install -y chromium chromium-driver && pip install -e '.[dev]'"
FLAGS = [
    "--headless=new",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",  # the same screenshot whatever the page's height
    "--proxy-server=http://127.0.0.1:9",  # a closed loopback port: a request fails, and says so
    "--host-resolver-rules=MAP * ~NOTFOUND",  # and no name resolves
]


def missing() -> list[str]:
    """What the browser needs and this machine lacks (empty when chromium can be driven)."""
    found = [name for name in ("chromium", "chromedriver") if paths().get(name) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        found.append("the selenium package")
    return found


def paths() -> dict[str, str | None]:
    return {
        "chromium": shutil.which("chromium") or shutil.which("chromium-browser"),
        "chromedriver": shutil.which("chromedriver"),
    }


def start(profile: Path):
    """A headless chromium that logs the console and the network (goog:loggingPrefs)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths()["chromium"]
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(paths()["chromedriver"]), options=options)


def open_at_width(driver, url: str, width: int, height: int = 900) -> None:
    """Load `url` in a viewport `width` CSS px wide (a phone's below 600 px)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    driver.get(url)


def full_page_png(driver, width: int, height: int | None = None) -> bytes:
    """A screenshot of the loaded page, `width` px wide: all of it, or its first `height` px."""
    full = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
    clip = {"x": 0, "y": 0, "width": width, "height": min(full, height or full), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])
