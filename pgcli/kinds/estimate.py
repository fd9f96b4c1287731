"""The `estimate` kind: every estimator of ∇θ E_{p(x;θ)}[f(x)] against the exact gradient
(the estimator lab, pgcli.lab.estimate)."""

from __future__ import annotations

from pgcli.base.fields import Field, SpecError, between
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Shown, distribution
from pgcli.lab import distributions
from pgcli.lab import estimate as core
from pgcli.lab.dist_spec import MAX_VALUES, make_dists, samples_problem
from pgcli.lab.estimators import ESTIMATORS
from pgcli.lab.functions import NAMED, name_of, references

SCHEMA = {
    **distribution.SCHEMA,
    "f": Field(
        "functions",
        ["step"],
        "functions: name, name:arg, table:v0,v1,..., module:function, or an expression in x",
        refs=references,
        check=lambda fs: None if len(fs) <= MAX_VALUES else f"at most {MAX_VALUES} functions, got {len(fs):,}",
    ),
    "estimators": Field(
        "strs",
        None,
        "estimators to compare (default: every one that applies to the family and f)",
        choices=tuple(ESTIMATORS),
        nullable=True,
    ),
    "n": Field("ints", [10, 100, 1000], "samples per estimate", check=lambda v: samples_problem(v, core.MAX_N)),
    "reps": Field("int", 200, "independent estimates per cell", check=lambda v: samples_problem([v], core.MAX_REPS)),
    "h": Field("float", 0.01, "finite-difference step in θ", check=between(0, 1e3, above=True)),
    "temperature": Field("float", 0.5, "gumbel_softmax relaxation temperature τ", check=between(0, 1e3, above=True)),
    "dtype": Field(
        "str", "float64", "samples, scores and terms (exact columns stay float64)", choices=distributions.DTYPES
    ),
}


def settings(spec: dict) -> core.Settings:
    """The lab's settings of a resolved spec: every θ point as a Dist (SpecError at `theta`)."""
    dists = make_dists(spec["dist"], spec["parametrisation"], spec["theta"], spec["dim"], spec["dtype"])
    options = {"h": spec["h"], "temperature": spec["temperature"]}
    named = spec["estimators"] is not None
    estimators = spec["estimators"] if named else list(ESTIMATORS)
    return core.Settings(dists, spec["f"], estimators, spec["n"], spec["reps"], options, spec["seed"], named)


def run(spec: dict, progress) -> Result:
    table, notes = core.run(settings(spec), progress)
    return Result(table, notes=tuple(notes))


def show(shown: Shown) -> str | None:
    """The combined table: bias in standard errors (or, with --rank, the estimators ranked), a
    sweep's varying keys first."""
    table = shown.table()
    if table is None:
        return None
    lead = [c for c in table.columns[: table.columns.get_loc("dist")] if c != "run_id" and table[c].nunique() > 1]
    if shown.options["rank"]:
        return rank_table(table, shown.options["target_se"], lead)
    return estimate_table(table, lead)


MAX_GRADIENT_SAMPLES = 10**6  # gradient's per-sample terms are held in memory (n, d)


def gradient(
    build, f, dist="gaussian", theta=None, n=1000, estimator="score", rng=None, *,
    parametrisation=None, dim=None, f_grad=None, h=None, temperature=None,
):  # fmt: skip
    """One estimate of ∇θ E_{x~p(x;θ)}[f(x)] from n samples, with its standard error
    (`pgcli.gradient(f, dist, theta, n, estimator, rng)`; `build` is the shell's spec builder).

    `dist` is a family name; θ maps parameter names to values (a name the default
    parametrisation lacks selects the one that has it: {"logit": ...}); vectors set `dim`.

    Returns a DataFrame indexed by the coordinates of θ (`mu`, `logit[3]`, ...) with columns
    `grad` (the mean of the per-sample terms) and `std_error` (their std / √n; NaN for
    score_antithetic and score_rqmc, whose terms are dependent); `attrs["terms"]` holds the
    per-sample terms (n, d). `rng` is a numpy Generator, a seed (an integer ≥ 0), or None.
    """
    import numpy as np
    import pandas as pd

    from pgcli.base.numerics import mean_and_std_error
    from pgcli.lab import estimators
    from pgcli.lab.dist_spec import make_functions, probe_function

    if not isinstance(rng, np.random.Generator):
        if not (rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool) and 0 <= rng < 2**63)):
            raise SpecError(
                "rng", f"expected a numpy Generator, a seed (an integer in 0..2^63 − 1) or None, got {rng!r}"
            )
        rng = np.random.default_rng(rng)
    if isinstance(n, int | float | np.integer) and not isinstance(n, bool) and n > MAX_GRADIENT_SAMPLES:
        raise SpecError("n", f"{n:.3g} samples; gradient holds its terms in memory: at most {MAX_GRADIENT_SAMPLES:,}")
    flags = {"f": f, "f_grad": f_grad, "dist": dist, "theta": theta, "parametrisation": parametrisation, "dim": dim,
             "estimators": estimator, "n": n, "h": h, "temperature": temperature}  # fmt: skip
    lab = settings(build("estimate", flags))
    if len(lab.dists) != 1:
        raise SpecError("theta", f"one θ per gradient, got {len(lab.dists)} points")
    (family,) = lab.dists
    (fn,) = make_functions(lab.f, family)
    probe_function(fn, family, "f")
    options = estimators.options(estimator, lab.options)
    try:
        with np.errstate(all="ignore"):
            terms = ESTIMATORS[estimator](family, fn, lab.n[0], rng, 1, **options)[0]
    except estimators.NotApplicable as why:
        raise SpecError("estimator", str(why)) from None
    grad, std_error = mean_and_std_error(terms)
    if estimator in estimators.DEPENDENT_TERMS:
        std_error = np.full_like(grad, np.nan)
    frame = pd.DataFrame({"grad": grad, "std_error": std_error}, index=pd.Index(family.names, name="param"))
    frame.attrs.update(terms=np.ascontiguousarray(terms), estimator=estimator, f=fn.label)
    return frame


