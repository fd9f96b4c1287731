"""A screenshot of an HTML page (a pgcli report) as headless chromium shows it, for the docs.

    python docs/screenshot.py results/cartpole-sweep/report.html docs/figures/report.png --height 3470

Needs Debian's chromium and chromium-driver and the selenium package (`pip install -e '.[dev]'`);
tests/browser.py starts the browser as tests/shell/test_browser.py does (no request can leave it). The PNG
is reduced to 256 colours (Pillow, which matplotlib installs): a third of the bytes, the same look.
"""

from __future__ import annotations

import argparse
import io
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
    parser.add_argument("--colors", type=int, default=256, help="palette size (0: full colour; default 256)")
    args = parser.parse_args()
    if not args.page.is_file():
        parser.error(f"no such page: {args.page}")
    if browser.missing():
        parser.error(f"needs {', '.join(browser.missing())}; install with: {browser.INSTALL}")
    with tempfile.TemporaryDirectory() as profile:
        driver = browser.start(Path(profile))
        try:
            browser.open_at_width(driver, args.page.resolve().as_uri(), args.width)
            png = browser.full_page_png(driver, args.width, args.height)
        finally:
            driver.quit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(reduced(png, args.colors) if args.colors else png)
    print(f"wrote {args.out}")
    return 0


def reduced(png: bytes, colors: int) -> bytes:
    """The PNG with a palette of `colors` colours (median cut), optimised."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).quantize(colors, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
