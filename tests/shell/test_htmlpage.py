"""The HTML page renderer (pgcli/htmlpage.py) without a browser: strict parsing, alt text, escaping,
the content policy, table cells, compact deterministic SVG, and bad input. tests/shell/test_browser.py
opens the same sample page in chromium."""

import base64
import hashlib
import io
import re
import subprocess
import sys

import html5lib
import numpy as np
import pandas as pd
import pytest

from pgcli.shell import draw, htmlpage
from tests.pages import HOSTILE, SECTIONS, curves_figure, sample_page


@pytest.fixture(scope="module")
def page_text():
    return htmlpage.render(sample_page(n_rows=60))


def parse(text: str):
    """html5lib's strict parser: any parse error (bad nesting, stray end tag, bad attribute) raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def elements(tree, name: str):
    return [e for e in tree.iter() if isinstance(e.tag, str) and e.tag.split("}")[-1] == name]


def tiny_page(*blocks) -> htmlpage.Page:
    return htmlpage.Page("t", [htmlpage.Section("s", "s", list(blocks))])


@pytest.mark.slow
def test_the_page_parses_cleanly_with_a_strict_html5_parser(page_text):
    tree = parse(page_text)
    assert [e.get("id") for e in elements(tree, "section")] == list(SECTIONS)


def test_every_image_has_alt_text(page_text):
    tree = parse(page_text)
    svgs = elements(tree, "svg")
    assert len(svgs) == 5  # three figures, two of them again in the comparison
    for svg in svgs:
        assert svg.get("role") == "img" and svg.get("aria-label", "").strip()
    assert all(img.get("alt", "").strip() for img in elements(tree, "img"))
    assert elements(tree, "img") == []


@pytest.mark.slow
def test_the_same_page_gives_the_same_bytes():
    assert htmlpage.render(sample_page(n_rows=30)) == htmlpage.render(sample_page(n_rows=30))


def test_hostile_text_is_escaped_everywhere(page_text):
    tree = parse(page_text)
    assert len(elements(tree, "script")) == 1  # the page's own
    assert not [e for e in tree.iter() if isinstance(e.tag, str) and any(a.startswith("on") for a in e.attrib)]
    assert HOSTILE not in page_text
    assert htmlpage._e(HOSTILE) in page_text
    title = elements(tree, "title")[0].text
    assert title == f"cartpole-sweep {HOSTILE}"  # shown as text, as written


def test_the_page_refers_to_nothing_outside_itself(page_text):
    """No src, no <link>, every href an in-page #anchor, and a policy that refuses any request
    and allows only the page's own script (by its SHA-256)."""
    tree = parse(page_text)
    assert elements(tree, "link") == [] and elements(tree, "iframe") == []
    for element in tree.iter():
        if isinstance(element.tag, str):
            assert "src" not in element.attrib, element.tag
            assert element.get("href", "#").startswith("#"), element.get("href")
    policy = next(m.get("content") for m in elements(tree, "meta") if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy
    script = elements(tree, "script")[0].text
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert re.findall(r"https?://[^\s\"'<>]+", page_text) == ["http://www.w3.org/2000/svg"] * 5  # SVG xmlns


def test_ids_are_unique_even_when_a_figure_appears_twice(page_text):
    ids = [e.get("id") for e in parse(page_text).iter() if isinstance(e.tag, str) and e.get("id")]
    assert len(ids) == len(set(ids))
    referenced = re.findall(r'(?:href="#|url\(#)([^")]+)', page_text)
    assert set(referenced) <= set(ids)  # every clip path and glyph reference points into the page


def test_table_cells_formats_sort_keys_and_status():
    frame = pd.DataFrame(
        {
            "name": ["a", HOSTILE, None],
            "count": [3, 10, 2],
            "value": [0.123456789, np.nan, -np.inf],
            "flag": [True, False, True],
            "status": ["PASS", "fail", "SKIP"],
        }
    )
    text = htmlpage.render(tiny_page(htmlpage.Table(frame, "t", formats={"value": ".2f"}, status="status")))
    tree = parse(text)
    head = [(th.get("data-type"), "".join(th.itertext())) for th in elements(tree, "th")]
    assert head == [(None, "name"), ("num", "count"), ("num", "value"), (None, "flag"), (None, "status")]
    rows = [
        [(td.text or "", td.get("data-v"), td.get("class")) for td in elements(tr, "td")]
        for tr in elements(tree, "tr")[1:]
    ]
    assert rows[0] == [
        ("a", None, None),
        ("3", None, "num"),
        ("0.12", "0.123456789", "num"),
        ("True", None, None),
        ("PASS", None, "st-pass"),
    ]
    assert rows[1][0][0] == HOSTILE and rows[1][2] == ("", None, "num") and rows[1][4][2] == "st-fail"
    assert rows[2][0] == ("", None, None) and rows[2][2] == ("-inf", "-Infinity", "num") and rows[2][4][2] == "st-skip"
    assert 'class="pager"' not in text  # three rows fit one page


def test_a_long_table_is_paged_and_a_short_one_is_not():
    frame = pd.DataFrame({"x": range(30)})
    paged = parse(htmlpage.render(tiny_page(htmlpage.Table(frame, "long"))))
    table = elements(paged, "table")[0]
    assert table.get("data-page") == "25"
    assert [n.get("id") for n in elements(paged, "nav") if n.get("class") == "pager"] == [table.get("id") + "-pager"]
    assert len(elements(table, "tr")) == 31  # every row is in the page; the script shows 25 at a time
    whole = parse(htmlpage.render(tiny_page(htmlpage.Table(frame, "all", page_size=0))))
    assert elements(whole, "table")[0].get("data-page") == "0"
    empty = htmlpage.render(tiny_page(htmlpage.Table(frame.iloc[:0], "none")))
    assert "No rows." in empty


def test_text_keyvalues_and_code_are_shown_as_written():
    text = htmlpage.render(
        tiny_page(
            htmlpage.Text("first  paragraph\nstill first\n\nsecond"),
            htmlpage.KeyValues([("wall-clock", "12.5 s"), ("n", 3)]),
            htmlpage.Code("a:\n  b: <1>\n", caption="spec"),
        )
    )
    assert "<p>first paragraph still first</p><p>second</p>" in text
    assert "<dt>wall-clock</dt><dd>12.5 s</dd><dt>n</dt><dd>3</dd>" in text
    assert "<pre><code>a:\n  b: &lt;1&gt;\n</code></pre>" in text


def test_the_contents_link_every_section():
    page = sample_page(n_rows=20)
    tree = parse(htmlpage.render(page))
    toc = [a.get("href") for a in elements(elements(tree, "nav")[0], "a")]
    assert toc == [f"#{s}" for s in SECTIONS]


# ---------------------------------------------------------------------------------------------
# SVG


@pytest.mark.slow
def test_figure_svg_is_deterministic_compact_and_dateless():
    fig = curves_figure("a title", points=200)
    svg = draw.figure_svg(fig)
    assert svg == draw.figure_svg(curves_figure("a title", points=200))
    assert "<metadata" not in svg and "dc:date" not in svg and "\n" not in svg
    coordinates = re.findall(r' (?:d|x|y|width|height)="([^"]*)"', svg.split(">", 1)[1])
    assert coordinates and not [c for c in coordinates if re.search(r"\d\.\d\d", c)]  # at 0.1 pt
    raw = io.StringIO()
    fig.savefig(raw, format="svg")
    assert len(svg) < 0.6 * len(raw.getvalue())


def absolute_points(d: str) -> list[tuple[float, float]]:
    """The vertices of a path of M, L, l and z commands (implicit repeats included), read by hand."""
    tokens = re.findall(r"[MLlz]|-?(?:\d+\.?\d*|\.\d+)", d)
    points, command, x, y, start, i = [], None, 0.0, 0.0, (0.0, 0.0), 0
    while i < len(tokens):
        if tokens[i] in "MLlz":
            command = tokens[i]
            i += 1
            if command == "z":
                (x, y) = start
            continue
        dx, dy = float(tokens[i]), float(tokens[i + 1])
        x, y = (x + dx, y + dy) if command == "l" else (dx, dy)
        start = (x, y) if command == "M" else start
        command = "L" if command == "M" else command
        points.append((x, y))
        i += 2
    return points


def test_compact_path_keeps_every_vertex_within_half_a_rounding_step():
    rng = np.random.default_rng(0)
    vertices = np.cumsum(rng.normal(0, 3, size=(500, 2)), axis=0) + 200
    d = "M " + " L ".join(f"{x:.6f} {y:.6f}" for x, y in vertices[:300]) + " z "
    d += "M " + " L ".join(f"{x:.6f} {y:.6f}" for x, y in vertices[300:]) + " z"
    compact = htmlpage._compact_path(d, 1)
    assert len(compact) < 0.5 * len(d)
    np.testing.assert_allclose(absolute_points(compact), vertices, atol=0.05 + 1e-9, rtol=0)
    assert (
        htmlpage._compact_path("M 45.845524 250.136219 \nL -0.04 1e-3 L 3 -4.96 z", 1) == "M45.8 250.1l-45.8-250.1 3-5z"
    )
    assert htmlpage._compact_path("M 0 0 L 0.5 0.5 L 1 1 z", 1) == "M0 0l.5.5.5.5z"  # '.5.5' reads as .5, .5
    assert htmlpage._compact_path("M 1.04 2 C 1 2 3 4 5.55 6 z", 1) == "M1 2C1 2 3 4 5.6 6z"  # curves: rounded in place


def test_embedded_svg_keeps_its_shape_and_gets_a_label():
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300pt" height="150pt"><rect id="r" width="5" height="5"/></svg>'
    )
    out = htmlpage.embed_svg(svg, "a <b>box</b>", "pg-f1-")
    assert 'viewBox="0 0 300 150"' in out and 'style="max-width:400px"' in out
    assert 'role="img" aria-label="a &lt;b&gt;box&lt;/b&gt;"' in out and 'id="pg-f1-r"' in out
    assert 'width="300pt"' not in out


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("<script>alert(1)</script>", "<script> is not allowed"),
        ('<rect onload="alert(1)"/>', "event handler"),
        ('<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>', "foreignObject"),
        ('<image href="http://127.0.0.1:9/x.png"/>', "only #ids and data: images"),
        ('<rect style="fill: url(http://127.0.0.1:9/x)"/>', "refers outside"),
        ("<style>body{display:none}</style>", "<style> is not allowed"),
        ('<a href="#x"><rect/></a>', "<a> is not allowed"),
    ],
)
def test_unsafe_svg_is_refused(inner, message):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">{inner}</svg>'
    with pytest.raises(ValueError, match=re.escape(message)):
        htmlpage.render(tiny_page(htmlpage.Figure(svg, alt="x")))


