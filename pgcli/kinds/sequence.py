"""The `sequence` kind: every policy-gradient estimator of LLM fine-tuning (REINFORCE, RLOO, GRPO,
Dr. GRPO, DAPO, ReMax, ...) and the KL estimators k1, k2, k3 against exact gradients, on a
sequence policy at a point θ (pgcli.seq.evaluate).

    θ_ref = the initial policy (uniform for the table), θ = θ_ref + spread·ε, ε ~ N(0, I)

both drawn from the run's seed. One row per estimator (sequence.csv, pgcli.seq.evaluate.COLUMNS):
R independent batches of B groups × G completions give R estimates ĝ of ∇J_β = ∇E[R] − β∇KL
(target `grad J`); with `compare: [kl]`, each KL estimator in each placement estimates ∇KL (target
`grad KL`), and each one's value estimates KL (target `KL`: a one-coordinate row, so ‖·‖ = |·| and
any bias is one of scale). Per row: max |bias|/SE over the coordinates, the variance tr Cov(ĝ), the
SNR, the cosine and scale of the mean estimate against the exact target and `bias_kind` (none ·
zero · scale: biased in scale only, it points the right way · direction); the `expected_*` columns
compare the exact expectation E[ĝ] over every G-tuple. Exact columns are blank, with a note, where
the space is too large to enumerate. The per-coordinate rows are the run's coordinates.csv.
"""

from __future__ import annotations

from pgcli.base.fields import Field, SpecError
from pgcli.kinds import Flag, Kind, PlotDefaults, Result, Shown, seqtask
from pgcli.seq.estimators import ESTIMATORS, group_problem

COMPARE = ("objective", "kl")
MAX_REPS = 10**6
MAX_COORDINATES = 10_000  # coordinates.csv holds one row per coordinate of θ, per estimator
KL_CELLS = 9 + 3  # 3 KL estimators × 3 placements (gradients) + 3 values

SCHEMA = {
    **seqtask.SCHEMA,
    "theta": {
        "spread": Field(
            "float",
            0.5,
            "θ = θ_ref + spread·ε, ε ~ N(0, I) drawn from the seed; θ_ref the initial policy",
            check=seqtask.within(0, 100),
        ),
    },
    "compare": Field(
        "strs",
        list(COMPARE),
        "objective: the estimators against ∇J_β; kl: k1, k2, k3 in every "
        "placement against ∇KL, and their values against KL",
        choices=COMPARE,
    ),
    "estimators": Field("strs", list(ESTIMATORS), "policy-gradient estimators to compare", choices=tuple(ESTIMATORS)),
    "group_size": seqtask.GROUP_SIZE,
    "n_groups": seqtask.N_GROUPS,
    "reps": Field("int", 200, "R independent batch estimates per estimator", check=seqtask.within(2, MAX_REPS)),
}


def _setup(spec: dict):
    from pgcli.seq import evaluate

    return evaluate.Setup(spec["group_size"], spec["n_groups"], spec["reps"], seqtask.penalty(spec))


def _cells(spec: dict) -> int:
    return len(spec["estimators"]) * ("objective" in spec["compare"]) + KL_CELLS * ("kl" in spec["compare"])


def validate(spec: dict) -> None:
    """Sizes, estimators' group needs and the total work, then the reward (probed once)."""
    from pgcli.seq import policy

    task = seqtask.make(spec)
    pol = task.policy
    if (d := policy.n_params(pol)) > MAX_COORDINATES:
        raise SpecError("policy", f"θ has d = {d:,} coordinates; the sequence kind writes a row per coordinate: at "
                                  f"most {MAX_COORDINATES:,} (lower task.vocab, task.max_len, task.prompts or "
                                  "policy.hidden)")  # fmt: skip
    if "objective" in spec["compare"]:
        for name in spec["estimators"]:
            if problem := group_problem(name, spec["group_size"]):
                raise SpecError("group_size", problem)
    seqtask.check_sizes(pol, spec["group_size"], spec["n_groups"])
    tokens = spec["reps"] * spec["n_groups"] * spec["group_size"] * pol.max_len * _cells(spec)
    seqtask.check_work(tokens, "reps", "reps × n_groups × group_size × max_len × cells")
    seqtask.probe(task)


