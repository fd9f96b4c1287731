"""Figures drawn with matplotlib from prepared requests (pgcli.shell.plot): convergence and
variance curves, performance profiles of final scores, the estimator lab's variance and bias,
the Fisher identities, metrics per named row (an estimator) against a setting; and their bytes.

The only module that imports matplotlib (Agg, no display); the same request gives the same bytes
(fixed metadata and SVG hash salt).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.ticker import EngFormatter

from pgcli.lab.dist_spec import parse_theta_text
from pgcli.shell import atomic, curves, stats
from pgcli.shell.plan import value_text
from pgcli.shell.plot import LABELS, LOG_METRICS, Plot, lower_is_better

matplotlib.use("Agg")

COUNT_AXES = ("env_steps", "samples")


def _figure(ncols: int, title: str):
    from matplotlib.figure import Figure  # on first use: other commands need not import it

    fig = Figure(figsize=(4.6 * ncols + 1.0, 4.4), layout="constrained")
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    fig.suptitle(title.replace("$", r"\$"))  # text, never mathtext (a hostile title cannot stall the parser)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def _legend(fig, axes):
    """One legend for the figure, outside the data, each label once."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:  # below the axes: clear of the data and of the title
        ncols = 1 if len(handles) == 1 or len(axes) == 1 else 2
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncols=ncols, fontsize="small")


def _reference(ax, xs, anchors, power: float, label: str):
    """The line c·x^power through the median of the curves' values at xs[0] (the median, so
    an estimator with (numerically) zero variance does not drag it away from the others)."""
    xs = np.asarray(xs, dtype=float)
    anchors = np.asarray(anchors, dtype=float)
    anchors = anchors[np.isfinite(anchors) & (anchors > 0)]
    if len(xs) > 1 and anchors.size:
        c = np.median(anchors) / xs[0] ** power
        ax.plot(xs, c * xs**power, color="0.3", ls=":", lw=1.2, label=label)


def _curve_name(label: str, curve: pd.DataFrame) -> str:
    """'label (5 runs; 4 held at their final value after reaching the target)'."""
    runs, held = int(curve["n_runs"].max()), int(curve["n_held"].max())
    count = f"{runs} run{'s' * (runs > 1)}"
    if held:
        count += f"; {held} stopped at the target, held at their final value"
    return f"{label} ({count})" if label else count


def _mark_counts(ax, curve: pd.DataFrame, x: str, color: str) -> None:
    """Where the number of runs a point averages changes (once every run has started), write the
    new number on the curve."""
    n = curve["n_runs"].to_numpy()
    for j in np.flatnonzero(n[1:] != n[:-1]) + 1:
        if j <= np.argmax(n):  # runs whose first batch is longer start a little later
            continue
        ax.annotate(
            f"n={n[j]}", (curve[x].iloc[j], curve["mean"].iloc[j]), color=color, fontsize="x-small",
            xytext=(2, 4), textcoords="offset points",
        )  # fmt: skip


def curves_figure(panels, x: str, title: str, target: float | None = None, labels: dict | None = None):
    """One axes per (y, curves from group_curves): mean lines and bands, log y for variances."""
    labels = LABELS if labels is None else labels
    fig, axes = _figure(len(panels), title)
    for ax, (y, table) in zip(axes, panels, strict=True):
        for i, (label, curve) in enumerate(table.groupby("label", sort=False)):
            color = f"C{i % 10}"
            ax.plot(curve[x], curve["mean"], color=color, lw=1.5, label=_curve_name(label, curve))
            band = np.isfinite(curve["lo"].to_numpy(float))
            if band.any():
                ax.fill_between(curve[x], curve["lo"], curve["hi"], where=band, color=color, alpha=0.2, lw=0)
            _mark_counts(ax, curve, x, color)
        ax.set(xlabel=labels.get(x, x), ylabel=labels.get(y, y))
        ax.set_yscale("log" if y in LOG_METRICS else "linear")
        if x in COUNT_AXES:
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 50k, 1M: no overlapping digits
        if len(panels) > 1:
            ax.set_title(y)
    if target is not None:
        axes[0].axhline(target, color="0.3", ls="--", lw=1, label=f"target {target:g}")
    _legend(fig, axes)
    return fig


