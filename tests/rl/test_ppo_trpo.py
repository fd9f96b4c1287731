"""PPO-clip's clipped surrogate and its hand-written gradient; TRPO's line search and its KL constraint."""

import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces

from pgcli.rl import natural, policies, ppo, trpo
from tests.helpers import assert_bad_input, invoke, train_settings, written

CASES = [
    ("mlp", spaces.Box(-1, 1, (4,)), spaces.Discrete(3)),
    ("linear", spaces.Box(-1, 1, (3,)), spaces.Discrete(2)),
    ("mlp", spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))),
]
IDS = [f"{c[0]}-{type(c[2]).__name__}" for c in CASES]
QUICK = ["--set", "env.num_envs=4", "--set", "batch.episodes=8", "--set", "eval.every=0", "-q"]


def setup(case, rng, t=60):
    """A policy at θ, the batch's θ_old nearby (so some ratios leave the clip range), samples
    drawn from π_old, and advantages of both signs."""
    kind, obs_space, action_space = case
    policy = policies.make_policy(train_settings(policy={"kind": kind, "hidden": [5]}).policy, obs_space, action_space)
    theta_old = policies.init_params(policy, rng, -0.3) + 0.5 * rng.standard_normal(
        policies.init_params(policy, rng, -0.3).size
    )
    theta = theta_old + 0.3 * rng.standard_normal(theta_old.size)
    x = rng.uniform(-1, 1, (t, obs_space.shape[0]))
    actions, _ = policies.act(policy, *policies.views(policy, theta_old), x, rng)
    return policy, theta_old, theta, x, actions, rng.standard_normal(t)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_clipped_surrogate_gradient_matches_finite_differences(case, rng):
    policy, theta_old, theta, x, actions, advantages = setup(case, rng)
    old_log_prob = policies.log_prob(policy, theta_old, x, actions)
    value, grad, fraction = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, 0.2)
    assert 0.1 < fraction < 0.9  # both branches of the min are exercised
    ratio = np.exp(policies.log_prob(policy, theta, x, actions) - old_log_prob)
    assert value == pytest.approx(np.mean(np.minimum(ratio * advantages, np.clip(ratio, 0.8, 1.2) * advantages)))
    h = 1e-6
    numeric = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        up = ppo.clipped_surrogate(policy, theta + e, x, actions, old_log_prob, advantages, 0.2)[0]
        down = ppo.clipped_surrogate(policy, theta - e, x, actions, old_log_prob, advantages, 0.2)[0]
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_at_the_old_policy_the_clipped_gradient_is_the_reinforce_gradient(case, rng):
    """r_t = 1 at θ = θ_old: ∇L = (1/M) Σ_t A_t ∇log π(a_t|s_t), nothing clipped."""
    policy, theta_old, _, x, actions, advantages = setup(case, rng)
    old_log_prob = policies.log_prob(policy, theta_old, x, actions)
    value, grad, fraction = ppo.clipped_surrogate(policy, theta_old, x, actions, old_log_prob, advantages, 0.2)
    scores, _ = policies.scores(policy, theta_old, x, actions)
    np.testing.assert_allclose(grad, (scores * advantages[:, None]).mean(0), atol=1e-12)
    assert fraction == 0.0 and value == pytest.approx(advantages.mean())


