"""Running a plan: what is not finished is claimed, computed by an executor, and recorded.

Executors (pgcli.shell.executors) compute runs wherever they are put and touch no file; this process
writes every run directory (pgcli.shell.results) as outcomes arrive. A run is claimed with a lock on
its directory just before it starts, so two identical sweeps into one results directory share the
work: a run the other process holds is waited for and taken as it recorded it (or run here, if that
process stopped first), never restarted.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from filelock import FileLock, Timeout

from pgcli.shell import atomic, executors, results
from pgcli.shell.plan import Run

# Threads writing run directories: the client writes every run, and on a busy or network file
# system a write waits on the disk, not the CPU, so a few overlap.
WRITERS = 4


def _record(run: Run, outcome: dict) -> dict:
    return results.record(run, outcome, outcome.get("versions") or executors.versions())


def _claim(directory: str | Path, wait: bool = False) -> FileLock | None:
    """Lock a run directory (a lock on its .lock file, which the operating system releases however
    this process ends): the held lock, or None when another live process holds it and not `wait`."""
    directory = Path(directory)
    if problem := atomic.link_problem(directory / ".lock", directory.parents[1]):
        raise OSError(problem)
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / ".lock", thread_local=False)
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        return None
    return lock


def run_all(
    runs: list[Run],
    *,
    jobs: int = 1,
    client=None,
    resume: bool = True,
    force: bool = False,
    quiet: bool = False,
    on_result=None,
    allow_mixed: bool = False,
) -> list[dict]:
    """Run what is not finished, with the chosen executor; returns one result per run.

    Executors compute; this process writes each run's directory as its outcome arrives (in
    WRITERS threads) and calls on_result(index, result) in this thread once it is written. A run
    is claimed (a lock on its directory) just before it starts: one that another live process
    holds is left to it, waited for at the end, and taken as that process recorded it (or run
    here if that process stopped first)."""
    outcomes: list[dict | None] = [None] * len(runs)

    def finish(i, result):
        outcomes[i] = result
        if on_result:
            on_result(i, result)

    skip_finished = resume and not force
    todo = []
    for i, run in enumerate(runs):
        done = results.finished(run) if skip_finished else None
        if done:
            finish(i, done)
        else:
            todo.append(i)
    while todo:
        busy = _compute_and_record(runs, todo, finish, skip_finished, jobs=jobs, client=client, quiet=quiet,
                                   allow_mixed=allow_mixed)  # fmt: skip
        todo = _wait_for_others(runs, busy, finish)
    return outcomes


def _compute_and_record(runs, todo, finish, skip_finished, **executor) -> list[int]:
    """Compute the `todo` runs this process claims, with the executor, and record each one (in
    WRITERS threads) as its outcome arrives; returns the runs that another live process holds."""
    held, writing, busy = {}, {}, []  # claimed runs' locks; record() futures -> run index
    writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="pgcli-record")

    def written(block: bool):
        done = wait(writing, return_when=FIRST_COMPLETED)[0] if block else [f for f in writing if f.done()]
        for future in done:
            i = writing.pop(future)
            try:
                finish(i, future.result())
            finally:
                held.pop(i).release()

    try:
        stream = executors.start(_claimed(runs, todo, held, busy, skip_finished, finish), runs, len(todo), **executor)
        with contextlib.closing(stream):
            for i, outcome in stream:
                writing[writers.submit(_record, runs[i], outcome)] = i
                written(block=len(writing) >= 4 * WRITERS)
        while writing:
            written(block=True)
    finally:
        writers.shutdown(wait=True)  # a run's files are written whole, even on the way out
        for lock in held.values():
            lock.release()
    return busy


def _wait_for_others(runs, busy, finish) -> list[int]:
    """Wait for the runs another live process holds and take what it recorded; returns those it
    stopped before finishing (to run here)."""
    todo = []
    for i in busy:
        _claim(runs[i].directory, wait=True).release()
        done = results.finished(runs[i])
        if done:
            finish(i, done)
        else:
            todo.append(i)
    return todo


def _claimed(runs, todo, held, busy, skip_finished, finish):
    """The (index, run) pairs of `todo` this process claims, as executors pull them."""
    for i in todo:
        try:
            lock = _claim(runs[i].directory)
        except OSError as err:
            message = f"cannot write {runs[i].directory}: {err.strerror or err}"
            finish(i, {"status": "failed", "message": message, "wall_s": 0.0, "notes": []})
            continue
        if lock is None:
            busy.append(i)
            continue
        done = results.finished(runs[i]) if skip_finished else None
        if done:  # another process finished it since the resume check
            lock.release()
            finish(i, done)
            continue
        held[i] = lock
        yield i, runs[i]
