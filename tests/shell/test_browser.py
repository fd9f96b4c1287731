"""The report page as a person sees it: Debian's chromium, headless, driven by Selenium through
chromium-driver, opens a rendered sample page (tests/pages.py) from a file and

- logs no console message and makes no request (Chrome's network log and the page's resource
  timing both empty; a proxy on a closed loopback port and a resolver that resolves nothing make
  any request that got past the page's Content-Security-Policy fail loudly),
- finds every section and its link in the contents,
- sorts a table when its header is clicked, and pages through it,
- never runs the hostile strings, and
- fits 1280 px and 390 px wide (tables scroll in their own box), saving a full-page screenshot of
  each to $PGCLI_SCREENSHOTS (default: the test's temporary directory).

The same for a real report: `pgcli report` of a tiny train sweep and a tiny estimate run made
here (tests/tiny_results.py) — every section, sorting the runs by a click, every figure labelled,
and its screenshots at 1280 px and 390 px (report-real-*.png).

Without the browser these tests fail (not skip) with the command that installs it: CI must run
them (.ci/run installs the two packages).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from pgcli.shell import htmlpage
from tests import browser as chromium
from tests import tiny_results
from tests.helpers import invoke
from tests.pages import HOSTILE, SECTIONS, runs_frame, sample_page

ROWS = 60  # the runs table: 25 rows a page, 3 pages
PAGE = 25
WIDTHS = {"wide": 1280, "phone": 390}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = chromium.missing()
    if missing:
        pytest.fail(f"the browser test needs {', '.join(missing)}; install with: {chromium.INSTALL}", pytrace=False)
    driver = chromium.start(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(htmlpage.render(sample_page(n_rows=ROWS)), encoding="utf-8")
    return path.as_uri()


@pytest.fixture
def opened(browser, page_url):
    """The sample page freshly loaded; the logs drained of what came before."""
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.get(page_url)
    return browser


def requests_made(driver, page_url: str) -> list[str]:
    """URLs the browser asked for since the last call: from the page itself (anything but its own
    file), and from anywhere over the network (http, https, ws, ftp...)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        url, document = message["params"]["request"]["url"], message["params"].get("documentURL", "")
        from_page = document == page_url and url != page_url
        networked = not url.startswith(("chrome://", "chrome-untrusted://", "data:", "file:", "about:"))
        if from_page or networked:
            urls.append(url)
    return urls


def visible_column(driver, table_id: str, column: str) -> list[str]:
    return driver.execute_script(
        """const table = document.getElementById(arguments[0]);
        const j = [...table.tHead.rows[0].cells].findIndex(th => th.textContent.trim() === arguments[1]);
        return [...table.tBodies[0].rows].filter(r => !r.hidden).map(r => r.cells[j].textContent);""",
        table_id,
        column,
    )


def header(driver, table_id: str, column: str):
    from selenium.webdriver.common.by import By

    for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th"):
        if th.text.strip().rstrip("▲▼ ") == column:
            return th
    raise AssertionError(f"no header {column!r} in #{table_id}")


def runs_table_id(driver) -> str:
    return driver.execute_script("return document.querySelector('#runs table.data').id")


# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_page_loads_with_no_console_message_and_no_request(opened, page_url):
    console = opened.get_log("browser")
    assert console == [], console
    assert requests_made(opened, page_url) == []
    assert opened.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert opened.title == f"cartpole-sweep {HOSTILE}"


def test_the_request_checks_catch_a_request(browser, tmp_path):
    """The checks above can fail: a page that asks for an image (on a closed loopback port) is
    refused by the policy with a console error, and without the policy the request shows in the
    network log."""
    probe = '<img src="http://127.0.0.1:9/probe.png" alt="probe">'
    with_policy = htmlpage.render(htmlpage.Page("probe", [htmlpage.Section("s", "s", [htmlpage.Text("x")])])).replace(
        "<main>", "<main>" + probe
    )
    without = "<!DOCTYPE html><title>probe</title>" + probe
    for name, text in (("with", with_policy), ("without", without)):
        path = tmp_path / f"{name}.html"
        path.write_text(text)
        browser.get(path.as_uri())
        console = [entry["message"] for entry in browser.get_log("browser")]
        urls = requests_made(browser, path.as_uri())
        if name == "with":
            assert any("Content Security Policy" in line for line in console), console
        else:
            assert "http://127.0.0.1:9/probe.png" in urls, urls
            assert console, "the failed request should log an error"


