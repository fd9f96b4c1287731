"""A screenshot of an HTML page (a pgcli report) as headless chromium shows it, for the docs.

    python docs/screenshot.py results/cartpole-sweep/report.html docs/figures/report.png --width 1280 --height 2400

Needs Debian's chromium and chromium-driver and the selenium package (`pip install -e '.[dev]'`);
tests/browser.py starts the browser as tests/test_browser.py does (no request can leave it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the HTML file")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS px (default 1280)")
    parser.add_argument("--height", type=int, default=None, help="keep only the page's first HEIGHT px")
    args = parser.parse_args()
    if not args.page.is_file():
        parser.error(f"no such page: {args.page}")
    if browser.missing():
        parser.error(f"needs {', '.join(browser.missing())}; install with: {browser.INSTALL}")
    with tempfile.TemporaryDirectory() as profile:
        driver = browser.start(Path(profile))
        try:
            browser.open_at_width(driver, args.page.resolve().as_uri(), args.width)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_bytes(browser.full_page_png(driver, args.width, args.height))
        finally:
            driver.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