def point(spec: dict, pol):
    """(θ_ref, θ): the initial policy and θ_ref + spread·ε, from the run's seed (streams init, theta)."""
    from pgcli.base.streams import generators
    from pgcli.seq import policy

    rngs = generators(spec["seed"], ("init", "theta"))
    theta_ref = policy.init_params(pol, rngs["init"])
    noise = rngs["theta"].standard_normal(policy.n_params(pol))
    return theta_ref, (theta_ref + spec["theta"]["spread"] * noise).astype(pol.dtype)


def _evaluations(spec: dict) -> int:
    """The estimators and KL cells a run evaluates: its progress unit."""
    return _cells(spec) - 3 * ("kl" in spec["compare"])


def run(spec: dict, progress) -> Result:
    import pandas as pd

    from pgcli.seq import evaluate

    task = seqtask.make(spec)
    theta_ref, theta = point(spec, task.policy)
    setup, total, done = _setup(spec), _evaluations(spec), 0
    rows, coordinates, notes = [], [], []

    def part():  # one bar over both evaluations: this one's progress after the cells already done
        offset = done
        return lambda finished, _total, **status: progress(offset + finished, total, **status)

    if "objective" in spec["compare"]:
        found = evaluate.evaluate(task.policy, theta, task.reward, spec["estimators"], setup, spec["seed"],
                                  theta_ref=theta_ref, progress=part())  # fmt: skip
        rows, coordinates, notes = found.rows, found.coordinates, found.notes
        done += len(spec["estimators"])
    if "kl" in spec["compare"]:
        found = evaluate.evaluate_kl(task.policy, theta, theta_ref, setup, spec["seed"], progress=part())
        values = [value_row(row) for row in found.kl_values]
        rows = [*rows, *found.rows, *(row for row, _ in values)]
        coordinates = [*coordinates, *found.coordinates, *(coordinate for _, coordinate in values)]
        notes = [*notes, *(note for note in found.notes if note not in notes)]
    table = pd.DataFrame(rows, columns=evaluate.COLUMNS)
    per_coordinate = pd.DataFrame(coordinates, columns=evaluate.COORDINATE_COLUMNS)
    files = {"coordinates.csv": per_coordinate.to_csv(index=False, lineterminator="\n").encode()}
    return Result(table, notes=tuple(notes), files=files)


def value_row(row: dict) -> tuple[dict, dict]:
    """A KL value estimator's row (evaluate.KL_VALUE_COLUMNS) as a one-coordinate row of COLUMNS —
    the same statistics (evaluate.summarise) of its R batch means against KL and E[K] — and its
    coordinate row."""
    import numpy as np

    from pgcli.seq import evaluate, kl

    reps = row["reps"]
    found = evaluate.Moments(reps, np.array([row["mean"]]), np.array([row["variance"] * (reps - 1)]))
    expected = None if np.isnan(row["expected"]) else np.array([row["expected"]])
    stats, mean, std_error, z, var = evaluate.summarise(found, np.array([row["exact"]]), expected)
    claim = "unbiased" if row["kl_estimator"] in kl.UNBIASED_VALUE else "biased"
    summary = {
        "target": "KL", "estimator": "", "claim": claim, "group_size": row["group_size"],
        "n_groups": row["n_groups"], "reps": reps, "beta": np.nan, "kl_estimator": row["kl_estimator"],
        "kl_placement": "", **stats, "seconds": row["seconds"],
        "sequences_per_s": reps * row["n_groups"] * row["group_size"] / row["seconds"], "efficiency": row["efficiency"],
    }  # fmt: skip
    coordinate = {
        "target": f"KL ({row['kl_estimator']})", "estimator": "", "param": 0, "label": "KL", "mean": mean[0],
        "exact": row["exact"], "expected": row["expected"], "bias": row["bias"], "std_error": std_error[0],
        "z": z[0], "variance": var[0],
    }  # fmt: skip
    return {column: summary[column] for column in evaluate.COLUMNS}, coordinate