def test_every_section_is_there_and_linked_from_the_contents(opened):
    from selenium.webdriver.common.by import By

    for section in SECTIONS:
        assert opened.find_element(By.ID, section).is_displayed()
        link = opened.find_element(By.CSS_SELECTOR, f'nav.toc a[href="#{section}"]')
        assert link.is_displayed()
    opened.find_element(By.CSS_SELECTOR, 'nav.toc a[href="#figures"]').click()
    assert opened.execute_script("return location.hash") == "#figures"
    top = opened.execute_script("return document.getElementById('figures').getBoundingClientRect().top")
    assert abs(top) < 2, top  # scrolled to the section


def test_clicking_a_header_sorts_the_table_numbers_as_numbers_blanks_last(opened):
    table = runs_table_id(opened)
    finals = runs_frame(ROWS)["final_return"]
    ascending = sorted(finals.dropna())
    header(opened, table, "final_return").click()
    assert [float(v) for v in visible_column(opened, table, "final_return")] == pytest.approx(ascending[:PAGE])
    assert header(opened, table, "final_return").get_attribute("aria-sort") == "ascending"
    header(opened, table, "final_return").click()
    assert [float(v) for v in visible_column(opened, table, "final_return")] == pytest.approx(ascending[::-1][:PAGE])
    for _ in range(2):  # the last page ends with the blanks, in descending order too
        next_button(opened, table).click()
    last = visible_column(opened, table, "final_return")
    blanks = int(finals.isna().sum())
    assert last[-blanks:] == [""] * blanks and "" not in last[:-blanks]


def test_clicking_a_text_header_sorts_in_natural_order(opened):
    table = runs_table_id(opened)
    header(opened, table, "run_id").click()
    header(opened, table, "run_id").click()  # descending: run59, run58, ..., not run9, run8, ...
    assert visible_column(opened, table, "run_id")[:3] == ["run59", "run58", "run57"]


def next_button(driver, table_id):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{table_id}-pager [data-step='1']")


def test_the_long_table_shows_25_rows_a_page_with_next_and_previous(opened):
    from selenium.webdriver.common.by import By

    table = runs_table_id(opened)
    pager = opened.find_element(By.ID, f"{table}-pager")
    previous = pager.find_element(By.CSS_SELECTOR, "[data-step='-1']")
    position = pager.find_element(By.CSS_SELECTOR, ".pos")
    assert visible_column(opened, table, "run_id") == [f"run{i}" for i in range(PAGE)]
    assert position.text == f"rows 1–{PAGE} of {ROWS}" and not previous.is_enabled()
    next_button(opened, table).click()
    assert visible_column(opened, table, "run_id") == [f"run{i}" for i in range(PAGE, 2 * PAGE)]
    assert position.text == f"rows {PAGE + 1}–{2 * PAGE} of {ROWS}"
    next_button(opened, table).click()
    assert visible_column(opened, table, "run_id") == [f"run{i}" for i in range(2 * PAGE, ROWS)]
    assert not next_button(opened, table).is_enabled()
    previous.click()
    assert visible_column(opened, table, "run_id")[0] == f"run{PAGE}"
    short = opened.execute_script("return document.querySelector('#expectations table.data').id")
    assert opened.find_elements(By.ID, f"{short}-pager") == []  # three rows: no pager


def test_hostile_strings_are_shown_as_text_and_never_run(opened):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with pytest.raises(NoAlertPresentException):
        opened.switch_to.alert.text  # noqa: B018
    assert opened.find_element(By.TAG_NAME, "h1").text == f"cartpole-sweep {HOSTILE}"
    assert opened.execute_script("return document.querySelectorAll('img, script').length") == 1  # our script
    assert HOSTILE in opened.find_element(By.ID, "hostile").text


@pytest.mark.parametrize("name", list(WIDTHS))
def test_the_page_fits_the_width_and_is_saved_as_a_screenshot(browser, page_url, tmp_path, name):
    """No sideways scrolling of the page itself (wide tables scroll inside their box), every figure
    within the viewport, and a full-page screenshot to look at."""
    fits_and_is_saved(browser, page_url, WIDTHS[name], tmp_path, f"report-{WIDTHS[name]}px.png")