def test_clipped_terms_carry_no_gradient(rng):
    """Ratios past 1 + ε with A > 0 (or below 1 − ε with A < 0) are constant: zeroing those
    advantages leaves the gradient unchanged."""
    policy, theta_old, theta, x, actions, advantages = setup(CASES[0], rng)
    old_log_prob = policies.log_prob(policy, theta_old, x, actions)
    ratio = np.exp(policies.log_prob(policy, theta, x, actions) - old_log_prob)
    flat = ((advantages > 0) & (ratio > 1.2)) | ((advantages < 0) & (ratio < 0.8))
    assert flat.sum() >= 5
    _, grad, _ = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, 0.2)
    _, kept, _ = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, np.where(flat, 0.0, advantages), 0.2)
    np.testing.assert_allclose(grad, kept, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_accepted_trpo_step_satisfies_the_kl_constraint(case, rng):
    """Natural steps sized for δ = 0.05, a few far too long (×30): whatever the line search
    accepts improves the surrogate and has measured KL ≤ δ; an ascent-opposite step is rejected."""
    accepted = 0
    backtracked = 0
    for trial in range(12):
        policy, _, theta, x, actions, advantages = setup(case, rng)
        scores, _ = policies.scores(policy, theta, x, actions)
        grad = (scores * advantages[:, None]).mean(0)
        step, _, _ = natural.natural_step(policy, theta, x, grad, step_size=0.05, damping=1e-3, cg_iters=20)
        step = step * (30.0 if trial % 3 == 0 else 1.0)
        taken, k = trpo.line_search(policy, theta, step, x, actions, advantages, x, 0.05, 10)
        if k >= 0:
            accepted += 1
            backtracked += k > 0
            np.testing.assert_allclose(taken, 0.5**k * step)
            assert natural.kl_divergence(policy, theta, theta + taken, x) <= 0.05
            old_log_prob = policies.log_prob(policy, theta, x, actions)
            assert trpo.surrogate(policy, theta + taken, x, actions, old_log_prob, advantages) > advantages.mean()
        wrong, k = trpo.line_search(
            policy, theta, -1e-3 * grad / np.linalg.norm(grad), x, actions, advantages, x, 0.05, 3
        )
        assert k == -1 and not wrong.any()
    assert accepted >= 8 and backtracked >= 2


def test_trpo_training_keeps_every_update_inside_the_trust_region(tmp_path):
    result = invoke("train", "--set", "optim.kind=trpo", "--set", "optim.step_size=0.01", "--set",
                    "stop.iterations=6", *QUICK, "--results", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert (table["kl"] <= 0.01).all() and table["backtracks"].between(-1, 10).all()
    assert (table.loc[table["backtracks"] == -1, "kl"] == 0).all()  # a rejected step leaves θ
    assert (table["kl"] > 0).sum() >= 4  # steps were taken, not all rejected
    assert table["clip_fraction"].isna().all() and (table["epochs"] == 1).all()


def test_ppo_run_logs_clipping_epochs_and_the_first_epoch_gradient(tmp_path):
    ppo_args = ["--set", "algo.objective=ppo_clip", "--set", "algo.epochs=4", "--set", "algo.minibatches=4"]
    result = invoke("train", *ppo_args, "--set", "stop.iterations=4", *QUICK, "--results", tmp_path / "ppo")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert (table["epochs"] == 4).all() and table["clip_fraction"].between(0, 1).all()
    assert (table["clip_fraction"] > 0).any() and table["backtracks"].isna().all()
    assert table["value_loss"].notna().all()
    # grad_var keeps its meaning: the first iteration sees the same θ₀ and batch as REINFORCE
    reinforce = invoke("train", "--set", "stop.iterations=1", *QUICK, "--results", tmp_path / "reinforce")
    first = pd.read_csv(written(reinforce)).iloc[0]
    for column in ["env_steps", "grad_norm", "grad_var", "grad_snr", "entropy"]:
        assert table[column].iloc[0] == pytest.approx(first[column], rel=1e-12), column
    # the same spec and seed give the same bytes
    again = invoke("train", *ppo_args, "--set", "stop.iterations=4", *QUICK, "--results", tmp_path / "again")
    assert written(again) == tmp_path / "again" / written(result).relative_to(tmp_path / "ppo")
    again = pd.read_csv(written(again))
    assert again.drop(columns="wall_s").to_csv() == table.drop(columns="wall_s").to_csv()


def test_ppo_kl_target_stops_the_epochs_early(tmp_path):
    args = ["--set", "algo.objective=ppo_clip", "--set", "algo.epochs=10", "--set", "algo.target_kl=1e-6"]
    result = invoke("train", *args, "--set", "stop.iterations=3", *QUICK, "--results", tmp_path)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert (table["epochs"] == 1).all() and (table["kl"] > 1e-6).all()


def test_reinforce_stays_the_default(tmp_path):
    result = invoke("train", "--set", "stop.iterations=2", *QUICK, "--results", tmp_path)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(written(result))
    assert (table["epochs"] == 1).all() and table["clip_fraction"].isna().all() and table["backtracks"].isna().all()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "algo.objective=ppo"], ["algo.objective", "allowed: reinforce, ppo_clip"]),
        (["--set", "algo.objective=ppo_clip", "--set", "optim.kind=trpo"], ["optim.kind", "sgd or adam"]),
        (["--set", "algo.clip=0"], ["algo.clip", "must be in (0, 1], got 0"]),
        (["--set", "algo.minibatches=zero"], ["algo.minibatches", "expected a number"]),
        (["--set", "algo.target_kl=-0.01"], ["algo.target_kl", "must be in (0, 100], got -0.01"]),
        (["--set", "optim.backtracks=-1"], ["optim.backtracks", "must be in [0, 100], got -1"]),
    ],
)
def test_ppo_trpo_bad_input(tmp_path, args, fragments):
    results = tmp_path / "results"
    assert_bad_input(invoke("train", *args, "--results", results, "-q"), *fragments, nothing_in=results)


