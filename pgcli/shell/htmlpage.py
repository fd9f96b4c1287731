"""One self-contained HTML page: a title, linkable sections, and blocks of text, code, key–value
pairs, sortable paged tables and inline SVG figures.

    page = Page("cartpole-sweep", [Section("summary", "Summary", [Table(frame, "final return")])])
    text = render(page)   # str: write it with atomic.write_bytes(path, text.encode())

Everything is inline — the CSS, one small script, the figures as SVG — and the page loads
nothing: a Content-Security-Policy (``default-src 'none'``, the script allowed by its SHA-256
hash) makes the browser refuse any request, so the file opens the same from an e-mail attachment
or a CI artifact, and an injected script would not run. Every string of the page is escaped
(run labels and spec values are data, possibly hostile); figures are checked against a whitelist
of SVG elements and may reference only their own ids or data: images. The same page gives the
same bytes.

Tables sort on a click of their header (numbers numerically, blanks last either way; click again
to reverse) and show ``page_size`` rows at a time with previous/next buttons; without JavaScript
every row is shown. Figures scale to the column; tables scroll sideways in their own box, so the
page reads at 1280 px and at 390 px wide.

pgcli.shell.draw.figure_svg(fig) renders a matplotlib Figure to compact, deterministic SVG text
for a Figure block (`compact_svg`); this module never imports matplotlib.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from itertools import count
from typing import NamedTuple

import numpy as np

from pgcli import __version__
from pgcli.base import lazy

pd = lazy.module("pandas")

PAGE_SIZE = 25
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
STATUS_CLASSES = {"PASS": "st-pass", "FAIL": "st-fail", "SKIP": "st-skip"}
ID_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
RESERVED_PREFIX = "pg-"  # the page's own ids (tables, figure internals)


class Text(NamedTuple):
    """Paragraphs of plain text, separated by blank lines."""

    text: str


class Code(NamedTuple):
    """Preformatted text (a spec as YAML, a traceback line), with an optional caption."""

    text: str
    caption: str = ""


class KeyValues(NamedTuple):
    """(key, value) pairs: versions, machine, date, wall-clock. Values are shown as str(value)."""

    pairs: Sequence[tuple[str, object]]
    caption: str = ""


class Table(NamedTuple):
    """A DataFrame (its index is not shown), sortable by a click on a column's header.

    formats: column → format spec (``".3g"``, ``",d"``) for its non-blank values; other numbers
    are shown with ``.6g``. status: a column whose PASS / FAIL / SKIP values are styled.
    page_size: rows shown at a time (0: all)."""

    frame: pd.DataFrame
    caption: str = ""
    formats: Mapping[str, str] | None = None
    status: str | None = None
    page_size: int = PAGE_SIZE


class Figure(NamedTuple):
    """An SVG image (text, e.g. from figure_svg), its alt text (required) and a caption."""

    svg: str
    alt: str
    caption: str = ""


class Panel(NamedTuple):
    """One column of a Compare block: a title (an experiment's name) and its blocks."""

    title: str
    blocks: Sequence[object]


class Compare(NamedTuple):
    """Panels side by side where the page is wide enough, one under the other where it is not."""

    panels: Sequence[Panel]
    caption: str = ""


class Section(NamedTuple):
    """A linkable part of the page (``#id``), listed in the table of contents."""

    id: str
    title: str
    blocks: Sequence[object]


class Page(NamedTuple):
    title: str
    sections: Sequence[Section]
    footer: str = f"Written by pgcli {__version__}. Self-contained: it loads nothing from anywhere."


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------------------------
# blocks


def _text(block: Text, ids) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", block.text) if p.strip()]
    return "".join(f"<p>{_e(' '.join(p.split()))}</p>" for p in paragraphs)


def _caption(caption: str, tag: str = "figcaption") -> str:
    return f"<{tag}>{_e(caption)}</{tag}>" if caption else ""


def _code(block: Code, ids) -> str:
    return f'<figure class="code">{_caption(block.caption)}<pre><code>{_e(block.text)}</code></pre></figure>'


def _key_values(block: KeyValues, ids) -> str:
    items = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in block.pairs)
    return f'<figure class="kv">{_caption(block.caption)}<dl>{items}</dl></figure>'


