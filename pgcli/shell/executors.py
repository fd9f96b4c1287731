"""Where runs are computed: in this process, in local worker processes, or on Dask workers.

An executor computes the (index, run) pairs it pulls from an iterator — pulling only as it has room,
so runs are claimed just before they start — and yields (index, outcome) as they finish; `compute`
gives a run's outcome (status, message, files as bytes) and touches no file: the runner records it.
Every executor computes with BLAS_THREADS BLAS threads, so a run's numbers do not depend on where it
ran. Dask workers are checked for this process's versions and given the user modules runs name.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from pgcli import __version__, kinds
from pgcli.base import usercode
from pgcli.base.progress import Progress, silent
from pgcli.shell import atomic

if TYPE_CHECKING:
    from pgcli.shell.plan import Run


def versions() -> dict:
    """The versions that make results byte-identical: pgcli, numpy, gymnasium, Python."""
    return {
        "pgcli": __version__,
        "numpy": np.__version__,
        "gymnasium": _gymnasium_version(),
        "python": sys.version.split()[0],
    }


def _gymnasium_version() -> str:
    """gymnasium.__version__, from its installed metadata unless it is loaded: importing gymnasium
    costs a run that needs no environment (estimate) a tenth of a second."""
    if "gymnasium" in sys.modules:
        return sys.modules["gymnasium"].__version__
    from importlib.metadata import version

    return version("gymnasium")


# ---------------------------------------------------------------------------------------------
# one run, computed wherever an executor puts it; it touches no file


def compute(run: Run, progress: Progress = silent) -> dict:
    """Compute one run where it is (this process, a local worker, a Dask worker); touches no file.

    Returns the run's outputs: status, message (one line), wall_s, notes, error (the traceback of a
    failed run), versions (of the process that computed it) and files, {file name: bytes} with
    the table's CSV first. Never raises for a failing run."""
    kind = kinds.get(run.kind)
    start = time.perf_counter()
    outcome = {"status": "done", "message": "", "notes": [], "error": "", "versions": versions(), "files": {}}
    usercode.allow(run.modules)  # found in trusted directories when the run was planned
    try:
        result = kind.run(run.spec, progress)
        outcome["files"] = {kind.table: atomic.csv_text(result.table).encode(), **result.files}
    except Exception as err:  # a failing run is reported, not fatal to the sweep
        outcome.update(status="failed", message=one_line(f"{type(err).__name__}: {err}"))
        outcome["error"] = traceback.format_exc()
    else:
        outcome.update(status=result.status, message=one_line(result.message), notes=list(result.notes))
    outcome["wall_s"] = time.perf_counter() - start
    return outcome


def compute_remote(run: Run, expected: dict | None = None, shipped: bool = False, kind_module: str = "") -> dict:
    """`compute` in a worker process: BLAS_THREADS BLAS threads from now on, and (unless
    `expected` is None) the client's versions, else the run fails saying which differ. On a Dask
    worker (`shipped`) the run's user modules are where ship_modules put them (or installed).
    `kind_module` defines the run's kind, registered here if the worker does not know it (a kind
    registered at run time in the client, pgcli.kinds.register)."""
    global _blas_limited
    if kind_module and run.kind not in kinds.REGISTRY:
        kinds.register(kind_module)
    if not _blas_limited:
        blas_threads()  # for good: restoring per run would race with the worker's other threads
        _blas_limited = True
    if expected is not None and (differ := _differences(versions(), expected)):
        message = f"worker environment differs from the client's: {differ}"
        return {"status": "failed", "message": message, "wall_s": 0.0, "notes": [], "error": "", "files": {}}
    if shipped:
        run = run._replace(modules=tuple(module._replace(root=_root_here(module.name)) for module in run.modules))
    return compute(run)


def _root_here(top: str) -> str:
    """The sys.path entry this process imports module `top` from (a directory, or a shipped zip)."""
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        return ""
    origin = Path(spec.origin)
    return str(origin.parent.parent if spec.submodule_search_locations is not None else origin.parent)


def one_line(text) -> str:
    """Text on one line: runs of whitespace (newlines too) as one space."""
    return " ".join(str(text).split())


# Every executor computes with this many BLAS threads (threadpoolctl), so a run's numbers do not
# depend on where it ran: multi-threaded BLAS sums in another order (last digits of grad_snr for
# policy.hidden: [256, 256]). See the README's Performance table for what it costs --jobs 1.
BLAS_THREADS = 1
_controller = None
_blas_limited = False


def blas_threads():
    """Limit this process's BLAS to BLAS_THREADS threads; as a context, only inside the block."""
    global _controller
    if _controller is None:  # inspecting the loaded libraries takes ms: once per process
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=BLAS_THREADS, user_api="blas")