# ---------------------------------------------------------------------------------------------
# independent answers on a softmax bandit: π_θ(a) = softmax(W + b)_a written out by hand


def bandit(n_actions=3):
    """A linear categorical policy on one state: θ = (W (1 × A), b (A)), logits W + b."""
    return policies.make_policy(
        train_settings(policy={"kind": "linear"}).policy, spaces.Discrete(1), spaces.Discrete(n_actions)
    )


def softmax_by_hand(theta, n_actions=3):
    logits = theta[:n_actions] + theta[n_actions:]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_clip_fraction_and_surrogate_on_a_bandit_against_the_definition(rng):
    """L = mean_t min(r_t A_t, clip(r_t, 1 − ε, 1 + ε) A_t) and the share of |r_t − 1| > ε, with
    r_t = π_θ(a_t) / π_old(a_t) computed from softmax by hand, for ε = 0.1, 0.2, 0.5."""
    policy, x = bandit(), np.ones((400, 1))
    actions = rng.integers(0, 3, 400)
    advantages = rng.standard_normal(400)
    for _ in range(5):
        theta_old = rng.standard_normal(6)
        theta = theta_old + 0.4 * rng.standard_normal(6)
        ratio = softmax_by_hand(theta)[actions] / softmax_by_hand(theta_old)[actions]
        old_log_prob = np.log(softmax_by_hand(theta_old)[actions])
        for clip in (0.1, 0.2, 0.5):
            value, _, fraction = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, clip)
            low, high = 1 - clip, 1 + clip
            clipped = [min(max(r, low), high) for r in ratio]
            expected = np.mean([min(r * a, c * a) for r, c, a in zip(ratio, clipped, advantages, strict=True)])
            assert value == pytest.approx(expected, rel=1e-12)
            assert fraction == np.mean((ratio < low) | (ratio > high))


def line_search_by_hand(theta, step, actions, advantages, max_kl, backtracks):
    """The first k ≤ backtracks with L(θ + ½ᵏ s) − L(θ) > 0 and KL(π_θ ‖ π_{θ+½ᵏ s}) ≤ δ, or −1."""
    pi = softmax_by_hand(theta)
    for k in range(backtracks + 1):
        new = softmax_by_hand(theta + 0.5**k * step)
        gain = np.mean(new[actions] / pi[actions] * advantages) - np.mean(advantages)
        if gain > 0 and np.sum(pi * np.log(pi / new)) <= max_kl:
            return k
    return -1


def test_line_search_takes_the_first_halving_that_improves_within_the_trust_region(rng):
    """Steps of lengths 2⁻⁴ … 2⁶ in random directions: the accepted k (and step ½ᵏ s) is the first
    that passes both tests, found by evaluating every candidate by hand; k = 0, the last
    backtrack and rejection (−1) all occur."""
    policy, x = bandit(), np.ones((50, 1))
    actions = rng.integers(0, 3, 50)
    advantages = rng.standard_normal(50)
    seen = set()
    for trial in range(200):
        theta = rng.standard_normal(6)
        step = rng.standard_normal(6) * 2.0 ** (trial % 11 - 4)
        taken, k = trpo.line_search(policy, theta, step, x, actions, advantages, x, 0.02, 4)
        assert k == line_search_by_hand(theta, step, actions, advantages, 0.02, 4)
        assert taken.shape == step.shape and taken.dtype == step.dtype
        np.testing.assert_array_equal(taken, 0.5**k * step if k >= 0 else np.zeros(6))
        seen.add(k)
    assert {-1, 0, 4} <= seen and len(seen) >= 5


def test_a_step_that_does_not_improve_the_surrogate_is_rejected(rng):
    """L(θ') − L(θ) > 0 is strict: the zero step (gain exactly 0, KL 0) is no improvement."""
    policy, x = bandit(), np.ones((20, 1))
    actions, advantages = rng.integers(0, 3, 20), rng.standard_normal(20)
    taken, k = trpo.line_search(policy, rng.standard_normal(6), np.zeros(6), x, actions, advantages, x, 0.1, 3)
    assert k == -1 and not taken.any()