def _fmt(value) -> str:
    import pandas as pd

    return "" if pd.isna(value) else f"{value + 0.0:.4g}"  # + 0.0 prints -0 as 0


def estimate_table(table, lead=()) -> str:
    """The readable stdout table: bias in standard errors, and a flag when |z| > 4; the columns
    `lead` (a sweep's varying keys) and those of θ, f and the family that vary, first."""
    import numpy as np
    import pandas as pd

    z = core.z_scores(table)
    shown = pd.DataFrame(
        {
            **{column: table[column] for column in lead},
            "dist": table["dist"],
            "theta": table["theta"],
            "f": table["f"],
            "estimator": table["estimator"],
            "n": table["n_samples"],
            "param": table["param"],
            "mean": table["mean"].map(_fmt),
            "exact": table["exact"].map(_fmt),
            "std_err": table["std_error"].map(_fmt),
            "bias/se": z.map(lambda v: "inf" if np.isinf(v) else _fmt(v)),
            "": np.where(z.abs() > 4, "BIASED", ""),
        }
    )
    return shown.drop(columns=[c for c in ("dist", "theta") if shown[c].nunique() == 1]).to_string(index=False)


def rank_table(table, target_se: float, lead=()) -> str:
    """`estimate --rank`: estimators by efficiency, with the samples each needs for target_se."""
    import pandas as pd

    ranked = core.rank(table, target_se, lead)
    shown = ranked.assign(
        efficiency=ranked["efficiency"].map(_fmt),
        n_for_target=ranked["n_for_target"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
        seconds_for_target=ranked["seconds_for_target"].map(_fmt),
        max_abs_z=ranked["max_abs_z"].map(_fmt),
    )
    drop = [c for c in ("dist", "theta", "f") if shown[c].nunique() == 1]
    head = f"estimators ranked for standard error {target_se:g} (worst coordinate of θ):\n"
    return head + shown.drop(columns=drop).to_string(index=False)


KIND = Kind(
    name="estimate",
    help="""Estimate ∂/∂θ E[f(x)] with every estimator and compare with the exact gradient.

    \b
    Examples:
      pgcli estimate --dist gaussian --f step
      pgcli estimate --dist bernoulli --param logit --f square --n 10,100,1000
      pgcli estimate --dist gaussian --theta mu=-3:3:25 --f "x**2 + sin(3*x)" --n 100
      pgcli estimate estimators-step --set reps=500
      pgcli estimate --dist bernoulli --dim 8 --param logit --f square --n 1000 --rank --target-se 0.001
    """,
    schema=SCHEMA,
    subject=lambda spec: "-".join([spec["dist"], *map(name_of, spec["f"][:2])] + ["etc"] * (len(spec["f"]) > 2)),
    validate=lambda spec: core.validate(settings(spec)),
    run=run,
    budget=lambda spec: (core.samples(settings(spec)), "samples"),
    table="estimate.csv",
    columns=lambda spec: core.COLUMNS,
    wall_clock=core.WALL_CLOCK,
    plot=PlotDefaults(
        figure="estimator",
        signature="estimator",
        hue="estimator",
        labels=("dist", "parametrisation", "f", "param", "estimator", "theta", "n_samples"),
        axes=("theta", "n_samples"),
        title=("f", "param", "theta"),
    ),
    planned=lambda spec: {"n_samples": [float(n) for n in spec["n"]]},
    flags=(
        *distribution.flags(),
        Flag(
            ("--f",),
            "f",
            "Repeatable: {names}, table:..., module:function (Python), or an expression in x.",
            "texts",
            metavar="F",
            names=lambda: NAMED,
        ),
        Flag(("--estimators",), "estimators", "Comma list of: {names}.", metavar="A,B", names=lambda: ESTIMATORS),
        Flag(("--n",), "n", "Samples per estimate (1e6 forms allowed).", metavar="N1,N2"),
        Flag(("--reps",), "reps", "Independent estimates per cell."),
        Flag(("--h",), "h", "Finite-difference step."),
        Flag(("--temperature",), "temperature", "gumbel_softmax temperature τ (default 0.5)."),
        Flag(
            ("--dtype",),
            "dtype",
            "Of samples and terms (exact: float64).",
            "choice",
            names=lambda: distributions.DTYPES,
        ),
        Flag(("--rank",), None, "Rank the estimators by efficiency for this f and θ.", "flag", default=False),
        Flag(
            ("--target-se",),
            None,
            "With --rank: standard error to reach.",
            "positive",
            default=0.01,
            bounds=(1e-12, 1e12),
        ),
    ),
    show=show,
    api=("f", "dist", "theta"),
    functions={"gradient": gradient},
)