def _differences(theirs: dict, mine: dict) -> str:
    return ", ".join(f"{k} {theirs.get(k)} (client: {v})" for k, v in mine.items() if theirs.get(k) != v)


def progress_bar(desc: str, quiet: bool, position: int | None = None):
    """(a Progress that draws a tqdm bar on stderr, a function that closes it); nothing when quiet."""
    if quiet:
        return silent, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=desc, position=position, leave=False, dynamic_ncols=True, unit_scale=True)

    def report(done: int, total: int, /, **status: float) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.update(done - bar.n)
        if status:
            bar.set_postfix({k: f"{v:.4g}" for k, v in status.items()}, refresh=False)

    return report, bar.close


# ---------------------------------------------------------------------------------------------
# executors: each computes the (index, run) pairs it pulls from `items` — pulling only as it has
# room, so runs are claimed just before they start — and yields (index, outcome) as they finish


def serial(items, quiet, nested=False):
    """In-process; per-run bars sit under the overall bar when there is one (`nested`)."""
    with blas_threads():
        for i, run in items:
            progress, close_bar = progress_bar(run.label, quiet, 1 if nested else None)
            try:
                outcome = compute(run, progress)
            finally:
                close_bar()
            yield i, outcome


# Worker processes read these when they import numpy: one BLAS thread each, so N jobs do not
# oversubscribe the cores.
BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def worker_environment():
    """Environment inherited by worker processes started inside the block (one BLAS thread)."""
    saved = {k: os.environ.get(k) for k in BLAS_ENV}
    os.environ.update(BLAS_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _local_worker(parent: int):
    """Initializer of local workers: Ctrl-C is the parent's to handle (no worker tracebacks), and
    a worker dies with its parent, however the parent ends (SIGTERM, SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the lines above
        os._exit(1)


@contextmanager
def _terminate_exits():
    """SIGTERM raises SystemExit here (in the main thread), so the pool's workers are stopped
    on the way out, even those still starting up; SIGKILL is left to PR_SET_PDEATHSIG."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_terminate(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def _sigint_blocked():
    """SIGINT held back in this thread, so processes it starts inherit it blocked: a Ctrl-C that
    reaches a worker while it starts up (importing) prints no traceback; here it comes after."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _watch_parent(parent: int):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _lost(err) -> dict:
    message = one_line(f"worker lost: {type(err).__name__}: {err}")
    return {"status": "failed", "message": message, "wall_s": 0.0, "notes": [], "error": "", "files": {}}


def processes(items, jobs):
    """`jobs` spawned worker processes. A worker that dies breaks the pool: the runs it had in
    flight are tried once more in a new pool, and fail as 'worker lost' if it breaks again."""
    items, retry, lost_once = iter(items), deque(), set()
    with _terminate_exits():
        yield from _pools(items, jobs, retry, lost_once)


def _pools(items, jobs, retry, lost_once):
    from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor  # multiprocessing: --jobs only
    from multiprocessing import get_context

    while True:
        pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_local_worker,
                                   initargs=(os.getpid(),))  # fmt: skip
        inflight, broken = {}, None
        try:
            while True:
                while broken is None and len(inflight) < 2 * jobs:
                    pair = retry.popleft() if retry else next(items, None)
                    if pair is None:
                        break
                    with worker_environment(), _sigint_blocked():  # what workers started now inherit
                        inflight[pool.submit(compute_remote, pair[1], None, False, kinds.REGISTRY[pair[1].kind])] = pair
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for future in done:
                    i, run = inflight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as err:
                        broken = err
                        if i not in lost_once:
                            lost_once.add(i)
                            retry.append((i, run))
                            continue
                        outcome = _lost(err)
                    yield i, outcome
        except BaseException:
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
        if broken is None:
            return


def _terminate(pool):
    if hasattr(pool, "terminate_workers"):  # Python ≥ 3.14
        pool.terminate_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached, dask is not installed, or its workers cannot run
    these runs as this process would (other versions, a module they lack)."""


SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_address(scheduler: str) -> None:
    """A scheduler address has the form [SCHEME://]HOST:PORT; checked before dask is imported."""
    text = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address: {err}") from None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise SchedulerError(f"--scheduler {scheduler!r} is not an address; expected tcp://HOST:PORT")


def dask_client(scheduler: str | None, workers: int = 2, *, runs=(), allow_mixed: bool = False):
    """A Client for the scheduler address, or for a new LocalCluster when address is None, whose
    workers are checked (`check_workers`) and given the user modules `runs` name (`ship_modules`)."""
    if scheduler:
        check_address(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("the Dask executor needs dask.distributed: pip install 'pgcli[dask]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="5s")
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise SchedulerError(f"cannot reach Dask scheduler {scheduler}: {one_line(err)}") from None
    else:
        with worker_environment():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        client = Client(cluster)
    try:
        if not allow_mixed:
            check_workers(client)
        ship_modules(client, runs)
    except BaseException:
        client.close()
        if not scheduler:
            client.cluster.close()
        raise
    return client


def check_workers(client):
    """Refuse Dask workers whose pgcli, numpy, gymnasium or Python version differs from this
    process's: results are byte-identical only within one environment."""
    mine = versions()
    for address, theirs in sorted(client.run(versions, on_error="return").items()):
        if isinstance(theirs, BaseException):
            raise SchedulerError(f"Dask worker {address} cannot run pgcli: {one_line(theirs)}")
        if differ := _differences(theirs, mine):
            raise SchedulerError(
                f"Dask worker {address} runs {differ}; results are byte-identical only within one "
                "environment: install the same versions there, or pass --allow-mixed"
            )


MAX_SHIPPED_BYTES = usercode.MAX_MODULE_BYTES


def ship_modules(client, runs):
    """Send the Dask workers every user module the runs name (found in trusted directories when
    they were planned), as Client.upload_file would (a worker plugin, so workers that join later
    get it too); a module in an installation's directory (--trust on site-packages) must be
    installed on every worker instead. Raises SchedulerError naming the module otherwise."""
    from distributed.diagnostics.plugin import UploadFile

    modules = {module.name: module for run in runs for module in run.modules}
    for top, module in sorted(modules.items()):
        if module.installed:
            missing = [a for a, ok in sorted(client.run(_importable, top).items()) if not ok]
            if missing:
                raise SchedulerError(f"module {top!r} (named by the spec) is not installed on Dask worker {missing[0]}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = _pack(top, Path(module.root), Path(tmp))
            name = f"pgcli-module-{top}-{module.digest}"
            try:
                client.register_plugin(UploadFile(str(path)), name=name)
            except Exception as err:
                with contextlib.suppress(Exception):  # or workers that join later fail it too
                    client.unregister_worker_plugin(name)
                raise SchedulerError(f"cannot ship module {top!r} to the Dask workers: {one_line(err)}") from None


def _importable(top: str) -> bool:
    return importlib.util.find_spec(top) is not None


def _pack(top: str, root: Path, tmp: Path) -> Path:
    """A module file as is, a package as top.zip (sources only): what Dask's upload_file takes."""
    import zipfile

    if (root / f"{top}.py").is_file():
        return root / f"{top}.py"
    target, size = tmp / f"{top}.zip", 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                size += path.stat().st_size
                if size > MAX_SHIPPED_BYTES:
                    raise SchedulerError(
                        f"package {top!r} ({root / top}) is over {MAX_SHIPPED_BYTES // 10**6} MB: "
                        "install it on the Dask workers instead of shipping it"
                    )
                archive.write(path, Path(top) / path.relative_to(root / top))
    return target


def dask(items, client, expected):
    """Futures released as soon as their outcome is here, so a worker lost later costs no
    finished run; at most ~2 runs per worker thread queued at a time."""
    from dask.distributed import as_completed as dask_completed

    items, pending = iter(items), {}
    completed = dask_completed(with_results=True, raise_errors=False)  # gathered in the background
    window, checked = 16, 0.0

    def refill():
        nonlocal window, checked
        if time.monotonic() - checked > 1.0:  # workers come and go (adaptive clusters)
            window, checked = max(16, 2 * sum(client.nthreads().values())), time.monotonic()
        while len(pending) < window and (pair := next(items, None)) is not None:
            run = pair[1]
            future = client.submit(compute_remote, run, expected, True, kinds.REGISTRY[run.kind], key=f"pgcli-{run.run_id}",
                                   pure=False)  # fmt: skip
            pending[future.key] = (pair[0], future)
            completed.add(future)

    try:
        refill()
        for future, outcome in completed:
            i, _ = pending.pop(future.key)
            if isinstance(outcome, BaseException):  # KilledWorker and friends
                outcome = _lost(outcome)
            future.release()
            del future
            yield i, outcome
            refill()
    finally:
        if pending:
            client.cancel([future for _, future in pending.values()])


def start(items, runs, count, *, jobs, client, quiet, allow_mixed):
    """The executor for these options (Dask with a client, local processes for jobs > 1 and several
    runs, else this process), started on `items`: yields (index, outcome) as runs finish."""
    if client is not None:
        return dask(items, client, None if allow_mixed else versions())
    if jobs > 1 and count > 1:
        return processes(items, min(jobs, count))
    return serial(items, quiet, nested=len(runs) > 1)