def test_candidates_that_overflow_are_skipped_not_the_end_of_the_search(rng):
    """θ + s overflows to ±inf in W₀ and b₀ (whose sum, logit 0, the step leaves alone) while the
    rest of s is a short ascent step: the search skips k = 0 and accepts θ + ½ s."""
    policy, x = bandit(), np.ones((50, 1))
    actions, advantages = rng.integers(0, 3, 50), rng.standard_normal(50)
    theta = rng.standard_normal(6)
    theta[0], theta[3] = 1e308, -1e308
    pi = softmax_by_hand(theta)
    ascent = np.mean(advantages[:, None] * (np.eye(3)[actions] - pi), axis=0)  # ∂L/∂logits at θ
    step = np.zeros(6)
    step[0], step[3] = 1e308, -1e308
    step[1:3] = 0.2 * ascent[1:3] / np.linalg.norm(ascent[1:3])
    with np.errstate(over="ignore", invalid="ignore"):
        taken, k = trpo.line_search(policy, theta, step, x, actions, advantages, x, 0.05, 3)
        assert k == line_search_by_hand(theta, step, actions, advantages, 0.05, 3) == 1
    np.testing.assert_array_equal(taken, 0.5 * step)


def test_trpo_surrogate_is_the_importance_weighted_mean_advantage(rng):
    policy, x = bandit(), np.ones((30, 1))
    actions, advantages = rng.integers(0, 3, 30), rng.standard_normal(30)
    theta_old, theta = rng.standard_normal((2, 6))
    old_log_prob = np.log(softmax_by_hand(theta_old)[actions])
    ratio = softmax_by_hand(theta)[actions] / softmax_by_hand(theta_old)[actions]
    assert trpo.surrogate(policy, theta, x, actions, old_log_prob, advantages) == pytest.approx(
        np.mean(ratio * advantages), rel=1e-12
    )


# ---------------------------------------------------------------------------------------------
# ppo.update: the epochs and minibatches of ascent, step by step


def ppo_algo(**keys):
    """PPO-clip's typed AlgoSettings: clip 0.2, one epoch of one minibatch, no KL target, raw
    advantages, no entropy bonus; `keys` override."""
    algo = {"objective": "ppo_clip", "clip": 0.2, "epochs": 1, "minibatches": 1, "target_kl": None,
            "normalize_advantages": False, "entropy_coef": 0.0}  # fmt: skip
    return train_settings(algo={**algo, **keys}).algo


def counting_sgd(calls):
    def step_fn(grad, opt, lr):
        calls.append(grad)
        return lr * grad, opt

    return step_fn


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_epoch_one_minibatch_is_one_reinforce_step(case, rng):
    """At θ = θ_old every ratio is 1: one full-batch epoch is θ + lr (1/M) Σ_t A_t ∇log π(a_t|s_t)."""
    policy, theta_old, _, x, actions, advantages = setup(case, rng)
    scores, _ = policies.scores(policy, theta_old, x, actions)
    calls = []
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(),
                        ppo.Optimiser(counting_sgd(calls), 0.1), rng)  # fmt: skip
    np.testing.assert_allclose(result.theta, theta_old + 0.1 * (scores * advantages[:, None]).mean(0), atol=1e-12)
    assert len(calls) == 1 and result.epochs == 1 and result.clip_fraction == 0.0 and result.value is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_later_epochs_ascend_the_clipped_surrogate_of_the_first_batch(case, rng):
    """Epoch e + 1 steps along ∇L(θ_e) with ratios against θ_old (not θ_e); the clip fraction
    reported is the mean over the steps."""
    policy, theta_old, _, x, actions, advantages = setup(case, rng)
    old_log_prob = policies.log_prob(policy, theta_old, x, actions)
    lr, theta, fractions = 2.0, theta_old.copy(), []
    for _ in range(3):
        _, grad, fraction = ppo.clipped_surrogate(policy, theta, x, actions, old_log_prob, advantages, 0.2)
        theta, fractions = theta + lr * grad, [*fractions, fraction]
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(epochs=3),
                        ppo.Optimiser(counting_sgd([]), lr), rng)  # fmt: skip
    np.testing.assert_allclose(result.theta, theta, atol=1e-12)
    assert result.epochs == 3 and result.clip_fraction == pytest.approx(np.mean(fractions))
    assert 0 < fractions[-1] < 1  # the later epochs left the clip range for some ratios