def _is_number_column(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _number_key(value) -> str:
    """The value the script sorts a number by: JavaScript's Number() reads it back exactly."""
    value = float(value)
    return "Infinity" if value == math.inf else "-Infinity" if value == -math.inf else repr(value)


def _cell(value, number: bool, spec: str | None, column: str) -> tuple[str, str]:
    """(shown text, sort key or '' when the text sorts as itself)."""
    if value is None or (not isinstance(value, str | list | tuple) and pd.isna(value)):
        return "", ""
    if not spec and (not number or isinstance(value, np.integer | int)):
        return str(value if not number else int(value)), ""
    try:
        shown = format(value, spec or ".6g")
    except (ValueError, TypeError) as err:
        raise ValueError(f"Table format {spec!r} for column {column!r}: {err}") from None
    key = _number_key(value) if number else ""
    return shown, ("" if key == shown else key)


def _table(block: Table, ids) -> str:
    frame, formats = block.frame, dict(block.formats or {})
    columns = [str(c) for c in frame.columns]
    for name in [*formats, *([block.status] if block.status else [])]:
        if name not in columns:
            raise ValueError(f"Table {block.caption!r}: no column {name!r} (columns: {', '.join(columns)})")
    if len(set(columns)) != len(columns):
        raise ValueError(f"Table {block.caption!r}: duplicate column names")
    table_id = f"{RESERVED_PREFIX}t{next(ids)}"
    numbers = [_is_number_column(frame.iloc[:, j]) for j in range(len(columns))]
    head = "".join(
        f'<th scope="col"{" data-type=num" if number else ""}><button type="button">{_e(name)}</button></th>'
        for name, number in zip(columns, numbers, strict=True)
    )
    status = columns.index(block.status) if block.status else -1
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for j, value in enumerate(values):
            shown, key = _cell(value, numbers[j], formats.get(columns[j]), columns[j])
            classes = ["num"] if numbers[j] else []
            if j == status and shown.strip().upper() in STATUS_CLASSES:
                classes.append(STATUS_CLASSES[shown.strip().upper()])
            attributes = (f' class="{" ".join(classes)}"' if classes else "") + (f' data-v="{_e(key)}"' if key else "")
            cells.append(f"<td{attributes}>{_e(shown)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    paged = block.page_size > 0 and len(rows) > block.page_size
    pager = (
        f'<nav class="pager" id="{table_id}-pager" aria-label="pages of the table" hidden>'
        '<button type="button" data-step="-1">‹ previous</button><span class="pos" aria-live="polite"></span>'
        '<button type="button" data-step="1">next ›</button></nav>'
        if paged
        else ""
    )
    label = _e(block.caption or "table")
    empty = "" if rows else '<p class="empty">No rows.</p>'
    return (
        f'<figure class="table">{_caption(block.caption)}<div class="scroll" role="region" tabindex="0" '
        f'aria-label="{label}"><table class="data" id="{table_id}" data-page="{block.page_size if paged else 0}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{empty}{pager}</figure>"
    )


def _figure(block: Figure, ids) -> str:
    if not str(block.alt).strip():
        raise ValueError(f"Figure {block.caption!r}: alt text is required (what the figure shows, for a screen reader)")
    svg = embed_svg(block.svg, block.alt, f"{RESERVED_PREFIX}f{next(ids)}-")
    return f'<figure class="fig">{svg}{_caption(block.caption)}</figure>'


def _compare(block: Compare, ids) -> str:
    panels = []
    for panel in block.panels:
        if not isinstance(panel, Panel):
            raise ValueError(f"Compare holds Panel(title, blocks), got {type(panel).__name__}")
        panels.append(f'<div class="panel"><h3>{_e(panel.title)}</h3>{_blocks(panel.blocks, ids, nested=True)}</div>')
    return f'<figure class="compare-box">{_caption(block.caption)}<div class="compare">{"".join(panels)}</div></figure>'


BLOCKS = {Text: _text, Code: _code, KeyValues: _key_values, Table: _table, Figure: _figure, Compare: _compare}


def _blocks(blocks: Sequence[object], ids: Iterator[int], nested: bool = False) -> str:
    parts, figures = [], []
    for block in [*blocks, None]:
        kind = type(block)
        if kind is not Figure and figures:  # a run of figures flows in a grid: two abreast on a wide page
            parts.append(f'<div class="figs">{"".join(figures)}</div>' if len(figures) > 1 else figures[0])
            figures = []
        if block is None:
            break
        if kind not in BLOCKS or (nested and kind is Compare):
            allowed = ", ".join(k.__name__ for k in BLOCKS if not (nested and k is Compare))
            raise ValueError(f"a page block must be one of {allowed}, got {kind.__name__}")
        (figures if kind is Figure else parts).append(BLOCKS[kind](block, ids))
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# SVG: checked, namespaced per figure, labelled


ELEMENTS = {  # what matplotlib writes, and nothing that runs code or loads anything
    *("svg", "g", "defs", "path", "use", "clipPath", "rect", "circle", "ellipse", "line", "polyline", "polygon"),
    *("text", "tspan", "title", "desc", "linearGradient", "radialGradient", "stop", "pattern", "mask", "marker"),
    *("symbol", "image", "metadata"),
}
DATA_IMAGE = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*\Z")
EXTERNAL = re.compile(r"url\(\s*(?![\"']?#)|image-set|@import", re.IGNORECASE)


def _parse_svg(text: str) -> ET.Element:
    """The root <svg> element; ValueError for a DTD with entities or anything not SVG."""
    if "<!ENTITY" in text:
        raise ValueError("Figure svg: entity declarations are not allowed")
    text = re.sub(r"\A\s*<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>\[]*>", "", text, count=1)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError(f"Figure svg is not well-formed XML: {err}") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ValueError(f"Figure svg: the root element must be <svg> in the SVG namespace, got {root.tag}")
    for element in root.iter():  # SVG elements by their local names (a foreign one keeps its {ns})
        element.tag = _local(element.tag)
        if XLINK_HREF in element.attrib:  # SVG 2 reads plain href; HTML knows no xlink namespace
            element.set("href", element.attrib.pop(XLINK_HREF))
    return root


def _local(tag: str) -> str:
    return tag[len(SVG_NS) + 2 :] if tag.startswith(f"{{{SVG_NS}}}") else tag


def _drop(root: ET.Element, local_name: str) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == local_name:
                parent.remove(child)


def _check_svg(root: ET.Element) -> None:
    """Refuse what could run code or make a request: unknown or foreign elements, event
    handlers, <style> (it would apply to the whole page), links other than #ids and data: images."""
    for element in root.iter():
        name = element.tag
        if name not in ELEMENTS:
            raise ValueError(f"Figure svg: element <{name}> is not allowed")
        for attribute, value in element.attrib.items():
            if attribute.lower().startswith("on"):
                raise ValueError(f"Figure svg: event handler {attribute!r} on <{name}> is not allowed")
            if attribute.startswith("{") and attribute != XML_SPACE:
                raise ValueError(f"Figure svg: attribute {attribute} on <{name}> is not allowed")
            if attribute == "href" and not (value.startswith("#") or DATA_IMAGE.match(value)):
                raise ValueError(f"Figure svg: <{name}> links to {value[:60]!r}; only #ids and data: images")
            if EXTERNAL.search(value):
                raise ValueError(f"Figure svg: {attribute!r} on <{name}> refers outside the figure")


def _prefix_ids(root: ET.Element, prefix: str) -> None:
    """Make every id unique on the page: id → prefix+id, and each #id reference with it."""
    for element in root.iter():
        for attribute, value in element.attrib.items():
            if attribute == "id":
                element.set("id", prefix + value)
            elif attribute == "href" and value.startswith("#"):
                element.set("href", "#" + prefix + value[1:])
            elif "url(#" in value:
                element.set(attribute, re.sub(r"url\(\s*#", "url(#" + prefix, value))


def _length_px(value: str | None) -> float | None:
    """An SVG length in CSS px (pt = 4/3 px), None when absent or relative."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(px|pt)?\s*", value or "")
    if not match:
        return None
    return float(match.group(1)) * (4 / 3 if match.group(2) == "pt" else 1)


def _serialize(root: ET.Element) -> str:
    root.attrib.pop("xmlns", None)
    root.attrib = {"xmlns": SVG_NS, **root.attrib}
    return ET.tostring(root, encoding="unicode")


def embed_svg(svg: str, alt: str, prefix: str) -> str:
    """The SVG text as it goes in the page: checked, ids prefixed, scaled to the column (at most
    its own width), and labelled for screen readers (role=img, aria-label=alt)."""
    root = _parse_svg(svg)
    _drop(root, "metadata")
    _check_svg(root)
    if any(element.tag == "style" for element in root.iter()):
        raise ValueError("Figure svg: <style> is not allowed (it would style the whole page)")
    _prefix_ids(root, prefix)
    width, height = _length_px(root.get("width")), _length_px(root.get("height"))
    if root.get("viewBox") is None:
        if width is None or height is None:
            raise ValueError("Figure svg needs a viewBox or a width and height in px or pt")
        root.set("viewBox", f"0 0 {root.get('width').rstrip('ptx ')} {root.get('height').rstrip('ptx ')}")
    for attribute in ("width", "height", "role", "aria-label", "style"):
        root.attrib.pop(attribute, None)
    root.set("role", "img")
    root.set("aria-label", " ".join(str(alt).split()))
    if width:
        root.set("style", f"max-width:{width:.0f}px")
    return _serialize(root)


# ---------------------------------------------------------------------------------------------
# matplotlib figures as compact SVG

MATPLOTLIB_STYLE = "*{stroke-linejoin: round; stroke-linecap: butt}"  # in every matplotlib SVG; the page's CSS has it
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
PATH_TOKEN = re.compile(r"[A-Za-z]|" + NUMBER.pattern)
GEOMETRY = ("x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "width", "height")  # plain numbers only


def _units(number: str, digits: int) -> int:
    """A coordinate in units of 10^-digits: the rounding is done once, on integers after this."""
    return round(float(number) * 10**digits)


def _number_text(units: int, digits: int) -> str:
    """units × 10^-digits as short text: 8 → '.8', -22 → '-2.2', 10 → '1', 0 → '0'."""
    whole, fraction = divmod(abs(units), 10**digits)
    fraction_text = f"{fraction:0{digits}d}".rstrip("0") if digits else ""
    text = (str(whole) if whole or not fraction_text else "") + (f".{fraction_text}" if fraction_text else "")
    return ("-" if units < 0 else "") + text


def _join(tokens: list[str]) -> str:
    """Path tokens with only the separators a parser needs ('1 2', '1-2', '1.5.5' = 1.5, .5)."""
    out, last = [], None
    for token in tokens:
        if token.isalpha():
            out.append(token)
            last = None
            continue
        needs_space = last is not None and not token.startswith("-") and not (token.startswith(".") and "." in last)
        out.append((" " if needs_space else "") + token)
        last = token
    return "".join(out)


def _is_polyline(tokens: list[str]) -> bool:
    """M x y, L x y and z only, each coordinate pair after its own command (how matplotlib writes lines)."""
    i = 0
    while i < len(tokens):
        if tokens[i] in ("z", "Z"):
            i += 1
        elif tokens[i] in ("M", "L") and i + 2 < len(tokens) and not any(t.isalpha() for t in tokens[i + 1 : i + 3]):
            i += 3
        else:
            return False
    return bool(tokens) and tokens[0] == "M"


def _compact_path(d: str, digits: int) -> str:
    """Path data at `digits` decimals, short: a polyline as its first point, then relative steps
    (l dx dy, the steps between the *rounded* points, so no error accumulates); any other path
    with its numbers rounded where they are."""
    tokens = PATH_TOKEN.findall(d)
    if not _is_polyline(tokens):
        return _join([t if t.isalpha() else _number_text(_units(t, digits), digits) for t in tokens])
    out, start, previous, relative, i = [], (0, 0), (0, 0), False, 0
    while i < len(tokens):
        if tokens[i] in ("z", "Z"):
            out.append("z")
            previous, relative, i = start, False, i + 1
            continue
        point = (_units(tokens[i + 1], digits), _units(tokens[i + 2], digits))
        if tokens[i] == "M":
            out += ["M", *(_number_text(v, digits) for v in point)]
            start, relative = point, False
        else:
            out += [] if relative else ["l"]
            out += [_number_text(point[0] - previous[0], digits), _number_text(point[1] - previous[1], digits)]
            relative = True
        previous, i = point, i + 3
    return _join(out)


def compact_svg(svg: str, digits: int = 1) -> str:
    """matplotlib's SVG made small: no metadata, no indentation, matplotlib's one global <style>
    rule dropped (the page applies it), coordinates of paths and shapes rounded to `digits` decimals
    (0.1 pt is a seventh of a pixel at 100 % zoom; transforms, which may scale, are kept as they
    are). The text of labels is not touched."""
    root = _parse_svg(svg)
    _drop(root, "metadata")
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == "style" and " ".join((child.text or "").split()) == MATPLOTLIB_STYLE:
                parent.remove(child)
    for element in root.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
        for attribute in ("d", "points"):
            if attribute in element.attrib:
                element.set(attribute, _compact_path(element.attrib[attribute], digits))
        for attribute in GEOMETRY:
            if NUMBER.fullmatch(element.attrib.get(attribute, "")):
                element.set(attribute, _number_text(_units(element.attrib[attribute], digits), digits))
    _drop_empty_defs(root)
    return _serialize(root)


def _drop_empty_defs(root: ET.Element) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == "defs" and not len(child):
                parent.remove(child)


# ---------------------------------------------------------------------------------------------
# the page

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da;--pass:#1a7f37;--fail:#cf222e;--skip:#9a6700;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif;color:var(--fg);background:#fff;-webkit-text-size-adjust:100%}
header,nav.toc,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.6rem;line-height:1.25;margin:1.2rem 0 .6rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;line-height:1.3;margin:2.2rem 0 .8rem;padding-bottom:.3rem;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
h2 a{color:inherit;text-decoration:none}h2 a:hover::after{content:" #";color:var(--muted)}
h3{font-size:1.05rem;margin:.9rem 0 .5rem;overflow-wrap:anywhere}
a{color:var(--accent)}
p{margin:.5rem 0;max-width:48rem;overflow-wrap:anywhere}
nav.toc{font-size:.95rem}nav.toc h2{font-size:1rem;margin:.8rem 0 .3rem;border:0}
nav.toc ol{margin:0;padding-left:1.5rem;columns:16rem;column-gap:3rem}nav.toc li{overflow-wrap:anywhere}
figure{margin:1rem 0;min-width:0}
figcaption{color:var(--muted);font-size:.9rem;padding:.25rem 0}
pre{margin:0;background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;overflow:auto;max-height:36rem;font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.kv dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem 1.2rem;margin:0}
.kv dt{font-weight:600;color:var(--muted)}.kv dd{margin:0;overflow-wrap:anywhere}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,30rem),1fr));gap:0 1.5rem;align-items:start}
.fig svg{display:block;width:100%;height:auto;background:#fff}
.fig svg *{stroke-linejoin:round;stroke-linecap:butt}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
.scroll:focus-visible{outline:2px solid var(--accent)}
table{border-collapse:collapse;min-width:100%;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .65rem;border-top:1px solid var(--line);text-align:left;vertical-align:top}
th,td.num{white-space:nowrap}td{overflow-wrap:break-word;min-width:4rem}
td.num,th[data-type=num]{text-align:right}
thead th{border-top:0;background:var(--soft)}
th button{all:unset;cursor:pointer;font-weight:600}
th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafbfc}
td.st-pass{color:var(--pass);font-weight:700}td.st-skip{color:var(--skip);font-weight:700}
td.st-fail{color:#fff;background:var(--fail);font-weight:700}
.pager{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;padding:.45rem 0;font-size:.9rem}
.pager button{font:inherit;padding:.2rem .75rem;border:1px solid var(--line);border-radius:6px;background:var(--soft);color:inherit;cursor:pointer}
.pager button:disabled{opacity:.45;cursor:default}
.empty{color:var(--muted)}
.compare{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,24rem),1fr));gap:1rem}
.panel{min-width:0;border:1px solid var(--line);border-radius:8px;padding:0 .8rem}
footer{margin-top:3rem;padding-bottom:2rem;color:var(--muted);font-size:.85rem}
@media (max-width:30rem){body{font-size:14px}header,nav.toc,main,footer{padding:0 .6rem}.kv dl{grid-template-columns:minmax(0,1fr)}.kv dd{margin-bottom:.35rem}}
"""

SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator("en", {numeric: true});
  function key(cell, numeric) {
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent;
    if (v === "") return null;
    if (!numeric) return v;
    var n = Number(v);
    return isNaN(n) ? null : n;
  }
  function setup(table) {
    var body = table.tBodies[0], size = Number(table.getAttribute("data-page")) || 0, page = 0;
    var pager = document.getElementById(table.id + "-pager");
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    function show() {
      var rows = body.rows, n = rows.length, pages = size ? Math.max(1, Math.ceil(n / size)) : 1;
      page = Math.min(Math.max(page, 0), pages - 1);
      for (var i = 0; i < n; i++) rows[i].hidden = size > 0 && (i < page * size || i >= (page + 1) * size);
      if (!pager) return;
      pager.hidden = false;
      pager.querySelector(".pos").textContent =
        "rows " + (page * size + 1) + "\\u2013" + Math.min(n, (page + 1) * size) + " of " + n;
      pager.querySelector("[data-step='-1']").disabled = page === 0;
      pager.querySelector("[data-step='1']").disabled = page === pages - 1;
    }
    function sort(column) {
      var th = headers[column], numeric = th.getAttribute("data-type") === "num";
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var keyed = Array.prototype.map.call(body.rows, function (row, i) {
        return {row: row, i: i, v: key(row.cells[column], numeric)};
      });
      keyed.sort(function (a, b) {
        if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : (a.v === null ? 1 : -1);
        var d = numeric ? (a.v < b.v ? -1 : a.v > b.v ? 1 : 0) : collator.compare(a.v, b.v);
        return (ascending ? d : -d) || a.i - b.i;
      });
      keyed.forEach(function (k) { body.appendChild(k.row); });
      page = 0;
      show();
    }
    headers.forEach(function (th, column) {
      th.querySelector("button").addEventListener("click", function () { sort(column); });
    });
    if (pager) pager.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-step]");
      if (button) { page += Number(button.getAttribute("data-step")); show(); }
    });
    show();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.data"), setup);
})();
"""


def _policy(script: str) -> str:
    """No request of any kind; styles inline; the one script by its hash; images only data:."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def _check_ids(sections: Sequence[Section]) -> None:
    seen = set()
    for section in sections:
        if not isinstance(section, Section):
            raise ValueError(f"a page holds Section(id, title, blocks), got {type(section).__name__}")
        if not ID_PATTERN.fullmatch(section.id) or section.id.startswith(RESERVED_PREFIX):
            raise ValueError(
                f"section id {section.id!r}: expected a letter, then letters, digits, '-' or '_' "
                f"(not starting with {RESERVED_PREFIX!r}; slug() makes one from any text)"
            )
        if section.id in seen:
            raise ValueError(f"section id {section.id!r} is used twice")
        seen.add(section.id)