def _theta_axis(thetas):
    """Numeric x for θ labels when one scalar parameter varies; else positions 0..k-1."""
    parsed = [parse_theta_text(t) for t in thetas]
    varying = [k for k in parsed[0] if len({str(p.get(k)) for p in parsed}) > 1]
    try:
        if len(varying) == 1:
            return np.array([float(p[varying[0]]) for p in parsed]), f"θ: {varying[0]}", None
    except (TypeError, ValueError):
        pass
    return np.arange(len(thetas), dtype=float), "θ", thetas


def estimator_figure(frame, hue=("estimator",), y="variance", title=""):
    """Var[ĝ] (or MSE) against n on log-log with a 1/n reference, at the middle θ; against θ at
    the largest n when θ varies; and the bias E[ĝ] − ∇θE[f] ± 2 standard errors (against θ
    when it varies, else n), which shows, e.g., pathwise failing on a step function."""
    ns = np.sort(frame["n_samples"].unique())
    thetas = list(dict.fromkeys(frame["theta"]))
    by_n, by_theta = len(ns) > 1 or len(thetas) == 1, len(thetas) > 1
    theta_x, theta_name, ticks = _theta_axis(thetas)
    frame = frame.assign(_theta=frame["theta"].map(dict(zip(thetas, theta_x, strict=True))))
    # each panel: (axes, rows it shows, x column)
    middle = thetas[len(thetas) // 2]  # a θ sweep's middle point is usually its most typical
    at_theta, at_n = frame["theta"] == middle, frame["n_samples"] == ns[-1]
    fig, axes = _figure(by_n + by_theta + 1, title)
    panels = [(ax, at_theta, "n_samples") for ax in axes[:by_n]]
    panels += [(ax, at_n, "_theta") for ax in axes[by_n : by_n + by_theta]]
    ax_bias = axes[-1]
    bias_rows, bias_x = (at_n, "_theta") if by_theta else (at_theta, "n_samples")
    anchors = []
    for i, (values, rows) in enumerate(curves.groups(frame, hue)):
        style = {"color": f"C{i % 10}", "marker": "o", "ms": 3, "label": curves.label(hue, values, True)}
        for ax, where, column in panels:
            line = rows[where.loc[rows.index]].groupby(column)[y].mean()
            ax.plot(line.index, line.to_numpy(), **style)
            if column == "n_samples":
                anchors.append(line.get(ns[0], np.nan))
        bias = rows[bias_rows.loc[rows.index]].groupby(bias_x)[["bias", "std_error"]].mean()
        ax_bias.plot(bias.index, bias["bias"].to_numpy(), **style)
        lo, hi = bias["bias"] - 2 * bias["std_error"], bias["bias"] + 2 * bias["std_error"]
        ax_bias.fill_between(bias.index, lo, hi, color=style["color"], alpha=0.2, lw=0)
    for ax, _, column in panels:
        ax.set(yscale="log", ylabel=LABELS[y])
        if column == "n_samples":
            _reference(ax, ns, anchors, -1.0, "∝ 1/n")
            ax.set(xscale="log", xlabel="samples per estimate n")
            ax.set_title(f"{y} against n (θ: {middle})", fontsize="medium")
        else:
            ax.set(xlabel=theta_name)
            ax.set_title(f"{y} against θ (n = {ns[-1]:,})", fontsize="medium")
    ax_bias.axhline(0.0, color="0.3", lw=0.8)
    ax_bias.set(ylabel="bias E[ĝ] − ∇θ E[f]  (±2 s.e.)")
    if by_theta:
        ax_bias.set(xlabel=theta_name)
        ax_bias.set_title(f"bias (n = {ns[-1]:,})", fontsize="medium")
    else:
        ax_bias.set(xscale="log", xlabel="samples per estimate n")
        ax_bias.set_title(f"bias (θ: {middle})", fontsize="medium")
    if ticks is not None:
        for ax in axes[by_n:]:
            ax.set_xticks(theta_x, ticks, rotation=30, ha="right", fontsize="x-small")
    _legend(fig, axes)
    return fig


def identities_figure(frame, hue=("quantity",), title=""):
    """Each entry's Monte Carlo estimate against its exact value at the largest n (on the
    diagonal when right), and the mean |empirical − exact| against n with a 1/√n reference."""
    ns = np.sort(frame["n_samples"].unique())
    fig, (ax_entries, ax_n) = _figure(2, title)
    anchors = []
    for i, (values, rows) in enumerate(curves.groups(frame, hue)):
        color, label = f"C{i % 10}", curves.label(hue, values, True)
        last = rows[rows["n_samples"] == ns[-1]]
        ax_entries.scatter(last["exact"], last["empirical"], s=18, color=color, label=label)
        error = rows.groupby("n_samples")["abs_error"].mean()
        ax_n.plot(error.index, error.to_numpy(), color=color, marker="o", ms=3, label=label)
        anchors.append(error.get(ns[0], np.nan))
    last = frame[frame["n_samples"] == ns[-1]]
    lims = [
        min(last["exact"].min(), last["empirical"].min()),
        max(last["exact"].max(), last["empirical"].max()),
    ]
    ax_entries.plot(lims, lims, color="0.3", ls="--", lw=0.8, label="empirical = exact")
    ax_entries.set(xlabel="exact value", ylabel="Monte Carlo estimate")
    ax_entries.set_title(f"every entry (n = {ns[-1]:,})", fontsize="medium")
    _reference(ax_n, ns, anchors, -0.5, "∝ 1/√n")
    ax_n.set(xscale="log", yscale="log", xlabel="samples n", ylabel="mean |empirical − exact|")
    ax_n.set_title("error against n", fontsize="medium")
    _legend(fig, [ax_entries, ax_n])
    return fig


def profile_figure(table, counts: dict, y: str, title: str, target: float | None = None, lower_better=False):
    """Performance profiles (Agarwal et al. 2021): for each group, the fraction of its runs whose
    final y is above τ against τ, with its 95% bootstrap band (table from
    pgcli.shell.stats.profile_table; counts: group → runs). A curve above another everywhere
    dominates it (below, when lower is better)."""
    fig, (ax,) = _figure(1, title)
    for i, (label, rows) in enumerate(table.groupby("group", sort=False)):
        color, runs = f"C{i % 10}", counts.get(label, 0)
        name = f"{label or 'all runs'} ({runs} run{'s' * (runs != 1)})"
        ax.step(rows["tau"], rows["fraction"], where="post", color=color, lw=1.5, label=name)
        band = np.isfinite(rows["lo"].to_numpy(float))
        if band.any():
            ax.fill_between(rows["tau"], rows["lo"], rows["hi"], where=band, step="post", color=color, alpha=0.2, lw=0)
    if target is not None:
        ax.axvline(target, color="0.3", ls="--", lw=1, label=f"target {target:g}")
    better = "lower" if lower_better else "higher"
    ax.set(xlabel=f"τ: final {LABELS.get(y, y)} ({better} is better)", ylabel=f"fraction of runs with final {y} > τ")
    ax.set_ylim(-0.02, 1.02)
    _legend(fig, [ax])
    return fig


METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def _draw_curves(plot: Plot):
    ys = [plot.y] if plot.figure == "convergence" else ["grad_var", "grad_snr"]
    hold = plot.figure == "convergence"  # a held return is a result; a held variance is not
    stat = plot.stat or "mean"
    panels = [(y, curves.group_curves(plot.frame, plot.x, y, plot.hue, plot.smooth, plot.band, hold=hold, stat=stat))
              for y in ys]  # fmt: skip
    return curves_figure(panels, plot.x, plot.title, plot.target, plot.axis_labels)


def metrics_figure(frame, x: str, ys, hue=(), title="", labels: dict | None = None):
    """One axes per metric y: its mean over the rows of each hue group (seeds, repeated cells) at
    each value of x, a line per group; where x takes one value, one marker per group, the groups
    along the axis. Log y for variances and signal-to-noise ratios."""
    labels = LABELS if labels is None else labels
    found = curves.groups(frame, hue)
    single = frame[x].nunique() <= 1
    fig, axes = _figure(len(ys), title)
    for ax, y in zip(axes, ys, strict=True):
        for i, (values, rows) in enumerate(found):
            style = {"color": f"C{i % 10}", "marker": "o", "ms": 4, "label": curves.label(hue, values, True)}
            if single:
                ax.plot([i], [rows[y].mean()], ls="none", **style)
            else:
                line = rows.groupby(x)[y].mean().dropna()
                ax.plot(line.index, line.to_numpy(), **style)
        if single:
            names = [", ".join(map(value_text, values)) for values, _ in found]
            ax.set_xticks(range(len(found)), names, rotation=30, ha="right", fontsize="small")
            ax.set_xlim(-0.5, len(found) - 0.5)
            ax.set_xlabel(f"{', '.join(hue)} ({x} = {value_text(frame[x].iloc[0])})")
        else:
            ax.set_xlabel(labels.get(x, x))
            values = np.sort(frame[x].dropna().unique())
            if len(values) <= 12:  # a setting's values (G = 2, 4, 8), not a continuum
                ax.set_xticks(values, [value_text(v) for v in values])
        ax.set(ylabel=labels.get(y, y), yscale="log" if y in LOG_METRICS else "linear")
        if len(ys) > 1:
            ax.set_title(y, fontsize="medium")
    if not single:  # one marker per group: the axis names them
        _legend(fig, axes)
    return fig


def _draw_profile(plot: Plot):
    finals = curves.final_scores(plot.frame, plot.hue, plot.y, plot.smooth)  # prepare saw a y: not empty
    table = stats.profile_table(finals)
    counts = {label: len(scores) for label, scores in finals.items()}
    return profile_figure(table, counts, plot.y, plot.title, plot.target, lower_is_better(plot))


# figure -> how it is drawn (pgcli.shell.plot.FIGURES says what each needs)
DRAW = {
    "convergence": _draw_curves,
    "variance": _draw_curves,
    "estimator": lambda p: estimator_figure(p.frame, p.hue, p.y, p.title),
    "identities": lambda p: identities_figure(p.frame, p.hue, p.title),
    "metrics": lambda p: metrics_figure(p.frame, p.x, p.ys, p.hue, p.title, p.axis_labels),
    "profile": _draw_profile,
}


def draw(plot: Plot):
    """The matplotlib Figure for a prepared request."""
    with warnings.catch_warnings():  # an all-zero variance on a log axis is a finding, not a fault
        warnings.filterwarnings("ignore", "Data has no positive values")
        return DRAW[plot.figure](plot)


def render(fig, fmt: str) -> bytes:
    """The figure's bytes: the same figure gives the same bytes (no dates, fixed SVG ids)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "pgcli", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, metadata=METADATA[fmt], dpi=150)
    return buffer.getvalue()


def save(fig, path: str | Path) -> Path:
    """Render, then write atomically; the format is the suffix (.png, .svg or .pdf)."""
    return atomic.write_bytes(path, render(fig, Path(path).suffix.lower().lstrip(".")))


def figure_svg(fig, digits: int = 1) -> str:
    """A Figure as compact SVG text for a report (pgcli.shell.htmlpage.Figure): rendered as
    `render` does (deterministic, text as paths), then htmlpage.compact_svg."""
    from pgcli.shell.htmlpage import compact_svg

    return compact_svg(render(fig, "svg").decode(), digits)
