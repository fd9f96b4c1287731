"""What the sequence kinds (sequence, finetune) share: the task — prompts, vocabulary and length —
the policy, the reward and the KL penalty as spec keys, the flags that set them, their bounds,
and building them from a resolved spec (pgcli.seq).

A reward is a built-in (pgcli.seq.rewards.REWARDS, parameters under `reward.params`) or your own
vectorised `module:function` — reward(prompts (N,), tokens (N, L) EOS-padded, lengths (N,)) -> (N,)
— which the shell finds in a trusted directory (pgcli.base.usercode) before anything is imported;
`reward.params` are then passed to it as keywords. From Python, a callable may be given instead.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from pgcli.base import usercode
from pgcli.base.fields import Field, SpecError
from pgcli.kinds import Flag
from pgcli.seq import kl, policy, rewards

# bounds on every size a spec may set (refused before anything runs, naming the key)
MAX_PROMPTS = 4096
MAX_VOCAB = 1024
MAX_LEN = 256
MAX_CONTEXT = 16
MAX_HIDDEN = 4096
MAX_GROUP = 4096  # G completions per prompt
MAX_GROUPS = 65536  # B prompts per batch
MAX_BATCH_ELEMENTS = 1 << 25  # B·G·L·max(V + 1, H): one batch's forward pass, held at once (≈ 270 MB)
MAX_TOKENS = 10**10  # tokens a run samples in all (hours of work)
MAX_BETA = 1e6
PROBE = 7  # sequences a reward is called on before anything runs (odd, so a shape (N, 2) reads as such)


def within(low: float, high: float):
    """A Field check: low ≤ value ≤ high."""

    def check(value):
        return None if low <= value <= high else f"must be in [{low:,}, {high:,}], got {value:,}"

    return check


def reward_references(value) -> list[str]:
    """The MODULE:FUNCTION text of a reward name (a built-in names no code)."""
    return [value.strip()] if isinstance(value, str) and usercode.split(value) else []


def reward_problem(value) -> str | None:
    """A reward name is a built-in, MODULE:FUNCTION, or (from Python) a callable."""
    if callable(value) or value in rewards.REWARDS or usercode.split(value):
        return None
    return f"unknown reward {value!r}; allowed: {', '.join(rewards.REWARDS)}, or module:function (your Python)"


def _params_problem(value) -> str | None:
    bad = [key for key in value if not (isinstance(key, str) and key.isidentifier())]
    return f"parameter names must be identifiers, got {bad[0]!r}" if bad else None


SCHEMA = {
    "task": {
        "prompts": Field("int", 2, "P prompts c, each equally likely", check=within(1, MAX_PROMPTS)),
        "vocab": Field("int", 2, "V tokens 0..V−1 (the end-of-sequence token is V)", check=within(1, MAX_VOCAB)),
        "max_len": Field("int", 3, "L: at most L tokens generated per completion", check=within(1, MAX_LEN)),
    },
    "policy": {
        "kind": Field(
            "str",
            "tabular",
            "tabular: a logit per (prompt, position, previous token); mlp: a tanh MLP",
            choices=policy.KINDS,
        ),
        "context": Field("int", 2, "mlp: the k previous tokens it sees", check=within(1, MAX_CONTEXT)),
        "hidden": Field("int", 32, "mlp: H tanh units", check=within(1, MAX_HIDDEN)),
        "dtype": Field("str", "float64", "θ and every computation (exact columns: float64)", choices=policy.DTYPES),
    },
    "reward": {
        "name": Field(
            "function",
            "count",
            "R(c, y): a built-in, or module:function (your vectorised reward(prompts, tokens, lengths))",
            check=reward_problem,
            refs=reward_references,
        ),
        "params": Field(
            "mapping", {}, "the reward's parameters (count: token; target_sum: target; ...)", check=_params_problem
        ),
        "length_penalty": Field("float", 0.0, "λ in R − λ·l (l the content length)", check=within(-1e6, 1e6)),
    },
    "beta": Field("float", 0.0, "β in E[R] − β KL(π ‖ π_ref) (0: no penalty)", check=within(0, MAX_BETA)),
    "kl_estimator": Field("str", "k1", "per-token KL estimator (Schulman 2020)", choices=tuple(kl.KL_ESTIMATORS)),
    "kl_placement": Field(
        "str",
        "reward",
        "where the KL penalty goes: subtracted from R, as a reward-to-go, or a loss",
        choices=kl.PLACEMENTS,
    ),
}
GROUP_SIZE = Field("int", 4, "G completions per prompt (a group)", check=within(1, MAX_GROUP))
N_GROUPS = Field("int", 8, "B prompts (groups) per batch", check=within(1, MAX_GROUPS))


class Task(NamedTuple):
    """A spec's policy structure and reward function."""

    policy: policy.Policy
    reward: rewards.Reward


def make_policy(spec: dict) -> policy.Policy:
    task, net = spec["task"], spec["policy"]
    try:
        return policy.make_policy(net["kind"], task["prompts"], task["vocab"], task["max_len"],
                                  context=net["context"], hidden=net["hidden"], dtype=net["dtype"])  # fmt: skip
    except ValueError as err:
        raise SpecError("policy", str(err)) from None