@pytest.mark.parametrize(
    ("svg", "message"),
    [
        ("<svg><rect/></svg>", "SVG namespace"),
        ("not xml", "not well-formed"),
        ('<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"/>', "entity"),
        ('<svg xmlns="http://www.w3.org/2000/svg"/>', "viewBox"),
    ],
)
def test_what_is_not_an_svg_image_is_refused(svg, message):
    with pytest.raises(ValueError, match=message):
        htmlpage.render(tiny_page(htmlpage.Figure(svg, alt="x")))


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (htmlpage.Page("t", [htmlpage.Section("a", "A", []), htmlpage.Section("a", "B", [])]), "used twice"),
        (htmlpage.Page("t", [htmlpage.Section("1st", "A", [])]), "expected a letter"),
        (htmlpage.Page("t", [htmlpage.Section('x" onclick="', "A", [])]), "expected a letter"),
        (htmlpage.Page("t", [htmlpage.Section("pg-t1", "A", [])]), "not starting with 'pg-'"),
        (
            tiny_page(htmlpage.Figure('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>', alt=" ")),
            "alt text",
        ),
        (tiny_page(htmlpage.Table(pd.DataFrame({"a": [1]}), "t", formats={"b": ".2f"})), "no column 'b'"),
        (tiny_page(htmlpage.Table(pd.DataFrame({"a": [1]}), "t", status="status")), "no column 'status'"),
        (tiny_page(htmlpage.Table(pd.DataFrame({"a": [1.5]}), "t", formats={"a": "d"})), "format 'd' for column 'a'"),
        (tiny_page("plain text"), "must be one of"),
        (tiny_page(htmlpage.Compare([htmlpage.Panel("p", [htmlpage.Compare([])])])), "must be one of"),
        (htmlpage.Page("t", ["not a section"]), "Section(id, title, blocks)"),
    ],
)
def test_bad_pages_are_refused_in_one_line(page, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        htmlpage.render(page)
    assert "\n" not in str(error.value)


def test_rendering_a_page_loads_no_matplotlib():
    """A page needs no matplotlib (figure_svg lives in pgcli.shell.draw)."""
    code = (
        "import sys\nfrom pgcli.shell import htmlpage\n"
        "htmlpage.render(htmlpage.Page('t', [htmlpage.Section('s', 's', [htmlpage.Text('x')])]))\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_slug_makes_a_valid_unused_id():
    assert htmlpage.slug("CartPole sweep (lr=0.03)") == "cartpole-sweep-lr-0-03"
    assert htmlpage.slug("cartpole", taken=["cartpole", "cartpole-2"]) == "cartpole-3"
    assert htmlpage.slug("2024 results") == "s-2024-results" and htmlpage.slug("<>") == "section"
    assert htmlpage.slug("pg-internal") == "s-pg-internal"
    for text in ("CartPole sweep", "2024", HOSTILE, "pg-x"):
        assert htmlpage.ID_PATTERN.fullmatch(htmlpage.slug(text)) and not htmlpage.slug(text).startswith("pg-")
