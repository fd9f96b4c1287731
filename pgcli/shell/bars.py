"""The progress bar a person watches: one bar over the runs being computed, in the units of work
inside them (env steps, samples, optimisation steps: the kind's `budget`), fed by every worker.

Its total is the sum of the runs' budgets — each run's own total once it reports one (a training
run with batches of whole episodes projects its iteration limit as it goes) — and a finished run
counts the work it did, so a run that stops at its target shrinks the total instead of leaving a
gap. Counts are integers; a single run shows what it reports beside the bar (`ret=…`), a sweep how
many runs are done and failed. Runs finished before (resumed) are not on the bar: the caller says
how many there were.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

from pgcli import kinds


class Bar(NamedTuple):
    """report(index, done, total, **status) from any thread as a run goes; finished(index,
    result) once it is recorded; close() at the end."""

    report: Callable[..., None]
    finished: Callable[[int, dict], None]
    close: Callable[[], None]


def _nothing(*args, **status) -> None:
    return None


NO_BAR = Bar(_nothing, _nothing, _nothing)


def budgets(runs: list, todo: list[int]) -> tuple[dict[int, int], str]:
    """Each computing run's budget and their one unit (runs of mixed units, or a kind without a
    budget: each run is one unit of work)."""
    kind = kinds.get(runs[todo[0]].kind)
    found = {i: kind.budget(runs[i].spec) for i in todo} if kind.budget else {}
    units = {unit for _, unit in found.values()}
    if len(units) != 1:
        return dict.fromkeys(todo, 1), "runs"
    return {i: total for i, (total, _) in found.items()}, units.pop()


# integer counts with thousands separators, the unit, elapsed and remaining time, then the postfix
FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:,}/{total:,} {unit} [{elapsed}<{remaining}{postfix}]"


def sweep_bar(runs: list, todo: list[int]) -> Bar:
    """A tqdm bar on stderr over the runs `todo` (indices into `runs`)."""
    from tqdm import tqdm

    if not todo:
        return NO_BAR
    totals, unit = budgets(runs, todo)
    by_runs = unit == "runs"
    done = dict.fromkeys(todo, 0)
    ended, counts, lock = set(), Counter(), threading.Lock()
    single = len(todo) == 1
    desc = runs[todo[0]].label if single else f"{len(todo)} runs"
    bar = tqdm(total=sum(totals.values()), desc=desc, unit=unit, dynamic_ncols=True, leave=False, bar_format=FORMAT)

    def redraw(status: dict) -> None:
        bar.total = sum(totals.values())
        if single and status:
            bar.set_postfix({k: f"{v:.4g}" for k, v in status.items()}, refresh=False)
        elif not single:
            bar.set_postfix_str(", ".join(f"{n} {what}" for what, n in counts.items()), refresh=False)
        bar.update(sum(done.values()) - bar.n)

    def report(i: int, work: int, total: int, /, **status: float) -> None:
        with lock:
            if by_runs or i not in done or i in ended:
                return
            totals[i], done[i] = int(total), min(int(work), int(total))
            redraw(status)

    def finished(i: int, result: dict) -> None:
        with lock:
            if i not in done or i in ended:
                return
            ended.add(i)
            counts[(result or {}).get("status", "failed")] += 1
            if by_runs:
                done[i] = 1
            else:
                totals[i] = done[i]  # the work it did: a run that stopped early shrinks the total
            redraw({})
            if len(ended) == len(done):
                bar.refresh()  # the final count is drawn whatever tqdm's redraw interval

    def close() -> None:
        with lock:
            bar.close()

    return Bar(report, finished, close)