def fits_and_is_saved(driver, url: str, width: int, tmp_path: Path, name: str) -> Path:
    chromium.open_at_width(driver, url, width)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
    figures = driver.execute_script(
        "return [...document.querySelectorAll('figure.fig svg')].map(s => s.getBoundingClientRect().right)"
    )
    assert figures and max(figures) <= width, figures
    tables = driver.execute_script(
        "return [...document.querySelectorAll('.scroll')].map(s => s.getBoundingClientRect().right)"
    )
    assert max(tables) <= width, tables
    directory = Path(os.environ.get("PGCLI_SCREENSHOTS", tmp_path))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(chromium.full_page_png(driver, width))
    assert path.stat().st_size > 10_000
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


# ---------------------------------------------------------------------------------------------
# a real report: `pgcli report` of results made here


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    """(file URL, results root) of `pgcli report results/tiny-train results/tiny-estimate`."""
    root = tiny_results.make(tmp_path_factory.mktemp("results"))
    out = root / "report.html"
    result = invoke("report", root / "tiny-train", root / "tiny-estimate", "--out", out)
    assert result.exit_code == 0, result.output
    return out.as_uri(), root


@pytest.fixture
def report_opened(browser, real_report):
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.get(real_report[0])
    return browser


REAL_SECTIONS = ["comparison"] + [
    f"{name}-{part}"
    for name in ("tiny-train", "tiny-estimate")
    for part in ("what-ran", "expectations", "summary", "figures", "runs", "spec")
]


@pytest.mark.slow
def test_the_real_report_loads_with_no_console_message_and_no_request(report_opened, real_report):
    assert report_opened.get_log("browser") == []
    assert requests_made(report_opened, real_report[0]) == []
    assert report_opened.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert report_opened.title == "tiny-train vs tiny-estimate"


def test_the_real_report_has_every_section_linked_and_every_figure_labelled(report_opened):
    from selenium.webdriver.common.by import By

    ids = report_opened.execute_script("return [...document.querySelectorAll('main > section')].map(s => s.id)")
    assert ids == REAL_SECTIONS
    for section in REAL_SECTIONS:
        assert report_opened.find_element(By.ID, section).is_displayed()
        assert report_opened.find_element(By.CSS_SELECTOR, f'nav.toc a[href="#{section}"]').is_displayed()
    labels = report_opened.execute_script(
        "return [...document.querySelectorAll('figure.fig svg')].map(s => [s.getAttribute('role'), "
        "s.getAttribute('aria-label'), s.getBoundingClientRect().height])"
    )
    assert len(labels) == 3 + 2  # train: convergence, variance, profile; estimate: mu and sigma
    assert all(role == "img" and len(label) > 40 and height > 100 for role, label, height in labels), labels
    report_opened.find_element(By.CSS_SELECTOR, 'nav.toc a[href="#tiny-estimate-figures"]').click()
    assert report_opened.execute_script("return location.hash") == "#tiny-estimate-figures"


def test_clicking_a_header_sorts_the_real_runs_table(report_opened, real_report):
    runs = pd.read_csv(real_report[1] / "tiny-train" / "runs.csv")
    table = report_opened.execute_script("return document.querySelector('#tiny-train-runs table.data').id")
    assert visible_column(report_opened, table, "run_id") == list(runs["run_id"])
    assert runs["env_steps"].nunique() > 1
    header(report_opened, table, "env_steps").click()
    shown = [float(v) for v in visible_column(report_opened, table, "env_steps")]
    assert shown == sorted(runs["env_steps"])
    header(report_opened, table, "env_steps").click()
    shown = [float(v) for v in visible_column(report_opened, table, "env_steps")]
    assert shown == sorted(runs["env_steps"], reverse=True)
    expectations = report_opened.execute_script(
        "return document.querySelector('#tiny-train-expectations table.data').id"
    )
    header(report_opened, expectations, "result").click()
    assert visible_column(report_opened, expectations, "result") == ["FAIL", "PASS"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WIDTHS))
def test_the_real_report_fits_the_width_and_is_saved_as_a_screenshot(browser, real_report, tmp_path, name):
    fits_and_is_saved(browser, real_report[0], WIDTHS[name], tmp_path, f"report-real-{WIDTHS[name]}px.png")