SHOWN = {  # column -> heading of the printed table
    "target": "target", "estimator": "estimator", "kl": "kl", "claim": "claim", "max_abs_z": "max|z|",
    "cosine": "cosine", "scale": "scale", "bias_kind": "bias", "expected_kind": "E[ĝ] exact",
    "expected_cosine": "E cosine", "snr": "snr", "variance": "variance",
}  # fmt: skip


def show(shown: Shown) -> str | None:
    """One row per estimator (and varying settings): how far from the exact target, what kind of bias."""
    import pandas as pd

    table = shown.table()
    if table is None:
        return None
    settings = list(shown.runs.columns)  # runs.csv: run_id, label, the keys that vary (seed too), status, ...
    varying = settings[settings.index("label") + 1 : settings.index("status")]
    keys = [c for c in varying if c in table and table[c].nunique(dropna=False) > 1]
    kl_text = table["kl_estimator"].fillna("") + ("/" + table["kl_placement"].fillna("")).str.rstrip("/")
    relevant = (table["target"] != "grad J") | (table["beta"].fillna(0) > 0)
    shown_table = table.assign(kl=kl_text.where(relevant, ""), estimator=table["estimator"].fillna(""))
    out = shown_table[keys + list(SHOWN)].rename(columns=SHOWN)
    for column in ("max|z|", "cosine", "scale", "E cosine", "snr", "variance"):
        out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v + 0.0:.4g}")
    return out.astype(object).where(out.notna(), "").to_string(index=False)


KIND = Kind(
    name="sequence",
    help="""Compare the estimators of LLM fine-tuning with the exact gradient on a sequence policy.

    REINFORCE, RLOO, GRPO, Dr. GRPO, DAPO, ReMax and the KL estimators k1, k2, k3 (in the
    reward, as a reward-to-go, as a loss) on enumerable sequence spaces: bias / SE, variance,
    cosine to the exact gradient, biased in scale only or in direction.

    \b
    Examples:
      pgcli sequence --reward count --vocab 2 --max-len 3 --reps 400
      pgcli sequence sequence-estimators
      pgcli sequence --estimators rloo,grpo,dr_grpo --set-grid group_size=2,4,8
      pgcli sequence --policy mlp --hidden 8 --beta 0.1 --kl k3 --kl-placement loss
    """,
    schema=SCHEMA,
    subject=seqtask.subject,
    validate=validate,
    run=run,
    budget=lambda spec: (_evaluations(spec), "evaluations"),
    table="sequence.csv",
    columns=lambda spec: _columns(),
    wall_clock=("seconds", "sequences_per_s", "efficiency"),
    plot=PlotDefaults(
        figure="metrics",
        signature="expected_kind",
        x="group_size",
        y="variance,snr,cosine",
        hue="estimator",
        labels=("target", "estimator", "kl_estimator", "kl_placement"),
        title=("target",),
        axis_labels={
            "group_size": "completions per prompt G",
            "n_groups": "groups per batch B",
            "snr": "SNR ‖E ĝ‖² / tr Cov ĝ",
            "variance": "tr Cov(ĝ): one batch's estimate",
            "cosine": "cosine(mean ĝ, exact target)",
            "expected_cosine": "cosine(E[ĝ], exact target)",
            "scale": "⟨mean ĝ, x*⟩ / ‖x*‖²",
            "expected_scale": "⟨E[ĝ], x*⟩ / ‖x*‖²",
            "max_abs_z": "max |bias| / s.e. over θ",
            "efficiency": "1 / (variance × seconds per estimate)",
        },
    ),
    flags=(
        *seqtask.flags(),
        Flag(("--estimators",), "estimators", "Comma list of: {names}.", metavar="A,B", names=lambda: ESTIMATORS),
        Flag(("--group-size",), "group_size", "G completions per prompt.", "int"),
        Flag(("--n-groups",), "n_groups", "B groups per batch estimate.", "int"),
        Flag(("--reps",), "reps", "R batch estimates per estimator.", "int"),
        Flag(("--spread",), "theta.spread", "θ = θ_ref + spread·ε (0: the initial policy)."),
        Flag(("--compare",), "compare", "objective, kl, or both (objective,kl).", metavar="A,B"),
    ),
    show=show,
    api=("reward",),
)


def _columns() -> list[str]:
    from pgcli.seq.evaluate import COLUMNS

    return COLUMNS
