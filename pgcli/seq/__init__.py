"""The sequence core: REINFORCE for sequence models — the estimators of LLM fine-tuning (RLOO, GRPO,
Dr. GRPO, DAPO, ReMax, the KL terms) against exact gradients. Pure NumPy; imports pgcli.base,
pgcli.lab and pgcli.rl (its MLP helpers) only, never the shell; the lab and the RL core never import it.

Modules (one concept each): space (sequences, EOS, lengths, enumeration), policy (tabular and MLP
policies, sampling, ∇log π), rewards (built-ins, a user's callable), estimators (the seven
estimators), kl (k1/k2/k3 and their placements), loss (per-token weights, PPO clip), exact
(enumerated E[R], ∇E[R], KL, ∇KL, E[ĝ]), evaluate (estimate-style rows), finetune (the training loop).

Design note — what the integration calls (shapes: N pairs, B groups, G per group, L = max_len, d = θ's size):

    policy.make_policy(kind, n_prompts, vocab, max_len, *, context=1, hidden=32, dtype="float64") -> Policy
        kind "tabular" | "mlp"; ValueError (one line) for bad sizes.  policy.n_params(pol) -> d
    policy.init_params(pol, rng=None) -> θ (d,) in pol.dtype (the table: zeros; the MLP needs rng)
    policy.sample(pol, θ, prompts (N,), rng) -> (Sequences, Forward);  policy.greedy(pol, θ, prompts) -> same
    rewards.REWARDS: {name: function};  rewards.parameters(name) -> {param: default or REQUIRED}
    rewards.make_reward(name, n_prompts, vocab, max_len, *, length_penalty=0.0, **params) -> reward
    rewards.from_callable(function, label=None) -> reward       (a user's vectorised callable, checked)
        reward(prompts (N,), tokens (N, L) EOS-padded, lengths (N,)) -> (N,) floats;  RewardError: bad input
    estimators.ESTIMATORS: {name: function(Group, **options) -> PolicyLoss};  estimators.CLAIMS: {name: claim}
    estimators.group_problem(name, G) -> str | None;  kl.KL_ESTIMATORS, kl.PLACEMENTS, kl.Penalty(beta, estimator,
        placement), kl.penalty_problem(penalty) -> str | None
    space.exact_problem(n_prompts, vocab, max_len) -> str | None     (why exact columns are blank, or None)
    exact.exact(pol, θ, reward, theta_ref=None) -> Exact(reward, grad, kl, kl_grad)   (NoExact: the reason)
    exact.best_reward(pol, reward) -> float                          (the optimum of E[R], for targets)
    evaluate.evaluate(pol, θ, reward, estimator_names, evaluate.Setup(group_size, n_groups, reps, penalty), seed,
        *, theta_ref=None, options=None, progress=silent) -> Evaluation(rows, coordinates, kl_values, notes)
        evaluate.setup_problem(setup, estimator_names) -> str | None
    evaluate.evaluate_kl(pol, θ, theta_ref, Setup, seed, progress=silent) -> Evaluation (rows per k × placement,
        kl_values per k)
        rows: dicts by evaluate.COLUMNS; coordinates by COORDINATE_COLUMNS; kl_values by KL_VALUE_COLUMNS;
        evaluate.WALL_CLOCK names the columns that differ between identical runs
    finetune.finetune(pol, reward, finetune.Settings(estimator, group_size, n_groups, steps, lr, penalty, epochs,
        clip, clip_high, exact_every), seed, *, theta=None, theta_ref=None, progress=silent)
        -> Iterator[Step(row, theta)]
        rows by finetune.COLUMNS, wall-clock ones finetune.WALL_CLOCK; finetune.settings_problem(settings) -> str | None

Every function takes its Generator or seed explicitly; nothing reads files, specs or Click.
"""
