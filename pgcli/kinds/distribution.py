"""What the lab's kinds (estimate, fisher, optimize) share: the distribution's spec keys and the
command-line flags that set them (--dist, --param, --dim, --theta)."""

from __future__ import annotations

from pgcli.base.fields import Field
from pgcli.kinds import Flag
from pgcli.lab import distributions
from pgcli.lab.dist_spec import dim_problem, parse_theta_text, theta_values

SCHEMA = {
    "dist": Field("str", "gaussian", "distribution family", choices=tuple(distributions.FAMILIES)),
    "parametrisation": Field("str", None, "named parametrisation (default: the family's first)", nullable=True),
    "dim": Field(
        "int",
        None,
        "dimension (diag_gaussian, bernoulli product) or number of categories",
        nullable=True,
        check=dim_problem,
    ),
    "theta": Field(
        "mapping", {}, "parameter values: number, list (vector), or 'lo:hi:count' sweep", convert=theta_values
    ),
}

THETA_SWEEP = "θ values, e.g. mu=0 or shape=2,rate=3; [a,b] vectors; 'lo:hi:count' sweeps."
THETA_START = "Initial θ, e.g. mu=0 or shape=2,rate=3; [a,b] vectors (one θ: no sweeps)."


def flags(theta_help: str = THETA_SWEEP) -> tuple[Flag, ...]:
    """--dist, --parametrisation/--param, --dim and --theta (θ text parsed into a mapping)."""
    return (
        Flag(("--dist",), "dist", "Distribution family.", "choice", names=lambda: distributions.FAMILIES),
        Flag(("--parametrisation", "--param"), "parametrisation", "e.g. log_sigma, logit, log_rate."),
        Flag(("--dim",), "dim", "Dimension: diag_gaussian, bernoulli (product); categories.", "int"),
        Flag(("--theta",), "theta", theta_help, metavar="NAME=V,...", parse=parse_theta_text),
    )