def test_minibatches_partition_each_epoch_and_never_outnumber_the_rows(rng):
    """k minibatches: k steps per epoch whose gradients, at θ_old, sum to k × the full-batch one
    (each is a mean over its rows, rows split evenly); more minibatches than rows: one row each."""
    policy, theta_old, _, x, actions, advantages = setup(CASES[0], rng, t=12)
    full = ppo.clipped_surrogate(policy, theta_old, x, actions, policies.log_prob(policy, theta_old, x, actions),
                                 advantages, 0.2)[1]  # fmt: skip
    calls = []
    ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(minibatches=4, epochs=2),
               ppo.Optimiser(counting_sgd(calls), 0.0), rng)  # fmt: skip
    assert len(calls) == 8  # lr 0: θ stays θ_old, so each epoch's gradients sum to 4 × full
    np.testing.assert_allclose(sum(calls[:4]), 4 * full, atol=1e-12)
    np.testing.assert_allclose(sum(calls[4:]), 4 * full, atol=1e-12)
    calls = []
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(minibatches=50),
                        ppo.Optimiser(counting_sgd(calls), 0.0), rng)  # fmt: skip
    assert len(calls) == 12 and np.all(np.isfinite(result.theta))


def test_normalised_advantages_and_the_entropy_bonus_enter_the_step(rng):
    """normalize_advantages: the step uses (A − mean A)/std A; entropy_coef c adds c ∇H̄, checked
    against central differences of the mean entropy."""
    policy, theta_old, _, x, actions, advantages = setup(CASES[0], rng)
    scores, _ = policies.scores(policy, theta_old, x, actions)
    normalised = (advantages - advantages.mean()) / advantages.std()
    c, h = 0.3, 1e-6
    entropy_grad = np.array([(policies.scores(policy, theta_old + h * e, x, actions)[1].mean()
                              - policies.scores(policy, theta_old - h * e, x, actions)[1].mean()) / (2 * h)
                             for e in np.eye(theta_old.size)])  # fmt: skip
    algo = ppo_algo(normalize_advantages=True, entropy_coef=c)
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), algo,
                        ppo.Optimiser(counting_sgd([]), 1.0), rng)  # fmt: skip
    expected = theta_old + (scores * normalised[:, None]).mean(0) + c * entropy_grad
    np.testing.assert_allclose(result.theta, expected, rtol=1e-6, atol=1e-8)


def test_the_kl_target_stops_at_the_first_epoch_past_it(rng):
    """With target_kl the epochs stop after the first one whose KL(π_old ‖ π_θ) exceeds it: the
    count equals the first e with KL(θ_old, θ_e) > target, θ_e from plain epochs."""
    policy, theta_old, _, x, actions, advantages = setup(CASES[0], rng)
    kls, theta = [], theta_old
    for epochs in range(1, 9):
        theta = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(epochs=epochs),
                           ppo.Optimiser(counting_sgd([]), 0.3), np.random.default_rng(1)).theta  # fmt: skip
        kls.append(natural.kl_divergence(policy, theta_old, theta, x))
    assert kls == sorted(kls) and kls[0] > 0
    target = (kls[2] + kls[3]) / 2  # passed after the 4th epoch
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x),
                        ppo_algo(epochs=8, target_kl=target), ppo.Optimiser(counting_sgd([]), 0.3),
                        np.random.default_rng(1))  # fmt: skip
    assert result.epochs == 4


def test_a_non_finite_step_ends_the_epochs(rng):
    """θ that is no longer finite stops the epochs after the one that produced it (the caller
    reports the divergence)."""
    policy, theta_old, _, x, actions, advantages = setup(CASES[0], rng)
    diverging = ppo.Optimiser(lambda grad, opt, lr: (np.full_like(grad, np.nan), opt), 0.1)
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(epochs=5),
                        diverging, rng)  # fmt: skip
    assert isinstance(result, ppo.Update) and result.epochs == 1 and np.isnan(result.theta).all()


def test_the_value_network_takes_one_adam_step_per_minibatch(rng):
    policy, theta_old, _, x, actions, advantages = setup(CASES[0], rng)
    from pgcli.rl.advantages import value_init, value_step

    sizes = [x.shape[1], 4, 1]
    value_theta, value_opt = value_init(sizes, rng)
    targets = rng.standard_normal(x.shape[0])
    fit = ppo.ValueFit(value_theta.copy(), value_opt, sizes, "tanh", 0.01, targets)
    result = ppo.update(policy, theta_old, None, ppo.Batch(x, actions, advantages, x), ppo_algo(epochs=3),
                        ppo.Optimiser(counting_sgd([]), 0.1), rng, value=fit)  # fmt: skip
    expected, opt = value_theta.copy(), value_opt
    for _ in range(3):
        expected, opt, _ = value_step(expected, opt, sizes, "tanh", x, targets, 0.01)
    np.testing.assert_allclose(result.value.theta, expected, atol=1e-12)
    assert result.value.opt.t == 3