def slug(text: str, taken: Sequence[str] = ()) -> str:
    """A section id from any text: 'CartPole sweep (lr=0.03)' → 'cartpole-sweep-lr-0-03', with
    -2, -3, ... appended when the id is in `taken`."""
    base = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "section"
    base = base if base[0].isalpha() and not base.startswith(RESERVED_PREFIX) else f"s-{base}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def render(page: Page) -> str:
    """The page as one HTML document (str). ValueError, one line, for a bad id, a figure without
    alt text or with unsafe SVG, a Table format or status naming no column, an unknown block."""
    _check_ids(page.sections)
    ids = count(1)
    toc = "".join(f'<li><a href="#{s.id}">{_e(s.title)}</a></li>' for s in page.sections)
    sections = "".join(
        f'<section id="{s.id}"><h2><a href="#{s.id}">{_e(s.title)}</a></h2>{_blocks(s.blocks, ids)}</section>'
        for s in page.sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_policy(SCRIPT)}">\n'
        f'<meta name="generator" content="pgcli {_e(__version__)}">\n'
        f"<title>{_e(page.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(page.title)}</h1></header>\n"
        f'<nav class="toc" aria-label="contents"><h2>Contents</h2><ol>{toc}</ol></nav>\n'
        f"<main>{sections}</main>\n"
        f"<footer>{_e(page.footer)}</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