def make_reward(spec: dict, pol: policy.Policy) -> rewards.Reward:
    """The reward of a spec: a built-in with its parameters, or the user's function (imported
    through pgcli.base.usercode, admitted by the shell) called with them; SpecError naming the key."""
    name, params, penalty = spec["reward"]["name"], spec["reward"]["params"], spec["reward"]["length_penalty"]
    if isinstance(name, str) and name in rewards.REWARDS:
        try:
            return rewards.make_reward(name, pol.n_prompts, pol.vocab, pol.max_len, length_penalty=penalty,
                                       **params)  # fmt: skip
        except rewards.RewardError as err:
            raise SpecError("reward.params", str(err)) from None
    function = name if callable(name) else usercode.load(name, "reward.name")
    label = name if isinstance(name, str) else getattr(name, "__qualname__", "reward")
    try:
        user = rewards.from_callable(functools.partial(function, **params) if params else function, label)
    except rewards.RewardError as err:
        raise SpecError("reward.name", str(err)) from None
    if not penalty:
        return user

    def penalised(prompts, tokens, lengths):
        return user(prompts, tokens, lengths) - penalty * lengths

    penalised.__name__ = penalised.__qualname__ = label
    return penalised


def make(spec: dict) -> Task:
    """The Task of a resolved spec (SpecError at the key that is wrong)."""
    pol = make_policy(spec)
    return Task(pol, make_reward(spec, pol))


def penalty(spec: dict) -> kl.Penalty:
    return kl.Penalty(spec["beta"], spec["kl_estimator"], spec["kl_placement"])


def probe(task: Task) -> None:
    """Call the reward once on a few sequences of the initial policy (a throwaway stream): a result of
    the wrong shape or dtype is bad input now; an exception inside user code is left for the run,
    which records it as failed with its traceback."""
    import numpy as np

    pol = task.policy
    rng = np.random.default_rng(0)
    theta = policy.init_params(pol, rng)
    seqs, _ = policy.sample(pol, theta, np.arange(PROBE) % pol.n_prompts, rng)
    from pgcli.seq.space import content_lengths

    try:
        task.reward(seqs.prompts, seqs.tokens, content_lengths(seqs, pol.vocab))
    except rewards.RewardError as err:
        raise SpecError("reward.name", str(err)) from None
    except Exception:  # the user's own error: the run will hit it and record it
        return


def check_sizes(pol: policy.Policy, group_size: int, n_groups: int, key: str = "n_groups") -> None:
    """One batch's forward pass fits in memory: B·G·L·max(V + 1, H) ≤ MAX_BATCH_ELEMENTS."""
    width = max(pol.vocab + 1, pol.hidden)
    elements = n_groups * group_size * pol.max_len * width
    if elements > MAX_BATCH_ELEMENTS:
        raise SpecError(key, f"a batch of B·G = {n_groups * group_size:,} sequences × L = {pol.max_len} × "
                             f"{width} holds {elements:.3g} numbers; the limit is {MAX_BATCH_ELEMENTS:,} "
                             "(lower n_groups or group_size)")  # fmt: skip


def check_work(tokens: int, key: str, what: str) -> None:
    """A run samples at most MAX_TOKENS tokens in all."""
    if tokens > MAX_TOKENS:
        raise SpecError(key, f"{what} = {tokens:.3g} tokens sampled; the limit is {MAX_TOKENS:.0e}")


def subject(spec: dict) -> str:
    """What a spec is about, for results/<kind>-<subject>/: the reward and the space."""
    name = spec["reward"]["name"]
    name = name if isinstance(name, str) else getattr(name, "__name__", "reward")
    task = spec["task"]
    return f"{name.replace(':', '.')}-v{task['vocab']}-l{task['max_len']}"


def flags() -> tuple[Flag, ...]:
    """--reward, --prompts, --vocab, --max-len, --policy, --hidden, --beta, --kl-estimator, --kl-placement."""
    return (
        Flag(
            ("--reward",),
            "reward.name",
            "A built-in ({names}) or module:function (your Python).",
            metavar="R",
            names=lambda: rewards.REWARDS,
        ),
        Flag(("--prompts",), "task.prompts", "P prompts.", "int"),
        Flag(("--vocab",), "task.vocab", "V tokens (EOS is one more).", "int"),
        Flag(("--max-len",), "task.max_len", "L, the longest completion.", "int"),
        Flag(("--policy",), "policy.kind", "Policy.", "choice", names=lambda: policy.KINDS),
        Flag(("--hidden",), "policy.hidden", "mlp: tanh units.", "int"),
        Flag(("--beta",), "beta", "KL penalty β (0: none)."),
        Flag(
            ("--kl-estimator", "--kl"),
            "kl_estimator",
            "Per-token KL estimator.",
            "choice",
            names=lambda: kl.KL_ESTIMATORS,
        ),
        Flag(("--kl-placement",), "kl_placement", "Where the KL penalty goes.", "choice", names=lambda: kl.PLACEMENTS),
    )
